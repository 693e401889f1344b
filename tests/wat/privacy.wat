;; Private-region probe: each iteration stores its id at address 512 of its
;; own region, works a while, reads it back and writes out[id] = 1 if another
;; iteration changed it meanwhile (which only a shared region allows).
(module
  (memory (import "" "memory") 1 1 shared)
  (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32) (param $o i32) (param $ol i32)
    (local $k i32)
    (i32.store (i32.const 512) (local.get $id))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $k) (local.get $bs)))
        (i32.store (i32.const 1024) (i32.add (i32.load (i32.const 1024)) (local.get $k)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $l)))
    (i32.store (i32.add (local.get $o) (i32.shl (local.get $id) (i32.const 2)))
      (i32.ne (i32.load (i32.const 512)) (local.get $id)))))
