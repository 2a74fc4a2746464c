//! Writes: PUT (staged then moved into place, or direct), DELETE (then pruning the
//! collections it emptied), COPY, and the removal of staged uploads left behind.
//!
//! # Parent collections
//!
//! A key's parent collections are created on demand: a PUT answered 409 (Apache and
//! rclone both say so for a missing parent) is followed by a look at the key's
//! ancestors, deepest first, and MKCOLs from the shallowest missing one; then the PUT
//! is sent again. A streamed body cannot be sent twice, so for a stream the parents are
//! made sure of first. An ancestor that is a file makes the key `InvalidObjectName` (a
//! path cannot go through a file: `key_and_prefix` is off), a missing container
//! `ContainerDoesNotExist`.
//!
//! # Staged writes (the default)
//!
//! The data is PUT to `<dir>/.~upload.<tag>` beside the key, then MOVEd onto it:
//! `Overwrite: F` to create (create-if-absent fails there with `PreconditionFailed`);
//! with `If: <key> (["etag"])` for if-match; to overwrite, `Overwrite: F` first and, when
//! something is there, `Overwrite: T` once it is known to be a file (a MOVE onto a
//! collection would replace the whole collection, and the keys under it). A failed
//! write removes its staged file and never touches the key. WebDAV's MOVE deletes the
//! destination before renaming, so an overwrite leaves an instant in which the key is
//! absent (`atomic_overwrite` is off); conditions are checked by the server just before
//! the rename, not atomically with it (`atomic_conditional_put` is off).
//!
//! # Deletes
//!
//! A DELETE of a collection removes everything in it, and rclone ignores `Depth: 0`, so
//! an object is HEAD first (a collection at the key means there is no object to delete)
//! and then deleted with `Depth: 0` (which Apache refuses for a collection). The
//! collections left empty are then removed up to, not including, the container: each is
//! listed and, if empty, deleted with its ETag in an `If` header, so that a write into
//! it in between makes the delete fail. A collection without an ETag (rclone gives
//! none) is left in place: its DELETE could not be made conditional, and rclone 1.75
//! has been seen answering a PROPFIND of a collection with no members while other
//! requests changed it, so an unconditional delete would lose the objects in it.
//! Pruning is best effort; listings never show collections that hold no object.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::Method;
use storage_core::kit::{Md5Hasher, etag_matches, unique_tag, verify_content_md5};
use storage_core::{
    ByteStream, CopyOptions, Error, ErrorKind, Leftover, LeftoverKind, Object, Payload, PutMode, PutOptions, Result,
};
use storage_http::{HttpResponse, RequestBody, http};

use crate::client::{Call, method};
use crate::config::WriteMode;
use crate::driver::WebDavDriver;
use crate::paths::{STAGING_PREFIX, ancestors, is_staging_name, parent_dir};
use crate::read::{object_from_headers, quote};

/// The most a stream of unknown length may hold: it is gathered in memory first, since
/// a PUT needs its length up front.
pub const MAX_BUFFERED: u64 = 1 << 30;

/// A request body, and where the first error of a streamed one is kept (the HTTP
/// engine reports a failed body as a generic I/O failure).
struct Body {
    body: RequestBody,
    len: u64,
    failure: Option<Arc<Mutex<Option<Error>>>>,
}

impl Body {
    async fn prepare(payload: Payload, md5: Option<&str>) -> Result<Self> {
        match payload {
            Payload::Bytes(b) => Self::bytes(b, md5),
            Payload::Stream { stream, length: Some(len) } => {
                let slot = Arc::new(Mutex::new(None));
                let checked = checked_stream(stream, md5.map(str::to_owned), slot.clone());
                Ok(Body { body: RequestBody::stream(checked, len), len, failure: Some(slot) })
            }
            Payload::Stream { mut stream, length: None } => {
                let mut buf = BytesMut::new();
                while let Some(chunk) = stream.next().await {
                    buf.extend_from_slice(&chunk?);
                    if buf.len() as u64 > MAX_BUFFERED {
                        return Err(Error::new(
                            ErrorKind::Config,
                            format!(
                                "a stream of unknown length is held in memory before it is sent, and this one is \
                                 over {MAX_BUFFERED} bytes"
                            ),
                        )
                        .with_hint("give the stream's length (Payload::stream(s, Some(len))), or upload a file"));
                    }
                }
                Self::bytes(buf.freeze(), md5)
            }
        }
    }

