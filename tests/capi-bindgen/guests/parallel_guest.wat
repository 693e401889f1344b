;; A guest that offloads a kernel through wasi-parallel.
;; run(n, hint): out[i] = 2 * in[i] + i for i in 0..n, where the host put
;; `in` (n i32) at offset 1024 and reads `out` (n i32) at 2048. Returns 0 or
;; the first non-zero par_errno. bad() makes a call that fails with
;; invalid_handle (2).
;; The data segment at 4096 is this kernel, assembled (88 bytes):
;;   (module
;;     (memory (import "" "memory") 1)
;;     (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32)
;;           (param $in i32) (param $inl i32) (param $out i32) (param $outl i32)
;;       (local $off i32)
;;       (local.set $off (i32.shl (local.get $id) (i32.const 2)))
;;       (i32.store (i32.add (local.get $out) (local.get $off))
;;         (i32.add (i32.mul (i32.load (i32.add (local.get $in) (local.get $off))) (i32.const 2))
;;                  (local.get $id)))))
(module
  (import "wasi_ephemeral_parallel" "get_device" (func $get_device (param i32 i32) (result i32)))
  (import "wasi_ephemeral_parallel" "create_buffer" (func $create_buffer (param i32 i32 i32 i32) (result i32)))
  (import "wasi_ephemeral_parallel" "write_buffer" (func $write_buffer (param i32 i32 i32) (result i32)))
  (import "wasi_ephemeral_parallel" "read_buffer" (func $read_buffer (param i32 i32 i32) (result i32)))
  (import "wasi_ephemeral_parallel" "parallel_exec"
    (func $parallel_exec (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 4096) "\00\61\73\6d\01\00\00\00\01\0b\01\60\07\7f\7f\7f\7f\7f\7f\7f\00\02\0c\01\00\06\6d\65\6d\6f\72\79\02\00\01\03\02\01\00\07\0a\01\06\6b\65\72\6e\65\6c\00\00\0a\23\01\21\01\01\7f\20\00\41\02\74\21\07\20\05\20\07\6a\20\03\20\07\6a\28\02\00\41\02\6c\20\00\6a\36\02\00\0b")
  ;; handles: 0 device, 4 input buffer, 8 output buffer
  (func (export "run") (param $n i32) (param $hint i32) (result i32)
    (local $r i32) (local $bytes i32)
    (local.set $bytes (i32.shl (local.get $n) (i32.const 2)))
    (if (local.tee $r (call $get_device (local.get $hint) (i32.const 0)))
      (then (return (local.get $r))))
    (if (local.tee $r (call $create_buffer (i32.load (i32.const 0)) (local.get $bytes) (i32.const 0) (i32.const 4)))
      (then (return (local.get $r))))
    (if (local.tee $r (call $create_buffer (i32.load (i32.const 0)) (local.get $bytes) (i32.const 1) (i32.const 8)))
      (then (return (local.get $r))))
    (if (local.tee $r (call $write_buffer (i32.const 1024) (local.get $bytes) (i32.load (i32.const 4))))
      (then (return (local.get $r))))
    (if (local.tee $r (call $parallel_exec (i32.load (i32.const 0)) (i32.const 4096) (i32.const 88)
                          (local.get $n) (i32.const 1) (i32.const 4) (i32.const 1) (i32.const 8) (i32.const 1)))
      (then (return (local.get $r))))
    (call $read_buffer (i32.load (i32.const 8)) (i32.const 2048) (local.get $bytes)))
  (func (export "bad") (result i32)
    (call $create_buffer (i32.const 12345) (i32.const 16) (i32.const 0) (i32.const 12))))
