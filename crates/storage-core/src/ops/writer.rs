//! [`ObjectWriter`]: an object being written, as a tokio `AsyncWrite`, fed to the
//! transfer engine's stream upload (one `put_object` for a small object, a concurrent
//! multipart upload otherwise) running in a background task. The engine reads the
//! writer's data through a channel whose end is explicit: only `shutdown` ends the data;
//! a writer dropped without it fails the upload, so the engine aborts it and nothing
//! becomes visible.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use futures::channel::mpsc;
use futures::stream::StreamExt;
use tokio::io::AsyncWrite;
use tokio::task::JoinHandle;

use super::io_error;
use super::transfer::TransferOptions;
use super::upload::{self, Source, UploadJob};
use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};
use crate::object::Object;
use crate::options::PutOptions;

/// How an [`ObjectWriter`] writes the object: its options (content type, metadata, put
/// mode...) and the transfer settings (part size, parts in flight, the threshold under
/// which one `put_object` is sent, verification, progress).
///
/// Memory: a writer holds at most `part_size x (concurrency + 3)` bytes: the parts in
/// flight, the one being cut, the one handed over and the one being filled.
///
/// ```
/// use storage_core::{PutOptions, TransferOptions, WriterOptions};
///
/// let options = WriterOptions {
///     put: PutOptions { content_type: Some("text/csv".into()), ..PutOptions::default() },
///     transfer: TransferOptions { part_size: 16 << 20, ..TransferOptions::default() },
/// };
/// assert_eq!(options.transfer.concurrency, 8);
/// ```
#[derive(Debug, Clone, Default)]
pub struct WriterOptions {
    /// Content type, metadata, put mode... of the object. Without a content type, one is
    /// guessed from the key where the driver stores it (as the uploads do).
    pub put: PutOptions,
    /// Part size, concurrency, single-request threshold, verification and progress, as
    /// for [`crate::Transfer::upload_stream`].
    pub transfer: TransferOptions,
}

impl WriterOptions {
    /// The default transfer settings with these put options.
    pub fn put(put: PutOptions) -> Self {
        WriterOptions { put, transfer: TransferOptions::default() }
    }
}

/// What the writer hands to the engine: data, then an explicit end.
enum Message {
    Data(Bytes),
    End,
}

/// The end of the data of a writer dropped without `shutdown`: the engine fails, and
/// aborts what it started.
fn abandoned() -> Error {
    Error::new(ErrorKind::Io, "the object writer was dropped without shutdown; the upload was abandoned")
}

/// Where the writer is in its life.
#[derive(Debug)]
enum State {
    /// Accepting writes.
    Open,
    /// `shutdown` sent the end; waiting for the engine.
    Ending,
    /// The object was written.
    Done(Box<Object>),
    /// A failure: every later call reports it.
    Failed { kind: ErrorKind, message: String },
}

