//! `download(remote, local_dir, decompress=true)` on every backend: archives made by real
//! tools (`tar czf`, `tar cf`, `gzip`, Python's zipfile) extracted on the way down, and
//! hostile ones (`..` names, absolute names, links, a gzip bomb, truncated data) refused
//! with typed errors, nothing written outside the directory nor left half-written in it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use storage::ops::{ArchiveFormat, CODE_ARCHIVE_BOMB, CODE_ARCHIVE_CORRUPT, CODE_ARCHIVE_UNSUPPORTED};
use storage::zip::ZipLimits;
use storage::{DecompressOptions, Driver, DriverExt, ErrorKind, Progress, PutOptions, TransferOptions};

fn sh(dir: &Path, script: &str) {
    let out = Command::new("sh").arg("-c").arg(script).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
}

fn python(dir: &Path, script: &str) {
    let out = Command::new("python3").arg("-c").arg(script).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Bytes that do not compress much.
fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The archives, made by real tools in `dir`, and the tree they hold.
struct Fixtures {
    dir: PathBuf,
    big: Vec<u8>,
}

impl Fixtures {
    fn make(dir: &Path) -> Self {
        let big = noise(300_000);
        storage_testkit::write_file(&dir.join("src/results/a.txt"), b"alpha\n");
        storage_testkit::write_file(&dir.join("src/results/sub/b.bin"), &big);
        storage_testkit::write_file(&dir.join("src/top.txt"), b"top\n");
        sh(
            dir,
            "tar czf good.tar.gz -C src results top.txt && tar cf good.tar -C src results top.txt \
             && gzip -c src/results/sub/b.bin > b.bin.gz \
             && head -c 64000000 /dev/zero | gzip -c > bomb.gz \
             && head -c 20000 good.tar.gz > truncated.tar.gz",
        );
        python(
            dir,
            r#"
import io, tarfile, zipfile
with zipfile.ZipFile("good.zip", "w", zipfile.ZIP_DEFLATED) as z:
    z.write("src/results/a.txt", "results/a.txt")
    z.write("src/results/sub/b.bin", "results/sub/b.bin")
    z.write("src/top.txt", "top.txt")
with zipfile.ZipFile("dotdot.zip", "w") as z:
    z.writestr("ok.txt", "fine")
    z.writestr("../evil.txt", "escaped")
def tar(name, members, mode="w"):
    with tarfile.open(name, mode) as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
def reg(name, data):
    i = tarfile.TarInfo(name); i.size = len(data); return (i, data)
def link(name, target, kind):
    i = tarfile.TarInfo(name); i.type = kind; i.linkname = target; return (i, None)
tar("dotdot.tar", [reg("ok.txt", b"fine"), reg("../evil.txt", b"escaped")])
tar("absolute.tar.gz", [reg("ok.txt", b"fine"), reg("/tmp/storage-absolute-evil.txt", b"escaped")], "w:gz")
tar("symlink.tgz", [reg("ok.txt", b"fine"), link("escape", "../../outside", tarfile.SYMTYPE), reg("escape/x.txt", b"through")], "w:gz")
tar("hardlink.tar", [reg("ok.txt", b"fine"), link("passwd", "/etc/passwd", tarfile.LNKTYPE)])
"#,
        );
        Fixtures { dir: dir.to_owned(), big }
    }

    fn bytes(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(name)).unwrap()
    }
}

