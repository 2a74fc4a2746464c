//! The suite's data-moving groups and the soak, under chaos, over the reference driver
//! (`cargo xtask chaos` runs the same on every driver against the real servers).

use std::sync::Arc;

use storage_conformance::RunConfig;
use storage_conformance::soak::{SoakConfig, run_under_chaos, soak};
use storage_core::layers::ChaosConfig;
use storage_core::{Driver, MemoryDriver};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_groups_pass_under_recoverable_chaos() {
    let chaos = ChaosConfig::recoverable(17, 0.05).body_truncate(0.05);
    let run = run_under_chaos(Arc::new(MemoryDriver::new()), &RunConfig::default(), chaos, 8).await;
    println!(
        "memory under chaos: {} passed, {} failed ({} by an injected fault reaching the caller), {} skipped; {}; {} retries",
        run.report.passed,
        run.report.failed,
        run.surfaced.len(),
        run.report.skipped,
        run.chaos,
        run.retries
    );
    assert!(run.defects.is_empty(), "cases failed for a reason other than an injected fault:\n{:#?}", run.defects);
    assert!(run.chaos.errors > 0 && run.chaos.committed_errors > 0 && run.chaos.body_errors > 0, "{}", run.chaos);
    assert!(run.retries > 0);
    assert!(run.report.passed > 100, "the data groups ran: {} passed", run.report.passed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_loses_and_corrupts_nothing() {
    let driver: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
    driver.create_container("soak").await.expect("create the container");
    let mut config = SoakConfig { operations: 1500, large: 3 << 20, part_size: 1 << 20, ..SoakConfig::short(5, 0.1) };
    config.chaos = config.chaos.stall(0.05, std::time::Duration::from_millis(50));
    let report = soak(driver.clone(), "memory", "soak", "s/", &config).await;
    println!("{report}");
    assert!(report.ok(), "{report}");
    assert!(report.chaos.faults() > 100, "{report}");
    assert!(report.bytes_verified > 0 && report.retries > 0, "{report}");
    assert_eq!(report.orphans, 0, "{report}");
}
