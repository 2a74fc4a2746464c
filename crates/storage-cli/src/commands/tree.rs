//! Tree commands: cp -r / mv -r, rm -r, sync, du, check, listdir.
//!
//! A tree is a local directory or a remote prefix. Both sides are listed into a map of
//! relative path -> (size, MD5 when known); copies then run per file through the transfer
//! engine, `-j` at a time, with byte progress on stderr under `-P`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use storage::tree::{self, Filter, ListdirOptions, Order};
use storage::{ListEntry, ListOptions, Progress, PutOptions, Transfer, TransferOptions};

use super::Ctx;
use super::copy::ensure_container;
use crate::args;
use crate::location::{Loc, Remote, remote, resolve};
use crate::output::size;
use crate::progress::Bar;
use crate::{CmdResult, Failure};

/// One file of a tree.
#[derive(Debug, Clone)]
struct Entry {
    size: u64,
    md5: Option<String>,
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
            Side::Remote(r) => format!("{}/{}", r.container, r.key),
        }
    }
}

fn filter(ctx: &Ctx) -> Result<Filter, Failure> {
    let inc: Vec<&str> = ctx.include.iter().map(String::as_str).collect();
    let exc: Vec<&str> = ctx.exclude.iter().map(String::as_str).collect();
    Ok(Filter::new(&inc, &exc)?)
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

/// Lists a tree: relative path -> entry, filtered.
async fn list(side: &Side, filter: &Filter) -> storage::Result<BTreeMap<String, Entry>> {
    let mut out = BTreeMap::new();
    match side {
        Side::Remote(r) => {
            let opts = ListOptions { prefix: (!r.key.is_empty()).then(|| r.key.clone()), ..Default::default() };
            let mut s = r.driver.list_objects(&r.container, opts);
            while let Some(e) = s.next().await {
                let e = match e {
                    // A container that does not exist yet holds nothing (sync creates it).
                    Err(err) if err.kind() == storage::ErrorKind::ContainerDoesNotExist => break,
                    other => other?,
                };
                if let ListEntry::Object(o) = e {
                    let rel = o.name[r.key.len()..].to_owned();
                    if rel.is_empty() || rel.ends_with('/') || !filter.matches(&rel) {
                        continue;
                    }
                    out.insert(rel, Entry { size: o.size, md5: o.md5().map(str::to_owned) });
                }
            }
        }
        Side::Local(root) => {
            if !root.exists() {
                return Ok(out);
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
                    let ft = e.file_type().await.map_err(|err| storage::Error::io(format!("reading {r}"), err))?;
                    if ft.is_dir() {
                        if !filter.excludes_dir(&r) {
                            stack.push((e.path(), r));
                        }
                    } else if ft.is_file() && filter.matches(&r) {
                        let len =
                            e.metadata().await.map_err(|err| storage::Error::io(format!("reading {r}"), err))?.len();
                        out.insert(r, Entry { size: len, md5: None });
                    }
                }
            }
        }
    }
    Ok(out)
}

/// MD5 of one side's file, reading it when the listing did not give one.
async fn md5_of(side: &Side, rel: &str, listed: &Entry) -> storage::Result<String> {
    if let Some(m) = &listed.md5 {
        return Ok(m.clone());
    }
    match side {
        Side::Local(root) => storage::fsio::md5_file(&root.join(rel)).await,
        Side::Remote(r) => {
            let mut body =
                r.driver.get_object(&r.container, &format!("{}{rel}", r.key), &Default::default()).await?.body;
            let mut h = storage::hash::Md5Hasher::new();
            while let Some(c) = body.next().await {
                h.update(&c?);
            }
            Ok(h.finish_hex())
        }
    }
}

