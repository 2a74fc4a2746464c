//! Driver options (fsync off) and listings that span many pages and directories.

mod common;

use common::{Fixture, failing_stream, kind, temp_files};
use storage_core::PartOptions;
use storage_core::hash::md5_hex;
use storage_core::registry::DriverFactory;
use storage_core::{
    CopyOptions, Driver, DriverConfig, DriverExt, ErrorKind, ListEntry, ListOptions, PutMode, PutOptions,
};
use storage_local::{LocalFactory, LocalOptions};

#[tokio::test]
async fn without_fsync_writes_stay_atomic_and_complete() {
    for options in [LocalOptions::default().fsync(false), LocalOptions::default().fsync(false).xattrs(false)] {
        let f = Fixture::with_options(options).await;
        assert!(!f.store.options().fsync);
        let old = f.put("dir/k", "old content").await;
        assert_eq!(old.md5(), Some(md5_hex(b"old content").as_str()));
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
        assert_eq!(streamed.md5(), Some(md5_hex(b"streamed").as_str()));
        let copied = f.store.copy_object("c", "dir/k", "c", "copy", &CopyOptions::default()).await.unwrap();
        assert_eq!(copied.md5(), new.md5());
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
    assert_eq!(options(base.clone().set("fsync", "sometimes")).unwrap_err().kind(), ErrorKind::Config);
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
