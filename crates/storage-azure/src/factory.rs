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

    #[test]
    fn service_principals_and_the_cli_are_configurable_and_connection_strings_stay_hidden() {
        let sp = DriverConfig::new()
            .set("account", "acct")
            .set("tenant_id", "contoso.onmicrosoft.com")
            .set("client_id", "00000000-0000-0000-0000-000000000000")
            .set("client_secret", "hunter2");
        let d = registry().build("azure", &sp).unwrap();
        assert!(!format!("{d:?} {sp:?}").contains("hunter2"));
        let half = DriverConfig::new().set("account", "acct").set("client_secret", "hunter2");
        let e = registry().build("azure", &half).err().unwrap();
        assert!(e.message().contains("tenant_id") && !e.to_string().contains("hunter2"), "{e}");
        assert!(
            registry().build("azure", &DriverConfig::new().set("account", "acct").set("use_azure_cli", "true")).is_ok()
        );
        let cs = DriverConfig::new().set("connection_string", "AccountName=a;AccountKey=aHVudGVyMg==");
        assert!(!format!("{cs:?}").contains("aHVud"), "{cs:?}");
    }
}
