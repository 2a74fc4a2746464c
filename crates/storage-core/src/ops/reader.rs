//! [`ObjectReader`]: an object as a tokio `AsyncRead + AsyncBufRead + AsyncSeek`, read
//! with ranged GETs of `chunk_size` bytes, the next `read_ahead` chunks fetched in the
//! background while the current one is consumed. Every range is pinned to the ETag of
//! the `head_object` that opened the reader, so a reader never mixes two versions of an
//! object: once the object is replaced, reads fail with `PreconditionFailed`.
//!
//! It is separate from the download engine because a reader moves where its user seeks;
//! it shares the engine's range requests (ETag pinning, resume of a broken body).

use std::collections::VecDeque;
use std::io::SeekFrom;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncBufRead, AsyncRead, AsyncSeek, ReadBuf};
use tokio::task::JoinHandle;

use super::download::{Pinned, RangeReader};
use super::io_error;
use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};
use crate::object::Object;

/// How an [`ObjectReader`] fetches the object.
///
/// Memory: a reader holds at most `chunk_size x (read_ahead + 2)` bytes (the chunk being
/// consumed, the one awaited next and the ones fetched ahead of it).
///
/// ```
/// use storage_core::ReaderOptions;
///
/// let small = ReaderOptions { chunk_size: 1 << 20, read_ahead: 2, ..ReaderOptions::default() };
/// assert_eq!(ReaderOptions::default().chunk_size, 8 << 20);
/// assert_eq!(small.read_ahead, 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderOptions {
    /// Bytes fetched per ranged GET (at least 1; 8 MiB by default).
    pub chunk_size: u64,
    /// Chunks fetched in the background ahead of the one being consumed (1 by default;
    /// 0 fetches only on demand).
    pub read_ahead: usize,
    /// How many times a chunk whose body breaks is resumed from its last received byte
    /// before the read fails (5 by default).
    pub range_retries: u32,
    /// A chunk that receives nothing for this long is treated as broken and resumed.
    /// `None` (the default) relies on the driver's own idle timeout.
    pub stall_timeout: Option<Duration>,
}

impl Default for ReaderOptions {
    /// 8 MiB chunks, one fetched ahead, five resumes per chunk.
    fn default() -> Self {
        ReaderOptions { chunk_size: 8 << 20, read_ahead: 1, range_retries: 5, stall_timeout: None }
    }
}

/// What an object reader tells the user to do when the object changed under it.
const ON_CHANGE: &str = "open a new reader to read the new version";

/// An object opened for reading, as a tokio [`AsyncRead`], [`AsyncBufRead`] and
/// [`AsyncSeek`] (obstore `open_reader`, object_store `BufReader`).
///
/// - The size and ETag come from one `head_object` when it is opened. Every ranged GET
///   carries `If-Match` with that ETag where the driver honours it
///   ([`crate::Capabilities::conditional_get_etag`]), and every response's ETag and size
///   are compared with it: if the object is replaced while it is read, the next chunk
///   fetched fails with [`ErrorKind::PreconditionFailed`] instead of mixing versions
///   (data already buffered is still served; it is the old version's). An object whose
///   head reports no ETag is only checked by size.
/// - Reads fetch `chunk_size` bytes at a time from the current position and keep
///   `read_ahead` chunks in flight in the background (tokio tasks) while the current one
///   is consumed; a body that breaks is resumed from its last received byte.
/// - Seeking works like a `tokio::fs::File`: within the buffered chunk it costs nothing;
///   elsewhere the chunks in flight are dropped and the next read starts a new one. A
///   position past the end is allowed, and reads there return 0 bytes. Seeking before the
///   start is an `InvalidInput` error.
/// - Errors are `std::io::Error`s wrapping the [`Error`]; [`super::storage_error`] gets it
///   back (its kind, its message, the container and key).
/// - An empty object, or one read past its end, sends no GET.
///
/// Created by [`super::OpenExt::open_reader`] (or [`ObjectReader::open`]) inside a tokio
/// runtime, which runs the background fetches (the reader may be polled from anywhere).
///
/// ```
/// use std::io::SeekFrom;
/// use std::sync::Arc;
///
/// use storage_core::{Driver, MemoryDriver, OpenExt, PutOptions, ReaderOptions};
/// use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncSeekExt};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryDriver::new());
/// store.create_container("logs").await?;
/// store.put_object("logs", "app.log", "one\ntwo\nthree\n".into(), &PutOptions::default()).await?;
///
/// let options = ReaderOptions { chunk_size: 4, ..ReaderOptions::default() };
/// let mut reader = store.open_reader("logs", "app.log", options).await?;
/// assert_eq!(reader.size(), 14);
/// let mut line = String::new();
/// reader.read_line(&mut line).await?;
/// assert_eq!(line, "one\n");
///
/// reader.seek(SeekFrom::End(-6)).await?;
/// let mut rest = String::new();
/// reader.read_to_string(&mut rest).await?;
/// assert_eq!(rest, "three\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct ObjectReader {
    driver: Arc<dyn Driver>,
    runtime: tokio::runtime::Handle,
    pinned: Arc<Pinned>,
    object: Object,
    chunk_size: u64,
    read_ahead: usize,
    /// The logical position: where the next read starts (may be past the end).
    pos: u64,
    /// Buffered data: bytes `buf_start..buf_start + buf.len()` of the object.
    buf: Bytes,
    buf_start: u64,
    /// Chunks in flight, consecutive, the first one holding (or starting at) `pos` when
    /// it is being waited for.
    fetches: VecDeque<Fetch>,
}

