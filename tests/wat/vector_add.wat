;; vector_add: c[j] = a[j] + b[j] (i32, wrapping) for j in [id*bs, min((id+1)*bs, len/4)).
;; Buffers: a, b (in), c (out); the element count is c_len / 4.
(module
  (memory (import "" "memory") 1 1 shared)
  (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32)
                          (param $a i32) (param $a_len i32) (param $b i32) (param $b_len i32)
                          (param $c i32) (param $c_len i32)
    (local $j i32) (local $end i32) (local $off i32)
    (local.set $j (i32.mul (local.get $id) (local.get $bs)))
    (local.set $end (i32.add (local.get $j) (local.get $bs)))
    (if (i32.gt_u (local.get $end) (i32.shr_u (local.get $c_len) (i32.const 2)))
      (then (local.set $end (i32.shr_u (local.get $c_len) (i32.const 2)))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $j) (local.get $end)))
        (local.set $off (i32.shl (local.get $j) (i32.const 2)))
        (i32.store (i32.add (local.get $c) (local.get $off))
          (i32.add (i32.load (i32.add (local.get $a) (local.get $off)))
                   (i32.load (i32.add (local.get $b) (local.get $off)))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $next)))))
