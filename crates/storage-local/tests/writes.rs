//! Atomic, conditional and concurrent writes; deletes; copies; reads with options.

mod common;

use std::sync::Arc;

use common::{Fixture, failing_stream, kind, temp_files, tree};
use storage_core::hash::md5_hex;
use storage_core::{
    ByteRange, Bytes, CopyOptions, Driver, DriverExt, ErrorKind, GetOptions, Payload, PutMode, PutOptions,
};

#[tokio::test]
async fn a_failing_stream_leaves_the_old_object_and_no_temp_file() {
    let f = Fixture::new().await;
    let old = f.put("dir/k", "old content").await;

    let e = f.store.put_object("c", "dir/k", failing_stream(vec!["new ", "data"], None), &PutOptions::default()).await;
    assert_eq!(kind(e), ErrorKind::Io);
    assert_eq!(f.store.get_bytes("c", "dir/k").await.unwrap(), "old content");
    assert_eq!(f.store.head_object("c", "dir/k").await.unwrap(), old);
    assert_eq!(temp_files(f.root()), Vec::<String>::new());

    // Shorter and longer than announced.
    for (chunks, announced) in [(vec!["abc"], 10), (vec!["abcdef", "ghijkl"], 4)] {
        let items: Vec<storage_core::Result<Bytes>> = chunks.into_iter().map(|c| Ok(Bytes::from(c))).collect();
        let payload = Payload::stream(Box::pin(futures::stream::iter(items)), Some(announced));
        let e = f.store.put_object("c", "dir/k", payload, &PutOptions::default()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io, "{e}");
        assert!(e.message().contains("announced"), "{e}");
    }
    assert_eq!(f.store.get_bytes("c", "dir/k").await.unwrap(), "old content");

    // A failing stream to a new key in a new directory leaves nothing behind.
    let e = f.store.put_object("c", "new/dir/k", failing_stream(vec!["x"], Some(5)), &PutOptions::default()).await;
    assert_eq!(kind(e), ErrorKind::Io);
    assert_eq!(kind(f.store.head_object("c", "new/dir/k").await), ErrorKind::ObjectDoesNotExist);
    assert_eq!(temp_files(f.root()), Vec::<String>::new());
    assert_eq!(f.store.list_keys("c", None).await.unwrap(), vec!["dir/k"]);
}

