//! [`ConcurrencyLimitLayer`]: at most N requests in flight on the wrapped driver
//! (object_store's `LimitStore`).

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::capabilities::DriverInfo;
use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};
use crate::leftover::Leftover;
use crate::multipart::{CompleteOptions, CompletedPart, MultipartUpload, PartOptions};
use crate::object::{Container, DeleteOutcome, ListEntry, Object, Page};
use crate::options::{CopyOptions, GetOptions, ListOptions, PutOptions, SignedUrlOptions};
use crate::payload::{GetResult, Payload};

/// Lets at most `limit` calls into the wrapped driver run at once; the others wait their
/// turn (first come, first served).
///
/// - Every call takes a slot for as long as it runs, signed URLs and CDN calls included.
/// - A GET keeps its slot until its body has been read to the end (or failed, or been
///   dropped): the body is the rest of the request, and a connection stays busy until
///   then. So a caller holding `limit` unread bodies blocks every other call: read or
///   drop them.
/// - A listing takes a slot per page request, not for the life of the stream.
/// - A batch delete is one call (one slot), however the inner driver runs it.
///
/// ```
/// use std::sync::Arc;
///
/// use storage_core::layers::ConcurrencyLimitLayer;
/// use storage_core::{Driver, DriverExt, MemoryDriver, PutOptions};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = ConcurrencyLimitLayer::new(Arc::new(MemoryDriver::new()), 8);
/// assert_eq!(store.limit(), 8);
/// store.create_container("c").await?;
/// store.put_object("c", "k", "v".into(), &PutOptions::default()).await?;
/// let body = store.get_bytes("c", "k").await?; // read to the end: the slot is back
/// assert_eq!(body, "v");
/// assert_eq!(store.available(), 8);
/// # Ok::<(), storage_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct ConcurrencyLimitLayer {
    inner: Arc<dyn Driver>,
    slots: Arc<Semaphore>,
    limit: usize,
}

impl ConcurrencyLimitLayer {
    /// Wraps `inner` so that at most `limit` calls run at once (`0` counts as `1`).
    pub fn new(inner: Arc<dyn Driver>, limit: usize) -> Self {
        let limit = limit.clamp(1, Semaphore::MAX_PERMITS);
        ConcurrencyLimitLayer { inner, slots: Arc::new(Semaphore::new(limit)), limit }
    }

    /// The most calls in flight at once.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Slots free right now (`limit` minus the calls and GET bodies in flight).
    pub fn available(&self) -> usize {
        self.slots.available_permits()
    }

    async fn slot(&self) -> Result<OwnedSemaphorePermit> {
        // The semaphore is never closed; the error is only there for completeness.
        self.slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::new(ErrorKind::Backend, "the concurrency limit's semaphore was closed"))
    }
}

