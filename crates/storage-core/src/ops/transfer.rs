//! The transfer engine's settings ([`TransferOptions`]) and its owned-driver entry point
//! ([`Transfer`]).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::download;
use super::progress::{NoProgress, Progress};
use super::upload::{self, Source, UploadJob};
use crate::driver::Driver;
use crate::error::Result;
use crate::object::Object;
use crate::options::PutOptions;
use crate::payload::ByteStream;

/// How a download to a local file treats the file ([`Transfer::download_file`],
/// [`crate::DriverExt::download_object`]): Libcloud's `overwrite_existing` and
/// `delete_on_failure`, by name, and which version of the object to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadOptions {
    /// Replace `dest` if it exists. Off (the default): an existing `dest` is a
    /// `DestinationExists` error naming it, and nothing is fetched.
    pub overwrite_existing: bool,
    /// Delete the partial data when the download fails (the default). Off (Libcloud's
    /// `delete_on_failure=False`): the partial file is moved to `dest` when nothing was
    /// there, else kept beside it (an existing file is never replaced by partial data);
    /// the error names the path either way.
    pub delete_on_failure: bool,
    /// Fetch this version of the object (an S3 version id, a GCS generation, ...) rather
    /// than the live one: every request asks for it, and an answer of another version
    /// (a server that ignores version ids answers with the live object) fails the
    /// download with `ObjectDoesNotExist`, leaving nothing at `dest`.
    pub version: Option<String>,
}

impl Default for DownloadOptions {
    /// No overwrite; the temporary file is deleted on failure.
    fn default() -> Self {
        DownloadOptions { overwrite_existing: false, delete_on_failure: true, version: None }
    }
}

impl DownloadOptions {
    /// The defaults, but replacing an existing `dest`.
    pub fn overwrite() -> Self {
        DownloadOptions { overwrite_existing: true, ..Self::default() }
    }

    /// These options, fetching `version` of the object.
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }
}

/// How [`crate::DriverExt::upload_object`] uploads a local file: the object's options and
/// Libcloud's `verify_hash`, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadOptions {
    /// Content type, metadata, put mode... of the object.
    pub put: PutOptions,
    /// Check the file's MD5 (backend-verified where it can, per part, and against the
    /// stored hash afterwards). On by default.
    pub verify_hash: bool,
}

impl Default for UploadOptions {
    /// Default put options, hash verified.
    fn default() -> Self {
        UploadOptions { put: PutOptions::default(), verify_hash: true }
    }
}

impl UploadOptions {
    /// Verified upload with these put options.
    pub fn put(put: PutOptions) -> Self {
        UploadOptions { put, verify_hash: true }
    }
}

/// How large transfers are split, parallelised, verified and reported.
///
/// The defaults are a starting point (8 MiB parts, 8 in flight); `cargo xtask bench`
/// measures them against the emulators and they will be tuned from its results.
///
/// Memory: an upload holds at most `part_size x (concurrency + 1)` bytes of the source
/// (plus one read buffer of the source stream), whatever the object's size. A download to
/// a file holds about 1 MiB per range in flight; an ordered download stream holds at most
/// `download_part_size x (read_ahead + 1)`.
#[derive(Clone)]
pub struct TransferOptions {
    /// Objects up to this size are written with one request (capped by the driver's
    /// `max_single_put`). A stream is written with one request when it ends within this
    /// many bytes (or within its first part).
    pub single_put_threshold: u64,
    /// Preferred multipart part size; raised to the driver's minimum, and for a known
    /// length to what fits in the driver's maximum part count.
    pub part_size: u64,
    /// Parts (uploads) or ranges (downloads to a file) in flight at once (at least 1).
    pub concurrency: usize,
    /// Size of the ranges a download is split into (at least 1 byte).
    pub download_part_size: u64,
    /// Ranges an ordered download stream fetches ahead of the reader (at least 1).
    pub read_ahead: usize,
    /// Compute checksums and compare them with what the backend reports: per part (its
    /// MD5, handed to the driver with the part and compared with a part ETag that is an
    /// MD5) and for the whole object (on upload its MD5 where the backend reports one,
    /// `Capabilities::multipart_md5`, else the multipart ETag made of the parts' MD5s;
    /// on download MD5 or CRC32C, whichever the object reports), plus sizes, which are
    /// always checked. A caller's `content_md5` is checked either way. Turn it off for
    /// backends whose ETags look like MD5s but are not (S3 with SSE-KMS or SSE-C).
    pub verify: bool,
    /// How many times a range whose body breaks (or stalls) is resumed from its last
    /// received byte before the download fails; the count restarts whenever data arrives.
    pub range_retries: u32,
    /// A range that receives nothing for this long is treated as broken and resumed.
    /// `None` (the default) relies on the driver's own idle timeout (the HTTP drivers
    /// have one, and report it as a body error, which is resumed). Setting it needs a
    /// tokio runtime with the time driver enabled.
    pub stall_timeout: Option<Duration>,
    /// Receives progress reports; `None` reports nothing.
    pub progress: Option<Arc<dyn Progress>>,
}

