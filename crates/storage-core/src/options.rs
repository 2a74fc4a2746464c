//! Options for listing, reading, writing, copying and signing.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::{Error, ErrorKind, Result};

/// Options for listing objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Only keys starting with this prefix.
    pub prefix: Option<String>,
    /// Roll keys up to common prefixes at the first delimiter after the prefix.
    pub delimiter: Option<String>,
    /// Only keys strictly greater (bytewise) than this one.
    pub start_after: Option<String>,
    /// Entries per request; the driver caps it at its maximum.
    pub page_size: Option<usize>,
}

impl ListOptions {
    /// Listing under `prefix`.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        ListOptions { prefix: Some(prefix.into()), ..Default::default() }
    }
    /// Adds a delimiter.
    pub fn with_delimiter(mut self, d: impl Into<String>) -> Self {
        self.delimiter = Some(d.into());
        self
    }
    /// Adds start-after.
    pub fn with_start_after(mut self, s: impl Into<String>) -> Self {
        self.start_after = Some(s.into());
        self
    }
    /// Sets the page size.
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = Some(n);
        self
    }
}

/// A byte range of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// Bytes `start..end` (end exclusive).
    Bounded {
        /// First byte.
        start: u64,
        /// One past the last byte.
        end: u64,
    },
    /// From `start` to the end of the object.
    From(u64),
    /// The last `n` bytes.
    Suffix(u64),
}

impl ByteRange {
    /// Checks the range is well formed (not empty, not inverted).
    pub fn validate(&self) -> Result<()> {
        match *self {
            ByteRange::Bounded { start, end } if end <= start => {
                Err(Error::new(ErrorKind::InvalidRange, format!("range {start}..{end} is empty or inverted")))
            }
            ByteRange::Suffix(0) => Err(Error::new(ErrorKind::InvalidRange, "a suffix range of 0 bytes is empty")),
            _ => Ok(()),
        }
    }

    /// Resolves the range against an object of `size` bytes: the absolute `start..end`.
    /// Follows HTTP: an end past the size is clamped; a start at or past it is an error.
    pub fn resolve(&self, size: u64) -> Result<std::ops::Range<u64>> {
        self.validate()?;
        let r = match *self {
            ByteRange::Bounded { start, end } => start..end.min(size),
            ByteRange::From(start) => start..size,
            ByteRange::Suffix(n) => size.saturating_sub(n)..size,
        };
        if r.start >= size {
            return Err(Error::new(
                ErrorKind::InvalidRange,
                format!("range {} is not satisfiable for an object of {size} bytes", self.header_value()),
            ));
        }
        Ok(r)
    }

    /// The HTTP `Range` header value (`bytes=...`).
    pub fn header_value(&self) -> String {
        match *self {
            ByteRange::Bounded { start, end } => format!("bytes={start}-{}", end.saturating_sub(1)),
            ByteRange::From(start) => format!("bytes={start}-"),
            ByteRange::Suffix(n) => format!("bytes=-{n}"),
        }
    }
}

impl From<std::ops::Range<u64>> for ByteRange {
    fn from(r: std::ops::Range<u64>) -> Self {
        ByteRange::Bounded { start: r.start, end: r.end }
    }
}

impl From<std::ops::RangeFrom<u64>> for ByteRange {
    fn from(r: std::ops::RangeFrom<u64>) -> Self {
        ByteRange::From(r.start)
    }
}

/// Options for reading an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetOptions {
    /// Only these bytes.
    pub range: Option<ByteRange>,
    /// Fail with `PreconditionFailed` unless the ETag matches.
    pub if_match: Option<String>,
    /// Fail with `NotModified` if the ETag matches.
    pub if_none_match: Option<String>,
    /// Fail with `NotModified` unless modified after this time.
    pub if_modified_since: Option<DateTime<Utc>>,
    /// Fail with `PreconditionFailed` if modified after this time.
    pub if_unmodified_since: Option<DateTime<Utc>>,
    /// Read this version (or generation) of the object.
    pub version: Option<String>,
}

impl GetOptions {
    /// Reading `range`.
    pub fn range(range: impl Into<ByteRange>) -> Self {
        GetOptions { range: Some(range.into()), ..Default::default() }
    }

    /// Evaluates the conditions against an object's current state, in the order HTTP
    /// prescribes (RFC 9110 section 13.2.2). Drivers without native conditions use this.
    pub fn check_conditions(&self, etag: Option<&str>, last_modified: Option<DateTime<Utc>>) -> Result<()> {
        use crate::object::etag_matches;
        if let Some(want) = &self.if_match {
            if !etag.is_some_and(|e| etag_matches(want, e)) {
                return Err(Error::new(ErrorKind::PreconditionFailed, "If-Match: the ETag differs"));
            }
        } else if let (Some(since), Some(lm)) = (self.if_unmodified_since, last_modified)
            && lm.timestamp() > since.timestamp()
        {
            return Err(Error::new(ErrorKind::PreconditionFailed, "If-Unmodified-Since: the object was modified"));
        }
        if let Some(none) = &self.if_none_match {
            if etag.is_some_and(|e| etag_matches(none, e)) {
                return Err(Error::new(ErrorKind::NotModified, "If-None-Match: the ETag matches"));
            }
        } else if let (Some(since), Some(lm)) = (self.if_modified_since, last_modified)
            && lm.timestamp() <= since.timestamp()
        {
            return Err(Error::new(ErrorKind::NotModified, "If-Modified-Since: the object was not modified"));
        }
        Ok(())
    }
}

