//! The engine-wide cache of compiled kernels, keyed by content hash.
//!
//! A hit compares the full bytes too, so a hash collision never runs the
//! wrong kernel, and never recompiles. The cache is bounded: when full, the
//! least recently used entry is evicted (workers still running it keep their
//! `Arc`).

use super::{Kernel, KernelCompilers};
use crate::parallel::errno::ParResult;
use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::{Arc, Mutex};

/// Content hash of kernel bytes (SipHash-2-4 with fixed keys; equal bytes
/// hash equal in every process).
pub fn content_hash(bytes: &[u8]) -> u64 {
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new_with_keys(0x7761_7369_2d70_6172, 0x616c_6c65_6c21);
    h.write(bytes);
    h.finish()
}

struct Entry {
    kernel: Arc<Kernel>,
    last_used: u64,
}

struct Inner {
    map: HashMap<u64, Vec<Entry>>,
    len: usize,
    clock: u64,
}

/// Bounded, thread-safe kernel cache.
pub struct KernelCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

/// Whether a lookup hit the cache.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// The kernel was compiled before.
    Hit,
    /// The kernel was compiled now.
    Miss,
}

impl KernelCache {
    /// A cache holding at most `capacity` kernels (at least 1).
    pub fn new(capacity: usize) -> Self {
        KernelCache {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                len: 0,
                clock: 0,
            }),
        }
    }

    /// Number of cached kernels.
    pub fn len(&self) -> usize {
        self.lock().len
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map inconsistent
        // in a way that matters (entries are only inserted/removed whole).
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The compiled kernel for `bytes`, compiling it with `compilers` on a miss.
    /// The lock is not held while compiling.
    pub fn get_or_compile(
        &self,
        compilers: &KernelCompilers,
        bytes: &[u8],
    ) -> ParResult<(Arc<Kernel>, CacheOutcome)> {
        let hash = content_hash(bytes);
        {
            let mut inner = self.lock();
            inner.clock += 1;
            let now = inner.clock;
            if let Some(list) = inner.map.get_mut(&hash) {
                if let Some(e) = list.iter_mut().find(|e| &*e.kernel.bytes == bytes) {
                    e.last_used = now;
                    return Ok((e.kernel.clone(), CacheOutcome::Hit));
                }
            }
        }
        let kernel = Arc::new(Kernel::compile(compilers, bytes, hash)?);
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        // Another thread may have compiled the same bytes meanwhile: keep theirs.
        if let Some(list) = inner.map.get_mut(&hash) {
            if let Some(e) = list.iter_mut().find(|e| &*e.kernel.bytes == bytes) {
                e.last_used = now;
                return Ok((e.kernel.clone(), CacheOutcome::Miss));
            }
        }
        while inner.len >= self.capacity {
            let oldest = inner
                .map
                .iter()
                .flat_map(|(h, l)| l.iter().enumerate().map(move |(i, e)| (e.last_used, *h, i)))
                .min();
            let Some((_, h, i)) = oldest else { break };
            let list = inner.map.get_mut(&h).expect("present");
            list.swap_remove(i);
            if list.is_empty() {
                inner.map.remove(&h);
            }
            inner.len -= 1;
        }
        inner.map.entry(hash).or_default().push(Entry {
            kernel: kernel.clone(),
            last_used: now,
        });
        inner.len += 1;
        Ok((kernel, CacheOutcome::Miss))
    }
}

/// How many kernels [`RecentKernels`] remembers.
pub const RECENT_KERNELS: usize = 8;

/// The kernels one instance ran last (most recent first), found by
/// comparing bytes: a loop of `parallel_exec` calls alternating a few
/// kernels (PolyBench's durbin: three) finds its kernel with one `memcmp`
/// of a few hundred bytes instead of a content hash of all of them, the
/// cache's lock and its map. A kernel found here is a cache hit; it stays
/// alive while remembered even if the engine-wide cache evicted it.
#[derive(Default)]
pub struct RecentKernels {
    kernels: Vec<Arc<Kernel>>,
}

