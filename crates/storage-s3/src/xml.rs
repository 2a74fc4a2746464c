//! S3's XML answers as named types, read with quick-xml as a stream (no DOM), plus the
//! escaping helper for the few bodies the driver writes.
//!
//! Every parser accepts what real servers send, not only what AWS documents:
//!
//! - the root element's name is not checked: child elements are matched by name under
//!   whatever root the server uses (moto answers `<CompleteMultipartUploadResponse>`,
//!   `rclone serve s3` answers `<InitiateMultipartUpload>`, AWS the `...Result` names);
//! - namespaces and prefixes are ignored (local names only), and so are elements a
//!   parser does not know (`<Owner>`, `<ChecksumCRC32>`, `<StorageClass>`, ...);
//! - ETags are stored without their quotes, whether the server sent `"..."`,
//!   `&quot;...&quot;`, `&#34;...&#34;` or no quotes at all;
//! - timestamps take any RFC 3339 fraction (`.000Z`, Go's trimmed `.02Z`, none).
//!
//! A field a server left out is `None` (or empty): the driver decides what it cannot do
//! without (an `UploadId`), and fetches what it can (an ETag, with a HEAD).
//!
//! The one exception is [`ErrorResponse`]: a `200 OK` whose root is `<Error>` is how S3
//! reports a CopyObject or CompleteMultipartUpload that failed after the status was sent,
//! so [`ErrorResponse::parse`] requires that root.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use quick_xml::Reader;
use quick_xml::events::Event;
use storage_core::{Error, ErrorKind, Result};

fn malformed(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Backend, format!("the server's {what} XML is malformed: {e}"))
}

pub use storage_http::xml::{escape, walk};

/// Parses S3's timestamps (`2009-10-12T17:50:30.000Z`, any RFC 3339 form).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim()).ok().map(|d| d.with_timezone(&Utc))
}

/// An ETag without its quotes; `None` when empty.
fn etag(t: &str) -> Option<String> {
    Some(t.trim().trim_matches('"').to_owned()).filter(|e| !e.is_empty())
}

/// Text without surrounding whitespace, `None` when empty (not for keys: they are verbatim).
fn text(t: &str) -> Option<String> {
    Some(t.trim().to_owned()).filter(|t| !t.is_empty())
}

/// An `<Error>` document: a failed request's body, or a `200 OK` that failed late.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    /// `Code` (`NoSuchKey`, `SignatureDoesNotMatch`, ...).
    pub code: Option<String>,
    /// `Message`.
    pub message: Option<String>,
    /// `RequestId`.
    pub request_id: Option<String>,
    /// `Region` (wrong-region answers).
    pub region: Option<String>,
    /// `Key`, `BucketName` or `Resource`: what the error is about, when the server says.
    pub resource: Option<String>,
}

impl ErrorResponse {
    /// Parses an `<Error>` body; `None` if the body is not one (another root, not XML).
    pub fn parse(xml: &[u8]) -> Option<Self> {
        let mut doc = ErrorResponse::default();
        let root = walk(xml, "Error", |p, t| {
            let v = Some(t.to_owned());
            match p {
                "Code" => doc.code = v,
                "Message" => doc.message = v,
                "RequestId" => doc.request_id = v,
                "Region" => doc.region = v,
                "Key" | "BucketName" | "Resource" if doc.resource.is_none() => doc.resource = text(t),
                _ => {}
            }
            Ok(())
        })
        .ok()?;
        (root.as_deref() == Some("Error")).then_some(doc)
    }
}

/// One `<Contents>` of a listing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// Key (decoded).
    pub key: String,
    /// Size.
    pub size: u64,
    /// ETag without quotes (s3s-fs sends none).
    pub etag: Option<String>,
    /// LastModified.
    pub last_modified: Option<DateTime<Utc>>,
}

/// A ListObjectsV2 answer (`<ListBucketResult>` on AWS).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ListBucketResult {
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