/// How a write treats an existing object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PutMode {
    /// Replace whatever is there.
    #[default]
    Overwrite,
    /// Fail with `PreconditionFailed` if the key exists.
    CreateIfAbsent,
    /// Fail with `PreconditionFailed` unless the current ETag matches.
    IfMatch(String),
}

impl PutMode {
    /// Checks the mode against the current object's ETag (`None` when absent).
    pub fn check(&self, current_etag: Option<&str>) -> Result<()> {
        match (self, current_etag) {
            (PutMode::Overwrite, _) => Ok(()),
            (PutMode::CreateIfAbsent, None) => Ok(()),
            (PutMode::CreateIfAbsent, Some(_)) => {
                Err(Error::new(ErrorKind::PreconditionFailed, "create-if-absent: the object already exists"))
            }
            (PutMode::IfMatch(want), Some(cur)) if crate::object::etag_matches(want, cur) => Ok(()),
            (PutMode::IfMatch(_), Some(_)) => {
                Err(Error::new(ErrorKind::PreconditionFailed, "if-match: the object's ETag differs"))
            }
            (PutMode::IfMatch(_), None) => {
                Err(Error::new(ErrorKind::PreconditionFailed, "if-match: the object does not exist"))
            }
        }
    }
}

/// Options for writing an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutOptions {
    /// Overwrite, create-if-absent or if-match.
    pub mode: PutMode,
    /// MIME type.
    pub content_type: Option<String>,
    /// `Content-Encoding`.
    pub content_encoding: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// `Content-Disposition`.
    pub content_disposition: Option<String>,
    /// User metadata; keys are ASCII and compared case-insensitively.
    pub metadata: BTreeMap<String, String>,
    /// Expected MD5 (lowercase hex) of the data: the write fails with
    /// `ObjectHashMismatch` and changes nothing if the data differs.
    pub content_md5: Option<String>,
    /// A canned ACL, in S3's names (`private`, `public-read`, `public-read-write`,
    /// `authenticated-read`, `bucket-owner-read`, `bucket-owner-full-control`); GCS takes
    /// them as its predefined ACLs. Capability `put_acl`.
    pub acl: Option<String>,
    /// The storage class or access tier, in the backend's names (S3 `STANDARD_IA`,
    /// `GLACIER_IR`...; Azure `Hot`, `Cool`, `Cold`, `Archive`; GCS `NEARLINE`,
    /// `COLDLINE`...). Capability `put_storage_class`.
    pub storage_class: Option<String>,
    /// Server-side encryption. Capability `put_encryption` (each driver refuses the
    /// variants it has no equivalent for).
    pub encryption: Option<Encryption>,
    /// Object tags (S3 object tagging, Azure blob index tags). Capability `put_tags`.
    pub tags: BTreeMap<String, String>,
    /// Provider headers sent as given with the write (S3 `x-amz-website-redirect-location`,
    /// `content-language`, `expires`; Azure `x-ms-blob-content-language`...), for what the
    /// portable options do not name. Capability `put_headers`.
    pub headers: BTreeMap<String, String>,
}

/// Server-side encryption of a write.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Encryption {
    /// The backend's own keys, named explicitly (S3 SSE-S3, `AES256`).
    Managed,
    /// A key of the cloud's key service: S3 SSE-KMS (`key_id`, else the account's default
    /// key), GCS Cloud KMS (`key_id` is the key's resource name, required).
    Kms {
        /// The key's id, ARN or resource name.
        key_id: Option<String>,
    },
    /// An Azure encryption scope, by name.
    Scope(String),
}

impl PutOptions {
    /// The options that recreate `o`'s content headers and user metadata (mode: overwrite),
    /// for copies, renames and exports.
    pub fn from_object(o: &crate::object::Object) -> Self {
        PutOptions {
            content_type: o.content_type.clone(),
            content_encoding: o.content_encoding.clone(),
            cache_control: o.cache_control.clone(),
            content_disposition: o.content_disposition.clone(),
            metadata: o.metadata.clone(),
            ..Default::default()
        }
    }

    /// Options with a content type.
    pub fn content_type(ct: impl Into<String>) -> Self {
        PutOptions { content_type: Some(ct.into()), ..Default::default() }
    }
    /// Sets the mode.
    pub fn with_mode(mut self, mode: PutMode) -> Self {
        self.mode = mode;
        self
    }
    /// Adds one metadata entry.
    pub fn with_metadata(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.metadata.insert(k.into(), v.into());
        self
    }

