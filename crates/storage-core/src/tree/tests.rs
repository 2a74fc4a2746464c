//! Tree operations against `MemoryDriver` and temporary directories.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

use async_trait::async_trait;
use bytes::Bytes;

use super::*;
use crate::capabilities::{DriverInfo, Limits};
use crate::error::ErrorKind;
use crate::memory::MemoryDriver;
use crate::object::DeleteOutcome;
use crate::ops::DriverExt;
use crate::options::{CopyOptions, GetOptions, PutOptions};
use crate::payload::GetResult;

/// A `MemoryDriver` with its own limits and capabilities that counts server-side copies,
/// batch deletes and GETs.
#[derive(Debug)]
struct Counting {
    inner: MemoryDriver,
    info: DriverInfo,
    copies: AtomicUsize,
    batches: AtomicUsize,
    gets: AtomicUsize,
}

impl Counting {
    fn new(max_batch_delete: usize, copy: bool) -> Self {
        let inner = MemoryDriver::new();
        let mut info = inner.info().clone();
        info.name = "counting".into();
        info.limits = Limits { max_batch_delete, ..info.limits };
        info.capabilities.copy = copy;
        Counting { inner, info, copies: AtomicUsize::new(0), batches: AtomicUsize::new(0), gets: AtomicUsize::new(0) }
    }
}

#[async_trait]
impl crate::layer::Layer for Counting {
    fn inner(&self) -> &dyn Driver {
        &self.inner
    }
    fn info(&self) -> &DriverInfo {
        &self.info
    }
    async fn get_object(&self, c: &str, k: &str, o: &GetOptions) -> Result<GetResult> {
        self.gets.fetch_add(1, AtomicOrdering::SeqCst);
        self.inner.get_object(c, k, o).await
    }
    async fn delete_batch(&self, c: &str, keys: &[String]) -> Result<Vec<DeleteOutcome>> {
        assert!(keys.len() <= self.info.limits.max_batch_delete, "batch of {} keys", keys.len());
        self.batches.fetch_add(1, AtomicOrdering::SeqCst);
        self.inner.delete_batch(c, keys).await
    }
    async fn copy_object(&self, sc: &str, sk: &str, dc: &str, dk: &str, o: &CopyOptions) -> Result<Object> {
        if !self.info.capabilities.copy {
            return Err(self.unsupported("server-side copy"));
        }
        self.copies.fetch_add(1, AtomicOrdering::SeqCst);
        self.inner.copy_object(sc, sk, dc, dk, o).await
    }
}

fn write(root: &Path, rel: &str, body: &[u8]) {
    storage_testkit::write_file(&root.join(rel), body);
}

use storage_testkit::read_tree;

const AWKWARD: &[(&str, &[u8])] = &[
    ("plain.txt", b"plain"),
    ("with space.txt", b"spaced out"),
    ("unicod\u{e9} \u{65e5}\u{672c}.md", b"# hi"),
    ("a+b=c&d.json", b"{}"),
    ("sub/dir/deep.png", b"\x89PNG...."),
    ("sub/empty.bin", b""),
    ("sub/noext", b"no extension"),
];

fn awkward_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, body) in AWKWARD {
        write(dir.path(), rel, body);
    }
    dir
}

async fn store() -> MemoryDriver {
    let m = MemoryDriver::new();
    m.create_container("c").await.unwrap();
    m
}

async fn keys(d: &dyn Driver, prefix: &str) -> Vec<String> {
    d.list_keys("c", Some(prefix)).await.unwrap()
}

fn opts() -> TreeOptions {
    TreeOptions::default()
}

