;; trap_on_3: iteration 3 executes `unreachable`; every other iteration i writes 1 to out[i].
;; parallel_exec must return kernel_trap (5) when num_iterations > 3, success otherwise.
(module
  (memory (import "" "memory") 1 1 shared)
  (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32)
                          (param $out i32) (param $out_len i32)
    (if (i32.eq (local.get $id) (i32.const 3)) (then unreachable))
    (if (i32.le_u (i32.add (i32.mul (local.get $id) (i32.const 4)) (i32.const 4)) (local.get $out_len))
      (then (i32.store (i32.add (local.get $out) (i32.mul (local.get $id) (i32.const 4)))
                       (i32.const 1))))))
