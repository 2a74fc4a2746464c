//! [`RetryLayer`]: retries what is safe to repeat, resumes GET bodies, verifies whole
//! reads, and settles writes whose answer was lost.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;

use crate::capabilities::DriverInfo;
use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};
use crate::kit::full_jitter;
use crate::leftover::Leftover;
use crate::multipart::{CompleteOptions, CompletedPart, MultipartUpload, PartOptions};
use crate::object::{Container, DeleteOutcome, ListEntry, Object, ObjectHash, Page};
use crate::ops::checksum::{ContentHasher, check_download};
use crate::options::{ByteRange, CopyOptions, GetOptions, ListOptions, PutMode, PutOptions, SignedUrlOptions};
use crate::payload::{ByteStream, GetResult, Payload};

/// Retries failed calls whose error is retryable ([`Error::is_retryable`]) when repeating
/// them cannot change the outcome, with exponential backoff and full jitter.
///
/// - **Reads** (listings, HEAD, GET) are retried. A GET body that fails or ends early is
///   resumed from the byte it stopped at, pinned to the object's ETag (`if-match`), so the
///   caller gets one uninterrupted body or an error; a body whose object changed meanwhile
///   fails with `PreconditionFailed`. A whole-object read is checked against the object's
///   MD5 or CRC32C when the driver reports one: the body ends with `ObjectHashMismatch`
///   instead of its last chunk if the bytes differ.
/// - **Writes** are retried when the payload can be sent again (`Payload::Bytes`; a stream
///   is consumed by the first attempt, so its error is returned). A retry can find that the
///   first attempt did happen even though its answer was lost: a conditional put or copy
///   then fails its condition, a completed multipart upload is gone (NoSuchUpload, or
///   AccessDenied from servers such as s3s-fs), a deleted container
///   is missing, a created one exists. The layer settles these by looking: a conditional
///   write whose object now holds exactly the data sent (same size and hash) succeeded; a
///   completion whose object now has the parts' total size (and, for an S3-style ETag, their
///   count; when the parts carry CRC32Cs and the object reports one, the CRC32C they
///   combine to) succeeded; a deletion whose
///   target is gone succeeded; a container that exists after a retried creation was
///   created. Anything else is returned as the driver reported it.
/// - `create_multipart` is retried like a read: if the first attempt's answer was lost,
///   the upload it made is left unfinished, with an id nobody knows;
///   [`Driver::list_multipart_uploads`] and [`Driver::list_leftovers`] find it (and
///   backends' lifecycle rules expire it). Nothing written is lost.
/// - Signed URLs are not retried (no I/O).
///
/// The defaults are 5 attempts, backoff from 50 ms up to 2 s, and read verification on.
///
/// ```
/// use std::sync::Arc;
///
/// use storage_core::layers::RetryLayer;
/// use storage_core::{Driver, DriverExt, MemoryDriver};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let store = RetryLayer::new(Arc::new(MemoryDriver::new())).with_attempts(8);
/// store.create_container("c").await?;
/// assert_eq!(store.retries(), 0);
/// # Ok::<(), storage_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct RetryLayer {
    inner: Arc<dyn Driver>,
    attempts: u32,
    initial: Duration,
    max: Duration,
    verify_reads: bool,
    retries: Arc<AtomicU64>,
    settled: AtomicU64,
}

impl RetryLayer {
    /// Wraps `inner` with the default policy.
    pub fn new(inner: Arc<dyn Driver>) -> Self {
        RetryLayer {
            inner,
            attempts: 5,
            initial: Duration::from_millis(50),
            max: Duration::from_secs(2),
            verify_reads: true,
            retries: Arc::new(AtomicU64::new(0)),
            settled: AtomicU64::new(0),
        }
    }