#[test]
fn tree_filter_globs() {
    let f = Filter::new(&["*.txt"], &["tmp/**"]).unwrap();
    assert!(f.matches("a.txt"));
    assert!(f.matches("x/y/a.txt"));
    assert!(!f.matches("a.md"));
    assert!(!f.matches("tmp/a.txt"));
    assert!(f.matches("other/tmp/a.txt"), "tmp/** is anchored at the root");
    assert!(f.excludes_dir("tmp"));
    assert!(!f.excludes_dir("x"));

    let f = Filter::exclude(&["node_modules", "/build/", "*.log"]).unwrap();
    assert!(!f.matches("node_modules/x.js"));
    assert!(!f.matches("app/node_modules/y/z.js"));
    assert!(!f.matches("build/out.bin"));
    assert!(f.matches("src/build/keep.rs"), "/build is anchored");
    assert!(!f.matches("deep/err.log"));
    assert!(f.matches("src/main.rs"));

    let f = Filter::include(&["docs/**/*.{md,txt}", "/README?"]).unwrap();
    assert!(f.matches("docs/a.md"));
    assert!(f.matches("docs/x/y/b.txt"));
    assert!(!f.matches("docs/a.rs"));
    assert!(f.matches("READMEs"));
    assert!(!f.matches("sub/READMEs"));
    assert!(!f.matches("x/docs/a.md"));

    let f = Filter::include(&["data"]).unwrap();
    assert!(f.matches("data/1/2.bin"), "a matched directory takes everything under it");
    assert!(!f.matches("database.bin"));

    let all = Filter::default();
    assert!(all.is_all() && all.matches("anything/at/all"));
    assert_eq!(Filter::new(&["*.txt"], &[]).unwrap(), Filter::include(&["*.txt"]).unwrap());
    assert!(format!("{:?}", Filter::include(&["*.txt"]).unwrap()).contains("*.txt"));

    for bad in ["a[b", "{a,b", "", "/"] {
        let e = Filter::new(&[bad], &[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{bad:?}");
        let e = Filter::new(&[], &[bad]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{bad:?}");
    }
    assert!(Filter::new(&["a[b"], &[]).unwrap_err().message().contains("a[b"));
}

#[tokio::test]
async fn tree_upload_and_download_round_trip() {
    let src = awkward_tree();
    let m = store().await;
    let report = m.upload_dir(src.path(), "c", "backup", &opts()).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.failed);
    let total: usize = AWKWARD.iter().map(|(_, b)| b.len()).sum();
    assert_eq!((report.objects, report.bytes, report.skipped, report.filtered), (7, total as u64, 0, 0));
    let mut expected: Vec<String> = AWKWARD.iter().map(|(r, _)| format!("backup/{r}")).collect();
    expected.sort();
    assert_eq!(keys(&m, "").await, expected);
    for (rel, body) in AWKWARD {
        assert_eq!(m.get_bytes("c", &format!("backup/{rel}")).await.unwrap(), Bytes::from_static(body));
    }
    let ct = |k: &'static str| {
        let m = &m;
        async move { m.head_object("c", k).await.unwrap().content_type }
    };
    assert_eq!(ct("backup/plain.txt").await.as_deref(), Some("text/plain"));
    assert_eq!(ct("backup/sub/dir/deep.png").await.as_deref(), Some("image/png"));
    assert_eq!(ct("backup/a+b=c&d.json").await.as_deref(), Some("application/json"));
    assert_eq!(ct("backup/sub/noext").await.as_deref(), Some("application/octet-stream"));

    let dst = tempfile::tempdir().unwrap();
    let out = dst.path().join("restored");
    let report = m.download_dir("c", "backup/", &out, &opts()).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.failed);
    assert_eq!((report.objects, report.bytes), (7, total as u64));
    let want: BTreeMap<String, Vec<u8>> = AWKWARD.iter().map(|(r, b)| ((*r).to_owned(), b.to_vec())).collect();
    assert_eq!(read_tree(&out), want);
    assert!(report.to_string().starts_with("7 objects"), "{report}");
}

