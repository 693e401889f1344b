//! SPIR-V emission: compaction, validation and naga's SPIR-V writer.

use super::Built;
use crate::spirv::{Unsupported, ENTRY_POINT};
use naga::{ScalarKind, TypeInner};

/// What the final SPIR-V needs from the device.
pub(crate) struct Emitted {
    pub words: Vec<u32>,
    pub uses_int64: bool,
    pub uses_float64: bool,
}

/// Drops unused helpers and types, validates the naga module and writes SPIR-V.
pub(crate) fn emit_spirv(built: Built) -> Result<Emitted, Unsupported> {
    use naga::valid::{Capabilities, ValidationFlags, Validator};
    let mut module = built.module;
    naga::compact::compact(&mut module, naga::compact::KeepUnused::No);
    // Intermediate 64-bit values have no entry in the type arena: rely on
    // what the translator pushed, plus the arena. f64 lowering uses u64.
    let mut uses_float64 = built.uses_f64;
    let mut uses_int64 = built.uses_i64 || uses_float64;
    for (_, ty) in module.types.iter() {
        if let TypeInner::Scalar(s) | TypeInner::Vector { scalar: s, .. } = ty.inner {
            if s.width == 8 {
                match s.kind {
                    ScalarKind::Float => {
                        uses_float64 = true;
                        uses_int64 = true;
                    }
                    _ => uses_int64 = true,
                }
            }
        }
    }
    let mut caps = Capabilities::empty();
    if uses_int64 {
        caps |= Capabilities::SHADER_INT64;
    }
    if uses_float64 {
        caps |= Capabilities::FLOAT64;
    }
    let info = Validator::new(ValidationFlags::all(), caps)
        .validate(&module)
        .map_err(|e| {
            Unsupported::new(format!(
                "internal translator error: naga rejected the generated module: {}",
                e.emit_to_string("")
            ))
        })?;
    let opts = naga::back::spv::Options {
        lang_version: (1, 3),
        flags: naga::back::spv::WriterFlags::empty(),
        force_loop_bounding: false,
        emit_int_div_checks: false,
        // The only workgroup memory is the loop flags, which every invocation
        // initialises itself: no zeroing (it would add a barrier).
        zero_initialize_workgroup_memory: naga::back::spv::ZeroInitializeWorkgroupMemoryMode::None,
        bounds_check_policies: naga::proc::BoundsCheckPolicies::default(),
        ..Default::default()
    };
    let pipeline = naga::back::spv::PipelineOptions {
        shader_stage: naga::ShaderStage::Compute,
        entry_point: ENTRY_POINT.to_string(),
    };
    let words = naga::back::spv::write_vec(&module, &info, &opts, Some(&pipeline))
        .map_err(|e| Unsupported::new(format!("internal translator error: SPIR-V writer: {e}")))?;
    Ok(Emitted {
        words,
        uses_int64,
        uses_float64,
    })
}
