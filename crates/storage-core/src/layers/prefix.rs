//! [`PrefixLayer`]: every key lives under a fixed prefix of the wrapped driver, and the
//! caller never sees it (object_store's and obstore's `PrefixStore`).

use std::sync::Arc;

use async_trait::async_trait;

use crate::capabilities::DriverInfo;
use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};
use crate::leftover::Leftover;
use crate::multipart::{CompleteOptions, CompletedPart, MultipartUpload, PartOptions};
use crate::object::{Container, DeleteOutcome, ListEntry, Object, Page};
use crate::options::{CopyOptions, GetOptions, ListOptions, PutOptions, SignedUrlOptions};
use crate::payload::{GetResult, Payload};
use crate::validate;

/// Stores every key under a fixed prefix of the wrapped driver: key `k` of this layer is
/// key `{prefix}k` of the inner driver, in the same container.
///
/// - Every key-taking call maps its keys (both sides of a copy; the key of a multipart
///   upload, a signed URL, an object CDN URL), and everything coming back is mapped back:
///   object names, listing entries and common prefixes, `start_after`, batch delete
///   outcomes, unfinished uploads and leftovers, and the key an error names.
/// - Listings only ever see what is under the prefix, so nothing outside it can be read,
///   overwritten or deleted through the layer: the prefix is prepended, never resolved.
/// - The prefix is a directory-like path: not empty, no leading `/`, no empty, `.` or `..`
///   segment, no NUL; a missing trailing `/` is added (`"tenant-a"` -> `"tenant-a/"`).
/// - `limits.max_key_length` shrinks by the prefix's length, and a key that is empty or
///   too long is refused (`InvalidObjectName`) before any request, naming the caller's
///   key.
/// - Container calls (list, create, delete, container CDN) pass through unchanged:
///   deleting a container deletes it whole, not only the prefix.
///
/// ```
/// use std::sync::Arc;
///
/// use storage_core::layers::PrefixLayer;
/// use storage_core::{Driver, DriverExt, MemoryDriver, PutOptions};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let memory = Arc::new(MemoryDriver::new());
/// let tenant = PrefixLayer::new(memory.clone(), "tenants/a")?;
/// assert_eq!(tenant.prefix(), "tenants/a/");
/// tenant.create_container("c").await?;
/// tenant.put_object("c", "notes.txt", "hi".into(), &PutOptions::default()).await?;
/// assert_eq!(tenant.list_keys("c", None).await?, ["notes.txt"]);
/// assert_eq!(memory.list_keys("c", None).await?, ["tenants/a/notes.txt"]);
/// # Ok::<(), storage_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct PrefixLayer {
    inner: Arc<dyn Driver>,
    prefix: String,
    info: DriverInfo,
}

impl PrefixLayer {
    /// Wraps `inner` so that every key lives under `prefix` (normalised to end with `/`).
    ///
    /// A prefix that is empty, starts with `/`, or holds an empty, `.` or `..` segment or
    /// a NUL is a `Config` error.
    pub fn new(inner: Arc<dyn Driver>, prefix: impl Into<String>) -> Result<Self> {
        let mut prefix = prefix.into();
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        let bad = |why: &str| {
            Err(Error::new(ErrorKind::Config, format!("the key prefix {prefix:?} is invalid: {why}"))
                .with_hint("use a relative path such as \"tenant-a/\""))
        };
        if prefix == "/" {
            return bad("it is empty");
        }
        if prefix.starts_with('/') {
            return bad("it starts with '/'");
        }
        if prefix.contains('\0') {
            return bad("it contains a NUL character");
        }
        let body = prefix.strip_suffix('/').unwrap_or(&prefix);
        if body.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
            return bad("it has an empty, '.' or '..' segment");
        }
        let mut info = inner.info().clone();
        info.limits.max_key_length = info.limits.max_key_length.saturating_sub(prefix.len());
        Ok(PrefixLayer { inner, prefix, info })
    }

    /// The prefix, ending with `/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The inner driver's key for `key`, after checking `key` against this layer's limits.
    fn key(&self, key: &str) -> Result<String> {
        validate::object_key(key, self.info.limits.max_key_length).map_err(|e| e.with_driver(&self.info.name))?;
        Ok(format!("{}{key}", self.prefix))
    }

    /// The inner driver's prefix for a listing prefix of this layer.
    fn under(&self, prefix: Option<&str>) -> String {
        format!("{}{}", self.prefix, prefix.unwrap_or(""))
    }

    /// This layer's key for an inner key, if it lies under the prefix.
    fn strip<'a>(&self, inner_key: &'a str) -> Option<&'a str> {
        inner_key.strip_prefix(self.prefix.as_str())
    }

    fn object(&self, mut object: Object) -> Object {
        if let Some(key) = self.strip(&object.name) {
            object.name = key.to_owned();
        }
        object
    }

    fn upload_in(&self, upload: &MultipartUpload) -> Result<MultipartUpload> {
        Ok(MultipartUpload { key: self.key(&upload.key)?, ..upload.clone() })
    }

    fn upload_out(&self, mut upload: MultipartUpload) -> Option<MultipartUpload> {
        upload.key = self.strip(&upload.key)?.to_owned();
        Some(upload)
    }

    /// An inner error, naming this layer's key instead of the inner one.
    fn error(&self, e: Error) -> Error {
        match e.key().and_then(|k| self.strip(k)).map(str::to_owned) {
            Some(key) => e.with_key(key),
            None => e,
        }
    }
}

