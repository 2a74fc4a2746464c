//! Leftovers of interrupted writes: temporary files (`%t.*`) that a killed put, copy or
//! multipart completion left beside where its object goes, and the multipart staging
//! directories under `%uploads/`. Listings never show them.
//!
//! - A temporary file is a [`LeftoverKind::StagedData`] whose id is its path inside the
//!   container (`dir/%t.<unique>`), aged by its modification time (a writer that is still
//!   running keeps writing to it). Its key is the prefix of its directory: the key it was
//!   for is not recorded.
//! - An upload with a readable manifest is a [`LeftoverKind::MultipartUpload`] (id: the
//!   upload id), aged by the most recent modification of anything in its staging
//!   directory (so an upload still receiving parts looks young), sized by its parts.
//! - A staging directory without a manifest (a crash while creating it) and a claimed
//!   one (`%uploads/%t.*`: a crash while aborting or completing) are staged data.
//!
//! Separate because it is maintenance, not a data path: it walks the whole container
//! looking for the driver's own internal files that the other operations never list.

use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use storage_core::kit::{Error, ErrorKind, Result};
use storage_core::{Driver, Leftover, LeftoverKind};

use crate::core::{LocalDriver, NAME};
use crate::errors::{self, ctx};
use crate::io::blocking;
use crate::paths::{CONTINUATION, TEMP_PREFIX, UPLOADS_DIR, decode_segment, is_internal, require_container};

/// A modification time as a UTC time.
fn utc(t: SystemTime) -> DateTime<Utc> {
    DateTime::<Utc>::from(t)
}

/// Whether a directory at `location` (a key prefix) may hold data for a key under `prefix`.
fn may_match(location: &str, prefix: Option<&str>) -> bool {
    prefix.is_none_or(|p| location.starts_with(p) || p.starts_with(location))
}

/// Whether a temporary file in the directory at `location` may hold data for a key under
/// `prefix`: such a file is for a key in that directory (no further `/`).
fn file_may_match(location: &str, prefix: Option<&str>) -> bool {
    prefix.is_none_or(|p| location.starts_with(p) || p.strip_prefix(location).is_some_and(|rest| !rest.contains('/')))
}

/// The newest modification time and total size of the files in `dir` (not recursive).
fn dir_activity(dir: &Path) -> (Option<SystemTime>, u64) {
    let mut newest = std::fs::symlink_metadata(dir).and_then(|m| m.modified()).ok();
    let mut size = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for entry in rd.flatten() {
            let Ok(m) = entry.metadata() else { continue };
            if let Ok(t) = m.modified() {
                newest = newest.max(Some(t));
            }
            if m.is_file() && entry.file_name().to_str().is_some_and(|n| n.starts_with("part-")) {
                size += m.len();
            }
        }
    }
    (newest, size)
}

/// Lists the leftovers of one container (blocking).
pub fn list(container_dir: &Path, container: &str, prefix: Option<&str>) -> Result<Vec<Leftover>> {
    require_container(container_dir, container)?;
    let mut out = Vec::new();
    walk(container_dir, container, prefix, &mut out)?;
    uploads(container_dir, container, prefix, &mut out)?;
    out.sort_by(|a, b| (&a.key, &a.id).cmp(&(&b.key, &b.id)));
    Ok(out)
}

