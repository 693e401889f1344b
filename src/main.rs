//! `wasi-parallel`: the command-line runner (like WAMR's `iwasm`).
//!
//! Uses only the library's public Rust API, the same one the C API wraps.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use wasi_parallel::{Config, Engine, ErrorCode, Instance, InstanceConfig, Module, Val, ValType};

/// Exit code for bad command-line usage.
const EXIT_USAGE: u8 = 2;
/// Exit code when the module cannot be read, validated or instantiated.
const EXIT_LOAD: u8 = 125;
/// Exit code when the guest traps (or a host function aborts it).
const EXIT_TRAP: u8 = 134;

const USAGE: &str = "\
usage: wasi-parallel run [OPTIONS] MODULE [ARGS...]
       wasi-parallel devices
       wasi-parallel embed KERNEL.wasm [--name SYMBOL]
       wasi-parallel --version | --help

run options:
  --invoke NAME        call export NAME with ARGS (parsed by its param types),
                       print each result on its own line (default: _start)
  --dir HOST[::GUEST]  preopen host directory HOST as GUEST (default: same path)
  --env KEY=VALUE      set a guest environment variable (repeatable)
  --device KIND        auto|sequential|cpu|gpu: force the device get_device returns
                       (auto honours the guest's hint)
  --threads N          CPU device worker threads, 1..=1024 (default: available cores)
  --fuel N             fuel budget of the guest's own code
  --kernel-fuel N      fuel budget of each kernel iteration
  --timeout SECONDS    wall-clock limit of the guest call (decimals allowed):
                       past it the guest traps (exit status 134)
  --kernel-timeout SECONDS
                       wall-clock limit of each parallel_exec (decimals
                       allowed): past it the guest gets kernel_trap and goes on
  --max-memory-pages N guest linear memory limit in 64 KiB pages
  --max-buffer-bytes N total bytes of buffers one instance may create (default 1 GiB)
  --max-buffers N      buffers one instance may create (default 4096)
  --max-kernel-size N  largest kernel module in bytes (default 16 MiB)
  --kernel-cache N     compiled kernels kept in the cache (default 64)
  --no-gpu-fallback    kernels the GPU cannot run fail with `unsupported`
                       instead of running on the CPU device
  --stats              print per-call device, times and fallbacks on stderr

exit status: the guest's exit code; 0 after a successful --invoke;
  2 usage error, 125 load/instantiation failure, 134 trap";

struct RunOptions {
    invoke: Option<String>,
    dirs: Vec<(PathBuf, String)>,
    env: Vec<(String, String)>,
    device: String,
    threads: Option<usize>,
    fuel: Option<u64>,
    kernel_fuel: Option<u64>,
    timeout: Option<Duration>,
    kernel_timeout: Option<Duration>,
    max_memory_pages: Option<u32>,
    max_buffer_bytes: Option<u64>,
    max_buffers: Option<usize>,
    max_kernel_size: Option<usize>,
    kernel_cache: Option<usize>,
    gpu_fallback: bool,
    stats: bool,
    module: PathBuf,
    args: Vec<String>,
}

fn fail(code: u8, msg: impl std::fmt::Display) -> ExitCode {
    // One line, no panic text: embedders and scripts parse this.
    let msg = msg.to_string().replace('\n', " ");
    eprintln!("wasi-parallel: error: {msg}");
    ExitCode::from(code)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("run") => match parse_run(&args[1..]) {
            Ok(opts) => run(opts),
            Err(msg) => fail(EXIT_USAGE, format!("{msg}\n{USAGE}")),
        },
        Some("devices") => devices(),
        Some("embed") => embed(&args[1..]),
        Some("--version") | Some("-V") => {
            println!("wasi-parallel {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some("--help") | Some("-h") | Some("help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => fail(EXIT_USAGE, format!("unknown command `{other}`; try --help")),
        None => {
            eprintln!("{USAGE}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn parse_num<T: std::str::FromStr>(opt: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{opt}: `{v}` is not a valid number"))
}

/// A positive number of seconds, decimals allowed (`1`, `0.25`, `1e-3`).
fn parse_seconds(opt: &str, v: &str) -> Result<Duration, String> {
    let secs: f64 = v
        .parse()
        .map_err(|_| format!("{opt}: `{v}` is not a number of seconds"))?;
    if secs.is_nan() || secs <= 0.0 {
        return Err(format!("{opt}: `{v}` is not a positive number of seconds"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{opt}: `{v}` seconds is too large"))
}

fn parse_run(args: &[String]) -> Result<RunOptions, String> {
    let mut o = RunOptions {
        invoke: None,
        dirs: vec![],
        env: vec![],
        device: "auto".into(),
        threads: None,
        fuel: None,
        kernel_fuel: None,
        timeout: None,
        kernel_timeout: None,
        max_memory_pages: None,
        max_buffer_bytes: None,
        max_buffers: None,
        max_kernel_size: None,
        kernel_cache: None,
        gpu_fallback: true,
        stats: false,
        module: PathBuf::new(),
        args: vec![],
    };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if !a.starts_with("--") {
            break;
        }
        // Accept both `--opt value` and `--opt=value`.
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        let mut value = || -> Result<String, String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            i += 1;
            args.get(i)
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "--invoke" => o.invoke = Some(value()?),
            "--dir" => {
                let v = value()?;
                let (host, guest) = match v.split_once("::") {
                    Some((h, g)) => (h.to_string(), g.to_string()),
                    None => (v.clone(), v.clone()),
                };
                o.dirs.push((PathBuf::from(host), guest));
            }
            "--env" => {
                let v = value()?;
                let (k, val) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--env: `{v}` is not KEY=VALUE"))?;
                o.env.push((k.to_string(), val.to_string()));
            }
            "--device" => {
                let v = value()?;
                if !["auto", "sequential", "cpu", "gpu"].contains(&v.as_str()) {
                    return Err(format!(
                        "--device: `{v}` is not one of auto, sequential, cpu, gpu"
                    ));
                }
                o.device = v;
            }
            "--threads" => {
                let n: usize = parse_num("--threads", &value()?)?;
                let max = wasi_parallel::parallel::MAX_THREADS;
                if n == 0 || n > max {
                    return Err(format!("--threads must be between 1 and {max}, not {n}"));
                }
                o.threads = Some(n);
            }
            "--fuel" => o.fuel = Some(parse_num("--fuel", &value()?)?),
            "--kernel-fuel" => o.kernel_fuel = Some(parse_num("--kernel-fuel", &value()?)?),
            "--timeout" => o.timeout = Some(parse_seconds("--timeout", &value()?)?),
            "--kernel-timeout" => {
                o.kernel_timeout = Some(parse_seconds("--kernel-timeout", &value()?)?)
            }
            "--max-memory-pages" => {
                o.max_memory_pages = Some(parse_num("--max-memory-pages", &value()?)?)
            }
            "--max-buffer-bytes" => {
                o.max_buffer_bytes = Some(parse_num("--max-buffer-bytes", &value()?)?)
            }
            "--max-buffers" => o.max_buffers = Some(parse_num("--max-buffers", &value()?)?),
            "--max-kernel-size" => {
                o.max_kernel_size = Some(parse_num("--max-kernel-size", &value()?)?)
            }
            "--kernel-cache" => {
                let n: usize = parse_num("--kernel-cache", &value()?)?;
                if n == 0 {
                    return Err("--kernel-cache must be at least 1".into());
                }
                o.kernel_cache = Some(n);
            }
            "--no-gpu-fallback" => o.gpu_fallback = false,
            "--stats" => o.stats = true,
            "--" => {
                i += 1;
                break;
            }
            _ => return Err(format!("unknown option `{a}`")),
        }
        i += 1;
    }
    let module = args.get(i).ok_or("missing MODULE")?;
    o.module = PathBuf::from(module);
    o.args = args[i + 1..].to_vec();
    Ok(o)
}

fn engine_config(o: &RunOptions) -> Config {
    let mut c = Config {
        fuel: o.fuel,
        timeout: o.timeout,
        // Nothing can interrupt a CLI run but its timeouts (which meter
        // what they need): no metering cost otherwise.
        interruptible: false,
        max_memory_pages: o.max_memory_pages,
        ..Config::default()
    };
    c.parallel.kernel_timeout = o.kernel_timeout;
    c.parallel.interruptible = false;
    use wasi_parallel::parallel::{DeviceKind, DevicePolicy};
    c.parallel.device_policy = match o.device.as_str() {
        "sequential" => DevicePolicy::Force(DeviceKind::Sequential),
        "cpu" => DevicePolicy::Force(DeviceKind::Cpu),
        "gpu" => DevicePolicy::Force(DeviceKind::DiscreteGpu),
        _ => DevicePolicy::Auto,
    };
    if let Some(n) = o.threads {
        c.parallel.threads = n;
    }
    c.parallel.kernel_fuel = o.kernel_fuel;
    if let Some(n) = o.max_buffer_bytes {
        c.parallel.max_buffer_bytes = n;
    }
    if let Some(n) = o.max_buffers {
        c.parallel.max_buffers = n;
    }
    if let Some(n) = o.max_kernel_size {
        c.parallel.max_kernel_size = n;
    }
    if let Some(n) = o.kernel_cache {
        c.parallel.kernel_cache_entries = n;
    }
    c.parallel.gpu_fallback = o.gpu_fallback;
    c
}

fn run(o: RunOptions) -> ExitCode {
    let engine = match Engine::new(engine_config(&o)) {
        Ok(e) => e,
        Err(e) => return fail(EXIT_LOAD, e),
    };
    let module = match Module::from_file(&engine, &o.module) {
        Ok(m) => m,
        Err(e) => return fail(EXIT_LOAD, format!("{}: {e}", o.module.display())),
    };
    let mut cfg = InstanceConfig::default();
    let prog = o.module.display().to_string();
    cfg.wasi.args = std::iter::once(prog)
        .chain(o.args.iter().cloned())
        .collect();
    cfg.wasi.env = o.env.clone();
    cfg.wasi.preopens = o.dirs.clone();
    let mut inst = match Instance::new(&module, &cfg) {
        Ok(i) => i,
        Err(e) => return fail(EXIT_LOAD, format!("{}: {e}", o.module.display())),
    };
    let status = match &o.invoke {
        None => match inst.run_start() {
            Ok(code) => ExitCode::from(code as u8),
            Err(e) => fail(exit_for(&e), e),
        },
        Some(name) => invoke(&mut inst, name, &o.args),
    };
    if o.stats {
        eprint!("{}", inst.parallel().stats().summary());
    }
    status
}

fn exit_for(e: &wasi_parallel::Error) -> u8 {
    match e.code() {
        ErrorCode::Trap => EXIT_TRAP,
        ErrorCode::NotFound | ErrorCode::TypeMismatch | ErrorCode::InvalidArgument => EXIT_USAGE,
        _ => EXIT_LOAD,
    }
}

fn invoke(inst: &mut Instance, name: &str, args: &[String]) -> ExitCode {
    // A reactor-style module initialises itself in `_initialize`.
    if inst.func_type("_initialize").is_some() {
        if let Err(e) = inst.call("_initialize", &[]) {
            return fail(exit_for(&e), e);
        }
    }
    let Some((params, _)) = inst.func_type(name) else {
        return fail(
            EXIT_USAGE,
            format!("the module exports no function `{name}`"),
        );
    };
    if params.len() != args.len() {
        return fail(
            EXIT_USAGE,
            format!(
                "`{name}` takes {} argument(s) but {} were given",
                params.len(),
                args.len()
            ),
        );
    }
    let mut vals = Vec::with_capacity(args.len());
    for (ty, a) in params.iter().zip(args) {
        match parse_val(*ty, a) {
            Some(v) => vals.push(v),
            None => {
                return fail(
                    EXIT_USAGE,
                    format!(
                        "argument `{a}` is not a valid {}",
                        wasi_parallel::runtime::types::val_type_name(*ty)
                    ),
                )
            }
        }
    }
    match inst.call(name, &vals) {
        Ok(results) => {
            for r in results {
                println!("{}", format_val(&r));
            }
            ExitCode::SUCCESS
        }
        Err(e) => match e.exit_code() {
            Some(code) => ExitCode::from(code as u8),
            None => fail(exit_for(&e), e),
        },
    }
}

fn parse_int(s: &str) -> Option<i128> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    let v = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => i128::from_str_radix(hex, 16).ok()?,
        None => digits.parse::<i128>().ok()?,
    };
    Some(if neg { -v } else { v })
}

/// Parses a CLI argument as a value of `ty`. Integers accept decimal or
/// `0x` hex, signed or unsigned range; floats accept Rust float syntax.
fn parse_val(ty: ValType, s: &str) -> Option<Val> {
    match ty {
        ValType::I32 => {
            let v = parse_int(s)?;
            (i32::MIN as i128..=u32::MAX as i128)
                .contains(&v)
                .then_some(Val::I32(v as u32 as i32))
        }
        ValType::I64 => {
            let v = parse_int(s)?;
            (i64::MIN as i128..=u64::MAX as i128)
                .contains(&v)
                .then_some(Val::I64(v as u64 as i64))
        }
        ValType::F32 => s.parse::<f32>().ok().map(|f| Val::F32(f.into())),
        ValType::F64 => s.parse::<f64>().ok().map(|f| Val::F64(f.into())),
        _ => None,
    }
}

fn format_val(v: &Val) -> String {
    match v {
        Val::I32(x) => x.to_string(),
        Val::I64(x) => x.to_string(),
        Val::F32(x) => f32::from(*x).to_string(),
        Val::F64(x) => f64::from(*x).to_string(),
        other => format!("{other:?}"),
    }
}

fn devices() -> ExitCode {
    let engine = match Engine::new(Config::default()) {
        Ok(e) => e,
        Err(e) => return fail(EXIT_LOAD, e),
    };
    for d in engine.parallel().devices() {
        println!("{}\t{}\t{}", d.index, d.kind.name(), d.name);
    }
    ExitCode::SUCCESS
}

fn embed(args: &[String]) -> ExitCode {
    let mut path = None;
    let mut name = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--help" | "-h" => {
                println!("usage: wasi-parallel embed KERNEL.wasm [--name SYMBOL] > kernel.h");
                return ExitCode::SUCCESS;
            }
            "--name" => {
                i += 1;
                match args.get(i) {
                    Some(n) => name = Some(n.clone()),
                    None => return fail(EXIT_USAGE, "--name needs a value"),
                }
            }
            p if path.is_none() && !p.starts_with("--") => path = Some(PathBuf::from(p)),
            other => return fail(EXIT_USAGE, format!("embed: unexpected argument `{other}`")),
        }
        i += 1;
    }
    let Some(path) = path else {
        return fail(EXIT_USAGE, "embed: missing KERNEL.wasm");
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => return fail(EXIT_LOAD, format!("cannot read {}: {e}", path.display())),
    };
    if !bytes.starts_with(b"\0asm") {
        return fail(
            EXIT_LOAD,
            format!("{} is not a binary wasm module", path.display()),
        );
    }
    let symbol =
        name.unwrap_or_else(|| wasi_parallel::embed::default_symbol(&path.to_string_lossy()));
    print!(
        "{}",
        wasi_parallel::embed::kernel_to_c_header(&bytes, &symbol)
    );
    ExitCode::SUCCESS
}
