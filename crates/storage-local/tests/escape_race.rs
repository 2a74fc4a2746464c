//! The root cannot be escaped by a concurrent attacker: while the driver writes, reads,
//! lists, copies and deletes keys under `a/`, another thread keeps swapping the directory
//! `a` for a symlink to a directory outside the root and back (between any check the
//! driver makes and its use). Nothing outside the root may be created, changed, read or
//! removed.
//!
//! A second race aims at deletes and reads alone: the keys exist only outside (files
//! named like them in the directory the symlink leads to), so any delete that removes
//! one, any read that returns one, and any listing that shows one went outside.
//!
//! `STORAGE_RACE_ROUNDS` sets the operations per mode (default 3000).
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use storage_core::{Bytes, CopyOptions, Driver, DriverExt, ErrorKind, PartOptions, PutOptions};
use storage_local::{LocalDriver, LocalOptions};

const SECRET: &str = "outside secret";

fn rounds() -> u64 {
    std::env::var("STORAGE_RACE_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3000)
}

/// Every file and directory under `dir` with its content (directories: none).
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            out.push((format!("{}/", p.display()), Vec::new()));
            out.extend(snapshot(&p));
        } else {
            out.push((p.display().to_string(), std::fs::read(&p).unwrap_or_default()));
        }
    }
    out.sort();
    out
}

async fn race(options: LocalOptions, label: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    for name in ["x", "y", "%t.old", "obj", "only-outside"] {
        std::fs::write(outside.join(name), SECRET).unwrap();
    }
    let before = snapshot(&outside);
    let store = Arc::new(LocalDriver::with_options(&root, options).unwrap());
    store.create_container("c").await.unwrap();
    let c = root.join("c");
    std::fs::create_dir_all(c.join("a")).unwrap();

    // The attacker: `a` is a directory, then a symlink out of the root, then a directory.
    let stop = Arc::new(AtomicBool::new(false));
    let attacker = attacker(c.clone(), outside.clone(), stop.clone());

    let (mut ok, mut refused) = (0u64, 0u64);
    let n = rounds();
    for i in 0..n {
        let key = ["a/x", "a/y", "a/obj", "a/new"][(i % 4) as usize];
        let result: storage_core::Result<()> = match i % 7 {
            0 => {
                store.put_object("c", key, Bytes::from_static(b"inside").into(), &PutOptions::default()).await.map(drop)
            }
            1 => match store.get_bytes("c", key).await {
                Ok(data) => {
                    assert_ne!(data, SECRET, "{label}: read a file outside the root through {key}");
                    Ok(())
                }
                Err(e) => Err(e),
            },
            2 => store.delete_object("c", key).await,
            3 => store.copy_object("c", "a/x", "c", key, &CopyOptions::default()).await.map(drop),
            4 => match store.list_keys("c", Some("a/")).await {
                Ok(keys) => {
                    let outside_only = |k: &String| k == "a/%t.old" || k == "a/only-outside";
                    assert!(!keys.iter().any(outside_only), "{label}: listed outside files: {keys:?}");
                    Ok(())
                }
                Err(e) => Err(e),
            },
            5 => match store.head_object("c", key).await {
                Ok(o) => {
                    assert_ne!(o.size, SECRET.len() as u64, "{label}: described a file outside the root as {key}");
                    Ok(())
                }
                Err(e) => Err(e),
            },
            _ => multipart(&store, key).await,
        };
        match result {
            Ok(()) => ok += 1,
            Err(_) => refused += 1,
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = attacker.join().unwrap();
    assert_eq!(snapshot(&outside), before, "{label}: something outside the root changed");
    assert_nothing_imported(&root, label);
    println!(
        "local escape race ({label}): {n} operations ({ok} succeeded, {refused} refused or missing) during {} swaps of \
         a directory for a symlink out of the root; nothing outside the root created, changed, read or removed",
        swaps
    );
    assert!(swaps > 0, "the attacker ran");
}

/// A whole multipart upload of `key` (create, one part, complete).
async fn multipart(store: &LocalDriver, key: &str) -> storage_core::Result<()> {
    let upload = store.create_multipart("c", key, &PutOptions::default()).await?;
    let part = store.put_part(&upload, 1, Bytes::from_static(b"inside").into(), &PartOptions::default()).await;
    let done = match part {
        Ok(part) => store.complete_multipart(&upload, &[part], &Default::default()).await.map(drop),
        Err(e) => Err(e),
    };
    if done.is_err() {
        let _ = store.abort_multipart(&upload).await;
    }
    done
}

/// No file inside the root holds the outside secret: no copy, multipart completion or
/// read-modify-write brought data from outside in.
fn assert_nothing_imported(root: &Path, label: &str) {
    for (path, data) in snapshot(root) {
        assert_ne!(data, SECRET.as_bytes(), "{label}: {path} holds data read from outside the root");
    }
}

/// Swaps `c/a` for a symlink to `outside` and back until `stop`; returns the swaps. If
/// the driver made `a` again while the real one was parked (a write into the gap), that
/// new directory goes so the real one can come back: the attack never stalls.
fn attacker(c: PathBuf, outside: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let (a, parked) = (c.join("a"), c.join("a.real"));
        let mut swaps = 0;
        while !stop.load(Ordering::Relaxed) {
            if std::fs::rename(&a, &parked).is_ok() {
                let _ = std::os::unix::fs::symlink(&outside, &a);
                // The symlink about half the time, so a driver that follows it once
                // would be caught many times over.
                std::thread::sleep(std::time::Duration::from_micros(50));
                let _ = std::fs::remove_file(&a);
                if std::fs::rename(&parked, &a).is_err() {
                    let _ = std::fs::remove_dir_all(&a);
                    let _ = std::fs::rename(&parked, &a);
                }
                swaps += 1;
                std::thread::sleep(std::time::Duration::from_micros(50));
            } else {
                let _ = std::fs::create_dir_all(&a);
            }
        }
        swaps
    })
}

