//! `wasi-parallel`: the command-line runner (like WAMR's `iwasm`).
//!
//! Uses only the library's public Rust API, the same one the C API wraps.
//! Arguments are parsed by clap (derive): `--help` per subcommand,
//! did-you-mean on typos, `wasi-parallel completions SHELL`. Usage errors
//! keep the runner's contract: one line on stderr, exit status 2.
//!
//! Adding a `run` option: a field in [`RunArgs`] (its doc comment is the
//! help text), then use it in [`engine_config`] or [`run`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use wasi_parallel::{Config, Engine, ErrorCode, Instance, InstanceConfig, Module, Val, ValType};

/// Exit code for bad command-line usage.
const EXIT_USAGE: u8 = 2;
/// Exit code when the module cannot be read, validated or instantiated.
const EXIT_LOAD: u8 = 125;
/// Exit code when the guest traps (or a host function aborts it).
const EXIT_TRAP: u8 = 134;
/// Exit code when the runner cannot write its own output (results, device
/// list, header) to stdout: a closed pipe, a full disk (`EX_IOERR`).
const EXIT_OUTPUT: u8 = 74;

/// Writes `text` to stdout and succeeds. A failure is the one-line error
/// and [`EXIT_OUTPUT`], never a panic (`println!` panics on a closed pipe).
fn write_stdout(text: &str) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(EXIT_OUTPUT, format!("cannot write to stdout: {e}")),
    }
}

