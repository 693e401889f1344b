//! A timeline of one instance's wasi-parallel calls, written as a
//! Chrome/Perfetto trace (the JSON trace-event format: open the file in
//! <https://ui.perfetto.dev> or `chrome://tracing`).
//!
//! Every import call is a complete event (`"ph": "X"`) on the guest's
//! thread: `get_device`, `create_buffer`, `write_buffer` / `read_buffer`
//! (the buffer transfers, with their byte counts) and `parallel_exec`
//! (device, engine, iterations, block size, cache hit, compile / setup / run
//! times, workers, fallback reason, the `par_errno`). A `parallel_exec`
//! that reached a device has child spans: `compile kernel` (on a cache
//! miss) and `run on DEVICE`. Times are microseconds since the instance was
//! created.
//!
//! Enabled per instance ([`crate::runtime::InstanceConfig::trace`], the
//! CLI's `--trace FILE`, the C API's `wp_instance_config_set_trace_file`).
//! The file is created when the instance is, and written when the instance
//! finishes the trace or is dropped. At most [`MAX_EVENTS`] events are kept;
//! later ones are counted in `otherData.dropped_events`.

use super::device::{DeviceInfo, DeviceKind};
use super::errno::Errno;
use super::stats::CallRecord;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Most events one trace keeps (about 300 bytes each in the file).
pub const MAX_EVENTS: usize = 1_000_000;

/// A value of an event's `args`.
#[derive(Clone, Debug, PartialEq)]
pub enum TraceArg {
    /// A number.
    Int(i64),
    /// A number with a fraction (e.g. milliseconds).
    Float(f64),
    /// A string (escaped when written).
    Str(String),
    /// true / false.
    Bool(bool),
}

impl From<i64> for TraceArg {
    fn from(v: i64) -> Self {
        TraceArg::Int(v)
    }
}
impl From<u64> for TraceArg {
    fn from(v: u64) -> Self {
        TraceArg::Int(v.min(i64::MAX as u64) as i64)
    }
}
impl From<u32> for TraceArg {
    fn from(v: u32) -> Self {
        TraceArg::Int(v as i64)
    }
}
impl From<usize> for TraceArg {
    fn from(v: usize) -> Self {
        TraceArg::Int(v as i64)
    }
}
impl From<i32> for TraceArg {
    fn from(v: i32) -> Self {
        TraceArg::Int(v as i64)
    }
}
impl From<f64> for TraceArg {
    fn from(v: f64) -> Self {
        TraceArg::Float(v)
    }
}
impl From<bool> for TraceArg {
    fn from(v: bool) -> Self {
        TraceArg::Bool(v)
    }
}
impl From<&str> for TraceArg {
    fn from(v: &str) -> Self {
        TraceArg::Str(v.to_string())
    }
}
impl From<String> for TraceArg {
    fn from(v: String) -> Self {
        TraceArg::Str(v)
    }
}

/// One complete event.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceEvent {
    /// What it is (`parallel_exec`, `write_buffer`, `run on CPU`, ...).
    pub name: String,
    /// Its category (`wasi-parallel`, `kernel`, `transfer`).
    pub cat: &'static str,
    /// Start, since the trace began.
    pub start: Duration,
    /// Duration.
    pub dur: Duration,
    /// Its details.
    pub args: Vec<(&'static str, TraceArg)>,
}

/// The recorder of one instance.
#[derive(Debug)]
pub struct Trace {
    path: PathBuf,
    epoch: Instant,
    events: Vec<TraceEvent>,
    dropped: u64,
    dirty: bool,
}

impl Trace {
    /// A trace to be written to `path`; the file is created (empty) now,
    /// so a path that cannot be written fails here and not at the end.
    pub fn create(path: &Path) -> std::io::Result<Trace> {
        std::fs::File::create(path)?;
        Ok(Trace {
            path: path.to_path_buf(),
            epoch: Instant::now(),
            events: Vec::new(),
            dropped: 0,
            dirty: true,
        })
    }

