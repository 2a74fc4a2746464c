//! Folder uploads and downloads between a local directory and a container.

use std::path::{Path, PathBuf};

use futures::stream;

use super::{Outcome, TreeOptions, TreeReport, content_type_for, drive, folder, objects_under};
use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};
use crate::object::Object;
use crate::ops::{DownloadOptions, DriverExt, MemoryBudget, TransferOptions, UploadOptions};
use crate::options::PutOptions;

/// A regular file found under the root.
#[derive(Debug)]
struct LocalFile {
    /// Path relative to the root, `/`-separated.
    rel: String,
    /// Where to read it (for a symbolic link, its resolved target inside the tree).
    path: PathBuf,
    /// Its size when it was found.
    size: u64,
}

#[derive(Debug, Default)]
struct Walk {
    files: Vec<LocalFile>,
    refused: Vec<(String, Error)>,
    filtered: u64,
}

/// Uploads every regular file under `local_dir` to `container`, at `prefix` + its path
/// relative to `local_dir` (with `/` separators), `options.concurrency` files at a time.
///
/// - Each file goes through [`DriverExt::upload_object`] with hash verification, with a
///   content type guessed from its extension ([`content_type_for`]).
/// - Memory: the files in flight share one [`MemoryBudget`] of what one transfer may hold
///   (`part_size x (concurrency + 1)` of the default [`TransferOptions`], 72 MiB): each
///   reserves its size (up to that) first, so large files take turns.
/// - The filter sees the relative path; an excluded directory is not descended into.
/// - Symbolic links are never followed out of the tree: a link to a regular file inside
///   `local_dir` is uploaded (with the target's data, under the link's name); a link
///   leading outside is refused (an `InvalidObjectName` entry in the report); a broken
///   link is an `Io` entry; links to directories are not descended into. Other special
///   files (FIFOs, sockets, devices) and empty directories are left alone, as are names
///   that are not UTF-8 (reported as `InvalidObjectName`).
/// - Without `overwrite`, a file whose key already exists is skipped.
///
/// Fails as a whole only when `local_dir` cannot be read.
pub async fn upload_dir<D: Driver + ?Sized>(
    driver: &D,
    local_dir: &Path,
    container: &str,
    prefix: &str,
    options: &TreeOptions,
) -> Result<TreeReport> {
    let prefix = folder(prefix);
    let root = tokio::fs::canonicalize(local_dir)
        .await
        .map_err(|e| Error::io(format!("opening the directory {}", local_dir.display()), e))?;
    let meta =
        tokio::fs::metadata(&root).await.map_err(|e| Error::io(format!("reading {}", local_dir.display()), e))?;
    if !meta.is_dir() {
        return Err(Error::new(ErrorKind::Io, format!("{} is not a directory", local_dir.display())));
    }
    let filter = options.filter.clone();
    let walk = tokio::task::spawn_blocking(move || walk(&root, &filter))
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("walking {} failed: {e}", local_dir.display())))??;
    let report = TreeReport { filtered: walk.filtered, failed: walk.refused, ..TreeReport::default() };
    let max_key = driver.info().limits.max_key_length;
    let files = stream::iter(walk.files.into_iter().map(Ok));
    let budget = MemoryBudget::for_transfer(&TransferOptions::default());
    let (budget, prefix) = (&budget, &prefix);
    drive(files, options.concurrency, report, |file| async move {
        let _held = budget.reserve(file.size).await;
        upload_one(driver, container, prefix, max_key, file, options).await
    })
    .await
}

async fn upload_one<D: Driver + ?Sized>(
    driver: &D,
    container: &str,
    prefix: &str,
    max_key: usize,
    file: LocalFile,
    options: &TreeOptions,
) -> Outcome {
    let key = format!("{prefix}{}", file.rel);
    if let Err(e) = crate::validate::object_key(&key, max_key) {
        return Outcome::Failed(key.clone(), e.or_context(&driver.info().name, Some(container), Some(&key)));
    }
    if !options.overwrite {
        match driver.head_object(container, &key).await {
            Ok(_) => return Outcome::Skipped,
            Err(e) if e.kind() == ErrorKind::ObjectDoesNotExist => {}
            Err(e) => return Outcome::Failed(key, e),
        }
    }
    if options.dry_run {
        return Outcome::Done(file.size);
    }
    let put = PutOptions { content_type: content_type_for(&file.rel).map(str::to_owned), ..PutOptions::default() };
    match driver.upload_object(&file.path, container, &key, &UploadOptions::put(put)).await {
        Ok(o) => Outcome::Done(o.size),
        Err(e) => Outcome::Failed(key, e),
    }
}

