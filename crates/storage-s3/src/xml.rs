//! S3's XML, read with quick-xml as a stream of (path, text) pairs (no DOM) and written
//! with a few escaping helpers.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use quick_xml::Reader;
use quick_xml::events::Event;
use storage_core::{Error, ErrorKind, Result};

fn malformed(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Backend, format!("the server's {what} XML is malformed: {e}"))
}

/// Walks `xml`, calling `on_close(path, text)` when an element closes, where `path` is
/// `/Root/Child/Leaf` and `text` the element's own text (entities resolved). Elements
/// are also reported when they open, with `on_open(path)`. Allocation-free per element
/// once the buffers have grown.
pub fn walk(
    xml: &[u8],
    what: &str,
    mut on_open: impl FnMut(&str),
    mut on_close: impl FnMut(&str, &str) -> Result<()>,
) -> Result<()> {
    let mut reader = Reader::from_reader(xml);
    let mut path = String::with_capacity(128);
    let mut starts: Vec<usize> = Vec::with_capacity(8);
    let mut text = String::with_capacity(256);
    loop {
        match reader.read_event().map_err(|e| malformed(what, e))? {
            Event::Start(e) => {
                starts.push(path.len());
                path.push('/');
                path.push_str(&String::from_utf8_lossy(e.local_name().as_ref()));
                text.clear();
                on_open(&path);
            }
            Event::Empty(e) => {
                let len = path.len();
                path.push('/');
                path.push_str(&String::from_utf8_lossy(e.local_name().as_ref()));
                on_open(&path);
                on_close(&path, "")?;
                path.truncate(len);
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.decode().map_err(|e| malformed(what, e))?),
            Event::CData(t) => text.push_str(&String::from_utf8_lossy(&t)),
            Event::GeneralRef(r) => {
                if r.is_char_ref() {
                    if let Some(c) = r.resolve_char_ref().map_err(|e| malformed(what, e))? {
                        text.push(c);
                    }
                } else {
                    let name = r.decode().map_err(|e| malformed(what, e))?;
                    let resolved = quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| malformed(what, format!("unknown entity &{name};")))?;
                    text.push_str(resolved);
                }
            }
            Event::End(_) => {
                on_close(&path, &text)?;
                text.clear();
                path.truncate(starts.pop().unwrap_or(0));
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

/// Escapes text for an XML element body or attribute.
pub fn escape(s: &str) -> Cow<'_, str> {
    quick_xml::escape::escape(s)
}

/// Parses S3's timestamps (`2009-10-12T17:50:30.000Z`).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim()).ok().map(|d| d.with_timezone(&Utc))
}

/// An `<Error>` document.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ErrorDoc {
    /// `Code`.
    pub code: Option<String>,
    /// `Message`.
    pub message: Option<String>,
    /// `RequestId`.
    pub request_id: Option<String>,
    /// `Region` (wrong-region answers).
    pub region: Option<String>,
}

/// Parses an `<Error>` body; `None` if it is not one.
pub fn parse_error(xml: &[u8]) -> Option<ErrorDoc> {
    let mut doc = ErrorDoc::default();
    let mut is_error = false;
    walk(
        xml,
        "error",
        |p| is_error |= p == "/Error",
        |p, t| {
            let v = Some(t.to_owned());
            match p {
                "/Error/Code" => doc.code = v,
                "/Error/Message" => doc.message = v,
                "/Error/RequestId" => doc.request_id = v,
                "/Error/Region" => doc.region = v,
                _ => {}
            }
            Ok(())
        },
    )
    .ok()?;
    is_error.then_some(doc)
}

/// One `<Contents>` of a listing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// Key (decoded).
    pub key: String,
    /// Size.
    pub size: u64,
    /// ETag without quotes.
    pub etag: Option<String>,
    /// LastModified.
    pub last_modified: Option<DateTime<Utc>>,
}

