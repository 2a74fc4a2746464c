//! [`ReadOnlyLayer`]: reads pass, every write is refused before it reaches the driver.

use std::sync::Arc;

use async_trait::async_trait;

use crate::capabilities::DriverInfo;
use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};
use crate::leftover::Leftover;
use crate::multipart::{CompleteOptions, CompletedPart, MultipartUpload, PartOptions};
use crate::object::{Container, DeleteOutcome, ListEntry, Object, Page};
use crate::options::{CopyOptions, GetOptions, ListOptions, PutOptions, SignedMethod, SignedUrlOptions};
use crate::payload::{GetResult, Payload};

/// Refuses every call that would change the store, before it reaches the wrapped driver;
/// reads pass unchanged.
///
/// - Refused, with `PermissionDenied` (the answer read-only credentials get from a
///   backend: the driver can write, this handle may not) and a message saying the handle
///   is read-only: creating and deleting containers, `put_object`, `delete_object`,
///   `delete_batch` (the whole call), `copy_object`, the multipart calls, removing
///   leftovers, enabling CDN, and signed URLs for `PUT` or `DELETE`.
/// - Passing: listings, HEAD, GET, signed `GET` URLs, listing unfinished uploads
///   and leftovers, CDN URLs.
/// - [`Driver::info`] turns off the write capabilities (`manage_containers`, conditional
///   and MD5-checked puts, `copy`, `batch_delete`, `multipart`, `cdn`, atomic writes,
///   parallel uploads), so the conformance suite and capability-aware callers skip writes.
///
/// ```
/// use std::sync::Arc;
///
/// use storage_core::layers::ReadOnlyLayer;
/// use storage_core::{Driver, DriverExt, ErrorKind, MemoryDriver, PutOptions};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let memory = Arc::new(MemoryDriver::new());
/// memory.create_container("c").await?;
/// memory.put_object("c", "k", "v".into(), &PutOptions::default()).await?;
/// let reader = ReadOnlyLayer::new(memory);
/// assert_eq!(reader.get_bytes("c", "k").await?, "v");
/// let refused = reader.delete_object("c", "k").await.unwrap_err();
/// assert_eq!(refused.kind(), ErrorKind::PermissionDenied);
/// assert!(!reader.info().capabilities.multipart);
/// # Ok::<(), storage_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct ReadOnlyLayer {
    inner: Arc<dyn Driver>,
    info: DriverInfo,
}

impl ReadOnlyLayer {
    /// Wraps `inner`, refusing writes.
    pub fn new(inner: Arc<dyn Driver>) -> Self {
        let mut info = inner.info().clone();
        let caps = &mut info.capabilities;
        caps.manage_containers = false;
        caps.put_if_absent = false;
        caps.put_if_match = false;
        caps.put_content_md5 = false;
        caps.copy = false;
        caps.copy_if_absent = false;
        caps.batch_delete = false;
        caps.multipart = false;
        caps.cdn = false;
        caps.atomic_conditional_put = false;
        caps.atomic_overwrite = false;
        caps.parallel_upload = false;
        caps.atomic_multipart = false;
        ReadOnlyLayer { inner, info }
    }

    fn refuse(&self, operation: &str, container: &str, key: Option<&str>) -> Error {
        let e = Error::new(ErrorKind::PermissionDenied, format!("{operation} refused: this handle is read-only"))
            .with_driver(&self.info.name)
            .with_container(container)
            .with_hint("write through a handle without the read-only layer");
        match key {
            Some(key) => e.with_key(key),
            None => e,
        }
    }
}

