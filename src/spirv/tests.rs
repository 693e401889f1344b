//! Translator tests that need no Vulkan device: every output goes through
//! `spirv-val`; unsupported constructs are rejected with a reason.

use super::*;
use std::io::Write;
use std::process::Command;

/// Runs `spirv-val --target-env vulkan1.1` on the words. Returns `None` when
/// the binary is missing (a failure under `CI=true`).
pub(crate) fn spirv_val(words: &[u32]) -> Option<Result<(), String>> {
    let mut file = match tempfile::NamedTempFile::new() {
        Ok(f) => f,
        Err(e) => return Some(Err(format!("tempfile: {e}"))),
    };
    if let Err(e) = file.write_all(&words_to_bytes(words)) {
        return Some(Err(format!("write: {e}")));
    }
    let out = match Command::new("spirv-val")
        .args(["--target-env", "vulkan1.1"])
        .arg(file.path())
        .output()
    {
        Ok(o) => o,
        Err(_) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("spirv-val is missing and CI=true: install spirv-tools");
            }
            eprintln!("note: spirv-val not found; SPIR-V validation skipped");
            return None;
        }
    };
    if out.status.success() {
        Some(Ok(()))
    } else {
        Some(Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

fn translate_wat(wat: &str) -> Result<Translation, Unsupported> {
    let wasm = wat::parse_str(wat).expect("test WAT must parse");
    translate_kernel(&wasm, &TranslateOptions::default())
}

fn assert_valid(wat: &str) -> Translation {
    let t = translate_wat(wat).unwrap_or_else(|e| panic!("translation failed: {e}"));
    if let Some(Err(msg)) = spirv_val(&t.words) {
        panic!("spirv-val rejected the output: {msg}");
    }
    t
}

const COPY: &str = r#"(module
  (import "env" "memory" (memory 1))
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32)
        (param $p0 i32) (param $l0 i32) (param $p1 i32) (param $l1 i32)
    (i32.store (i32.add (local.get $p1) (i32.shl (local.get $i) (i32.const 2)))
      (i32.mul (i32.const 3)
        (i32.load (i32.add (local.get $p0) (i32.shl (local.get $i) (i32.const 2))))))))"#;

#[test]
fn simple_kernel_validates() {
    let t = assert_valid(COPY);
    assert_eq!(t.num_buffers, 2);
    assert_eq!(t.region_size, 65536);
    assert!(!t.uses_int64 && !t.uses_float64);
}

#[test]
fn control_flow_validates() {
    assert_valid(
        r#"(module
  (import "" "memory" (memory 1 1 shared))
  (func $f (param i32) (result i32)
    (block $out (result i32)
      (loop $l
        (br_if $out (i32.const 7) (i32.eqz (local.get 0)))
        (block $a
          (block $b
            (br_table $a $b $l $a (i32.and (local.get 0) (i32.const 3)))))
        (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
        (br $l))
      (i32.const 1)))
  (func (export "kernel") (param i32 i32 i32 i32 i32)
    (i32.store (local.get 3) (call $f (local.get 0)))))"#,
    );
}

#[test]
fn unsupported_constructs_have_reasons() {
    let cases = [
        (
            r#"(module (import "" "memory" (memory 1)) (table 1 funcref)
              (type $t (func (param i32)))
              (elem (i32.const 0) $r)
              (func $r (param i32) (call_indirect (type $t) (local.get 0) (i32.const 0)))
              (func (export "kernel") (param i32 i32 i32) (call $r (local.get 0))))"#,
            "recursion",
        ),
        (
            r#"(module (import "" "memory" (memory 1))
              (func $r (param i32) (call $r (local.get 0)))
              (func (export "kernel") (param i32 i32 i32) (call $r (local.get 0))))"#,
            "recursion",
        ),
        (
            r#"(module (import "" "memory" (memory 1))
              (func (export "kernel") (param i32 i32 i32) (drop (memory.grow (i32.const 1)))))"#,
            "memory.grow",
        ),
        (
            r#"(module (memory 1)
              (func (export "kernel") (param i32 i32 i32)))"#,
            "must import exactly one",
        ),
        (
            r#"(module (import "" "memory" (memory 1))
              (func (export "kernel") (param i32 i32 i32 i32)))"#,
            "`kernel` must take",
        ),
    ];
    for (wat, needle) in cases {
        match translate_wat(wat) {
            Ok(_) => panic!("expected Unsupported containing {needle:?}"),
            Err(e) => assert!(
                e.reason.contains(needle),
                "reason {:?} should mention {needle:?}",
                e.reason
            ),
        }
    }
    assert!(translate(b"not wasm", &TranslateOptions::default()).is_err());
}

