//! Book-keeping for the aborts that cancelled uploads leave running in the background.
//!
//! When an upload's future is dropped midway (Ctrl-C in a command line tool, a timeout),
//! its multipart upload is aborted by a task spawned on the runtime. A program about to
//! exit calls [`finish_cancelled_aborts`] first, so those aborts reach the backend instead
//! of dying with the process and leaving unfinished uploads behind.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static RUNNING: AtomicUsize = AtomicUsize::new(0);
static ABORTED: AtomicU64 = AtomicU64::new(0);
static FAILED: AtomicU64 = AtomicU64::new(0);

/// An abort task was spawned.
pub(crate) fn started() {
    RUNNING.fetch_add(1, Ordering::SeqCst);
}

/// An abort task ended (`ok`: the backend accepted the abort).
pub(crate) fn finished(ok: bool) {
    if ok {
        ABORTED.fetch_add(1, Ordering::SeqCst);
    } else {
        FAILED.fetch_add(1, Ordering::SeqCst);
    }
    RUNNING.fetch_sub(1, Ordering::SeqCst);
}

/// What the background aborts of cancelled uploads achieved so far in this process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CancelledAborts {
    /// Aborts still running.
    pub running: usize,
    /// Unfinished uploads aborted.
    pub aborted: u64,
    /// Aborts the backend refused or that failed (the upload may remain; `storage
    /// cleanup` or the driver's `list_multipart_uploads` finds it).
    pub failed: u64,
}

/// The current counts, without waiting.
pub fn cancelled_aborts() -> CancelledAborts {
    CancelledAborts {
        running: RUNNING.load(Ordering::SeqCst),
        aborted: ABORTED.load(Ordering::SeqCst),
        failed: FAILED.load(Ordering::SeqCst),
    }
}

/// Waits until every abort spawned for a cancelled upload has ended, or `timeout` has
/// passed; returns the counts then. Call it before a process exits after dropping
/// transfers midway. It polls (every 10 ms), so it needs a tokio runtime with timers.
pub async fn finish_cancelled_aborts(timeout: Duration) -> CancelledAborts {
    let deadline = Instant::now() + timeout;
    while RUNNING.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cancelled_aborts()
}
