//! Load on every backend `cargo xtask test` starts (moto, s3s-fs, rclone serve s3,
//! Azurite, fake-gcs-server, Redis and Redis Cluster, the local filesystem): thousands of mixed operations (put,
//! get, head, copy, list, delete), a hundred or more in flight, each checked (the data
//! read is the data written, listings and sizes are right); every error is counted by
//! kind and none is expected. The process's open file descriptors and its resident
//! memory are read from `/proc/self` before the driver exists and after it is dropped:
//! connections may stay pooled only while the driver lives, so once it is dropped the
//! descriptors return to where they were (waited for, up to a bound, as sockets close
//! asynchronously), and the memory left behind is bounded.
//!
//! The tests take one lock so that only one runs at a time: descriptors are counted for
//! the whole process. `STORAGE_LOAD_OPS=N` sets the number of operations per backend
//! (default 2 100), `STORAGE_LOAD_IN_FLIGHT=N` the operations in flight (default 192;
//! moto, a Python server, gets a third of it).
#![cfg(any(feature = "local", feature = "s3", feature = "redis", feature = "azure", feature = "gcs"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use storage::{Bytes, Config, Driver, DriverExt, Error, PutOptions, Storage};
use storage_testkit::fault_proxy::Rng;

/// One test at a time: descriptors and memory are the process's.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Operations of one sequence (put, get, head, copy, list, delete twice).
const OPS_PER_SEQUENCE: usize = 7;

/// Descriptors the process may hold after the run beyond those it held before: none is
/// expected; a couple of slots allow for what the test harness itself opens meanwhile
/// (its output capture) and for a runtime-wide resource created on first use (the
/// blocking pool's, the DNS resolver's).
const FD_SLACK: usize = 4;

/// Resident memory the run may leave behind (the allocator keeps freed pages).
const RSS_SLACK_KIB: u64 = 256 * 1024;

fn open_fds() -> (usize, usize) {
    let mut all = 0;
    let mut sockets = 0;
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        all += 1;
        if std::fs::read_link(entry.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:")) {
            sockets += 1;
        }
    }
    (all, sockets)
}

/// `VmRSS` and `VmHWM` (peak) in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[derive(Default)]
struct Tally {
    ops: usize,
    bytes: u64,
    errors: BTreeMap<String, usize>,
    examples: Vec<String>,
}

/// One sequence over its own keys: every step must succeed and say the right thing.
async fn sequence(d: &dyn Driver, bucket: &str, i: usize, seed: u64) -> (usize, u64, Option<(String, Error)>) {
    let mut rng = Rng::new(seed ^ i as u64);
    let len = 1 + rng.below(16 * 1024) as usize;
    let data = Bytes::from(rng.bytes(len));
    let (dir, key, copy) = (format!("s{i:05}/"), format!("s{i:05}/object"), format!("s{i:05}/copy"));
    let mut done = 0;
    macro_rules! step {
        ($name:literal, $e:expr) => {
            match $e {
                Ok(v) => {
                    done += 1;
                    v
                }
                Err(e) => return (done, 0, Some(($name.to_owned(), e))),
            }
        };
    }
    step!("put", d.put_object(bucket, &key, data.clone().into(), &PutOptions::default()).await);
    let got = step!("get", d.get_bytes(bucket, &key).await);
    assert_eq!(got, data, "{key}: read back differs");
    let head = step!("head", d.head_object(bucket, &key).await);
    assert_eq!(head.size, len as u64, "{key}");
    step!("copy", d.copy_object(bucket, &key, bucket, &copy, &Default::default()).await);
    let keys = step!("list", d.list_keys(bucket, Some(&dir)).await);
    assert_eq!(keys, [copy.clone(), key.clone()], "{dir}");
    step!("delete", d.delete_object(bucket, &key).await);
    step!("delete", d.delete_object(bucket, &copy).await);
    (done, 2 * len as u64, None)
}