/// A directory already where a key's file goes: the key fails, and nothing is written into
/// the directory under another name (download_object's directory rule is not for trees).
#[tokio::test]
async fn tree_download_refuses_a_directory_in_the_way() {
    let m = store().await;
    m.put_object("c", "p/x", "file".into(), &PutOptions::default()).await.unwrap();
    m.put_object("c", "p/y", "other".into(), &PutOptions::default()).await.unwrap();
    let dst = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dst.path().join("x/kept")).unwrap();
    let report = m.download_dir("c", "p/", dst.path(), &opts()).await.unwrap();
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    assert_eq!(report.failed[0].0, "p/x");
    assert!(report.failed[0].1.message().contains("is a directory"), "{}", report.failed[0].1);
    let inside: Vec<String> = std::fs::read_dir(dst.path().join("x"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .collect();
    assert_eq!(inside, ["kept"], "nothing written into the directory");
    assert_eq!(std::fs::read(dst.path().join("y")).unwrap(), b"other");
}

#[tokio::test]
async fn tree_prefix_is_a_folder() {
    let m = store().await;
    m.put_object("c", "photos/a", "1".into(), &PutOptions::default()).await.unwrap();
    m.put_object("c", "photos-old/b", "22".into(), &PutOptions::default()).await.unwrap();
    m.put_object("c", "photos", "333".into(), &PutOptions::default()).await.unwrap();
    assert_eq!(m.space_used("c", Some("photos")).await.unwrap(), Usage { objects: 1, bytes: 1 });
    assert_eq!(m.space_used("c", Some("photos/")).await.unwrap(), Usage { objects: 1, bytes: 1 });
    assert_eq!(m.space_used("c", None).await.unwrap(), Usage { objects: 3, bytes: 6 });
    assert_eq!(m.space_used("c", Some("")).await.unwrap(), Usage { objects: 3, bytes: 6 });
    let r = m.remove_tree("c", "photos", &opts()).await.unwrap();
    assert_eq!((r.objects, r.bytes), (1, 1));
    assert_eq!(keys(&m, "").await, ["photos", "photos-old/b"]);
    assert_eq!(
        m.space_used("nope", None).await.unwrap_err().kind(),
        ErrorKind::ContainerDoesNotExist,
        "a missing container fails the call"
    );
}

#[tokio::test]
async fn tree_upload_filters_and_prunes() {
    let src = awkward_tree();
    write(src.path(), "tmp/scratch.txt", b"x");
    write(src.path(), "tmp/deeper/more.txt", b"y");
    let m = store().await;
    let options = opts().with_filter(Filter::new(&["*.txt", "*.png"], &["tmp/**", "with space*"]).unwrap());
    let report = m.upload_dir(src.path(), "c", "", &options).await.unwrap();
    assert!(report.is_ok());
    assert_eq!(keys(&m, "").await, ["plain.txt", "sub/dir/deep.png"]);
    // tmp/ is pruned (its files are never seen); the others are counted.
    assert_eq!((report.objects, report.filtered), (2, 5));
}

#[tokio::test]
async fn tree_dry_run_writes_nothing() {
    let src = awkward_tree();
    let m = store().await;
    let report = m.upload_dir(src.path(), "c", "p", &opts().with_dry_run(true)).await.unwrap();
    assert_eq!(report.objects, 7);
    assert!(keys(&m, "").await.is_empty());

    m.upload_dir(src.path(), "c", "p", &opts()).await.unwrap();
    let dst = tempfile::tempdir().unwrap();
    let out = dst.path().join("never-created");
    let report = m.download_dir("c", "p", &out, &opts().with_dry_run(true)).await.unwrap();
    assert_eq!(report.objects, 7);
    assert!(!out.exists());

    let report = m.remove_tree("c", "p", &opts().with_dry_run(true)).await.unwrap();
    assert_eq!(report.objects, 7);
    assert_eq!(keys(&m, "").await.len(), 7);

    let other = MemoryDriver::new();
    other.create_container("c").await.unwrap();
    let report = m.copy_tree("c", "p", &other, "c", "q", &opts().with_dry_run(true)).await.unwrap();
    assert_eq!(report.objects, 7);
    assert!(keys(&other, "").await.is_empty());
}

#[tokio::test]
async fn tree_no_overwrite_skips_existing() {
    let src = awkward_tree();
    let m = store().await;
    m.put_object("c", "p/plain.txt", "remote version".into(), &PutOptions::default()).await.unwrap();
    let report = m.upload_dir(src.path(), "c", "p", &opts().with_overwrite(false)).await.unwrap();
    assert_eq!((report.objects, report.skipped), (6, 1));
    assert_eq!(m.get_bytes("c", "p/plain.txt").await.unwrap(), "remote version");

    let dst = tempfile::tempdir().unwrap();
    write(dst.path(), "sub/noext", b"local version");
    let report = m.download_dir("c", "p", dst.path(), &opts().with_overwrite(false)).await.unwrap();
    assert_eq!((report.objects, report.skipped), (6, 1));
    assert_eq!(std::fs::read(dst.path().join("sub/noext")).unwrap(), b"local version");
    assert_eq!(std::fs::read(dst.path().join("plain.txt")).unwrap(), b"remote version");

    // With overwrite (the default), both are replaced.
    let report = m.download_dir("c", "p", dst.path(), &opts()).await.unwrap();
    assert_eq!((report.objects, report.skipped), (7, 0));
    assert_eq!(std::fs::read(dst.path().join("sub/noext")).unwrap(), b"no extension");
}

#[tokio::test]
async fn tree_download_refuses_escaping_keys() {
    let m = store().await;
    let bad = ["p/../evil", "p/a/../../evil", "p//abs", "p/x//y", "p/./dot", "p/ends/.."];
    for k in bad {
        m.put_object("c", k, "bad".into(), &PutOptions::default()).await.unwrap();
    }
    m.put_object("c", "p/good/file.txt", "good".into(), &PutOptions::default()).await.unwrap();
    m.put_object("c", "p/..dots-are-fine", "ok".into(), &PutOptions::default()).await.unwrap();
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("root");
    let report = m.download_dir("c", "p", &root, &opts()).await.unwrap();
    assert_eq!(report.objects, 2);
    let mut failed: Vec<&str> = report.failed.iter().map(|(k, _)| k.as_str()).collect();
    failed.sort();
    let mut want = bad.to_vec();
    want.sort();
    assert_eq!(failed, want);
    for (k, e) in &report.failed {
        assert_eq!(e.kind(), ErrorKind::InvalidObjectName, "{k}: {e}");
        assert_eq!(e.key(), Some(k.as_str()));
    }
    assert!(!base.path().join("evil").exists());
    let everything = read_tree(base.path());
    assert_eq!(everything.keys().collect::<Vec<_>>(), ["root/..dots-are-fine", "root/good/file.txt"]);
}

#[cfg(unix)]
#[tokio::test]
async fn tree_download_never_goes_through_a_symlink() {
    let m = store().await;
    m.put_object("c", "p/link/planted.txt", "x".into(), &PutOptions::default()).await.unwrap();
    m.put_object("c", "p/ok.txt", "y".into(), &PutOptions::default()).await.unwrap();
    let base = tempfile::tempdir().unwrap();
    let outside = base.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let root = base.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
    let report = m.download_dir("c", "p", &root, &opts()).await.unwrap();
    assert_eq!(report.objects, 1);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].1.kind(), ErrorKind::InvalidObjectName);
    assert!(std::fs::read_dir(&outside).unwrap().next().is_none(), "nothing was written outside");
}

