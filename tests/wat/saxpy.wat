;; Prototype-style kernel: out[i] = 2.5 * x[i] + y[i] (f32) over the block of
;; iteration `id` (block_size elements per iteration).
(module
  (memory (import "" "memory") 1 1 shared)
  (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32)
        (param $x i32) (param $xl i32) (param $y i32) (param $yl i32) (param $o i32) (param $ol i32)
    (local $i i32) (local $end i32) (local $len i32)
    (local.set $len (i32.shr_u (local.get $xl) (i32.const 2)))
    (local.set $i (i32.mul (local.get $id) (local.get $bs)))
    (local.set $end (i32.add (local.get $i) (local.get $bs)))
    (if (i32.gt_u (local.get $end) (local.get $len)) (then (local.set $end (local.get $len))))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (f32.store
          (i32.add (local.get $o) (i32.shl (local.get $i) (i32.const 2)))
          (f32.add
            (f32.mul (f32.const 2.5)
              (f32.load (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2)))))
            (f32.load (i32.add (local.get $y) (i32.shl (local.get $i) (i32.const 2))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))))
