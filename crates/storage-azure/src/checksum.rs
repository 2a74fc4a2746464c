//! End-to-end checksums of block blobs: the CRC64 Azure checks on every request that
//! carries data, and the whole blob's CRC32C this driver keeps with the blob for reads.
//!
//! - **CRC64** (`x-ms-content-crc64` on Put Blob and Put Block; the service refuses data
//!   that does not match it with `Crc64Mismatch`, and answers a block with the CRC64 it
//!   computed). Azure's CRC64 is CRC-64/NVME: the reflected polynomial
//!   `0x9A6C9329AC4BC9B5` (`0xAD93D23594C93659` unreflected), initial value and final XOR
//!   all ones; the header is the base64 of its little-endian bytes. The SDKs' own test
//!   vectors (`crc64_matches_the_azure_sdk_vectors`) and Azurite, which checks it, agree.
//!   `crc-fast` computes it with the CPU's carry-less multiply, as it does CRC32C.
//! - **The whole blob's CRC32C**, in the metadata entry `storage_crc32c`
//!   (`x-ms-meta-storage_crc32c: {crc32c hex}:{size}`), set with every Put Blob of data
//!   in memory and every Put Block List (combined from the blocks' CRC32Cs without reading
//!   the data again). Azure keeps no checksum of a block-list blob (its Content-MD5 is
//!   whatever the client sets), and an MD5 of the whole upload would cost 0.5 GiB/s of
//!   one core where CRC32C runs at ~15 GiB/s; metadata is replaced by every write of the
//!   blob (Put Blob, Put Block List) and copied with its data (Copy Blob), so it describes
//!   the data it came with. The size in the value guards against a tool that rewrites
//!   the data but carries the old metadata over: a value whose size is not the blob's is
//!   ignored. The entry is hidden from `Object::metadata` and refused as user metadata.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crc_fast::{CrcAlgorithm, Digest};
use futures::StreamExt;
use storage_core::kit::{BodyCheck, Md5Hasher, checked_body, crc32c_combine, crc32c_update};
use storage_core::{ByteStream, CompletedPart, Error, ErrorKind, HashAlgorithm, Result};
use storage_http::http::HeaderMap;

use crate::driver::NAME;

/// `x-ms-content-crc64`: a request body's CRC64 (checked by the service), or the one the
/// service computed.
pub(crate) const CRC64_HEADER: &str = "x-ms-content-crc64";
/// The metadata name of the whole blob's CRC32C.
pub(crate) const META_NAME: &str = "storage_crc32c";
/// [`META_NAME`] as a header.
pub(crate) const META_HEADER: &str = "x-ms-meta-storage_crc32c";

/// Bytes hashed by both CRCs before moving on, so the second pass reads from cache.
const STRIDE: usize = 64 * 1024;

/// Azure's CRC64 (CRC-64/NVME) of `data`.
#[cfg(test)]
pub(crate) fn crc64(data: &[u8]) -> u64 {
    crc_fast::checksum(CrcAlgorithm::Crc64Nvme, data)
}

/// The CRC64 and the CRC32C of `data`, in one pass over it.
pub(crate) fn crc64_and_crc32c(data: &[u8]) -> (u64, u32) {
    let mut d64 = Digest::new(CrcAlgorithm::Crc64Nvme);
    let mut c32 = 0u32;
    for piece in data.chunks(STRIDE) {
        d64.update(piece);
        c32 = crc32c_update(c32, piece);
    }
    (d64.finalize(), c32)
}

/// The header form of a CRC64: base64 of its little-endian bytes.
pub(crate) fn crc64_b64(crc: u64) -> String {
    B64.encode(crc.to_le_bytes())
}

/// A CRC64 from its header form.
pub(crate) fn crc64_from_b64(value: &str) -> Option<u64> {
    let raw = B64.decode(value.trim()).ok()?;
    Some(u64::from_le_bytes(raw.try_into().ok()?))
}

/// The CRC64 a service answer carries.
pub(crate) fn answered_crc64(h: &HeaderMap) -> Option<u64> {
    crc64_from_b64(h.get(CRC64_HEADER)?.to_str().ok()?)
}

/// The value of [`META_HEADER`] for a blob of `size` bytes whose CRC32C is `crc`.
pub(crate) fn stored_value(crc: u32, size: u64) -> String {
    format!("{crc:08x}:{size}")
}

