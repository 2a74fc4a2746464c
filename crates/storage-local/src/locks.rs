//! Striped per-key locks: writers of one key in one process take turns for the short
//! moment of checking the put mode and renaming into place.
//!
//! They are plain (blocking) mutexes, taken only inside blocking tasks and never held
//! across an `await`, so a holder always runs to the point where it releases.
//! Separate because both commit paths (the checked one in `write.rs` and the Linux fast
//! path) and deletes take the same locks.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Mutex, MutexGuard};

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
        let mut h = DefaultHasher::new();
        (container, key).hash(&mut h);
        let i = (h.finish() % STRIPES as u64) as usize;
        self.stripes[i].lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