    fn bytes(b: Bytes, md5: Option<&str>) -> Result<Self> {
        verify_content_md5(md5, &b)?;
        let len = b.len() as u64;
        Ok(Body { body: RequestBody::Bytes(b), len, failure: None })
    }

    fn replayable(&self) -> bool {
        self.body.is_replayable()
    }

    /// The body's own error, if the request failed because of it; else `e`.
    fn error_or(&self, e: Error) -> Error {
        let own = self.failure.as_ref().and_then(|s| s.lock().unwrap_or_else(PoisonError::into_inner).take());
        own.unwrap_or(e)
    }
}

/// `stream`, whose first error is also kept in `slot`, and which fails at its end (so
/// that the request never completes) if its MD5 is not `md5`.
fn checked_stream(stream: ByteStream, md5: Option<String>, slot: Arc<Mutex<Option<Error>>>) -> ByteStream {
    let keep = move |e: &Error| {
        let mut s = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if s.is_none() {
            *s = Some(Error::new(e.kind(), e.message().to_owned()));
        }
    };
    let state = (stream, md5.map(|m| (m, Md5Hasher::new())), false);
    futures::stream::unfold(state, move |(mut stream, mut hash, done)| {
        let keep = keep.clone();
        async move {
            if done {
                return None;
            }
            match stream.next().await {
                Some(Ok(chunk)) => {
                    if let Some((_, h)) = &mut hash {
                        h.update(&chunk);
                    }
                    Some((Ok(chunk), (stream, hash, false)))
                }
                Some(Err(e)) => {
                    keep(&e);
                    Some((Err(e), (stream, None, true)))
                }
                None => {
                    let (want, h) = hash?;
                    match storage_core::kit::verify_md5_hex(Some(&want), &h.finish_hex()) {
                        Ok(()) => None,
                        Err(e) => {
                            keep(&e);
                            Some((Err(e), (stream, None, true)))
                        }
                    }
                }
            }
        }
    })
    .boxed()
}

/// Writes an object (see the module documentation).
pub(crate) async fn put(
    d: &WebDavDriver,
    container: &str,
    key: &str,
    payload: Payload,
    options: &PutOptions,
) -> Result<Object> {
    d.writable("writing objects")?;
    d.check_key(container, key)?;
    let ctx = |e: Error| e.or_context(d.name(), Some(container), Some(key));
    let body = Body::prepare(payload, options.content_md5.as_deref()).await.map_err(ctx)?;
    let written = match d.client.config.write_mode {
        WriteMode::Staged => put_staged(d, container, key, &body, &options.mode).await,
        WriteMode::Direct => put_direct(d, container, key, &body, &options.mode).await,
    };
    written.map_err(ctx)
}

/// The object a successful write describes, from the answer about the data written.
fn written(container: &str, key: &str, size: u64, resp: &HttpResponse) -> Object {
    let (mut o, _) = object_from_headers(container, key, &resp.headers, size);
    // The server's guess (a PUT's Content-Type is not stored), not the object's.
    o.content_type = None;
    o.content_encoding = None;
    o
}

/// The staged name beside `key`.
fn staging_key(key: &str) -> String {
    format!("{}{STAGING_PREFIX}{}", parent_dir(key), unique_tag())
}