/// An object opened for writing, as a tokio [`AsyncWrite`] (obstore `open_writer`,
/// object_store `BufWriter`).
///
/// - Written bytes are gathered into parts and handed to the transfer engine's stream
///   upload, which runs in a background task: an object that ends within
///   `single_put_threshold` (16 MiB by default) is written with one `put_object` at
///   `shutdown`; a larger one with a multipart upload, `concurrency` parts in flight
///   while more is written, each part checked, the whole object checked at the end.
/// - Nothing is visible under the key until [`shutdown`](tokio::io::AsyncWriteExt::shutdown)
///   returns `Ok` (an existing object stays as it was until then); then
///   [`ObjectWriter::object`] describes what was written. `flush` hands the gathered
///   bytes to the engine but makes nothing visible. An empty writer writes an empty
///   object.
/// - Dropped without a successful `shutdown` (or after a failure), the upload is
///   abandoned: the background task sees the data end without its end mark and aborts
///   the multipart upload, if one was started, on the runtime the writer was opened in;
///   [`ObjectWriter::abort`] does the same and waits for it. If that runtime is shut down
///   before the abort is sent, the abort is attempted from the task's destructor on
///   whatever runtime is current, and otherwise only logged (a warning naming the
///   upload): the unfinished upload then stays until it is removed with
///   `abort_multipart` (`list_multipart_uploads` finds it; `storage cleanup` does both).
///   No data of an abandoned writer is ever made visible. A writer dropped while its
///   `shutdown` is in progress cancels the upload like a dropped upload future: the
///   multipart upload is aborted, but a request already sent (the `put_object` or the
///   completion) may still take effect.
/// - An error is sticky: once a write, flush or shutdown failed, every later call fails
///   with the same kind and message, and the upload is aborted.
/// - Errors are `std::io::Error`s wrapping the [`Error`]; [`super::storage_error`] gets
///   it back.
///
/// Created by [`super::OpenExt::open_writer`] (or [`ObjectWriter::new`]) inside a tokio
/// runtime.
///
/// ```
/// use std::sync::Arc;
///
/// use storage_core::{Driver, DriverExt, MemoryDriver, OpenExt, WriterOptions};
/// use tokio::io::AsyncWriteExt;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryDriver::new());
/// store.create_container("c").await?;
/// let mut writer = store.open_writer("c", "report.csv", WriterOptions::default())?;
/// writer.write_all(b"a,b\n").await?;
/// writer.write_all(b"1,2\n").await?;
/// assert!(!store.object_exists("c", "report.csv").await?, "nothing visible yet");
/// writer.shutdown().await?;
/// assert_eq!(writer.object().map(|o| o.size), Some(8));
/// assert_eq!(store.get_bytes("c", "report.csv").await?, "a,b\n1,2\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct ObjectWriter {
    tx: Option<mpsc::Sender<Message>>,
    task: Option<JoinHandle<Result<Object>>>,
    /// Bytes gathered for the next hand-over (at most `part_size`).
    staged: BytesMut,
    part_size: usize,
    state: State,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Message::Data(b) => write!(f, "Data({} bytes)", b.len()),
            Message::End => f.write_str("End"),
        }
    }
}

