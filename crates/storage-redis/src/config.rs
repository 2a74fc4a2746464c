//! The driver's configuration: [`RedisBuilder`] (URLs or cluster nodes, credentials,
//! namespace, chunk size, TTLs, timeouts), read from code, from a string map
//! ([`RedisBuilder::from_config`], the options listed in `OPTIONS` that the factory
//! accepts) or from the environment ([`RedisBuilder::from_env`]), and validated into the
//! settings the driver runs with.
//!
//! Separate from the driver so that every way of configuring it reads the same options
//! in one place, and the factory only forwards.

use std::fmt;
use std::time::Duration;

use redis::{ConnectionInfo, IntoConnectionInfo};
use storage_core::kit::{DriverConfig, Error, ErrorKind, Result, redact_url};

use crate::errors::RetryPolicy;

/// The namespace (key prefix) used when none is configured.
pub const DEFAULT_NAMESPACE: &str = "storage";
/// The chunk size used when none is configured: 1 MiB.
pub const DEFAULT_CHUNK_SIZE: usize = 1 << 20;
/// The largest chunk size accepted: 512 MiB, Redis' largest string.
pub const MAX_CHUNK_SIZE: usize = 512 << 20;
/// How long chunks of an unfinished write live: 24 hours.
pub const DEFAULT_PENDING_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long the chunks of a replaced or deleted object stay readable: 60 seconds.
pub const DEFAULT_REPLACE_GRACE: Duration = Duration::from_secs(60);

/// Every option [`RedisBuilder::from_config`] reads (what [`crate::RedisFactory`] accepts).
pub(crate) const OPTIONS: &[&str] = &[
    "url",
    "nodes",
    "namespace",
    "chunk_size",
    "username",
    "password",
    "db",
    "pending_ttl_secs",
    "replace_grace_secs",
];

/// Builds a [`crate::RedisDriver`]: a standalone server (`url`) or a cluster
/// (`cluster_nodes`), plus credentials, namespace and tuning.
///
/// `Debug` never shows the password, not even one embedded in a URL.
#[derive(Clone, Default)]
pub struct RedisBuilder {
    url: Option<String>,
    nodes: Vec<String>,
    username: Option<String>,
    password: Option<String>,
    db: Option<i64>,
    namespace: Option<String>,
    chunk_size: Option<usize>,
    pending_ttl: Option<Duration>,
    replace_grace: Option<Duration>,
    connect_timeout: Option<Duration>,
    response_timeout: Option<Duration>,
    attempts: Option<u32>,
}

impl fmt::Debug for RedisBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBuilder")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("nodes", &self.nodes.iter().map(|n| redact_url(n)).collect::<Vec<_>>())
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("db", &self.db)
            .field("namespace", &self.namespace)
            .field("chunk_size", &self.chunk_size)
            .field("pending_ttl", &self.pending_ttl)
            .field("replace_grace", &self.replace_grace)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("attempts", &self.attempts)
            .finish()
    }
}

impl RedisBuilder {
    /// An empty builder; set [`url`](Self::url) or [`cluster_nodes`](Self::cluster_nodes).
    pub fn new() -> Self {
        Self::default()
    }

    /// From the environment: `REDIS_CLUSTER_NODES` (comma-separated URLs) selects
    /// cluster mode, otherwise `REDIS_URL` names a standalone server.
    pub fn from_env() -> Result<Self> {
        let var = |name: &str| std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        if let Some(nodes) = var("REDIS_CLUSTER_NODES") {
            Ok(Self::new().cluster_nodes(nodes.split(',').map(str::trim).filter(|n| !n.is_empty())))
        } else if let Some(url) = var("REDIS_URL") {
            Ok(Self::new().url(url))
        } else {
            Err(Error::new(
                ErrorKind::Config,
                "neither REDIS_URL (a standalone server, e.g. redis://127.0.0.1:6379) nor REDIS_CLUSTER_NODES \
                 (comma-separated cluster node URLs) is set",
            )
            .with_driver(crate::core::NAME))
        }
    }

