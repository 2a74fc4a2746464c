//! The whole suite against the reference driver, through `conformance_tests!`, exactly as
//! a third-party driver's crate would run it.

use std::sync::Arc;

use storage_core::{Driver, MemoryDriver};

storage_conformance::conformance_tests!(async { Arc::new(MemoryDriver::new()) as Arc<dyn Driver> });

/// The same through the two-argument form, with a label and an override.
mod with_config {
    use std::sync::Arc;

    use storage_conformance::{Override, RunConfig};
    use storage_core::{Driver, MemoryDriver};

    storage_conformance::conformance_tests!(
        async { Arc::new(MemoryDriver::new()) as Arc<dyn Driver> },
        RunConfig {
            label: Some("memory (overridden)".into()),
            overrides: vec![Override::new("conditional_get_time", "pretend the server ignores dates")],
            ..RunConfig::default()
        }
    );
}
