//! The transfer engine ([`storage_core::Transfer`]) over the driver: concurrent multipart
//! uploads, parallel ranged downloads to a file, ordered streams with read-ahead,
//! progress totals, and aborts that leave nothing behind. Sizes follow the driver's
//! limits (parts of the case part size, at least 64 KiB), a few parts each.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures::stream::StreamExt;
use storage_core::{ErrorKind, Progress, PutOptions, Transfer, TransferOptions};

use crate::case::{Case, CaseResult, case, ensure};
use crate::context::{
    Ctx, OrFail, data, ensure_eq, expect_err, failing_stream, irregular_chunks, same_bytes, stream_of,
};
use storage_core::DownloadOptions;

const G: &str = "transfer";

pub(crate) fn cases() -> Vec<Case> {
    vec![
        case!(G, transfer_upload_multipart_concurrent, ["multipart"]),
        case!(G, transfer_upload_file_multipart, ["multipart"]),
        case!(G, transfer_upload_single_request),
        case!(G, transfer_upload_stream_error_aborts, ["multipart"]),
        case!(G, transfer_download_ranged, ["ranges"]),
        case!(G, transfer_download_empty_object),
        case!(G, transfer_download_stream_ordered, ["ranges"]),
        case!(G, transfer_progress_totals),
    ]
}

/// Ranges of downloads: small enough for a few per object on any backend.
const RANGE: u64 = 64 * 1024;

/// Multipart settings: parts of the case part size, four in flight.
fn options(ctx: &Ctx) -> TransferOptions {
    let part = ctx.part_size() as u64;
    TransferOptions {
        single_put_threshold: part,
        part_size: part,
        concurrency: 4,
        download_part_size: RANGE,
        read_ahead: 2,
        ..TransferOptions::default()
    }
}

fn engine(ctx: &Ctx, options: TransferOptions) -> Transfer {
    Transfer::with_options(ctx.driver.clone(), options)
}

/// No unfinished multipart upload under the case prefix (where the driver can list them).
async fn no_unfinished_uploads(ctx: &Ctx, when: &str) -> CaseResult {
    if !ctx.caps.list_multipart {
        return Ok(());
    }
    let left =
        ctx.d().list_multipart_uploads(&ctx.container, Some(&ctx.prefix)).await.or_fail("list_multipart_uploads")?;
    ensure!(left.is_empty(), "{when}: unfinished multipart uploads were left behind: {left:?}");
    Ok(())
}

fn temp_dir() -> Result<tempfile::TempDir, String> {
    tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))
}

async fn dir_entries(dir: &Path) -> Result<Vec<String>, String> {
    let mut rd = tokio::fs::read_dir(dir).await.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut out = Vec::new();
    while let Some(e) = rd.next_entry().await.map_err(|e| format!("cannot list {}: {e}", dir.display()))? {
        out.push(e.file_name().to_string_lossy().into_owned());
    }
    out.sort();
    Ok(out)
}

async fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    tokio::fs::read(path).await.map_err(|e| format!("cannot read {}: {e}", path.display()))
}

async fn transfer_upload_multipart_concurrent(ctx: Ctx) -> CaseResult {
    let part = ctx.part_size();
    let body = data(part * 3 + part / 2, 80);
    let t = engine(&ctx, options(&ctx));
    let o = t.upload_bytes(body.clone(), &ctx.container, &ctx.k("bytes"), PutOptions::default()).await;
    let o = o.or_fail("Transfer::upload_bytes of 3.5 parts, 4 in flight")?;
    ensure_eq("size returned by upload_bytes", &o.size, &(body.len() as u64))?;
    ctx.expect_data("bytes", &body).await?;
    let stream = stream_of(irregular_chunks(&body));
    let o = t.upload_stream(stream, &ctx.container, &ctx.k("stream"), PutOptions::default()).await;
    let o = o.or_fail("Transfer::upload_stream of 3.5 parts, 4 in flight")?;
    ensure_eq("size returned by upload_stream", &o.size, &(body.len() as u64))?;
    ctx.expect_data("stream", &body).await?;
    no_unfinished_uploads(&ctx, "after two multipart uploads").await
}

async fn transfer_upload_file_multipart(ctx: Ctx) -> CaseResult {
    let part = ctx.part_size();
    let body = data(part * 2 + 1, 81);
    let dir = temp_dir()?;
    let path = dir.path().join("upload.bin");
    tokio::fs::write(&path, &body).await.map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let o = engine(&ctx, options(&ctx))
        .upload_file(&path, &ctx.container, &ctx.k("file"), PutOptions::default())
        .await
        .or_fail("Transfer::upload_file of 2 parts and a byte")?;
    ensure_eq("size returned by upload_file", &o.size, &(body.len() as u64))?;
    ctx.expect_data("file", &body).await?;
    no_unfinished_uploads(&ctx, "after a multipart file upload").await
}

async fn transfer_upload_single_request(ctx: Ctx) -> CaseResult {
    let body = data(1000, 82);
    let t = engine(&ctx, options(&ctx));
    t.upload_bytes(body.clone(), &ctx.container, &ctx.k("small"), PutOptions::default())
        .await
        .or_fail("Transfer::upload_bytes of 1000 bytes")?;
    ctx.expect_data("small", &body).await?;
    t.upload_stream(
        stream_of(vec![body.slice(..10), body.slice(10..)]),
        &ctx.container,
        &ctx.k("s"),
        PutOptions::default(),
    )
    .await
    .or_fail("Transfer::upload_stream of 1000 bytes")?;
    ctx.expect_data("s", &body).await?;
    t.upload_bytes(Bytes::new(), &ctx.container, &ctx.k("empty"), PutOptions::default())
        .await
        .or_fail("Transfer::upload_bytes of nothing")?;
    ctx.expect_data("empty", b"").await
}