    /// From a driver config (the options `url`, `nodes`, `namespace`, `chunk_size`,
    /// `username`, `password`, `db`, `pending_ttl_secs`, `replace_grace_secs`). Without
    /// `url` and `nodes`, the server comes from the environment (see [`Self::from_env`]).
    pub fn from_config(config: &DriverConfig) -> Result<Self> {
        let ctx = |e: Error| e.with_driver(crate::core::NAME);
        let mut b = match (config.get("url"), config.get("nodes")) {
            (None, None) => Self::from_env()?,
            (url, nodes) => {
                let mut b = Self::new();
                if let Some(u) = url {
                    b = b.url(u);
                }
                if let Some(n) = nodes {
                    b = b.cluster_nodes(n.split(',').map(str::trim).filter(|n| !n.is_empty()));
                }
                b
            }
        };
        if let Some(ns) = config.get("namespace") {
            b = b.namespace(ns);
        }
        if let Some(cs) = config.get("chunk_size") {
            b = b.chunk_size(parse_size(cs).map_err(ctx)?);
        }
        if let Some(u) = config.get("username") {
            b = b.username(u);
        }
        if let Some(p) = config.get("password") {
            b = b.password(p);
        }
        if let Some(db) = config.parse::<i64>("db").map_err(ctx)? {
            b = b.db(db);
        }
        if let Some(s) = config.parse::<u64>("pending_ttl_secs").map_err(ctx)? {
            b = b.pending_ttl(Duration::from_secs(s));
        }
        if let Some(s) = config.parse::<u64>("replace_grace_secs").map_err(ctx)? {
            b = b.replace_grace(Duration::from_secs(s));
        }
        Ok(b)
    }

    /// A standalone server: `redis://[user:password@]host[:port][/db]` or `rediss://...`
    /// (TLS, with the `tls` feature).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Seed nodes of a Redis Cluster (URLs as for [`Self::url`]); selects cluster mode.
    pub fn cluster_nodes<I, S>(mut self, nodes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.nodes = nodes.into_iter().map(Into::into).collect();
        self
    }

    /// The ACL user name (overrides the URL's).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// The password (overrides the URL's). Never printed.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// The database number (standalone only; a cluster has only database 0).
    pub fn db(mut self, db: i64) -> Self {
        self.db = Some(db);
        self
    }

    /// The prefix of every key (default `storage`); no `{` or `}`.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Bytes per data chunk (default 1 MiB, at most 512 MiB).
    pub fn chunk_size(mut self, bytes: usize) -> Self {
        self.chunk_size = Some(bytes);
        self
    }

    /// How long the chunks of an unfinished write (or multipart part) live before Redis
    /// drops them (default 24 h). A multipart upload must complete within this time.
    pub fn pending_ttl(mut self, ttl: Duration) -> Self {
        self.pending_ttl = Some(ttl);
        self
    }

    /// How long a replaced or deleted object's chunks stay readable for reads already in
    /// flight (default 60 s).
    pub fn replace_grace(mut self, grace: Duration) -> Self {
        self.replace_grace = Some(grace);
        self
    }

