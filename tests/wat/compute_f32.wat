;; The f32 compute kernel (benches; native twin: benches/native/compute.c):
;; out[i] = x after 1000 dependent steps of x = x*x*0.25 + c, with
;; c = (i & 1023) * 0.001.
(module
  (memory (import "" "memory") 1 1 shared)
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $po i32) (param $lo i32)
    (local $x f32) (local $c f32) (local $k i32)
    (local.set $c (f32.mul (f32.convert_i32_u (i32.and (local.get $i) (i32.const 1023))) (f32.const 0.001)))
    (loop $l
      (local.set $x (f32.add (f32.mul (f32.mul (local.get $x) (local.get $x)) (f32.const 0.25)) (local.get $c)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $k) (i32.const 1000))))
    (f32.store (i32.add (local.get $po) (i32.shl (local.get $i) (i32.const 2))) (local.get $x))))
