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
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use storage_core::kit::{Error, ErrorKind, Result, normalize_metadata};
use storage_core::{Object, ObjectHash, PutOptions};

use crate::errors;

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
    /// MD5 of the content, lowercase hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
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
    /// A sidecar for a data file with `stamp`.
    pub fn new(stamp: FileStamp, etag: String, md5: Option<String>, headers: Headers) -> Self {
        Sidecar {
            format: FORMAT,
            inode: stamp.inode,
            size: stamp.size,
            mtime_ns: stamp.mtime_ns,
            etag,
            md5,
            content_type: headers.content_type,
            content_encoding: headers.content_encoding,
            cache_control: headers.cache_control,
            content_disposition: headers.content_disposition,
            metadata: headers.metadata,
        }
    }

    /// Whether this sidecar describes a file with `stamp`.
    pub fn applies_to(&self, stamp: &FileStamp) -> bool {
        self.inode == stamp.inode && self.size == stamp.size && self.mtime_ns == stamp.mtime_ns
    }

    /// Reads the sidecar at `path` if it applies to `stamp`; a missing, unreadable or
    /// stale sidecar is `None` (the object is then reported without it).
    pub fn load(path: &Path, stamp: &FileStamp) -> Option<Sidecar> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::debug!(path = %path.display(), error = %e, "ignoring an unreadable sidecar");
                }
                return None;
            }
        };
        match serde_json::from_slice::<Sidecar>(&bytes) {
            Ok(s) if s.applies_to(stamp) => Some(s),
            Ok(_) => {
                tracing::debug!(path = %path.display(), "ignoring a sidecar that no longer matches its data file");
                None
            }
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "ignoring a sidecar that does not parse");
                None
            }
        }
    }

    /// Writes the sidecar to a new temporary file in `dir`, fsynced when `fsync`
    /// (blocking).
    pub fn write_temp(&self, dir: &Path, fsync: bool) -> Result<crate::io::TempFile> {
        let temp = crate::io::TempFile::new(dir.join(crate::paths::temp_name()));
        match self.write_new(temp.path(), fsync) {
            Ok(()) => Ok(temp),
            Err(e) => {
                temp.discard_now();
                Err(e)
            }
        }
    }

    /// The sidecar file's content.
    pub fn json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self)
            .map_err(|e| Error::new(ErrorKind::Io, format!("encoding the metadata sidecar failed: {e}")))
    }

    /// Writes the sidecar to `path` (a temporary name) and fsyncs it when `fsync`.
    pub fn write_new(&self, path: &Path, fsync: bool) -> Result<()> {
        let json = self.json()?;
        let io = |e| errors::io(format!("writing metadata sidecar {}", path.display()), e);
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(io)?;
        f.write_all(&json).map_err(io)?;
        if fsync {
            f.sync_all().map_err(io)?;
        }
        Ok(())
    }
}

/// Describes an object from its data file's stamp and its metadata, if any applies.
pub fn describe(container: &str, key: &str, stamp: &FileStamp, sidecar: Option<Sidecar>) -> Object {
    let mut o = Object::new(container, key, stamp.size);
    o.last_modified = stamp.modified();
    match sidecar {
        Some(s) => {
            o.hash = s.md5.map(ObjectHash::md5);
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

/// The metadata of a data file with `stamp`: its extended attribute (read from `file`
/// when given, else from `data`), else its sidecar file at `sidecar_path` (only looked
/// for when `sidecar_may_exist`). The flag says a sidecar file exists but does not
/// apply (maybe a sidecar write is between its two renames).
pub fn load_meta(
    file: Option<&std::fs::File>,
    data: &Path,
    stamp: &FileStamp,
    sidecar_path: &Path,
    sidecar_may_exist: bool,
) -> (Option<Sidecar>, bool) {
    let found = match file {
        Some(f) => crate::meta::get_fd(f, stamp),
        None => crate::meta::get_path(data, stamp),
    };
    match found {
        crate::meta::Found::Applies(s) => (Some(s), false),
        crate::meta::Found::Stale => (None, false),
        crate::meta::Found::Absent if sidecar_may_exist => {
            let s = Sidecar::load(sidecar_path, stamp);
            let stale = s.is_none() && std::fs::symlink_metadata(sidecar_path).is_ok();
            (s, stale)
        }
        crate::meta::Found::Absent => (None, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecar_round_trips_and_checks_its_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let stamp = FileStamp { inode: 7, size: 3, mtime_ns: 1_700_000_000_000_000_000 };
        let headers = Headers { content_type: Some("text/plain".into()), ..Default::default() };
        let s = Sidecar::new(stamp, "e".into(), Some("abc".into()), headers);
        let p = dir.path().join("%m.x");
        s.write_new(&p, true).unwrap();
        assert_eq!(Sidecar::load(&p, &stamp), Some(s));
        assert_eq!(Sidecar::load(&p, &FileStamp { size: 4, ..stamp }), None);
        assert_eq!(Sidecar::load(&dir.path().join("missing"), &stamp), None);
        let o = describe("c", "k", &stamp, None);
        assert_eq!(o.etag.as_deref(), Some(stamp.derived_etag().as_str()));
        assert_eq!(o.hash, None);
    }
}
