//! A member's content as a stream that ends only once it is verified, for uploads fed
//! from an archive (copying a member to any backend).

use std::sync::Arc;

use bytes::BytesMut;
use futures::StreamExt;
use tokio::io::AsyncReadExt;
use tokio::task::JoinHandle;

use super::{ZipEntry, ZipLimits, extract_with};
use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};
use crate::payload::ByteStream;

/// What the extraction may hold unread: a bound on memory whatever the member's size.
const PIPE: usize = 1 << 20;

/// The size of the chunks handed on (the last may be shorter).
const CHUNK: usize = 256 << 10;

/// The content of `entry` (from [`super::list`]) of the archive `key`, as a stream of
/// chunks that ends only after the member's size and CRC-32 were checked: a member that
/// fails the check (or the archive read) ends the stream with that error instead of its
/// end, so an upload fed from it ([`crate::Transfer::upload_stream`], a `put_object` of
/// a [`crate::Payload::stream`]) fails and commits nothing. Memory stays bounded (1 MiB
/// in flight); the extraction runs as a task, stopped when the stream is dropped.
pub fn member_stream(driver: Arc<dyn Driver>, container: &str, key: &str, entry: &ZipEntry) -> ByteStream {
    member_stream_with(driver, container, key, entry, ZipLimits::default())
}

/// [`member_stream`] with explicit limits.
pub fn member_stream_with(
    driver: Arc<dyn Driver>,
    container: &str,
    key: &str,
    entry: &ZipEntry,
    limits: ZipLimits,
) -> ByteStream {
    let (mut writer, reader) = tokio::io::duplex(PIPE);
    let (container, key, entry) = (container.to_owned(), key.to_owned(), entry.clone());
    // The writer half is dropped when the extraction ends, which is the reader's end of
    // data; the verdict is read only then.
    let task = tokio::spawn(async move {
        let written = extract_with(driver.as_ref(), &container, &key, &entry, &mut writer, &limits).await;
        drop(writer);
        written
    });
    let state = Some((reader, Verdict(task), false));
    futures::stream::unfold(state, |state| async move {
        let (mut reader, verdict, ended) = state?;
        if !ended {
            // Chunks of up to CHUNK bytes, whatever sizes the extraction writes.
            let mut buf = BytesMut::with_capacity(CHUNK);
            let mut ended = false;
            while buf.len() < CHUNK {
                match reader.read_buf(&mut buf).await {
                    Ok(0) => {
                        ended = true;
                        break;
                    }
                    Ok(_) => {}
                    Err(e) => return Some((Err(Error::io("reading an archive member's extracted data", e)), None)),
                }
            }
            if !buf.is_empty() {
                return Some((Ok(buf.freeze()), Some((reader, verdict, ended))));
            }
        }
        match verdict.take().await {
            Ok(()) => None,
            Err(e) => Some((Err(e), None)),
        }
    })
    .boxed()
}

/// The extraction task; aborted if the stream is dropped before its end.
struct Verdict(JoinHandle<Result<u64>>);

impl Verdict {
    /// The extraction's outcome.
    async fn take(mut self) -> Result<()> {
        match (&mut self.0).await {
            Ok(written) => written.map(|_| ()),
            Err(e) => Err(Error::new(ErrorKind::Io, format!("extracting the archive member stopped: {e}"))),
        }
    }
}

impl Drop for Verdict {
    fn drop(&mut self) {
        self.0.abort();
    }
}
