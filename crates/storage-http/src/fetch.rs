//! Upload from URL: stream an `http(s)://` resource into any driver.

use std::sync::Arc;

use http::{Method, Uri};
use storage_core::{
    ByteStream, Driver, DriverExt, Error, ErrorKind, Object, Payload, PutOptions, Result, TransferOptions,
};

use crate::client::HttpClient;
use crate::errors::{kind_for_status, status_error};
use crate::request::{HttpRequest, Unsigned};
use crate::resume::{Resumable, resumable_body};
use storage_core::kit::redact_url;

/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 10;
/// Times a broken download (with a length and an ETag) is resumed.
const MAX_RESUMES: u32 = 3;

/// Downloads `url` (any `http://` or `https://` resource; plain `http` only when the
/// client's `allow_http` is on) and stores it at `container`/`key` in `driver`,
/// streaming: the body goes through [`DriverExt::upload_object_via_stream`] (a
/// multipart upload for a large resource), so memory stays bounded by the default
/// [`TransferOptions`]' `part_size x (concurrency + 1)` whatever the size. A driver
/// without multipart uploads gets one streamed request.
///
/// - Redirects (301, 302, 303, 307, 308) are followed, up to 10.
/// - An error status fails with the kind [`kind_for_status`] gives (404 ->
///   `ObjectDoesNotExist`, 403 -> `PermissionDenied`...) and the status; nothing is
///   written.
/// - The content type is `options.content_type` if set, else the response's; likewise
///   the content encoding.
/// - With a `Content-Length`, the body must have exactly that many bytes: a connection
///   that breaks is resumed with ranged requests pinned to the ETag (when there is one),
///   else the upload fails; a failed upload leaves any existing object untouched.
///
/// URLs never appear in errors or logs with their query string (signatures).
///
/// ```no_run
/// # async fn demo() -> storage_core::Result<()> {
/// use storage_core::{MemoryDriver, PutOptions};
/// use storage_http::{HttpClient, HttpConfig, upload_from_url};
///
/// let client = HttpClient::new(HttpConfig::default())?;
/// let store = MemoryDriver::new();
/// let o = upload_from_url(&client, "https://example.com/data.csv", &store, "imports", "data.csv", PutOptions::default())
///     .await?;
/// println!("{} bytes, {:?}", o.size, o.content_type);
/// # Ok(()) }
/// ```
pub async fn upload_from_url<D: Driver + ?Sized>(
    client: &HttpClient,
    url: &str,
    driver: &D,
    container: &str,
    key: &str,
    mut options: PutOptions,
) -> Result<Object> {
    let shown = redact_url(url);
    let mut request = HttpRequest::new(Method::GET, parse_url(url)?, "FetchUrl");
    let mut redirects = 0;
    let response = loop {
        let response = client.execute(&request, &Unsigned).await?;
        let status = response.status.as_u16();
        if matches!(status, 301 | 302 | 303 | 307 | 308) {
            let Some(location) = response.header("location").map(str::to_owned) else {
                return Err(Error::new(
                    ErrorKind::Backend,
                    format!("fetching {shown} was redirected (HTTP {status}) without a Location"),
                )
                .with_status(status));
            };
            redirects += 1;
            if redirects > MAX_REDIRECTS {
                return Err(Error::new(
                    ErrorKind::Backend,
                    format!("fetching {shown} was redirected more than {MAX_REDIRECTS} times"),
                )
                .with_status(status));
            }
            let next = resolve(&request.uri, &location)?;
            tracing::debug!(from = %redact_url(&request.uri.to_string()), to = %redact_url(&next.to_string()), "redirect");
            request = HttpRequest::new(Method::GET, next, "FetchUrl");
            continue;
        }
        if !(200..300).contains(&status) {
            let request_id = response.header("x-request-id").map(str::to_owned);
            return Err(status_error(
                kind_for_status(status),
                status,
                None,
                None,
                request_id.as_deref(),
                &format!("fetching {shown}"),
            ));
        }
        break response;
    };
    if options.content_type.is_none() {
        options.content_type = response.header("content-type").map(str::to_owned);
    }
    if options.content_encoding.is_none() {
        options.content_encoding = response.header("content-encoding").map(str::to_owned);
    }
    let length = response.content_length();
    let body: ByteStream = match length {
        Some(end) => {
            let etag = response.header("etag").map(|e| e.trim_start_matches("W/").trim_matches('"').to_owned());
            let resumable = Resumable {
                client: client.clone(),
                request,
                signer: Arc::new(Unsigned),
                start: 0,
                end,
                etag,
                max_resumes: MAX_RESUMES,
            };
            resumable_body(response, resumable)
        }
        None => response.into_stream(),
    };
    let object = if driver.info().capabilities.multipart {
        driver.upload_object_via_stream(body, container, key, options, &TransferOptions::default()).await?
    } else {
        driver.put_object(container, key, Payload::stream(body, length), &options).await?
    };
    if let Some(len) = length
        && object.size != len
    {
        return Err(Error::new(
            ErrorKind::Io,
            format!("{shown} announced {len} bytes but {} were stored", object.size),
        )
        .with_driver(&driver.info().name)
        .with_object(container, key));
    }
    Ok(object)
}

/// Parses `url`, accepting only `http` and `https`.
fn parse_url(url: &str) -> Result<Uri> {
    let uri: Uri = url
        .parse()
        .map_err(|e| Error::new(ErrorKind::Config, format!("{} is not a valid URL: {e}", redact_url(url))))?;
    check_scheme(&uri)?;
    Ok(uri)
}

fn check_scheme(uri: &Uri) -> Result<()> {
    match uri.scheme_str() {
        Some("http" | "https") if uri.authority().is_some() => Ok(()),
        _ => Err(Error::new(
            ErrorKind::Config,
            format!("{} is not an http:// or https:// URL", redact_url(&uri.to_string())),
        )),
    }
}

/// The URL a `Location` header points to, relative to `base`.
fn resolve(base: &Uri, location: &str) -> Result<Uri> {
    let scheme = base.scheme_str().unwrap_or("https");
    let authority = base.authority().map(|a| a.as_str()).unwrap_or_default();
    let absolute = if location.contains("://") {
        location.to_owned()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let path = base.path();
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        let dir = if dir.is_empty() { "/" } else { dir };
        format!("{scheme}://{authority}{dir}{location}")
    };
    parse_url(&absolute)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn redirects_resolve_like_browsers() {
        let base = uri("https://h.example:8443/a/b/file.txt?sig=x");
        let r = |l: &str| resolve(&base, l).unwrap().to_string();
        assert_eq!(r("http://other/x"), "http://other/x");
        assert_eq!(r("//cdn.example/y"), "https://cdn.example/y");
        assert_eq!(r("/root.txt?q=1"), "https://h.example:8443/root.txt?q=1");
        assert_eq!(r("sibling.txt"), "https://h.example:8443/a/b/sibling.txt");
        assert_eq!(resolve(&base, "ftp://x/y").unwrap_err().kind(), ErrorKind::Config);
    }

    #[test]
    fn only_http_urls() {
        assert!(parse_url("https://example.com/x").is_ok());
        assert!(parse_url("http://127.0.0.1:9/x").is_ok());
        for bad in ["ftp://example.com/x", "file:///etc/passwd", "/relative", "not a url", "s3://b/k"] {
            assert_eq!(parse_url(bad).unwrap_err().kind(), ErrorKind::Config, "{bad}");
        }
    }
}
