;; Reads one byte of every 4 KiB page of the input and writes the sum to
;; out[id]: every iteration touches every page of the buffer.
(module
  (memory (import "" "memory") 1 1 shared)
  (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32)
        (param $in i32) (param $il i32) (param $o i32) (param $ol i32)
    (local $p i32) (local $sum i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $p) (local.get $il)))
        (local.set $sum (i32.add (local.get $sum) (i32.load8_u (i32.add (local.get $in) (local.get $p)))))
        (local.set $p (i32.add (local.get $p) (i32.const 4096)))
        (br $l)))
    (i32.store (i32.add (local.get $o) (i32.shl (local.get $id) (i32.const 2))) (local.get $sum))))
