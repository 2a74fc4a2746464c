//! Writes: streaming into a temporary file, committing it atomically (put, copy,
//! multipart completion), and deletes.
//!
//! Separate from reads because every change goes through the one commit here (metadata
//! stored, then under the key's lock the put mode checked and the file renamed into
//! place), which is what makes writes atomic and conditional puts safe. Every step is
//! relative to the descriptor of the key's directory (`dirfd.rs`): the temporary file
//! is created in it, renamed and linked in it, and a delete unlinks and prunes through
//! descriptors, so no directory swapped for a symlink meanwhile leads a write outside.

use std::io::{Read, Write};
use std::sync::Arc;

use futures::StreamExt;
use storage_core::kit::check_length;
use storage_core::kit::etag_matches;
use storage_core::kit::{Error, ErrorKind, Result};
use storage_core::{CopyOptions, MultipartUpload, Object, Payload, PutMode, PutOptions};
use tokio::io::AsyncWriteExt;

use crate::core::{LocalDriver, NAME, Shared};
use crate::digest::{Digest, Digester};
use crate::dirfd::{ATTEMPTS, DirFd, Kind};
use crate::errors::{self, already_exists, no_upload, prefix_conflict, symlink_not_replaced};
use crate::io::{TempFile, blocking};
use crate::paths::{ObjectPath, sidecar_name, temp_name};
use crate::read::open_consistent;
use crate::sidecar::{FileStamp, Headers, Sidecar, describe, load_meta};

/// Content type stored when the writer gives none.
const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// Buffer size when copying with a hash.
const COPY_BUFFER: usize = 1 << 20;

/// `headers` with the default content type filled in.
pub fn with_default_type(mut headers: Headers) -> Headers {
    headers.content_type.get_or_insert_with(|| DEFAULT_CONTENT_TYPE.to_owned());
    headers
}

/// Opens the directory of `op` relative to its container's descriptor (making the
/// missing ones) and creates a new temporary file in it (blocking). With
/// `check_prefix`, a directory holding keys at the key fails early (before any data is
/// written) instead of at the commit.
pub fn temp_beside(
    shared: &Shared,
    op: &ObjectPath,
    container: &str,
    check_prefix: bool,
) -> Result<(std::fs::File, TempFile)> {
    let fast = shared.options.fast_paths;
    let mut quick = DirFd::key_dir(&op.container_dir, op.parent_components(), fast);
    let mut cfd: Option<Arc<DirFd>> = None;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let dir = match quick.take() {
            Some(dir) => dir,
            None => {
                let cfd = match &cfd {
                    Some(c) => c,
                    None => cfd.insert(DirFd::container(&op.container_dir, container, fast)?),
                };
                cfd.make(op.parent_components())?
            }
        };
        if check_prefix && matches!(dir.stat(op.leaf()), Ok((Kind::Dir, _))) {
            let busy = dir.open_dir(op.leaf()).map(|d| !crate::index::only_index(&d)).unwrap_or(true);
            if busy {
                return Err(prefix_conflict(&op.data()));
            }
        }
        match dir.create_temp() {
            Ok((f, name)) => {
                #[cfg(target_os = "linux")]
                crate::sweep::hold(&f);
                return Ok((f, TempFile::new(dir, name)));
            }
            // A concurrent delete pruned the directory: make it again.
            Err(e) if errors::is_missing(&e) && attempts < ATTEMPTS => continue,
            Err(e) => return Err(errors::io(format!("creating a temporary file in {}", op.parent().display()), e)),
        }
    }
}

/// [`temp_beside`] on the blocking pool, checking the prefix.
pub async fn new_temp(d: &LocalDriver, op: &ObjectPath, container: &str) -> Result<(std::fs::File, TempFile)> {
    let (shared, op, container) = (Arc::clone(&d.shared), op.clone(), container.to_owned());
    d.shared.gate.run(move || temp_beside(&shared, &op, &container, true)).await
}

/// Streams `payload` into `file`, hashing it with `hasher`; checks the announced length
/// and fsyncs when `fsync`. Returns the file, its stamp and the content's digest.
pub async fn write_payload(
    file: std::fs::File,
    payload: Payload,
    mut hasher: Digester,
    fsync: bool,
) -> Result<(std::fs::File, FileStamp, Digest)> {
    let io = |e| errors::io("writing the temporary file", e);
    let mut f = tokio::fs::File::from_std(file);
    let expected = payload.length();
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
    Ok((f.into_std().await, FileStamp::of(&m), hasher.finish()))
}

/// A multipart upload's staging directory, claimed under the key's lock as part of
/// the commit (so a concurrent abort or second completion finds it gone).
#[derive(Debug)]
pub struct UploadClaim {
    /// The container's `%uploads` directory.
    pub uploads: Arc<DirFd>,
    /// The upload, for the `NoSuchUpload` error; its id names the staging directory.
    pub upload: MultipartUpload,
}

