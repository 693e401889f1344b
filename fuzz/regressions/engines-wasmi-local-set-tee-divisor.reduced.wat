(module
  (memory (export "memory") 1)
  (func (export "f") (param $v i32) (result i32)
    (local $a i32) (local $b i32)
    i32.const -571649600
    local.get $v
    local.set $b
    i32.const 1
    local.get $b
    local.get $b
    i32.eqz
    select
    local.set $b
    local.set $a
    block
      block
        local.get $a
        local.get $b
        local.set $b
        local.tee $a
        i32.const -2147483648
        i32.ne
        br_if 0
        local.get $b
        i32.const -1
        i32.ne
        br_if 0
        i32.const 1
        local.set $b
        br 1
      end
    end
    local.get $a
    local.get $b
    i32.div_s))