// Every method written out, so a method added to `Driver` cannot bypass the layer.
#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl crate::layer::Layer for ReadOnlyLayer {
    fn inner(&self) -> &dyn Driver {
        &*self.inner
    }

    async fn list_containers_page(&self, token: Option<String>) -> Result<Page<Container>> {
        self.inner.list_containers_page(token).await
    }

    async fn get_container(&self, name: &str) -> Result<Container> {
        self.inner.get_container(name).await
    }

    async fn list_page(
        &self,
        container: &str,
        options: &ListOptions,
        token: Option<String>,
    ) -> Result<Page<ListEntry>> {
        self.inner.list_page(container, options, token).await
    }

    async fn head_object(&self, container: &str, key: &str) -> Result<Object> {
        self.inner.head_object(container, key).await
    }

    async fn get_object(&self, container: &str, key: &str, options: &GetOptions) -> Result<GetResult> {
        self.inner.get_object(container, key, options).await
    }

    async fn list_multipart_uploads(&self, container: &str, prefix: Option<&str>) -> Result<Vec<MultipartUpload>> {
        self.inner.list_multipart_uploads(container, prefix).await
    }

    async fn list_leftovers(&self, container: &str, prefix: Option<&str>) -> Result<Vec<Leftover>> {
        self.inner.list_leftovers(container, prefix).await
    }

    async fn get_container_cdn_url(&self, container: &str) -> Result<String> {
        self.inner.get_container_cdn_url(container).await
    }

    async fn get_object_cdn_url(&self, container: &str, key: &str) -> Result<String> {
        self.inner.get_object_cdn_url(container, key).await
    }

    fn info(&self) -> &DriverInfo {
        &self.info
    }

    async fn create_container(&self, name: &str) -> Result<Container> {
        Err(self.refuse("creating a container", name, None))
    }

    async fn delete_container(&self, name: &str) -> Result<()> {
        Err(self.refuse("deleting a container", name, None))
    }

    async fn put_object(&self, container: &str, key: &str, payload: Payload, options: &PutOptions) -> Result<Object> {
        let _ = (payload, options);
        Err(self.refuse("writing an object", container, Some(key)))
    }

    async fn delete_object(&self, container: &str, key: &str) -> Result<()> {
        Err(self.refuse("deleting an object", container, Some(key)))
    }

    async fn delete_batch(&self, container: &str, keys: &[String]) -> Result<Vec<DeleteOutcome>> {
        let _ = keys;
        Err(self.refuse("deleting objects", container, None))
    }

    async fn copy_object(
        &self,
        src_container: &str,
        src_key: &str,
        dst_container: &str,
        dst_key: &str,
        options: &CopyOptions,
    ) -> Result<Object> {
        let _ = (src_container, src_key, options);
        Err(self.refuse("copying an object", dst_container, Some(dst_key)))
    }

    async fn create_multipart(&self, container: &str, key: &str, options: &PutOptions) -> Result<MultipartUpload> {
        let _ = options;
        Err(self.refuse("starting a multipart upload", container, Some(key)))
    }

    async fn put_part(
        &self,
        upload: &MultipartUpload,
        part_number: u32,
        payload: Payload,
        options: &PartOptions,
    ) -> Result<CompletedPart> {
        let _ = (part_number, payload, options);
        Err(self.refuse("uploading a part", &upload.container, Some(&upload.key)))
    }

    async fn complete_multipart(
        &self,
        upload: &MultipartUpload,
        parts: &[CompletedPart],
        options: &CompleteOptions,
    ) -> Result<Object> {
        let _ = (parts, options);
        Err(self.refuse("completing a multipart upload", &upload.container, Some(&upload.key)))
    }

    async fn abort_multipart(&self, upload: &MultipartUpload) -> Result<()> {
        Err(self.refuse("aborting a multipart upload", &upload.container, Some(&upload.key)))
    }

    async fn remove_leftover(&self, leftover: &Leftover) -> Result<()> {
        Err(self.refuse("removing a leftover", &leftover.container, Some(&leftover.key)))
    }

    async fn signed_url(&self, container: &str, key: &str, options: &SignedUrlOptions) -> Result<String> {
        match options.method {
            SignedMethod::Get => self.inner.signed_url(container, key, options).await,
            SignedMethod::Put | SignedMethod::Delete => {
                Err(self.refuse("signing a URL that writes", container, Some(key)))
            }
        }
    }

    async fn enable_container_cdn(&self, container: &str) -> Result<()> {
        Err(self.refuse("enabling CDN", container, None))
    }

    async fn enable_object_cdn(&self, container: &str, key: &str) -> Result<()> {
        Err(self.refuse("enabling CDN", container, Some(key)))
    }
}
