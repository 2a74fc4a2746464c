//! Uploads (`multipart/related` in one request; resumable sessions for streams of
//! unknown length), `objects.delete`, and copies by `objects.rewrite` looped to the end.

use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::Method;
use serde_json::{Map, Value, json};
use storage_core::kit::{etag_matches, md5_hex, normalize_metadata, verify_content_md5};
use storage_core::{ByteStream, CopyOptions, Error, ErrorKind, Object, Payload, PutMode, PutOptions, Result};
use storage_http::{HttpRequest, HttpResponse, RequestBody, http};

use crate::client::{Api, Call};
use crate::driver::{GcsDriver, NAME};
use crate::extras::Extras;
use crate::json::{ObjectResource, Rewrite};
use crate::{containers, read};

/// Chunk of a resumable upload (a multiple of 256 KiB, as GCS requires).
const RESUMABLE_CHUNK: usize = 8 * 1024 * 1024;

/// The object resource of a write: name, content headers, metadata, the resource fields
/// of the extras ([`Extras::add_to_resource`]), and the checksums the server verifies
/// before storing (`md5Hash` when the caller gave it, `crc32c` when the data is at hand).
pub(crate) fn resource_json(key: &str, options: &PutOptions, crc: Option<u32>) -> Result<Value> {
    let mut m = Map::new();
    Extras::of(options)?.add_to_resource(&mut m);
    m.insert("name".into(), json!(key));
    m.insert("contentType".into(), json!(options.content_type.as_deref().unwrap_or("application/octet-stream")));
    if let Some(v) = &options.content_encoding {
        m.insert("contentEncoding".into(), json!(v));
    }
    if let Some(v) = &options.cache_control {
        m.insert("cacheControl".into(), json!(v));
    }
    if let Some(v) = &options.content_disposition {
        m.insert("contentDisposition".into(), json!(v));
    }
    if !options.metadata.is_empty() {
        m.insert("metadata".into(), json!(normalize_metadata(&options.metadata)));
    }
    if let Some(md5) = &options.content_md5 {
        let raw = hex::decode(md5)
            .ok()
            .filter(|r| r.len() == 16)
            .ok_or_else(|| Error::new(ErrorKind::Config, format!("{md5:?} is not a hex MD5 digest")))?;
        m.insert("md5Hash".into(), json!(B64.encode(raw)));
    }
    if let Some(c) = crc {
        m.insert("crc32c".into(), json!(B64.encode(c.to_be_bytes())));
    }
    Ok(Value::Object(m))
}

/// The `ifGenerationMatch` a put mode needs: `0` for create-if-absent, the current
/// generation for if-match (read here; a change since then fails the write).
pub(crate) async fn generation_condition(
    d: &GcsDriver,
    bucket: &str,
    key: &str,
    mode: &PutMode,
) -> Result<Option<String>> {
    match mode {
        PutMode::Overwrite => Ok(None),
        PutMode::CreateIfAbsent => Ok(Some("0".into())),
        PutMode::IfMatch(etag) => match read::resource(d, bucket, key).await {
            Ok(r) if r.etag.as_deref().is_some_and(|e| etag_matches(etag, e)) => {
                Ok(Some(r.generation.map(|g| g.to_string()).unwrap_or_else(|| "0".into())))
            }
            Ok(_) => Err(precondition(bucket, key, "the object's ETag differs")),
            Err(e) if e.kind() == ErrorKind::ObjectDoesNotExist => {
                Err(precondition(bucket, key, "the object does not exist"))
            }
            Err(e) => Err(e),
        },
    }
}

fn precondition(bucket: &str, key: &str, why: &str) -> Error {
    Error::new(ErrorKind::PreconditionFailed, format!("the write's condition failed: {why}"))
        .with_driver(NAME)
        .with_object(bucket, key)
}

