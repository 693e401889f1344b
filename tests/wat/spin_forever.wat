<<<<<<<< HEAD:tests/wat/spin.wat
;; Spins block_size rounds (forever when block_size is 0xffffffff), no buffers.
========
;; spin_forever: never returns. No buffers. With a per-iteration kernel fuel budget the
;; call must return kernel_trap (5) instead of hanging.
>>>>>>>> guest:tests/wat/spin_forever.wat
(module
  (memory (import "" "memory") 1 1 shared)
  (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32)
    (local $k i32)
    (block $done
      (loop $l
        (br_if $done (i32.eq (local.get $k) (local.get $bs)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br_if $l (i32.ne (local.get $bs) (i32.const -1)))
        (local.set $k (i32.const 0))
        (br $l)))))
