//! [`GcsFactory`]: builds GCS drivers for the registry.

use std::sync::Arc;

use storage_core::{Driver, DriverConfig, DriverFactory, Result};

use crate::{GcsConfig, GcsDriver};

/// Builds [`GcsDriver`]s from a string map (see [`GcsConfig::from_config`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct GcsFactory;

impl DriverFactory for GcsFactory {
    fn name(&self) -> &str {
        "gcs"
    }
    fn schemes(&self) -> &[&str] {
        &["gs", "gcs"]
    }
    fn build(&self, config: &DriverConfig) -> Result<Arc<dyn Driver>> {
        Ok(Arc::new(GcsDriver::new(GcsConfig::from_config(config)?)?))
    }
    fn known_options(&self) -> Option<&[&str]> {
        Some(crate::config::OPTIONS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage_core::{ErrorKind, Registry};

    fn registry() -> Registry {
        let mut r = Registry::new();
        r.register(Arc::new(GcsFactory));
        r
    }

    #[test]
    fn options_are_checked_and_secrets_stay_hidden() {
        let typo = DriverConfig::new().set("endpoit", "http://127.0.0.1:1").set("bearer_token", "ya29.hunter2");
        let e = registry().build("gcs", &typo).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.message().contains("did you mean \"endpoint\""), "{e}");
        assert!(!format!("{e} {e:?}").contains("hunter2"));
        let ok =
            DriverConfig::new().set("endpoint", "http://127.0.0.1:1").set("anonymous", "true").set("project_id", "p");
        assert!(registry().build("gcs", &ok).is_ok());
        let two = DriverConfig::new().set("anonymous", "true").set("bearer_token", "t");
        assert_eq!(registry().build("gcs", &two).err().unwrap().kind(), ErrorKind::Config);
    }
}
