//! Uploads of files, bytes and streams: one request below a threshold (of any size where
//! parts do not help, `Capabilities::parallel_upload` off), otherwise a multipart upload
//! with `concurrency` parts in flight while the next part is read, memory bounded by
//! `part_size x (concurrency + 1)`, an MD5 per part (computed once, sent with the part
//! and checked against its ETag), a check of the whole object (its MD5 where the backend
//! reports one, otherwise the multipart ETag), and an abort on any failure (and on
//! cancellation, given the driver's `Arc`). Drivers that check writes end to end
//! themselves (`upload_checksums`: S3's CRC32C per request, per part and for the whole
//! object) get no MD5 from the engine: the data is hashed once, by the driver.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io::Read;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::stream::{BoxStream, FuturesUnordered, Stream, StreamExt};
use tokio::io::AsyncReadExt;

use super::TransferOptions;
use super::cancelled;
use super::checksum::{Sent, StreamTap, bare_etag, check_upload, md5_off_thread};
use super::progress::Progress;
use crate::capabilities::{DriverInfo, Limits};
use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};
use crate::fsio::{file_stream, md5_file};
use crate::hash::{Md5Hasher, is_md5_hex};
use crate::multipart::{CompleteOptions, CompletedPart, MultipartUpload, PartOptions};
use crate::object::Object;
use crate::options::PutOptions;
use crate::payload::{ByteStream, Payload};

/// Size of the reads from a local file.
const READ_CHUNK: usize = 1 << 20;

/// The part size for an object of `length` bytes (unknown: `None`): the preferred size,
/// raised to the driver's minimum and to what fits in its maximum part count.
pub fn plan_part_size(length: Option<u64>, transfer: &TransferOptions, limits: &Limits) -> Result<u64> {
    let mut size = transfer.part_size.max(limits.min_part_size).max(1);
    if let Some(len) = length {
        size = size.max(len.div_ceil(u64::from(limits.max_parts.max(1))));
    }
    if size > limits.max_part_size {
        return Err(Error::new(
            ErrorKind::NotSupported,
            format!(
                "an object of {} bytes needs parts of {size} bytes, above the driver's maximum of {}",
                length.unwrap_or(0),
                limits.max_part_size
            ),
        ));
    }
    Ok(size)
}

/// What to upload.
pub(crate) enum Source<'a> {
    /// A local file.
    File(&'a Path),
    /// Bytes in memory.
    Bytes(Bytes),
    /// A stream of unknown length.
    Stream(ByteStream),
}

/// Where and how to upload.
pub(crate) struct UploadJob<'a> {
    pub container: &'a str,
    pub key: &'a str,
    pub options: PutOptions,
    pub transfer: &'a TransferOptions,
    /// The driver, owned, so that a multipart upload whose future is dropped can still be
    /// aborted; `None` when the engine runs on a borrowed driver.
    pub owner: Option<Arc<dyn Driver>>,
}

/// Uploads `source`; reports `object_done` on success; adds the driver, container and key
/// to errors.
pub(crate) async fn upload<D: Driver + ?Sized>(driver: &D, source: Source<'_>, job: UploadJob<'_>) -> Result<Object> {
    let mut job = job;
    // ACL, storage class, encryption, tags or headers the driver cannot apply: refused
    // before any data is read.
    job.options
        .check_extras(driver.info())
        .map_err(|e| e.or_context(&driver.info().name, Some(job.container), Some(job.key)))?;
    // No content type given: guess it from the file's name (else the key's), as Libcloud
    // does, where the driver stores content headers at all.
    if job.options.content_type.is_none() && driver.info().capabilities.content_headers {
        let from_file = match &source {
            Source::File(path) => path.file_name().and_then(|n| n.to_str()).and_then(crate::mime::content_type_for),
            _ => None,
        };
        job.options.content_type = from_file.or_else(|| crate::mime::content_type_for(job.key)).map(str::to_owned);
    }
    let result = match source {
        Source::File(path) => upload_file(driver, path, &job).await,
        Source::Bytes(data) => upload_bytes(driver, data, &job).await,
        Source::Stream(stream) => upload_stream(driver, stream, &job).await,
    };
    match result {
        Ok(object) => {
            job.transfer.progress().object_done(job.key);
            Ok(object)
        }
        Err(e) => Err(e.or_context(&driver.info().name, Some(job.container), Some(job.key))),
    }
}

