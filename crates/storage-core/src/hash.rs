//! Content hashing helpers.

use md5::{Digest, Md5};

/// MD5 of `data` as lowercase hex.
pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// Whether `s` looks like an MD5 in hex (32 hex digits), as an S3 ETag of a single
/// unencrypted or SSE-S3 upload is.
pub fn is_md5_hex(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// An incremental MD5.
#[derive(Debug, Clone, Default)]
pub struct Md5Hasher(Md5);

impl Md5Hasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        Md5Hasher(Md5::new())
    }
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    /// The digest as lowercase hex.
    pub fn finish_hex(self) -> String {
        hex::encode(self.0.finalize())
    }
    /// The raw 16-byte digest.
    pub fn finish(self) -> [u8; 16] {
        self.0.finalize().into()
    }
}

/// The S3-style multipart ETag: MD5 of the concatenated part MD5 digests, `-N`.
pub fn multipart_etag(part_md5_hex: &[&str]) -> String {
    let mut h = Md5::new();
    for p in part_md5_hex {
        if let Ok(raw) = hex::decode(p) {
            h.update(raw);
        }
    }
    format!("{}-{}", hex::encode(h.finalize()), part_md5_hex.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_md5() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        let mut h = Md5Hasher::new();
        h.update(b"hello ");
        h.update(b"world");
        assert_eq!(h.finish_hex(), md5_hex(b"hello world"));
        assert!(multipart_etag(&[&md5_hex(b"a"), &md5_hex(b"b")]).ends_with("-2"));
    }
}
