//! `cleanup`: find and remove what interrupted writes left behind (unfinished multipart
//! uploads, staged data of killed writers), which `ls`, `du` and `rm -r` never see.
//!
//! Given a local directory instead of a URL, it looks for what the tool itself leaves
//! there when killed: download and copy temporary files (`.NAME.storage-tmp-*`, beside
//! their destination), ZIP extraction scratch directories (`.storage-zip-*`) and the
//! scratch directories of extracting downloads (`.storage-extract-*`).
//!
//! Only leftovers older than `--older-than` (default 24h) are removed, so uploads still
//! running elsewhere are spared; `--older-than 0` removes everything found, including
//! leftovers of unknown age. `--dry-run` removes nothing. Exit 1 if a removal failed.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use std::path::Path;

use storage::{Driver, Error, ErrorKind, Leftover, LeftoverKind};

use super::Ctx;
use crate::location::{Loc, resolve};
use crate::output::human;
use crate::{CmdResult, Failure};

/// What happened to one leftover.
enum Action {
    Removed,
    WouldRemove,
    Kept,
    Failed(Error),
}

impl Action {
    fn as_str(&self) -> &'static str {
        match self {
            Action::Removed => "removed",
            Action::WouldRemove => "would-remove",
            Action::Kept => "kept",
            Action::Failed(_) => "failed",
        }
    }
}

/// `3d4h`, `5m12s`, `40s`.
fn age_text(age: Option<Duration>) -> String {
    let Some(age) = age else { return "unknown".into() };
    let s = age.as_secs();
    let (d, h, m, sec) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m, sec) {
        (0, 0, 0, _) => format!("{sec}s"),
        (0, 0, _, 0) => format!("{m}m"),
        (0, 0, _, _) => format!("{m}m{sec}s"),
        (0, _, 0, _) => format!("{h}h"),
        (0, _, _, _) => format!("{h}h{m}m"),
        (_, 0, _, _) => format!("{d}d"),
        _ => format!("{d}d{h}h"),
    }
}

fn leftover_json(l: &Leftover, now: DateTime<Utc>, action: &Action) -> serde_json::Value {
    let mut v = serde_json::json!({
        "container": l.container,
        "key": l.key,
        "kind": l.kind.as_str(),
        "id": l.id,
        "size": l.size,
        "created": l.created.map(|c| c.to_rfc3339()),
        "age_secs": l.age(now).map(|a| a.as_secs()),
        "action": action.as_str(),
    });
    if let (Action::Failed(e), Some(obj)) = (action, v.as_object_mut()) {
        obj.insert("error".into(), serde_json::Value::String(e.to_string()));
    }
    v
}

/// `cleanup URL [--older-than DURATION] [--dry-run]`.
pub async fn cleanup(ctx: &Ctx, url: &str, older_than: &str, dry_run: bool) -> CmdResult {
    let min_age = super::basic::parse_duration(older_than)?;
    let r = match resolve(&ctx.storage, url)? {
        Loc::Remote(r) => r,
        Loc::Local(dir) => return cleanup_local(ctx, &dir, min_age, dry_run).await,
        Loc::Stdio => return Err(Failure::Usage("cleanup takes a URL or a local directory, not `-`".into())),
    };
    let prefix = (!r.key.is_empty()).then_some(r.key.as_str());
    let found = r.driver.list_leftovers(&r.container, prefix).await.map_err(|e| {
        if e.kind() == ErrorKind::NotSupported {
            Failure::Storage(Error::new(
                ErrorKind::NotSupported,
                format!(
                    "{url}: this backend cannot list what interrupted uploads left behind \
                     (unfinished multipart uploads): {}",
                    e.message()
                ),
            ))
        } else {
            Failure::Storage(e)
        }
    })?;
    let now = Utc::now();
    let driver: &dyn Driver = r.driver.as_ref();
    let outcomes: Vec<(Leftover, Action)> = futures::stream::iter(found)
        .map(|l| async move {
            let action = if !l.is_older_than(min_age, now) {
                Action::Kept
            } else if dry_run {
                Action::WouldRemove
            } else {
                match driver.remove_leftover(&l).await {
                    Ok(()) => Action::Removed,
                    Err(e) => Action::Failed(e),
                }
            };
            (l, action)
        })
        .buffered(ctx.transfers.max(1))
        .collect()
        .await;

    report(ctx, &outcomes, now, min_age, dry_run, |l| r.display_key(&l.key))
}

