//! The JSON documents stored in the container's hashes: object metadata, multipart
//! uploads and their parts.
//!
//! Separate because the Lua scripts read these documents too (the `etag` field): the
//! stored format is defined in one place for every operation.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use storage_core::kit::{Error, ErrorKind, Result, normalize_metadata};
use storage_core::{HashAlgorithm, Object, ObjectHash, PutMode, PutOptions};

/// A run of chunks holding consecutive bytes of an object: chunk `i` of the run is the
/// key `<object tag>:<stem>:<i>` and holds `chunk` bytes (the last one may be shorter).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Segment {
    /// `v<version>` for a single put, `u<id>:p<n>:r<seq>` for a multipart part.
    pub stem: String,
    /// Bytes in the run.
    pub size: u64,
    /// Size of each chunk but the last.
    pub chunk: u64,
}

impl Segment {
    /// Number of chunks.
    pub(crate) fn chunks(&self) -> u64 {
        if self.chunk == 0 { 0 } else { self.size.div_ceil(self.chunk) }
    }

    /// Length of chunk `i`.
    pub(crate) fn chunk_len(&self, i: u64) -> u64 {
        self.chunk.min(self.size.saturating_sub(i * self.chunk))
    }
}

/// An object's metadata, stored as JSON in `...:meta` under the object's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ObjectMeta {
    /// Size in bytes.
    pub size: u64,
    /// MD5 of the content (lowercase hex), when one was computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// The entity tag; the Lua scripts read this field.
    pub etag: String,
    /// MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Content-Encoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    /// Cache-Control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// Content-Disposition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    /// User metadata (lowercase keys).
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// When the object was written.
    pub last_modified: DateTime<Utc>,
    /// Unique version (from the namespace's sequence).
    pub version: String,
    /// Where the data lives, in order.
    #[serde(default)]
    pub segments: Vec<Segment>,
}

impl ObjectMeta {
    /// Parses the stored JSON.
    pub(crate) fn parse(json: &[u8]) -> Result<Self> {
        serde_json::from_slice(json).map_err(|e| {
            Error::new(ErrorKind::Backend, format!("stored object metadata is not valid: {e}"))
                .with_provider_code("CorruptMetadata")
        })
    }

    /// The JSON to store.
    pub(crate) fn to_json(&self) -> Result<String> {
        serde_json::to_string(self)
            .map_err(|e| Error::new(ErrorKind::Backend, format!("cannot encode object metadata: {e}")))
    }

    /// The metadata of a new object written with `options`.
    pub(crate) fn new(
        size: u64,
        md5: Option<String>,
        etag: String,
        options: &PutOptions,
        version: String,
        segments: Vec<Segment>,
    ) -> Self {
        ObjectMeta {
            size,
            md5,
            etag,
            content_type: Some(options.content_type.clone().unwrap_or_else(|| "application/octet-stream".to_owned())),
            content_encoding: options.content_encoding.clone(),
            cache_control: options.cache_control.clone(),
            content_disposition: options.content_disposition.clone(),
            metadata: normalize_metadata(&options.metadata),
            last_modified: Utc::now(),
            version,
            segments,
        }
    }

    /// The public view of the object.
    pub(crate) fn to_object(&self, container: &str, key: &str) -> Object {
        let mut o = Object::new(container, key, self.size);
        o.hash = Some(match &self.md5 {
            Some(m) => ObjectHash::md5(m.clone()),
            None => ObjectHash { algorithm: HashAlgorithm::Opaque, value: self.etag.clone() },
        });
        o.etag = Some(self.etag.clone());
        o.last_modified = Some(self.last_modified);
        o.content_type = self.content_type.clone();
        o.content_encoding = self.content_encoding.clone();
        o.cache_control = self.cache_control.clone();
        o.content_disposition = self.content_disposition.clone();
        o.metadata = self.metadata.clone();
        o.version = Some(self.version.clone());
        o
    }
}

/// The put mode as stored with an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StoredMode {
    /// Replace.
    Overwrite,
    /// Create if absent.
    CreateIfAbsent,
    /// If the current ETag matches.
    IfMatch(String),
}

