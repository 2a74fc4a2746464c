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