/// Whether the engine hashes an upload's data with MD5 itself: to check a caller's
/// `content_md5` the driver does not check (`put_content_md5`), or, with
/// `TransferOptions::verify`, to check the stored object where the driver does not check
/// writes end to end itself (`upload_checksums`: S3 with CRC32C). Otherwise no MD5 is
/// computed here, so the data is hashed at most once.
fn engine_md5(job: &UploadJob<'_>, info: &DriverInfo) -> bool {
    let caps = &info.capabilities;
    match job.options.content_md5 {
        Some(_) => !caps.put_content_md5,
        None => job.transfer.verify && !caps.upload_checksums,
    }
}

/// Whether each part's MD5 is computed (sent with the part, checked against its ETag,
/// and the multipart ETag checked against them): with `verify`, unless the driver checks
/// parts end to end itself (`upload_checksums`).
fn hash_each_part(transfer: &TransferOptions, info: &DriverInfo) -> bool {
    transfer.verify && !info.capabilities.upload_checksums
}

/// The largest object written with one request.
fn single_limit(transfer: &TransferOptions, info: &DriverInfo) -> u64 {
    transfer.single_put_threshold.min(info.limits.max_single_put)
}

/// Whether `len` bytes go as a multipart upload: above the threshold where parts help
/// (`parallel_upload`), otherwise only above what one request may carry.
fn wants_multipart(transfer: &TransferOptions, info: &DriverInfo, len: u64) -> bool {
    let caps = &info.capabilities;
    caps.multipart
        && match caps.parallel_upload {
            true => len > single_limit(transfer, info),
            false => len > info.limits.max_single_put,
        }
}

async fn upload_file<D: Driver + ?Sized>(driver: &D, path: &Path, job: &UploadJob<'_>) -> Result<Object> {
    let t = job.transfer;
    let mut file =
        tokio::fs::File::open(path).await.map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    let stamp =
        Stamp::of(&file.metadata().await.map_err(|e| Error::io(format!("reading the size of {}", path.display()), e))?);
    let len = stamp.len;
    t.progress().start(Some(len), Some(1));
    let info = driver.info();
    if wants_multipart(t, info, len) {
        let part_size = plan_part_size(Some(len), t, &info.limits)?;
        let source = FileSource { file: file.into_std().await, path: path.to_owned(), stamp };
        let parts = file_parts(source, part_size, hash_each_part(t, info));
        return multipart(driver, job, Parts { stream: parts, size: part_size }, VecDeque::new(), Some(len)).await;
    }
    let wants_md5 = engine_md5(job, info);
    if len <= t.memory_budget() {
        // Small enough to hold: read it once, hash it, and send a replayable payload.
        let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        file.read_to_end(&mut buf).await.map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        if buf.len() as u64 != len {
            return Err(changed_file(path, len, buf.len() as u64));
        }
        stamp.check(file.metadata().await, path)?;
        let data = Bytes::from(buf);
        let md5 = if wants_md5 { Some(md5_off_thread(data.clone()).await?) } else { None };
        return put_single(driver, job, Payload::Bytes(data), len, md5).await;
    }
    // Too large to hold (a driver without multipart): hash in one pass, stream in another.
    let md5 = if wants_md5 { Some(md5_file(path).await?) } else { None };
    // Progress follows the bytes as the request consumes them, not only at the end; a file
    // changed meanwhile fails the stream at its end, so the request is never completed.
    let watch = file.try_clone().await.map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    let owned = path.to_owned();
    let unchanged = futures::stream::once(async move { stamp.check(watch.metadata().await, &owned) })
        .filter_map(|checked| async move { checked.err().map(Err) });
    let stream = reporting(file_stream(file, READ_CHUNK).chain(unchanged).boxed(), t.progress.clone());
    put_single_reported(driver, job, Payload::stream(stream, Some(len)), len, md5).await
}

