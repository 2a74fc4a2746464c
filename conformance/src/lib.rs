//! The conformance suite every storage driver must pass.
//!
//! A list of named [`Case`]s, grouped (`containers`, `objects`, `listing`, `ranges`,
//! `conditional`, `multipart`, `copy`, `delete`, `errors`, `keys`, `helpers`,
//! `concurrency`, `transfer`, `tree`, `zip`, `io`), each gated by the
//! [`storage_core::Capabilities`] it needs. Run them
//! against any `Arc<dyn Driver>` and get a [`DriverReport`]: passed, failed (with a
//! detail saying what was expected and what happened) or skipped (with the reason,
//! naming the capability). [`Report`] renders one or more driver reports as text, JSON
//! or JUnit XML.
//!
//! # Running the suite from code
//!
//! ```
//! use std::sync::Arc;
//!
//! use storage_conformance::{Report, RunConfig};
//! use storage_core::{Driver, MemoryDriver};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let driver: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
//! let config = RunConfig {
//!     only: Some(vec!["object_round_trip_small".into(), "list_pagination".into()]),
//!     ..RunConfig::default()
//! };
//! let report = Report::new(vec![storage_conformance::run(driver, &config).await]);
//! assert_eq!(report.failed(), 0, "{}", report.to_text());
//! println!("{}", report.to_json());
//! # });
//! ```
//!
//! # Running it as `cargo test` in a driver's crate
//!
//! A vendor proves a third-party driver with [`conformance_tests!`], which expands into
//! one ordinary `#[tokio::test]` per case, so `cargo test` lists and filters them like
//! any other test. Put it in its own test file (say `tests/conformance.rs`) and add
//! `storage-conformance` and `tokio` (features `macros`, `rt-multi-thread`) as
//! dev-dependencies:
//!
//! ```toml
//! [dev-dependencies]
//! storage-conformance = "0.1"
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! ```no_run
//! // tests/conformance.rs
//! use std::sync::Arc;
//!
//! use storage_conformance::{Override, RunConfig};
//! use storage_core::{Driver, MemoryDriver};
//!
//! // The driver is built anew for every case, from this future.
//! storage_conformance::conformance_tests!(async { Arc::new(MemoryDriver::new()) as Arc<dyn Driver> });
//!
//! // Or with a configuration (in another module or file):
//! mod against_my_server {
//!     use super::*;
//!     storage_conformance::conformance_tests!(
//!         async { Arc::new(MemoryDriver::new()) as Arc<dyn Driver> },
//!         RunConfig {
//!             label: Some("memory (tuned)".into()),
//!             overrides: vec![Override::new("conditional_get_time", "the server ignores If-Modified-Since")],
//!             ..RunConfig::default()
//!         }
//!     );
//! }
//! # fn main() {}
//! ```
//!
//! A failing case panics with its detail; a skipped case passes and prints its reason.
//!
//! # Containers, prefixes and cleanup
//!
//! Each case gets a fresh container named `conf-` + 16 lowercase hex digits (valid under
//! the S3, GCS, Azure and filesystem rules), created by the runner and deleted with
//! everything in it afterwards, best effort. Drivers without `manage_containers` pass an
//! existing container in [`RunConfig::container`]; cases then work under a unique key
//! prefix and delete what they wrote. Every key a case writes starts with its own
//! prefix, so cases never see each other's objects.
//!
//! # Capabilities and overrides
//!
//! A case runs only when the capabilities it needs ([`Case::needs`]) are on; otherwise it
//! is skipped with a reason naming the capability. An [`Override`] turns a capability off
//! for one server (an emulator that ignores a header, say); the cases needing it are
//! skipped with the detail `server override: <reason>`. Cases in [`Case::needs_off`]
//! check that a driver without a capability answers `NotSupported`.
//!
//! # Error kinds
//!
//! Every [`storage_core::ErrorKind`] a driver can be made to produce generically is
//! checked: `ContainerAlreadyExists`, `ContainerDoesNotExist`, `ContainerIsNotEmpty`,
//! `InvalidContainerName`, `ObjectDoesNotExist`, `ObjectHashMismatch`,
//! `InvalidObjectName`, `PreconditionFailed`, `NotModified`, `InvalidRange`,
//! `NotSupported` (for each capability a driver lacks) and `Io` (a stream shorter or
//! longer than announced, a stream failing midway, a missing local file).
//! `PermissionDenied`, `Unauthenticated`, `RateLimited`, `Timeout`, `Config` and
//! `Backend` cannot be provoked without knowing the backend; drivers test those
//! themselves.
//!
//! # Timeouts
//!
//! [`RunConfig::case_timeout`] is a hang guard (300 s by default), not a performance
//! assertion: no case asserts timings. A panicking case fails alone.