/// Writes `text` to stderr, ignoring a failure (there is nowhere left to
/// report it; `eprint!` would panic).
fn write_stderr(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Run WebAssembly programs that offload parallel loops through wasi-parallel.
#[derive(Parser, Debug)]
#[command(
    name = "wasi-parallel",
    version,
    arg_required_else_help = true,
    after_help = "exit status: the guest's exit code; 0 after a successful --invoke;\n  2 usage error, 125 load/instantiation failure, 134 trap"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run a .wasm or .wat module with WASI preview 1 and wasi-parallel.
    #[command(
        override_usage = "wasi-parallel run [OPTIONS] MODULE [ARGS]...",
        after_help = "exit status: the guest's exit code; 0 after a successful --invoke;\n  2 usage error, 125 load/instantiation failure, 134 trap"
    )]
    Run(Box<RunArgs>),
    /// List the devices found (index, kind, name).
    Devices,
    /// Print a C header with a kernel's bytes, for embedding it into a guest.
    Embed(EmbedArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Which device `get_device` returns.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum DeviceArg {
    /// No forced device: the device policy decides.
    Auto,
    Sequential,
    Cpu,
    Gpu,
}

#[derive(Copy, Clone, Debug, clap::ValueEnum)]
enum PolicyArg {
    /// The host places each call on the device that measured fastest for
    /// that kernel and size (CPU and GPU hints).
    Adaptive,
    /// Honour the guest's hint.
    Hint,
    /// For testing: each call of a kernel on the next device in turn (CPU,
    /// then each GPU); results must not change.
    Rotate,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Call export NAME with ARGS (parsed by its param types) and print each
    /// result on its own line (default: _start).
    #[arg(long, value_name = "NAME")]
    invoke: Option<String>,
    /// Preopen host directory HOST as GUEST (default: the same path).
    #[arg(long = "dir", value_name = "HOST[::GUEST]", value_parser = parse_dir)]
    dirs: Vec<(PathBuf, String)>,
    /// Set a guest environment variable (repeatable).
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Force the device get_device returns (auto: the device policy decides).
    #[arg(
        long,
        value_enum,
        value_name = "KIND",
        default_value = "auto",
        hide_possible_values = false
    )]
    device: DeviceArg,
    /// How calls are placed when no device is forced: adaptive (by
    /// measured cost, per kernel and size) or hint (the guest's hint).
    #[arg(
        long,
        value_enum,
        value_name = "POLICY",
        default_value = "adaptive",
        hide_possible_values = false
    )]
    device_policy: PolicyArg,
    /// CPU device worker threads, 1..=1024 (default: available cores).
    #[arg(long, value_name = "N", value_parser = parse_threads)]
    threads: Option<u32>,
    /// Fuel budget of the guest's own code.
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Fuel budget of each kernel iteration (in the kernel engine's own
    /// unit: ~1 per wasm operator on the JIT).
    #[arg(long, value_name = "N")]
    kernel_fuel: Option<u64>,
    /// How SEQUENTIAL and CPU run kernels (auto: the JIT where this build
    /// has it).
    #[arg(long, value_name = "E", value_parser = parse_kernel_engine)]
    kernel_engine: Option<wasi_parallel::parallel::KernelEngine>,
    /// How JIT-compiled kernels stay in bounds: guard-pages (the default
    /// here: no checks in the code, the CLI's signal handlers catch an
    /// out-of-bounds access), explicit (a check per access), or auto (the
    /// environment variable WASI_PARALLEL_BOUNDS_CHECKS, else explicit).
    #[arg(long, value_name = "B", value_parser = parse_bounds_checks)]
    bounds_checks: Option<wasi_parallel::parallel::BoundsChecks>,
    /// Wall-clock limit of the guest call in seconds (decimals allowed):
    /// past it the guest traps (exit status 134); a guest blocked in a WASI
    /// call (sleep, a read) is stopped when that call returns.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds, allow_negative_numbers = true)]
    timeout: Option<Duration>,
    /// Wall-clock limit of each parallel_exec in seconds (decimals
    /// allowed): past it the guest gets kernel_trap and goes on.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds, allow_negative_numbers = true)]
    kernel_timeout: Option<Duration>,
    /// Guest linear memory limit in 64 KiB pages.
    #[arg(long, value_name = "N")]
    max_memory_pages: Option<u32>,
    /// Total bytes of buffers one instance may create (default 1 GiB).
    #[arg(long, value_name = "N")]
    max_buffer_bytes: Option<u64>,
    /// Buffers one instance may create (default 4096).
    #[arg(long, value_name = "N")]
    max_buffers: Option<usize>,
    /// Largest kernel module in bytes (default 16 MiB).
    #[arg(long, value_name = "N")]
    max_kernel_size: Option<usize>,
    /// Compiled kernels kept in the cache (default 64).
    #[arg(long = "kernel-cache", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    kernel_cache: Option<u64>,
    /// Kernels the GPU cannot run fail with `unsupported` instead of running
    /// on the CPU device.
    #[arg(long)]
    no_gpu_fallback: bool,
    /// Keep the Vulkan pipeline cache in DIR across runs (default:
    /// $XDG_CACHE_HOME/wasi-parallel, else ~/.cache/wasi-parallel).
    #[arg(long, value_name = "DIR", conflicts_with = "no_pipeline_cache")]
    pipeline_cache: Option<PathBuf>,
    /// Keep no pipeline cache across runs (nothing is read or written).
    #[arg(long)]
    no_pipeline_cache: bool,
    /// Keep the adaptive policy's measurements across runs (the placement
    /// history), in DIR or, without `=DIR`, in the pipeline cache's default
    /// directory: a later run of the same kernels starts from them (no
    /// exploring; a GPU that lost is not built, one that won is built at
    /// once). Off by default: each run starts from nothing.
    #[arg(long, value_name = "DIR", num_args = 0..=1, require_equals = true,
          default_missing_value = "", value_parser = clap::value_parser!(std::ffi::OsString))]
    placement_history: Option<std::ffi::OsString>,
    /// The adaptive policy's build budget: a GPU builds a kernel only once
    /// the kernel's calls took as long as its build is expected to take (its
    /// measured builds, scaled by the kernel's code size; this many seconds
    /// for a small kernel before the first,
    /// default 0.05). `off`: build after a kernel's first call.
    #[arg(long, value_name = "SECONDS|off", value_parser = parse_build_budget)]
    gpu_build_budget: Option<BuildBudgetArg>,
    /// Print per-call device, times and fallbacks on stderr.
    #[arg(long)]
    stats: bool,
    /// Write a Chrome/Perfetto trace (JSON trace events) of the guest's
    /// wasi-parallel calls to FILE (open it in ui.perfetto.dev or chrome://tracing).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// The module (.wasm or .wat), then the guest's arguments: everything
    /// after MODULE goes to the guest, options included.
    #[arg(
        value_name = "MODULE",
        required = true,
        num_args = 1..,
        trailing_var_arg = true
    )]
    module_and_args: Vec<String>,
}

#[derive(clap::Args, Debug)]
struct EmbedArgs {
    /// The kernel (binary wasm).
    #[arg(value_name = "KERNEL.wasm")]
    kernel: PathBuf,
    /// The C symbol (default: from the file name).
    #[arg(long, value_name = "SYMBOL")]
    name: Option<String>,
}

fn parse_dir(v: &str) -> Result<(PathBuf, String), String> {
    let (host, guest) = match v.split_once("::") {
        Some((h, g)) => (h.to_string(), g.to_string()),
        None => (v.to_string(), v.to_string()),
    };
    // An empty guest name would match every path the guest opens, an
    // empty host path names nothing.
    if host.is_empty() || guest.is_empty() {
        return Err(format!("`{v}` is not HOST[::GUEST] (neither may be empty)"));
    }
    Ok((PathBuf::from(host), guest))
}

