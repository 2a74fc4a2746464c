//! The [`Driver`] implementation of [`RedisDriver`]: each method delegates to the
//! operation it names, implemented on the shared state ([`crate::core::Inner`]) in its
//! operation file (`containers.rs`, `list.rs`, `read.rs`, `write.rs`, `multipart.rs`,
//! `leftovers.rs`), which checks the names and adds the context to errors.
//!
//! Kept to delegation only, so the table of operations is readable at a glance and
//! every driver crate has the same one.

use std::any::Any;

use async_trait::async_trait;
use storage_core::{
    CompleteOptions, CompletedPart, Container, CopyOptions, DeleteOutcome, Driver, DriverInfo, GetOptions, GetResult,
    Leftover, ListEntry, ListOptions, MultipartUpload, Object, Page, PartOptions, Payload, PutOptions, Result,
};

use crate::core::RedisDriver;

#[async_trait]
impl Driver for RedisDriver {
    fn info(&self) -> &DriverInfo {
        &self.inner.info
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    async fn list_containers_page(&self, token: Option<String>) -> Result<Page<Container>> {
        self.inner.list_containers_page(token).await
    }

    async fn get_container(&self, name: &str) -> Result<Container> {
        self.inner.get_container(name).await
    }

    async fn create_container(&self, name: &str) -> Result<Container> {
        self.inner.create_container(name).await
    }

    async fn delete_container(&self, name: &str) -> Result<()> {
        self.inner.delete_container(name).await
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
        self.inner.head(container, key).await
    }

    async fn get_object(&self, container: &str, key: &str, options: &GetOptions) -> Result<GetResult> {
        self.inner.get(container, key, options).await
    }

    async fn put_object(&self, container: &str, key: &str, payload: Payload, options: &PutOptions) -> Result<Object> {
        options.check_extras(self.info())?;
        self.inner.put(container, key, payload, options).await
    }

    async fn delete_object(&self, container: &str, key: &str) -> Result<()> {
        self.inner.delete(container, key).await
    }

    async fn delete_batch(&self, container: &str, keys: &[String]) -> Result<Vec<DeleteOutcome>> {
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
        if let Some(replace) = &options.replace {
            replace.check_extras(self.info())?;
        }
        self.inner.copy(src_container, src_key, dst_container, dst_key, options).await
    }

    async fn create_multipart(&self, container: &str, key: &str, options: &PutOptions) -> Result<MultipartUpload> {
        options.check_extras(self.info())?;
        self.inner.create_multipart(container, key, options).await
    }

    async fn put_part(
        &self,
        upload: &MultipartUpload,
        part_number: u32,
        payload: Payload,
        _options: &PartOptions,
    ) -> Result<CompletedPart> {
        self.inner.put_part(upload, part_number, payload).await
    }

    async fn complete_multipart(
        &self,
        upload: &MultipartUpload,
        parts: &[CompletedPart],
        options: &CompleteOptions,
    ) -> Result<Object> {
        let _ = options;
        self.inner.complete_multipart(upload, parts).await
    }

    async fn abort_multipart(&self, upload: &MultipartUpload) -> Result<()> {
        self.inner.abort_multipart(upload).await
    }

    async fn list_multipart_uploads(&self, container: &str, prefix: Option<&str>) -> Result<Vec<MultipartUpload>> {
        self.inner.list_multipart_uploads(container, prefix).await
    }

    async fn list_leftovers(&self, container: &str, prefix: Option<&str>) -> Result<Vec<Leftover>> {
        self.inner.list_leftovers(container, prefix).await
    }

    async fn remove_leftover(&self, leftover: &Leftover) -> Result<()> {
        self.inner.remove_leftover(leftover).await
    }
}
