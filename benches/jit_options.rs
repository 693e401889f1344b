//! What the JIT engine's code-generation choices cost:
//! `cargo bench --bench jit_options` (release).
//!
//! The kernel engine compiles kernels with explicit bounds checks (no
//! signal handlers in a library: `signals_based_traps(false)`, no guard
//! region), without NaN canonicalization, with epoch checks when kernels
//! are interruptible (the default) and fuel only when a kernel fuel budget
//! is set. This bench runs three kernels straight through wasmtime on one
//! thread, in a module that owns its memory, under each of those choices
//! and the alternatives, so the cost of each is one number:
//! - nstream (`tests/wat/nstream.wat`: three loads and a store per f32, 8Mi
//!   elements, 8 calls of 1Mi): bounds checks;
//! - the f32 compute kernel (64Ki items x 1000 dependent steps): NaN
//!   canonicalization;
//! - sum (`tests/wat/sum.wat`: an empty counting loop, 2 x 100M): epoch
//!   and fuel checks at loop heads.
//!
//! Best of `RUNS` (default 5) after a warm-up; results checked.

#[cfg(all(
    feature = "jit",
    feature = "wat",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
fn main() {
    bench::main()
}

#[cfg(not(all(
    feature = "jit",
    feature = "wat",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
fn main() {
    println!("jit_options: needs the `jit` and `wat` features on x86_64/aarch64");
}