    /// At most `attempts` tries per call (at least 1), body resumptions included.
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// Backoff from `initial` doubling up to `max`, with full jitter.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial = initial;
        self.max = max.max(initial);
        self
    }

    /// Whether whole-object reads are checked against the object's hash (default on).
    pub fn with_read_verification(mut self, verify: bool) -> Self {
        self.verify_reads = verify;
        self
    }

    /// Retries made so far (calls repeated and bodies resumed).
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Writes whose lost answer was settled by looking at the store.
    pub fn settled(&self) -> u64 {
        self.settled.load(Ordering::Relaxed)
    }

    async fn pause(&self, retry: u32) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(full_jitter(self.initial, self.max, retry)).await;
    }

    /// `call` until it succeeds, fails for good, or runs out of attempts.
    async fn again<T, F, Fut>(&self, call: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.attempted(call).await.0
    }

    /// [`RetryLayer::again`], with the number of attempts made.
    async fn attempted<T, F, Fut>(&self, mut call: F) -> (Result<T>, u32)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut attempt = 0;
        loop {
            match call().await {
                Err(e) if e.is_retryable() && attempt + 1 < self.attempts => {
                    self.pause(attempt).await;
                    attempt += 1;
                }
                other => return (other, attempt + 1),
            }
        }
    }

    /// Like [`RetryLayer::again`], and once a retry has happened, an error for which
    /// `settle` finds the first attempt's effect in place becomes that result.
    async fn again_or_settle<T, F, Fut, S, SFut>(&self, call: F, settle: S) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
        S: FnOnce(Error) -> SFut,
        SFut: Future<Output = Result<T>>,
    {
        match self.attempted(call).await {
            (Err(e), attempts) if attempts > 1 && !e.is_retryable() => self.counted(settle(e).await),
            (other, _) => other,
        }
    }

    /// `result`, counted as a settled write when it is a success.
    fn counted<T>(&self, result: Result<T>) -> Result<T> {
        if result.is_ok() {
            self.settled.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// HEAD, retried: how a lost answer is settled.
    async fn head(&self, container: &str, key: &str) -> Result<Object> {
        self.again(|| self.inner.head_object(container, key)).await
    }

    /// The object at `key` when it holds exactly `data`, else `failure`.
    async fn holds(&self, container: &str, key: &str, data: &Bytes, failure: Error) -> Result<Object> {
        match self.head(container, key).await {
            Ok(object) if object.size == data.len() as u64 && same_hash(&object, data) => Ok(object),
            _ => Err(failure),
        }
    }

    /// After a completion was tried more than once and failed: the object as the first
    /// attempt may have made it, or `failure`. The object must have the parts' total size
    /// and, for an S3-style ETag, their count. Proof that it is these parts' data (the
    /// CRC32C the parts' checksums combine to: the one the object reports, else that of
    /// the object read back) settles any failure, a server's odd answer to a second
    /// completion included (fake-gcs-server answers 500 when the parts the first one
    /// composed are gone, and reports only an MD5 for the composed object); without it,
    /// only an answer saying the upload is gone does (NoSuchUpload, or AccessDenied from
    /// s3s-fs for an upload id it no longer has).
    async fn settle_completion(
        &self,
        upload: &MultipartUpload,
        parts: &[CompletedPart],
        failure: Error,
    ) -> Result<Object> {
        let total: u64 = parts.iter().map(|p| p.size).sum();
        let gone = matches!(failure.kind(), ErrorKind::ObjectDoesNotExist | ErrorKind::PermissionDenied);
        let object = match self.head(&upload.container, &upload.key).await {
            Ok(object) if object.size == total && multipart_etag_fits(&object, parts.len()) => object,
            _ => return Err(failure),
        };
        let proof = match (parts_crc32c(parts), object.hash.as_ref().and_then(ObjectHash::crc32c_value)) {
            (Some(want), Some(stored)) => Some(want == stored),
            (Some(want), None) => Some(self.read_crc32c(&upload.container, &upload.key, &object).await == Some(want)),
            (None, _) => None,
        };
        match proof {
            Some(true) => Ok(object),
            None if gone => Ok(object),
            _ => Err(failure),
        }
    }

    /// The CRC32C of `object`'s bytes read back (pinned to its ETag), or `None` when the
    /// read fails or the object changed meanwhile.
    async fn read_crc32c(&self, container: &str, key: &str, object: &Object) -> Option<u32> {
        let options = GetOptions { if_match: object.etag.clone(), ..GetOptions::default() };
        let got = self.again(|| self.inner.get_object(container, key, &options)).await.ok()?;
        let mut body = self.resilient_body(container, key, &options, got).body;
        let (mut crc, mut read) = (0u32, 0u64);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.ok()?;
            crc = crate::kit::crc32c_update(crc, &chunk);
            read += chunk.len() as u64;
        }
        (read == object.size).then_some(crc)
    }

    /// The body resumed from where it stopped on retryable errors and early ends, and
    /// verified when it is the whole object.
    fn resilient_body(&self, container: &str, key: &str, options: &GetOptions, got: GetResult) -> GetResult {
        let GetResult { object, range, body } = got;
        let whole = options.range.is_none() && range.start == 0 && range.end == object.size;
        let hasher = if self.verify_reads && whole { ContentHasher::for_object(&object) } else { None };
        let resume = Resume {
            inner: self.inner.clone(),
            container: container.to_owned(),
            key: key.to_owned(),
            version: options.version.clone(),
            etag: object.etag.clone(),
            object: object.clone(),
            end: range.end,
            pos: range.start,
            body,
            hasher,
            attempts_left: self.attempts.saturating_sub(1),
            retry: 0,
            initial: self.initial,
            max: self.max,
            retries: self.retries.clone(),
            done: false,
        };
        GetResult { object, range, body: resume.into_stream() }
    }
}