/// A file's length and modification time when its upload starts: the same at its end, or
/// the file changed while it was read and the upload fails before it is committed (as
/// rclone's "source file is being updated").
#[derive(Debug, Clone, Copy)]
struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl Stamp {
    fn of(m: &std::fs::Metadata) -> Self {
        Stamp { len: m.len(), modified: m.modified().ok() }
    }

    /// An error when `now` (the file's metadata after it was read, or the error reading
    /// it) is not this stamp.
    fn check(&self, now: std::io::Result<std::fs::Metadata>, path: &Path) -> Result<()> {
        let now = Stamp::of(&now.map_err(|e| Error::io(format!("reading {}", path.display()), e))?);
        if now.len == self.len && now.modified == self.modified {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Io,
            format!(
                "{} changed during the upload (its size or modification time changed while it was read); \
                 the upload was not completed",
                path.display()
            ),
        )
        .with_retryable(false)
        .with_hint("upload it again once nothing is writing to it"))
    }
}

/// The file of a multipart upload, with what it must still be when its last part is read.
struct FileSource {
    file: std::fs::File,
    path: std::path::PathBuf,
    stamp: Stamp,
}

fn changed_file(path: &Path, expected: u64, got: u64) -> Error {
    Error::new(
        ErrorKind::Io,
        format!("{} changed during the upload: it had {expected} bytes but {got} were read", path.display()),
    )
}

async fn upload_bytes<D: Driver + ?Sized>(driver: &D, data: Bytes, job: &UploadJob<'_>) -> Result<Object> {
    let t = job.transfer;
    let len = data.len() as u64;
    t.progress().start(Some(len), Some(1));
    let info = driver.info();
    if wants_multipart(t, info, len) {
        let part_size = plan_part_size(Some(len), t, &info.limits)?;
        let source = futures::stream::once(async move { Ok(data) }).boxed();
        let parts = Parts::cut(source, part_size);
        return multipart(driver, job, parts, VecDeque::new(), Some(len)).await;
    }
    let md5 = if engine_md5(job, info) { Some(md5_off_thread(data.clone()).await?) } else { None };
    put_single(driver, job, Payload::Bytes(data), len, md5).await
}

async fn upload_stream<D: Driver + ?Sized>(driver: &D, stream: ByteStream, job: &UploadJob<'_>) -> Result<Object> {
    let t = job.transfer;
    t.progress().start(None, Some(1));
    let info = driver.info();
    if !info.capabilities.multipart || !info.capabilities.parallel_upload {
        return put_stream(driver, stream, job).await;
    }
    let part_size = plan_part_size(None, t, &info.limits)?;
    let mut parts = PartCutter::new(stream, part_size);
    // Read ahead up to the threshold (and at least the first part, to see whether the
    // stream ends within it), holding at most `concurrency + 1` parts.
    let limit = single_limit(t, info);
    let most = t.parts_in_flight() + 1;
    let mut held = VecDeque::new();
    let mut total = 0u64;
    let mut eof = false;
    while held.len() < most && (held.len() < 2 || total <= limit) {
        match parts.next().await {
            Some(part) => {
                let part = part?;
                total += part.len() as u64;
                held.push_back(part);
            }
            None => {
                eof = true;
                break;
            }
        }
    }
    if eof && (held.len() <= 1 || total <= limit) && total <= info.limits.max_single_put {
        let data = match held.len() {
            0 => Bytes::new(),
            1 => held.pop_front().unwrap_or_default(),
            _ => {
                let mut all = BytesMut::with_capacity(usize::try_from(total).unwrap_or(0));
                for p in held {
                    all.extend_from_slice(&p);
                }
                all.freeze()
            }
        };
        let md5 = if engine_md5(job, info) { Some(md5_off_thread(data.clone()).await?) } else { None };
        return put_single(driver, job, Payload::Bytes(data), total, md5).await;
    }
    let held = held.into_iter().map(|data| PartData { data, md5: None }).collect();
    multipart(driver, job, Parts { size: part_size, stream: parts.map(|r| r.map(PartData::from)).boxed() }, held, None)
        .await
}

