//! Metadata sidecars: a JSON file `%m.<data file name>` beside each data file.
//!
//! A sidecar records the data file's inode, size and modification time; it only applies
//! while all three still match (a crash between the two renames of a write, or a file
//! replaced by hand, leaves a sidecar that no longer applies and is ignored). Without an
//! applicable sidecar an object has no hash, no content type, and an ETag derived from
//! its size and modification time.
//!
//! This module also holds what both metadata stores share: the record itself
//! ([`Sidecar`]), the headers a write stores, a data file's identity ([`FileStamp`]),
//! describing an object from them, and [`load_meta`], which reads the extended attribute
//! (`meta.rs`) first and the sidecar file second. Separate so that the on-disk metadata
//! format is defined in one place for reads, writes and listings.

use std::collections::BTreeMap;
use std::fs::Metadata;
use std::io::Write;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use storage_core::kit::{Error, ErrorKind, Result, normalize_metadata};
use storage_core::{Object, ObjectHash, PutOptions};

use crate::digest::Digest;
use crate::dirfd::DirFd;
use crate::errors;
use crate::io::TempFile;
use crate::meta::Found;

/// Current sidecar format version.
const FORMAT: u32 = 1;

/// What a sidecar holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sidecar {
    /// Format version.
    pub format: u32,
    /// Inode of the data file it describes (0 where the platform has none).
    pub inode: u64,
    /// Size of the data file in bytes.
    pub size: u64,
    /// Modification time of the data file, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// The entity tag.
    pub etag: String,
    /// MD5 of the content, lowercase hex (kept with the `md5` option or a checked
    /// `content_md5`, and by earlier versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// CRC32C of the content, 8 lowercase hex digits (every write since the `md5`
    /// option; earlier versions kept the MD5 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<String>,
    /// MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// `Content-Encoding`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    /// `Cache-Control`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// `Content-Disposition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    /// User metadata, keys lowercase.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// The headers and metadata a write stores (from `PutOptions` or a copied source).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Headers {
    /// MIME type.
    pub content_type: Option<String>,
    /// `Content-Encoding`.
    pub content_encoding: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// `Content-Disposition`.
    pub content_disposition: Option<String>,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
}

impl Headers {
    /// The headers of `options`, metadata keys lowercased.
    pub fn from_put(options: &PutOptions) -> Self {
        Headers {
            content_type: options.content_type.clone(),
            content_encoding: options.content_encoding.clone(),
            cache_control: options.cache_control.clone(),
            content_disposition: options.content_disposition.clone(),
            metadata: normalize_metadata(&options.metadata),
        }
    }

    /// The headers an existing object carries.
    pub fn from_object(o: &Object) -> Self {
        Headers {
            content_type: o.content_type.clone(),
            content_encoding: o.content_encoding.clone(),
            cache_control: o.cache_control.clone(),
            content_disposition: o.content_disposition.clone(),
            metadata: o.metadata.clone(),
        }
    }
}

/// Identity of a data file: what a sidecar must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    /// Inode (0 where unknown).
    pub inode: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
}

impl FileStamp {
    /// The stamp of a file's metadata.
    pub fn of(m: &Metadata) -> Self {
        let mtime_ns = m
            .modified()
            .ok()
            .map(|t| match t.duration_since(std::time::UNIX_EPOCH) {
                Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
                Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
            })
            .unwrap_or(0);
        FileStamp { inode: inode(m), size: m.len(), mtime_ns }
    }

    /// The modification time as a UTC timestamp.
    pub fn modified(&self) -> Option<DateTime<Utc>> {
        Some(DateTime::from_timestamp_nanos(self.mtime_ns))
    }

    /// The ETag of a file without an applicable sidecar: size and mtime, in hex.
    pub fn derived_etag(&self) -> String {
        format!("{:x}-{:x}", self.size, self.mtime_ns)
    }
}

#[cfg(unix)]
fn inode(m: &Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    m.ino()
}

#[cfg(not(unix))]
fn inode(_m: &Metadata) -> u64 {
    0
}

impl Sidecar {
    /// A sidecar for a data file with `stamp`, no hash yet.
    pub fn new(stamp: FileStamp, etag: String, headers: Headers) -> Self {
        Sidecar {
            format: FORMAT,
            inode: stamp.inode,
            size: stamp.size,
            mtime_ns: stamp.mtime_ns,
            etag,
            md5: None,
            crc32c: None,
            content_type: headers.content_type,
            content_encoding: headers.content_encoding,
            cache_control: headers.cache_control,
            content_disposition: headers.content_disposition,
            metadata: headers.metadata,
        }
    }

    /// A sidecar for a data file with `stamp` whose content has `digest`; `etag` when
    /// given (a copy keeps its source's), else the digest's.
    pub fn of_digest(stamp: FileStamp, digest: &Digest, etag: Option<String>, headers: Headers) -> Self {
        let etag = etag.unwrap_or_else(|| digest.etag(&stamp));
        let mut s = Sidecar::new(stamp, etag, headers);
        s.md5 = digest.md5.clone();
        s.crc32c = Some(digest.crc32c_hex());
        s
    }

    /// Whether this sidecar describes a file with `stamp`.
    pub fn applies_to(&self, stamp: &FileStamp) -> bool {
        self.inode == stamp.inode && self.size == stamp.size && self.mtime_ns == stamp.mtime_ns
    }

