//! Request bodies ([`Payload`]) and response bodies ([`ByteStream`], [`GetResult`]).

use std::ops::Range;

use bytes::{Bytes, BytesMut};
use futures::stream::{BoxStream, StreamExt};

use crate::error::{Error, ErrorKind, Result};
use crate::object::Object;

/// A stream of chunks of an object's data.
pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// The data of a write: bytes in memory, or a stream with or without a known length.
pub enum Payload {
    /// All the data, in memory (cheap to clone and to replay).
    Bytes(Bytes),
    /// Data arriving as a stream.
    Stream {
        /// The chunks.
        stream: ByteStream,
        /// The total length, when known in advance.
        length: Option<u64>,
    },
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Payload::Bytes(b) => write!(f, "Payload::Bytes({} bytes)", b.len()),
            Payload::Stream { length, .. } => write!(f, "Payload::Stream(length={length:?})"),
        }
    }
}

impl Payload {
    /// A stream payload.
    pub fn stream(stream: ByteStream, length: Option<u64>) -> Self {
        Payload::Stream { stream, length }
    }

    /// The length, when known.
    pub fn length(&self) -> Option<u64> {
        match self {
            Payload::Bytes(b) => Some(b.len() as u64),
            Payload::Stream { length, .. } => *length,
        }
    }

    /// Collects the whole payload into memory. A stream whose length differs from the
    /// announced one is an `Io` error.
    pub async fn into_bytes(self) -> Result<Bytes> {
        match self {
            Payload::Bytes(b) => Ok(b),
            Payload::Stream { mut stream, length } => {
                let mut buf = BytesMut::with_capacity(length.unwrap_or(0).min(64 << 20) as usize);
                while let Some(chunk) = stream.next().await {
                    buf.extend_from_slice(&chunk?);
                }
                check_length(length, buf.len() as u64)?;
                Ok(buf.freeze())
            }
        }
    }

    /// Turns the payload into a stream.
    pub fn into_stream(self) -> ByteStream {
        match self {
            Payload::Bytes(b) => futures::stream::once(async move { Ok(b) }).boxed(),
            Payload::Stream { stream, .. } => stream,
        }
    }
}

/// Checks a stream delivered as many bytes as announced.
pub fn check_length(expected: Option<u64>, got: u64) -> Result<()> {
    match expected {
        Some(n) if n != got => {
            Err(Error::new(ErrorKind::Io, format!("the data stream ended after {got} bytes but {n} were announced")))
        }
        _ => Ok(()),
    }
}

impl From<Bytes> for Payload {
    fn from(b: Bytes) -> Self {
        Payload::Bytes(b)
    }
}
impl From<Vec<u8>> for Payload {
    fn from(v: Vec<u8>) -> Self {
        Payload::Bytes(Bytes::from(v))
    }
}
impl From<&'static [u8]> for Payload {
    fn from(v: &'static [u8]) -> Self {
        Payload::Bytes(Bytes::from_static(v))
    }
}
impl From<&'static str> for Payload {
    fn from(v: &'static str) -> Self {
        Payload::Bytes(Bytes::from_static(v.as_bytes()))
    }
}
impl From<String> for Payload {
    fn from(v: String) -> Self {
        Payload::Bytes(Bytes::from(v))
    }
}

/// The answer to a GET: the object's metadata, which bytes follow, and the data.
pub struct GetResult {
    /// Metadata of the whole object (its `size` is the full size).
    pub object: Object,
    /// The absolute byte range the body holds (`0..size` for a full read).
    pub range: Range<u64>,
    /// The data.
    pub body: ByteStream,
}

impl std::fmt::Debug for GetResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetResult").field("object", &self.object).field("range", &self.range).finish()
    }
}

impl GetResult {
    /// Collects the body into memory, checking its length against `range`. The stream is
    /// always read to its end (a verifying body reports a mismatch there); a body that
    /// comes as one chunk is returned as it is, without a copy.
    pub async fn bytes(mut self) -> Result<Bytes> {
        let expected = self.range.end - self.range.start;
        let Some(first) = self.body.next().await.transpose()? else {
            check_length(Some(expected), 0)?;
            return Ok(Bytes::new());
        };
        let Some(second) = self.body.next().await.transpose()? else {
            check_length(Some(expected), first.len() as u64)?;
            return Ok(first);
        };
        let mut buf = BytesMut::with_capacity(expected.min(64 << 20) as usize);
        buf.extend_from_slice(&first);
        buf.extend_from_slice(&second);
        while let Some(chunk) = self.body.next().await {
            buf.extend_from_slice(&chunk?);
        }
        check_length(Some(expected), buf.len() as u64)?;
        Ok(buf.freeze())
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn get(chunks: Vec<Result<Bytes>>, size: u64) -> GetResult {
        GetResult { object: Object::new("c", "k", size), range: 0..size, body: futures::stream::iter(chunks).boxed() }
    }

    #[tokio::test]
    async fn bytes_reads_every_chunk_and_every_error() {
        let ok = |s: &'static str| Ok(Bytes::from_static(s.as_bytes()));
        let late = || Err(Error::new(ErrorKind::ObjectHashMismatch, "checksum mismatch"));
        assert_eq!(get(vec![], 0).bytes().await.unwrap(), "");
        assert_eq!(get(vec![ok("abc")], 3).bytes().await.unwrap(), "abc");
        assert_eq!(get(vec![ok("ab"), ok("c"), ok("d")], 4).bytes().await.unwrap(), "abcd");
        // A verifying body reports a mismatch after its last chunk: never lost.
        assert_eq!(get(vec![ok("abc"), late()], 3).bytes().await.unwrap_err().kind(), ErrorKind::ObjectHashMismatch);
        assert_eq!(
            get(vec![ok("a"), ok("b"), late()], 2).bytes().await.unwrap_err().kind(),
            ErrorKind::ObjectHashMismatch
        );
        // Short or long bodies, with one chunk or none.
        for (chunks, size) in [(vec![ok("ab")], 3), (vec![], 1), (vec![ok("abcd")], 3), (vec![ok("a"), ok("b")], 3)] {
            assert_eq!(get(chunks, size).bytes().await.unwrap_err().kind(), ErrorKind::Io);
        }
    }
}