impl ObjectWriter {
    /// Opens `container`/`key` on `driver` for writing. Sends nothing yet: names and
    /// conditions are checked by the backend with the first request (the first part's,
    /// or the `put_object` at `shutdown`). Needs a tokio runtime (a `Config` error
    /// otherwise), which runs the upload.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// use storage_core::{Driver, ErrorKind, MemoryDriver, ObjectWriter, WriterOptions};
    ///
    /// let store: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
    /// // Outside a runtime:
    /// let e = ObjectWriter::new(store, "c", "k", WriterOptions::default()).unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::Config);
    /// ```
    pub fn new(driver: Arc<dyn Driver>, container: &str, key: &str, options: WriterOptions) -> Result<Self> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::new(ErrorKind::Config, "an object writer uploads from a tokio task: open it inside a tokio runtime")
                .or_context(&driver.info().name, Some(container), Some(key))
        })?;
        options
            .put
            .check_extras(driver.info())
            .map_err(|e| e.or_context(&driver.info().name, Some(container), Some(key)))?;
        // Hand-overs of the engine's part size, so it cuts them without copying.
        let part_size = upload::plan_part_size(None, &options.transfer, &driver.info().limits).unwrap_or(8 << 20);
        let part_size = usize::try_from(part_size).unwrap_or(usize::MAX).clamp(1, 64 << 20);
        let (tx, rx) = mpsc::channel::<Message>(0);
        let data = futures::stream::unfold(Some(rx), |rx| async move {
            let mut rx = rx?;
            match rx.next().await {
                Some(Message::Data(bytes)) => Some((Ok(bytes), Some(rx))),
                Some(Message::End) => None,
                None => Some((Err(abandoned()), None)),
            }
        })
        .boxed();
        let (container, key) = (container.to_owned(), key.to_owned());
        let WriterOptions { put, transfer } = options;
        let task = runtime.spawn(async move {
            let job = UploadJob {
                container: &container,
                key: &key,
                options: put,
                transfer: &transfer,
                owner: Some(driver.clone()),
            };
            upload::upload(driver.as_ref(), Source::Stream(data), job).await
        });
        Ok(ObjectWriter { tx: Some(tx), task: Some(task), staged: BytesMut::new(), part_size, state: State::Open })
    }

    /// The object written, once `shutdown` returned `Ok`.
    pub fn object(&self) -> Option<&Object> {
        match &self.state {
            State::Done(object) => Some(object),
            _ => None,
        }
    }

    /// Abandons the write: nothing becomes visible, and a multipart upload already
    /// started is aborted before this returns. `Ok` once the upload is gone (or was
    /// never started); after a successful `shutdown` the object stays and this does
    /// nothing.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// use storage_core::{Driver, DriverExt, MemoryDriver, OpenExt, WriterOptions};
    /// use tokio::io::AsyncWriteExt;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let store = Arc::new(MemoryDriver::new());
    /// store.create_container("c").await?;
    /// let mut writer = store.open_writer("c", "k", WriterOptions::default())?;
    /// writer.write_all(b"never mind").await?;
    /// writer.abort().await?;
    /// assert!(!store.object_exists("c", "k").await?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn abort(mut self) -> Result<()> {
        if matches!(self.state, State::Done(_)) {
            return Ok(());
        }
        self.tx = None;
        let Some(task) = self.task.take() else { return Ok(()) };
        match task.await {
            // The engine saw the data end without its end mark and gave up (aborting).
            Ok(Err(_)) => Ok(()),
            Ok(Ok(object)) => Err(Error::new(
                ErrorKind::Io,
                format!("the upload completed before it could be abandoned ({} bytes written)", object.size),
            )),
            Err(e) if e.is_cancelled() => Ok(()),
            Err(e) => Err(Error::new(ErrorKind::Io, format!("the upload task failed: {e}"))),
        }
    }

    /// Records a failure (sticky) and returns it as an I/O error; the upload is abandoned.
    fn fail(&mut self, e: Error) -> std::io::Error {
        self.state = State::Failed { kind: e.kind(), message: e.message().to_owned() };
        self.tx = None;
        self.staged = BytesMut::new();
        io_error(e)
    }

    /// The failure again, for a call after it, or an error for a call after shutdown.
    fn check_open(&self) -> std::io::Result<()> {
        match &self.state {
            State::Open => Ok(()),
            State::Failed { kind, message } => Err(io_error(Error::new(*kind, message.clone()))),
            State::Ending | State::Done(_) => {
                Err(io_error(Error::new(ErrorKind::Io, "the object writer was shut down: it takes no more data")))
            }
        }
    }

    /// The engine stopped taking data: its task's error (or a description of the stop).
    fn poll_engine_error(&mut self, cx: &mut Context<'_>) -> Poll<Error> {
        let Some(task) = self.task.as_mut() else {
            return Poll::Ready(Error::new(ErrorKind::Io, "the upload task is gone"));
        };
        let joined = ready!(Pin::new(task).poll(cx));
        self.task = None;
        Poll::Ready(match joined {
            Ok(Err(e)) => e,
            Ok(Ok(_)) => Error::new(ErrorKind::Io, "the upload ended before the data did (a bug)"),
            Err(e) => Error::new(ErrorKind::Io, format!("the upload task failed: {e}")),
        })
    }

    /// Sends `message` to the engine once it has room.
    fn poll_send(&mut self, cx: &mut Context<'_>, message: impl FnOnce(&mut Self) -> Message) -> Poll<Result<()>> {
        let Some(tx) = self.tx.as_mut() else {
            return Poll::Ready(Err(Error::new(ErrorKind::Io, "the object writer is closed")));
        };
        let sent = match ready!(tx.poll_ready(cx)) {
            Ok(()) => {
                let message = message(self);
                self.tx.as_mut().map(|tx| tx.start_send(message))
            }
            Err(e) => Some(Err(e)),
        };
        match sent {
            Some(Ok(())) => Poll::Ready(Ok(())),
            // The engine dropped its end: it failed; its error says why.
            _ => Poll::Ready(Err(ready!(self.poll_engine_error(cx)))),
        }
    }

    /// Hands the staged bytes to the engine.
    fn poll_hand_over(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if self.staged.is_empty() {
            return Poll::Ready(Ok(()));
        }
        self.poll_send(cx, |this| Message::Data(this.staged.split().freeze()))
    }
}

