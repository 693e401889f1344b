//! A post-pass over naga's SPIR-V words adding what naga cannot express:
//! `NoContraction` on every float arithmetic result (so drivers never fuse
//! `a * b + c` into an FMA, which would change wasm results) and the
//! `SPV_KHR_float_controls` execution modes that keep denormals and
//! signed zero / Inf / NaN behaviour.

use super::{TranslateOptions, Unsupported};

// Opcodes and enumerants from the SPIR-V 1.6 unified specification.
const OP_EXTENSION: u32 = 10;
const OP_EXT_INST_IMPORT: u32 = 11;
const OP_MEMORY_MODEL: u32 = 14;
const OP_ENTRY_POINT: u32 = 15;
const OP_EXECUTION_MODE: u32 = 16;
const OP_CAPABILITY: u32 = 17;
const OP_DECORATE: u32 = 71;
const OP_EXECUTION_MODE_ID: u32 = 331;
const DEBUG_OPS: [u32; 7] = [2, 3, 4, 5, 6, 7, 330]; // SourceContinued..String, ModuleProcessed
const FLOAT_ARITH: [u32; 7] = [127, 129, 131, 133, 136, 140, 141]; // FNegate FAdd FSub FMul FDiv FRem FMod
const DECORATION_NO_CONTRACTION: u32 = 42;
const CAP_DENORM_PRESERVE: u32 = 4464;
const CAP_SIGNED_ZERO_INF_NAN_PRESERVE: u32 = 4466;
const MODE_DENORM_PRESERVE: u32 = 4459;
const MODE_SIGNED_ZERO_INF_NAN_PRESERVE: u32 = 4461;

fn inst(op: u32, operands: &[u32]) -> Vec<u32> {
    let mut v = Vec::with_capacity(operands.len() + 1);
    v.push(((operands.len() as u32 + 1) << 16) | op);
    v.extend_from_slice(operands);
    v
}

fn string_words(s: &str) -> Vec<u32> {
    let mut bytes = s.as_bytes().to_vec();
    bytes.push(0);
    while bytes.len() % 4 != 0 {
        bytes.push(0);
    }
    bytes
        .chunks(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

struct Inst {
    op: u32,
    start: usize,
    len: usize,
}

fn parse(words: &[u32]) -> Result<Vec<Inst>, Unsupported> {
    if words.len() < 5 || words[0] != 0x0723_0203 {
        return Err(Unsupported::new("internal: not a SPIR-V module"));
    }
    let mut out = Vec::new();
    let mut i = 5;
    while i < words.len() {
        let len = (words[i] >> 16) as usize;
        if len == 0 || i + len > words.len() {
            return Err(Unsupported::new("internal: malformed SPIR-V instruction"));
        }
        out.push(Inst {
            op: words[i] & 0xFFFF,
            start: i,
            len,
        });
        i += len;
    }
    Ok(out)
}

/// Applies the post-pass.
pub(crate) fn apply(
    words: Vec<u32>,
    opts: &TranslateOptions,
    uses_f64: bool,
) -> Result<Vec<u32>, Unsupported> {
    let insts = parse(&words)?;
    let mut modes: Vec<(u32, u32)> = Vec::new();
    if opts.denorm_preserve_f32 {
        modes.push((MODE_DENORM_PRESERVE, 32));
    }
    if opts.signed_zero_inf_nan_f32 {
        modes.push((MODE_SIGNED_ZERO_INF_NAN_PRESERVE, 32));
    }
    if uses_f64 && opts.denorm_preserve_f64 {
        modes.push((MODE_DENORM_PRESERVE, 64));
    }
    if uses_f64 && opts.signed_zero_inf_nan_f64 {
        modes.push((MODE_SIGNED_ZERO_INF_NAN_PRESERVE, 64));
    }
    let mut caps = Vec::new();
    if modes.iter().any(|m| m.0 == MODE_DENORM_PRESERVE) {
        caps.push(CAP_DENORM_PRESERVE);
    }
    if modes
        .iter()
        .any(|m| m.0 == MODE_SIGNED_ZERO_INF_NAN_PRESERVE)
    {
        caps.push(CAP_SIGNED_ZERO_INF_NAN_PRESERVE);
    }

    let entry = insts
        .iter()
        .find(|i| i.op == OP_ENTRY_POINT)
        .map(|i| words[i.start + 2])
        .ok_or_else(|| Unsupported::new("internal: no entry point"))?;
    let decorations: Vec<u32> = insts
        .iter()
        .filter(|i| FLOAT_ARITH.contains(&i.op) && i.len >= 3)
        .flat_map(|i| {
            inst(
                OP_DECORATE,
                &[words[i.start + 2], DECORATION_NO_CONTRACTION],
            )
        })
        .collect();

    let mut out = Vec::with_capacity(words.len() + decorations.len() + 32);
    out.extend_from_slice(&words[..5]);
    let mut caps_done = false;
    let mut modes_done = false;
    let mut decorations_done = false;
    for (k, i) in insts.iter().enumerate() {
        let next = insts.get(k + 1).map(|n| n.op);
        if !decorations_done
            && !matches!(
                i.op,
                OP_CAPABILITY
                    | OP_EXTENSION
                    | OP_EXT_INST_IMPORT
                    | OP_MEMORY_MODEL
                    | OP_ENTRY_POINT
                    | OP_EXECUTION_MODE
                    | OP_EXECUTION_MODE_ID
            )
            && !DEBUG_OPS.contains(&i.op)
        {
            out.extend_from_slice(&decorations);
            decorations_done = true;
        }
        out.extend_from_slice(&words[i.start..i.start + i.len]);
        if i.op == OP_CAPABILITY && next != Some(OP_CAPABILITY) && !caps_done {
            for &c in &caps {
                out.extend(inst(OP_CAPABILITY, &[c]));
            }
            if !caps.is_empty() {
                out.extend(inst(OP_EXTENSION, &string_words("SPV_KHR_float_controls")));
            }
            caps_done = true;
        }
        if (i.op == OP_ENTRY_POINT || i.op == OP_EXECUTION_MODE || i.op == OP_EXECUTION_MODE_ID)
            && !matches!(
                next,
                Some(OP_ENTRY_POINT) | Some(OP_EXECUTION_MODE) | Some(OP_EXECUTION_MODE_ID)
            )
            && !modes_done
        {
            for &(m, w) in &modes {
                out.extend(inst(OP_EXECUTION_MODE, &[entry, m, w]));
            }
            modes_done = true;
        }
    }
    if !caps_done || !modes_done || !decorations_done {
        return Err(Unsupported::new(
            "internal: unexpected SPIR-V module layout",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_nul_terminated_and_padded() {
        let w = string_words("abcd");
        assert_eq!(w.len(), 2);
        assert_eq!(w[1], 0);
        let w = string_words("abc");
        assert_eq!(w, vec![u32::from_le_bytes(*b"abc\0")]);
    }

    #[test]
    fn rejects_garbage() {
        assert!(apply(vec![1, 2, 3], &TranslateOptions::default(), false).is_err());
    }
}
