//! The adaptive policy's measurements kept across runs (the placement
//! history): per kernel and size class the measured cost on each device,
//! what building the kernel cost on each GPU, which devices declined it and
//! how many calls the kernel had. StarPU keeps its performance models
//! across runs the same way: a program's second run starts from what its
//! first one measured, so it does not explore, does not build on a GPU a
//! kernel that lost there, and builds at once one that won.
//!
//! One text file, [`FILE_NAME`], in the directory
//! [`crate::parallel::ParallelConfig::placement_history_dir`]. Devices are
//! named by an identity string (the CPU device's threads and engine, a
//! Vulkan device's vendor, device and driver version), not by their index:
//! entries of devices this runtime does not have are kept as they are and
//! written back. The file is read once, when the runtime is made, and
//! written (to a temporary file, then renamed over it) when it is dropped;
//! of engines sharing a directory, the last one dropped writes the file
//! (what it read at its start plus what it measured).
//! A file that does not parse is ignored whole, with one warning on
//! stderr, and replaced at the next write: its numbers are never half
//! trusted.
//!
//! ```text
//! (fields separated by one tab each)
//! wasi-parallel placement history 1
//! device 0 cpu threads=2 engine=jit bounds=explicit
//! device 1 vulkan 10005:0 driver 1 llvmpipe (LLVM 15.0.6, 256 bits)
//! cost <kernel hash, 16 hex> <iterations class> <bytes class> <device> <average ns> <samples>
//! build <kernel hash> <device> <ns>
//! declined <kernel hash> <device> <why>
//! calls <kernel hash> <calls in the last run>
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The file's name in the history directory.
pub const FILE_NAME: &str = "placement-history.txt";
/// The first line.
const MAGIC: &str = "wasi-parallel placement history\t1";
/// Most entries of each kind written (the rest are dropped at a write: of
/// the costs, those of devices the writing runtime does not have are the
/// first dropped) and read (a file with more is refused).
pub const MAX_ENTRIES: usize = 8192;
/// Largest file read (a bigger one is ignored).
const MAX_FILE_BYTES: u64 = 4 << 20;

/// One kernel and size class on one device.
#[derive(Clone, Debug, PartialEq)]
pub struct Cost {
    /// The kernel's content hash.
    pub kernel: u64,
    /// Size class of the iteration count.
    pub iterations: u8,
    /// Size class of the buffer bytes.
    pub bytes: u8,
    /// The device's identity.
    pub device: String,
    /// Average run time, copies excluded (ns).
    pub average_ns: f64,
    /// Measurements behind it.
    pub samples: u32,
}

/// Everything the file holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// Measured costs.
    pub costs: Vec<Cost>,
    /// (kernel, device identity) -> the cheapest build the last run that
    /// built the kernel there measured (ns).
    pub builds: HashMap<(u64, String), f64>,
    /// (kernel, device identity) -> why the device cannot run the kernel.
    pub declined: HashMap<(u64, String), String>,
    /// Kernel -> calls in the last run that had any.
    pub calls: HashMap<u64, u64>,
}

