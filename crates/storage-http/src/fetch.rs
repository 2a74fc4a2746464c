//! Upload from URL: stream an `http(s)://` resource into any driver.

use std::sync::Arc;

use http::{Method, Uri};
use storage_core::{
    ByteStream, Driver, DriverExt, Error, ErrorKind, Object, Payload, PutOptions, Result, TransferOptions,
};

use crate::client::HttpClient;
use crate::errors::{kind_for_status, status_error};
use crate::request::{HttpRequest, Unsigned};
use crate::response::HttpResponse;
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
    options: PutOptions,
) -> Result<Object> {
    let (request, response) = open(client, url).await?;
    store(client, url, request, response, driver, container, key, options).await
}

/// [`upload_from_url`] into the folder `remote_dir` (Inductiva's `upload_from_url(url,
/// remote_dir, file_name=None)`): the object is `remote_dir/NAME` (`remote_dir` empty:
/// the container's root), where `NAME` is
///
/// 1. `file_name` when given;
/// 2. else the response's `Content-Disposition` file name (RFC 6266: `filename*`, in
///    UTF-8 or ISO-8859-1, preferred to `filename`), without any directory part;
/// 3. else the last segment of the URL's path (the URL given, not one redirected to),
///    percent-decoded.
///
/// A name must be valid UTF-8, not empty, not `.` or `..`, and hold no `/`, `\` or
/// control character; a given `file_name` that is not is refused before any request, a
/// derived one fails the call before anything is written (`InvalidObjectName`, with a
/// hint to give the name). Otherwise it behaves as [`upload_from_url`]; the object
/// returned names the key chosen.
///
/// ```no_run
/// # async fn demo() -> storage_core::Result<()> {
/// use storage_core::{MemoryDriver, PutOptions};
/// use storage_http::{HttpClient, HttpConfig, upload_from_url_into};
///
/// let client = HttpClient::new(HttpConfig::default())?;
/// let store = MemoryDriver::new();
/// let url = "https://example.com/runs/output%201.csv";
/// let o = upload_from_url_into(&client, url, &store, "imports", "2026/", None, PutOptions::default()).await?;
/// assert_eq!(o.name, "2026/output 1.csv"); // unless the server sent a Content-Disposition name
/// # Ok(()) }
/// ```
#[allow(clippy::too_many_arguments)]
pub async fn upload_from_url_into<D: Driver + ?Sized>(
    client: &HttpClient,
    url: &str,
    driver: &D,
    container: &str,
    remote_dir: &str,
    file_name: Option<&str>,
    options: PutOptions,
) -> Result<Object> {
    let given = file_name.map(|n| checked_name(n, "the file name given")).transpose()?;
    let (request, response) = open(client, url).await?;
    let name = match given {
        Some(name) => name,
        None => name_for(url, response.header("content-disposition"))?,
    };
    let key = if remote_dir.is_empty() || remote_dir.ends_with('/') {
        format!("{remote_dir}{name}")
    } else {
        format!("{remote_dir}/{name}")
    };
    store(client, url, request, response, driver, container, &key, options).await
}

/// Sends the GET, following redirects; returns the last request and its successful
/// response.
async fn open(client: &HttpClient, url: &str) -> Result<(HttpRequest, HttpResponse)> {
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
    Ok((request, response))
}

/// Streams a successful response into `container`/`key`.
#[allow(clippy::too_many_arguments)]
async fn store<D: Driver + ?Sized>(
    client: &HttpClient,
    url: &str,
    request: HttpRequest,
    response: HttpResponse,
    driver: &D,
    container: &str,
    key: &str,
    mut options: PutOptions,
) -> Result<Object> {
    let shown = redact_url(url);
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

fn no_name(why: String) -> Error {
    Error::new(ErrorKind::InvalidObjectName, why)
        .with_hint("give the file name, or a destination key instead of a folder")
}

/// `name` if it can be a file name: UTF-8 (already), not empty, not `.` or `..`, no `/`,
/// `\\` or control character.
fn checked_name(name: &str, what: &str) -> Result<String> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(no_name(format!("{what} {name:?} cannot name a file")));
    }
    if name.contains(['/', '\\']) || name.chars().any(char::is_control) {
        return Err(no_name(format!("{what} {name:?} holds a path separator or a control character")));
    }
    Ok(name.to_owned())
}

/// The file name of a download: from `Content-Disposition`, else from the URL's path.
fn name_for(url: &str, disposition: Option<&str>) -> Result<String> {
    if let Some(name) = disposition.and_then(disposition_name) {
        // Recipients drop any directory part (RFC 6266, section 4.3).
        let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
        return checked_name(base, "the Content-Disposition file name");
    }
    let uri = parse_url(url)?;
    let last = uri.path().rsplit('/').next().unwrap_or_default();
    let shown = redact_url(url);
    if last.is_empty() {
        return Err(no_name(format!("{shown} ends with `/`: its path gives no file name")));
    }
    let decoded = percent_encoding::percent_decode_str(last)
        .decode_utf8()
        .map_err(|_| no_name(format!("the last segment of {shown}'s path is not UTF-8 once decoded")))?;
    checked_name(&decoded, &format!("the last segment of {shown}'s path"))
}

