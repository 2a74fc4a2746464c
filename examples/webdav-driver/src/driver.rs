//! [`WebDavDriver`]: the driver value, its capabilities and limits, and a thin
//! `impl Driver` that hands each call to the module of its operation family
//! ([`crate::containers`], [`crate::list`], [`crate::read`], [`crate::write`]).

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use storage_core::kit::{ContainerNameRules, container_name, object_key};
use storage_core::{
    Capabilities, Container, CopyOptions, Driver, DriverInfo, Error, GetOptions, GetResult, Leftover, Limits,
    ListEntry, ListOptions, Object, Page, Payload, PutOptions, Result,
};

use crate::client::Client;
use crate::config::{Flavor, WebDavConfig};
use crate::{containers, list, read, write};

/// The driver's name in errors, reports and the registry.
pub const NAME: &str = "webdav";
/// The name of the read-only plain HTTP store.
pub const HTTP_NAME: &str = "http";

/// A WebDAV server (or a read-only plain HTTP store, [`Flavor::Http`]) as a storage
/// driver: containers are the top-level collections under the endpoint, keys are paths
/// below them.
#[derive(Clone)]
pub struct WebDavDriver {
    pub(crate) client: Arc<Client>,
    pub(crate) info: DriverInfo,
}

impl std::fmt::Debug for WebDavDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebDavDriver").field("config", &self.client.config).finish()
    }
}

/// What the driver claims for `config` (see the crate documentation for why each
/// capability is on or off).
fn capabilities(config: &WebDavConfig) -> Capabilities {
    let mut c = Capabilities::NONE;
    // Reads, for both flavors: Range (suffix ranges too), and conditions checked against
    // the answer's own ETag and Last-Modified (Apache refuses If-Match with the weak
    // ETag it gives a file in its first second, so If-Match is not sent).
    c.ranges = true;
    c.suffix_ranges = true;
    c.conditional_get_etag = true;
    c.conditional_get_time = true;
    // Listings (for the plain HTTP store, when the server answers PROPFIND) are walks of
    // sorted collections: any delimiter, start-after.
    c.any_delimiter = true;
    c.start_after = true;
    if config.flavor == Flavor::Http {
        return c;
    }
    c.list_containers = true;
    c.manage_containers = true;
    c.refuses_nonempty_delete = true;
    c.container_checked = true;
    // Create-if-absent: MOVE with `Overwrite: F` (staged) or `If-None-Match: *` (direct);
    // if-match: the WebDAV `If` header with the ETag, which servers compare weakly. Both
    // are checked by the server before it writes, not atomically with the write.
    c.put_if_absent = true;
    c.put_if_match = true;
    // Checked by the driver before the data is committed (staged: before the MOVE;
    // direct: the body never completes).
    c.put_content_md5 = true;
    c.copy = true;
    c.copy_if_absent = true;
    // Not claimed: atomic_overwrite. Staged writes end with a MOVE, which removes the
    // destination before renaming (RFC 4918 9.9.3); a direct PUT is atomic only on servers
    // that stage it themselves, which the driver cannot tell (Apache mod_dav served a
    // reader a torn object during a direct overwrite in the conformance run).
    c.atomic_overwrite = false;
    // ETags come from the server and change with the data; a write whose stream fails
    // leaves nothing (staged: the MOVE never happens; direct: the body never completes).
    c.stable_etag = true;
    c.atomic_multipart = true;
    // Not claimed: user_metadata and content_headers (a PUT and a PROPPATCH are two
    // requests, so data and metadata could not be replaced together; servers derive
    // Content-Type from the name), md5_hash (ETags are not content hashes), versions,
    // multipart, list_multipart, signed_urls, cdn, batch_delete, verbatim_keys and
    // key_and_prefix (keys are paths), atomic_conditional_put (servers check the
    // condition, then write), parallel_upload.
    c
}

impl WebDavDriver {
    /// A driver with `config`.
    pub fn new(config: WebDavConfig) -> Result<Self> {
        let capabilities = capabilities(&config);
        // A PUT streams any size (the server may refuse it with 413); the part limits
        // are the defaults, unused without multipart.
        let limits = Limits { max_single_put: 1 << 40, max_page_size: list::MAX_PAGE, ..Limits::default() };
        let name = if config.flavor == Flavor::Http { HTTP_NAME } else { NAME };
        let info =
            DriverInfo { name: name.to_owned(), capabilities, limits, container_rules: ContainerNameRules::Filesystem };
        Ok(WebDavDriver { client: Arc::new(Client::new(config)?), info })
    }

    /// A driver configured from the environment ([`WebDavConfig::from_env`]).
    pub fn from_env() -> Result<Self> {
        Self::new(WebDavConfig::from_env()?)
    }

    /// The configuration.
    pub fn config(&self) -> &WebDavConfig {
        &self.client.config
    }

    /// The HTTP client, for requests this driver does not wrap.
    pub fn http_client(&self) -> &storage_http::HttpClient {
        &self.client.http
    }

