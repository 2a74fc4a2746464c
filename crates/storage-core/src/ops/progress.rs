//! Progress reporting: a small trait the transfer engine calls, and two ready-made
//! implementations.

use std::sync::Arc;

/// Receives progress reports from transfers (the CLI draws its progress bars from it).
///
/// Every method has an empty default, so an implementation overrides only what it needs.
/// Calls come from the task running the transfer, possibly from several transfers at once
/// when one `Progress` is shared: keep the methods quick and use atomics or a mutex.
/// The library itself never prints anything.
///
/// For one object, the engine calls [`Progress::start`] once the size is known (uploads:
/// before the first byte; downloads: after the first response), [`Progress::bytes`] as
/// data is sent (per acknowledged part or request) or received (per chunk), and
/// [`Progress::object_done`] when the object is complete and verified. Bytes already
/// reported stay reported if the transfer later fails.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// use storage_core::Progress;
///
/// #[derive(Default)]
/// struct Counter {
///     done: AtomicU64,
/// }
///
/// impl Progress for Counter {
///     fn bytes(&self, n: u64) {
///         self.done.fetch_add(n, Ordering::Relaxed);
///     }
/// }
/// ```
pub trait Progress: Send + Sync {
    /// The totals of what is about to be transferred, where known (`None`: a stream of
    /// unknown length, say).
    fn start(&self, _total_bytes: Option<u64>, _total_objects: Option<u64>) {}

    /// `n` more bytes were transferred.
    fn bytes(&self, _n: u64) {}

    /// The object `key` is complete.
    fn object_done(&self, _key: &str) {}
}

/// A [`Progress`] that ignores every report (the default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// Forwards [`Progress::bytes`] and [`Progress::object_done`] to another `Progress` but
/// swallows [`Progress::start`]: for a caller that runs many transfers (a folder upload,
/// say), announces the grand totals itself once, and gives each transfer a `Nested` so the
/// per-object totals do not overwrite them.
#[derive(Clone)]
pub struct Nested(pub Arc<dyn Progress>);

impl std::fmt::Debug for Nested {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Nested(..)")
    }
}

impl Progress for Nested {
    fn bytes(&self, n: u64) {
        self.0.bytes(n);
    }

    fn object_done(&self, key: &str) {
        self.0.object_done(key);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Log(Mutex<Vec<String>>);

    impl Progress for Log {
        fn start(&self, b: Option<u64>, o: Option<u64>) {
            self.0.lock().unwrap().push(format!("start {b:?} {o:?}"));
        }
        fn bytes(&self, n: u64) {
            self.0.lock().unwrap().push(format!("bytes {n}"));
        }
        fn object_done(&self, key: &str) {
            self.0.lock().unwrap().push(format!("done {key}"));
        }
    }

    #[test]
    fn nested_forwards_all_but_start() {
        let log = Arc::new(Log::default());
        let nested = Nested(log.clone());
        nested.start(Some(3), Some(1));
        nested.bytes(3);
        nested.object_done("k");
        NoProgress.bytes(1);
        assert_eq!(*log.0.lock().unwrap(), vec!["bytes 3".to_owned(), "done k".to_owned()]);
    }
}
