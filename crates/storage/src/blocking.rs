//! The same operations for programs without an async runtime (as `reqwest::blocking`
//! does for reqwest): a [`BlockingDriver`] runs each call of the async API to completion
//! on a small runtime it owns, so sync and async share one code path: same drivers, same
//! verification, same errors. Readers and writers are `std::io::Read + Seek` and
//! `std::io::Write`.
//!
//! Every other async call runs through [`BlockingDriver::block_on`] (for instance
//! `store.block_on(storage::zip::list(store.driver().as_ref(), "c", "a.zip"))`).
//!
//! Calling it from inside an async runtime would block that runtime's thread; it is
//! refused with a `Config` error instead (use the async API there).
//!
//! ```
//! use std::io::{Read, Write};
//!
//! use storage::blocking::BlockingDriver;
//!
//! let (store, container, key) = BlockingDriver::open_url("memory://docs/hello.txt")?;
//! store.create_container(&container)?;
//! store.put_object(&container, &key, "hi".into(), &storage::PutOptions::default())?;
//! assert_eq!(store.get_bytes(&container, &key)?, "hi");
//!
//! let mut writer = store.open_writer(&container, "big.bin", storage::WriterOptions::default())?;
//! writer.write_all(&[7u8; 100_000])?;
//! writer.finish()?; // visible only now
//! let mut data = Vec::new();
//! store.open_reader(&container, "big.bin", storage::ReaderOptions::default())?.read_to_end(&mut data)?;
//! assert_eq!(data.len(), 100_000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::future::Future;
use std::io::SeekFrom;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use storage_core::BackendUsage;
use storage_core::{
    Container, CopyOptions, DeleteOutcome, DirEntry, DownloadOptions, Driver, DriverExt, Error, ErrorKind, GetOptions,
    ListEntry, ListOptions, ListdirOptions, Object, ObjectReader, ObjectWriter, OpenExt, Payload, PutOptions,
    ReaderOptions, Result, SignedUrlOptions, TreeExt, TreeOptions, TreeReport, UploadOptions, Usage, WriterOptions,
};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::runtime::Runtime;

use crate::{Target, open};

/// A driver with blocking methods. Cheap to clone (the driver and runtime are shared).
#[derive(Clone, Debug)]
pub struct BlockingDriver {
    driver: Arc<dyn Driver>,
    runtime: Arc<Runtime>,
}

