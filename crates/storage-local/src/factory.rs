//! [`LocalFactory`]: the registry entry that builds a [`LocalDriver`] from a string map
//! (URL schemes `local` and `file`), for `storage_core::Registry`.
//!
//! Separate so that the registry sees only the name, the schemes and the option list;
//! reading the options is [`LocalDriver::from_config`]'s job (`config.rs`).

use std::sync::Arc;

use storage_core::Driver;
use storage_core::kit::{DriverConfig, DriverFactory, Result};

use crate::config::OPTIONS;
use crate::core::{LocalDriver, NAME};

/// The factory of [`LocalDriver`]: name `local`, URL schemes `local` and `file`.
///
/// Options: `root` (required), the directory holding the containers; it is created if
/// missing. `fsync` (`true` by default; `false` keeps writes atomic but not durable),
/// `xattrs` (`true` by default; `false` stores metadata in sidecar files only) and
/// `fast_paths` (`true` by default; `false` always takes the checked path-by-path walk):
/// see [`crate::LocalOptions`]. In the configuration file: `[local] fsync = false`.
///
/// ```
/// use storage_core::{DriverConfig, Registry};
/// use std::sync::Arc;
///
/// let dir = tempfile::tempdir().unwrap();
/// let mut registry = Registry::new();
/// registry.register(Arc::new(storage_local::LocalFactory));
/// let config = DriverConfig::new().set("root", dir.path().to_string_lossy());
/// let location = registry.open("file://photos/2024/", &config).unwrap();
/// assert_eq!(location.driver.info().name, "local");
/// assert_eq!(location.container.as_deref(), Some("photos"));
///
/// let config = config.set("fsync", "false");
/// let location = registry.open("file://photos/", &config).unwrap();
/// let local = location.driver.as_any().downcast_ref::<storage_local::LocalDriver>().unwrap();
/// assert!(!local.options().fsync && local.options().xattrs);
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalFactory;

impl DriverFactory for LocalFactory {
    fn name(&self) -> &str {
        NAME
    }

    fn schemes(&self) -> &[&str] {
        &["local", "file"]
    }

    fn build(&self, config: &DriverConfig) -> Result<Arc<dyn Driver>> {
        Ok(Arc::new(LocalDriver::from_config(config)?))
    }

    fn known_options(&self) -> Option<&[&str]> {
        Some(OPTIONS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage_core::{ErrorKind, Registry};

    #[test]
    fn unknown_options_are_refused_and_every_documented_one_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        let mut r = Registry::new();
        r.register(Arc::new(LocalFactory));
        let typo = DriverConfig::new().set("root", root.to_string_lossy()).set("fsnyc", "false");
        let e = r.build("local", &typo).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.message().contains("\"fsnyc\"") && e.message().contains("did you mean \"fsync\"?"), "{e}");
        assert!(!root.exists(), "nothing is created before the options are checked");
        let all = DriverConfig::new()
            .set("root", root.to_string_lossy())
            .set("fsync", "false")
            .set("xattrs", "false")
            .set("fast_paths", "false");
        assert!(r.build("file", &all).is_ok());
    }
}