/// One chunk being fetched by its own task; dropping it stops the task.
#[derive(Debug)]
struct Fetch {
    range: Range<u64>,
    task: JoinHandle<Result<Bytes>>,
}

impl Drop for Fetch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ObjectReader {
    /// Opens `container`/`key` on `driver`: one `head_object` for its size and ETag; no
    /// data is read until the first read. Needs a tokio runtime (a `Config` error
    /// otherwise); a missing object is `ObjectDoesNotExist`.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// use storage_core::{Driver, ErrorKind, MemoryDriver, ObjectReader, ReaderOptions};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let store: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
    /// store.create_container("c").await?;
    /// let missing = ObjectReader::open(store, "c", "nope", ReaderOptions::default()).await;
    /// assert_eq!(missing.unwrap_err().kind(), ErrorKind::ObjectDoesNotExist);
    /// # Ok::<(), storage_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn open(driver: Arc<dyn Driver>, container: &str, key: &str, options: ReaderOptions) -> Result<Self> {
        let context = |e: Error| e.or_context(&driver.info().name, Some(container), Some(key));
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            context(Error::new(
                ErrorKind::Config,
                "an object reader fetches its chunks with tokio tasks: open it inside a tokio runtime",
            ))
        })?;
        let object = driver.head_object(container, key).await.map_err(context)?;
        let pinned = Pinned::new(
            driver.as_ref(),
            container,
            key,
            &object,
            options.range_retries,
            options.stall_timeout,
            ON_CHANGE,
        );
        Ok(ObjectReader {
            pinned: Arc::new(pinned),
            driver,
            runtime,
            object,
            chunk_size: options.chunk_size.max(1),
            read_ahead: options.read_ahead,
            pos: 0,
            buf: Bytes::new(),
            buf_start: 0,
            fetches: VecDeque::new(),
        })
    }

    /// The object as `head_object` described it when the reader was opened.
    pub fn object(&self) -> &Object {
        &self.object
    }

    /// The object's size in bytes.
    pub fn size(&self) -> u64 {
        self.object.size
    }

    /// Where the next read starts (may be past the end after a seek).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The buffered data at `pos`, if `pos` is inside the buffer.
    fn buffered(&self) -> Option<&[u8]> {
        let offset = usize::try_from(self.pos.checked_sub(self.buf_start)?).ok()?;
        self.buf.get(offset..).filter(|rest| !rest.is_empty())
    }

    /// Starts fetching `range`.
    fn spawn(&mut self, range: Range<u64>) {
        let (driver, pinned, r) = (self.driver.clone(), self.pinned.clone(), range.clone());
        let task = self.runtime.spawn(fetch(driver, pinned, r));
        self.fetches.push_back(Fetch { range, task });
    }

    /// The chunk starting at `start`.
    fn chunk_at(&self, start: u64) -> Range<u64> {
        start..start.saturating_add(self.chunk_size).min(self.object.size)
    }

    /// Keeps `read_ahead` chunks in flight after the buffer (and after the one awaited).
    fn read_ahead(&mut self, waiting: bool) {
        let want = self.read_ahead + usize::from(waiting);
        while self.fetches.len() < want {
            let next = self.fetches.back().map_or(self.buf_start + self.buf.len() as u64, |f| f.range.end);
            if next >= self.object.size {
                break;
            }
            self.spawn(self.chunk_at(next));
        }
    }

    fn error(&self, e: Error) -> std::io::Error {
        io_error(e.or_context(&self.driver.info().name, Some(&self.object.container), Some(&self.object.name)))
    }
}

