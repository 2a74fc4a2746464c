//! [`MemoryBudget`]: one bound on the bytes held by many transfers running at once.
//!
//! One transfer holds at most `part_size x (concurrency + 1)` bytes (see
//! [`TransferOptions`]); a folder copy runs several. Without a shared budget, eight 200 MB
//! files copied eight at a time each hold their own 72 MiB. With one, each file first
//! reserves what it can hold at most (its size, up to the bound) and gives it back when
//! done, so large files take turns at full speed while small files still run together.

use tokio::sync::{Semaphore, SemaphorePermit};

use super::TransferOptions;

/// Permits count KiB, so a budget of many GiB fits a semaphore's `u32` acquisitions.
const UNIT: u64 = 1024;

/// A budget of bytes in flight shared by transfers; see the module docs.
#[derive(Debug)]
pub struct MemoryBudget {
    permits: Semaphore,
    bound: u64,
}

/// Bytes reserved from a [`MemoryBudget`], given back when dropped.
#[derive(Debug)]
#[must_use = "the reservation is given back as soon as it is dropped"]
pub struct Reservation<'a> {
    _permit: Option<SemaphorePermit<'a>>,
}

impl MemoryBudget {
    /// A budget of `bound` bytes (at least 1 KiB).
    pub fn new(bound: u64) -> Self {
        let units = bound.div_ceil(UNIT).max(1);
        let units = usize::try_from(units).unwrap_or(usize::MAX).min(Semaphore::MAX_PERMITS);
        MemoryBudget { permits: Semaphore::new(units), bound: (units as u64).saturating_mul(UNIT) }
    }

    /// As much as one transfer with `options` may hold: `part_size x (concurrency + 1)`.
    pub fn for_transfer(options: &TransferOptions) -> Self {
        Self::new(options.memory_budget())
    }

    /// The bound, in bytes.
    pub fn bound(&self) -> u64 {
        self.bound
    }

    /// Waits until `bytes` (capped at the bound, so one transfer always fits) are free,
    /// and holds them until the reservation is dropped.
    pub async fn reserve(&self, bytes: u64) -> Reservation<'_> {
        let units = bytes.min(self.bound).div_ceil(UNIT).max(1);
        let units = u32::try_from(units).unwrap_or(u32::MAX).min(u32::try_from(self.bound / UNIT).unwrap_or(u32::MAX));
        Reservation { _permit: self.permits.acquire_many(units).await.ok() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_never_exceed_the_bound_and_large_ones_still_fit() {
        let budget = MemoryBudget::new(10 * UNIT);
        let a = budget.reserve(6 * UNIT).await;
        assert_eq!(budget.permits.available_permits(), 4);
        // Larger than the whole budget: capped, so it waits for `a` instead of forever.
        let waiting = budget.reserve(100 * UNIT);
        tokio::pin!(waiting);
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        drop(a);
        let big = waiting.await;
        assert_eq!(budget.permits.available_permits(), 0);
        drop(big);
        let _small = budget.reserve(1).await;
        assert_eq!(budget.permits.available_permits(), 9);
    }
}
