//! Striped per-key locks: writers of one key in one process take turns for the short
//! moment of checking the put mode and renaming into place.

use std::hash::{DefaultHasher, Hash, Hasher};

use std::sync::Arc;

use tokio::sync::{Mutex, OwnedMutexGuard};

/// Number of stripes.
const STRIPES: usize = 256;

/// A fixed set of mutexes; a key maps to one of them by hash.
pub struct KeyLocks {
    stripes: Vec<Arc<Mutex<()>>>,
}

impl std::fmt::Debug for KeyLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyLocks").field("stripes", &self.stripes.len()).finish()
    }
}

impl Default for KeyLocks {
    fn default() -> Self {
        KeyLocks { stripes: (0..STRIPES).map(|_| Arc::new(Mutex::new(()))).collect() }
    }
}

impl KeyLocks {
    /// Locks the stripe of `container`/`key`. The guard is owned, so it can move into a
    /// blocking task and stay held until that task ends, even if the caller is cancelled.
    pub async fn lock(&self, container: &str, key: &str) -> OwnedMutexGuard<()> {
        let mut h = DefaultHasher::new();
        (container, key).hash(&mut h);
        let i = (h.finish() % STRIPES as u64) as usize;
        Arc::clone(&self.stripes[i]).lock_owned().await
    }
}
