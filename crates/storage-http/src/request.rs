//! Requests, their bodies, and the signing hook.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use storage_core::{ByteStream, Error, ErrorKind, Result};

use crate::activity::Activity;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body type handed to hyper.
pub type HyperBody = UnsyncBoxBody<Bytes, BoxError>;

/// A request body. `Empty` and `Bytes` can be replayed on retry; a `Stream` is sent once.
#[derive(Clone)]
pub enum RequestBody {
    /// No body.
    Empty,
    /// A body in memory.
    Bytes(Bytes),
    /// A body read from a stream, of the given length; consumed by the first attempt.
    Stream(Arc<Mutex<Option<ByteStream>>>, u64),
}

impl std::fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestBody::Empty => f.write_str("Empty"),
            RequestBody::Bytes(b) => write!(f, "Bytes({})", b.len()),
            RequestBody::Stream(_, n) => write!(f, "Stream({n})"),
        }
    }
}

impl RequestBody {
    /// A streamed body of exactly `length` bytes. A stream that is shorter or longer fails
    /// the request with an `Io` error, and the last byte is held back until the stream is
    /// known to end there, so a server never receives a complete body from a stream that
    /// turns out too long.
    pub fn stream(stream: ByteStream, length: u64) -> Self {
        RequestBody::Stream(Arc::new(Mutex::new(Some(exact_length(stream, length)))), length)
    }

    /// Whether the body can be sent again on a retry.
    pub fn is_replayable(&self) -> bool {
        !matches!(self, RequestBody::Stream(..))
    }

    /// The body's length.
    pub fn len(&self) -> u64 {
        match self {
            RequestBody::Empty => 0,
            RequestBody::Bytes(b) => b.len() as u64,
            RequestBody::Stream(_, n) => *n,
        }
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, for bodies held in memory.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            RequestBody::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The hyper body; each chunk sent is recorded in `activity` (large in-memory bodies
    /// are sent in 256 KiB frames so their progress is visible too).
    pub(crate) fn to_hyper(&self, activity: &Activity) -> Result<HyperBody> {
        const FRAME: usize = 256 * 1024;
        let stream: ByteStream = match self {
            RequestBody::Empty => return Ok(Empty::new().map_err(|never| match never {}).boxed_unsync()),
            RequestBody::Bytes(b) if b.len() <= FRAME => {
                return Ok(Full::new(b.clone()).map_err(|never| match never {}).boxed_unsync());
            }
            RequestBody::Bytes(b) => storage_core::kit::chunked_stream(b.clone(), FRAME),
            RequestBody::Stream(slot, _) => {
                slot.lock().unwrap_or_else(PoisonError::into_inner).take().ok_or_else(|| {
                    Error::new(ErrorKind::Io, "a streamed request body cannot be sent twice").with_retryable(false)
                })?
            }
        };
        let activity = activity.clone();
        let frames = stream
            .inspect_ok(move |_| activity.touch())
            .map_ok(http_body::Frame::data)
            .map_err(|e| Box::new(e) as BoxError);
        Ok(BodyExt::boxed_unsync(StreamBody::new(frames)))
    }
}

/// One HTTP request, described so it can be signed and re-sent on retry.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// The full URL.
    pub uri: Uri,
    /// Headers (the signer adds its own per attempt).
    pub headers: HeaderMap,
    /// The body.
    pub body: RequestBody,
    /// Whether sending it twice is harmless (retries are only made then).
    pub idempotent: bool,
    /// A short name for logs (`GetObject`, `PutBlock`...).
    pub operation: &'static str,
}

impl HttpRequest {
    /// A request with no headers and no body; idempotent unless the method is POST.
    pub fn new(method: Method, uri: Uri, operation: &'static str) -> Self {
        let idempotent = method != Method::POST;
        HttpRequest { method, uri, headers: HeaderMap::new(), body: RequestBody::Empty, idempotent, operation }
    }

    /// Parses `url` into a request.
    pub fn parse(method: Method, url: &str, operation: &'static str) -> Result<Self> {
        let uri: Uri = url.parse().map_err(|e| {
            Error::new(ErrorKind::Config, format!("{} is not a valid URL: {e}", crate::redact_url(url)))
        })?;
        Ok(Self::new(method, uri, operation))
    }

    /// Adds a header; values that are not valid header text are a `Config` error.
    pub fn header(mut self, name: &'static str, value: impl AsRef<str>) -> Result<Self> {
        self.set_header(name, value.as_ref())?;
        Ok(self)
    }