impl UploadClaim {
    /// Renames the staging directory out of the way; returns its new name (blocking).
    fn take(&self) -> Result<String> {
        let claimed = temp_name();
        match self.uploads.rename(&self.upload.upload_id, &self.uploads, &claimed) {
            Ok(()) => Ok(claimed),
            Err(e) if errors::is_missing(&e) => Err(no_upload(&self.upload)),
            Err(e) => {
                Err(errors::io(format!("claiming {}", self.uploads.path().join(&self.upload.upload_id).display()), e))
            }
        }
    }

    /// After the commit: like the memory driver, a failed condition still ends the
    /// upload; any other failure puts the staging directory back for a retry or abort.
    fn settle(&self, claimed: &str, failed: Option<&Error>) {
        let outcome = match failed {
            Some(e) if e.kind() != ErrorKind::PreconditionFailed => {
                self.uploads.rename(claimed, &self.uploads, &self.upload.upload_id)
            }
            _ => self.uploads.remove_tree(claimed),
        };
        if let Err(e) = outcome {
            let path = self.uploads.path().join(claimed);
            tracing::warn!(path = %path.display(), error = %e, "could not settle a multipart staging directory");
        }
    }
}

/// A payload written to its temporary file, with the sidecar that will describe it.
#[derive(Debug)]
pub struct Staged {
    /// The temporary data file, still open (its writer's lock held, `sweep.rs`).
    pub file: std::fs::File,
    /// Its name in its directory.
    pub temp: TempFile,
    /// The metadata to store with it.
    pub sidecar: Sidecar,
}

/// Stores the metadata of the temporary data file `file`: as its extended attribute,
/// else in a temporary sidecar file in `dir` (returned) (blocking).
pub fn store_meta(d: &Shared, file: &std::fs::File, dir: &Arc<DirFd>, sidecar: &Sidecar) -> Result<Option<TempFile>> {
    if d.use_xattrs() {
        match crate::meta::set_fd(file, &crate::meta::encode(sidecar)) {
            Ok(()) => return Ok(None),
            Err(true) => d.xattrs_work.store(false, std::sync::atomic::Ordering::Relaxed),
            Err(false) => {}
        }
    }
    sidecar.write_temp(dir, d.options.fsync).map(Some)
}

