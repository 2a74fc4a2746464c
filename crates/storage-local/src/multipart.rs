//! Multipart uploads, staged in `<container>/%uploads/<upload id>/`:
//!
//! - `upload.json`: the key, the start time and the options of the final object;
//! - `part-<nnnnn>.<md5>`: each part, written to a temporary file and renamed, so parts
//!   can be uploaded concurrently and a part's ETag (its MD5) is in its name.
//!
//! Completing concatenates the parts into a temporary file beside the destination
//! (computing the whole MD5), then claims the staging directory by renaming it (so a
//! concurrent abort or second completion sees `NoSuchUpload`) and commits like a put.
//!
//! Separate because uploads have their own state on disk (the staging directory and its
//! manifest) that the other operations never read.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use storage_core::kit::etag_matches;
use storage_core::kit::{Error, ErrorKind, Md5Hasher, Result, multipart_etag, unique_tag};
use storage_core::{CompletedPart, MultipartUpload, Object, Payload, PutMode, PutOptions};

use crate::core::{LocalDriver, NAME};
use crate::errors::{self, invalid_part, no_upload};
use crate::io::{TempFile, blocking, remove_if_exists, sync_dir};
use crate::paths::{ObjectPath, UPLOADS_DIR, is_internal, require_container, temp_name};
use crate::sidecar::{FileStamp, Headers, Sidecar};
use crate::write::{Staged, UploadClaim, commit, new_temp, with_default_type, write_payload};
use storage_core::kit::verify_md5_hex;

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

/// The staging directory of `upload`, or `NoSuchUpload` if the id is not one of ours.
fn staging_dir(container_dir: &Path, upload: &MultipartUpload) -> Result<PathBuf> {
    if !plausible_id(&upload.upload_id) {
        return Err(no_upload(upload));
    }
    Ok(container_dir.join(UPLOADS_DIR).join(&upload.upload_id))
}

fn read_manifest(dir: &Path) -> std::io::Result<Manifest> {
    let bytes = std::fs::read(dir.join(MANIFEST))?;
    serde_json::from_slice(&bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Reads the manifest of `upload` and checks it is for the same key (blocking).
fn load(container_dir: &Path, upload: &MultipartUpload) -> Result<(PathBuf, Manifest)> {
    require_container(container_dir, &upload.container)?;
    let dir = staging_dir(container_dir, upload)?;
    match read_manifest(&dir) {
        Ok(m) if m.key == upload.key => Ok((dir, m)),
        Ok(_) => Err(no_upload(upload)),
        Err(e) if errors::is_missing(&e) => Err(no_upload(upload)),
        Err(e) => Err(errors::io(format!("reading the multipart manifest in {}", dir.display()), e)),
    }
}

/// `create_multipart`.
pub async fn create(op: ObjectPath, container: &str, key: &str, options: &PutOptions) -> Result<MultipartUpload> {
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
        require_container(&op.container_dir, &c)?;
        let uploads = op.container_dir.join(UPLOADS_DIR);
        std::fs::create_dir_all(&uploads).map_err(|e| errors::io(format!("creating {}", uploads.display()), e))?;
        let json = serde_json::to_vec(&manifest)
            .map_err(|e| Error::new(ErrorKind::Io, format!("encoding the multipart manifest failed: {e}")))?;
        loop {
            let id = unique_tag();
            let dir = uploads.join(&id);
            match std::fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(errors::io(format!("creating {}", dir.display()), e)),
            }
            let tmp = dir.join(temp_name());
            let io = |e| errors::io(format!("writing the multipart manifest in {}", dir.display()), e);
            let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(io)?;
            f.write_all(&json).map_err(io)?;
            f.sync_all().map_err(io)?;
            std::fs::rename(&tmp, dir.join(MANIFEST)).map_err(io)?;
            sync_dir(&dir)?;
            tracing::debug!(container = %c, key = %k, upload_id = %id, "multipart upload started");
            return Ok(id);
        }
    })
    .await?;
    Ok(MultipartUpload { container, key: key.to_owned(), upload_id, initiated: Some(initiated), checksum: None })
}

/// A part file's name.
fn part_name(number: u32, md5: &str) -> String {
    format!("part-{number:05}.{md5}")
}

