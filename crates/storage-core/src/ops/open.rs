//! Opening objects as tokio readers and writers ([`OpenExt`]), and the bridge between
//! this crate's [`Error`] and the `std::io::Error` that tokio's I/O traits speak.
//!
//! A reader and a writer run tokio tasks that outlive a borrow of the driver, so they are
//! opened from a shared driver (`Arc<D>` or `Arc<dyn Driver>`) rather than through
//! [`crate::DriverExt`], whose helpers borrow it.

use std::sync::Arc;

use async_trait::async_trait;

use super::reader::{ObjectReader, ReaderOptions};
use super::writer::{ObjectWriter, WriterOptions};
use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};

/// Opens objects as tokio I/O handles (obstore's `open_reader` / `open_writer`), on a
/// driver held in an `Arc`: implemented for `Arc<D>` of any driver type and for
/// `Arc<dyn Driver>`.
///
/// ```
/// use std::sync::Arc;
///
/// use storage_core::{Driver, MemoryDriver, OpenExt, ReaderOptions, WriterOptions};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
/// store.create_container("c").await?;
/// let mut writer = store.open_writer("c", "k", WriterOptions::default())?;
/// writer.write_all(b"hello").await?;
/// writer.shutdown().await?;
/// let mut text = String::new();
/// store.open_reader("c", "k", ReaderOptions::default()).await?.read_to_string(&mut text).await?;
/// assert_eq!(text, "hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait OpenExt {
    /// The driver, shared.
    fn shared_driver(&self) -> Arc<dyn Driver>;

    /// Opens an object for reading: an [`ObjectReader`] pinned to the ETag of one
    /// `head_object`, reading `options.chunk_size` bytes per ranged GET with
    /// `options.read_ahead` chunks fetched in the background.
    async fn open_reader(&self, container: &str, key: &str, options: ReaderOptions) -> Result<ObjectReader> {
        ObjectReader::open(self.shared_driver(), container, key, options).await
    }

    /// Opens an object for writing: an [`ObjectWriter`] that makes the data visible only
    /// when `shutdown` succeeds, and abandons it (aborting any multipart upload) when
    /// dropped before. Sends no request yet.
    fn open_writer(&self, container: &str, key: &str, options: WriterOptions) -> Result<ObjectWriter> {
        ObjectWriter::new(self.shared_driver(), container, key, options)
    }
}

impl<D: Driver> OpenExt for Arc<D> {
    fn shared_driver(&self) -> Arc<dyn Driver> {
        self.clone()
    }
}

impl OpenExt for Arc<dyn Driver> {
    fn shared_driver(&self) -> Arc<dyn Driver> {
        self.clone()
    }
}

/// `e` as a `std::io::Error` (for tokio's I/O traits) that keeps it whole:
/// [`storage_error`] gets it back. The I/O kind follows the error's where one fits
/// (`NotFound`, `PermissionDenied`, `TimedOut`, `InvalidInput`), else `Other`.
pub(crate) fn io_error(e: Error) -> std::io::Error {
    use std::io::ErrorKind as Io;
    let kind = match e.kind() {
        ErrorKind::ObjectDoesNotExist | ErrorKind::ContainerDoesNotExist => Io::NotFound,
        ErrorKind::PermissionDenied | ErrorKind::Unauthenticated => Io::PermissionDenied,
        ErrorKind::Timeout => Io::TimedOut,
        ErrorKind::InvalidRange | ErrorKind::InvalidObjectName | ErrorKind::InvalidContainerName => Io::InvalidInput,
        _ => Io::Other,
    };
    std::io::Error::new(kind, e)
}

/// The storage [`Error`] inside an I/O error returned by an [`ObjectReader`] or an
/// [`ObjectWriter`], with its kind, message, container and key; `None` for an I/O error
/// that did not come from storage (an invalid seek, say).
///
/// ```
/// use std::sync::Arc;
///
/// use storage_core::{Driver, ErrorKind, MemoryDriver, OpenExt, PutMode, PutOptions, WriterOptions, storage_error};
/// use tokio::io::AsyncWriteExt;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryDriver::new());
/// store.create_container("c").await?;
/// store.put_object("c", "k", "taken".into(), &PutOptions::default()).await?;
/// let put = PutOptions { mode: PutMode::CreateIfAbsent, ..PutOptions::default() };
/// let mut writer = store.open_writer("c", "k", WriterOptions::put(put))?;
/// writer.write_all(b"mine").await?;
/// let e = writer.shutdown().await.unwrap_err();
/// assert_eq!(storage_error(&e).map(|e| e.kind()), Some(ErrorKind::PreconditionFailed));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn storage_error(e: &std::io::Error) -> Option<&Error> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<Error>())
}
