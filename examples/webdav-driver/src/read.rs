//! HEAD and GET: ranges, conditions, and bodies that resume after a broken connection.
//!
//! Conditions are sent to the server where it compares them as asked (If-None-Match,
//! which is a weak comparison, and the dates) and always checked again against the
//! answer's own ETag and Last-Modified, so a server that ignores them cannot return the
//! wrong data. If-Match is checked only that way: it calls for a strong comparison, and
//! Apache gives a file written within the last second a weak ETag (`W/"..."`) that no
//! If-Match can match.

use chrono::{DateTime, Utc};
use futures::StreamExt;
use http::{HeaderMap, Method};
use storage_core::{Error, ErrorKind, GetOptions, GetResult, Object, Result};
use storage_http::{HttpResponse, Resumable, Signer, body_range, http, resumable_body};

use crate::client::Call;
use crate::driver::WebDavDriver;
use crate::xml::{http_date, normalize_etag};

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// An object from the headers of a HEAD or GET answer; `size` is the whole object's.
/// The second value says whether the ETag was weak.
pub(crate) fn object_from_headers(container: &str, key: &str, h: &HeaderMap, size: u64) -> (Object, bool) {
    let mut o = Object::new(container, key, size);
    let mut weak = false;
    if let Some(raw) = header(h, "etag") {
        let (etag, w) = normalize_etag(raw);
        o.etag = Some(etag);
        weak = w;
    }
    o.last_modified = header(h, "last-modified").and_then(http_date);
    o.content_type = header(h, "content-type").map(str::to_owned);
    o.content_encoding = header(h, "content-encoding").map(str::to_owned);
    (o, weak)
}

/// An ETag in quotes, for a header.
pub(crate) fn quote(etag: &str) -> String {
    if etag.starts_with('"') || etag.starts_with("W/") || etag == "*" { etag.to_owned() } else { format!("\"{etag}\"") }
}

fn fmt_date(t: DateTime<Utc>) -> String {
    httpdate::fmt_http_date(std::time::SystemTime::from(t))
}

/// HEAD.
pub(crate) async fn head(d: &WebDavDriver, container: &str, key: &str) -> Result<Object> {
    d.check_key(container, key)?;
    let url = d.client.endpoint.key_url(container, key);
    let resp = d.client.execute(&Call::new("HEAD", Method::HEAD, url)).await?;
    if resp.status.is_success() {
        let size = resp.content_length().unwrap_or(0);
        return Ok(object_from_headers(container, key, &resp.headers, size).0);
    }
    Err(failed_read(d, container, key, resp, "HEAD").await)
}

/// The error for a HEAD or GET of `key` that did not succeed: a missing object (or a
/// collection at its name) is `ObjectDoesNotExist`, or `ContainerDoesNotExist` when the
/// container is missing too.
pub(crate) async fn failed_read(d: &WebDavDriver, container: &str, key: &str, resp: HttpResponse, op: &str) -> Error {
    let status = resp.status.as_u16();
    let e = match status {
        404 | 410 => not_found(d, container, key).await,
        // A collection stands at the key: Apache answers 404, rclone 405, servers that
        // want a trailing `/` on collections redirect.
        405 | 301 | 302 | 303 | 307 | 308 if !d.is_http() => {
            Error::object_not_found(d.name(), container, key).with_status(status)
        }
        301 | 302 | 303 | 307 | 308 => {
            let to = resp.header("location").map(storage_http::redact_url).unwrap_or_default();
            Error::new(
                ErrorKind::Backend,
                format!("{op} was redirected (HTTP {status}) to {to:?}; redirects are not followed"),
            )
            .with_status(status)
            .with_hint("configure the endpoint the server redirects to")
        }
        _ => crate::errors::from_response(resp, op).await,
    };
    e.or_context(d.name(), Some(container), Some(key))
}

/// `ObjectDoesNotExist`, or `ContainerDoesNotExist` when the container is missing too.
pub(crate) async fn not_found(d: &WebDavDriver, container: &str, key: &str) -> Error {
    match crate::containers::find(d, container).await {
        Ok(None) => Error::container_not_found(d.name(), container),
        // Found, or a server that does not answer PROPFIND (a plain HTTP store).
        _ => Error::object_not_found(d.name(), container, key).with_status(404),
    }
}