    /// Timeout of one connection attempt (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Timeout of one request (default 60 s).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = Some(timeout);
        self
    }

    /// Attempts for idempotent steps failing with transient errors (default 4).
    pub fn retry_attempts(mut self, attempts: u32) -> Self {
        self.attempts = Some(attempts.max(1));
        self
    }

    /// Checks the configuration and builds the driver. Connecting happens on first use.
    pub fn build(self) -> Result<crate::RedisDriver> {
        Ok(crate::RedisDriver::from_settings(self.resolve()?))
    }

    /// Validates everything into [`Settings`].
    pub(crate) fn resolve(self) -> Result<Settings> {
        let config = |msg: String| Error::new(ErrorKind::Config, msg).with_driver(crate::core::NAME);
        let namespace = self.namespace.clone().unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        if namespace.is_empty() || namespace.contains(['{', '}']) {
            return Err(config(format!("the namespace {namespace:?} must be non-empty and contain no '{{' or '}}'")));
        }
        let chunk_size = self.chunk_size.unwrap_or(DEFAULT_CHUNK_SIZE);
        if chunk_size == 0 || chunk_size > MAX_CHUNK_SIZE {
            return Err(config(format!("the chunk size {chunk_size} must be between 1 byte and 512 MiB")));
        }
        let topology = match (&self.url, self.nodes.is_empty()) {
            (Some(_), false) => {
                return Err(config("set either a URL (standalone) or cluster nodes, not both".to_owned()));
            }
            (None, true) => {
                return Err(config(
                    "no Redis server configured: set a URL (redis://host:port) or cluster nodes".to_owned(),
                ));
            }
            (Some(url), true) => Topology::Standalone(Box::new(self.connection_info(url)?)),
            (None, false) => {
                let infos = self.nodes.iter().map(|n| self.connection_info(n)).collect::<Result<Vec<_>>>()?;
                if let Some(bad) = infos.iter().find(|i| i.redis_settings().db() != 0) {
                    return Err(config(format!(
                        "Redis Cluster has only database 0, but {} asks for database {}",
                        bad.addr(),
                        bad.redis_settings().db()
                    )));
                }
                Topology::Cluster(infos)
            }
        };
        let (endpoint, secret) = match &topology {
            Topology::Standalone(i) => (i.addr().to_string(), i.redis_settings().password().map(str::to_owned)),
            Topology::Cluster(infos) => (
                format!("cluster {}", infos.iter().map(|i| i.addr().to_string()).collect::<Vec<_>>().join(",")),
                infos.first().and_then(|i| i.redis_settings().password()).map(str::to_owned),
            ),
        };
        Ok(Settings {
            topology,
            endpoint,
            secret,
            namespace,
            chunk_size,
            pending_ttl: self.pending_ttl.unwrap_or(DEFAULT_PENDING_TTL).max(Duration::from_secs(1)),
            replace_grace: self.replace_grace.unwrap_or(DEFAULT_REPLACE_GRACE).max(Duration::from_secs(1)),
            connect_timeout: self.connect_timeout.unwrap_or(Duration::from_secs(5)),
            response_timeout: self.response_timeout.unwrap_or(Duration::from_secs(60)),
            retry: RetryPolicy {
                attempts: self.attempts.unwrap_or(4),
                base: Duration::from_millis(50),
                max: Duration::from_secs(2),
            },
        })
    }

    fn connection_info(&self, url: &str) -> Result<ConnectionInfo> {
        let config = |msg: String| Error::new(ErrorKind::Config, msg).with_driver(crate::core::NAME);
        let shown = redact_url(url);
        let lower = url.trim().to_ascii_lowercase();
        if lower.starts_with("rediss://") {
            if !cfg!(feature = "tls") {
                return Err(config(format!(
                    "{shown} uses TLS (rediss://), but storage-redis was built without TLS support: enable its \
                     `tls` cargo feature"
                )));
            }
        } else if !lower.starts_with("redis://") {
            return Err(config(format!(
                "{shown} is not a Redis URL; expected redis://[user:password@]host[:port][/db] or rediss://..."
            )));
        }
        let info = url.trim().into_connection_info().map_err(|e| {
            let why = e.detail().map(str::to_owned).unwrap_or_else(|| e.category().to_owned());
            config(format!("cannot use the Redis URL {shown}: {why}"))
        })?;
        let mut redis = info.redis_settings().clone();
        if let Some(u) = &self.username {
            redis = redis.set_username(u);
        }
        if let Some(p) = &self.password {
            redis = redis.set_password(p);
        }
        if let Some(db) = self.db {
            redis = redis.set_db(db);
        }
        Ok(info.set_redis_settings(redis))
    }
}

/// Standalone or cluster, with the parsed connection details.
#[derive(Clone)]
pub(crate) enum Topology {
    /// One server.
    Standalone(Box<ConnectionInfo>),
    /// Seed nodes of a cluster.
    Cluster(Vec<ConnectionInfo>),
}

