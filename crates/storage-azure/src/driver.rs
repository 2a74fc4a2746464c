//! [`AzureDriver`]: the driver value, its capabilities and limits, and a thin
//! `impl Driver` that hands each call to the module of its operation family
//! ([`crate::containers`], [`crate::list`], [`crate::read`], [`crate::write`],
//! [`crate::batch`], [`crate::multipart`], [`crate::signed`]).

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use storage_core::kit::{ContainerNameRules, container_name, object_key};
use storage_core::{
    Capabilities, CompleteOptions, CompletedPart, Container, CopyOptions, DeleteOutcome, Driver, DriverInfo, Error,
    ErrorKind, GetOptions, GetResult, Limits, ListEntry, ListOptions, MultipartUpload, Object, Page, PartOptions,
    Payload, PutOptions, Result, SignedUrlOptions,
};

use crate::client::Client;
use crate::config::AzureConfig;
use crate::{batch, containers, list, multipart, read, signed, write};

/// The driver's name in errors, reports and the registry.
pub(crate) const NAME: &str = "azure";

/// Azure Blob Storage (block blobs).
#[derive(Clone)]
pub struct AzureDriver {
    pub(crate) client: Arc<Client>,
    pub(crate) info: DriverInfo,
}

impl std::fmt::Debug for AzureDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureDriver").field("config", &self.client.config).finish()
    }
}

impl AzureDriver {
    /// A driver with `config`.
    pub fn new(config: AzureConfig) -> Result<Self> {
        // Not claimed: versions (not implemented), list_multipart (uncommitted
        // blocks cannot be listed per upload), multipart_md5 (a block-list blob has no
        // MD5 unless the caller gives it: its hash is the CRC32C kept in its metadata).
        // upload_checksums: every Put Blob and Put Block carries its CRC64, which Azure
        // checks; a committed blob keeps its whole CRC32C, which whole reads check
        // (`checksum`).
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
        capabilities.batch_delete = true;
        capabilities.multipart = true;
        capabilities.signed_urls = true;
        // Public access is per container: enable_container_cdn sets it (only when called),
        // enable_object_cdn checks the blob is readable through it (NotSupported when the
        // container is private), get_object_cdn_url is a plain URL in a public container
        // and a read SAS in a private one.
        capabilities.cdn = true;
        capabilities.object_cdn_url = true;
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
        capabilities.upload_checksums = true;
        // Libcloud's extra (see `extras`): access tier, index tags, encryption scopes and
        // x-ms-* headers. Not put_acl: Azure has no per-blob ACL.
        capabilities.put_storage_class = true;
        capabilities.put_encryption = true;
        capabilities.put_tags = true;
        capabilities.put_headers = true;
        let limits = Limits {
            min_part_size: 1,
            max_part_size: 4000 * 1024 * 1024,
            max_parts: multipart::MAX_BLOCKS,
            max_batch_delete: batch::MAX_BATCH,
            max_key_length: 1024,
            max_single_put: 5000 * 1024 * 1024,
            max_page_size: list::MAX_PAGE,
        };
        let info =
            DriverInfo { name: NAME.to_owned(), capabilities, limits, container_rules: ContainerNameRules::Azure };
        Ok(AzureDriver { client: Arc::new(Client::new(config)?), info })
    }

    /// A driver configured from the environment ([`AzureConfig::from_env`]).
    pub fn from_env() -> Result<Self> {
        Self::new(AzureConfig::from_env()?)
    }

    /// The configuration.
    pub fn config(&self) -> &AzureConfig {
        &self.client.config
    }

    /// The storage account requests go to.
    pub fn account(&self) -> &str {
        self.client.account()
    }

    /// The HTTP client, for requests this driver does not wrap.
    pub fn http_client(&self) -> &storage_http::HttpClient {
        &self.client.http
    }

    /// Refuses a container name Azure would refuse, before any request.
    pub(crate) fn check_container(&self, container: &str) -> Result<()> {
        container_name(container, self.info.container_rules).map_err(|e| e.with_driver(NAME))
    }

    /// Refuses a container name or blob name Azure would refuse, before any request.
    pub(crate) fn check_key(&self, container: &str, key: &str) -> Result<()> {
        self.check_container(container)?;
        object_key(key, self.info.limits.max_key_length).map_err(|e| e.with_driver(NAME).with_container(container))
    }
}

#[async_trait]
impl Driver for AzureDriver {
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
        let _ = prefix;
        self.check_container(container)?;
        Err(Error::new(
            ErrorKind::NotSupported,
            "Azure keeps no list of unfinished uploads: uncommitted blocks belong to a blob name and the service discards them after a week",
        )
        .with_driver(NAME)
        .with_container(container))
    }

    async fn signed_url(&self, container: &str, key: &str, options: &SignedUrlOptions) -> Result<String> {
        signed::url(self, container, key, options).await
    }

    async fn enable_container_cdn(&self, container: &str) -> Result<()> {
        containers::make_public(self, container).await
    }

    async fn enable_object_cdn(&self, container: &str, key: &str) -> Result<()> {
        containers::check_object_public(self, container, key).await
    }

    async fn get_container_cdn_url(&self, container: &str) -> Result<String> {
        signed::container_cdn_url(self, container).await
    }

    async fn get_object_cdn_url(&self, container: &str, key: &str) -> Result<String> {
        signed::object_cdn_url(self, container, key).await
    }
}
