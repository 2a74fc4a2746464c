//! Listing, checked page by page (entries and continuation tokens) against MemoryDriver.

use futures::TryStreamExt;
use storage_core::{Driver, ErrorKind, ListEntry, ListOptions, MemoryDriver, PutOptions};

use crate::common::{Fixture, Mode, kind};

crate::on_both_servers!(listing_matches_memory, prefixes_are_skipped_in_one_jump, containers_are_listed);

/// Every page (names, and whether a token follows) of a listing.
async fn pages(d: &dyn Driver, c: &str, opts: &ListOptions) -> Vec<(Vec<String>, Option<String>)> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = d.list_page(c, opts, token).await.unwrap();
        let names = page
            .items
            .iter()
            .map(|e| match e {
                ListEntry::Object(o) => format!("{}={}", o.name, o.size),
                ListEntry::Prefix(p) => format!("{p}*"),
            })
            .collect();
        out.push((names, page.next_token.clone()));
        match page.next_token {
            Some(t) => token = Some(t),
            None => return out,
        }
    }
}

const KEYS: &[&str] = &[
    "a/1", "a/2", "a/b/3", "a/b/4", "a/c", "b", "c/x/1", "c/x/2", "c/y", "d", "d/", "d//e", "e f", "e+f", "ü/1", "ü/2",
    "zz", "z~",
];

async fn listing_matches_memory(mode: Mode) {
    let f = Fixture::new(mode, "list").await;
    let mem = MemoryDriver::new();
    let d: &dyn Driver = &*f.driver;
    for s in [d, &mem as &dyn Driver] {
        s.create_container("c").await.unwrap();
        for (i, k) in KEYS.iter().enumerate() {
            s.put_object("c", k, vec![b'x'; i].into(), &PutOptions::default()).await.unwrap();
        }
    }
    let mut cases = Vec::new();
    for prefix in [None, Some("a/"), Some("a"), Some("c/x/"), Some("ü"), Some("nothing"), Some("d/")] {
        for delimiter in [None, Some("/"), Some("//"), Some("x")] {
            for start_after in [None, Some("a/b"), Some("c/x/1"), Some("zz")] {
                for page_size in [None, Some(1), Some(2), Some(3)] {
                    cases.push(ListOptions {
                        prefix: prefix.map(str::to_owned),
                        delimiter: delimiter.map(str::to_owned),
                        start_after: start_after.map(str::to_owned),
                        page_size,
                    });
                }
            }
        }
    }
    for opts in &cases {
        assert_eq!(pages(d, "c", opts).await, pages(&mem, "c", opts).await, "{opts:?}");
    }
    // The lazy stream agrees too.
    let all: Vec<ListEntry> =
        d.list_objects("c", ListOptions::default().with_page_size(4)).try_collect().await.unwrap();
    let mut sorted = KEYS.to_vec();
    sorted.sort();
    assert_eq!(all.iter().map(|e| e.name()).collect::<Vec<_>>(), sorted);
    let objects: Vec<_> = all.iter().filter_map(ListEntry::as_object).collect();
    assert_eq!(objects[3].size, 3, "a/b/4 was written with 3 bytes");
    assert!(objects.iter().all(|o| o.etag.is_some() && o.last_modified.is_some()));

    assert_eq!(kind(d.list_page("nope", &ListOptions::default(), None).await), ErrorKind::ContainerDoesNotExist);
    let bad = d.list_page("c", &ListOptions::default(), Some("zzz".into())).await;
    assert_eq!(kind(bad), ErrorKind::Backend);
}

async fn prefixes_are_skipped_in_one_jump(mode: Mode) {
    let f = Fixture::new(mode, "jump").await;
    let d = &*f.driver;
    d.create_container("c").await.unwrap();
    let mem = MemoryDriver::new();
    mem.create_container("c").await.unwrap();
    let mut keys: Vec<String> = (0..1500).map(|i| format!("big/{i:05}")).collect();
    keys.extend(["a".to_owned(), "big0".to_owned(), "big/".to_owned(), "c/1".to_owned(), "z".to_owned()]);
    for k in &keys {
        d.put_object("c", k, "".into(), &PutOptions::default()).await.unwrap();
        mem.put_object("c", k, "".into(), &PutOptions::default()).await.unwrap();
    }
    for opts in [
        ListOptions::default().with_delimiter("/"),
        ListOptions::default().with_delimiter("/").with_page_size(2),
        ListOptions::default().with_delimiter("/").with_page_size(1),
        ListOptions::prefix("big/").with_page_size(1000),
        ListOptions::prefix("big/0").with_delimiter("0").with_page_size(3),
        ListOptions::default().with_start_after("big/00500").with_page_size(700),
    ] {
        assert_eq!(pages(d, "c", &opts).await, pages(&mem, "c", &opts).await, "{opts:?}");
    }
    let first = d.list_page("c", &ListOptions::default().with_delimiter("/"), None).await.unwrap();
    let names: Vec<_> = first.items.iter().map(|e| e.name().to_owned()).collect();
    assert_eq!(names, ["a", "big/", "big0", "c/", "z"]);
    // Full pages of 1000 objects.
    let p = d.list_page("c", &ListOptions::default(), None).await.unwrap();
    assert_eq!(p.items.len(), 1000);
    assert!(p.next_token.is_some());
    let p = d.list_page("c", &ListOptions::default().with_page_size(5000), None).await.unwrap();
    assert_eq!(p.items.len(), 1000, "pages are capped at max_page_size");
}

async fn containers_are_listed(mode: Mode) {
    let f = Fixture::new(mode, "conts").await;
    let d = &*f.driver;
    let names = ["alpha", "beta", "gamma:with:colons", "ü"];
    for n in names {
        d.create_container(n).await.unwrap();
    }
    let listed: Vec<String> = d.list_containers().map_ok(|c| c.name).try_collect().await.unwrap();
    assert_eq!(listed, names);
    let c = d.get_container("beta").await.unwrap();
    assert!(c.created.is_some());
    d.delete_container("beta").await.unwrap();
    let listed: Vec<String> = d.list_containers().map_ok(|c| c.name).try_collect().await.unwrap();
    assert_eq!(listed, ["alpha", "gamma:with:colons", "ü"]);
}
