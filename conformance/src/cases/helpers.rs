//! The helpers every driver gets from `DriverExt`: file and stream uploads, downloads to
//! paths and as streams, existence checks.

use std::path::Path;

use bytes::Bytes;
use futures::stream::StreamExt;
use storage_core::{DriverExt, ErrorKind, PutOptions, Transfer, TransferOptions};
use tempfile::TempDir;

use crate::case::{Case, CaseResult, case, ensure};
use crate::context::{
    Ctx, OrFail, data, ensure_eq, expect_err, expect_kind, failing_stream, irregular_chunks, same_bytes, stream_of,
};
use storage_core::DownloadOptions;
use storage_core::UploadOptions;

const G: &str = "helpers";

pub(crate) fn cases() -> Vec<Case> {
    vec![
        case!(G, helper_upload_file),
        case!(G, helper_upload_file_multipart, ["multipart"]),
        case!(G, helper_upload_file_empty),
        case!(G, helper_upload_file_options, ["content_headers"]),
        case!(G, helper_upload_file_missing_path),
        case!(G, helper_upload_stream),
        case!(G, helper_upload_stream_small),
        case!(G, helper_upload_stream_empty),
        case!(G, helper_upload_stream_error),
        case!(G, helper_download_to_path),
        case!(G, helper_download_empty_object),
        case!(G, helper_download_no_overwrite),
        case!(G, helper_download_overwrite),
        case!(G, helper_download_missing),
        case!(G, helper_download_as_stream_chunks),
        case!(G, helper_download_as_stream_default),
        case!(G, helper_download_as_stream_missing),
        case!(G, helper_get_bytes),
        case!(G, helper_object_exists),
        case!(G, helper_container_exists),
        case!(G, helper_head_bucket),
    ]
}

fn temp_dir() -> Result<TempDir, String> {
    tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))
}

async fn write_file(path: &Path, body: &[u8]) -> CaseResult {
    tokio::fs::write(path, body).await.map_err(|e| format!("cannot write {}: {e}", path.display()))
}

async fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    tokio::fs::read(path).await.map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// File names in `dir`.
async fn dir_entries(dir: &Path) -> Result<Vec<String>, String> {
    let mut rd = tokio::fs::read_dir(dir).await.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut out = Vec::new();
    while let Some(e) = rd.next_entry().await.map_err(|e| format!("cannot list {}: {e}", dir.display()))? {
        out.push(e.file_name().to_string_lossy().into_owned());
    }
    out.sort();
    Ok(out)
}

/// Transfer settings that make the multipart path run for a few parts.
fn small_transfer(ctx: &Ctx) -> TransferOptions {
    TransferOptions {
        single_put_threshold: 1024,
        part_size: small_part(ctx) as u64,
        concurrency: 2,
        ..TransferOptions::default()
    }
}

fn small_part(ctx: &Ctx) -> usize {
    usize::try_from(ctx.limits.min_part_size.max(1024 * 1024)).unwrap_or(usize::MAX)
}

async fn upload_file(
    ctx: &Ctx,
    name: &str,
    body: &Bytes,
    options: PutOptions,
    transfer: Option<TransferOptions>,
) -> CaseResult {
    let dir = temp_dir()?;
    let path = dir.path().join("upload.bin");
    write_file(&path, body).await?;
    let key = ctx.k(name);
    let o = match transfer {
        Some(t) => {
            let t = TransferOptions { verify: true, ..t };
            Transfer::with_options(ctx.driver.clone(), t).upload_file(&path, &ctx.container, &key, options).await
        }
        None => ctx.d().upload_object(&path, &ctx.container, &key, &UploadOptions::put(options)).await,
    }
    .or_fail("upload_object with verify_hash")?;
    ensure_eq("size returned by upload_object", &o.size, &(body.len() as u64))?;
    ctx.expect_data(name, body).await
}

async fn helper_upload_file(ctx: Ctx) -> CaseResult {
    upload_file(&ctx, "from-file", &data(300_000, 60), PutOptions::default(), None).await
}

async fn helper_upload_file_multipart(ctx: Ctx) -> CaseResult {
    let part = small_part(&ctx);
    let body = data(part * 2 + part / 2, 61);
    upload_file(&ctx, "from-file-mpu", &body, PutOptions::default(), Some(small_transfer(&ctx))).await
}

async fn helper_upload_file_empty(ctx: Ctx) -> CaseResult {
    upload_file(&ctx, "from-empty-file", &Bytes::new(), PutOptions::default(), None).await
}

async fn helper_upload_file_options(ctx: Ctx) -> CaseResult {
    let ct = "application/x-conformance-upload";
    upload_file(&ctx, "typed-file", &data(1000, 62), PutOptions::content_type(ct), None).await?;
    ensure_eq("content_type after upload_object", &ctx.head("typed-file").await?.content_type.as_deref(), &Some(ct))
}