/// Finds the temporary files in the object tree (never following symlinks).
fn walk(container_dir: &Path, container: &str, prefix: Option<&str>, out: &mut Vec<Leftover>) -> Result<()> {
    // (directory, its path inside the container, decoded key prefix, encoded partial segment)
    let mut stack = vec![(container_dir.to_owned(), String::new(), String::new(), String::new())];
    while let Some((dir, rel, key_prefix, acc)) = stack.pop() {
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            // Pruned by a concurrent delete: nothing left there.
            Err(e) if errors::is_missing(&e) => continue,
            Err(e) => return Err(errors::io(format!("reading {}", dir.display()), e)),
        };
        let location = match acc.is_empty() {
            true => key_prefix.clone(),
            false => format!("{key_prefix}{}", decode_segment(&acc).unwrap_or_else(|| acc.clone())),
        };
        for entry in rd {
            let entry = entry.map_err(|e| errors::io(format!("reading {}", dir.display()), e))?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_symlink() {
                continue;
            }
            let child_rel = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            if name.starts_with(TEMP_PREFIX) {
                if ft.is_file() && file_may_match(&location, prefix) {
                    let Ok(m) = entry.metadata() else { continue };
                    out.push(Leftover {
                        container: container.to_owned(),
                        key: location.clone(),
                        kind: LeftoverKind::StagedData,
                        id: child_rel,
                        size: Some(m.len()),
                        created: m.modified().ok().map(utc),
                    });
                }
                continue;
            }
            if is_internal(&name) || !ft.is_dir() {
                continue;
            }
            if let Some(piece) = name.strip_suffix(CONTINUATION) {
                let so_far = format!("{acc}{piece}");
                let loc = format!("{key_prefix}{}", decode_segment(&so_far).unwrap_or_else(|| so_far.clone()));
                if may_match(&loc, prefix) {
                    stack.push((entry.path(), child_rel, key_prefix.clone(), so_far));
                }
                continue;
            }
            let Some(segment) = decode_segment(&format!("{acc}{name}")) else { continue };
            let sub = format!("{key_prefix}{segment}/");
            if may_match(&sub, prefix) {
                stack.push((entry.path(), child_rel, sub, String::new()));
            }
        }
    }
    Ok(())
}

/// Reads an upload's manifest key and start, if it has a readable manifest.
fn manifest_key(dir: &Path) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct KeyOnly {
        key: String,
    }
    let bytes = std::fs::read(dir.join("upload.json")).ok()?;
    serde_json::from_slice::<KeyOnly>(&bytes).ok().map(|m| m.key)
}

/// The multipart staging directories.
fn uploads(container_dir: &Path, container: &str, prefix: Option<&str>, out: &mut Vec<Leftover>) -> Result<()> {
    let uploads = container_dir.join(UPLOADS_DIR);
    let rd = match std::fs::read_dir(&uploads) {
        Ok(rd) => rd,
        Err(e) if errors::is_missing(&e) => return Ok(()),
        Err(e) => return Err(errors::io(format!("reading {}", uploads.display()), e)),
    };
    for entry in rd {
        let entry = entry.map_err(|e| errors::io(format!("reading {}", uploads.display()), e))?;
        let Ok(name) = entry.file_name().into_string() else { continue };
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_symlink() {
            continue;
        }
        let path = entry.path();
        let rel = format!("{UPLOADS_DIR}/{name}");
        let staged = |size: u64, created: Option<SystemTime>| Leftover {
            container: container.to_owned(),
            key: String::new(),
            kind: LeftoverKind::StagedData,
            id: rel.clone(),
            size: Some(size),
            created: created.map(utc),
        };
        if name.starts_with(TEMP_PREFIX) {
            // A claimed staging directory (or a temporary manifest) left by a crash.
            if prefix.is_none() {
                let (newest, size) = if ft.is_dir() {
                    dir_activity(&path)
                } else {
                    let m = entry.metadata().ok();
                    (m.as_ref().and_then(|m| m.modified().ok()), m.map_or(0, |m| m.len()))
                };
                out.push(staged(size, newest));
            }
            continue;
        }
        if !ft.is_dir() || is_internal(&name) || !crate::multipart::plausible_id(&name) {
            continue;
        }
        let (newest, size) = dir_activity(&path);
        match manifest_key(&path) {
            Some(key) if prefix.is_none_or(|p| key.starts_with(p)) => out.push(Leftover {
                container: container.to_owned(),
                key,
                kind: LeftoverKind::MultipartUpload,
                id: name,
                size: Some(size),
                created: newest.map(utc),
            }),
            Some(_) => {}
            // Created but never described: a crash inside create_multipart.
            None if prefix.is_none() => out.push(staged(size, newest)),
            None => {}
        }
    }
    Ok(())
}

fn refuse(leftover: &Leftover, why: &str) -> Error {
    Error::new(ErrorKind::PreconditionFailed, format!("leftover {:?} was not removed: {why}", leftover.id))
        .with_driver(NAME)
        .with_container(&leftover.container)
}

