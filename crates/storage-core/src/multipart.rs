//! Multipart upload handles.

use chrono::{DateTime, Utc};

use crate::object::{HashAlgorithm, ObjectHash};

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
    /// The checksum algorithm every part carries ([`CompletedPart::checksum`]), chosen
    /// when the upload was created and kept with it, so parts sent later (by another
    /// driver value, or after a listing) agree with it: S3's `x-amz-checksum-algorithm`
    /// (CRC32C, the whole object's checksum sent at completion), or MD5 where the server
    /// keeps no checksums. `None` for backends that check parts otherwise.
    pub checksum: Option<HashAlgorithm>,
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
    /// The part's checksum of the upload's algorithm ([`MultipartUpload::checksum`]),
    /// as the driver computed and sent it; the driver sends it back at completion (S3's
    /// `<ChecksumCRC32C>` per part) and combines the parts' into the whole object's.
    pub checksum: Option<ObjectHash>,
}

impl CompletedPart {
    /// A part without a checksum.
    pub fn new(part_number: u32, etag: impl Into<String>, size: u64) -> Self {
        CompletedPart { part_number, etag: etag.into(), size, checksum: None }
    }
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