/// Prints what happened to each leftover and a summary; exit 1 if a removal failed.
fn report(
    ctx: &Ctx,
    outcomes: &[(Leftover, Action)],
    now: DateTime<Utc>,
    min_age: Duration,
    dry_run: bool,
    place: impl Fn(&Leftover) -> String,
) -> CmdResult {
    let (mut removed, mut kept, mut failed, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    for (l, action) in outcomes {
        match action {
            Action::Removed | Action::WouldRemove => {
                removed += 1;
                bytes += l.size.unwrap_or(0);
            }
            Action::Kept => kept += 1,
            Action::Failed(_) => failed += 1,
        }
        if ctx.json {
            ctx.json_line(&leftover_json(l, now, action));
            continue;
        }
        let size = l.size.map_or_else(|| "?".to_owned(), human);
        let line = format!(
            "{:<12} {:<16} {:>10} {:>8}  {}  (id {})",
            action.as_str(),
            l.kind.as_str(),
            size,
            age_text(l.age(now)),
            place(l),
            l.id
        );
        match action {
            Action::Failed(e) => eprintln!("storage: error: removing {}: {e}", place(l)),
            _ => ctx.say(line),
        }
    }
    if ctx.json {
        ctx.json_line(&serde_json::json!({"summary": {
            "found": outcomes.len(),
            "removed": if dry_run { 0 } else { removed },
            "would_remove": if dry_run { removed } else { 0 },
            "kept": kept,
            "failed": failed,
            "bytes": bytes,
            "older_than_secs": min_age.as_secs(),
            "dry_run": dry_run,
        }}));
    } else {
        let verb = if dry_run { "would remove" } else { "removed" };
        ctx.say(format!(
            "{} leftover(s) found; {verb} {removed} ({}); kept {kept} younger than {}; {failed} failed",
            outcomes.len(),
            human(bytes),
            age_text(Some(min_age)),
        ));
    }
    if failed > 0 { Err(Failure::Differs) } else { Ok(()) }
}

/// What a killed `storage` process leaves under `dir`: temporary files of downloads and
/// local copies (`.NAME.storage-tmp-*`), ZIP scratch directories (`.storage-zip-*`) and
/// the scratch directories of extracting downloads (`.storage-extract-*`). Symbolic links are not followed.
fn local_leftovers(dir: &Path) -> storage::Result<Vec<Leftover>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| Error::io(format!("listing {}", d.display()), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(format!("listing {}", d.display()), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            let temp_file = meta.is_file() && name.starts_with('.') && name.contains(".storage-tmp-");
            let scratch_dir =
                meta.is_dir() && (name.starts_with(".storage-zip-") || name.starts_with(storage::ops::SCRATCH_PREFIX));
            if temp_file || scratch_dir {
                let rel = path.strip_prefix(dir).unwrap_or(&path).display().to_string();
                found.push(Leftover {
                    container: dir.display().to_string(),
                    key: rel,
                    kind: LeftoverKind::StagedData,
                    id: path.display().to_string(),
                    size: temp_file.then_some(meta.len()),
                    created: meta.modified().ok().map(DateTime::<Utc>::from),
                });
            } else if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    Ok(found)
}

/// Removes one local leftover, unless it was written to since it was listed.
fn remove_local(l: &Leftover) -> storage::Result<()> {
    let path = Path::new(&l.id);
    let meta = std::fs::symlink_metadata(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    if meta.modified().ok().map(DateTime::<Utc>::from) != l.created {
        return Err(Error::new(
            ErrorKind::PreconditionFailed,
            format!("{} was written to since it was listed; it may belong to a running transfer", path.display()),
        ));
    }
    let result = if meta.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
    result.map_err(|e| Error::io(format!("removing {}", path.display()), e))
}

/// `cleanup DIR`: the local directory's leftovers.
async fn cleanup_local(ctx: &Ctx, dir: &Path, min_age: Duration, dry_run: bool) -> CmdResult {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(Failure::Usage(format!("{} is not a directory", dir.display()))),
        Err(e) => return Err(Error::io(format!("reading {}", dir.display()), e).into()),
    }
    let dir_owned = dir.to_path_buf();
    let found = tokio::task::spawn_blocking(move || local_leftovers(&dir_owned))
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("walking {} failed: {e}", dir.display())))??;
    let now = Utc::now();
    let outcomes: Vec<(Leftover, Action)> = found
        .into_iter()
        .map(|l| {
            let action = if !l.is_older_than(min_age, now) {
                Action::Kept
            } else if dry_run {
                Action::WouldRemove
            } else {
                match remove_local(&l) {
                    Ok(()) => Action::Removed,
                    Err(e) => Action::Failed(e),
                }
            };
            (l, action)
        })
        .collect();
    report(ctx, &outcomes, now, min_age, dry_run, |l| l.id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_durations() {
        assert_eq!(age_text(None), "unknown");
        assert_eq!(age_text(Some(Duration::from_secs(40))), "40s");
        assert_eq!(age_text(Some(Duration::from_secs(312))), "5m12s");
        assert_eq!(age_text(Some(Duration::from_secs(3 * 3600 + 120))), "3h2m");
        assert_eq!(age_text(Some(Duration::from_secs(2 * 86400 + 3600))), "2d1h");
        assert_eq!(age_text(Some(Duration::from_secs(86400))), "1d");
        assert_eq!(age_text(Some(Duration::from_secs(7200))), "2h");
        assert_eq!(age_text(Some(Duration::from_secs(0))), "0s");
    }
}
