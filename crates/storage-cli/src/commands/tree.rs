//! Tree commands: cp -r / mv -r, rm -r, sync, du, check, listdir.
//!
//! A tree is a local directory or a remote prefix. Both sides are listed into a map of
//! relative path -> (size, MD5 when known, modification time when known); copies then run
//! per file through the transfer engine, `-j` at a time, with byte progress under `-P`.
//!
//! What keeps data safe here: a source must exist (a missing directory, container or
//! prefix is an error, never "nothing to keep"); source and destination may not be the
//! same tree or lie inside each other where that would copy a tree into itself or delete
//! the source; `sync --delete` deletes nothing when any copy failed, and refuses an empty
//! source unless `--allow-empty-source`; `mv -r` removes only sources whose copy succeeded;
//! symbolic links are never skipped silently.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use storage::hash::ContentHasher;
use storage::tree::{self, Filter, ListdirOptions, Order};
use storage::{DriverExt, ErrorKind, HashAlgorithm, ListEntry, ListOptions, ObjectHash, Progress, Transfer};

use super::Ctx;
use super::copy::{MD5_KEY, MTIME_KEY, copy_local, require_container, transfer_options, upload_options};
use crate::args::{self, CompareFlags, TreeFlags};
use crate::location::{Loc, Overlap, Remote, Scope, local_overlap, remote, remote_overlap, resolve, scope};
use crate::output::{human2, size, utc};
use crate::progress::{Bar, FileProgress};
use crate::{CmdResult, Failure};
use storage::DownloadOptions;

/// One file of a tree.
#[derive(Debug, Clone)]
struct Entry {
    size: u64,
    /// The content hash the listing reported (remote objects).
    hash: Option<ObjectHash>,
    /// Local files: their modification time (seconds since the epoch).
    mtime: Option<f64>,
}

/// A tree: a local directory or a remote prefix (always "" or ending with `/`).
enum Side {
    Local(PathBuf),
    Remote(Remote),
}

impl Side {
    fn describe(&self) -> String {
        match self {
            Side::Local(p) => p.display().to_string(),
            Side::Remote(r) => r.display_key(&r.key),
        }
    }
}

/// What a listing found.
#[derive(Default)]
struct Listing {
    files: BTreeMap<String, Entry>,
    /// Symbolic links skipped (without `-L`), relative paths.
    skipped_links: Vec<String>,
}

fn filter(flags: &TreeFlags) -> Result<Filter, Failure> {
    let inc: Vec<&str> = flags.include.iter().map(String::as_str).collect();
    let exc: Vec<&str> = flags.exclude.iter().map(String::as_str).collect();
    Filter::new(&inc, &exc).map_err(Failure::Config)
}

fn folder(key: &str) -> String {
    if key.is_empty() || key.ends_with('/') { key.to_owned() } else { format!("{key}/") }
}

fn side(ctx: &Ctx, arg: &str) -> Result<Side, Failure> {
    match resolve(&ctx.storage, arg)? {
        Loc::Local(p) => Ok(Side::Local(p)),
        Loc::Remote(mut r) => {
            r.key = folder(&r.key);
            Ok(Side::Remote(r))
        }
        Loc::Stdio => Err(Failure::Usage("`-` cannot be a tree".into())),
    }
}

/// How two trees relate, whatever their spelling.
fn overlap(a: &Side, b: &Side) -> Overlap {
    match (a, b) {
        (Side::Local(x), Side::Local(y)) => local_overlap(x, y),
        (Side::Remote(x), Side::Remote(y)) => remote_overlap(x, y),
        // The local driver's files are local paths too.
        (Side::Local(x), Side::Remote(y)) => y.local_path(&y.key).map_or(Overlap::None, |p| local_overlap(x, &p)),
        (Side::Remote(x), Side::Local(y)) => x.local_path(&x.key).map_or(Overlap::None, |p| local_overlap(&p, y)),
    }
}

/// Refuses trees that are the same, or (for `strict`: sync and mv) nested either way; a
/// copy into a subdirectory of its own source is refused always.
fn refuse_overlap(src: &Side, dst: &Side, strict: bool, command: &str) -> CmdResult {
    let why = match overlap(src, dst) {
        Overlap::None => return Ok(()),
        Overlap::Same => "are the same tree",
        Overlap::DestInsideSource => "overlap: the destination lies inside the source",
        Overlap::SourceInsideDest if strict => "overlap: the source lies inside the destination",
        Overlap::SourceInsideDest => return Ok(()),
    };
    Err(Failure::Usage(format!(
        "{} and {} {why}; {command} refuses, nothing was copied or deleted",
        src.describe(),
        dst.describe()
    )))
}

