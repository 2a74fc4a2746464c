//! [`RedisFactory`]: the registry entry that builds the driver from a string map
//! ([`storage_core::DriverConfig`]), URL schemes `redis` and `rediss`.
//!
//! Separate so that the registry sees only the name, the schemes and the option list;
//! reading the options is [`RedisBuilder::from_config`]'s job (`config.rs`).

use std::sync::Arc;

use storage_core::Driver;
use storage_core::kit::{DriverConfig, DriverFactory, Result};

use crate::RedisBuilder;

/// The factory of [`crate::RedisDriver`], for [`storage_core::Registry`]: name `redis`,
/// schemes `redis` and `rediss`.
///
/// Options: `url` (standalone server) or `nodes` (comma-separated cluster node URLs);
/// without either, `REDIS_URL` / `REDIS_CLUSTER_NODES` from the environment. Also
/// `namespace`, `chunk_size` (bytes, or `64KiB`, `1MiB`), `username`, `password`, `db`,
/// `pending_ttl_secs`, `replace_grace_secs`.
#[derive(Debug, Default, Clone, Copy)]
pub struct RedisFactory;

impl DriverFactory for RedisFactory {
    fn name(&self) -> &str {
        crate::core::NAME
    }

    fn schemes(&self) -> &[&str] {
        &["redis", "rediss"]
    }

    fn build(&self, config: &DriverConfig) -> Result<Arc<dyn Driver>> {
        Ok(Arc::new(RedisBuilder::from_config(config)?.build()?))
    }

    fn known_options(&self) -> Option<&[&str]> {
        Some(crate::config::OPTIONS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage_core::{ErrorKind, Registry};

    #[test]
    fn registers_under_its_schemes() {
        let mut r = Registry::new();
        r.register(Arc::new(RedisFactory));
        let config = DriverConfig::new().set("url", "redis://127.0.0.1:1").set("namespace", "t");
        let loc = r.open("redis://bucket/key", &config).unwrap();
        assert_eq!(loc.driver.info().name, "redis");
        assert_eq!(loc.container.as_deref(), Some("bucket"));
        let bad = DriverConfig::new().set("url", "redis://127.0.0.1:1").set("chunk_size", "huge");
        assert_eq!(r.build("redis", &bad).unwrap_err().kind(), ErrorKind::Config);
        let caps = loc.driver.info().capabilities;
        assert!(caps.batch_delete && caps.multipart && caps.versions && caps.key_and_prefix);
        assert!(!caps.signed_urls && !caps.cdn && !caps.object_cdn_url);
    }

    #[test]
    fn unknown_options_are_refused_and_every_documented_one_accepted() {
        let mut r = Registry::new();
        r.register(Arc::new(RedisFactory));
        let typo = DriverConfig::new().set("url", "redis://127.0.0.1:1").set("namspace", "t");
        let e = r.build("redis", &typo).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.message().contains("\"namspace\"") && e.message().contains("did you mean \"namespace\"?"), "{e}");
        let all = DriverConfig::new()
            .set("url", "redis://127.0.0.1:1")
            .set("namespace", "t")
            .set("chunk_size", "64KiB")
            .set("username", "u")
            .set("password", "p")
            .set("db", "2")
            .set("pending_ttl_secs", "60")
            .set("replace_grace_secs", "5");
        assert!(r.build("redis", &all).is_ok());
        let cluster = DriverConfig::new().set("nodes", "redis://127.0.0.1:1,redis://127.0.0.1:2");
        assert!(r.build("redis", &cluster).is_ok());
    }
}
