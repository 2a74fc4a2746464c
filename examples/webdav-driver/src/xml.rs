//! PROPFIND: the request body, and its `207 Multi-Status` answer parsed into named
//! types.
//!
//! Elements are matched by local name whatever their namespace prefix (`D:`, `d:`,
//! Apache's `lp1:` for live properties, none at all), extra properties are ignored, and
//! only the properties of a `propstat` whose status is 2xx are kept (Apache answers the
//! properties it lacks in a `404` propstat). Built on storage-http's streaming XML walker.

use chrono::{DateTime, Utc};
use storage_core::{Error, ErrorKind, Result};

/// The PROPFIND body: the properties the driver reads, nothing else (smaller answers
/// than `allprop`, and no dead properties).
pub const PROPFIND_BODY: &str = concat!(
    r#"<?xml version="1.0" encoding="utf-8"?>"#,
    r#"<D:propfind xmlns:D="DAV:"><D:prop>"#,
    "<D:resourcetype/><D:getcontentlength/><D:getlastmodified/><D:getetag/><D:getcontenttype/><D:creationdate/>",
    "</D:prop></D:propfind>"
);

/// One `response` of a multistatus: a resource and the properties the server gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resource {
    /// The `href`, as sent (still percent-encoded).
    pub href: String,
    /// The response's own status (`HTTP/1.1 404 Not Found`), when it has one instead of
    /// propstats.
    pub status: Option<u16>,
    /// Whether `resourcetype` holds `collection`.
    pub collection: bool,
    /// `getcontentlength`.
    pub size: Option<u64>,
    /// `getetag`, as sent (quotes and a `W/` included).
    pub etag: Option<String>,
    /// `getlastmodified` (an HTTP date).
    pub last_modified: Option<DateTime<Utc>>,
    /// `creationdate` (RFC 3339).
    pub created: Option<DateTime<Utc>>,
    /// `getcontenttype`.
    pub content_type: Option<String>,
}

/// The properties of one `propstat`, kept only if its status is 2xx.
#[derive(Default)]
struct PropStat {
    status: Option<u16>,
    collection: bool,
    size: Option<u64>,
    etag: Option<String>,
    last_modified: Option<DateTime<Utc>>,
    created: Option<DateTime<Utc>>,
    content_type: Option<String>,
}

/// The code of an `HTTP/1.1 200 OK` status line.
fn status_code(line: &str) -> Option<u16> {
    line.split_whitespace().nth(1)?.parse().ok()
}

fn non_empty(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// Parses an HTTP date (`getlastmodified`).
pub fn http_date(text: &str) -> Option<DateTime<Utc>> {
    httpdate::parse_http_date(text.trim()).ok().map(DateTime::<Utc>::from)
}

/// Parses the body of a `207 Multi-Status` PROPFIND answer.
pub fn parse_multistatus(body: &[u8]) -> Result<Vec<Resource>> {
    let mut out = Vec::new();
    let mut current = Resource::default();
    let mut props = PropStat::default();
    let mut closed = false;
    let root = storage_http::xml::walk_elements(body, "PROPFIND", |e| {
        if e.path.is_empty() {
            closed = true;
        }
        // Paths are relative to the root (`multistatus`): `response/...`.
        let Some(rest) = e.path.strip_prefix("response") else { return Ok(()) };
        match rest {
            "" => out.push(std::mem::take(&mut current)),
            "/href" => current.href = e.text.trim().to_owned(),
            "/status" => current.status = status_code(e.text),
            "/propstat" => {
                let p = std::mem::take(&mut props);
                if p.status.is_none_or(|s| (200..300).contains(&s)) {
                    current.collection |= p.collection;
                    current.size = p.size.or(current.size);
                    current.etag = p.etag.or(current.etag.take());
                    current.last_modified = p.last_modified.or(current.last_modified);
                    current.created = p.created.or(current.created);
                    current.content_type = p.content_type.or(current.content_type.take());
                }
            }
            "/propstat/status" => props.status = status_code(e.text),
            "/propstat/prop/resourcetype/collection" => props.collection = true,
            "/propstat/prop/getcontentlength" => props.size = e.text.trim().parse().ok(),
            "/propstat/prop/getetag" => props.etag = non_empty(e.text),
            "/propstat/prop/getlastmodified" => props.last_modified = http_date(e.text),
            "/propstat/prop/creationdate" => {
                props.created = DateTime::parse_from_rfc3339(e.text.trim()).ok().map(|d| d.with_timezone(&Utc));
            }
            "/propstat/prop/getcontenttype" => props.content_type = non_empty(e.text),
            _ => {}
        }
        Ok(())
    })?;
    match root.as_deref() {
        Some("multistatus") if closed => Ok(out),
        // Cut short in transit (Apache breaks off an answer about a collection deleted
        // while it streams it).
        Some("multistatus") => {
            Err(Error::new(ErrorKind::Io, "the server's PROPFIND answer was cut short").with_retryable(true))
        }
        Some(other) => Err(Error::new(
            ErrorKind::Backend,
            format!("the server answered PROPFIND with a <{other}> document, not a <multistatus>"),
        )),
        None => Err(Error::new(ErrorKind::Backend, "the server answered PROPFIND with an empty body")),
    }
}

/// An ETag as the driver reports it: without quotes and without the weak marker (Apache
/// marks the ETag of a file written within the last second weak, then strong, with the
/// same value), and whether it was weak.
pub fn normalize_etag(raw: &str) -> (String, bool) {
    let t = raw.trim();
    let (weak, t) = match t.strip_prefix("W/") {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    (t.trim_matches('"').to_owned(), weak)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn propstats_with_other_statuses_are_ignored() {
        let body = br#"<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:"><d:response><d:href>/c/a</d:href>
<d:propstat><d:prop><d:getcontentlength>5</d:getcontentlength><d:getetag>"e1"</d:getetag></d:prop>
<d:status>HTTP/1.1 200 OK</d:status></d:propstat>
<d:propstat><d:prop><d:getcontenttype/><d:getetag>"bogus"</d:getetag></d:prop>
<d:status>HTTP/1.1 404 Not Found</d:status></d:propstat></d:response>
<d:response><d:href>/c/gone</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>
</d:multistatus>"#;
        let r = parse_multistatus(body).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].size, r[0].etag.as_deref(), r[0].content_type.as_deref()), (Some(5), Some("\"e1\""), None));
        assert_eq!((r[1].href.as_str(), r[1].status), ("/c/gone", Some(404)));
    }

    #[test]
    fn not_a_multistatus_is_an_error() {
        assert_eq!(parse_multistatus(b"<html><body>hi</body></html>").unwrap_err().kind(), ErrorKind::Backend);
        assert_eq!(parse_multistatus(b"").unwrap_err().kind(), ErrorKind::Backend);
        assert_eq!(parse_multistatus(b"<D:multistatus xmlns:D='DAV:'><D:response>").unwrap_err().kind(), ErrorKind::Io);
    }

    #[test]
    fn etags_lose_quotes_and_weakness() {
        assert_eq!(normalize_etag("W/\"6-661b\""), ("6-661b".to_owned(), true));
        assert_eq!(normalize_etag("\"18edad\""), ("18edad".to_owned(), false));
        assert_eq!(normalize_etag(" bare "), ("bare".to_owned(), false));
    }
}
