//! Awkward keys round-trip and list exactly; escape attempts are refused.

mod common;

use common::{Fixture, kind, tree};
use futures::{StreamExt, TryStreamExt};
use storage_core::{Driver, DriverExt, ErrorKind, GetOptions, ListOptions, PutOptions};
use storage_local::LocalOptions;

fn awkward_keys() -> Vec<String> {
    let mut keys: Vec<String> = [
        "plain",
        "unicode/日本語/ファイル.txt",
        "émoji 🎉/ü",
        "with space/and  two",
        "sym/+ % ? # = & ~",
        "%",
        "%25",
        "100%",
        "%2E",
        "a//b",
        "dir/",
        "dir/inside",
        "x/./y",
        "...",
        ".hidden",
        "..x",
        "trailing./.",
        "%+",
        "%m.looks-internal",
        "%t.looks-temp",
        "back\\slash",
        "nested/deep/deeper/deepest/leaf",
        "//double-leading-is-absolute-so-not-here",
    ]
    .iter()
    .map(|s| s.to_string())
    .filter(|k| !k.starts_with('/'))
    .collect();
    keys.push("k".repeat(1024));
    keys.push("%".repeat(1024));
    keys.push("é".repeat(512));
    keys.push(format!("{}/{}", "s".repeat(300), "t".repeat(300)));
    keys.push(format!("{}..", "y".repeat(200)));
    keys
}

#[tokio::test]
async fn awkward_keys_round_trip_and_list_sorted() {
    let f = Fixture::new().await;
    let keys = awkward_keys();
    for k in &keys {
        let o = f.put(k, &format!("data of {k}")).await;
        assert_eq!(&o.name, k);
    }
    for k in &keys {
        assert_eq!(f.store.get_bytes("c", k).await.unwrap(), format!("data of {k}"), "{k}");
        let h = f.store.head_object("c", k).await.unwrap();
        assert_eq!(&h.name, k);
        assert_eq!(h.size, format!("data of {k}").len() as u64);
    }
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(f.store.list_keys("c", None).await.unwrap(), sorted);
    // Every prefix of every key lists exactly the keys starting with it.
    for k in &keys {
        for cut in [1, k.len() / 2, k.len()] {
            let mut cut = cut.min(k.len());
            while !k.is_char_boundary(cut) {
                cut -= 1;
            }
            let p = &k[..cut];
            let want: Vec<_> = sorted.iter().filter(|s| s.starts_with(p)).cloned().collect();
            assert_eq!(f.store.list_keys("c", Some(p)).await.unwrap(), want, "prefix {p:?}");
        }
    }
    // Nothing escaped the container directory.
    for p in tree(f.root()) {
        assert!(p == "c" || p.starts_with("c/"), "{p}");
    }
    // Delete them all: the container directory is empty again.
    for k in &keys {
        f.store.delete_object("c", k).await.unwrap();
    }
    assert_eq!(tree(&f.container_dir()), Vec::<String>::new());
    f.store.delete_container("c").await.unwrap();
}

