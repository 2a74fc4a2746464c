//! The [`Driver`] implementation of [`LocalDriver`]: each method validates the names
//! into paths ([`LocalDriver::locate`], [`LocalDriver::container_dir`]) and delegates to
//! its operation file, which runs the filesystem work on the blocking pool; errors get
//! the driver, container and key they lack.
//!
//! Kept to delegation only, so the table of operations is readable at a glance and
//! every driver crate has the same one.

use std::any::Any;

use async_trait::async_trait;
use storage_core::{
    CompleteOptions, CompletedPart, Container, CopyOptions, Driver, DriverInfo, GetOptions, GetResult, Leftover,
    ListEntry, ListOptions, MultipartUpload, Object, Page, PartOptions, Payload, PutOptions, Result,
};

use crate::core::{LocalDriver, NAME};
use crate::errors::ctx;
use crate::{cdn, containers, leftovers, list, multipart, read, write};

#[async_trait]
impl Driver for LocalDriver {
    fn info(&self) -> &DriverInfo {
        &self.info
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    async fn list_containers_page(&self, _token: Option<String>) -> Result<Page<Container>> {
        containers::list(self.root.clone()).await.map_err(|e| e.or_context(NAME, None, None))
    }

    async fn get_container(&self, name: &str) -> Result<Container> {
        let dir = self.container_dir(name)?;
        containers::get(dir, name.to_owned()).await.map_err(ctx(name, None))
    }

    async fn create_container(&self, name: &str) -> Result<Container> {
        let dir = self.container_dir(name)?;
        containers::create(dir, name.to_owned()).await.map_err(ctx(name, None))
    }

    async fn delete_container(&self, name: &str) -> Result<()> {
        let dir = self.container_dir(name)?;
        containers::delete(dir, name.to_owned()).await.map_err(ctx(name, None))
    }

    async fn list_page(
        &self,
        container: &str,
        options: &ListOptions,
        token: Option<String>,
    ) -> Result<Page<ListEntry>> {
        let dir = self.container_dir(container)?;
        list::page(self, dir, container, options, token).await.map_err(ctx(container, None))
    }

    async fn head_object(&self, container: &str, key: &str) -> Result<Object> {
        let op = self.locate(container, key)?;
        read::head(self, op, container, key).await.map_err(ctx(container, Some(key)))
    }

    async fn get_object(&self, container: &str, key: &str, options: &GetOptions) -> Result<GetResult> {
        let op = self.locate(container, key)?;
        read::get(self, op, container, key, options).await.map_err(ctx(container, Some(key)))
    }

    async fn put_object(&self, container: &str, key: &str, payload: Payload, options: &PutOptions) -> Result<Object> {
        options.check_extras(self.info())?;
        let op = self.locate(container, key)?;
        // The next writer's cleanup of what killed writers left in this directory
        // (`sweep.rs`), now and then, after this put.
        #[cfg(target_os = "linux")]
        let sweep = crate::sweep::due(&op).then(|| op.clone());
        let put = write::put(self, op, container, key, payload, options).await.map_err(ctx(container, Some(key)))?;
        #[cfg(target_os = "linux")]
        if let Some(op) = sweep {
            let _ = crate::io::blocking(move || Ok(crate::sweep::sweep(&op))).await;
        }
        Ok(put)
    }

    async fn delete_object(&self, container: &str, key: &str) -> Result<()> {
        let op = self.locate(container, key)?;
        write::delete(self, op, container, key).await.map_err(ctx(container, Some(key)))
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
        let (src, dst) = (self.locate(src_container, src_key)?, self.locate(dst_container, dst_key)?);
        write::copy(self, src, (src_container, src_key), dst, (dst_container, dst_key), options)
            .await
            .map_err(ctx(dst_container, Some(dst_key)))
    }

    async fn create_multipart(&self, container: &str, key: &str, options: &PutOptions) -> Result<MultipartUpload> {
        options.check_extras(self.info())?;
        let op = self.locate(container, key)?;
        multipart::create(op, container, key, options, self.shared.options.fast_paths)
            .await
            .map_err(ctx(container, Some(key)))
    }

    async fn put_part(
        &self,
        upload: &MultipartUpload,
        part_number: u32,
        payload: Payload,
        options: &PartOptions,
    ) -> Result<CompletedPart> {
        let dir = self.container_dir(&upload.container)?;
        multipart::put_part(self, dir, upload, part_number, payload, options.content_md5.as_deref())
            .await
            .map_err(ctx(&upload.container, Some(&upload.key)))
    }

    async fn complete_multipart(
        &self,
        upload: &MultipartUpload,
        parts: &[CompletedPart],
        options: &CompleteOptions,
    ) -> Result<Object> {
        // The whole object's hashes are the driver's own (combined from the parts' or
        // computed while they are assembled).
        let _ = options;
        let op = self.locate(&upload.container, &upload.key)?;
        multipart::complete(self, op, upload, parts).await.map_err(ctx(&upload.container, Some(&upload.key)))
    }

    async fn abort_multipart(&self, upload: &MultipartUpload) -> Result<()> {
        let dir = self.container_dir(&upload.container)?;
        multipart::abort(dir, upload, self.shared.options.fast_paths)
            .await
            .map_err(ctx(&upload.container, Some(&upload.key)))
    }

    async fn list_multipart_uploads(&self, container: &str, prefix: Option<&str>) -> Result<Vec<MultipartUpload>> {
        let dir = self.container_dir(container)?;
        multipart::list(dir, container, prefix, self.shared.options.fast_paths).await.map_err(ctx(container, None))
    }

    async fn list_leftovers(&self, container: &str, prefix: Option<&str>) -> Result<Vec<Leftover>> {
        let dir = self.container_dir(container)?;
        leftovers::list_async(dir, container, prefix, self.shared.options.fast_paths)
            .await
            .map_err(ctx(container, None))
    }

    async fn remove_leftover(&self, leftover: &Leftover) -> Result<()> {
        let dir = self.container_dir(&leftover.container)?;
        leftovers::remove(self, dir, leftover).await
    }

    async fn enable_container_cdn(&self, container: &str) -> Result<()> {
        self.get_container(container).await.map(|_| ())
    }

    async fn enable_object_cdn(&self, container: &str, key: &str) -> Result<()> {
        self.head_object(container, key).await.map(|_| ())
    }

    async fn get_container_cdn_url(&self, container: &str) -> Result<String> {
        let dir = self.container_dir(container)?;
        cdn::container_url(self, dir, container).await
    }

    async fn get_object_cdn_url(&self, container: &str, key: &str) -> Result<String> {
        let op = self.locate(container, key)?;
        cdn::object_url(self, op, container, key).await
    }
}
