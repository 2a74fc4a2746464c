//! cp and mv of single objects and files (trees: `-r`).
//!
//! Before anything is written: the source must exist (and be a file, not a directory),
//! source and destination must not be the same file or object (however they are spelled),
//! and a remote destination's container must exist unless `--create-container` is given.
//! A move deletes its source only after the copy completed and was verified.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::BytesMut;
use futures::StreamExt;
use storage::{ByteStream, DriverExt, ErrorKind, GetOptions, Object, PutOptions, Transfer, TransferOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Ctx;
use crate::location::{Loc, Remote, basename, resolve, same_file};
use crate::progress::{Bar, FileProgress};
use crate::{CmdResult, Failure};
use storage::DownloadOptions;

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

/// The local destination path: into a directory when it is one or ends with `/` (a
/// missing one is created, as `aws s3 cp` does; nothing existing is touched).
fn target_path(dst: &Path, name: &str) -> Result<PathBuf, Failure> {
    if dst.is_dir() {
        return Ok(dst.join(name));
    }
    if dst.to_string_lossy().ends_with('/') {
        std::fs::create_dir_all(dst).map_err(|e| storage::Error::io(format!("creating {}", dst.display()), e))?;
        return Ok(dst.join(name));
    }
    Ok(dst.to_path_buf())
}

/// Transfer settings for one command: `-j` parts or ranges in flight, `--part-size`
/// parts and ranges (an object larger than one part goes in parts), progress to `bar`.
pub fn transfer_options(ctx: &Ctx, progress: Arc<dyn storage::Progress>) -> TransferOptions {
    let mut t = TransferOptions { concurrency: ctx.transfers, ..TransferOptions::default() };
    if let Some(part) = ctx.part_size {
        t.part_size = part;
        t.download_part_size = part;
        t.single_put_threshold = part;
    }
    t.with_progress(progress)
}

/// A missing local source is "not found" (exit 3); a directory needs `-r`.
pub fn local_source(path: &Path, command: &str) -> Result<std::fs::Metadata, Failure> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(Failure::Usage(format!("{} is a directory; use {command} -r", path.display()))),
        Ok(m) => Ok(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Failure::Storage(storage::Error::new(
            ErrorKind::ObjectDoesNotExist,
            format!("{} does not exist", path.display()),
        ))),
        Err(e) => Err(storage::Error::io(format!("reading {}", path.display()), e).into()),
    }
}