impl BlockingDriver {
    /// Wraps `driver` with a runtime of its own (two worker threads, for read-ahead,
    /// connection pools and timers between calls).
    pub fn new(driver: Arc<dyn Driver>) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("storage-blocking")
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting the blocking API's runtime", e))?;
        Ok(BlockingDriver { driver, runtime: Arc::new(runtime) })
    }

    /// Opens a URL ([`crate::open`]): the driver, the container and the key (empty
    /// strings where the URL has none). A local path is refused: use `std::fs`.
    pub fn open_url(url: &str) -> Result<(Self, String, String)> {
        match open(url)? {
            Target::Remote { driver, container, key, .. } => {
                Ok((Self::new(driver)?, container.unwrap_or_default(), key.unwrap_or_default()))
            }
            Target::Path(p) => {
                Err(Error::new(ErrorKind::Config, format!("{} is a local path, not a storage URL", p.display()))
                    .with_hint("use local://container/key for the local driver, or std::fs for plain files"))
            }
        }
    }

    /// The async driver (for the calls not mirrored here).
    pub fn driver(&self) -> &Arc<dyn Driver> {
        &self.driver
    }

    /// Runs `future` on this driver's runtime, refusing to from inside a runtime.
    pub fn block_on<F: Future>(&self, future: F) -> Result<F::Output> {
        if inside_runtime() {
            return Err(Error::new(
                ErrorKind::Config,
                "the blocking API was called from inside an async runtime, which it would stall",
            )
            .with_hint("call the async API (storage::Driver / DriverExt) there"));
        }
        Ok(self.runtime.block_on(future))
    }

    fn run<T>(&self, future: impl Future<Output = Result<T>>) -> Result<T> {
        self.block_on(future)?
    }

    /// Every container.
    pub fn list_containers(&self) -> Result<Vec<Container>> {
        self.run(futures::TryStreamExt::try_collect(self.driver.list_containers()))
    }
    /// [`Driver::get_container`].
    pub fn get_container(&self, name: &str) -> Result<Container> {
        self.run(self.driver.get_container(name))
    }
    /// [`Driver::create_container`].
    pub fn create_container(&self, name: &str) -> Result<Container> {
        self.run(self.driver.create_container(name))
    }
    /// [`Driver::delete_container`] (refused while it holds objects).
    pub fn delete_container(&self, name: &str) -> Result<()> {
        self.run(self.driver.delete_container(name))
    }
    /// A listing, page by page as the iterator is consumed.
    pub fn list_objects<'a>(&'a self, container: &'a str, options: ListOptions) -> ListIter<'a> {
        ListIter { owner: self, stream: self.driver.list_objects(container, options) }
    }
    /// Every key under `prefix`.
    pub fn list_keys(&self, container: &str, prefix: Option<&str>) -> Result<Vec<String>> {
        self.run(self.driver.list_keys(container, prefix))
    }
    /// Objects and common prefixes directly under `prefix`.
    pub fn list_with_delimiter(&self, container: &str, prefix: Option<&str>) -> Result<(Vec<Object>, Vec<String>)> {
        self.run(self.driver.list_with_delimiter(container, prefix))
    }
    /// [`Driver::head_object`].
    pub fn head_object(&self, container: &str, key: &str) -> Result<Object> {
        self.run(self.driver.head_object(container, key))
    }
    /// Whether the object exists.
    pub fn object_exists(&self, container: &str, key: &str) -> Result<bool> {
        self.run(self.driver.object_exists(container, key))
    }
    /// The whole object in memory.
    pub fn get_bytes(&self, container: &str, key: &str) -> Result<Bytes> {
        self.run(self.driver.get_bytes(container, key))
    }
    /// A read with options (range, conditions, version), in memory.
    pub fn get_object(&self, container: &str, key: &str, options: &GetOptions) -> Result<(Object, Bytes)> {
        self.run(async {
            let got = self.driver.get_object(container, key, options).await?;
            let object = got.object.clone();
            Ok((object, got.bytes().await?))
        })
    }
    /// Bytes `range` of the object.
    pub fn get_range(&self, container: &str, key: &str, range: Range<u64>) -> Result<Bytes> {
        self.run(self.driver.get_range(container, key, range))
    }
    /// Several ranges of one object.
    pub fn get_ranges(&self, container: &str, key: &str, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.run(self.driver.get_ranges(container, key, ranges))
    }
    /// [`Driver::put_object`] of data in memory.
    pub fn put_object(&self, container: &str, key: &str, data: Bytes, options: &PutOptions) -> Result<Object> {
        self.run(self.driver.put_object(container, key, Payload::from(data), options))
    }
    /// [`Driver::delete_object`].
    pub fn delete_object(&self, container: &str, key: &str) -> Result<()> {
        self.run(self.driver.delete_object(container, key))
    }
    /// Deletes many keys, batched.
    pub fn delete_objects(&self, container: &str, keys: &[String]) -> Result<Vec<DeleteOutcome>> {
        self.run(self.driver.delete_objects(container, keys))
    }
    /// [`Driver::copy_object`].
    pub fn copy_object(
        &self,
        src_container: &str,
        src_key: &str,
        dst_container: &str,
        dst_key: &str,
        options: &CopyOptions,
    ) -> Result<Object> {
        self.run(self.driver.copy_object(src_container, src_key, dst_container, dst_key, options))
    }
    /// Moves an object within a container.
    pub fn rename(&self, container: &str, src_key: &str, dst_key: &str) -> Result<Object> {
        self.run(self.driver.rename(container, src_key, dst_key))
    }
    /// Uploads a local file ([`DriverExt::upload_object`]).
    pub fn upload_object(&self, path: &Path, container: &str, key: &str, options: &UploadOptions) -> Result<Object> {
        self.run(self.driver.upload_object(path, container, key, options))
    }
    /// Downloads to a local file ([`DriverExt::download_object`]).
    pub fn download_object(
        &self,
        container: &str,
        key: &str,
        dest: &Path,
        options: &DownloadOptions,
    ) -> Result<Object> {
        self.run(self.driver.download_object(container, key, dest, options))
    }
    /// Uploads the files under `local_dir` ([`storage_core::TreeExt::upload_dir`]).
    pub fn upload_dir(
        &self,
        local_dir: &Path,
        container: &str,
        prefix: &str,
        options: &TreeOptions,
    ) -> Result<TreeReport> {
        self.run(self.driver.upload_dir(local_dir, container, prefix, options))
    }
    /// Downloads the objects under `prefix` ([`storage_core::TreeExt::download_dir`]).
    pub fn download_dir(
        &self,
        container: &str,
        prefix: &str,
        local_dir: &Path,
        options: &TreeOptions,
    ) -> Result<TreeReport> {
        self.run(self.driver.download_dir(container, prefix, local_dir, options))
    }
    /// Deletes the objects under `prefix` that the filter takes
    /// ([`storage_core::TreeExt::remove_tree`]).
    pub fn remove_tree(&self, container: &str, prefix: &str, options: &TreeOptions) -> Result<TreeReport> {
        self.run(self.driver.remove_tree(container, prefix, options))
    }
    /// Files and folders directly under `prefix` ([`storage_core::TreeExt::listdir`]).
    pub fn listdir(&self, container: &str, prefix: &str, options: &ListdirOptions) -> Result<Vec<DirEntry>> {
        self.run(self.driver.listdir(container, prefix, options))
    }
    /// Bytes and objects under `prefix` ([`storage_core::TreeExt::space_used`]).
    pub fn space_used(&self, container: &str, prefix: Option<&str>) -> Result<Usage> {
        self.run(self.driver.space_used(container, prefix))
    }
    /// Bytes and objects in every container of the backend, and their sum
    /// ([`storage_core::TreeExt::space_used_all`]; one full listing per container).
    pub fn space_used_all(&self) -> Result<BackendUsage> {
        self.run(self.driver.space_used_all())
    }
    /// Signed URLs for many keys.
    pub fn signed_urls(&self, container: &str, keys: &[String], options: &SignedUrlOptions) -> Result<Vec<String>> {
        self.run(self.driver.signed_urls(container, keys, options))
    }
    /// A presigned URL.
    pub fn signed_url(&self, container: &str, key: &str, options: &SignedUrlOptions) -> Result<String> {
        self.run(self.driver.signed_url(container, key, options))
    }
    /// An `std::io::Read + Seek` over the object ([`OpenExt::open_reader`]).
    pub fn open_reader(&self, container: &str, key: &str, options: ReaderOptions) -> Result<BlockingReader> {
        let reader = self.run(self.driver.open_reader(container, key, options))?;
        Ok(BlockingReader { runtime: self.runtime.clone(), reader })
    }
    /// An `std::io::Write` whose data becomes visible on [`BlockingWriter::finish`]
    /// ([`OpenExt::open_writer`]); dropped unfinished, nothing is written.
    pub fn open_writer(&self, container: &str, key: &str, options: WriterOptions) -> Result<BlockingWriter> {
        let _inside = self.runtime.enter();
        let writer = self.driver.open_writer(container, key, options)?;
        Ok(BlockingWriter { runtime: self.runtime.clone(), writer: Some(writer) })
    }
}

