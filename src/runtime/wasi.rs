//! WASI preview 1 setup for an instance: args, environment, preopened
//! directories and stdio.
//!
//! The system calls themselves come from the maintained `wasi-common` crate
//! (through `wasmi_wasi`), whose directory access goes through `cap-std`: a
//! guest cannot leave a preopened directory with `..` or a symlink.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use wasi_common::pipe::{ReadPipe, WritePipe};
use wasi_common::sync::{ambient_authority, Dir, WasiCtxBuilder};
use wasi_common::WasiCtx;

use crate::error::{Error, ErrorCode, Result};

/// The host's stdin as wasi-common gives it, except that a stdin whose
/// bytes ready cannot be counted (`FIONREAD` fails on `/dev/null` and other
/// character devices that are not terminals) counts as ready: wasi-common's
/// `poll_oneoff` turned that failure into a trap of the guest ("host
/// function failed: Unknown OS error") for `poll()` on stdin under
/// `prog </dev/null`. Reads, seeks and the rest are wasi-common's.
struct HostStdin(wasi_common::sync::stdio::Stdin);

#[async_trait::async_trait]
impl wasi_common::WasiFile for HostStdin {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn pollable(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.0.pollable()
    }
    async fn get_filetype(
        &self,
    ) -> std::result::Result<wasi_common::file::FileType, wasi_common::Error> {
        self.0.get_filetype().await
    }
    async fn read_vectored<'a>(
        &self,
        bufs: &mut [std::io::IoSliceMut<'a>],
    ) -> std::result::Result<u64, wasi_common::Error> {
        self.0.read_vectored(bufs).await
    }
    async fn read_vectored_at<'a>(
        &self,
        bufs: &mut [std::io::IoSliceMut<'a>],
        offset: u64,
    ) -> std::result::Result<u64, wasi_common::Error> {
        self.0.read_vectored_at(bufs, offset).await
    }
    async fn seek(&self, pos: std::io::SeekFrom) -> std::result::Result<u64, wasi_common::Error> {
        self.0.seek(pos).await
    }
    async fn peek(&self, buf: &mut [u8]) -> std::result::Result<u64, wasi_common::Error> {
        self.0.peek(buf).await
    }
    async fn set_times(
        &self,
        atime: Option<wasi_common::SystemTimeSpec>,
        mtime: Option<wasi_common::SystemTimeSpec>,
    ) -> std::result::Result<(), wasi_common::Error> {
        self.0.set_times(atime, mtime).await
    }
    fn num_ready_bytes(&self) -> std::result::Result<u64, wasi_common::Error> {
        Ok(self.0.num_ready_bytes().unwrap_or(0))
    }
    fn isatty(&self) -> bool {
        self.0.isatty()
    }
}

/// Where a standard stream of the guest goes.
#[derive(Clone, Debug, Default)]
pub enum Stdio {
    /// The host process's own stream.
    #[default]
    Inherit,
    /// Nothing (reads see end of file, writes are discarded).
    Null,
    /// An in-memory buffer: stdin reads from it, stdout/stderr append to it.
    Buffer(Arc<RwLock<Vec<u8>>>),
}

/// WASI settings of one instance.
#[derive(Clone, Debug, Default)]
pub struct WasiConfig {
    /// `argv`, including the program name as the first element.
    pub args: Vec<String>,
    /// Environment variables as (key, value).
    pub env: Vec<(String, String)>,
    /// Preopened directories as (host path, guest path).
    pub preopens: Vec<(PathBuf, String)>,
    pub stdin: Stdio,
    pub stdout: Stdio,
    pub stderr: Stdio,
}

impl WasiConfig {
    pub(crate) fn build(&self) -> Result<WasiCtx> {
        let wasi_err = |what: &str, e: &dyn std::fmt::Display| {
            Error::new(ErrorCode::Wasi, format!("WASI {what}: {e}"))
        };
        let mut b = WasiCtxBuilder::new();
        b.args(&self.args).map_err(|e| wasi_err("arguments", &e))?;
        b.envs(&self.env).map_err(|e| wasi_err("environment", &e))?;
        for (host, guest) in &self.preopens {
            let dir = Dir::open_ambient_dir(host, ambient_authority()).map_err(|e| {
                Error::new(
                    ErrorCode::Io,
                    format!("cannot preopen directory {}: {e}", host.display()),
                )
            })?;
            b.preopened_dir(dir, guest)
                .map_err(|e| wasi_err("preopen", &e))?;
        }
        match &self.stdin {
            Stdio::Inherit => {
                b.stdin(Box::new(HostStdin(wasi_common::sync::stdio::stdin())));
            }
            Stdio::Null => {
                b.stdin(Box::new(ReadPipe::from(Vec::<u8>::new())));
            }
            Stdio::Buffer(buf) => {
                let data = buf.read().map(|d| d.clone()).unwrap_or_default();
                b.stdin(Box::new(ReadPipe::from(data)));
            }
        }
        for (which, stdio) in [(1, &self.stdout), (2, &self.stderr)] {
            let file: Option<Box<dyn wasi_common::WasiFile>> = match stdio {
                Stdio::Inherit => None,
                Stdio::Null => Some(Box::new(WritePipe::new(std::io::sink()))),
                Stdio::Buffer(buf) => Some(Box::new(WritePipe::from_shared(buf.clone()))),
            };
            match (which, file) {
                (1, None) => {
                    b.inherit_stdout();
                }
                (1, Some(f)) => {
                    b.stdout(f);
                }
                (_, None) => {
                    b.inherit_stderr();
                }
                (_, Some(f)) => {
                    b.stderr(f);
                }
            }
        }
        Ok(b.build())
    }
}
