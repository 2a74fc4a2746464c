//! cp and mv of single objects and files (trees: `-r`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::BytesMut;
use futures::StreamExt;
use storage::{ByteStream, DriverExt, GetOptions, PutOptions, Transfer, TransferOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Ctx;
use crate::location::{Loc, Remote, basename, resolve};
use crate::progress::Bar;
use crate::{CmdResult, Failure};

fn stdin_stream() -> ByteStream {
    futures::stream::unfold(Some(tokio::io::stdin()), |input| async move {
        let mut input = input?;
        let mut buf = BytesMut::with_capacity(1 << 20);
        while buf.len() < (1 << 20) {
            match input.read_buf(&mut buf).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Some((Err(storage::Error::io("reading stdin", e)), None)),
            }
        }
        if buf.is_empty() { None } else { Some((Ok(buf.freeze()), Some(input))) }
    })
    .boxed()
}

/// The destination key for a copy into `dst`: "into" when it is empty or ends with `/`.
fn target_key(dst: &Remote, name: &str) -> String {
    if dst.key.is_empty() || dst.key.ends_with('/') { format!("{}{name}", dst.key) } else { dst.key.clone() }
}

/// The local destination path: into a directory when it is one or ends with `/`.
fn target_path(dst: &Path, name: &str) -> PathBuf {
    if dst.is_dir() || dst.to_string_lossy().ends_with('/') { dst.join(name) } else { dst.to_path_buf() }
}

fn transfer(ctx: &Ctx, bar: &Bar) -> TransferOptions {
    TransferOptions { concurrency: ctx.transfers, ..TransferOptions::default() }.with_progress(Arc::new(bar.clone()))
}

/// Creates the destination container if it does not exist yet (as rclone does), where the
/// driver can manage containers.
pub async fn ensure_container(r: &Remote) -> storage::Result<()> {
    if r.driver.info().capabilities.manage_containers && !r.driver.container_exists(&r.container).await? {
        match r.driver.create_container(&r.container).await {
            Ok(_) => {}
            Err(e) if e.kind() == storage::ErrorKind::ContainerAlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `cp` / `mv` (with `remove_source`).
pub async fn cp(ctx: &Ctx, src: &str, dst: &str, remove_source: bool) -> CmdResult {
    let from = resolve(&ctx.storage, src)?;
    let to = resolve(&ctx.storage, dst)?;
    if let Loc::Remote(r) = &to {
        ensure_container(r).await?;
    }
    let done = match (&from, &to) {
        (Loc::Local(path), Loc::Remote(r)) => {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let key = target_key(r, &name);
            let len = tokio::fs::metadata(path)
                .await
                .map_err(|e| storage::Error::io(format!("reading {}", path.display()), e))?
                .len();
            let bar = Bar::new(ctx.progress, Some(len), &key);
            let o = r.driver.upload_object(path, &r.container, &key, PutOptions::default(), true).await?;
            bar.inc(len);
            bar.finish();
            Some(o)
        }
        (Loc::Remote(r), Loc::Local(path)) => {
            if r.key.is_empty() {
                return Err(Failure::Usage(format!("{src} names a container; use cp -r")));
            }
            let dest = target_path(path, basename(&r.key));
            let bar = Bar::new(ctx.progress, None, basename(&r.key));
            let o = Transfer::with_options(r.driver.clone(), transfer(ctx, &bar))
                .download_file(&r.container, &r.key, &dest, true, true)
                .await?;
            bar.finish();
            Some(o)
        }
        (Loc::Remote(a), Loc::Remote(b)) => {
            if a.key.is_empty() {
                return Err(Failure::Usage(format!("{src} names a container; use cp -r")));
            }
            let key = target_key(b, basename(&a.key));
            Some(
                storage::tree::copy_object_between(
                    a.driver.as_ref(),
                    &a.container,
                    &a.key,
                    b.driver.as_ref(),
                    &b.container,
                    &key,
                )
                .await?,
            )
        }
        (Loc::Stdio, Loc::Remote(r)) => {
            if r.key.is_empty() || r.key.ends_with('/') {
                return Err(Failure::Usage(format!("{dst} needs an object key to write stdin to")));
            }
            let transfer = TransferOptions { concurrency: ctx.transfers, ..TransferOptions::default() };
            Some(
                r.driver
                    .upload_object_via_stream(stdin_stream(), &r.container, &r.key, PutOptions::default(), &transfer)
                    .await?,
            )
        }
        (Loc::Remote(r), Loc::Stdio) => {
            let res = r.driver.get_object(&r.container, &r.key, &GetOptions::default()).await?;
            let mut out = tokio::io::stdout();
            let mut body = res.body;
            while let Some(chunk) = body.next().await {
                out.write_all(&chunk?).await.map_err(|e| storage::Error::io("writing stdout", e))?;
            }
            out.flush().await.map_err(|e| storage::Error::io("writing stdout", e))?;
            None
        }
        (Loc::Local(a), Loc::Local(b)) => {
            let dest = target_path(b, &a.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
            tokio::fs::copy(a, &dest)
                .await
                .map_err(|e| storage::Error::io(format!("copying {} to {}", a.display(), dest.display()), e))?;
            None
        }
        (Loc::Stdio, Loc::Stdio) | (Loc::Stdio, Loc::Local(_)) | (Loc::Local(_), Loc::Stdio) => {
            return Err(Failure::Usage("copy to or from `-` needs a storage URL on the other side".into()));
        }
    };
    if remove_source {
        match &from {
            Loc::Remote(r) => r.driver.delete_object(&r.container, &r.key).await?,
            Loc::Local(p) => tokio::fs::remove_file(p)
                .await
                .map_err(|e| storage::Error::io(format!("removing {}", p.display()), e))?,
            Loc::Stdio => {}
        }
    }
    if let Some(o) = done {
        if ctx.json {
            ctx.json_line(&crate::output::object_json(&o));
        } else {
            ctx.say(format!(
                "{} {src} -> {}/{} ({} bytes)",
                if remove_source { "moved" } else { "copied" },
                o.container,
                o.name,
                o.size
            ));
        }
    }
    Ok(())
}