/// What a listing's element holds, as far as [`ListBucketResult::parse`] cares.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
enum Field {
    #[default]
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

/// A listing read so far, fed the elements' names and texts by either reader. Fields are
/// matched by name and place: `Key`, `Size`, `ETag` and `LastModified` directly under a
/// `Contents`, `Prefix` directly under a `CommonPrefixes`, the rest directly under the
/// root (whatever its name); elements a server adds elsewhere (`<Owner><ID>`, an unknown
/// element holding a `Key`) are ignored.
#[derive(Default)]
struct ListingBuilder {
    out: ListBucketResult,
    /// Elements open.
    depth: usize,
    /// The depth of the open `Contents`' parent, if one is open.
    contents_at: Option<usize>,
    /// The depth of the open `CommonPrefixes`' parent, if one is open.
    prefixes_at: Option<usize>,
    url_encoded: bool,
    field: Field,
    /// The text of the element being read, when it is a field.
    text: String,
    cur: ListedObject,
}

impl ListingBuilder {
    /// An element opens (not an empty one: `<Key/>` holds nothing).
    fn start(&mut self, local: &[u8]) {
        // The depth of the new element's parent (the root's is 0).
        let at = self.depth;
        self.depth += 1;
        let in_contents = self.contents_at.is_some_and(|c| c + 1 == at);
        let in_prefixes = self.prefixes_at.is_some_and(|c| c + 1 == at);
        self.field = match local {
            b"Contents" if self.contents_at.is_none() => {
                self.contents_at = Some(at);
                Field::Other
            }
            b"CommonPrefixes" if self.prefixes_at.is_none() => {
                self.prefixes_at = Some(at);
                Field::Other
            }
            b"Key" if in_contents => Field::Key,
            b"Size" if in_contents => Field::Size,
            b"ETag" if in_contents => Field::ETag,
            b"LastModified" if in_contents => Field::LastModified,
            b"Prefix" if in_prefixes => Field::Prefix,
            b"IsTruncated" if at == 1 => Field::IsTruncated,
            b"NextContinuationToken" if at == 1 => Field::NextToken,
            b"EncodingType" if at == 1 => Field::EncodingType,
            _ => Field::Other,
        };
        self.text.clear();
    }

    /// Whether the element being read is a field, whose text is kept.
    fn wants_text(&self) -> bool {
        self.field != Field::Other
    }

    /// An element closes. End tags are not checked against their start tags: the depth
    /// says which element closes.
    fn end(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        // Kept texts are copied, not taken: the buffer keeps its capacity for the next
        // element, and the copy is exactly as long as the text (one allocation per key).
        let text = &mut self.text;
        match self.field {
            Field::Key => self.cur.key = text.as_str().to_owned(),
            Field::Size => self.cur.size = text.trim().parse().unwrap_or(0),
            Field::ETag => self.cur.etag = etag(text),
            Field::LastModified => self.cur.last_modified = parse_s3_time(text),
            Field::Prefix => self.out.prefixes.push(text.as_str().to_owned()),
            Field::IsTruncated => self.out.truncated = text.trim() == "true",
            Field::NextToken => self.out.next_token = Some(text.as_str().to_owned()),
            Field::EncodingType => self.url_encoded = text.trim() == "url",
            Field::Other if self.contents_at == Some(self.depth) => {
                self.contents_at = None;
                self.out.objects.push(std::mem::take(&mut self.cur));
            }
            Field::Other if self.prefixes_at == Some(self.depth) => self.prefixes_at = None,
            Field::Other => {}
        }
        self.field = Field::Other;
    }

    /// The listing, keys and prefixes decoded if the server URL-encoded them.
    fn finish(mut self) -> Result<ListBucketResult> {
        if self.url_encoded {
            for o in &mut self.out.objects {
                if o.key.contains(['%', '+']) {
                    o.key = url_decode(&o.key)?;
                }
            }
            for p in &mut self.out.prefixes {
                if p.contains(['%', '+']) {
                    *p = url_decode(p)?;
                }
            }
        }
        Ok(self.out)
    }
}

impl ListBucketResult {
    /// Parses a ListObjectsV2 answer, decoding keys when the server applied
    /// `encoding-type=url`. Listing is the hot path for large containers, so this parser
    /// reads with the hand-written [`Scanner`](storage_http::xml::scan::Scanner) (tags
    /// found by short byte loops, text unescaped only where kept, timestamps parsed by hand),
    /// matching tag names directly, whatever the root. It accepts what the general
    /// quick-xml reader accepts and reads it the same (the `s3_xml` fuzz target compares
    /// the two).
    pub fn parse(xml: &[u8]) -> Result<Self> {
        use storage_http::xml::scan::{Scanner, Token};
        let what = "ListBucketResult";
        let mut scanner = Scanner::new(xml);
        let mut b = ListingBuilder::default();
        while let Some(token) = scanner.next_token().map_err(|e| malformed(what, e))? {
            match token {
                Token::Start { local, empty: false } => b.start(local),
                Token::End { .. } => b.end(),
                Token::Text(raw) if b.wants_text() => {
                    scanner.unescape_text(raw, &mut b.text).map_err(|e| malformed(what, e))?;
                }
                Token::CData(raw) if b.wants_text() => {
                    b.text.push_str(std::str::from_utf8(raw).map_err(|e| malformed(what, e))?);
                }
                Token::Start { empty: true, .. } | Token::Text(_) | Token::CData(_) => {}
            }
        }
        b.finish()
    }

