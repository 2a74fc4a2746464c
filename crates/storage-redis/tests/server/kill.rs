//! A writer killed (SIGKILL) in the middle of overwriting an object: the old object stays
//! intact and the dead writer's chunks carry the pending TTL, so they vanish.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use storage_core::{Driver, DriverExt, Payload, PutOptions};

use crate::common::{Fixture, Mode, data, glob_escape};

/// Tells the re-executed test binary to act as the writer: `mode|namespace`.
const WRITER_ENV: &str = "STORAGE_REDIS_KILL_WRITER";
const KEY: &str = "big-object";
const BIG: usize = 64 << 20;
const PIECE: usize = 256 << 10;

crate::on_both_servers!(killed_writer_leaves_old_object);

async fn killed_writer_leaves_old_object(mode: Mode) {
    let f = Fixture::new(mode, "kill").await;
    f.make_container("c").await;
    let old = data(3 << 20, 11);
    let old_obj = f.driver.put_object("c", KEY, old.clone().into(), &PutOptions::default()).await.unwrap();
    let old_version = old_obj.version.clone().unwrap();

    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["kill::writer_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(WRITER_ENV, format!("{}|{}", mode.name(), f.ns))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();

    // Wait (bounded) until the writer has several chunks of its new version in Redis.
    let pattern = format!("{}:v*", glob_escape(&f.tag("c", KEY)));
    let old_prefix = format!("{}:v{old_version}:", f.tag("c", KEY));
    let deadline = Instant::now() + Duration::from_secs(60);
    let pending = loop {
        let keys: Vec<String> = f.scan(&pattern).await.into_iter().filter(|k| !k.starts_with(&old_prefix)).collect();
        if keys.len() >= 4 {
            break keys;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the writer exited before it was killed: {status}");
        }
        assert!(Instant::now() < deadline, "the writer wrote no chunks within 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    child.kill().unwrap();
    let status = child.wait().unwrap();
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "the writer must die by SIGKILL, not finish: {status}");
    }

    // The old object is intact, byte for byte.
    let head = f.driver.head_object("c", KEY).await.unwrap();
    assert_eq!(head.version.as_deref(), Some(old_version.as_str()));
    assert_eq!(head.etag, old_obj.etag);
    assert_eq!(f.driver.get_bytes("c", KEY).await.unwrap(), old);
    // Its chunks are permanent; the dead writer's carry the pending TTL.
    for k in f.scan(&format!("{}*", glob_escape(&old_prefix))).await {
        assert_eq!(f.pttl(&k).await, -1, "{k}");
    }
    let mut leftovers: Vec<String> =
        f.scan(&pattern).await.into_iter().filter(|k| !k.starts_with(&old_prefix)).collect();
    leftovers.sort();
    assert!(leftovers.len() >= pending.len());
    assert!(leftovers.len() < BIG / (1 << 20), "the writer was killed midway");
    for k in &leftovers {
        let ttl = f.pttl(k).await;
        assert!(ttl > 0 && ttl <= 24 * 3600 * 1000, "a dead writer's chunk must expire: {k} has PTTL {ttl}");
    }
}

/// The writer, run only in the child process started above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by killed_writer_leaves_old_object in a child process"]
async fn writer_child() {
    let Ok(spec) = std::env::var(WRITER_ENV) else { return };
    let (mode, ns) = spec.split_once('|').unwrap();
    let mode = if mode == "cluster" { Mode::Cluster } else { Mode::Standalone };
    let driver = mode.builder().namespace(ns).build().unwrap();
    // 64 MiB, slowly: 256 KiB every 10 ms (about 2.5 s), so the parent kills it midway.
    let pieces = futures::stream::iter(0..BIG / PIECE)
        .then(|i| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok(Bytes::from(vec![(i % 251) as u8; PIECE]))
        })
        .boxed();
    let _ = driver.put_object("c", KEY, Payload::stream(pieces, Some(BIG as u64)), &PutOptions::default()).await;
    // Never reached in the test: the parent kills us first. Linger so it cannot miss.
    tokio::time::sleep(Duration::from_secs(120)).await;
}
