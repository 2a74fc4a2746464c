//! Running blocking filesystem work off the async threads, temporary files that clean up
//! after themselves, streaming a file's bytes, and fsyncing a directory.
//!
//! Separate because every operation file needs these few primitives, and each has one
//! behaviour the driver relies on (a temporary file never outlives a cancelled write).
//! [`sync_dir`] is not the kit's `storage_core::kit::sync_dir`: this one runs inside a
//! blocking task (the kit's spawns one) and treats a directory already pruned by a
//! concurrent delete as synced.

use std::path::{Path, PathBuf};

use bytes::BytesMut;
use futures::StreamExt;
use storage_core::ByteStream;
use storage_core::kit::{Error, ErrorKind, Result};
use tokio::io::AsyncReadExt;

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

/// Removes a file, treating "already gone" as success.
pub fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if errors::is_missing(&e) => Ok(()),
        Err(e) => Err(errors::io(format!("removing {}", path.display()), e)),
    }
}

/// A temporary file that is removed unless [`TempFile::keep`] is called. Error paths
/// call [`TempFile::discard`] (or [`TempFile::discard_now`] on a blocking thread);
/// dropping it (a cancelled write) removes it in the background.
///
/// Blocking tasks that create a temporary file return it wrapped in a `TempFile`: if
/// the caller was cancelled meanwhile, the task's output is dropped and the file with it.
#[derive(Debug)]
pub struct TempFile {
    path: Option<PathBuf>,
}

impl TempFile {
    /// Takes charge of `path`.
    pub fn new(path: PathBuf) -> Self {
        TempFile { path: Some(path) }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// The file was renamed into place (or removed): nothing to clean up.
    pub fn keep(mut self) {
        self.path = None;
    }

    /// Removes the file now, from a blocking thread.
    pub fn discard_now(mut self) {
        if let Some(p) = self.path.take()
            && let Err(e) = remove_if_exists(&p)
        {
            tracing::warn!(error = %e, "could not remove a temporary file");
        }
    }

    /// Removes the file now.
    pub async fn discard(mut self) {
        if let Some(p) = self.path.take() {
            let _ = blocking(move || remove_if_exists(&p)).await;
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(h) => {
                    h.spawn_blocking(move || remove_if_exists(&p));
                }
                Err(_) => {
                    let _ = remove_if_exists(&p);
                }
            }
        }
    }
}

/// Streams `len` bytes from the file's current position, in chunks of `chunk` bytes.
/// A file that ends early (truncated by hand) yields an `Io` error.
pub fn file_stream(file: tokio::fs::File, len: u64, chunk: usize) -> ByteStream {
    futures::stream::unfold(Some((file, len)), move |state| async move {
        let (mut file, remaining) = state?;
        if remaining == 0 {
            return None;
        }
        let want = remaining.min(chunk as u64) as usize;
        let mut buf = BytesMut::with_capacity(want);
        while buf.len() < want {
            let mut limited = (&mut file).take((want - buf.len()) as u64);
            match limited.read_buf(&mut buf).await {
                Ok(0) => return Some((Err(errors::truncated()), None)),
                Ok(_) => {}
                Err(e) => return Some((Err(errors::io("reading the object's file failed", e)), None)),
            }
        }
        let n = buf.len() as u64;
        Some((Ok(buf.freeze()), Some((file, remaining - n))))
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