/// The CRC32C in a [`META_NAME`] value, when the value describes `size` bytes.
fn parse_stored(value: &str, size: u64) -> Option<u32> {
    let (crc, len) = value.trim().split_once(':')?;
    let crc = u32::from_str_radix(crc, 16).ok().filter(|_| crc.len() == 8)?;
    (len.parse::<u64>().ok()? == size).then_some(crc)
}

/// The whole blob's CRC32C from the headers of a HEAD or whole GET of a blob of `size`
/// bytes (`None` without one, or when it describes another size).
pub(crate) fn stored_crc32c(h: &HeaderMap, size: u64) -> Option<u32> {
    parse_stored(h.get(META_HEADER)?.to_str().ok()?, size)
}

/// Removes the entry from listed metadata; the CRC32C it held for `size` bytes.
pub(crate) fn take_stored(metadata: &mut BTreeMap<String, String>, size: u64) -> Option<u32> {
    parse_stored(&metadata.remove(META_NAME)?, size)
}

/// Refuses user metadata named like the driver's entry.
pub(crate) fn check_user_metadata(metadata: &BTreeMap<String, String>) -> Result<()> {
    if metadata.keys().any(|k| k.eq_ignore_ascii_case(META_NAME)) {
        return Err(Error::new(
            ErrorKind::Config,
            format!("the metadata name {META_NAME:?} is the Azure driver's own (the whole blob's CRC32C)"),
        )
        .with_driver(NAME)
        .with_hint("name the entry otherwise"));
    }
    Ok(())
}

/// The whole object's CRC32C from its parts' (in part-number order), when every part
/// carries one.
pub(crate) fn combined(parts: &[CompletedPart]) -> Option<u32> {
    let mut sorted: Vec<&CompletedPart> = parts.iter().collect();
    sorted.sort_by_key(|p| p.part_number);
    sorted.into_iter().try_fold(0u32, |whole, p| {
        let crc = p.checksum.as_ref().filter(|c| c.algorithm == HashAlgorithm::Crc32c)?.crc32c_value()?;
        Some(crc32c_combine(whole, crc, p.size))
    })
}

/// What a body is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expected {
    /// The whole blob's CRC32C (kept in its metadata).
    Crc32c(u32),
    /// The whole blob's MD5 (hex), for blobs written without the CRC32C.
    Md5(String),
    /// The CRC64 of a range, as the service computed it.
    Crc64(u64),
}

enum Running {
    Crc32c(u32),
    Md5(Md5Hasher),
    Crc64(Box<Digest>),
}

impl Running {
    fn for_expected(e: &Expected) -> Self {
        match e {
            Expected::Crc32c(_) => Running::Crc32c(0),
            Expected::Md5(_) => Running::Md5(Md5Hasher::new()),
            Expected::Crc64(_) => Running::Crc64(Box::new(Digest::new(CrcAlgorithm::Crc64Nvme))),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Running::Crc32c(c) => *c = crc32c_update(*c, data),
            Running::Md5(h) => h.update(data),
            Running::Crc64(d) => d.update(data),
        }
    }

    /// `None` when the data matches `want`, else what the data has and what was expected.
    fn mismatch(self, want: &Expected) -> Option<String> {
        match (self, want) {
            (Running::Crc32c(got), Expected::Crc32c(w)) => {
                (got != *w).then(|| format!("CRC32C {got:08x}, but the blob's {META_NAME} metadata says {w:08x}"))
            }
            (Running::Md5(h), Expected::Md5(w)) => {
                let got = h.finish_hex();
                (!got.eq_ignore_ascii_case(w)).then(|| format!("MD5 {got}, but the blob's Content-MD5 is {w}"))
            }
            (Running::Crc64(d), Expected::Crc64(w)) => {
                let got = d.finalize();
                (got != *w).then(|| format!("CRC64 {got:016x}, but the service computed {w:016x} for the range"))
            }
            _ => Some("a checksum of another kind (a bug)".into()),
        }
    }
}

/// A GET body checked as it streams: after the last chunk it yields an
/// `ObjectHashMismatch` error instead of ending when the bytes differ from what was
/// expected. Resumed bodies are the same bytes in order, so the check holds across
/// resumes.
pub(crate) struct CheckedBody {
    running: Running,
    want: Expected,
}

impl CheckedBody {
    /// `inner`, checked against `want`; `container`/`key` name the blob in the error.
    pub(crate) fn wrap(inner: ByteStream, want: Expected, container: &str, key: &str) -> ByteStream {
        let running = Running::for_expected(&want);
        let (c, k) = (container.to_owned(), key.to_owned());
        checked_body(inner, CheckedBody { running, want }, move |why| {
            mismatch(format!("the downloaded data has {why}")).with_object(&c, &k)
        })
    }
}

