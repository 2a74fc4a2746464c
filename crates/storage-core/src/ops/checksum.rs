//! The content checksums the transfer engine computes and checks: MD5 (S3, the local and
//! memory drivers) and CRC32C (GCS, Azure), and the helpers comparing them with what a
//! backend reports.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use crate::error::{Error, ErrorKind, Result};
use crate::hash::{Md5Hasher, is_md5_hex, md5_hex, multipart_etag};
use crate::object::Object;
use crate::payload::ByteStream;

pub(crate) use crate::hash::ContentHasher;

/// Checks downloaded data's digest against the object's hash.
pub(crate) fn check_download(object: &Object, hasher: ContentHasher) -> Result<()> {
    let Some(want) = object.hash.as_ref() else { return Ok(()) };
    let name = hasher.name();
    let got = hasher.finish_hex();
    if got.eq_ignore_ascii_case(&want.value) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::ObjectHashMismatch,
            format!("the downloaded data's {name} is {got} but the object's is {}", want.value),
        ))
    }
}

/// MD5 (hex) of `data`, computed on tokio's blocking pool when a runtime is running so
/// that hashing parts proceeds in parallel with the network, inline otherwise.
pub(crate) async fn md5_off_thread(data: Bytes) -> Result<String> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle
            .spawn_blocking(move || md5_hex(&data))
            .await
            .map_err(|e| Error::new(ErrorKind::Io, format!("a hashing task failed: {e}"))),
        Err(_) => Ok(md5_hex(&data)),
    }
}

/// Counts the bytes of a stream as they pass, and with `hash` computes their MD5: for
/// uploads and copies that verify what went through a stream they hand on (a driver
/// sending a stream whose MD5 cannot be known ahead holds the MD5 of what was sent to
/// the one the server answers: `kit::StreamTap`).
///
/// ```
/// use futures::StreamExt;
/// use storage_core::kit::StreamTap;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let body = futures::stream::iter(vec![Ok(bytes::Bytes::from("ab")), Ok("c".into())]).boxed();
/// let (mut sent, tap) = StreamTap::wrap(body, true);
/// while let Some(chunk) = sent.next().await { chunk.unwrap(); }
/// assert_eq!(tap.finish(), (3, Some(storage_core::kit::md5_hex(b"abc"))));
/// # });
/// ```
#[derive(Clone)]
pub struct StreamTap {
    seen: Arc<Mutex<(Option<Md5Hasher>, u64)>>,
}

impl std::fmt::Debug for StreamTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("StreamTap").field("bytes", &s.1).field("hashing", &s.0.is_some()).finish()
    }
}

impl StreamTap {
    /// `stream`, tapped (hashed with MD5 when `hash`).
    pub fn wrap(stream: ByteStream, hash: bool) -> (ByteStream, StreamTap) {
        let tap = StreamTap { seen: Arc::new(Mutex::new((hash.then(Md5Hasher::new), 0))) };
        let inner = tap.clone();
        let stream = stream
            .inspect_ok(move |chunk| {
                let mut s = inner.seen.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(h) = s.0.as_mut() {
                    h.update(chunk);
                }
                s.1 += chunk.len() as u64;
            })
            .boxed();
        (stream, tap)
    }

    /// The bytes seen so far, and their MD5 (lowercase hex) when hashing (given once:
    /// later calls answer `None` for it).
    pub fn finish(&self) -> (u64, Option<String>) {
        let mut s = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let md5 = s.0.take().map(Md5Hasher::finish_hex);
        (s.1, md5)
    }
}

/// An ETag without quotes and weak marker.
pub(crate) fn bare_etag(etag: &str) -> &str {
    let e = etag.trim();
    e.strip_prefix("W/").unwrap_or(e).trim_matches('"')
}

/// What an upload knows about the data it sent, to check against the stored object.
#[derive(Debug, Default)]
pub(crate) struct Sent<'a> {
    /// Bytes sent.
    pub len: u64,
    /// MD5 of the whole data, when computed.
    pub md5: Option<&'a str>,
    /// MD5 of every part of a multipart upload, in order, when computed.
    pub part_md5s: Option<&'a [String]>,
}

/// Checks a stored object against what was sent: size; MD5 when the object reports a
/// real MD5; otherwise, for a multipart upload, an S3-style multipart ETag
/// (`md5-of-part-md5s-N`) when the object has one.
pub(crate) fn check_upload(object: &Object, sent: &Sent<'_>) -> Result<()> {
    let fail = |msg: String| Err(Error::new(ErrorKind::ObjectHashMismatch, msg));
    if object.size != sent.len {
        return fail(format!("the stored object has {} bytes but {} were sent", object.size, sent.len));
    }
    if let (Some(want), Some(got)) = (sent.md5, object.md5()) {
        if !want.eq_ignore_ascii_case(got) {
            return fail(format!("the stored object's MD5 is {got} but the data's is {want}"));
        }
        return Ok(());
    }
    if let (Some(parts), Some(etag)) = (sent.part_md5s, object.etag.as_deref()) {
        let etag = bare_etag(etag);
        if let Some((digest, count)) = etag.split_once('-')
            && is_md5_hex(digest)
            && count.parse::<usize>().ok() == Some(parts.len())
        {
            let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
            let want = multipart_etag(&refs);
            if !want.eq_ignore_ascii_case(etag) {
                return fail(format!("the stored object's multipart ETag is {etag} but the parts sent give {want}"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kit::crc32c_update;
    use crate::object::{HashAlgorithm, ObjectHash};

    #[test]
    fn crc32c_known_values() {
        assert_eq!(crc32c_update(0, b""), 0);
        assert_eq!(crc32c_update(0, b"123456789"), 0xE306_9283);
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let whole = crc32c_update(0, &data);
        let split = crc32c_update(crc32c_update(0, &data[..333]), &data[333..]);
        assert_eq!(whole, split);
        let mut h = ContentHasher::Crc32c(0);
        h.update(b"123456789");
        assert_eq!(h.finish_hex(), "e3069283");
    }

    #[test]
    fn upload_checks() {
        let mut o = Object::new("c", "k", 2);
        o.hash = Some(ObjectHash::md5(md5_hex(b"ab")));
        let good = md5_hex(b"ab");
        assert!(check_upload(&o, &Sent { len: 2, md5: Some(&good), part_md5s: None }).is_ok());
        let bad = md5_hex(b"xx");
        let e = check_upload(&o, &Sent { len: 2, md5: Some(&bad), part_md5s: None }).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch);
        assert!(check_upload(&o, &Sent { len: 3, ..Default::default() }).is_err());

        let parts = vec![md5_hex(b"a"), md5_hex(b"b")];
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        o.hash = Some(ObjectHash { algorithm: HashAlgorithm::Opaque, value: "x".into() });
        o.etag = Some(format!("\"{}\"", multipart_etag(&refs)));
        assert!(check_upload(&o, &Sent { len: 2, md5: None, part_md5s: Some(&parts) }).is_ok());
        let other = vec![md5_hex(b"a"), md5_hex(b"c")];
        assert!(check_upload(&o, &Sent { len: 2, md5: None, part_md5s: Some(&other) }).is_err());
        // An ETag of another form is not checked.
        o.etag = Some("opaque-thing".into());
        assert!(check_upload(&o, &Sent { len: 2, md5: None, part_md5s: Some(&other) }).is_ok());
    }

    #[test]
    fn etag_helpers() {
        assert_eq!(bare_etag("W/\"abc\""), "abc");
        assert!(is_md5_hex(&md5_hex(b"x")));
        assert!(!is_md5_hex("abc-2"));
    }
}
