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

/// `body`, checked at its end against the CRC32C `want`: when the bytes differ, the
/// stream yields an `ObjectHashMismatch` error (passed through `dress`, which adds the
/// driver and object) instead of ending. For a driver's whole-object reads.
pub fn crc32c_verified(
    body: ByteStream,
    want: u32,
    dress: impl Fn(crate::error::Error) -> crate::error::Error + Send + 'static,
) -> ByteStream {
    let state = (body, 0u32, false);
    stream::unfold((state, dress), move |((mut body, mut got, done), dress)| async move {
        if done {
            return None;
        }
        match body.next().await {
            Some(Ok(chunk)) => {
                got = crate::kit::crc32c_update(got, &chunk);
                Some((Ok(chunk), ((body, got, false), dress)))
            }
            Some(Err(e)) => Some((Err(e), ((body, got, true), dress))),
            None if got == want => None,
            None => Some((Err(dress(crc32c_mismatch(got, want))), ((body, got, true), dress))),
        }
    })
    .boxed()
}

/// The `ObjectHashMismatch` error of data read with CRC32C `got` where `want` was stored
/// (what [`crc32c_verified`] yields; for drivers checking a body they hold whole).
pub fn crc32c_mismatch(got: u32, want: u32) -> crate::error::Error {
    crate::error::Error::new(
        crate::error::ErrorKind::ObjectHashMismatch,
        format!("the data read has CRC32C {got:08x}, but {want:08x} was stored with it"),
    )
}
