;; layout_report: reports what the kernel sees. Two buffers (a, out); iteration 0 writes
;; out[0..5] = [ptr_a, len_a, ptr_out, len_out, memory.size in pages].
;; The runtime must give ptr_a, ptr_out >= R (= 65536 here) and both % 16 == 0,
;; and the same (ptr, len) to both pairs when one buffer is listed twice.
(module
  (memory (import "" "memory") 1 1 shared)
  (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32)
                          (param $a i32) (param $a_len i32) (param $out i32) (param $out_len i32)
    (if (i32.ne (local.get $id) (i32.const 0)) (then (return)))
    (if (i32.lt_u (local.get $out_len) (i32.const 20)) (then unreachable))
    (i32.store offset=0 (local.get $out) (local.get $a))
    (i32.store offset=4 (local.get $out) (local.get $a_len))
    (i32.store offset=8 (local.get $out) (local.get $out))
    (i32.store offset=12 (local.get $out) (local.get $out_len))
    (i32.store offset=16 (local.get $out) (memory.size))))
