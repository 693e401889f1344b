//! The Vulkan pipeline cache kept across runs: a `VkPipelineCache` created
//! from a file in the cache directory and written back after each new
//! pipeline, so that a second run of a program builds its pipelines from
//! the driver's cache instead of from scratch.
//!
//! One file per device and driver version:
//! `vk-pipelines-<vendor>-<device>-<pipelineCacheUUID>-<driver version>.bin`.
//! The driver's blob is wrapped in a header of ours ([`MAGIC`], format
//! version, vendor, device, driver version, UUID, payload length, payload
//! checksum), and the blob's own Vulkan header is checked against the
//! device too. A file that is short, corrupt, of another format, device or
//! driver is ignored with a warning (on stderr, once) and replaced at the
//! next write: the driver only ever sees bytes that this device's driver
//! produced. Writes go to a temporary file renamed over the old one, so a
//! crash or a concurrent run never leaves a torn file.

use crate::parallel::kernel::cache::content_hash;
use crate::parallel::persist::warn;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vulkano::device::physical::PhysicalDevice;
use vulkano::device::Device as VkDevice;
use vulkano::pipeline::cache::{PipelineCache as VkPipelineCache, PipelineCacheCreateInfo};

/// The first bytes of a cache file of ours.
pub const MAGIC: &[u8; 8] = b"WPVKPC\0\0";
/// The format version of our header.
pub const FORMAT: u32 = 1;
/// Bytes of our header: magic, format, vendor, device, driver version,
/// UUID (16), payload length (8), checksum (8).
const HEADER: usize = 8 + 4 * 4 + 16 + 8 + 8;
/// Bytes of Vulkan's own pipeline cache header (version one).
const VK_HEADER: usize = 16 + 16;

/// What identifies the device and driver a blob belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// PCI vendor id.
    pub vendor: u32,
    /// Device id.
    pub device: u32,
    /// Driver version (as the driver encodes it).
    pub driver: u32,
    /// `pipelineCacheUUID`.
    pub uuid: [u8; 16],
}

impl Identity {
    /// The identity of `physical`.
    pub fn of(physical: &PhysicalDevice) -> Identity {
        let p = physical.properties();
        Identity {
            vendor: p.vendor_id,
            device: p.device_id,
            driver: p.driver_version,
            uuid: p.pipeline_cache_uuid,
        }
    }

    /// The cache file's name for this identity.
    pub fn file_name(&self) -> String {
        let uuid: String = self.uuid.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "vk-pipelines-{:04x}-{:04x}-{uuid}-{:x}.bin",
            self.vendor, self.device, self.driver
        )
    }
}

/// A cache file: where it lives and whose it is.
#[derive(Clone, Debug)]
pub struct DiskCache {
    /// The file.
    pub path: PathBuf,
    identity: Identity,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Our file bytes for a driver blob.
pub fn encode(identity: &Identity, blob: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + blob.len());
    out.extend_from_slice(MAGIC);
    for v in [FORMAT, identity.vendor, identity.device, identity.driver] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&identity.uuid);
    out.extend_from_slice(&(blob.len() as u64).to_le_bytes());
    out.extend_from_slice(&content_hash(blob).to_le_bytes());
    out.extend_from_slice(blob);
    out
}

/// The driver blob in our file bytes, if they are whole and belong to
/// `identity`; else why not.
pub fn decode<'a>(identity: &Identity, file: &'a [u8]) -> Result<&'a [u8], String> {
    if file.len() < HEADER || &file[..8] != MAGIC {
        return Err("not a wasi-parallel pipeline cache file".into());
    }
    if u32_at(file, 8) != FORMAT {
        return Err(format!(
            "format version {} (expected {FORMAT})",
            u32_at(file, 8)
        ));
    }
    let found = Identity {
        vendor: u32_at(file, 12),
        device: u32_at(file, 16),
        driver: u32_at(file, 20),
        uuid: file[24..40].try_into().expect("16 bytes"),
    };
    if found != *identity {
        return Err("written for another device or driver version".into());
    }
    let len = u64_at(file, 40);
    let blob = &file[HEADER..];
    if blob.len() as u64 != len {
        return Err(format!(
            "truncated or padded: {} payload bytes, header says {len}",
            blob.len()
        ));
    }
    if content_hash(blob) != u64_at(file, 48) {
        return Err("checksum mismatch (corrupt)".into());
    }
    // Vulkan's own header: length, version one, vendor, device, UUID.
    if blob.len() < VK_HEADER
        || (u32_at(blob, 0) as usize) < VK_HEADER
        || u32_at(blob, 4) != 1
        || u32_at(blob, 8) != identity.vendor
        || u32_at(blob, 12) != identity.device
        || blob[16..32] != identity.uuid
    {
        return Err("the driver data's own header does not match this device".into());
    }
    Ok(blob)
}

impl DiskCache {
    /// The cache of `identity` in directory `dir`, and the driver blob to
    /// start from: empty when there is no file; empty with a warning (the
    /// `String`) when the file is unreadable or not trusted.
    pub fn open(dir: &Path, identity: Identity) -> (DiskCache, Vec<u8>, Option<String>) {
        let path = dir.join(identity.file_name());
        let cache = DiskCache { path, identity };
        let (blob, warning) = match std::fs::read(&cache.path) {
            Ok(bytes) => match decode(&identity, &bytes) {
                Ok(blob) => (blob.to_vec(), None),
                Err(why) => (
                    Vec::new(),
                    Some(format!(
                        "pipeline cache {}: {why}; ignored, it will be rewritten",
                        cache.path.display()
                    )),
                ),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Vec::new(), None),
            Err(e) => (
                Vec::new(),
                Some(format!(
                    "pipeline cache {}: {e}; ignored",
                    cache.path.display()
                )),
            ),
        };
        (cache, blob, warning)
    }

