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
//! Both walk and remove through directory descriptors (`dirfd.rs`), never following a
//! symlink, so a listing never reports, and a removal never touches, anything outside.
//!
//! Separate because it is maintenance, not a data path: it walks the whole container
//! looking for the driver's own internal files that the other operations never list.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use storage_core::kit::{Error, ErrorKind, Result};
use storage_core::{Driver, Leftover, LeftoverKind};

use crate::core::{LocalDriver, NAME};
use crate::dirfd::{DirFd, Kind};
use crate::errors::{self, ctx};
use crate::io::blocking;
use crate::paths::{CONTINUATION, TEMP_PREFIX, UPLOADS_DIR, decode_segment, is_internal};
use crate::sidecar::FileStamp;

/// Whether a directory at `location` (a key prefix) may hold data for a key under `prefix`.
fn may_match(location: &str, prefix: Option<&str>) -> bool {
    prefix.is_none_or(|p| location.starts_with(p) || p.starts_with(location))
}

/// Whether a temporary file in the directory at `location` may hold data for a key under
/// `prefix`: such a file is for a key in that directory (no further `/`).
fn file_may_match(location: &str, prefix: Option<&str>) -> bool {
    prefix.is_none_or(|p| location.starts_with(p) || p.strip_prefix(location).is_some_and(|rest| !rest.contains('/')))
}

/// The newest modification time (nanoseconds) and total part size of the directory
/// `name` in `parent` and the files in it (not recursive).
fn dir_activity(parent: &DirFd, name: &str) -> (Option<i64>, u64) {
    let Ok(dir) = parent.open_dir(name) else { return (None, 0) };
    let mut newest = dir.own_stamp().ok().map(|s| s.mtime_ns);
    let mut size = 0;
    for (entry, _) in dir.entries().unwrap_or_default() {
        let Some(entry) = entry.to_str() else { continue };
        let Ok((kind, stamp)) = dir.stat(entry) else { continue };
        newest = newest.max(Some(stamp.mtime_ns));
        if kind == Kind::File && entry.starts_with("part-") {
            size += stamp.size;
        }
    }
    (newest, size)
}

/// A modification time in nanoseconds as a UTC time.
fn utc(mtime_ns: i64) -> Option<DateTime<Utc>> {
    FileStamp { inode: 0, size: 0, mtime_ns }.modified()
}

/// Lists the leftovers of one container (blocking).
pub fn list(container_dir: &Path, container: &str, prefix: Option<&str>, fast: bool) -> Result<Vec<Leftover>> {
    let cfd = DirFd::container(container_dir, container, fast)?;
    let mut out = Vec::new();
    walk(&cfd, container, prefix, &mut out)?;
    uploads(&cfd, container, prefix, &mut out)?;
    out.sort_by(|a, b| (&a.key, &a.id).cmp(&(&b.key, &b.id)));
    Ok(out)
}

/// A directory still to read: its name in its (open) parent, its path inside the
/// container, its decoded key prefix and the encoded partial segment it continues.
struct Pending {
    parent: Arc<DirFd>,
    name: String,
    rel: String,
    key_prefix: String,
    acc: String,
}