/// A `multipart/related` body: the resource JSON, then the data.
fn related(resource: &Value, content_type: &str, data_len: u64) -> (String, Bytes, Bytes, u64) {
    let boundary = format!("storage_rs_{}", md5_hex(storage_core::kit::unique_tag().as_bytes()));
    let head = format!(
        "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{resource}\r\n--{boundary}\r\nContent-Type: {content_type}\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let total = head.len() as u64 + data_len + tail.len() as u64;
    (boundary, Bytes::from(head), Bytes::from(tail), total)
}

/// One upload request (`uploadType=multipart`), or a resumable session for a stream of
/// unknown length.
pub(crate) async fn put(
    d: &GcsDriver,
    bucket: &str,
    key: &str,
    payload: Payload,
    options: &PutOptions,
) -> Result<Object> {
    insert(d, bucket, key, payload, options, false).await
}

/// [`put`] to a name only this writer uses (a staged part of a composite upload): sending
/// it again writes the same bytes to the same name, so it is retried even without a
/// precondition.
pub(crate) async fn put_unique(
    d: &GcsDriver,
    bucket: &str,
    key: &str,
    payload: Payload,
    options: &PutOptions,
) -> Result<Object> {
    insert(d, bucket, key, payload, options, true).await
}

/// Why an unconditional upload that failed was not retried.
const NOT_RETRIED: &str = "an upload without a precondition is not retried automatically (GCS's idempotency rule: \
     another writer may have written since); send it again, or write with create-if-absent or if-match, which are \
     retried";

async fn insert(
    d: &GcsDriver,
    bucket: &str,
    key: &str,
    payload: Payload,
    options: &PutOptions,
    unique: bool,
) -> Result<Object> {
    d.check_key(bucket, key)?;
    let extras = Extras::of(options).map_err(|e| e.with_object(bucket, key))?;
    let condition = generation_condition(d, bucket, key, &options.mode).await?;
    let content_type = options.content_type.clone().unwrap_or_else(|| "application/octet-stream".into());
    let mut tap = None;
    let (data_len, data, crc) = match payload {
        Payload::Bytes(b) => {
            verify_content_md5(options.content_md5.as_deref(), &b)?;
            let crc = storage_core::kit::crc32c(&b);
            (b.len() as u64, DataBody::Bytes(b), Some(crc))
        }
        Payload::Stream { stream, length: Some(len) } => {
            // No checksum can go ahead of a stream: its CRC32C is computed as it is sent
            // and compared with the one the server stored.
            let (stream, t) = CrcTap::wrap(stream);
            tap = Some(t);
            (len, DataBody::Stream(stream), None)
        }
        Payload::Stream { stream, length: None } => {
            return resumable(d, bucket, key, stream, options, &extras, condition).await;
        }
    };
    let resource = resource_json(key, options, crc)?;
    let (boundary, head, tail, total) = related(&resource, &content_type, data_len);
    let body = match data {
        DataBody::Bytes(b) => {
            let mut all = BytesMut::with_capacity(total as usize);
            all.extend_from_slice(&head);
            all.extend_from_slice(&b);
            all.extend_from_slice(&tail);
            RequestBody::Bytes(all.freeze())
        }
        DataBody::Stream(s) => {
            let chained = futures::stream::once(async move { Ok(head) })
                .chain(s)
                .chain(futures::stream::once(async move { Ok(tail) }));
            RequestBody::stream(chained.boxed(), total)
        }
    };
    let mut call = Call::bucket("InsertObject", Method::POST, bucket, "/o")
        .about(bucket, Some(key))
        .api(Api::Upload)
        .query("uploadType", "multipart")
        .header("content-type", &format!("multipart/related; boundary={boundary}"))?
        .body(body);
    call = extras.upload_query(call);
    if let Some(g) = &condition {
        // GCS's rule: an insert is idempotent when it is conditional.
        call = call.query("ifGenerationMatch", g.clone()).idempotent(true);
    } else if unique {
        call = call.idempotent(true);
    }
    let written: ObjectResource = match d.client.send_json(call).await {
        Ok(r) => r,
        Err(e) => {
            let e = containers::refine_not_found(d, e, bucket).await;
            let unretried = condition.is_none() && !unique && e.is_retryable() && e.retries() == 0;
            return Err(if unretried { e.with_hint(NOT_RETRIED) } else { e });
        }
    };
    if written.name != key || written.size.is_some_and(|s| s != data_len) {
        // The resource sent ahead of the data (the name, the length's framing) was damaged
        // on the way, and the server, checking nothing of it, stored the data elsewhere
        // (fake-gcs-server did so under another name, even ""): the key was not written.
        let why = format!(
            "the server stored the upload as {:?} with {} bytes, not as {key:?} with {data_len} (the request was \
             damaged on the way)",
            written.name,
            written.size.unwrap_or(0)
        );
        return Err(if written.name.is_empty() {
            Error::new(
                ErrorKind::ObjectHashMismatch,
                format!("{why}; an object with an empty name cannot be deleted through the API"),
            )
            .with_driver(NAME)
            .with_object(bucket, key)
        } else {
            discard(d, bucket, &written.name, &written, why).await.with_object(bucket, key)
        });
    }
    let sent = crc.or_else(|| tap.map(|t| t.finish()));
    if let (Some(sent), Some(stored)) = (sent, written.crc32c_value())
        && sent != stored
    {
        return Err(stored_damaged(d, bucket, key, &written, sent, stored).await);
    }
    Ok(written.into_object(bucket))
}

/// The CRC32C of a request body, computed as the request reads it.
struct CrcTap(Arc<Mutex<u32>>);

impl CrcTap {
    fn wrap(stream: ByteStream) -> (ByteStream, CrcTap) {
        let crc = Arc::new(Mutex::new(0u32));
        let seen = crc.clone();
        let stream = stream
            .inspect(move |chunk| {
                if let Ok(c) = chunk {
                    let mut crc = seen.lock().unwrap_or_else(PoisonError::into_inner);
                    *crc = storage_core::kit::crc32c_update(*crc, c);
                }
            })
            .boxed();
        (stream, CrcTap(crc))
    }

    fn finish(&self) -> u32 {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// GCS checks the CRC32C sent with the data and refuses a mismatch; a server that does
/// not (fake-gcs-server stores what arrived and reports its own CRC32C), or a stream,
/// which carries none ahead of it, keeps data damaged on the way. The error for that,
/// after removing what was stored.
async fn stored_damaged(
    d: &GcsDriver,
    bucket: &str,
    key: &str,
    written: &ObjectResource,
    sent: u32,
    stored: u32,
) -> Error {
    let why = format!(
        "the server stored data with CRC32C {stored:08x}, but the data sent has {sent:08x} (the server did not \
         check the CRC32C sent with it)"
    );
    discard(d, bucket, key, written, why).await
}

/// An `ObjectHashMismatch` error saying `why`, after deleting the generation `written`
/// (only that generation: a later writer's object is left alone).
pub(crate) async fn discard(d: &GcsDriver, bucket: &str, key: &str, written: &ObjectResource, why: String) -> Error {
    let removed = match written.generation {
        Some(g) => {
            let call = Call::object("DeleteObject", Method::DELETE, bucket, key, "")
                .query("ifGenerationMatch", g.to_string())
                .idempotent(true);
            match d.client.send(call).await {
                Ok(_) => "it was deleted".to_owned(),
                Err(e) => format!("deleting it failed ({}): delete generation {g} by hand", e.kind()),
            }
        }
        None => "the server gave no generation to delete it by: delete it by hand".to_owned(),
    };
    Error::new(ErrorKind::ObjectHashMismatch, format!("{why}; {removed}"))
        .with_driver(NAME)
        .with_object(bucket, key)
        .with_hint("the data was damaged on its way to the server, or stored damaged; upload it again")
}

enum DataBody {
    Bytes(Bytes),
    Stream(ByteStream),
}

/// A resumable upload session for a stream of unknown length: 8 MiB chunks, each `PUT`
/// with its `Content-Range`, the last one with the total; memory holds one chunk. A chunk
/// whose `PUT` fails (connection broken, timeout, 408, 429, 5xx) is not sent again
/// blindly: the session is asked how much it holds (`bytes */*`) and only the rest is
/// sent, as is the rest of a chunk a 308 confirms only in part. The first attempt of a
/// chunk is never preceded by a status query (fake-gcs-server finalizes the upload on
/// one). The last request carries the whole object's CRC32C (`x-goog-hash`), which GCS
/// checks before it creates the object; the object's CRC32C is compared with the data's
/// too (a server that does not check), and a mismatching object is deleted.
async fn resumable(
    d: &GcsDriver,
    bucket: &str,
    key: &str,
    mut stream: ByteStream,
    options: &PutOptions,
    extras: &Extras,
    condition: Option<String>,
) -> Result<Object> {
    let resource = resource_json(key, options, None)?;
    let mut start = extras.upload_query(
        Call::bucket("StartResumableUpload", Method::POST, bucket, "/o")
            .about(bucket, Some(key))
            .api(Api::Upload)
            .query("uploadType", "resumable")
            .json(&resource)?,
    );
    if let Some(g) = &condition {
        start = start.query("ifGenerationMatch", g.clone()).idempotent(true);
    }
    let resp = match d.client.send(start).await {
        Ok(r) => r,
        Err(e) => return Err(containers::refine_not_found(d, e, bucket).await),
    };
    let url = resp.header("location").map(str::to_owned).ok_or_else(|| {
        Error::new(ErrorKind::Backend, "the resumable upload answer has no Location")
            .with_driver(NAME)
            .with_object(bucket, key)
    })?;
    let session = Session { d, url, bucket, key };
    let mut offset = 0u64;
    // The MD5 only to check a caller's; the CRC32C goes with the last chunk.
    let mut hasher = options.content_md5.as_ref().map(|_| storage_core::kit::Md5Hasher::new());
    let mut crc = 0u32;
    let mut pending = BytesMut::new();
    let mut ended = false;
    loop {
        while !ended && pending.len() < RESUMABLE_CHUNK {
            match stream.next().await {
                Some(chunk) => pending.extend_from_slice(&chunk?),
                None => ended = true,
            }
        }
        let take = if ended { pending.len() } else { RESUMABLE_CHUNK };
        let chunk = pending.split_to(take).freeze();
        if let Some(h) = hasher.as_mut() {
            h.update(&chunk);
        }
        crc = storage_core::kit::crc32c_update(crc, &chunk);
        let end = offset + chunk.len() as u64;
        // The whole object's CRC32C with the request that finishes the upload
        // (`x-goog-hash`), for the server to check before it creates the object.
        let whole = ended.then(|| format!("crc32c={}", B64.encode(crc.to_be_bytes())));
        let Some(written) = session.send(offset, &chunk, ended.then_some(end), whole.as_deref()).await? else {
            offset = end;
            continue;
        };
        if let (Some(want), Some(h)) = (&options.content_md5, hasher) {
            let got = h.finish_hex();
            if !got.eq_ignore_ascii_case(want) {
                let why = format!("the data's MD5 is {got} but content_md5 is {want}");
                return Err(discard(d, bucket, key, &written, why).await);
            }
        }
        let stored_crc = written.crc32c_value();
        if stored_crc.is_some_and(|c| c != crc) || written.size.is_some_and(|s| s != end) {
            let why = format!(
                "the uploaded object has CRC32C {:08x} and {} bytes, but the data sent has {crc:08x} and {end}",
                stored_crc.unwrap_or(0),
                written.size.unwrap_or(0)
            );
            return Err(discard(d, bucket, key, &written, why).await);
        }
        return Ok(written.into_object(bucket));
    }
}

/// One resumable upload session.
struct Session<'a> {
    d: &'a GcsDriver,
    /// The session URI (its `upload_id` is the credential of the session: never shown).
    url: String,
    bucket: &'a str,
    key: &'a str,
}

/// What the server says of a session.
enum Progress {
    /// It holds the first `n` bytes of the data.
    Holds(u64),
    /// The upload is finished: the object.
    Done(Box<ObjectResource>),
}

/// The outcome of one request to a session.
enum Answer {
    Progress(Progress),
    /// A failure after which the session's status tells what to send (a broken
    /// connection, a timeout, 408, 429, 5xx).
    Failed(Error),
}

impl Session<'_> {
    fn error(&self, kind: ErrorKind, message: String) -> Error {
        Error::new(kind, message).with_driver(NAME).with_object(self.bucket, self.key)
    }

    /// Sends `chunk`, bytes `offset..` of the data (`total` with the last one), until the
    /// server holds all of it: `None` when more data is expected, the object once the
    /// upload is finished. Failures and 308s that confirm no new byte count against the
    /// retries of the HTTP settings; after a failure the session's status says where to
    /// go on from.
    async fn send(
        &self,
        offset: u64,
        chunk: &Bytes,
        total: Option<u64>,
        hash: Option<&str>,
    ) -> Result<Option<ObjectResource>> {
        let end = offset + chunk.len() as u64;
        let retry = &self.d.client.config.http.retry;
        let mut held = offset;
        let mut failures = 0u32;
        loop {
            let skip = usize::try_from(held - offset).unwrap_or(chunk.len()).min(chunk.len());
            let (progress, failed) = match self.put(held, end, chunk.slice(skip..), total, hash).await? {
                Answer::Progress(p) => (p, false),
                Answer::Failed(e) => {
                    if failures >= retry.max_retries {
                        return Err(e.with_retries(failures));
                    }
                    failures += 1;
                    tracing::info!(offset = held, error = %e, "a resumable upload chunk failed; asking its status");
                    tokio::time::sleep(storage_http::backoff(retry, failures - 1)).await;
                    match self.status(total).await.map_err(|e| e.with_retries(failures))? {
                        Answer::Progress(p) => (p, true),
                        Answer::Failed(e) => return Err(e.with_retries(failures)),
                    }
                }
            };
            let n = match progress {
                Progress::Done(written) if total.is_some() => return Ok(Some(*written)),
                Progress::Done(written) => {
                    let size = written.size.map_or_else(|| "an unknown number of".to_owned(), |s| s.to_string());
                    return Err(self.error(
                        ErrorKind::Backend,
                        format!(
                            "the server finished the resumable upload before the data ended: the object it wrote \
                             holds {size} bytes, {end} were sent so far"
                        ),
                    ));
                }
                Progress::Holds(n) => n,
            };
            if n < offset || n > end {
                return Err(self.error(
                    ErrorKind::Backend,
                    format!("the resumable upload session holds {n} bytes, but bytes {offset}..{end} were being sent"),
                ));
            }
            if n == end && total.is_none() {
                return Ok(None);
            }
            if n <= held && !failed {
                // A 308 confirming nothing new.
                if failures >= retry.max_retries {
                    return Err(self
                        .error(ErrorKind::Backend, format!("the resumable upload session keeps holding {n} bytes"))
                        .with_retryable(true)
                        .with_retries(failures));
                }
                failures += 1;
                tokio::time::sleep(storage_http::backoff(retry, failures - 1)).await;
            }
            held = n;
        }
    }

    /// `PUT`s bytes `from..end` of the data (`data`; `total` with the last ones, or
    /// nothing but the total once the server holds every byte, and then the whole
    /// object's `hash` as `x-goog-hash`). Not retried by the HTTP client once sent:
    /// [`Session::send`] asks the status instead.
    async fn put(&self, from: u64, end: u64, data: Bytes, total: Option<u64>, hash: Option<&str>) -> Result<Answer> {
        let range = match (from < end, total) {
            (true, Some(t)) => format!("bytes {from}-{}/{t}", end - 1),
            (true, None) => format!("bytes {from}-{}/*", end - 1),
            (false, Some(t)) => format!("bytes */{t}"),
            (false, None) => "bytes */*".to_owned(),
        };
        let mut req = HttpRequest::parse(Method::PUT, &self.url, "UploadChunk")?
            .header("content-range", &range)?
            .body(RequestBody::Bytes(data))
            .idempotent(false);
        req.set_header("content-type", "application/octet-stream")?;
        if let (Some(_), Some(h)) = (total, hash) {
            req.set_header("x-goog-hash", h)?;
        }
        self.answer(self.d.client.http.execute(&req, self.d.client.signer.as_ref()).await, "UploadChunk").await
    }

    /// Asks how much of the data the session holds: a `PUT` without data, `bytes */*`
    /// (`bytes */TOTAL` once the total is known). Retried like any idempotent request.
    async fn status(&self, total: Option<u64>) -> Result<Answer> {
        let range = total.map_or_else(|| "bytes */*".to_owned(), |t| format!("bytes */{t}"));
        let req = HttpRequest::parse(Method::PUT, &self.url, "QueryUploadStatus")?
            .header("content-range", &range)?
            .idempotent(true);
        self.answer(self.d.client.http.execute(&req, self.d.client.signer.as_ref()).await, "QueryUploadStatus").await
    }

    /// What an answer of the session means: 308 with the `Range` held (none: nothing
    /// yet), 200/201 with the object, 404/410 an expired session.
    async fn answer(&self, sent: Result<HttpResponse>, op: &'static str) -> Result<Answer> {
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                let e = e.or_context(NAME, Some(self.bucket), Some(self.key));
                return if e.is_retryable() { Ok(Answer::Failed(e)) } else { Err(e) };
            }
        };
        let status = resp.status.as_u16();
        match status {
            308 => {
                let held = match resp.header("range") {
                    None => 0,
                    Some(r) => r
                        .strip_prefix("bytes=0-")
                        .and_then(|n| n.trim().parse::<u64>().ok())
                        .map(|last| last + 1)
                        .ok_or_else(|| {
                            self.error(
                                ErrorKind::Backend,
                                format!("the resumable upload answered 308 with Range {r:?}"),
                            )
                        })?,
                };
                Ok(Answer::Progress(Progress::Holds(held)))
            }
            200 | 201 => match resp.bytes().await {
                Ok(body) => {
                    let written: ObjectResource = crate::json::parse(&body, op)
                        .map_err(|e| e.with_status(status).or_context(NAME, Some(self.bucket), Some(self.key)))?;
                    Ok(Answer::Progress(Progress::Done(Box::new(written))))
                }
                Err(e) if e.is_retryable() => Ok(Answer::Failed(e.or_context(NAME, Some(self.bucket), Some(self.key)))),
                Err(e) => Err(e.or_context(NAME, Some(self.bucket), Some(self.key))),
            },
            404 | 410 => {
                let cause = crate::errors::from_response(resp, op).await;
                let mut e = self
                    .error(
                        ErrorKind::Backend,
                        format!(
                            "the resumable upload session expired or was cancelled (HTTP {status}), so the upload \
                             cannot go on; nothing was written"
                        ),
                    )
                    .with_status(status)
                    .with_retryable(true)
                    .with_hint("upload the data again: a new upload starts a new session");
                if let Some(c) = cause.provider_code() {
                    e = e.with_provider_code(c);
                }
                if let Some(r) = cause.request_id() {
                    e = e.with_request_id(r);
                }
                Err(e)
            }
            s if storage_http::is_retryable_status(s) => Ok(Answer::Failed(
                crate::errors::from_response(resp, op).await.or_context(NAME, Some(self.bucket), Some(self.key)),
            )),
            s if (200..300).contains(&s) => {
                Err(self.error(ErrorKind::Backend, format!("the resumable upload answered {s}")))
            }
            _ => Err(crate::errors::from_response(resp, op).await.or_context(NAME, Some(self.bucket), Some(self.key))),
        }
    }
}

