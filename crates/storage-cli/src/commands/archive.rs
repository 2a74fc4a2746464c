//! Paths that cross into a ZIP archive, for `cat`, `cp` (to a local file, `-` or any
//! backend) and
//! `cp -r` (a folder inside an archive): `s3://b/runs/1/output.zip/logs/stdout.txt`.
//!
//! Resolution is the library's ([`storage::zip::resolve`]): an object with the exact key
//! always wins; otherwise the longest prefix ending in `.zip` that is an existing object
//! is the archive and the rest is the path inside it. Only keys that cross a `.zip/` cost
//! the extra lookups. Extraction streams (memory bounded whatever the member's size),
//! writes each file to a temporary file renamed into place once its size and CRC-32 are
//! verified, and refuses hostile names, links and zip bombs as `storage zip get` does.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use storage::zip::{self, ArchivePath, ExtractOptions, ZipEntry};
use storage::{ErrorKind, Filter, PutOptions, Transfer};

use super::Ctx;
use super::copy::{require_container, transfer_options};
use crate::location::{Remote, basename, same_file};
use crate::progress::Bar;
use crate::{CmdResult, Failure};

/// A path inside an archive.
pub struct InArchive {
    /// The archive's key.
    pub archive: String,
    /// The member or folder inside it (`""`: the whole archive).
    pub member: String,
}

