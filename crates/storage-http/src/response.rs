//! Responses and their bodies, read with an idle timeout.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use storage_core::{ByteStream, Error, ErrorKind, Result};

/// A response whose body has not been read yet.
#[derive(Debug)]
pub struct HttpResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// How many retries preceded this answer.
    pub retries: u32,
    pub(crate) body: Incoming,
    pub(crate) idle: Duration,
}

impl HttpResponse {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Content-Length`, if given.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length").and_then(|v| v.parse().ok())
    }

    /// Reads the whole body (each read waits at most the idle timeout).
    /// A body of one chunk is returned as is; a longer one is gathered into a buffer
    /// sized from `Content-Length` (trusted up to 64 MiB), so it is copied once.
    pub async fn bytes(self) -> Result<Bytes> {
        let hint = usize::try_from(self.content_length().unwrap_or(0).min(64 << 20)).unwrap_or(0);
        let mut s = self.into_stream();
        let Some(first) = s.next().await.transpose()? else { return Ok(Bytes::new()) };
        let Some(second) = s.next().await.transpose()? else { return Ok(first) };
        let mut buf = BytesMut::with_capacity(hint.max(first.len() + second.len()));
        buf.extend_from_slice(&first);
        buf.extend_from_slice(&second);
        while let Some(chunk) = s.next().await {
            buf.extend_from_slice(&chunk?);
        }
        Ok(buf.freeze())
    }

    /// The body as a stream; a read that stalls longer than the idle timeout ends the
    /// stream with a `Timeout` error, a broken connection with an `Io` error.
    pub fn into_stream(self) -> ByteStream {
        body_stream(self.body, self.idle)
    }
}

pub(crate) fn body_stream(body: Incoming, idle: Duration) -> ByteStream {
    futures::stream::unfold(Some(body), move |body| async move {
        let mut body = body?;
        loop {
            match tokio::time::timeout(idle, body.frame()).await {
                Err(_) => {
                    let e = Error::new(
                        ErrorKind::Timeout,
                        format!("no data received for {idle:?} while reading a response body"),
                    );
                    return Some((Err(e), None));
                }
                Ok(None) => return None,
                Ok(Some(Err(e))) => {
                    let e =
                        Error::new(ErrorKind::Io, format!("the connection broke while reading a response body: {e}"))
                            .with_retryable(true);
                    return Some((Err(e), None));
                }
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data()
                        && !data.is_empty()
                    {
                        return Some((Ok(data), Some(body)));
                    }
                }
            }
        }
    })
    .boxed()
}
