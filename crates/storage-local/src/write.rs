//! Writes: streaming into a temporary file, committing it atomically (put, copy,
//! multipart completion), and deletes.
//!
//! Separate from reads because every change goes through the one commit here (metadata
//! stored, then under the key's lock the put mode checked and the file renamed into
//! place), which is what makes writes atomic and conditional puts safe.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use storage_core::kit::check_length;
use storage_core::kit::etag_matches;
use storage_core::kit::{Error, ErrorKind, Md5Hasher, Result};
use storage_core::{CopyOptions, MultipartUpload, Object, Payload, PutMode, PutOptions};
use tokio::io::AsyncWriteExt;

use crate::core::{LocalDriver, NAME, Shared};
use crate::errors::{self, already_exists, no_upload, prefix_conflict, symlink_not_replaced};
use crate::io::{TempFile, blocking, remove_if_exists, sync_dir};
use crate::paths::{self, ObjectPath, Resolved, require_container, temp_name};
use crate::read::open_consistent;
use crate::sidecar::{FileStamp, Headers, Sidecar, describe, load_meta};
use storage_core::kit::verify_md5_hex;

/// Content type stored when the writer gives none.
const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// Buffer size when copying with a hash.
const COPY_BUFFER: usize = 1 << 20;

/// `headers` with the default content type filled in.
pub fn with_default_type(mut headers: Headers) -> Headers {
    headers.content_type.get_or_insert_with(|| DEFAULT_CONTENT_TYPE.to_owned());
    headers
}

/// Creates the object's missing parent directories and a new temporary file beside
/// where its data file goes.
pub async fn new_temp(op: &ObjectPath, container: &str) -> Result<(std::fs::File, TempFile)> {
    let op = op.clone();
    let container = container.to_owned();
    blocking(move || {
        require_container(&op.container_dir, &container)?;
        let mut attempts = 0;
        loop {
            attempts += 1;
            if paths::resolve(&op, true)? == Resolved::Directory {
                let data = op.data();
                let busy = std::fs::read_dir(&data).map(|mut rd| rd.next().is_some()).unwrap_or(true);
                if busy {
                    return Err(prefix_conflict(&data));
                }
            }
            let path = op.parent().join(temp_name());
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(f) => {
                    #[cfg(target_os = "linux")]
                    crate::sweep::hold(&f);
                    return Ok((f, TempFile::new(path)));
                }
                // A concurrent delete pruned the directory: make it again.
                Err(e) if errors::is_missing(&e) && attempts < 8 => continue,
                Err(e) => return Err(errors::io(format!("creating temporary file {}", path.display()), e)),
            }
        }
    })
    .await
}

/// Streams `payload` into `file`, computing its MD5; checks the announced length and
/// fsyncs when `fsync`. Returns the file's stamp and the MD5.
pub async fn write_payload(file: std::fs::File, payload: Payload, fsync: bool) -> Result<(FileStamp, String)> {
    let io = |e| errors::io("writing the temporary file", e);
    let mut f = tokio::fs::File::from_std(file);
    let expected = payload.length();
    let mut hasher = Md5Hasher::new();
    let mut written = 0u64;
    match payload {
        Payload::Bytes(b) => {
            hasher.update(&b);
            f.write_all(&b).await.map_err(io)?;
            written = b.len() as u64;
        }
        Payload::Stream { mut stream, .. } => {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                written += chunk.len() as u64;
                if expected.is_some_and(|n| written > n) {
                    check_length(expected, written)?;
                }
                hasher.update(&chunk);
                f.write_all(&chunk).await.map_err(io)?;
            }
        }
    }
    check_length(expected, written)?;
    f.flush().await.map_err(io)?;
    if fsync {
        f.sync_all().await.map_err(io)?;
    }
    let m = f.metadata().await.map_err(io)?;
    Ok((FileStamp::of(&m), hasher.finish_hex()))
}

/// A multipart upload's staging directory, claimed under the key's lock as part of
/// the commit (so a concurrent abort or second completion finds it gone).
#[derive(Debug)]
pub struct UploadClaim {
    /// The staging directory.
    pub staging: PathBuf,
    /// The upload, for the `NoSuchUpload` error.
    pub upload: MultipartUpload,
}