    /// [`ListBucketResult::parse`] with the general quick-xml reader: the reference the
    /// `s3_xml` fuzz target holds the hand-written scanner to.
    pub(crate) fn parse_reference(xml: &[u8]) -> Result<Self> {
        let what = "ListBucketResult";
        let mut reader = Reader::from_reader(xml);
        reader.config_mut().check_end_names = false;
        let mut b = ListingBuilder::default();
        loop {
            match reader.read_event().map_err(|e| malformed(what, e))? {
                Event::Start(e) => b.start(e.local_name().as_ref()),
                Event::End(_) => b.end(),
                Event::Text(t) if b.wants_text() => b.text.push_str(&t.decode().map_err(|e| malformed(what, e))?),
                Event::CData(t) if b.wants_text() => b.text.push_str(&t.decode().map_err(|e| malformed(what, e))?),
                Event::GeneralRef(r) if b.wants_text() => {
                    if let Some(c) = r.resolve_char_ref().map_err(|e| malformed(what, e))? {
                        b.text.push(c);
                    } else {
                        let name = r.decode().map_err(|e| malformed(what, e))?;
                        let resolved = quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| malformed(what, format!("unknown entity &{name};")))?;
                        b.text.push_str(resolved);
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        b.finish()
    }
}

/// `2009-10-12T17:50:30.000Z` (exactly milliseconds, or none) parsed by hand; anything
/// else (Go's trimmed fractions such as `.02Z`, offsets) through RFC 3339.
fn parse_s3_time(s: &str) -> Option<DateTime<Utc>> {
    let b = s.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b.get(r)?.iter().try_fold(0u32, |acc, c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
    };
    let shape = match b.len() {
        20 => b[19] == b'Z',
        24 => b[19] == b'.' && b[23] == b'Z',
        _ => false,
    };
    let fast = (shape && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':' && b[16] == b':')
        .then(|| {
            let date = chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
            let millis = if b.len() == 24 { num(20..23)? } else { 0 };
            let t = date.and_hms_milli_opt(num(11..13)?, num(14..16)?, num(17..19)?, millis)?;
            Some(t.and_utc())
        })
        .flatten();
    fast.or_else(|| parse_time(s))
}

/// One `<Bucket>` of a ListBuckets answer.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// `Name`.
    pub name: String,
    /// `CreationDate`.
    pub creation_date: Option<DateTime<Utc>>,
    /// `BucketRegion` (AWS sends it since 2024).
    pub region: Option<String>,
}

/// A ListBuckets answer (`<ListAllMyBucketsResult>` on AWS).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ListAllMyBucketsResult {
    /// The buckets, in order.
    pub buckets: Vec<Bucket>,
    /// The token for the next page (paginated ListBuckets); `None` on the last page.
    pub continuation_token: Option<String>,
}

impl ListAllMyBucketsResult {
    /// Parses a ListBuckets answer.
    pub fn parse(xml: &[u8]) -> Result<Self> {
        let mut out = ListAllMyBucketsResult::default();
        let mut cur = Bucket::default();
        walk(xml, "ListAllMyBucketsResult", |p, t| {
            match p {
                "Buckets/Bucket/Name" => cur.name = t.to_owned(),
                "Buckets/Bucket/CreationDate" => cur.creation_date = parse_time(t),
                "Buckets/Bucket/BucketRegion" => cur.region = text(t),
                "Buckets/Bucket" => out.buckets.push(std::mem::take(&mut cur)),
                "ContinuationToken" => out.continuation_token = text(t),
                _ => {}
            }
            Ok(())
        })?;
        Ok(out)
    }
}

/// A CreateMultipartUpload answer (`<InitiateMultipartUploadResult>` on AWS and moto,
/// `<InitiateMultipartUpload>` from rclone).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InitiateMultipartUploadResult {
    /// `Bucket`.
    pub bucket: Option<String>,
    /// `Key`.
    pub key: Option<String>,
    /// `UploadId`: without it the upload cannot go on.
    pub upload_id: Option<String>,
}

impl InitiateMultipartUploadResult {
    /// Parses a CreateMultipartUpload answer.
    pub fn parse(xml: &[u8]) -> Result<Self> {
        let mut out = InitiateMultipartUploadResult::default();
        walk(xml, "InitiateMultipartUploadResult", |p, t| {
            match p {
                "Bucket" => out.bucket = text(t),
                "Key" => out.key = text(t),
                "UploadId" => out.upload_id = text(t),
                _ => {}
            }
            Ok(())
        })?;
        Ok(out)
    }
}

/// A CompleteMultipartUpload answer (`<CompleteMultipartUploadResult>` on AWS and rclone,
/// `<CompleteMultipartUploadResponse>` from moto).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CompleteMultipartUploadResult {
    /// `Location`.
    pub location: Option<String>,
    /// `Bucket`.
    pub bucket: Option<String>,
    /// `Key`.
    pub key: Option<String>,
    /// `ETag` without quotes; a server that leaves it out gets a HEAD from the driver.
    pub etag: Option<String>,
    /// `VersionId`, when versioning is on.
    pub version_id: Option<String>,
    /// `ChecksumCRC32C`: the object's CRC32C (base64), when the upload was created with
    /// that algorithm (AWS answers it; moto leaves it out).
    pub checksum_crc32c: Option<String>,
    /// `ChecksumType`: `FULL_OBJECT` or `COMPOSITE`.
    pub checksum_type: Option<String>,
}