/// Deletes and reads of keys that exist only outside: `a/` inside holds nothing but
/// `a/inside`, the directory the symlink leads to holds `x`, `y`, `obj` and `d/x` (and
/// an empty directory `e`). No delete may remove one of them (nor prune `e` or `d`),
/// no read may return one, no listing may show one.
async fn race_outside_only(options: LocalOptions, label: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(outside.join("d")).unwrap();
    std::fs::create_dir_all(outside.join("e")).unwrap();
    for name in ["x", "y", "obj", "d/x"] {
        std::fs::write(outside.join(name), SECRET).unwrap();
    }
    let before = snapshot(&outside);
    let store = LocalDriver::with_options(&root, options).unwrap();
    store.create_container("c").await.unwrap();
    let c = root.join("c");
    store.put_object("c", "a/inside", Bytes::from_static(b"inside").into(), &PutOptions::default()).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let attacker = attacker(c.clone(), outside.clone(), stop.clone());
    let (mut ok, mut refused) = (0u64, 0u64);
    let n = rounds();
    for i in 0..n {
        let key = ["a/x", "a/y", "a/obj", "a/d/x", "a/e/x"][(i % 5) as usize];
        let result: storage_core::Result<()> = match i % 5 {
            0 | 1 => store.delete_object("c", key).await,
            2 => match store.get_bytes("c", key).await {
                Ok(data) => panic!("{label}: read {key} ({} bytes), which exists only outside the root", data.len()),
                Err(e) => Err(e),
            },
            3 => match store.head_object("c", key).await {
                Ok(o) => panic!("{label}: described {key} ({} bytes), which exists only outside the root", o.size),
                Err(e) => Err(e),
            },
            _ => match store.list_keys("c", Some("a/")).await {
                Ok(keys) => {
                    assert!(keys.iter().all(|k| k == "a/inside"), "{label}: listed outside files: {keys:?}");
                    Ok(())
                }
                Err(e) => Err(e),
            },
        };
        match result {
            Ok(()) => ok += 1,
            Err(e) => {
                assert!(
                    matches!(e.kind(), ErrorKind::ObjectDoesNotExist | ErrorKind::PermissionDenied),
                    "{label}: {key}: {e}"
                );
                refused += 1;
            }
        }
        // A copy out of a key that exists only outside must find nothing to copy.
        if i % 50 == 0 {
            let copied = store.copy_object("c", key, "c", "b/copy", &CopyOptions::default()).await;
            assert!(copied.is_err(), "{label}: copied {key}, which exists only outside the root");
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = attacker.join().unwrap();
    assert_eq!(snapshot(&outside), before, "{label}: something outside the root changed");
    assert_nothing_imported(&root, label);
    println!(
        "local escape race, keys only outside ({label}): {n} deletes, reads and listings ({ok} succeeded, {refused} \
         refused or missing) during {swaps} swaps; nothing outside deleted, read or listed"
    );
    assert!(swaps > 0, "the attacker ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_symlink_swap_cannot_escape_the_root() {
    race(LocalOptions::default(), "openat2 fast paths").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_symlink_swap_cannot_escape_the_root_on_the_checked_path() {
    race(LocalOptions::default().fast_paths(false).xattrs(false), "checked paths, sidecars").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_and_reads_of_keys_only_outside_cannot_reach_them() {
    race_outside_only(LocalOptions::default(), "openat2 fast paths").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_and_reads_of_keys_only_outside_cannot_reach_them_on_the_checked_path() {
    race_outside_only(LocalOptions::default().fast_paths(false).xattrs(false), "checked paths, sidecars").await;
}
