;; The prototype's sum benchmark (abrown/wasmtime, wasi-parallel's
;; `sum.wat`-style "add up integers" example: an i32 counter incremented
;; until it reaches `block_size + thread_id`), in this project's kernel ABI:
;; iteration i counts k = 1, 2, ... until k >= block_size + i and stores the
;; final k at out[i] (so the result is checked: max(1, block_size + i)).
(module
  (memory (import "" "memory") 1 1 shared)
  (func (export "kernel") (param $i i32) (param $n i32) (param $bs i32) (param $po i32) (param $lo i32)
    (local $k i32) (local $end i32)
    (local.set $end (i32.add (local.get $bs) (local.get $i)))
    (block $done
      (loop $l
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br_if $done (i32.ge_s (local.get $k) (local.get $end)))
        (br $l)))
    (i32.store (i32.add (local.get $po) (i32.shl (local.get $i) (i32.const 2))) (local.get $k))))
