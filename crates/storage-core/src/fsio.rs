//! Small filesystem helpers shared by the helpers and the local driver.

use std::path::{Path, PathBuf};

use bytes::BytesMut;
use futures::stream::StreamExt;
use tokio::io::AsyncReadExt;

use crate::error::{Error, ErrorKind, Result};
use crate::hash::ContentHasher;
use crate::object::{HashAlgorithm, ObjectHash};
use crate::payload::ByteStream;

/// Reads a file as a stream of chunks of up to `chunk_size` bytes.
pub fn file_stream(file: tokio::fs::File, chunk_size: usize) -> ByteStream {
    let chunk_size = chunk_size.max(4096);
    futures::stream::unfold(Some(file), move |file| async move {
        let mut file = file?;
        let mut buf = BytesMut::with_capacity(chunk_size);
        while buf.len() < chunk_size {
            match file.read_buf(&mut buf).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Some((Err(Error::io("reading the file failed", e)), None)),
            }
        }
        if buf.is_empty() { None } else { Some((Ok(buf.freeze()), Some(file))) }
    })
    .boxed()
}

/// A unique temporary path in the same directory as `dest` (so a rename is atomic).
pub fn temp_path_beside(dest: &Path) -> PathBuf {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = format!(".{name}.storage-tmp-{}", unique_tag());
    dest.with_file_name(tmp)
}

/// A tag unique within this machine for practical purposes: process id, a per-process
/// counter and the clock's nanoseconds.
pub fn unique_tag() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{:x}-{n:x}-{nanos:08x}", std::process::id())
}

/// Fsyncs a directory so a rename inside it is durable (best effort where unsupported).
pub async fn sync_dir(dir: &Path) -> Result<()> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || match std::fs::File::open(&dir) {
        Ok(f) => match f.sync_all() {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(22) => Ok(()),
            Err(e) => Err(Error::io(format!("syncing directory {}", dir.display()), e)),
        },
        Err(e) => Err(Error::io(format!("opening directory {}", dir.display()), e)),
    })
    .await
    .map_err(|e| Error::new(crate::ErrorKind::Io, format!("a blocking task failed: {e}")))?
}

/// MD5 (hex) of a file's contents, read in 1 MiB chunks.
pub async fn md5_file(path: &Path) -> Result<String> {
    Ok(hash_file(path, HashAlgorithm::Md5).await?.value)
}

/// The `algorithm` hash (MD5 or CRC32C) of a file's contents, read in 1 MiB chunks on
/// the blocking pool (stopped when the caller's future is dropped); other algorithms are
/// refused with `NotSupported`.
pub async fn hash_file(path: &Path, algorithm: HashAlgorithm) -> Result<ObjectHash> {
    use std::io::Read;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    /// Tells the hashing task to stop when the caller's future is dropped.
    struct StopOnDrop(Arc<AtomicBool>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let Some(mut h) = ContentHasher::for_algorithm(algorithm) else {
        return Err(Error::new(
            ErrorKind::NotSupported,
            format!("files are hashed with MD5 or CRC32C, not {}", algorithm.as_str()),
        ));
    };
    let stop = StopOnDrop(Arc::new(AtomicBool::new(false)));
    let stopped = stop.0.clone();
    let path = path.to_owned();
    // One blocking task reads and hashes the whole file: no copies between buffers and
    // no hop per chunk.
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        let mut buf = vec![0u8; 1 << 20];
        while !stopped.load(Ordering::Relaxed) {
            match file.read(&mut buf) {
                Ok(0) => return Ok(h.finish()),
                Ok(n) => h.update(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
            }
        }
        Err(Error::new(ErrorKind::Io, "hashing the file was cancelled"))
    })
    .await
    .map_err(|e| Error::new(ErrorKind::Io, format!("a hashing task failed: {e}")))?
}