/// The options of a multipart upload that apply to the final object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredOptions {
    mode: StoredMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_disposition: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

impl From<&PutOptions> for StoredOptions {
    fn from(o: &PutOptions) -> Self {
        StoredOptions {
            mode: match &o.mode {
                PutMode::Overwrite => StoredMode::Overwrite,
                PutMode::CreateIfAbsent => StoredMode::CreateIfAbsent,
                PutMode::IfMatch(e) => StoredMode::IfMatch(e.clone()),
            },
            content_type: o.content_type.clone(),
            content_encoding: o.content_encoding.clone(),
            cache_control: o.cache_control.clone(),
            content_disposition: o.content_disposition.clone(),
            metadata: o.metadata.clone(),
        }
    }
}

impl From<&StoredOptions> for PutOptions {
    fn from(o: &StoredOptions) -> Self {
        PutOptions {
            mode: match &o.mode {
                StoredMode::Overwrite => PutMode::Overwrite,
                StoredMode::CreateIfAbsent => PutMode::CreateIfAbsent,
                StoredMode::IfMatch(e) => PutMode::IfMatch(e.clone()),
            },
            content_type: o.content_type.clone(),
            content_encoding: o.content_encoding.clone(),
            cache_control: o.cache_control.clone(),
            content_disposition: o.content_disposition.clone(),
            metadata: o.metadata.clone(),
            // Redis claims none of the write extras (ACL, class, encryption, tags,
            // headers): `check_extras` refused them before the upload was created.
            ..PutOptions::default()
        }
    }
}

/// An unfinished multipart upload, stored in `...:uploads` under its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UploadMeta {
    /// The object key.
    pub key: String,
    /// Options for the final object.
    pub options: StoredOptions,
    /// When it started.
    pub initiated: DateTime<Utc>,
}

/// One uploaded part, stored in `...:up:<id>` under its number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PartMeta {
    /// MD5 hex of the part.
    pub etag: String,
    /// Bytes in the part.
    pub size: u64,
    /// Its chunks.
    pub segment: Segment,
}

/// Parses a stored JSON document of type `T`, naming `what` in the error.
pub(crate) fn parse_json<T: for<'de> Deserialize<'de>>(json: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(json).map_err(|e| {
        Error::new(ErrorKind::Backend, format!("stored {what} is not valid: {e}")).with_provider_code("CorruptMetadata")
    })
}

/// Encodes a JSON document.
pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::new(ErrorKind::Backend, format!("cannot encode metadata: {e}")))
}

/// The etag a caller wants, as the Lua scripts compare it: without quotes or `W/`.
pub(crate) fn normalize_etag(s: &str) -> String {
    let s = s.trim();
    let s = s.strip_prefix("W/").unwrap_or(s);
    s.trim_matches('"').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_split_into_chunks() {
        let s = Segment { stem: "v1".into(), size: 10, chunk: 4 };
        assert_eq!(s.chunks(), 3);
        assert_eq!((s.chunk_len(0), s.chunk_len(1), s.chunk_len(2)), (4, 4, 2));
        let empty = Segment { stem: "v2".into(), size: 0, chunk: 4 };
        assert_eq!(empty.chunks(), 0);
    }

    #[test]
    fn metadata_round_trips() {
        let o = PutOptions::content_type("text/plain").with_metadata("Color", "red");
        let m = ObjectMeta::new(3, Some("abc".into()), "abc".into(), &o, "7".into(), vec![]);
        let back = ObjectMeta::parse(m.to_json().unwrap().as_bytes()).unwrap();
        assert_eq!(back, m);
        let obj = back.to_object("c", "k");
        assert_eq!(obj.md5(), Some("abc"));
        assert_eq!(obj.metadata.get("color").map(String::as_str), Some("red"));
        let stored = StoredOptions::from(&o.clone().with_mode(PutMode::IfMatch("e".into())));
        assert_eq!(PutOptions::from(&stored).mode, PutMode::IfMatch("e".into()));
        assert_eq!(normalize_etag("W/\"x\""), "x");
    }
}
