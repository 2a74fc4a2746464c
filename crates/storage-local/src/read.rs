//! Reads: `head_object` and `get_object`, from one open file descriptor, in one
//! blocking task (small objects are read whole in that task too).
//!
//! Separate from writes because reads never take a lock (except to wait out a write of
//! this process caught between its two renames) and share one way of opening an object
//! (relative to the container's descriptor: `openat2` on Linux, or the walk), which
//! copies and conditional writes reuse.

use std::io::{Seek, SeekFrom};

use bytes::Bytes;
use futures::StreamExt;
use storage_core::kit::{Error, Result, crc32c, crc32c_mismatch, crc32c_verified};
use storage_core::{GetOptions, GetResult, Object, ObjectHash};

use crate::core::{LocalDriver, NAME, Shared};
use crate::dirfd::{DirFd, Kind};
use crate::errors::{self, no_object};
use crate::io::file_stream;
use crate::paths::ObjectPath;
use crate::sidecar::{FileStamp, describe, load_meta};

/// Chunk size of the streams `get_object` returns.
const READ_CHUNK: usize = 256 * 1024;

/// Ranges up to this size are read in the task that opens the file and returned as
/// one chunk; larger ones stream from the open descriptor.
pub const SMALL_READ: u64 = 64 * 1024;

/// An object's file, opened, with what it describes.
#[derive(Debug)]
pub struct Opened {
    /// The data file, positioned at its start.
    pub file: std::fs::File,
    /// The object as reported.
    pub object: Object,
    /// A sidecar file exists but does not apply: maybe a write is between its two renames.
    pub stale: bool,
}

/// Opens the data file of `op` and reads its metadata (blocking). The container is
/// opened first; below it, one `openat2` straight to the file where the platform has
/// it, else (and to say what is in the way) the walk of [`DirFd::find`] to its
/// directory and an `openat(O_NOFOLLOW)` there. The metadata attribute is read from
/// the open file, a sidecar relative to its directory's descriptor.
fn open_any(shared: &Shared, op: &ObjectPath, container: &str, key: &str) -> Result<Opened> {
    let cfd = DirFd::container(&op.container_dir, container, shared.options.fast_paths)?;
    let (file, dir) = match cfd.open_beneath(&op.components) {
        Some(Ok(file)) => (file, None),
        Some(Err(_)) => return Err(no_object(container, key)),
        None => {
            let dir = cfd.find(op.parent_components())?.ok_or_else(|| no_object(container, key))?;
            (open_leaf(&dir, op, container, key)?, Some(dir))
        }
    };
    let data = || op.data();
    let m = file.metadata().map_err(|e| errors::io(format!("inspecting {}", data().display()), e))?;
    if m.is_dir() {
        return Err(no_object(container, key));
    }
    if !m.is_file() {
        return Err(errors::not_regular(&data()));
    }
    let stamp = FileStamp::of(&m);
    let found = crate::meta::get_fd(&file, &stamp);
    let dir = match (&found, dir) {
        // Only now is the directory needed, for the sidecar.
        (crate::meta::Found::Absent, None) => cfd.find(op.parent_components()).ok().flatten(),
        (_, dir) => dir,
    };
    let (meta, stale) = load_meta(found, &stamp, dir.as_deref().map(|d| (d, op.leaf())));
    let object = describe(container, key, &stamp, meta);
    Ok(Opened { file, object, stale })
}

/// Opens the data file `op.leaf()` in its directory `dir` to read, never through a
/// symlink (blocking).
fn open_leaf(dir: &DirFd, op: &ObjectPath, container: &str, key: &str) -> Result<std::fs::File> {
    match dir.open_read(op.leaf()) {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(no_object(container, key)),
        Err(e) => match dir.stat(op.leaf()) {
            Ok((Kind::Symlink, _)) => Err(errors::symlink_refused(&op.data())),
            Ok((Kind::Other, _)) => Err(errors::not_regular(&op.data())),
            Err(e) if errors::is_missing(&e) => Err(no_object(container, key)),
            _ => Err(errors::io(format!("opening {}", op.data().display()), e)),
        },
    }
}

