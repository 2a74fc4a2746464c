//! Multipart upload handles.

use chrono::{DateTime, Utc};

/// An unfinished multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartUpload {
    /// The container.
    pub container: String,
    /// The key the object will have.
    pub key: String,
    /// The backend's id for the upload.
    pub upload_id: String,
    /// When it was started, if known.
    pub initiated: Option<DateTime<Utc>>,
}

/// A part that was uploaded, to pass to `complete_multipart`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    /// 1-based part number.
    pub part_number: u32,
    /// The part's ETag (or block id) as the backend returned it.
    pub etag: String,
    /// Bytes in the part.
    pub size: u64,
}

/// What the caller already knows about a part's data, so that a driver need not hash it
/// again ([`crate::Driver::put_part`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartOptions {
    /// The MD5 of the part's data (lowercase or uppercase hex). A driver that sends a
    /// content digest with the part (S3's `Content-MD5`) sends this one, so the backend
    /// refuses a part that does not match it.
    pub content_md5: Option<String>,
}

/// What the caller knows about the whole object when it completes a multipart upload
/// ([`crate::Driver::complete_multipart`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompleteOptions {
    /// The MD5 (hex) of the whole object, when the caller computed it. A driver that can
    /// store it with the object (Azure's `x-ms-blob-content-md5`) does, so later reads can
    /// verify the data; others ignore it. It is not a check: the caller compares it with
    /// what it sent before completing.
    pub content_md5: Option<String>,
}

impl CompleteOptions {
    /// Options carrying the whole object's MD5 (hex).
    pub fn content_md5(md5: impl Into<String>) -> Self {
        CompleteOptions { content_md5: Some(md5.into()) }
    }
}

impl PartOptions {
    /// Options carrying the part's MD5 (hex).
    pub fn content_md5(md5: impl Into<String>) -> Self {
        PartOptions { content_md5: Some(md5.into()) }
    }
}
