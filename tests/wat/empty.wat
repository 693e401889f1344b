;; empty: does nothing. No buffers. For the call-overhead benchmark
;; (one iteration, cached kernel) and for num_iterations == 0 tests.
(module
  (memory (import "" "memory") 1 1 shared)
  (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32)))