/// Finds the temporary files in the object tree (never following symlinks). Only the
/// parents of directories still to read are held open.
fn walk(cfd: &Arc<DirFd>, container: &str, prefix: Option<&str>, out: &mut Vec<Leftover>) -> Result<()> {
    let mut next = Some((Arc::clone(cfd), String::new(), String::new(), String::new()));
    let mut pending: Vec<Pending> = Vec::new();
    loop {
        let (dir, rel, key_prefix, acc) = match next.take() {
            Some(x) => x,
            None => {
                let Some(p) = pending.pop() else { return Ok(()) };
                match p.parent.open_dir(&p.name) {
                    Ok(d) => (Arc::new(d), p.rel, p.key_prefix, p.acc),
                    // Pruned by a concurrent delete, or no longer a directory.
                    Err(e) if errors::is_missing(&e) => continue,
                    Err(e) => {
                        return Err(errors::io(format!("opening {}", p.parent.path().join(&p.name).display()), e));
                    }
                }
            }
        };
        let entries = match dir.entries() {
            Ok(e) => e,
            Err(e) if errors::is_missing(&e) => continue,
            Err(e) => return Err(errors::io(format!("reading {}", dir.path().display()), e)),
        };
        let location = match acc.is_empty() {
            true => key_prefix.clone(),
            false => format!("{key_prefix}{}", decode_segment(&acc).unwrap_or_else(|| acc.clone())),
        };
        for (name, kind) in entries {
            let Ok(name) = name.into_string() else { continue };
            if kind == Kind::Symlink {
                continue;
            }
            let child_rel = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            if name.starts_with(TEMP_PREFIX) {
                if kind == Kind::File && file_may_match(&location, prefix) {
                    let Ok((Kind::File, stamp)) = dir.stat(&name) else { continue };
                    out.push(Leftover {
                        container: container.to_owned(),
                        key: location.clone(),
                        kind: LeftoverKind::StagedData,
                        id: child_rel,
                        size: Some(stamp.size),
                        created: stamp.modified(),
                    });
                }
                continue;
            }
            if is_internal(&name) || kind != Kind::Dir {
                continue;
            }
            let parent = Arc::clone(&dir);
            if let Some(piece) = name.strip_suffix(CONTINUATION) {
                let so_far = format!("{acc}{piece}");
                let loc = format!("{key_prefix}{}", decode_segment(&so_far).unwrap_or_else(|| so_far.clone()));
                if may_match(&loc, prefix) {
                    pending.push(Pending { parent, name, rel: child_rel, key_prefix: key_prefix.clone(), acc: so_far });
                }
                continue;
            }
            let Some(segment) = decode_segment(&format!("{acc}{name}")) else { continue };
            let sub = format!("{key_prefix}{segment}/");
            if may_match(&sub, prefix) {
                pending.push(Pending { parent, name, rel: child_rel, key_prefix: sub, acc: String::new() });
            }
        }
    }
}

/// Reads an upload's manifest key, if it has a readable manifest.
fn manifest_key(dir: &DirFd) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct KeyOnly {
        key: String,
    }
    let bytes = dir.read("upload.json").ok()?;
    serde_json::from_slice::<KeyOnly>(&bytes).ok().map(|m| m.key)
}