/// Opens an object; if a sidecar file exists but does not apply, tries again once
/// while holding the key's lock, so a write of this process caught between its two
/// renames is not seen half done (blocking).
pub fn open_consistent_now(shared: &Shared, op: &ObjectPath, container: &str, key: &str) -> Result<Opened> {
    let first = open_any(shared, op, container, key)?;
    if !first.stale {
        return Ok(first);
    }
    drop(first);
    let _lock = shared.locks.lock(container, key);
    open_any(shared, op, container, key)
}

/// [`open_consistent_now`] on the blocking pool.
pub async fn open_consistent(d: &LocalDriver, op: &ObjectPath, container: &str, key: &str) -> Result<Opened> {
    let (shared, op, c, k) = (std::sync::Arc::clone(&d.shared), op.clone(), container.to_owned(), key.to_owned());
    d.shared.gate.run(move || open_consistent_now(&shared, &op, &c, &k)).await
}

/// `head_object`.
pub async fn head(d: &LocalDriver, op: ObjectPath, container: &str, key: &str) -> Result<Object> {
    Ok(open_consistent(d, &op, container, key).await?.object)
}

/// What the blocking part of a GET hands back: the bytes, or the file to stream.
enum Body {
    Whole(Bytes),
    Stream(std::fs::File),
}

/// `get_object`.
pub async fn get(
    d: &LocalDriver,
    op: ObjectPath,
    container: &str,
    key: &str,
    options: &GetOptions,
) -> Result<GetResult> {
    let (shared, c, k, options) =
        (std::sync::Arc::clone(&d.shared), container.to_owned(), key.to_owned(), options.clone());
    let (object, range, body) = d
        .shared
        .gate
        .run(move || {
            let opened = open_consistent_now(&shared, &op, &c, &k)?;
            let object = opened.object;
            if let Some(v) = &options.version
                && object.version.as_deref() != Some(v.as_str())
            {
                return Err(no_object(&c, &k).with_provider_code("NoSuchVersion"));
            }
            options.check_conditions(object.etag.as_deref(), object.last_modified)?;
            let range = match &options.range {
                Some(r) => r.resolve(object.size)?,
                None => 0..object.size,
            };
            let mut file = opened.file;
            let len = range.end - range.start;
            if len <= SMALL_READ {
                let bytes = read_at(&file, range.start, len as usize)?;
                return Ok((object, range, Body::Whole(bytes)));
            }
            if range.start > 0 {
                file.seek(SeekFrom::Start(range.start))
                    .map_err(|e| errors::io(format!("seeking in {}", op.data().display()), e))?;
            }
            Ok((object, range, Body::Stream(file)))
        })
        .await?;
    // A whole read is checked against the CRC32C kept with the object (the data on the
    // disk changed since it was written: bit rot, or a hand edit keeping size and time).
    let whole = range.start == 0 && range.end == object.size;
    let want = object.hash.as_ref().and_then(ObjectHash::crc32c_value).filter(|_| whole);
    let mismatch = |(c, k): (String, String)| move |e: Error| e.with_driver(NAME).with_object(c.as_str(), k.as_str());
    let body = match body {
        Body::Whole(b) => {
            if let Some(want) = want
                && let got = crc32c(&b)
                && got != want
            {
                return Err(mismatch((container.to_owned(), key.to_owned()))(crc32c_mismatch(got, want)));
            }
            if b.is_empty() {
                futures::stream::empty().boxed()
            } else {
                futures::stream::once(async move { Ok(b) }).boxed()
            }
        }
        Body::Stream(f) => {
            let body = file_stream(f, range.end - range.start, READ_CHUNK, d.shared.gate.clone());
            match want {
                Some(want) => crc32c_verified(body, want, mismatch((container.to_owned(), key.to_owned()))),
                None => body,
            }
        }
    };
    Ok(GetResult { object, range, body })
}

/// Reads exactly `len` bytes at `offset`; a file that ends early (truncated by hand)
/// is an `Io` error.
fn read_at(file: &std::fs::File, offset: u64, len: usize) -> Result<Bytes> {
    let mut buf = vec![0u8; len];
    let mut done = 0;
    while done < len {
        match read_once(file, &mut buf[done..], offset + done as u64) {
            Ok(0) => return Err(errors::truncated()),
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(errors::io("reading the object's file failed", e)),
        }
    }
    Ok(Bytes::from(buf))
}

#[cfg(unix)]
fn read_once(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(not(unix))]
fn read_once(mut file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    use std::io::Read;
    file.seek(SeekFrom::Start(offset))?;
    file.read(buf)
}
