//! Multipart uploads, staged in `<container>/%uploads/<upload id>/`:
//!
//! - `upload.json`: the key, the start time and the options of the final object;
//! - `part-<nnnnn>.<crc32c>` (or `part-<nnnnn>.<md5>.<crc32c>` with the `md5` option):
//!   each part, written to a temporary file and renamed, so parts can be uploaded
//!   concurrently and a part's ETag (its CRC32C, or its MD5) and checksum are in its name.
//!
//! Completing concatenates the parts into a temporary file beside the destination (by
//! the kernel, the whole CRC32C combined from the parts' without reading them; read and
//! hashed only when an MD5 is kept or to be checked, or a part's name carries no CRC32C),
//! then claims the staging directory by renaming it (so a concurrent abort or second
//! completion sees `NoSuchUpload`) and commits like a put.
//!
//! Everything is relative to descriptors: `%uploads` is opened from the container's
//! descriptor without following a symlink, each staging directory from it, and the
//! parts, manifest and claims relative to those (`dirfd.rs`).
//!
//! Separate because uploads have their own state on disk (the staging directory and its
//! manifest) that the other operations never read.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use storage_core::kit::etag_matches;
use storage_core::kit::{Error, ErrorKind, Result, crc32c_combine, multipart_etag, unique_tag};
use storage_core::{CompletedPart, MultipartUpload, Object, ObjectHash, Payload, PutMode, PutOptions};

use crate::core::{LocalDriver, NAME};
use crate::digest::{Digest, Digester, wants_md5};
use crate::dirfd::{DirFd, Kind};
use crate::errors::{self, invalid_part, no_upload};
use crate::io::{TempFile, blocking};
use crate::paths::{ObjectPath, UPLOADS_DIR, is_internal};
use crate::sidecar::{FileStamp, Headers, Sidecar};
use crate::write::{Staged, UploadClaim, commit, new_temp, with_default_type, write_payload};

/// The staging directory's description file.
const MANIFEST: &str = "upload.json";

/// Buffer size when concatenating parts.
const CONCAT_BUFFER: usize = 1 << 20;

/// The put mode, as stored in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StoredMode {
    Overwrite,
    CreateIfAbsent,
    IfMatch(String),
}

impl From<&PutMode> for StoredMode {
    fn from(m: &PutMode) -> Self {
        match m {
            PutMode::Overwrite => StoredMode::Overwrite,
            PutMode::CreateIfAbsent => StoredMode::CreateIfAbsent,
            PutMode::IfMatch(e) => StoredMode::IfMatch(e.clone()),
        }
    }
}

impl From<StoredMode> for PutMode {
    fn from(m: StoredMode) -> Self {
        match m {
            StoredMode::Overwrite => PutMode::Overwrite,
            StoredMode::CreateIfAbsent => PutMode::CreateIfAbsent,
            StoredMode::IfMatch(e) => PutMode::IfMatch(e),
        }
    }
}

/// What `upload.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    key: String,
    initiated: DateTime<Utc>,
    mode: StoredMode,
    headers: Headers,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_md5: Option<String>,
}

/// Whether `id` could have been issued by [`create`] (so it is safe as a file name).
pub(crate) fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// The container's `%uploads` directory as a one-component path.
pub(crate) fn uploads_components() -> [String; 1] {
    [UPLOADS_DIR.to_owned()]
}