/// The parts of a multipart upload, in order, and the part size.
struct Parts {
    stream: BoxStream<'static, Result<PartData>>,
    size: u64,
}

impl Parts {
    /// Parts cut from a byte stream.
    fn cut(stream: ByteStream, size: u64) -> Self {
        Parts { stream: PartCutter::new(stream, size).map(|r| r.map(PartData::from)).boxed(), size }
    }
}

/// One part's data, and its MD5 when it was computed as it was read.
struct PartData {
    data: Bytes,
    md5: Option<String>,
}

impl From<Bytes> for PartData {
    fn from(data: Bytes) -> Self {
        PartData { data, md5: None }
    }
}

/// A file's parts, each read straight into its own buffer by one blocking task that also
/// computes its MD5 (with `hash`) while the data is in cache: no copies between read
/// buffers, one hop to the blocking pool per part.
fn file_parts(source: FileSource, size: u64, hash: bool) -> BoxStream<'static, Result<PartData>> {
    let source = Arc::new(source);
    futures::stream::unfold(Some(source), move |source| async move {
        let source = source?;
        let reader = source.clone();
        let read = tokio::task::spawn_blocking(move || -> Result<PartData> {
            let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(usize::MAX));
            let file = &reader.file;
            file.take(size).read_to_end(&mut buf).map_err(|e| Error::io("reading the file failed", e))?;
            if buf.is_empty() {
                // The end: the file must be as it was when the upload started.
                reader.stamp.check(file.metadata(), &reader.path)?;
            }
            let md5 = (hash && !buf.is_empty()).then(|| crate::hash::md5_hex(&buf));
            Ok(PartData { data: Bytes::from(buf), md5 })
        })
        .await;
        match read {
            Ok(Ok(part)) if part.data.is_empty() => None,
            Ok(Ok(part)) => Some((Ok(part), Some(source))),
            Ok(Err(e)) => Some((Err(e), None)),
            Err(e) => Some((Err(Error::new(ErrorKind::Io, format!("a file reading task failed: {e}"))), None)),
        }
    })
    .boxed()
}

/// One request with data whose MD5 (`md5`) is known when the engine computed it
/// ([`engine_md5`]): the MD5 is checked against a caller's `content_md5` before anything
/// is sent, passed as `content_md5` where the driver verifies it, and compared with the
/// stored object's hash afterwards (as is a caller's `content_md5` that the driver
/// verified itself).
async fn put_single<D: Driver + ?Sized>(
    driver: &D,
    job: &UploadJob<'_>,
    payload: Payload,
    len: u64,
    md5: Option<String>,
) -> Result<Object> {
    let object = put_single_reported(driver, job, payload, len, md5).await?;
    job.transfer.progress().bytes(len);
    Ok(object)
}

/// [`put_single`] for a payload that reports its own progress as it is read.
async fn put_single_reported<D: Driver + ?Sized>(
    driver: &D,
    job: &UploadJob<'_>,
    payload: Payload,
    len: u64,
    md5: Option<String>,
) -> Result<Object> {
    let t = job.transfer;
    let caps = &driver.info().capabilities;
    let mut options = job.options.clone();
    // The data's MD5: computed here, or the caller's, which the driver refuses the write
    // for when the data differs.
    let sent_md5 = md5.clone().or_else(|| options.content_md5.clone().filter(|_| caps.put_content_md5));
    if let (Some(want), Some(got)) = (options.content_md5.as_deref(), md5.as_deref())
        && !want.eq_ignore_ascii_case(got)
    {
        return Err(Error::new(
            ErrorKind::ObjectHashMismatch,
            format!("the data's MD5 is {got} but content_md5 is {want}; nothing was written"),
        ));
    }
    if t.verify && caps.put_content_md5 && options.content_md5.is_none() {
        options.content_md5.clone_from(&md5);
    }
    let object = driver.put_object(job.container, job.key, payload, &options).await?;
    let md5 = sent_md5.filter(|_| t.verify);
    check_upload(&object, &Sent { len, md5: md5.as_deref(), part_md5s: None })?;
    Ok(object)
}