/// Where the history of `dir` lives.
pub fn path_in(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

fn one_field(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

impl History {
    /// The file's text.
    pub fn encode(&self) -> String {
        // Number the devices first (every kind of entry names them).
        let mut ids: Vec<&str> = Vec::new();
        let named = self.costs.iter().map(|c| c.device.as_str());
        let named = named.chain(self.builds.keys().map(|(_, d)| d.as_str()));
        for d in named.chain(self.declined.keys().map(|(_, d)| d.as_str())) {
            if !ids.contains(&d) {
                ids.push(d);
            }
        }
        let id = |name: &str| ids.iter().position(|d| *d == name).unwrap_or(0);
        let mut out = format!("{MAGIC}\n");
        for (i, d) in ids.iter().enumerate() {
            out.push_str(&format!("device\t{i}\t{}\n", one_field(d)));
        }
        for c in self.costs.iter().take(MAX_ENTRIES) {
            out.push_str(&format!(
                "cost\t{:016x}\t{}\t{}\t{}\t{:.0}\t{}\n",
                c.kernel,
                c.iterations,
                c.bytes,
                id(&c.device),
                c.average_ns,
                c.samples
            ));
        }
        let mut builds: Vec<_> = self.builds.iter().collect();
        builds.sort_by(|a, b| a.0.cmp(b.0));
        for ((k, d), ns) in builds.into_iter().take(MAX_ENTRIES) {
            out.push_str(&format!("build\t{k:016x}\t{}\t{ns:.0}\n", id(d)));
        }
        let mut declined: Vec<_> = self.declined.iter().collect();
        declined.sort_by(|a, b| a.0.cmp(b.0));
        for ((k, d), why) in declined.into_iter().take(MAX_ENTRIES) {
            out.push_str(&format!(
                "declined\t{k:016x}\t{}\t{}\n",
                id(d),
                one_field(why)
            ));
        }
        let mut calls: Vec<_> = self.calls.iter().collect();
        calls.sort();
        for (k, n) in calls.into_iter().take(MAX_ENTRIES) {
            out.push_str(&format!("calls\t{k:016x}\t{n}\n"));
        }
        out
    }

    /// Parses the file's text; any line that does not parse fails the
    /// whole file (the error says which line and why).
    pub fn decode(text: &str) -> Result<History, String> {
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, l)) if l == MAGIC => {}
            _ => return Err("not a placement history (first line)".into()),
        }
        let mut devices: Vec<String> = Vec::new();
        let mut h = History::default();
        for (n, line) in lines {
            let bad = |why: &str| format!("line {}: {why}", n + 1);
            let f: Vec<&str> = line.split('\t').collect();
            let hash = |s: &str| {
                (s.len() == 16)
                    .then(|| u64::from_str_radix(s, 16).ok())
                    .flatten()
                    .ok_or_else(|| bad("bad kernel hash"))
            };
            let dev = |s: &str| -> Result<String, String> {
                s.parse::<usize>()
                    .ok()
                    .and_then(|i| devices.get(i).cloned())
                    .ok_or_else(|| bad("unknown device number"))
            };
            let num = |s: &str| -> Result<f64, String> {
                s.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| bad("bad number"))
            };
            match (f[0], f.len()) {
                ("device", 3) => {
                    if f[1].parse::<usize>().ok() != Some(devices.len()) || f[2].is_empty() {
                        return Err(bad("devices must be numbered 0, 1, ... in order"));
                    }
                    devices.push(f[2].to_string());
                }
                ("cost", 7) => {
                    let class = |s: &str| {
                        s.parse::<u8>()
                            .ok()
                            .filter(|c| *c <= 64)
                            .ok_or_else(|| bad("bad size class"))
                    };
                    let samples = f[6]
                        .parse::<u32>()
                        .ok()
                        .filter(|s| *s > 0)
                        .ok_or_else(|| bad("bad sample count"))?;
                    h.costs.push(Cost {
                        kernel: hash(f[1])?,
                        iterations: class(f[2])?,
                        bytes: class(f[3])?,
                        device: dev(f[4])?,
                        average_ns: num(f[5])?,
                        samples,
                    });
                }
                ("build", 4) => {
                    h.builds.insert((hash(f[1])?, dev(f[2])?), num(f[3])?);
                }
                ("declined", 4) => {
                    h.declined
                        .insert((hash(f[1])?, dev(f[2])?), f[3].to_string());
                }
                ("calls", 3) => {
                    let n = f[2].parse::<u64>().map_err(|_| bad("bad call count"))?;
                    h.calls.insert(hash(f[1])?, n);
                }
                _ => return Err(bad("unknown entry")),
            }
            if h.costs.len() > MAX_ENTRIES
                || h.builds.len() > MAX_ENTRIES
                || h.declined.len() > MAX_ENTRIES
                || h.calls.len() > MAX_ENTRIES
            {
                return Err(bad("too many entries"));
            }
        }
        Ok(h)
    }

    /// Reads the history of `dir`: empty when there is none; `Err` (with
    /// the reason, for a warning) when the file exists but cannot be used.
    pub fn load(dir: &Path) -> Result<History, String> {
        let path = path_in(dir);
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(History::default()),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        if meta.len() > MAX_FILE_BYTES {
            return Err(format!(
                "{}: larger than {MAX_FILE_BYTES} bytes",
                path.display()
            ));
        }
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| format!("{}: not UTF-8 text", path.display()))?;
        History::decode(text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Writes the history into `dir` (made if missing), replacing the file
    /// whole (through a temporary file renamed over it).
    pub fn save(&self, dir: &Path) -> Result<(), String> {
        let path = path_in(dir);
        crate::parallel::persist::replace_file(&path, self.encode().as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> History {
        let mut h = History::default();
        h.costs.push(Cost {
            kernel: 0xdead_beef,
            iterations: 16,
            bytes: 20,
            device: "cpu threads=2 engine=jit".into(),
            average_ns: 76_000_000.0,
            samples: 12,
        });
        h.costs.push(Cost {
            kernel: 0xdead_beef,
            iterations: 16,
            bytes: 20,
            device: "vulkan 10005:0 driver 1 llvmpipe (LLVM 15)".into(),
            average_ns: 12_000_000.0,
            samples: 18,
        });
        h.builds.insert(
            (
                0xdead_beef,
                "vulkan 10005:0 driver 1 llvmpipe (LLVM 15)".into(),
            ),
            41_000_000.0,
        );
        h.declined.insert(
            (7, "vulkan 10005:0 driver 1 llvmpipe (LLVM 15)".into()),
            "too big\tfor\nit".into(),
        );
        h.calls.insert(0xdead_beef, 20);
        h
    }

    #[test]
    fn a_history_reads_back_as_written() {
        let h = sample();
        let back = History::decode(&h.encode()).unwrap();
        assert_eq!(back.costs, h.costs);
        assert_eq!(back.builds, h.builds);
        assert_eq!(back.calls, h.calls);
        // Control characters in a reason become spaces (one line, one field).
        assert_eq!(
            back.declined.values().next().map(String::as_str),
            Some("too big for it")
        );
    }

    #[test]
    fn a_damaged_file_is_refused_whole_with_the_line() {
        let text = sample().encode();
        for (damage, expect) in [
            (
                text.replacen("placement history\t1", "placement history\t2", 1),
                "first line",
            ),
            (text.replacen("\t12\n", "\t0\n", 1), "sample count"),
            (
                text.replacen("cost\t00000000deadbeef", "cost\tdeadbeef", 1),
                "kernel hash",
            ),
            (text.replacen("76000000", "-5", 1), "bad number"),
            (text.replacen("76000000", "NaN", 1), "bad number"),
            (
                format!("{text}calls\t0000000000000001\n\n"),
                "unknown entry",
            ),
            (
                format!("{text}cost\t0000000000000001\t1\t1\t9\t5\t1\n"),
                "unknown device",
            ),
            (text.replacen("device\t1", "device\t5", 1), "numbered"),
        ] {
            let err = History::decode(&damage).unwrap_err();
            assert!(err.contains(expect), "{expect}: {err}");
        }
        // Truncated in the middle of a line: refused, not half read.
        assert!(History::decode(&text[..text.len() - 4]).is_err());
    }

    #[test]
    fn writers_at_the_same_time_leave_one_whole_file() {
        let dir = std::env::temp_dir().join(format!("wp-history-race-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let dir = dir.clone();
                std::thread::spawn(move || {
                    let mut h = sample();
                    h.calls.insert(0xdead_beef, i);
                    for _ in 0..20 {
                        h.save(&dir).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let back = History::load(&dir).unwrap();
        assert_eq!(back.costs, sample().costs);
        assert!(back.calls[&0xdead_beef] < 8);
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn save_and_load_go_through_the_directory() {
        let dir = std::env::temp_dir().join(format!("wp-history-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(History::load(&dir).unwrap(), History::default());
        sample().save(&dir).unwrap();
        assert_eq!(History::load(&dir).unwrap().costs, sample().costs);
        std::fs::write(path_in(&dir), b"\xff\xfe garbage").unwrap();
        assert!(History::load(&dir).unwrap_err().contains("UTF-8"));
        // No temporary file is left behind.
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
