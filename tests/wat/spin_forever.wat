;; spin_forever: never returns. No buffers. With a per-iteration kernel fuel budget the
;; call must return kernel_trap (5) instead of hanging.
(module
  (memory (import "" "memory") 1 1 shared)
  (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32)
    (loop $forever (br $forever))))
