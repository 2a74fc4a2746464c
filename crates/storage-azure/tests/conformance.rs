//! The shared conformance suite against Azurite, which `cargo xtask test` starts (it
//! verifies SharedKey signatures), with its declared gaps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use storage_azure::{AzureConfig, AzureDriver};
use storage_core::Driver;

fn driver() -> Arc<dyn Driver> {
    let endpoint = std::env::var("AZURITE_BLOB_ENDPOINT").unwrap_or_else(|_| {
        panic!("AZURITE_BLOB_ENDPOINT is not set: run `cargo xtask test`, or `cargo xtask emulators start azurite` and export the variables it prints")
    });
    Arc::new(AzureDriver::new(AzureConfig::emulator().endpoint(endpoint)).unwrap())
}

storage_conformance::conformance_tests!(
    async { driver() },
    storage_conformance::RunConfig {
        label: Some("azure (azurite)".into()),
        overrides: storage_conformance::profiles::azurite(),
        ..Default::default()
    }
);