/// A blocking listing: each `next` may fetch a page.
pub struct ListIter<'a> {
    owner: &'a BlockingDriver,
    stream: storage_core::ListStream<'a>,
}

impl Iterator for ListIter<'_> {
    type Item = Result<ListEntry>;
    fn next(&mut self) -> Option<Self::Item> {
        match self.owner.block_on(self.stream.next()) {
            Ok(item) => item,
            Err(e) => Some(Err(e)),
        }
    }
}

/// The storage error a tokio I/O error carries, or one made from it.
fn owned_error(e: std::io::Error) -> Error {
    if storage_core::storage_error(&e).is_none() {
        return Error::io("finishing the upload", e);
    }
    match e.into_inner().map(|inner| inner.downcast::<Error>()) {
        Some(Ok(inner)) => *inner,
        Some(Err(other)) => Error::new(ErrorKind::Io, format!("finishing the upload: {other}")),
        None => Error::new(ErrorKind::Io, "finishing the upload failed"),
    }
}

/// Whether the calling thread runs inside a tokio runtime (where blocking would stall it).
fn inside_runtime() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

fn refuse_inside_runtime() -> std::io::Result<()> {
    if inside_runtime() {
        return Err(std::io::Error::other("the blocking API was called from inside an async runtime"));
    }
    Ok(())
}

