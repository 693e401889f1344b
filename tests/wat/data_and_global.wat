;; data_and_global: a kernel with a data segment in its own region and a
;; mutable global (what clang kernels have: static tables, __stack_pointer).
;; Iteration i writes out[i] = table[i % 8] | (counter << 8), where table is
;; the data segment at address 256 (11 22 33 44 55 66 77 88 decimal) and
;; counter is a global incremented by every iteration the same instance runs.
;; Check out[i] & 0xff == table[i % 8] (data applied in every worker's private
;; [0, R)) and out[i] >> 8 >= 1 (the global works; its value depends on how
;; iterations were spread over workers, so don't compare it across devices).
;; Buffers: out (u32[n]).
(module
  (memory (import "" "memory") 1 1 shared)
  (global $counter (mut i32) (i32.const 0))
  (data (i32.const 256) "\0b\16\21\2c\37\42\4d\58")  ;; 11 22 33 44 55 66 77 88
  (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32)
                          (param $out i32) (param $out_len i32)
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (if (i32.gt_u (i32.add (i32.mul (local.get $id) (i32.const 4)) (i32.const 4)) (local.get $out_len))
      (then (return)))
    (i32.store (i32.add (local.get $out) (i32.mul (local.get $id) (i32.const 4)))
      (i32.or
        (i32.load8_u offset=256 (i32.and (local.get $id) (i32.const 7)))
        (i32.shl (global.get $counter) (i32.const 8))))))