/// Copies one file between trees.
async fn copy_one(ctx: &Ctx, src: &Side, dst: &Side, rel: &str, bar: &Bar) -> storage::Result<()> {
    let progress: Arc<dyn Progress> = Arc::new(storage::Nested(Arc::new(bar.clone())));
    let options = TransferOptions { concurrency: ctx.transfers, ..TransferOptions::default() }.with_progress(progress);
    match (src, dst) {
        (Side::Local(root), Side::Remote(r)) => {
            let path = root.join(rel);
            let content_type = tree::content_type_for(rel).map(str::to_owned);
            let put = PutOptions { content_type, ..Default::default() };
            Transfer::with_options(r.driver.clone(), options)
                .upload_file(&path, &r.container, &format!("{}{rel}", r.key), put)
                .await?;
        }
        (Side::Remote(r), Side::Local(root)) => {
            let path = safe_join(root, rel)?;
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|e| storage::Error::io(format!("creating {}", parent.display()), e))?;
            }
            Transfer::with_options(r.driver.clone(), options)
                .download_file(&r.container, &format!("{}{rel}", r.key), &path, true, true)
                .await?;
        }
        (Side::Remote(a), Side::Remote(b)) => {
            let o = tree::copy_object_between(
                a.driver.as_ref(),
                &a.container,
                &format!("{}{rel}", a.key),
                b.driver.as_ref(),
                &b.container,
                &format!("{}{rel}", b.key),
            )
            .await?;
            bar.inc(o.size);
        }
        (Side::Local(a), Side::Local(b)) => {
            let to = safe_join(b, rel)?;
            if let Some(parent) = to.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|e| storage::Error::io(format!("creating {}", parent.display()), e))?;
            }
            let n =
                tokio::fs::copy(a.join(rel), &to).await.map_err(|e| storage::Error::io(format!("copying {rel}"), e))?;
            bar.inc(n);
        }
    }
    Ok(())
}

/// `root/rel`, refusing relative paths that would leave `root`.
fn safe_join(root: &Path, rel: &str) -> storage::Result<PathBuf> {
    let bad = rel.split('/').any(|s| s.is_empty() || s == "." || s == "..") || rel.contains('\0');
    if bad {
        return Err(storage::Error::new(
            storage::ErrorKind::InvalidObjectName,
            format!("{rel:?} cannot be written under {} without leaving it", root.display()),
        ));
    }
    Ok(root.join(rel))
}

async fn delete_one(side: &Side, rel: &str) -> storage::Result<()> {
    match side {
        Side::Remote(r) => r.driver.delete_object(&r.container, &format!("{}{rel}", r.key)).await,
        Side::Local(root) => {
            let p = safe_join(root, rel)?;
            tokio::fs::remove_file(&p).await.map_err(|e| storage::Error::io(format!("removing {}", p.display()), e))
        }
    }
}

/// Runs `jobs` `-j` at a time; returns how many failed (each reported on stderr).
async fn run_jobs<F>(ctx: &Ctx, what: &str, jobs: Vec<(String, F)>) -> usize
where
    F: std::future::Future<Output = storage::Result<()>>,
{
    let results: Vec<(String, storage::Result<()>)> =
        futures::stream::iter(jobs.into_iter().map(|(rel, f)| async move { (rel, f.await) }))
            .buffer_unordered(ctx.transfers)
            .collect()
            .await;
    let mut failed = 0;
    for (rel, r) in results {
        if let Err(e) = r {
            failed += 1;
            eprintln!("storage: error: {what} {rel}: {e}");
        }
    }
    failed
}

/// What a sync or a recursive copy will do.
struct Plan {
    copy: Vec<String>,
    delete: Vec<String>,
    bytes: u64,
}

async fn plan(src: &Side, dst: &Side, filter: &Filter, only_changed: bool, delete: bool) -> storage::Result<Plan> {
    let from = list(src, filter).await?;
    let to = if only_changed || delete { list(dst, filter).await? } else { BTreeMap::new() };
    let mut copy = Vec::new();
    let mut bytes = 0;
    for (rel, e) in &from {
        let needed = match to.get(rel) {
            None => true,
            Some(_) if !only_changed => true,
            Some(d) if d.size != e.size => true,
            Some(d) => match (&e.md5, &d.md5) {
                (Some(a), Some(b)) => a != b,
                _ => md5_of(src, rel, e).await? != md5_of(dst, rel, d).await?,
            },
        };
        if needed {
            bytes += e.size;
            copy.push(rel.clone());
        }
    }
    let delete = if delete { to.keys().filter(|k| !from.contains_key(*k)).cloned().collect() } else { Vec::new() };
    Ok(Plan { copy, delete, bytes })
}