    pub(crate) fn name(&self) -> &str {
        &self.info.name
    }

    /// Whether this is the read-only plain HTTP store.
    pub(crate) fn is_http(&self) -> bool {
        self.client.config.flavor == Flavor::Http
    }

    /// `NotSupported` for a write on the read-only plain HTTP store.
    pub(crate) fn writable(&self, operation: &str) -> Result<()> {
        if self.is_http() {
            return Err(Error::not_supported(HTTP_NAME, operation).with_hint(
                "the plain HTTP store is read-only: use a WebDAV server (webdav:// or webdavs://) to write",
            ));
        }
        Ok(())
    }

    /// Refuses a container name that is not a portable collection name, before any
    /// request.
    pub(crate) fn check_container(&self, container: &str) -> Result<()> {
        container_name(container, self.info.container_rules).map_err(|e| e.with_driver(self.name()))
    }

    /// Refuses a container name or key the server cannot hold, before any request.
    pub(crate) fn check_key(&self, container: &str, key: &str) -> Result<()> {
        self.check_container(container)?;
        object_key(key, self.info.limits.max_key_length)
            .and_then(|()| crate::paths::check_key(key))
            .map_err(|e| e.with_driver(self.name()).with_container(container))
    }
}

#[async_trait]
impl Driver for WebDavDriver {
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

    async fn list_leftovers(&self, container: &str, prefix: Option<&str>) -> Result<Vec<Leftover>> {
        list::leftovers(self, container, prefix).await
    }

    async fn remove_leftover(&self, leftover: &Leftover) -> Result<()> {
        write::remove_leftover(self, leftover).await
    }
}

#[cfg(test)]
mod tests {
    use storage_core::{ErrorKind, GetOptions};

    use super::*;
    use crate::config::WriteMode;

    /// A driver whose server cannot be reached: any request would fail with `Io`.
    fn unreachable(flavor: Flavor) -> WebDavDriver {
        let config = WebDavConfig::new("http://127.0.0.1:9/dav").basic_auth("u", "hunter2").max_retries(0);
        WebDavDriver::new(config.flavor(flavor)).unwrap()
    }

    #[tokio::test]
    async fn names_a_server_cannot_hold_are_refused_before_any_request() {
        let d = unreachable(Flavor::WebDav);
        for key in ["a//b", "dir/", "/a", "a/./b", "../x", "a/..", "", "a\0b", ".~upload.1", "d/.~upload.x"] {
            let put = d.put_object("c", key, "x".into(), &PutOptions::default()).await.unwrap_err();
            let get = d.get_object("c", key, &GetOptions::default()).await.unwrap_err();
            let head = d.head_object("c", key).await.unwrap_err();
            let delete = d.delete_object("c", key).await.unwrap_err();
            let copy = d.copy_object("c", "ok", "c", key, &CopyOptions::default()).await.unwrap_err();
            for e in [put, get, head, delete, copy] {
                assert_eq!(e.kind(), ErrorKind::InvalidObjectName, "{key:?}: {e}");
            }
        }
        for name in ["a/b", "", ".hidden", &"x".repeat(256)] {
            let e = d.create_container(name).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidContainerName, "{name:?}: {e}");
        }
        // A valid name does reach for the server.
        let e = d.head_object("c", "fine").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io, "{e}");
        assert!(!format!("{e} {d:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn the_plain_http_store_refuses_writes_before_any_request() {
        let d = unreachable(Flavor::Http);
        assert_eq!(d.info().name, HTTP_NAME);
        let e = d.put_object("c", "k", "x".into(), &PutOptions::default()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotSupported, "{e}");
        assert_eq!(d.delete_object("c", "k").await.unwrap_err().kind(), ErrorKind::NotSupported);
        assert_eq!(d.create_container("c").await.unwrap_err().kind(), ErrorKind::NotSupported);
        assert_eq!(d.list_containers_page(None).await.unwrap_err().kind(), ErrorKind::NotSupported);
        let caps = d.info().capabilities;
        assert!(caps.ranges && caps.conditional_get_etag && !caps.put_if_absent && !caps.copy);
    }

    #[test]
    fn capabilities_follow_the_write_mode() {
        let staged = WebDavDriver::new(WebDavConfig::new("https://h")).unwrap();
        let direct = WebDavDriver::new(WebDavConfig::new("https://h").write_mode(WriteMode::Direct)).unwrap();
        assert!(!staged.info().capabilities.atomic_overwrite);
        assert!(!direct.info().capabilities.atomic_overwrite);
        for d in [&staged, &direct] {
            let c = d.info().capabilities;
            assert!(c.put_if_absent && c.put_if_match && c.copy && c.refuses_nonempty_delete);
            assert!(!c.user_metadata && !c.content_headers && !c.multipart && !c.verbatim_keys && !c.key_and_prefix);
        }
        assert!(WebDavDriver::new(WebDavConfig::new("ftp://h")).is_err());
    }
}
