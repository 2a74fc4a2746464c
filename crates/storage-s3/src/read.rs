//! HeadObject and GetObject (ranges, conditions, versions; a body that resumes; a
//! whole-object body checked against the stored CRC32C).

use std::sync::Arc;

use futures::StreamExt;
use http::Method;
use storage_core::kit::check_version_answered;
use storage_core::{Error, ErrorKind, GetOptions, GetResult, Object, Result};
use storage_http::{Resumable, body_range, http, resumable_body};

use crate::client::Call;
use crate::config::Checksum;
use crate::driver::{NAME, S3Driver};
use crate::headers::{object_from_headers, quote};
use crate::{checksum, containers};

/// HeadObject.
pub(crate) async fn head(d: &S3Driver, container: &str, key: &str) -> Result<Object> {
    d.check_key(container, key)?;
    let call = checksum_mode(d, Call::new("HeadObject", Method::HEAD, Some(container), Some(key)))?;
    match d.client.send(call).await {
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
    let mut call = checksum_mode(d, Call::new("GetObject", Method::GET, Some(container), Some(key)))?;
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
    // A server that keeps no such version may send the live object (s3s-fs does).
    check_version_answered(options.version.as_deref(), resp.header("x-amz-version-id"))
        .map_err(|e| e.or_context(NAME, Some(container), Some(key)))?;
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
    // The stored CRC32C covers the whole object only: a ranged answer is not checked
    // (rclone sends the whole object's checksum with ranges too).
    let whole = resp.status.as_u16() == 200 && start == 0 && end == size;
    let stored = checksum::full_object(&resp.headers).filter(|_| whole && d.client.config.checksum == Checksum::Crc32c);
    let mut body = if start == end { futures::stream::empty().boxed() } else { resumable_body(resp, resumable) };
    if let Some(crc) = stored {
        body = checksum::VerifiedBody::new(body, crc, container, key).boxed();
    }
    Ok(GetResult { object, range: start..end, body })
}

/// `x-amz-checksum-mode: ENABLED` with `checksum = crc32c`, so answers carry the stored
/// checksums.
fn checksum_mode<'a>(d: &S3Driver, call: Call<'a>) -> Result<Call<'a>> {
    match d.client.config.checksum {
        Checksum::Crc32c => call.header("x-amz-checksum-mode", "ENABLED"),
        Checksum::Md5 | Checksum::None => Ok(call),
    }
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
