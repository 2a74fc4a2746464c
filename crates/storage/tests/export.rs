//! `export(path, destination, part_size)`: a file or a folder copied between two
//! different backends with the caller's part size and concurrency (small enough to force
//! multipart uploads), every byte verified and the progress totals adding up; and
//! server-side within one driver instance.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use storage::tree::{ExportOptions, TreeExt};
use storage::{Driver, DriverExt, ErrorKind, MemoryDriver, Progress, PutOptions};

/// Counts what an export reports.
#[derive(Default)]
struct Count {
    starts: Mutex<Vec<(Option<u64>, Option<u64>)>>,
    bytes: AtomicU64,
    calls: AtomicU64,
    done: Mutex<Vec<String>>,
}

impl Progress for Count {
    fn start(&self, bytes: Option<u64>, objects: Option<u64>) {
        self.starts.lock().unwrap().push((bytes, objects));
    }
    fn bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
    fn object_done(&self, key: &str) {
        self.done.lock().unwrap().push(key.to_owned());
    }
}

fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_cross_backends_in_parts_with_progress() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, names) = common::backends(&dir.path().join("store"));
    let pairs = [("moto", "azure"), ("local", "gcs"), ("redis", "s3sfs"), ("gcs", "local"), ("azure", "redis")];
    for (from, to) in pairs {
        if !names.iter().any(|n| n == from) || !names.iter().any(|n| n == to) {
            continue;
        }
        let (src, dst) = (storage.backend(from).unwrap(), storage.backend(to).unwrap());
        let bucket = format!("export-{}-{from}-{to}", std::process::id());
        src.create_container(&bucket).await.unwrap();
        dst.create_container(&bucket).await.unwrap();
        // Parts of the destination's minimum (5 MiB on S3) or 256 KiB.
        let part = dst.info().limits.min_part_size.max(256 << 10);
        let big = noise((part * 5 / 2) as usize + 123, part);
        let files: Vec<(String, Vec<u8>)> = vec![
            ("results/big.bin".into(), big.clone()),
            ("results/sub/small.txt".into(), b"small".to_vec()),
            ("results/empty".into(), Vec::new()),
        ];
        for (key, data) in &files {
            src.put_object(&bucket, key, data.clone().into(), &PutOptions::default()).await.unwrap();
        }
        let total: u64 = files.iter().map(|(_, d)| d.len() as u64).sum();

        // The folder, 2 objects and 2 parts at a time.
        let count = Arc::new(Count::default());
        let options = ExportOptions::default()
            .with_part_size(part)
            .with_concurrency(2)
            .with_objects_in_flight(2)
            .with_progress(count.clone());
        let report = src.export(&bucket, "results", dst.as_ref(), &bucket, "copied/", &options).await.unwrap();
        assert!(report.is_ok(), "{from}->{to}: {:?}", report.failed);
        assert_eq!((report.objects, report.bytes), (3, total), "{from}->{to}");
        for (key, data) in &files {
            let copied = key.replacen("results/", "copied/", 1);
            assert_eq!(dst.get_bytes(&bucket, &copied).await.unwrap(), data.as_slice(), "{from}->{to} {copied}");
        }
        assert_eq!(*count.starts.lock().unwrap(), vec![(Some(total), Some(3))], "{from}->{to}");
        assert_eq!(count.bytes.load(Ordering::Relaxed), total, "{from}->{to}");
        let mut done = count.done.lock().unwrap().clone();
        done.sort();
        assert_eq!(done, ["copied/big.bin", "copied/empty", "copied/sub/small.txt"], "{from}->{to}");
        // The big object went in parts: one report per acknowledged part (3), plus one
        // for the small object (the empty one reports nothing or 0).
        assert!(count.calls.load(Ordering::Relaxed) >= 4, "{from}->{to}: {}", count.calls.load(Ordering::Relaxed));
        if to == "moto" || to == "s3sfs" {
            let etag = dst.head_object(&bucket, "copied/big.bin").await.unwrap().etag.unwrap_or_default();
            assert!(etag.trim_matches('"').ends_with("-3"), "{from}->{to}: a multipart ETag of 3 parts, got {etag}");
        }

        // One file, into a folder: its base name.
        let count = Arc::new(Count::default());
        let options = ExportOptions::default().with_part_size(part).with_progress(count.clone());
        let report = src.export(&bucket, "results/big.bin", dst.as_ref(), &bucket, "one/", &options).await.unwrap();
        assert_eq!((report.objects, report.bytes), (1, big.len() as u64), "{from}->{to}");
        assert_eq!(dst.get_bytes(&bucket, "one/big.bin").await.unwrap(), big.as_slice(), "{from}->{to}");
        assert_eq!(*count.starts.lock().unwrap(), vec![(Some(big.len() as u64), Some(1))], "{from}->{to}");
        assert_eq!(count.bytes.load(Ordering::Relaxed), big.len() as u64, "{from}->{to}");

        // Without overwrite, an existing destination is skipped, untouched.
        dst.put_object(&bucket, "one/small.txt", "mine".into(), &PutOptions::default()).await.unwrap();
        let mut options = ExportOptions::default();
        options.tree.overwrite = false;
        let report =
            src.export(&bucket, "results/sub/small.txt", dst.as_ref(), &bucket, "one/", &options).await.unwrap();
        assert_eq!((report.objects, report.skipped), (0, 1), "{from}->{to}");
        assert_eq!(dst.get_bytes(&bucket, "one/small.txt").await.unwrap(), "mine", "{from}->{to}");

        // Nothing there: an error, nothing written.
        let e = src.export(&bucket, "nothing", dst.as_ref(), &bucket, "x/", &options).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ObjectDoesNotExist, "{from}->{to}: {e}");

        for d in [&src, &dst] {
            storage::tree::remove_tree(d.as_ref(), &bucket, "", &Default::default()).await.unwrap();
            d.delete_container(&bucket).await.unwrap();
        }
    }
}

