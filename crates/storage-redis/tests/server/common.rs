//! Helpers shared by the tests against real Redis servers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use redis::AsyncCommands;
use storage_core::{Driver, ErrorKind, Result};
use storage_redis::{RedisBuilder, RedisDriver};

/// Which server a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Standalone,
    Cluster,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Standalone => "standalone",
            Mode::Cluster => "cluster",
        }
    }

    pub fn var(self) -> &'static str {
        match self {
            Mode::Standalone => "REDIS_URL",
            Mode::Cluster => "REDIS_CLUSTER_NODES",
        }
    }

    /// The node URLs from the environment; fails the test when unset.
    pub fn urls(self) -> Vec<String> {
        let v = std::env::var(self.var()).ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| {
            panic!(
                "{} is not set: these tests need the {} Redis server. Run `cargo xtask test`, or start the servers \
                 with `cargo xtask emulators start redis redis-cluster` and export REDIS_URL and REDIS_CLUSTER_NODES",
                self.var(),
                self.name()
            )
        });
        v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
    }

    pub fn builder(self) -> RedisBuilder {
        match self {
            Mode::Standalone => RedisBuilder::new().url(self.urls().remove(0)),
            Mode::Cluster => RedisBuilder::new().cluster_nodes(self.urls()),
        }
    }
}

/// A namespace no other test (or run) uses.
pub fn unique_namespace(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("t-{tag}-{}-{nanos}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A driver on a fresh namespace; its keys are removed when it is dropped.
pub struct Fixture {
    pub driver: Arc<RedisDriver>,
    pub ns: String,
    pub mode: Mode,
}

impl Fixture {
    pub async fn new(mode: Mode, tag: &str) -> Self {
        Self::with(mode, tag, |b| b).await
    }

    pub async fn with(mode: Mode, tag: &str, tune: impl FnOnce(RedisBuilder) -> RedisBuilder) -> Self {
        let ns = unique_namespace(tag);
        Self::on_namespace(mode, &ns, tune).await
    }

    pub async fn on_namespace(mode: Mode, ns: &str, tune: impl FnOnce(RedisBuilder) -> RedisBuilder) -> Self {
        let driver = tune(mode.builder().namespace(ns)).build().expect("driver config");
        if let Err(e) = driver.ping().await {
            panic!(
                "the {} Redis server ({}={}) is unreachable: {e}. Run `cargo xtask test`, or start it with \
                 `cargo xtask emulators start redis redis-cluster`",
                mode.name(),
                mode.var(),
                mode.urls().join(",")
            );
        }
        Fixture { driver: Arc::new(driver), ns: ns.to_owned(), mode }
    }

    pub fn tag(&self, container: &str, key: &str) -> String {
        format!("{{{}:{}:{}:{}}}", self.ns, container.len(), container, key)
    }

    /// Keys matching a glob pattern, on every node.
    pub async fn scan(&self, pattern: &str) -> Vec<String> {
        scan_nodes(self.mode, pattern).await
    }

    /// Every chunk key of object `key` (any version or upload).
    pub async fn chunk_keys(&self, container: &str, key: &str) -> Vec<String> {
        let mut keys = self.scan(&format!("{}:*", glob_escape(&self.tag(container, key)))).await;
        keys.sort();
        keys
    }

    /// The chunk keys of object `key` that do not expire (the live data).
    pub async fn live_chunk_keys(&self, container: &str, key: &str) -> Vec<String> {
        let mut live = Vec::new();
        for k in self.chunk_keys(container, key).await {
            if self.pttl(&k).await == -1 {
                live.push(k);
            }
        }
        live
    }

    /// The remaining TTL of a key in milliseconds (-1: none, -2: missing).
    pub async fn pttl(&self, key: &str) -> i64 {
        let mut c = self.driver.connection().await.expect("connection");
        redis::cmd("PTTL").arg(key).query_async(&mut c).await.expect("PTTL")
    }

    pub async fn make_container(&self, name: &str) {
        self.driver.create_container(name).await.expect("create container");
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let (mode, ns) = (self.mode, self.ns.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                rt.block_on(purge(mode, &ns));
            }
        })
        .join();
    }
}

/// Escapes glob metacharacters for SCAN MATCH.
pub fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

async fn node_connections(mode: Mode) -> Vec<redis::aio::MultiplexedConnection> {
    let mut out = Vec::new();
    for url in mode.urls() {
        let client = redis::Client::open(url.as_str()).expect("node URL");
        out.push(client.get_multiplexed_async_connection().await.expect("connect to node"));
    }
    out
}

async fn scan_one(c: &mut redis::aio::MultiplexedConnection, pattern: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(c)
            .await
            .expect("SCAN");
        keys.extend(batch);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
}

/// SCANs every node for `pattern`.
pub async fn scan_nodes(mode: Mode, pattern: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for mut c in node_connections(mode).await {
        keys.extend(scan_one(&mut c, pattern).await);
    }
    keys.sort();
    keys.dedup();
    keys
}

/// Deletes every key of namespace `ns`.
pub async fn purge(mode: Mode, ns: &str) {
    let pattern = format!("{{{}[:}}]*", glob_escape(ns));
    for mut c in node_connections(mode).await {
        for k in scan_one(&mut c, &pattern).await {
            // One key per command: keys of different slots cannot share one.
            let _: redis::RedisResult<i64> = c.unlink(&k).await;
        }
    }
}

/// Deterministic test data: `n` bytes derived from `seed`.
pub fn data(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The error kind of a result.
pub fn kind<T: std::fmt::Debug>(r: Result<T>) -> ErrorKind {
    r.expect_err("expected an error").kind()
}

/// Runs `$name(mode)` as a test on each server.
#[macro_export]
macro_rules! on_both_servers {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn standalone() {
                    super::$name($crate::common::Mode::Standalone).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn cluster() {
                    super::$name($crate::common::Mode::Cluster).await
                }
            }
        )*
    };
}
