//! Driver options (fsync off) and listings that span many pages and directories.

mod common;

use futures::StreamExt;

use common::{Fixture, failing_stream, kind, temp_files};
use storage_core::PartOptions;
use storage_core::hash::md5_hex;
use storage_core::kit::crc32c;
use storage_core::registry::DriverFactory;
use storage_core::{
    CopyOptions, Driver, DriverConfig, DriverExt, ErrorKind, ListEntry, ListOptions, ObjectHash, PutMode, PutOptions,
};
use storage_local::{LocalFactory, LocalOptions};

#[tokio::test]
async fn without_fsync_writes_stay_atomic_and_complete() {
    for options in [LocalOptions::default().fsync(false), LocalOptions::default().fsync(false).xattrs(false)] {
        let f = Fixture::with_options(options).await;
        assert!(!f.store.options().fsync);
        let old = f.put("dir/k", "old content").await;
        assert_eq!(old.hash.as_ref().and_then(|h| h.matches(b"old content")), Some(true));
        // A failed write leaves the old object and no temporary file.
        let e = f.store.put_object("c", "dir/k", failing_stream(vec!["new"], None), &PutOptions::default()).await;
        assert_eq!(kind(e), ErrorKind::Io);
        assert_eq!(f.store.head_object("c", "dir/k").await.unwrap(), old);
        assert_eq!(f.store.get_bytes("c", "dir/k").await.unwrap(), "old content");
        // Conditional writes.
        let absent = PutOptions::default().with_mode(PutMode::CreateIfAbsent);
        assert_eq!(kind(f.store.put_object("c", "dir/k", "x".into(), &absent).await), ErrorKind::PreconditionFailed);
        f.store.put_object("c", "dir/new", "fresh".into(), &absent).await.unwrap();
        let if_match = PutOptions::default().with_mode(PutMode::IfMatch(old.etag.clone().unwrap()));
        let new = f.store.put_object("c", "dir/k", "new content".into(), &if_match).await.unwrap();
        assert_eq!(kind(f.store.put_object("c", "dir/k", "x".into(), &if_match).await), ErrorKind::PreconditionFailed);
        assert_eq!(f.store.head_object("c", "dir/k").await.unwrap(), new);
        // Streams, copies and multipart uploads too.
        let stream = storage_core::Payload::stream(
            Box::pin(futures::stream::iter(vec![Ok(storage_core::Bytes::from("stre")), Ok("amed".into())])),
            Some(8),
        );
        let streamed = f.store.put_object("c", "s", stream, &PutOptions::default()).await.unwrap();
        assert_eq!(streamed.hash.as_ref().and_then(|h| h.matches(b"streamed")), Some(true));
        let copied = f.store.copy_object("c", "dir/k", "c", "copy", &CopyOptions::default()).await.unwrap();
        assert_eq!(copied.hash, new.hash);
        let up = f.store.create_multipart("c", "mp", &PutOptions::default()).await.unwrap();
        let p1 = f.store.put_part(&up, 1, "multi".into(), &PartOptions::default()).await.unwrap();
        let mp = f.store.complete_multipart(&up, &[p1], &Default::default()).await.unwrap();
        assert_eq!(f.store.get_bytes("c", "mp").await.unwrap(), "multi");
        assert_eq!(f.store.head_object("c", "mp").await.unwrap(), mp);
        assert_eq!(f.store.list_keys("c", None).await.unwrap(), vec!["copy", "dir/k", "dir/new", "mp", "s"]);
        assert_eq!(temp_files(f.root()), Vec::<String>::new());
    }
}

#[test]
fn the_factory_reads_fsync_xattrs_and_fast_paths() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_string_lossy().into_owned();
    let options = |config: DriverConfig| {
        let d = LocalFactory.build(&config)?;
        let local = d.as_any().downcast_ref::<storage_local::LocalDriver>().map(|l| l.options());
        Ok::<_, storage_core::Error>(local)
    };
    let base = DriverConfig::new().set("root", &root);
    assert_eq!(options(base.clone()).unwrap(), Some(LocalOptions::default()));
    assert_eq!(options(base.clone().set("fsync", "false")).unwrap(), Some(LocalOptions::default().fsync(false)));
    assert_eq!(options(base.clone().set("xattrs", "no")).unwrap(), Some(LocalOptions::default().xattrs(false)));
    assert_eq!(
        options(base.clone().set("fast_paths", "false")).unwrap(),
        Some(LocalOptions::default().fast_paths(false))
    );
    assert_eq!(options(base.clone().set("md5", "true")).unwrap(), Some(LocalOptions::default().md5(true)));
    assert_eq!(options(base.clone().set("fsync", "sometimes")).unwrap_err().kind(), ErrorKind::Config);
    assert_eq!(
        options(base.clone().set("io_concurrency", "2")).unwrap(),
        Some(LocalOptions::default().io_concurrency(2))
    );
    assert_eq!(options(base.clone().set("io_concurrency", "0")).unwrap_err().kind(), ErrorKind::Config);
}

