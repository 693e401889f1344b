;; Kernel for the embedded examples (ABI section 2): one input and one output
;; buffer of u32; iteration `id` handles elements [id*bs, id*bs+bs) and writes
;; out[i] = in[i]*in[i]*3 + 7 (mod 2^32). The private region is 1 page.
(module
  (memory (import "" "memory") 1)
  (func (export "kernel")
        (param $id i32) (param $n i32) (param $bs i32)
        (param $in i32) (param $in_len i32) (param $out i32) (param $out_len i32)
    (local $i i32) (local $end i32) (local $len i32) (local $v i32)
    (local.set $len (i32.shr_u (local.get $in_len) (i32.const 2)))
    (local.set $i (i32.mul (local.get $id) (local.get $bs)))
    (local.set $end (i32.add (local.get $i) (local.get $bs)))
    (if (i32.gt_u (local.get $end) (local.get $len))
      (then (local.set $end (local.get $len))))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $v (i32.load (i32.add (local.get $in) (i32.shl (local.get $i) (i32.const 2)))))
        (i32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))
          (i32.add (i32.mul (i32.mul (local.get $v) (local.get $v)) (i32.const 3)) (i32.const 7)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))))
