//! Operations written once on top of the [`Driver`] primitives, for every driver,
//! with Libcloud's, Lithops' and obstore's names and semantics. Reach them through
//! [`DriverExt`], implemented for every driver.
//!
//! The transfer engine (concurrent multipart uploads, parallel ranged downloads with
//! resume, checksums, progress) is configured by [`TransferOptions`] and reached either
//! through the `DriverExt` upload and download helpers, on a borrowed driver, or through
//! [`Transfer`], which owns an `Arc` of the driver: only that form can abort a multipart
//! upload whose future is dropped midway, and return a `'static` ordered download stream
//! with read-ahead.
//!
//! [`OpenExt`] opens an object as a tokio reader ([`ObjectReader`]: ranged reads with
//! read-ahead, seekable, pinned to one version) or writer ([`ObjectWriter`]: the stream
//! upload of the transfer engine, visible only after `shutdown`).

mod budget;
mod cancelled;
pub(crate) mod checksum;
#[cfg(feature = "decompress")]
pub mod decompress;
mod download;
mod manage;
mod open;
mod progress;
mod ranges;
mod reader;
mod rechunk;
mod transfer;
mod upload;
mod writer;

use std::ops::Range;
use std::path::Path;

use async_trait::async_trait;
use bytes::Bytes;

use crate::driver::Driver;
use crate::error::Result;
use crate::object::{Container, DeleteOutcome, Object};
use crate::options::{GetOptions, PutOptions, SignedUrlOptions};
use crate::payload::ByteStream;

pub use budget::{MemoryBudget, Reservation};
pub use cancelled::{CancelledAborts, cancelled_aborts, finish_cancelled_aborts};
#[cfg(feature = "decompress")]
pub use decompress::{
    ArchiveFormat, CODE_ARCHIVE_BOMB, CODE_ARCHIVE_CORRUPT, CODE_ARCHIVE_UNSUPPORTED, DecompressOptions, Downloaded,
    SCRATCH_PREFIX, download,
};
pub(crate) use open::io_error;
pub use open::{OpenExt, storage_error};
pub use progress::{Nested, NoProgress, Progress};
pub use ranges::{COALESCE_GAP, coalesce_ranges};
pub use reader::{ObjectReader, ReaderOptions};
pub use rechunk::Rechunker;
pub use transfer::{DownloadOptions, Transfer, TransferOptions, UploadOptions};
pub use upload::plan_part_size;
pub use writer::{ObjectWriter, WriterOptions};

/// A download to `dest` with the default [`TransferOptions`]: [`DriverExt::download_object`]
/// (`into_directory`: a directory `dest` receives the object's base name) and the tree
/// downloads (a directory in the way is refused, never written into).
pub(crate) async fn download_with_defaults<D: Driver + ?Sized>(
    driver: &D,
    container: &str,
    key: &str,
    dest: &Path,
    options: &DownloadOptions,
    into_directory: bool,
) -> Result<Object> {
    let target = download::FileTarget {
        dest,
        overwrite_existing: options.overwrite_existing,
        delete_on_failure: options.delete_on_failure,
        into_directory,
        version: options.version.as_deref(),
    };
    download::download_to_path(driver, container, key, target, &TransferOptions::default()).await
}

/// The helpers every driver gets. Import this trait to call them as methods.
#[async_trait]
pub trait DriverExt: Driver {
    /// Uploads a local file (Libcloud `upload_object`) with the default
    /// [`TransferOptions`]: one request up to 16 MiB, a concurrent multipart upload above.
    /// With `options.verify_hash` (the default), the file's MD5 is checked by the backend
    /// before the write commits where it can (`put_content_md5`), each part's MD5 against
    /// its ETag, and the stored hash afterwards. A failed multipart upload is aborted;
    /// cancelling the future midway cannot abort it from a borrowed driver: use
    /// [`Transfer::upload_file`] for that guarantee, and for other transfer settings.
    async fn upload_object(&self, path: &Path, container: &str, key: &str, options: &UploadOptions) -> Result<Object> {
        let transfer = TransferOptions { verify: options.verify_hash, ..TransferOptions::default() };
        let job = borrowed_job(container, key, options.put.clone(), &transfer);
        upload::upload(self, upload::Source::File(path), job).await
    }

    /// Uploads a stream of unknown length (Libcloud `upload_object_via_stream`): one
    /// request if it is small, a multipart upload otherwise; memory stays bounded by
    /// `part_size x (concurrency + 1)`. A failure aborts the multipart upload; for the
    /// same on cancellation use [`Transfer::upload_stream`].
    async fn upload_object_via_stream(
        &self,
        stream: ByteStream,
        container: &str,
        key: &str,
        options: PutOptions,
        transfer: &TransferOptions,
    ) -> Result<Object> {
        upload::upload(self, upload::Source::Stream(stream), borrowed_job(container, key, options, transfer)).await
    }