impl UploadClaim {
    /// Renames the staging directory out of the way (blocking).
    fn take(&self) -> Result<PathBuf> {
        let uploads = self.staging.parent().map(Path::to_owned).unwrap_or_default();
        let claimed = uploads.join(temp_name());
        match std::fs::rename(&self.staging, &claimed) {
            Ok(()) => Ok(claimed),
            Err(e) if errors::is_missing(&e) => Err(no_upload(&self.upload)),
            Err(e) => Err(errors::io(format!("claiming {}", self.staging.display()), e)),
        }
    }

    /// After the commit: like the memory driver, a failed condition still ends the
    /// upload; any other failure puts the staging directory back for a retry or abort.
    fn settle(&self, claimed: &Path, result: &Result<()>) {
        let outcome = match result {
            Err(e) if e.kind() != ErrorKind::PreconditionFailed => std::fs::rename(claimed, &self.staging),
            _ => std::fs::remove_dir_all(claimed),
        };
        if let Err(e) = outcome {
            tracing::warn!(path = %claimed.display(), error = %e, "could not settle a multipart staging directory");
        }
    }
}

/// A payload written to its temporary file, with the sidecar that will describe it.
#[derive(Debug)]
pub struct Staged {
    /// The temporary data file, fsynced.
    pub temp: TempFile,
    /// The metadata to store with it.
    pub sidecar: Sidecar,
}

/// Stores the metadata of the temporary data file `temp`: as its extended attribute,
/// else in a temporary sidecar file beside it (returned) (blocking).
pub fn store_meta(d: &Shared, temp: &Path, sidecar: &Sidecar) -> Result<Option<TempFile>> {
    if d.use_xattrs() {
        match crate::meta::set_path(temp, &crate::meta::encode(sidecar)) {
            Ok(()) => return Ok(None),
            Err(true) => d.xattrs_work.store(false, std::sync::atomic::Ordering::Relaxed),
            Err(false) => {}
        }
    }
    let dir = temp.parent().map(Path::to_owned).unwrap_or_default();
    sidecar.write_temp(&dir, d.options.fsync).map(Some)
}

/// Puts the written temporary file in place as the object: stores its metadata, then
/// under the key's lock claims the upload (if any), checks `mode` and renames data (and
/// sidecar, if the metadata needs one) into place. On any error the temporary files are
/// removed and the old object is untouched. The blocking task runs to its end even if
/// the caller is cancelled.
pub async fn commit(
    d: &LocalDriver,
    op: &ObjectPath,
    container: &str,
    key: &str,
    staged: Staged,
    mode: &PutMode,
    claim: Option<UploadClaim>,
) -> Result<Object> {
    let Staged { temp, sidecar } = staged;
    let shared = Arc::clone(&d.shared);
    let (op2, mode) = (op.clone(), mode.clone());
    let (c, k) = (container.to_owned(), key.to_owned());
    let s = sidecar.clone();
    blocking(move || {
        let side_temp = match store_meta(&shared, temp.path(), &s) {
            Ok(t) => t,
            Err(e) => {
                temp.discard_now();
                return Err(e);
            }
        };
        let discard = |temp: TempFile, side: Option<TempFile>| {
            temp.discard_now();
            if let Some(t) = side {
                t.discard_now();
            }
        };
        let lock = shared.locks.lock(&c, &k);
        let claimed = match claim.as_ref().map(UploadClaim::take).transpose() {
            Ok(c) => c,
            Err(e) => {
                drop(lock);
                discard(temp, side_temp);
                return Err(e);
            }
        };
        let result = commit_locked(&op2, temp.path(), side_temp.as_ref().map(TempFile::path), &mode);
        if let (Some(claim), Some(claimed)) = (&claim, &claimed) {
            claim.settle(claimed, &result);
        }
        drop(lock);
        match result {
            Ok(()) => {
                temp.keep();
                if let Some(t) = side_temp {
                    t.keep();
                }
                if shared.options.fsync { sync_dir(&op2.parent()) } else { Ok(()) }
            }
            Err(e) => {
                discard(temp, side_temp);
                Err(e)
            }
        }
    })
    .await?;
    let stamp = FileStamp { inode: sidecar.inode, size: sidecar.size, mtime_ns: sidecar.mtime_ns };
    Ok(describe(container, key, &stamp, Some(sidecar)))
}