/// Whether `data` has the object's reported hash (MD5 or CRC32C); an object without a
/// hash the engine can compute does not count as holding it.
fn same_hash(object: &Object, data: &Bytes) -> bool {
    match ContentHasher::for_object(object) {
        Some(mut hasher) => {
            hasher.update(data);
            check_download(object, hasher).is_ok()
        }
        None => false,
    }
}

/// What a GET body needs to pick up where it stopped.
struct Resume {
    inner: Arc<dyn Driver>,
    container: String,
    key: String,
    version: Option<String>,
    etag: Option<String>,
    object: Object,
    end: u64,
    pos: u64,
    body: ByteStream,
    hasher: Option<ContentHasher>,
    attempts_left: u32,
    retry: u32,
    initial: Duration,
    max: Duration,
    retries: Arc<AtomicU64>,
    done: bool,
}

impl Resume {
    fn into_stream(self) -> ByteStream {
        futures::stream::unfold(self, |mut r| async move {
            if r.done {
                return None;
            }
            loop {
                let failure = match r.body.next().await {
                    Some(Ok(chunk)) => {
                        let room = r.end.saturating_sub(r.pos);
                        let chunk = if chunk.len() as u64 > room { chunk.slice(..room as usize) } else { chunk };
                        r.pos += chunk.len() as u64;
                        if let Some(h) = r.hasher.as_mut() {
                            h.update(&chunk);
                        }
                        if r.pos == r.end
                            && let Some(h) = r.hasher.take()
                            && let Err(e) = check_download(&r.object, h)
                        {
                            r.done = true;
                            return Some((Err(e.with_container(&r.container).with_key(&r.key)), r));
                        }
                        if chunk.is_empty() {
                            continue;
                        }
                        return Some((Ok(chunk), r));
                    }
                    Some(Err(e)) if e.is_retryable() => e,
                    Some(Err(e)) => {
                        r.done = true;
                        return Some((Err(e), r));
                    }
                    None if r.pos >= r.end => return None,
                    None => Error::new(ErrorKind::Io, format!("the body ended at byte {} of {}", r.pos, r.end))
                        .with_retryable(true),
                };
                if let Err(e) = r.reopen(failure).await {
                    r.done = true;
                    return Some((Err(e), r));
                }
            }
        })
        .boxed()
    }

    /// A new body for the rest of the range, after `failure`; `failure` itself when no
    /// attempt is left or the object has no ETag to pin the rest to.
    async fn reopen(&mut self, mut failure: Error) -> Result<()> {
        let Some(etag) = self.etag.clone() else { return Err(failure) };
        loop {
            if self.attempts_left == 0 {
                return Err(failure);
            }
            self.attempts_left -= 1;
            self.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(full_jitter(self.initial, self.max, self.retry)).await;
            self.retry += 1;
            let options = GetOptions {
                range: Some(ByteRange::Bounded { start: self.pos, end: self.end }),
                if_match: Some(etag.clone()),
                version: self.version.clone(),
                ..GetOptions::default()
            };
            match self.inner.get_object(&self.container, &self.key, &options).await {
                Ok(got) if got.range.start == self.pos => {
                    self.body = got.body;
                    return Ok(());
                }
                Ok(got) => {
                    return Err(Error::new(
                        ErrorKind::Backend,
                        format!("resuming at byte {} got a body from byte {}", self.pos, got.range.start),
                    ));
                }
                Err(e) if e.is_retryable() => failure = e,
                Err(e) => return Err(e),
            }
        }
    }
}

