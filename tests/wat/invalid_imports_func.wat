;; invalid_imports_func: imports a function besides the memory: not a valid
;; kernel (ABI section 2) -> parallel_exec returns invalid_kernel (4).
(module
  (import "env" "log" (func $log (param i32)))
  (memory (import "" "memory") 1 1 shared)
  (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32)
    (call $log (local.get $id))))