    /// Writes `blob` (the driver's current data) to the file, replacing it
    /// whole (through a temporary file renamed over it).
    pub fn save(&self, blob: &[u8]) -> std::io::Result<()> {
        crate::parallel::persist::replace_file(&self.path, &encode(&self.identity, blob))
    }
}

/// The driver's pipeline cache of one logical device and the file it is
/// kept in across runs.
pub struct DriverCache {
    /// The `VkPipelineCache` every pipeline is built through.
    pub vk: Option<Arc<VkPipelineCache>>,
    /// Where `vk` is kept across runs, if anywhere.
    disk: Option<DiskCache>,
    /// Why the cache file was not used, if it was not.
    pub warning: Option<String>,
}

impl DriverCache {
    /// The driver's pipeline cache, started from the file in `dir` when
    /// that file is trusted (with a warning on stderr when it was not).
    pub fn open(device: &Arc<VkDevice>, dir: Option<&Path>) -> DriverCache {
        let (disk, blob, mut warning) = match dir {
            Some(dir) => {
                let (disk, blob, w) = DiskCache::open(dir, Identity::of(device.physical_device()));
                (Some(disk), blob, w)
            }
            None => (None, Vec::new(), None),
        };
        let create = |initial_data: Vec<u8>| {
            // SAFETY: `initial_data` is empty or a blob this device's driver
            // produced: `DiskCache::open` returns only data whose checksum,
            // length and both headers (ours and Vulkan's: vendor, device,
            // driver version, pipelineCacheUUID) match this device, as
            // `get_data` wrote them.
            unsafe {
                VkPipelineCache::new(
                    device.clone(),
                    PipelineCacheCreateInfo {
                        initial_data,
                        ..Default::default()
                    },
                )
            }
        };
        let vk = match create(blob) {
            Ok(c) => Some(c),
            Err(e) => {
                warning = Some(format!(
                    "the driver refused the pipeline cache data ({e}); starting empty"
                ));
                create(Vec::new()).ok()
            }
        };
        if let Some(w) = &warning {
            warn(w);
        }
        DriverCache { vk, disk, warning }
    }

    /// Writes the driver's pipeline cache to its file (no-op without one;
    /// a failure is reported on stderr once per process).
    pub fn save(&self) {
        let (Some(cache), Some(disk)) = (&self.vk, &self.disk) else {
            return;
        };
        let saved = cache
            .get_data()
            .map_err(|e| e.to_string())
            .and_then(|blob| disk.save(&blob).map_err(|e| e.to_string()));
        if let Err(e) = saved {
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| {
                warn(&format!(
                    "cannot write the pipeline cache {}: {e}",
                    disk.path.display()
                ))
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> Identity {
        Identity {
            vendor: 0x10005,
            device: 0,
            driver: 0x5800006,
            uuid: [7; 16],
        }
    }

    fn blob(id: &Identity) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [32u32, 1, id.vendor, id.device] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&id.uuid);
        b.extend_from_slice(b"driver payload");
        b
    }

    #[test]
    fn a_file_round_trips() {
        let b = blob(&id());
        let f = encode(&id(), &b);
        assert_eq!(decode(&id(), &f).unwrap(), &b[..]);
    }

    #[test]
    fn damaged_or_foreign_files_are_refused() {
        let b = blob(&id());
        let good = encode(&id(), &b);
        // Every single-byte corruption is caught.
        for i in 0..good.len() {
            let mut f = good.clone();
            f[i] ^= 0x40;
            assert!(decode(&id(), &f).is_err(), "byte {i} flipped was accepted");
        }
        // Truncated anywhere, or padded.
        for n in 0..good.len() {
            assert!(decode(&id(), &good[..n]).is_err(), "truncated to {n}");
        }
        let mut padded = good.clone();
        padded.push(0);
        assert!(decode(&id(), &padded).is_err());
        // Another driver version or device.
        let mut other = id();
        other.driver += 1;
        assert!(decode(&other, &good)
            .unwrap_err()
            .contains("another device"));
        // A blob whose own Vulkan header names another device.
        let mut foreign = id();
        foreign.uuid = [9; 16];
        let f = encode(&id(), &blob(&foreign));
        assert!(decode(&id(), &f).unwrap_err().contains("own header"));
    }

    #[test]
    fn open_ignores_a_bad_file_with_a_warning_and_save_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, start, warning) = DiskCache::open(dir.path(), id());
        assert!(start.is_empty() && warning.is_none(), "no file yet");
        std::fs::write(&cache.path, b"garbage").unwrap();
        let (cache, start, warning) = DiskCache::open(dir.path(), id());
        assert!(start.is_empty());
        assert!(warning.unwrap().contains("ignored"));
        cache.save(&blob(&id())).unwrap();
        let (_, start, warning) = DiskCache::open(dir.path(), id());
        assert_eq!(start, blob(&id()));
        assert!(warning.is_none());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
    }
}