/// The file name a `Content-Disposition` value carries (RFC 6266): `filename*` (RFC 8187,
/// `UTF-8''...` or `ISO-8859-1''...`) when it decodes, else `filename` (a token or a
/// quoted string).
fn disposition_name(value: &str) -> Option<String> {
    let (mut plain, mut extended) = (None, None);
    for (key, val) in disposition_params(value) {
        if key.eq_ignore_ascii_case("filename*") {
            extended = extended.or_else(|| decode_ext_value(&val));
        } else if key.eq_ignore_ascii_case("filename") {
            plain = plain.or(Some(val));
        }
    }
    extended.or(plain)
}

/// The `key=value` parameters after the disposition type, quoted strings unquoted.
fn disposition_params(value: &str) -> Vec<(String, String)> {
    let mut parts = Vec::new();
    let (mut current, mut quoted, mut escaped) = (String::new(), false, false);
    for c in value.chars() {
        match c {
            _ if escaped => {
                current.push(c);
                escaped = false;
            }
            '\\' if quoted => {
                current.push(c);
                escaped = true;
            }
            '"' => {
                current.push(c);
                quoted = !quoted;
            }
            ';' if !quoted => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts
        .into_iter()
        .skip(1)
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            let v = v.trim();
            let v = match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(inner) => {
                    let mut out = String::new();
                    let mut chars = inner.chars();
                    while let Some(c) = chars.next() {
                        out.push(if c == '\\' { chars.next().unwrap_or(c) } else { c });
                    }
                    out
                }
                None => v.to_owned(),
            };
            Some((k.trim().to_owned(), v))
        })
        .collect()
}

/// An RFC 8187 extended value: `charset'language'percent-encoded`.
fn decode_ext_value(value: &str) -> Option<String> {
    let mut it = value.splitn(3, '\'');
    let (charset, _language, encoded) = (it.next()?, it.next()?, it.next()?);
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(encoded).collect();
    if charset.eq_ignore_ascii_case("utf-8") {
        String::from_utf8(bytes).ok()
    } else if charset.eq_ignore_ascii_case("iso-8859-1") {
        Some(bytes.iter().map(|&b| char::from(b)).collect())
    } else {
        None
    }
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
    fn names_come_from_the_disposition_or_the_path() {
        let n = |url: &str, cd: Option<&str>| name_for(url, cd);
        assert_eq!(n("https://h/a/b/file.bin?sig=1", None).unwrap(), "file.bin");
        assert_eq!(n("https://h/a/output%201.csv", None).unwrap(), "output 1.csv");
        assert_eq!(n("https://h/x", Some("attachment; filename=\"r\\\"1.txt\"")).unwrap(), "r\"1.txt");
        assert_eq!(n("https://h/x", Some("attachment; filename=plain.txt")).unwrap(), "plain.txt");
        let both = "attachment; filename=\"fallback.txt\"; filename*=UTF-8''na%C3%AFve%20r%C3%A9sum%C3%A9.txt";
        assert_eq!(n("https://h/x", Some(both)).unwrap(), "na\u{ef}ve r\u{e9}sum\u{e9}.txt");
        assert_eq!(
            n("https://h/x", Some("attachment; filename*=iso-8859-1'en'%A3%20rates.txt")).unwrap(),
            "\u{a3} rates.txt"
        );
        assert_eq!(n("https://h/x", Some("attachment; filename=\"../../etc/passwd\"")).unwrap(), "passwd");
        assert_eq!(n("https://h/x", Some("attachment; filename=\"C:\\\\dir\\\\evil.exe\"")).unwrap(), "evil.exe");
        // An unknown charset falls back to filename; no filename at all falls back to the URL.
        assert_eq!(n("https://h/x", Some("attachment; filename*=koi8-r''x; filename=y")).unwrap(), "y");
        assert_eq!(n("https://h/x.bin", Some("inline")).unwrap(), "x.bin");
        for (url, cd) in [
            ("https://h/dir/", None),
            ("https://h", None),
            ("https://h/a/..", None),
            ("https://h/a/%2E%2E", None),
            ("https://h/a/b%2Fc", None),
            ("https://h/a/%FF", None),
            ("https://h/a/x%0Ay", None),
            ("https://h/x", Some("attachment; filename=\"..\"")),
            ("https://h/x", Some("attachment; filename=\"dir/\"")),
        ] {
            let e = n(url, cd).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidObjectName, "{url} {cd:?}");
        }
        assert!(checked_name("a/b", "x").is_err());
        assert!(checked_name("", "x").is_err());
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