/// One request with a stream (a driver without multipart), hashed as it is sent.
async fn put_stream<D: Driver + ?Sized>(driver: &D, stream: ByteStream, job: &UploadJob<'_>) -> Result<Object> {
    let t = job.transfer;
    let (stream, tap) = StreamTap::wrap(stream, t.verify && !driver.info().capabilities.upload_checksums);
    let stream = reporting(stream, t.progress.clone());
    let object = driver.put_object(job.container, job.key, Payload::stream(stream, None), &job.options).await?;
    let (len, md5) = tap.finish();
    check_upload(&object, &Sent { len, md5: md5.as_deref(), part_md5s: None })?;
    Ok(object)
}

/// `stream`, reporting each chunk to `progress` as the request takes it.
fn reporting(stream: ByteStream, progress: Option<Arc<dyn Progress>>) -> ByteStream {
    match progress {
        None => stream,
        Some(p) => stream
            .inspect(move |chunk| {
                if let Ok(c) = chunk {
                    p.bytes(c.len() as u64);
                }
            })
            .boxed(),
    }
}

/// Aborts a multipart upload that did not complete: explicitly on the error paths, and
/// from `Drop` when the upload's future is dropped midway (by spawning the abort onto the
/// current tokio runtime, which needs the driver's `Arc`).
struct AbortGuard {
    owner: Option<Arc<dyn Driver>>,
    upload: Option<MultipartUpload>,
}

impl AbortGuard {
    fn new(owner: Option<Arc<dyn Driver>>, upload: MultipartUpload) -> Self {
        AbortGuard { owner, upload: Some(upload) }
    }

    /// The upload completed: nothing to abort.
    fn disarm(&mut self) {
        self.upload = None;
    }

    /// Aborts now. Stays armed until the abort returns, so dropping this future midway
    /// still leaves the abort to `Drop`.
    async fn abort<D: Driver + ?Sized>(&mut self, driver: &D) {
        if let Some(upload) = self.upload.clone() {
            if let Err(e) = driver.abort_multipart(&upload).await {
                tracing::warn!(upload_id = %upload.upload_id, error = %e, "aborting a failed multipart upload failed");
            }
            self.upload = None;
        }
    }
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        let Some(upload) = self.upload.take() else { return };
        match (self.owner.take(), tokio::runtime::Handle::try_current()) {
            (Some(driver), Ok(runtime)) => {
                cancelled::started();
                runtime.spawn(async move {
                    let result = driver.abort_multipart(&upload).await;
                    if let Err(e) = &result {
                        tracing::warn!(
                            upload_id = %upload.upload_id,
                            error = %e,
                            "aborting a cancelled multipart upload failed"
                        );
                    }
                    cancelled::finished(result.is_ok());
                });
            }
            _ => tracing::warn!(
                upload_id = %upload.upload_id,
                key = %upload.key,
                "a multipart upload was cancelled and cannot be aborted here (use storage_core::Transfer, \
                 which owns the driver, inside a tokio runtime); abort it with abort_multipart"
            ),
        }
    }
}

