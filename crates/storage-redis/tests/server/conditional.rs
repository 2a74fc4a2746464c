//! Conditional puts, concurrent writers, and reads racing overwrites.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use storage_core::hash::md5_hex;
use storage_core::{Driver, DriverExt, ErrorKind, PutMode, PutOptions};

use crate::common::{Fixture, Mode, data, kind};

const CHUNK: usize = 64 * 1024;

crate::on_both_servers!(put_modes, one_of_sixteen_creators_wins, overwrites_never_tear_reads);

async fn put_modes(mode: Mode) {
    let f = Fixture::new(mode, "cond").await;
    let d = &f.driver;
    f.make_container("c").await;
    let absent = PutOptions::default().with_mode(PutMode::CreateIfAbsent);
    let o = d.put_object("c", "k", "one".into(), &absent).await.unwrap();
    assert_eq!(kind(d.put_object("c", "k", "two".into(), &absent).await), ErrorKind::PreconditionFailed);
    let wrong = PutOptions::default().with_mode(PutMode::IfMatch("nope".into()));
    assert_eq!(kind(d.put_object("c", "k", "two".into(), &wrong).await), ErrorKind::PreconditionFailed);
    assert_eq!(kind(d.put_object("c", "new", "two".into(), &wrong).await), ErrorKind::PreconditionFailed);
    let any = PutOptions::default().with_mode(PutMode::IfMatch("*".into()));
    assert_eq!(kind(d.put_object("c", "new", "two".into(), &any).await), ErrorKind::PreconditionFailed);
    let right = PutOptions::default().with_mode(PutMode::IfMatch(format!("\"{}\"", o.etag.unwrap())));
    let o2 = d.put_object("c", "k", "two".into(), &right).await.unwrap();
    assert_eq!(o2.etag.as_deref(), Some(md5_hex(b"two").as_str()));
    d.put_object("c", "k", "three".into(), &any).await.unwrap();
    assert_eq!(d.get_bytes("c", "k").await.unwrap(), "three");
    // Refused writes leave no data behind: one live chunk and the replaced ones expiring.
    assert_eq!(f.live_chunk_keys("c", "k").await.len(), 1);
    assert!(f.chunk_keys("c", "new").await.is_empty());
    assert_eq!(kind(d.put_object("nope", "k", "x".into(), &absent).await), ErrorKind::ContainerDoesNotExist);
}

async fn one_of_sixteen_creators_wins(mode: Mode) {
    let f = Fixture::with(mode, "race", |b| b.chunk_size(CHUNK)).await;
    f.make_container("c").await;
    let mut tasks = Vec::new();
    for i in 0..16u64 {
        let d = Arc::clone(&f.driver);
        tasks.push(tokio::spawn(async move {
            let v = data(CHUNK * 2 + 100 * i as usize, i);
            let opts = PutOptions::default().with_mode(PutMode::CreateIfAbsent);
            (d.put_object("c", "k", v.clone().into(), &opts).await, v)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (r, v) = t.await.unwrap();
        match r {
            Ok(o) => winners.push((o, v)),
            Err(e) => assert_eq!(e.kind(), ErrorKind::PreconditionFailed, "{e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one create-if-absent writer wins");
    let (o, v) = &winners[0];
    assert_eq!(f.driver.get_bytes("c", "k").await.unwrap(), *v);
    assert_eq!(f.driver.head_object("c", "k").await.unwrap().etag, o.etag);
    // The losers' chunks were deleted.
    assert_eq!(f.chunk_keys("c", "k").await.len(), v.len().div_ceil(CHUNK));
}

async fn overwrites_never_tear_reads(mode: Mode) {
    let f = Fixture::with(mode, "tear", |b| b.chunk_size(CHUNK)).await;
    f.make_container("c").await;
    let size = CHUNK * 7 / 2;
    f.driver.put_object("c", "k", vec![0u8; size].into(), &PutOptions::default()).await.unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (d, done) = (Arc::clone(&f.driver), Arc::clone(&done));
        readers.push(tokio::spawn(async move {
            let mut reads = 0;
            while !done.load(Ordering::Relaxed) || reads == 0 {
                let got = d.get_bytes("c", "k").await.unwrap();
                assert_eq!(got.len(), size);
                assert!(got.iter().all(|b| *b == got[0]), "a read mixed two versions");
                reads += 1;
            }
            reads
        }));
    }
    for i in 1..=40u8 {
        f.driver.put_object("c", "k", vec![i; size].into(), &PutOptions::default()).await.unwrap();
    }
    done.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.await.unwrap() > 0);
    }
    assert_eq!(f.driver.get_bytes("c", "k").await.unwrap(), vec![40u8; size]);
}
