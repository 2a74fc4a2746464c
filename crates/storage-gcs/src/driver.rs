//! [`GcsDriver`]: the driver value, its capabilities and limits, and a thin
//! `impl Driver` that hands each call to the module of its operation family
//! ([`crate::containers`], [`crate::list`], [`crate::read`], [`crate::write`],
//! [`crate::multipart`], [`crate::signed`], [`crate::cdn`]; the extras of writes in
//! [`crate::extras`]).

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use storage_core::kit::{ContainerNameRules, container_name, object_key};
use storage_core::{
    Capabilities, CompleteOptions, CompletedPart, Container, CopyOptions, DeleteOutcome, Driver, DriverInfo,
    GetOptions, GetResult, Limits, ListEntry, ListOptions, MultipartUpload, Object, Page, PartOptions, Payload,
    PutOptions, Result, SignedUrlOptions,
};

use crate::client::Client;
use crate::config::GcsConfig;
use crate::{batch, cdn, containers, list, multipart, read, signed, write};

/// The driver's name in errors, reports and the registry.
pub(crate) const NAME: &str = "gcs";

/// Google Cloud Storage (JSON API v1).
#[derive(Clone)]
pub struct GcsDriver {
    pub(crate) client: Arc<Client>,
    pub(crate) info: DriverInfo,
}

impl std::fmt::Debug for GcsDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcsDriver").field("config", &self.client.config).finish()
    }
}

impl GcsDriver {
    /// A driver with `config` (Application Default Credentials are looked up now when
    /// the configuration names none; tokens are fetched on the first request).
    pub fn new(config: GcsConfig) -> Result<Self> {
        // Not claimed: multipart_md5 (a composite object has no MD5; its CRC32C is checked
        // instead), put_tags (GCS has no object tags).
        let mut capabilities = Capabilities::NONE;
        capabilities.list_containers = true;
        capabilities.manage_containers = true;
        capabilities.any_delimiter = true;
        capabilities.start_after = true;
        capabilities.ranges = true;
        capabilities.suffix_ranges = true;
        capabilities.conditional_get_etag = true;
        capabilities.conditional_get_time = true;
        capabilities.put_if_absent = true;
        capabilities.put_if_match = true;
        capabilities.put_content_md5 = true;
        capabilities.copy = true;
        capabilities.copy_if_absent = true;
        // A version is the object's generation (`Object::version`); reads of one are pinned
        // to it, conditions included. Older generations stay readable where the bucket
        // keeps them (object versioning).
        capabilities.versions = true;
        // The JSON batch (keys deleted one by one where the server has no batch endpoint).
        capabilities.batch_delete = true;
        capabilities.multipart = true;
        capabilities.list_multipart = true;
        capabilities.signed_urls = true;
        // Public reads: an object ACL, the bucket's IAM policy, public URLs (cdn.rs).
        capabilities.cdn = true;
        capabilities.object_cdn_url = true;
        // Libcloud's extra: predefined ACLs, storage classes, Cloud KMS keys, and the
        // content-language / custom-time headers (extras.rs).
        capabilities.put_acl = true;
        capabilities.put_storage_class = true;
        capabilities.put_encryption = true;
        capabilities.put_headers = true;
        capabilities.user_metadata = true;
        capabilities.content_headers = true;
        capabilities.md5_hash = true;
        capabilities.refuses_nonempty_delete = true;
        capabilities.key_and_prefix = true;
        capabilities.verbatim_keys = true;
        capabilities.container_checked = true;
        capabilities.atomic_conditional_put = true;
        capabilities.atomic_overwrite = true;
        capabilities.parallel_upload = true;
        capabilities.stable_etag = true;
        capabilities.atomic_multipart = true;
        // Every upload carries its CRC32C (simple and multipart requests in the object
        // resource, the last request of a resumable upload as x-goog-hash, each staged
        // part), which GCS checks, and the driver compares with the CRC32C stored; a
        // composed object's against its parts' combined; whole downloads are checked
        // against x-goog-hash.
        capabilities.upload_checksums = true;
        let limits = Limits {
            // Composite parts may be any size; 5 MiB keeps the part count sensible.
            min_part_size: 1,
            max_part_size: 5 * 1024 * 1024 * 1024,
            max_parts: multipart::MAX_PARTS,
            max_batch_delete: batch::MAX_BATCH,
            max_key_length: 1024,
            max_single_put: 5 * 1024 * 1024 * 1024,
            max_page_size: list::MAX_PAGE,
        };
        let info = DriverInfo { name: NAME.to_owned(), capabilities, limits, container_rules: ContainerNameRules::Gcs };
        Ok(GcsDriver { client: Arc::new(Client::new(config)?), info })
    }