async fn helper_upload_file_missing_path(ctx: Ctx) -> CaseResult {
    let dir = temp_dir()?;
    let path = dir.path().join("does-not-exist.bin");
    expect_kind(
        ctx.d().upload_object(&path, &ctx.container, &ctx.k("nope"), &UploadOptions::put(PutOptions::default())).await,
        ErrorKind::Io,
        "upload_object from a local file that does not exist",
    )?;
    ctx.expect_absent("nope").await
}

async fn helper_upload_stream(ctx: Ctx) -> CaseResult {
    let part = small_part(&ctx);
    let body = data(part * 2 + part / 2, 63);
    let o = ctx
        .d()
        .upload_object_via_stream(
            stream_of(irregular_chunks(&body)),
            &ctx.container,
            &ctx.k("from-stream"),
            PutOptions::default(),
            &small_transfer(&ctx),
        )
        .await
        .or_fail("upload_object_via_stream")?;
    ensure_eq("size returned by upload_object_via_stream", &o.size, &(body.len() as u64))?;
    ctx.expect_data("from-stream", &body).await
}

async fn helper_upload_stream_small(ctx: Ctx) -> CaseResult {
    let body = data(10_000, 64);
    ctx.d()
        .upload_object_via_stream(
            stream_of(irregular_chunks(&body)),
            &ctx.container,
            &ctx.k("small-stream"),
            PutOptions::default(),
            &small_transfer(&ctx),
        )
        .await
        .or_fail("upload_object_via_stream (smaller than a part)")?;
    ctx.expect_data("small-stream", &body).await
}

async fn helper_upload_stream_empty(ctx: Ctx) -> CaseResult {
    ctx.d()
        .upload_object_via_stream(
            stream_of(Vec::new()),
            &ctx.container,
            &ctx.k("empty-stream"),
            PutOptions::default(),
            &small_transfer(&ctx),
        )
        .await
        .or_fail("upload_object_via_stream of an empty stream")?;
    ctx.expect_data("empty-stream", b"").await
}

async fn helper_upload_stream_error(ctx: Ctx) -> CaseResult {
    let part = small_part(&ctx);
    ctx.put("broken", Bytes::from_static(b"old data")).await?;
    expect_kind(
        ctx.d()
            .upload_object_via_stream(
                failing_stream(data(part * 2 + 10, 65)),
                &ctx.container,
                &ctx.k("broken"),
                PutOptions::default(),
                &small_transfer(&ctx),
            )
            .await,
        ErrorKind::Io,
        "upload_object_via_stream of a stream that fails after two parts",
    )?;
    ctx.expect_data("broken", b"old data").await.map_err(|e| format!("after a failed stream upload: {e}"))?;
    if ctx.caps.list_multipart {
        let left = ctx
            .d()
            .list_multipart_uploads(&ctx.container, Some(&ctx.prefix))
            .await
            .or_fail("list_multipart_uploads")?;
        ensure!(left.is_empty(), "a failed stream upload left {} unfinished multipart upload(s)", left.len());
    }
    Ok(())
}

async fn download(ctx: &Ctx, name: &str, dest: &Path, overwrite: bool) -> storage_core::Result<storage_core::Object> {
    ctx.d()
        .download_object(
            &ctx.container,
            &ctx.k(name),
            dest,
            &DownloadOptions { overwrite_existing: overwrite, ..DownloadOptions::default() },
        )
        .await
}

async fn helper_download_to_path(ctx: Ctx) -> CaseResult {
    let body = data(1_500_000, 66);
    ctx.put("dl", body.clone()).await?;
    let dir = temp_dir()?;
    let dest = dir.path().join("out.bin");
    let o = download(&ctx, "dl", &dest, false).await.or_fail("download_object")?;
    ensure_eq("size returned by download_object", &o.size, &(body.len() as u64))?;
    same_bytes("the downloaded file", &read_file(&dest).await?, &body)?;
    ensure_eq("files in the download directory", &dir_entries(dir.path()).await?, &vec!["out.bin".to_owned()])
}

async fn helper_download_empty_object(ctx: Ctx) -> CaseResult {
    ctx.put("empty", Bytes::new()).await?;
    let dir = temp_dir()?;
    let dest = dir.path().join("empty.bin");
    download(&ctx, "empty", &dest, false).await.or_fail("download_object of an empty object")?;
    same_bytes("the downloaded empty file", &read_file(&dest).await?, b"")
}

async fn helper_download_no_overwrite(ctx: Ctx) -> CaseResult {
    ctx.put("dl", Bytes::from_static(b"remote data")).await?;
    let dir = temp_dir()?;
    let dest = dir.path().join("existing.txt");
    write_file(&dest, b"local data").await?;
    expect_err(download(&ctx, "dl", &dest, false).await, "download_object onto an existing file without overwrite")?;
    same_bytes("the existing file after a refused download", &read_file(&dest).await?, b"local data")?;
    ensure_eq("files in the download directory", &dir_entries(dir.path()).await?, &vec!["existing.txt".to_owned()])
}

