//! Metadata in an extended attribute: `user.storage.meta` on the data file itself, so
//! data and metadata are replaced together by one rename and read from one descriptor.
//!
//! The value is a compact binary record (cheap to read back once per listed key):
//! the magic `LSM1`, the data file's size (u64 LE) and modification time (i64 LE,
//! nanoseconds), then fields `tag u8, length u32 LE, UTF-8 bytes` (1 ETag, 2 MD5,
//! 3 content type, 4 content encoding, 5 cache control, 6 content disposition, 7/8 a
//! user metadata key and its value, 9 CRC32C). It applies while the file's size and modification
//! time still match (a file rewritten in place keeps its attributes but not its
//! metadata). Where the filesystem refuses user attributes (or the record is too large)
//! the driver writes a `%m.` sidecar file instead.
//!
//! Separate from `sidecar.rs` because it is the binary format and the platform calls of
//! one of the two metadata stores; `sidecar.rs` decides which one applies.

// Only Linux reads and writes the attribute; elsewhere the format stays, unused.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use crate::sidecar::{FileStamp, Sidecar};

/// The attribute's name.
pub const XATTR_NAME: &str = "user.storage.meta";

const MAGIC: &[u8; 4] = b"LSM1";

fn put_field(out: &mut Vec<u8>, tag: u8, value: &str) {
    out.push(tag);
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value.as_bytes());
}

/// Encodes `s` (its inode is not recorded: the attribute lives on the inode).
pub fn encode(s: &Sidecar) -> Vec<u8> {
    let optional = [
        (2, &s.md5),
        (3, &s.content_type),
        (4, &s.content_encoding),
        (5, &s.cache_control),
        (6, &s.content_disposition),
        (9, &s.crc32c),
    ];
    // Sized exactly: one allocation.
    let fields = 5
        + s.etag.len()
        + optional.iter().filter_map(|(_, v)| v.as_ref()).map(|v| 5 + v.len()).sum::<usize>()
        + s.metadata.iter().map(|(k, v)| 10 + k.len() + v.len()).sum::<usize>();
    let mut out = Vec::with_capacity(MAGIC.len() + 16 + fields);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&s.size.to_le_bytes());
    out.extend_from_slice(&s.mtime_ns.to_le_bytes());
    put_field(&mut out, 1, &s.etag);
    for (tag, v) in optional {
        if let Some(v) = v {
            put_field(&mut out, tag, v);
        }
    }
    for (k, v) in &s.metadata {
        put_field(&mut out, 7, k);
        put_field(&mut out, 8, v);
    }
    out
}

/// A little-endian reader over the bytes of a binary record (this module's and the
/// listing index's): each read takes the next bytes or fails, never panics.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, at: 0 }
    }

    /// The position of the next read.
    pub fn at(&self) -> usize {
        self.at
    }

    /// Whether every byte has been read.
    pub fn is_done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let out = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(out)
    }

    /// The next byte.
    pub fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    /// The next u32.
    pub fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    /// The next u64.
    pub fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// One field of a record.
enum Field {
    Etag(String),
    Md5(String),
    ContentType(String),
    ContentEncoding(String),
    CacheControl(String),
    ContentDisposition(String),
    Crc32c(String),
    /// A user metadata key and its value.
    Metadata(String, String),
}

/// Hands each field of a record to `field`, in order, if the record applies to a file
/// with `stamp`; `None` when it does not apply or is malformed (an unknown tag, a value
/// that is not UTF-8, a metadata value without its key, a truncated field).
fn each_field(bytes: &[u8], stamp: &FileStamp, mut field: impl FnMut(Field)) -> Option<()> {
    let mut b = Cursor::new(bytes);
    if b.take(4)? != MAGIC {
        return None;
    }
    let size = b.u64()?;
    let mtime_ns = b.u64()? as i64;
    if size != stamp.size || mtime_ns != stamp.mtime_ns {
        return None;
    }
    let mut key: Option<String> = None;
    while !b.is_done() {
        let tag = b.u8()?;
        let len = b.u32()? as usize;
        let value = std::str::from_utf8(b.take(len)?).ok()?.to_owned();
        field(match tag {
            1 => Field::Etag(value),
            2 => Field::Md5(value),
            3 => Field::ContentType(value),
            4 => Field::ContentEncoding(value),
            5 => Field::CacheControl(value),
            6 => Field::ContentDisposition(value),
            9 => Field::Crc32c(value),
            7 => {
                key = Some(value);
                continue;
            }
            8 => Field::Metadata(key.take()?, value),
            _ => return None,
        });
    }
    Some(())
}