/// Whether the object's ETag can be that of a multipart upload of `parts` parts: an
/// S3-style `...-N` ETag must say N; other forms say nothing and fit.
fn multipart_etag_fits(object: &Object, parts: usize) -> bool {
    match object.etag.as_deref().map(|e| e.trim_matches('"')).and_then(|e| e.rsplit_once('-')) {
        Some((_, n)) => n.parse::<usize>().map_or(true, |n| n == parts),
        None => true,
    }
}

/// The CRC32C the parts' checksums combine to (in part-number order); `None` when a part
/// carries none.
fn parts_crc32c(parts: &[CompletedPart]) -> Option<u32> {
    let mut sorted: Vec<&CompletedPart> = parts.iter().collect();
    sorted.sort_by_key(|p| p.part_number);
    let mut whole: Option<u32> = None;
    for p in sorted {
        let crc = p.checksum.as_ref().and_then(ObjectHash::crc32c_value)?;
        whole = Some(match whole {
            None => crc,
            Some(acc) => crate::kit::crc32c_combine(acc, crc, p.size),
        });
    }
    whole
}

/// How a removal whose answer was lost is settled: finding the thing gone (`kind`) means
/// the removal happened.
fn gone_is_done(kind: ErrorKind) -> impl FnOnce(Error) -> std::future::Ready<Result<()>> {
    move |e| std::future::ready(if e.kind() == kind { Ok(()) } else { Err(e) })
}

fn payload_bytes(payload: &Payload) -> Option<Bytes> {
    match payload {
        Payload::Bytes(b) => Some(b.clone()),
        Payload::Stream { .. } => None,
    }
}