/// Starts a multipart upload, sends `pending` then the rest of `source` as parts, checks
/// them, and completes it; aborts it on any failure.
async fn multipart<D: Driver + ?Sized>(
    driver: &D,
    job: &UploadJob<'_>,
    mut source: Parts,
    pending: VecDeque<PartData>,
    expected_len: Option<u64>,
) -> Result<Object> {
    let mut create = job.options.clone();
    // Checked here against the whole data, before completing: a backend would take it
    // for the MD5 of the first request only.
    let want_md5 = create.content_md5.take();
    let upload = driver.create_multipart(job.container, job.key, &create).await?;
    let mut guard = AbortGuard::new(job.owner.clone(), upload.clone());
    // The whole object is hashed when the caller's MD5 must be checked, or when the
    // backend will report the whole object's MD5 to check against; otherwise the parts'
    // MD5s (each checked by the backend and against the part's ETag) and the multipart
    // ETag made of them are the checks, and the data is hashed once.
    let hash_whole = want_md5.is_some() || (job.transfer.verify && driver.info().capabilities.multipart_md5);
    let sent = match send_parts(driver, &upload, job, &mut source, pending, hash_whole).await {
        Ok(sent) => sent,
        Err(e) => {
            guard.abort(driver).await;
            return Err(e);
        }
    };
    if let Err(e) = sent.check_before_complete(expected_len, want_md5.as_deref()) {
        guard.abort(driver).await;
        return Err(e);
    }
    // The whole object's MD5, when known, goes with the commit: a driver that can store
    // it (Azure) does, so later reads verify.
    let complete = CompleteOptions { content_md5: want_md5.clone().or_else(|| sent.md5.clone()) };
    let object = match driver.complete_multipart(&upload, &sent.parts, &complete).await {
        Ok(object) => object,
        Err(e) => {
            guard.abort(driver).await;
            return Err(e);
        }
    };
    guard.disarm();
    let md5 = sent.md5.filter(|_| job.transfer.verify);
    let part_md5s = sent.part_md5s.filter(|_| job.transfer.verify);
    check_upload(&object, &Sent { len: sent.len, md5: md5.as_deref(), part_md5s: part_md5s.as_deref() })?;
    Ok(object)
}

/// What the parts of a multipart upload added up to.
struct SentParts {
    parts: Vec<CompletedPart>,
    part_md5s: Option<Vec<String>>,
    md5: Option<String>,
    len: u64,
}

impl SentParts {
    fn check_before_complete(&self, expected_len: Option<u64>, want_md5: Option<&str>) -> Result<()> {
        if let Some(n) = expected_len
            && n != self.len
        {
            return Err(Error::new(
                ErrorKind::Io,
                format!("the source changed during the upload: it had {n} bytes but {} were read", self.len),
            ));
        }
        if let (Some(want), Some(got)) = (want_md5, self.md5.as_deref())
            && !want.eq_ignore_ascii_case(got)
        {
            return Err(Error::new(
                ErrorKind::ObjectHashMismatch,
                format!("the data's MD5 is {got} but content_md5 is {want}; the upload was aborted"),
            ));
        }
        Ok(())
    }
}

enum Event {
    Read(Option<Result<PartData>>),
    Sent(Result<(CompletedPart, Option<String>, u64)>),
    Stuck,
}

