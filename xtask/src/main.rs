//! `cargo xtask`: the project's developer loop.
//!
//! ```text
//! cargo xtask emulators start|stop|status [NAME...]
//! cargo xtask test                 emulators up, whole workspace tested, conformance, emulators down
//! cargo xtask conformance [--driver NAME[,NAME] | --crate PATH] [--format text|json|junit]
//! cargo xtask chaos [--driver NAME[,NAME]] [--seed N] [--rate P] [--ops N] [--long]
//!                                  suite data groups + soak under seeded faults
//! cargo xtask fuzz [TARGET|all] [--seconds N]
//!                                  coverage-guided fuzzing (libFuzzer, stable toolchain) of the parsers
//! cargo xtask ci                   fmt check, cargo-deny, clippy -D warnings (workspace; facade per
//!                                  driver feature), cargo doc -D warnings, test, fuzz (briefly)
//! cargo xtask bench [--quick] [--no-callgrind]
//!                   [--only s3-small,s3-large,azure-small,azure-large,gcs-small,gcs-large,local,memory,cli]
//!                   [--large-repeat R] [--cli-repeat R]
//!                                  our S3, Azure, GCS and local drivers vs object_store, OpenDAL, bare
//!                                  hyper / tokio::fs
//! ```

mod bench;
mod chaos;
mod ci;
mod conformance;
mod emulators;
mod fuzz;
mod paths;
mod process;
mod vendor;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  emulators start|stop|status [NAME...]   manage the local servers the tests use
  test                                    start emulators, test the whole workspace, run conformance, stop emulators
  conformance [--driver NAME[,NAME] | --crate PATH] [--format text|json|junit]
                                          run the conformance suite: the built-in drivers (memory,
                                          local, s3, redis, azure, gcs), or any driver crate's
                                          conformance_tests! (emulators from its Cargo.toml's
                                          [package.metadata.storage-conformance] emulators)
  chaos [--driver NAME[,NAME]] [--seed N] [--rate P] [--ops N] [--long]
                                          the conformance suite's data-moving groups and a soak of
                                          mixed writes and verified reads, through ChaosLayer (seeded
                                          faults) and RetryLayer, on every built-in driver; prints
                                          faults injected, operations, bytes verified, 0 lost/corrupt
  fuzz [TARGET|all] [--seconds N]         the coverage-guided fuzz targets of fuzz/ (libFuzzer on the
                                          pinned stable toolchain), each run N seconds (default 60)
                                          from its committed seeds; prints executions and coverage,
                                          fails on any crash (saved under target/fuzz/artifacts)
  ci                                      fmt check, cargo-deny, clippy -D warnings (the workspace, then
                                          the facade with no driver and each driver feature alone),
                                          cargo doc -D warnings, then test, then fuzz (10 s per target)
  bench [--quick] [--no-callgrind] [--repeat R] [--port P] [--clients a,b,...]
        [--only s3-small,s3-large,azure-small,azure-large,gcs-small,gcs-large,local,memory,cli]
        [--large-repeat R] [--cli-repeat R]
                                          our drivers beside object_store, OpenDAL and a bare floor
                                          client: small S3 operations and 512 MiB transfers on one
                                          s3s-fs server, the same on one Azurite (Azure Blob) and one
                                          fake-gcs-server (GCS), small operations on a tmpfs directory
                                          (LocalDriver vs LocalFileSystem, services-fs, tokio::fs), and
                                          the transfer engine's memory bound (2 GiB); ops/s, MiB/s,
                                          CPU, instructions/op (callgrind), peak RSS; writes
                                          bench/results/latest.{json,md}";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("emulators") => emulators::command(&args[1..]),
        Some("test") => ci::test(),
        Some("conformance") => conformance::command(&args[1..]),
        Some("ci") => ci::ci(),
        Some("bench") => bench::command(&args[1..]),
        Some("chaos") => chaos::command(&args[1..]),
        Some("fuzz") => fuzz::command(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
