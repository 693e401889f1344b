//! The library's version at run time, and the check a host makes against
//! the header it was compiled with.
//!
//! The header carries `WASI_PARALLEL_VERSION_MAJOR/MINOR/PATCH` and
//! `WASI_PARALLEL_VERSION` (written by the header generator from the crate
//! version, see `tests/all/header_fresh.rs`); the shared library's SONAME is
//! `libwasi_parallel.so.MAJOR` (`build.rs`). Compatibility rule: a host
//! compiled against header `MAJOR.MINOR` runs on a library of the same major
//! version and a minor version of at least `MINOR` (a minor release only
//! adds to the ABI; a change that breaks it bumps the major version, which
//! `tests/all/abi_check.rs` enforces).

use std::ffi::c_char;

use crate::error::{Error, Result};

use super::error::{guard, wp_error_t};

/// The crate version as a NUL-terminated C string.
const VERSION_C: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

fn part(s: &str) -> u32 {
    s.parse().unwrap_or(0)
}

/// The library's major version.
fn major() -> u32 {
    part(env!("CARGO_PKG_VERSION_MAJOR"))
}

/// The library's minor version.
fn minor() -> u32 {
    part(env!("CARGO_PKG_VERSION_MINOR"))
}

/// Whether a host built against header `header_major.header_minor` can use
/// this library; the error says why not.
pub(crate) fn check(header_major: u32, header_minor: u32) -> Result<()> {
    let lib = env!("CARGO_PKG_VERSION");
    if header_major != major() {
        return Err(Error::invalid_argument(format!(
            "libwasi_parallel {lib} cannot be used by a host built against wasi_parallel.h \
             {header_major}.{header_minor}: the major versions differ (rebuild the host \
             against the {}.x header)",
            major()
        )));
    }
    if header_minor > minor() {
        return Err(Error::invalid_argument(format!(
            "libwasi_parallel {lib} is older than the wasi_parallel.h {header_major}.{header_minor} \
             the host was built against: the host may call functions this library lacks \
             (install libwasi_parallel {header_major}.{header_minor} or newer)"
        )));
    }
    Ok(())
}

/// The library's version, `"MAJOR.MINOR.PATCH"` (compare with the header's
/// `WASI_PARALLEL_VERSION`).
///
/// Ownership: a static string; do not free it. Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn wp_version() -> *const c_char {
    VERSION_C.as_ptr().cast()
}

/// The library's major version (`WASI_PARALLEL_VERSION_MAJOR` of the header
/// it was built with). Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn wp_version_major() -> u32 {
    major()
}

/// The library's minor version. Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn wp_version_minor() -> u32 {
    minor()
}

/// The library's patch version. Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn wp_version_patch() -> u32 {
    part(env!("CARGO_PKG_VERSION_PATCH"))
}

/// Checks that a host compiled against header version
/// `header_major.header_minor` can use this library: `NULL` when the major
/// versions are equal and the library's minor version is at least
/// `header_minor`; otherwise a `WP_ERROR_INVALID_ARGUMENT` error whose
/// message names both versions. Call it once at start-up, best through
/// `wp_version_check_header()`, which passes this header's version.
///
/// Ownership: the caller owns the returned error. Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn wp_version_check(header_major: u32, header_minor: u32) -> *mut wp_error_t {
    guard(|| check(header_major, header_minor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn version_string_is_the_crate_version() {
        // SAFETY: wp_version returns a static NUL-terminated string.
        let v = unsafe { CStr::from_ptr(wp_version()) }.to_str().unwrap();
        assert_eq!(v, env!("CARGO_PKG_VERSION"));
        let parts: Vec<u32> = v.split('.').map(|p| p.parse().unwrap()).collect();
        assert_eq!(
            parts,
            [wp_version_major(), wp_version_minor(), wp_version_patch()]
        );
    }

    #[test]
    fn same_major_and_older_or_equal_minor_is_compatible() {
        let (ma, mi) = (wp_version_major(), wp_version_minor());
        assert!(check(ma, mi).is_ok());
        assert!(check(ma, 0).is_ok());
        let e = check(ma + 1, 0).unwrap_err().to_string();
        assert!(e.contains("major versions differ"), "{e}");
        assert!(e.contains(env!("CARGO_PKG_VERSION")), "{e}");
        assert!(check(ma.wrapping_sub(1), mi).is_err());
        let e = check(ma, mi + 1).unwrap_err().to_string();
        assert!(e.contains("older than"), "{e}");
    }
}
