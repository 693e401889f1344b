;; out[id] = id + 1 for every iteration; iteration 5 traps instead, the way
;; block_size selects: 0 unreachable, 1 out-of-bounds load, 2 division by zero.
(module
  (memory (import "" "memory") 1 1 shared)
  (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32) (param $o i32) (param $ol i32)
    (if (i32.eq (local.get $id) (i32.const 5))
      (then
        (if (i32.eq (local.get $bs) (i32.const 0)) (then unreachable))
        (if (i32.eq (local.get $bs) (i32.const 1))
          (then (drop (i32.load (i32.const 0xfffffff0)))))
        (if (i32.eq (local.get $bs) (i32.const 2))
          (then (drop (i32.div_u (i32.const 1) (i32.sub (local.get $id) (i32.const 5))))))))
    (i32.store (i32.add (local.get $o) (i32.shl (local.get $id) (i32.const 2)))
      (i32.add (local.get $id) (i32.const 1)))))