#[cfg(all(
    feature = "jit",
    feature = "wat",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod bench {
    use std::time::{Duration, Instant};
    use wasmtime::{Config, Engine, Instance, Module, OptLevel, Store};

    const IMPORTED: &str = r#"(memory (import "" "memory") 1 1 shared)"#;

    /// A kernel of tests/wat with its imported memory replaced by one of
    /// `pages` pages that the module owns.
    fn kernel(name: &str, pages: u32) -> Vec<u8> {
        let path = format!("{}/tests/wat/{name}.wat", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(IMPORTED), "{path}");
        let text = text.replace(IMPORTED, &format!("(memory (export \"memory\") {pages})"));
        wat::parse_str(text).unwrap()
    }

    #[derive(Clone, Copy)]
    struct Choice {
        name: &'static str,
        signals: bool,
        nan: bool,
        epoch: bool,
        fuel: bool,
    }

    const SHIPPED: Choice = Choice {
        name: "explicit bounds checks (the engine, no limit armed)",
        signals: false,
        nan: false,
        epoch: false,
        fuel: false,
    };

    fn engine(c: Choice) -> Engine {
        let mut cfg = Config::new();
        cfg.cranelift_opt_level(OptLevel::Speed)
            .cranelift_nan_canonicalization(c.nan)
            .epoch_interruption(c.epoch)
            .consume_fuel(c.fuel)
            .wasm_backtrace(false);
        if c.signals {
            // wasmtime's defaults on 64-bit hosts: a 4 GiB reservation and
            // a guard region, so 32-bit addresses need no check at all.
            cfg.signals_based_traps(true);
        } else {
            cfg.signals_based_traps(false)
                .memory_reservation(0)
                .memory_guard_size(0)
                .memory_reservation_for_growth(0)
                .guard_before_linear_memory(false);
        }
        Engine::new(&cfg).unwrap()
    }

    /// Best time of `runs` rounds of `calls` (each a list of i32 args) on a
    /// fresh instance; `init` fills memory first, `check` looks at it after.
    fn time(
        c: Choice,
        wasm: &[u8],
        calls: &[Vec<i32>],
        runs: usize,
        init: &dyn Fn(&mut [u8]),
        check: &dyn Fn(&[u8]),
    ) -> Duration {
        let engine = engine(c);
        let module = Module::from_binary(&engine, wasm).unwrap();
        let mut store = Store::new(&engine, ());
        if c.epoch {
            store.set_epoch_deadline(u64::MAX / 2);
        }
        if c.fuel {
            store.set_fuel(u64::MAX / 2).unwrap();
        }
        let inst = Instance::new(&mut store, &module, &[]).unwrap();
        let mem = inst.get_memory(&mut store, "memory").unwrap();
        let f = inst.get_func(&mut store, "kernel").unwrap();
        let calls: Vec<Vec<wasmtime::Val>> = calls
            .iter()
            .map(|a| a.iter().map(|&v| v.into()).collect())
            .collect();
        let mut best = Duration::MAX;
        for round in 0..=runs {
            init(mem.data_mut(&mut store));
            let t = Instant::now();
            for args in &calls {
                f.call(&mut store, args, &mut []).unwrap();
            }
            if round > 0 {
                best = best.min(t.elapsed());
            }
            check(mem.data(&store));
        }
        best
    }

    fn f32_at(m: &[u8], off: usize) -> f32 {
        f32::from_le_bytes(m[off..off + 4].try_into().unwrap())
    }

    pub fn main() {
        let runs = std::env::var("RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5);
        let choices = [
            SHIPPED,
            Choice {
                name: "signals-based bounds checks (4 GiB reservation + guard)",
                signals: true,
                ..SHIPPED
            },
            Choice {
                name: "+ NaN canonicalization",
                nan: true,
                ..SHIPPED
            },
            Choice {
                name: "+ epoch checks (interruptible, the default)",
                epoch: true,
                ..SHIPPED
            },
            Choice {
                name: "+ fuel (a kernel fuel budget)",
                fuel: true,
                ..SHIPPED
            },
        ];

        // nstream: a at 0, b at 32 MiB, c at 64 MiB (8Mi f32 each).
        let elems = 8usize << 20;
        let (pa, pb, pc) = (0usize, elems * 4, elems * 8);
        let block = (elems / 8) as i32;
        let ns_calls: Vec<Vec<i32>> = (0..8)
            .map(|i| {
                let l = (elems * 4) as i32;
                vec![i, 8, block, pa as i32, l, pb as i32, l, pc as i32, l]
            })
            .collect();
        let ns_init = |m: &mut [u8]| {
            for j in 0..elems {
                let (a, b, c) = (
                    (j % 1000) as f32,
                    (j % 7) as f32 * 0.5,
                    (j % 13) as f32 * 0.25,
                );
                m[pa + 4 * j..pa + 4 * j + 4].copy_from_slice(&a.to_le_bytes());
                m[pb + 4 * j..pb + 4 * j + 4].copy_from_slice(&b.to_le_bytes());
                m[pc + 4 * j..pc + 4 * j + 4].copy_from_slice(&c.to_le_bytes());
            }
        };
        let ns_check = |m: &[u8]| {
            for j in [0usize, 777, elems - 1] {
                let want =
                    (j % 1000) as f32 + ((j % 7) as f32 * 0.5 + 3.0 * ((j % 13) as f32 * 0.25));
                assert_eq!(f32_at(m, pa + 4 * j), want, "nstream a[{j}]");
            }
        };
        let items = 1i32 << 16;
        let cf_calls: Vec<Vec<i32>> = (0..items)
            .map(|i| vec![i, items, 1, 0, items * 4])
            .collect();
        let cf_check = |m: &[u8]| {
            for i in [0usize, 777, 65535] {
                let c = (i & 1023) as f32 * 0.001;
                let mut x = 0f32;
                for _ in 0..1000 {
                    x = x * x * 0.25 + c;
                }
                assert_eq!(f32_at(m, 4 * i).to_bits(), x.to_bits(), "compute[{i}]");
            }
        };
        let n = 100_000_000i32;
        let sum_calls: Vec<Vec<i32>> = (0..2).map(|i| vec![i, 2, n, 0, 8]).collect();
        let sum_check = |m: &[u8]| {
            let got = |i: usize| i32::from_le_bytes(m[4 * i..4 * i + 4].try_into().unwrap());
            assert_eq!((got(0), got(1)), (n, n + 1), "sum");
        };
        let nothing = |_: &mut [u8]| {};

        let nstream = kernel("nstream", 1600);
        let sum = kernel("sum", 1);
        let compute = kernel("compute_f32", 5);
        println!("ms, one thread, best of {runs} (wasmtime directly, the module owns its memory):");
        println!("| code generation | nstream 8Mi f32 | compute f32 64Ki x 1000 | sum 2 x 100M |");
        println!("| --- | --- | --- | --- |");
        let mut base = [0f64; 3];
        for (k, c) in choices.iter().enumerate() {
            let t = [
                time(*c, &nstream, &ns_calls, runs, &ns_init, &ns_check),
                time(*c, &compute, &cf_calls, runs, &nothing, &cf_check),
                time(*c, &sum, &sum_calls, runs, &nothing, &sum_check),
            ];
            let mut line = format!("| {} |", c.name);
            for (j, d) in t.iter().enumerate() {
                let v = d.as_secs_f64() * 1e3;
                if k == 0 {
                    base[j] = v;
                    line += &format!(" {v:.2} |");
                } else {
                    line += &format!(" {v:.2} ({:+.0}%) |", (v / base[j] - 1.0) * 100.0);
                }
            }
            println!("{line}");
        }
    }
}