#[tokio::test]
async fn a_wrong_content_md5_changes_nothing() {
    let f = Fixture::new().await;
    f.put("k", "old").await;
    let opts = PutOptions { content_md5: Some(md5_hex(b"something else")), ..Default::default() };
    let e = f.store.put_object("c", "k", "new".into(), &opts).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch);
    assert_eq!(f.store.get_bytes("c", "k").await.unwrap(), "old");
    assert_eq!(kind(f.store.put_object("c", "k2", "new".into(), &opts).await), ErrorKind::ObjectHashMismatch);
    assert_eq!(kind(f.store.head_object("c", "k2").await), ErrorKind::ObjectDoesNotExist);
    assert_eq!(temp_files(f.root()), Vec::<String>::new());
    let opts = PutOptions { content_md5: Some(md5_hex(b"new").to_uppercase()), ..Default::default() };
    let o = f.store.put_object("c", "k", "new".into(), &opts).await.unwrap();
    assert_eq!(o.md5(), Some(md5_hex(b"new").as_str()));
    assert_eq!(o.etag.as_deref(), Some(md5_hex(b"new").as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_create_if_absent_has_one_winner() {
    let f = Fixture::new().await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = Arc::clone(&f.store);
        tasks.push(tokio::spawn(async move {
            let opts = PutOptions::default().with_mode(PutMode::CreateIfAbsent);
            let data = format!("writer {i}");
            store.put_object("c", "race/key", data.clone().into(), &opts).await.map(|_| data)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(data) => winners.push(data),
            Err(e) => assert_eq!(e.kind(), ErrorKind::PreconditionFailed, "{e}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(f.store.get_bytes("c", "race/key").await.unwrap(), winners[0]);
    assert_eq!(temp_files(f.root()), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_overwrites_leave_exactly_one_payload() {
    let f = Fixture::new().await;
    let payloads: Vec<Bytes> = (0..16u8).map(|i| Bytes::from(vec![b'a' + i; 300_000 + usize::from(i)])).collect();
    let mut tasks = Vec::new();
    for p in payloads.clone() {
        let store = Arc::clone(&f.store);
        tasks.push(tokio::spawn(async move {
            let opts = PutOptions::content_type("application/x-test");
            store.put_object("c", "over/write", p.into(), &opts).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let data = f.store.get_bytes("c", "over/write").await.unwrap();
    assert!(payloads.contains(&data), "the final content mixes writers");
    // The metadata describes that content.
    let head = f.store.head_object("c", "over/write").await.unwrap();
    assert_eq!(head.hash.as_ref().and_then(|h| h.matches(&data)), Some(true));
    assert_eq!(head.size, data.len() as u64);
    assert_eq!(head.content_type.as_deref(), Some("application/x-test"));
    assert_eq!(temp_files(f.root()), Vec::<String>::new());
}

#[tokio::test]
async fn put_modes() {
    let f = Fixture::new().await;
    let o = f.put("k", "one").await;
    let etag = o.etag.clone().unwrap();
    let if_match = |e: &str| PutOptions::default().with_mode(PutMode::IfMatch(e.to_owned()));
    assert_eq!(
        kind(f.store.put_object("c", "k", "two".into(), &if_match("nope")).await),
        ErrorKind::PreconditionFailed
    );
    assert_eq!(
        kind(f.store.put_object("c", "missing", "x".into(), &if_match(&etag)).await),
        ErrorKind::PreconditionFailed
    );
    f.store.put_object("c", "k", "two".into(), &if_match(&format!("\"{etag}\""))).await.unwrap();
    assert_eq!(f.store.get_bytes("c", "k").await.unwrap(), "two");
    let absent = PutOptions::default().with_mode(PutMode::CreateIfAbsent);
    assert_eq!(kind(f.store.put_object("c", "k", "three".into(), &absent).await), ErrorKind::PreconditionFailed);
    assert_eq!(f.store.get_bytes("c", "k").await.unwrap(), "two");
    assert_eq!(temp_files(f.root()), Vec::<String>::new());
}

#[tokio::test]
async fn writes_to_a_missing_container_fail_cleanly() {
    let f = Fixture::new().await;
    let e = f.store.put_object("nope", "k", "x".into(), &PutOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ContainerDoesNotExist);
    assert_eq!(e.container(), Some("nope"));
    assert_eq!(kind(f.store.get_object("nope", "k", &GetOptions::default()).await), ErrorKind::ContainerDoesNotExist);
    assert_eq!(kind(f.store.head_object("nope", "k").await), ErrorKind::ContainerDoesNotExist);
    assert_eq!(kind(f.store.delete_object("nope", "k").await), ErrorKind::ContainerDoesNotExist);
    assert_eq!(kind(f.store.list_keys("nope", None).await), ErrorKind::ContainerDoesNotExist);
    assert!(!f.root().join("nope").exists());
}

#[tokio::test]
async fn delete_prunes_empty_directories() {
    let f = Fixture::new().await;
    f.put("a/b/c/d", "1").await;
    f.put("a/x", "2").await;
    f.store.delete_object("c", "a/b/c/d").await.unwrap();
    // The metadata is an extended attribute of `a/x`: no sidecar file.
    assert_eq!(tree(&f.container_dir()), vec!["a", "a/x"]);
    f.store.delete_object("c", "a/x").await.unwrap();
    assert!(tree(&f.container_dir()).is_empty());
    // Deleting a missing key, or one under a missing directory, succeeds.
    f.store.delete_object("c", "a/x").await.unwrap();
    f.store.delete_object("c", "no/such/key").await.unwrap();
    assert!(f.container_dir().is_dir());
    let e = f.store.get_object("c", "a/x", &GetOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectDoesNotExist);
    assert_eq!(e.key(), Some("a/x"));
    assert_eq!(e.driver(), Some("local"));
}

#[tokio::test]
async fn reads_honour_ranges_conditions_and_versions() {
    let f = Fixture::new().await;
    let o = f.put("k", "0123456789").await;
    let get = |opts: GetOptions| {
        let store = Arc::clone(&f.store);
        async move { store.get_object("c", "k", &opts).await?.bytes().await }
    };
    assert_eq!(get(GetOptions::range(2..5)).await.unwrap(), "234");
    assert_eq!(get(GetOptions::range(7..50)).await.unwrap(), "789");
    assert_eq!(get(GetOptions::range(9..)).await.unwrap(), "9");
    assert_eq!(get(GetOptions { range: Some(ByteRange::Suffix(3)), ..Default::default() }).await.unwrap(), "789");
    assert_eq!(kind(get(GetOptions::range(10..)).await), ErrorKind::InvalidRange);
    let r = f.store.get_object("c", "k", &GetOptions::range(2..5)).await.unwrap();
    assert_eq!((r.range.clone(), r.object.size), (2..5, 10));

    let etag = o.etag.clone().unwrap();
    assert_eq!(
        kind(get(GetOptions { if_none_match: Some(etag.clone()), ..Default::default() }).await),
        ErrorKind::NotModified
    );
    assert_eq!(
        kind(get(GetOptions { if_match: Some("x".into()), ..Default::default() }).await),
        ErrorKind::PreconditionFailed
    );
    assert_eq!(get(GetOptions { if_match: Some(etag), ..Default::default() }).await.unwrap(), "0123456789");
    let lm = o.last_modified.unwrap();
    assert_eq!(
        kind(get(GetOptions { if_modified_since: Some(lm), ..Default::default() }).await),
        ErrorKind::NotModified
    );
    let e = get(GetOptions { version: Some("1".into()), ..Default::default() }).await.unwrap_err();
    assert_eq!((e.kind(), e.provider_code()), (ErrorKind::ObjectDoesNotExist, Some("NoSuchVersion")));

    // Large objects stream in several chunks; empty objects have an empty body.
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    f.store.put_object("c", "big", Bytes::from(big.clone()).into(), &PutOptions::default()).await.unwrap();
    assert_eq!(f.store.get_bytes("c", "big").await.unwrap(), big);
    assert_eq!(f.store.get_range("c", "big", 300_000..700_001).await.unwrap(), big[300_000..700_001]);
    f.put("empty", "").await;
    assert_eq!(f.store.get_bytes("c", "empty").await.unwrap(), "");
    assert_eq!(f.store.head_object("c", "empty").await.unwrap().hash.and_then(|h| h.matches(b"")), Some(true));
}

#[tokio::test]
async fn a_reader_keeps_its_version_while_the_object_is_replaced() {
    let f = Fixture::new().await;
    let first = Bytes::from(vec![b'1'; 2_000_000]);
    f.store.put_object("c", "k", first.clone().into(), &PutOptions::default()).await.unwrap();
    let reading = f.store.get_object("c", "k", &GetOptions::default()).await.unwrap();
    f.store.put_object("c", "k", Bytes::from(vec![b'2'; 2_000_000]).into(), &PutOptions::default()).await.unwrap();
    assert_eq!(reading.bytes().await.unwrap(), first);
}

#[tokio::test]
async fn copies() {
    let f = Fixture::new().await;
    f.store.create_container("other").await.unwrap();
    let opts = PutOptions::content_type("text/plain").with_metadata("Color", "blue");
    let src = f.store.put_object("c", "src/k", "payload".into(), &opts).await.unwrap();

    let o = f.store.copy_object("c", "src/k", "other", "dst/k", &CopyOptions::default()).await.unwrap();
    assert_eq!((o.container.as_str(), o.name.as_str()), ("other", "dst/k"));
    assert_eq!(o.etag, src.etag);
    assert_eq!(o.hash, src.hash);
    assert_eq!(o.content_type.as_deref(), Some("text/plain"));
    assert_eq!(o.metadata.get("color").map(String::as_str), Some("blue"));
    assert_eq!(f.store.get_bytes("other", "dst/k").await.unwrap(), "payload");
    assert_eq!(f.store.head_object("other", "dst/k").await.unwrap(), o);

    let replace = CopyOptions { replace: Some(PutOptions::content_type("application/json")), ..Default::default() };
    let o = f.store.copy_object("c", "src/k", "c", "src/k", &replace).await.unwrap();
    assert_eq!(o.content_type.as_deref(), Some("application/json"));
    assert!(o.metadata.is_empty());
    assert_eq!(f.store.get_bytes("c", "src/k").await.unwrap(), "payload");

    let absent = CopyOptions { mode: PutMode::CreateIfAbsent, ..Default::default() };
    assert_eq!(kind(f.store.copy_object("c", "src/k", "other", "dst/k", &absent).await), ErrorKind::PreconditionFailed);
    let cond = CopyOptions { source_if_match: Some("nope".into()), ..Default::default() };
    assert_eq!(kind(f.store.copy_object("c", "src/k", "other", "x", &cond).await), ErrorKind::PreconditionFailed);
    let e = f.store.copy_object("c", "missing", "other", "x", &CopyOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectDoesNotExist);
    assert_eq!(e.key(), Some("missing"));
    assert_eq!(
        kind(f.store.copy_object("nope", "k", "other", "x", &CopyOptions::default()).await),
        ErrorKind::ContainerDoesNotExist
    );
    assert_eq!(
        kind(f.store.copy_object("c", "src/k", "nope", "x", &CopyOptions::default()).await),
        ErrorKind::ContainerDoesNotExist
    );

    // A hand-written source gets a real hash in the copy.
    std::fs::write(f.container_dir().join("hand"), "by hand").unwrap();
    let o = f.store.copy_object("c", "hand", "c", "hand-copy", &CopyOptions::default()).await.unwrap();
    assert_eq!(o.hash.as_ref().and_then(|h| h.matches(b"by hand")), Some(true));
    assert_eq!(o.content_type.as_deref(), Some("application/octet-stream"));
    assert_eq!(temp_files(f.root()), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancelled_write_leaves_no_temp_file() {
    let f = Fixture::new().await;
    f.put("k", "old").await;
    let store = Arc::clone(&f.store);
    let task = tokio::spawn(async move {
        let first = futures::stream::iter(vec![Ok(Bytes::from_static(b"partial"))]);
        let stream = futures::StreamExt::chain(first, futures::stream::pending());
        store.put_object("c", "k", Payload::stream(Box::pin(stream), None), &PutOptions::default()).await
    });
    let mut waited = 0;
    while temp_files(f.root()).is_empty() {
        assert!(waited < 5000, "the write never started");
        tokio::task::spawn_blocking(|| std::thread::sleep(std::time::Duration::from_millis(1))).await.unwrap();
        waited += 1;
    }
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    let mut waited = 0;
    while !temp_files(f.root()).is_empty() {
        assert!(waited < 5000, "the temporary file was not removed");
        tokio::task::spawn_blocking(|| std::thread::sleep(std::time::Duration::from_millis(1))).await.unwrap();
        waited += 1;
    }
    assert_eq!(f.store.get_bytes("c", "k").await.unwrap(), "old");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_survive_concurrent_pruning_deletes() {
    let f = Fixture::new().await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = Arc::clone(&f.store);
        tasks.push(tokio::spawn(async move {
            for round in 0..25 {
                let key = format!("shared/deep/dir/k{i}");
                store.put_object("c", &key, format!("{round}").into(), &PutOptions::default()).await?;
                assert_eq!(store.get_bytes("c", &key).await?, format!("{round}"));
                store.delete_object("c", &key).await?;
            }
            Ok::<(), storage_core::Error>(())
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert!(tree(&f.container_dir()).is_empty(), "{:?}", tree(&f.container_dir()));
}

/// A copy onto itself keeps the data and its hash (with new metadata when asked), in both
/// hash modes; an empty object copies as an empty object; nothing temporary is left.
#[tokio::test]
async fn a_copy_onto_itself_and_of_an_empty_object_keep_their_data() {
    for md5 in [false, true] {
        let f = Fixture::with_options(storage_local::LocalOptions::default().md5(md5)).await;
        let put = f.put("k", "the data").await;
        let same = f.store.copy_object("c", "k", "c", "k", &CopyOptions::default()).await.unwrap();
        assert_eq!(f.store.get_bytes("c", "k").await.unwrap(), "the data");
        assert_eq!((same.size, &same.hash), (put.size, &put.hash), "md5={md5}");
        let replace = CopyOptions { replace: Some(PutOptions::content_type("text/plain")), ..Default::default() };
        let replaced = f.store.copy_object("c", "k", "c", "k", &replace).await.unwrap();
        assert_eq!(replaced.content_type.as_deref(), Some("text/plain"));
        assert_eq!(replaced.hash, put.hash);
        assert_eq!(f.store.get_bytes("c", "k").await.unwrap(), "the data");

        let empty = f.put("empty", "").await;
        let copied = f.store.copy_object("c", "empty", "c", "empty-copy", &CopyOptions::default()).await.unwrap();
        assert_eq!((copied.size, &copied.hash), (0, &empty.hash));
        assert_eq!(f.store.get_bytes("c", "empty-copy").await.unwrap(), "");
        assert_eq!(temp_files(f.root()), Vec::<String>::new());
    }
}
