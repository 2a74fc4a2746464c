//! Containers, objects, hashes and listing entries.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A container (S3 bucket, GCS bucket, Azure container, local directory...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    /// The container's name.
    pub name: String,
    /// When the container was created, if the backend says.
    pub created: Option<DateTime<Utc>>,
    /// Backend-specific attributes.
    pub extra: BTreeMap<String, String>,
}

impl Container {
    /// A container with only a name.
    pub fn new(name: impl Into<String>) -> Self {
        Container { name: name.into(), created: None, extra: BTreeMap::new() }
    }
}

/// Which algorithm produced an [`ObjectHash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlgorithm {
    /// MD5 of the whole content, lowercase hex.
    Md5,
    /// CRC32C of the whole content, lowercase hex of the big-endian value.
    Crc32c,
    /// SHA-256 of the whole content, lowercase hex.
    Sha256,
    /// An opaque entity tag that is not a content hash (an S3 multipart ETag, say).
    Opaque,
}

impl HashAlgorithm {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            HashAlgorithm::Md5 => "md5",
            HashAlgorithm::Crc32c => "crc32c",
            HashAlgorithm::Sha256 => "sha256",
            HashAlgorithm::Opaque => "opaque",
        }
    }
}

/// A content hash together with the algorithm that produced it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ObjectHash {
    /// The algorithm.
    pub algorithm: HashAlgorithm,
    /// The value, lowercase hex.
    pub value: String,
}

impl ObjectHash {
    /// An MD5 hash from its hex form.
    pub fn md5(hex: impl Into<String>) -> Self {
        // In place: a listing makes one of these per key.
        let mut value = hex.into();
        value.make_ascii_lowercase();
        ObjectHash { algorithm: HashAlgorithm::Md5, value }
    }
    /// A CRC32C from its value (stored as the big-endian value in hex).
    pub fn crc32c(crc: u32) -> Self {
        ObjectHash { algorithm: HashAlgorithm::Crc32c, value: format!("{crc:08x}") }
    }
    /// The CRC32C value of a [`HashAlgorithm::Crc32c`] hash.
    pub fn crc32c_value(&self) -> Option<u32> {
        match self.algorithm {
            HashAlgorithm::Crc32c => u32::from_str_radix(&self.value, 16).ok(),
            _ => None,
        }
    }
    /// Whether this is the hash of `data`: `Some` for MD5 and CRC32C, `None` for the
    /// algorithms this crate does not compute (SHA-256, opaque tags).
    pub fn matches(&self, data: &[u8]) -> Option<bool> {
        match self.algorithm {
            HashAlgorithm::Md5 => Some(self.value.eq_ignore_ascii_case(&crate::hash::md5_hex(data))),
            HashAlgorithm::Crc32c => Some(self.crc32c_value() == Some(crate::kit::crc32c(data))),
            HashAlgorithm::Sha256 | HashAlgorithm::Opaque => None,
        }
    }
    /// Whether this is a real content hash one can verify data against.
    pub fn is_content_hash(&self) -> bool {
        self.algorithm != HashAlgorithm::Opaque
    }
}

/// An object's metadata (not its data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Object {
    /// The container holding the object.
    pub container: String,
    /// The object's key.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Content hash, when the backend keeps one.
    pub hash: Option<ObjectHash>,
    /// The entity tag used for conditional requests, without quotes.
    pub etag: Option<String>,
    /// Last modification time.
    pub last_modified: Option<DateTime<Utc>>,
    /// MIME type.
    pub content_type: Option<String>,
    /// `Content-Encoding` stored with the object.
    pub content_encoding: Option<String>,
    /// `Cache-Control` stored with the object.
    pub cache_control: Option<String>,
    /// `Content-Disposition` stored with the object.
    pub content_disposition: Option<String>,
    /// User metadata (keys are lowercase).
    pub metadata: BTreeMap<String, String>,
    /// Version or generation id, where the backend has one.
    pub version: Option<String>,
    /// Backend-specific attributes.
    pub extra: BTreeMap<String, String>,
}

impl Object {
    /// An object with only its location and size filled in.
    pub fn new(container: impl Into<String>, name: impl Into<String>, size: u64) -> Self {
        Object {
            container: container.into(),
            name: name.into(),
            size,
            hash: None,
            etag: None,
            last_modified: None,
            content_type: None,
            content_encoding: None,
            cache_control: None,
            content_disposition: None,
            metadata: BTreeMap::new(),
            version: None,
            extra: BTreeMap::new(),
        }
    }

    /// The MD5 hex digest, if the hash is an MD5.
    pub fn md5(&self) -> Option<&str> {
        self.hash.as_ref().filter(|h| h.algorithm == HashAlgorithm::Md5).map(|h| h.value.as_str())
    }
}

/// One entry of a listing: an object, or a common prefix when a delimiter is used.
// Listings are mostly objects, so boxing the large variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListEntry {
    /// An object.
    Object(Object),
    /// A common prefix ("directory"), ending with the delimiter.
    Prefix(String),
}

impl ListEntry {
    /// The key or prefix this entry stands for.
    pub fn name(&self) -> &str {
        match self {
            ListEntry::Object(o) => &o.name,
            ListEntry::Prefix(p) => p,
        }
    }
    /// The object, if this entry is one.
    pub fn as_object(&self) -> Option<&Object> {
        match self {
            ListEntry::Object(o) => Some(o),
            ListEntry::Prefix(_) => None,
        }
    }
}

/// One page of a listing and the token for the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass this back to get the next page; `None` when this is the last page.
    pub next_token: Option<String>,
}

impl<T> Page<T> {
    /// The last page: `items` and no continuation.
    pub fn last(items: Vec<T>) -> Self {
        Page { items, next_token: None }
    }
}

/// The outcome for one key of a batch delete.
#[derive(Debug)]
pub struct DeleteOutcome {
    /// The key.
    pub key: String,
    /// `Ok` when the key is gone (deleting a missing key succeeds).
    pub result: crate::Result<()>,
}

/// Compares two entity tags, ignoring quotes and weak markers.
pub fn etag_matches(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> &str {
        let s = s.trim();
        let s = s.strip_prefix("W/").unwrap_or(s);
        s.trim_matches('"')
    }
    a.trim() == "*" || b.trim() == "*" || norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_compare_without_quotes() {
        assert!(etag_matches("\"abc\"", "abc"));
        assert!(etag_matches("W/\"abc\"", "abc"));
        assert!(etag_matches("*", "abc"));
        assert!(!etag_matches("abc", "abd"));
    }

    #[test]
    fn md5_only_for_md5_hashes() {
        let mut o = Object::new("c", "k", 1);
        o.hash = Some(ObjectHash { algorithm: HashAlgorithm::Opaque, value: "x-2".into() });
        assert_eq!(o.md5(), None);
        o.hash = Some(ObjectHash::md5("ABC"));
        assert_eq!(o.md5(), Some("abc"));
    }
}
