;; scan_marker: isolation probe. Scans every aligned u32 of the kernel's whole
;; memory [0, memory.size) for the marker 0x5EC2E7ED and writes
;; out[0] = number of hits, out[1] = address of the first hit (or 0xffffffff).
;; Buffers: out (>= 8 bytes). Run it with one iteration.
;; The marker is an immediate in the code, so the kernel's own memory never
;; holds it: hits come only from buffer contents. A guest keeping the marker in
;; its own memory must get 0 hits, and >= 1 once it writes it into a buffer.
;; scan_marker_2.wat is the same scan with two buffers (in, out).
(module
  (memory (import "" "memory") 1 1 shared)
  (func $scan (param $out i32)
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
    (i32.store offset=4 (local.get $out) (local.get $first)))
  ;; one buffer: (out)
  (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32)
                          (param $out i32) (param $out_len i32)
    (call $scan (local.get $out))))
