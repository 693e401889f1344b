;; Isolation probe: counts the 8-byte aligned places of its whole memory that
;; hold the marker 0x1122334455667788 and writes the count to out[0].
;; The marker is built from two halves so that it appears nowhere in memory.
(module
  (memory (import "" "memory") 1)
  (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32)
        (param $in i32) (param $il i32) (param $o i32) (param $ol i32)
    (local $p i32) (local $end i32) (local $count i32) (local $marker i64)
    (local.set $marker
      (i64.or (i64.shl (i64.const 0x11223344) (i64.const 32)) (i64.const 0x55667788)))
    (local.set $end (i32.mul (memory.size) (i32.const 65536)))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (if (i64.eq (i64.load (local.get $p)) (local.get $marker))
          (then (local.set $count (i32.add (local.get $count) (i32.const 1)))))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))
        (br $l)))
    (i32.store (local.get $o) (local.get $count))))