/// With `io_concurrency = 1` every short filesystem task waits for the one before it,
/// yet nothing waits for ever: a streamed read holds no place between its chunks, so
/// reads and writes go on while streams are half read, and many at once all finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_task_at_a_time_still_serves_streams_and_many_requests() {
    let f = Fixture::with_options(LocalOptions::default().io_concurrency(1)).await;
    assert_eq!(f.store.options().io_concurrency, 1);
    let big: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8).collect();
    for k in ["big1", "big2", "big3"] {
        f.store.put_object("c", k, big.clone().into(), &PutOptions::default()).await.unwrap();
    }
    let within = |what: &'static str| {
        move |r: Result<_, tokio::time::error::Elapsed>| r.unwrap_or_else(|_| panic!("{what} waited for ever"))
    };
    let run = async {
        // Three streams, each read to its first chunk and left there.
        let mut streams = Vec::new();
        for k in ["big1", "big2", "big3"] {
            let mut body = f.store.get_object("c", k, &Default::default()).await.unwrap().body;
            let first = body.next().await.unwrap().unwrap();
            assert_eq!(first[..], big[..first.len()]);
            streams.push((body, first.len()));
        }
        // Small reads, heads and writes, 32 at once, all go through.
        let plain = PutOptions::default();
        let keys: Vec<String> = (0..32).map(|i| format!("small/{i}")).collect();
        let puts = keys.iter().enumerate().map(|(i, k)| f.store.put_object("c", k, format!("v{i}").into(), &plain));
        for o in futures::future::join_all(puts).await {
            o.unwrap();
        }
        let gets = keys.iter().map(|k| f.store.get_bytes("c", k));
        for (i, b) in futures::future::join_all(gets).await.into_iter().enumerate() {
            assert_eq!(b.unwrap(), format!("v{i}"));
        }
        f.store.head_object("c", "big1").await.unwrap();
        // The streams then finish whole and verified.
        for (mut body, mut at) in streams {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.unwrap();
                assert_eq!(chunk[..], big[at..at + chunk.len()]);
                at += chunk.len();
            }
            assert_eq!(at, big.len());
        }
    };
    within("a request")(tokio::time::timeout(std::time::Duration::from_secs(60), run).await);
}

/// By default a write keeps the CRC32C of its content (and claims `upload_checksums`, not
/// `md5_hash`); with the `md5` option it also keeps the MD5, which objects then report
/// with an MD5 ETag, as S3 does. A checked `content_md5` is kept either way.
#[tokio::test]
async fn objects_keep_a_crc32c_and_with_the_md5_option_an_md5() {
    let f = Fixture::new().await;
    let caps = f.store.info().capabilities;
    assert!(caps.upload_checksums && !caps.md5_hash && !caps.multipart_md5);
    for fast_paths in [true, false] {
        let f = Fixture::with_options(LocalOptions::default().fast_paths(fast_paths)).await;
        let o = f.put("k", "data").await;
        assert_eq!(o.hash, Some(ObjectHash::crc32c(crc32c(b"data"))));
        let etag = o.etag.clone().unwrap();
        assert!(etag.starts_with(&format!("{:08x}-", crc32c(b"data"))), "{etag}");
        // Rewritten with the same data: another version, another ETag.
        std::thread::sleep(std::time::Duration::from_millis(2));
        let again = f.put("k", "data").await;
        assert_ne!(again.etag, o.etag);
        let checked = PutOptions { content_md5: Some(md5_hex(b"data")), ..Default::default() };
        let o = f.store.put_object("c", "md5", "data".into(), &checked).await.unwrap();
        assert_eq!(o.md5(), Some(md5_hex(b"data").as_str()));
    }
    let f = Fixture::with_options(LocalOptions::default().md5(true)).await;
    let caps = f.store.info().capabilities;
    assert!(caps.upload_checksums && caps.md5_hash && caps.multipart_md5);
    let o = f.put("k", "data").await;
    assert_eq!((o.md5(), o.etag.as_deref()), (Some(md5_hex(b"data").as_str()), Some(md5_hex(b"data").as_str())));
    let copied = f.store.copy_object("c", "k", "c", "copy", &CopyOptions::default()).await.unwrap();
    assert_eq!(copied.md5(), o.md5());
}

/// A whole read is checked against the CRC32C kept with the object: bytes changed on the
/// disk behind the driver's back (size and modification time kept) fail the read with
/// `ObjectHashMismatch` instead of reaching the caller; ranged reads are not checked.
#[tokio::test]
async fn whole_reads_are_checked_against_the_kept_crc32c() {
    for big in [false, true] {
        let f = Fixture::new().await;
        let data = if big { vec![7u8; 3 << 20] } else { b"small object".to_vec() };
        f.store.put_object("c", "k", data.clone().into(), &PutOptions::default()).await.unwrap();
        let path = f.container_dir().join("k");
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        let mut flipped = data.clone();
        flipped[data.len() / 2] ^= 1;
        {
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            file.write_all(&flipped).unwrap();
            file.set_modified(mtime).unwrap();
        }
        let e = f.store.get_bytes("c", "k").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "big={big}: {e}");
        assert_eq!(f.store.get_range("c", "k", 0..3).await.unwrap(), flipped[..3]);
    }
}