#[tokio::test]
async fn within_one_driver_the_copy_is_server_side_and_still_reported() {
    let store = Arc::new(MemoryDriver::new());
    store.create_container("c").await.unwrap();
    store.put_object("c", "a/x.bin", vec![1u8; 1000].into(), &PutOptions::default()).await.unwrap();
    store.put_object("c", "a/y.bin", vec![2u8; 500].into(), &PutOptions::default()).await.unwrap();
    let count = Arc::new(Count::default());
    let options = ExportOptions::default().with_part_size(100).with_progress(count.clone());
    // Into a folder inside the source: listed first, so copies are never copied again.
    let report = store.export("c", "a/", store.as_ref(), "c", "a/b/", &options).await.unwrap();
    assert_eq!((report.objects, report.bytes), (2, 1500));
    assert_eq!(store.list_keys("c", None).await.unwrap(), ["a/b/x.bin", "a/b/y.bin", "a/x.bin", "a/y.bin"]);
    // Server-side: no part reports, one report of each object's size when it is done.
    assert_eq!(count.bytes.load(Ordering::Relaxed), 1500);
    assert_eq!(count.calls.load(Ordering::Relaxed), 2);
    assert_eq!(*count.starts.lock().unwrap(), vec![(Some(1500), Some(2))]);

    // Onto itself: the data stays as it was.
    store.export("c", "a/x.bin", store.as_ref(), "c", "a/x.bin", &ExportOptions::default()).await.unwrap();
    assert_eq!(store.get_bytes("c", "a/x.bin").await.unwrap(), vec![1u8; 1000]);
    // A missing (empty) source: not found, nothing written.
    let e = store.export("c", "nothing/", store.as_ref(), "c", "out/", &ExportOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), storage::ErrorKind::ObjectDoesNotExist, "{e}");
    assert!(store.list_keys("c", Some("out/")).await.unwrap().is_empty());
}