/// Fetches `range` into one buffer.
async fn fetch(driver: Arc<dyn Driver>, pinned: Arc<Pinned>, range: Range<u64>) -> Result<Bytes> {
    let len = usize::try_from(range.end - range.start).unwrap_or(usize::MAX);
    let mut reader = RangeReader::new(pinned, range.clone());
    let mut first: Option<Bytes> = None;
    let mut buf = BytesMut::new();
    while let Some(chunk) = reader.next_chunk(driver.as_ref()).await? {
        match first.take() {
            // One chunk is the common case for a small range: keep it without a copy.
            None if buf.is_empty() => first = Some(chunk),
            held => {
                if buf.is_empty() {
                    buf.reserve(len);
                }
                if let Some(held) = held {
                    buf.extend_from_slice(&held);
                }
                buf.extend_from_slice(&chunk);
            }
        }
    }
    let data = first.unwrap_or_else(|| buf.freeze());
    if data.len() != len {
        return Err(Error::new(ErrorKind::Io, format!("asked for bytes {range:?}, received {} bytes", data.len())));
    }
    Ok(data)
}

impl AsyncBufRead for ObjectReader {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<&[u8]>> {
        let this = self.get_mut();
        if this.pos >= this.object.size {
            return Poll::Ready(Ok(&[]));
        }
        if this.buffered().is_none() {
            // Drop the chunks that do not lead to `pos` (it was passed or seeked away from).
            while let Some(front) = this.fetches.front() {
                if front.range.end <= this.pos {
                    this.fetches.pop_front();
                } else {
                    break;
                }
            }
            if this.fetches.front().is_some_and(|f| f.range.start > this.pos) {
                this.fetches.clear();
            }
            if this.fetches.is_empty() {
                this.spawn(this.chunk_at(this.pos));
            }
            this.read_ahead(true);
            let Some(front) = this.fetches.front_mut() else {
                return Poll::Ready(Err(this.error(Error::new(ErrorKind::Io, "no chunk to read (a bug)"))));
            };
            let joined = ready!(Pin::new(&mut front.task).poll(cx));
            let start = front.range.start;
            this.fetches.pop_front();
            let data = match joined {
                Ok(Ok(data)) => data,
                Ok(Err(e)) => {
                    this.fetches.clear();
                    return Poll::Ready(Err(this.error(e)));
                }
                Err(e) => {
                    this.fetches.clear();
                    let e = Error::new(ErrorKind::Io, format!("a chunk fetching task failed: {e}"));
                    return Poll::Ready(Err(this.error(e)));
                }
            };
            this.buf = data;
            this.buf_start = start;
            this.read_ahead(false);
        }
        Poll::Ready(Ok(this.buffered().unwrap_or_default()))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        this.pos = this.pos.saturating_add(amt as u64);
    }
}

impl AsyncRead for ObjectReader {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if out.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let data = ready!(self.as_mut().poll_fill_buf(cx))?;
        let n = data.len().min(out.remaining());
        out.put_slice(&data[..n]);
        self.consume(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncSeek for ObjectReader {
    fn start_seek(self: Pin<&mut Self>, position: SeekFrom) -> std::io::Result<()> {
        let this = self.get_mut();
        let (base, offset) = match position {
            SeekFrom::Start(n) => {
                this.pos = n;
                return Ok(());
            }
            SeekFrom::End(offset) => (this.object.size, offset),
            SeekFrom::Current(offset) => (this.pos, offset),
        };
        match base.checked_add_signed(offset) {
            Some(pos) => {
                this.pos = pos;
                Ok(())
            }
            None => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("cannot seek to {base} {offset:+}: before the start of the object (or past u64)"),
            )),
        }
    }

    fn poll_complete(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<u64>> {
        Poll::Ready(Ok(self.pos))
    }
}

#[cfg(test)]
mod tests {
    use std::io::SeekFrom;

    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncSeekExt};

    use super::*;
    use crate::memory::MemoryDriver;
    use crate::ops::{OpenExt, storage_error};
    use crate::options::PutOptions;