/// Decodes a record if it is well formed and applies to a file with `stamp`.
pub fn decode(bytes: &[u8], stamp: &FileStamp) -> Option<Sidecar> {
    let mut s = Sidecar::new(*stamp, String::new(), Default::default());
    let mut etag = None;
    each_field(bytes, stamp, |f| match f {
        Field::Etag(v) => etag = Some(v),
        Field::Md5(v) => s.md5 = Some(v),
        Field::ContentType(v) => s.content_type = Some(v),
        Field::ContentEncoding(v) => s.content_encoding = Some(v),
        Field::CacheControl(v) => s.cache_control = Some(v),
        Field::ContentDisposition(v) => s.content_disposition = Some(v),
        Field::Crc32c(v) => s.crc32c = Some(v),
        Field::Metadata(k, v) => {
            s.metadata.insert(k, v);
        }
    })?;
    s.etag = etag?;
    Some(s)
}

/// [`decode`] straight into `o` (made by [`crate::sidecar::object_of`] for the file with
/// `stamp`), as [`crate::sidecar::describe`] would describe the decoded record, without
/// the [`Sidecar`] in between (a listing described from its index does this per key).
/// `false` when the record does not apply or does not parse: `o` may then hold some of
/// its fields, and only its name is worth keeping.
pub fn decode_object(bytes: &[u8], stamp: &FileStamp, o: &mut storage_core::Object) -> bool {
    let (mut etag, mut md5, mut crc32c) = (None, None, None);
    let read = each_field(bytes, stamp, |f| match f {
        Field::Etag(v) => etag = Some(v),
        Field::Md5(v) => md5 = Some(v),
        Field::ContentType(v) => o.content_type = Some(v),
        Field::ContentEncoding(v) => o.content_encoding = Some(v),
        Field::CacheControl(v) => o.cache_control = Some(v),
        Field::ContentDisposition(v) => o.content_disposition = Some(v),
        Field::Crc32c(v) => crc32c = Some(v),
        Field::Metadata(k, v) => {
            o.metadata.insert(k, v);
        }
    });
    let (Some(()), Some(etag)) = (read, etag) else { return false };
    o.hash = crate::sidecar::hash_of(md5, crc32c);
    o.etag = Some(etag);
    true
}

/// What reading the attribute found.
#[derive(Debug)]
pub enum Found {
    /// A record that applies.
    Applies(Box<Sidecar>),
    /// A record that does not apply (the file was changed in place) or does not parse.
    Stale,
    /// No attribute (or no attribute support): look for a sidecar file.
    Absent,
}

#[cfg(target_os = "linux")]
mod imp {
    use std::os::fd::AsFd;
    use std::path::Path;

    use rustix::fs::XattrFlags;
    use rustix::io::Errno;

    use super::{Found, XATTR_NAME, decode};
    use crate::sidecar::FileStamp;

    /// Interprets the result of a get-attribute call.
    fn found(r: rustix::io::Result<usize>, buf: &[u8], stamp: &FileStamp) -> Option<Found> {
        match r {
            Ok(n) => Some(match decode(&buf[..n.min(buf.len())], stamp) {
                Some(s) => Found::Applies(Box::new(s)),
                None => Found::Stale,
            }),
            Err(Errno::RANGE) => None,
            Err(_) => Some(Found::Absent),
        }
    }

    /// Reads the metadata attribute of an open file.
    pub fn get_fd(fd: impl AsFd, stamp: &FileStamp) -> Found {
        let mut small = [0u8; 512];
        let r = rustix::fs::fgetxattr(fd.as_fd(), XATTR_NAME, &mut small[..]);
        if let Some(f) = found(r, &small, stamp) {
            return f;
        }
        let Ok(n) = rustix::fs::fgetxattr_query(fd.as_fd(), XATTR_NAME) else { return Found::Absent };
        let mut big = vec![0u8; n];
        let r = rustix::fs::fgetxattr(fd.as_fd(), XATTR_NAME, &mut big[..]);
        found(r, &big, stamp).unwrap_or(Found::Stale)
    }

    /// Reads the metadata attribute of the file at `path` (not following a symlink as
    /// its last component: the path is a `/proc/self/fd/<dir>/<name>` from a directory
    /// descriptor).
    pub fn get_path(path: &Path, stamp: &FileStamp) -> Found {
        let mut small = [0u8; 512];
        let r = rustix::fs::lgetxattr(path, XATTR_NAME, &mut small[..]);
        if let Some(f) = found(r, &small, stamp) {
            return f;
        }
        let Ok(n) = rustix::fs::lgetxattr_query(path, XATTR_NAME) else { return Found::Absent };
        let mut big = vec![0u8; n];
        let r = rustix::fs::lgetxattr(path, XATTR_NAME, &mut big[..]);
        found(r, &big, stamp).unwrap_or(Found::Stale)
    }

