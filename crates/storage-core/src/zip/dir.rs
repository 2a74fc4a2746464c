//! Extracting a member, or a folder of members, into a local directory: every name is
//! checked before anything is written, each file goes to a temporary file renamed into
//! place, and no path ever goes through a symbolic link.

use std::path::{Component, Path, PathBuf};

use tokio::io::BufWriter;

use super::format::{LOCAL_LEN, RawEntry};
use super::names::member_path;
use super::read::{Archive, check_entry, extract_entry};
use super::{ZipEntry, ZipLimits, bomb, unsupported};
use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};
use crate::fsio::temp_path_beside;

/// The members `member` selects: `""` is the whole archive; a name ending in `/` is a
/// folder; a file's exact name is that file; otherwise a name with a directory entry or
/// members under `name/` is a folder. Also returns the folder the selection is relative
/// to: the folder itself, or a file's parent (`a/b.txt` -> `a/`).
pub(super) fn select<'a>(entries: &'a [RawEntry], member: &str) -> Result<(Vec<&'a RawEntry>, String)> {
    let under =
        |prefix: &str| -> Vec<&'a RawEntry> { entries.iter().filter(|e| e.entry.name.starts_with(prefix)).collect() };
    let (chosen, base) = if member.is_empty() || member.ends_with('/') {
        (under(member), member.to_owned())
    } else if let Some(file) = entries.iter().rev().find(|e| e.entry.name == member && !e.entry.is_dir) {
        let parent = member.rfind('/').map(|i| &member[..=i]).unwrap_or("");
        (vec![file], parent.to_owned())
    } else {
        let folder = format!("{member}/");
        (under(&folder), folder)
    };
    if chosen.is_empty() {
        return Err(Error::new(
            ErrorKind::ObjectDoesNotExist,
            format!("the archive has no member or folder {member:?}"),
        ));
    }
    Ok((chosen, base))
}

/// Where [`extract_all`] puts members, and which.
pub(super) struct Layout<'f> {
    /// Paths relative to the selected folder (`cp -r` of a folder), not the archive root
    /// (`unzip -d`).
    pub relative: bool,
    /// Only files whose path (as laid out) it accepts; directory entries are then skipped.
    pub filter: Option<&'f (dyn Fn(&str) -> bool + Send + Sync)>,
}

/// One member to write, with its checked relative path.
struct Planned<'a> {
    raw: &'a RawEntry,
    rel: PathBuf,
}

/// Checks every selected member before anything is written: names, symbolic links,
/// methods, sizes and ratios, the total size.
fn plan<'a>(chosen: &[&'a RawEntry], base: &str, layout: &Layout<'_>, limits: &ZipLimits) -> Result<Vec<Planned<'a>>> {
    let mut out = Vec::with_capacity(chosen.len());
    let mut total = 0u64;
    let base_path = member_path(base)?;
    for raw in chosen {
        let e = &raw.entry;
        let mut rel = member_path(&e.name)?;
        if layout.relative {
            rel = rel.strip_prefix(&base_path).map(Path::to_path_buf).unwrap_or(rel);
            if e.is_dir && rel.as_os_str().is_empty() {
                continue; // the selected folder itself: the destination
            }
        }
        if let Some(accept) = layout.filter {
            let text = rel.to_string_lossy().replace('\\', "/");
            if e.is_dir || !accept(&text) {
                continue;
            }
        }
        if raw.is_symlink() {
            return Err(unsupported(format!(
                "member {:?} is a symbolic link; links are never extracted (they could point out of the destination)",
                e.name
            )));
        }
        if e.is_dir {
            out.push(Planned { raw, rel });
            continue;
        }
        if rel.as_os_str().is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidObjectName,
                format!("member {:?} cannot be extracted: its name has no file name", e.name),
            ));
        }
        if raw.is_encrypted() {
            return Err(unsupported(format!("member {:?} is encrypted; encrypted members are not supported", e.name)));
        }
        check_entry(e, limits)?;
        total = total.saturating_add(e.uncompressed_size);
        if total > limits.max_total_size {
            return Err(bomb(format!(
                "the selected members declare more than {} bytes in total (ZipLimits::max_total_size)",
                limits.max_total_size
            )));
        }
        out.push(Planned { raw, rel });
    }
    check_overlap(&out)?;
    Ok(out)
}

/// Refuses file members whose local header and data overlap another's: the trick of
/// non-recursive zip bombs (many entries sharing one compressed kernel, each within the
/// ratio limit) and never produced by an honest archiver. A member spans at least its
/// 30-byte header and its compressed data, a lower bound that cannot flag an honest
/// archive.
fn check_overlap(planned: &[Planned<'_>]) -> Result<()> {
    let mut spans: Vec<(u64, u64, &str)> = planned
        .iter()
        .filter(|p| !p.raw.entry.is_dir)
        .map(|p| {
            let e = &p.raw.entry;
            let end = e.local_header_offset.saturating_add(LOCAL_LEN as u64).saturating_add(e.compressed_size);
            (e.local_header_offset, end, e.name.as_str())
        })
        .collect();
    spans.sort_unstable_by_key(|s| s.0);
    for pair in spans.windows(2) {
        if let [(_, end, a), (start, _, b)] = pair
            && end > start
        {
            return Err(bomb(format!(
                "members {a:?} and {b:?} overlap in the archive (a zip bomb's trick); nothing was extracted"
            )));
        }
    }
    Ok(())
}

/// Creates `dest/rel` one component at a time, refusing to go through a symbolic link or
/// anything that is not a directory.
async fn ensure_dir(dest: &Path, rel: &Path, member: &str) -> Result<PathBuf> {
    let mut cur = dest.to_path_buf();
    for comp in rel.components() {
        let Component::Normal(part) = comp else {
            return Err(Error::new(
                ErrorKind::InvalidObjectName,
                format!("member {member:?}: unexpected path component"),
            ));
        };
        cur.push(part);
        match tokio::fs::symlink_metadata(&cur).await {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::new(
                    ErrorKind::InvalidObjectName,
                    format!("member {member:?} would be written through the symbolic link {}", cur.display()),
                ));
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!("member {member:?}: {} exists and is not a directory", cur.display()),
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match tokio::fs::create_dir(&cur).await {
                Ok(()) => {}
                // Created concurrently: accept it only if it is a real directory.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let m = tokio::fs::symlink_metadata(&cur)
                        .await
                        .map_err(|e| Error::io(format!("checking {}", cur.display()), e))?;
                    if !m.is_dir() || m.file_type().is_symlink() {
                        return Err(Error::new(
                            ErrorKind::Io,
                            format!("member {member:?}: {} appeared and is not a directory", cur.display()),
                        ));
                    }
                }
                Err(e) => return Err(Error::io(format!("creating {}", cur.display()), e)),
            },
            Err(e) => return Err(Error::io(format!("checking {}", cur.display()), e)),
        }
    }
    Ok(cur)
}

