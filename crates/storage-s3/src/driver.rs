//! [`S3Driver`]: the driver value, its capabilities, and a thin `impl Driver` that hands
//! each call to the module of its operation family ([`crate::containers`],
//! [`crate::list`], [`crate::read`], [`crate::write`], [`crate::multipart`],
//! [`crate::signed`]).

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
use crate::config::S3Config;
use crate::{cdn, containers, list, multipart, read, signed, write};

/// The driver's name in errors, reports and the registry.
pub(crate) const NAME: &str = "s3";

/// Amazon S3 or an S3-compatible store.
#[derive(Clone)]
pub struct S3Driver {
    pub(crate) client: Arc<Client>,
    pub(crate) info: DriverInfo,
}

impl std::fmt::Debug for S3Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Driver").field("config", &self.client.config).finish()
    }
}

impl S3Driver {
    /// A driver with `config`.
    pub fn new(config: S3Config) -> Result<Self> {
        // Not claimed: versions (not implemented),
        // copy_if_absent (no S3 server here enforces a conditional copy), multipart_md5 (a
        // multipart object's ETag is S3's opaque `md5-of-part-md5s-N`, not its MD5).
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
        capabilities.batch_delete = true;
        capabilities.multipart = true;
        capabilities.list_multipart = true;
        // IBM IAM alone cannot presign (HMAC keys can).
        let presigns = config.ibm_iam.is_none() || config.credentials.is_some() || config.anonymous;
        capabilities.signed_urls = presigns;
        // The object CDN URL is a presigned GET.
        capabilities.object_cdn_url = presigns;
        // Public read through ACLs and bucket policies (cdn.rs); servers without them
        // answer NotSupported (their profiles turn `cdn` off).
        capabilities.cdn = presigns;
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
        // Libcloud's extra: canned ACLs, storage classes, SSE-S3 / SSE-KMS, tagging and
        // provider headers (headers.rs).
        capabilities.put_acl = true;
        capabilities.put_storage_class = true;
        capabilities.put_encryption = true;
        capabilities.put_tags = true;
        capabilities.put_headers = true;
        capabilities.stable_etag = true;
        capabilities.atomic_multipart = true;
        // CRC32C on every write, whole-object reads checked (checksum.rs).
        capabilities.upload_checksums = config.checksum == crate::config::Checksum::Crc32c;
        let info = DriverInfo {
            name: NAME.to_owned(),
            capabilities,
            limits: Limits::default(),
            container_rules: ContainerNameRules::S3,
        };
        Ok(S3Driver { client: Arc::new(Client::new(config)?), info })
    }

    /// A driver configured from the environment ([`S3Config::from_env`]).
    pub fn from_env() -> Result<Self> {
        Self::new(S3Config::from_env()?)
    }

    /// The configuration.
    pub fn config(&self) -> &S3Config {
        &self.client.config
    }

    /// The HTTP client, for requests this driver does not wrap.
    pub fn http_client(&self) -> &storage_http::HttpClient {
        &self.client.http
    }

    /// Refuses a bucket name S3 would refuse, before any request.
    pub(crate) fn check_bucket(&self, bucket: &str) -> Result<()> {
        container_name(bucket, self.info.container_rules).map_err(|e| e.with_driver(NAME))
    }

    /// Refuses a bucket name or key S3 would refuse, before any request.
    pub(crate) fn check_key(&self, bucket: &str, key: &str) -> Result<()> {
        self.check_bucket(bucket)?;
        object_key(key, self.info.limits.max_key_length).map_err(|e| e.with_driver(NAME).with_container(bucket))
    }
}

#[async_trait]
impl Driver for S3Driver {
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
        write::delete_batch(self, container, keys).await
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
        multipart::create(self, container, key, options, true).await
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
        // S3 cannot store a whole-object MD5 with CompleteMultipartUpload.
        let _ = options;
        multipart::complete(self, upload, parts).await
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

    async fn get_object_cdn_url(&self, container: &str, key: &str) -> Result<String> {
        signed::object_cdn_url(self, container, key).await
    }

    async fn enable_object_cdn(&self, container: &str, key: &str) -> Result<()> {
        cdn::enable_object(self, container, key).await
    }

    async fn enable_container_cdn(&self, container: &str) -> Result<()> {
        cdn::enable_container(self, container).await
    }

    async fn get_container_cdn_url(&self, container: &str) -> Result<String> {
        cdn::container_url(self, container)
    }
}