#[tokio::test]
async fn escape_attempts_are_refused_and_touch_nothing() {
    let f = Fixture::new().await;
    let outside = f.outside();
    std::fs::write(outside.join("secret"), "s").unwrap();
    let before_outside = tree(f.tmp.path());
    for key in ["..", "../x", "a/../../x", "a/..", "/abs", "/etc/passwd", "a\0b", "../outside/secret", ""] {
        let e = f.store.put_object("c", key, "x".into(), &PutOptions::default()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidObjectName, "{key:?}: {e}");
        assert_eq!(kind(f.store.get_object("c", key, &GetOptions::default()).await), ErrorKind::InvalidObjectName);
        assert_eq!(kind(f.store.head_object("c", key).await), ErrorKind::InvalidObjectName);
        assert_eq!(kind(f.store.delete_object("c", key).await), ErrorKind::InvalidObjectName);
        assert_eq!(
            kind(f.store.copy_object("c", "x", "c", key, &Default::default()).await),
            ErrorKind::InvalidObjectName
        );
        assert_eq!(
            kind(f.store.create_multipart("c", key, &PutOptions::default()).await),
            ErrorKind::InvalidObjectName
        );
    }
    let e = f.store.put_object("c", "../x", "x".into(), &PutOptions::default()).await.unwrap_err();
    assert!(e.message().contains(".."), "{e}");
    let e = f.store.put_object("c", "/abs", "x".into(), &PutOptions::default()).await.unwrap_err();
    assert!(e.message().contains("absolute"), "{e}");
    for name in ["..", ".", "a/b", "", ".hidden"] {
        assert_eq!(kind(f.store.create_container(name).await), ErrorKind::InvalidContainerName, "{name:?}");
        assert_eq!(kind(f.store.head_object(name, "k").await), ErrorKind::InvalidContainerName, "{name:?}");
    }
    assert_eq!(tree(f.tmp.path()), before_outside);
    assert!(tree(&f.container_dir()).is_empty());
}