/// Every key of a listing, following its tokens, `page_size` entries at a time.
#[allow(clippy::unwrap_used)]
async fn all_pages(f: &Fixture, options: &ListOptions) -> (Vec<String>, usize) {
    let mut out = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let page = f.store.list_page("c", options, token).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= options.page_size.unwrap_or(usize::MAX));
        for e in page.items {
            out.push(match e {
                ListEntry::Object(o) => o.name,
                ListEntry::Prefix(p) => p,
            });
        }
        match page.next_token {
            Some(t) => token = Some(t),
            None => return (out, pages),
        }
    }
}

fn keys() -> Vec<String> {
    let mut keys = Vec::new();
    for d in ["a", "b/x", "b/y/z", "c", "long"] {
        for i in 0..7 {
            keys.push(format!("{d}/{i:02}"));
        }
    }
    keys.extend(["a0".to_owned(), "b-".to_owned(), "top".to_owned(), "%pct/1".to_owned(), "dot/./x".to_owned()]);
    keys.push(format!("long/{}", "y".repeat(450)));
    keys.sort();
    keys
}

#[tokio::test]
async fn pages_across_many_directories_match_one_full_listing() {
    let f = Fixture::new().await;
    let keys = keys();
    for k in &keys {
        f.put(k, "v").await;
    }
    for page_size in [1usize, 2, 3, 5, 8, 1000] {
        let (listed, pages) = all_pages(&f, &ListOptions::default().with_page_size(page_size)).await;
        assert_eq!(listed, keys, "page_size {page_size}");
        assert_eq!(pages, keys.len().div_ceil(page_size).max(1), "page_size {page_size}");
        let (under_b, _) = all_pages(&f, &ListOptions::prefix("b/").with_page_size(page_size)).await;
        assert_eq!(under_b, keys.iter().filter(|k| k.starts_with("b/")).cloned().collect::<Vec<_>>());
        let delimited = ListOptions::default().with_delimiter("/").with_page_size(page_size);
        let (top, _) = all_pages(&f, &delimited).await;
        assert_eq!(top, vec!["%pct/", "a/", "a0", "b-", "b/", "c/", "dot/", "long/", "top"], "page_size {page_size}");
        let nested = ListOptions::prefix("b/").with_delimiter("/").with_page_size(page_size);
        assert_eq!(all_pages(&f, &nested).await.0, vec!["b/x/", "b/y/"]);
    }
}

#[tokio::test]
async fn changes_between_pages_show_up_like_in_a_fresh_listing() {
    let f = Fixture::new().await;
    for i in 0..10 {
        f.put(&format!("d/{i:02}"), "v").await;
    }
    let options = ListOptions::default().with_page_size(3);
    let first = f.store.list_page("c", &options, None).await.unwrap();
    let token = first.next_token.clone().unwrap();
    // A key after the cursor appears, a deleted one does not, in the same directory
    // the first page read (and a new directory too).
    f.put("d/055", "new").await;
    f.store.delete_object("c", "d/07").await.unwrap();
    f.put("e/1", "new").await;
    let mut rest = Vec::new();
    let mut token = Some(token);
    while let Some(t) = token {
        let page = f.store.list_page("c", &options, Some(t)).await.unwrap();
        rest.extend(page.items.iter().filter_map(|e| e.as_object()).map(|o| o.name.clone()));
        token = page.next_token;
    }
    assert_eq!(rest, vec!["d/03", "d/04", "d/05", "d/055", "d/06", "d/08", "d/09", "e/1"]);
}

#[tokio::test]
async fn tokens_outlive_the_walk_cache() {
    let f = Fixture::new().await;
    for i in 0..40 {
        f.put(&format!("k/{i:02}"), "v").await;
    }
    let options = ListOptions::prefix("k/").with_page_size(2);
    // More listings in progress than the cache holds: the first tokens are evicted.
    let mut tokens = Vec::new();
    for _ in 0..40 {
        let page = f.store.list_page("c", &options, None).await.unwrap();
        tokens.push(page.next_token.unwrap());
    }
    let expected: Vec<String> = (2..40).map(|i| format!("k/{i:02}")).collect();
    for token in [tokens[0].clone(), tokens[39].clone()] {
        let mut listed = Vec::new();
        let mut token = Some(token);
        while let Some(t) = token {
            let page = f.store.list_page("c", &options, Some(t)).await.unwrap();
            listed.extend(page.items.iter().filter_map(|e| e.as_object()).map(|o| o.name.clone()));
            token = page.next_token;
        }
        assert_eq!(listed, expected);
    }
    // A token used twice (a retried request) lists the same again.
    let again = f.store.list_page("c", &options, Some(tokens[39].clone())).await.unwrap();
    let names: Vec<_> = again.items.iter().filter_map(|e| e.as_object()).map(|o| o.name.clone()).collect();
    assert_eq!(names, vec!["k/02", "k/03"]);
}