fn parse_env(v: &str) -> Result<(String, String), String> {
    let (k, val) = v
        .split_once('=')
        .ok_or_else(|| format!("`{v}` is not KEY=VALUE"))?;
    Ok((k.to_string(), val.to_string()))
}

fn fail(code: u8, msg: impl std::fmt::Display) -> ExitCode {
    // One line, no panic text: embedders and scripts parse this.
    let msg = msg.to_string().replace('\n', " ");
    write_stderr(&format!("wasi-parallel: error: {msg}\n"));
    ExitCode::from(code)
}

/// A clap error as the runner's one usage line: the message, clap's tips
/// (did-you-mean) and where to get help, joined with `; `.
fn usage_error(e: &clap::Error) -> ExitCode {
    let text = e.render().to_string();
    let mut line = String::new();
    for part in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Usage:"))
    {
        let part = part.strip_prefix("error: ").unwrap_or(part);
        if !line.is_empty() {
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        line.push_str(part);
    }
    fail(EXIT_USAGE, line)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        // --help, --version, and help shown for missing arguments: clap
        // prints them (stdout, or stderr with exit 2 for a bare command).
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return ExitCode::from(EXIT_USAGE);
        }
        Err(e) => return usage_error(&e),
    };
    match cli.command {
        Cmd::Run(a) => run(*a),
        Cmd::Devices => devices(),
        Cmd::Embed(a) => embed(a),
        Cmd::Completions { shell } => {
            // Into memory first: clap_complete panics when its writer fails.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "wasi-parallel", &mut script);
            write_stdout(&String::from_utf8_lossy(&script))
        }
    }
}

/// `auto|jit|interpreter`; `jit` in a build without it is a usage error.
fn parse_kernel_engine(v: &str) -> Result<wasi_parallel::parallel::KernelEngine, String> {
    use wasi_parallel::parallel::KernelEngine;
    let e = match v {
        "auto" => KernelEngine::Auto,
        "jit" => KernelEngine::Jit,
        "interpreter" => KernelEngine::Interpreter,
        _ => return Err(format!("`{v}` is not one of auto, jit, interpreter")),
    };
    e.resolve().map_err(|e| e.message)?;
    Ok(e)
}

/// `auto|explicit|guard-pages`.
fn parse_bounds_checks(v: &str) -> Result<wasi_parallel::parallel::BoundsChecks, String> {
    use wasi_parallel::parallel::BoundsChecks;
    Ok(match v {
        "auto" => BoundsChecks::Auto,
        "explicit" => BoundsChecks::Explicit,
        "guard-pages" => BoundsChecks::GuardPages,
        _ => return Err(format!("`{v}` is not one of auto, explicit, guard-pages")),
    })
}

/// A CPU thread count within the runtime's bound.
fn parse_threads(v: &str) -> Result<u32, String> {
    let n: u32 = v
        .parse()
        .map_err(|_| format!("`{v}` is not a valid number"))?;
    let max = wasi_parallel::parallel::MAX_THREADS;
    if n == 0 || n as usize > max {
        return Err(format!("must be between 1 and {max}, not {n}"));
    }
    Ok(n)
}

