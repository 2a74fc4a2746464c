//! Ready-made [`Layer`](crate::layer::Layer)s: wrappers that change one aspect of a driver
//! and forward everything else, so they compose in any order and work over every driver,
//! third-party ones included (the parity with obstore's and object_store's wrappers).
//!
//! | layer | what it does | object_store / obstore |
//! |---|---|---|
//! | [`PrefixLayer`] | every key lives under a fixed prefix, hidden from the caller | `PrefixStore` |
//! | [`ConcurrencyLimitLayer`] | at most N requests in flight (a GET body holds its slot) | `LimitStore` |
//! | [`BandwidthLimitLayer`] | bytes per second up and down (token bucket) | — |
//! | [`ReadOnlyLayer`] | every write refused with `PermissionDenied`; reads pass | — |
//! | [`TracingLayer`] | one `tracing` span and event per call, plus an observer hook | — |
//! | [`RetryLayer`] | retries what is safe to repeat, resumes and verifies GET bodies, settles writes whose answer was lost | `RetryConfig` (in the HTTP client) |
//! | [`ChaosLayer`] | seeded fault injection: errors before and after a write, pauses, failing, short or corrupted bodies | — (OpenDAL's `ChaosLayer`) |
//!
//! Each takes the wrapped driver as an `Arc<dyn Driver>` and is itself a [`Driver`], so
//! layers stack:
//!
//! ```
//! use std::sync::Arc;
//!
//! use storage_core::layers::{ConcurrencyLimitLayer, PrefixLayer, TracingLayer};
//! use storage_core::{Driver, DriverExt, MemoryDriver, PutOptions};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let memory: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
//! let store = TracingLayer::new(Arc::new(ConcurrencyLimitLayer::new(
//!     Arc::new(PrefixLayer::new(memory.clone(), "tenant-a/")?),
//!     16,
//! )));
//! store.create_container("c").await?;
//! store.put_object("c", "report.csv", "a,b".into(), &PutOptions::default()).await?;
//! assert_eq!(store.list_keys("c", None).await?, ["report.csv"]);
//! assert_eq!(memory.list_keys("c", None).await?, ["tenant-a/report.csv"]);
//! # Ok::<(), storage_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! The layers live in core behind the `layers` feature (on by default, enabled by the
//! `storage` facade): user-side code that a driver crate never compiles.
//!
//! [`Driver`]: crate::Driver

mod bandwidth;
mod chaos;
mod concurrency;
mod prefix;
mod read_only;
mod retry;
mod rng;
mod trace;

pub use bandwidth::BandwidthLimitLayer;
pub use chaos::{CHAOS_MARKER, ChaosConfig, ChaosCounts, ChaosLayer};
pub use concurrency::ConcurrencyLimitLayer;
pub use prefix::PrefixLayer;
pub use read_only::ReadOnlyLayer;
pub use retry::RetryLayer;
pub use rng::SplitMix64;
pub use trace::{CallRecord, Observer, TracingLayer};

/// `body`, holding `guard` until the body ends, fails or is dropped (whichever comes
/// first); items pass through unchanged.
fn hold_until_end<G: Send + 'static>(body: crate::ByteStream, guard: G) -> crate::ByteStream {
    use futures::StreamExt;
    futures::stream::unfold((body, Some(guard)), |(mut body, mut guard)| async move {
        let item = body.next().await?;
        if item.is_err() {
            guard = None;
        }
        Some((item, (body, guard)))
    })
    .boxed()
}