async fn execute(
    ctx: &Ctx,
    src: &Side,
    dst: &Side,
    plan: &Plan,
    dry_run: bool,
    verb: &str,
) -> Result<(u64, u64), Failure> {
    if dry_run {
        for rel in &plan.copy {
            report(ctx, verb, rel, true);
        }
        for rel in &plan.delete {
            report(ctx, "delete", rel, true);
        }
        return Ok((0, 0));
    }
    if let Side::Remote(r) = dst {
        ensure_container(r).await?;
    }
    let bar = Bar::new(ctx.progress, Some(plan.bytes), verb);
    let jobs: Vec<_> = plan.copy.iter().map(|rel| (rel.clone(), copy_one(ctx, src, dst, rel, &bar))).collect();
    let failed = run_jobs(ctx, verb, jobs).await;
    let deletes: Vec<_> = plan.delete.iter().map(|rel| (rel.clone(), delete_one(dst, rel))).collect();
    let failed_deletes = run_jobs(ctx, "delete", deletes).await;
    bar.finish();
    if !ctx.quiet {
        for rel in &plan.copy {
            report(ctx, verb, rel, false);
        }
        for rel in &plan.delete {
            report(ctx, "delete", rel, false);
        }
    }
    if failed + failed_deletes > 0 {
        return Err(Failure::Storage(storage::Error::new(
            storage::ErrorKind::Backend,
            format!(
                "{} of {} operations failed (see above)",
                failed + failed_deletes,
                plan.copy.len() + plan.delete.len()
            ),
        )));
    }
    Ok((plan.copy.len() as u64, plan.delete.len() as u64))
}

fn report(ctx: &Ctx, verb: &str, rel: &str, dry: bool) {
    if ctx.json {
        ctx.json_line(&serde_json::json!({"action": verb, "path": rel, "dry_run": dry}));
    } else if dry {
        ctx.say(format!("(dry run) {verb} {rel}"));
    } else if ctx.verbose > 0 {
        ctx.say(format!("{verb} {rel}"));
    }
}

/// `cp -r` / `mv -r`.
pub async fn cp_recursive(ctx: &Ctx, src: &str, dst: &str, remove_source: bool) -> CmdResult {
    let from = side(ctx, src)?;
    let to = side(ctx, dst)?;
    if let Side::Local(p) = &from
        && !p.is_dir()
    {
        return Err(Failure::Usage(format!("{} is not a directory", p.display())));
    }
    let f = filter(ctx)?;
    let plan = plan(&from, &to, &f, false, false).await?;
    let verb = if remove_source { "move" } else { "copy" };
    let (copied, _) = execute(ctx, &from, &to, &plan, false, verb).await?;
    if remove_source {
        let deletes: Vec<_> = plan.copy.iter().map(|rel| (rel.clone(), delete_one(&from, rel))).collect();
        if run_jobs(ctx, "remove source", deletes).await > 0 {
            return Err(Failure::Storage(storage::Error::new(
                storage::ErrorKind::Backend,
                "some sources could not be removed",
            )));
        }
    }
    summary(ctx, if remove_source { "moved" } else { "copied" }, copied, plan.bytes, &from, &to);
    Ok(())
}

fn summary(ctx: &Ctx, verb: &str, objects: u64, bytes: u64, from: &Side, to: &Side) {
    if ctx.json {
        ctx.json_line(&serde_json::json!({"action": verb, "objects": objects, "bytes": bytes, "from": from.describe(), "to": to.describe()}));
    } else {
        ctx.say(format!("{verb} {objects} files ({bytes} bytes) from {} to {}", from.describe(), to.describe()));
    }
}

