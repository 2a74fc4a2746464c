//! Get Blob Properties and Get Blob (ranges, conditions, versions; a body that resumes and
//! is checked against the blob's CRC32C or MD5, or a small range's CRC64).

use std::sync::atomic::Ordering;

use futures::StreamExt;
use http::Method;
use storage_core::kit::check_version_answered;
use storage_core::{ByteRange, ErrorKind, GetOptions, GetResult, Object, Result};
use storage_http::{Resumable, body_range, http, resumable_body};

use crate::checksum::{self, CheckedBody, Expected};
use crate::client::Call;
use crate::driver::{AzureDriver, NAME};
use crate::headers::{object_from_headers, quote};

/// Get Blob Properties.
pub(crate) async fn head(d: &AzureDriver, container: &str, key: &str) -> Result<Object> {
    Ok(properties(d, container, key).await?.0)
}

/// Get Blob Properties: the blob, and the whole blob's CRC32C kept in its metadata.
pub(crate) async fn properties(d: &AzureDriver, container: &str, key: &str) -> Result<(Object, Option<u32>)> {
    d.check_key(container, key)?;
    let resp = d.client.send(Call::new("GetBlobProperties", Method::HEAD, Some(container), Some(key))).await?;
    let size = resp.content_length().unwrap_or(0);
    Ok((object_from_headers(container, key, &resp.headers, size, false), checksum::stored_crc32c(&resp.headers, size)))
}

fn http_date(t: chrono::DateTime<chrono::Utc>) -> String {
    httpdate::fmt_http_date(std::time::SystemTime::from(t))
}