impl CompleteMultipartUploadResult {
    /// Parses a CompleteMultipartUpload answer (check [`ErrorResponse::parse`] first: a
    /// `200 OK` may still carry an `<Error>`).
    pub fn parse(xml: &[u8]) -> Result<Self> {
        let mut out = CompleteMultipartUploadResult::default();
        walk(xml, "CompleteMultipartUploadResult", |p, t| {
            match p {
                "Location" => out.location = text(t),
                "Bucket" => out.bucket = text(t),
                "Key" => out.key = text(t),
                "ETag" => out.etag = etag(t),
                "VersionId" => out.version_id = text(t),
                "ChecksumCRC32C" => out.checksum_crc32c = text(t),
                "ChecksumType" => out.checksum_type = text(t),
                _ => {}
            }
            Ok(())
        })?;
        Ok(out)
    }
}

/// One `<Upload>` of a ListMultipartUploads answer.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Upload {
    /// `Key`.
    pub key: String,
    /// `UploadId`.
    pub upload_id: String,
    /// `Initiated`.
    pub initiated: Option<DateTime<Utc>>,
    /// `ChecksumAlgorithm` (`CRC32C`...), for an upload created with one.
    pub checksum_algorithm: Option<String>,
}

/// A ListMultipartUploads answer (`<ListMultipartUploadsResult>` on AWS).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ListMultipartUploadsResult {
    /// The unfinished uploads, in order.
    pub uploads: Vec<Upload>,
    /// `IsTruncated` (rclone leaves it out: false).
    pub truncated: bool,
    /// `NextKeyMarker`.
    pub next_key_marker: Option<String>,
    /// `NextUploadIdMarker`.
    pub next_upload_id_marker: Option<String>,
}

impl ListMultipartUploadsResult {
    /// Parses a ListMultipartUploads answer.
    pub fn parse(xml: &[u8]) -> Result<Self> {
        let mut out = ListMultipartUploadsResult::default();
        let mut cur = Upload::default();
        walk(xml, "ListMultipartUploadsResult", |p, t| {
            match p {
                "Upload/Key" => cur.key = t.to_owned(),
                "Upload/UploadId" => cur.upload_id = t.to_owned(),
                "Upload/Initiated" => cur.initiated = parse_time(t),
                "Upload/ChecksumAlgorithm" => cur.checksum_algorithm = text(t),
                "Upload" => out.uploads.push(std::mem::take(&mut cur)),
                "IsTruncated" => out.truncated = t.trim() == "true",
                "NextKeyMarker" => out.next_key_marker = Some(t.to_owned()),
                "NextUploadIdMarker" => out.next_upload_id_marker = Some(t.to_owned()),
                _ => {}
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// The (key, upload id) markers of the next page, when the answer is truncated.
    pub fn next_markers(&self) -> Option<(String, String)> {
        match (self.truncated, &self.next_key_marker, &self.next_upload_id_marker) {
            (true, Some(k), Some(u)) => Some((k.clone(), u.clone())),
            _ => None,
        }
    }
}

/// One `<Error>` of a DeleteObjects answer: a key the server did not delete.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeleteError {
    /// `Key`.
    pub key: String,
    /// `Code`.
    pub code: String,
    /// `Message`.
    pub message: String,
}

/// A DeleteObjects answer (`<DeleteResult>` on AWS).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeleteResult {
    /// Keys reported deleted (none in quiet mode).
    pub deleted: Vec<String>,
    /// Keys not deleted, with why.
    pub errors: Vec<DeleteError>,
}

impl DeleteResult {
    /// Parses a DeleteObjects answer.
    pub fn parse(xml: &[u8]) -> Result<Self> {
        let mut out = DeleteResult::default();
        let mut cur = DeleteError::default();
        walk(xml, "DeleteResult", |p, t| {
            match p {
                "Deleted/Key" => out.deleted.push(t.to_owned()),
                "Error/Key" => cur.key = t.to_owned(),
                "Error/Code" => cur.code = t.to_owned(),
                "Error/Message" => cur.message = t.to_owned(),
                "Error" => out.errors.push(std::mem::take(&mut cur)),
                _ => {}
            }
            Ok(())
        })?;
        Ok(out)
    }
}

/// A CopyObject answer (`<CopyObjectResult>` on AWS).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CopyObjectResult {
    /// `ETag` without quotes; a server that leaves it out gets a HEAD from the driver.
    pub etag: Option<String>,
    /// `LastModified`.
    pub last_modified: Option<DateTime<Utc>>,
}

impl CopyObjectResult {
    /// Parses a CopyObject answer (check [`ErrorResponse::parse`] first).
    pub fn parse(xml: &[u8]) -> Result<Self> {
        let (etag, last_modified) = etag_and_time(xml, "CopyObjectResult")?;
        Ok(CopyObjectResult { etag, last_modified })
    }
}

/// An UploadPartCopy answer (`<CopyPartResult>` on AWS).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CopyPartResult {
    /// `ETag` of the part, without quotes.
    pub etag: Option<String>,
    /// `LastModified`.
    pub last_modified: Option<DateTime<Utc>>,
}