    /// Sets a header in place.
    pub fn set_header(&mut self, name: &str, value: &str) -> Result<()> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::new(ErrorKind::Config, format!("{name:?} is not a valid header name")))?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            Error::new(ErrorKind::Config, format!("the value of header {name} is not valid header text"))
        })?;
        self.headers.insert(name, value);
        Ok(())
    }

    /// Sets the body.
    pub fn body(mut self, body: RequestBody) -> Self {
        self.body = body;
        self
    }

    /// Overrides idempotency.
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }
}

/// Adds authentication to each attempt of a request (called again on every retry, so
/// time-based signatures stay fresh).
#[async_trait]
pub trait Signer: Send + Sync {
    /// Adds headers (or query parameters, by rewriting `uri`) that authenticate the request.
    async fn sign(&self, method: &Method, uri: &mut Uri, headers: &mut HeaderMap, body: &RequestBody) -> Result<()>;

    /// The server answered 401 to a request signed with `authorization` (the header
    /// `sign` set, if any): forget cached credentials that may be stale (a bearer token
    /// revoked or expired early, [`crate::auth::forget_rejected`]) and say whether the
    /// request is worth signing and sending once more. A 401 means nothing was done, so
    /// [`crate::HttpClient::execute`] does that once per request, whatever its method.
    /// The default: `false` (nothing cached that could change).
    async fn rejected(&self, authorization: Option<&http::HeaderValue>) -> bool {
        let _ = authorization;
        false
    }
}

/// A signer that adds nothing (anonymous access, emulators without auth).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unsigned;

#[async_trait]
impl Signer for Unsigned {
    async fn sign(&self, _: &Method, _: &mut Uri, _: &mut HeaderMap, _: &RequestBody) -> Result<()> {
        Ok(())
    }
}

struct Exact {
    inner: ByteStream,
    length: u64,
    seen: u64,
    held: Option<Bytes>,
    done: bool,
}

fn length_error(msg: String) -> Error {
    Error::new(ErrorKind::Io, msg).with_retryable(false)
}

/// Passes `inner` through, failing if it yields more or fewer than `length` bytes; the
/// chunk that completes `length` is released only once the stream has ended.
fn exact_length(inner: ByteStream, length: u64) -> ByteStream {
    use futures::StreamExt;
    let state = Exact { inner, length, seen: 0, held: None, done: false };
    futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            match st.inner.next().await {
                Some(Ok(chunk)) if chunk.is_empty() => continue,
                Some(Ok(chunk)) => {
                    st.seen += chunk.len() as u64;
                    if st.seen > st.length {
                        st.done = true;
                        let e =
                            length_error(format!("the data stream is longer than the announced {} bytes", st.length));
                        return Some((Err(e), st));
                    }
                    if st.seen == st.length {
                        st.held = Some(chunk);
                        continue;
                    }
                    return Some((Ok(chunk), st));
                }
                Some(Err(e)) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
                None => {
                    st.done = true;
                    if st.seen < st.length {
                        let e = length_error(format!(
                            "the data stream ended after {} of the announced {} bytes",
                            st.seen, st.length
                        ));
                        return Some((Err(e), st));
                    }
                    return st.held.take().map(|c| (Ok(c), st));
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn chunks(parts: &[&'static [u8]]) -> ByteStream {
        futures::stream::iter(parts.iter().map(|p| Ok(Bytes::from_static(p))).collect::<Vec<_>>()).boxed()
    }

    async fn collect(s: ByteStream) -> (Vec<u8>, Option<Error>) {
        let mut out = Vec::new();
        let mut s = s;
        while let Some(c) = s.next().await {
            match c {
                Ok(c) => out.extend_from_slice(&c),
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    }

    #[tokio::test]
    async fn exact_streams_pass_and_others_fail_before_completing() {
        let (out, err) = collect(exact_length(chunks(&[b"ab", b"cd"]), 4)).await;
        assert_eq!((out.as_slice(), err.is_none()), (&b"abcd"[..], true));
        // Too long: the chunk completing the length is never released.
        let (out, err) = collect(exact_length(chunks(&[b"ab", b"cd", b"e"]), 4)).await;
        assert_eq!(out, b"ab");
        assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::Io));
        let (out, err) = collect(exact_length(chunks(&[b"ab"]), 4)).await;
        assert_eq!(out, b"ab");
        assert!(err.unwrap().message().contains("ended after 2"));
    }
}