impl BodyCheck for CheckedBody {
    fn update(&mut self, chunk: &[u8]) {
        self.running.update(chunk);
    }

    fn mismatch(self) -> Option<String> {
        self.running.mismatch(&self.want)
    }
}

/// The error for data whose checksum is not the one expected.
pub(crate) fn mismatch(message: String) -> Error {
    Error::new(ErrorKind::ObjectHashMismatch, message)
        .with_driver(NAME)
        .with_hint("the data was damaged between the service and this process, or stored damaged; retry the transfer")
}

/// What a [`Tap`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TapFor {
    /// The MD5 (a streamed Put Blob, compared with the MD5 the service answers).
    Md5,
    /// The CRC64 and the CRC32C (a streamed Put Block: the CRC64 compared with the one
    /// the service answers, the CRC32C kept for the whole blob's).
    Crcs,
    /// The CRC32C only (a streamed Put Block whose caller gave its MD5).
    Crc32c,
}

#[derive(Default)]
struct TapState {
    md5: Option<Md5Hasher>,
    crc64: Option<Digest>,
    crc32c: Option<u32>,
    len: u64,
}

/// The checksums of a request body, computed as the request reads it (a stream sent
/// before its checksum can be known).
#[derive(Clone)]
pub(crate) struct Tap(Arc<Mutex<TapState>>);

/// What a [`Tap`] saw.
pub(crate) struct Tapped {
    pub(crate) md5: Option<String>,
    pub(crate) crc64: Option<u64>,
    pub(crate) crc32c: Option<u32>,
    pub(crate) len: u64,
}

impl Tap {
    /// `stream`, tapped for `what`.
    pub(crate) fn wrap(stream: ByteStream, what: TapFor) -> (ByteStream, Tap) {
        let state = TapState {
            md5: (what == TapFor::Md5).then(Md5Hasher::new),
            crc64: (what == TapFor::Crcs).then(|| Digest::new(CrcAlgorithm::Crc64Nvme)),
            crc32c: (what != TapFor::Md5).then_some(0),
            len: 0,
        };
        let tap = Tap(Arc::new(Mutex::new(state)));
        let inner = tap.clone();
        let stream = stream
            .inspect(move |chunk| {
                if let Ok(c) = chunk {
                    let mut s = inner.0.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some(h) = s.md5.as_mut() {
                        h.update(c);
                    }
                    if let Some(d) = s.crc64.as_mut() {
                        d.update(c);
                    }
                    if let Some(crc) = s.crc32c.as_mut() {
                        *crc = crc32c_update(*crc, c);
                    }
                    s.len += c.len() as u64;
                }
            })
            .boxed();
        (stream, tap)
    }

    /// What went through.
    pub(crate) fn finish(&self) -> Tapped {
        let mut s = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let s = std::mem::take(&mut *s);
        Tapped {
            md5: s.md5.map(Md5Hasher::finish_hex),
            crc64: s.crc64.map(|d| d.finalize()),
            crc32c: s.crc32c,
            len: s.len,
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use storage_core::ObjectHash;
    use storage_core::kit::crc32c;

    use super::*;

    /// CRC-64/NVME bit by bit, from its definition.
    fn bitwise(data: &[u8]) -> u64 {
        let mut crc = !0u64;
        for &b in data {
            crc ^= u64::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0x9A6C_9329_AC4B_C9B5 } else { crc >> 1 };
            }
        }
        !crc
    }

    #[test]
    fn crc64_matches_the_azure_sdk_vectors() {
        // StorageCrc64CalculatorTests of azure-sdk-for-java (computed with initial 0).
        assert_eq!(crc64(b""), 0);
        assert_eq!(crc64(b"Hello World!"), 208_604_604_655_264_165);
        assert_eq!(crc64(b"123456789!@#$%^&*()"), 2_153_758_901_452_455_624);
        let long = b"This is a test where the data is longer than 64 characters so that we can test that code path.";
        assert_eq!(crc64(long), 2_736_107_658_526_394_369);
        assert_eq!(crc64(&hex::decode("C8E11B40D793D1526018").unwrap()), 3_386_042_136_331_673_945);
        // CRC-64/NVME's check value.
        assert_eq!(crc64(b"123456789"), 0xAE8B_1486_0A79_9888);
        let data: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
        for len in [1, 7, 8, 15, 16, 63, 64, 65, 255, 256, 4095, 4096, 65_537, 300_000] {
            assert_eq!(crc64(&data[..len]), bitwise(&data[..len]), "length {len}");
            assert_eq!(crc64_and_crc32c(&data[..len]), (bitwise(&data[..len]), crc32c(&data[..len])), "{len}");
        }
    }

