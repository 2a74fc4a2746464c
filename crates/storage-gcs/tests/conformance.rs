//! The shared conformance suite against fake-gcs-server, which `cargo xtask test` starts,
//! with its declared gaps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use storage_core::Driver;
use storage_gcs::{GcsConfig, GcsDriver};

fn driver() -> Arc<dyn Driver> {
    let endpoint = std::env::var("EMU_GCS_FAKEGCS_ENDPOINT").unwrap_or_else(|_| {
        panic!("EMU_GCS_FAKEGCS_ENDPOINT is not set: run `cargo xtask test`, or `cargo xtask emulators start fake-gcs` and export the variables it prints")
    });
    Arc::new(GcsDriver::new(GcsConfig::emulator(endpoint)).unwrap())
}

storage_conformance::conformance_tests!(
    async { driver() },
    storage_conformance::RunConfig {
        label: Some("gcs (fake-gcs-server)".into()),
        overrides: storage_conformance::profiles::fake_gcs(),
        ..Default::default()
    }
);