/// The part loop: up to `concurrency` parts in flight; the next part is read while they
/// are (the source is polled only when there is room for its part, so at most
/// `concurrency + 1` parts exist at once).
async fn send_parts<D: Driver + ?Sized>(
    driver: &D,
    upload: &MultipartUpload,
    job: &UploadJob<'_>,
    source: &mut Parts,
    mut pending: VecDeque<PartData>,
    hash_whole: bool,
) -> Result<SentParts> {
    let t = job.transfer;
    let room = t.parts_in_flight();
    let max_parts = driver.info().limits.max_parts;
    let hash_parts = hash_each_part(t, driver.info());
    let mut whole = hash_whole.then(Md5Hasher::new);
    let mut in_flight = FuturesUnordered::new();
    let mut done: Vec<(CompletedPart, Option<String>)> = Vec::new();
    let mut number = 0u32;
    let mut len = 0u64;
    let mut eof = false;
    loop {
        while in_flight.len() < room {
            let Some(PartData { data, md5 }) = pending.pop_front() else { break };
            if number >= max_parts {
                settle(&mut in_flight).await;
                return Err(Error::new(
                    ErrorKind::NotSupported,
                    format!(
                        "the data needs more than the driver's {max_parts} parts of {} bytes; raise \
                         TransferOptions::part_size",
                        source.size
                    ),
                ));
            }
            number += 1;
            if let Some(h) = whole.as_mut() {
                h.update(&data);
            }
            len += data.len() as u64;
            in_flight.push(send_part(driver, upload, number, data, md5, hash_parts));
        }
        if eof && in_flight.is_empty() {
            break;
        }
        let can_read = !eof && pending.is_empty() && in_flight.len() < room;
        // Parts first (a part just queued starts its request at once), then the source.
        let event = poll_fn(|cx| {
            if let Poll::Ready(Some(result)) = in_flight.poll_next_unpin(cx) {
                return Poll::Ready(Event::Sent(result));
            }
            if can_read {
                if let Poll::Ready(item) = source.stream.poll_next_unpin(cx) {
                    return Poll::Ready(Event::Read(item));
                }
            } else if in_flight.is_empty() {
                return Poll::Ready(Event::Stuck);
            }
            Poll::Pending
        })
        .await;
        match event {
            Event::Read(Some(Ok(part))) => pending.push_back(part),
            Event::Read(None) => eof = true,
            Event::Sent(Ok((part, md5, n))) => {
                t.progress().bytes(n);
                done.push((part, md5));
            }
            Event::Read(Some(Err(e))) | Event::Sent(Err(e)) => {
                // Let the parts already on their way land before the caller aborts, so
                // the abort removes them too instead of racing them (a backend that
                // stages parts as objects would keep one written after the abort).
                settle(&mut in_flight).await;
                return Err(e);
            }
            Event::Stuck => return Err(Error::new(ErrorKind::Io, "the multipart upload loop stalled (a bug)")),
        }
    }
    if done.is_empty() {
        return Err(Error::new(ErrorKind::Io, "a multipart upload needs at least one part"));
    }
    done.sort_by_key(|(p, _)| p.part_number);
    let part_md5s: Option<Vec<String>> = done.iter().map(|(_, m)| m.clone()).collect();
    Ok(SentParts {
        parts: done.into_iter().map(|(p, _)| p).collect(),
        part_md5s,
        md5: whole.map(Md5Hasher::finish_hex),
        len,
    })
}

/// Waits for every part still in flight, whatever its outcome.
async fn settle<S: futures::Stream + Unpin>(in_flight: &mut S) {
    while in_flight.next().await.is_some() {}
}

/// Uploads one part. With `verify`, its MD5 (`md5` when it was computed as the part was
/// read, otherwise computed now on tokio's blocking pool) is handed to the driver (which sends it, so the backend checks the part; S3's
/// `Content-MD5`), and a part ETag that is an MD5 must be it.
async fn send_part<D: Driver + ?Sized>(
    driver: &D,
    upload: &MultipartUpload,
    number: u32,
    data: Bytes,
    md5: Option<String>,
    verify: bool,
) -> Result<(CompletedPart, Option<String>, u64)> {
    let n = data.len() as u64;
    let md5 = match (verify, md5) {
        (true, Some(md5)) => Some(md5),
        (true, None) => Some(md5_off_thread(data.clone()).await?),
        (false, _) => None,
    };
    let options = md5.clone().map(PartOptions::content_md5).unwrap_or_default();
    let part = driver.put_part(upload, number, Payload::Bytes(data), &options).await?;
    if let Some(want) = md5.as_deref() {
        let etag = bare_etag(&part.etag);
        if is_md5_hex(etag) && !etag.eq_ignore_ascii_case(want) {
            return Err(Error::new(
                ErrorKind::ObjectHashMismatch,
                format!("part {number}: the backend's ETag (MD5) is {etag} but the part's MD5 is {want}"),
            ));
        }
    }
    Ok((part, md5, n))
}

/// Cuts a byte stream into parts of exactly `size` bytes (the last may be shorter), each
/// in its own allocation of exactly that size (or a zero-copy slice of a large incoming
/// chunk), so a part held by an upload pins no more memory than its length. Holds at
/// most one part being filled plus the rest of one incoming chunk.
pub(crate) struct PartCutter {
    inner: ByteStream,
    size: usize,
    buf: BytesMut,
    carry: Option<Bytes>,
    done: bool,
}

impl PartCutter {
    pub(crate) fn new(inner: ByteStream, size: u64) -> Self {
        let size = usize::try_from(size).unwrap_or(usize::MAX).max(1);
        PartCutter { inner, size, buf: BytesMut::new(), carry: None, done: false }
    }

