//! [`WebDavFactory`] and [`HttpFactory`]: the registry entries that build drivers from a
//! string map.

use std::sync::Arc;

use storage_core::{Driver, DriverConfig, DriverFactory, Result};

use crate::WebDavDriver;
use crate::config::{Flavor, OPTIONS, WebDavConfig};

/// Builds WebDAV drivers (schemes `webdav` and `webdavs`) from a string map (see
/// [`WebDavConfig::from_config`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct WebDavFactory;

impl DriverFactory for WebDavFactory {
    fn name(&self) -> &str {
        crate::driver::NAME
    }
    fn schemes(&self) -> &[&str] {
        &["webdav", "webdavs"]
    }
    fn build(&self, config: &DriverConfig) -> Result<Arc<dyn Driver>> {
        Ok(Arc::new(WebDavDriver::new(WebDavConfig::from_config_as(config, Flavor::WebDav)?)?))
    }
    fn known_options(&self) -> Option<&[&str]> {
        Some(OPTIONS)
    }
}

/// Builds read-only plain HTTP stores (schemes `http` and `https`) from the same string
/// map; `endpoint` is the server URL under which containers are the top-level paths.
#[derive(Debug, Default, Clone, Copy)]
pub struct HttpFactory;

impl DriverFactory for HttpFactory {
    fn name(&self) -> &str {
        crate::driver::HTTP_NAME
    }
    fn schemes(&self) -> &[&str] {
        &["http", "https"]
    }
    fn build(&self, config: &DriverConfig) -> Result<Arc<dyn Driver>> {
        Ok(Arc::new(WebDavDriver::new(WebDavConfig::from_config_as(config, Flavor::Http)?)?))
    }
    fn known_options(&self) -> Option<&[&str]> {
        Some(OPTIONS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage_core::{ErrorKind, Registry};

    fn registry() -> Registry {
        let mut r = Registry::new();
        r.register(Arc::new(WebDavFactory)).register(Arc::new(HttpFactory));
        r
    }

    #[test]
    fn schemes_pick_the_flavor() {
        let config = DriverConfig::new().set("endpoint", "webdav://127.0.0.1:1/dav");
        let loc = registry().open("webdavs://photos/2024/cat.jpg", &config).unwrap();
        assert_eq!(loc.driver.info().name, "webdav");
        assert!(loc.driver.info().capabilities.manage_containers);
        assert_eq!((loc.container.as_deref(), loc.key.as_deref()), (Some("photos"), Some("2024/cat.jpg")));
        let loc = registry().open("https://pub/file.csv", &config).unwrap();
        assert_eq!(loc.driver.info().name, "http");
        assert!(!loc.driver.info().capabilities.manage_containers);
        assert!(registry().known_schemes().contains(&"webdavs".to_owned()));
    }

    #[test]
    fn options_are_checked_and_secrets_stay_hidden() {
        let typo = DriverConfig::new().set("endpiont", "https://h").set("password", "hunter2");
        let e = registry().build("webdav", &typo).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.message().contains("did you mean \"endpoint\""), "{e}");
        assert!(!format!("{e} {e:?}").contains("hunter2"));
        let all = DriverConfig::new()
            .set("endpoint", "https://h/dav")
            .set("username", "u")
            .set("password", "hunter2")
            .set("write_mode", "direct")
            .set("allow_http", "false")
            .set("ca_bundle", "")
            .set("connect_timeout", "1")
            .set("read_timeout", "2")
            .set("timeout", "3")
            .set("max_retries", "0");
        let d = registry().build("webdav", &all).unwrap();
        assert!(!format!("{d:?} {all:?}").contains("hunter2"), "{d:?}");
    }
}