/// The validated configuration.
#[derive(Clone)]
pub(crate) struct Settings {
    pub topology: Topology,
    /// `host:port` or `cluster host:port,...`, for messages.
    pub endpoint: String,
    /// The password, only to scrub it from messages.
    pub secret: Option<String>,
    pub namespace: String,
    pub chunk_size: usize,
    pub pending_ttl: Duration,
    pub replace_grace: Duration,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    pub retry: RetryPolicy,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("mode", &if matches!(self.topology, Topology::Cluster(_)) { "cluster" } else { "standalone" })
            .field("endpoint", &self.endpoint)
            .field("password", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("namespace", &self.namespace)
            .field("chunk_size", &self.chunk_size)
            .field("pending_ttl", &self.pending_ttl)
            .field("replace_grace", &self.replace_grace)
            .finish_non_exhaustive()
    }
}

/// Parses a size: `1048576`, `64KiB`, `1MiB`, `2M`, `512k`.
pub(crate) fn parse_size(s: &str) -> Result<usize> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(digits);
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        _ => 0,
    };
    n.parse::<usize>().ok().and_then(|n| n.checked_mul(mult)).filter(|_| mult > 0).ok_or_else(|| {
        Error::new(ErrorKind::Config, format!("the chunk size {s:?} is not a size; use bytes or e.g. 64KiB, 1MiB"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_passwords() {
        let b = RedisBuilder::new().url("redis://u:hunter2@127.0.0.1:6379").password("sekrit");
        let s = format!("{b:?}");
        assert!(!s.contains("hunter2") && !s.contains("sekrit"), "{s}");
        let settings = b.resolve().unwrap();
        assert_eq!(settings.endpoint, "127.0.0.1:6379");
        assert_eq!(settings.secret.as_deref(), Some("sekrit"));
        assert!(!format!("{settings:?}").contains("sekrit"));
    }

    #[test]
    fn validation_is_clear() {
        let e = RedisBuilder::new().resolve().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        let e = RedisBuilder::new().url("http://x").resolve().unwrap_err();
        assert!(e.message().contains("not a Redis URL"), "{e}");
        let e = RedisBuilder::new().url("redis://h").namespace("a{b").resolve().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        let e = RedisBuilder::new().url("redis://h").chunk_size(0).resolve().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        let e = RedisBuilder::new().cluster_nodes(["redis://h:7000/3"]).resolve().unwrap_err();
        assert!(e.message().contains("database 0"), "{e}");
        let e = RedisBuilder::new().url("redis://h").cluster_nodes(["redis://h:7000"]).resolve().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        let s = RedisBuilder::new().url("redis://h:1/4").resolve().unwrap();
        assert!(matches!(s.topology, Topology::Standalone(ref i) if i.redis_settings().db() == 4));
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn tls_needs_the_feature() {
        let e = RedisBuilder::new().url("rediss://:pw@h:6380").resolve().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.message().contains("`tls`"), "{e}");
        assert!(!e.to_string().contains("pw@"), "{e}");
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("65536").unwrap(), 65536);
        assert_eq!(parse_size("64KiB").unwrap(), 65536);
        assert_eq!(parse_size("1M").unwrap(), 1 << 20);
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn from_config_reads_options() {
        let c = DriverConfig::new()
            .set("url", "redis://127.0.0.1:6379")
            .set("namespace", "ns")
            .set("chunk_size", "64KiB")
            .set("db", "2")
            .set("password", "pw");
        let s = RedisBuilder::from_config(&c).unwrap().resolve().unwrap();
        assert_eq!((s.namespace.as_str(), s.chunk_size), ("ns", 65536));
        let c = DriverConfig::new().set("nodes", "redis://127.0.0.1:7000, redis://127.0.0.1:7001");
        let s = RedisBuilder::from_config(&c).unwrap().resolve().unwrap();
        assert!(matches!(s.topology, Topology::Cluster(ref n) if n.len() == 2));
        let c = DriverConfig::new().set("url", "redis://h").set("db", "x");
        assert_eq!(RedisBuilder::from_config(&c).unwrap_err().kind(), ErrorKind::Config);
    }
}