    /// Sets the attribute on an open file. `Err(true)`: the filesystem has no user
    /// attributes at all; `Err(false)`: refused for this record (too large...).
    pub fn set_fd(fd: impl AsFd, value: &[u8]) -> Result<(), bool> {
        match rustix::fs::fsetxattr(fd, XATTR_NAME, value, XattrFlags::empty()) {
            Ok(()) => Ok(()),
            Err(e) => Err(e == Errno::NOTSUP),
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::Found;
    use crate::sidecar::FileStamp;

    /// No attributes here: always look for a sidecar.
    pub fn get_fd(_fd: &std::fs::File, _stamp: &FileStamp) -> Found {
        Found::Absent
    }

    /// No attributes here.
    pub fn set_fd(_fd: &std::fs::File, _value: &[u8]) -> Result<(), bool> {
        Err(true)
    }
}

pub use imp::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sidecar::Headers;

    #[test]
    fn records_round_trip_and_check_their_stamp() {
        let stamp = FileStamp { inode: 9, size: 5, mtime_ns: -3 };
        let mut headers = Headers { content_type: Some("text/plain".into()), ..Default::default() };
        headers.metadata.insert("k".into(), "v é".into());
        headers.metadata.insert("empty".into(), String::new());
        let mut s = Sidecar::new(stamp, "etag".into(), headers);
        s.md5 = Some("abc".into());
        s.crc32c = Some("0a1b2c3d".into());
        let bytes = encode(&s);
        assert_eq!(decode(&bytes, &stamp), Some(s.clone()));
        assert_eq!(decode(&bytes, &FileStamp { size: 6, ..stamp }), None);
        assert_eq!(decode(&bytes, &FileStamp { mtime_ns: 0, ..stamp }), None);
        assert_eq!(decode(&bytes[..bytes.len() - 1], &stamp), None);
        assert_eq!(decode(b"LSM2", &stamp), None);
        // The inode is not part of the record: it is the inode's own attribute.
        assert_eq!(decode(&bytes, &FileStamp { inode: 1, ..stamp }).map(|d| d.etag), Some("etag".into()));
    }

    /// Decoding into an `Object` gives what describing the decoded record gives, for
    /// every mix of fields, and fails where decoding fails.
    #[test]
    fn records_decode_into_objects_as_described() {
        use crate::sidecar::{describe, object_of};
        let stamp = FileStamp { inode: 9, size: 5, mtime_ns: 1_700_000_000_123_456_789 };
        let mut cases = Vec::new();
        for mask in 0..64u32 {
            let mut headers = Headers::default();
            let on = |bit: u32| mask & (1 << bit) != 0;
            if on(0) {
                headers.content_type = Some("text/plain".into());
            }
            if on(1) {
                headers.content_encoding = Some("gzip".into());
                headers.cache_control = Some("no-cache".into());
                headers.content_disposition = Some("inline".into());
            }
            if on(2) {
                headers.metadata.insert("k".into(), "v é".into());
                headers.metadata.insert("empty".into(), String::new());
            }
            let mut s = Sidecar::new(stamp, format!("etag-{mask}"), headers);
            if on(3) {
                s.md5 = Some("abc".into());
            }
            if on(4) {
                s.crc32c = Some(if on(5) { "0a1b2c3d".into() } else { "0A1B2C3D".into() });
            }
            cases.push(encode(&s));
        }
        let bad = [&b"LSM2"[..], &cases[7][..cases[7].len() - 1], b"LSM1\x05\0\0\0\0\0\0\0"];
        for bytes in cases.iter().map(Vec::as_slice).chain(bad) {
            for stamp in [stamp, FileStamp { size: 6, ..stamp }] {
                let want = decode(bytes, &stamp).map(|s| describe("c", "k", &stamp, Some(s)));
                let mut o = object_of("c", "k", &stamp);
                let got = decode_object(bytes, &stamp, &mut o).then_some(o);
                assert_eq!(got, want);
            }
        }
        // A value without its key fails both ways.
        let mut orphan = cases[0].clone();
        put_field(&mut orphan, 8, "v");
        assert!(decode(&orphan, &stamp).is_none());
        assert!(!decode_object(&orphan, &stamp, &mut object_of("c", "k", &stamp)));
    }
}