#[cfg(unix)]
#[tokio::test]
async fn symlinks_inside_a_container_are_refused() {
    let f = Fixture::new().await;
    let outside = f.outside();
    std::fs::write(outside.join("secret"), "s").unwrap();
    std::os::unix::fs::symlink(&outside, f.container_dir().join("link")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret"), f.container_dir().join("file-link")).unwrap();
    std::fs::create_dir(f.container_dir().join("real")).unwrap();
    std::os::unix::fs::symlink(&outside, f.container_dir().join("real").join("deeper")).unwrap();
    let before = tree(&outside);

    for key in ["link/x", "link/secret", "link/new/dir/x", "file-link", "real/deeper/secret"] {
        let put = f.store.put_object("c", key, "evil".into(), &PutOptions::default()).await;
        assert_eq!(kind(put), ErrorKind::PermissionDenied, "put {key}");
        assert_eq!(kind(f.store.get_object("c", key, &GetOptions::default()).await), ErrorKind::PermissionDenied);
        assert_eq!(kind(f.store.head_object("c", key).await), ErrorKind::PermissionDenied, "head {key}");
        assert_eq!(kind(f.store.delete_object("c", key).await), ErrorKind::PermissionDenied, "delete {key}");
    }
    assert_eq!(tree(&outside), before);
    assert_eq!(std::fs::read_to_string(outside.join("secret")).unwrap(), "s");
    // Listings skip symlinks.
    assert!(f.store.list_keys("c", None).await.unwrap().is_empty());
    assert!(f.store.list_keys("c", Some("link/")).await.unwrap().is_empty());
    let (objects, prefixes) = f.store.list_with_delimiter("c", None).await.unwrap();
    assert!(objects.is_empty() && prefixes.is_empty(), "{objects:?} {prefixes:?}");
}

/// A container directory that is a symlink leading out of the root: every operation
/// through it is refused, on the openat2 fast path and on the checked path alike, and
/// the directory outside is never touched.
#[cfg(unix)]
#[allow(clippy::unwrap_used)]
async fn container_symlinks_leaving_the_root_are_refused(options: LocalOptions) {
    let f = Fixture::with_options(options).await;
    f.put("x", "v").await;
    let outside = f.outside();
    std::fs::write(outside.join("secret"), "s").unwrap();
    std::fs::create_dir(outside.join("dir")).unwrap();
    std::fs::write(outside.join("dir").join("deep"), "d").unwrap();
    std::os::unix::fs::symlink(&outside, f.root().join("escape")).unwrap();
    // A relative link climbing out, and one to the root itself.
    std::os::unix::fs::symlink("../outside", f.root().join("climb")).unwrap();
    std::os::unix::fs::symlink(".", f.root().join("itself")).unwrap();
    let before = tree(&outside);
    let denied = |r: Result<_, storage_core::Error>, what: &str| {
        let e = r.err().unwrap_or_else(|| panic!("{what}: succeeded"));
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{what}: {e}");
        let shown = e.to_string();
        assert!(shown.contains("symbolic link") && shown.contains("root"), "{what}: {shown}");
        assert!(!shown.contains(ErrorKind::PermissionDenied.hint()), "{what}: {shown}");
    };
    for c in ["escape", "climb", "itself"] {
        for key in ["secret", "new", "dir/deep", "dir/new/x"] {
            let put = f.store.put_object(c, key, "evil".into(), &PutOptions::default()).await;
            denied(put.map(|_| ()), &format!("put {c}/{key}"));
            let chunks = futures::stream::iter(vec![Ok(storage_core::Bytes::from("evil"))]).boxed();
            let big = storage_core::Payload::stream(chunks, Some(4));
            let put = f.store.put_object(c, key, big, &PutOptions::default()).await;
            denied(put.map(|_| ()), &format!("streamed put {c}/{key}"));
            denied(f.store.get_object(c, key, &GetOptions::default()).await.map(|_| ()), &format!("get {c}/{key}"));
            denied(f.store.head_object(c, key).await.map(|_| ()), &format!("head {c}/{key}"));
            denied(f.store.delete_object(c, key).await, &format!("delete {c}/{key}"));
            denied(f.store.copy_object("c", "x", c, key, &Default::default()).await.map(|_| ()), "copy into");
            denied(f.store.copy_object(c, key, "c", "x", &Default::default()).await.map(|_| ()), "copy out of");
            denied(f.store.create_multipart(c, key, &PutOptions::default()).await.map(|_| ()), "multipart");
        }
        denied(f.store.list_keys(c, None).await.map(|_| ()), &format!("list {c}"));
        denied(f.store.get_container(c).await.map(|_| ()), &format!("get container {c}"));
        denied(f.store.list_multipart_uploads(c, None).await.map(|_| ()), &format!("uploads {c}"));
        denied(f.store.delete_container(c).await, &format!("delete container {c}"));
    }
    assert_eq!(tree(&outside), before);
    assert_eq!(std::fs::read_to_string(outside.join("secret")).unwrap(), "s");
    assert!(f.root().join("escape").is_symlink(), "the link itself stays");
    // Containers listed are only the real one.
    let names: Vec<String> = f.store.list_containers().map_ok(|c| c.name).try_collect().await.unwrap();
    assert_eq!(names, vec!["c"]);
}

#[cfg(unix)]
#[tokio::test]
async fn container_symlinks_leaving_the_root_are_refused_on_the_fast_path() {
    container_symlinks_leaving_the_root_are_refused(LocalOptions::default()).await;
}

#[cfg(unix)]
#[tokio::test]
async fn container_symlinks_leaving_the_root_are_refused_on_the_checked_path() {
    container_symlinks_leaving_the_root_are_refused(LocalOptions::default().fast_paths(false).xattrs(false)).await;
}

/// A container symlinked to another directory inside the root still works.
#[cfg(unix)]
#[tokio::test]
async fn container_symlinks_inside_the_root_still_work() {
    for options in [LocalOptions::default(), LocalOptions::default().fast_paths(false)] {
        let f = Fixture::with_options(options).await;
        std::fs::create_dir(f.root().join("real")).unwrap();
        std::os::unix::fs::symlink("real", f.root().join("alias")).unwrap();
        f.store.put_object("alias", "k", "v".into(), &PutOptions::default()).await.unwrap();
        assert_eq!(f.store.get_bytes("alias", "k").await.unwrap(), "v");
        assert_eq!(std::fs::read_to_string(f.root().join("real").join("k")).unwrap(), "v");
        assert_eq!(f.store.list_keys("alias", None).await.unwrap(), vec!["k"]);
        f.store.delete_object("alias", "k").await.unwrap();
    }
}

#[tokio::test]
async fn a_key_and_keys_under_it_cannot_coexist() {
    let f = Fixture::new().await;
    f.put("a", "file").await;
    let e = f.store.put_object("c", "a/b", "x".into(), &PutOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidObjectName, "{e}");
    assert_eq!(f.store.get_bytes("c", "a").await.unwrap(), "file");
    assert_eq!(kind(f.store.head_object("c", "a/b").await), ErrorKind::ObjectDoesNotExist);

    f.put("x/y", "deep").await;
    let e = f.store.put_object("c", "x", "x".into(), &PutOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidObjectName, "{e}");
    assert_eq!(kind(f.store.head_object("c", "x").await), ErrorKind::ObjectDoesNotExist);
    f.store.delete_object("c", "x").await.unwrap();
    assert_eq!(f.store.get_bytes("c", "x/y").await.unwrap(), "deep");
    // Once "x/y" is gone, "x" can be written.
    f.store.delete_object("c", "x/y").await.unwrap();
    f.put("x", "now a file").await;
    assert_eq!(f.store.list_keys("c", None).await.unwrap(), vec!["a", "x"]);
}

#[tokio::test]
async fn listing_matches_the_memory_driver() {
    let f = Fixture::new().await;
    let mem = storage_core::MemoryDriver::new();
    mem.create_container("c").await.unwrap();
    let keys = [
        "a/1", "a/2", "a/b/c", "a/b/d", "a-b", "a.b", "a0", "b", "c/x/1", "c/y", "d", "dir/", "dir/x", "e//", "f//g",
        "%", "100%", "é/ü", "x y/z", "zz/%2E/q", "a/./z", "...",
    ];
    let mut keys: Vec<String> = keys.iter().map(|s| s.to_string()).collect();
    keys.push(format!("long/{}", "L".repeat(700)));
    keys.push(format!("long/{}/tail", "L".repeat(450)));
    keys.push(format!("long/{}x", "L".repeat(450)));
    for k in &keys {
        f.put(k, "v").await;
        mem.put_object("c", k, "v".into(), &PutOptions::default()).await.unwrap();
    }
    let long_prefix = format!("long/{}", "L".repeat(300));
    let long_start = format!("long/{}", "L".repeat(450));
    let long_dir = format!("long/{}/", "L".repeat(450));
    let prefixes = [
        None,
        Some(""),
        Some("a"),
        Some("a/"),
        Some("a/b"),
        Some("dir/"),
        Some("dir//"),
        Some("c/x"),
        Some("long/LLL"),
        Some(long_prefix.as_str()),
        Some(long_dir.as_str()),
        Some("nope/"),
        Some("/"),
        Some("../"),
        Some("e/"),
        Some("e//"),
        Some("%"),
    ];
    let delimiters = [None, Some("/"), Some("-"), Some("b/"), Some("//"), Some("L")];
    let starts = [
        None,
        Some("a/1"),
        Some("a/b"),
        Some("a/b/c"),
        Some("c"),
        Some("dir/x"),
        Some(long_start.as_str()),
        Some("zzz"),
    ];
    for prefix in prefixes {
        for delimiter in delimiters {
            for start in starts {
                for page_size in [1, 2, 3, 1000] {
                    let opts = ListOptions {
                        prefix: prefix.map(str::to_owned),
                        delimiter: delimiter.map(str::to_owned),
                        start_after: start.map(str::to_owned),
                        page_size: Some(page_size),
                    };
                    let got = pages(f.store.as_ref(), &opts).await.unwrap();
                    let want = pages(&mem, &opts).await.unwrap();
                    assert_eq!(got, want, "{opts:?}");
                }
            }
        }
    }
}

async fn pages(d: &dyn Driver, opts: &ListOptions) -> storage_core::Result<Vec<(Vec<String>, Option<String>)>> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = d.list_page("c", opts, token.clone()).await?;
        let names = page.items.iter().map(|e| e.name().to_owned()).collect();
        out.push((names, page.next_token.clone()));
        match page.next_token {
            Some(t) => token = Some(t),
            None => return Ok(out),
        }
        assert!(out.len() < 200, "listing does not end");
    }
}
