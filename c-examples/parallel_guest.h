/* parallel_guest.h - the WAT guest shared by c-examples/parallel_devices.c
 * and tests/c/stress.c: `run(n, hint)` offloads a kernel (embedded as bytes
 * at 4096: out[i] = in[i] * 2 + i) over n elements from 1024 to 2048 and
 * returns the par_errno of the first failing call (0 on success); `bad()`
 * makes a call with a forged device handle (want invalid_handle, 2). */
#ifndef WASI_PARALLEL_EXAMPLE_PARALLEL_GUEST_H
#define WASI_PARALLEL_EXAMPLE_PARALLEL_GUEST_H

static const char PARALLEL_GUEST_WAT[] =
    "(module\n"
    "  (import \"wasi_ephemeral_parallel\" \"get_device\" (func $get_device (param i32 i32) (result i32)))\n"
    "  (import \"wasi_ephemeral_parallel\" \"create_buffer\" (func $create_buffer (param i32 i32 i32 i32) (result i32)))\n"
    "  (import \"wasi_ephemeral_parallel\" \"write_buffer\" (func $write_buffer (param i32 i32 i32) (result i32)))\n"
    "  (import \"wasi_ephemeral_parallel\" \"read_buffer\" (func $read_buffer (param i32 i32 i32) (result i32)))\n"
    "  (import \"wasi_ephemeral_parallel\" \"parallel_exec\"\n"
    "    (func $parallel_exec (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))\n"
    "  (memory (export \"memory\") 1)\n"
    "  (data (i32.const 4096) \"\\00\\61\\73\\6d\\01\\00\\00\\00\\01\\0b\\01\\60\\07\\7f\\7f\\7f\\7f\\7f\\7f\\7f\\00\\02\\0c\\01\\00\\06\\6d\\65\\6d\\6f\\72\\79\\02\\00\\01\\03\\02\\01\\00\\07\\0a\\01\\06\\6b\\65\\72\\6e\\65\\6c\\00\\00\\0a\\23\\01\\21\\01\\01\\7f\\20\\00\\41\\02\\74\\21\\07\\20\\05\\20\\07\\6a\\20\\03\\20\\07\\6a\\28\\02\\00\\41\\02\\6c\\20\\00\\6a\\36\\02\\00\\0b\")\n"
    "  ;; handles: 0 device, 4 input buffer, 8 output buffer\n"
    "  (func (export \"run\") (param $n i32) (param $hint i32) (result i32)\n"
    "    (local $r i32) (local $bytes i32)\n"
    "    (local.set $bytes (i32.shl (local.get $n) (i32.const 2)))\n"
    "    (if (local.tee $r (call $get_device (local.get $hint) (i32.const 0)))\n"
    "      (then (return (local.get $r))))\n"
    "    (if (local.tee $r (call $create_buffer (i32.load (i32.const 0)) (local.get $bytes) (i32.const 0) (i32.const 4)))\n"
    "      (then (return (local.get $r))))\n"
    "    (if (local.tee $r (call $create_buffer (i32.load (i32.const 0)) (local.get $bytes) (i32.const 1) (i32.const 8)))\n"
    "      (then (return (local.get $r))))\n"
    "    (if (local.tee $r (call $write_buffer (i32.const 1024) (local.get $bytes) (i32.load (i32.const 4))))\n"
    "      (then (return (local.get $r))))\n"
    "    (if (local.tee $r (call $parallel_exec (i32.load (i32.const 0)) (i32.const 4096) (i32.const 88)\n"
    "                          (local.get $n) (i32.const 1) (i32.const 4) (i32.const 1) (i32.const 8) (i32.const 1)))\n"
    "      (then (return (local.get $r))))\n"
    "    (call $read_buffer (i32.load (i32.const 8)) (i32.const 2048) (local.get $bytes)))\n"
    "  (func (export \"bad\") (result i32)\n"
    "    (call $create_buffer (i32.const 12345) (i32.const 16) (i32.const 0) (i32.const 12))))\n";

#endif