    fn data(n: usize) -> Bytes {
        (0..n).map(|i| (i * 7 % 251) as u8).collect::<Vec<u8>>().into()
    }

    async fn store(body: Bytes) -> Arc<MemoryDriver> {
        let store = Arc::new(MemoryDriver::new());
        store.create_container("c").await.unwrap();
        store.put_object("c", "k", body.into(), &PutOptions::default()).await.unwrap();
        store
    }

    fn small(chunk: u64, read_ahead: usize) -> ReaderOptions {
        ReaderOptions { chunk_size: chunk, read_ahead, ..ReaderOptions::default() }
    }

    #[tokio::test]
    async fn reads_whole_across_chunks_with_any_read_ahead() {
        let body = data(10_007);
        let store = store(body.clone()).await;
        for (chunk, ahead) in [(1, 0), (7, 1), (1000, 3), (10_007, 1), (1 << 20, 2)] {
            let mut r = store.open_reader("c", "k", small(chunk, ahead)).await.unwrap();
            let mut got = Vec::new();
            r.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, body, "chunk {chunk}, read ahead {ahead}");
            assert_eq!(r.position(), 10_007);
            assert_eq!(r.read(&mut [0u8; 10]).await.unwrap(), 0);
        }
    }

    /// Records the ranges of GETs, forwards everything else.
    #[derive(Debug)]
    struct Gets {
        inner: Arc<MemoryDriver>,
        ranges: std::sync::Mutex<Vec<Option<crate::options::ByteRange>>>,
    }

    #[async_trait::async_trait]
    impl crate::layer::Layer for Gets {
        fn inner(&self) -> &dyn Driver {
            self.inner.as_ref()
        }
        async fn get_object(
            &self,
            container: &str,
            key: &str,
            options: &crate::options::GetOptions,
        ) -> Result<crate::payload::GetResult> {
            self.ranges.lock().unwrap().push(options.range);
            assert!(options.if_match.is_some(), "every GET is pinned");
            self.inner.get_object(container, key, options).await
        }
    }

    impl Gets {
        fn count(&self) -> usize {
            self.ranges.lock().unwrap().len()
        }
    }

    #[tokio::test]
    async fn fetches_one_chunk_ahead_and_never_twice() {
        let body = data(1000);
        let gets = Arc::new(Gets { inner: store(body.clone()).await, ranges: Default::default() });
        let mut r = gets.open_reader("c", "k", small(100, 1)).await.unwrap();
        assert_eq!(gets.count(), 0, "opening reads nothing");
        let mut b = [0u8; 10];
        r.read_exact(&mut b).await.unwrap();
        // The next chunk is fetched in the background while this one is consumed.
        for _ in 0..100 {
            if gets.count() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(gets.count(), 2);
        // Seeking inside the buffered chunk costs nothing.
        r.seek(SeekFrom::Start(50)).await.unwrap();
        r.read_exact(&mut b).await.unwrap();
        r.seek(SeekFrom::Start(0)).await.unwrap();
        let mut all = Vec::new();
        r.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, body);
        let ranges = gets.ranges.lock().unwrap().clone();
        let want: Vec<_> = (0..10).map(|i| Some(crate::options::ByteRange::from(i * 100..i * 100 + 100))).collect();
        assert_eq!(ranges, want, "each chunk fetched once, in order");
    }

    #[tokio::test]
    async fn seeks_like_a_file() {
        let body = data(1000);
        let store = store(body.clone()).await;
        let mut r = store.open_reader("c", "k", small(64, 1)).await.unwrap();
        let mut b = [0u8; 10];
        assert_eq!(r.seek(SeekFrom::Start(500)).await.unwrap(), 500);
        r.read_exact(&mut b).await.unwrap();
        assert_eq!(&b[..], &body[500..510]);
        // Backwards, inside and outside the buffered chunk.
        assert_eq!(r.seek(SeekFrom::Current(-5)).await.unwrap(), 505);
        r.read_exact(&mut b).await.unwrap();
        assert_eq!(&b[..], &body[505..515]);
        assert_eq!(r.seek(SeekFrom::Start(3)).await.unwrap(), 3);
        r.read_exact(&mut b).await.unwrap();
        assert_eq!(&b[..], &body[3..13]);
        assert_eq!(r.seek(SeekFrom::End(-4)).await.unwrap(), 996);
        let mut tail = Vec::new();
        r.read_to_end(&mut tail).await.unwrap();
        assert_eq!(tail, &body[996..]);
        // Past the end: the position is kept, reads return 0; back again reads data.
        assert_eq!(r.seek(SeekFrom::End(100)).await.unwrap(), 1100);
        assert_eq!(r.read(&mut b).await.unwrap(), 0);
        assert_eq!(r.fill_buf().await.unwrap(), b"");
        assert_eq!(r.seek(SeekFrom::Start(999)).await.unwrap(), 999);
        assert_eq!(r.read(&mut b).await.unwrap(), 1);
        assert_eq!(b[0], body[999]);
        // Before the start: refused, the position is unchanged.
        let e = r.seek(SeekFrom::Current(-2000)).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(r.seek(SeekFrom::Current(0)).await.unwrap(), 1000);
        assert!(r.seek(SeekFrom::End(-1001)).await.is_err());
    }

    #[tokio::test]
    async fn buf_read_lines_cross_chunks() {
        let text = "alpha\nbeta\ngamma\n";
        let store = store(Bytes::from_static(text.as_bytes())).await;
        let r = store.open_reader("c", "k", small(3, 1)).await.unwrap();
        let mut lines = r.lines();
        let mut got = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            got.push(line);
        }
        assert_eq!(got, ["alpha", "beta", "gamma"]);
    }

    #[tokio::test]
    async fn empty_object_reads_nothing() {
        let store = store(Bytes::new()).await;
        let mut r = store.open_reader("c", "k", ReaderOptions::default()).await.unwrap();
        assert_eq!(r.size(), 0);
        let mut got = Vec::new();
        assert_eq!(r.read_to_end(&mut got).await.unwrap(), 0);
        assert_eq!(r.seek(SeekFrom::Start(5)).await.unwrap(), 5);
        assert_eq!(r.read(&mut [0u8; 4]).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_replaced_object_fails_with_precondition_failed() {
        let body = data(1000);
        let store = store(body.clone()).await;
        let mut r = store.open_reader("c", "k", small(100, 0)).await.unwrap();
        let mut b = [0u8; 100];
        r.read_exact(&mut b).await.unwrap();
        assert_eq!(&b[..], &body[..100]);
        store.put_object("c", "k", data(1000).slice(1..).into(), &PutOptions::default()).await.unwrap();
        let mut rest = Vec::new();
        let e = r.read_to_end(&mut rest).await.unwrap_err();
        let e = storage_error(&e).expect("a storage error inside");
        assert_eq!(e.kind(), ErrorKind::PreconditionFailed, "{e}");
        assert_eq!(e.key(), Some("k"));
        // Same size, other data: the ETag tells them apart.
        let store = self::store(body.clone()).await;
        let mut r = store.open_reader("c", "k", small(100, 0)).await.unwrap();
        r.read_exact(&mut b).await.unwrap();
        let mut other = body.to_vec();
        other[500] ^= 1;
        store.put_object("c", "k", other.into(), &PutOptions::default()).await.unwrap();
        let e = r.read_to_end(&mut rest).await.unwrap_err();
        assert_eq!(storage_error(&e).map(Error::kind), Some(ErrorKind::PreconditionFailed));
        // Still failing afterwards: it never mixes versions.
        assert!(r.read(&mut b).await.is_err());
    }

    #[tokio::test]
    async fn a_missing_object_fails_to_open() {
        let store = store(Bytes::new()).await;
        let e = store.open_reader("c", "nope", ReaderOptions::default()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ObjectDoesNotExist);
    }

    /// Runs `f` on this thread, outside any runtime, polling until it is ready.
    fn spin<F: Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        loop {
            if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
                return out;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn opening_outside_a_runtime_is_a_config_error() {
        let store: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
        let e = spin(ObjectReader::open(store, "c", "k", ReaderOptions::default()));
        assert_eq!(e.unwrap_err().kind(), ErrorKind::Config);
    }

    #[test]
    fn polled_outside_the_runtime_it_was_opened_in() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
        let body = data(5000);
        let mut r = rt.block_on(async {
            let store = store(body.clone()).await;
            store.open_reader("c", "k", small(512, 2)).await.unwrap()
        });
        let mut got = Vec::new();
        spin(r.read_to_end(&mut got)).unwrap();
        assert_eq!(got, body);
    }
}
