//! What a write computes over the content it stores: always the CRC32C (with the CPU's
//! instructions, at memory speed), and the MD5 only where something needs it (the
//! `md5` option, or a `content_md5` to check). Separate so that every write (the fast
//! path, the streaming put, copies, parts and completions) hashes the same way and the
//! MD5 is computed at most once.

use storage_core::kit::{Md5Hasher, Result, crc32c_update, verify_md5_hex};

/// The hashes of some content, computed as it is written.
#[derive(Debug, Clone)]
pub struct Digester {
    crc: u32,
    md5: Option<Md5Hasher>,
}

/// What a [`Digester`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    /// The CRC32C of the content.
    pub crc32c: u32,
    /// Its MD5 in lowercase hex, when it was computed.
    pub md5: Option<String>,
}

impl Digester {
    /// A digester that also computes the MD5 when `md5`.
    pub fn new(md5: bool) -> Self {
        Digester { crc: 0, md5: md5.then(Md5Hasher::new) }
    }

    /// A digester for a write with `content_md5` to check, on a driver that keeps MD5s
    /// when `keep_md5`.
    pub fn for_write(keep_md5: bool, content_md5: Option<&str>) -> Self {
        Self::new(keep_md5 || content_md5.is_some())
    }

    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.crc = crc32c_update(self.crc, data);
        if let Some(h) = &mut self.md5 {
            h.update(data);
        }
    }

    /// The hashes of everything added.
    pub fn finish(self) -> Digest {
        Digest { crc32c: self.crc, md5: self.md5.map(Md5Hasher::finish_hex) }
    }
}

impl Digest {
    /// The digest of `data`.
    pub fn of(data: &[u8], md5: bool) -> Self {
        let mut d = Digester::new(md5);
        d.update(data);
        d.finish()
    }

    /// Checks a caller's `content_md5` (a `BadDigest`-style error when it differs).
    pub fn verify(&self, content_md5: Option<&str>) -> Result<()> {
        match (content_md5, &self.md5) {
            (None, _) => Ok(()),
            (Some(_), Some(md5)) => verify_md5_hex(content_md5, md5),
            // A digester made by `for_write` always has the MD5 a check needs.
            (Some(_), None) => Err(storage_core::kit::Error::new(
                storage_core::kit::ErrorKind::Io,
                "internal error: the content's MD5 was not computed",
            )),
        }
    }

    /// The CRC32C in the form objects report it (8 lowercase hex digits).
    pub fn crc32c_hex(&self) -> String {
        format!("{:08x}", self.crc32c)
    }

    /// The ETag of a single-request write with this content and `stamp`: its MD5 when
    /// kept (as S3 does), else its CRC32C, size and modification time (the time tells
    /// two contents with the same CRC apart).
    pub fn etag(&self, stamp: &crate::sidecar::FileStamp) -> String {
        match &self.md5 {
            Some(md5) => md5.clone(),
            None => format!("{:08x}-{:x}-{:x}", self.crc32c, stamp.size, stamp.mtime_ns),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_md5_is_computed_only_when_asked() {
        let d = Digest::of(b"123456789", false);
        assert_eq!((d.crc32c, d.md5.as_deref()), (0xe306_9283, None));
        let d = Digest::of(b"123456789", true);
        assert_eq!(d.md5.as_deref(), Some("25f9e794323b453885f5181f1b624d0b"));
        assert!(Digester::for_write(false, Some("x")).finish().md5.is_some());
        assert!(d.verify(Some("25F9E794323B453885F5181F1B624D0B")).is_ok());
        assert!(d.verify(Some("00000000000000000000000000000000")).is_err());
        assert!(Digest::of(b"", false).verify(Some("d41d8cd98f00b204e9800998ecf8427e")).is_err());
    }
}
