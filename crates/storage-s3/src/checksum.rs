//! End-to-end CRC32C checksums (`checksum = crc32c`, the default): the wire forms of
//! `x-amz-checksum-crc32c`, the whole object's CRC32C combined from its parts' (S3's
//! `FULL_OBJECT` multipart checksum type), and the check of a whole-object GET's body
//! against the checksum the server stored.
//!
//! A checksum in a header is the base64 of the big-endian CRC32C. A `COMPOSITE` multipart
//! checksum (`...-N`, the CRC32C of the parts' CRC32Cs) describes no byte stream a GET
//! returns, so only full-object checksums are checked; a ranged GET carries none that
//! applies to its bytes (rclone sends the whole object's anyway), so ranged bodies are
//! not checked here.

use std::pin::Pin;
use std::task::{Context, Poll};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use futures::Stream;
use http::HeaderMap;
use storage_core::kit::{crc32c_combine, crc32c_update};
use storage_core::{ByteStream, CompletedPart, Error, ErrorKind, HashAlgorithm, Result};
use storage_http::http;

use crate::driver::NAME;

/// `x-amz-checksum-crc32c`.
pub(crate) const HEADER: &str = "x-amz-checksum-crc32c";
/// `x-amz-checksum-type`.
pub(crate) const TYPE_HEADER: &str = "x-amz-checksum-type";

/// The header form of a CRC32C: base64 of its big-endian bytes.
pub(crate) fn to_b64(crc: u32) -> String {
    B64.encode(crc.to_be_bytes())
}

/// A CRC32C from its header form; `None` for anything else (a composite `...-N` value,
/// another algorithm's length).
pub(crate) fn from_b64(value: &str) -> Option<u32> {
    let raw = B64.decode(value.trim()).ok()?;
    Some(u32::from_be_bytes(raw.try_into().ok()?))
}

/// The whole object's CRC32C from HEAD / GET / PUT answer headers, when the server
/// reports a full-object one (not a `COMPOSITE` multipart checksum).
pub(crate) fn full_object(h: &HeaderMap) -> Option<u32> {
    let composite =
        h.get(TYPE_HEADER).and_then(|v| v.to_str().ok()).is_some_and(|t| t.trim().eq_ignore_ascii_case("COMPOSITE"));
    if composite {
        return None;
    }
    from_b64(h.get(HEADER)?.to_str().ok()?)
}

/// The whole object's CRC32C from its parts' (in part order), when every part carries
/// one: what S3 computes for a `FULL_OBJECT` upload, without reading the data again.
pub(crate) fn combined(parts: &[CompletedPart]) -> Option<u32> {
    let mut sorted: Vec<&CompletedPart> = parts.iter().collect();
    sorted.sort_by_key(|p| p.part_number);
    sorted.into_iter().try_fold(0u32, |whole, p| {
        let crc = p.checksum.as_ref().filter(|c| c.algorithm == HashAlgorithm::Crc32c)?.crc32c_value()?;
        Some(crc32c_combine(whole, crc, p.size))
    })
}

/// The error for data whose CRC32C is not the one expected.
pub(crate) fn mismatch(what: &str, got: u32, want: u32) -> Error {
    Error::new(
        ErrorKind::ObjectHashMismatch,
        format!("{what}: the data's CRC32C is {} but the server's is {}", to_b64(got), to_b64(want)),
    )
    .with_driver(NAME)
    .with_hint(
        "the data was corrupted between the server and this process, or the server stored it damaged; \
         retry the transfer",
    )
}

/// A whole-object GET body that checks its bytes against the CRC32C the server stored:
/// after the last chunk it yields an `ObjectHashMismatch` error instead of ending when
/// they differ. Resumed bodies (after a broken connection) are the same bytes in order,
/// so the check holds across resumes.
pub(crate) struct VerifiedBody {
    inner: ByteStream,
    crc: u32,
    want: u32,
    context: Option<(String, String)>,
}

impl VerifiedBody {
    /// `inner`, checked against `want`; `container`/`key` name the object in the error.
    pub(crate) fn new(inner: ByteStream, want: u32, container: &str, key: &str) -> Self {
        VerifiedBody { inner, crc: 0, want, context: Some((container.to_owned(), key.to_owned())) }
    }
}

impl Stream for VerifiedBody {
    type Item = Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.context.is_none() {
            return Poll::Ready(None);
        }
        match this.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.crc = crc32c_update(this.crc, &chunk);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.context = None;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                let Some((container, key)) = this.context.take() else { return Poll::Ready(None) };
                if this.crc == this.want {
                    Poll::Ready(None)
                } else {
                    let e = mismatch("GetObject", this.crc, this.want).with_object(container, key);
                    Poll::Ready(Some(Err(e)))
                }
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use storage_core::ObjectHash;
    use storage_core::kit::crc32c;

    use super::*;

    #[test]
    fn header_forms_round_trip_and_composite_values_are_not_whole_object_checksums() {
        // CRC32C("123456789") = 0xE3069283.
        assert_eq!(to_b64(0xE306_9283), "4waSgw==");
        assert_eq!(from_b64("4waSgw=="), Some(0xE306_9283));
        assert_eq!(from_b64("ixsWpA==-2"), None);
        assert_eq!(from_b64("AAAAAAAAAAA="), None);
        let mut h = HeaderMap::new();
        h.insert(HEADER, "4waSgw==".parse().unwrap());
        assert_eq!(full_object(&h), Some(0xE306_9283));
        h.insert(TYPE_HEADER, "FULL_OBJECT".parse().unwrap());
        assert_eq!(full_object(&h), Some(0xE306_9283));
        // moto reports a composite checksum without AWS's `-N`: the type header says it.
        h.insert(TYPE_HEADER, "COMPOSITE".parse().unwrap());
        assert_eq!(full_object(&h), None);
    }

    #[test]
    fn parts_combine_into_the_whole_objects_crc() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        let part = |n: u32, r: std::ops::Range<usize>| CompletedPart {
            checksum: Some(ObjectHash::crc32c(crc32c(&data[r.clone()]))),
            ..CompletedPart::new(n, "e", r.len() as u64)
        };
        // Out of order, as parts finish.
        let parts = [part(2, 4000..9000), part(1, 0..4000), part(3, 9000..10_000)];
        assert_eq!(combined(&parts), Some(crc32c(&data)));
        let without = [part(1, 0..4000), CompletedPart::new(2, "e", 6000)];
        assert_eq!(combined(&without), None);
    }

    #[tokio::test]
    async fn a_body_that_differs_from_its_checksum_ends_in_an_error() {
        let chunks = || futures::stream::iter([Ok(Bytes::from_static(b"1234")), Ok(Bytes::from_static(b"56789"))]);
        let good: Vec<_> = VerifiedBody::new(chunks().boxed(), 0xE306_9283, "b", "k").collect().await;
        assert_eq!(good.len(), 2);
        assert!(good.iter().all(Result::is_ok));
        let bad: Vec<_> = VerifiedBody::new(chunks().boxed(), 0xE306_9284, "b", "k").collect().await;
        assert_eq!(bad.len(), 3);
        let e = bad[2].as_ref().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch);
        assert!(e.to_string().contains("CRC32C"), "{e}");
    }
}