/// Checks a staged-data id and returns its path (blocking): relative, no `.`/`..`, the
/// last component one of the driver's temporary names (or an upload staging directory),
/// and no symlink on the way.
fn staged_path(container_dir: &Path, leftover: &Leftover) -> Result<PathBuf> {
    let rel = Path::new(&leftover.id);
    let comps: Vec<&str> = rel
        .components()
        .map(|c| match c {
            Component::Normal(s) => s.to_str().ok_or(()),
            _ => Err(()),
        })
        .collect::<std::result::Result<_, _>>()
        .map_err(|()| refuse(leftover, "not a path the local driver lists"))?;
    let Some((last, parents)) = comps.split_last() else {
        return Err(refuse(leftover, "not a path the local driver lists"));
    };
    let in_uploads = parents == [UPLOADS_DIR];
    let ours = last.starts_with(TEMP_PREFIX) || (in_uploads && crate::multipart::plausible_id(last));
    if !ours || leftover.id.contains('\\') || comps.iter().any(|c| c.is_empty()) {
        return Err(refuse(leftover, "not a temporary file or staging directory of the local driver"));
    }
    let mut path = container_dir.to_owned();
    for c in parents {
        path.push(c);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(refuse(leftover, "a symbolic link or file is on its path")),
            Err(e) if errors::is_missing(&e) => return Ok(container_dir.join(rel)),
            Err(e) => return Err(errors::io(format!("inspecting {}", path.display()), e)),
        }
    }
    Ok(path.join(last))
}

/// Removes one staged-data leftover (blocking): refuses if it was modified after the
/// listing said, or if an upload directory got a manifest since.
pub fn remove_staged(container_dir: &Path, leftover: &Leftover, fsync: bool) -> Result<()> {
    require_container(container_dir, &leftover.container)?;
    let path = staged_path(container_dir, leftover)?;
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if errors::is_missing(&e) => return Ok(()),
        Err(e) => return Err(errors::io(format!("inspecting {}", path.display()), e)),
    };
    let newest = if meta.is_dir() {
        if !leftover.id.starts_with(&format!("{UPLOADS_DIR}/{TEMP_PREFIX}")) && manifest_key(&path).is_some() {
            return Err(refuse(leftover, "it is a multipart upload now"));
        }
        dir_activity(&path).0
    } else if meta.is_file() {
        meta.modified().ok()
    } else {
        return Err(refuse(leftover, "not a file or directory"));
    };
    if let (Some(listed), Some(now)) = (leftover.created, newest.map(utc))
        && now > listed
    {
        return Err(refuse(leftover, "it was written to after it was listed (a writer may still use it)"));
    }
    let removed = if meta.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
    match removed {
        Ok(()) => {}
        Err(e) if errors::is_missing(&e) => return Ok(()),
        Err(e) => return Err(errors::io(format!("removing {}", path.display()), e)),
    }
    // Directories the write created and left empty go too (never the container itself
    // nor the uploads directory); a concurrent writer makes them again if it needs them.
    let mut dir = path.parent().map(Path::to_owned);
    while let Some(d) = dir {
        if d == container_dir || d == container_dir.join(UPLOADS_DIR) || !d.starts_with(container_dir) {
            if fsync {
                crate::io::sync_dir(&d)?;
            }
            break;
        }
        if std::fs::remove_dir(&d).is_err() {
            if fsync {
                crate::io::sync_dir(&d)?;
            }
            break;
        }
        dir = d.parent().map(Path::to_owned);
    }
    Ok(())
}

/// `list_leftovers`.
pub async fn list_async(container_dir: PathBuf, container: &str, prefix: Option<&str>) -> Result<Vec<Leftover>> {
    let (container, prefix) = (container.to_owned(), prefix.map(str::to_owned));
    blocking(move || list(&container_dir, &container, prefix.as_deref())).await
}

/// `remove_leftover`: an unfinished upload is aborted (one already gone is fine); staged
/// data is removed by [`remove_staged`] on the blocking pool.
pub async fn remove(d: &LocalDriver, container_dir: PathBuf, leftover: &Leftover) -> Result<()> {
    match leftover.kind {
        LeftoverKind::MultipartUpload => match d.abort_multipart(&leftover.to_upload()).await {
            Err(e) if e.kind() == ErrorKind::ObjectDoesNotExist => Ok(()),
            other => other,
        },
        _ => {
            let (owned, fsync) = (leftover.clone(), d.shared.options.fsync);
            blocking(move || remove_staged(&container_dir, &owned, fsync)).await.map_err(ctx(&leftover.container, None))
        }
    }
}
