;; Layout probe: writes its (ptr, len) params and memory.size (in bytes) into
;; the last buffer: [p0, l0, p1, l1, p2, l2, size].
(module
  (memory (import "" "memory") 2 2 shared)
  (data (i32.const 100) "kernel's own data")
  (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32)
        (param $p0 i32) (param $l0 i32) (param $p1 i32) (param $l1 i32) (param $p2 i32) (param $l2 i32)
    (i32.store offset=0 (local.get $p2) (local.get $p0))
    (i32.store offset=4 (local.get $p2) (local.get $l0))
    (i32.store offset=8 (local.get $p2) (local.get $p1))
    (i32.store offset=12 (local.get $p2) (local.get $l1))
    (i32.store offset=16 (local.get $p2) (local.get $p2))
    (i32.store offset=20 (local.get $p2) (local.get $l2))
    (i32.store offset=24 (local.get $p2) (i32.mul (memory.size) (i32.const 65536)))))