/// GET, with a range and conditions. A range the server ignored (a 200 with the whole
/// object) is cut here.
pub(crate) async fn get(d: &WebDavDriver, container: &str, key: &str, options: &GetOptions) -> Result<GetResult> {
    d.check_key(container, key)?;
    let ctx = |e: Error| e.or_context(d.name(), Some(container), Some(key));
    if options.version.is_some() {
        return Err(ctx(Error::not_supported(d.name(), "reading a version of an object (WebDAV keeps none)")));
    }
    if let Some(r) = &options.range {
        r.validate().map_err(ctx)?;
    }
    let mut call = Call::new("GET", Method::GET, d.client.endpoint.key_url(container, key));
    if let Some(r) = &options.range {
        call = call.header("range", &r.header_value())?;
    }
    if let Some(e) = &options.if_none_match {
        call = call.header("if-none-match", &quote(e))?;
    }
    if let Some(t) = options.if_modified_since {
        call = call.header("if-modified-since", &fmt_date(t))?;
    }
    if let Some(t) = options.if_unmodified_since {
        call = call.header("if-unmodified-since", &fmt_date(t))?;
    }
    let request = d.client.request(&call)?;
    let resp = d.client.http.execute(&request, d.client.signer.as_ref()).await?;
    let status = resp.status.as_u16();
    match status {
        200 | 206 => {}
        304 => {
            return Err(ctx(Error::new(ErrorKind::NotModified, "the object has not changed").with_status(304)));
        }
        412 => {
            return Err(ctx(
                Error::new(ErrorKind::PreconditionFailed, "a condition of the read does not hold").with_status(412)
            ));
        }
        416 => {
            let total = resp.header("content-range").and_then(|v| v.rsplit_once('/')).map(|(_, t)| t.to_owned());
            let what = options.range.map(|r| r.header_value()).unwrap_or_default();
            let size = total.map(|t| format!(" of {t} bytes")).unwrap_or_default();
            return Err(ctx(Error::new(
                ErrorKind::InvalidRange,
                format!("range {what} is not satisfiable for the object{size}"),
            )
            .with_status(416)));
        }
        _ => return Err(failed_read(d, container, key, resp, "GET").await),
    }
    let ranged = options.range.is_some();
    let (start, end, size) = body_range(status, resp.header("content-range"), resp.content_length(), ranged);
    let (object, weak) = object_from_headers(container, key, &resp.headers, size);
    options.check_conditions(object.etag.as_deref(), object.last_modified).map_err(ctx)?;
    if let Some(r) = &options.range {
        let total = if status == 206 { size } else { object.size };
        r.resolve(total).map_err(ctx)?;
        if status == 200 {
            let wanted = r.resolve(size).map_err(ctx)?;
            if wanted != (0..size) {
                let body = skip_take(resp.into_stream(), wanted.start, wanted.end - wanted.start);
                return Ok(GetResult { object, range: wanted, body });
            }
        }
    }
    let resumable = Resumable {
        client: d.client.http.clone(),
        request,
        signer: d.client.signer.clone() as std::sync::Arc<dyn Signer>,
        start,
        end,
        // A weak ETag cannot pin the rest of the body (If-Match compares strongly), so
        // a broken body is then an error rather than resumed.
        etag: if weak { None } else { object.etag.clone() },
        max_resumes: 5,
    };
    let body = if start == end { futures::stream::empty().boxed() } else { resumable_body(resp, resumable) };
    Ok(GetResult { object, range: start..end, body })
}

/// The `take` bytes of `body` after its first `skip`.
fn skip_take(body: storage_core::ByteStream, skip: u64, take: u64) -> storage_core::ByteStream {
    body.scan((skip, take), |(skip, take), chunk| {
        let out = chunk.map(|mut c| {
            let drop = usize::try_from((*skip).min(c.len() as u64)).unwrap_or(0);
            *skip -= drop as u64;
            let _ = c.split_to(drop);
            let keep = usize::try_from((*take).min(c.len() as u64)).unwrap_or(0);
            *take -= keep as u64;
            c.truncate(keep);
            c
        });
        futures::future::ready(Some(out))
    })
    .filter(|c| futures::future::ready(c.as_ref().map_or(true, |c| !c.is_empty())))
    .boxed()
}
