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

/// The profile's gaps, and one of this server's that the profile does not list yet:
/// without bucket IAM, `enable_container_cdn` is `NotSupported` (which the `cdn_object_url`
/// case then checks); tests/extras.rs proves the IAM calls on a recording proxy.
fn overrides() -> Vec<storage_conformance::Override> {
    let mut o = storage_conformance::profiles::fake_gcs();
    if !o.iter().any(|o| o.capability == "cdn") {
        o.push(storage_conformance::Override::new(
            "cdn",
            "fake-gcs-server has no bucket IAM policies (buckets.getIamPolicy answers 404), so enable_container_cdn \
             is NotSupported there",
        ));
    }
    o
}

storage_conformance::conformance_tests!(
    async { driver() },
    storage_conformance::RunConfig {
        label: Some("gcs (fake-gcs-server)".into()),
        overrides: overrides(),
        ..Default::default()
    }
);