/// Finds the files to upload under `root` (canonical), without following symbolic links
/// to directories nor any link leading outside `root`.
fn walk(root: &Path, filter: &super::Filter) -> Result<Walk> {
    let mut out = Walk::default();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel_dir)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if rel_dir.is_empty() => return Err(Error::io(format!("listing {}", dir.display()), e)),
            Err(e) => {
                out.refused.push((rel_dir.clone(), Error::io(format!("listing {}", dir.display()), e)));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    out.refused.push((rel_dir.clone(), Error::io(format!("listing {}", dir.display()), e)));
                    continue;
                }
            };
            let path = entry.path();
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str() else {
                let shown = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
                let e = Error::new(
                    ErrorKind::InvalidObjectName,
                    format!("{} has a name that is not UTF-8, so it cannot become a key", path.display()),
                );
                out.refused.push((shown, e));
                continue;
            };
            let rel = if rel_dir.is_empty() { name.to_owned() } else { format!("{rel_dir}/{name}") };
            let file_type = match entry.file_type() {
                Ok(t) => t,
                Err(e) => {
                    out.refused.push((rel, Error::io(format!("reading {}", path.display()), e)));
                    continue;
                }
            };
            if file_type.is_dir() {
                if !filter.excludes_dir(&rel) {
                    stack.push((path, rel));
                }
                continue;
            }
            if !(file_type.is_file() || file_type.is_symlink()) {
                continue;
            }
            if !filter.matches(&rel) {
                out.filtered += 1;
                continue;
            }
            let target = if file_type.is_symlink() {
                match std::fs::canonicalize(&path) {
                    Err(e) => {
                        let e = Error::io(format!("the symbolic link {} is broken", path.display()), e);
                        out.refused.push((rel, e));
                        continue;
                    }
                    Ok(target) if !target.starts_with(root) => {
                        let e = Error::new(
                            ErrorKind::InvalidObjectName,
                            format!(
                                "the symbolic link {} leads outside {} (to {}); it was not followed",
                                path.display(),
                                root.display(),
                                target.display()
                            ),
                        );
                        out.refused.push((rel, e));
                        continue;
                    }
                    Ok(target) => target,
                }
            } else {
                path
            };
            match std::fs::metadata(&target) {
                Ok(m) if m.is_file() => out.files.push(LocalFile { rel, path: target, size: m.len() }),
                Ok(_) => {}
                Err(e) => out.refused.push((rel, Error::io(format!("reading {}", target.display()), e))),
            }
        }
    }
    out.files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

/// Downloads every object under `prefix` into `local_dir` (created if missing): the key
/// without the prefix becomes the path under `local_dir`, `options.concurrency` objects
/// at a time, each through the engine behind [`DriverExt::download_object`] (temporary
/// file, size and MD5 check, rename into place; a directory in the way is refused).
///
/// - A key that would not stay inside `local_dir` is refused with `InvalidObjectName` in
///   the report: `..` or `.` segments, a leading `/`, empty segments (`a//b`), NUL (and
///   `\` or `:` on Windows). A path through an existing symbolic link is refused too,
///   so a link planted in `local_dir` cannot redirect a download outside it.
/// - A key ending in `/` with no data (a "directory marker") becomes a directory and is
///   counted as skipped; with data, it is refused.
/// - Without `overwrite`, an object whose local path exists is skipped.
///
/// Fails as a whole when the listing fails (a missing container, say) or `local_dir`
/// cannot be created.
pub async fn download_dir<D: Driver + ?Sized>(
    driver: &D,
    container: &str,
    prefix: &str,
    local_dir: &Path,
    options: &TreeOptions,
) -> Result<TreeReport> {
    let prefix = folder(prefix);
    if !options.dry_run {
        tokio::fs::create_dir_all(local_dir)
            .await
            .map_err(|e| Error::io(format!("creating the directory {}", local_dir.display()), e))?;
    }
    let root = match tokio::fs::canonicalize(local_dir).await {
        Ok(root) => root,
        Err(e) if options.dry_run && e.kind() == std::io::ErrorKind::NotFound => local_dir.to_path_buf(),
        Err(e) => return Err(Error::io(format!("opening the directory {}", local_dir.display()), e)),
    };
    let listing = objects_under(driver, container, &prefix);
    let budget = MemoryBudget::for_transfer(&TransferOptions::default());
    let (budget, prefix, root) = (&budget, &prefix, &root);
    drive(listing, options.concurrency, TreeReport::default(), |o| async move {
        let _held = budget.reserve(o.size).await;
        download_one(driver, container, prefix, root, o, options).await
    })
    .await
}