/// A positive number of seconds, decimals allowed (`1`, `0.25`, `1e-3`).
fn parse_seconds(v: &str) -> Result<Duration, String> {
    let secs: f64 = v
        .parse()
        .map_err(|_| format!("`{v}` is not a number of seconds"))?;
    if secs.is_nan() || secs <= 0.0 {
        return Err(format!("`{v}` is not a positive number of seconds"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("`{v}` seconds is too large"))
}

/// `--gpu-build-budget`: a prior in seconds (0 allowed), or `off`.
#[derive(Clone, Copy, Debug)]
struct BuildBudgetArg(Option<Duration>);

fn parse_build_budget(v: &str) -> Result<BuildBudgetArg, String> {
    if v == "off" {
        return Ok(BuildBudgetArg(None));
    }
    let secs: f64 = v
        .parse()
        .map_err(|_| format!("`{v}` is neither a number of seconds nor `off`"))?;
    if secs.is_nan() || secs < 0.0 {
        return Err(format!("`{v}` is not a number of seconds >= 0"));
    }
    Duration::try_from_secs_f64(secs)
        .map(|d| BuildBudgetArg(Some(d)))
        .map_err(|_| format!("`{v}` seconds is too large"))
}

fn engine_config(o: &RunArgs) -> Config {
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
    c.parallel.device_policy = match o.device {
        DeviceArg::Sequential => DevicePolicy::Force(DeviceKind::Sequential),
        DeviceArg::Cpu => DevicePolicy::Force(DeviceKind::Cpu),
        DeviceArg::Gpu => DevicePolicy::Force(DeviceKind::DiscreteGpu),
        DeviceArg::Auto => match o.device_policy {
            PolicyArg::Adaptive => DevicePolicy::Adaptive,
            PolicyArg::Hint => DevicePolicy::Hint,
            PolicyArg::Rotate => DevicePolicy::Rotate,
        },
    };
    if let Some(n) = o.threads {
        c.parallel.threads = n as usize;
    }
    c.parallel.kernel_fuel = o.kernel_fuel;
    if let Some(e) = o.kernel_engine {
        c.parallel.kernel_engine = e;
    }
    // The CLI owns its process, so it may take the signals that guard-page
    // bounds checks need (a library leaves that choice to its host); not
    // on 32-bit hosts, which have no address space for the guard. The
    // environment variable, when set, wins over this default (not over
    // the flag).
    use wasi_parallel::parallel::BoundsChecks;
    let env_set = std::env::var_os(wasi_parallel::parallel::kernel::BOUNDS_CHECKS_ENV)
        .is_some_and(|v| !v.is_empty());
    c.parallel.bounds_checks = o.bounds_checks.unwrap_or(if env_set {
        BoundsChecks::Auto
    } else if usize::BITS >= 64 {
        BoundsChecks::GuardPages
    } else {
        BoundsChecks::Explicit
    });
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
        c.parallel.kernel_cache_entries = n as usize;
    }
    c.parallel.gpu_fallback = !o.no_gpu_fallback;
    if let Some(BuildBudgetArg(prior)) = o.gpu_build_budget {
        c.parallel.gpu_build_budget = prior;
    }
    c.parallel.pipeline_cache_dir = if o.no_pipeline_cache {
        None
    } else {
        o.pipeline_cache
            .clone()
            .or_else(wasi_parallel::parallel::default_pipeline_cache_dir)
    };
    c.parallel.placement_history_dir = match &o.placement_history {
        Some(d) if d.is_empty() => wasi_parallel::parallel::default_pipeline_cache_dir(),
        other => other.clone().map(PathBuf::from),
    };
    c
}

fn run(o: RunArgs) -> ExitCode {
    let module_path = PathBuf::from(&o.module_and_args[0]);
    let guest_args = &o.module_and_args[1..];
    let engine = match Engine::new(engine_config(&o)) {
        Ok(e) => e,
        Err(e) => return fail(EXIT_LOAD, e),
    };
    let module = match Module::from_file(&engine, &module_path) {
        Ok(m) => m,
        Err(e) => return fail(EXIT_LOAD, format!("{}: {e}", module_path.display())),
    };
    let mut cfg = InstanceConfig::default();
    let prog = module_path.display().to_string();
    cfg.wasi.args = std::iter::once(prog)
        .chain(guest_args.iter().cloned())
        .collect();
    cfg.wasi.env = o.env.clone();
    cfg.wasi.preopens = o.dirs.clone();
    cfg.trace = o.trace.clone();
    let mut inst = match Instance::new(&module, &cfg) {
        Ok(i) => i,
        Err(e) => return fail(EXIT_LOAD, format!("{}: {e}", module_path.display())),
    };
    let status = match &o.invoke {
        None => match inst.run_start() {
            Ok(code) => ExitCode::from(code as u8),
            Err(e) => fail(exit_for(&e), e),
        },
        Some(name) => invoke(&mut inst, name, guest_args),
    };
    if o.stats {
        let p = inst.parallel();
        let stats = p.stats();
        let devices = p.runtime().devices();
        let mut text = stats.summary();
        if let Some(e) = p.last_error() {
            text += &format!("wasi-parallel: last error: {e}\n");
        }
        if !stats.recent_calls.is_empty() {
            text += &format!(
                "wasi-parallel: calls (the last {}), device policy {}:\n",
                stats.recent_calls.len(),
                p.runtime().config().device_policy.name()
            );
            text += &stats.call_lines(&devices);
            text += "wasi-parallel: per kernel:\n";
            text += &stats.kernel_lines(&devices, p.runtime().placer());
        }
        write_stderr(&text);
    }
    if let Err(e) = inst.finish_trace() {
        return fail(EXIT_LOAD, e);
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
            let text: String = results.iter().map(|r| format_val(r) + "\n").collect();
            write_stdout(&text)
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
    let text: String = engine
        .parallel()
        .devices()
        .iter()
        .map(|d| format!("{}\t{}\t{}\n", d.index, d.kind.name(), d.name))
        .collect();
    write_stdout(&text)
}

fn embed(a: EmbedArgs) -> ExitCode {
    let path = a.kernel;
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
    let symbol = a
        .name
        .unwrap_or_else(|| wasi_parallel::embed::default_symbol(&path.to_string_lossy()));
    write_stdout(&wasi_parallel::embed::kernel_to_c_header(&bytes, &symbol))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
