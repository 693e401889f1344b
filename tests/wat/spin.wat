;; Spins block_size rounds (forever when block_size is 0xffffffff), no buffers.
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