// Every method written out, so a method added to `Driver` cannot bypass the layer.
#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl crate::layer::Layer for PrefixLayer {
    fn inner(&self) -> &dyn Driver {
        &*self.inner
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

    async fn enable_container_cdn(&self, container: &str) -> Result<()> {
        self.inner.enable_container_cdn(container).await
    }

    async fn get_container_cdn_url(&self, container: &str) -> Result<String> {
        self.inner.get_container_cdn_url(container).await
    }

    fn info(&self) -> &DriverInfo {
        &self.info
    }

    async fn list_page(
        &self,
        container: &str,
        options: &ListOptions,
        token: Option<String>,
    ) -> Result<Page<ListEntry>> {
        let mut inner = options.clone();
        inner.prefix = Some(self.under(options.prefix.as_deref()));
        inner.start_after = options.start_after.as_deref().map(|s| format!("{}{s}", self.prefix));
        let page = self.inner.list_page(container, &inner, token).await.map_err(|e| self.error(e))?;
        let items = page
            .items
            .into_iter()
            .filter_map(|entry| match entry {
                ListEntry::Object(o) => self.strip(&o.name).is_some().then(|| ListEntry::Object(self.object(o))),
                ListEntry::Prefix(p) => self.strip(&p).map(|p| ListEntry::Prefix(p.to_owned())),
            })
            .collect();
        Ok(Page { items, next_token: page.next_token })
    }

    async fn head_object(&self, container: &str, key: &str) -> Result<Object> {
        let inner = self.key(key)?;
        self.inner.head_object(container, &inner).await.map(|o| self.object(o)).map_err(|e| self.error(e))
    }

    async fn get_object(&self, container: &str, key: &str, options: &GetOptions) -> Result<GetResult> {
        let inner = self.key(key)?;
        let mut got = self.inner.get_object(container, &inner, options).await.map_err(|e| self.error(e))?;
        got.object = self.object(got.object);
        Ok(got)
    }

    async fn put_object(&self, container: &str, key: &str, payload: Payload, options: &PutOptions) -> Result<Object> {
        let inner = self.key(key)?;
        self.inner
            .put_object(container, &inner, payload, options)
            .await
            .map(|o| self.object(o))
            .map_err(|e| self.error(e))
    }

    async fn delete_object(&self, container: &str, key: &str) -> Result<()> {
        let inner = self.key(key)?;
        self.inner.delete_object(container, &inner).await.map_err(|e| self.error(e))
    }

    async fn delete_batch(&self, container: &str, keys: &[String]) -> Result<Vec<DeleteOutcome>> {
        let inner = keys.iter().map(|k| self.key(k)).collect::<Result<Vec<_>>>()?;
        let outcomes = self.inner.delete_batch(container, &inner).await.map_err(|e| self.error(e))?;
        Ok(outcomes
            .into_iter()
            .map(|o| DeleteOutcome {
                key: self.strip(&o.key).map_or(o.key.clone(), str::to_owned),
                result: o.result.map_err(|e| self.error(e)),
            })
            .collect())
    }

    async fn copy_object(
        &self,
        src_container: &str,
        src_key: &str,
        dst_container: &str,
        dst_key: &str,
        options: &CopyOptions,
    ) -> Result<Object> {
        let (src, dst) = (self.key(src_key)?, self.key(dst_key)?);
        self.inner
            .copy_object(src_container, &src, dst_container, &dst, options)
            .await
            .map(|o| self.object(o))
            .map_err(|e| self.error(e))
    }

    async fn create_multipart(&self, container: &str, key: &str, options: &PutOptions) -> Result<MultipartUpload> {
        let inner = self.key(key)?;
        let upload = self.inner.create_multipart(container, &inner, options).await.map_err(|e| self.error(e))?;
        Ok(MultipartUpload { key: key.to_owned(), ..upload })
    }

    async fn put_part(
        &self,
        upload: &MultipartUpload,
        part_number: u32,
        payload: Payload,
        options: &PartOptions,
    ) -> Result<CompletedPart> {
        let inner = self.upload_in(upload)?;
        self.inner.put_part(&inner, part_number, payload, options).await.map_err(|e| self.error(e))
    }

    async fn complete_multipart(
        &self,
        upload: &MultipartUpload,
        parts: &[CompletedPart],
        options: &CompleteOptions,
    ) -> Result<Object> {
        let inner = self.upload_in(upload)?;
        self.inner.complete_multipart(&inner, parts, options).await.map(|o| self.object(o)).map_err(|e| self.error(e))
    }

    async fn abort_multipart(&self, upload: &MultipartUpload) -> Result<()> {
        let inner = self.upload_in(upload)?;
        self.inner.abort_multipart(&inner).await.map_err(|e| self.error(e))
    }

    async fn list_multipart_uploads(&self, container: &str, prefix: Option<&str>) -> Result<Vec<MultipartUpload>> {
        let under = self.under(prefix);
        let uploads = self.inner.list_multipart_uploads(container, Some(&under)).await.map_err(|e| self.error(e))?;
        Ok(uploads.into_iter().filter_map(|u| self.upload_out(u)).collect())
    }

    async fn list_leftovers(&self, container: &str, prefix: Option<&str>) -> Result<Vec<Leftover>> {
        let under = self.under(prefix);
        let leftovers = self.inner.list_leftovers(container, Some(&under)).await.map_err(|e| self.error(e))?;
        Ok(leftovers
            .into_iter()
            .filter_map(|mut l| {
                l.key = self.strip(&l.key)?.to_owned();
                Some(l)
            })
            .collect())
    }

    async fn remove_leftover(&self, leftover: &Leftover) -> Result<()> {
        // Not `key()`: a leftover's key may be a directory prefix, `""` included.
        let inner = Leftover { key: format!("{}{}", self.prefix, leftover.key), ..leftover.clone() };
        self.inner.remove_leftover(&inner).await.map_err(|e| self.error(e))
    }

    async fn signed_url(&self, container: &str, key: &str, options: &SignedUrlOptions) -> Result<String> {
        let inner = self.key(key)?;
        self.inner.signed_url(container, &inner, options).await.map_err(|e| self.error(e))
    }

    async fn enable_object_cdn(&self, container: &str, key: &str) -> Result<()> {
        let inner = self.key(key)?;
        self.inner.enable_object_cdn(container, &inner).await.map_err(|e| self.error(e))
    }

    async fn get_object_cdn_url(&self, container: &str, key: &str) -> Result<String> {
        let inner = self.key(key)?;
        self.inner.get_object_cdn_url(container, &inner).await.map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryDriver;

    fn layer(prefix: &str) -> Result<PrefixLayer> {
        PrefixLayer::new(Arc::new(MemoryDriver::new()), prefix)
    }

    #[test]
    fn prefixes_are_normalised_or_refused() {
        assert_eq!(layer("a").map(|l| l.prefix().to_owned()).ok().as_deref(), Some("a/"));
        assert_eq!(layer("a/b/").map(|l| l.prefix().to_owned()).ok().as_deref(), Some("a/b/"));
        for bad in ["", "/", "/a", "a//b", "a/../b", "./a", "a/..", "a\0b"] {
            let e = layer(bad).err().map(|e| e.kind());
            assert_eq!(e, Some(ErrorKind::Config), "{bad:?} must be refused");
        }
    }

    #[test]
    fn the_key_limit_shrinks_by_the_prefix() -> Result<()> {
        let l = layer("abc")?;
        let inner = MemoryDriver::new().info().limits.max_key_length;
        assert_eq!(l.info.limits.max_key_length, inner - 4);
        assert_eq!(l.key("").map_err(|e| e.kind()).err(), Some(ErrorKind::InvalidObjectName));
        assert_eq!(l.key(&"k".repeat(inner - 3)).map_err(|e| e.kind()).err(), Some(ErrorKind::InvalidObjectName));
        assert_eq!(l.key("k")?, "abc/k");
        Ok(())
    }
}