    /// Reads the sidecar of the data file `leaf` in `dir` if it applies to `stamp`; a
    /// missing, unreadable or stale sidecar is `None` (the object is then reported
    /// without it). The flag says a sidecar file is there (whether or not it applies).
    pub fn load_at(dir: &DirFd, leaf: &str, stamp: &FileStamp) -> (Option<Sidecar>, bool) {
        let name = crate::paths::sidecar_name(leaf);
        let bytes = match dir.read(&name) {
            Ok(b) => b,
            Err(e) if errors::is_missing(&e) => return (None, false),
            Err(e) => {
                tracing::debug!(dir = %dir.path().display(), name, error = %e, "ignoring an unreadable sidecar");
                return (None, true);
            }
        };
        match serde_json::from_slice::<Sidecar>(&bytes) {
            Ok(s) if s.applies_to(stamp) => (Some(s), true),
            Ok(_) => {
                tracing::debug!(dir = %dir.path().display(), name, "ignoring a sidecar that no longer matches its data file");
                (None, true)
            }
            Err(e) => {
                tracing::debug!(dir = %dir.path().display(), name, error = %e, "ignoring a sidecar that does not parse");
                (None, true)
            }
        }
    }

    /// Writes the sidecar to a new temporary file in `dir`, fsynced when `fsync`
    /// (blocking).
    pub fn write_temp(&self, dir: &Arc<DirFd>, fsync: bool) -> Result<TempFile> {
        let json = self.json()?;
        let io = |e| errors::io(format!("writing a metadata sidecar in {}", dir.path().display()), e);
        // Not locked for `sweep.rs`: closed at once, it is young until its rename.
        let (mut f, name) = dir.create_temp().map_err(io)?;
        let temp = TempFile::new(Arc::clone(dir), name);
        let written = f.write_all(&json).and_then(|()| if fsync { f.sync_all() } else { Ok(()) });
        match written {
            Ok(()) => Ok(temp),
            Err(e) => {
                temp.discard_now();
                Err(io(e))
            }
        }
    }

    /// The sidecar file's content.
    pub fn json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self)
            .map_err(|e| Error::new(ErrorKind::Io, format!("encoding the metadata sidecar failed: {e}")))
    }
}

/// The object of a data file with `stamp`, before its metadata: name, size and time.
pub fn object_of(container: impl Into<String>, key: impl Into<String>, stamp: &FileStamp) -> Object {
    let mut o = Object::new(container, key, stamp.size);
    o.last_modified = stamp.modified();
    o
}

/// The hash an object reports from its stored MD5 and CRC32C: the MD5 when kept, else
/// the CRC32C (written by `Digest::crc32c_hex`: 8 lowercase hex digits, reported only
/// in that form).
pub fn hash_of(md5: Option<String>, crc32c: Option<String>) -> Option<ObjectHash> {
    match (md5, crc32c) {
        (Some(md5), _) => Some(ObjectHash::md5(md5)),
        (None, Some(crc)) if crc.len() == 8 && crc.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) => {
            Some(ObjectHash { algorithm: storage_core::HashAlgorithm::Crc32c, value: crc })
        }
        (None, _) => None,
    }
}

/// Describes an object from its data file's stamp and its metadata, if any applies.
pub fn describe(
    container: impl Into<String>,
    key: impl Into<String>,
    stamp: &FileStamp,
    sidecar: Option<Sidecar>,
) -> Object {
    let mut o = object_of(container, key, stamp);
    match sidecar {
        Some(s) => {
            o.hash = hash_of(s.md5, s.crc32c);
            o.etag = Some(s.etag);
            o.content_type = s.content_type;
            o.content_encoding = s.content_encoding;
            o.cache_control = s.cache_control;
            o.content_disposition = s.content_disposition;
            o.metadata = s.metadata;
        }
        None => o.etag = Some(stamp.derived_etag()),
    }
    o
}

/// The metadata of a data file with `stamp`, from what its extended attribute held
/// (`found`), else from its sidecar file beside it (`sidecar`: its directory and the
/// data file's name; `None` when no sidecar can be there). The flag says a sidecar
/// file exists but does not apply (maybe a sidecar write is between its two renames).
pub fn load_meta(found: Found, stamp: &FileStamp, sidecar: Option<(&DirFd, &str)>) -> (Option<Sidecar>, bool) {
    match (found, sidecar) {
        (Found::Applies(s), _) => (Some(*s), false),
        (Found::Stale, _) | (Found::Absent, None) => (None, false),
        (Found::Absent, Some((dir, leaf))) => {
            let (s, exists) = Sidecar::load_at(dir, leaf, stamp);
            let stale = s.is_none() && exists;
            (s, stale)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecar_round_trips_and_checks_its_stamp() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("c")).unwrap();
        let dir = DirFd::container(&root.path().join("c"), "c", true).unwrap();
        let stamp = FileStamp { inode: 7, size: 3, mtime_ns: 1_700_000_000_000_000_000 };
        let headers = Headers { content_type: Some("text/plain".into()), ..Default::default() };
        let mut s = Sidecar::new(stamp, "e".into(), headers);
        s.md5 = Some("abc".into());
        let temp = s.write_temp(&dir, true).unwrap();
        dir.rename(temp.name(), &dir, "%m.x").unwrap();
        temp.keep();
        assert_eq!(Sidecar::load_at(&dir, "x", &stamp), (Some(s), true));
        assert_eq!(Sidecar::load_at(&dir, "x", &FileStamp { size: 4, ..stamp }), (None, true));
        assert_eq!(Sidecar::load_at(&dir, "missing", &stamp), (None, false));
        let o = describe("c", "k", &stamp, None);
        assert_eq!(o.etag.as_deref(), Some(stamp.derived_etag().as_str()));
        assert_eq!(o.hash, None);
    }
}
