//! `zip ls` and `zip get`: read archives in place, fetching only the bytes needed.

use std::path::PathBuf;

use storage::zip::{self, ZipMethod};

use super::Ctx;
use crate::args::ZipCommand;
use crate::location::{basename, object};
use crate::{CmdResult, Failure};

/// Runs a `zip` subcommand.
pub async fn run(ctx: &Ctx, command: ZipCommand) -> CmdResult {
    match command {
        ZipCommand::Ls { url } => {
            let r = object(&ctx.storage, &url)?;
            for e in zip::list(r.driver.as_ref(), &r.container, &r.key).await? {
                let method = match e.method {
                    ZipMethod::Stored => "stored".to_owned(),
                    ZipMethod::Deflate => "deflate".to_owned(),
                    ZipMethod::Other(c) => format!("method-{c}"),
                };
                let when = e.modified.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default();
                if ctx.json {
                    ctx.json_line(&serde_json::json!({
                        "name": e.name, "size": e.uncompressed_size, "compressed_size": e.compressed_size,
                        "method": method, "modified": when, "crc32": format!("{:08x}", e.crc32),
                        "offset": e.local_header_offset, "dir": e.is_dir,
                    }));
                } else {
                    ctx.say(format!(
                        "{:>12}  {:>12}  {method:<8}  {when:<19}  {}",
                        e.uncompressed_size, e.compressed_size, e.name
                    ));
                }
            }
            Ok(())
        }
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
