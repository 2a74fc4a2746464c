//! Crash consistency: a writer process killed with SIGKILL at random points of single and
//! multipart writes, many times. After each kill the key holds one complete version (the
//! old one or a new one, never torn, never missing), listings show no temporary file, and
//! the next writer into the directory removes what the dead one left. The same for a
//! listing killed while it rewrites a directory's listing index: the next listings are
//! unchanged, and what the kill left is a leftover that is found and removed.
//!
//! `STORAGE_CRASH_ITERATIONS` sets the kills per mode (default 10; the README's figures
//! come from 200) and `STORAGE_CRASH_SEED` the seed of the kill times.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use storage_core::{Bytes, Driver, DriverExt, LeftoverKind, ListOptions, Object, PartOptions, Payload, PutOptions};
use storage_local::LocalDriver;

/// Tells the re-executed test binary to act as the writer: `mode|root|key`.
const WRITER_ENV: &str = "STORAGE_LOCAL_CRASH_WRITER";
const SIZE: usize = 6 << 20;

/// Version `generation` of the object: its first 8 bytes are the generation, the rest
/// derived from it, so any read tells which version it claims to be.
fn version(generation: u64) -> Bytes {
    let mut out = Vec::with_capacity(SIZE);
    out.extend_from_slice(&generation.to_le_bytes());
    let mut x = generation.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while out.len() < SIZE {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(SIZE);
    Bytes::from(out)
}

fn iterations() -> usize {
    std::env::var("STORAGE_CRASH_ITERATIONS").ok().and_then(|s| s.parse().ok()).unwrap_or(10)
}

/// `%t.*` files anywhere under `dir`.
fn temp_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return out };
    for e in rd.flatten() {
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            out.extend(temp_files(&p));
        } else if e.file_name().to_string_lossy().starts_with("%t.") {
            out.push(p);
        }
    }
    out
}

/// Starts the child (`spec`: `mode|root|key`, see [`writer_child`]), waits for its
/// "ready" (its first version written, or its first listing done), then SIGKILLs it at a
/// random moment within `max_us` microseconds (`rng` is the xorshift state).
fn run_and_kill(spec: &str, rng: &mut u64, max_us: u64) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["writer_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(WRITER_ENV, spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.ends_with("ready") => break,
            Some(Ok(_)) => continue,
            other => panic!("the child ({spec}) stopped before it was ready: {other:?}"),
        }
    }
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    std::thread::sleep(Duration::from_micros(*rng % max_us));
    child.kill().unwrap();
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "the child ({spec}) must die by SIGKILL: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_single_writes_leave_one_whole_version() {
    killed_writers("single").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_multipart_writes_leave_one_whole_version() {
    killed_writers("multipart").await;
}