/// Checks that a remote destination's container exists, creating it only when asked.
/// Uploads never create containers on their own: a typo in a bucket name must not make a
/// new bucket.
pub async fn require_container(r: &Remote, create: bool) -> Result<(), Failure> {
    if r.driver.container_exists(&r.container).await? {
        return Ok(());
    }
    if !create {
        return Err(Failure::Storage(
            storage::Error::new(
                ErrorKind::ContainerDoesNotExist,
                format!(
                    "container {:?} does not exist (nothing was written); create it with `storage mb {}` \
                     or pass --create-container",
                    r.container,
                    r.display_key("").trim_end_matches('/')
                ),
            )
            .with_container(&r.container),
        ));
    }
    match r.driver.create_container(&r.container).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::ContainerAlreadyExists => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The metadata key holding a file's modification time (seconds since the epoch, with
/// fractions), written on upload and read back by `sync` and downloads, as rclone does.
pub const MTIME_KEY: &str = "mtime";
/// The metadata key holding the MD5 (hex) of an object uploaded in parts to a backend
/// that reports no content hash for it, so that `sync` and `check` need not read it back.
pub const MD5_KEY: &str = "md5";

/// Put options for uploading the local file `path` (`len` bytes) as `key`: its content
/// type guessed from the name, its modification time in metadata and, when the upload
/// will go in parts to a backend that reports no content hash for them (neither a
/// whole-object MD5, `multipart_md5`, nor its own end-to-end checksum,
/// `upload_checksums`: S3, Azure, GCS and the local filesystem report a CRC32C), its MD5
/// (computed first, in one read; the engine also checks the bytes it sends against it).
/// A file changed during the upload fails it either way (the engine compares its size
/// and modification time before committing).
pub async fn upload_options(ctx: &Ctx, path: &Path, key: &str, len: u64, r: &Remote) -> storage::Result<PutOptions> {
    let mut put =
        PutOptions { content_type: storage::tree::content_type_for(key).map(str::to_owned), ..Default::default() };
    if let Some(t) = std::fs::metadata(path)
        .ok()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
    {
        put.metadata.insert(MTIME_KEY.to_owned(), format!("{:.3}", t.as_secs_f64()));
    }
    let caps = r.driver.info().capabilities;
    if caps.multipart
        && !caps.multipart_md5
        && !caps.upload_checksums
        && len > TransferOptions::default().single_put_threshold
    {
        let md5 = storage::fsio::md5_file(path).await?;
        put.metadata.insert(MD5_KEY.to_owned(), md5.clone());
        put.content_md5 = Some(md5);
    }
    // --acl, --storage-class, --sse, --tag, --header, --content-type.
    ctx.write.apply(&mut put);
    Ok(put)
}

fn same_place(src: &str, dst: &str) -> Failure {
    Failure::Usage(format!("{src} and {dst} are the same file or object; nothing was copied or deleted"))
}

/// `cp` / `mv` (with `remove_source`).
pub async fn cp(ctx: &Ctx, src: &str, dst: &str, remove_source: bool, create_container: bool) -> CmdResult {
    let command = if remove_source { "mv" } else { "cp" };
    if src.starts_with("http://") || src.starts_with("https://") {
        return cp_from_url(ctx, src, dst, remove_source, create_container).await;
    }
    let from = resolve(&ctx.storage, src)?;
    let to = resolve(&ctx.storage, dst)?;
    let (done, shown_dst): (Option<Object>, String) = match (&from, &to) {
        (Loc::Local(path), Loc::Remote(r)) => {
            let len = local_source(path, command)?.len();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let key = target_key(r, &name);
            if r.local_path(&key).is_some_and(|p| same_file(path, &p)) {
                return Err(same_place(src, &r.display_key(&key)));
            }
            require_container(r, create_container).await?;
            let bar = Bar::new(ctx, Some(len), &key);
            let put = upload_options(ctx, path, &key, len, r).await?;
            let o = Transfer::with_options(r.driver.clone(), transfer_options(ctx, Arc::new(bar.clone())))
                .upload_file(path, &r.container, &key, put)
                .await?;
            bar.finish();
            (Some(o), r.display_key(&key))
        }
        (Loc::Remote(r), Loc::Local(path)) => {
            if let Some(a) = super::archive::member_of(r).await? {
                let (dest, size) = super::archive::download_member(r, &a, path, remove_source).await?;
                report(ctx, "copied", src, &dest.display().to_string(), size, None);
                return Ok(());
            }
            if r.key.is_empty() || r.key.ends_with('/') {
                return Err(Failure::Usage(format!("{src} names a container or prefix; use {command} -r")));
            }
            let dest = target_path(path, basename(&r.key))?;
            if r.local_path(&r.key).is_some_and(|p| same_file(&p, &dest)) {
                return Err(same_place(src, &dest.display().to_string()));
            }
            if dest.is_dir() {
                return Err(Failure::Usage(format!("{} is a directory; name the file to write", dest.display())));
            }
            let bar = Bar::new(ctx, None, basename(&r.key));
            let o = Transfer::with_options(r.driver.clone(), transfer_options(ctx, Arc::new(bar.clone())))
                .download_file(&r.container, &r.key, &dest, &DownloadOptions::overwrite())
                .await?;
            bar.finish();
            (Some(o), dest.display().to_string())
        }
        (Loc::Remote(a), Loc::Remote(b)) => {
            if let Some(arch) = super::archive::member_of(a).await? {
                let key = target_key(b, basename(&arch.member));
                let (o, size) =
                    super::archive::upload_member(ctx, a, &arch, b, &key, remove_source, create_container).await?;
                report(ctx, "copied", src, &b.display_key(&key), size, Some(&o));
                return Ok(());
            }
            if a.key.is_empty() || a.key.ends_with('/') {
                return Err(Failure::Usage(format!("{src} names a container or prefix; use {command} -r")));
            }
            let key = target_key(b, basename(&a.key));
            if a.same_container(b) && a.key == key {
                return Err(same_place(src, &b.display_key(&key)));
            }
            // The source must exist before the destination is looked at.
            let size = a.driver.head_object(&a.container, &a.key).await?.size;
            require_container(b, create_container).await?;
            let o = copy_remote(ctx, a, None, b, &key, Some(size)).await?;
            (Some(o), b.display_key(&key))
        }
        (Loc::Stdio, Loc::Remote(r)) => {
            if r.key.is_empty() || r.key.ends_with('/') {
                return Err(Failure::Usage(format!("{dst} needs an object key to write stdin to")));
            }
            require_container(r, create_container).await?;
            let bar = Bar::new(ctx, None, &r.key);
            let mut put = PutOptions {
                content_type: storage::tree::content_type_for(&r.key).map(str::to_owned),
                ..Default::default()
            };
            ctx.write.apply(&mut put);
            let o = Transfer::with_options(r.driver.clone(), transfer_options(ctx, Arc::new(bar.clone())))
                .upload_stream(stdin_stream(), &r.container, &r.key, put)
                .await?;
            bar.finish();
            (Some(o), r.display_key(&r.key))
        }
        (Loc::Remote(r), Loc::Stdio) => {
            if remove_source {
                return Err(Failure::Usage("mv to `-` would delete the source once printed; use cat".into()));
            }
            if r.key.is_empty() || r.key.ends_with('/') {
                return Err(Failure::Usage(format!("{src} names a container or prefix, not an object")));
            }
            if let Some(a) = super::archive::member_of(r).await? {
                return super::archive::cat_member(r, &a, false).await;
            }
            let res = r.driver.get_object(&r.container, &r.key, &GetOptions::default()).await?;
            let bar = Bar::new(ctx, Some(res.object.size), &r.key);
            let mut out = tokio::io::stdout();
            let mut body = res.body;
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                out.write_all(&chunk).await.map_err(|e| storage::Error::io("writing stdout", e))?;
                bar.inc(chunk.len() as u64);
            }
            out.flush().await.map_err(|e| storage::Error::io("writing stdout", e))?;
            bar.finish();
            (None, "-".into())
        }
        (Loc::Local(a), Loc::Local(b)) => {
            let len = local_source(a, command)?.len();
            let dest = target_path(b, &a.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())?;
            if same_file(a, &dest) {
                return Err(same_place(src, &dest.display().to_string()));
            }
            if dest.is_dir() {
                return Err(Failure::Usage(format!("{} is a directory; name the file to write", dest.display())));
            }
            if remove_source {
                move_local(a, &dest).await?;
                report(ctx, "moved", src, &dest.display().to_string(), len, None);
                return Ok(());
            }
            copy_local(a, &dest).await?;
            (None, dest.display().to_string())
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
    if shown_dst != "-" {
        let size = done
            .as_ref()
            .map(|o| o.size)
            .unwrap_or_else(|| std::fs::metadata(&shown_dst).map(|m| m.len()).unwrap_or(0));
        report(ctx, if remove_source { "moved" } else { "copied" }, src, &shown_dst, size, done.as_ref());
    }
    Ok(())
}

/// `cp --version-id V scheme://container/key DST`: that version of the object to a local
/// file, to stdout, or to any storage URL, its own key included (restoring the version:
/// the live object is replaced only once the whole version was read and checked). Every
/// request asks for the version and an answer of another one is refused before anything
/// is written.
pub async fn cp_version(ctx: &Ctx, src: &str, dst: &str, version: &str, create_container: bool) -> CmdResult {
    let Loc::Remote(r) = resolve(&ctx.storage, src)? else {
        return Err(Failure::Usage(format!("--version-id reads a version of an object: {src} is not a storage URL")));
    };
    if r.key.is_empty() || r.key.ends_with('/') {
        return Err(Failure::Usage(format!("{src} names a container or prefix; --version-id takes one object")));
    }
    if version.trim().is_empty() {
        return Err(Failure::Usage("--version-id needs a version (see `storage stat`)".into()));
    }
    let (o, shown_dst) = match resolve(&ctx.storage, dst)? {
        Loc::Stdio => return super::basic::cat(ctx, src, None, None, None, Some(version.to_owned())).await,
        Loc::Local(path) => {
            let dest = target_path(&path, basename(&r.key))?;
            if r.local_path(&r.key).is_some_and(|p| same_file(&p, &dest)) {
                return Err(same_place(src, &dest.display().to_string()));
            }
            if dest.is_dir() {
                return Err(Failure::Usage(format!("{} is a directory; name the file to write", dest.display())));
            }
            let bar = Bar::new(ctx, None, basename(&r.key));
            let options = DownloadOptions::overwrite().with_version(version);
            let o = Transfer::with_options(r.driver.clone(), transfer_options(ctx, Arc::new(bar.clone())))
                .download_file(&r.container, &r.key, &dest, &options)
                .await?;
            bar.finish();
            (o, dest.display().to_string())
        }
        Loc::Remote(b) => {
            let key = target_key(&b, basename(&r.key));
            require_container(&b, create_container).await?;
            let o = copy_remote(ctx, &r, Some(version), &b, &key, None).await?;
            (o, b.display_key(&key))
        }
    };
    if ctx.json {
        let v = serde_json::json!({"action": "copied", "from": src, "version": version, "to": shown_dst,
            "bytes": o.size, "object": crate::output::object_json(&o)});
        ctx.json_line(&v);
    } else {
        ctx.say(format!("copied {src} (version {version}) -> {shown_dst} ({} bytes)", o.size));
    }
    Ok(())
}

/// Copies the object of `a` (its `version`, or the live one) to `key` in `b`, with a
/// progress bar of `size` bytes (when known).
async fn copy_remote(
    ctx: &Ctx,
    a: &Remote,
    version: Option<&str>,
    b: &Remote,
    key: &str,
    size: Option<u64>,
) -> storage::Result<Object> {
    let bar = Bar::new(ctx, size, key);
    let share = FileProgress::new(&bar);
    let t = transfer_options(ctx, share.clone());
    let (src, dst) = (a.driver.as_ref(), b.driver.as_ref());
    let o = match version {
        Some(v) => {
            storage::tree::copy_version_between_with(src, &a.container, &a.key, v, dst, &b.container, key, &t).await?
        }
        None => storage::tree::copy_object_between_with(src, &a.container, &a.key, dst, &b.container, key, &t).await?,
    };
    share.complete(o.size);
    bar.finish();
    Ok(o)
}

/// `cp https://... scheme://container/dir/` (into the folder, named from the response's
/// `Content-Disposition` or the URL's last segment) or `.../key` (that key).
async fn cp_from_url(ctx: &Ctx, src: &str, dst: &str, remove_source: bool, create_container: bool) -> CmdResult {
    // A signed URL's signature and token are credentials: never in a message.
    let shown = storage::kit::redact_url(src);
    if remove_source {
        return Err(Failure::Usage(format!("mv cannot delete {shown}; use cp")));
    }
    let Loc::Remote(r) = resolve(&ctx.storage, dst)? else {
        return Err(Failure::Usage(format!("copying from {shown} needs a storage URL as the destination")));
    };
    require_container(&r, create_container).await?;
    // Plain http only when the user typed it.
    let config = storage_http::HttpConfig { allow_http: src.starts_with("http://"), ..Default::default() };
    let client = storage_http::HttpClient::new(config).map_err(Failure::Config)?;
    let mut put = PutOptions::default();
    ctx.write.apply(&mut put);
    let o = if r.key.is_empty() || r.key.ends_with('/') {
        storage_http::upload_from_url_into(&client, src, r.driver.as_ref(), &r.container, &r.key, None, put).await?
    } else {
        storage_http::upload_from_url(&client, src, r.driver.as_ref(), &r.container, &r.key, put).await?
    };
    report(ctx, "copied", &shown, &r.display_key(&o.name), o.size, Some(&o));
    Ok(())
}

/// `cp --decompress scheme://container/key DIR`: the object into the local directory
/// DIR, extracted when its name says it is an archive (existing files replaced, as cp
/// does, except when the object is itself a file under DIR: then nothing is replaced).
pub async fn cp_decompress(ctx: &Ctx, src: &str, dst: &str) -> CmdResult {
    let (Loc::Remote(r), Loc::Local(dir)) = (resolve(&ctx.storage, src)?, resolve(&ctx.storage, dst)?) else {
        return Err(Failure::Usage(
            "cp --decompress downloads one object into a local directory: SRC is a storage URL, DST a directory".into(),
        ));
    };
    if r.key.is_empty() || r.key.ends_with('/') {
        return Err(Failure::Usage(format!("{src} names a container or prefix; --decompress takes one object")));
    }
    let inside = match (r.local_path(&r.key).and_then(|p| p.canonicalize().ok()), dir.canonicalize().ok()) {
        (Some(source), Some(dir)) => source.starts_with(dir),
        _ => false,
    };
    let bar = Bar::new(ctx, None, basename(&r.key));
    let options = storage::DecompressOptions {
        overwrite: !inside,
        transfer: transfer_options(ctx, Arc::new(bar.clone())),
        ..Default::default()
    };
    let done = r.driver.download_into(&r.container, &r.key, &dir, &options).await?;
    bar.finish();
    let format = done.format.map(|f| match f {
        storage::ArchiveFormat::Zip => "zip",
        storage::ArchiveFormat::Gzip => "gzip",
        storage::ArchiveFormat::Tar => "tar",
        storage::ArchiveFormat::TarGz => "tar.gz",
    });
    if ctx.json {
        let files: Vec<String> = done.files.iter().map(|p| p.display().to_string()).collect();
        ctx.json_line(&serde_json::json!({
            "action": if format.is_some() { "extracted" } else { "copied" }, "from": src,
            "to": dir.display().to_string(), "format": format, "files": files, "bytes": done.bytes,
        }));
    } else if let Some(format) = format {
        ctx.say(format!(
            "extracted {src} ({format}) -> {} ({} files, {} bytes)",
            dir.display(),
            done.files.len(),
            done.bytes
        ));
    } else {
        let shown = done.files.first().map(|p| p.display().to_string()).unwrap_or_default();
        ctx.say(format!("copied {src} -> {shown} ({} bytes; not an archive, saved as is)", done.bytes));
    }
    Ok(())
}

fn report(ctx: &Ctx, verb: &str, src: &str, dst: &str, size: u64, object: Option<&Object>) {
    if ctx.json {
        let mut v = serde_json::json!({"action": verb, "from": src, "to": dst, "bytes": size});
        if let Some(o) = object {
            v["object"] = crate::output::object_json(o);
        }
        ctx.json_line(&v);
    } else {
        ctx.say(format!("{verb} {src} -> {dst} ({size} bytes)"));
    }
}

/// Copies a local file through a temporary file beside `dest`, synced and renamed into
/// place: a failed copy never leaves `dest` truncated, and an abandoned one (its future
/// dropped on Ctrl-C) stops at the next chunk and removes its temporary file.
pub async fn copy_local(from: &Path, dest: &Path) -> storage::Result<u64> {
    use std::io::{Read, Write};
    let (from, dest) = (from.to_path_buf(), dest.to_path_buf());
    let cancelled = CancelOnDrop(Arc::new(AtomicBool::new(false)));
    let flag = cancelled.0.clone();
    let task = tokio::task::spawn_blocking(move || {
        let tmp = storage::fsio::temp_path_beside(&dest);
        let guard = RemoveOnDrop(Some(tmp.clone()));
        let io = |what: &str, p: &Path, e| storage::Error::io(format!("{what} {}", p.display()), e);
        let mut input = std::fs::File::open(&from).map_err(|e| io("opening", &from, e))?;
        let mut output = std::fs::File::create(&tmp).map_err(|e| io("creating", &tmp, e))?;
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0u64;
        loop {
            if flag.load(Ordering::Relaxed) {
                return Err(storage::Error::new(ErrorKind::Io, "the copy was cancelled"));
            }
            let got = input.read(&mut buf).map_err(|e| io("reading", &from, e))?;
            if got == 0 {
                break;
            }
            output.write_all(&buf[..got]).map_err(|e| io("writing", &tmp, e))?;
            n += got as u64;
        }
        output.sync_all().map_err(|e| io("syncing", &tmp, e))?;
        if let Ok(perms) = std::fs::metadata(&from).map(|m| m.permissions()) {
            let _ = std::fs::set_permissions(&tmp, perms);
        }
        std::fs::rename(&tmp, &dest).map_err(|e| io("renaming into", &dest, e))?;
        guard.disarm();
        Ok(n)
    });
    let result = task.await.map_err(|e| storage::Error::new(ErrorKind::Io, format!("a file copy task failed: {e}")))?;
    drop(cancelled);
    result
}

/// Tells a blocking copy to stop when the future waiting for it is dropped.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Moves a local file: a rename where both are on one filesystem, else copy then remove.
async fn move_local(from: &Path, dest: &Path) -> storage::Result<()> {
    match tokio::fs::rename(from, dest).await {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(18) => {
            // EXDEV: another filesystem.
            copy_local(from, dest).await?;
            tokio::fs::remove_file(from)
                .await
                .map_err(|e| storage::Error::io(format!("removing {}", from.display()), e))
        }
        Err(e) => Err(storage::Error::io(format!("moving {} to {}", from.display(), dest.display()), e)),
    }
}

/// Deletes a temporary file unless disarmed (also when its task is abandoned).
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}