// Every method written out, so a method added to `Driver` cannot bypass the layer.
#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl crate::layer::Layer for RetryLayer {
    fn inner(&self) -> &dyn Driver {
        &*self.inner
    }

    fn info(&self) -> &DriverInfo {
        self.inner.info()
    }

    async fn list_containers_page(&self, token: Option<String>) -> Result<Page<Container>> {
        self.again(|| self.inner.list_containers_page(token.clone())).await
    }

    async fn get_container(&self, name: &str) -> Result<Container> {
        self.again(|| self.inner.get_container(name)).await
    }

    async fn create_container(&self, name: &str) -> Result<Container> {
        self.again_or_settle(
            || self.inner.create_container(name),
            |e| async move {
                match e.kind() {
                    ErrorKind::ContainerAlreadyExists => {
                        self.again(|| self.inner.get_container(name)).await.map_err(|_| e)
                    }
                    _ => Err(e),
                }
            },
        )
        .await
    }

    async fn delete_container(&self, name: &str) -> Result<()> {
        self.again_or_settle(|| self.inner.delete_container(name), gone_is_done(ErrorKind::ContainerDoesNotExist)).await
    }

    async fn list_page(
        &self,
        container: &str,
        options: &ListOptions,
        token: Option<String>,
    ) -> Result<Page<ListEntry>> {
        self.again(|| self.inner.list_page(container, options, token.clone())).await
    }

    async fn head_object(&self, container: &str, key: &str) -> Result<Object> {
        self.again(|| self.inner.head_object(container, key)).await
    }

    async fn get_object(&self, container: &str, key: &str, options: &GetOptions) -> Result<GetResult> {
        let got = self.again(|| self.inner.get_object(container, key, options)).await?;
        Ok(self.resilient_body(container, key, options, got))
    }

    async fn put_object(&self, container: &str, key: &str, payload: Payload, options: &PutOptions) -> Result<Object> {
        let Some(data) = payload_bytes(&payload) else {
            return self.inner.put_object(container, key, payload, options).await;
        };
        let conditional = !matches!(options.mode, PutMode::Overwrite);
        self.again_or_settle(
            || self.inner.put_object(container, key, Payload::Bytes(data.clone()), options),
            |e| async {
                match e.kind() {
                    ErrorKind::PreconditionFailed if conditional => self.holds(container, key, &data, e).await,
                    _ => Err(e),
                }
            },
        )
        .await
    }

    async fn delete_object(&self, container: &str, key: &str) -> Result<()> {
        self.again_or_settle(|| self.inner.delete_object(container, key), gone_is_done(ErrorKind::ObjectDoesNotExist))
            .await
    }

    async fn delete_batch(&self, container: &str, keys: &[String]) -> Result<Vec<DeleteOutcome>> {
        self.again(|| self.inner.delete_batch(container, keys)).await
    }

    async fn copy_object(
        &self,
        src_container: &str,
        src_key: &str,
        dst_container: &str,
        dst_key: &str,
        options: &CopyOptions,
    ) -> Result<Object> {
        let conditional = !matches!(options.mode, PutMode::Overwrite);
        self.again_or_settle(
            || self.inner.copy_object(src_container, src_key, dst_container, dst_key, options),
            |e| async move {
                if !(conditional && e.kind() == ErrorKind::PreconditionFailed) {
                    return Err(e);
                }
                let (Ok(src), Ok(dst)) =
                    (self.head(src_container, src_key).await, self.head(dst_container, dst_key).await)
                else {
                    return Err(e);
                };
                let same = src.size == dst.size && src.hash.is_some() && src.hash == dst.hash;
                if same { Ok(dst) } else { Err(e) }
            },
        )
        .await
    }

    async fn create_multipart(&self, container: &str, key: &str, options: &PutOptions) -> Result<MultipartUpload> {
        self.again(|| self.inner.create_multipart(container, key, options)).await
    }

    async fn put_part(
        &self,
        upload: &MultipartUpload,
        part_number: u32,
        payload: Payload,
        options: &PartOptions,
    ) -> Result<CompletedPart> {
        let Some(data) = payload_bytes(&payload) else {
            return self.inner.put_part(upload, part_number, payload, options).await;
        };
        self.again(|| self.inner.put_part(upload, part_number, Payload::Bytes(data.clone()), options)).await
    }

    async fn complete_multipart(
        &self,
        upload: &MultipartUpload,
        parts: &[CompletedPart],
        options: &CompleteOptions,
    ) -> Result<Object> {
        // Any failure after a retry may hide a completion that happened: a server answers
        // a second completion oddly (see `settle_completion`), even with a retryable error.
        match self.attempted(|| self.inner.complete_multipart(upload, parts, options)).await {
            (Err(e), attempts) if attempts > 1 => self.counted(self.settle_completion(upload, parts, e).await),
            (other, _) => other,
        }
    }

    async fn abort_multipart(&self, upload: &MultipartUpload) -> Result<()> {
        self.again_or_settle(
            || self.inner.abort_multipart(upload),
            |e| async move {
                // The upload is gone: NoSuchUpload, or AccessDenied from servers that answer
                // so for an upload id they no longer know (s3s-fs); where uploads can be
                // listed, it must not be listed.
                if !matches!(e.kind(), ErrorKind::ObjectDoesNotExist | ErrorKind::PermissionDenied) {
                    return Err(e);
                }
                match self.inner.list_multipart_uploads(&upload.container, Some(&upload.key)).await {
                    Ok(listed) if listed.iter().any(|u| u.upload_id == upload.upload_id) => Err(e),
                    // Listed elsewhere, or not listable here (s3s-fs): the answer stands.
                    Ok(_) | Err(_) => Ok(()),
                }
            },
        )
        .await
    }

    async fn list_multipart_uploads(&self, container: &str, prefix: Option<&str>) -> Result<Vec<MultipartUpload>> {
        self.again(|| self.inner.list_multipart_uploads(container, prefix)).await
    }

    async fn list_leftovers(&self, container: &str, prefix: Option<&str>) -> Result<Vec<Leftover>> {
        self.again(|| self.inner.list_leftovers(container, prefix)).await
    }

    async fn remove_leftover(&self, leftover: &Leftover) -> Result<()> {
        self.again_or_settle(|| self.inner.remove_leftover(leftover), gone_is_done(ErrorKind::ObjectDoesNotExist)).await
    }

    async fn signed_url(&self, container: &str, key: &str, options: &SignedUrlOptions) -> Result<String> {
        self.inner.signed_url(container, key, options).await
    }

    async fn enable_container_cdn(&self, container: &str) -> Result<()> {
        self.again(|| self.inner.enable_container_cdn(container)).await
    }

    async fn enable_object_cdn(&self, container: &str, key: &str) -> Result<()> {
        self.again(|| self.inner.enable_object_cdn(container, key)).await
    }

    async fn get_container_cdn_url(&self, container: &str) -> Result<String> {
        self.again(|| self.inner.get_container_cdn_url(container)).await
    }

    async fn get_object_cdn_url(&self, container: &str, key: &str) -> Result<String> {
        self.again(|| self.inner.get_object_cdn_url(container, key)).await
    }
}