    /// Refuses, with `NotSupported` naming each one, the settings of Libcloud's `extra`
    /// (ACL, storage class, encryption, tags, provider headers) that `info`'s driver does
    /// not claim: a write never silently drops them. Drivers call it before writing (and
    /// the transfer engine before reading any data).
    pub fn check_extras(&self, info: &crate::capabilities::DriverInfo) -> Result<()> {
        let caps = &info.capabilities;
        let mut refused = Vec::new();
        if self.acl.is_some() && !caps.put_acl {
            refused.push("an ACL");
        }
        if self.storage_class.is_some() && !caps.put_storage_class {
            refused.push("a storage class");
        }
        if self.encryption.is_some() && !caps.put_encryption {
            refused.push("server-side encryption settings");
        }
        if !self.tags.is_empty() && !caps.put_tags {
            refused.push("object tags");
        }
        if !self.headers.is_empty() && !caps.put_headers {
            refused.push("provider headers");
        }
        if refused.is_empty() {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::NotSupported,
            format!("the {} driver cannot store {}; nothing was written", info.name, refused.join(", ")),
        )
        .with_driver(&info.name)
        .with_hint("remove those settings, or write to a backend that supports them"))
    }
}

/// Options for a server-side copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyOptions {
    /// Overwrite or create-if-absent at the destination (if-match is not allowed).
    pub mode: PutMode,
    /// Replace the metadata and content headers with these; `None` copies the source's.
    pub replace: Option<PutOptions>,
    /// Copy only if the source's ETag matches.
    pub source_if_match: Option<String>,
}

impl CopyOptions {
    /// The destination's headers and metadata: `replace` when given, else the source's.
    pub fn destination_options(&self, source: &crate::object::Object) -> PutOptions {
        self.replace.clone().unwrap_or_else(|| PutOptions::from_object(source))
    }
}

/// The HTTP method a signed URL allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignedMethod {
    /// Download.
    #[default]
    Get,
    /// Upload.
    Put,
    /// Delete.
    Delete,
}

impl SignedMethod {
    /// The HTTP verb.
    pub fn as_str(self) -> &'static str {
        match self {
            SignedMethod::Get => "GET",
            SignedMethod::Put => "PUT",
            SignedMethod::Delete => "DELETE",
        }
    }
}

/// Options for a signed (presigned) URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedUrlOptions {
    /// What the URL allows.
    pub method: SignedMethod,
    /// How long it stays valid.
    pub expires_in: Duration,
    /// For PUT: the content type the uploader must send.
    pub content_type: Option<String>,
}

impl Default for SignedUrlOptions {
    fn default() -> Self {
        SignedUrlOptions { method: SignedMethod::Get, expires_in: Duration::from_secs(3600), content_type: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_like_http() {
        assert_eq!(ByteRange::Bounded { start: 2, end: 5 }.resolve(10).unwrap(), 2..5);
        assert_eq!(ByteRange::Bounded { start: 2, end: 50 }.resolve(10).unwrap(), 2..10);
        assert_eq!(ByteRange::From(9).resolve(10).unwrap(), 9..10);
        assert_eq!(ByteRange::Suffix(3).resolve(10).unwrap(), 7..10);
        assert_eq!(ByteRange::Suffix(30).resolve(10).unwrap(), 0..10);
        assert_eq!(ByteRange::From(10).resolve(10).unwrap_err().kind(), ErrorKind::InvalidRange);
        assert_eq!(ByteRange::Suffix(1).resolve(0).unwrap_err().kind(), ErrorKind::InvalidRange);
        assert_eq!(ByteRange::Bounded { start: 5, end: 5 }.validate().unwrap_err().kind(), ErrorKind::InvalidRange);
        assert_eq!(ByteRange::Bounded { start: 0, end: 10 }.header_value(), "bytes=0-9");
    }

    #[test]
    fn put_modes() {
        assert!(PutMode::CreateIfAbsent.check(None).is_ok());
        assert_eq!(PutMode::CreateIfAbsent.check(Some("e")).unwrap_err().kind(), ErrorKind::PreconditionFailed);
        assert!(PutMode::IfMatch("\"e\"".into()).check(Some("e")).is_ok());
        assert!(PutMode::IfMatch("e".into()).check(None).is_err());
    }

    #[test]
    fn conditions_follow_rfc_order() {
        let t = Utc::now();
        let g = GetOptions { if_none_match: Some("a".into()), ..Default::default() };
        assert_eq!(g.check_conditions(Some("a"), Some(t)).unwrap_err().kind(), ErrorKind::NotModified);
        let g = GetOptions { if_match: Some("b".into()), ..Default::default() };
        assert_eq!(g.check_conditions(Some("a"), Some(t)).unwrap_err().kind(), ErrorKind::PreconditionFailed);
        let g = GetOptions { if_modified_since: Some(t), ..Default::default() };
        assert_eq!(g.check_conditions(Some("a"), Some(t)).unwrap_err().kind(), ErrorKind::NotModified);
        let g = GetOptions { if_unmodified_since: Some(t - chrono::Duration::hours(1)), ..Default::default() };
        assert_eq!(g.check_conditions(Some("a"), Some(t)).unwrap_err().kind(), ErrorKind::PreconditionFailed);
    }
}
