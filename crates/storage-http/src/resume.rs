//! GET bodies that survive a broken or stalled connection: the rest is re-requested
//! with a range pinned to the ETag, so the caller never sees mixed versions or a
//! silently short body.

use std::sync::Arc;

use futures::StreamExt;
use storage_core::{ByteStream, Error, ErrorKind, Result};

use crate::client::HttpClient;
use crate::request::{HttpRequest, Signer};
use crate::response::HttpResponse;

/// Everything needed to continue a download.
pub struct Resumable {
    /// The client.
    pub client: HttpClient,
    /// The original GET (its headers are kept; `Range` and `If-Match` are replaced).
    pub request: HttpRequest,
    /// Signs the follow-up requests.
    pub signer: Arc<dyn Signer>,
    /// Absolute offset of the first byte of `first`'s body.
    pub start: u64,
    /// Absolute offset one past the last byte expected.
    pub end: u64,
    /// The object's ETag; without one, a broken body is an error (never resumed blindly).
    pub etag: Option<String>,
    /// How many times to resume at most.
    pub max_resumes: u32,
}

struct State {
    r: Resumable,
    body: Option<ByteStream>,
    offset: u64,
}

/// The body of `first`, continued across failures as `resumable` allows. The stream
/// yields exactly `end - start` bytes or ends with an error.
pub fn resumable_body(first: HttpResponse, resumable: Resumable) -> ByteStream {
    let offset = resumable.start;
    let state = State { body: Some(first.into_stream()), offset, r: resumable };
    futures::stream::unfold(Some(state), |state| async move {
        let mut st = state?;
        loop {
            let body = st.body.as_mut()?;
            let failure = match body.next().await {
                Some(Ok(chunk)) => {
                    let len = chunk.len() as u64;
                    if st.offset + len > st.r.end {
                        let e = Error::new(ErrorKind::Io, "the server sent more bytes than announced");
                        return Some((Err(e), None));
                    }
                    st.offset += len;
                    return Some((Ok(chunk), Some(st)));
                }
                None if st.offset == st.r.end => return None,
                None => Error::new(
                    ErrorKind::Io,
                    format!("the body ended after {} of {} bytes", st.offset - st.r.start, st.r.end - st.r.start),
                )
                .with_retryable(true),
                Some(Err(e)) => e,
            };
            if !failure.is_retryable() || st.r.max_resumes == 0 || st.r.etag.is_none() {
                return Some((Err(failure), None));
            }
            st.r.max_resumes -= 1;
            tracing::info!(offset = st.offset, end = st.r.end, error = %failure, "resuming download");
            match resume(&st.r, st.offset).await {
                Ok(body) => st.body = Some(body),
                Err(e) => return Some((Err(e), None)),
            }
        }
    })
    .boxed()
}

async fn resume(r: &Resumable, offset: u64) -> Result<ByteStream> {
    let mut req = r.request.clone();
    req.headers.remove(http::header::IF_NONE_MATCH);
    req.headers.remove(http::header::IF_MODIFIED_SINCE);
    req.set_header("range", &format!("bytes={}-{}", offset, r.end - 1))?;
    if let Some(etag) = &r.etag {
        let quoted = if etag.starts_with('"') { etag.clone() } else { format!("\"{etag}\"") };
        req.set_header("if-match", &quoted)?;
    }
    let resp = r.client.execute(&req, r.signer.as_ref()).await?;
    match resp.status.as_u16() {
        206 => {
            let starts_right = resp
                .header("content-range")
                .and_then(|v| v.strip_prefix("bytes "))
                .and_then(|v| v.split('-').next())
                .and_then(|v| v.parse::<u64>().ok())
                == Some(offset);
            if !starts_right {
                return Err(Error::new(ErrorKind::Io, "the server answered the resumed range with different bytes"));
            }
            Ok(resp.into_stream())
        }
        412 => Err(Error::new(
            ErrorKind::PreconditionFailed,
            "the object changed during the download, so it was not resumed; download it again",
        )
        .with_status(412)),
        s => Err(Error::new(ErrorKind::Backend, format!("resuming the download failed with HTTP {s}")).with_status(s)),
    }
}