async fn download_one<D: Driver + ?Sized>(
    driver: &D,
    container: &str,
    prefix: &str,
    root: &Path,
    object: Object,
    options: &TreeOptions,
) -> Outcome {
    let key = object.name.as_str();
    let Some(rel) = key.strip_prefix(prefix) else {
        let e = Error::new(ErrorKind::Backend, format!("the listing under {prefix:?} returned {key:?}"));
        return Outcome::Failed(key.to_owned(), e.with_object(container, key));
    };
    if rel.is_empty() {
        // The folder's own marker.
        return Outcome::Skipped;
    }
    let marker = rel.ends_with('/');
    if !options.filter.matches(rel.strip_suffix('/').unwrap_or(rel)) {
        return Outcome::Filtered;
    }
    let segments = match local_segments(rel) {
        Ok(s) => s,
        Err(why) => {
            let e = Error::new(
                ErrorKind::InvalidObjectName,
                format!("the key {key:?} cannot be downloaded into {}: {why}", root.display()),
            );
            return Outcome::Failed(key.to_owned(), e.with_object(container, key));
        }
    };
    let refuse =
        |e: Error| Outcome::Failed(key.to_owned(), e.or_context(&driver.info().name, Some(container), Some(key)));
    if marker {
        if object.size > 0 {
            return refuse(Error::new(
                ErrorKind::InvalidObjectName,
                format!("the key {key:?} ends with '/' but holds {} bytes, so it cannot be a file", object.size),
            ));
        }
        if !options.dry_run
            && let Err(e) = ensure_dirs(root, &segments).await
        {
            return refuse(e);
        }
        return Outcome::Skipped;
    }
    let (dirs, _) = segments.split_at(segments.len().saturating_sub(1));
    let dest = segments.iter().fold(root.to_path_buf(), |p, s| p.join(s));
    if !options.overwrite && tokio::fs::symlink_metadata(&dest).await.is_ok() {
        return Outcome::Skipped;
    }
    if options.dry_run {
        return Outcome::Done(object.size);
    }
    if let Err(e) = ensure_dirs(root, dirs).await {
        return refuse(e);
    }
    // A directory where this key's file goes (keys `a` and `a/b` both exist) is refused by
    // the engine, never written into under another name.
    let download = DownloadOptions { overwrite_existing: options.overwrite, ..DownloadOptions::default() };
    match crate::ops::download_with_defaults(driver, container, key, &dest, &download, false).await {
        Ok(o) => Outcome::Done(o.size),
        Err(e) => Outcome::Failed(key.to_owned(), e),
    }
}

/// The path segments of a key relative to the download root, or why it would escape.
fn local_segments(rel: &str) -> std::result::Result<Vec<&str>, &'static str> {
    if rel.contains('\0') {
        return Err("it contains a NUL character");
    }
    if rel.starts_with('/') {
        return Err("it would be an absolute path");
    }
    let body = rel.strip_suffix('/').unwrap_or(rel);
    let segments: Vec<&str> = body.split('/').collect();
    for s in &segments {
        if s.is_empty() {
            return Err("it has an empty path segment ('//')");
        }
        if *s == "." || *s == ".." {
            return Err("it has a '.' or '..' path segment");
        }
        if cfg!(windows) && s.contains(['\\', ':']) {
            return Err("it contains '\\' or ':', which Windows paths cannot hold in a file name");
        }
    }
    Ok(segments)
}

/// Creates the directories `segments` under `root`, one level at a time, refusing to go
/// through a symbolic link or a file.
async fn ensure_dirs(root: &Path, segments: &[&str]) -> Result<()> {
    let mut cur = root.to_path_buf();
    for s in segments {
        cur.push(s);
        let mut created = false;
        loop {
            match tokio::fs::symlink_metadata(&cur).await {
                Ok(m) if m.is_dir() => break,
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(Error::new(
                        ErrorKind::InvalidObjectName,
                        format!("{} is a symbolic link; a download never goes through one", cur.display()),
                    ));
                }
                Ok(_) => {
                    return Err(Error::new(ErrorKind::Io, format!("{} exists and is not a directory", cur.display())));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !created => {
                    match tokio::fs::create_dir(&cur).await {
                        Ok(()) => break,
                        // Another download created it meanwhile: check what it is.
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => created = true,
                        Err(e) => return Err(Error::io(format!("creating the directory {}", cur.display()), e)),
                    }
                }
                Err(e) => return Err(Error::io(format!("reading {}", cur.display()), e)),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn tree_local_segments_refuse_escapes() {
        assert_eq!(local_segments("a/b.txt").unwrap(), ["a", "b.txt"]);
        assert_eq!(local_segments("dir/").unwrap(), ["dir"]);
        assert_eq!(local_segments("..data").unwrap(), ["..data"]);
        for bad in ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a/.", "a\0b", "..", "//"] {
            assert!(local_segments(bad).is_err(), "{bad:?}");
        }
    }
}