async fn load(name: &'static str, in_flight: usize) {
    let ops = env_usize("STORAGE_LOAD_OPS", 2100);
    let sequences = ops.div_ceil(OPS_PER_SEQUENCE);
    let root = tempfile::tempdir().unwrap();
    let (fds_before, sockets_before) = open_fds();
    let (rss_before, _) = memory_kib();
    let seed = storage_testkit::fault_proxy::seed_from_env();
    let bucket = format!("load-{}-{name}", std::process::id());
    let tally = {
        let config = Config::parse(&common::config_text(root.path()), None).unwrap();
        let driver: Arc<dyn Driver> = Storage::new(config).backend(name).unwrap();
        driver.create_container(&bucket).await.unwrap();
        let mut tally = Tally::default();
        let mut results = futures::stream::iter(0..sequences)
            .map(|i| {
                let d = driver.clone();
                let bucket = bucket.clone();
                async move { sequence(d.as_ref(), &bucket, i, seed).await }
            })
            .buffer_unordered(in_flight);
        while let Some((done, bytes, failed)) = results.next().await {
            tally.ops += done;
            tally.bytes += bytes;
            if let Some((step, e)) = failed {
                tally.ops += 1;
                *tally.errors.entry(format!("{step}:{}", e.kind())).or_default() += 1;
                if tally.examples.len() < 5 {
                    tally.examples.push(format!("{step}: {} (status {:?}): {e}", e.kind(), e.status()));
                }
            }
        }
        drop(results);
        // While the driver lives, its pool may keep connections open: they are counted,
        // which shows the count sees them.
        let during = open_fds();
        assert!(driver.list_keys(&bucket, None).await.unwrap().is_empty() || !tally.errors.is_empty());
        let _ = driver.delete_prefix(&bucket, "").await;
        driver.delete_container(&bucket).await.unwrap();
        (tally, during)
        // The driver is dropped here, and its connection pool with it.
    };
    let (tally, during) = tally;
    let (rss_peak_run, peak) = memory_kib();
    // Sockets close asynchronously (the pool's tasks end on their next poll): wait for
    // the count to come back, up to a bound, then compare.
    let mut after = open_fds();
    for _ in 0..100 {
        if after.0 <= fds_before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = open_fds();
    }
    let (rss_after, _) = memory_kib();
    println!(
        "load {name}: seed {seed}, ops {} ({sequences} sequences of {OPS_PER_SEQUENCE}, {in_flight} in flight), \
         bytes checked {}, errors {:?}; fds {fds_before} -> {} with the driver -> {} after it (sockets {sockets_before} -> {} -> {}); \
         VmRSS {rss_before} -> {rss_peak_run} -> {rss_after} KiB (process peak {peak} KiB)",
        tally.ops, tally.bytes, tally.errors, during.0, after.0, during.1, after.1,
    );
    assert!(tally.errors.is_empty(), "{name}: errors {:?}, e.g. {:#?}", tally.errors, tally.examples);
    assert!(tally.ops >= ops, "{name}: {} operations ran", tally.ops);
    assert!(
        after.0 <= fds_before + FD_SLACK,
        "{name}: descriptors leaked: {fds_before} before, {} after the driver was dropped ({} sockets, {sockets_before} before)",
        after.0,
        after.1
    );
    assert!(
        rss_after <= rss_before + RSS_SLACK_KIB,
        "{name}: resident memory grew from {rss_before} to {rss_after} KiB"
    );
}

fn run(name: &'static str, in_flight: usize) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(load(name, in_flight));
}

fn in_flight() -> usize {
    env_usize("STORAGE_LOAD_IN_FLIGHT", 192)
}

#[cfg(feature = "local")]
#[test]
fn local_under_load() {
    run("local", in_flight());
}

#[cfg(feature = "redis")]
#[test]
fn redis_under_load() {
    run("redis", in_flight());
}

#[cfg(feature = "s3")]
#[test]
fn moto_under_load() {
    run("moto", in_flight().div_ceil(3));
}

#[cfg(feature = "s3")]
#[test]
fn s3s_fs_under_load() {
    run("s3sfs", in_flight());
}

#[cfg(feature = "s3")]
#[test]
fn rclone_under_load() {
    run("rclone", in_flight());
}

#[cfg(feature = "redis")]
#[test]
fn redis_cluster_under_load() {
    run("cluster", in_flight());
}

#[cfg(feature = "azure")]
#[test]
fn azurite_under_load() {
    run("azure", in_flight());
}

#[cfg(feature = "gcs")]
#[test]
fn fake_gcs_under_load() {
    run("gcs", in_flight());
}