/// A `ListBucketResult` (ListObjectsV2).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ListResult {
    /// Objects, in order.
    pub objects: Vec<ListedObject>,
    /// Common prefixes, in order.
    pub prefixes: Vec<String>,
    /// Whether more pages follow.
    pub truncated: bool,
    /// The token for the next page.
    pub next_token: Option<String>,
}

/// Decodes a key sent with `encoding-type=url` (`+` is a space, `%XX` a byte).
pub fn url_decode(s: &str) -> Result<String> {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|e| Error::new(ErrorKind::Backend, format!("a listed key is not valid UTF-8 once decoded: {e}")))
}

/// Parses ListObjectsV2's answer, decoding keys when the server applied
/// `encoding-type=url`. A dedicated parser (tag names matched directly, buffers reused,
/// timestamps parsed by hand): listing is the hot path for large containers.
pub fn parse_list(xml: &[u8]) -> Result<ListResult> {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Field {
        Other,
        Key,
        Size,
        ETag,
        LastModified,
        Prefix,
        IsTruncated,
        NextToken,
        EncodingType,
    }
    let what = "ListBucketResult";
    let mut reader = Reader::from_reader(xml);
    reader.config_mut().check_end_names = false;
    let mut out = ListResult::default();
    // One allocation for the page's objects: count them first (a fast byte search).
    out.objects.reserve(memchr::memmem::find_iter(xml, b"<Contents>").count());
    let (mut in_contents, mut in_prefixes, mut url_encoded) = (false, false, false);
    let mut field = Field::Other;
    let mut text = String::new();
    let mut cur = ListedObject::default();
    loop {
        match reader.read_event().map_err(|e| malformed(what, e))? {
            Event::Start(e) => {
                field = match e.local_name().as_ref() {
                    b"Contents" => {
                        in_contents = true;
                        Field::Other
                    }
                    b"CommonPrefixes" => {
                        in_prefixes = true;
                        Field::Other
                    }
                    b"Key" if in_contents => Field::Key,
                    b"Size" if in_contents => Field::Size,
                    b"ETag" if in_contents => Field::ETag,
                    b"LastModified" if in_contents => Field::LastModified,
                    b"Prefix" if in_prefixes => Field::Prefix,
                    b"IsTruncated" if !in_contents && !in_prefixes => Field::IsTruncated,
                    b"NextContinuationToken" => Field::NextToken,
                    b"EncodingType" => Field::EncodingType,
                    _ => Field::Other,
                };
                text.clear();
            }
            Event::Text(t) if field != Field::Other => text.push_str(&t.decode().map_err(|e| malformed(what, e))?),
            Event::GeneralRef(r) if field != Field::Other => {
                if r.is_char_ref() {
                    if let Some(c) = r.resolve_char_ref().map_err(|e| malformed(what, e))? {
                        text.push(c);
                    }
                } else {
                    let name = r.decode().map_err(|e| malformed(what, e))?;
                    let resolved = quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| malformed(what, format!("unknown entity &{name};")))?;
                    text.push_str(resolved);
                }
            }
            Event::End(e) => {
                match field {
                    Field::Key => cur.key = std::mem::take(&mut text),
                    Field::Size => cur.size = text.trim().parse().unwrap_or(0),
                    Field::ETag => cur.etag = Some(text.trim_matches('"').to_owned()),
                    Field::LastModified => cur.last_modified = parse_s3_time(&text),
                    Field::Prefix => out.prefixes.push(std::mem::take(&mut text)),
                    Field::IsTruncated => out.truncated = text.trim() == "true",
                    Field::NextToken => out.next_token = Some(std::mem::take(&mut text)),
                    Field::EncodingType => url_encoded = text.trim() == "url",
                    Field::Other => match e.local_name().as_ref() {
                        b"Contents" => {
                            in_contents = false;
                            out.objects.push(std::mem::take(&mut cur));
                        }
                        b"CommonPrefixes" => in_prefixes = false,
                        _ => {}
                    },
                }
                field = Field::Other;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if url_encoded {
        for o in &mut out.objects {
            if o.key.contains(['%', '+']) {
                o.key = url_decode(&o.key)?;
            }
        }
        for p in &mut out.prefixes {
            if p.contains(['%', '+']) {
                *p = url_decode(p)?;
            }
        }
    }
    Ok(out)
}

/// `2009-10-12T17:50:30.000Z` parsed by hand; anything else through RFC 3339.
fn parse_s3_time(s: &str) -> Option<DateTime<Utc>> {
    let b = s.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b.get(r)?.iter().try_fold(0u32, |acc, c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
    };
    let fast = (b.len() >= 20 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':' && b[16] == b':')
        .then(|| {
            let date = chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
            let millis = if b.get(19) == Some(&b'.') && b.len() >= 24 { num(20..23)? } else { 0 };
            let t = date.and_hms_milli_opt(num(11..13)?, num(14..16)?, num(17..19)?, millis)?;
            (*b.last()? == b'Z').then(|| t.and_utc())
        })
        .flatten();
    fast.or_else(|| parse_time(s))
}

/// Buckets of one `ListAllMyBucketsResult` page: (name, creation date), and the continuation.
pub type BucketsPage = (Vec<(String, Option<DateTime<Utc>>)>, Option<String>);

/// Parses `ListAllMyBucketsResult`.
pub fn parse_buckets(xml: &[u8]) -> Result<BucketsPage> {
    let mut out = Vec::new();
    let mut name = String::new();
    let mut created = None;
    let mut token = None;
    walk(
        xml,
        "ListAllMyBucketsResult",
        |_| {},
        |p, t| {
            match p {
                "/ListAllMyBucketsResult/Buckets/Bucket/Name" => name = t.to_owned(),
                "/ListAllMyBucketsResult/Buckets/Bucket/CreationDate" => created = parse_time(t),
                "/ListAllMyBucketsResult/Buckets/Bucket" => out.push((std::mem::take(&mut name), created.take())),
                "/ListAllMyBucketsResult/ContinuationToken" => token = Some(t.to_owned()).filter(|t| !t.is_empty()),
                _ => {}
            }
            Ok(())
        },
    )?;
    Ok((out, token))
}

/// The text of the first element at `path` (e.g. `/InitiateMultipartUploadResult/UploadId`).
pub fn find_text(xml: &[u8], path: &str) -> Result<Option<String>> {
    let mut found = None;
    walk(
        xml,
        path,
        |_| {},
        |p, t| {
            if found.is_none() && p == path {
                found = Some(t.to_owned());
            }
            Ok(())
        },
    )?;
    Ok(found)
}

/// Per-key failures of a `DeleteResult`: (key, code, message).
pub fn parse_delete_errors(xml: &[u8]) -> Result<Vec<(String, String, String)>> {
    let mut out = Vec::new();
    let (mut key, mut code, mut msg) = (String::new(), String::new(), String::new());
    walk(
        xml,
        "DeleteResult",
        |_| {},
        |p, t| {
            match p {
                "/DeleteResult/Error/Key" => key = t.to_owned(),
                "/DeleteResult/Error/Code" => code = t.to_owned(),
                "/DeleteResult/Error/Message" => msg = t.to_owned(),
                "/DeleteResult/Error" => {
                    out.push((std::mem::take(&mut key), std::mem::take(&mut code), std::mem::take(&mut msg)))
                }
                _ => {}
            }
            Ok(())
        },
    )?;
    Ok(out)
}

/// Unfinished uploads of `ListMultipartUploadsResult`: (key, upload id, initiated), plus
/// the markers for the next page when truncated.
pub type UploadsPage = (Vec<(String, String, Option<DateTime<Utc>>)>, Option<(String, String)>);

/// Parses `ListMultipartUploadsResult`.
pub fn parse_uploads(xml: &[u8]) -> Result<UploadsPage> {
    let mut out = Vec::new();
    let (mut key, mut id, mut init) = (String::new(), String::new(), None);
    let (mut truncated, mut next_key, mut next_id) = (false, None, None);
    walk(
        xml,
        "ListMultipartUploadsResult",
        |_| {},
        |p, t| {
            match p {
                "/ListMultipartUploadsResult/Upload/Key" => key = t.to_owned(),
                "/ListMultipartUploadsResult/Upload/UploadId" => id = t.to_owned(),
                "/ListMultipartUploadsResult/Upload/Initiated" => init = parse_time(t),
                "/ListMultipartUploadsResult/Upload" => {
                    out.push((std::mem::take(&mut key), std::mem::take(&mut id), init.take()))
                }
                "/ListMultipartUploadsResult/IsTruncated" => truncated = t.trim() == "true",
                "/ListMultipartUploadsResult/NextKeyMarker" => next_key = Some(t.to_owned()),
                "/ListMultipartUploadsResult/NextUploadIdMarker" => next_id = Some(t.to_owned()),
                _ => {}
            }
            Ok(())
        },
    )?;
    let next = match (truncated, next_key, next_id) {
        (true, Some(k), Some(i)) => Some((k, i)),
        _ => None,
    };
    Ok((out, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_results_parse_and_decode() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix>
<KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>
<Contents><Key>a+b%2Bc%26</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified><ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size><StorageClass>STANDARD</StorageClass></Contents>
<Contents><Key>x</Key><Size>0</Size></Contents>
<CommonPrefixes><Prefix>dir%2F</Prefix></CommonPrefixes>
<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken></ListBucketResult>"#;
        let r = parse_list(xml).unwrap();
        assert_eq!(r.objects.len(), 2);
        assert_eq!(r.objects[0].key, "a b+c&");
        assert_eq!(r.objects[0].size, 434234);
        assert_eq!(r.objects[0].etag.as_deref(), Some("fba9dede5f27731c9771645a39863328"));
        assert!(r.objects[0].last_modified.is_some());
        assert_eq!(r.prefixes, vec!["dir/"]);
        assert!(r.truncated);
        assert_eq!(r.next_token.as_deref(), Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="));
    }

    #[test]
    fn s3_times_parse_fast_and_slow() {
        let t = parse_s3_time("2009-10-12T17:50:30.123Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2009-10-12T17:50:30.123+00:00");
        assert_eq!(parse_s3_time("2009-10-12T17:50:30Z").unwrap().to_rfc3339(), "2009-10-12T17:50:30+00:00");
        assert_eq!(parse_s3_time("2009-10-12T19:50:30+02:00").unwrap().to_rfc3339(), "2009-10-12T17:50:30+00:00");
        assert!(parse_s3_time("garbage").is_none());
    }

    #[test]
    fn errors_parse() {
        let xml = b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The key &lt;k&gt; does not exist</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>";
        let e = parse_error(xml).unwrap();
        assert_eq!(e.code.as_deref(), Some("NoSuchKey"));
        assert_eq!(e.message.as_deref(), Some("The key <k> does not exist"));
        assert_eq!(e.request_id.as_deref(), Some("4442587FB7D0A2F9"));
        assert!(parse_error(b"<CopyObjectResult><ETag>x</ETag></CopyObjectResult>").is_none());
    }

    #[test]
    fn delete_errors_and_uploads_parse() {
        let xml = b"<DeleteResult><Deleted><Key>a</Key></Deleted><Error><Key>b</Key><Code>AccessDenied</Code><Message>no</Message></Error></DeleteResult>";
        assert_eq!(parse_delete_errors(xml).unwrap(), vec![("b".into(), "AccessDenied".into(), "no".into())]);
        let xml = b"<ListMultipartUploadsResult><IsTruncated>false</IsTruncated><Upload><Key>k</Key><UploadId>u1</UploadId><Initiated>2010-11-10T20:48:33.000Z</Initiated></Upload></ListMultipartUploadsResult>";
        let (ups, next) = parse_uploads(xml).unwrap();
        assert_eq!(ups[0].0, "k");
        assert_eq!(ups[0].1, "u1");
        assert!(next.is_none());
        assert_eq!(find_text(b"<I><UploadId>xyz</UploadId></I>", "/I/UploadId").unwrap().as_deref(), Some("xyz"));
    }
}
