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

    /// The children of a collection in a captured or crafted answer, as the walk sees
    /// them: `(key, is_collection, size, etag)` in walk order.
    fn walked(body: &[u8], dir_path: &str) -> Vec<(String, bool, Option<u64>, Option<String>)> {
        let found = parse_multistatus(body).unwrap();
        let mut children: Vec<crate::list::Child> = crate::client::Client::children(dir_path, found)
            .into_iter()
            .map(|(name, collection, resource)| {
                let key = if collection { format!("{name}/") } else { name };
                crate::list::Child { key, collection, resource }
            })
            .collect();
        crate::list::sort_children(&mut children);
        children.into_iter().map(|c| (c.key, c.collection, c.resource.size, c.resource.etag)).collect()
    }

    #[test]
    fn apache_answer() {
        let body = include_bytes!("../tests/fixtures/apache-propfind-depth1.xml");
        let all = parse_multistatus(body).unwrap();
        assert_eq!(all.len(), 5);
        // Live properties come as `lp1:`; the 404 propstat for getcontentlength and
        // getcontenttype of a collection is ignored.
        assert!(all[0].collection && all[0].size.is_none() && all[0].etag.is_some() && all[0].created.is_some());
        let got = walked(body, "/fixture/");
        let keys: Vec<&str> = got.iter().map(|(k, ..)| k.as_str()).collect();
        // Hrefs with lower-case escapes (`%c3%a9`) and a literal `+`, in bytewise order
        // of the keys: `+` (0x2B) < `-` (0x2D) < `h` < `s`.
        assert_eq!(keys, ["a+b", "a-b", "héllo w%rld&?#.txt", "sub dir/"]);
        assert_eq!(got[0].2, Some(0));
        assert_eq!(got[1].2, Some(2));
        assert_eq!(got[2].2, Some(5));
        assert!(got[3].1);
        let file = include_bytes!("../tests/fixtures/apache-propfind-depth0-file.xml");
        let one = parse_multistatus(file).unwrap();
        assert_eq!((one.len(), one[0].collection, one[0].size), (1, false, Some(0)));
        assert!(one[0].last_modified.is_some());
    }

    #[test]
    fn rclone_answer() {
        let body = include_bytes!("../tests/fixtures/rclone-propfind-depth1.xml");
        let got = walked(body, "/fixture/");
        let keys: Vec<&str> = got.iter().map(|(k, ..)| k.as_str()).collect();
        // Upper-case escapes (`%C3%A9`), `D:` prefixes, a 404 propstat holding empty
        // getetag and getcontentlength elements.
        assert_eq!(keys, ["a+b", "a-b", "héllo w%rld&?#.txt", "sub dir/"]);
        assert!(got[0].3.as_deref().is_some_and(|e| e.starts_with('"')));
        assert_eq!(got[3].3, None, "rclone gives collections no ETag");
        let all = parse_multistatus(body).unwrap();
        assert_eq!(all.iter().filter(|r| r.content_type.is_some()).count(), 3);
    }

    #[test]
    fn other_prefixes_relative_hrefs_and_extra_properties() {
        let body = include_bytes!("../tests/fixtures/prefixed-propfind.xml");
        let all = parse_multistatus(body).unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(all[0].etag.as_deref(), Some("W/\"dir-etag\""));
        assert_eq!(all[3].status, Some(404));
        let got = walked(body, "/remote.php/dav/c/dir/");
        assert_eq!(
            got,
            [
                ("file one.txt".to_owned(), false, Some(42), Some("\"abc\"".to_owned())),
                ("sub/".to_owned(), true, None, None),
            ]
        );
        assert_eq!(all[2].created.map(|c| c.to_rfc3339()).as_deref(), Some("2026-12-01T08:30:00+00:00"));
        // Any prefix, or none, for the DAV: elements.
        let odd = br#"<ns0:multistatus xmlns:ns0="DAV:"><ns0:response><ns0:href>/c/x</ns0:href>
<ns0:propstat><ns0:prop><a:getcontentlength xmlns:a="DAV:">7</a:getcontentlength>
<lp1:resourcetype xmlns:lp1="DAV:"/></ns0:prop><ns0:status>HTTP/1.1 200 OK</ns0:status>
</ns0:propstat></ns0:response></ns0:multistatus>"#;
        let one = parse_multistatus(odd).unwrap();
        assert_eq!((one[0].href.as_str(), one[0].size, one[0].collection), ("/c/x", Some(7), false));
    }

    #[test]
    fn etags_lose_quotes_and_weakness() {
        assert_eq!(normalize_etag("W/\"6-661b\""), ("6-661b".to_owned(), true));
        assert_eq!(normalize_etag("\"18edad\""), ("18edad".to_owned(), false));
        assert_eq!(normalize_etag(" bare "), ("bare".to_owned(), false));
    }
}
