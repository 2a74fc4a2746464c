//! `zip ls`, `zip range` and `zip get`: read archives in place, fetching only the bytes
//! needed.

use std::path::PathBuf;

use storage::zip::{self, ArchivePath, ZipFileInfo, ZipMethod};

use super::Ctx;
use crate::args::ZipCommand;
use crate::location::{Remote, basename, object, remote};
use crate::{CmdResult, Failure};

fn method_name(m: ZipMethod) -> String {
    match m {
        ZipMethod::Stored => "stored".to_owned(),
        ZipMethod::Deflate => "deflate".to_owned(),
        ZipMethod::Other(c) => format!("method-{c}"),
    }
}

/// The archive a URL names and the path inside it: `s3://b/out.zip` is the archive,
/// `s3://b/out.zip/logs/` the folder `logs/` inside it (an object with that exact key
/// wins, as everywhere).
async fn archive_and_path(url: &str, r: &Remote) -> Result<(String, String), Failure> {
    if r.key.is_empty() {
        return Err(Failure::Usage(format!("{url} names a container, not an archive")));
    }
    if zip::archive_candidates(&r.key).is_empty() {
        return Ok((r.key.clone(), String::new()));
    }
    match zip::resolve(r.driver.as_ref(), &r.container, &r.key).await? {
        ArchivePath::Object(_) => Ok((r.key.clone(), String::new())),
        ArchivePath::Member { archive, member } => Ok((archive, member)),
    }
}

fn member_json(f: &ZipFileInfo) -> serde_json::Value {
    serde_json::json!({
        "name": f.name, "dir": f.is_dir, "size": f.uncompressed_size, "compressed_size": f.compressed_size,
        "range_start": f.range_start, "range_end": f.range_end,
        "method": method_name(f.method), "compress_type": f.method.code(),
        "modified": f.modified.map(|t| t.to_iso8601()),
        "modified_zone": f.modified.map(|t| if t.is_utc() { "utc" } else { "unknown (MS-DOS local time)" }),
        "created": f.created.map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        "crc32": format!("{:08x}", f.crc32), "offset": f.local_header_offset,
    })
}

/// `zip ls URL [--path INSIDE] [-r]`.
async fn ls(ctx: &Ctx, url: &str, path: Option<&str>, recursive: bool) -> CmdResult {
    let r = remote(&ctx.storage, url)?;
    let (archive, inside) = archive_and_path(url, &r).await?;
    let inside = match (inside.trim_end_matches('/'), path) {
        ("", p) => p.unwrap_or_default().to_owned(),
        (i, Some(p)) if !p.is_empty() => format!("{i}/{p}"),
        (_, _) => inside.clone(),
    };
    let info = zip::get_zip_contents(r.driver.as_ref(), &r.container, &archive, &inside, recursive).await?;
    for f in &info.files {
        if ctx.json {
            ctx.json_line(&member_json(f));
            continue;
        }
        let when = f.modified.map(|t| t.to_iso8601()).unwrap_or_default();
        let method = method_name(f.method);
        ctx.say(format!("{:>12}  {:>12}  {method:<8}  {when:<20}  {}", f.uncompressed_size, f.compressed_size, f.name));
    }
    // Folders with no entry of their own (implied by member names).
    for folder in info.folders.iter().filter(|d| !info.files.iter().any(|f| &f.name == *d)) {
        if ctx.json {
            ctx.json_line(&serde_json::json!({"name": folder, "dir": true, "implied": true}));
        } else {
            ctx.say(format!("{:>12}  {:>12}  {:<8}  {:<20}  {folder}", "", "", "DIR", ""));
        }
    }
    Ok(())
}