async fn helper_download_overwrite(ctx: Ctx) -> CaseResult {
    ctx.put("dl", Bytes::from_static(b"remote data")).await?;
    let dir = temp_dir()?;
    let dest = dir.path().join("existing.txt");
    write_file(&dest, b"local data that is longer").await?;
    download(&ctx, "dl", &dest, true).await.or_fail("download_object with overwrite_existing")?;
    same_bytes("the overwritten file", &read_file(&dest).await?, b"remote data")
}

async fn helper_download_missing(ctx: Ctx) -> CaseResult {
    let dir = temp_dir()?;
    let dest = dir.path().join("never.bin");
    expect_kind(
        download(&ctx, "missing", &dest, false).await,
        ErrorKind::ObjectDoesNotExist,
        "download_object of a missing object",
    )?;
    let left = dir_entries(dir.path()).await?;
    ensure!(left.is_empty(), "a failed download left files behind: {left:?}");
    Ok(())
}

async fn helper_download_as_stream_chunks(ctx: Ctx) -> CaseResult {
    let body = data(2 * 1024 * 1024 + 12_345, 67);
    ctx.put("chunked", body.clone()).await?;
    for chunk_size in [100_000usize, 1 << 20, 4099] {
        let mut s = ctx
            .d()
            .download_object_as_stream(&ctx.container, &ctx.k("chunked"), Some(chunk_size))
            .await
            .or_fail("download_object_as_stream")?;
        let mut sizes = Vec::new();
        let mut all = Vec::with_capacity(body.len());
        while let Some(c) = s.next().await {
            let c = c.or_fail("reading a chunk")?;
            sizes.push(c.len());
            all.extend_from_slice(&c);
        }
        if let Some((last, rest)) = sizes.split_last() {
            ensure!(
                rest.iter().all(|&n| n == chunk_size),
                "with chunk_size {chunk_size}, a chunk other than the last has another size: {:?}",
                rest.iter().find(|&&n| n != chunk_size)
            );
            ensure!(*last >= 1 && *last <= chunk_size, "with chunk_size {chunk_size}, the last chunk has {last} bytes");
        }
        same_bytes(&format!("the streamed data (chunk_size {chunk_size})"), &all, &body)?;
    }
    Ok(())
}

async fn helper_download_as_stream_default(ctx: Ctx) -> CaseResult {
    let body = data(1_300_000, 68);
    ctx.put("stream", body.clone()).await?;
    let mut s = ctx
        .d()
        .download_object_as_stream(&ctx.container, &ctx.k("stream"), None)
        .await
        .or_fail("download_object_as_stream")?;
    let mut all = Vec::new();
    while let Some(c) = s.next().await {
        all.extend_from_slice(&c.or_fail("reading a chunk")?);
    }
    same_bytes("the streamed data", &all, &body)
}

async fn helper_download_as_stream_missing(ctx: Ctx) -> CaseResult {
    expect_kind(
        ctx.d().download_object_as_stream(&ctx.container, &ctx.k("missing"), Some(1024)).await,
        ErrorKind::ObjectDoesNotExist,
        "download_object_as_stream of a missing object",
    )?;
    Ok(())
}

async fn helper_get_bytes(ctx: Ctx) -> CaseResult {
    let body = data(12_345, 69);
    ctx.put("bytes", body.clone()).await?;
    let got = ctx.d().get_bytes(&ctx.container, &ctx.k("bytes")).await.or_fail("get_bytes")?;
    same_bytes("get_bytes", &got, &body)?;
    expect_kind(
        ctx.d().get_bytes(&ctx.container, &ctx.k("missing")).await,
        ErrorKind::ObjectDoesNotExist,
        "get_bytes of a missing object",
    )?;
    Ok(())
}

async fn helper_object_exists(ctx: Ctx) -> CaseResult {
    ctx.put("here", Bytes::from_static(b"x")).await?;
    ensure!(
        ctx.d().object_exists(&ctx.container, &ctx.k("here")).await.or_fail("object_exists")?,
        "object_exists is false for an object just written"
    );
    ensure!(
        !ctx.d().object_exists(&ctx.container, &ctx.k("not-here")).await.or_fail("object_exists")?,
        "object_exists is true for a key never written"
    );
    Ok(())
}

async fn helper_container_exists(ctx: Ctx) -> CaseResult {
    ensure!(
        ctx.d().container_exists(&ctx.container).await.or_fail("container_exists")?,
        "container_exists is false for the case's container"
    );
    let missing = crate::context::fresh_container_name();
    ensure!(
        !ctx.d().container_exists(&missing).await.or_fail("container_exists")?,
        "container_exists is true for a container never created"
    );
    Ok(())
}

async fn helper_head_bucket(ctx: Ctx) -> CaseResult {
    let c = ctx.d().head_bucket(&ctx.container).await.or_fail("head_bucket")?;
    ensure_eq("name returned by head_bucket", &c.name, &ctx.container)?;
    expect_kind(
        ctx.d().head_bucket(&crate::context::fresh_container_name()).await,
        ErrorKind::ContainerDoesNotExist,
        "head_bucket of a missing container",
    )?;
    Ok(())
}