    /// Where it is written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The events so far.
    pub fn events(&self) -> &[TraceEvent] {
        &self.events
    }

    /// Records a span from `start` lasting `dur`.
    pub fn span(
        &mut self,
        name: impl Into<String>,
        cat: &'static str,
        start: Instant,
        dur: Duration,
        args: Vec<(&'static str, TraceArg)>,
    ) {
        self.dirty = true;
        if self.events.len() >= MAX_EVENTS {
            self.dropped += 1;
            return;
        }
        self.events.push(TraceEvent {
            name: name.into(),
            cat,
            start: start.saturating_duration_since(self.epoch),
            dur,
            args,
        });
    }

    /// The trace as JSON (the trace-event format's object form).
    pub fn to_json(&self) -> String {
        let mut s = String::with_capacity(256 + self.events.len() * 300);
        s.push_str("{\"traceEvents\":[\n");
        s.push_str(
            "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"tid\":1,\"args\":{\"name\":\"wasi-parallel\"}},\n",
        );
        s.push_str(
            "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":1,\"args\":{\"name\":\"guest\"}}",
        );
        for e in &self.events {
            s.push_str(",\n{\"name\":");
            json_str(&mut s, &e.name);
            let _ = write!(
                s,
                ",\"cat\":\"{}\",\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":{:.3},\"dur\":{:.3},\"args\":{{",
                e.cat,
                e.start.as_secs_f64() * 1e6,
                e.dur.as_secs_f64() * 1e6
            );
            for (i, (k, v)) in e.args.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                json_str(&mut s, k);
                s.push(':');
                match v {
                    TraceArg::Int(x) => {
                        let _ = write!(s, "{x}");
                    }
                    TraceArg::Float(x) if x.is_finite() => {
                        let _ = write!(s, "{x}");
                    }
                    TraceArg::Float(_) => s.push_str("null"),
                    TraceArg::Bool(b) => {
                        let _ = write!(s, "{b}");
                    }
                    TraceArg::Str(t) => json_str(&mut s, t),
                }
            }
            s.push_str("}}");
        }
        let _ = write!(
            s,
            "\n],\"displayTimeUnit\":\"ms\",\"otherData\":{{\"generator\":\"wasi-parallel {}\",\"dropped_events\":{}}}}}\n",
            env!("CARGO_PKG_VERSION"),
            self.dropped
        );
        s
    }

    /// Writes the file now (again after later events).
    pub fn write(&mut self) -> std::io::Result<()> {
        std::fs::write(&self.path, self.to_json())?;
        self.dirty = false;
        Ok(())
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        if self.dirty {
            // Nobody to report to: a host that wants the error calls
            // `write` (Instance::finish_trace) before dropping.
            let _ = self.write();
        }
    }
}

/// Appends `text` as a JSON string literal.
fn json_str(s: &mut String, text: &str) {
    s.push('"');
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
}

/// Milliseconds of `d`, for the `*_ms` args.
pub(crate) fn ms(d: Duration) -> TraceArg {
    TraceArg::Float((d.as_secs_f64() * 1e6).round() / 1e3)
}

/// The name of what ran a kernel on a device of `kind` with the kernel
/// `engine` the call record names (`jit (cranelift)`, `interpreter`).
pub fn engine_name(
    kind: DeviceKind,
    engine: Option<crate::parallel::KernelEngine>,
) -> &'static str {
    match engine {
        _ if kind.is_gpu() => "vulkan (wasm -> SPIR-V)",
        Some(e) => e.name(),
        None => "interpreter",
    }
}