/// `objects.delete`; a missing object counts as deleted, a missing bucket does not. Not
/// retried (GCS's rule: an unconditional delete could remove a generation written
/// between two attempts).
pub(crate) async fn delete(d: &GcsDriver, bucket: &str, key: &str) -> Result<()> {
    delete_with(d, bucket, key, false).await
}

/// [`delete`] of an object only this upload writes (a staged part): retried.
pub(crate) async fn delete_unique(d: &GcsDriver, bucket: &str, key: &str) -> Result<()> {
    delete_with(d, bucket, key, true).await
}

async fn delete_with(d: &GcsDriver, bucket: &str, key: &str, retried: bool) -> Result<()> {
    d.check_key(bucket, key)?;
    let call = Call::object("DeleteObject", Method::DELETE, bucket, key, "").idempotent(retried);
    match d.client.send(call).await {
        Ok(_) => Ok(()),
        Err(e) if e.status() == Some(404) => match containers::refine_not_found(d, e, bucket).await {
            e if e.kind() == ErrorKind::ContainerDoesNotExist => Err(e),
            _ => Ok(()),
        },
        Err(e) => Err(e),
    }
}

/// `objects.rewrite`, looped until done; pinned to the source's generation, with the
/// destination's precondition, and the replacement metadata as the request body. The
/// copy's CRC32C and size must be the source's (GCS checks rewrites itself); a copy that
/// differs is deleted.
pub(crate) async fn copy(
    d: &GcsDriver,
    (src_bucket, src_key): (&str, &str),
    (dst_bucket, dst_key): (&str, &str),
    options: &CopyOptions,
) -> Result<Object> {
    d.check_key(src_bucket, src_key)?;
    d.check_key(dst_bucket, dst_key)?;
    if matches!(options.mode, PutMode::IfMatch(_)) {
        return Err(Error::new(ErrorKind::Config, "a copy's destination mode is overwrite or create-if-absent")
            .with_driver(NAME)
            .with_object(dst_bucket, dst_key));
    }
    let extras = match &options.replace {
        Some(put) => Extras::of(put).map_err(|e| e.with_object(dst_bucket, dst_key))?,
        None => Extras::default(),
    };
    let src = read::resource(d, src_bucket, src_key).await?;
    if let Some(want) = &options.source_if_match
        && !src.etag.as_deref().is_some_and(|e| etag_matches(want, e))
    {
        return Err(precondition(src_bucket, src_key, "the source's ETag differs from source_if_match"));
    }
    let body = match &options.replace {
        Some(put) => resource_json(dst_key, put, None)?,
        None => json!({}),
    };
    let path = format!("/rewriteTo/b/{}/o/{}", crate::client::enc(dst_bucket), crate::client::enc(dst_key));
    let mut token: Option<String> = None;
    loop {
        let mut call = extras.rewrite_query(
            Call::object("RewriteObject", Method::POST, src_bucket, src_key, &path)
                .about(dst_bucket, Some(dst_key))
                .json(&body)?
                // GCS's rule: a rewrite is idempotent when the destination is conditional.
                .idempotent(options.mode == PutMode::CreateIfAbsent),
        );
        if let Some(g) = src.generation {
            call = call.query("sourceGeneration", g.to_string()).query("ifSourceGenerationMatch", g.to_string());
        }
        if options.mode == PutMode::CreateIfAbsent {
            call = call.query("ifGenerationMatch", "0");
        }
        if let Some(t) = &token {
            call = call.query("rewriteToken", t.clone());
        }
        let answer: Rewrite = match d.client.send_json(call).await {
            Ok(a) => a,
            // The source was just read: a 404 is about the destination's bucket.
            Err(e) => return Err(containers::refine_not_found(d, e, dst_bucket).await),
        };
        if answer.done {
            let resource = answer.resource.ok_or_else(|| {
                Error::new(ErrorKind::Backend, "the rewrite finished without the new object")
                    .with_driver(NAME)
                    .with_object(dst_bucket, dst_key)
            })?;
            // GCS checks a rewrite against the source's CRC32C itself; the copy must
            // report that CRC32C and size (a server that does not check).
            let (want, got) = (src.crc32c_value(), resource.crc32c_value());
            if want.zip(got).is_some_and(|(w, g)| w != g) || src.size.zip(resource.size).is_some_and(|(w, g)| w != g) {
                let why = format!(
                    "the copy has CRC32C {:08x} and {} bytes, but its source has {:08x} and {}",
                    got.unwrap_or(0),
                    resource.size.unwrap_or(0),
                    want.unwrap_or(0),
                    src.size.unwrap_or(0)
                );
                return Err(discard(d, dst_bucket, dst_key, &resource, why).await);
            }
            return Ok(resource.into_object(dst_bucket));
        }
        token = Some(answer.rewrite_token.ok_or_else(|| {
            Error::new(ErrorKind::Backend, "an unfinished rewrite answered without a rewriteToken")
                .with_driver(NAME)
                .with_object(dst_bucket, dst_key)
        })?);
    }
}