/// `zip range URL [MEMBER]`: `START END` (END exclusive).
async fn range(ctx: &Ctx, url: &str, member: Option<&str>) -> CmdResult {
    let r = remote(&ctx.storage, url)?;
    let (archive, member) = match member {
        Some(m) => (object(&ctx.storage, url)?.key, m.to_owned()),
        None => match archive_and_path(url, &r).await? {
            (_, inside) if inside.is_empty() => {
                return Err(Failure::Usage(format!(
                    "{url} names an archive, not a member: name one (zip range URL MEMBER, or URL/inside/the/archive)"
                )));
            }
            found => found,
        },
    };
    let range = zip::get_file_range(r.driver.as_ref(), &r.container, &archive, &member).await?;
    if ctx.json {
        ctx.json_line(&serde_json::json!({
            "archive": archive, "name": range.name, "range_start": range.range_start, "range_end": range.range_end,
            "http_range": range.http_range(), "compressed_size": range.len(), "size": range.uncompressed_size,
            "method": method_name(range.method), "compress_type": range.method.code(),
            "crc32": format!("{:08x}", range.crc32),
        }));
    } else {
        ctx.say(format!("{} {}", range.range_start, range.range_end));
    }
    Ok(())
}

/// Runs a `zip` subcommand.
pub async fn run(ctx: &Ctx, command: ZipCommand) -> CmdResult {
    match command {
        ZipCommand::Ls { url, path, recursive } => ls(ctx, &url, path.as_deref(), recursive).await,
        ZipCommand::Range { url, member } => range(ctx, &url, member.as_deref()).await,
        ZipCommand::Get { url, member, output } => {
            let r = object(&ctx.storage, &url)?;
            let entries = zip::list(r.driver.as_ref(), &r.container, &r.key).await?;
            let file = entries.iter().find(|e| e.name == member && !e.is_dir);
            match (file, output.as_deref()) {
                (Some(entry), Some(p)) if p.as_os_str() == "-" => {
                    let mut out = tokio::io::stdout();
                    zip::extract(r.driver.as_ref(), &r.container, &r.key, entry, &mut out).await?;
                    Ok(())
                }
                (Some(entry), out) => {
                    let path = match out {
                        Some(p) if p.is_dir() => p.join(basename(&entry.name)),
                        Some(p) => p.to_path_buf(),
                        None => PathBuf::from(basename(&entry.name)),
                    };
                    let dir = path.parent().map(PathBuf::from).unwrap_or_default();
                    let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
                    // Extract through the sanitising directory writer, then move into place.
                    let staging = tempfile_dir(&dir)?;
                    let written =
                        zip::extract_to_dir(r.driver.as_ref(), &r.container, &r.key, &entry.name, staging.path())
                            .await?;
                    let src = written.into_iter().find(|p| p.is_file()).ok_or_else(|| {
                        Failure::Storage(storage::Error::new(
                            storage::ErrorKind::Backend,
                            "the member was not extracted",
                        ))
                    })?;
                    tokio::fs::rename(&src, &path)
                        .await
                        .map_err(|e| storage::Error::io(format!("moving the member to {}", path.display()), e))?;
                    report(ctx, &entry.name, &path);
                    Ok(())
                }
                (None, out) => {
                    let dest = out.map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
                    let written = zip::extract_to_dir(r.driver.as_ref(), &r.container, &r.key, &member, &dest).await?;
                    for p in written.iter().filter(|p| p.is_file()) {
                        report(ctx, &member, p);
                    }
                    Ok(())
                }
            }
        }
    }
}

fn report(ctx: &Ctx, member: &str, path: &std::path::Path) {
    if ctx.json {
        ctx.json_line(&serde_json::json!({"member": member, "path": path.display().to_string()}));
    } else {
        ctx.say(format!("extracted {}", path.display()));
    }
}

/// A scratch directory beside `dir` (same filesystem, so the final rename is atomic).
fn tempfile_dir(dir: &std::path::Path) -> Result<ScratchDir, Failure> {
    let path = dir.join(format!(".storage-zip-{}", storage::fsio::unique_tag()));
    std::fs::create_dir_all(&path).map_err(|e| storage::Error::io(format!("creating {}", path.display()), e))?;
    Ok(ScratchDir(path))
}

struct ScratchDir(PathBuf);

impl ScratchDir {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