/// Puts the written temporary file in place as the object (blocking): stores its
/// metadata, fsyncs it, then under the key's lock claims the upload (if any), checks
/// `mode` and renames data (and sidecar, if the metadata needs one) into place, all
/// relative to the directory's descriptor, and fsyncs the directory. Returns the
/// metadata stored (to describe the object without a copy). On any error the
/// temporary files are removed and the old object is untouched.
pub fn commit_now(
    shared: &Shared,
    op: &ObjectPath,
    (container, key): (&str, &str),
    staged: Staged,
    mode: &PutMode,
    claim: Option<UploadClaim>,
) -> Result<Sidecar> {
    let Staged { file, temp, sidecar } = staged;
    let fsync = shared.options.fsync;
    let dir = Arc::clone(temp.dir());
    let side = match store_meta(shared, &file, &dir, &sidecar) {
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
    if fsync && let Err(e) = file.sync_all() {
        discard(temp, side);
        return Err(errors::io(format!("syncing a temporary file in {}", dir.path().display()), e));
    }
    let lock = shared.locks.lock(container, key);
    let claimed = match claim.as_ref().map(UploadClaim::take).transpose() {
        Ok(c) => c,
        Err(e) => {
            drop(lock);
            discard(temp, side);
            return Err(e);
        }
    };
    let result = commit_at(&dir, op, temp.name(), side.as_ref().map(TempFile::name), mode);
    if let (Some(claim), Some(claimed)) = (&claim, &claimed) {
        claim.settle(claimed, result.as_ref().err());
    }
    drop(lock);
    // Closed (and its writer's lock released, `sweep.rs`) only once it is in place.
    drop(file);
    match result {
        Ok(linked) => {
            // Linked into place: the temporary name goes.
            if linked {
                temp.discard_now()
            } else {
                temp.keep()
            }
            if let Some(t) = side {
                t.keep();
            }
            if fsync {
                dir.sync()?;
            }
            Ok(sidecar)
        }
        Err(e) => {
            discard(temp, side);
            Err(e)
        }
    }
}

/// [`commit_now`] on the blocking pool, which runs to its end even if the caller is
/// cancelled; returns the object written.
pub async fn commit(
    d: &LocalDriver,
    op: &ObjectPath,
    container: &str,
    key: &str,
    staged: Staged,
    mode: &PutMode,
    claim: Option<UploadClaim>,
) -> Result<Object> {
    let shared = Arc::clone(&d.shared);
    let (op2, mode) = (op.clone(), mode.clone());
    let (c, k) = (container.to_owned(), key.to_owned());
    let sidecar = d.shared.gate.run(move || commit_now(&shared, &op2, (&c, &k), staged, &mode, claim)).await?;
    let stamp = FileStamp { inode: sidecar.inode, size: sidecar.size, mtime_ns: sidecar.mtime_ns };
    Ok(describe(container, key, &stamp, Some(sidecar)))
}

/// Under the key's lock: checks the put mode against the current file and moves the
/// temporary file `temp` (and sidecar `side`) into place, all in `dir`. Returns whether
/// the data was hard-linked (its temporary name is then still to be removed).
fn commit_at(dir: &DirFd, op: &ObjectPath, temp: &str, side: Option<&str>, mode: &PutMode) -> Result<bool> {
    let leaf = op.leaf();
    let data = || op.data();
    let current = match dir.stat(leaf) {
        Ok((Kind::Symlink, _)) => return Err(symlink_not_replaced(&data())),
        // An empty directory left behind is removed; one holding keys is a conflict.
        Ok((Kind::Dir, _)) => match crate::index::remove_empty_dir(dir, leaf, None) {
            Ok(()) => None,
            Err(_) => return Err(prefix_conflict(&data())),
        },
        Ok(_) if *mode == PutMode::Overwrite => None,
        Ok(_) if *mode == PutMode::CreateIfAbsent => Some(String::new()),
        Ok((Kind::File, _)) => match dir.open_read(leaf) {
            Ok(f) => {
                let m = f.metadata().map_err(|e| errors::io(format!("inspecting {}", data().display()), e))?;
                let stamp = FileStamp::of(&m);
                let (meta, _) = load_meta(crate::meta::get_fd(&f, &stamp), &stamp, Some((dir, leaf)));
                Some(meta.map(|s| s.etag).unwrap_or_else(|| stamp.derived_etag()))
            }
            Err(e) if errors::is_missing(&e) => None,
            Err(e) => return Err(errors::io(format!("opening {}", data().display()), e)),
        },
        Ok((_, stamp)) => Some(stamp.derived_etag()),
        Err(e) if errors::is_missing(&e) => None,
        Err(e) => return Err(errors::io(format!("inspecting {}", data().display()), e)),
    };
    mode.check(current.as_deref())?;
    let mut linked = false;
    let rename =
        || dir.rename(temp, dir, leaf).map_err(|e| errors::io(format!("renaming into place {}", data().display()), e));
    if *mode == PutMode::CreateIfAbsent {
        // A hard link fails atomically if the name exists, even against other processes.
        match dir.link(temp, leaf) {
            Ok(()) => linked = true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(already_exists()),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::Unsupported | std::io::ErrorKind::PermissionDenied) => {
                rename()?;
            }
            Err(e) => return Err(errors::io(format!("linking into place {}", data().display()), e)),
        }
    } else {
        rename()?;
    }
    if let Some(side) = side {
        dir.rename(side, dir, &sidecar_name(leaf))
            .map_err(|e| errors::io(format!("renaming metadata sidecar into place {}", op.sidecar().display()), e))?;
    }
    Ok(linked)
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
            return d.shared.gate.run(move || put.run()).await;
        }
        p => p,
    };
    // Boxed: its state (the streaming write's) would otherwise size every put's future,
    // which callers move and box (1.5 KiB before).
    Box::pin(put_streamed(d, op, container, key, payload, options)).await
}

/// [`put`] of a payload streamed (or without the Linux fast path): through a temporary
/// file written on the async runtime, then the commit.
async fn put_streamed(
    d: &LocalDriver,
    op: ObjectPath,
    container: &str,
    key: &str,
    payload: Payload,
    options: &PutOptions,
) -> Result<Object> {
    let (file, temp) = new_temp(d, &op, container).await?;
    // Fsynced by the commit, after its metadata is stored.
    let hasher = Digester::for_write(d.shared.options.md5, options.content_md5.as_deref());
    let (file, stamp, digest) = match write_payload(file, payload, hasher, false).await {
        Ok(x) => x,
        Err(e) => {
            temp.discard().await;
            return Err(e);
        }
    };
    if let Err(e) = digest.verify(options.content_md5.as_deref()) {
        temp.discard().await;
        return Err(e);
    }
    let headers = with_default_type(Headers::from_put(options));
    let sidecar = Sidecar::of_digest(stamp, &digest, None, headers);
    commit(d, &op, container, key, Staged { file, temp, sidecar }, &options.mode, None).await
}

