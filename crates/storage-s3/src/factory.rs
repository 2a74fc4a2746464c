//! [`S3Factory`]: builds S3 drivers for the registry.

use std::sync::Arc;

use storage_core::{Driver, DriverConfig, DriverFactory, Result};

use crate::{S3Config, S3Driver};

/// Builds [`S3Driver`]s from a string map (see [`S3Config::from_config`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct S3Factory;

impl DriverFactory for S3Factory {
    fn name(&self) -> &str {
        "s3"
    }
    fn schemes(&self) -> &[&str] {
        &["s3", "s3a"]
    }
    fn build(&self, config: &DriverConfig) -> Result<Arc<dyn Driver>> {
        Ok(Arc::new(S3Driver::new(S3Config::from_config(config)?)?))
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
        r.register(Arc::new(S3Factory));
        r
    }

    #[test]
    fn a_misspelt_option_is_refused_instead_of_talking_to_aws() {
        let typo = DriverConfig::new()
            .set("endpiont", "http://127.0.0.1:1")
            .set("access_key_id", "AKID")
            .set("secret_access_key", "hunter2");
        let e = registry().build("s3", &typo).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(
            e.message().starts_with("unknown option \"endpiont\" for driver s3; did you mean \"endpoint\"? known: "),
            "{e}"
        );
        assert!(!format!("{e} {e:?}").contains("hunter2"));
    }

    #[test]
    fn every_documented_option_is_accepted() {
        let all = DriverConfig::new()
            .set("endpoint", "http://127.0.0.1:1")
            .set("region", "eu-west-1")
            .set("addressing", "path")
            .set("access_key_id", "AKID")
            .set("secret_access_key", "s")
            .set("session_token", "t")
            .set("anonymous", "false")
            .set("allow_http", "true")
            .set("ca_bundle", "")
            .set("checksum", "md5")
            .set("payload_signing", "signed")
            .set("ibm_api_key", "k")
            .set("service_instance_id", "i")
            .set("iam_endpoint", "http://127.0.0.1:1");
        assert!(registry().build("s3", &all).is_ok());
    }

    #[test]
    fn an_endpoint_with_a_password_is_refused_through_the_registry() {
        let c = DriverConfig::new().set("endpoint", "http://minio:hunter2@127.0.0.1:9000").set("anonymous", "true");
        let e = registry().build("s3", &c).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(!format!("{e} {e:?}").contains("hunter2"), "{e}");
    }
}