#[test]
fn i64_needs_the_device_feature() {
    let wat = r#"(module (import "" "memory" (memory 1))
      (func (export "kernel") (param i32 i32 i32 i32 i32)
        (i64.store (local.get 3) (i64.mul (i64.extend_i32_u (local.get 0)) (i64.const 3)))))"#;
    let wasm = wat::parse_str(wat).unwrap();
    let no64 = TranslateOptions {
        int64: false,
        float64: false,
        ..TranslateOptions::default()
    };
    let e = translate_kernel(&wasm, &no64).unwrap_err();
    assert!(e.reason.contains("shaderInt64"), "{}", e.reason);
    let t = assert_valid(wat);
    assert!(t.uses_int64);
    // A 32-bit kernel translates without 64-bit features.
    let w32 = wat::parse_str(COPY).unwrap();
    assert!(translate_kernel(&w32, &no64).is_ok());
}

#[test]
fn no_contraction_and_float_controls_are_added() {
    let t = assert_valid(
        r#"(module (import "" "memory" (memory 1))
      (func (export "kernel") (param i32 i32 i32 i32 i32)
        (f32.store (local.get 3) (f32.add (f32.mul (f32.load (local.get 3)) (f32.const 2)) (f32.const 1)))))"#,
    );
    let w = &t.words;
    let decorated = w
        .windows(3)
        .filter(|x| x[0] == (3 << 16) | 71 && x[2] == 42)
        .count();
    assert!(decorated >= 2, "expected NoContraction decorations");
    assert!(w.windows(2).any(|x| x[0] == (2 << 16) | 17 && x[1] == 4464));
}

#[test]
fn data_segments_are_reported() {
    let t = assert_valid(
        r#"(module (import "" "memory" (memory 1))
      (data (i32.const 16) "\01\02\03")
      (func (export "kernel") (param i32 i32 i32 i32 i32)
        (i32.store (local.get 3) (i32.load8_u offset=17 (i32.const 0)))))"#,
    );
    assert_eq!(
        t.data_segments,
        vec![DataSegment {
            offset: 16,
            bytes: vec![1, 2, 3]
        }]
    );
}

/// Number of `OpLoopMerge` instructions (one per SPIR-V loop) and the
/// word count of a translation.
fn loops_and_size(wat: &str, unroll: u32) -> (usize, usize) {
    let wasm = wat::parse_str(wat).unwrap();
    let t = translate_kernel(
        &wasm,
        &TranslateOptions {
            unroll,
            ..TranslateOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("unroll {unroll}: {e}"));
    if let Some(Err(msg)) = spirv_val(&t.words) {
        panic!("unroll {unroll}: spirv-val rejected the output: {msg}");
    }
    // Walk the instructions: the high half of the first word is the count.
    let (mut i, mut loops) = (5, 0);
    while i < t.words.len() {
        let w = t.words[i];
        if w & 0xffff == 246 {
            loops += 1; // OpLoopMerge
        }
        i += (w >> 16).max(1) as usize;
    }
    (loops, t.words.len())
}

#[test]
fn only_small_innermost_loops_are_unrolled_and_blocks_are_no_loops() {
    // Two nested loops (the inner one small) inside a targeted block.
    let wat = r#"(module (import "env" "memory" (memory 1))
      (func (export "kernel") (param $i i32) (param i32 i32) (param $p i32) (param i32)
        (local $a i32) (local $b i32) (local $s i32)
        (block $out
          (loop $outer
            (local.set $b (i32.const 0))
            (loop $inner
              (local.set $s (i32.add (local.get $s) (i32.mul (local.get $a) (local.get $b))))
              (local.set $b (i32.add (local.get $b) (i32.const 1)))
              (br_if $inner (i32.lt_u (local.get $b) (i32.const 10))))
            (br_if $out (i32.gt_u (local.get $s) (local.get $i)))
            (local.set $a (i32.add (local.get $a) (i32.const 1)))
            (br_if $outer (i32.lt_u (local.get $a) (i32.const 10)))))
        (i32.store (local.get $p) (local.get $s))))"#;
    let (loops1, size1) = loops_and_size(wat, 1);
    let (loops4, size4) = loops_and_size(wat, 4);
    // Two wasm loops, two SPIR-V loops either way: the block is a switch
    // and the copies of the inner body share one loop.
    assert_eq!((loops1, loops4), (2, 2));
    assert!(
        size4 > size1,
        "the inner body was not copied: {size1} vs {size4} words"
    );
    // The outer loop is not copied: 4 copies of the whole nest would be
    // far larger than 4 copies of the inner body.
    let inner_body_words = size4 - size1;
    assert!(inner_body_words < 3 * size1, "{size1} -> {size4} words");
}