/// `sync SRC DST [--delete] [--dry-run]`.
pub async fn sync(ctx: &Ctx, src: &str, dst: &str, delete: bool, dry_run: bool) -> CmdResult {
    let from = side(ctx, src)?;
    let to = side(ctx, dst)?;
    let f = filter(ctx)?;
    let plan = plan(&from, &to, &f, true, delete).await?;
    let (copied, deleted) = execute(ctx, &from, &to, &plan, dry_run, "copy").await?;
    if ctx.json {
        ctx.json_line(&serde_json::json!({"action": "sync", "copied": copied, "deleted": deleted, "bytes": plan.bytes, "dry_run": dry_run}));
    } else if !dry_run {
        ctx.say(format!("synced: {copied} copied ({} bytes), {deleted} deleted", plan.bytes));
    }
    Ok(())
}

/// `check SRC DST`: same files, sizes and MD5s.
pub async fn check(ctx: &Ctx, src: &str, dst: &str) -> CmdResult {
    let a = side(ctx, src)?;
    let b = side(ctx, dst)?;
    let f = filter(ctx)?;
    let (left, right) = (list(&a, &f).await?, list(&b, &f).await?);
    let mut differences = 0u64;
    let mut note = |what: &str, rel: &str| {
        differences += 1;
        if ctx.json {
            ctx.json_line(&serde_json::json!({"difference": what, "path": rel}));
        } else {
            ctx.say(format!("{what}: {rel}"));
        }
    };
    for (rel, e) in &left {
        match right.get(rel) {
            None => note("only in source", rel),
            Some(d) if d.size != e.size => note("size differs", rel),
            Some(d) => {
                if md5_of(&a, rel, e).await? != md5_of(&b, rel, d).await? {
                    note("content differs", rel);
                }
            }
        }
    }
    for rel in right.keys().filter(|k| !left.contains_key(*k)) {
        note("only in destination", rel);
    }
    if ctx.json {
        ctx.json_line(&serde_json::json!({"checked": left.len(), "differences": differences}));
    } else {
        ctx.say(format!("checked {} files: {differences} differences", left.len()));
    }
    if differences > 0 { Err(Failure::Differs) } else { Ok(()) }
}

/// `rm -r` with filters.
pub async fn rm_recursive(ctx: &Ctx, url: &str) -> CmdResult {
    let r = remote(&ctx.storage, url)?;
    let options = tree::TreeOptions { concurrency: ctx.transfers, filter: filter(ctx)?, ..Default::default() };
    let report = tree::remove_tree(r.driver.as_ref(), &r.container, &r.key, &options).await?;
    for (key, e) in &report.failed {
        eprintln!("storage: error: delete {key}: {e}");
    }
    if ctx.json {
        ctx.json_line(
            &serde_json::json!({"deleted": report.objects, "bytes": report.bytes, "failed": report.failed.len()}),
        );
    } else {
        ctx.say(format!("deleted {} objects under {url}", report.objects));
    }
    if report.failed.is_empty() { Ok(()) } else { Err(Failure::Differs) }
}

/// `du [-s] [-H]`.
pub async fn du(ctx: &Ctx, url: &str, summarize: bool, human: bool) -> CmdResult {
    let r = remote(&ctx.storage, url)?;
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

/// `listdir`.
pub async fn listdir(ctx: &Ctx, url: &str, order: args::Order, desc: bool, max: Option<usize>) -> CmdResult {
    let r = remote(&ctx.storage, url)?;
    let order = match order {
        args::Order::Name => Order::Name,
        args::Order::Size => Order::Size,
        args::Order::Time => Order::Time,
    };
    let opts = ListdirOptions { order, descending: desc, max, sizes: true };
    for e in tree::listdir(r.driver.as_ref(), &r.container, &r.key, &opts).await? {
        if ctx.json {
            ctx.json_line(&serde_json::json!({
                "name": e.name, "key": e.key, "prefix": e.is_prefix, "bytes": e.size,
                "objects": e.object_count, "last_modified": e.last_modified.map(|t| t.to_rfc3339()),
            }));
        } else {
            let when = e.last_modified.map(|t| t.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default();
            let kind = if e.is_prefix { "DIR" } else { "" };
            ctx.say(format!("{:>12}  {when:<16}  {kind:<3}  {}", e.size, e.name));
        }
    }
    Ok(())
}
