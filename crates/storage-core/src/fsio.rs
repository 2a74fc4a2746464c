//! Small filesystem helpers shared by the helpers and the local driver.

use std::path::{Path, PathBuf};

use bytes::BytesMut;
use futures::stream::StreamExt;
use tokio::io::AsyncReadExt;

use crate::error::{Error, Result};
use crate::hash::Md5Hasher;
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
    let file = tokio::fs::File::open(path).await.map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    let mut s = file_stream(file, 1 << 20);
    let mut h = Md5Hasher::new();
    while let Some(c) = s.next().await {
        h.update(&c?);
    }
    Ok(h.finish_hex())
}
