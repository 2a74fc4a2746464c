//! [`Layer`]: a driver that wraps another and forwards every call it does not override.
//!
//! Writing a wrapper by implementing [`Driver`] directly means forwarding ~25 methods by
//! hand, and a forgotten one silently falls back to the trait's `NotSupported` default
//! while the wrapper still reports the inner driver's capabilities. A `Layer` overrides
//! only what it changes (count calls, inject faults, rewrite keys, limit rates...); every
//! other method forwards, and the blanket `impl Driver for T: Layer` is checked by
//! `clippy::missing_trait_methods`, so a method added to [`Driver`] must be added here too.
//!
//! Implement it by path (`impl storage_core::layer::Layer for MyLayer`) rather than
//! importing `Layer`: with both traits in scope, calls such as `layer.get_object(..)` are
//! ambiguous (`Driver`'s and `Layer`'s methods share their names).
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//!
//! use storage_core::{Driver, DriverExt, GetOptions, GetResult, MemoryDriver, PutOptions, Result};
//!
//! /// Counts GETs, forwards everything else.
//! #[derive(Debug)]
//! struct CountGets {
//!     inner: MemoryDriver,
//!     gets: AtomicUsize,
//! }
//!
//! #[storage_core::async_trait]
//! impl storage_core::layer::Layer for CountGets {
//!     fn inner(&self) -> &dyn Driver {
//!         &self.inner
//!     }
//!     async fn get_object(&self, container: &str, key: &str, options: &GetOptions) -> Result<GetResult> {
//!         self.gets.fetch_add(1, Ordering::SeqCst);
//!         self.inner.get_object(container, key, options).await
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let d = Arc::new(CountGets { inner: MemoryDriver::new(), gets: AtomicUsize::new(0) });
//! d.create_container("c").await?;
//! d.put_object("c", "k", "v".into(), &PutOptions::default()).await?;
//! assert_eq!(d.get_bytes("c", "k").await?, "v");
//! assert_eq!(d.gets.load(Ordering::SeqCst), 1);
//! # Ok::<(), storage_core::Error>(())
//! # }).unwrap();
//! ```

use std::any::Any;

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::capabilities::DriverInfo;
use crate::driver::{Driver, ListStream, paginate};
use crate::error::{Error, Result};
use crate::leftover::Leftover;
use crate::multipart::{CompleteOptions, CompletedPart, MultipartUpload, PartOptions};
use crate::object::{Container, DeleteOutcome, ListEntry, Object, Page};
use crate::options::{CopyOptions, GetOptions, ListOptions, PutOptions, SignedUrlOptions};
use crate::payload::{GetResult, Payload};