/// The source tree must exist: a local directory, or a remote container (an empty prefix
/// is allowed here; `sync --delete` checks emptiness itself).
async fn require_source(src: &Side) -> CmdResult {
    match src {
        Side::Local(p) => match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(Failure::Usage(format!("{} is a file, not a directory; use cp without -r", p.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Failure::Storage(storage::Error::new(
                ErrorKind::ObjectDoesNotExist,
                format!("the source directory {} does not exist; nothing was copied or deleted", p.display()),
            ))),
            Err(e) => Err(storage::Error::io(format!("reading {}", p.display()), e).into()),
        },
        Side::Remote(r) => {
            if r.driver.container_exists(&r.container).await? {
                Ok(())
            } else {
                Err(Failure::Storage(
                    storage::Error::new(
                        ErrorKind::ContainerDoesNotExist,
                        format!("the source container {:?} does not exist; nothing was copied or deleted", r.container),
                    )
                    .with_container(&r.container),
                ))
            }
        }
    }
}

fn seconds(t: SystemTime) -> Option<f64> {
    t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs_f64())
}

/// Lists a tree: relative path -> entry, filtered. A missing remote container or local
/// directory lists as empty (callers check sources with [`require_source`]).
async fn list(ctx: &Ctx, side: &Side, filter: &Filter, follow: bool) -> storage::Result<Listing> {
    let mut out = Listing::default();
    match side {
        Side::Remote(r) => {
            let opts = ListOptions { prefix: (!r.key.is_empty()).then(|| r.key.clone()), ..Default::default() };
            let mut s = r.driver.list_objects(&r.container, opts);
            while let Some(e) = s.next().await {
                let e = match e {
                    Err(err) if err.kind() == ErrorKind::ContainerDoesNotExist => break,
                    other => other?,
                };
                if let ListEntry::Object(o) = e {
                    let rel = o.name[r.key.len()..].to_owned();
                    if rel.is_empty() || rel.ends_with('/') || !filter.matches(&rel) {
                        continue;
                    }
                    let hash = o.hash.filter(ObjectHash::is_content_hash);
                    out.files.insert(rel, Entry { size: o.size, hash, mtime: None });
                }
            }
        }
        Side::Local(root) => {
            if !root.exists() {
                return Ok(out);
            }
            let mut visited = HashSet::new();
            if let Ok(canon) = root.canonicalize() {
                visited.insert(canon);
            }
            let mut stack = vec![(root.clone(), String::new())];
            while let Some((dir, rel)) = stack.pop() {
                let mut rd = tokio::fs::read_dir(&dir)
                    .await
                    .map_err(|e| storage::Error::io(format!("listing {}", dir.display()), e))?;
                while let Some(e) =
                    rd.next_entry().await.map_err(|e| storage::Error::io(format!("listing {}", dir.display()), e))?
                {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let r = if rel.is_empty() { name } else { format!("{rel}/{name}") };
                    let mut ft = e.file_type().await.map_err(|err| storage::Error::io(format!("reading {r}"), err))?;
                    let mut meta = None;
                    if ft.is_symlink() {
                        if !follow {
                            if filter.matches(&r) {
                                ctx.warn(
                                    "symlink skipped",
                                    &r,
                                    &format!("skipping symbolic link {} (use -L to follow links)", e.path().display()),
                                );
                                out.skipped_links.push(r);
                            }
                            continue;
                        }
                        match tokio::fs::metadata(e.path()).await {
                            Ok(m) => {
                                ft = m.file_type();
                                meta = Some(m);
                            }
                            Err(err) => {
                                ctx.warn(
                                    "broken symlink",
                                    &r,
                                    &format!("skipping broken symbolic link {}: {err}", e.path().display()),
                                );
                                out.skipped_links.push(r);
                                continue;
                            }
                        }
                        if ft.is_dir() {
                            let canon = e.path().canonicalize().unwrap_or_else(|_| e.path());
                            if !visited.insert(canon) {
                                ctx.warn(
                                    "symlink loop",
                                    &r,
                                    &format!("not following {} again: it loops back", e.path().display()),
                                );
                                continue;
                            }
                        }
                    }
                    if ft.is_dir() {
                        if !filter.excludes_dir(&r) {
                            stack.push((e.path(), r));
                        }
                    } else if ft.is_file() && filter.matches(&r) {
                        let m = match meta {
                            Some(m) => m,
                            None => {
                                e.metadata().await.map_err(|err| storage::Error::io(format!("reading {r}"), err))?
                            }
                        };
                        let mtime = m.modified().ok().and_then(seconds);
                        out.files.insert(r, Entry { size: m.len(), hash: None, mtime });
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The content hash of a remote object (reported by the backend, else the MD5 our
/// multipart uploads record in metadata for backends that report none) and its recorded
/// modification time, from a HEAD.
async fn head(r: &Remote, rel: &str) -> storage::Result<(Option<ObjectHash>, Option<f64>)> {
    let o = r.driver.head_object(&r.container, &format!("{}{rel}", r.key)).await?;
    let mtime = o.metadata.get(MTIME_KEY).and_then(|v| v.parse::<f64>().ok());
    let recorded = o.metadata.get(MD5_KEY).filter(|m| storage::hash::is_md5_hex(m)).map(ObjectHash::md5);
    Ok((o.hash.filter(ObjectHash::is_content_hash).or(recorded), mtime))
}

/// The hash a side knows of its file without reading it: listed, else (remote) from a
/// HEAD.
async fn known_hash(side: &Side, rel: &str, listed: &Entry) -> storage::Result<Option<ObjectHash>> {
    match (&listed.hash, side) {
        (Some(h), _) => Ok(Some(h.clone())),
        (None, Side::Local(_)) => Ok(None),
        (None, Side::Remote(r)) => Ok(head(r, rel).await?.0),
    }
}

/// The `algorithm` hash of one side's file: known, else computed by reading it whole.
async fn hash_of(
    side: &Side,
    rel: &str,
    known: Option<ObjectHash>,
    algorithm: HashAlgorithm,
) -> storage::Result<ObjectHash> {
    if let Some(h) = known.filter(|h| h.algorithm == algorithm) {
        return Ok(h);
    }
    match side {
        Side::Local(root) => storage::fsio::hash_file(&root.join(rel), algorithm).await,
        Side::Remote(r) => {
            let Some(mut h) = ContentHasher::for_algorithm(algorithm) else {
                return Err(storage::Error::new(ErrorKind::NotSupported, "only MD5 and CRC32C are computed"));
            };
            let mut body =
                r.driver.get_object(&r.container, &format!("{}{rel}", r.key), &Default::default()).await?.body;
            while let Some(c) = body.next().await {
                h.update(&c?);
            }
            Ok(h.finish())
        }
    }
}

/// Whether two files of equal size hold the same bytes, by content hash: one algorithm
/// both sides already know (no read), else the one a side knows (the other side's file
/// read and hashed with it), else CRC32C of both (read at memory speed).
async fn same_content(src: &Side, dst: &Side, rel: &str, a: &Entry, b: &Entry) -> storage::Result<bool> {
    let (x, y) = (known_hash(src, rel, a).await?, known_hash(dst, rel, b).await?);
    let algorithm = match (&x, &y) {
        (Some(x), Some(y)) if x.algorithm == y.algorithm => return Ok(x.value.eq_ignore_ascii_case(&y.value)),
        // Different algorithms (two backends): the destination's file is read again.
        (Some(h), _) | (None, Some(h)) => h.algorithm,
        (None, None) => HashAlgorithm::Crc32c,
    };
    let (x, y) = (hash_of(src, rel, x, algorithm).await?, hash_of(dst, rel, y, algorithm).await?);
    Ok(x.value.eq_ignore_ascii_case(&y.value))
}

/// The modification time recorded for a file: a local file's own, an object's `mtime`
/// metadata (written by our uploads), via a HEAD.
async fn mtime_of(side: &Side, rel: &str, listed: &Entry) -> storage::Result<Option<f64>> {
    match side {
        Side::Local(_) => Ok(listed.mtime),
        Side::Remote(r) => Ok(head(r, rel).await?.1),
    }
}

/// How `sync` and `check` compare two files of equal size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compare {
    /// Equal sizes are enough.
    SizeOnly,
    /// Equal recorded modification times are enough; else MD5s (rclone's default).
    ModTime,
    /// MD5s, always.
    Checksum,
}

/// Whether `rel` differs between the two trees (both have it).
async fn differs(src: &Side, dst: &Side, rel: &str, a: &Entry, b: &Entry, how: Compare) -> storage::Result<bool> {
    if a.size != b.size {
        return Ok(true);
    }
    if how == Compare::SizeOnly {
        return Ok(false);
    }
    if let (Some(x), Some(y)) = (&a.hash, &b.hash)
        && x.algorithm == y.algorithm
    {
        return Ok(!x.value.eq_ignore_ascii_case(&y.value));
    }
    if how == Compare::ModTime
        && let (Some(x), Some(y)) = (mtime_of(src, rel, a).await?, mtime_of(dst, rel, b).await?)
        && (x - y).abs() < 0.001
    {
        return Ok(false);
    }
    Ok(!same_content(src, dst, rel, a, b).await?)
}

/// Copies one file between trees; returns its size.
async fn copy_one(ctx: &Ctx, src: &Side, dst: &Side, rel: &str, entry: &Entry, bar: &Bar) -> storage::Result<u64> {
    let share = FileProgress::new(bar);
    let progress: Arc<dyn Progress> = share.clone();
    let options = transfer_options(ctx, progress);
    let size = match (src, dst) {
        (Side::Local(root), Side::Remote(r)) => {
            let path = root.join(rel);
            let put = upload_options(ctx, &path, rel, entry.size, r).await?;
            Transfer::with_options(r.driver.clone(), options)
                .upload_file(&path, &r.container, &format!("{}{rel}", r.key), put)
                .await?
                .size
        }
        (Side::Remote(r), Side::Local(root)) => {
            let path = safe_join(root, rel)?;
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|e| storage::Error::io(format!("creating {}", parent.display()), e))?;
            }
            let o = Transfer::with_options(r.driver.clone(), options)
                .download_file(&r.container, &format!("{}{rel}", r.key), &path, &DownloadOptions::overwrite())
                .await?;
            let mtime = o.metadata.get(MTIME_KEY).and_then(|v| v.parse::<f64>().ok());
            if let Some(t) = mtime {
                set_mtime(&path, t);
            }
            o.size
        }
        (Side::Remote(a), Side::Remote(b)) => {
            tree::copy_object_between_with(
                a.driver.as_ref(),
                &a.container,
                &format!("{}{rel}", a.key),
                b.driver.as_ref(),
                &b.container,
                &format!("{}{rel}", b.key),
                &options,
            )
            .await?
            .size
        }
        (Side::Local(a), Side::Local(b)) => {
            let to = safe_join(b, rel)?;
            if let Some(parent) = to.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|e| storage::Error::io(format!("creating {}", parent.display()), e))?;
            }
            let n = copy_local(&a.join(rel), &to).await?;
            if let Some(t) = entry.mtime {
                set_mtime(&to, t);
            }
            n
        }
    };
    share.complete(size);
    Ok(size)
}

/// Sets a downloaded file's modification time (best effort: a failure only costs a
/// re-compare by hash on the next sync).
fn set_mtime(path: &Path, seconds: f64) {
    if !seconds.is_finite() || seconds < 0.0 {
        return;
    }
    let when = UNIX_EPOCH + Duration::from_secs_f64(seconds);
    if let Ok(f) = std::fs::File::options().write(true).open(path) {
        let _ = f.set_modified(when);
    }
}

/// `root/rel`, refusing relative paths that would leave `root`.
fn safe_join(root: &Path, rel: &str) -> storage::Result<PathBuf> {
    let bad = rel.split('/').any(|s| s.is_empty() || s == "." || s == "..") || rel.contains('\0');
    if bad {
        return Err(storage::Error::new(
            ErrorKind::InvalidObjectName,
            format!("{rel:?} cannot be written under {} without leaving it", root.display()),
        ));
    }
    Ok(root.join(rel))
}

async fn delete_one(side: &Side, rel: &str) -> storage::Result<u64> {
    match side {
        Side::Remote(r) => r.driver.delete_object(&r.container, &format!("{}{rel}", r.key)).await.map(|()| 0),
        Side::Local(root) => {
            let p = safe_join(root, rel)?;
            tokio::fs::remove_file(&p)
                .await
                .map(|()| 0)
                .map_err(|e| storage::Error::io(format!("removing {}", p.display()), e))
        }
    }
}

/// What a batch of jobs did: the paths that succeeded (with their sizes) and how many
/// failed (each reported as it happened).
#[derive(Default)]
struct Outcome {
    done: Vec<(String, u64)>,
    failed: usize,
}

/// Runs `jobs` `-j` at a time. Each result is reported as it comes in: `verb path` for a
/// success (with `-v`, or always with `--json`), an error line for a failure; nothing is
/// reported for what did not happen.
async fn run_jobs<F>(ctx: &Ctx, verb: &str, jobs: Vec<(String, F)>) -> Outcome
where
    F: std::future::Future<Output = storage::Result<u64>>,
{
    let mut results = futures::stream::iter(jobs.into_iter().map(|(rel, f)| async move { (rel, f.await) }))
        .buffer_unordered(ctx.transfers);
    let mut outcome = Outcome::default();
    while let Some((rel, r)) = results.next().await {
        match r {
            Ok(n) => {
                report(ctx, verb, &rel, false, None);
                outcome.done.push((rel, n));
            }
            Err(e) => {
                outcome.failed += 1;
                report(ctx, verb, &rel, false, Some(&e));
            }
        }
    }
    outcome
}

fn report(ctx: &Ctx, verb: &str, rel: &str, dry: bool, error: Option<&storage::Error>) {
    match (error, ctx.json) {
        (Some(e), true) => ctx.json_line(&serde_json::json!({
            "action": verb, "path": rel, "ok": false, "error": e.to_string(), "kind": e.kind().as_str(),
        })),
        (Some(e), false) => eprintln!("storage: error: {verb} {rel}: {e}"),
        (None, true) => ctx.json_line(&serde_json::json!({"action": verb, "path": rel, "ok": true, "dry_run": dry})),
        (None, false) if dry => ctx.say(format!("(dry run) {verb} {rel}")),
        (None, false) if ctx.verbose > 0 => ctx.say(format!("{verb} {rel}")),
        (None, false) => {}
    }
}

/// What a sync or a recursive copy will do.
struct Plan {
    copy: Vec<(String, Entry)>,
    delete: Vec<String>,
    bytes: u64,
    /// Source files found (after filters).
    source_files: usize,
    /// Symbolic links skipped in the source and the destination.
    skipped_links: Vec<String>,
}

async fn plan(
    ctx: &Ctx,
    src: &Side,
    dst: &Side,
    flags: &TreeFlags,
    compare: Option<Compare>,
    delete: bool,
) -> Result<Plan, Failure> {
    let filter = filter(flags)?;
    let from = list(ctx, src, &filter, flags.follow_symlinks).await?;
    let to = if compare.is_some() || delete {
        list(ctx, dst, &filter, flags.follow_symlinks).await?
    } else {
        Listing::default()
    };
    // Compare the files both sides have, `-j` at a time.
    let checks = from.files.iter().filter_map(|(rel, e)| {
        let d = to.files.get(rel)?;
        let how = compare?;
        Some(async move { (rel, differs(src, dst, rel, e, d, how).await) })
    });
    let mut changed = HashSet::new();
    let mut compared = futures::stream::iter(checks).buffer_unordered(ctx.transfers);
    while let Some((rel, r)) = compared.next().await {
        if r? {
            changed.insert(rel.clone());
        }
    }
    let mut copy = Vec::new();
    let mut bytes = 0;
    for (rel, e) in &from.files {
        let needed = compare.is_none() || !to.files.contains_key(rel) || changed.contains(rel);
        if needed {
            bytes += e.size;
            copy.push((rel.clone(), e.clone()));
        }
    }
    let delete = if delete {
        to.files.keys().filter(|k| !from.files.contains_key(*k) && !from.skipped_links.contains(k)).cloned().collect()
    } else {
        Vec::new()
    };
    let mut skipped_links = from.skipped_links;
    skipped_links.extend(to.skipped_links);
    Ok(Plan { copy, delete, bytes, source_files: from.files.len(), skipped_links })
}

/// Runs the plan's copies, then (only if every copy succeeded) its deletions.
async fn execute(ctx: &Ctx, src: &Side, dst: &Side, plan: &Plan, verb: &str) -> (Outcome, Outcome) {
    let bar = Bar::new(ctx, Some(plan.bytes), verb);
    // One budget of bytes in flight for every file: as much as one file may hold at `-j`
    // parts of `--part-size` in flight (72 MiB at the defaults), each file reserving its
    // size (up to that). Sized by the same settings the transfers use.
    let budget = storage::MemoryBudget::for_transfer(&transfer_options(ctx, Arc::new(storage::NoProgress)));
    let (budget, bar_ref) = (&budget, &bar);
    let jobs: Vec<_> = plan
        .copy
        .iter()
        .map(|(rel, e)| {
            let job = async move {
                let _held = budget.reserve(e.size).await;
                copy_one(ctx, src, dst, rel, e, bar_ref).await
            };
            (rel.clone(), job)
        })
        .collect();
    let copied = run_jobs(ctx, verb, jobs).await;
    bar.finish();
    if copied.failed > 0 {
        if !plan.delete.is_empty() {
            let msg = format!(
                "{} copies failed, so none of the {} deletions ran (rerun once the copies succeed)",
                copied.failed,
                plan.delete.len()
            );
            ctx.warn("deletions skipped", "", &msg);
        }
        return (copied, Outcome::default());
    }
    let deletes: Vec<_> = plan.delete.iter().map(|rel| (rel.clone(), delete_one(dst, rel))).collect();
    let deleted = run_jobs(ctx, "delete", deletes).await;
    (copied, deleted)
}

fn failures(copied: &Outcome, deleted: &Outcome, planned: usize) -> CmdResult {
    let failed = copied.failed + deleted.failed;
    if failed > 0 {
        return Err(Failure::Storage(storage::Error::new(
            ErrorKind::Backend,
            format!("{failed} of {planned} operations failed (each is reported above); the others completed"),
        )));
    }
    Ok(())
}

fn bytes_of(o: &Outcome) -> u64 {
    o.done.iter().map(|(_, n)| n).sum()
}

/// `cp -r` / `mv -r`.
pub async fn cp_recursive(
    ctx: &Ctx,
    src: &str,
    dst: &str,
    remove_source: bool,
    create_container: bool,
    flags: &TreeFlags,
) -> CmdResult {
    let from = side(ctx, src)?;
    let to = side(ctx, dst)?;
    let command = if remove_source { "mv -r" } else { "cp -r" };
    if let Side::Remote(r) = &from
        && let Some(a) = super::archive::folder_of(r).await?
    {
        let Side::Local(dest) = &to else {
            return Err(Failure::Usage(format!(
                "{src} is a folder inside the archive {:?}; {command} extracts it only to a local directory",
                a.archive
            )));
        };
        if remove_source {
            return Err(Failure::Usage(format!(
                "{src} is inside the archive {:?}; mv -r cannot remove it (use cp -r)",
                a.archive
            )));
        }
        return super::archive::copy_folder(ctx, r, &a, dest, filter(flags)?).await;
    }
    refuse_overlap(&from, &to, remove_source, command)?;
    require_source(&from).await?;
    if let Side::Remote(r) = &to {
        require_container(r, create_container).await?;
    }
    let plan = plan(ctx, &from, &to, flags, None, false).await?;
    let verb = if remove_source { "move" } else { "copy" };
    let (copied, _) = execute(ctx, &from, &to, &plan, verb).await;
    // Only sources whose copy succeeded (and was verified) are removed.
    let mut removed = Outcome::default();
    if remove_source {
        let deletes: Vec<_> = copied.done.iter().map(|(rel, _)| (rel.clone(), delete_one(&from, rel))).collect();
        removed = run_jobs(ctx, "remove source", deletes).await;
    }
    let summary = serde_json::json!({
        "action": if remove_source { "moved" } else { "copied" },
        "objects": copied.done.len(), "bytes": bytes_of(&copied), "failed": copied.failed + removed.failed,
        "skipped_symlinks": plan.skipped_links.len(), "from": from.describe(), "to": to.describe(),
    });
    if ctx.json {
        ctx.json_line(&summary);
    } else {
        let mut line = format!(
            "{} {} files ({} bytes) from {} to {}",
            if remove_source { "moved" } else { "copied" },
            copied.done.len(),
            bytes_of(&copied),
            from.describe(),
            to.describe()
        );
        if copied.failed > 0 {
            line.push_str(&format!(", {} failed", copied.failed));
        }
        if !plan.skipped_links.is_empty() {
            line.push_str(&format!(", {} symbolic links skipped", plan.skipped_links.len()));
        }
        ctx.say(line);
    }
    failures(&copied, &removed, plan.copy.len() + removed.done.len() + removed.failed)
}

/// `sync` settings.
#[derive(Debug, Clone, Copy)]
pub struct SyncOptions {
    /// `--delete`.
    pub delete: bool,
    /// `--allow-empty-source`.
    pub allow_empty_source: bool,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--create-container`.
    pub create_container: bool,
    /// `--size-only` / `--checksum`.
    pub compare: CompareFlags,
}

/// `sync SRC DST`.
pub async fn sync(ctx: &Ctx, src: &str, dst: &str, options: &SyncOptions, flags: &TreeFlags) -> CmdResult {
    let from = side(ctx, src)?;
    let to = side(ctx, dst)?;
    refuse_overlap(&from, &to, true, "sync")?;
    require_source(&from).await?;
    if !options.dry_run
        && let Side::Remote(r) = &to
    {
        require_container(r, options.create_container).await?;
    }
    let how = match (options.compare.size_only, options.compare.checksum) {
        (true, _) => Compare::SizeOnly,
        (_, true) => Compare::Checksum,
        _ => Compare::ModTime,
    };
    let plan = plan(ctx, &from, &to, flags, Some(how), options.delete).await?;
    if options.delete && plan.source_files == 0 && !plan.delete.is_empty() && !options.allow_empty_source {
        return Err(Failure::Usage(format!(
            "the source {} holds no files, so --delete would delete all {} files under {}; check the \
             source's spelling, or pass --allow-empty-source if that is what you want",
            from.describe(),
            plan.delete.len(),
            to.describe()
        )));
    }
    if options.dry_run {
        for (rel, _) in &plan.copy {
            report(ctx, "copy", rel, true, None);
        }
        for rel in &plan.delete {
            report(ctx, "delete", rel, true, None);
        }
        if ctx.json {
            ctx.json_line(&serde_json::json!({
                "action": "sync", "dry_run": true, "copy": plan.copy.len(), "delete": plan.delete.len(), "bytes": plan.bytes,
            }));
        }
        return Ok(());
    }
    let (copied, deleted) = execute(ctx, &from, &to, &plan, "copy").await;
    let skipped_deletes = if copied.failed > 0 { plan.delete.len() } else { 0 };
    if ctx.json {
        ctx.json_line(&serde_json::json!({
            "action": "sync", "copied": copied.done.len(), "deleted": deleted.done.len(), "bytes": bytes_of(&copied),
            "failed": copied.failed + deleted.failed, "deletions_skipped": skipped_deletes,
            "skipped_symlinks": plan.skipped_links.len(), "dry_run": false,
        }));
    } else {
        let mut line = format!(
            "synced: {} copied ({} bytes), {} deleted",
            copied.done.len(),
            bytes_of(&copied),
            deleted.done.len()
        );
        if copied.failed + deleted.failed > 0 {
            line.push_str(&format!(", {} failed", copied.failed + deleted.failed));
        }
        if skipped_deletes > 0 {
            line.push_str(&format!(", {skipped_deletes} deletions skipped because copies failed"));
        }
        if !plan.skipped_links.is_empty() {
            line.push_str(&format!(", {} symbolic links skipped", plan.skipped_links.len()));
        }
        ctx.say(line);
    }
    failures(&copied, &deleted, plan.copy.len() + plan.delete.len())
}

/// `check SRC DST`: same files, sizes and MD5s (or sizes only).
pub async fn check(ctx: &Ctx, src: &str, dst: &str, size_only: bool, flags: &TreeFlags) -> CmdResult {
    let a = side(ctx, src)?;
    let b = side(ctx, dst)?;
    require_source(&a).await?;
    require_source(&b).await?;
    let f = filter(flags)?;
    let (left, right) =
        (list(ctx, &a, &f, flags.follow_symlinks).await?, list(ctx, &b, &f, flags.follow_symlinks).await?);
    let how = if size_only { Compare::SizeOnly } else { Compare::Checksum };
    let mut differences = 0u64;
    let mut note = |what: &str, rel: &str| {
        differences += 1;
        if ctx.json {
            ctx.json_line(&serde_json::json!({"difference": what, "path": rel}));
        } else {
            ctx.say(format!("{what}: {rel}"));
        }
    };
    for rel in &left.skipped_links {
        note("symbolic link not compared (use -L)", rel);
    }
    for rel in &right.skipped_links {
        note("symbolic link not compared (use -L)", rel);
    }
    let (sa, sb) = (&a, &b);
    let both = left.files.iter().filter_map(|(rel, e)| {
        let d = right.files.get(rel)?;
        Some(async move { (rel, differs(sa, sb, rel, e, d, how).await) })
    });
    let mut results: Vec<(&String, storage::Result<bool>)> =
        futures::stream::iter(both).buffer_unordered(ctx.transfers).collect().await;
    results.sort_by(|x, y| x.0.cmp(y.0));
    let sizes_differ = |rel: &str| left.files.get(rel).map(|e| e.size) != right.files.get(rel).map(|e| e.size);
    for (rel, r) in results {
        if r? {
            note(if sizes_differ(rel) { "size differs" } else { "content differs" }, rel);
        }
    }
    for rel in left.files.keys().filter(|k| !right.files.contains_key(*k)) {
        note("only in source", rel);
    }
    for rel in right.files.keys().filter(|k| !left.files.contains_key(*k)) {
        note("only in destination", rel);
    }
    if ctx.json {
        ctx.json_line(&serde_json::json!({"checked": left.files.len(), "differences": differences}));
    } else {
        ctx.say(format!("checked {} files: {differences} differences", left.files.len()));
    }
    if differences > 0 { Err(Failure::Differs) } else { Ok(()) }
}

/// `rm -r` with filters.
pub async fn rm_recursive(ctx: &Ctx, url: &str, include: &[String], exclude: &[String]) -> CmdResult {
    let r = remote(&ctx.storage, url)?;
    let flags = TreeFlags { include: include.to_vec(), exclude: exclude.to_vec(), follow_symlinks: false };
    let options = tree::TreeOptions { concurrency: ctx.transfers, filter: filter(&flags)?, ..Default::default() };
    let report = tree::remove_tree(r.driver.as_ref(), &r.container, &r.key, &options).await?;
    if report.objects == 0 && report.failed.is_empty() && report.filtered == 0 && !r.key.is_empty() {
        // Nothing was under the prefix: a typo, or an object named without -r in mind.
        let name = r.key.trim_end_matches('/');
        if r.driver.object_exists(&r.container, name).await? {
            return Err(Failure::Usage(format!("{url} is an object, not a prefix; use rm without -r")));
        }
        return Err(Failure::Storage(
            storage::Error::new(ErrorKind::ObjectDoesNotExist, format!("nothing is stored under {url}"))
                .with_container(&r.container),
        ));
    }
    for (key, e) in &report.failed {
        eprintln!("storage: error: delete {key}: {e}");
    }
    if ctx.json {
        ctx.json_line(&serde_json::json!({
            "deleted": report.objects, "bytes": report.bytes, "filtered": report.filtered, "failed": report.failed.len(),
        }));
    } else if report.filtered > 0 {
        ctx.say(format!(
            "deleted {} objects under {url} ({} left out by the filters)",
            report.objects, report.filtered
        ));
    } else {
        ctx.say(format!("deleted {} objects under {url}", report.objects));
    }
    if report.failed.is_empty() { Ok(()) } else { Err(Failure::Differs) }
}

/// `du [-s] [-h] [URL]`: the entries under a prefix and their total; with no URL or
/// `scheme://`, every container of the backend and the backend's total.
pub async fn du(ctx: &Ctx, url: Option<&str>, summarize: bool, human: bool) -> CmdResult {
    let r = match scope(&ctx.storage, url)? {
        Scope::Backend { driver, url } => return du_backend(ctx, driver.as_ref(), &url, summarize, human).await,
        Scope::Remote(r) => r,
    };
    let url = r.url.as_str();
    if !summarize {
        let opts = ListdirOptions { order: Order::Name, descending: false, max: None, sizes: true };
        for e in tree::listdir(r.driver.as_ref(), &r.container, &r.key, &opts).await? {
            if ctx.json {
                ctx.json_line(
                    &serde_json::json!({"path": e.key, "bytes": e.size, "objects": e.object_count.unwrap_or(1)}),
                );
            } else {
                ctx.say(format!("{:>12}  {}", size(e.size, human), e.key));
            }
        }
    }
    let prefix = (!r.key.is_empty()).then_some(r.key.as_str());
    let usage = tree::space_used(r.driver.as_ref(), &r.container, prefix).await?;
    if ctx.json {
        ctx.json_line(&serde_json::json!({"path": url, "bytes": usage.bytes, "objects": usage.objects, "total": true}));
    } else {
        ctx.say(format!("{:>12}  {url} ({} objects)", size(usage.bytes, human), usage.objects));
    }
    Ok(())
}

/// `du` of a whole backend: one line per container as it is summed, then the total.
async fn du_backend(ctx: &Ctx, driver: &dyn storage::Driver, url: &str, summarize: bool, human: bool) -> CmdResult {
    let mut total = tree::Usage::default();
    let mut containers = 0u64;
    let mut rows = tree::usage_by_container(driver);
    while let Some(row) = rows.next().await {
        let row = row?;
        total += row.usage;
        containers += 1;
        if summarize {
            continue;
        }
        let path = format!("{url}{}", row.container);
        if ctx.json {
            ctx.json_line(&serde_json::json!({
                "path": path, "container": row.container, "bytes": row.usage.bytes, "objects": row.usage.objects,
            }));
        } else {
            ctx.say(format!("{:>12}  {path}", size(row.usage.bytes, human)));
        }
    }
    if ctx.json {
        ctx.json_line(&serde_json::json!({
            "path": url, "bytes": total.bytes, "objects": total.objects, "containers": containers, "total": true,
        }));
    } else {
        ctx.say(format!(
            "{:>12}  {url} ({} objects in {containers} containers)",
            size(total.bytes, human),
            total.objects
        ));
    }
    Ok(())
}

/// `listdir [URL]`: one level (a backend's containers with no URL or `scheme://`) as a
/// table (header row, names, human sizes, UTC times) or, with `--json`, one object per
/// entry with exact sizes and RFC 3339 times.
pub async fn listdir(
    ctx: &Ctx,
    url: Option<&str>,
    order: args::Order,
    desc: bool,
    max: Option<usize>,
    sizes: bool,
) -> CmdResult {
    let (driver, container, key) = match scope(&ctx.storage, url)? {
        Scope::Backend { driver, .. } => (driver, String::new(), String::new()),
        Scope::Remote(r) => (r.driver, r.container, r.key),
    };
    let order = match order {
        args::Order::Name => Order::Name,
        args::Order::Size => Order::Size,
        args::Order::Time => Order::Time,
    };
    let opts = ListdirOptions { order, descending: desc, max, sizes };
    let entries = tree::listdir(driver.as_ref(), &container, &key, &opts).await?;
    if ctx.json {
        for e in &entries {
            let kind = match (e.is_container, e.is_prefix) {
                (true, _) => "container",
                (false, true) => "folder",
                (false, false) => "object",
            };
            let holder = if e.is_container { &e.key } else { &container };
            ctx.json_line(&serde_json::json!({
                "type": kind, "name": e.name, "container": holder, "key": e.key, "prefix": e.is_prefix,
                "bytes": e.object_count.map(|_| e.size), "objects": e.object_count,
                "last_modified": e.last_modified.map(|t| t.to_rfc3339()),
            }));
        }
        return Ok(());
    }
    // Unsized folders and containers (no object count) show `-`, not a size of 0.
    let rows: Vec<[String; 3]> = entries
        .iter()
        .map(|e| {
            let bytes = e.object_count.map_or_else(|| "-".to_owned(), |_| human2(e.size));
            let when = e.last_modified.as_ref().map_or_else(|| "-".to_owned(), utc);
            [e.name.clone(), bytes, when]
        })
        .collect();
    let header = ["NAME".to_owned(), "SIZE".to_owned(), "MODIFIED (UTC)".to_owned()];
    let width =
        |i: usize| rows.iter().chain(std::iter::once(&header)).map(|r| r[i].chars().count()).max().unwrap_or_default();
    let (name_w, size_w) = (width(0), width(1));
    for [name, bytes, when] in std::iter::once(&header).chain(&rows) {
        let pad = name_w.saturating_sub(name.chars().count());
        ctx.say(format!("{name}{:pad$}  {bytes:>size_w$}  {when}", ""));
    }
    Ok(())
}