/// The multipart staging directories.
fn uploads(cfd: &Arc<DirFd>, container: &str, prefix: Option<&str>, out: &mut Vec<Leftover>) -> Result<()> {
    let Some(uploads) = cfd.find(&crate::multipart::uploads_components())? else { return Ok(()) };
    let entries = match uploads.entries() {
        Ok(e) => e,
        Err(e) if errors::is_missing(&e) => return Ok(()),
        Err(e) => return Err(errors::io(format!("reading {}", uploads.path().display()), e)),
    };
    for (name, kind) in entries {
        let Ok(name) = name.into_string() else { continue };
        if kind == Kind::Symlink {
            continue;
        }
        let rel = format!("{UPLOADS_DIR}/{name}");
        let staged = |size: u64, newest: Option<i64>| Leftover {
            container: container.to_owned(),
            key: String::new(),
            kind: LeftoverKind::StagedData,
            id: rel.clone(),
            size: Some(size),
            created: newest.and_then(utc),
        };
        if name.starts_with(TEMP_PREFIX) {
            // A claimed staging directory (or a temporary manifest) left by a crash.
            if prefix.is_none() {
                let (newest, size) = if kind == Kind::Dir {
                    dir_activity(&uploads, &name)
                } else {
                    let stamp = uploads.stat(&name).ok().map(|(_, s)| s);
                    (stamp.map(|s| s.mtime_ns), stamp.map_or(0, |s| s.size))
                };
                out.push(staged(size, newest));
            }
            continue;
        }
        if kind != Kind::Dir || is_internal(&name) || !crate::multipart::plausible_id(&name) {
            continue;
        }
        let (newest, size) = dir_activity(&uploads, &name);
        match uploads.open_dir(&name).ok().and_then(|d| manifest_key(&d)) {
            Some(key) if prefix.is_none_or(|p| key.starts_with(p)) => out.push(Leftover {
                container: container.to_owned(),
                key,
                kind: LeftoverKind::MultipartUpload,
                id: name,
                size: Some(size),
                created: newest.and_then(utc),
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

/// Checks a staged-data id: relative, no `.`/`..`, the last component one of the
/// driver's temporary names (or an upload staging directory). Returns its parent
/// components and its name.
fn staged_components(leftover: &Leftover) -> Result<(Vec<&str>, &str)> {
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
    Ok((parents.to_vec(), last))
}

/// Removes one staged-data leftover (blocking): refuses if it was modified after the
/// listing said, or if an upload directory got a manifest since. Its directories are
/// opened one at a time from the container's descriptor, never through a symlink.
pub fn remove_staged(container_dir: &Path, leftover: &Leftover, fsync: bool, fast: bool) -> Result<()> {
    let cfd = DirFd::container(container_dir, &leftover.container, fast)?;
    let (parents, last) = staged_components(leftover)?;
    // chain[i] is the directory parents[..i]; chain[0] the container.
    let mut chain = vec![cfd];
    for c in &parents {
        let Some(at) = chain.last() else { break };
        match at.open_dir(c) {
            Ok(d) => chain.push(Arc::new(d)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return match at.stat(c) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Ok((Kind::Dir, _)) => Err(errors::io(format!("opening {}", at.path().join(c).display()), e)),
                    _ => Err(refuse(leftover, "a symbolic link or file is on its path")),
                };
            }
        }
    }
    let Some(dir) = chain.last().cloned() else { return Ok(()) };
    let path = || dir.path().join(last);
    let (kind, stamp) = match dir.stat(last) {
        Ok(x) => x,
        Err(e) if errors::is_missing(&e) => return Ok(()),
        Err(e) => return Err(errors::io(format!("inspecting {}", path().display()), e)),
    };
    let newest = match kind {
        Kind::Dir => {
            let claimed = leftover.id.starts_with(&format!("{UPLOADS_DIR}/{TEMP_PREFIX}"));
            if !claimed && dir.open_dir(last).ok().and_then(|d| manifest_key(&d)).is_some() {
                return Err(refuse(leftover, "it is a multipart upload now"));
            }
            dir_activity(&dir, last).0.and_then(utc)
        }
        Kind::File => stamp.modified(),
        _ => return Err(refuse(leftover, "not a file or directory")),
    };
    if let (Some(listed), Some(now)) = (leftover.created, newest)
        && now > listed
    {
        return Err(refuse(leftover, "it was written to after it was listed (a writer may still use it)"));
    }
    let removed = if kind == Kind::Dir { dir.remove_tree(last) } else { dir.unlink(last) };
    match removed {
        Ok(()) => {}
        Err(e) if errors::is_missing(&e) => return Ok(()),
        Err(e) => return Err(errors::io(format!("removing {}", path().display()), e)),
    }
    // Directories the write created and left empty go too (never the container itself
    // nor the uploads directory), each from the directory holding it; a concurrent
    // writer makes them again if it needs them.
    let keep = usize::from(parents.first() == Some(&UPLOADS_DIR));
    let mut i = chain.len() - 1;
    loop {
        if i <= keep || crate::index::remove_empty_dir(&chain[i - 1], parents[i - 1], Some(&chain[i])).is_err() {
            if fsync {
                chain[i].sync()?;
            }
            break;
        }
        i -= 1;
    }
    Ok(())
}

/// `list_leftovers`.
pub async fn list_async(
    container_dir: PathBuf,
    container: &str,
    prefix: Option<&str>,
    fast: bool,
) -> Result<Vec<Leftover>> {
    let (container, prefix) = (container.to_owned(), prefix.map(str::to_owned));
    blocking(move || list(&container_dir, &container, prefix.as_deref(), fast)).await
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
            let (owned, options) = (leftover.clone(), d.shared.options);
            blocking(move || remove_staged(&container_dir, &owned, options.fsync, options.fast_paths))
                .await
                .map_err(ctx(&leftover.container, None))
        }
    }
}