#[cfg(unix)]
#[tokio::test]
async fn tree_upload_follows_only_symlinks_inside_the_tree() {
    let base = tempfile::tempdir().unwrap();
    write(base.path(), "secret.txt", b"outside");
    let root = base.path().join("root");
    write(&root, "real/data.txt", b"inside");
    std::os::unix::fs::symlink(root.join("real/data.txt"), root.join("alias.txt")).unwrap();
    std::os::unix::fs::symlink(base.path().join("secret.txt"), root.join("escape.txt")).unwrap();
    std::os::unix::fs::symlink(base.path(), root.join("escape-dir")).unwrap();
    std::os::unix::fs::symlink(root.join("real"), root.join("loop-dir")).unwrap();
    std::os::unix::fs::symlink(root.join("missing"), root.join("broken.txt")).unwrap();
    let m = store().await;
    let report = m.upload_dir(&root, "c", "", &opts()).await.unwrap();
    assert_eq!(keys(&m, "").await, ["alias.txt", "real/data.txt"]);
    assert_eq!(m.get_bytes("c", "alias.txt").await.unwrap(), "inside");
    let mut failed: Vec<(&str, ErrorKind)> = report.failed.iter().map(|(k, e)| (k.as_str(), e.kind())).collect();
    failed.sort_by(|a, b| a.0.cmp(b.0));
    assert_eq!(
        failed,
        [
            ("broken.txt", ErrorKind::Io),
            ("escape-dir", ErrorKind::InvalidObjectName),
            ("escape.txt", ErrorKind::InvalidObjectName)
        ]
    );
}

