//! [`AzureFactory`]: builds Azure drivers for the registry.

use std::sync::Arc;

use storage_core::{Driver, DriverConfig, DriverFactory, Result};

use crate::{AzureConfig, AzureDriver};

/// Builds [`AzureDriver`]s from a string map (see [`AzureConfig::from_config`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct AzureFactory;

impl DriverFactory for AzureFactory {
    fn name(&self) -> &str {
        "azure"
    }
    fn schemes(&self) -> &[&str] {
        &["az", "azure"]
    }
    fn build(&self, config: &DriverConfig) -> Result<Arc<dyn Driver>> {
        Ok(Arc::new(AzureDriver::new(AzureConfig::from_config(config)?)?))
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
        r.register(Arc::new(AzureFactory));
        r
    }

    #[test]
    fn options_are_checked_and_secrets_stay_hidden() {
        let typo = DriverConfig::new().set("acount", "a").set("account_key", "aHVudGVyMg==");
        let e = registry().build("azure", &typo).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.message().contains("did you mean \"account\""), "{e}");
        assert!(!format!("{e} {e:?}").contains("aHVud"));
        let all = DriverConfig::new()
            .set("account", "acct")
            .set("endpoint", "http://127.0.0.1:10000/acct")
            .set("account_key", "aHVudGVyMg==")
            .set("allow_http", "true")
            .set("ca_bundle", "")
            .set("anonymous", "false");
        assert!(registry().build("azure", &all).is_ok());
        let two =
            DriverConfig::new().set("account", "acct").set("account_key", "aHVudGVyMg==").set("sas_token", "sig=x");
        assert_eq!(registry().build("azure", &two).err().unwrap().kind(), ErrorKind::Config);
        assert!(registry().build("azure", &DriverConfig::new().set("use_emulator", "true")).is_ok());
    }
}