async fn killed_writers(mode: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let store = Arc::new(LocalDriver::new(&root).unwrap());
    store.create_container("c").await.unwrap();
    let seed: u64 = std::env::var("STORAGE_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed);
    let mut rng = seed | 1;
    let (mut killed_mid_write, mut leftovers_seen, mut swept, mut generations) = (0, 0, 0, 0u64);
    let mut removed_by_call = 0;
    let n = iterations();
    for i in 0..n {
        let key = format!("d{i}/obj");
        run_and_kill(&format!("{mode}|{}|{key}", root.display()), &mut rng, 1_200_000);

        // One whole version, with its hash.
        let data = store.get_bytes("c", &key).await.unwrap_or_else(|e| panic!("iteration {i}: {key} is missing: {e}"));
        assert_eq!(data.len(), SIZE, "iteration {i}: a torn object");
        let generation = u64::from_le_bytes(data[..8].try_into().unwrap());
        assert!(data == version(generation), "iteration {i}: version {generation} is torn or corrupt");
        generations += generation;
        let head = store.head_object("c", &key).await.unwrap();
        if let Some(hash) = &head.hash {
            assert_eq!(hash.matches(&data), Some(true), "iteration {i}: the stored hash is of another version");
        }
        // Listings show only the object.
        assert_eq!(
            store.list_keys("c", Some(&format!("d{i}/"))).await.unwrap(),
            std::slice::from_ref(&key),
            "iteration {i}"
        );

        // What the kill left: found, then removed by the next writer or the leftover calls.
        let dir = root.join("c").join(format!("d{i}"));
        let temps = temp_files(&dir);
        let leftovers = store.list_leftovers("c", None).await.unwrap();
        if !temps.is_empty() || !leftovers.is_empty() {
            killed_mid_write += 1;
        }
        leftovers_seen += leftovers.len();
        for t in &temps {
            // Past the grace period that protects a live writer's fresh file.
            std::fs::File::options()
                .write(true)
                .open(t)
                .unwrap()
                .set_modified(SystemTime::now() - Duration::from_secs(120))
                .unwrap();
        }
        store.put_object("c", &format!("d{i}/next"), "next writer".into(), &PutOptions::default()).await.unwrap();
        let after = temp_files(&dir);
        assert!(after.is_empty(), "iteration {i}: the next writer left the dead writer's files: {after:?}");
        swept += temps.len();
        // What only the leftover calls clean: an unfinished upload (resumable, so never
        // swept) and staging directories under `%uploads/` of an upload killed while
        // being created, completed or aborted.
        for l in store.list_leftovers("c", None).await.unwrap() {
            let staging = l.kind == LeftoverKind::StagedData && l.id.starts_with("%uploads/");
            assert!(
                l.kind == LeftoverKind::MultipartUpload || staging,
                "iteration {i}: only upload state may stay: {l:?}"
            );
            store.remove_leftover(&l).await.unwrap();
            removed_by_call += 1;
        }
        assert!(store.list_leftovers("c", None).await.unwrap().is_empty());
        assert!(store.list_multipart_uploads("c", None).await.unwrap().is_empty());
    }
    println!(
        "local {mode}: {n} writers killed, {killed_mid_write} mid-write; every key held one whole version \
         (generations reached: {generations} in all); {leftovers_seen} leftovers listed, {swept} temporary files \
         removed by the next writer, {removed_by_call} upload leftovers removed by remove_leftover; 0 torn, 0 missing"
    );
}

/// Every object under `prefix` in container `c`, in pages of 1,000.
async fn objects(store: &LocalDriver, prefix: &str) -> Vec<Object> {
    let opts = ListOptions::prefix(prefix).with_page_size(1000);
    let (mut out, mut token) = (Vec::new(), None);
    loop {
        let page = store.list_page("c", &opts, token).await.unwrap();
        out.extend(page.items.into_iter().filter_map(|e| e.as_object().cloned()));
        token = page.next_token;
        if token.is_none() {
            return out;
        }
    }
}

/// Listings killed at random moments while each rewrites the index of a directory of
/// 600 keys with 3.5 KB of metadata each (a 2 MB index, so that many kills land in its
/// write): the index is whole or absent, listings stay what they were, and a temporary
/// file left by a kill mid-write is listed as a leftover and removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_listings_leave_their_index_whole_or_a_leftover() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let store = LocalDriver::new(&root).unwrap();
    store.create_container("c").await.unwrap();
    let mut opts = PutOptions { content_type: Some("text/x-test".into()), ..Default::default() };
    opts.metadata.insert("pad".into(), "p".repeat(3500));
    for i in 0..600 {
        store.put_object("c", &format!("idx/k{i:04}"), format!("value {i}").into(), &opts).await.unwrap();
    }
    // Settled, so that listings write the index.
    std::thread::sleep(Duration::from_millis(300));
    let expected = objects(&store, "idx/").await;
    assert_eq!(expected.len(), 600);
    let dir = root.join("c").join("idx");
    assert!(dir.join("%i.list").exists(), "the listing wrote no index");
    let mut rng: u64 = 0x1157 | 1;
    let (mut killed_mid_write, mut removed) = (0, 0);
    // About one kill in seven lands in the index's write: twice the writers' count.
    let n = 2 * iterations();
    for i in 0..n {
        run_and_kill(&format!("list|{}|idx/", root.display()), &mut rng, 400_000);

        // Listings (from the index where it applies, else the attributes) are unchanged.
        assert!(objects(&store, "idx/").await == expected, "iteration {i}: the listing changed");
        assert!(objects(&store, "idx/").await == expected, "iteration {i}: the listing from the index changed");

        // A kill mid-write left a temporary file: a leftover, removed one way or the other.
        let temps = temp_files(&dir);
        if temps.is_empty() {
            continue;
        }
        killed_mid_write += 1;
        let leftovers = store.list_leftovers("c", None).await.unwrap();
        for t in &temps {
            let id = format!("idx/{}", t.file_name().unwrap().to_string_lossy());
            let l = leftovers.iter().find(|l| l.id == id);
            let l = l.unwrap_or_else(|| panic!("iteration {i}: {id} is not a listed leftover: {leftovers:?}"));
            assert_eq!(l.kind, LeftoverKind::StagedData);
            // (The next writer's sweep takes such a file as it takes a dead writer's:
            // unlocked and old. It runs once per directory per ten minutes per process,
            // and this process already wrote here, so the call removes it.)
            store.remove_leftover(l).await.unwrap();
            removed += 1;
        }
        let after = temp_files(&dir);
        assert!(after.is_empty(), "iteration {i}: the dead listing's files are still there: {after:?}");
    }
    println!(
        "local list: {n} listings killed, {killed_mid_write} while writing the index; listings unchanged after \
         every kill; {removed} temporary files listed as leftovers and removed by remove_leftover"
    );
}

