//! Content hashing helpers.

use md5::{Digest, Md5};

/// `bytes` as lowercase hex: one table lookup per digit into a buffer sized once (the
/// `hex` crate's `encode` collects a character iterator, several times the work; this
/// runs on every signed request and every hashed write).
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0x0f)]);
    }
    // Only ASCII digits were written.
    String::from_utf8(out).unwrap_or_default()
}

/// MD5 of `data` as lowercase hex.
pub fn md5_hex(data: &[u8]) -> String {
    to_hex(&Md5::digest(data))
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
        to_hex(&self.0.finalize())
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
    format!("{}-{}", to_hex(&h.finalize()), part_md5_hex.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_the_hex_crates_lowercase() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(to_hex(&all), hex::encode(&all));
        assert_eq!(to_hex(&[]), "");
        assert_eq!(to_hex(&[0x0f, 0xa0]), "0fa0");
    }

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

/// An incremental hash of one of the algorithms this crate computes (MD5, CRC32C): what
/// the transfer engine checks downloads with, and what a tool comparing a file with an
/// object's [`ObjectHash`](crate::ObjectHash) computes of the file.
#[derive(Debug, Clone)]
pub enum ContentHasher {
    /// MD5.
    Md5(Md5Hasher),
    /// CRC32C (its running value).
    Crc32c(u32),
}

impl ContentHasher {
    /// A hasher for the algorithm of the object's hash, when it is one this crate can
    /// compute (MD5 or CRC32C).
    pub fn for_object(object: &crate::Object) -> Option<Self> {
        Self::for_algorithm(object.hash.as_ref()?.algorithm)
    }

    /// A hasher for `algorithm`, when it is one this crate can compute.
    pub fn for_algorithm(algorithm: crate::HashAlgorithm) -> Option<Self> {
        match algorithm {
            crate::HashAlgorithm::Md5 => Some(ContentHasher::Md5(Md5Hasher::new())),
            crate::HashAlgorithm::Crc32c => Some(ContentHasher::Crc32c(0)),
            crate::HashAlgorithm::Sha256 | crate::HashAlgorithm::Opaque => None,
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            ContentHasher::Md5(h) => h.update(data),
            ContentHasher::Crc32c(c) => *c = crate::kit::crc32c_update(*c, data),
        }
    }

    /// The digest in the form [`crate::ObjectHash`] uses (lowercase hex; CRC32C as the
    /// big-endian value).
    pub fn finish_hex(self) -> String {
        match self {
            ContentHasher::Md5(h) => h.finish_hex(),
            ContentHasher::Crc32c(c) => format!("{c:08x}"),
        }
    }

    /// The digest as an [`ObjectHash`](crate::ObjectHash).
    pub fn finish(self) -> crate::ObjectHash {
        crate::ObjectHash { algorithm: self.algorithm(), value: self.finish_hex() }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> crate::HashAlgorithm {
        match self {
            ContentHasher::Md5(_) => crate::HashAlgorithm::Md5,
            ContentHasher::Crc32c(_) => crate::HashAlgorithm::Crc32c,
        }
    }

    /// The algorithm's name.
    pub fn name(&self) -> &'static str {
        match self {
            ContentHasher::Md5(_) => "MD5",
            ContentHasher::Crc32c(_) => "CRC32C",
        }
    }
}
