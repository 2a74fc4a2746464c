//! The JSON API's resources as named types (serde). Unknown fields are ignored and every
//! field a server may leave out is optional, so what real servers send parses.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use storage_core::{Error, ErrorKind, HashAlgorithm, Object, ObjectHash, Result};

/// Parses `body` as `T`; the error names `what` and the position, never the body.
pub fn parse<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| {
        Error::new(
            ErrorKind::Backend,
            format!("the answer to {what} is not the JSON expected (line {}, column {}): {e}", e.line(), e.column()),
        )
    })
}

/// A number GCS sends as a string (`"size": "123"`), or as a number.
fn num<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        S(String),
        U(u64),
    }
    Ok(match Option::<N>::deserialize(d)? {
        Some(N::S(s)) => s.trim().parse().ok(),
        Some(N::U(u)) => Some(u),
        None => None,
    })
}

/// A bucket resource.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Bucket {
    /// `name`.
    pub name: String,
    /// `timeCreated`.
    pub time_created: Option<DateTime<Utc>>,
    /// `location`.
    pub location: Option<String>,
    /// `storageClass`.
    pub storage_class: Option<String>,
}

/// A page of `buckets.list`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Buckets {
    /// `items`.
    pub items: Vec<Bucket>,
    /// `nextPageToken`.
    pub next_page_token: Option<String>,
}

/// An object resource.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ObjectResource {
    /// `name`.
    pub name: String,
    /// `size`.
    #[serde(deserialize_with = "num")]
    pub size: Option<u64>,
    /// `md5Hash` (base64).
    pub md5_hash: Option<String>,
    /// `crc32c` (base64 of the big-endian value).
    pub crc32c: Option<String>,
    /// `etag`.
    pub etag: Option<String>,
    /// `generation`.
    #[serde(deserialize_with = "num")]
    pub generation: Option<u64>,
    /// `metageneration`.
    #[serde(deserialize_with = "num")]
    pub metageneration: Option<u64>,
    /// `updated`.
    pub updated: Option<DateTime<Utc>>,
    /// `timeCreated`.
    pub time_created: Option<DateTime<Utc>>,
    /// `contentType`.
    pub content_type: Option<String>,
    /// `contentEncoding`.
    pub content_encoding: Option<String>,
    /// `cacheControl`.
    pub cache_control: Option<String>,
    /// `contentDisposition`.
    pub content_disposition: Option<String>,
    /// `metadata`.
    pub metadata: Option<BTreeMap<String, String>>,
    /// `storageClass`.
    pub storage_class: Option<String>,
    /// `kmsKeyName` (the Cloud KMS key that encrypts the object, with its version).
    pub kms_key_name: Option<String>,
    /// `contentLanguage`.
    pub content_language: Option<String>,
    /// `customTime` (RFC 3339).
    pub custom_time: Option<String>,
    /// `componentCount` (composite objects).
    pub component_count: Option<u32>,
}

/// Hex of a base64 value, if it decodes.
fn b64_hex(v: &str) -> Option<String> {
    B64.decode(v.trim()).ok().map(|r| storage_core::hash::to_hex(&r))
}

impl ObjectResource {
    /// The resource as an `Object` of `bucket`: its hash is the MD5 when GCS has one
    /// (composite objects have none), else the CRC32C.
    pub fn into_object(self, bucket: &str) -> Object {
        let mut o = Object::new(bucket, self.name, self.size.unwrap_or(0));
        o.hash = match (self.md5_hash.as_deref().and_then(b64_hex), self.crc32c.as_deref().and_then(b64_hex)) {
            (Some(md5), _) if md5.len() == 32 => Some(ObjectHash::md5(md5)),
            (_, Some(crc)) if crc.len() == 8 => Some(ObjectHash { algorithm: HashAlgorithm::Crc32c, value: crc }),
            _ => None,
        };
        o.etag = self.etag;
        o.last_modified = self.updated.or(self.time_created);
        o.content_type = self.content_type;
        o.content_encoding = self.content_encoding;
        o.cache_control = self.cache_control;
        o.content_disposition = self.content_disposition;
        o.metadata = self.metadata.unwrap_or_default().into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
        o.version = self.generation.map(|g| g.to_string());
        if let Some(g) = self.metageneration {
            o.extra.insert("metageneration".into(), g.to_string());
        }
        for (name, value) in [
            ("storage_class", self.storage_class),
            ("kms_key_name", self.kms_key_name),
            ("content_language", self.content_language),
            ("custom_time", self.custom_time),
        ] {
            // Empty strings and Go's zero time are what some servers send for "not set".
            if let Some(v) = value.filter(|v| !v.is_empty() && !v.starts_with("0001-01-01")) {
                o.extra.insert(name.into(), v);
            }
        }
        if let Some(n) = self.component_count {
            o.extra.insert("component_count".into(), n.to_string());
        }
        o
    }