impl Drop for ObjectWriter {
    /// Before `shutdown`, dropping the sender ends the data without its end mark: the
    /// engine fails and aborts what it started. During `shutdown` the end mark is sent,
    /// so the upload task itself is cancelled (its abort guard aborts the multipart
    /// upload from a spawned task).
    fn drop(&mut self) {
        if let (State::Ending, Some(task)) = (&self.state, &self.task) {
            task.abort();
        }
    }
}

impl AsyncWrite for ObjectWriter {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        this.check_open()?;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.staged.len() >= this.part_size
            && let Err(e) = ready!(this.poll_hand_over(cx))
        {
            return Poll::Ready(Err(this.fail(e)));
        }
        if this.staged.capacity() == 0 {
            this.staged.reserve(this.part_size);
        }
        let n = buf.len().min(this.part_size - this.staged.len());
        this.staged.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        match &this.state {
            State::Ending | State::Done(_) => return Poll::Ready(Ok(())),
            _ => this.check_open()?,
        }
        match ready!(this.poll_hand_over(cx)) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(this.fail(e))),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if let State::Open = this.state {
            let sent = match ready!(this.poll_hand_over(cx)) {
                Ok(()) => ready!(this.poll_send(cx, |_| Message::End)),
                Err(e) => Err(e),
            };
            if let Err(e) = sent {
                return Poll::Ready(Err(this.fail(e)));
            }
            this.tx = None;
            this.state = State::Ending;
        }
        match &this.state {
            State::Done(_) => return Poll::Ready(Ok(())),
            State::Failed { .. } => return Poll::Ready(this.check_open()),
            State::Open | State::Ending => {}
        }
        let Some(task) = this.task.as_mut() else {
            return Poll::Ready(Err(this.fail(Error::new(ErrorKind::Io, "the upload task is gone"))));
        };
        let joined = ready!(Pin::new(task).poll(cx));
        this.task = None;
        match joined {
            Ok(Ok(object)) => {
                this.state = State::Done(Box::new(object));
                Poll::Ready(Ok(()))
            }
            Ok(Err(e)) => Poll::Ready(Err(this.fail(e))),
            Err(e) => Poll::Ready(Err(this.fail(Error::new(ErrorKind::Io, format!("the upload task failed: {e}"))))),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;
    use crate::memory::MemoryDriver;
    use crate::ops::{DriverExt, OpenExt, storage_error};
    use crate::options::PutMode;

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 13 % 251) as u8).collect()
    }

    async fn store() -> Arc<MemoryDriver> {
        let store = Arc::new(MemoryDriver::new());
        store.create_container("c").await.unwrap();
        store
    }

    fn small_parts(part: u64) -> WriterOptions {
        let transfer = TransferOptions {
            part_size: part,
            single_put_threshold: part,
            concurrency: 2,
            ..TransferOptions::default()
        };
        WriterOptions { transfer, ..WriterOptions::default() }
    }

    #[tokio::test]
    async fn small_writes_crossing_parts_arrive_whole() {
        let store = store().await;
        let body = data(10_000);
        let mut w = store.open_writer("c", "k", small_parts(1000)).unwrap();
        for piece in body.chunks(37) {
            w.write_all(piece).await.unwrap();
        }
        assert!(!store.object_exists("c", "k").await.unwrap(), "visible before shutdown");
        w.shutdown().await.unwrap();
        assert_eq!(w.object().map(|o| o.size), Some(10_000));
        assert_eq!(store.get_bytes("c", "k").await.unwrap(), body);
        assert!(store.list_multipart_uploads("c", None).await.unwrap().is_empty());
        // Shutdown again: nothing more happens; writes are refused.
        w.shutdown().await.unwrap();
        assert!(w.write_all(b"x").await.is_err());
    }

    #[tokio::test]
    async fn empty_and_small_writers_use_one_put() {
        let store = store().await;
        let mut w = store.open_writer("c", "empty", WriterOptions::default()).unwrap();
        w.flush().await.unwrap();
        w.shutdown().await.unwrap();
        assert_eq!(store.get_bytes("c", "empty").await.unwrap(), "");
        let mut w = store.open_writer("c", "small.json", WriterOptions::default()).unwrap();
        w.write_all(b"{}").await.unwrap();
        w.flush().await.unwrap();
        w.write_all(b"\n").await.unwrap();
        w.shutdown().await.unwrap();
        let o = store.head_object("c", "small.json").await.unwrap();
        assert_eq!(o.size, 3);
        assert_eq!(o.content_type.as_deref(), Some("application/json"));
    }

    #[tokio::test]
    async fn dropped_without_shutdown_leaves_nothing() {
        let store = store().await;
        store.put_object("c", "k", "old".into(), &PutOptions::default()).await.unwrap();
        let mut w = store.open_writer("c", "k", small_parts(100)).unwrap();
        w.write_all(&data(5000)).await.unwrap();
        w.flush().await.unwrap();
        // Let the engine start the multipart upload.
        for _ in 0..50 {
            if !store.list_multipart_uploads("c", None).await.unwrap().is_empty() {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(store.list_multipart_uploads("c", None).await.unwrap().len(), 1);
        drop(w);
        let mut left = usize::MAX;
        for _ in 0..200 {
            left = store.list_multipart_uploads("c", None).await.unwrap().len();
            if left == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(left, 0, "the multipart upload was not aborted");
        assert_eq!(store.get_bytes("c", "k").await.unwrap(), "old");
        // A small writer dropped: nothing either.
        let mut w = store.open_writer("c", "small", WriterOptions::default()).unwrap();
        w.write_all(b"abc").await.unwrap();
        drop(w);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!store.object_exists("c", "small").await.unwrap());
    }

    #[tokio::test]
    async fn abort_waits_for_the_abort() {
        let store = store().await;
        let mut w = store.open_writer("c", "k", small_parts(100)).unwrap();
        w.write_all(&data(1000)).await.unwrap();
        w.abort().await.unwrap();
        assert!(store.list_multipart_uploads("c", None).await.unwrap().is_empty());
        assert!(!store.object_exists("c", "k").await.unwrap());
    }

    #[tokio::test]
    async fn errors_are_sticky() {
        let store = store().await;
        store.put_object("c", "k", "old".into(), &PutOptions::default()).await.unwrap();
        let put = PutOptions { mode: PutMode::CreateIfAbsent, ..PutOptions::default() };
        let mut w = store.open_writer("c", "k", WriterOptions::put(put)).unwrap();
        w.write_all(b"new").await.unwrap();
        let e = w.shutdown().await.unwrap_err();
        assert_eq!(storage_error(&e).map(Error::kind), Some(ErrorKind::PreconditionFailed), "{e}");
        let again = w.shutdown().await.unwrap_err();
        assert_eq!(storage_error(&again).map(Error::kind), Some(ErrorKind::PreconditionFailed));
        let write = w.write(b"x").await.unwrap_err();
        assert_eq!(storage_error(&write).map(Error::kind), Some(ErrorKind::PreconditionFailed));
        assert_eq!(store.get_bytes("c", "k").await.unwrap(), "old");
        assert!(w.object().is_none());
    }

    #[tokio::test]
    async fn a_failing_multipart_upload_fails_the_writes() {
        let store = store().await;
        // No such container: the engine fails on its first request.
        let mut w = store.open_writer("nope", "k", small_parts(10)).unwrap();
        let mut failed = None;
        for _ in 0..100 {
            if let Err(e) = w.write_all(&data(100)).await {
                failed = Some(e);
                break;
            }
        }
        let e = failed.expect("the writes fail once the engine does");
        assert_eq!(storage_error(&e).map(Error::kind), Some(ErrorKind::ContainerDoesNotExist), "{e}");
        assert!(w.shutdown().await.is_err());
    }

    #[tokio::test]
    async fn options_reach_the_object() {
        let store = store().await;
        let mut put = PutOptions { content_type: Some("text/x-custom".into()), ..PutOptions::default() };
        put.metadata.insert("owner".into(), "me".into());
        let mut w = store.open_writer("c", "k.txt", WriterOptions::put(put)).unwrap();
        w.write_all(b"hello").await.unwrap();
        w.shutdown().await.unwrap();
        let o = store.head_object("c", "k.txt").await.unwrap();
        assert_eq!(o.content_type.as_deref(), Some("text/x-custom"));
        assert_eq!(o.metadata.get("owner").map(String::as_str), Some("me"));
    }
}