/// Get Blob. A suffix range is turned into a bounded one from the blob's size (Azurite
/// answers `bytes=-N` with a 500), the GET then pinned to the ETag the size came from.
/// The body resumes from the last byte received if the connection breaks, pinned to the
/// first answer's ETag.
///
/// A whole blob's body is checked as it streams against the CRC32C this driver keeps in
/// its metadata, else against its Content-MD5 (blobs other writers made), and ends in
/// `ObjectHashMismatch` when it differs. A bounded range of up to 4 MiB asks the service
/// for its CRC64 (`x-ms-range-get-content-crc64`) and is checked against it when the
/// answer carries one (Azurite ignores the header in its loose mode and refuses it in its
/// strict mode with a 500 FeatureNotSupported, after which the driver stops asking);
/// longer ranges are not checked here (the transfer engine checks a parallel download
/// whole).
pub(crate) async fn get(d: &AzureDriver, container: &str, key: &str, options: &GetOptions) -> Result<GetResult> {
    d.check_key(container, key)?;
    let mut range = options.range;
    let mut pin: Option<String> = None;
    if let Some(r) = &range {
        r.validate().map_err(|e| e.or_context(NAME, Some(container), Some(key)))?;
    }
    if let Some(ByteRange::Suffix(n)) = range {
        let props = head(d, container, key).await?;
        options
            .check_conditions(props.etag.as_deref(), props.last_modified)
            .map_err(|e| e.or_context(NAME, Some(container), Some(key)))?;
        range = if n >= props.size { None } else { Some(ByteRange::From(props.size - n)) };
        pin = props.etag;
    }
    let mut call = Call::new("GetBlob", Method::GET, Some(container), Some(key));
    if let Some(r) = &range {
        call = call.header("range", &r.header_value())?;
    }
    if let Some(e) = options.if_match.as_ref().or(pin.as_ref()) {
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
        call = call.query("versionid", v.clone());
    }
    let range_crc64 = asks_range_crc64(d, range.as_ref());
    if range_crc64 {
        call = call.header("x-ms-range-get-content-crc64", "true")?;
    }
    let request = d.client.request(&call)?;
    let resp = match d.client.send_built(&call, &request).await {
        Ok(r) => r,
        // A service that does not compute ranges' CRC64 (Azurite in strict mode): read
        // without asking, and do not ask again.
        Err(e) if range_crc64 && e.provider_code() == Some("FeatureNotSupported") => {
            tracing::debug!(error = %e, "the service refuses x-ms-range-get-content-crc64; ranges go unchecked");
            d.client.no_range_crc64.store(true, Ordering::Relaxed);
            return Box::pin(get(d, container, key, options)).await;
        }
        // The blob changed between the size and the read: the caller asked for its last
        // bytes, so read again against the new version.
        Err(e) if pin.is_some() && options.if_match.is_none() && e.kind() == ErrorKind::PreconditionFailed => {
            return Box::pin(get(d, container, key, options)).await;
        }
        Err(e) => return Err(e),
    };
    // A service that keeps no such version may send the live blob.
    check_version_answered(options.version.as_deref(), resp.header("x-ms-version-id"))
        .map_err(|e| e.or_context(NAME, Some(container), Some(key)))?;
    let (start, end, size) =
        body_range(resp.status.as_u16(), resp.header("content-range"), resp.content_length(), range.is_some());
    let object = object_from_headers(container, key, &resp.headers, size, range.is_some());
    // A range that starts at or past the end is InvalidRange, whatever Azurite answers
    // (a 200 with the whole blob, or a 206 with an empty, inverted Content-Range).
    if let Some(r) = &range {
        let total = resp
            .header("content-range")
            .and_then(|v| v.rsplit_once('/'))
            .and_then(|(_, t)| t.parse().ok())
            .unwrap_or(size);
        r.resolve(total).map_err(|e| e.or_context(NAME, Some(container), Some(key)))?;
    }
    if let Some(r) = &range
        && resp.status.as_u16() == 200
    {
        // The whole blob came back for a range (Azurite does this for a range that starts
        // at or past the end): the range decides, as the service documents.
        let wanted = r.resolve(size).map_err(|e| e.or_context(NAME, Some(container), Some(key)))?;
        if wanted != (0..size) {
            let body = skip_take(resp.into_stream(), wanted.start, wanted.end - wanted.start);
            return Ok(GetResult { object, range: wanted, body });
        }
    }
    let resumable = Resumable {
        client: d.client.http.clone(),
        request,
        signer: d.client.signer.clone(),
        start,
        end,
        etag: object.etag.clone(),
        max_resumes: 5,
    };
    let status = resp.status.as_u16();
    let expected = if status == 200 && range.is_none() {
        checksum::stored_crc32c(&resp.headers, size)
            .map(Expected::Crc32c)
            .or_else(|| object.md5().map(|m| Expected::Md5(m.to_owned())))
    } else if status == 206 && range_crc64 {
        checksum::answered_crc64(&resp.headers).map(Expected::Crc64)
    } else {
        None
    };
    let mut body = if start == end { futures::stream::empty().boxed() } else { resumable_body(resp, resumable) };
    if let Some(want) = expected {
        body = CheckedBody::wrap(body, want, container, key);
    }
    Ok(GetResult { object, range: start..end, body })
}

/// Largest range the service computes a CRC64 of.
const MAX_CHECKED_RANGE: u64 = 4 * 1024 * 1024;

/// Whether a GET of `range` asks for the range's CRC64: a bounded range of up to 4 MiB
/// (Azure refuses the header for longer ones), unless the service refused it before.
fn asks_range_crc64(d: &AzureDriver, range: Option<&ByteRange>) -> bool {
    !d.client.no_range_crc64.load(Ordering::Relaxed)
        && matches!(range, Some(ByteRange::Bounded { start, end }) if end - start <= MAX_CHECKED_RANGE)
}

/// The `take` bytes of `body` after its first `skip`.
fn skip_take(body: storage_core::ByteStream, skip: u64, take: u64) -> storage_core::ByteStream {
    body.scan((skip, take), |(skip, take), chunk| {
        let out = chunk.map(|mut c| {
            let drop = (*skip).min(c.len() as u64) as usize;
            *skip -= drop as u64;
            let _ = c.split_to(drop);
            let keep = (*take).min(c.len() as u64) as usize;
            *take -= keep as u64;
            c.truncate(keep);
            c
        });
        futures::future::ready(Some(out))
    })
    .filter(|c| futures::future::ready(c.as_ref().map_or(true, |c| !c.is_empty())))
    .boxed()
}