#[tokio::test]
async fn tree_upload_dir_missing_or_not_a_directory() {
    let m = store().await;
    let base = tempfile::tempdir().unwrap();
    let e = m.upload_dir(&base.path().join("missing"), "c", "", &opts()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    write(base.path(), "file", b"x");
    let e = m.upload_dir(&base.path().join("file"), "c", "", &opts()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(e.message().contains("not a directory"), "{e}");
    // Per-file errors (a missing container) are collected, not raised.
    write(base.path(), "dir/a.txt", b"x");
    let r = m.upload_dir(&base.path().join("dir"), "missing", "", &opts()).await.unwrap();
    assert_eq!(r.failed.len(), 1);
    assert_eq!(r.failed[0].1.kind(), ErrorKind::ContainerDoesNotExist);
    let e = m.download_dir("missing", "", &base.path().join("out"), &opts()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ContainerDoesNotExist);
}

#[tokio::test]
async fn tree_directory_markers_become_directories() {
    let m = store().await;
    m.put_object("c", "p/", "".into(), &PutOptions::default()).await.unwrap();
    m.put_object("c", "p/empty-dir/", "".into(), &PutOptions::default()).await.unwrap();
    m.put_object("c", "p/full-dir/", "data".into(), &PutOptions::default()).await.unwrap();
    m.put_object("c", "p/f.txt", "f".into(), &PutOptions::default()).await.unwrap();
    let base = tempfile::tempdir().unwrap();
    let r = m.download_dir("c", "p", base.path(), &opts()).await.unwrap();
    assert_eq!((r.objects, r.skipped, r.failed.len()), (1, 2, 1));
    assert_eq!(r.failed[0].0, "p/full-dir/");
    assert!(base.path().join("empty-dir").is_dir());
}

#[tokio::test]
async fn tree_remove_tree_filtered_in_batches() {
    let d = Counting::new(3, true);
    d.create_container("c").await.unwrap();
    for i in 0..10 {
        d.put_object("c", &format!("p/{i}.log"), Bytes::from(vec![0u8; i]).into(), &PutOptions::default())
            .await
            .unwrap();
        d.put_object("c", &format!("p/keep/{i}.txt"), "k".into(), &PutOptions::default()).await.unwrap();
    }
    d.put_object("c", "other/x.log", "o".into(), &PutOptions::default()).await.unwrap();
    let options = opts().with_filter(Filter::include(&["*.log"]).unwrap()).with_concurrency(2);
    let r = d.remove_tree("c", "p", &options).await.unwrap();
    assert!(r.is_ok());
    assert_eq!((r.objects, r.bytes, r.filtered), (10, 45, 10));
    assert_eq!(keys(&d, "p/").await.len(), 10);
    assert!(keys(&d, "p/").await.iter().all(|k| k.starts_with("p/keep/")));
    assert_eq!(keys(&d, "other/").await, ["other/x.log"]);
    assert!(d.batches.load(AtomicOrdering::SeqCst) >= 4, "batches of at most 3");

    // Without a filter everything under the folder goes.
    let r = remove_tree(&d, "c", "p/", &opts()).await.unwrap();
    assert_eq!(r.objects, 10);
    assert!(keys(&d, "p/").await.is_empty());
    let r = d.remove_tree("c", "", &opts()).await.unwrap();
    assert_eq!(r.objects, 1);
    assert_eq!(d.remove_tree("missing", "", &opts()).await.unwrap_err().kind(), ErrorKind::ContainerDoesNotExist);
}

async fn listing_fixture() -> MemoryDriver {
    let m = store().await;
    // Written in this order, a little apart, so times increase: c, a, d/, b, e/.
    let put = |k: &'static str, n: usize| {
        let m = &m;
        async move {
            m.put_object("c", k, Bytes::from(vec![b'x'; n]).into(), &PutOptions::default()).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    put("dir/c.txt", 30).await;
    put("dir/a.txt", 20).await;
    put("dir/d/1", 5).await;
    put("dir/d/2", 6).await;
    put("dir/b.txt", 10).await;
    put("dir/e/x/y", 100).await;
    put("dir/", 0).await; // the folder's own marker: not an entry
    put("elsewhere", 1).await;
    m
}

fn names(entries: &[DirEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.name.as_str()).collect()
}

#[tokio::test]
async fn tree_listdir_orders_and_max() {
    let m = listing_fixture().await;
    let ls = |order: Order, descending: bool, max: Option<usize>, sizes: bool| {
        let m = &m;
        async move { m.listdir("c", "dir", &ListdirOptions { order, descending, max, sizes }).await.unwrap() }
    };
    let all = ls(Order::Name, false, None, false).await;
    assert_eq!(names(&all), ["a.txt", "b.txt", "c.txt", "d/", "e/"]);
    let d = &all[3];
    assert!(d.is_prefix && d.key == "dir/d/" && d.size == 0 && d.object_count.is_none() && d.last_modified.is_none());
    let a = &all[0];
    assert!(!a.is_prefix && a.key == "dir/a.txt" && a.size == 20 && a.object_count == Some(1));
    assert!(a.last_modified.is_some());

    assert_eq!(names(&ls(Order::Name, true, None, false).await), ["e/", "d/", "c.txt", "b.txt", "a.txt"]);
    assert_eq!(names(&ls(Order::Name, false, Some(2), false).await), ["a.txt", "b.txt"]);
    assert_eq!(names(&ls(Order::Name, true, Some(2), false).await), ["e/", "d/"]);
    // Without sizes, prefixes weigh 0 and have no time.
    assert_eq!(names(&ls(Order::Size, false, None, false).await), ["d/", "e/", "b.txt", "a.txt", "c.txt"]);
    assert_eq!(names(&ls(Order::Size, true, Some(3), false).await), ["c.txt", "a.txt", "b.txt"]);
    assert_eq!(names(&ls(Order::Time, false, None, false).await), ["d/", "e/", "c.txt", "a.txt", "b.txt"]);
    assert_eq!(names(&ls(Order::Time, true, Some(1), false).await), ["b.txt"]);
    // With sizes, prefixes carry their totals and newest times.
    assert_eq!(names(&ls(Order::Size, false, None, true).await), ["b.txt", "d/", "a.txt", "c.txt", "e/"]);
    assert_eq!(names(&ls(Order::Size, true, Some(2), true).await), ["e/", "c.txt"]);
    assert_eq!(names(&ls(Order::Time, false, None, true).await), ["c.txt", "a.txt", "d/", "b.txt", "e/"]);
    assert_eq!(names(&ls(Order::Time, true, Some(2), true).await), ["e/", "b.txt"]);
}

#[tokio::test]
async fn tree_listdir_sizes_per_prefix() {
    let m = listing_fixture().await;
    let opts = ListdirOptions { sizes: true, ..ListdirOptions::default() };
    let all = m.listdir("c", "dir/", &opts).await.unwrap();
    let summary: Vec<(&str, u64, Option<u64>)> =
        all.iter().map(|e| (e.name.as_str(), e.size, e.object_count)).collect();
    assert_eq!(
        summary,
        [
            ("a.txt", 20, Some(1)),
            ("b.txt", 10, Some(1)),
            ("c.txt", 30, Some(1)),
            ("d/", 11, Some(2)),
            ("e/", 100, Some(1)),
        ]
    );
    let newest_in_d = m.head_object("c", "dir/d/2").await.unwrap().last_modified;
    assert_eq!(all[3].last_modified, newest_in_d);
    // The top level, and a cut listing sized only for what it keeps.
    let top = m.listdir("c", "", &ListdirOptions { sizes: true, max: Some(1), ..Default::default() }).await.unwrap();
    assert_eq!(names(&top), ["dir/"]);
    assert_eq!((top[0].size, top[0].object_count), (171, Some(7)));
    assert_eq!(m.space_used("c", Some("dir")).await.unwrap(), Usage { objects: 7, bytes: 171 });
    assert_eq!(m.space_used("c", None).await.unwrap(), Usage { objects: 8, bytes: 172 });
    assert!(m.listdir("c", "nothing-here", &opts).await.unwrap().is_empty());
    assert_eq!(
        m.listdir("missing", "", &opts).await.unwrap_err().kind(),
        ErrorKind::ContainerDoesNotExist,
        "a missing container fails listdir"
    );
}

fn rich_options() -> PutOptions {
    PutOptions {
        content_type: Some("application/x-special".into()),
        content_encoding: Some("identity".into()),
        cache_control: Some("max-age=60".into()),
        content_disposition: Some("attachment; filename=\"x.bin\"".into()),
        ..PutOptions::default()
    }
    .with_metadata("Owner", "alice")
    .with_metadata("purpose", "tests")
}

#[tokio::test]
async fn tree_cross_driver_copy_preserves_metadata() {
    let a = store().await;
    let b = store().await;
    let small = Bytes::from_static(b"small but rich");
    a.put_object("c", "src", small.clone().into(), &rich_options()).await.unwrap();
    // Bigger than the single-request threshold: a multipart upload on the other side.
    let big = Bytes::from((0..20 * 1024 * 1024 + 123).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    a.put_object("c", "big", big.clone().into(), &rich_options()).await.unwrap();

    for (key, data) in [("src", &small), ("big", &big)] {
        let o = copy_object_between(&a, "c", key, &b, "c", &format!("copied/{key}")).await.unwrap();
        assert_eq!(o.size, data.len() as u64);
        let head = b.head_object("c", &format!("copied/{key}")).await.unwrap();
        let src = a.head_object("c", key).await.unwrap();
        assert_eq!(head.content_type, src.content_type);
        assert_eq!(head.content_encoding, src.content_encoding);
        assert_eq!(head.cache_control, src.cache_control);
        assert_eq!(head.content_disposition, src.content_disposition);
        assert_eq!(head.metadata, src.metadata);
        assert_eq!(head.metadata.get("owner").map(String::as_str), Some("alice"));
        assert_eq!(&b.get_bytes("c", &format!("copied/{key}")).await.unwrap(), data);
    }
    let e = copy_object_between(&a, "c", "missing", &b, "c", "x").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectDoesNotExist);
    let e = a.copy_object_between("c", "src", &b, "no-such-container", "x").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ContainerDoesNotExist);
}

#[tokio::test]
async fn tree_same_driver_copy_is_server_side() {
    let d = Arc::new(Counting::new(1000, true));
    d.create_container("c").await.unwrap();
    d.create_container("c2").await.unwrap();
    d.put_object("c", "k", "data".into(), &rich_options()).await.unwrap();
    let as_dyn: Arc<dyn Driver> = d.clone();
    let other_handle: Arc<dyn Driver> = d.clone();
    // The same instance, seen through two Arcs and two types.
    copy_object_between(as_dyn.as_ref(), "c", "k", other_handle.as_ref(), "c", "k2").await.unwrap();
    copy_object_between(d.as_ref(), "c", "k", as_dyn.as_ref(), "c2", "k").await.unwrap();
    assert_eq!(d.copies.load(AtomicOrdering::SeqCst), 2);
    assert_eq!(d.gets.load(AtomicOrdering::SeqCst), 0, "no data went through the client");
    assert_eq!(d.head_object("c2", "k").await.unwrap().metadata.get("owner").map(String::as_str), Some("alice"));
    // Onto itself: nothing happens.
    let o = as_dyn.copy_object_between("c", "k", d.as_ref(), "c", "k").await.unwrap();
    assert_eq!(o.size, 4);
    assert_eq!(d.copies.load(AtomicOrdering::SeqCst), 2);

    // Two instances (even of the same type) stream.
    let e = Counting::new(1000, true);
    e.create_container("c").await.unwrap();
    copy_object_between(d.as_ref(), "c", "k", &e, "c", "k").await.unwrap();
    assert_eq!(d.copies.load(AtomicOrdering::SeqCst) + e.copies.load(AtomicOrdering::SeqCst), 2);
    assert_eq!(d.gets.load(AtomicOrdering::SeqCst), 1);

    // A driver without server-side copy streams within itself.
    let n = Counting::new(1000, false);
    n.create_container("c").await.unwrap();
    n.put_object("c", "k", "data".into(), &rich_options()).await.unwrap();
    let o = copy_object_between(&n, "c", "k", &n, "c", "k2").await.unwrap();
    assert_eq!((o.size, n.gets.load(AtomicOrdering::SeqCst)), (4, 1));
    assert_eq!(n.head_object("c", "k2").await.unwrap().content_type.as_deref(), Some("application/x-special"));
}

#[tokio::test]
async fn tree_copy_tree_within_and_across_drivers() {
    let src = awkward_tree();
    let d = Arc::new(Counting::new(1000, true));
    d.create_container("c").await.unwrap();
    d.upload_dir(src.path(), "c", "a", &opts()).await.unwrap();
    let dynd: Arc<dyn Driver> = d.clone();

    // Within one driver: server-side, filtered.
    let options = opts().with_filter(Filter::exclude(&["sub"]).unwrap());
    let r = dynd.copy_tree("c", "a", d.as_ref(), "c", "copy", &options).await.unwrap();
    assert!(r.is_ok(), "{:?}", r.failed);
    assert_eq!((r.objects, r.filtered), (4, 3));
    assert_eq!(d.copies.load(AtomicOrdering::SeqCst), 4);
    assert_eq!(keys(d.as_ref(), "copy/").await.len(), 4);

    // Overlapping: a/ into a/nested/ copies each object once and ends.
    let r = copy_tree(d.as_ref(), "c", "a", d.as_ref(), "c", "a/nested", &opts()).await.unwrap();
    assert_eq!(r.objects, 7);
    assert_eq!(keys(d.as_ref(), "a/").await.len(), 14);

    // To another driver: streamed, everything preserved.
    let m = store().await;
    m.put_object("c", "dst/plain.txt", "already".into(), &PutOptions::default()).await.unwrap();
    let r = copy_tree(d.as_ref(), "c", "a/nested", &m, "c", "dst", &opts().with_overwrite(false)).await.unwrap();
    assert_eq!((r.objects, r.skipped), (6, 1));
    assert_eq!(m.get_bytes("c", "dst/plain.txt").await.unwrap(), "already");
    assert_eq!(m.get_bytes("c", "dst/with space.txt").await.unwrap(), "spaced out");
    assert_eq!(m.head_object("c", "dst/sub/dir/deep.png").await.unwrap().content_type.as_deref(), Some("image/png"));
    let e = copy_tree(d.as_ref(), "missing", "", &m, "c", "", &opts()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ContainerDoesNotExist);
}

/// A driver whose containers vanish between the listing of containers and their own
/// listing (another client deleting them), as on a busy shared server.
#[derive(Debug)]
struct Vanishing {
    inner: MemoryDriver,
    gone: Vec<String>,
}

#[async_trait]
impl crate::layer::Layer for Vanishing {
    fn inner(&self) -> &dyn Driver {
        &self.inner
    }
    fn info(&self) -> &DriverInfo {
        self.inner.info()
    }
    async fn list_page(
        &self,
        container: &str,
        options: &ListOptions,
        token: Option<String>,
    ) -> Result<crate::Page<ListEntry>> {
        if self.gone.iter().any(|g| g == container) {
            return Err(Error::new(ErrorKind::ContainerDoesNotExist, format!("{container} was deleted")));
        }
        self.inner.list_page(container, options, token).await
    }
}

async fn two_containers() -> MemoryDriver {
    let m = MemoryDriver::new();
    for (c, keys) in [("alpha", &[("x", 3usize), ("d/y", 4)][..]), ("beta", &[("z", 10)][..]), ("empty", &[][..])] {
        m.create_container(c).await.unwrap();
        for (k, n) in keys {
            m.put_object(c, k, vec![1u8; *n].into(), &PutOptions::default()).await.unwrap();
        }
    }
    m
}

#[tokio::test]
async fn space_used_all_sums_every_container() {
    let m = two_containers().await;
    let all = m.space_used_all().await.unwrap();
    let rows: Vec<(&str, Usage)> = all.containers.iter().map(|c| (c.container.as_str(), c.usage)).collect();
    assert_eq!(
        rows,
        [
            ("alpha", Usage { objects: 2, bytes: 7 }),
            ("beta", Usage { objects: 1, bytes: 10 }),
            ("empty", Usage { objects: 0, bytes: 0 })
        ]
    );
    assert_eq!(all.total, Usage { objects: 3, bytes: 17 });
    assert_eq!(MemoryDriver::new().space_used_all().await.unwrap(), BackendUsage::default());
    // Lazily: the first container's usage without the others'.
    let first = m.usage_by_container().next().await.unwrap().unwrap();
    assert_eq!(first.container, "alpha");
}

#[tokio::test]
async fn usage_leaves_out_containers_deleted_meanwhile() {
    let v = Vanishing { inner: two_containers().await, gone: vec!["beta".into()] };
    let all = v.space_used_all().await.unwrap();
    let names: Vec<&str> = all.containers.iter().map(|c| c.container.as_str()).collect();
    assert_eq!(names, ["alpha", "empty"]);
    assert_eq!(all.total, Usage { objects: 2, bytes: 7 });
    let sized = v.listdir("", "", &ListdirOptions { sizes: true, ..Default::default() }).await.unwrap();
    assert_eq!(names_of(&sized), ["alpha/", "empty/"]);
    // Unsized, nothing reads the containers: all three are listed.
    assert_eq!(names_of(&v.listdir("", "", &ListdirOptions::default()).await.unwrap()), ["alpha/", "beta/", "empty/"]);
}

fn names_of(entries: &[DirEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.name.as_str()).collect()
}

#[tokio::test]
async fn listdir_of_the_root_lists_containers() {
    let m = two_containers().await;
    let plain = m.listdir("", "", &ListdirOptions::default()).await.unwrap();
    assert_eq!(names_of(&plain), ["alpha/", "beta/", "empty/"]);
    let a = &plain[0];
    assert!(a.is_container && a.is_prefix && a.key == "alpha" && a.size == 0 && a.object_count.is_none());
    let sized = ListdirOptions { sizes: true, order: Order::Size, descending: true, max: Some(2) };
    let top = m.listdir("", "", &sized).await.unwrap();
    let rows: Vec<(&str, u64, Option<u64>)> = top.iter().map(|e| (e.name.as_str(), e.size, e.object_count)).collect();
    assert_eq!(rows, [("beta/", 10, Some(1)), ("alpha/", 7, Some(2))]);
    assert_eq!(top[0].last_modified, m.head_object("beta", "z").await.unwrap().last_modified);
    let cut = m.listdir("", "", &ListdirOptions { max: Some(1), ..Default::default() }).await.unwrap();
    assert_eq!(names_of(&cut), ["alpha/"]);
    assert_eq!(
        m.listdir("", "d", &ListdirOptions::default()).await.unwrap_err().kind(),
        ErrorKind::InvalidContainerName,
        "a prefix without a container is refused"
    );
}

/// A source whose GET bodies arrive with their first byte flipped (damaged on the way),
/// while the object still reports the MD5 of its real bytes.
#[derive(Debug)]
struct Flipping(MemoryDriver);

#[async_trait]
impl crate::layer::Layer for Flipping {
    fn inner(&self) -> &dyn Driver {
        &self.0
    }
    async fn get_object(&self, c: &str, k: &str, o: &GetOptions) -> Result<GetResult> {
        use futures::StreamExt;
        let mut res = self.0.get_object(c, k, o).await?;
        let mut first = true;
        res.body = res
            .body
            .map(move |chunk| {
                chunk.map(|b| {
                    if std::mem::take(&mut first) && !b.is_empty() {
                        let mut v = b.to_vec();
                        v[0] ^= 1;
                        Bytes::from(v)
                    } else {
                        b
                    }
                })
            })
            .boxed();
        Ok(res)
    }
}

/// A copy whose data arrives damaged fails before it replaces anything: the source's MD5
/// goes with the upload and is checked before the write commits, so the destination
/// keeps its old object (it used to be replaced by the damaged copy, then deleted).
#[tokio::test]
async fn tree_a_copy_damaged_on_the_way_leaves_the_destination_as_it_was() {
    let a = Flipping(store().await);
    let b = store().await;
    let small = Bytes::from_static(b"small source object");
    let big = Bytes::from((0..20 * 1024 * 1024 + 7).map(|i| (i % 253) as u8).collect::<Vec<u8>>());
    a.0.put_object("c", "small", small.into(), &PutOptions::default()).await.unwrap();
    a.0.put_object("c", "big", big.into(), &PutOptions::default()).await.unwrap();
    for key in ["small", "big"] {
        assert!(a.head_object("c", key).await.unwrap().md5().is_some(), "the source reports an MD5");
        b.put_object("c", key, "the old destination".into(), &PutOptions::default()).await.unwrap();
        let e = copy_object_between(&a, "c", key, &b, "c", key).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{key}: {e}");
        assert_eq!(b.get_bytes("c", key).await.unwrap(), "the old destination", "{key}: untouched");
        assert!(b.list_multipart_uploads("c", None).await.unwrap().is_empty(), "{key}: no upload left");
    }
}