    #[test]
    fn header_and_metadata_forms_round_trip() {
        // Little-endian bytes: the form Azurite computes and Azure's SDKs send.
        assert_eq!(crc64_b64(0xAE8B_1486_0A79_9888), B64.encode([0x88, 0x98, 0x79, 0x0A, 0x86, 0x14, 0x8B, 0xAE]));
        assert_eq!(crc64_from_b64(&crc64_b64(42)), Some(42));
        assert_eq!(crc64_from_b64("AAAA"), None);
        assert_eq!(stored_value(0xE306_9283, 9), "e3069283:9");
        assert_eq!(parse_stored("e3069283:9", 9), Some(0xE306_9283));
        assert_eq!(parse_stored("e3069283:9", 10), None, "another size: stale, ignored");
        assert_eq!(parse_stored("e306928:9", 9), None);
        assert_eq!(parse_stored("nonsense", 9), None);
        let mut meta: BTreeMap<String, String> =
            [("owner".to_owned(), "me".to_owned()), (META_NAME.to_owned(), "e3069283:9".to_owned())].into();
        assert_eq!(take_stored(&mut meta, 9), Some(0xE306_9283));
        assert_eq!(meta.len(), 1);
        assert!(check_user_metadata(&meta).is_ok());
        meta.insert("Storage_CRC32C".into(), "x".into());
        assert_eq!(check_user_metadata(&meta).unwrap_err().kind(), ErrorKind::Config);
    }

    #[test]
    fn parts_combine_into_the_whole_crc32c() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        let part = |n: u32, r: std::ops::Range<usize>| CompletedPart {
            checksum: Some(ObjectHash::crc32c(crc32c(&data[r.clone()]))),
            ..CompletedPart::new(n, "e", r.len() as u64)
        };
        let parts = [part(2, 4000..9000), part(1, 0..4000), part(3, 9000..10_000)];
        assert_eq!(combined(&parts), Some(crc32c(&data)));
        assert_eq!(combined(&[part(1, 0..4000), CompletedPart::new(2, "e", 6000)]), None);
    }

    #[tokio::test]
    async fn bodies_that_differ_from_what_was_expected_end_in_an_error() {
        let chunks = || futures::stream::iter([Ok(Bytes::from_static(b"1234")), Ok(Bytes::from_static(b"56789"))]);
        let data = b"123456789";
        for (good, bad) in [
            (Expected::Crc32c(crc32c(data)), Expected::Crc32c(crc32c(data) ^ 1)),
            (Expected::Md5(storage_core::kit::md5_hex(data)), Expected::Md5(storage_core::kit::md5_hex(b"x"))),
            (Expected::Crc64(crc64(data)), Expected::Crc64(crc64(data) ^ 1)),
        ] {
            let ok: Vec<_> = CheckedBody::wrap(chunks().boxed(), good, "c", "k").collect().await;
            assert!(ok.len() == 2 && ok.iter().all(Result::is_ok));
            let failed: Vec<_> = CheckedBody::wrap(chunks().boxed(), bad, "c", "k").collect().await;
            assert_eq!(failed.len(), 3);
            assert_eq!(failed[2].as_ref().unwrap_err().kind(), ErrorKind::ObjectHashMismatch);
        }
    }

    #[tokio::test]
    async fn a_tap_sees_what_the_request_reads() {
        let chunks = futures::stream::iter([Ok(Bytes::from_static(b"1234")), Ok(Bytes::from_static(b"56789"))]);
        let (stream, tap) = Tap::wrap(chunks.boxed(), TapFor::Crcs);
        let _: Vec<_> = stream.collect().await;
        let seen = tap.finish();
        assert_eq!(
            (seen.crc64, seen.crc32c, seen.md5, seen.len),
            (Some(crc64(b"123456789")), Some(0xE306_9283), None, 9)
        );
        let (stream, tap) = Tap::wrap(futures::stream::iter([Ok(Bytes::from_static(b"abc"))]).boxed(), TapFor::Md5);
        let _: Vec<_> = stream.collect().await;
        assert_eq!(tap.finish().md5.as_deref(), Some("900150983cd24fb0d6963f7d28e17f72"));
    }
}