/// Parses a part file's name into its number and MD5.
fn parse_part(name: &str) -> Option<(u32, &str)> {
    let (n, md5) = name.strip_prefix("part-")?.split_once('.')?;
    Some((n.parse().ok()?, md5))
}

/// `put_part`.
pub async fn put_part(
    d: &LocalDriver,
    container_dir: PathBuf,
    upload: &MultipartUpload,
    part_number: u32,
    payload: Payload,
) -> Result<CompletedPart> {
    let max = d.info.limits.max_parts;
    if part_number == 0 || part_number > max {
        return Err(Error::new(ErrorKind::InvalidRange, format!("part number {part_number} is outside 1..={max}"))
            .with_driver(NAME)
            .with_object(&upload.container, &upload.key));
    }
    let up = upload.clone();
    let (file, temp) = blocking(move || {
        let (dir, _) = load(&container_dir, &up)?;
        let path = dir.join(temp_name());
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => Ok((f, TempFile::new(path))),
            Err(e) if errors::is_missing(&e) => Err(no_upload(&up)),
            Err(e) => Err(errors::io(format!("creating temporary file {}", path.display()), e)),
        }
    })
    .await?;
    let (stamp, md5) = match write_payload(file, payload, d.shared.options.fsync).await {
        Ok(x) => x,
        Err(e) => {
            temp.discard().await;
            return Err(e);
        }
    };
    let (tmp, up) = (temp.path().to_owned(), upload.clone());
    let name = part_name(part_number, &md5);
    let placed = blocking(move || {
        let dir = tmp.parent().map(Path::to_owned).unwrap_or_default();
        match std::fs::rename(&tmp, dir.join(&name)) {
            Ok(()) => {}
            Err(e) if errors::is_missing(&e) => return Err(no_upload(&up)),
            Err(e) => return Err(errors::io(format!("renaming part into place in {}", dir.display()), e)),
        }
        // An earlier upload of the same part number is replaced.
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for entry in rd.flatten() {
                let other = entry.file_name();
                let Some(other) = other.to_str() else { continue };
                if other != name && parse_part(other).is_some_and(|(n, _)| n == part_number) {
                    remove_if_exists(&entry.path())?;
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
    Ok(CompletedPart::new(part_number, md5, stamp.size))
}

/// A part found in the staging directory.
#[derive(Debug, Clone)]
struct StagedPart {
    path: PathBuf,
    md5: String,
    size: u64,
}

/// Checks `parts` against the staging directory; returns the files in order.
fn select_parts(
    dir: &Path,
    upload: &MultipartUpload,
    parts: &[CompletedPart],
    min_part_size: u64,
) -> Result<Vec<StagedPart>> {
    if parts.is_empty() {
        return Err(invalid_part(upload, "a multipart upload needs at least one part".into()));
    }
    let mut staged: HashMap<u32, Vec<StagedPart>> = HashMap::new();
    let rd = std::fs::read_dir(dir).map_err(|e| match e {
        e if errors::is_missing(&e) => no_upload(upload),
        e => errors::io(format!("reading {}", dir.display()), e),
    })?;
    for entry in rd {
        let entry = entry.map_err(|e| errors::io(format!("reading {}", dir.display()), e))?;
        let name = entry.file_name();
        let Some((n, md5)) = name.to_str().and_then(parse_part) else { continue };
        let Ok(m) = entry.metadata() else { continue };
        staged.entry(n).or_default().push(StagedPart { path: entry.path(), md5: md5.to_owned(), size: m.len() });
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
            .find(|s| etag_matches(&p.etag, &s.md5) && p.etag.trim() != "*")
            .ok_or_else(|| invalid_part(upload, format!("part {} has a different ETag", p.part_number)))?;
        if i + 1 < parts.len() && found.size < min_part_size {
            return Err(invalid_part(upload, format!("part {} is smaller than the minimum part size", p.part_number)));
        }
        out.push(found.clone());
    }
    Ok(out)
}

/// Concatenates the parts into `dst` (blocking); returns the MD5 of the whole.
fn concatenate(parts: &[StagedPart], dst: &mut std::fs::File, upload: &MultipartUpload, fsync: bool) -> Result<String> {
    let mut hasher = Md5Hasher::new();
    let mut buf = vec![0u8; CONCAT_BUFFER];
    for part in parts {
        let mut src = match std::fs::File::open(&part.path) {
            Ok(f) => f,
            Err(e) if errors::is_missing(&e) => return Err(no_upload(upload)),
            Err(e) => return Err(errors::io(format!("opening {}", part.path.display()), e)),
        };
        loop {
            let n = src.read(&mut buf).map_err(|e| errors::io(format!("reading {}", part.path.display()), e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            dst.write_all(&buf[..n]).map_err(|e| errors::io("writing the assembled object", e))?;
        }
    }
    if fsync {
        dst.sync_all().map_err(|e| errors::io("syncing the assembled object", e))?;
    }
    Ok(hasher.finish_hex())
}

/// `complete_multipart`.
pub async fn complete(
    d: &LocalDriver,
    op: ObjectPath,
    upload: &MultipartUpload,
    parts: &[CompletedPart],
) -> Result<Object> {
    let min_part_size = d.info.limits.min_part_size;
    let (cdir, up, list) = (op.container_dir.clone(), upload.clone(), parts.to_vec());
    let (staging, manifest, selected) = blocking(move || {
        let (dir, manifest) = load(&cdir, &up)?;
        let selected = select_parts(&dir, &up, &list, min_part_size)?;
        Ok((dir, manifest, selected))
    })
    .await?;
    let (mut file, temp) = new_temp(&op, &upload.container).await?;
    let (up, to_copy, fsync) = (upload.clone(), selected.clone(), d.shared.options.fsync);
    let assembled = blocking(move || {
        let md5 = concatenate(&to_copy, &mut file, &up, fsync)?;
        let m = file.metadata().map_err(|e| errors::io("inspecting the assembled object", e))?;
        Ok((md5, FileStamp::of(&m)))
    })
    .await;
    let (md5, stamp) = match assembled {
        Ok(x) => x,
        Err(e) => {
            temp.discard().await;
            return Err(e);
        }
    };
    if let Err(e) = verify_md5_hex(manifest.content_md5.as_deref(), &md5) {
        temp.discard().await;
        return Err(e);
    }
    let md5s: Vec<&str> = selected.iter().map(|p| p.md5.as_str()).collect();
    let etag = multipart_etag(&md5s);
    let sidecar = Sidecar::new(stamp, etag, Some(md5), with_default_type(manifest.headers));
    let mode = PutMode::from(manifest.mode);
    let claim = UploadClaim { staging, upload: upload.clone() };
    commit(d, &op, &upload.container, &upload.key, Staged { temp, sidecar }, &mode, Some(claim)).await
}

/// `abort_multipart`.
pub async fn abort(container_dir: PathBuf, upload: &MultipartUpload) -> Result<()> {
    let up = upload.clone();
    blocking(move || {
        let (dir, _) = load(&container_dir, &up)?;
        let uploads = dir.parent().map(Path::to_owned).unwrap_or_default();
        let claimed = uploads.join(temp_name());
        match std::fs::rename(&dir, &claimed) {
            Ok(()) => {}
            Err(e) if errors::is_missing(&e) => return Err(no_upload(&up)),
            Err(e) => return Err(errors::io(format!("removing {}", dir.display()), e)),
        }
        std::fs::remove_dir_all(&claimed).map_err(|e| errors::io(format!("removing {}", claimed.display()), e))
    })
    .await
}

/// `list_multipart_uploads`: sorted by key, then start time.
pub async fn list(container_dir: PathBuf, container: &str, prefix: Option<&str>) -> Result<Vec<MultipartUpload>> {
    let (container, prefix) = (container.to_owned(), prefix.map(str::to_owned));
    blocking(move || {
        require_container(&container_dir, &container)?;
        let uploads = container_dir.join(UPLOADS_DIR);
        let rd = match std::fs::read_dir(&uploads) {
            Ok(rd) => rd,
            Err(e) if errors::is_missing(&e) => return Ok(Vec::new()),
            Err(e) => return Err(errors::io(format!("reading {}", uploads.display()), e)),
        };
        let mut found = BTreeMap::new();
        for entry in rd {
            let entry = entry.map_err(|e| errors::io(format!("reading {}", uploads.display()), e))?;
            let Ok(id) = entry.file_name().into_string() else { continue };
            if is_internal(&id) || !plausible_id(&id) {
                continue;
            }
            let Ok(m) = read_manifest(&entry.path()) else { continue };
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