mod case;
mod cases;
mod context;
mod macros;
pub mod profiles;
mod record;
mod report;
mod runner;
pub mod soak;
mod versioning;

pub use case::Case;
pub use record::{RECORD_ENV, report_from_records};
pub use report::{CapabilityRow, CaseReport, DriverReport, Report, Status, xml_escape};
pub use runner::{Override, RunConfig, cases, run, run_case};

/// The version of the suite, reported with every result. Bumped when cases change.
pub const SUITE_VERSION: &str = "1.3.0";

/// Support for [`conformance_tests!`]; not a public API.
#[doc(hidden)]
pub mod __private {
    use std::sync::Arc;

    pub use storage_core::Driver;

    use crate::{CaseReport, RunConfig, Status};

    /// Records the case when [`crate::RECORD_ENV`] names a file, then [`check`]s it.
    pub fn finish(driver: &Arc<dyn Driver>, config: &RunConfig, report: &CaseReport) {
        if let Err(e) = crate::record::record(driver, config, report) {
            panic!("conformance case {}/{}: {e}", report.group, report.name);
        }
        check(report);
    }

    /// Panics with the detail if the case failed; prints the reason if it was skipped.
    pub fn check(report: &CaseReport) {
        match report.status {
            Status::Passed => {}
            Status::Skipped => println!("skipped {}/{}: {}", report.group, report.name, report.detail),
            Status::Failed => panic!("conformance case {}/{} failed: {}", report.group, report.name, report.detail),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use storage_core::{Driver, MemoryDriver};

    use super::*;

    #[test]
    fn names_are_unique_snake_case() {
        let all = cases();
        let names: BTreeSet<&str> = all.iter().map(|c| c.name).collect();
        assert_eq!(names.len(), all.len(), "duplicate case names");
        for c in &all {
            assert!(
                c.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{} is not snake_case",
                c.name
            );
        }
        assert!(all.len() >= 100, "only {} cases", all.len());
    }

    #[test]
    fn capabilities_named_by_cases_exist() {
        for c in cases() {
            for n in c.needs().iter().chain(c.needs_off()) {
                assert!(storage_core::Capabilities::NAMES.contains(n), "case {} names unknown capability {n}", c.name);
            }
        }
    }

    #[test]
    fn macro_list_equals_cases() {
        let from_macro: Vec<&str> = crate::__conformance_case_list!(names).to_vec();
        let from_cases: Vec<&str> = cases().iter().map(|c| c.name).collect();
        assert_eq!(from_macro, from_cases, "update the list in src/macros.rs");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn whole_suite_on_memory_driver() {
        let driver: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
        let report = Report::new(vec![run(driver, &RunConfig::default()).await]);
        let d = &report.drivers[0];
        assert_eq!(d.failed, 0, "{}", report.to_text());
        assert_eq!(d.passed + d.skipped, cases().len());
        for c in d.cases.iter().filter(|c| c.status == Status::Skipped) {
            assert!(!c.detail.is_empty(), "{} skipped without a reason", c.name);
        }
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["drivers"][0]["driver"], "memory");
        assert_eq!(json["drivers"][0]["cases"].as_array().unwrap().len(), cases().len());
    }

    #[tokio::test]
    async fn overrides_skip_with_the_reason() {
        let driver: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
        let config = RunConfig {
            label: Some("memory (override)".into()),
            overrides: vec![Override::new("ranges", "the test server ignores Range")],
            only: Some(vec!["range_bounded".into(), "object_round_trip_small".into(), "no_such_case".into()]),
            ..RunConfig::default()
        };
        let r = run(driver.clone(), &config).await;
        assert_eq!(r.driver, "memory (override)");
        assert_eq!(r.cases[0].status, Status::Skipped);
        assert_eq!(r.cases[0].detail, "server override: the test server ignores Range");
        assert_eq!(r.cases[1].status, Status::Passed);
        assert_eq!(r.cases[2].status, Status::Failed);
        let r = run_case(driver.clone(), "object_md5", &config).await;
        assert_eq!((r.status, r.detail.as_str()), (Status::Skipped, "not selected by RunConfig.only"));
        let bad = RunConfig { overrides: vec![Override::new("teleport", "x")], ..RunConfig::default() };
        let r = run_case(driver, "object_round_trip_small", &bad).await;
        assert_eq!(r.status, Status::Failed);
        assert!(r.detail.contains("teleport"), "{}", r.detail);
    }

    #[tokio::test]
    async fn missing_capability_and_not_supported_cases() {
        let driver: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
        let r = run_case(driver.clone(), "signed_url_get", &RunConfig::default()).await;
        assert_eq!(r.status, Status::Skipped);
        assert!(r.detail.contains("`signed_urls`"), "{}", r.detail);
        let r = run_case(driver.clone(), "signed_url_not_supported", &RunConfig::default()).await;
        assert_eq!(r.status, Status::Passed, "{}", r.detail);
        let r = run_case(driver, "copy_not_supported", &RunConfig::default()).await;
        assert_eq!(r.status, Status::Skipped);
        assert!(r.detail.contains("`copy`"), "{}", r.detail);
    }

    #[tokio::test]
    async fn shared_container_is_left_clean() {
        let memory = Arc::new(MemoryDriver::new());
        memory.create_container("shared").await.unwrap();
        let driver: Arc<dyn Driver> = memory.clone();
        let config = RunConfig {
            container: Some("shared".into()),
            only: Some(vec!["list_pagination".into(), "multipart_abort".into(), "copy_across_containers".into()]),
            ..RunConfig::default()
        };
        let r = run(driver, &config).await;
        assert_eq!(r.failed, 0, "{:?}", r.cases);
        assert!(memory.get_container("shared").await.is_ok());
        use storage_core::DriverExt;
        assert!(memory.list_keys("shared", None).await.unwrap().is_empty());
        assert!(memory.list_multipart_uploads("shared", None).await.unwrap().is_empty());
        // Only the shared container remains: the one copy_across_containers created is gone.
        use futures::TryStreamExt;
        let names: Vec<_> = memory.list_containers().map_ok(|c| c.name).try_collect().await.unwrap();
        assert_eq!(names, vec!["shared".to_owned()]);
    }

    #[tokio::test]
    async fn runner_containers_are_deleted() {
        let memory = Arc::new(MemoryDriver::new());
        let driver: Arc<dyn Driver> = memory.clone();
        let config = RunConfig {
            only: Some(vec!["container_create_and_get".into(), "object_round_trip_large".into()]),
            ..RunConfig::default()
        };
        let r = run(driver, &config).await;
        assert_eq!(r.failed, 0, "{:?}", r.cases);
        use futures::TryStreamExt;
        let names: Vec<_> = memory.list_containers().map_ok(|c| c.name).try_collect().await.unwrap();
        assert!(names.is_empty(), "{names:?}");
    }

    #[test]
    fn container_names_are_portable() {
        use storage_core::ContainerNameRules as R;
        for _ in 0..50 {
            let n = context::fresh_container_name();
            for rules in [R::S3, R::Gcs, R::Azure, R::Filesystem, R::Any] {
                storage_core::validate::container_name(&n, rules).unwrap();
            }
        }
    }
}
