;; private_region: checks that [0, R) is private to the worker running the
;; iteration. Each iteration stores a value unique to it at address 1024 (in
;; [0, R)), spins a while so other workers run meanwhile, reads it back and
;; traps (`unreachable`) if another iteration overwrote it; then writes 1 to
;; out[id]. With a per-worker region no iteration traps; a region shared
;; between threads makes the call return kernel_trap. Buffers: out (u32[n]).
(module
  (memory (import "" "memory") 1 1 shared)
  (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32)
                          (param $out i32) (param $out_len i32)
    (local $k i32) (local $mine i32)
    (local.set $mine (i32.add (local.get $id) (i32.const 0x1000)))
    (local.set $k (i32.const 20000))
    (loop $spin
      (i32.store (i32.const 1024) (local.get $mine))
      (local.set $k (i32.sub (local.get $k) (i32.const 1)))
      (br_if $spin (i32.ne (local.get $k) (i32.const 0))))
    (if (i32.ne (i32.load (i32.const 1024)) (local.get $mine)) (then unreachable))
    (if (i32.le_u (i32.add (i32.mul (local.get $id) (i32.const 4)) (i32.const 4)) (local.get $out_len))
      (then (i32.store (i32.add (local.get $out) (i32.mul (local.get $id) (i32.const 4)))
                       (i32.const 1))))))