async fn transfer_upload_stream_error_aborts(ctx: Ctx) -> CaseResult {
    ctx.put("target", Bytes::from_static(b"the previous object")).await?;
    let part = ctx.part_size();
    let good = data(part * 5 / 2, 83);
    let result = engine(&ctx, options(&ctx))
        .upload_stream(failing_stream(good), &ctx.container, &ctx.k("target"), PutOptions::default())
        .await;
    let e = expect_err(result, "Transfer::upload_stream of a stream failing after 2.5 parts")?;
    ensure_eq("kind of the error of a failing source", &e.kind(), &ErrorKind::Io)?;
    ctx.expect_data("target", b"the previous object").await?;
    no_unfinished_uploads(&ctx, "after a failed multipart upload").await
}

async fn transfer_download_ranged(ctx: Ctx) -> CaseResult {
    let body = data(RANGE as usize * 3 + 1000, 84);
    ctx.put("obj", body.clone()).await?;
    let dir = temp_dir()?;
    let dest = dir.path().join("out.bin");
    let o = engine(&ctx, TransferOptions { concurrency: 4, ..options(&ctx) })
        .download_file(&ctx.container, &ctx.k("obj"), &dest, &DownloadOptions::default())
        .await
        .or_fail("Transfer::download_file in 4 ranges, 4 in flight")?;
    ensure_eq("size returned by download_file", &o.size, &(body.len() as u64))?;
    same_bytes("the downloaded file", &read_file(&dest).await?, &body)?;
    ensure_eq("files in the download directory", &dir_entries(dir.path()).await?, &vec!["out.bin".to_owned()])
}

async fn transfer_download_empty_object(ctx: Ctx) -> CaseResult {
    ctx.put("empty", Bytes::new()).await?;
    let dir = temp_dir()?;
    let dest = dir.path().join("empty.bin");
    let t = engine(&ctx, options(&ctx));
    t.download_file(&ctx.container, &ctx.k("empty"), &dest, &DownloadOptions::default())
        .await
        .or_fail("Transfer::download_file of an empty object")?;
    same_bytes("the downloaded empty file", &read_file(&dest).await?, b"")?;
    let mut s = t.download_stream(&ctx.container, &ctx.k("empty")).await.or_fail("Transfer::download_stream")?;
    while let Some(c) = s.next().await {
        let c = c.or_fail("reading the stream of an empty object")?;
        ensure!(c.is_empty(), "the stream of an empty object yielded {} bytes", c.len());
    }
    ensure_eq("files in the download directory", &dir_entries(dir.path()).await?, &vec!["empty.bin".to_owned()])
}

async fn transfer_download_stream_ordered(ctx: Ctx) -> CaseResult {
    let body = data(RANGE as usize * 5 + 77, 85);
    ctx.put("obj", body.clone()).await?;
    let mut s = engine(&ctx, options(&ctx))
        .download_stream(&ctx.container, &ctx.k("obj"))
        .await
        .or_fail("Transfer::download_stream in 6 ranges, 2 ahead")?;
    let mut all = Vec::with_capacity(body.len());
    while let Some(c) = s.next().await {
        all.extend_from_slice(&c.or_fail("reading the ordered stream")?);
    }
    same_bytes("the ordered stream", &all, &body)
}

#[derive(Default)]
struct Totals {
    starts: Mutex<Vec<(Option<u64>, Option<u64>)>>,
    bytes: AtomicU64,
    done: Mutex<Vec<String>>,
}

impl Progress for Totals {
    fn start(&self, total_bytes: Option<u64>, total_objects: Option<u64>) {
        self.starts.lock().unwrap_or_else(PoisonError::into_inner).push((total_bytes, total_objects));
    }
    fn bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::SeqCst);
    }
    fn object_done(&self, key: &str) {
        self.done.lock().unwrap_or_else(PoisonError::into_inner).push(key.to_owned());
    }
}

impl Totals {
    fn check(&self, what: &str, size: u64, key: &str) -> CaseResult {
        let starts = self.starts.lock().unwrap_or_else(PoisonError::into_inner).clone();
        ensure_eq(&format!("{what}: totals announced"), &starts, &vec![(Some(size), Some(1))])?;
        ensure_eq(&format!("{what}: bytes reported"), &self.bytes.load(Ordering::SeqCst), &size)?;
        let done = self.done.lock().unwrap_or_else(PoisonError::into_inner).clone();
        ensure_eq(&format!("{what}: objects reported done"), &done, &vec![key.to_owned()])
    }
}

async fn transfer_progress_totals(ctx: Ctx) -> CaseResult {
    let size = if ctx.caps.multipart { ctx.part_size() * 2 + 3 } else { 200_003 };
    let body = data(size, 86);
    let key = ctx.k("obj");
    let up = Arc::new(Totals::default());
    engine(&ctx, options(&ctx).with_progress(up.clone()))
        .upload_bytes(body.clone(), &ctx.container, &key, PutOptions::default())
        .await
        .or_fail("Transfer::upload_bytes with progress")?;
    up.check("upload", size as u64, &key)?;
    let down = Arc::new(Totals::default());
    let dir = temp_dir()?;
    let dest = dir.path().join("out.bin");
    engine(&ctx, options(&ctx).with_progress(down.clone()))
        .download_file(&ctx.container, &key, &dest, &DownloadOptions::default())
        .await
        .or_fail("Transfer::download_file with progress")?;
    down.check("download", size as u64, &key)?;
    same_bytes("the downloaded file", &read_file(&dest).await?, &body)
}