impl RecentKernels {
    /// The remembered kernel compiled from exactly `bytes`, now the most
    /// recent one.
    pub fn get(&mut self, bytes: &[u8]) -> Option<Arc<Kernel>> {
        let i = self.kernels.iter().position(|k| *k.bytes == *bytes)?;
        if i != 0 {
            let k = self.kernels.remove(i);
            self.kernels.insert(0, k);
        }
        Some(self.kernels[0].clone())
    }

    /// Remembers `kernel` as the most recent one (forgetting the least
    /// recent beyond [`RECENT_KERNELS`]).
    pub fn push(&mut self, kernel: Arc<Kernel>) {
        self.kernels.retain(|k| !Arc::ptr_eq(k, &kernel));
        self.kernels.insert(0, kernel);
        self.kernels.truncate(RECENT_KERNELS);
    }

    /// Number of kernels remembered.
    pub fn len(&self) -> usize {
        self.kernels.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.kernels.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(n: u32) -> Vec<u8> {
        wat::parse_str(format!(
            r#"(module (memory (import "" "memory") 1)
                (func (export "kernel") (param i32 i32 i32) i32.const {n} drop))"#
        ))
        .unwrap()
    }

    /// The default compilers (no fuel, not interruptible).
    fn compilers() -> KernelCompilers {
        KernelCompilers::new(
            super::super::KernelEngine::Auto,
            false,
            false,
            super::super::BoundsChecks::Auto,
        )
        .unwrap()
    }

    #[test]
    fn hit_miss_and_bound() {
        let engine = compilers();
        let cache = KernelCache::new(2);
        let (a, o) = cache.get_or_compile(&engine, &kernel(1)).unwrap();
        assert_eq!(o, CacheOutcome::Miss);
        let (a2, o) = cache.get_or_compile(&engine, &kernel(1)).unwrap();
        assert_eq!(o, CacheOutcome::Hit);
        assert!(Arc::ptr_eq(&a, &a2));
        cache.get_or_compile(&engine, &kernel(2)).unwrap();
        // touch 1 so that 2 is the least recently used
        cache.get_or_compile(&engine, &kernel(1)).unwrap();
        cache.get_or_compile(&engine, &kernel(3)).unwrap();
        assert_eq!(cache.len(), 2);
        assert_eq!(
            cache.get_or_compile(&engine, &kernel(1)).unwrap().1,
            CacheOutcome::Hit
        );
        assert_eq!(
            cache.get_or_compile(&engine, &kernel(2)).unwrap().1,
            CacheOutcome::Miss
        );
        // a bad kernel is an error, not an entry
        assert!(cache.get_or_compile(&engine, b"junk").is_err());
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn recent_kernels_by_bytes_most_recent_first_bounded() {
        let engine = compilers();
        let cache = KernelCache::new(64);
        let mut recent = RecentKernels::default();
        let bytes: Vec<Vec<u8>> = (0..RECENT_KERNELS as u32 + 1).map(kernel).collect();
        assert!(recent.get(&bytes[0]).is_none());
        let k0 = cache.get_or_compile(&engine, &bytes[0]).unwrap().0;
        recent.push(k0.clone());
        recent.push(k0.clone());
        assert_eq!(recent.len(), 1);
        assert!(Arc::ptr_eq(&recent.get(&bytes[0]).unwrap(), &k0));
        // Same length, other bytes: not found.
        assert_eq!(bytes[1].len(), bytes[0].len());
        assert!(recent.get(&bytes[1]).is_none());
        for b in &bytes[1..RECENT_KERNELS] {
            recent.push(cache.get_or_compile(&engine, b).unwrap().0);
        }
        assert_eq!(recent.len(), RECENT_KERNELS);
        // Found again: the most recent, so the next push drops another.
        assert!(Arc::ptr_eq(&recent.get(&bytes[0]).unwrap(), &k0));
        recent.push(
            cache
                .get_or_compile(&engine, &bytes[RECENT_KERNELS])
                .unwrap()
                .0,
        );
        assert_eq!(recent.len(), RECENT_KERNELS);
        assert!(recent.get(&bytes[0]).is_some());
        assert!(
            recent.get(&bytes[1]).is_none(),
            "the least recent is forgotten"
        );
    }
}