/// `Some` when `r.key` names a path inside an existing archive and no object has that
/// exact key; `None` otherwise (the caller then treats the key as an object, and reports
/// a missing one as it always does).
pub async fn member_of(r: &Remote) -> Result<Option<InArchive>, Failure> {
    if zip::archive_candidates(&r.key).is_empty() {
        return Ok(None);
    }
    match zip::resolve(r.driver.as_ref(), &r.container, &r.key).await {
        Ok(ArchivePath::Member { archive, member }) => Ok(Some(InArchive { archive, member })),
        Ok(ArchivePath::Object(_)) => Ok(None),
        Err(e) if e.kind() == ErrorKind::ObjectDoesNotExist => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `Some((archive, folder))` when the tree source `r` (a prefix, ending in `/`) lies inside
/// an archive: the URL as given crosses a `.zip/` (`out.zip/logs`, `out.zip/`, not
/// `out.zip`) and no object lies under the prefix.
pub async fn folder_of(r: &Remote) -> Result<Option<InArchive>, Failure> {
    let given = if r.url.ends_with('/') { r.key.as_str() } else { r.key.trim_end_matches('/') };
    if zip::archive_candidates(given).is_empty() {
        return Ok(None);
    }
    let found = zip::resolve_folder(r.driver.as_ref(), &r.container, &r.key).await?;
    Ok(found.map(|(archive, member)| InArchive { archive, member }))
}

fn folder_refusal(url: &str, a: &InArchive, command: &str) -> Failure {
    Failure::Usage(format!("{url} is a folder inside the archive {:?}; use {command} -r", a.archive))
}

/// The file member `a.member`, or why not: a folder is a usage error, a missing member
/// "not found".
async fn file_member(r: &Remote, a: &InArchive, command: &str) -> Result<ZipEntry, Failure> {
    let entries = zip::list(r.driver.as_ref(), &r.container, &a.archive).await?;
    if let Some(e) = entries.iter().rev().find(|e| e.name == a.member && !e.is_dir) {
        return Ok(e.clone());
    }
    let folder = format!("{}/", a.member.trim_end_matches('/'));
    if a.member.is_empty() || entries.iter().any(|e| e.name.starts_with(&folder)) {
        return Err(folder_refusal(&r.url, a, command));
    }
    Err(Failure::Storage(
        storage::Error::new(
            ErrorKind::ObjectDoesNotExist,
            format!("the archive {:?} has no member {:?}", a.archive, a.member),
        )
        .with_container(&r.container)
        .with_key(&a.archive),
    ))
}

/// `cat` (and `cp URL -`) of a member: its content, streamed to stdout.
pub async fn cat_member(r: &Remote, a: &InArchive, ranged: bool) -> CmdResult {
    if ranged {
        return Err(Failure::Usage(format!(
            "--offset, --count and --tail read stored bytes; {} is a member of the archive {:?}: cat it whole",
            r.url, a.archive
        )));
    }
    let entry = file_member(r, a, "cp").await?;
    let mut out = tokio::io::stdout();
    match zip::extract(r.driver.as_ref(), &r.container, &a.archive, &entry, &mut out).await {
        Ok(_) => Ok(()),
        Err(e) if is_broken_pipe(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn is_broken_pipe(e: &storage::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::BrokenPipe;
        }
        source = s.source();
    }
    false
}

/// Why `cp` / `mv` of `a` cannot go ahead, if it cannot: a move would have to rewrite
/// the archive, a folder needs `-r`.
fn copyable_member(r: &Remote, a: &InArchive, remove_source: bool) -> Result<(), Failure> {
    if remove_source {
        return Err(Failure::Usage(format!(
            "{} is a member of the archive {:?}; mv cannot remove it from the archive (use cp)",
            r.url, a.archive
        )));
    }
    if a.member.is_empty() || a.member.ends_with('/') {
        return Err(folder_refusal(&r.url, a, "cp"));
    }
    Ok(())
}

/// `cp URL PATH` of a member: extracted to `dest` (into it when it is a directory or ends
/// in `/`) through a temporary file renamed into place. Returns the path written and the
/// member's size.
pub async fn download_member(
    r: &Remote,
    a: &InArchive,
    dest: &Path,
    remove_source: bool,
) -> Result<(PathBuf, u64), Failure> {
    copyable_member(r, a, remove_source)?;
    let into = dest.is_dir() || dest.to_string_lossy().ends_with('/');
    let target = if into { dest.join(basename(&a.member)) } else { dest.to_path_buf() };
    if target.is_dir() {
        return Err(Failure::Usage(format!("{} is a directory; name the file to write", target.display())));
    }
    if r.local_path(&a.archive).is_some_and(|p| same_file(&p, &target)) {
        return Err(Failure::Usage(format!(
            "{} is the archive {} itself; nothing was extracted",
            target.display(),
            r.url
        )));
    }
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| storage::Error::io(format!("creating {}", parent.display()), e))?;
    }
    match zip::extract_to_file(r.driver.as_ref(), &r.container, &a.archive, &a.member, &target).await {
        Ok(entry) => Ok((target, entry.uncompressed_size)),
        Err(e) if e.kind() == ErrorKind::ObjectDoesNotExist && e.message().contains("it is a folder") => {
            Err(folder_refusal(&r.url, a, "cp"))
        }
        Err(e) => Err(e.into()),
    }
}

/// `cp URL URL2` of a member: extracted straight into the object `key` of `dest` (any
/// backend), streamed with bounded memory; the upload ends only once the member's size and
/// CRC-32 are verified, so a corrupt member fails the copy and writes nothing. The archive
/// itself as the destination is refused (nothing is read or written).
pub async fn upload_member(
    ctx: &Ctx,
    r: &Remote,
    a: &InArchive,
    dest: &Remote,
    key: &str,
    remove_source: bool,
    create_container: bool,
) -> Result<(storage::Object, u64), Failure> {
    copyable_member(r, a, remove_source)?;
    if r.same_container(dest) && key == a.archive {
        return Err(Failure::Usage(format!(
            "{} is the archive {} itself; nothing was extracted",
            dest.display_key(key),
            r.url
        )));
    }
    let entry = file_member(r, a, "cp").await?;
    require_container(dest, create_container).await?;
    let bar = Bar::new(ctx, Some(entry.uncompressed_size), basename(key));
    let mut put =
        PutOptions { content_type: storage::tree::content_type_for(key).map(str::to_owned), ..Default::default() };
    ctx.write.apply(&mut put);
    let stream = zip::member_stream(r.driver.clone(), &r.container, &a.archive, &entry);
    let o = Transfer::with_options(dest.driver.clone(), transfer_options(ctx, Arc::new(bar.clone())))
        .upload_stream(stream, &dest.container, key, put)
        .await?;
    bar.finish();
    Ok((o, entry.uncompressed_size))
}

/// `cp -r URL DIR` of a folder inside an archive: its members extracted under `dest`
/// relative to the folder (as `cp -r` copies a prefix), filtered by --include/--exclude.
pub async fn copy_folder(ctx: &Ctx, r: &Remote, a: &InArchive, dest: &Path, filter: Filter) -> CmdResult {
    let filter = (!filter.is_all()).then(|| Arc::new(move |p: &str| filter.matches(p)) as zip::MemberFilter);
    let options = ExtractOptions { relative: true, filter, ..ExtractOptions::default() };
    let written =
        zip::extract_to_dir_opts(r.driver.as_ref(), &r.container, &a.archive, &a.member, dest, &options).await?;
    let files: Vec<&PathBuf> = written.iter().filter(|p| p.is_file()).collect();
    let bytes: u64 = files.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    let (from, to) = (r.url.as_str(), dest.display().to_string());
    if ctx.json {
        ctx.json_line(&serde_json::json!({
            "action": "copied", "objects": files.len(), "bytes": bytes, "failed": 0, "skipped_symlinks": 0,
            "from": from, "to": to, "archive": a.archive, "member": a.member,
        }));
    } else {
        ctx.say(format!(
            "copied {} files ({bytes} bytes) from {from} to {to} (extracted from {})",
            files.len(),
            a.archive
        ));
    }
    Ok(())
}