fn read_manifest(dir: &DirFd) -> std::io::Result<Manifest> {
    let bytes = dir.read(MANIFEST)?;
    serde_json::from_slice(&bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// An upload's directories, open, and its manifest.
struct Loaded {
    uploads: Arc<DirFd>,
    staging: Arc<DirFd>,
    manifest: Manifest,
}

/// Opens the staging directory of `upload` and reads its manifest, checking it is for
/// the same key (blocking). `NoSuchUpload` if the id is not one of ours or is gone.
fn load(container_dir: &std::path::Path, upload: &MultipartUpload, fast: bool) -> Result<Loaded> {
    let cfd = DirFd::container(container_dir, &upload.container, fast)?;
    if !plausible_id(&upload.upload_id) {
        return Err(no_upload(upload));
    }
    let Some(uploads) = cfd.find(&uploads_components())? else { return Err(no_upload(upload)) };
    let staging = match uploads.open_dir(&upload.upload_id) {
        Ok(d) => Arc::new(d),
        Err(e) if errors::is_missing(&e) => return Err(no_upload(upload)),
        Err(e) => {
            return Err(errors::io(format!("opening {}", uploads.path().join(&upload.upload_id).display()), e));
        }
    };
    match read_manifest(&staging) {
        Ok(manifest) if manifest.key == upload.key => Ok(Loaded { uploads, staging, manifest }),
        Ok(_) => Err(no_upload(upload)),
        Err(e) if errors::is_missing(&e) => Err(no_upload(upload)),
        Err(e) => Err(errors::io(format!("reading the multipart manifest in {}", staging.path().display()), e)),
    }
}

/// `create_multipart`.
pub async fn create(
    op: ObjectPath,
    container: &str,
    key: &str,
    options: &PutOptions,
    fast: bool,
) -> Result<MultipartUpload> {
    let manifest = Manifest {
        key: key.to_owned(),
        initiated: Utc::now(),
        mode: StoredMode::from(&options.mode),
        headers: Headers::from_put(options),
        content_md5: options.content_md5.clone(),
    };
    let container = container.to_owned();
    let initiated = manifest.initiated;
    let (c, k) = (container.clone(), key.to_owned());
    let upload_id = blocking(move || {
        let cfd = DirFd::container(&op.container_dir, &c, fast)?;
        let uploads = cfd.make(&uploads_components())?;
        let json = serde_json::to_vec(&manifest)
            .map_err(|e| Error::new(ErrorKind::Io, format!("encoding the multipart manifest failed: {e}")))?;
        loop {
            let id = unique_tag();
            let creating = |e| errors::io(format!("creating {}", uploads.path().join(&id).display()), e);
            match uploads.mkdir(&id) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(creating(e)),
            }
            let dir = uploads.open_dir(&id).map_err(creating)?;
            let io = |e| errors::io(format!("writing the multipart manifest in {}", dir.path().display()), e);
            let (mut f, tmp) = dir.create_temp().map_err(io)?;
            f.write_all(&json).map_err(io)?;
            f.sync_all().map_err(io)?;
            dir.rename(&tmp, &dir, MANIFEST).map_err(io)?;
            dir.sync()?;
            tracing::debug!(container = %c, key = %k, upload_id = %id, "multipart upload started");
            return Ok(id);
        }
    })
    .await?;
    Ok(MultipartUpload { container, key: key.to_owned(), upload_id, initiated: Some(initiated), checksum: None })
}

/// A part file's name: its ETag and, when that is not the CRC32C itself, the CRC32C.
fn part_name(number: u32, etag: &str, crc32c: u32) -> String {
    let crc = format!("{crc32c:08x}");
    if etag == crc { format!("part-{number:05}.{etag}") } else { format!("part-{number:05}.{etag}.{crc}") }
}

/// Parses a part file's name into its number, ETag and CRC32C (`None` in names written
/// before parts kept one).
fn parse_part(name: &str) -> Option<(u32, &str, Option<u32>)> {
    let (n, rest) = name.strip_prefix("part-")?.split_once('.')?;
    let (etag, crc) = match rest.split_once('.') {
        Some((etag, crc)) => (etag, Some(u32::from_str_radix(crc, 16).ok()?)),
        None if rest.len() == 8 => (rest, Some(u32::from_str_radix(rest, 16).ok()?)),
        None => (rest, None),
    };
    Some((n.parse().ok()?, etag, crc))
}

/// `put_part`.
pub async fn put_part(
    d: &LocalDriver,
    container_dir: PathBuf,
    upload: &MultipartUpload,
    part_number: u32,
    payload: Payload,
    content_md5: Option<&str>,
) -> Result<CompletedPart> {
    let max = d.info.limits.max_parts;
    if part_number == 0 || part_number > max {
        return Err(Error::new(ErrorKind::InvalidRange, format!("part number {part_number} is outside 1..={max}"))
            .with_driver(NAME)
            .with_object(&upload.container, &upload.key));
    }
    let (up, fast) = (upload.clone(), d.shared.options.fast_paths);
    let (file, temp) = blocking(move || {
        let staging = load(&container_dir, &up, fast)?.staging;
        match staging.create_temp() {
            Ok((f, name)) => Ok((f, TempFile::new(staging, name))),
            Err(e) if errors::is_missing(&e) => Err(no_upload(&up)),
            Err(e) => Err(errors::io(format!("creating a temporary file in {}", staging.path().display()), e)),
        }
    })
    .await?;
    let hasher = Digester::for_write(d.shared.options.md5, content_md5);
    let (file, stamp, digest) = match write_payload(file, payload, hasher, d.shared.options.fsync).await {
        Ok(x) => x,
        Err(e) => {
            temp.discard().await;
            return Err(e);
        }
    };
    drop(file);
    if let Err(e) = digest.verify(content_md5) {
        temp.discard().await;
        return Err(e);
    }
    let etag = if d.shared.options.md5 { digest.md5.clone() } else { None }.unwrap_or_else(|| digest.crc32c_hex());
    let (dir, tmp, up) = (Arc::clone(temp.dir()), temp.name().to_owned(), upload.clone());
    let name = part_name(part_number, &etag, digest.crc32c);
    let placed = blocking(move || {
        match dir.rename(&tmp, &dir, &name) {
            Ok(()) => {}
            Err(e) if errors::is_missing(&e) => return Err(no_upload(&up)),
            Err(e) => return Err(errors::io(format!("renaming part into place in {}", dir.path().display()), e)),
        }
        // An earlier upload of the same part number is replaced.
        if let Ok(entries) = dir.entries() {
            for (other, _) in entries {
                let Some(other) = other.to_str() else { continue };
                if other != name && parse_part(other).is_some_and(|(n, _, _)| n == part_number) {
                    match dir.unlink(other) {
                        Ok(()) => {}
                        Err(e) if errors::is_missing(&e) => {}
                        Err(e) => {
                            return Err(errors::io(format!("removing {}", dir.path().join(other).display()), e));
                        }
                    }
                }
            }
        }
        Ok(())
    })
    .await;
    match placed {
        Ok(()) => temp.keep(),
        Err(e) => {
            temp.discard().await;
            return Err(e);
        }
    }
    Ok(CompletedPart {
        checksum: Some(ObjectHash::crc32c(digest.crc32c)),
        ..CompletedPart::new(part_number, etag, stamp.size)
    })
}

/// A part found in the staging directory.
#[derive(Debug, Clone)]
struct StagedPart {
    name: String,
    /// Its ETag: its CRC32C, or its MD5.
    etag: String,
    /// Its CRC32C, when its name carries one.
    crc32c: Option<u32>,
    size: u64,
}

/// Checks `parts` against the staging directory; returns the files in order.
fn select_parts(
    dir: &DirFd,
    upload: &MultipartUpload,
    parts: &[CompletedPart],
    min_part_size: u64,
) -> Result<Vec<StagedPart>> {
    if parts.is_empty() {
        return Err(invalid_part(upload, "a multipart upload needs at least one part".into()));
    }
    let mut staged: HashMap<u32, Vec<StagedPart>> = HashMap::new();
    let entries = dir.entries().map_err(|e| match e {
        e if errors::is_missing(&e) => no_upload(upload),
        e => errors::io(format!("reading {}", dir.path().display()), e),
    })?;
    for (name, kind) in entries {
        let Some(name) = name.to_str() else { continue };
        let Some((n, etag, crc32c)) = parse_part(name) else { continue };
        if kind != Kind::File {
            continue;
        }
        let Ok((_, stamp)) = dir.stat(name) else { continue };
        let part = StagedPart { name: name.to_owned(), etag: etag.to_owned(), crc32c, size: stamp.size };
        staged.entry(n).or_default().push(part);
    }
    let mut out = Vec::with_capacity(parts.len());
    let mut last = 0;
    for (i, p) in parts.iter().enumerate() {
        if p.part_number <= last {
            return Err(invalid_part(upload, "parts must be listed in ascending order without repeats".into()));
        }
        last = p.part_number;
        let candidates = staged
            .get(&p.part_number)
            .ok_or_else(|| invalid_part(upload, format!("part {} was never uploaded", p.part_number)))?;
        let found = candidates
            .iter()
            .find(|s| etag_matches(&p.etag, &s.etag) && p.etag.trim() != "*")
            .ok_or_else(|| invalid_part(upload, format!("part {} has a different ETag", p.part_number)))?;
        if i + 1 < parts.len() && found.size < min_part_size {
            return Err(invalid_part(upload, format!("part {} is smaller than the minimum part size", p.part_number)));
        }
        out.push(found.clone());
    }
    Ok(out)
}

/// Concatenates the parts (in `dir`) into `dst` (blocking). With `hasher`, through a
/// buffer that hashes, returning the whole's digest; else by the kernel.
fn concatenate(
    parts: &[StagedPart],
    dir: &DirFd,
    dst: &mut std::fs::File,
    upload: &MultipartUpload,
    mut hasher: Option<Digester>,
) -> Result<Option<Digest>> {
    let mut buf = if hasher.is_some() { vec![0u8; CONCAT_BUFFER] } else { Vec::new() };
    for part in parts {
        let path = || dir.path().join(&part.name);
        let mut src = match dir.open_read(&part.name) {
            Ok(f) => f,
            Err(e) if errors::is_missing(&e) => return Err(no_upload(upload)),
            Err(e) => return Err(errors::io(format!("opening {}", path().display()), e)),
        };
        let Some(h) = &mut hasher else {
            let n = std::io::copy(&mut src, dst).map_err(|e| errors::io(format!("copying {}", path().display()), e))?;
            if n != part.size {
                return Err(errors::io(
                    format!("copying {}", path().display()),
                    std::io::Error::other(format!("{n} bytes copied instead of {}", part.size)),
                ));
            }
            continue;
        };
        loop {
            let n = src.read(&mut buf).map_err(|e| errors::io(format!("reading {}", path().display()), e))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            dst.write_all(&buf[..n]).map_err(|e| errors::io("writing the assembled object", e))?;
        }
    }
    Ok(hasher.map(Digester::finish))
}

/// The CRC32C of the parts' concatenation, from theirs; `None` when one has none.
fn combined_crc32c(parts: &[StagedPart]) -> Option<u32> {
    parts.iter().try_fold(0u32, |acc, p| Some(crc32c_combine(acc, p.crc32c?, p.size)))
}

/// `complete_multipart`.
pub async fn complete(
    d: &LocalDriver,
    op: ObjectPath,
    upload: &MultipartUpload,
    parts: &[CompletedPart],
) -> Result<Object> {
    let min_part_size = d.info.limits.min_part_size;
    let (cdir, up, list, fast) =
        (op.container_dir.clone(), upload.clone(), parts.to_vec(), d.shared.options.fast_paths);
    let (loaded, selected) = blocking(move || {
        let loaded = load(&cdir, &up, fast)?;
        let selected = select_parts(&loaded.staging, &up, &list, min_part_size)?;
        Ok((loaded, selected))
    })
    .await?;
    let Loaded { uploads, staging, manifest } = loaded;
    let (mut file, temp) = new_temp(d, &op, &upload.container).await?;
    let (up, to_copy) = (upload.clone(), selected.clone());
    let combined = combined_crc32c(&selected);
    let keep_md5 = d.shared.options.md5;
    let md5 = wants_md5(keep_md5, manifest.content_md5.as_deref());
    // Read and hashed only for an MD5, or for parts whose names carry no CRC32C.
    let hasher = (md5 || combined.is_none()).then(|| Digester::new(md5));
    // Fsynced by the commit, after its metadata is stored.
    let assembled = blocking(move || {
        let digest = concatenate(&to_copy, &staging, &mut file, &up, hasher)?;
        let m = file.metadata().map_err(|e| errors::io("inspecting the assembled object", e))?;
        Ok((file, digest, FileStamp::of(&m)))
    })
    .await;
    let (file, digest, stamp) = match assembled {
        Ok(x) => x,
        Err(e) => {
            temp.discard().await;
            return Err(e);
        }
    };
    let digest = match (digest, combined) {
        (Some(d), _) => d,
        (None, Some(crc32c)) => Digest { crc32c, md5: None },
        (None, None) => {
            temp.discard().await;
            return Err(Error::new(ErrorKind::Io, "internal error: the assembled object was not hashed"));
        }
    };
    if let Err(e) = digest.verify(manifest.content_md5.as_deref()) {
        temp.discard().await;
        return Err(e);
    }
    // The ETag: S3's MD5 of the parts' MD5s where every part has one (the `md5` option,
    // or parts staged by earlier versions), else the CRC32C, size and time, with S3's
    // `-<number of parts>` suffix either way.
    let etags: Vec<&str> = selected.iter().map(|p| p.etag.as_str()).collect();
    let etag = if keep_md5 || etags.iter().all(|e| storage_core::kit::is_md5_hex(e)) {
        multipart_etag(&etags)
    } else {
        format!("{}-{}", digest.crc_etag(&stamp), selected.len())
    };
    let sidecar = Sidecar::of_digest(stamp, &digest, Some(etag), with_default_type(manifest.headers));
    let mode = PutMode::from(manifest.mode);
    let claim = UploadClaim { uploads, upload: upload.clone() };
    commit(d, &op, &upload.container, &upload.key, Staged { file, temp, sidecar }, &mode, Some(claim)).await
}

/// `abort_multipart`: claims the staging directory (so a concurrent completion finds it
/// gone), then removes it.
pub async fn abort(container_dir: PathBuf, upload: &MultipartUpload, fast: bool) -> Result<()> {
    let up = upload.clone();
    blocking(move || {
        let uploads = load(&container_dir, &up, fast)?.uploads;
        let claimed = crate::paths::temp_name();
        match uploads.rename(&up.upload_id, &uploads, &claimed) {
            Ok(()) => {}
            Err(e) if errors::is_missing(&e) => return Err(no_upload(&up)),
            Err(e) => return Err(errors::io(format!("removing {}", uploads.path().join(&up.upload_id).display()), e)),
        }
        uploads
            .remove_tree(&claimed)
            .map_err(|e| errors::io(format!("removing {}", uploads.path().join(&claimed).display()), e))
    })
    .await
}

/// `list_multipart_uploads`: sorted by key, then start time.
pub async fn list(
    container_dir: PathBuf,
    container: &str,
    prefix: Option<&str>,
    fast: bool,
) -> Result<Vec<MultipartUpload>> {
    let (container, prefix) = (container.to_owned(), prefix.map(str::to_owned));
    blocking(move || {
        let cfd = DirFd::container(&container_dir, &container, fast)?;
        let Some(uploads) = cfd.find(&uploads_components())? else { return Ok(Vec::new()) };
        let entries = match uploads.entries() {
            Ok(e) => e,
            Err(e) if errors::is_missing(&e) => return Ok(Vec::new()),
            Err(e) => return Err(errors::io(format!("reading {}", uploads.path().display()), e)),
        };
        let mut found = BTreeMap::new();
        for (id, kind) in entries {
            let Ok(id) = id.into_string() else { continue };
            if kind != Kind::Dir || is_internal(&id) || !plausible_id(&id) {
                continue;
            }
            let Ok(m) = uploads.open_dir(&id).and_then(|dir| read_manifest(&dir)) else { continue };
            if prefix.as_deref().is_some_and(|p| !m.key.starts_with(p)) {
                continue;
            }
            found.insert(
                (m.key.clone(), m.initiated, id.clone()),
                MultipartUpload {
                    container: container.clone(),
                    key: m.key,
                    upload_id: id,
                    initiated: Some(m.initiated),
                    checksum: None,
                },
            );
        }
        Ok(found.into_values().collect())
    })
    .await
}
