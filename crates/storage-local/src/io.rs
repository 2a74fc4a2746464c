//! Running blocking filesystem work off the async threads, temporary files that clean up
//! after themselves (removed through their directory's descriptor), streaming a file's
//! bytes, and fsyncing a directory by path (the root, which is no container's).
//!
//! Separate because every operation file needs these few primitives, and each has one
//! behaviour the driver relies on (a temporary file never outlives a cancelled write).
//! [`sync_dir`] is not the kit's `storage_core::kit::sync_dir`: this one runs inside a
//! blocking task (the kit's spawns one) and treats a directory already pruned by a
//! concurrent delete as synced.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use storage_core::ByteStream;
use storage_core::kit::{Error, ErrorKind, Result};

use crate::dirfd::DirFd;
use crate::errors;

/// Runs `f` on the blocking thread pool.
pub async fn blocking<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("a blocking filesystem task failed: {e}")))?
}

/// How many short filesystem tasks (a small GET or PUT, one chunk of a streamed read) a
/// driver runs on the blocking pool at once ([`crate::LocalOptions::io_concurrency`]);
/// the others wait their turn, in order.
///
/// Where the files are in memory (the page cache, tmpfs), such a task is all CPU, and
/// more of them at once than the CPUs can run only adds blocking-pool threads that
/// contend for the pool's lock and the caches: 32 GETs in flight on one CPU ran 20%
/// faster with 4 to 8 at once (`cargo xtask bench`, local rows). Long tasks (a listing,
/// a copy, assembling a multipart upload, the crash sweep) are not gated, so a small
/// read never waits for them. Cloned, it is the same gate.
#[derive(Debug, Clone)]
pub struct Gate(Arc<tokio::sync::Semaphore>);

impl Gate {
    /// A gate letting `permits` tasks run at once (at least one).
    pub fn new(permits: usize) -> Gate {
        Gate(Arc::new(tokio::sync::Semaphore::new(permits.clamp(1, tokio::sync::Semaphore::MAX_PERMITS))))
    }

    /// Runs `f` on the blocking pool once the gate lets it in; its place is held until
    /// `f` returns, even if the caller stops waiting.
    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T> + Send + 'static,
    {
        let closed = || Error::new(ErrorKind::Io, "the filesystem task gate is closed");
        // A free place is taken at once; the wait for one is boxed, so it does not grow
        // every caller's future (which the callers move and box).
        let permit = match Arc::clone(&self.0).try_acquire_owned() {
            Ok(permit) => permit,
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                Box::pin(Arc::clone(&self.0).acquire_owned()).await.map_err(|_| closed())?
            }
            Err(tokio::sync::TryAcquireError::Closed) => return Err(closed()),
        };
        blocking(move || {
            let _permit = permit;
            f()
        })
        .await
    }
}

/// A temporary file in a directory (held open, so it is removed from the same directory
/// wherever that directory is now), removed unless [`TempFile::keep`] is called. Error
/// paths call [`TempFile::discard`] (or [`TempFile::discard_now`] on a blocking thread);
/// dropping it (a cancelled write) removes it in the background.
///
/// Blocking tasks that create a temporary file return it wrapped in a `TempFile`: if
/// the caller was cancelled meanwhile, the task's output is dropped and the file with it.
#[derive(Debug)]
pub struct TempFile {
    dir: Arc<DirFd>,
    name: Option<String>,
}

impl TempFile {
    /// Takes charge of the file `name` in `dir`.
    pub fn new(dir: Arc<DirFd>, name: String) -> Self {
        TempFile { dir, name: Some(name) }
    }

    /// The directory it is in.
    pub fn dir(&self) -> &Arc<DirFd> {
        &self.dir
    }

    /// Its name.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    /// The file was renamed into place (or removed): nothing to clean up.
    pub fn keep(mut self) {
        self.name = None;
    }

    /// Removes the file now, from a blocking thread.
    pub fn discard_now(mut self) {
        if let Some(name) = self.name.take() {
            unlink_quietly(&self.dir, &name);
        }
    }

    /// Removes the file now.
    pub async fn discard(mut self) {
        if let Some(name) = self.name.take() {
            let dir = Arc::clone(&self.dir);
            let _ = blocking(move || {
                unlink_quietly(&dir, &name);
                Ok(())
            })
            .await;
        }
    }
}