    /// The CRC32C as a number.
    pub fn crc32c_value(&self) -> Option<u32> {
        let raw = B64.decode(self.crc32c.as_deref()?.trim()).ok()?;
        Some(u32::from_be_bytes(raw.try_into().ok()?))
    }
}

/// A page of `objects.list`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Objects {
    /// `items`.
    pub items: Vec<ObjectResource>,
    /// `prefixes`.
    pub prefixes: Vec<String>,
    /// `nextPageToken`.
    pub next_page_token: Option<String>,
}

/// An `objects.rewrite` answer.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Rewrite {
    /// `done`.
    pub done: bool,
    /// `rewriteToken`, to continue.
    pub rewrite_token: Option<String>,
    /// `resource`, once done.
    pub resource: Option<ObjectResource>,
}

/// One entry of an error's `errors`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ErrorItem {
    /// `reason` (`notFound`, `conflict`, `conditionNotMet`...).
    pub reason: Option<String>,
    /// `message`.
    pub message: Option<String>,
}

/// The `error` member of a failed answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ErrorDetail {
    /// `code` (the HTTP status).
    pub code: Option<u16>,
    /// `message`.
    pub message: Option<String>,
    /// `errors`.
    pub errors: Vec<ErrorItem>,
}

/// A failed answer's body: `{"error": {...}}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ErrorBody {
    /// `error`.
    pub error: ErrorDetail,
}

impl ErrorBody {
    /// Parses an error body; anything else (HTML, text, empty) gives an empty one, with
    /// the text as message when it is short.
    pub fn parse(body: &[u8]) -> Self {
        if let Ok(b) = serde_json::from_slice::<ErrorBody>(body) {
            return b;
        }
        let text = String::from_utf8_lossy(body).trim().to_owned();
        let message = (!text.is_empty() && text.len() <= 200 && !text.starts_with('<')).then_some(text);
        ErrorBody { error: ErrorDetail { message, ..Default::default() } }
    }

    /// The first reason.
    pub fn reason(&self) -> Option<&str> {
        self.error.errors.iter().find_map(|e| e.reason.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_parse_and_report_their_hash_truthfully() {
        let body = br#"{"kind":"storage#objects","prefixes":["a/"],"items":[
            {"kind":"storage#object","name":"k","bucket":"b","size":"12","md5Hash":"1B2M2Y8AsgTpgAmY7PhCfg==",
             "crc32c":"AAAAAA==","etag":"CKih16GjycICEAE=","generation":"1700000000000000","metageneration":"1",
             "updated":"2024-01-02T03:04:05.678Z","contentType":"text/plain","metadata":{"Owner":"me"},"unknown":{"x":1}},
            {"name":"composite","size":5,"crc32c":"4waSgw==","componentCount":2,"storageClass":"NEARLINE",
             "kmsKeyName":"projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1","contentLanguage":"",
             "customTime":"0001-01-01T00:00:00Z"}],"nextPageToken":"tok"}"#;
        let page: Objects = parse(body, "ListObjects").unwrap();
        assert_eq!(page.prefixes, ["a/"]);
        assert_eq!(page.next_page_token.as_deref(), Some("tok"));
        let o = page.items[0].clone().into_object("b");
        assert_eq!((o.size, o.md5()), (12, Some("d41d8cd98f00b204e9800998ecf8427e")));
        assert_eq!(o.version.as_deref(), Some("1700000000000000"));
        assert_eq!(o.metadata.get("owner").map(String::as_str), Some("me"));
        let c = page.items[1].clone();
        assert_eq!(c.crc32c_value(), Some(0xE306_9283));
        let c = c.into_object("b");
        assert_eq!(c.hash.unwrap().algorithm, HashAlgorithm::Crc32c);
        assert_eq!(c.extra.get("storage_class").map(String::as_str), Some("NEARLINE"));
        assert!(c.extra.get("kms_key_name").is_some_and(|k| k.ends_with("cryptoKeys/k/cryptoKeyVersions/1")));
        assert!(!c.extra.contains_key("content_language") && !c.extra.contains_key("custom_time"), "{:?}", c.extra);
    }

    #[test]
    fn errors_parse_from_json_or_not() {
        let e = ErrorBody::parse(br#"{"error":{"code":404,"message":"No such object: b/k","errors":[{"message":"No such object: b/k","domain":"global","reason":"notFound"}]}}"#);
        assert_eq!((e.error.code, e.reason()), (Some(404), Some("notFound")));
        let e = ErrorBody::parse(b"Not Found");
        assert_eq!(e.error.message.as_deref(), Some("Not Found"));
        assert!(parse::<Objects>(b"<html>", "ListObjects").is_err());
    }
}
