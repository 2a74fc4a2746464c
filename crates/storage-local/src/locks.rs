//! Striped per-key locks: writers of one key in one process take turns for the short
//! moment of checking the put mode and renaming into place.
//!
//! They are plain (blocking) mutexes, taken only inside blocking tasks and never held
//! across an `await`, so a holder always runs to the point where it releases.
//! Separate because both commit paths (the checked one in `write.rs` and the Linux fast
//! path) and deletes take the same locks.

use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Mutex, MutexGuard};

/// 64-bit FNV-1a: a few instructions a byte for the short names a PUT hashes (SipHash
/// cost ten times that). Not keyed: keys that collide only share a stripe or delay a
/// sweep.
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map keyed by values that are already hashes: the key is its own hash.
#[derive(Debug, Default, Clone, Copy)]
pub struct Prehashed(u64);

impl Hasher for Prehashed {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Builds [`Prehashed`] hashers.
pub type BuildPrehashed = BuildHasherDefault<Prehashed>;

/// Number of stripes.
const STRIPES: usize = 256;

/// A fixed set of mutexes; a key maps to one of them by hash.
pub struct KeyLocks {
    stripes: Vec<Mutex<()>>,
}

impl std::fmt::Debug for KeyLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyLocks").field("stripes", &self.stripes.len()).finish()
    }
}

impl Default for KeyLocks {
    fn default() -> Self {
        KeyLocks { stripes: (0..STRIPES).map(|_| Mutex::new(())).collect() }
    }
}

impl KeyLocks {
    /// Locks the stripe of `container`/`key` (blocking: call it from a blocking task).
    /// A poisoned stripe is still usable: it guards no data.
    pub fn lock(&self, container: &str, key: &str) -> MutexGuard<'_, ()> {
        let mut h = Fnv1a::default();
        (container, key).hash(&mut h);
        let i = (h.finish() % STRIPES as u64) as usize;
        self.stripes[i].lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