/// Removes `name` in `dir`; already gone is fine, anything else is logged.
fn unlink_quietly(dir: &DirFd, name: &str) {
    match dir.unlink(name) {
        Ok(()) => {}
        Err(e) if errors::is_missing(&e) => {}
        Err(e) => tracing::warn!(dir = %dir.path().display(), name, error = %e, "could not remove a temporary file"),
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(name) = self.name.take() {
            let dir = Arc::clone(&self.dir);
            match tokio::runtime::Handle::try_current() {
                Ok(h) => {
                    h.spawn_blocking(move || unlink_quietly(&dir, &name));
                }
                Err(_) => unlink_quietly(&dir, &name),
            }
        }
    }
}

/// Streams `len` bytes from the file's current position, in chunks of `chunk` bytes,
/// each read through `gate`. A file that ends early (truncated by hand) yields an `Io`
/// error.
pub fn file_stream(file: std::fs::File, len: u64, chunk: usize, gate: Gate) -> ByteStream {
    futures::stream::unfold(Some((file, len, gate)), move |state| async move {
        let (file, remaining, gate) = state?;
        if remaining == 0 {
            return None;
        }
        let want = remaining.min(chunk as u64) as usize;
        // One hop to the blocking pool per chunk, read straight into the chunk (tokio's
        // `File` reads into a buffer of its own and copies).
        let read = gate
            .run(move || {
                use std::io::Read;
                // `File` reads into spare capacity without zeroing it first.
                let mut buf = Vec::with_capacity(want);
                match (&file).take(want as u64).read_to_end(&mut buf) {
                    Ok(n) if n < want => Err(errors::truncated()),
                    Ok(_) => Ok((file, Bytes::from(buf))),
                    Err(e) => Err(errors::io("reading the object's file failed", e)),
                }
            })
            .await;
        match read {
            Ok((file, bytes)) => Some((Ok(bytes), Some((file, remaining - want as u64, gate)))),
            Err(e) => Some((Err(e), None)),
        }
    })
    .boxed()
}

/// Fsyncs a directory (blocking; `EINVAL` from filesystems that cannot is ignored). A
/// directory already gone (removed by a concurrent delete once empty) needs no sync.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let f = match std::fs::File::open(dir) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(errors::io(format!("opening directory {}", dir.display()), e)),
    };
    match f.sync_all() {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Ok(()),
        Err(e) => Err(errors::io(format!("syncing directory {}", dir.display()), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// At most `permits` tasks run at once, every task runs, and a task keeps its place
    /// until it returns even when its caller stopped waiting.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_gate_lets_in_its_permits_and_holds_them_until_a_task_returns() {
        let gate = Gate::new(2);
        let (now, most, done) =
            (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let tasks = (0..12).map(|_| {
            let (gate, now, most, done) = (gate.clone(), Arc::clone(&now), Arc::clone(&most), Arc::clone(&done));
            async move {
                gate.run(move || {
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(n, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    now.fetch_sub(1, Ordering::SeqCst);
                    done.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                })
                .await
            }
        });
        for r in futures::future::join_all(tasks).await {
            r.unwrap();
        }
        assert_eq!(done.load(Ordering::SeqCst), 12);
        assert_eq!(most.load(Ordering::SeqCst), 2, "two at once, never more");

        // One place: a caller that stops waiting leaves its task holding the place.
        let one = Gate::new(0); // counts as one
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let started = Arc::new(AtomicUsize::new(0));
        let s = Arc::clone(&started);
        let first = one.run(move || {
            s.store(1, Ordering::SeqCst);
            let _ = wait.recv();
            Ok(())
        });
        let dropped = tokio::time::timeout(std::time::Duration::from_millis(100), first).await;
        assert!(dropped.is_err(), "the first task is still blocked");
        assert_eq!(started.load(Ordering::SeqCst), 1);
        let s = Arc::clone(&started);
        let second = tokio::spawn({
            let one = one.clone();
            async move { one.run(move || Ok(s.load(Ordering::SeqCst))).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(!second.is_finished(), "the second task waits for the first to return");
        started.store(2, Ordering::SeqCst);
        release.send(()).unwrap();
        assert_eq!(second.await.unwrap().unwrap(), 2);
    }
}
