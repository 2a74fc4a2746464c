//! What the facade's tests share: a configuration naming every backend `cargo xtask test`
//! starts, opened as a user of the facade opens it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use storage::{Config, Storage};

/// The test configuration's text, with the local root at `root`.
pub fn config_text(root: &Path) -> String {
    storage_testkit::backends_toml(root, &format!("facade-{}", std::process::id()))
}

/// A `Storage` over every backend of the test configuration this build has a driver
/// for, and their names (`memory` first).
pub fn backends(root: &Path) -> (Storage, Vec<String>) {
    let config = Config::parse(&config_text(root), None).unwrap();
    let known = storage::registry().known_schemes();
    let names: Vec<String> = ["memory", "local", "moto", "s3sfs", "redis", "cluster", "azure", "gcs"]
        .into_iter()
        .filter(|n| *n == "memory" || known.contains(&config.driver_of(n)))
        .map(str::to_owned)
        .collect();
    assert!(names.len() >= 2, "{names:?}");
    #[cfg(all(feature = "s3", feature = "redis", feature = "azure", feature = "gcs"))]
    assert_eq!(names.len(), 8, "{names:?}");
    (Storage::new(config), names)
}