/// A driver wrapping another: every method forwards to [`Layer::inner`] unless the
/// layer overrides it. Implementing `Layer` makes the type a [`Driver`].
#[async_trait]
pub trait Layer: Send + Sync + std::fmt::Debug + 'static {
    /// The wrapped driver.
    fn inner(&self) -> &dyn Driver;

    /// Name, capabilities and limits: the inner driver's, unless the layer changes them.
    fn info(&self) -> &DriverInfo {
        self.inner().info()
    }

    /// Forwards [`Driver::list_containers_page`] to the inner driver.
    async fn list_containers_page(&self, token: Option<String>) -> Result<Page<Container>> {
        self.inner().list_containers_page(token).await
    }

    /// Forwards [`Driver::get_container`] to the inner driver.
    async fn get_container(&self, name: &str) -> Result<Container> {
        self.inner().get_container(name).await
    }

    /// Forwards [`Driver::create_container`] to the inner driver.
    async fn create_container(&self, name: &str) -> Result<Container> {
        self.inner().create_container(name).await
    }

    /// Forwards [`Driver::delete_container`] to the inner driver.
    async fn delete_container(&self, name: &str) -> Result<()> {
        self.inner().delete_container(name).await
    }

    /// Forwards [`Driver::list_page`] to the inner driver.
    async fn list_page(
        &self,
        container: &str,
        options: &ListOptions,
        token: Option<String>,
    ) -> Result<Page<ListEntry>> {
        self.inner().list_page(container, options, token).await
    }

    /// Forwards [`Driver::head_object`] to the inner driver.
    async fn head_object(&self, container: &str, key: &str) -> Result<Object> {
        self.inner().head_object(container, key).await
    }

    /// Forwards [`Driver::get_object`] to the inner driver.
    async fn get_object(&self, container: &str, key: &str, options: &GetOptions) -> Result<GetResult> {
        self.inner().get_object(container, key, options).await
    }

    /// Forwards [`Driver::put_object`] to the inner driver.
    async fn put_object(&self, container: &str, key: &str, payload: Payload, options: &PutOptions) -> Result<Object> {
        self.inner().put_object(container, key, payload, options).await
    }

    /// Forwards [`Driver::delete_object`] to the inner driver.
    async fn delete_object(&self, container: &str, key: &str) -> Result<()> {
        self.inner().delete_object(container, key).await
    }

    /// Forwards [`Driver::delete_batch`] to the inner driver.
    async fn delete_batch(&self, container: &str, keys: &[String]) -> Result<Vec<DeleteOutcome>> {
        self.inner().delete_batch(container, keys).await
    }

    /// Forwards [`Driver::copy_object`] to the inner driver.
    async fn copy_object(
        &self,
        src_container: &str,
        src_key: &str,
        dst_container: &str,
        dst_key: &str,
        options: &CopyOptions,
    ) -> Result<Object> {
        self.inner().copy_object(src_container, src_key, dst_container, dst_key, options).await
    }

    /// Forwards [`Driver::create_multipart`] to the inner driver.
    async fn create_multipart(&self, container: &str, key: &str, options: &PutOptions) -> Result<MultipartUpload> {
        self.inner().create_multipart(container, key, options).await
    }

    /// Forwards [`Driver::put_part`] to the inner driver.
    async fn put_part(
        &self,
        upload: &MultipartUpload,
        part_number: u32,
        payload: Payload,
        options: &PartOptions,
    ) -> Result<CompletedPart> {
        self.inner().put_part(upload, part_number, payload, options).await
    }

    /// Forwards [`Driver::complete_multipart`] to the inner driver.
    async fn complete_multipart(
        &self,
        upload: &MultipartUpload,
        parts: &[CompletedPart],
        options: &CompleteOptions,
    ) -> Result<Object> {
        self.inner().complete_multipart(upload, parts, options).await
    }

    /// Forwards [`Driver::abort_multipart`] to the inner driver.
    async fn abort_multipart(&self, upload: &MultipartUpload) -> Result<()> {
        self.inner().abort_multipart(upload).await
    }

    /// Forwards [`Driver::list_multipart_uploads`] to the inner driver.
    async fn list_multipart_uploads(&self, container: &str, prefix: Option<&str>) -> Result<Vec<MultipartUpload>> {
        self.inner().list_multipart_uploads(container, prefix).await
    }

    /// Forwards [`Driver::list_leftovers`] to the inner driver.
    async fn list_leftovers(&self, container: &str, prefix: Option<&str>) -> Result<Vec<Leftover>> {
        self.inner().list_leftovers(container, prefix).await
    }

    /// Forwards [`Driver::remove_leftover`] to the inner driver.
    async fn remove_leftover(&self, leftover: &Leftover) -> Result<()> {
        self.inner().remove_leftover(leftover).await
    }

    /// Forwards [`Driver::signed_url`] to the inner driver.
    async fn signed_url(&self, container: &str, key: &str, options: &SignedUrlOptions) -> Result<String> {
        self.inner().signed_url(container, key, options).await
    }

    /// Forwards [`Driver::enable_container_cdn`] to the inner driver.
    async fn enable_container_cdn(&self, container: &str) -> Result<()> {
        self.inner().enable_container_cdn(container).await
    }

    /// Forwards [`Driver::enable_object_cdn`] to the inner driver.
    async fn enable_object_cdn(&self, container: &str, key: &str) -> Result<()> {
        self.inner().enable_object_cdn(container, key).await
    }

    /// Forwards [`Driver::get_container_cdn_url`] to the inner driver.
    async fn get_container_cdn_url(&self, container: &str) -> Result<String> {
        self.inner().get_container_cdn_url(container).await
    }

    /// Forwards [`Driver::get_object_cdn_url`] to the inner driver.
    async fn get_object_cdn_url(&self, container: &str, key: &str) -> Result<String> {
        self.inner().get_object_cdn_url(container, key).await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<T: Layer> Driver for T {
    fn info(&self) -> &DriverInfo {
        Layer::info(self)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn unsupported(&self, operation: &str) -> Error {
        Error::not_supported(&Layer::info(self).name, operation)
    }

    fn list_containers(&self) -> BoxStream<'_, Result<Container>> {
        paginate(move |token| Layer::list_containers_page(self, token))
    }

    fn list_objects<'a>(&'a self, container: &'a str, options: ListOptions) -> ListStream<'a> {
        paginate(move |token| {
            let options = options.clone();
            async move { Layer::list_page(self, container, &options, token).await }
        })
    }

    async fn list_containers_page(&self, token: Option<String>) -> Result<Page<Container>> {
        Layer::list_containers_page(self, token).await
    }

    async fn get_container(&self, name: &str) -> Result<Container> {
        Layer::get_container(self, name).await
    }

    async fn create_container(&self, name: &str) -> Result<Container> {
        Layer::create_container(self, name).await
    }

    async fn delete_container(&self, name: &str) -> Result<()> {
        Layer::delete_container(self, name).await
    }

    async fn list_page(
        &self,
        container: &str,
        options: &ListOptions,
        token: Option<String>,
    ) -> Result<Page<ListEntry>> {
        Layer::list_page(self, container, options, token).await
    }

    async fn head_object(&self, container: &str, key: &str) -> Result<Object> {
        Layer::head_object(self, container, key).await
    }

    async fn get_object(&self, container: &str, key: &str, options: &GetOptions) -> Result<GetResult> {
        Layer::get_object(self, container, key, options).await
    }

    async fn put_object(&self, container: &str, key: &str, payload: Payload, options: &PutOptions) -> Result<Object> {
        Layer::put_object(self, container, key, payload, options).await
    }

    async fn delete_object(&self, container: &str, key: &str) -> Result<()> {
        Layer::delete_object(self, container, key).await
    }

    async fn delete_batch(&self, container: &str, keys: &[String]) -> Result<Vec<DeleteOutcome>> {
        Layer::delete_batch(self, container, keys).await
    }

    async fn copy_object(
        &self,
        src_container: &str,
        src_key: &str,
        dst_container: &str,
        dst_key: &str,
        options: &CopyOptions,
    ) -> Result<Object> {
        Layer::copy_object(self, src_container, src_key, dst_container, dst_key, options).await
    }

    async fn create_multipart(&self, container: &str, key: &str, options: &PutOptions) -> Result<MultipartUpload> {
        Layer::create_multipart(self, container, key, options).await
    }

    async fn put_part(
        &self,
        upload: &MultipartUpload,
        part_number: u32,
        payload: Payload,
        options: &PartOptions,
    ) -> Result<CompletedPart> {
        Layer::put_part(self, upload, part_number, payload, options).await
    }

    async fn complete_multipart(
        &self,
        upload: &MultipartUpload,
        parts: &[CompletedPart],
        options: &CompleteOptions,
    ) -> Result<Object> {
        Layer::complete_multipart(self, upload, parts, options).await
    }

    async fn abort_multipart(&self, upload: &MultipartUpload) -> Result<()> {
        Layer::abort_multipart(self, upload).await
    }

    async fn list_multipart_uploads(&self, container: &str, prefix: Option<&str>) -> Result<Vec<MultipartUpload>> {
        Layer::list_multipart_uploads(self, container, prefix).await
    }

    async fn list_leftovers(&self, container: &str, prefix: Option<&str>) -> Result<Vec<Leftover>> {
        Layer::list_leftovers(self, container, prefix).await
    }

    async fn remove_leftover(&self, leftover: &Leftover) -> Result<()> {
        Layer::remove_leftover(self, leftover).await
    }

    async fn signed_url(&self, container: &str, key: &str, options: &SignedUrlOptions) -> Result<String> {
        Layer::signed_url(self, container, key, options).await
    }

    async fn enable_container_cdn(&self, container: &str) -> Result<()> {
        Layer::enable_container_cdn(self, container).await
    }

    async fn enable_object_cdn(&self, container: &str, key: &str) -> Result<()> {
        Layer::enable_object_cdn(self, container, key).await
    }

    async fn get_container_cdn_url(&self, container: &str) -> Result<String> {
        Layer::get_container_cdn_url(self, container).await
    }

    async fn get_object_cdn_url(&self, container: &str, key: &str) -> Result<String> {
        Layer::get_object_cdn_url(self, container, key).await
    }
}