/// `delete_object`: removes the data file and its sidecar, then the directories left
/// empty up to the container, each relative to the descriptor of the directory
/// holding it.
pub async fn delete(d: &LocalDriver, op: ObjectPath, container: &str, key: &str) -> Result<()> {
    let shared = Arc::clone(&d.shared);
    let (container, key) = (container.to_owned(), key.to_owned());
    blocking(move || {
        let _lock = shared.locks.lock(&container, &key);
        let cfd = DirFd::container(&op.container_dir, &container, shared.options.fast_paths)?;
        let parents = op.parent_components();
        let Some(dir) = cfd.find(parents)? else { return Ok(()) };
        let leaf = op.leaf();
        let removing = |e| errors::io(format!("removing {}", op.data().display()), e);
        match dir.stat(leaf) {
            Ok((Kind::File, _)) => match dir.unlink(leaf) {
                Ok(()) => {}
                Err(e) if errors::is_missing(&e) => {}
                Err(e) => return Err(removing(e)),
            },
            Ok((Kind::Symlink, _)) => return Err(errors::symlink_refused(&op.data())),
            Ok((Kind::Other, _)) => return Err(errors::not_regular(&op.data())),
            Ok((Kind::Dir, _)) => {}
            Err(e) if errors::is_missing(&e) => {}
            Err(e) => return Err(errors::io(format!("inspecting {}", op.data().display()), e)),
        }
        match dir.unlink(&sidecar_name(leaf)) {
            Ok(()) => {}
            Err(e) if errors::is_missing(&e) => {}
            Err(e) => return Err(errors::io(format!("removing {}", op.sidecar().display()), e)),
        }
        // Prunes the directories left empty, innermost first: each is removed from the
        // directory holding it. The last directory changed is the one to fsync.
        let mut changed = Arc::clone(&dir);
        for depth in (1..=parents.len()).rev() {
            let holder = if depth == 1 {
                Arc::clone(&cfd)
            } else {
                match cfd.find(&parents[..depth - 1]) {
                    Ok(Some(h)) => h,
                    _ => break,
                }
            };
            // The innermost is the key's own directory, already open.
            let open = (depth == parents.len()).then_some(&*dir);
            if crate::index::remove_empty_dir(&holder, &parents[depth - 1], open).is_err() {
                break;
            }
            changed = holder;
        }
        if shared.options.fsync {
            changed.sync()?;
        }
        Ok(())
    })
    .await
}

/// Copies `src` (an open file) into `dst` (blocking), by the kernel (`copy_file_range`
/// where it can) or, when `hasher` is given, through a buffer that hashes. Returns `dst`,
/// the copy's stamp and, when hashed, its digest.
fn copy_file(
    mut src: std::fs::File,
    mut dst: std::fs::File,
    size: u64,
    hasher: Option<Digester>,
) -> Result<(std::fs::File, FileStamp, Option<Digest>)> {
    let io = |e| errors::io("copying the object's data", e);
    let (copied, digest) = match hasher {
        Some(mut hasher) => {
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
            (copied, Some(hasher.finish()))
        }
        None => (std::io::copy(&mut src, &mut dst).map_err(io)?, None),
    };
    if copied != size {
        return Err(Error::new(
            ErrorKind::Io,
            format!("the source file changed size while being copied ({copied} bytes instead of {size})"),
        ));
    }
    let m = dst.metadata().map_err(io)?;
    Ok((dst, FileStamp::of(&m), digest))
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
    // The source's hashes carry over when it has the ones this driver keeps; else the
    // copy is hashed as it is made.
    let (src_md5, src_crc) = (
        opened.object.md5().map(str::to_owned),
        opened.object.hash.as_ref().and_then(storage_core::ObjectHash::crc32c_value),
    );
    let known = src_md5.is_some() || src_crc.is_some();
    let hasher = (!known || (d.shared.options.md5 && src_md5.is_none())).then(|| Digester::new(d.shared.options.md5));
    let (dst_file, temp) = new_temp(d, &dst, dst_container).await?;
    let (src_file, size) = (opened.file, opened.object.size);
    let (file, stamp, digest) = match blocking(move || copy_file(src_file, dst_file, size, hasher)).await {
        Ok(x) => x,
        Err(e) => {
            temp.discard().await;
            return Err(e);
        }
    };
    let headers = with_default_type(headers);
    let sidecar = match digest {
        Some(digest) => Sidecar::of_digest(stamp, &digest, None, headers),
        None => {
            let etag = opened.object.etag.clone().or_else(|| src_md5.clone()).unwrap_or_else(|| stamp.derived_etag());
            let mut s = Sidecar::new(stamp, etag, headers);
            s.md5 = src_md5;
            s.crc32c = src_crc.map(|c| format!("{c:08x}"));
            s
        }
    };
    commit(d, &dst, dst_container, dst_key, Staged { file, temp, sidecar }, &options.mode, None).await
}
