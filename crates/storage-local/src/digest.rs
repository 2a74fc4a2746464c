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

/// Whether a write computes the MD5 of its content: when the driver keeps MD5s (the
/// `md5` option) or a caller's `content_md5` is to be checked; the CRC32C always.
pub fn wants_md5(keep_md5: bool, content_md5: Option<&str>) -> bool {
    keep_md5 || content_md5.is_some()
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
        Self::new(wants_md5(keep_md5, content_md5))
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
        let md5 = md5.then(|| {
            let mut h = Md5Hasher::new();
            h.update(data);
            h.finish_hex()
        });
        Digest { crc32c: storage_core::kit::crc32c(data), md5 }
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
        let mut s = String::with_capacity(8);
        push_hex(&mut s, u64::from(self.crc32c), 8);
        s
    }

    /// The ETag of a single-request write with this content and `stamp`: its MD5 when
    /// kept (as S3 does), else its CRC32C, size and modification time (the time tells
    /// two contents with the same CRC apart).
    pub fn etag(&self, stamp: &crate::sidecar::FileStamp) -> String {
        match &self.md5 {
            Some(md5) => md5.clone(),
            None => self.crc_etag(stamp),
        }
    }

    /// The ETag made of the CRC32C, size and modification time (with the `-<parts>`
    /// suffix a multipart object's ETag adds).
    pub fn crc_etag(&self, stamp: &crate::sidecar::FileStamp) -> String {
        let mut s = String::with_capacity(8 + 1 + 16 + 1 + 16 + 6);
        push_hex(&mut s, u64::from(self.crc32c), 8);
        s.push('-');
        push_hex(&mut s, stamp.size, 1);
        s.push('-');
        push_hex(&mut s, stamp.mtime_ns as u64, 1);
        s
    }
}

/// Appends `v` in lowercase hex, at least `width` digits (zero-padded): what
/// `format!("{v:0width$x}")` gives, without the formatting machinery (a PUT builds a few
/// of these, and `fmt` was a tenth of its instructions).
pub fn push_hex(out: &mut String, v: u64, width: usize) {
    let buf = hex16(v);
    let digits = (16 - v.leading_zeros() as usize / 4).max(1);
    let width = width.clamp(digits, 16);
    out.push_str(std::str::from_utf8(&buf[16 - width..]).unwrap_or_default());
}

/// The 16 lowercase hex digits of `v`, most significant first, computed eight at a time
/// in a `u64` (each nibble spread to its own byte, then `'0'` or `'a' - 10` added).
fn hex16(v: u64) -> [u8; 16] {
    fn spread(x: u32) -> u64 {
        let mut x = u64::from(x);
        x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
        x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
        x = (x | (x << 4)) & 0x0f0f_0f0f_0f0f_0f0f;
        x
    }
    fn ascii(nibbles: u64) -> [u8; 8] {
        let letters = ((nibbles + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
        (nibbles + 0x3030_3030_3030_3030 + letters * 0x27).to_be_bytes()
    }
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&ascii(spread((v >> 32) as u32)));
    out[8..].copy_from_slice(&ascii(spread(v as u32)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_what_format_gives() {
        for (v, w) in [(0u64, 1), (0, 8), (0xe306_9283, 8), (0x1f, 8), (u64::MAX, 1), (0x10, 1), (5, 20)] {
            let mut s = String::new();
            push_hex(&mut s, v, w);
            assert_eq!(s, format!("{v:0w$x}", w = w.min(16)));
        }
        // Every nibble in every position, and a spread of values.
        let mut v = 0x0123_4567_89ab_cdefu64;
        for i in 0..2000u64 {
            let mut s = String::new();
            push_hex(&mut s, v, 16);
            assert_eq!(s, format!("{v:016x}"));
            v = v.rotate_left(4) ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
        let stamp = crate::sidecar::FileStamp { inode: 1, size: 4096, mtime_ns: -2 };
        let d = Digest { crc32c: 0xab, md5: None };
        assert_eq!(d.etag(&stamp), format!("{:08x}-{:x}-{:x}", 0xab, 4096, -2i64));
    }

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
