//! Reads: `head_object` and `get_object`, from one open file descriptor.

use std::io::SeekFrom;

use storage_core::{Error, GetOptions, GetResult, Object, Result};
use tokio::io::AsyncSeekExt;

use crate::io::{blocking, file_stream};
use crate::paths::{self, ObjectPath, Resolved};
use crate::sidecar::{FileStamp, Sidecar, describe};
use crate::{LocalDriver, no_object, require_container};

/// Chunk size of the streams `get_object` returns.
const READ_CHUNK: usize = 256 * 1024;

/// An object's file, opened, with what it describes.
#[derive(Debug)]
pub struct Opened {
    /// The data file, positioned at its start.
    pub file: std::fs::File,
    /// The object as reported.
    pub object: Object,
    /// The sidecar, if one applies.
    pub sidecar: Option<Sidecar>,
    /// A sidecar exists but does not apply: maybe a write is between its two renames.
    stale: bool,
}

/// Opens the data file of `op` and reads its sidecar (blocking).
pub fn open(op: &ObjectPath, container: &str, key: &str) -> Result<Opened> {
    require_container(&op.container_dir, container)?;
    if paths::resolve(op, false)? != Resolved::File {
        return Err(no_object(container, key));
    }
    let data = op.data();
    let file = match std::fs::File::open(&data) {
        Ok(f) => f,
        Err(e) if paths::is_missing(&e) => return Err(no_object(container, key)),
        Err(e) => return Err(Error::io(format!("opening {}", data.display()), e)),
    };
    let m = file.metadata().map_err(|e| Error::io(format!("inspecting {}", data.display()), e))?;
    if !m.is_file() {
        return Err(no_object(container, key));
    }
    let stamp = FileStamp::of(&m);
    let sidecar_path = op.sidecar();
    let sidecar = Sidecar::load(&sidecar_path, &stamp);
    let stale = sidecar.is_none() && std::fs::symlink_metadata(&sidecar_path).is_ok();
    let object = describe(container, key, &stamp, sidecar.as_ref());
    Ok(Opened { file, object, sidecar, stale })
}

/// Opens an object; if its sidecar does not apply, tries again once while holding the
/// key's lock, so a write of this process caught between its two renames is not seen
/// half done.
pub async fn open_consistent(d: &LocalDriver, op: &ObjectPath, container: &str, key: &str) -> Result<Opened> {
    let args = (op.clone(), container.to_owned(), key.to_owned());
    let first = {
        let (op, c, k) = args.clone();
        blocking(move || open(&op, &c, &k)).await?
    };
    if !first.stale {
        return Ok(first);
    }
    drop(first);
    let lock = d.locks.lock(container, key).await;
    let (op, c, k) = args;
    blocking(move || {
        let _lock = lock;
        open(&op, &c, &k)
    })
    .await
}

/// `head_object`.
pub async fn head(d: &LocalDriver, op: ObjectPath, container: &str, key: &str) -> Result<Object> {
    Ok(open_consistent(d, &op, container, key).await?.object)
}

/// `get_object`.
pub async fn get(
    d: &LocalDriver,
    op: ObjectPath,
    container: &str,
    key: &str,
    options: &GetOptions,
) -> Result<GetResult> {
    let opened = open_consistent(d, &op, container, key).await?;
    let object = opened.object;
    if let Some(v) = &options.version
        && object.version.as_deref() != Some(v.as_str())
    {
        return Err(no_object(container, key).with_provider_code("NoSuchVersion"));
    }
    options.check_conditions(object.etag.as_deref(), object.last_modified)?;
    let range = match &options.range {
        Some(r) => r.resolve(object.size)?,
        None => 0..object.size,
    };
    let mut file = tokio::fs::File::from_std(opened.file);
    if range.start > 0 {
        file.seek(SeekFrom::Start(range.start))
            .await
            .map_err(|e| Error::io(format!("seeking in {}", op.data().display()), e))?;
    }
    let body = file_stream(file, range.end - range.start, READ_CHUNK);
    Ok(GetResult { object, range, body })
}
