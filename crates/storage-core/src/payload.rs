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
    /// Collects the body into memory, checking its length against `range`.
    pub async fn bytes(mut self) -> Result<Bytes> {
        let expected = self.range.end - self.range.start;
        let mut buf = BytesMut::with_capacity(expected.min(64 << 20) as usize);
        while let Some(chunk) = self.body.next().await {
            buf.extend_from_slice(&chunk?);
        }
        check_length(Some(expected), buf.len() as u64)?;
        Ok(buf.freeze())
    }
}