/// A blocking [`ObjectReader`]: `std::io::Read + Seek`, same ETag pinning and
/// read-ahead.
pub struct BlockingReader {
    runtime: Arc<Runtime>,
    reader: ObjectReader,
}

impl BlockingReader {
    /// The object as the reader opened it (size, ETag...).
    pub fn object(&self) -> &Object {
        self.reader.object()
    }
}

impl std::io::Read for BlockingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        refuse_inside_runtime()?;
        self.runtime.block_on(self.reader.read(buf))
    }
}

impl std::io::Seek for BlockingReader {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        refuse_inside_runtime()?;
        self.runtime.block_on(self.reader.seek(pos))
    }
}

/// A blocking [`ObjectWriter`]: `std::io::Write`; [`BlockingWriter::finish`] makes the
/// object visible, dropping it unfinished aborts (nothing is visible, no multipart upload
/// is left behind).
pub struct BlockingWriter {
    runtime: Arc<Runtime>,
    writer: Option<ObjectWriter>,
}

impl BlockingWriter {
    /// Completes the upload: the object is visible once this returns `Ok`.
    pub fn finish(mut self) -> Result<()> {
        refuse_inside_runtime().map_err(|e| Error::new(ErrorKind::Config, e.to_string()))?;
        let Some(mut writer) = self.writer.take() else { return Ok(()) };
        self.runtime.block_on(writer.shutdown()).map_err(owned_error)
    }

    /// Abandons the upload and waits until it is cleaned up (the multipart upload
    /// aborted); nothing becomes visible. Dropping the writer does the same.
    pub fn abort(mut self) -> Result<()> {
        match self.writer.take() {
            Some(writer) => self.run_abort(writer),
            None => Ok(()),
        }
    }

    fn run_abort(&self, writer: ObjectWriter) -> Result<()> {
        if inside_runtime() {
            // Inside a runtime: the writer's own drop spawns the abort there.
            drop(writer);
            return Ok(());
        }
        self.runtime.block_on(writer.abort())
    }

    fn writer(&mut self) -> std::io::Result<&mut ObjectWriter> {
        refuse_inside_runtime()?;
        self.writer.as_mut().ok_or_else(|| std::io::Error::other("the writer is finished"))
    }
}

impl std::io::Write for BlockingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let runtime = self.runtime.clone();
        let writer = self.writer()?;
        runtime.block_on(writer.write(buf))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let runtime = self.runtime.clone();
        let writer = self.writer()?;
        runtime.block_on(writer.flush())
    }
}

impl Drop for BlockingWriter {
    fn drop(&mut self) {
        // Waits for the abort, so it is done even if the runtime goes away next.
        if let Some(writer) = self.writer.take()
            && let Err(e) = self.run_abort(writer)
        {
            tracing::warn!(error = %e, "abandoning an unfinished blocking writer failed");
        }
    }
}