impl Default for TransferOptions {
    fn default() -> Self {
        TransferOptions {
            single_put_threshold: 16 << 20,
            part_size: 8 << 20,
            concurrency: 8,
            download_part_size: 8 << 20,
            read_ahead: 4,
            verify: true,
            range_retries: 5,
            stall_timeout: None,
            progress: None,
        }
    }
}

impl std::fmt::Debug for TransferOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferOptions")
            .field("single_put_threshold", &self.single_put_threshold)
            .field("part_size", &self.part_size)
            .field("concurrency", &self.concurrency)
            .field("download_part_size", &self.download_part_size)
            .field("read_ahead", &self.read_ahead)
            .field("verify", &self.verify)
            .field("range_retries", &self.range_retries)
            .field("stall_timeout", &self.stall_timeout)
            .field("progress", &self.progress.as_ref().map(|_| ".."))
            .finish()
    }
}

impl TransferOptions {
    /// These options reporting to `progress`.
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = Some(progress);
        self
    }

    /// The progress receiver ([`NoProgress`] when none is set).
    pub fn progress(&self) -> &dyn Progress {
        match &self.progress {
            Some(p) => p.as_ref(),
            None => &NoProgress,
        }
    }

    /// `concurrency`, at least 1.
    pub(crate) fn parts_in_flight(&self) -> usize {
        self.concurrency.max(1)
    }

    /// The most bytes an upload may hold: `part_size x (concurrency + 1)`.
    pub(crate) fn memory_budget(&self) -> u64 {
        self.part_size.max(1).saturating_mul(self.parts_in_flight() as u64 + 1)
    }
}

/// The transfer engine over a shared driver: concurrent multipart uploads of files, bytes
/// and streams, parallel ranged downloads to files, and ordered download streams with
/// read-ahead.
///
/// The [`crate::DriverExt`] helpers (`upload_object`, `download_object`...) run the same
/// engine on a borrowed driver. What owning the driver adds: if an upload's future is
/// dropped midway (a timeout, a cancelled task), the multipart upload is still aborted, by
/// a task spawned on the current tokio runtime; and [`Transfer::download_stream`] returns a
/// `'static` stream that keeps fetching ranges.
///
/// ```
/// use std::sync::Arc;
///
/// use storage_core::{Bytes, Driver, DriverExt, MemoryDriver, PutOptions, Transfer, TransferOptions};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryDriver::new());
/// store.create_container("c").await?;
/// let options = TransferOptions { part_size: 1024, single_put_threshold: 1024, ..TransferOptions::default() };
/// let transfer = Transfer::with_options(store.clone(), options);
/// let data = Bytes::from(vec![7u8; 10_000]);
/// let object = transfer.upload_bytes(data.clone(), "c", "big", PutOptions::default()).await?;
/// assert_eq!(object.size, 10_000);
/// assert_eq!(store.get_bytes("c", "big").await?, data);
/// # Ok::<(), storage_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Transfer {
    driver: Arc<dyn Driver>,
    options: TransferOptions,
}

impl Transfer {
    /// The engine over `driver` with the default [`TransferOptions`].
    pub fn new(driver: Arc<dyn Driver>) -> Self {
        Transfer { driver, options: TransferOptions::default() }
    }

