//! Test harness: a tiny wasmi guest whose exports forward to the five
//! `wasi_ephemeral_parallel` imports, so tests drive the real import glue.

use std::sync::Arc;
use wasi_parallel::parallel::{api, ParallelConfig, ParallelContext, ParallelRuntime};
use wasmi::{Engine, Linker, Memory, Module, Store, Val};

pub const OUT: i32 = 16;
pub const IN_HANDLES: i32 = 1024;
pub const OUT_HANDLES: i32 = 2048;
pub const KERNEL: i32 = 65536;
pub const DATA: i32 = 4 << 20;

/// The five `wasi_ephemeral_parallel` imports in WAT, as `$gd`, `$cb`,
/// `$wb`, `$rb` and `$pe`: the start of the test guests' modules.
pub const PARALLEL_IMPORTS: &str = r#"(import "wasi_ephemeral_parallel" "get_device" (func $gd (param i32 i32) (result i32)))
  (import "wasi_ephemeral_parallel" "create_buffer" (func $cb (param i32 i32 i32 i32) (result i32)))
  (import "wasi_ephemeral_parallel" "write_buffer" (func $wb (param i32 i32 i32) (result i32)))
  (import "wasi_ephemeral_parallel" "read_buffer" (func $rb (param i32 i32 i32) (result i32)))
  (import "wasi_ephemeral_parallel" "parallel_exec"
    (func $pe (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
"#;

/// The forwarding guest, after its imports.
const GUEST_BODY: &str = r#"
  (memory (export "memory") 128)
  (func (export "get_device") (param i32 i32) (result i32)
    (call $gd (local.get 0) (local.get 1)))
  (func (export "create_buffer") (param i32 i32 i32 i32) (result i32)
    (call $cb (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "write_buffer") (param i32 i32 i32) (result i32)
    (call $wb (local.get 0) (local.get 1) (local.get 2)))
  (func (export "read_buffer") (param i32 i32 i32) (result i32)
    (call $rb (local.get 0) (local.get 1) (local.get 2)))
  (func (export "parallel_exec") (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
    (call $pe (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4)
              (local.get 5) (local.get 6) (local.get 7) (local.get 8))))
"#;

/// A runtime with only the SEQUENTIAL and CPU devices (these tests are about
/// them; GPU devices are covered by their own tests).
pub fn runtime(config: ParallelConfig) -> Arc<ParallelRuntime> {
    Arc::new(ParallelRuntime::with_devices(config, |_| Vec::new()).expect("runtime"))
}

pub fn runtime_threads(threads: usize) -> Arc<ParallelRuntime> {
    runtime(ParallelConfig {
        threads,
        ..ParallelConfig::default()
    })
}

pub fn wat(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/wat/{name}.wat", env!("CARGO_MANIFEST_DIR"));
    wat::parse_file(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn clang_kernel(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/kernels/{name}.wasm", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub struct Guest {
    pub store: Store<ParallelContext>,
    pub instance: wasmi::Instance,
    pub memory: Memory,
}

impl Guest {
    pub fn new(rt: &Arc<ParallelRuntime>) -> Guest {
        let engine = Engine::default();
        let module = Module::new(
            &engine,
            wat::parse_str(format!("(module\n  {PARALLEL_IMPORTS}{GUEST_BODY}")).unwrap(),
        )
        .unwrap();
        let mut linker = Linker::<ParallelContext>::new(&engine);
        api::add_to_linker(&mut linker, |c| c).unwrap();
        let mut store = Store::new(&engine, ParallelContext::new(rt.clone()));
        let instance = linker.instantiate_and_start(&mut store, &module).unwrap();
        let memory = instance.get_memory(&store, "memory").unwrap();
        Guest {
            store,
            instance,
            memory,
        }
    }

    pub fn ctx(&self) -> &ParallelContext {
        self.store.data()
    }

    pub fn mem(&self) -> &[u8] {
        self.memory.data(&self.store)
    }

    pub fn poke(&mut self, at: i32, bytes: &[u8]) {
        let need = at as usize + bytes.len();
        let have = self.memory.data(&self.store).len();
        if need > have {
            let pages = (need - have).div_ceil(65536) as u64;
            self.memory.grow(&mut self.store, pages).unwrap();
        }
        self.memory
            .write(&mut self.store, at as usize, bytes)
            .unwrap();
    }

    pub fn peek_u32(&self, at: i32) -> u32 {
        let m = self.mem();
        let a = at as usize;
        u32::from_le_bytes(m[a..a + 4].try_into().unwrap())
    }

    pub fn call(&mut self, name: &str, args: &[i32]) -> i32 {
        let f = self.instance.get_func(&self.store, name).unwrap();
        let params: Vec<Val> = args.iter().map(|a| Val::I32(*a)).collect();
        let mut out = [Val::I32(0)];
        f.call(&mut self.store, &params, &mut out)
            .expect("a wasi-parallel import must never trap");
        match out[0] {
            Val::I32(v) => v,
            _ => unreachable!(),
        }
    }

    pub fn get_device(&mut self, hint: i32) -> Result<u32, i32> {
        self.poke(OUT, &[0xAA; 4]);
        match self.call("get_device", &[hint, OUT]) {
            0 => Ok(self.peek_u32(OUT)),
            e => Err(e),
        }
    }

    pub fn create_buffer(&mut self, dev: u32, size: u32, access: i32) -> Result<u32, i32> {
        match self.call("create_buffer", &[dev as i32, size as i32, access, OUT]) {
            0 => Ok(self.peek_u32(OUT)),
            e => Err(e),
        }
    }

    pub fn write_buffer(&mut self, buf: u32, data: &[u8]) -> i32 {
        self.poke(DATA, data);
        self.call("write_buffer", &[DATA, data.len() as i32, buf as i32])
    }

    pub fn read_buffer(&mut self, buf: u32, len: usize) -> Result<Vec<u8>, i32> {
        self.poke(DATA, &vec![0xEE; len]);
        match self.call("read_buffer", &[buf as i32, DATA, len as i32]) {
            0 => Ok(self.mem()[DATA as usize..DATA as usize + len].to_vec()),
            e => Err(e),
        }
    }

    pub fn exec(
        &mut self,
        dev: u32,
        kernel: &[u8],
        n: u32,
        block: u32,
        ins: &[u32],
        outs: &[u32],
    ) -> i32 {
        self.poke(KERNEL, kernel);
        let inb: Vec<u8> = ins.iter().flat_map(|h| h.to_le_bytes()).collect();
        let outb: Vec<u8> = outs.iter().flat_map(|h| h.to_le_bytes()).collect();
        self.poke(IN_HANDLES, &inb);
        self.poke(OUT_HANDLES, &outb);
        self.call(
            "parallel_exec",
            &[
                dev as i32,
                KERNEL,
                kernel.len() as i32,
                n as i32,
                block as i32,
                IN_HANDLES,
                ins.len() as i32,
                OUT_HANDLES,
                outs.len() as i32,
            ],
        )
    }

    /// Creates a buffer holding `data` on `dev`.
    pub fn buffer_with(&mut self, dev: u32, data: &[u8], access: i32) -> u32 {
        let b = self.create_buffer(dev, data.len() as u32, access).unwrap();
        assert_eq!(self.write_buffer(b, data), 0);
        b
    }
}

pub fn f32s_to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn u32s_to_bytes(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn bytes_to_u32s(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// The Rust reference of `tests/wat/compute.wat`.
pub fn compute_ref(id: u32, steps: u32) -> u32 {
    let mut x = id;
    for _ in 0..steps {
        x = x.wrapping_mul(1664525).wrapping_add(1013904223);
        x ^= x >> 13;
    }
    x
}

/// Deterministic pseudo-random bytes.
pub fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        })
        .collect()
}

pub const SEQUENTIAL: i32 = 0;
pub const CPU: i32 = 1;
pub const DISCRETE_GPU: i32 = 2;
pub const INTEGRATED_GPU: i32 = 3;
pub const READ: i32 = 0;
pub const WRITE: i32 = 1;
pub const READ_WRITE: i32 = 2;
