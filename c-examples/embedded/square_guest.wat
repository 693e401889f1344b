;; Guest for the embedded examples: offloads square_kernel.wat through
;; wasi_ephemeral_parallel and checks every result itself.
;; GENERATED from square_guest.wat.in by gen-guest.sh (the kernel's binary
;; bytes are embedded as a data segment); edit the .in file, not this one.
;;
;; export run(n, block_size, device_hint) -> i32:
;;   0 = all n results correct; 1000*step + par_errno when step fails
;;   (1 get_device, 2/3 create_buffer in/out, 4 write_buffer,
;;   5 parallel_exec, 6 read_buffer); 9 = n out of range;
;;   10000000 + k = k results wrong.
;; export _start: run(4096, 64, CPU) and proc_exit(0 or 1).
(module
  (import "wasi_ephemeral_parallel" "get_device" (func $get_device (param i32 i32) (result i32)))
  (import "wasi_ephemeral_parallel" "create_buffer" (func $create_buffer (param i32 i32 i32 i32) (result i32)))
  (import "wasi_ephemeral_parallel" "write_buffer" (func $write_buffer (param i32 i32 i32) (result i32)))
  (import "wasi_ephemeral_parallel" "read_buffer" (func $read_buffer (param i32 i32 i32) (result i32)))
  (import "wasi_ephemeral_parallel" "parallel_exec"
    (func $parallel_exec (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 160)
  ;; 16: device handle, 20: input buffer handle, 24: output buffer handle
  (global $DEV i32 (i32.const 16))
  (global $IN_H i32 (i32.const 20))
  (global $OUT_H i32 (i32.const 24))
  (global $KERNEL i32 (i32.const 1024))
  (global $KERNEL_LEN i32 (i32.const 149))
  (global $IN i32 (i32.const 0x100000))   ;; 1 MiB
  (global $OUT i32 (i32.const 0x500000))  ;; 5 MiB
  (data (i32.const 1024) "\00\61\73\6d\01\00\00\00\01\0b\01\60\07\7f\7f\7f\7f\7f\7f\7f\00\02\0c\01\00\06\6d\65\6d\6f\72\79\02\00\01\03\02\01\00\07\0a\01\06\6b\65\72\6e\65\6c\00\00\0a\60\01\5e\01\04\7f\20\04\41\02\76\21\09\20\00\20\02\6c\21\07\20\07\20\02\6a\21\08\20\08\20\09\4b\04\40\20\09\21\08\0b\02\40\03\40\20\07\20\08\4f\0d\01\20\03\20\07\41\02\74\6a\28\02\00\21\0a\20\05\20\07\41\02\74\6a\20\0a\20\0a\6c\41\03\6c\41\07\6a\36\02\00\20\07\41\01\6a\21\07\0c\00\0b\0b\0b")

  (func $run (export "run") (param $n i32) (param $bs i32) (param $hint i32) (result i32)
    (local $e i32) (local $i i32) (local $bytes i32) (local $iters i32) (local $bad i32) (local $v i32)
    (if (i32.or (i32.eqz (local.get $n)) (i32.gt_u (local.get $n) (i32.const 0x100000)))
      (then (return (i32.const 9))))
    (if (i32.eqz (local.get $bs)) (then (return (i32.const 9))))
    (local.set $bytes (i32.shl (local.get $n) (i32.const 2)))
    (local.set $iters (i32.div_u (i32.sub (i32.add (local.get $n) (local.get $bs)) (i32.const 1))
                                 (local.get $bs)))
    (if (local.tee $e (call $get_device (local.get $hint) (global.get $DEV)))
      (then (return (i32.add (i32.const 1000) (local.get $e)))))
    (if (local.tee $e (call $create_buffer (i32.load (global.get $DEV)) (local.get $bytes)
                                           (i32.const 0) (global.get $IN_H)))
      (then (return (i32.add (i32.const 2000) (local.get $e)))))
    (if (local.tee $e (call $create_buffer (i32.load (global.get $DEV)) (local.get $bytes)
                                           (i32.const 1) (global.get $OUT_H)))
      (then (return (i32.add (i32.const 3000) (local.get $e)))))
    ;; in[i] = i * 2654435761 (spread the values over all 32 bits)
    (local.set $i (i32.const 0))
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $i) (local.get $n)))
      (i32.store (i32.add (global.get $IN) (i32.shl (local.get $i) (i32.const 2)))
                 (i32.mul (local.get $i) (i32.const 0x9E3779B1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (if (local.tee $e (call $write_buffer (global.get $IN) (local.get $bytes)
                                          (i32.load (global.get $IN_H))))
      (then (return (i32.add (i32.const 4000) (local.get $e)))))
    (if (local.tee $e (call $parallel_exec (i32.load (global.get $DEV))
                          (global.get $KERNEL) (global.get $KERNEL_LEN)
                          (local.get $iters) (local.get $bs)
                          (global.get $IN_H) (i32.const 1) (global.get $OUT_H) (i32.const 1)))
      (then (return (i32.add (i32.const 5000) (local.get $e)))))
    (if (local.tee $e (call $read_buffer (i32.load (global.get $OUT_H)) (global.get $OUT)
                                         (local.get $bytes)))
      (then (return (i32.add (i32.const 6000) (local.get $e)))))
    (local.set $i (i32.const 0))
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $v (i32.mul (local.get $i) (i32.const 0x9E3779B1)))
      (if (i32.ne (i32.load (i32.add (global.get $OUT) (i32.shl (local.get $i) (i32.const 2))))
                  (i32.add (i32.mul (i32.mul (local.get $v) (local.get $v)) (i32.const 3)) (i32.const 7)))
        (then (local.set $bad (i32.add (local.get $bad) (i32.const 1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (if (local.get $bad) (then (return (i32.add (i32.const 10000000) (local.get $bad)))))
    (i32.const 0))

  (func (export "_start")
    (call $proc_exit (i32.ne (call $run (i32.const 4096) (i32.const 64) (i32.const 1)) (i32.const 0)))))