#[test]
fn shadow_stack_frames_are_summed_over_the_call_graph() {
    // kernel (frame 32) -> a (frame 48) -> b (frame 16); kernel -> c (no
    // frame). Depth 96 below the top 4096: window [4000, 4096).
    let t = assert_valid(
        r#"(module (import "" "memory" (memory 1))
          (global $sp (mut i32) (i32.const 4096))
          (func $b (local i32)
            (local.set 0 (i32.sub (global.get $sp) (i32.const 16)))
            (global.set $sp (local.get 0))
            (i32.store (local.get 0) (i32.const 7))
            (global.set $sp (i32.add (local.get 0) (i32.const 16))))
          (func $a (local i32)
            (global.set $sp (local.tee 0 (i32.sub (global.get $sp) (i32.const 48))))
            (call $b)
            (global.set $sp (i32.add (local.get 0) (i32.const 48))))
          (func $c (result i32) (i32.const 1))
          (func (export "kernel") (param i32 i32 i32) (local i32)
            (global.set $sp (local.tee 3 (i32.sub (global.get $sp) (i32.const 32))))
            (call $a)
            (drop (call $c))
            (global.set $sp (i32.add (local.get 3) (i32.const 32)))))"#,
    );
    assert_eq!(t.stack_window, Some((4096 - 96, 4096)));
}

#[test]
fn call_indirect_translates_with_every_kind_of_slot() {
    // slot 0 null, 1 matching, 2 another signature; i32 result.
    let t = assert_valid(
        r#"(module (import "" "memory" (memory 1)) (table 3 funcref)
          (type $t (func (param i32) (result i32)))
          (elem (i32.const 1) $f $g)
          (func $f (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
          (func $g (param i64) (result i32) (i32.wrap_i64 (local.get 0)))
          (func (export "kernel") (param i32 i32 i32 i32 i32)
            (i32.store (local.get 3)
              (call_indirect (type $t) (local.get 0) (local.get 1)))))"#,
    );
    assert_eq!(t.stack_window, None);
}

#[test]
fn a_variable_size_alloca_adds_nothing_to_the_bound() {
    // 32 bytes constant, then `n` more: the window covers the constant
    // part; the shader checks the dynamic part at run time (STACK_LIMIT).
    let t = assert_valid(
        r#"(module (import "" "memory" (memory 1))
          (global $sp (mut i32) (i32.const 4096))
          (func (export "kernel") (param i32 i32 i32) (local i32)
            (global.set $sp (local.tee 3 (i32.sub (global.get $sp) (i32.const 32))))
            (global.set $sp (i32.sub (global.get $sp) (local.get 0)))
            (i32.store (local.get 3) (local.get 0))
            (global.set $sp (i32.add (local.get 3) (i32.const 32)))))"#,
    );
    assert_eq!(t.stack_window, Some((4096 - 32, 4096)));
}
