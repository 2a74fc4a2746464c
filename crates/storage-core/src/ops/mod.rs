//! Operations written once on top of the [`Driver`] primitives, for every driver,
//! with Libcloud's, Lithops' and obstore's names and semantics. Reach them through
//! [`DriverExt`], implemented for every driver.

mod download;
mod manage;
mod ranges;
mod rechunk;
mod upload;

use std::ops::Range;
use std::path::Path;

use async_trait::async_trait;
use bytes::Bytes;

use crate::driver::Driver;
use crate::error::Result;
use crate::object::{Container, DeleteOutcome, Object};
use crate::options::{GetOptions, PutOptions};
use crate::payload::ByteStream;

pub use ranges::{COALESCE_GAP, coalesce_ranges};
pub use rechunk::Rechunker;
pub use upload::plan_part_size;

/// How large transfers are split and parallelised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferOptions {
    /// Objects up to this size are written with one request.
    pub single_put_threshold: u64,
    /// Preferred multipart part size (raised when the object would exceed the part limit).
    pub part_size: u64,
    /// Parts or ranges in flight at once.
    pub concurrency: usize,
}

impl Default for TransferOptions {
    fn default() -> Self {
        TransferOptions { single_put_threshold: 16 << 20, part_size: 8 << 20, concurrency: 4 }
    }
}

/// The helpers every driver gets. Import this trait to call them as methods.
#[async_trait]
pub trait DriverExt: Driver {
    /// Uploads a local file (Libcloud `upload_object`). With `verify_hash`, the file's
    /// MD5 is checked by the backend before the write commits where it can
    /// (`put_content_md5`), and against the stored hash afterwards otherwise.
    async fn upload_object(
        &self,
        path: &Path,
        container: &str,
        key: &str,
        options: PutOptions,
        verify_hash: bool,
    ) -> Result<Object> {
        upload::upload_file(self, path, container, key, options, verify_hash, &TransferOptions::default()).await
    }

    /// [`DriverExt::upload_object`] with explicit transfer settings.
    async fn upload_object_with(
        &self,
        path: &Path,
        container: &str,
        key: &str,
        options: PutOptions,
        verify_hash: bool,
        transfer: &TransferOptions,
    ) -> Result<Object> {
        upload::upload_file(self, path, container, key, options, verify_hash, transfer).await
    }

    /// Uploads a stream of unknown length (Libcloud `upload_object_via_stream`): one
    /// request if it is small, a multipart upload otherwise; memory stays bounded by
    /// `part_size x (concurrency + 1)`.
    async fn upload_object_via_stream(
        &self,
        stream: ByteStream,
        container: &str,
        key: &str,
        options: PutOptions,
        transfer: &TransferOptions,
    ) -> Result<Object> {
        upload::upload_stream(self, stream, container, key, options, transfer).await
    }

    /// Downloads to `dest` (Libcloud `download_object`). The data goes to a temporary
    /// file beside `dest`, is checked (size, and MD5 when the backend has one), then
    /// renamed into place: a failed or corrupt download never leaves a partial `dest`.
    /// With `delete_on_failure = false` the temporary file is kept for inspection.
    async fn download_object(
        &self,
        container: &str,
        key: &str,
        dest: &Path,
        overwrite_existing: bool,
        delete_on_failure: bool,
    ) -> Result<Object> {
        download::download_to_path(self, container, key, dest, overwrite_existing, delete_on_failure).await
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
}

impl<D: Driver + ?Sized> DriverExt for D {}
