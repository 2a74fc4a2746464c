//! The blocking API on every backend `cargo xtask test` starts: plain `#[test]`s with no
//! runtime of their own, the same calls and guarantees as the async API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Seek, SeekFrom, Write};

use storage::blocking::BlockingDriver;
use storage::{ErrorKind, ListEntry, ListOptions, PutOptions, ReaderOptions, TransferOptions, WriterOptions};

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn blocking_calls_work_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, names) = common::backends(&dir.path().join("store"));
    for name in names {
        let store = BlockingDriver::new(storage.backend(&name).unwrap()).unwrap();
        let bucket = format!("blocking-{}-{name}", std::process::id());
        store.create_container(&bucket).unwrap();
        store.put_object(&bucket, "a/one.txt", "one".into(), &PutOptions::default()).unwrap();
        assert_eq!(store.get_bytes(&bucket, "a/one.txt").unwrap(), "one", "{name}");
        assert_eq!(store.get_range(&bucket, "a/one.txt", 1..3).unwrap(), "ne", "{name}");
        assert!(store.object_exists(&bucket, "a/one.txt").unwrap());
        let e = store.get_bytes(&bucket, "missing").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ObjectDoesNotExist, "{name}: {e}");

        // A writer crossing part boundaries: visible only after finish.
        let body = data(3 * 1024 * 1024 + 17);
        let limits = store.driver().info().limits;
        let part = limits.min_part_size.max(1024 * 1024) as usize;
        let transfer =
            TransferOptions { part_size: part as u64, single_put_threshold: part as u64, ..TransferOptions::default() };
        let mut writer = store
            .open_writer(&bucket, "big.bin", WriterOptions { put: PutOptions::default(), transfer: transfer.clone() })
            .unwrap();
        for chunk in body.chunks(100_000) {
            writer.write_all(chunk).unwrap();
        }
        assert!(!store.object_exists(&bucket, "big.bin").unwrap(), "{name}: visible before finish");
        writer.finish().unwrap();

        // A reader that seeks.
        let mut reader = store
            .open_reader(&bucket, "big.bin", ReaderOptions { chunk_size: 256 * 1024, ..ReaderOptions::default() })
            .unwrap();
        let mut all = Vec::new();
        reader.read_to_end(&mut all).unwrap();
        assert!(all == body, "{name}: the data read back differs");
        reader.seek(SeekFrom::Start(1_000_000)).unwrap();
        let mut some = [0u8; 10];
        reader.read_exact(&mut some).unwrap();
        assert_eq!(&some[..], &body[1_000_000..1_000_010], "{name}");

        // A writer dropped unfinished leaves nothing (and no multipart upload).
        let mut dropped =
            store.open_writer(&bucket, "dropped.bin", WriterOptions { put: PutOptions::default(), transfer }).unwrap();
        dropped.write_all(&body).unwrap();
        drop(dropped);
        assert!(!store.object_exists(&bucket, "dropped.bin").unwrap(), "{name}");
        if store.driver().info().capabilities.list_multipart {
            // s3s-fs 0.14 answers ListMultipartUploads with 501 (EMULATORS.md).
            match store.block_on(store.driver().list_multipart_uploads(&bucket, None)).unwrap() {
                Ok(left) => assert!(left.is_empty(), "{name}: {left:?}"),
                Err(e) => assert_eq!((name.as_str(), e.kind()), ("s3sfs", ErrorKind::NotSupported), "{e}"),
            }
        }

        let entries: Vec<ListEntry> =
            store.list_objects(&bucket, ListOptions::default().with_delimiter("/")).collect::<Result<_, _>>().unwrap();
        assert_eq!(entries.len(), 2, "{name}: {entries:?}");
        let keys = store.list_keys(&bucket, None).unwrap();
        store.delete_objects(&bucket, &keys).unwrap();
        store.delete_container(&bucket).unwrap();
    }
}

#[test]
fn urls_open_and_local_paths_are_refused() {
    let (store, container, key) = BlockingDriver::open_url("memory://blocking-url/k").unwrap();
    assert_eq!((container.as_str(), key.as_str()), ("blocking-url", "k"));
    store.create_container(&container).unwrap();
    let e = BlockingDriver::open_url("/tmp/x").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
}

/// From inside a runtime the blocking API refuses (instead of stalling the runtime).
#[tokio::test]
async fn inside_a_runtime_it_refuses() {
    let store = std::thread::spawn(|| BlockingDriver::new(std::sync::Arc::new(storage::MemoryDriver::new())).unwrap())
        .join()
        .unwrap();
    let e = store.create_container("c").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().contains("inside an async runtime"), "{e}");
    // Dropping the runtime inside an async context is not allowed: hand it to a thread.
    std::thread::spawn(move || drop(store)).join().unwrap();
}

#[test]
fn blocking_tree_calls_round_trip_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, names) = common::backends(&dir.path().join("store"));
    let src = dir.path().join("src");
    storage_testkit::write_file(&src.join("a.txt"), b"a");
    storage_testkit::write_file(&src.join("sub/b.txt"), b"bb");
    for name in names {
        let store = BlockingDriver::new(storage.backend(&name).unwrap()).unwrap();
        let bucket = format!("blocking-tree-{}-{name}", std::process::id());
        store.create_container(&bucket).unwrap();
        let options = storage::TreeOptions::default();
        store.upload_dir(&src, &bucket, "run/", &options).unwrap();
        let usage = store.space_used(&bucket, Some("run/")).unwrap();
        assert_eq!((usage.objects, usage.bytes), (2, 3), "{name}");
        let top = store.listdir(&bucket, "run/", &storage::ListdirOptions::default()).unwrap();
        assert_eq!(top.len(), 2, "{name}: {top:?}");
        let all = store.space_used_all().unwrap();
        let row = all.containers.iter().find(|c| c.container == bucket).map(|c| c.usage);
        assert_eq!(row, Some(usage), "{name}: the backend's usage lists the container");
        assert!(all.total.bytes >= 3, "{name}: {:?}", all.total);
        let out = dir.path().join(format!("out-{name}"));
        store.download_dir(&bucket, "run/", &out, &options).unwrap();
        assert_eq!(storage_testkit::read_tree(&out), storage_testkit::read_tree(&src), "{name}");
        store.remove_tree(&bucket, "run/", &options).unwrap();
        assert!(store.list_keys(&bucket, None).unwrap().is_empty(), "{name}");
        store.delete_container(&bucket).unwrap();
    }
}