    /// The engine over `driver` with `options`.
    pub fn with_options(driver: Arc<dyn Driver>, options: TransferOptions) -> Self {
        Transfer { driver, options }
    }

    /// The driver.
    pub fn driver(&self) -> &Arc<dyn Driver> {
        &self.driver
    }

    /// The settings.
    pub fn options(&self) -> &TransferOptions {
        &self.options
    }

    fn job<'a>(&'a self, container: &'a str, key: &'a str, options: PutOptions) -> UploadJob<'a> {
        UploadJob { container, key, options, transfer: &self.options, owner: Some(self.driver.clone()) }
    }

    /// Uploads a local file: one request up to the threshold, a multipart upload with
    /// parts sized for the driver's limits above it. With [`TransferOptions::verify`],
    /// the data's MD5 is sent as `content_md5` on a single request where the driver
    /// checks it, each part's MD5 is compared with its ETag, and the stored object's hash
    /// with the data's. On any failure or cancellation the multipart upload is aborted
    /// and the previous object, if any, is left as it was.
    pub async fn upload_file(&self, path: &Path, container: &str, key: &str, options: PutOptions) -> Result<Object> {
        upload::upload(self.driver.as_ref(), Source::File(path), self.job(container, key, options)).await
    }

    /// Uploads bytes already in memory (parts are zero-copy slices of them).
    pub async fn upload_bytes(&self, data: Bytes, container: &str, key: &str, options: PutOptions) -> Result<Object> {
        upload::upload(self.driver.as_ref(), Source::Bytes(data), self.job(container, key, options)).await
    }

    /// Uploads a stream of unknown length: one request if it ends early enough, else a
    /// multipart upload reading one part ahead of the `concurrency` parts in flight.
    /// A stream needing more than the driver's maximum part count fails (raise
    /// `part_size`); the upload is aborted.
    pub async fn upload_stream(
        &self,
        stream: ByteStream,
        container: &str,
        key: &str,
        options: PutOptions,
    ) -> Result<Object> {
        upload::upload(self.driver.as_ref(), Source::Stream(stream), self.job(container, key, options)).await
    }

    /// Downloads an object to `dest`: the first ranged GET gives the size and ETag, the
    /// other ranges are fetched `concurrency` at a time pinned to that ETag (a changed
    /// object fails the download with `PreconditionFailed`) and written at their offsets
    /// into a temporary file beside `dest`; a broken range resumes from its last byte.
    /// The file is checked (size; MD5 or CRC32C where the object reports one), synced and
    /// renamed into place, so `dest` never holds a partial download. A directory at
    /// `dest` is refused (unlike [`crate::DriverExt::download_object`], which writes the
    /// object's base name inside it). `options` say
    /// whether an existing `dest` is replaced and whether the temporary file is kept
    /// after a failure ([`DownloadOptions`]).
    pub async fn download_file(
        &self,
        container: &str,
        key: &str,
        dest: &Path,
        options: &DownloadOptions,
    ) -> Result<Object> {
        let target = download::FileTarget {
            dest,
            overwrite_existing: options.overwrite_existing,
            delete_on_failure: options.delete_on_failure,
            into_directory: false,
            version: options.version.as_deref(),
        };
        download::download_to_path(self.driver.as_ref(), container, key, target, &self.options).await
    }

    /// The object's data as an ordered stream, fetched as ranges of `download_part_size`
    /// with up to `read_ahead` of them in flight ahead of the reader, each pinned to the
    /// first response's ETag and resumed if its body breaks. The stream ends with an
    /// error item if the data does not match the object's size or hash.
    pub async fn download_stream(&self, container: &str, key: &str) -> Result<ByteStream> {
        download::download_stream(self.driver.clone(), container, key, &self.options, None).await
    }

    /// [`Transfer::download_stream`] of one version of the object (an S3 version id, a
    /// GCS generation, ...): every range asks for it, and an answer of another version
    /// (a server that ignores version ids answers with the live object) is an
    /// `ObjectDoesNotExist` error before any data, or an error item ending the stream.
    pub async fn download_version_stream(&self, container: &str, key: &str, version: &str) -> Result<ByteStream> {
        download::download_stream(self.driver.clone(), container, key, &self.options, Some(version)).await
    }
}
