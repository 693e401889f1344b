;; The prototype's nstream benchmark: a[j] += b[j] + 3 * c[j] (f32) for the
;; `block_size` elements of iteration i.
(module
  (memory (import "" "memory") 1 1 shared)
  (func (export "kernel") (param $i i32) (param $n i32) (param $bs i32)
        (param $pa i32) (param $la i32) (param $pb i32) (param $lb i32) (param $pc i32) (param $lc i32)
    (local $j i32) (local $end i32) (local $o i32)
    (local.set $j (i32.mul (local.get $i) (local.get $bs)))
    (local.set $end (i32.add (local.get $j) (local.get $bs)))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $j) (local.get $end)))
        (local.set $o (i32.shl (local.get $j) (i32.const 2)))
        (f32.store (i32.add (local.get $pa) (local.get $o))
          (f32.add (f32.load (i32.add (local.get $pa) (local.get $o)))
            (f32.add (f32.load (i32.add (local.get $pb) (local.get $o)))
              (f32.mul (f32.const 3) (f32.load (i32.add (local.get $pc) (local.get $o)))))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $l)))))
