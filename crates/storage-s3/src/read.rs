//! HeadObject and GetObject (ranges, conditions, versions; a body that resumes).

use std::sync::Arc;

use futures::StreamExt;
use http::Method;
use storage_core::{Error, ErrorKind, GetOptions, GetResult, Object, Result};
use storage_http::{Resumable, http, resumable_body};

use crate::client::Call;
use crate::containers;
use crate::driver::{NAME, S3Driver};
use crate::headers::{object_from_headers, quote};

/// HeadObject.
pub(crate) async fn head(d: &S3Driver, container: &str, key: &str) -> Result<Object> {
    d.check_key(container, key)?;
    match d.client.send(Call::new("HeadObject", Method::HEAD, Some(container), Some(key))).await {
        Ok(resp) => {
            let size = resp.content_length().unwrap_or(0);
            Ok(object_from_headers(container, key, &resp.headers, size))
        }
        Err(e) => Err(refine_not_found(d, e, container).await),
    }
}

/// GetObject; the body resumes from the last byte received if the connection breaks,
/// pinned to the first answer's ETag.
pub(crate) async fn get(d: &S3Driver, container: &str, key: &str, options: &GetOptions) -> Result<GetResult> {
    d.check_key(container, key)?;
    let mut call = Call::new("GetObject", Method::GET, Some(container), Some(key));
    if let Some(r) = &options.range {
        r.validate().map_err(|e| e.or_context(NAME, Some(container), Some(key)))?;
        call = call.header("range", &r.header_value())?;
    }
    if let Some(e) = &options.if_match {
        call = call.header("if-match", &quote(e))?;
    }
    if let Some(e) = &options.if_none_match {
        call = call.header("if-none-match", &quote(e))?;
    }
    if let Some(t) = options.if_modified_since {
        call = call.header("if-modified-since", &http_date(t))?;
    }
    if let Some(t) = options.if_unmodified_since {
        call = call.header("if-unmodified-since", &http_date(t))?;
    }
    if let Some(v) = &options.version {
        call = call.query("versionId", v.clone());
    }
    let request = d.client.request(&call)?;
    let signer = Arc::new(d.client.signer(Some(container)));
    let resp = match d.client.send_built(call, request.clone()).await {
        Ok(r) => r,
        Err(e) => return Err(refine_not_found(d, e, container).await),
    };
    let (start, end, size) =
        body_range(resp.status.as_u16(), resp.header("content-range"), resp.content_length(), options.range.is_some());
    let object = object_from_headers(container, key, &resp.headers, size);
    let resumable = Resumable {
        client: d.client.http.clone(),
        request,
        signer,
        start,
        end,
        etag: object.etag.clone(),
        max_resumes: 5,
    };
    let body = if start == end { futures::stream::empty().boxed() } else { resumable_body(resp, resumable) };
    Ok(GetResult { object, range: start..end, body })
}

/// A 404 to HEAD carries no body: tell a missing bucket from a missing key.
pub(crate) async fn refine_not_found(d: &S3Driver, e: Error, bucket: &str) -> Error {
    if e.kind() == ErrorKind::ObjectDoesNotExist
        && e.provider_code().is_none()
        && let Err(b) = containers::get(d, bucket).await
        && b.kind() == ErrorKind::ContainerDoesNotExist
    {
        return b;
    }
    e
}

fn http_date(t: chrono::DateTime<chrono::Utc>) -> String {
    httpdate::fmt_http_date(std::time::SystemTime::from(t))
}

/// Where the body of a GET answer sits in the object: `(start, end, object size)`.
///
/// A 206 says it with Content-Range. So does `rclone serve s3`, but with a 200: a 200
/// whose Content-Range agrees with its Content-Length is a range too. Any other 200 is
/// the whole object (a server may ignore Range).
fn body_range(status: u16, range: Option<&str>, length: Option<u64>, ranged: bool) -> (u64, u64, u64) {
    match range.and_then(content_range) {
        Some((s, e, total)) if e >= s && (status == 206 || (ranged && length == Some(e - s + 1))) => (s, e + 1, total),
        _ => {
            let len = length.unwrap_or(0);
            (0, len, len)
        }
    }
}

/// Parses `bytes START-END/TOTAL`.
fn content_range(v: &str) -> Option<(u64, u64, u64)> {
    let rest = v.strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (s, e) = range.split_once('-')?;
    Some((s.parse().ok()?, e.parse().ok()?, total.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_parse() {
        assert_eq!(content_range("bytes 0-9/100"), Some((0, 9, 100)));
        assert_eq!(content_range("bytes */100"), None);
        assert_eq!(content_range("items 0-1/2"), None);
    }

    #[test]
    fn ranged_bodies_are_placed_whatever_the_status() {
        // AWS, moto, s3s-fs: 206.
        assert_eq!(body_range(206, Some("bytes 10-19/100"), Some(10), true), (10, 20, 100));
        // rclone: 200 with a Content-Range that matches the body.
        assert_eq!(body_range(200, Some("bytes 90-99/100"), Some(10), true), (90, 100, 100));
        // A server that ignores Range: the whole object.
        assert_eq!(body_range(200, None, Some(100), true), (0, 100, 100));
        assert_eq!(body_range(200, Some("bytes 10-19/100"), Some(100), true), (0, 100, 100));
        assert_eq!(body_range(200, None, Some(7), false), (0, 7, 7));
    }
}
