;; scan_marker_2: scan_marker.wat for two buffers (in, out): the `in` buffer is
;; where the guest hands the marker over. See scan_marker.wat.
(module
  (memory (import "" "memory") 1 1 shared)
  (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32)
                          (param $in i32) (param $in_len i32) (param $out i32) (param $out_len i32)
    (local $addr i32) (local $end i32) (local $hits i32) (local $first i32)
    (local.set $end (i32.mul (memory.size) (i32.const 65536)))
    (local.set $first (i32.const -1))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $addr) (local.get $end)))
        (if (i32.eq (i32.load (local.get $addr)) (i32.const 0x5EC2E7ED))
          (then
            (if (i32.eq (local.get $hits) (i32.const 0)) (then (local.set $first (local.get $addr))))
            (local.set $hits (i32.add (local.get $hits) (i32.const 1)))))
        (local.set $addr (i32.add (local.get $addr) (i32.const 4)))
        (br $next)))
    (i32.store (local.get $out) (local.get $hits))
    (i32.store offset=4 (local.get $out) (local.get $first))))