/// The `parallel_exec` span and its children.
#[allow(clippy::too_many_arguments)]
pub(crate) fn exec_events(
    trace: &mut Trace,
    start: Instant,
    total: Duration,
    code: i32,
    num_iterations: u32,
    block_size: u32,
    record: Option<&CallRecord>,
    devices: &[DeviceInfo],
    error: Option<&str>,
) {
    let errno = Errno::from_code(code).map_or("unknown", Errno::name);
    let mut args: Vec<(&'static str, TraceArg)> = vec![
        ("iterations", num_iterations.into()),
        ("block_size", block_size.into()),
        ("errno", errno.into()),
    ];
    let Some(rec) = record else {
        if let Some(e) = error.filter(|_| code != 0) {
            args.push(("error", e.into()));
        }
        trace.span("parallel_exec", "wasi-parallel", start, total, args);
        return;
    };
    let device = devices
        .get(rec.device_index)
        .map_or_else(|| rec.device.name().to_string(), |d| d.name.clone());
    args.extend([
        ("device", device.clone().into()),
        ("device_index", rec.device_index.into()),
        ("device_kind", rec.device.name().into()),
        ("engine", engine_name(rec.device, rec.engine).into()),
        ("cache_hit", rec.cache_hit.into()),
        ("compile_ms", ms(rec.compile_time)),
        ("setup_ms", ms(rec.setup_time)),
        ("run_ms", ms(rec.run_time)),
        ("workers", rec.workers.into()),
        ("reused_workers", rec.reused_workers.into()),
        ("placement", rec.reason.name().into()),
        ("copy_ms", ms(rec.copy_time)),
        ("copied_bytes", rec.copied_bytes.into()),
    ]);
    if !rec.estimates.is_empty() {
        let est: Vec<String> = rec
            .estimates
            .iter()
            .map(|(d, e)| {
                let name = devices.get(*d).map_or("?", |i| i.name.as_str());
                match e {
                    Some(ms) => format!("{name}: {ms:.3} ms"),
                    None => format!("{name}: -"),
                }
            })
            .collect();
        args.push(("estimates", est.join(", ").into()));
    }
    if let Some(f) = &rec.fallback {
        args.push(("fallback", f.as_str().into()));
    }
    if let Some(e) = error.filter(|_| code != 0) {
        args.push(("error", e.into()));
    }
    trace.span("parallel_exec", "wasi-parallel", start, total, args);
    if !rec.cache_hit && !rec.compile_time.is_zero() {
        trace.span(
            "compile kernel",
            "kernel",
            start,
            rec.compile_time.min(total),
            vec![],
        );
    }
    if !rec.run_time.is_zero() {
        // The run ends the call (only bookkeeping follows it).
        let run = rec.run_time.min(total);
        let run_start = start + (total - run);
        let mut args: Vec<(&'static str, TraceArg)> = vec![
            ("iterations", num_iterations.into()),
            ("engine", engine_name(rec.device, rec.engine).into()),
        ];
        if let Some(f) = &rec.fallback {
            args.push(("fallback", f.as_str().into()));
        }
        trace.span(format!("run on {device}"), "kernel", run_start, run, args);
        if !rec.setup_time.is_zero() {
            trace.span(
                "worker setup",
                "kernel",
                run_start,
                rec.setup_time.min(run),
                vec![],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_and_the_document_is_well_formed() {
        let dir = std::env::temp_dir().join(format!("wp-trace-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.json");
        let mut t = Trace::create(&path).unwrap();
        let now = Instant::now();
        t.span(
            "run on \"GPU\"\n",
            "kernel",
            now,
            Duration::from_micros(1500),
            vec![
                ("why", "a\\b\u{1}".into()),
                ("n", 3u32.into()),
                ("x", f64::NAN.into()),
                ("ok", true.into()),
            ],
        );
        let json = t.to_json();
        assert!(json.contains(r#""name":"run on \"GPU\"\n""#), "{json}");
        assert!(json.contains(r#""why":"a\\b\u0001""#), "{json}");
        assert!(json.contains(r#""x":null"#), "{json}");
        assert!(json.contains(r#""dur":1500.000"#), "{json}");
        t.write().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), json);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