    fn take_buf(&mut self) -> Bytes {
        std::mem::take(&mut self.buf).freeze()
    }
}

impl Stream for PartCutter {
    type Item = Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(mut chunk) = this.carry.take() {
                if this.buf.is_empty() && chunk.len() >= this.size {
                    let part = chunk.split_to(this.size);
                    if !chunk.is_empty() {
                        this.carry = Some(chunk);
                    }
                    return Poll::Ready(Some(Ok(part)));
                }
                if this.buf.capacity() == 0 {
                    this.buf.reserve(this.size);
                }
                let need = this.size - this.buf.len();
                if chunk.len() > need {
                    this.buf.extend_from_slice(&chunk.split_to(need));
                    this.carry = Some(chunk);
                } else {
                    this.buf.extend_from_slice(&chunk);
                }
                if this.buf.len() == this.size {
                    return Poll::Ready(Some(Ok(this.take_buf())));
                }
                continue;
            }
            if this.done {
                return Poll::Ready(if this.buf.is_empty() { None } else { Some(Ok(this.take_buf())) });
            }
            match this.inner.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    if !chunk.is_empty() {
                        this.carry = Some(chunk);
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    this.buf = BytesMut::new();
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => this.done = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::stream;

    use super::*;

    async fn cut(chunks: &[&[u8]], size: u64) -> Vec<Vec<u8>> {
        let items: Vec<Result<Bytes>> = chunks.iter().map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let cutter = PartCutter::new(stream::iter(items).boxed(), size);
        cutter.map(|r| r.unwrap().to_vec()).collect().await
    }

    #[tokio::test]
    async fn cuts_exact_parts() {
        assert_eq!(cut(&[b"abc", b"defgh"], 3).await, vec![b"abc".to_vec(), b"def".to_vec(), b"gh".to_vec()]);
        let want = vec![b"ab".to_vec(), b"cd".to_vec(), b"ef".to_vec(), b"g".to_vec()];
        assert_eq!(cut(&[b"abcdefg"], 2).await, want);
        assert_eq!(cut(&[b"a", b"", b"b", b"c"], 2).await, vec![b"ab".to_vec(), b"c".to_vec()]);
        assert_eq!(cut(&[b"abcd"], 4).await, vec![b"abcd".to_vec()]);
        assert!(cut(&[], 4).await.is_empty());
        assert!(cut(&[b""], 4).await.is_empty());
        let items: Vec<Result<Bytes>> = (0..10).map(|_| Ok(Bytes::from(vec![1u8; 3]))).collect();
        let parts: Vec<Bytes> = PartCutter::new(stream::iter(items).boxed(), 7).map(|r| r.unwrap()).collect().await;
        assert_eq!(parts.iter().map(Bytes::len).collect::<Vec<_>>(), vec![7, 7, 7, 7, 2]);
    }

    #[tokio::test]
    async fn cutter_stops_after_an_error() {
        let items: Vec<Result<Bytes>> = vec![Ok(Bytes::from_static(b"ab")), Err(Error::new(ErrorKind::Io, "boom"))];
        let mut cutter = PartCutter::new(stream::iter(items).boxed(), 4);
        assert!(cutter.next().await.unwrap().is_err());
        assert!(cutter.next().await.is_none());
    }

    #[test]
    fn part_size_fits_the_limits() {
        let t = TransferOptions { part_size: 8, ..TransferOptions::default() };
        let limits = Limits { min_part_size: 5, max_part_size: 100, max_parts: 10, ..Limits::default() };
        assert_eq!(plan_part_size(None, &t, &limits).unwrap(), 8);
        assert_eq!(plan_part_size(Some(50), &t, &limits).unwrap(), 8);
        assert_eq!(plan_part_size(Some(95), &t, &limits).unwrap(), 10);
        assert_eq!(plan_part_size(Some(1001), &t, &limits).unwrap_err().kind(), ErrorKind::NotSupported);
        let tiny = TransferOptions { part_size: 1, ..TransferOptions::default() };
        assert_eq!(plan_part_size(None, &tiny, &limits).unwrap(), 5);
    }
}
