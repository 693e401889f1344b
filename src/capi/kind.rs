//! Device kinds: `wp_device_kind_t` (the ABI's `device_kind`), named by the
//! config's device policy and by the parallel API's device descriptions,
//! and its conversion to [`DeviceKind`]. (Its own module so that neither
//! `config` nor `parallel` imports the other; named so that cbindgen emits
//! the constants where the header always had them.)

use crate::error::{Error, Result};
use crate::parallel::DeviceKind;

/// A device kind (a `WP_DEVICE_*` value; the ABI's `device_kind`).
pub type wp_device_kind_t = i32;
/// Iterations one after another on the calling thread.
pub const WP_DEVICE_SEQUENTIAL: wp_device_kind_t = 0;
/// Iterations on the CPU thread pool.
pub const WP_DEVICE_CPU: wp_device_kind_t = 1;
/// A discrete GPU.
pub const WP_DEVICE_DISCRETE_GPU: wp_device_kind_t = 2;
/// An integrated GPU.
pub const WP_DEVICE_INTEGRATED_GPU: wp_device_kind_t = 3;

/// A `WP_DEVICE_*` value as a device kind.
pub(crate) fn device_kind_from_c(kind: wp_device_kind_t) -> Result<DeviceKind> {
    DeviceKind::from_raw(kind)
        .ok_or_else(|| Error::invalid_argument(format!("unknown device kind {kind}")))
}