    /// A driver configured from the environment ([`GcsConfig::from_env`]).
    pub fn from_env() -> Result<Self> {
        Self::new(GcsConfig::from_env()?)
    }

    /// The configuration.
    pub fn config(&self) -> &GcsConfig {
        &self.client.config
    }

    /// The HTTP client, for requests this driver does not wrap.
    pub fn http_client(&self) -> &storage_http::HttpClient {
        &self.client.http
    }

    /// Refuses a bucket name GCS would refuse, before any request.
    pub(crate) fn check_bucket(&self, bucket: &str) -> Result<()> {
        container_name(bucket, self.info.container_rules).map_err(|e| e.with_driver(NAME))
    }

    /// Refuses a bucket name or object name GCS would refuse, before any request.
    pub(crate) fn check_key(&self, bucket: &str, key: &str) -> Result<()> {
        self.check_bucket(bucket)?;
        object_key(key, self.info.limits.max_key_length).map_err(|e| e.with_driver(NAME).with_container(bucket))
    }
}

#[async_trait]
impl Driver for GcsDriver {
    fn info(&self) -> &DriverInfo {
        &self.info
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    async fn list_containers_page(&self, token: Option<String>) -> Result<Page<Container>> {
        containers::list_page(self, token).await
    }

    async fn get_container(&self, name: &str) -> Result<Container> {
        containers::get(self, name).await
    }

    async fn create_container(&self, name: &str) -> Result<Container> {
        containers::create(self, name).await
    }

    async fn delete_container(&self, name: &str) -> Result<()> {
        containers::delete(self, name).await
    }

    async fn list_page(
        &self,
        container: &str,
        options: &ListOptions,
        token: Option<String>,
    ) -> Result<Page<ListEntry>> {
        list::page(self, container, options, token).await
    }

    async fn head_object(&self, container: &str, key: &str) -> Result<Object> {
        read::head(self, container, key).await
    }

    async fn get_object(&self, container: &str, key: &str, options: &GetOptions) -> Result<GetResult> {
        read::get(self, container, key, options).await
    }

    async fn put_object(&self, container: &str, key: &str, payload: Payload, options: &PutOptions) -> Result<Object> {
        options.check_extras(self.info())?;
        write::put(self, container, key, payload, options).await
    }

    async fn delete_object(&self, container: &str, key: &str) -> Result<()> {
        write::delete(self, container, key).await
    }

    async fn delete_batch(&self, container: &str, keys: &[String]) -> Result<Vec<DeleteOutcome>> {
        batch::delete_batch(self, container, keys).await
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
        write::copy(self, (src_container, src_key), (dst_container, dst_key), options).await
    }

    async fn create_multipart(&self, container: &str, key: &str, options: &PutOptions) -> Result<MultipartUpload> {
        options.check_extras(self.info())?;
        multipart::create(self, container, key, options).await
    }

    async fn put_part(
        &self,
        upload: &MultipartUpload,
        part_number: u32,
        payload: Payload,
        options: &PartOptions,
    ) -> Result<CompletedPart> {
        multipart::put_part(self, upload, part_number, payload, options).await
    }

    async fn complete_multipart(
        &self,
        upload: &MultipartUpload,
        parts: &[CompletedPart],
        options: &CompleteOptions,
    ) -> Result<Object> {
        multipart::complete(self, upload, parts, options).await
    }

    async fn abort_multipart(&self, upload: &MultipartUpload) -> Result<()> {
        multipart::abort(self, upload).await
    }

    async fn list_multipart_uploads(&self, container: &str, prefix: Option<&str>) -> Result<Vec<MultipartUpload>> {
        multipart::list_uploads(self, container, prefix).await
    }

    async fn signed_url(&self, container: &str, key: &str, options: &SignedUrlOptions) -> Result<String> {
        signed::url(self, container, key, options).await
    }

    async fn enable_container_cdn(&self, container: &str) -> Result<()> {
        cdn::enable_container(self, container).await
    }

    async fn enable_object_cdn(&self, container: &str, key: &str) -> Result<()> {
        cdn::enable_object(self, container, key).await
    }

    async fn get_container_cdn_url(&self, container: &str) -> Result<String> {
        cdn::container_url(self, container).await
    }

    async fn get_object_cdn_url(&self, container: &str, key: &str) -> Result<String> {
        cdn::object_url(self, container, key).await
    }
}