async fn put_staged(d: &WebDavDriver, container: &str, key: &str, body: &Body, mode: &PutMode) -> Result<Object> {
    let tmp = staging_key(key);
    let resp = match upload(d, container, &tmp, key, body, &[], true).await {
        Ok(r) => r,
        Err(e) => {
            // An interrupted upload may have left part of the data (rclone writes in place).
            discard(d, container, &tmp).await;
            return Err(e);
        }
    };
    let object = match staged_object(d, container, &tmp, key, body.len, resp).await {
        Ok(o) => o,
        Err(e) => {
            discard(d, container, &tmp).await;
            return Err(e);
        }
    };
    commit(d, container, &tmp, key, mode).await?;
    Ok(object)
}

/// The object a staged file will be once moved to `key`: its ETag from the PUT's answer
/// or else a HEAD of the staged file (a rename keeps the modification time and size the
/// servers' ETags are made of).
async fn staged_object(
    d: &WebDavDriver,
    container: &str,
    tmp: &str,
    key: &str,
    size: u64,
    resp: HttpResponse,
) -> Result<Object> {
    if resp.header("etag").is_some() {
        return Ok(written(container, key, size, &resp));
    }
    let head = d.client.send(Call::new("HEAD", Method::HEAD, d.client.endpoint.key_url(container, tmp))).await?;
    Ok(written(container, key, size, &head))
}