impl CopyPartResult {
    /// Parses an UploadPartCopy answer (check [`ErrorResponse::parse`] first).
    pub fn parse(xml: &[u8]) -> Result<Self> {
        let (etag, last_modified) = etag_and_time(xml, "CopyPartResult")?;
        Ok(CopyPartResult { etag, last_modified })
    }
}

type EtagAndTime = (Option<String>, Option<DateTime<Utc>>);

fn etag_and_time(xml: &[u8], what: &str) -> Result<EtagAndTime> {
    let (mut e, mut time) = (None, None);
    walk(xml, what, |p, t| {
        match p {
            "ETag" => e = etag(t),
            "LastModified" => time = parse_time(t),
            _ => {}
        }
        Ok(())
    })?;
    Ok((e, time))
}

#[cfg(test)]
mod tests {
    //! Answers captured from AWS's documentation, moto 5.2.1, rclone 1.75.2 (`serve s3`)
    //! and s3s-fs 0.14.1, plus variants with elements no parser knows.

    use super::*;

    #[test]
    fn list_results_parse_and_decode() {
        // AWS docs, with encoding-type=url.
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix>
<KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>
<Contents><Key>a+b%2Bc%26</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified><ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size><StorageClass>STANDARD</StorageClass></Contents>
<Contents><Key>x</Key><Size>0</Size></Contents>
<CommonPrefixes><Prefix>dir%2F</Prefix></CommonPrefixes>
<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken></ListBucketResult>"#;
        let r = ListBucketResult::parse(xml).unwrap();
        assert_eq!(r.objects.len(), 2);
        assert_eq!(r.objects[0].key, "a b+c&");
        assert_eq!(r.objects[0].size, 434234);
        assert_eq!(r.objects[0].etag.as_deref(), Some("fba9dede5f27731c9771645a39863328"));
        assert!(r.objects[0].last_modified.is_some());
        assert_eq!(r.objects[1].etag, None);
        assert_eq!(r.prefixes, vec!["dir/"]);
        assert!(r.truncated);
        assert_eq!(r.next_token.as_deref(), Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="));
    }

    #[test]
    fn rclone_and_moto_listings_parse() {
        // rclone: unquoted ETags, Go's trimmed fraction (.02Z), EncodingType after Contents.
        let rclone = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bkt2</Name>
  <IsTruncated>false</IsTruncated>
  <Prefix></Prefix>
  <MaxKeys>1000</MaxKeys>
  <Contents>
    <Key>a+b%2Bc%25d%26e</Key>
    <LastModified>2026-12-03T01:02:26.02Z</LastModified>
    <ETag>fbade9e36a3f36d3d676c1b808451dd7</ETag>
    <Size>1</Size>
    <StorageClass>STANDARD</StorageClass>
  </Contents>
  <CommonPrefixes>
    <Prefix>a/</Prefix>
  </CommonPrefixes>
  <EncodingType>url</EncodingType>
  <KeyCount>1</KeyCount>
</ListBucketResult>"#;
        let r = ListBucketResult::parse(rclone).unwrap();
        assert_eq!(r.objects[0].key, "a b+c%d&e");
        assert_eq!(r.objects[0].etag.as_deref(), Some("fbade9e36a3f36d3d676c1b808451dd7"));
        assert_eq!(r.objects[0].last_modified.unwrap().to_rfc3339(), "2026-12-03T01:02:26.020+00:00");
        assert_eq!(r.prefixes, vec!["a/"]);
        assert!(!r.truncated);
        // moto: elements no parser knows inside Contents, a prefixed root.
        let moto = br#"<?xml version="1.0" encoding="utf-8"?>
<s3:ListBucketResult xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/"><s3:IsTruncated>false</s3:IsTruncated><s3:Contents><s3:Key>a%20b</s3:Key><s3:LastModified>2026-12-03T01:02:26.000Z</s3:LastModified><s3:ETag>"fbade9e36a3f36d3d676c1b808451dd7"</s3:ETag><s3:ChecksumAlgorithm>CRC32</s3:ChecksumAlgorithm><s3:Size>1</s3:Size><s3:Owner><s3:ID>x</s3:ID></s3:Owner><s3:Unknown><s3:Key>not-a-key</s3:Key></s3:Unknown></s3:Contents><s3:EncodingType>url</s3:EncodingType></s3:ListBucketResult>"#;
        let r = ListBucketResult::parse(moto).unwrap();
        assert_eq!(r.objects.len(), 1);
        assert_eq!(r.objects[0].key, "a b", "only a Key directly under Contents is the key");
        assert_eq!(r.objects[0].size, 1);
        assert_eq!(r.objects[0].etag.as_deref(), Some("fbade9e36a3f36d3d676c1b808451dd7"));
        for doc in [&rclone[..], &moto[..]] {
            assert_eq!(ListBucketResult::parse(doc).unwrap(), ListBucketResult::parse_reference(doc).unwrap());
        }
    }

    #[test]
    fn s3_times_parse_fast_and_slow() {
        let t = parse_s3_time("2009-10-12T17:50:30.123Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2009-10-12T17:50:30.123+00:00");
        assert_eq!(parse_s3_time("2009-10-12T17:50:30Z").unwrap().to_rfc3339(), "2009-10-12T17:50:30+00:00");
        assert_eq!(parse_s3_time("2009-10-12T19:50:30+02:00").unwrap().to_rfc3339(), "2009-10-12T17:50:30+00:00");
        assert_eq!(parse_s3_time("2009-10-12T17:50:30.5Z").unwrap().to_rfc3339(), "2009-10-12T17:50:30.500+00:00");
        assert_eq!(
            parse_s3_time("2009-10-12T17:50:30.123456Z").unwrap().to_rfc3339(),
            "2009-10-12T17:50:30.123456+00:00"
        );
        assert!(parse_s3_time("garbage").is_none());
    }

    #[test]
    fn errors_parse() {
        let xml = b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The key &lt;k&gt; does not exist</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>";
        let e = ErrorResponse::parse(xml).unwrap();
        assert_eq!(e.code.as_deref(), Some("NoSuchKey"));
        assert_eq!(e.message.as_deref(), Some("The key <k> does not exist"));
        assert_eq!(e.request_id.as_deref(), Some("4442587FB7D0A2F9"));
        assert!(ErrorResponse::parse(b"<CopyObjectResult><ETag>x</ETag></CopyObjectResult>").is_none());
        assert!(ErrorResponse::parse(b"").is_none());
        assert!(ErrorResponse::parse(b"not xml <<").is_none());
        // rclone: no message, a Resource; moto: Key, HostId.
        let rclone = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>NoSuchKey</Code>\n  <Resource>zzz</Resource>\n</Error>";
        let e = ErrorResponse::parse(rclone).unwrap();
        assert_eq!(
            (e.code.as_deref(), e.message.as_deref(), e.resource.as_deref()),
            (Some("NoSuchKey"), None, Some("zzz"))
        );
        let moto = b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>zzz</Key><RequestId>wcDn</RequestId><HostId>9Gjj=</HostId></Error>";
        let e = ErrorResponse::parse(moto).unwrap();
        assert_eq!((e.request_id.as_deref(), e.resource.as_deref()), (Some("wcDn"), Some("zzz")));
    }

    #[test]
    fn initiate_multipart_parses_under_any_root() {
        // AWS docs.
        let aws = br#"<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>example-bucket</Bucket>
  <Key>example-object</Key>
  <UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>
</InitiateMultipartUploadResult>"#;
        let r = InitiateMultipartUploadResult::parse(aws).unwrap();
        assert_eq!(r.upload_id.as_deref(), Some("VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA"));
        assert_eq!(r.key.as_deref(), Some("example-object"));
        // rclone serve s3: another root, no namespace.
        let rclone = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUpload>\n  <Bucket>bkt</Bucket>\n  <Key>big</Key>\n  <UploadId>91059288-9b3f-4b7b-bda6-29aa43fb9a19</UploadId>\n</InitiateMultipartUpload>";
        let r = InitiateMultipartUploadResult::parse(rclone).unwrap();
        assert_eq!(r.upload_id.as_deref(), Some("91059288-9b3f-4b7b-bda6-29aa43fb9a19"));
        assert_eq!(r.bucket.as_deref(), Some("bkt"));
        // moto, with elements no parser knows (an UploadId nested in one is not the upload's).
        let moto = br#"<?xml version="1.0" encoding="utf-8"?>
<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Extra><UploadId>nested</UploadId></Extra><Bucket>b</Bucket><Key>big</Key><ChecksumAlgorithm>CRC32</ChecksumAlgorithm><UploadId>GvQRfb6aMy</UploadId><Future a="1"/></InitiateMultipartUploadResult>"#;
        assert_eq!(InitiateMultipartUploadResult::parse(moto).unwrap().upload_id.as_deref(), Some("GvQRfb6aMy"));
        assert_eq!(InitiateMultipartUploadResult::parse(b"<X/>").unwrap().upload_id, None);
        assert!(InitiateMultipartUploadResult::parse(b"<X><UploadId>a</Y></X>").is_err());
    }

    #[test]
    fn complete_multipart_parses_under_any_root() {
        // AWS docs.
        let aws = br#"<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Location>http://Example-Bucket.s3.region.amazonaws.com/Example-Object</Location>
  <Bucket>Example-Bucket</Bucket>
  <Key>Example-Object</Key>
  <ETag>"3858f62230ac3c915f300c664312c11f-9"</ETag>
</CompleteMultipartUploadResult>"#;
        let r = CompleteMultipartUploadResult::parse(aws).unwrap();
        assert_eq!(r.etag.as_deref(), Some("3858f62230ac3c915f300c664312c11f-9"));
        assert_eq!(r.key.as_deref(), Some("Example-Object"));
        // moto: ...Response, not ...Result.
        let moto = br#"<?xml version="1.0" encoding="utf-8"?>
<CompleteMultipartUploadResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Location>http://probe-bkt-x1.s3.amazonaws.com/big</Location><Bucket>probe-bkt-x1</Bucket><Key>big</Key><ETag>"cb8d7289925309a05b2db09b7709c264-1"</ETag></CompleteMultipartUploadResponse>"#;
        assert_eq!(
            CompleteMultipartUploadResult::parse(moto).unwrap().etag.as_deref(),
            Some("cb8d7289925309a05b2db09b7709c264-1")
        );
        // rclone: quotes as character references, no namespace, an empty Location.
        let rclone = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult>\n  <Location></Location>\n  <Bucket>bkt</Bucket>\n  <Key>big</Key>\n  <ETag>&#34;cb8d7289925309a05b2db09b7709c264-1&#34;</ETag>\n</CompleteMultipartUploadResult>";
        let r = CompleteMultipartUploadResult::parse(rclone).unwrap();
        assert_eq!(r.etag.as_deref(), Some("cb8d7289925309a05b2db09b7709c264-1"));
        assert_eq!(r.location, None);
        // Unknown elements (checksums, a future field) and a missing ETag.
        let extra = b"<R><ChecksumCRC32C>x==</ChecksumCRC32C><Bucket>b</Bucket><Deep><ETag>\"no\"</ETag></Deep></R>";
        let r = CompleteMultipartUploadResult::parse(extra).unwrap();
        assert_eq!((r.etag, r.bucket.as_deref()), (None, Some("b")));
        assert_eq!(CompleteMultipartUploadResult::parse(b"").unwrap(), CompleteMultipartUploadResult::default());
    }

    #[test]
    fn buckets_parse() {
        // rclone (indented, an Owner), and AWS's paginated form with BucketRegion.
        let rclone = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Owner>
    <ID>fe7272ea58be830e56fe1663b10fafef</ID>
    <DisplayName>GoFakeS3</DisplayName>
  </Owner>
  <Buckets>
    <Bucket>
      <Name>bkt</Name>
      <CreationDate>2026-12-03T01:02:12.765Z</CreationDate>
    </Bucket>
  </Buckets>
</ListAllMyBucketsResult>"#;
        let r = ListAllMyBucketsResult::parse(rclone).unwrap();
        assert_eq!(r.buckets.len(), 1);
        assert_eq!(r.buckets[0].name, "bkt");
        assert!(r.buckets[0].creation_date.is_some());
        assert_eq!(r.continuation_token, None);
        let aws = br#"<ListAllMyBucketsResult><Buckets><Bucket><BucketRegion>eu-west-1</BucketRegion><CreationDate>2019-12-11T23:32:47+00:00</CreationDate><Name>a</Name></Bucket><Bucket><Name>b</Name></Bucket></Buckets><Owner><DisplayName>x</DisplayName><ID>y</ID></Owner><ContinuationToken>tok</ContinuationToken><Prefix>p</Prefix></ListAllMyBucketsResult>"#;
        let r = ListAllMyBucketsResult::parse(aws).unwrap();
        assert_eq!(r.buckets.iter().map(|b| b.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(r.buckets[0].region.as_deref(), Some("eu-west-1"));
        assert_eq!(r.buckets[1].creation_date, None);
        assert_eq!(r.continuation_token.as_deref(), Some("tok"));
    }

    #[test]
    fn delete_results_parse() {
        let aws = b"<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Deleted><Key>a</Key></Deleted><Error><Key>b</Key><Code>AccessDenied</Code><Message>no</Message><VersionId>v</VersionId></Error></DeleteResult>";
        let r = DeleteResult::parse(aws).unwrap();
        assert_eq!(r.deleted, vec!["a"]);
        assert_eq!(r.errors, vec![DeleteError { key: "b".into(), code: "AccessDenied".into(), message: "no".into() }]);
        // rclone: indented, no namespace; moto quiet mode: an empty result.
        let rclone = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult>\n  <Deleted>\n    <Key>c</Key>\n  </Deleted>\n  <Deleted>\n    <Key>nope</Key>\n  </Deleted>\n</DeleteResult>";
        assert_eq!(DeleteResult::parse(rclone).unwrap().deleted, vec!["c", "nope"]);
        let quiet = b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>";
        assert_eq!(DeleteResult::parse(quiet).unwrap(), DeleteResult::default());
    }

    #[test]
    fn uploads_parse() {
        let moto = br#"<?xml version="1.0" encoding="utf-8"?>
<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><KeyMarker/><UploadIdMarker/><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated><Upload><UploadId>Gv</UploadId><Key>big</Key><Initiated>2010-11-10T20:48:33.000Z</Initiated><StorageClass>STANDARD</StorageClass><Owner><DisplayName>webfile</DisplayName><ID>75aa</ID></Owner><Initiator><ID>arn:aws:iam::123456789012:user/u</ID><DisplayName>u</DisplayName></Initiator></Upload></ListMultipartUploadsResult>"#;
        let r = ListMultipartUploadsResult::parse(moto).unwrap();
        assert_eq!(r.uploads.len(), 1);
        assert_eq!((r.uploads[0].key.as_str(), r.uploads[0].upload_id.as_str()), ("big", "Gv"));
        assert!(r.uploads[0].initiated.is_some());
        assert_eq!(r.next_markers(), None);
        // rclone: no IsTruncated, no namespace.
        let rclone = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListMultipartUploadsResult>\n  <Bucket>bkt</Bucket>\n  <MaxUploads>1000</MaxUploads>\n  <Upload>\n    <Key>big</Key>\n    <UploadId>9105</UploadId>\n    <StorageClass>STANDARD</StorageClass>\n    <Initiated>2026-12-03T01:02:12.796Z</Initiated>\n  </Upload>\n</ListMultipartUploadsResult>";
        let r = ListMultipartUploadsResult::parse(rclone).unwrap();
        assert_eq!(r.uploads[0].upload_id, "9105");
        assert_eq!(r.next_markers(), None);
        let truncated = b"<L><IsTruncated>true</IsTruncated><NextKeyMarker>k</NextKeyMarker><NextUploadIdMarker>u</NextUploadIdMarker></L>";
        assert_eq!(
            ListMultipartUploadsResult::parse(truncated).unwrap().next_markers(),
            Some(("k".into(), "u".into()))
        );
    }

    #[test]
    fn copy_results_parse() {
        // AWS docs.
        let aws = b"<CopyObjectResult><LastModified>2009-10-28T22:32:00</LastModified><ETag>\"9b2cf535f27731c974343645a3985328\"</ETag></CopyObjectResult>";
        let r = CopyObjectResult::parse(aws).unwrap();
        assert_eq!(r.etag.as_deref(), Some("9b2cf535f27731c974343645a3985328"));
        // moto: a checksum element; rclone: character references, indented.
        let moto = br#"<?xml version="1.0" encoding="utf-8"?>
<CopyObjectResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><ETag>"5d41402abc4b2a76b9719d911017c592"</ETag><LastModified>2026-12-03T01:02:17.000Z</LastModified><ChecksumCRC32>NhCmhg==</ChecksumCRC32></CopyObjectResult>"#;
        let r = CopyObjectResult::parse(moto).unwrap();
        assert_eq!(r.etag.as_deref(), Some("5d41402abc4b2a76b9719d911017c592"));
        assert!(r.last_modified.is_some());
        let rclone = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CopyObjectResult>\n  <ETag>&#34;5d41402abc4b2a76b9719d911017c592&#34;</ETag>\n  <LastModified>2026-12-03T01:02:12.784Z</LastModified>\n</CopyObjectResult>";
        assert_eq!(CopyObjectResult::parse(rclone).unwrap().etag.as_deref(), Some("5d41402abc4b2a76b9719d911017c592"));
        let part = br#"<?xml version="1.0" encoding="utf-8"?>
<CopyPartResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><ETag>"69a41dff505e8c36b0373e700e2c875d"</ETag><LastModified>2026-12-03T01:02:26.000Z</LastModified></CopyPartResult>"#;
        assert_eq!(CopyPartResult::parse(part).unwrap().etag.as_deref(), Some("69a41dff505e8c36b0373e700e2c875d"));
        // rclone answers UploadPartCopy with an empty body (it does not copy the range).
        assert_eq!(CopyPartResult::parse(b"").unwrap().etag, None);
    }

    #[test]
    fn walk_paths_are_relative_to_any_root() {
        let mut seen = Vec::new();
        let root = walk(b"<a:R xmlns:a='x'><a:B><C>1</C><D/></a:B><E>2</E></a:R>", "t", |p, t| {
            seen.push(format!("{p}={t}"));
            Ok(())
        })
        .unwrap();
        assert_eq!(root.as_deref(), Some("R"));
        assert_eq!(seen, ["B/C=1", "B/D=", "B=", "E=2", "="]);
    }
}
