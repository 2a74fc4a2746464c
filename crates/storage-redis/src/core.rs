//! [`RedisDriver`] itself: the driver's name, what it claims ([`Capabilities`] and
//! [`Limits`]), and the state every operation shares ([`Inner`]: settings, key names,
//! scripts, the lazily opened connection), with the steps they all use (run with
//! retries, run once, a fresh sequence number, the name checks).
//!
//! Separate from `driver.rs` (the thin `impl Driver`) so that the trait impl reads as a
//! table of delegations, and the operation files reach the shared state through one type.

use std::future::Future;
use std::sync::Arc;

use redis::{RedisError, RedisResult};
use storage_core::kit::{ContainerNameRules, Error, Result, container_name, object_key};
use storage_core::{Capabilities, DriverInfo, Limits};
use tokio::sync::OnceCell;

use crate::config::{RedisBuilder, Settings, Topology};
use crate::conn::{RedisConnection, connect};
use crate::errors::{map_error, retry};
use crate::keys::Keys;
use crate::scripts::Scripts;

/// The driver's name.
pub const NAME: &str = "redis";

/// A storage driver keeping containers and objects in Redis or Redis Cluster.
/// Cloning is cheap and shares the connection. See the crate docs for the data model.
#[derive(Clone)]
pub struct RedisDriver {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisDriver").field("settings", &self.inner.settings).finish()
    }
}

/// What the operations share.
pub(crate) struct Inner {
    pub info: DriverInfo,
    pub settings: Settings,
    pub keys: Keys,
    pub scripts: Scripts,
    conn: OnceCell<RedisConnection>,
}

/// What the Redis driver claims, starting from none.
fn capabilities() -> Capabilities {
    // Not claimed: signed_urls, cdn and object_cdn_url (Redis serves no URLs),
    // multipart_md5 (a multipart object's hash is the opaque multipart ETag).
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
    capabilities.list_multipart = true;
    capabilities.user_metadata = true;
    capabilities.content_headers = true;
    capabilities.md5_hash = true;
    capabilities.versions = true;
    capabilities.refuses_nonempty_delete = true;
    capabilities.key_and_prefix = true;
    capabilities.verbatim_keys = true;
    capabilities.container_checked = true;
    capabilities.atomic_conditional_put = true;
    capabilities.atomic_overwrite = true;
    capabilities.parallel_upload = true;
    capabilities.stable_etag = true;
    capabilities.atomic_multipart = true;
    capabilities
}

impl RedisDriver {
    /// A builder: set a URL or cluster nodes, then [`RedisBuilder::build`].
    pub fn builder() -> RedisBuilder {
        RedisBuilder::new()
    }

    /// A driver configured from `REDIS_URL` or `REDIS_CLUSTER_NODES` (see
    /// [`RedisBuilder::from_env`]).
    pub fn from_env() -> Result<Self> {
        RedisBuilder::from_env()?.build()
    }

    pub(crate) fn from_settings(settings: Settings) -> Self {
        let limits = Limits { min_part_size: 1, max_page_size: 1000, max_key_length: 1024, ..Limits::default() };
        let info = DriverInfo {
            name: NAME.to_owned(),
            capabilities: capabilities(),
            limits,
            container_rules: ContainerNameRules::Any,
        };
        let keys = Keys::new(&settings.namespace);
        RedisDriver { inner: Arc::new(Inner { info, settings, keys, scripts: Scripts::new(), conn: OnceCell::new() }) }
    }

    /// The key namespace.
    pub fn namespace(&self) -> &str {
        self.inner.keys.namespace()
    }

    /// Bytes per data chunk.
    pub fn chunk_size(&self) -> usize {
        self.inner.settings.chunk_size
    }

    /// Whether the driver talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.inner.settings.topology, Topology::Cluster(_))
    }

    /// The native connection (connecting if needed), for commands of your own.
    pub async fn connection(&self) -> Result<RedisConnection> {
        self.inner.conn().await.map_err(|e| self.inner.map(&e, 0))
    }

    /// Checks the server answers (`PING`).
    pub async fn ping(&self) -> Result<()> {
        self.inner.run(|mut c| async move { redis::cmd("PING").query_async::<()>(&mut c).await }).await
    }
}

impl Inner {
    /// The connection, opened on first use.
    pub(crate) async fn conn(&self) -> RedisResult<RedisConnection> {
        self.conn.get_or_try_init(|| connect(&self.settings)).await.cloned()
    }

    /// Maps a Redis error, naming the server and hiding the password.
    pub(crate) fn map(&self, e: &RedisError, retries: u32) -> Error {
        map_error(e, &self.settings.endpoint, self.settings.secret.as_deref()).with_retries(retries)
    }

    /// Runs an idempotent step, retrying transient failures with jittered backoff.
    pub(crate) async fn run<T, F, Fut>(&self, op: F) -> Result<T>
    where
        F: Fn(RedisConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let op = &op;
        retry(self.settings.retry, move || async move { op(self.conn().await?).await })
            .await
            .map_err(|(e, n)| self.map(&e, n))
    }

    /// Runs a step once (a conditional state change must not be repeated blindly).
    /// On error, also says whether it may have been applied (the request may have left).
    pub(crate) async fn once<T, F, Fut>(&self, op: F) -> std::result::Result<T, (Error, bool)>
    where
        F: FnOnce(RedisConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let conn = match retry(self.settings.retry, || self.conn()).await {
            Ok(c) => c,
            Err((e, n)) => return Err((self.map(&e, n), false)),
        };
        op(conn).await.map_err(|e| {
            let ambiguous = e.is_io_error() || e.is_timeout() || e.is_connection_dropped();
            (self.map(&e, 0), ambiguous)
        })
    }

    /// A fresh number from the namespace's sequence (versions, upload ids).
    pub(crate) async fn next_seq(&self) -> Result<u64> {
        let key = self.keys.seq();
        let key = &key;
        self.run(move |mut c| async move { redis::cmd("INCR").arg(key).query_async::<u64>(&mut c).await }).await
    }

    /// Checks a container name before any request (`InvalidContainerName`).
    pub(crate) fn check_container(&self, name: &str) -> Result<()> {
        container_name(name, self.info.container_rules).map_err(|e| e.with_driver(NAME))
    }

    /// Checks a container name and a key before any request (`InvalidContainerName`,
    /// `InvalidObjectName`).
    pub(crate) fn check_key(&self, container: &str, key: &str) -> Result<()> {
        self.check_container(container)?;
        object_key(key, self.info.limits.max_key_length).map_err(|e| e.with_driver(NAME).with_container(container))
    }
}