/// The part of a commit done under the key's lock (blocking).
fn commit_locked(op: &ObjectPath, data_temp: &Path, side_temp: Option<&Path>, mode: &PutMode) -> Result<()> {
    let data = op.data();
    let current = match std::fs::symlink_metadata(&data) {
        Ok(m) if m.file_type().is_symlink() => return Err(symlink_not_replaced(&data)),
        // An empty directory left behind is removed; one holding keys is a conflict.
        Ok(m) if m.is_dir() => match std::fs::remove_dir(&data) {
            Ok(()) => None,
            Err(_) => return Err(prefix_conflict(&data)),
        },
        Ok(_) if *mode == PutMode::Overwrite => None,
        Ok(_) if *mode == PutMode::CreateIfAbsent => Some(String::new()),
        Ok(m) => {
            let stamp = FileStamp::of(&m);
            let (meta, _) = load_meta(None, &data, &stamp, &op.sidecar(), true);
            Some(meta.map(|s| s.etag).unwrap_or_else(|| stamp.derived_etag()))
        }
        Err(e) if errors::is_missing(&e) => None,
        Err(e) => return Err(errors::io(format!("inspecting {}", data.display()), e)),
    };
    mode.check(current.as_deref())?;
    let rename = || {
        std::fs::rename(data_temp, &data).map_err(|e| errors::io(format!("renaming into place {}", data.display()), e))
    };
    if *mode == PutMode::CreateIfAbsent {
        // A hard link fails atomically if the name exists, even against other processes.
        match std::fs::hard_link(data_temp, &data) {
            Ok(()) => {
                if let Err(e) = remove_if_exists(data_temp) {
                    tracing::warn!(error = %e, "could not remove a temporary file after linking it into place");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(already_exists()),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::Unsupported | std::io::ErrorKind::PermissionDenied) => {
                rename()?;
            }
            Err(e) => return Err(errors::io(format!("linking into place {}", data.display()), e)),
        }
    } else {
        rename()?;
    }
    if let Some(side_temp) = side_temp {
        let sidecar = op.sidecar();
        std::fs::rename(side_temp, &sidecar)
            .map_err(|e| errors::io(format!("renaming metadata sidecar into place {}", sidecar.display()), e))?;
    }
    Ok(())
}

/// `put_object`.
pub async fn put(
    d: &LocalDriver,
    op: ObjectPath,
    container: &str,
    key: &str,
    payload: Payload,
    options: &PutOptions,
) -> Result<Object> {
    #[cfg(target_os = "linux")]
    let payload = match payload {
        Payload::Bytes(data) if d.shared.options.fast_paths => {
            let put = crate::fast::PutBytes {
                shared: Arc::clone(&d.shared),
                op,
                container: container.to_owned(),
                key: key.to_owned(),
                data,
                headers: with_default_type(Headers::from_put(options)),
                content_md5: options.content_md5.clone(),
                mode: options.mode.clone(),
            };
            return blocking(move || put.run()).await;
        }
        p => p,
    };
    let (file, temp) = new_temp(&op, container).await?;
    let (stamp, md5) = match write_payload(file, payload, d.shared.options.fsync).await {
        Ok(x) => x,
        Err(e) => {
            temp.discard().await;
            return Err(e);
        }
    };
    if let Err(e) = verify_md5_hex(options.content_md5.as_deref(), &md5) {
        temp.discard().await;
        return Err(e);
    }
    let headers = with_default_type(Headers::from_put(options));
    let sidecar = Sidecar::new(stamp, md5.clone(), Some(md5), headers);
    commit(d, &op, container, key, Staged { temp, sidecar }, &options.mode, None).await
}

/// `delete_object`: removes the data file and its sidecar, then the directories left
/// empty up to the container.
pub async fn delete(d: &LocalDriver, op: ObjectPath, container: &str, key: &str) -> Result<()> {
    let shared = Arc::clone(&d.shared);
    let (container, key) = (container.to_owned(), key.to_owned());
    blocking(move || {
        let _lock = shared.locks.lock(&container, &key);
        require_container(&op.container_dir, &container)?;
        if paths::resolve(&op, false)? == Resolved::File {
            remove_if_exists(&op.data())?;
        }
        remove_if_exists(&op.sidecar())?;
        let parent = op.parent();
        for dir in op.ancestors().iter().rev() {
            if std::fs::remove_dir(dir).is_err() {
                break;
            }
        }
        if shared.options.fsync && parent.is_dir() {
            sync_dir(&parent)?;
        }
        Ok(())
    })
    .await
}

/// Copies `src` (an open file) into `dst` (blocking); hashes while copying when `hash`.
/// Returns the copy's stamp and, when hashed, its MD5.
fn copy_file(
    mut src: std::fs::File,
    mut dst: std::fs::File,
    size: u64,
    hash: bool,
    fsync: bool,
) -> Result<(FileStamp, Option<String>)> {
    let io = |e| errors::io("copying the object's data", e);
    let (copied, md5) = if hash {
        let mut hasher = Md5Hasher::new();
        let mut buf = vec![0u8; COPY_BUFFER];
        let mut copied = 0u64;
        loop {
            let n = src.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            dst.write_all(&buf[..n]).map_err(io)?;
            copied += n as u64;
        }
        (copied, Some(hasher.finish_hex()))
    } else {
        (std::io::copy(&mut src, &mut dst).map_err(io)?, None)
    };
    if copied != size {
        return Err(Error::new(
            ErrorKind::Io,
            format!("the source file changed size while being copied ({copied} bytes instead of {size})"),
        ));
    }
    if fsync {
        dst.sync_all().map_err(io)?;
    }
    let m = dst.metadata().map_err(io)?;
    Ok((FileStamp::of(&m), md5))
}

/// `copy_object`.
pub async fn copy(
    d: &LocalDriver,
    src: ObjectPath,
    (src_container, src_key): (&str, &str),
    dst: ObjectPath,
    (dst_container, dst_key): (&str, &str),
    options: &CopyOptions,
) -> Result<Object> {
    let opened = open_consistent(d, &src, src_container, src_key)
        .await
        .map_err(|e| e.or_context(NAME, Some(src_container), Some(src_key)))?;
    if let Some(want) = &options.source_if_match
        && !opened.object.etag.as_deref().is_some_and(|e| etag_matches(want, e))
    {
        return Err(Error::new(ErrorKind::PreconditionFailed, "the source's ETag differs from source_if_match")
            .with_driver(NAME)
            .with_object(src_container, src_key));
    }
    let headers = match &options.replace {
        Some(p) => Headers::from_put(p),
        None => Headers::from_object(&opened.object),
    };
    let known = opened.object.md5().map(|m| (opened.object.etag.clone().unwrap_or_else(|| m.to_owned()), m.to_owned()));
    let (dst_file, temp) = new_temp(&dst, dst_container).await?;
    let (src_file, size, hash) = (opened.file, opened.object.size, known.is_none());
    let fsync = d.shared.options.fsync;
    let (stamp, md5) = match blocking(move || copy_file(src_file, dst_file, size, hash, fsync)).await {
        Ok(x) => x,
        Err(e) => {
            temp.discard().await;
            return Err(e);
        }
    };
    let (etag, md5) = match (known, md5) {
        (Some(k), _) => k,
        (None, Some(m)) => (m.clone(), m),
        (None, None) => {
            temp.discard().await;
            return Err(Error::new(ErrorKind::Io, "the copy's MD5 was not computed"));
        }
    };
    let sidecar = Sidecar::new(stamp, etag, Some(md5), with_default_type(headers));
    commit(d, &dst, dst_container, dst_key, Staged { temp, sidecar }, &options.mode, None).await
}
