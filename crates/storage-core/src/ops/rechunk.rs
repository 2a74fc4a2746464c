//! Re-cutting a byte stream into fixed-size chunks.

use bytes::{Bytes, BytesMut};
use futures::stream::StreamExt;

use crate::error::Result;
use crate::payload::ByteStream;

/// Reads a [`ByteStream`] in chunks of exactly `size` bytes (the last may be shorter).
/// Holds at most one chunk in memory.
pub struct Rechunker {
    inner: ByteStream,
    size: usize,
    buf: BytesMut,
    done: bool,
}

impl Rechunker {
    /// Wraps `inner`, cutting it into `size`-byte chunks (at least 1).
    pub fn new(inner: ByteStream, size: usize) -> Self {
        Rechunker { inner, size: size.max(1), buf: BytesMut::new(), done: false }
    }

    /// The next chunk, or `None` at the end. An empty stream yields no chunk.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        while !self.done && self.buf.len() < self.size {
            match self.inner.next().await {
                Some(chunk) => {
                    let chunk = chunk?;
                    if self.buf.is_empty() && chunk.len() == self.size {
                        return Ok(Some(chunk));
                    }
                    self.buf.extend_from_slice(&chunk);
                }
                None => self.done = true,
            }
        }
        if self.buf.is_empty() {
            return Ok(None);
        }
        let n = self.size.min(self.buf.len());
        Ok(Some(self.buf.split_to(n).freeze()))
    }

    /// As a stream of chunks.
    pub fn into_stream(self) -> ByteStream {
        futures::stream::unfold(self, |mut r| async move {
            match r.next_chunk().await {
                Ok(Some(c)) => Some((Ok(c), r)),
                Ok(None) => None,
                Err(e) => {
                    r.done = true;
                    r.buf.clear();
                    Some((Err(e), r))
                }
            }
        })
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream;

    #[tokio::test]
    async fn cuts_exact_chunks() {
        let parts: Vec<Result<Bytes>> = vec![Ok(Bytes::from_static(b"abc")), Ok(Bytes::from_static(b"defgh"))];
        let s = Rechunker::new(stream::iter(parts).boxed(), 3).into_stream();
        let out: Vec<Bytes> = s.map(|r| r.unwrap()).collect().await;
        assert_eq!(out, vec![Bytes::from_static(b"abc"), Bytes::from_static(b"def"), Bytes::from_static(b"gh")]);
    }
}
