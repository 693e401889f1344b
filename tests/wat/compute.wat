;; Compute-bound kernel: out[id] = chain of `block_size` LCG + xorshift steps
;; starting from id (u32 arithmetic).
(module
  (memory (import "env" "memory") 1)
  (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32) (param $o i32) (param $ol i32)
    (local $x i32) (local $k i32)
    (local.set $x (local.get $id))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $k) (local.get $bs)))
        (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 1664525)) (i32.const 1013904223)))
        (local.set $x (i32.xor (local.get $x) (i32.shr_u (local.get $x) (i32.const 13))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $l)))
    (i32.store (i32.add (local.get $o) (i32.shl (local.get $id) (i32.const 2))) (local.get $x))))
