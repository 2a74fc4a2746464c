//! Objects as tokio I/O handles ([`storage_core::OpenExt`]): the reader (ranged reads
//! with read-ahead, seeks, pinned to one version) and the writer (visible only after
//! `shutdown`, nothing left when dropped). New in suite 1.2.0, so gated by the
//! capabilities that version added: `stable_etag` for the reader, `atomic_multipart` for
//! the writer.

use std::io::SeekFrom;
use std::time::{Duration, Instant};

use bytes::Bytes;
use storage_core::{
    ErrorKind, ObjectReader, ObjectWriter, OpenExt, PutMode, PutOptions, ReaderOptions, TransferOptions, WriterOptions,
    storage_error,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::case::{Case, CaseResult, case, ensure};
use crate::context::{Ctx, OrFail, data, ensure_eq, same_bytes};

const G: &str = "io";

pub(crate) fn cases() -> Vec<Case> {
    vec![
        case!(G, reader_reads_whole, ["ranges", "stable_etag"]),
        case!(G, reader_seeks_around, ["ranges", "stable_etag"]),
        case!(G, reader_read_ahead_across_chunks, ["ranges", "stable_etag"]),
        case!(G, reader_seek_past_end, ["ranges", "stable_etag"]),
        case!(G, reader_object_replaced_fails, ["ranges", "stable_etag"]),
        case!(G, writer_small_writes_cross_parts, ["atomic_multipart"]),
        case!(G, writer_invisible_until_shutdown, ["atomic_multipart"]),
        case!(G, writer_dropped_leaves_nothing, ["atomic_multipart"]),
        case!(G, writer_empty_object, ["atomic_multipart"]),
        case!(G, writer_put_options, ["atomic_multipart"]),
        case!(G, writer_create_if_absent, ["atomic_multipart", "put_if_absent"]),
    ]
}

/// How long a case waits for a background abort to reach the backend.
const ABORT_WAIT: Duration = Duration::from_secs(10);

/// An I/O error from a handle, described with the storage error inside it.
fn describe(e: &std::io::Error) -> String {
    match storage_error(e) {
        Some(inner) => format!("{} ({})", inner.kind().as_str(), inner),
        None => format!("an I/O error without a storage error inside: {e}"),
    }
}

trait OrFailIo<T> {
    fn or_fail_io(self, what: &str) -> Result<T, String>;
}

impl<T> OrFailIo<T> for std::io::Result<T> {
    fn or_fail_io(self, what: &str) -> Result<T, String> {
        self.map_err(|e| format!("{what}: unexpected error: {}", describe(&e)))
    }
}

fn chunked(chunk_size: u64, read_ahead: usize) -> ReaderOptions {
    ReaderOptions { chunk_size, read_ahead, ..ReaderOptions::default() }
}

async fn open_reader(ctx: &Ctx, name: &str, options: ReaderOptions) -> Result<ObjectReader, String> {
    ctx.driver.open_reader(&ctx.container, &ctx.k(name), options).await.or_fail(&format!("open_reader {name:?}"))
}

/// Writer settings: parts of the case part size, single request up to one part.
fn writer_options(ctx: &Ctx, put: PutOptions) -> WriterOptions {
    let part = ctx.part_size() as u64;
    let transfer =
        TransferOptions { part_size: part, single_put_threshold: part, concurrency: 3, ..TransferOptions::default() };
    WriterOptions { put, transfer }
}

fn open_writer(ctx: &Ctx, name: &str, options: WriterOptions) -> Result<ObjectWriter, String> {
    ctx.driver.open_writer(&ctx.container, &ctx.k(name), options).or_fail(&format!("open_writer {name:?}"))
}

/// Writes `body` in pieces of 1 to 4 099 bytes (varying), never a part at once.
async fn write_in_pieces(w: &mut ObjectWriter, body: &[u8]) -> CaseResult {
    let mut at = 0;
    let mut i = 0usize;
    while at < body.len() {
        let n = (1 + (i * 1237) % 4099).min(body.len() - at);
        w.write_all(&body[at..at + n]).await.or_fail_io(&format!("write of {n} bytes at offset {at}"))?;
        at += n;
        i += 1;
    }
    Ok(())
}

/// Unfinished multipart uploads under the case prefix (none where they cannot be listed).
async fn unfinished(ctx: &Ctx) -> Result<usize, String> {
    if !ctx.caps.list_multipart {
        return Ok(0);
    }
    let left =
        ctx.d().list_multipart_uploads(&ctx.container, Some(&ctx.prefix)).await.or_fail("list_multipart_uploads")?;
    Ok(left.len())
}

async fn reader_reads_whole(ctx: Ctx) -> CaseResult {
    let body = data(200_000, 120);
    ctx.put("whole", body.clone()).await?;
    let mut r = open_reader(&ctx, "whole", chunked(64 * 1024, 1)).await?;
    ensure_eq("ObjectReader::size", &r.size(), &(body.len() as u64))?;
    let mut got = Vec::new();
    r.read_to_end(&mut got).await.or_fail_io("read_to_end of 200 000 bytes in chunks of 64 KiB")?;
    same_bytes("the data read", &got, &body)?;
    let n = r.read(&mut [0u8; 16]).await.or_fail_io("read at the end")?;
    ensure_eq("bytes read at the end", &n, &0)?;
    // An empty object reads as nothing.
    ctx.put("empty", Bytes::new()).await?;
    let mut r = open_reader(&ctx, "empty", ReaderOptions::default()).await?;
    ensure_eq("ObjectReader::size of an empty object", &r.size(), &0)?;
    let mut got = Vec::new();
    r.read_to_end(&mut got).await.or_fail_io("read_to_end of an empty object")?;
    ensure!(got.is_empty(), "an empty object read as {} bytes", got.len());
    // A missing object fails to open.
    let missing = ctx.driver.open_reader(&ctx.container, &ctx.k("missing"), ReaderOptions::default()).await;
    match missing {
        Err(e) if e.kind() == ErrorKind::ObjectDoesNotExist => Ok(()),
        Err(e) => Err(format!("open_reader of a missing object: expected ObjectDoesNotExist, got {e}")),
        Ok(_) => Err("open_reader of a missing object succeeded".into()),
    }
}

async fn reader_seeks_around(ctx: Ctx) -> CaseResult {
    let body = data(50_000, 121);
    ctx.put("seek", body.clone()).await?;
    let mut r = open_reader(&ctx, "seek", chunked(8192, 1)).await?;
    let mut buf = vec![0u8; 1000];
    // (where to seek, the position expected)
    let moves: [(SeekFrom, u64); 7] = [
        (SeekFrom::Start(30_000), 30_000),
        (SeekFrom::Current(-500), 30_500),
        (SeekFrom::Start(10), 10),
        (SeekFrom::End(-1000), 49_000),
        (SeekFrom::Current(-20_000), 30_000),
        (SeekFrom::Start(8000), 8000),
        (SeekFrom::Start(0), 0),
    ];
    for (to, want) in moves {
        let at = r.seek(to).await.or_fail_io(&format!("seek {to:?}"))?;
        ensure_eq(&format!("position after seek {to:?}"), &at, &want)?;
        r.read_exact(&mut buf).await.or_fail_io(&format!("read of 1000 bytes at {at}"))?;
        let start = usize::try_from(at).map_err(|e| e.to_string())?;
        same_bytes(&format!("1000 bytes at {at}"), &buf, &body[start..start + 1000])?;
    }
    Ok(())
}

async fn reader_read_ahead_across_chunks(ctx: Ctx) -> CaseResult {
    let body = data(100_000, 122);
    ctx.put("ahead", body.clone()).await?;
    for (chunk, ahead) in [(10_000u64, 2usize), (7_001, 1), (33_333, 0)] {
        let mut r = open_reader(&ctx, "ahead", chunked(chunk, ahead)).await?;
        let mut got = Vec::with_capacity(body.len());
        let mut buf = vec![0u8; 7777];
        loop {
            let n = r.read(&mut buf).await.or_fail_io(&format!("read (chunks of {chunk}, {ahead} ahead)"))?;
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        same_bytes(&format!("the data read in chunks of {chunk} with {ahead} ahead"), &got, &body)?;
    }
    // Lines through the buffered interface, across chunk boundaries.
    let text: String = (0..500).map(|i| format!("line {i}\n")).collect();
    ctx.put("lines", text.clone()).await?;
    let mut lines = open_reader(&ctx, "lines", chunked(1000, 1)).await?.lines();
    let mut n = 0;
    while let Some(line) = lines.next_line().await.or_fail_io("next_line")? {
        ensure_eq("a line", &line, &format!("line {n}"))?;
        n += 1;
    }
    ensure_eq("lines read", &n, &500)
}

async fn reader_seek_past_end(ctx: Ctx) -> CaseResult {
    let body = data(5000, 123);
    ctx.put("end", body.clone()).await?;
    let mut r = open_reader(&ctx, "end", chunked(2048, 1)).await?;
    let at = r.seek(SeekFrom::End(100)).await.or_fail_io("seek 100 bytes past the end")?;
    ensure_eq("position past the end", &at, &5100)?;
    let n = r.read(&mut [0u8; 64]).await.or_fail_io("read past the end")?;
    ensure_eq("bytes read past the end", &n, &0)?;
    let at = r.seek(SeekFrom::Start(u64::MAX / 2)).await.or_fail_io("seek far past the end")?;
    ensure_eq("position far past the end", &at, &(u64::MAX / 2))?;
    ensure_eq("bytes read far past the end", &r.read(&mut [0u8; 64]).await.or_fail_io("read")?, &0)?;
    let at = r.seek(SeekFrom::Start(4990)).await.or_fail_io("seek back before the end")?;
    let mut tail = Vec::new();
    r.read_to_end(&mut tail).await.or_fail_io("read_to_end from 4990")?;
    same_bytes(&format!("the bytes from {at}"), &tail, &body[4990..])?;
    match r.seek(SeekFrom::Current(-6000)).await {
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Ok(()),
        Err(e) => Err(format!("seek before the start: expected InvalidInput, got {e}")),
        Ok(at) => Err(format!("seek before the start succeeded (position {at})")),
    }
}

async fn reader_object_replaced_fails(ctx: Ctx) -> CaseResult {
    let old = data(30_000, 124);
    ctx.put("replaced", old.clone()).await?;
    // Nothing fetched ahead: the second chunk is requested after the replacement.
    let mut r = open_reader(&ctx, "replaced", chunked(10_000, 0)).await?;
    let mut first = vec![0u8; 100];
    r.read_exact(&mut first).await.or_fail_io("read of the first 100 bytes")?;
    same_bytes("the first 100 bytes", &first, &old[..100])?;
    // Same size, other data: only the ETag tells them apart.
    ctx.put("replaced", data(30_000, 125)).await?;
    let mut rest = Vec::new();
    match r.read_to_end(&mut rest).await {
        Ok(n) => Err(format!(
            "reading on after the object was replaced returned {n} more bytes instead of PreconditionFailed{}",
            if rest.as_slice() == &old[100..] { " (the old data)" } else { " (mixing versions)" }
        )),
        Err(e) => match storage_error(&e) {
            Some(inner) if inner.kind() == ErrorKind::PreconditionFailed => Ok(()),
            _ => Err(format!(
                "reading on after the object was replaced: expected PreconditionFailed, got {}",
                describe(&e)
            )),
        },
    }
}

async fn writer_small_writes_cross_parts(ctx: Ctx) -> CaseResult {
    let part = ctx.part_size();
    let body = data(part * 2 + part / 2, 126);
    let mut w = open_writer(&ctx, "parts", writer_options(&ctx, PutOptions::default()))?;
    write_in_pieces(&mut w, &body).await?;
    w.shutdown().await.or_fail_io("shutdown after 2.5 parts of small writes")?;
    let size = w.object().map(|o| o.size);
    ensure_eq("size of ObjectWriter::object after shutdown", &size, &Some(body.len() as u64))?;
    ctx.expect_data("parts", &body).await?;
    ensure_eq("unfinished multipart uploads after shutdown", &unfinished(&ctx).await?, &0)
}

async fn writer_invisible_until_shutdown(ctx: Ctx) -> CaseResult {
    let part = ctx.part_size();
    let body = data(part * 2 + part / 2, 127);
    let mut w = open_writer(&ctx, "later", writer_options(&ctx, PutOptions::default()))?;
    write_in_pieces(&mut w, &body).await?;
    w.flush().await.or_fail_io("flush")?;
    // Two whole parts are with the engine: let it start uploading them.
    started_upload(&ctx).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    ctx.expect_absent("later").await.map_err(|e| format!("before shutdown: {e}"))?;
    let listed = ctx.list(ctx.under("")).await?;
    ensure!(listed.is_empty(), "before shutdown, the listing shows {:?}", ctx.render(&listed));
    w.shutdown().await.or_fail_io("shutdown")?;
    ctx.expect_data("later", &body).await
}

/// Waits (up to 5 s) for a multipart upload under the case prefix to be listed, where the
/// driver lists them; a driver that writes in one request never shows one.
async fn started_upload(ctx: &Ctx) -> CaseResult {
    let started = Instant::now();
    while ctx.caps.list_multipart && unfinished(ctx).await? == 0 && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

async fn writer_dropped_leaves_nothing(ctx: Ctx) -> CaseResult {
    let part = ctx.part_size();
    ctx.put("dropped", "old").await?;
    let mut w = open_writer(&ctx, "dropped", writer_options(&ctx, PutOptions::default()))?;
    write_in_pieces(&mut w, &data(part * 2 + 1, 128)).await?;
    w.flush().await.or_fail_io("flush")?;
    // Let the multipart upload (where the driver uses one) start, so the drop abandons
    // it midway.
    started_upload(&ctx).await?;
    drop(w);
    let dropped = Instant::now();
    loop {
        // A listing racing the abort may fail on some servers (rclone answers
        // NoSuchUpload): ask again until the deadline, then report what was last seen.
        let left = match unfinished(&ctx).await {
            Ok(0) => break,
            Ok(n) => format!("{n} unfinished multipart upload(s) left"),
            Err(e) => e,
        };
        ensure!(dropped.elapsed() < ABORT_WAIT, "{left} {ABORT_WAIT:?} after the drop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ctx.expect_data("dropped", b"old").await.map_err(|e| format!("after the drop: {e}"))?;
    // A small writer dropped: nothing written either.
    let mut w = open_writer(&ctx, "small", writer_options(&ctx, PutOptions::default()))?;
    w.write_all(b"never").await.or_fail_io("write")?;
    drop(w);
    tokio::time::sleep(Duration::from_millis(200)).await;
    ctx.expect_absent("small").await.map_err(|e| format!("after dropping a small writer: {e}"))
}

async fn writer_empty_object(ctx: Ctx) -> CaseResult {
    let mut w = open_writer(&ctx, "empty", writer_options(&ctx, PutOptions::default()))?;
    w.shutdown().await.or_fail_io("shutdown of a writer given nothing")?;
    ensure_eq("size of ObjectWriter::object", &w.object().map(|o| o.size), &Some(0))?;
    ctx.expect_data("empty", b"").await?;
    ensure_eq("size from head_object", &ctx.head("empty").await?.size, &0)
}

async fn writer_put_options(ctx: Ctx) -> CaseResult {
    let mut put = PutOptions { content_type: Some("text/x-conformance".into()), ..PutOptions::default() };
    put.metadata.insert("case".into(), "writer".into());
    let part = ctx.part_size();
    for (name, len) in [("small", 1000), ("large", part * 2 + 3)] {
        let body = data(len, 129);
        let mut w = open_writer(&ctx, name, writer_options(&ctx, put.clone()))?;
        write_in_pieces(&mut w, &body).await?;
        w.shutdown().await.or_fail_io(&format!("shutdown of {name}"))?;
        ctx.expect_data(name, &body).await?;
        let o = ctx.head(name).await?;
        if ctx.caps.content_headers {
            ensure_eq(&format!("content type of {name}"), &o.content_type.as_deref(), &Some("text/x-conformance"))?;
        }
        if ctx.caps.user_metadata {
            ensure_eq(&format!("metadata of {name}"), &o.metadata.get("case").map(String::as_str), &Some("writer"))?;
        }
    }
    Ok(())
}

async fn writer_create_if_absent(ctx: Ctx) -> CaseResult {
    ctx.put("taken", "old").await?;
    let put = PutOptions { mode: PutMode::CreateIfAbsent, ..PutOptions::default() };
    let mut w = open_writer(&ctx, "taken", writer_options(&ctx, put.clone()))?;
    w.write_all(b"new").await.or_fail_io("write")?;
    match w.shutdown().await {
        Ok(()) => return Err("shutdown with CreateIfAbsent over an existing object succeeded".into()),
        Err(e) => match storage_error(&e) {
            Some(inner) if inner.kind() == ErrorKind::PreconditionFailed => {}
            _ => {
                return Err(format!("shutdown with CreateIfAbsent: expected PreconditionFailed, got {}", describe(&e)));
            }
        },
    }
    // The failure is sticky.
    let again = w.write_all(b"more").await;
    ensure!(again.is_err(), "a write after a failed shutdown succeeded");
    ctx.expect_data("taken", b"old").await?;
    let mut w = open_writer(&ctx, "fresh", writer_options(&ctx, put))?;
    w.write_all(b"new").await.or_fail_io("write")?;
    w.shutdown().await.or_fail_io("shutdown with CreateIfAbsent over nothing")?;
    ctx.expect_data("fresh", b"new").await
}