/// Extracts one file member to `dest/rel` through a temporary file beside it.
async fn write_file<D: Driver + ?Sized>(
    driver: &D,
    archive: &Archive<'_>,
    p: &Planned<'_>,
    dest: &Path,
    limits: &ZipLimits,
) -> Result<PathBuf> {
    let name = p.raw.entry.name.as_str();
    let parent_rel = p.rel.parent().unwrap_or_else(|| Path::new(""));
    let parent = ensure_dir(dest, parent_rel, name).await?;
    let Some(file_name) = p.rel.file_name() else {
        return Err(Error::new(ErrorKind::InvalidObjectName, format!("member {name:?} has no file name")));
    };
    let target = parent.join(file_name);
    write_to(driver, archive, &p.raw.entry, &target, limits).await?;
    Ok(target)
}

/// Removes a temporary file when dropped unless disarmed: an extraction that fails or
/// whose future is dropped (Ctrl-C) leaves nothing behind.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Extracts one file member to `target` (an existing directory's entry): into a new
/// temporary file beside it, synced, then renamed over `target` once the size and CRC-32
/// are verified. Refuses a `target` that is a directory.
pub(super) async fn write_to<D: Driver + ?Sized>(
    driver: &D,
    archive: &Archive<'_>,
    entry: &ZipEntry,
    target: &Path,
    limits: &ZipLimits,
) -> Result<()> {
    let name = entry.name.as_str();
    if let Ok(m) = tokio::fs::symlink_metadata(target).await
        && m.is_dir()
    {
        return Err(Error::new(
            ErrorKind::Io,
            format!("member {name:?}: {} exists and is a directory", target.display()),
        ));
    }
    let tmp = temp_path_beside(target);
    // create_new: never opens an existing file, nor follows a link planted at that name.
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .await
        .map_err(|e| Error::io(format!("creating {}", tmp.display()), e))?;
    let mut guard = TempGuard(Some(tmp.clone()));
    let mut w = BufWriter::with_capacity(256 * 1024, file);
    extract_entry(driver, archive, entry, limits, &mut w).await?;
    let file = w.into_inner();
    file.sync_all().await.map_err(|e| Error::io(format!("syncing {}", tmp.display()), e))?;
    drop(file);
    tokio::fs::rename(&tmp, target)
        .await
        .map_err(|e| Error::io(format!("moving member {name:?} into {}", target.display()), e))?;
    guard.0 = None;
    Ok(())
}

/// Extracts the one file member named `member` to `target`, after the checks
/// [`extract_all`] makes (name, link, encryption, method, sizes).
pub(super) async fn extract_file<D: Driver + ?Sized>(
    driver: &D,
    archive: &Archive<'_>,
    entries: &[RawEntry],
    member: &str,
    target: &Path,
    limits: &ZipLimits,
) -> Result<ZipEntry> {
    let Some(raw) = entries.iter().rev().find(|e| e.entry.name == member && !e.entry.is_dir) else {
        let folder = format!("{}/", member.trim_end_matches('/'));
        let why = if entries.iter().any(|e| e.entry.name.starts_with(&folder)) {
            "it is a folder"
        } else {
            "there is no such member"
        };
        return Err(Error::new(
            ErrorKind::ObjectDoesNotExist,
            format!("the archive has no file member {member:?}: {why}"),
        ));
    };
    let layout = Layout { relative: false, filter: None };
    plan(&[raw], "", &layout, limits)?;
    write_to(driver, archive, &raw.entry, target, limits).await?;
    Ok(raw.entry.clone())
}

/// Extracts the selected members under `dest` (created if missing), in archive order.
pub(super) async fn extract_all<D: Driver + ?Sized>(
    driver: &D,
    archive: &Archive<'_>,
    entries: &[RawEntry],
    member: &str,
    dest: &Path,
    layout: &Layout<'_>,
    limits: &ZipLimits,
) -> Result<Vec<PathBuf>> {
    let (chosen, base) = select(entries, member)?;
    let planned = plan(&chosen, &base, layout, limits)?;
    tokio::fs::create_dir_all(dest).await.map_err(|e| Error::io(format!("creating {}", dest.display()), e))?;
    let mut written = Vec::with_capacity(planned.len());
    for p in &planned {
        if p.raw.entry.is_dir {
            let dir = ensure_dir(dest, &p.rel, &p.raw.entry.name).await?;
            written.push(dir);
        } else {
            written.push(write_file(driver, archive, p, dest, limits).await?);
        }
    }
    Ok(written)
}
