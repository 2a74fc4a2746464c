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