    /// Downloads to `dest` (Libcloud `download_object`) with the default
    /// [`TransferOptions`]: ranges fetched in parallel, pinned to the first response's
    /// ETag, resumed when a body breaks. The data goes to a temporary file beside `dest`,
    /// is checked (size, and MD5 or CRC32C when the backend has one), then renamed into
    /// place: a failed, corrupt or cancelled download never leaves a partial `dest`.
    /// When `dest` is an existing directory the file is the object's base name inside it
    /// (as Libcloud documents; a key ending in `/` has none and is refused).
    /// [`DownloadOptions`] say whether an existing `dest` is replaced and whether the
    /// temporary file is kept after a failure. Other transfer settings (range size,
    /// concurrency, progress): [`Transfer::download_file`].
    async fn download_object(
        &self,
        container: &str,
        key: &str,
        dest: &Path,
        options: &DownloadOptions,
    ) -> Result<Object> {
        download_with_defaults(self, container, key, dest, options, true).await
    }

    /// Downloads into the directory `local_dir`, extracting `.zip`, `.gz`, `.tar` and
    /// `.tar.gz` archives on the way down unless `options.decompress` is off (Inductiva's
    /// `download(remote_path, local_dir, decompress=True)`): streamed, all or nothing,
    /// hostile archives refused; see [`download`].
    #[cfg(feature = "decompress")]
    async fn download_into(
        &self,
        container: &str,
        key: &str,
        local_dir: &Path,
        options: &DecompressOptions,
    ) -> Result<Downloaded> {
        decompress::download(self, container, key, local_dir, options).await
    }

    /// The object's data as a stream of `chunk_size`-byte chunks (the last may be
    /// shorter); Libcloud `download_object_as_stream`.
    async fn download_object_as_stream(
        &self,
        container: &str,
        key: &str,
        chunk_size: Option<usize>,
    ) -> Result<ByteStream> {
        let res = self.get_object(container, key, &GetOptions::default()).await?;
        Ok(match chunk_size {
            Some(n) => Rechunker::new(res.body, n).into_stream(),
            None => res.body,
        })
    }

    /// The whole object in memory.
    async fn get_bytes(&self, container: &str, key: &str) -> Result<Bytes> {
        self.get_object(container, key, &GetOptions::default()).await?.bytes().await
    }

    /// Bytes `range` of the object (end exclusive, clamped to the object's size).
    async fn get_range(&self, container: &str, key: &str, range: Range<u64>) -> Result<Bytes> {
        ranges::get_range(self, container, key, range).await
    }

    /// Several ranges at once; nearby ranges are coalesced into one request.
    async fn get_ranges(&self, container: &str, key: &str, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        ranges::get_ranges(self, container, key, ranges).await
    }

    /// Moves an object: a native copy then delete, or download and upload where the
    /// driver cannot copy.
    async fn rename(&self, container: &str, src_key: &str, dst_key: &str) -> Result<Object> {
        manage::rename(self, container, src_key, dst_key).await
    }

    /// Every key under `prefix` (Lithops `list_keys`).
    async fn list_keys(&self, container: &str, prefix: Option<&str>) -> Result<Vec<String>> {
        manage::list_keys(self, container, prefix).await
    }

    /// Objects and common prefixes directly under `prefix` (obstore `list_with_delimiter`).
    async fn list_with_delimiter(&self, container: &str, prefix: Option<&str>) -> Result<(Vec<Object>, Vec<String>)> {
        manage::list_with_delimiter(self, container, prefix).await
    }

    /// The container, or `ContainerDoesNotExist` (Lithops `head_bucket`).
    async fn head_bucket(&self, container: &str) -> Result<Container> {
        self.get_container(container).await
    }

    /// Whether the container exists.
    async fn container_exists(&self, container: &str) -> Result<bool> {
        manage::absent_is_false(self.get_container(container).await)
    }

    /// Whether the object exists.
    async fn object_exists(&self, container: &str, key: &str) -> Result<bool> {
        manage::absent_is_false(self.head_object(container, key).await)
    }

    /// Deletes any number of keys, in batches of the driver's maximum.
    async fn delete_objects(&self, container: &str, keys: &[String]) -> Result<Vec<DeleteOutcome>> {
        manage::delete_objects(self, container, keys).await
    }

    /// Deletes every object under `prefix`; returns how many were deleted.
    async fn delete_prefix(&self, container: &str, prefix: &str) -> Result<u64> {
        manage::delete_prefix(self, container, prefix).await
    }

    /// Signed URLs for many keys at once (Inductiva's `get_signed_urls(paths,
    /// operation)`), in the keys' order, up to 16 signed concurrently (signing is local
    /// for most drivers; Azure's user delegation key is fetched once and cached). The
    /// first failure is returned.
    async fn signed_urls(&self, container: &str, keys: &[String], options: &SignedUrlOptions) -> Result<Vec<String>> {
        use futures::stream::{self, StreamExt, TryStreamExt};
        let signing: Vec<_> = keys.iter().map(|key| self.signed_url(container, key, options)).collect();
        stream::iter(signing).buffered(16).try_collect().await
    }
}

impl<D: Driver + ?Sized> DriverExt for D {}

/// An upload on a borrowed driver: no abort on cancellation (see [`Transfer`]).
fn borrowed_job<'a>(
    container: &'a str,
    key: &'a str,
    options: PutOptions,
    transfer: &'a TransferOptions,
) -> upload::UploadJob<'a> {
    upload::UploadJob { container, key, options, transfer, owner: None }
}