/// Every file under `root`, relative, with its content; directories as `name/`.
fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(d) = pending.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                out.push((format!("{rel}/"), Vec::new()));
                pending.push(e.path());
            } else {
                out.push((rel, std::fs::read(e.path()).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

#[derive(Default)]
struct Count {
    total: AtomicU64,
    bytes: AtomicU64,
}

impl Progress for Count {
    fn start(&self, total: Option<u64>, _: Option<u64>) {
        self.total.store(total.unwrap_or(0), Ordering::Relaxed);
    }
    fn bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }
}

async fn put(driver: &dyn Driver, bucket: &str, key: &str, data: Vec<u8>) {
    driver.put_object(bucket, key, data.into(), &PutOptions::default()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archives_extract_on_the_way_down_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixtures::make(&dir.path().join("fx"));
    let (storage, names) = common::backends(&dir.path().join("store"));
    let expected_tree = vec![
        ("results/".to_owned(), Vec::new()),
        ("results/a.txt".to_owned(), b"alpha\n".to_vec()),
        ("results/sub/".to_owned(), Vec::new()),
        ("results/sub/b.bin".to_owned(), fx.big.clone()),
        ("top.txt".to_owned(), b"top\n".to_vec()),
    ];
    for name in &names {
        let driver = storage.backend(name).unwrap();
        let bucket = format!("unpack-{}-{name}", std::process::id());
        driver.create_container(&bucket).await.unwrap();
        for file in ["good.tar.gz", "good.tar", "good.zip", "b.bin.gz"] {
            put(driver.as_ref(), &bucket, &format!("runs/1/{file}"), fx.bytes(file)).await;
        }
        put(driver.as_ref(), &bucket, "runs/1/out.TGZ", fx.bytes("good.tar.gz")).await;

        for (key, format) in [
            ("runs/1/good.tar.gz", ArchiveFormat::TarGz),
            ("runs/1/good.tar", ArchiveFormat::Tar),
            ("runs/1/good.zip", ArchiveFormat::Zip),
            ("runs/1/out.TGZ", ArchiveFormat::TarGz),
        ] {
            let out = dir.path().join(format!("out-{name}-{format:?}-{}", key.len()));
            let count = Arc::new(Count::default());
            let options = DecompressOptions {
                transfer: TransferOptions::default().with_progress(count.clone()),
                ..DecompressOptions::default()
            };
            let done = driver.download_into(&bucket, key, &out, &options).await.unwrap();
            assert_eq!(done.format, Some(format), "{name} {key}");
            assert_eq!(tree(&out), expected_tree, "{name} {key}");
            assert_eq!(done.files.len(), 3, "{name} {key}: {:?}", done.files);
            assert_eq!(done.bytes, 6 + 4 + fx.big.len() as u64, "{name} {key}");
            let size = driver.head_object(&bucket, key).await.unwrap().size;
            assert_eq!(count.total.load(Ordering::Relaxed), size, "{name} {key}");
            assert_eq!(count.bytes.load(Ordering::Relaxed), size, "{name} {key}");

            // Again: the files exist, so nothing is replaced without overwrite...
            std::fs::write(out.join("top.txt"), b"mine").unwrap();
            let e = driver.download_into(&bucket, key, &out, &options).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::DestinationExists, "{name} {key}: {e}");
            assert_eq!(std::fs::read(out.join("top.txt")).unwrap(), b"mine", "{name} {key}");
            assert_eq!(tree(&out).len(), expected_tree.len(), "{name} {key}: scratch left behind");
            // ... and everything with it.
            let options = options.clone().with_overwrite(true);
            driver.download_into(&bucket, key, &out, &options).await.unwrap();
            assert_eq!(tree(&out), expected_tree, "{name} {key}");
        }

        // One gzip file: its name without `.gz`.
        let out = dir.path().join(format!("gz-{name}"));
        let done = driver.download_into(&bucket, "runs/1/b.bin.gz", &out, &DecompressOptions::default()).await.unwrap();
        assert_eq!(done.format, Some(ArchiveFormat::Gzip));
        assert_eq!(tree(&out), vec![("b.bin".to_owned(), fx.big.clone())], "{name}");

        // Decompress off: the object as it is.
        let out = dir.path().join(format!("raw-{name}"));
        let options = DecompressOptions::default().with_decompress(false);
        let done = driver.download_into(&bucket, "runs/1/good.tar.gz", &out, &options).await.unwrap();
        assert_eq!(done.format, None);
        assert_eq!(tree(&out), vec![("good.tar.gz".to_owned(), fx.bytes("good.tar.gz"))], "{name}");

        storage::tree::remove_tree(driver.as_ref(), &bucket, "", &Default::default()).await.unwrap();
        driver.delete_container(&bucket).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_archives_are_refused_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixtures::make(&dir.path().join("fx"));
    let (storage, names) = common::backends(&dir.path().join("store"));
    let small = ZipLimits { max_total_size: 8 << 20, ..ZipLimits::default() };
    let steep = ZipLimits { ratio_threshold: 1 << 20, max_ratio: 100, ..ZipLimits::default() };
    let cases: [(&str, &str, ErrorKind, Option<&str>, ZipLimits); 8] = [
        ("dotdot.tar", "x/dotdot.tar", ErrorKind::InvalidObjectName, None, ZipLimits::default()),
        ("absolute.tar.gz", "x/absolute.tar.gz", ErrorKind::InvalidObjectName, None, ZipLimits::default()),
        ("symlink.tgz", "x/symlink.tgz", ErrorKind::Backend, Some(CODE_ARCHIVE_UNSUPPORTED), ZipLimits::default()),
        ("hardlink.tar", "x/hardlink.tar", ErrorKind::Backend, Some(CODE_ARCHIVE_UNSUPPORTED), ZipLimits::default()),
        ("bomb.gz", "x/bomb.gz", ErrorKind::Backend, Some(CODE_ARCHIVE_BOMB), small),
        ("bomb.gz", "x/steep.gz", ErrorKind::Backend, Some(CODE_ARCHIVE_BOMB), steep),
        (
            "truncated.tar.gz",
            "x/truncated.tar.gz",
            ErrorKind::Backend,
            Some(CODE_ARCHIVE_CORRUPT),
            ZipLimits::default(),
        ),
        ("dotdot.zip", "x/dotdot.zip", ErrorKind::InvalidObjectName, None, ZipLimits::default()),
    ];
    for name in &names {
        let driver = storage.backend(name).unwrap();
        let bucket = format!("hostile-{}-{name}", std::process::id());
        driver.create_container(&bucket).await.unwrap();
        for (file, key, kind, code, limits) in &cases {
            put(driver.as_ref(), &bucket, key, fx.bytes(file)).await;
            // The directory sits two levels down, so `../../outside` and `../evil.txt`
            // would land in directories the test watches.
            let watched = dir.path().join(format!("w-{name}-{file}-{}", key.len()));
            let out = watched.join("inner/out");
            std::fs::create_dir_all(&out).unwrap();
            std::fs::write(out.join("keep.txt"), b"mine").unwrap();
            let options = DecompressOptions::default().with_limits(*limits);
            let e = driver.download_into(&bucket, key, &out, &options).await.unwrap_err();
            assert_eq!(e.kind(), *kind, "{name} {key}: {e}");
            assert_eq!(e.provider_code(), *code, "{name} {key}: {e}");
            // Nothing extracted (not even the innocent member before the hostile one),
            // no scratch or temporary file left, nothing outside.
            assert_eq!(tree(&out), vec![("keep.txt".to_owned(), b"mine".to_vec())], "{name} {key}");
            assert_eq!(tree(&watched).len(), 3, "{name} {key}: {:?}", tree(&watched));
        }
        assert!(!Path::new("/tmp/storage-absolute-evil.txt").exists());
        storage::tree::remove_tree(driver.as_ref(), &bucket, "", &Default::default()).await.unwrap();
        driver.delete_container(&bucket).await.unwrap();
    }
}

#[tokio::test]
async fn a_symlink_in_the_destination_is_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixtures::make(&dir.path().join("fx"));
    let store = storage::MemoryDriver::new();
    store.create_container("c").await.unwrap();
    put(&store, "c", "good.tar.gz", fx.bytes("good.tar.gz")).await;
    let out = dir.path().join("out");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("results")).unwrap();
    let e = store.download_into("c", "good.tar.gz", &out, &DecompressOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidObjectName, "{e}");
    assert!(tree(&elsewhere).is_empty());
    assert_eq!(tree(&out).len(), 1, "{:?}", tree(&out)); // the link only
}

#[tokio::test]
async fn names_that_are_not_archives_or_have_no_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let store = storage::MemoryDriver::new();
    store.create_container("c").await.unwrap();
    put(&store, "c", "notes.txt", b"plain".to_vec()).await;
    put(&store, "c", "d/.gz", b"x".to_vec()).await;
    let out = dir.path().join("out");
    let done = store.download_into("c", "notes.txt", &out, &DecompressOptions::default()).await.unwrap();
    assert_eq!((done.format, done.files.clone()), (None, vec![out.join("notes.txt")]));
    let e = store.download_into("c", "d/.gz", &out, &DecompressOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidObjectName, "{e}");
    // A gzip object that is not gzip data: corrupt, nothing written.
    put(&store, "c", "fake.gz", b"not gzip at all".to_vec()).await;
    let e = store.download_into("c", "fake.gz", &out, &DecompressOptions::default()).await.unwrap_err();
    assert_eq!(e.provider_code(), Some(CODE_ARCHIVE_CORRUPT), "{e}");
    assert_eq!(tree(&out), vec![("notes.txt".to_owned(), b"plain".to_vec())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_download_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    storage_testkit::write_file(&dir.path().join("src/big/one.bin"), &noise(24 << 20));
    storage_testkit::write_file(&dir.path().join("src/big/two.bin"), &noise(1 << 20));
    sh(dir.path(), "tar cf big.tar -C src big");
    let store = storage::MemoryDriver::new();
    store.create_container("c").await.unwrap();
    put(&store, "c", "big.tar", std::fs::read(dir.path().join("big.tar")).unwrap()).await;
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let options = DecompressOptions::default();
    let run = store.download_into("c", "big.tar", &out, &options);
    let finished = tokio::time::timeout(std::time::Duration::from_millis(20), run).await;
    // Give the extracting task time to notice and stop.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    match finished {
        Ok(done) => assert_eq!(done.unwrap().files.len(), 2, "finished within the timeout: all there"),
        Err(_) => {
            assert!(tree(&out).is_empty(), "cancelled: {:?}", tree(&out).iter().map(|e| &e.0).collect::<Vec<_>>())
        }
    }
}