/// The writer, run only in the child process started above: version 0, then "ready",
/// then new versions until killed. Or (mode `list`) the lister: listings that each
/// rewrite the index of the directory `key`, "ready" after the first, until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the crash tests in a child process"]
async fn writer_child() {
    let Ok(spec) = std::env::var(WRITER_ENV) else { return };
    let mut parts = spec.splitn(3, '|');
    let (mode, root, key) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    let store = LocalDriver::new(root).unwrap();
    if mode == "list" {
        // The index gone each time, so each listing rewrites it.
        let index = std::path::Path::new(root).join("c").join(key).join("%i.list");
        for round in 0.. {
            let _ = std::fs::remove_file(&index);
            objects(&store, key).await;
            if round == 0 {
                println!("ready");
            }
        }
    }
    // The next version is made while the current one is written, so that the writer is
    // writing nearly all the time and most kills land mid-write.
    let mut next = tokio::task::spawn_blocking(|| version(0));
    for generation in 0.. {
        let data = next.await.unwrap();
        next = tokio::task::spawn_blocking(move || version(generation + 1));
        match mode {
            "single" => {
                let chunks: Vec<storage_core::Result<Bytes>> =
                    data.chunks(64 << 10).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
                let stream = futures::stream::iter(chunks).then(|c| async {
                    tokio::task::yield_now().await;
                    c
                });
                store
                    .put_object("c", key, Payload::stream(stream.boxed(), Some(SIZE as u64)), &PutOptions::default())
                    .await
                    .unwrap();
            }
            _ => {
                let up = store.create_multipart("c", key, &PutOptions::default()).await.unwrap();
                let mut done = Vec::new();
                for (n, part) in data.chunks(SIZE / 4).enumerate() {
                    let p = Bytes::copy_from_slice(part);
                    done.push(store.put_part(&up, n as u32 + 1, p.into(), &PartOptions::default()).await.unwrap());
                }
                store.complete_multipart(&up, &done, &Default::default()).await.unwrap();
            }
        }
        if generation == 0 {
            println!("ready");
        }
    }
}
