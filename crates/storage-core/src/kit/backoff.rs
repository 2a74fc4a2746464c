//! The one retry backoff: exponential with full jitter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// A cheap pseudo-random number (xorshift over a clock-seeded state); jitter only.
fn random_u64() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut x = STATE.load(Ordering::Relaxed);
    if x == 0 {
        x = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1) | 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.store(x, Ordering::Relaxed);
    x
}

/// The delay before retry number `retry` (0-based): uniform in
/// `[0, min(max, initial x 2^retry)]` ("full jitter", which spreads the retries of many
/// clients best).
pub fn full_jitter(initial: Duration, max: Duration, retry: u32) -> Duration {
    let cap = initial.saturating_mul(1u32 << retry.min(20)).min(max);
    let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(random_u64() % (nanos + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_under_the_cap() {
        let (initial, max) = (Duration::from_millis(100), Duration::from_secs(1));
        for retry in 0..40 {
            assert!(full_jitter(initial, max, retry) <= max);
        }
        assert!(full_jitter(initial, max, 0) <= initial);
        assert_eq!(full_jitter(Duration::ZERO, max, 3), Duration::ZERO);
    }
}
