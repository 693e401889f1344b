;; The prototype's sum benchmark: each iteration counts an i64 from 0 to
;; `block_size` and stores the sum 0 + 1 + ... + (block_size - 1) at out[i].
(module
  (memory (import "" "memory") 1 1 shared)
  (func (export "kernel") (param $i i32) (param $n i32) (param $bs i32) (param $po i32) (param $lo i32)
    (local $k i64) (local $sum i64) (local $end i64)
    (local.set $end (i64.extend_i32_u (local.get $bs)))
    (block $done
      (loop $l
        (br_if $done (i64.ge_u (local.get $k) (local.get $end)))
        (local.set $sum (i64.add (local.get $sum) (local.get $k)))
        (local.set $k (i64.add (local.get $k) (i64.const 1)))
        (br $l)))
    (i64.store (i32.add (local.get $po) (i32.shl (local.get $i) (i32.const 3))) (local.get $sum))))
