//! Bodies as streams.

use bytes::Bytes;
use futures::{StreamExt, stream};

use crate::payload::ByteStream;

/// Splits `data` into a stream of chunks of at most `chunk` bytes (zero-copy).
pub fn chunked_stream(data: Bytes, chunk: usize) -> ByteStream {
    let chunk = chunk.max(1);
    let n = data.len().div_ceil(chunk);
    stream::iter((0..n).map(move |i| Ok(data.slice(i * chunk..((i + 1) * chunk).min(data.len()))))).boxed()
}

/// What a checked body computes as it streams, and judges at its end.
pub trait BodyCheck: Send + 'static {
    /// Feeds the next chunk.
    fn update(&mut self, chunk: &[u8]);
    /// At the end of the body: `None` when the data is what was expected, else what it
    /// has instead, as a phrase (`"CRC32C 1a2b3c4d, but 5e6f7a8b was stored with it"`).
    fn mismatch(self) -> Option<String>;
}

/// A [`BodyCheck`] against a stored [`ObjectHash`](crate::ObjectHash) (MD5 or CRC32C).
#[derive(Debug, Clone)]
pub struct HashCheck {
    hasher: crate::hash::ContentHasher,
    want: String,
}

impl HashCheck {
    /// A check against `want`, or `None` for an algorithm this crate does not compute.
    pub fn new(want: &crate::ObjectHash) -> Option<Self> {
        let hasher = crate::hash::ContentHasher::for_algorithm(want.algorithm)?;
        Some(HashCheck { hasher, want: want.value.clone() })
    }
}

impl BodyCheck for HashCheck {
    fn update(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
    }

    fn mismatch(self) -> Option<String> {
        let name = self.hasher.name();
        let got = self.hasher.finish_hex();
        (!got.eq_ignore_ascii_case(&self.want)).then(|| format!("{name} {got}, but {} was stored with it", self.want))
    }
}

/// `body`, checked as it streams: after its last chunk, when `check` finds the data is
/// not what was expected, the stream yields `fail(what the data has)` (an
/// `ObjectHashMismatch` error naming the driver and object) instead of ending. An error
/// of `body` ends it as it is. For a driver's whole-object reads (and resumed bodies,
/// which are the same bytes in order).
pub fn checked_body<C: BodyCheck>(
    body: ByteStream,
    check: C,
    fail: impl Fn(String) -> crate::error::Error + Send + 'static,
) -> ByteStream {
    stream::unfold((body, Some(check), fail), |(mut body, check, fail)| async move {
        let mut check = check?;
        match body.next().await {
            Some(Ok(chunk)) => {
                check.update(&chunk);
                Some((Ok(chunk), (body, Some(check), fail)))
            }
            Some(Err(e)) => Some((Err(e), (body, None, fail))),
            None => check.mismatch().map(|why| (Err(fail(why)), (body, None, fail))),
        }
    })
    .boxed()
}

/// `body`, checked at its end against the CRC32C `want`: when the bytes differ, the
/// stream yields an `ObjectHashMismatch` error (passed through `dress`, which adds the
/// driver and object) instead of ending. For a driver's whole-object reads.
pub fn crc32c_verified(
    body: ByteStream,
    want: u32,
    dress: impl Fn(crate::error::Error) -> crate::error::Error + Send + 'static,
) -> ByteStream {
    let check = HashCheck { hasher: crate::hash::ContentHasher::Crc32c(0), want: format!("{want:08x}") };
    checked_body(body, check, move |why| {
        dress(crate::error::Error::new(crate::error::ErrorKind::ObjectHashMismatch, format!("the data read has {why}")))
    })
}

/// The `ObjectHashMismatch` error of data read with CRC32C `got` where `want` was stored
/// (what [`crc32c_verified`] yields; for drivers checking a body they hold whole).
pub fn crc32c_mismatch(got: u32, want: u32) -> crate::error::Error {
    crate::error::Error::new(
        crate::error::ErrorKind::ObjectHashMismatch,
        format!("the data read has CRC32C {got:08x}, but {want:08x} was stored with it"),
    )
}
