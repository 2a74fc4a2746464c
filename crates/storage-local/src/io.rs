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

/// Streams `len` bytes from the file's current position, in chunks of `chunk` bytes.
/// A file that ends early (truncated by hand) yields an `Io` error.
pub fn file_stream(file: std::fs::File, len: u64, chunk: usize) -> ByteStream {
    futures::stream::unfold(Some((file, len)), move |state| async move {
        let (file, remaining) = state?;
        if remaining == 0 {
            return None;
        }
        let want = remaining.min(chunk as u64) as usize;
        // One hop to the blocking pool per chunk, read straight into the chunk (tokio's
        // `File` reads into a buffer of its own and copies).
        let read = blocking(move || {
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
            Ok((file, bytes)) => Some((Ok(bytes), Some((file, remaining - want as u64)))),
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
