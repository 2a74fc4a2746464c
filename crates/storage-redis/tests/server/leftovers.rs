//! Leftovers: a writer killed (SIGKILL) mid-put leaves chunks no object references, and an
//! abandoned multipart upload keeps its parts; `list_leftovers` finds both,
//! `remove_leftover` removes them, and live objects keep every chunk.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use futures::StreamExt;
use storage_core::{Driver, DriverExt, ErrorKind, Leftover, LeftoverKind, Payload, PutOptions};

use crate::common::{Fixture, Mode, data, glob_escape, kind};
use storage_core::PartOptions;

/// Tells the re-executed test binary to act as the writer: `mode|namespace`.
const WRITER_ENV: &str = "STORAGE_REDIS_LEFTOVER_WRITER";
const KEY: &str = "big:object}";
const BIG: usize = 64 << 20;
const PIECE: usize = 256 << 10;

crate::on_both_servers!(killed_writers_and_abandoned_uploads_are_found_and_removed);

async fn killed_writers_and_abandoned_uploads_are_found_and_removed(mode: Mode) {
    let f = Fixture::new(mode, "leftover").await;
    f.make_container("c").await;
    let live = data(300_000, 3);
    f.driver.put_object("c", "live", live.clone().into(), &PutOptions::default()).await.unwrap();
    let old = data(3 << 20, 11);
    let old_obj = f.driver.put_object("c", KEY, old.clone().into(), &PutOptions::default()).await.unwrap();
    let old_version = old_obj.version.clone().unwrap();
    let live_chunks = f.live_chunk_keys("c", "live").await;
    let old_chunks = f.live_chunk_keys("c", KEY).await;
    assert!(f.driver.list_leftovers("c", None).await.unwrap().is_empty(), "live data is never a leftover");

    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["leftovers::writer_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(WRITER_ENV, format!("{}|{}", mode.name(), f.ns))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pattern = format!("{}:v*", glob_escape(&f.tag("c", KEY)));
    let old_prefix = format!("{}:v{old_version}:", f.tag("c", KEY));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let keys: Vec<String> = f.scan(&pattern).await.into_iter().filter(|k| !k.starts_with(&old_prefix)).collect();
        if keys.len() >= 4 {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the writer exited before it was killed: {status}");
        }
        assert!(Instant::now() < deadline, "the writer wrote no chunks within 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // While it runs, its data is listed as young: a cleanup with an age limit spares it.
    let running = f.driver.list_leftovers("c", None).await.unwrap();
    assert_eq!(running.len(), 1, "{running:?}");
    assert!(!running[0].is_older_than(Duration::from_secs(60), Utc::now()), "{running:?}");
    child.kill().unwrap();
    child.wait().unwrap();

    let found = f.driver.list_leftovers("c", None).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let dead = &found[0];
    assert_eq!((dead.container.as_str(), dead.key.as_str(), dead.kind), ("c", KEY, LeftoverKind::StagedData));
    assert!(dead.id.starts_with('v') && !dead.id.starts_with(&format!("v{old_version}#")), "{dead:?}");
    assert!(dead.size.is_some_and(|s| s >= 4 * (256 << 10)), "{dead:?}");
    assert!(dead.created.is_some());
    // A prefix that does not cover the key leaves it out.
    assert!(f.driver.list_leftovers("c", Some("live")).await.unwrap().is_empty());
    let ids = |v: Vec<Leftover>| v.into_iter().map(|l| (l.key, l.kind, l.id)).collect::<Vec<_>>();
    assert_eq!(ids(f.driver.list_leftovers("c", Some("big:")).await.unwrap()), ids(found.clone()));

    // A writer that died between PERSIST and its commit leaves chunks without a TTL:
    // still found.
    let dead_keys: Vec<String> = f.scan(&pattern).await.into_iter().filter(|k| !k.starts_with(&old_prefix)).collect();
    let mut conn = f.driver.connection().await.unwrap();
    for k in &dead_keys {
        let _: i64 = redis::cmd("PERSIST").arg(k).query_async(&mut conn).await.unwrap();
    }
    let found = f.driver.list_leftovers("c", None).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");

    // What was written to after it was listed, or what an object references, stays.
    let stale = Leftover { created: Some(Utc::now() - chrono::Duration::hours(1)), ..found[0].clone() };
    assert_eq!(kind(f.driver.remove_leftover(&stale).await), ErrorKind::PreconditionFailed);
    let referenced = Leftover { id: format!("v{old_version}#{}", old_chunks.len()), ..found[0].clone() };
    assert_eq!(kind(f.driver.remove_leftover(&referenced).await), ErrorKind::PreconditionFailed);

    // An abandoned multipart upload, with a part.
    let up = f.driver.create_multipart("c", "mp", &PutOptions::default()).await.unwrap();
    f.driver.put_part(&up, 1, data(100_000, 5).into(), &PartOptions::default()).await.unwrap();
    let mut found = f.driver.list_leftovers("c", None).await.unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    found.sort_by_key(|l| l.kind == LeftoverKind::StagedData);
    assert_eq!((found[0].kind, found[0].key.as_str()), (LeftoverKind::MultipartUpload, "mp"));
    assert_eq!((found[0].id.as_str(), found[0].size), (up.upload_id.as_str(), Some(100_000)));
    assert!(!f.chunk_keys("c", "mp").await.is_empty());

    for l in &found {
        f.driver.remove_leftover(l).await.unwrap();
    }
    assert!(f.driver.list_leftovers("c", None).await.unwrap().is_empty());
    assert!(f.driver.list_multipart_uploads("c", None).await.unwrap().is_empty());
    assert!(f.chunk_keys("c", "mp").await.is_empty(), "the parts' chunks are gone");
    let left: Vec<String> = f.scan(&pattern).await.into_iter().filter(|k| !k.starts_with(&old_prefix)).collect();
    assert!(left.is_empty(), "the dead writer's chunks are gone: {left:?}");
    // Removing again is no error.
    for l in &found {
        f.driver.remove_leftover(l).await.unwrap();
    }

    // Live objects keep every chunk, byte for byte.
    assert_eq!(f.live_chunk_keys("c", "live").await, live_chunks);
    assert_eq!(f.live_chunk_keys("c", KEY).await, old_chunks);
    assert_eq!(f.driver.get_bytes("c", "live").await.unwrap(), live);
    assert_eq!(f.driver.get_bytes("c", KEY).await.unwrap(), old);
    assert_eq!(kind(f.driver.list_leftovers("nope", None).await), ErrorKind::ContainerDoesNotExist);
}

crate::on_both_servers!(replaced_data_in_its_grace_period_is_not_listed);

async fn replaced_data_in_its_grace_period_is_not_listed(mode: Mode) {
    let f = Fixture::new(mode, "leftover-grace").await;
    f.make_container("c").await;
    f.driver.put_object("c", "k", data(100_000, 1).into(), &PutOptions::default()).await.unwrap();
    f.driver.put_object("c", "k", data(100_000, 2).into(), &PutOptions::default()).await.unwrap();
    // The first version's chunks expire within the grace period: readers may still use them.
    assert!(f.chunk_keys("c", "k").await.len() > f.live_chunk_keys("c", "k").await.len());
    assert!(f.driver.list_leftovers("c", None).await.unwrap().is_empty());
}

/// The writer, run only in the child process started above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by killed_writers_and_abandoned_uploads_are_found_and_removed in a child process"]
async fn writer_child() {
    let Ok(spec) = std::env::var(WRITER_ENV) else { return };
    let (mode, ns) = spec.split_once('|').unwrap();
    let mode = if mode == "cluster" { Mode::Cluster } else { Mode::Standalone };
    let driver = mode.builder().namespace(ns).build().unwrap();
    let pieces = futures::stream::iter(0..BIG / PIECE)
        .then(|i| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok(Bytes::from(vec![(i % 251) as u8; PIECE]))
        })
        .boxed();
    let _ = driver.put_object("c", KEY, Payload::stream(pieces, Some(BIG as u64)), &PutOptions::default()).await;
    tokio::time::sleep(Duration::from_secs(120)).await;
}

crate::on_both_servers!(orphan_runs_on_every_node_are_found);

async fn orphan_runs_on_every_node_are_found(mode: Mode) {
    let f = Fixture::new(mode, "leftover-nodes").await;
    f.make_container("c").await;
    f.driver.put_object("c", "k0", "live".into(), &PutOptions::default()).await.unwrap();
    // Persisted chunks of versions no metadata names, on keys spread over every slot range.
    let mut conn = f.driver.connection().await.unwrap();
    for i in 0..40 {
        let chunk = format!("{}:v{}:0", f.tag("c", &format!("k{i}")), 1_000_000 + i);
        let _: () = redis::cmd("SET").arg(&chunk).arg("orphan").query_async(&mut conn).await.unwrap();
    }
    let found = f.driver.list_leftovers("c", None).await.unwrap();
    assert_eq!(found.len(), 40, "{found:?}");
    assert!(found.iter().all(|l| l.kind == LeftoverKind::StagedData && l.id.ends_with("#1")));
    for l in &found {
        f.driver.remove_leftover(l).await.unwrap();
    }
    assert!(f.driver.list_leftovers("c", None).await.unwrap().is_empty());
    assert_eq!(f.driver.get_bytes("c", "k0").await.unwrap(), "live");
}