// Every method written out, so a method added to `Driver` cannot bypass the layer.
#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl crate::layer::Layer for ConcurrencyLimitLayer {
    fn inner(&self) -> &dyn Driver {
        &*self.inner
    }

    fn info(&self) -> &DriverInfo {
        self.inner.info()
    }

    async fn list_containers_page(&self, token: Option<String>) -> Result<Page<Container>> {
        let _slot = self.slot().await?;
        self.inner.list_containers_page(token).await
    }

    async fn get_container(&self, name: &str) -> Result<Container> {
        let _slot = self.slot().await?;
        self.inner.get_container(name).await
    }

    async fn create_container(&self, name: &str) -> Result<Container> {
        let _slot = self.slot().await?;
        self.inner.create_container(name).await
    }

    async fn delete_container(&self, name: &str) -> Result<()> {
        let _slot = self.slot().await?;
        self.inner.delete_container(name).await
    }

    async fn list_page(
        &self,
        container: &str,
        options: &ListOptions,
        token: Option<String>,
    ) -> Result<Page<ListEntry>> {
        let _slot = self.slot().await?;
        self.inner.list_page(container, options, token).await
    }

    async fn head_object(&self, container: &str, key: &str) -> Result<Object> {
        let _slot = self.slot().await?;
        self.inner.head_object(container, key).await
    }

    async fn get_object(&self, container: &str, key: &str, options: &GetOptions) -> Result<GetResult> {
        let slot = self.slot().await?;
        let mut got = self.inner.get_object(container, key, options).await?;
        // The slot rides along with the body and is given back at its end (or drop).
        got.body = super::hold_until_end(got.body, slot);
        Ok(got)
    }

    async fn put_object(&self, container: &str, key: &str, payload: Payload, options: &PutOptions) -> Result<Object> {
        let _slot = self.slot().await?;
        self.inner.put_object(container, key, payload, options).await
    }

    async fn delete_object(&self, container: &str, key: &str) -> Result<()> {
        let _slot = self.slot().await?;
        self.inner.delete_object(container, key).await
    }

    async fn delete_batch(&self, container: &str, keys: &[String]) -> Result<Vec<DeleteOutcome>> {
        let _slot = self.slot().await?;
        self.inner.delete_batch(container, keys).await
    }

    async fn copy_object(
        &self,
        src_container: &str,
        src_key: &str,
        dst_container: &str,
        dst_key: &str,
        options: &CopyOptions,
    ) -> Result<Object> {
        let _slot = self.slot().await?;
        self.inner.copy_object(src_container, src_key, dst_container, dst_key, options).await
    }

    async fn create_multipart(&self, container: &str, key: &str, options: &PutOptions) -> Result<MultipartUpload> {
        let _slot = self.slot().await?;
        self.inner.create_multipart(container, key, options).await
    }

    async fn put_part(
        &self,
        upload: &MultipartUpload,
        part_number: u32,
        payload: Payload,
        options: &PartOptions,
    ) -> Result<CompletedPart> {
        let _slot = self.slot().await?;
        self.inner.put_part(upload, part_number, payload, options).await
    }

    async fn complete_multipart(
        &self,
        upload: &MultipartUpload,
        parts: &[CompletedPart],
        options: &CompleteOptions,
    ) -> Result<Object> {
        let _slot = self.slot().await?;
        self.inner.complete_multipart(upload, parts, options).await
    }

    async fn abort_multipart(&self, upload: &MultipartUpload) -> Result<()> {
        let _slot = self.slot().await?;
        self.inner.abort_multipart(upload).await
    }

    async fn list_multipart_uploads(&self, container: &str, prefix: Option<&str>) -> Result<Vec<MultipartUpload>> {
        let _slot = self.slot().await?;
        self.inner.list_multipart_uploads(container, prefix).await
    }

    async fn list_leftovers(&self, container: &str, prefix: Option<&str>) -> Result<Vec<Leftover>> {
        let _slot = self.slot().await?;
        self.inner.list_leftovers(container, prefix).await
    }

    async fn remove_leftover(&self, leftover: &Leftover) -> Result<()> {
        let _slot = self.slot().await?;
        self.inner.remove_leftover(leftover).await
    }

    async fn signed_url(&self, container: &str, key: &str, options: &SignedUrlOptions) -> Result<String> {
        let _slot = self.slot().await?;
        self.inner.signed_url(container, key, options).await
    }

    async fn enable_container_cdn(&self, container: &str) -> Result<()> {
        let _slot = self.slot().await?;
        self.inner.enable_container_cdn(container).await
    }

    async fn enable_object_cdn(&self, container: &str, key: &str) -> Result<()> {
        let _slot = self.slot().await?;
        self.inner.enable_object_cdn(container, key).await
    }

    async fn get_container_cdn_url(&self, container: &str) -> Result<String> {
        let _slot = self.slot().await?;
        self.inner.get_container_cdn_url(container).await
    }

    async fn get_object_cdn_url(&self, container: &str, key: &str) -> Result<String> {
        let _slot = self.slot().await?;
        self.inner.get_object_cdn_url(container, key).await
    }
}