async fn put_direct(d: &WebDavDriver, container: &str, key: &str, body: &Body, mode: &PutMode) -> Result<Object> {
    let (headers, what): (Vec<(&'static str, String)>, &str) = match mode {
        PutMode::Overwrite => (Vec::new(), ""),
        PutMode::CreateIfAbsent => {
            (vec![("if-none-match", "*".to_owned())], "create-if-absent: the object already exists")
        }
        PutMode::IfMatch(e) => {
            let tagged = format!("<{}> ([{}])", d.client.endpoint.key_url(container, key), quote(e));
            (vec![("if", tagged)], "if-match: the object's ETag differs, or it does not exist")
        }
    };
    let idempotent = *mode == PutMode::Overwrite;
    let resp = match upload(d, container, key, key, body, &headers, idempotent).await {
        Ok(r) => r,
        Err(e) if e.status() == Some(412) => {
            return Err(Error::new(ErrorKind::PreconditionFailed, what).with_status(412));
        }
        Err(e) => return Err(e),
    };
    if resp.header("etag").is_some() {
        return Ok(written(container, key, body.len, &resp));
    }
    // The ETag of what is there now: another writer may have replaced it since.
    let head = d.client.send(Call::new("HEAD", Method::HEAD, d.client.endpoint.key_url(container, key))).await?;
    Ok(written(container, key, body.len, &head))
}

/// PUTs `body` to `target` (the key, or its staged name) with `headers`, creating the
/// parent collections of `key` when the server says they are missing.
async fn upload(
    d: &WebDavDriver,
    container: &str,
    target: &str,
    key: &str,
    body: &Body,
    headers: &[(&'static str, String)],
    idempotent: bool,
) -> Result<HttpResponse> {
    // A streamed body is sent once: its collections are made sure of first.
    let mut retried = !body.replayable();
    if retried {
        ensure_parents(d, container, key).await?;
    }
    loop {
        let mut call = Call::new("PUT", Method::PUT, d.client.endpoint.key_url(container, target))
            .body(body.body.clone())
            .idempotent(idempotent);
        for (name, value) in headers {
            call = call.header(name, value)?;
        }
        let resp = d.client.execute(&call).await.map_err(|e| body.error_or(e))?;
        match resp.status.as_u16() {
            200..=299 => return Ok(resp),
            // A missing parent (409 on Apache and rclone), a file where a parent should
            // be (Apache 400, rclone 404), a collection at the key (Apache 409, rclone
            // 404, others 405).
            400 | 404 | 405 | 409 => {
                if !retried {
                    // Created here or by a concurrent writer: either way, once more.
                    ensure_parents(d, container, key).await?;
                    retried = true;
                    continue;
                }
                if let Some(e) = collection_at(d, container, key).await? {
                    return Err(e);
                }
                return Err(crate::errors::from_response(resp, "PUT").await);
            }
            _ => return Err(crate::errors::from_response(resp, "PUT").await),
        }
    }
}

/// `InvalidObjectName` if a collection stands at `key` (keys are stored under it).
async fn collection_at(d: &WebDavDriver, container: &str, key: &str) -> Result<Option<Error>> {
    let ep = &d.client.endpoint;
    let path = format!("{}{key}", ep.dir_path(container, ""));
    match d.client.stat(&ep.key_url(container, key), &path).await? {
        Some(r) if r.collection => Ok(Some(
            Error::new(
                ErrorKind::InvalidObjectName,
                format!("object key {key:?} cannot be written: keys are stored under {key:?}/ (a collection)"),
            )
            .with_hint("on WebDAV a key cannot also be the prefix of other keys (`a` beside `a/b`)"),
        )),
        _ => Ok(None),
    }
}

/// Makes sure the collections `key` lives in exist, creating the missing ones from the
/// shallowest; whether any was created. `ContainerDoesNotExist` for a missing container,
/// `InvalidObjectName` when an ancestor is a file.
pub(crate) async fn ensure_parents(d: &WebDavDriver, container: &str, key: &str) -> Result<bool> {
    let dirs = ancestors(key);
    let ep = &d.client.endpoint;
    'round: for _ in 0..3 {
        // The deepest ancestor that exists: dirs[..existing] all do.
        let mut existing = dirs.len();
        loop {
            if existing == 0 {
                crate::containers::require(d, container).await?;
                break;
            }
            let dir = dirs[existing - 1];
            match d.client.stat(&ep.key_url(container, dir), &ep.dir_path(container, dir)).await? {
                Some(r) if r.collection => break,
                Some(_) => return Err(file_in_the_way(key, dir)),
                None => existing -= 1,
            }
        }
        if existing == dirs.len() {
            return Ok(false);
        }
        for dir in &dirs[existing..] {
            let url = format!("{}/", ep.key_url(container, dir));
            let resp = d.client.execute(&Call::new("MKCOL", method("MKCOL"), url)).await?;
            if resp.status.is_success() {
                continue;
            }
            // Already there (405; Apache answers 403 when another writer made it in the
            // same instant), or its parent went away (409: an empty collection pruned by
            // a concurrent delete).
            match d.client.stat(&ep.key_url(container, dir), &ep.dir_path(container, dir)).await? {
                Some(r) if r.collection => {}
                Some(_) => return Err(file_in_the_way(key, dir)),
                None if resp.status.as_u16() == 409 => continue 'round,
                None => return Err(crate::errors::from_response(resp, "MKCOL").await),
            }
        }
        return Ok(true);
    }
    Err(Error::new(ErrorKind::Backend, format!("the collections for {key:?} kept disappearing while being created"))
        .with_retryable(true))
}

fn file_in_the_way(key: &str, dir: &str) -> Error {
    let file = dir.trim_end_matches('/');
    Error::new(
        ErrorKind::InvalidObjectName,
        format!("object key {key:?} cannot be written: {file:?} is an object, and a path cannot go through it"),
    )
    .with_key(key)
    .with_hint("on WebDAV a key cannot also be the prefix of other keys (`a` beside `a/b`)")
}

/// What a MOVE or COPY did.
enum Transfer {
    Done,
    /// 412: `Overwrite: F` met an existing destination, or the `If` condition failed.
    Refused,
    /// 404 or 409 (the status): the source or the destination's collection is missing,
    /// or (Apache, 404 to a MOVE) the destination it was replacing vanished under a
    /// concurrent MOVE.
    Missing(u16),
}

/// MOVE or COPY of `src` (a key) onto `dst` (a key).
async fn transfer(
    d: &WebDavDriver,
    verb: &'static str,
    (src_container, src): (&str, &str),
    (dst_container, dst): (&str, &str),
    overwrite: bool,
    if_etag: Option<&str>,
) -> Result<Transfer> {
    let ep = &d.client.endpoint;
    let dst_url = ep.key_url(dst_container, dst);
    let mut call = Call::new(verb, method(verb), ep.key_url(src_container, src))
        .header("destination", &dst_url)?
        .header("overwrite", if overwrite { "T" } else { "F" })?;
    if verb == "COPY" {
        call = call.header("depth", "0")?;
    }
    if let Some(e) = if_etag {
        call = call.header("if", &format!("<{dst_url}> ([{}])", quote(e)))?;
    }
    let resp = d.client.execute(&call).await?;
    match resp.status.as_u16() {
        200..=299 => Ok(Transfer::Done),
        412 => Ok(Transfer::Refused),
        status @ (404 | 409) => Ok(Transfer::Missing(status)),
        _ => Err(crate::errors::from_response(resp, verb).await),
    }
}

/// Moves the staged file `tmp` onto `key` as `mode` says; the staged file is removed if
/// that fails.
async fn commit(d: &WebDavDriver, container: &str, tmp: &str, key: &str, mode: &PutMode) -> Result<()> {
    let done = commit_inner(d, container, tmp, key, mode).await;
    if done.is_err() {
        discard(d, container, tmp).await;
    }
    done
}

async fn commit_inner(d: &WebDavDriver, container: &str, tmp: &str, key: &str, mode: &PutMode) -> Result<()> {
    let (src, dst) = ((container, tmp), (container, key));
    for _ in 0..5 {
        let outcome = match mode {
            PutMode::CreateIfAbsent => transfer(d, "MOVE", src, dst, false, None).await?,
            PutMode::IfMatch(etag) => transfer(d, "MOVE", src, dst, true, Some(etag)).await?,
            PutMode::Overwrite => match transfer(d, "MOVE", src, dst, false, None).await? {
                // Something is there: replace it only if it is a file.
                Transfer::Refused => match collection_at(d, container, key).await? {
                    Some(e) => return Err(e),
                    None => transfer(d, "MOVE", src, dst, true, None).await?,
                },
                other => other,
            },
        };
        match outcome {
            Transfer::Done => return Ok(()),
            Transfer::Refused => match mode {
                PutMode::CreateIfAbsent => {
                    return Err(collection_at(d, container, key).await?.unwrap_or_else(|| {
                        Error::new(ErrorKind::PreconditionFailed, "create-if-absent: the object already exists")
                            .with_status(412)
                    }));
                }
                PutMode::IfMatch(_) => {
                    return Err(Error::new(
                        ErrorKind::PreconditionFailed,
                        "if-match: the object's ETag differs, or it does not exist",
                    )
                    .with_status(412));
                }
                PutMode::Overwrite => {}
            },
            // Apache answers 404 when the object it was replacing is removed by a
            // concurrent MOVE onto the same key: the staged file is still there, and
            // the MOVE is tried again.
            Transfer::Missing(_) => {
                let url = d.client.endpoint.key_url(container, tmp);
                let staged = d.client.execute(&Call::new("HEAD", Method::HEAD, url)).await?;
                if !staged.status.is_success() {
                    return Err(Error::new(
                        ErrorKind::Backend,
                        "the staged upload disappeared before it was moved into place (its collection was removed \
                         by a concurrent delete)",
                    )
                    .with_retryable(true));
                }
            }
        }
    }
    Err(Error::new(ErrorKind::Backend, "the server kept refusing to move the staged upload into place")
        .with_retryable(true))
}

/// Removes a staged file, best effort (what remains is found by `list_leftovers`).
async fn discard(d: &WebDavDriver, container: &str, tmp: &str) {
    let call = Call::new("DELETE", Method::DELETE, d.client.endpoint.key_url(container, tmp));
    if let Ok(call) = call.header("depth", "0")
        && let Err(e) = d.client.send(call).await
        && e.status() != Some(404)
    {
        tracing::debug!(error = %e, "removing a staged upload failed; list_leftovers finds it");
    }
}

/// Deletes an object; a missing one counts as deleted (see the module documentation).
pub(crate) async fn delete(d: &WebDavDriver, container: &str, key: &str) -> Result<()> {
    d.writable("deleting objects")?;
    d.check_key(container, key)?;
    let ctx = |e: Error| e.or_context(d.name(), Some(container), Some(key));
    let url = d.client.endpoint.key_url(container, key);
    let resp = d.client.execute(&Call::new("HEAD", Method::HEAD, url.clone())).await?;
    match resp.status.as_u16() {
        200..=299 => {}
        404 | 410 => {
            return match crate::containers::find(d, container).await? {
                None => Err(Error::container_not_found(d.name(), container)),
                Some(_) => Ok(()),
            };
        }
        // A collection at the key: no object to delete.
        405 | 301 | 302 | 307 | 308 => return Ok(()),
        _ => return Err(ctx(crate::errors::from_response(resp, "HEAD").await)),
    }
    let resp = d.client.execute(&Call::new("DELETE", Method::DELETE, url).header("depth", "0")?).await?;
    match resp.status.as_u16() {
        200..=299 => {
            prune(d, container, key).await;
            Ok(())
        }
        // Gone meanwhile, or (Apache refusing `Depth: 0`) a collection now.
        400 | 404 | 410 => Ok(()),
        _ => Err(ctx(crate::errors::from_response(resp, "DELETE").await)),
    }
}

/// Removes the collections of `key` that are now empty, deepest first, up to (not
/// including) the container, each with a DELETE conditional on the ETag it had when it
/// was seen empty. Best effort: stops at the first that is not empty, changed, or has no
/// ETag.
pub(crate) async fn prune(d: &WebDavDriver, container: &str, key: &str) {
    let ep = &d.client.endpoint;
    for dir in ancestors(key).into_iter().rev() {
        let path = ep.dir_path(container, dir);
        let found = match d.client.propfind(&ep.key_url(container, dir), crate::client::Depth::One).await {
            Ok(Some(found)) => found,
            // Already gone: its parent may be empty now.
            Ok(None) => continue,
            Err(_) => return,
        };
        // The collection's own entry (a file standing there now is not pruned).
        let own_etag =
            found.iter().find(|r| r.collection && crate::client::names(r, &path)).and_then(|r| r.etag.clone());
        // Without an ETag the DELETE could not be made conditional: nothing is pruned.
        let Some(etag) = own_etag else { return };
        if !crate::client::Client::children(&path, found).is_empty() {
            return;
        }
        let url = format!("{}/", ep.key_url(container, dir));
        let Ok(call) =
            Call::new("DELETE", Method::DELETE, url.clone()).header("if", &format!("<{url}> ([{}])", etag.trim()))
        else {
            return;
        };
        match d.client.execute(&call).await.map(|r| r.status.as_u16()) {
            Ok(200..=299 | 404 | 410) => {}
            _ => return,
        }
    }
}

/// A server-side copy: COPY to a staged name beside the destination, then the same
/// MOVE as a staged write (so a copy never leaves half an object at the destination).
/// `source_if_match` is checked before the copy and again after it, so the copy is of
/// the version asked for.
pub(crate) async fn copy(
    d: &WebDavDriver,
    (src_container, src_key): (&str, &str),
    (dst_container, dst_key): (&str, &str),
    options: &CopyOptions,
) -> Result<Object> {
    d.writable("copying objects")?;
    d.check_key(src_container, src_key)?;
    d.check_key(dst_container, dst_key)?;
    let ctx = |e: Error| e.or_context(d.name(), Some(dst_container), Some(dst_key));
    if matches!(options.mode, PutMode::IfMatch(_)) {
        return Err(ctx(Error::new(ErrorKind::Config, "a copy's destination mode is overwrite or create-if-absent")));
    }
    let src = crate::read::head(d, src_container, src_key).await?;
    let source_matches = |o: &Object| match &options.source_if_match {
        Some(want) => o.etag.as_deref().is_some_and(|e| etag_matches(want, e)),
        None => true,
    };
    if !source_matches(&src) {
        return Err(Error::new(ErrorKind::PreconditionFailed, "the source's ETag differs from source_if_match")
            .with_status(412)
            .or_context(d.name(), Some(src_container), Some(src_key)));
    }
    ensure_parents(d, dst_container, dst_key).await.map_err(ctx)?;
    let tmp = staging_key(dst_key);
    let mut copied = false;
    for _ in 0..2 {
        match transfer(d, "COPY", (src_container, src_key), (dst_container, &tmp), false, None).await {
            Ok(Transfer::Done) => {
                copied = true;
                break;
            }
            Ok(Transfer::Refused) => {
                return Err(ctx(Error::new(ErrorKind::Backend, "the server refused to copy to a fresh staged name")));
            }
            Ok(Transfer::Missing(404)) => {
                return Err(crate::read::not_found(d, src_container, src_key).await);
            }
            // The destination's collections went away (pruned by a concurrent delete).
            Ok(Transfer::Missing(_)) => {
                ensure_parents(d, dst_container, dst_key).await.map_err(ctx)?;
            }
            Err(e) => return Err(ctx(e)),
        }
    }
    if !copied {
        return Err(
            ctx(Error::new(ErrorKind::Backend, "the destination's collections kept disappearing")).with_retryable(true)
        );
    }
    let staged = async {
        if options.source_if_match.is_some() {
            let now = crate::read::head(d, src_container, src_key).await?;
            if now.etag != src.etag || !source_matches(&now) {
                return Err(
                    Error::new(ErrorKind::PreconditionFailed, "the source changed during the copy").with_status(412)
                );
            }
        }
        let url = d.client.endpoint.key_url(dst_container, &tmp);
        let head = d.client.send(Call::new("HEAD", Method::HEAD, url)).await?;
        let size = head.content_length().unwrap_or(src.size);
        Ok(written(dst_container, dst_key, size, &head))
    }
    .await;
    let object = match staged {
        Ok(o) => o,
        Err(e) => {
            discard(d, dst_container, &tmp).await;
            return Err(ctx(e));
        }
    };
    commit(d, dst_container, &tmp, dst_key, &options.mode).await.map_err(ctx)?;
    Ok(object)
}

/// Removes a staged upload that [`crate::list::leftovers`] listed, unless it was written
/// to since (`PreconditionFailed`); one already gone counts as removed.
pub(crate) async fn remove_leftover(d: &WebDavDriver, leftover: &Leftover) -> Result<()> {
    d.writable("removing leftovers")?;
    let container = leftover.container.as_str();
    d.check_container(container)?;
    let name = leftover.id.rsplit('/').next().unwrap_or(&leftover.id);
    if leftover.kind != LeftoverKind::StagedData || !is_staging_name(name) {
        return Err(Error::new(ErrorKind::NotSupported, "only this driver's staged uploads can be removed")
            .with_driver(d.name())
            .with_container(container));
    }
    let url = d.client.endpoint.key_url(container, &leftover.id);
    let resp = d.client.execute(&Call::new("HEAD", Method::HEAD, url.clone())).await?;
    match resp.status.as_u16() {
        200..=299 => {}
        404 | 410 => return Ok(()),
        _ => return Err(crate::errors::from_response(resp, "HEAD").await.or_context(d.name(), Some(container), None)),
    }
    let (now, _) = object_from_headers(container, &leftover.id, &resp.headers, resp.content_length().unwrap_or(0));
    let changed = leftover.size.is_some_and(|s| s != now.size)
        || (leftover.created.is_some() && now.last_modified.is_some() && leftover.created != now.last_modified);
    if changed {
        return Err(Error::new(
            ErrorKind::PreconditionFailed,
            "the staged upload was written to since it was listed: a writer may still be using it",
        )
        .with_driver(d.name())
        .with_container(container));
    }
    let resp = d.client.execute(&Call::new("DELETE", Method::DELETE, url).header("depth", "0")?).await?;
    match resp.status.as_u16() {
        200..=299 | 404 | 410 => {
            prune(d, container, &leftover.id).await;
            Ok(())
        }
        _ => Err(crate::errors::from_response(resp, "DELETE").await.or_context(d.name(), Some(container), None)),
    }
}
