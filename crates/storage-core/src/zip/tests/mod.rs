//! Tests of the remote ZIP reader against MemoryDriver: fixtures made by Python's zipfile
//! and Info-ZIP's `zip` (conformance/fixtures, see make_fixtures.py), and hostile
//! archives built here.

mod builder;
mod contents;

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::NaiveDate;

use self::builder::{Builder, Member};
use super::*;
use crate::options::{GetOptions, PutOptions};
use crate::payload::GetResult;
use crate::{DriverExt, MemoryDriver};

const PYTHON: &[u8] = include_bytes!("../../../../../conformance/fixtures/python.zip");
const PYTHON_STREAMED: &[u8] = include_bytes!("../../../../../conformance/fixtures/python_streamed.zip");
const PYTHON_ZIP64: &[u8] = include_bytes!("../../../../../conformance/fixtures/python_zip64.zip");
const CLI: &[u8] = include_bytes!("../../../../../conformance/fixtures/cli.zip");
const CLI_ZIP64: &[u8] = include_bytes!("../../../../../conformance/fixtures/cli_zip64.zip");
const CLI_SYMLINK: &[u8] = include_bytes!("../../../../../conformance/fixtures/cli_symlink.zip");
const HOSTILE_NAMES: &[u8] = include_bytes!("../../../../../conformance/fixtures/hostile_names.zip");
const MANY_GZ: &[u8] = include_bytes!("../../../../../conformance/fixtures/many_entries.zip.gz");

// The contents make_fixtures.py writes.
const STORED: &[u8] = b"Stored, not compressed.\n";
fn deflate_text() -> Vec<u8> {
    b"The quick brown fox jumps over the lazy dog.\n".repeat(200)
}
fn binary() -> Vec<u8> {
    (0..=255u8).collect::<Vec<u8>>().repeat(16)
}

const C: &str = "c";
const K: &str = "archive.zip";

/// A MemoryDriver that counts the reads and bytes of `get_object`; every method delegates.
#[derive(Debug, Default)]
struct Counting {
    inner: MemoryDriver,
    gets: AtomicU64,
    bytes: AtomicU64,
}

impl Counting {
    fn reset(&self) {
        self.gets.store(0, Ordering::SeqCst);
        self.bytes.store(0, Ordering::SeqCst);
    }
    fn reads(&self) -> (u64, u64) {
        (self.gets.load(Ordering::SeqCst), self.bytes.load(Ordering::SeqCst))
    }
}

#[async_trait]
impl crate::layer::Layer for Counting {
    fn inner(&self) -> &dyn Driver {
        &self.inner
    }
    async fn get_object(&self, container: &str, key: &str, options: &GetOptions) -> Result<GetResult> {
        let res = self.inner.get_object(container, key, options).await?;
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.bytes.fetch_add(res.range.end - res.range.start, Ordering::SeqCst);
        Ok(res)
    }
}

async fn store(data: &[u8]) -> Counting {
    let d = Counting::default();
    d.create_container(C).await.unwrap();
    d.put_object(C, K, data.to_vec().into(), &PutOptions::default()).await.unwrap();
    d.reset();
    d
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data).read_to_end(&mut out).unwrap();
    out
}

fn find<'a>(entries: &'a [ZipEntry], name: &str) -> &'a ZipEntry {
    entries.iter().find(|e| e.name == name).unwrap_or_else(|| panic!("no member {name:?} in {entries:?}"))
}

async fn extract_vec<D: Driver + ?Sized>(d: &D, entry: &ZipEntry) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let n = extract(d, C, K, entry, &mut out).await?;
    assert_eq!(n, out.len() as u64);
    Ok(out)
}

fn names(entries: &[ZipEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.name.as_str()).collect()
}

/// Every path under `root`, relative, sorted (directories end in `/`).
fn tree(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                out.push(format!("{rel}/"));
                walk(root, &p, out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn code(e: &Error) -> Option<&str> {
    e.provider_code()
}

#[track_caller]
fn assert_backend(e: &Error, want: &str) {
    assert_eq!((e.kind(), code(e)), (ErrorKind::Backend, Some(want)), "{e}");
}

// ---- listing -------------------------------------------------------------------------

#[tokio::test]
async fn zip_lists_python_fixture() {
    let d = store(PYTHON).await;
    let entries = list(&d, C, K).await.unwrap();
    assert_eq!(
        names(&entries),
        [
            "stored.txt",
            "deflate.txt",
            "binary.bin",
            "tree/",
            "tree/a.txt",
            "tree/sub/",
            "tree/sub/b.txt",
            "tree/sub/deeper/c.txt",
            "tree/empty/",
            "unicode/h\u{e9}llo w\u{f6}rld \u{2713}.txt",
            "unicode/\u{65e5}\u{672c}\u{8a9e}.txt",
        ]
    );
    let s = find(&entries, "stored.txt");
    assert_eq!((s.method, s.compressed_size, s.uncompressed_size, s.is_dir), (ZipMethod::Stored, 24, 24, false));
    assert_eq!(s.crc32, crc32fast::hash(STORED));
    assert_eq!(s.local_header_offset, 0);
    let expected = NaiveDate::from_ymd_opt(2024, 5, 17).unwrap().and_hms_opt(12, 34, 56).unwrap();
    assert_eq!(s.modified, Some(expected));
    let f = find(&entries, "deflate.txt");
    assert_eq!((f.method, f.uncompressed_size), (ZipMethod::Deflate, 9000));
    assert!(f.compressed_size < 200, "{f:?}");
    assert!(f.local_header_offset > 0);
    assert!(find(&entries, "tree/").is_dir);
    assert!(find(&entries, "tree/empty/").is_dir);
    // The whole archive is inside the tail: one range read.
    assert_eq!(d.reads(), (1, PYTHON.len() as u64));
}

#[tokio::test]
async fn zip_lists_cli_fixture_with_unix_utf8_names() {
    let d = store(CLI).await;
    let entries = list(&d, C, K).await.unwrap();
    assert_eq!(
        names(&entries),
        [
            "docs/",
            "docs/readme.txt",
            "docs/notes/",
            "docs/notes/todo.txt",
            "docs/empty/",
            "random.bin",
            "\u{fc}n\u{ef} \u{2713}.txt"
        ]
    );
    let r = find(&entries, "random.bin");
    assert_eq!((r.method, r.compressed_size, r.uncompressed_size), (ZipMethod::Stored, 2000, 2000));
    assert_eq!(find(&entries, "docs/readme.txt").method, ZipMethod::Deflate);
}

#[tokio::test]
async fn zip_lists_zip64_fixtures() {
    // `zip -fz`: ZIP64 extra fields in the central directory, ZIP64 end record.
    let d = store(CLI_ZIP64).await;
    let entries = list(&d, C, K).await.unwrap();
    assert_eq!(names(&entries), ["z64/", "z64/hello.txt", "z64/lorem.txt"]);
    let l = find(&entries, "z64/lorem.txt");
    assert_eq!((l.method, l.uncompressed_size), (ZipMethod::Deflate, 9000));
    assert_eq!(extract_vec(&d, l).await.unwrap(), deflate_text());
    assert_eq!(extract_vec(&d, find(&entries, "z64/hello.txt")).await.unwrap(), b"hello, zip64\n");

    // zipfile with force_zip64: ZIP64 extra fields in the local headers.
    let d = store(PYTHON_ZIP64).await;
    let entries = list(&d, C, K).await.unwrap();
    assert_eq!(names(&entries), ["z64/deflate.txt", "z64/stored.txt"]);
    assert_eq!(extract_vec(&d, &entries[0]).await.unwrap(), deflate_text());
    assert_eq!(extract_vec(&d, &entries[1]).await.unwrap(), STORED);
}

#[tokio::test]
async fn zip_lists_more_than_65535_entries_reading_tail_and_directory_only() {
    let archive = gunzip(MANY_GZ);
    let d = store(&archive).await;
    let entries = list(&d, C, K).await.unwrap();
    assert_eq!(entries.len(), 65_536);
    assert_eq!(entries[0].name, "0000");
    assert_eq!(entries[65_535].name, "ffff");
    assert_eq!(entries[65_535].local_header_offset, 65_535 * 34);
    // Tail + central directory (65 536 headers of 46 + 4 bytes); no local header is read.
    let cd_size = 65_536 * 50;
    assert_eq!(d.reads(), (2, MAX_TAIL + cd_size));
    assert!(MAX_TAIL + cd_size < archive.len() as u64);
    d.reset();
    assert_eq!(extract_vec(&d, &entries[40_000]).await.unwrap(), b"");
    assert_eq!(d.reads(), (1, 30));
}

#[tokio::test]
async fn zip_listing_a_large_archive_reads_only_its_tail() {
    let big: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 251) as u8).collect();
    let mut members = vec![Member::stored("big.bin", &big)];
    members.extend((0..20).map(|i| Member::deflated(&format!("small/{i}.txt"), format!("{i}").as_bytes())));
    let archive = Builder::new(members).build();
    let d = store(&archive).await;
    let entries = list(&d, C, K).await.unwrap();
    assert_eq!(entries.len(), 21);
    assert_eq!(d.reads(), (1, MAX_TAIL));
    d.reset();
    let data = extract_vec(&d, &entries[0]).await.unwrap();
    assert!(data == big);
    // The local header, then exactly the member's data.
    assert_eq!(d.reads(), (2, 30 + big.len() as u64));
}

#[tokio::test]
async fn zip_comment_with_a_fake_end_record_does_not_mislead() {
    let mut b = Builder::new(vec![Member::stored("a.txt", b"a")]);
    // A comment holding an end-record signature followed by garbage.
    b.comment = [&b"PK\x05\x06"[..], &[0xFF; 18], b"tail"].concat();
    let d = store(&b.build()).await;
    let entries = list(&d, C, K).await.unwrap();
    assert_eq!(names(&entries), ["a.txt"]);
    assert_eq!(extract_vec(&d, &entries[0]).await.unwrap(), b"a");
}

#[tokio::test]
async fn zip_builder_zip64_records_and_extra_fields() {
    let mut members =
        vec![Member::dir("x/"), Member::deflated("x/deflate.txt", &deflate_text()), Member::stored("x/s.txt", b"s")];
    for m in &mut members {
        m.zip64 = true;
    }
    let mut b = Builder::new(members);
    b.zip64_end = true;
    b.comment = vec![b'c'; 4000];
    let d = store(&b.build()).await;
    let entries = list(&d, C, K).await.unwrap();
    assert_eq!(names(&entries), ["x/", "x/deflate.txt", "x/s.txt"]);
    assert!(entries[0].is_dir);
    assert_eq!(extract_vec(&d, &entries[1]).await.unwrap(), deflate_text());
    assert_eq!(extract_vec(&d, &entries[2]).await.unwrap(), b"s");
    let root = tempfile::tempdir().unwrap();
    extract_to_dir(&d, C, K, "x", root.path()).await.unwrap();
    assert_eq!(tree(root.path()), ["x/", "x/deflate.txt", "x/s.txt"]);
}

#[tokio::test]
async fn zip_cp437_names() {
    // MS-DOS host, no UTF-8 flag: code page 437.
    let m = Member::stored("x", b"x").raw_name(&[b'c', 0x82, b'.', b't', 0x94], 0, 20);
    let d = store(&Builder::new(vec![m]).build()).await;
    assert_eq!(list(&d, C, K).await.unwrap()[0].name, "c\u{e9}.t\u{f6}");
}

#[tokio::test]
async fn zip_empty_archive_lists_nothing() {
    let d = store(&Builder::default().build()).await;
    assert!(list(&d, C, K).await.unwrap().is_empty());
    let dir = tempfile::tempdir().unwrap();
    let e = extract_to_dir(&d, C, K, "", dir.path()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectDoesNotExist, "{e}");
}

// ---- extraction ----------------------------------------------------------------------

#[tokio::test]
async fn zip_extracts_stored_and_deflate_members() {
    let d = store(PYTHON).await;
    let entries = list(&d, C, K).await.unwrap();
    assert_eq!(extract_vec(&d, find(&entries, "stored.txt")).await.unwrap(), STORED);
    assert_eq!(extract_vec(&d, find(&entries, "deflate.txt")).await.unwrap(), deflate_text());
    assert_eq!(extract_vec(&d, find(&entries, "binary.bin")).await.unwrap(), binary());
    assert_eq!(extract_vec(&d, find(&entries, "tree/sub/deeper/c.txt")).await.unwrap(), b"charlie\n".repeat(50));
    assert_eq!(extract_vec(&d, find(&entries, "unicode/\u{65e5}\u{672c}\u{8a9e}.txt")).await.unwrap(), b"nihongo\n");
    assert_eq!(extract_vec(&d, find(&entries, "tree/")).await.unwrap(), b"");

    let d = store(CLI).await;
    let entries = list(&d, C, K).await.unwrap();
    assert_eq!(extract_vec(&d, find(&entries, "docs/readme.txt")).await.unwrap(), deflate_text());
    assert_eq!(extract_vec(&d, find(&entries, "random.bin")).await.unwrap().len(), 2000);
    assert_eq!(extract_vec(&d, find(&entries, "\u{fc}n\u{ef} \u{2713}.txt")).await.unwrap(), b"utf-8 name, no flag\n");
}

#[tokio::test]
async fn zip_extracts_members_written_with_data_descriptors() {
    let d = store(PYTHON_STREAMED).await;
    let entries = list(&d, C, K).await.unwrap();
    assert_eq!(names(&entries), ["streamed/deflate.txt", "streamed/stored.txt"]);
    assert_eq!(extract_vec(&d, &entries[0]).await.unwrap(), deflate_text());
    assert_eq!(extract_vec(&d, &entries[1]).await.unwrap(), STORED);
}

#[tokio::test]
async fn zip_extract_to_dir_folder_file_and_whole_archive() {
    let d = store(PYTHON).await;
    let root = tempfile::tempdir().unwrap();

    let dest = root.path().join("folder");
    let written = extract_to_dir(&d, C, K, "tree/", &dest).await.unwrap();
    let rel: Vec<String> =
        written.iter().map(|p| p.strip_prefix(&dest).unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(rel, ["tree", "tree/a.txt", "tree/sub", "tree/sub/b.txt", "tree/sub/deeper/c.txt", "tree/empty"]);
    assert_eq!(
        tree(&dest),
        [
            "tree/",
            "tree/a.txt",
            "tree/empty/",
            "tree/sub/",
            "tree/sub/b.txt",
            "tree/sub/deeper/",
            "tree/sub/deeper/c.txt"
        ]
    );
    assert_eq!(std::fs::read(dest.join("tree/sub/deeper/c.txt")).unwrap(), b"charlie\n".repeat(50));
    assert_eq!(std::fs::read(dest.join("tree/a.txt")).unwrap(), b"alpha\n");

    // A folder named without its slash, and one with no directory entry of its own.
    let dest = root.path().join("noslash");
    extract_to_dir(&d, C, K, "tree/sub", &dest).await.unwrap();
    assert_eq!(tree(&dest), ["tree/", "tree/sub/", "tree/sub/b.txt", "tree/sub/deeper/", "tree/sub/deeper/c.txt"]);
    let dest = root.path().join("implicit");
    extract_to_dir(&d, C, K, "tree/sub/deeper", &dest).await.unwrap();
    assert_eq!(tree(&dest), ["tree/", "tree/sub/", "tree/sub/deeper/", "tree/sub/deeper/c.txt"]);

    // One file.
    let dest = root.path().join("file");
    let written = extract_to_dir(&d, C, K, "deflate.txt", &dest).await.unwrap();
    assert_eq!(written, [dest.join("deflate.txt")]);
    assert_eq!(std::fs::read(&written[0]).unwrap(), deflate_text());

    // Everything; existing files are replaced.
    let dest = root.path().join("all");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(dest.join("stored.txt"), b"old").unwrap();
    let written = extract_to_dir(&d, C, K, "", &dest).await.unwrap();
    assert_eq!(written.len(), 11);
    assert_eq!(std::fs::read(dest.join("stored.txt")).unwrap(), STORED);
    assert_eq!(std::fs::read(dest.join("unicode/h\u{e9}llo w\u{f6}rld \u{2713}.txt")).unwrap(), b"unicode\n");
    assert_eq!(std::fs::read(dest.join("binary.bin")).unwrap(), binary());

    // Missing members.
    for missing in ["nope", "tre", "tree/a.tx", "nope/"] {
        let e = extract_to_dir(&d, C, K, missing, &root.path().join("missing")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ObjectDoesNotExist, "{missing}: {e}");
    }
    assert!(!root.path().join("missing").exists());
    // No temporary file left anywhere.
    assert!(tree(root.path()).iter().all(|p| !p.contains("storage-tmp")), "{:?}", tree(root.path()));
}

#[tokio::test]
async fn zip_extract_to_dir_cli_fixture_with_empty_folder() {
    let d = store(CLI).await;
    let root = tempfile::tempdir().unwrap();
    extract_to_dir(&d, C, K, "docs", root.path()).await.unwrap();
    assert_eq!(tree(root.path()), ["docs/", "docs/empty/", "docs/notes/", "docs/notes/todo.txt", "docs/readme.txt"]);
    assert_eq!(std::fs::read(root.path().join("docs/notes/todo.txt")).unwrap(), b"- write tests\n- ship\n");
}

#[tokio::test]
async fn zip_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let d: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
    let e = ZipEntry {
        name: "a".into(),
        compressed_size: 0,
        uncompressed_size: 0,
        modified: None,
        method: ZipMethod::Stored,
        crc32: 0,
        local_header_offset: 0,
        is_dir: false,
    };
    let mut out = Vec::new();
    assert_send(&list(d.as_ref(), C, K));
    assert_send(&extract(d.as_ref(), C, K, &e, &mut out));
    assert_send(&extract_to_dir(d.as_ref(), C, K, "", Path::new("x")));
}

// ---- hostile and corrupt archives ----------------------------------------------------

/// Extracts `member` into `root/dest` expecting an error; checks nothing was written
/// under `root` but, at most, the empty destination directory.
async fn expect_refused(d: &Counting, member: &str) -> Error {
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("dest");
    let e = extract_to_dir(d, C, K, member, &dest).await.unwrap_err();
    let left = tree(root.path());
    assert!(left.is_empty() || left == ["dest/"], "{left:?} after {e}");
    e
}

/// Like [`expect_refused`], for errors found before anything is written: not even the
/// destination is created.
async fn expect_refused_upfront(d: &Counting, member: &str) -> Error {
    let root = tempfile::tempdir().unwrap();
    let e = extract_to_dir(d, C, K, member, &root.path().join("dest")).await.unwrap_err();
    assert_eq!(tree(root.path()), Vec::<String>::new(), "{e}");
    e
}

#[tokio::test]
async fn zip_hostile_names_are_rejected_before_writing() {
    let d = store(HOSTILE_NAMES).await;
    let entries = list(&d, C, K).await.unwrap();
    assert_eq!(
        names(&entries),
        ["fine.txt", "../evil.txt", "/abs.txt", "C:/drive.txt", "dir\\back.txt", "ok/../../up.txt"]
    );
    for member in ["", "../evil.txt", "/abs.txt", "C:/drive.txt", "dir\\back.txt", "ok/../../up.txt", "ok/"] {
        let e = expect_refused_upfront(&d, member).await;
        assert_eq!(e.kind(), ErrorKind::InvalidObjectName, "{member}: {e}");
        assert_eq!((e.container(), e.key()), (Some(C), Some(K)));
    }
    // The harmless member alone is fine.
    let root = tempfile::tempdir().unwrap();
    extract_to_dir(&d, C, K, "fine.txt", root.path()).await.unwrap();
    assert_eq!(tree(root.path()), ["fine.txt"]);

    // Names only a hand-made archive can hold.
    for bad in [&b"a\0b"[..], b"\\\\server\\x", b"c:evil", b"a/../../../etc/passwd", b"//abs"] {
        let m = Member::stored("x", b"x").raw_name(bad, 0, 3 << 8);
        let d = store(&Builder::new(vec![Member::stored("ok.txt", b"ok"), m]).build()).await;
        let e = expect_refused_upfront(&d, "").await;
        assert_eq!(e.kind(), ErrorKind::InvalidObjectName, "{bad:?}: {e}");
    }
}

#[tokio::test]
async fn zip_symlink_members_are_refused() {
    let d = store(CLI_SYMLINK).await;
    let entries = list(&d, C, K).await.unwrap();
    assert_eq!(names(&entries), ["ln/", "ln/link", "ln/target.txt", "ln/escape"]);
    for member in ["", "ln", "ln/escape", "ln/link"] {
        let e = expect_refused_upfront(&d, member).await;
        assert_backend(&e, CODE_UNSUPPORTED);
        assert!(e.message().contains("symbolic link"), "{e}");
    }
    let root = tempfile::tempdir().unwrap();
    extract_to_dir(&d, C, K, "ln/target.txt", root.path()).await.unwrap();
    assert_eq!(tree(root.path()), ["ln/", "ln/target.txt"]);
}

#[cfg(unix)]
#[tokio::test]
async fn zip_never_writes_through_a_symlink_in_dest() {
    let d = store(&Builder::new(vec![Member::stored("link/evil.txt", b"evil")]).build()).await;
    let root = tempfile::tempdir().unwrap();
    let outside = root.path().join("outside");
    let dest = root.path().join("dest");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(&dest).unwrap();
    std::os::unix::fs::symlink(&outside, dest.join("link")).unwrap();
    let e = extract_to_dir(&d, C, K, "", &dest).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidObjectName, "{e}");
    assert_eq!(tree(&outside), Vec::<String>::new());
}

#[tokio::test]
async fn zip_bomb_lying_uncompressed_size() {
    let zeros = vec![0u8; 1 << 20];
    let mut m = Member::deflated("bomb.bin", &zeros);
    m.declared_size = Some(1000);
    let d = store(&Builder::new(vec![Member::stored("ok.txt", b"ok"), m]).build()).await;
    let entries = list(&d, C, K).await.unwrap();
    let mut out = Vec::new();
    let e = extract(&d, C, K, &entries[1], &mut out).await.unwrap_err();
    assert_backend(&e, CODE_BOMB);
    assert!(out.len() <= 1000, "{} bytes written", out.len());
    assert!(e.message().contains("bomb.bin"), "{e}");

    let root = tempfile::tempdir().unwrap();
    let e = extract_to_dir(&d, C, K, "bomb.bin", root.path()).await.unwrap_err();
    assert_backend(&e, CODE_BOMB);
    assert_eq!(tree(root.path()), Vec::<String>::new());
}

#[tokio::test]
async fn zip_bomb_absurd_declared_ratio() {
    let zeros = vec![0u8; 1 << 20];
    let mut m = Member::deflated("ratio.bin", &zeros);
    m.declared_size = Some(3 << 30);
    m.zip64 = true;
    let d = store(&Builder::new(vec![m]).build()).await;
    let entries = list(&d, C, K).await.unwrap();
    assert_eq!(entries[0].uncompressed_size, 3 << 30);
    let mut out = Vec::new();
    let e = extract(&d, C, K, &entries[0], &mut out).await.unwrap_err();
    assert_backend(&e, CODE_BOMB);
    assert_eq!(d.reads().0, 1, "refused before reading the member (the one read is the listing's)");
    let e = expect_refused_upfront(&d, "").await;
    assert_backend(&e, CODE_BOMB);

    // An explicit limit lets it through; the lie about its size is then caught.
    let limits = ZipLimits { max_ratio: u64::MAX, ..ZipLimits::default() };
    let e = extract_with(&d, C, K, &entries[0], &mut out, &limits).await.unwrap_err();
    assert_backend(&e, CODE_CORRUPT);

    // Lower thresholds apply to honest members too.
    let d = store(&Builder::new(vec![Member::deflated("z.bin", &zeros)]).build()).await;
    let entries = list(&d, C, K).await.unwrap();
    assert_eq!(extract_vec(&d, &entries[0]).await.unwrap(), zeros);
    let strict = ZipLimits { ratio_threshold: 1000, max_ratio: 10, ..ZipLimits::default() };
    let e = extract_with(&d, C, K, &entries[0], &mut Vec::new(), &strict).await.unwrap_err();
    assert_backend(&e, CODE_BOMB);
    let small = ZipLimits { max_entry_size: 1000, ..ZipLimits::default() };
    assert_backend(&extract_with(&d, C, K, &entries[0], &mut Vec::new(), &small).await.unwrap_err(), CODE_BOMB);
    let total = ZipLimits { max_total_size: 1000, ..ZipLimits::default() };
    let root = tempfile::tempdir().unwrap();
    let e = extract_to_dir_with(&d, C, K, "", root.path(), &total).await.unwrap_err();
    assert_backend(&e, CODE_BOMB);
}

#[tokio::test]
async fn zip_limits_on_the_central_directory() {
    let d = store(PYTHON).await;
    let few = ZipLimits { max_entries: 3, ..ZipLimits::default() };
    assert_backend(&list_with(&d, C, K, &few).await.unwrap_err(), CODE_BOMB);
    let small = ZipLimits { max_central_directory_size: 100, ..ZipLimits::default() };
    assert_backend(&list_with(&d, C, K, &small).await.unwrap_err(), CODE_BOMB);
}

#[tokio::test]
async fn zip_local_header_offset_past_the_end() {
    let mut m = Member::stored("far.txt", b"far");
    m.offset = Some(1 << 40);
    m.zip64 = true;
    let d = store(&Builder::new(vec![m]).build()).await;
    let e = list(&d, C, K).await.unwrap_err();
    assert_backend(&e, CODE_CORRUPT);
    assert!(e.message().contains("far.txt"), "{e}");
    assert_eq!((e.container(), e.key()), (Some(C), Some(K)));
    let e = expect_refused_upfront(&d, "").await;
    assert_backend(&e, CODE_CORRUPT);

    // An entry pointing past the end, handed to extract directly.
    let d = store(PYTHON).await;
    let mut entry = list(&d, C, K).await.unwrap().remove(0);
    for offset in [PYTHON.len() as u64 + 10, u64::MAX - 5, PYTHON.len() as u64 - 10] {
        entry.local_header_offset = offset;
        let e = extract_vec(&d, &entry).await.unwrap_err();
        assert_backend(&e, CODE_CORRUPT);
    }
    // Data running past the end of the archive.
    let mut entry = list(&d, C, K).await.unwrap().remove(0);
    entry.compressed_size = 1 << 20;
    entry.uncompressed_size = 1 << 20;
    assert_backend(&extract_vec(&d, &entry).await.unwrap_err(), CODE_CORRUPT);
}

#[tokio::test]
async fn zip_truncated_and_garbage_archives() {
    // Central directory cut short, the end record declaring the shorter size.
    let mut b = Builder::new(vec![Member::stored("a.txt", b"a"), Member::stored("b-with-a-long-name.txt", b"b")]);
    b.cd_trim = 10;
    let d = store(&b.build()).await;
    let e = list(&d, C, K).await.unwrap_err();
    assert_backend(&e, CODE_CORRUPT);
    assert!(e.message().contains("truncated"), "{e}");
    expect_refused_upfront(&d, "").await;

    // More entries declared than present.
    let mut b = Builder::new(vec![Member::stored("a-long-name-to-make-room.txt", b"a")]);
    b.declared_entries = Some(2);
    assert_backend(&list(&store(&b.build()).await, C, K).await.unwrap_err(), CODE_CORRUPT);
    // More entries declared than could fit.
    b.declared_entries = Some(500);
    assert_backend(&list(&store(&b.build()).await, C, K).await.unwrap_err(), CODE_CORRUPT);

    // The archive cut anywhere in its end record or directory.
    for cut in [1, 10, 22, 40, PYTHON.len() / 2] {
        let d = store(&PYTHON[..PYTHON.len() - cut]).await;
        let e = list(&d, C, K).await.unwrap_err();
        assert_backend(&e, CODE_CORRUPT);
    }
    // Not an archive at all, and too short to be one.
    for data in [&b"not a zip file at all, just text that goes on and on"[..], b"PK", b""] {
        let d = store(data).await;
        assert_backend(&list(&d, C, K).await.unwrap_err(), CODE_CORRUPT);
    }
    // A ZIP64 locator pointing nowhere.
    let mut b = Builder::new(vec![Member::stored("a.txt", b"a")]);
    b.zip64_end = true;
    let mut data = b.build();
    let loc = data.len() - 22 - 20;
    data[loc + 8..loc + 16].copy_from_slice(&(1u64 << 50).to_le_bytes());
    assert_backend(&list(&store(&data).await, C, K).await.unwrap_err(), CODE_CORRUPT);
}

#[tokio::test]
async fn zip_bomb_overlapping_members() {
    // Several entries sharing one member's data: each within the limits, together a bomb.
    let zeros = vec![0u8; 100_000];
    let mut members = vec![Member::deflated("kernel.bin", &zeros)];
    for i in 0..3 {
        let mut m = Member::deflated(&format!("copy{i}.bin"), &zeros);
        m.offset = Some(0);
        members.push(m);
    }
    let d = store(&Builder::new(members).build()).await;
    let entries = list(&d, C, K).await.unwrap();
    assert!(entries.iter().all(|e| e.local_header_offset == 0));
    let e = expect_refused_upfront(&d, "").await;
    assert_backend(&e, CODE_BOMB);
    assert!(e.message().contains("overlap"), "{e}");
    // One member alone cannot be amplified.
    let root = tempfile::tempdir().unwrap();
    extract_to_dir(&d, C, K, "copy1.bin", root.path()).await.unwrap();
    assert_eq!(std::fs::read(root.path().join("copy1.bin")).unwrap(), zeros);
}

#[tokio::test]
async fn zip_driver_ignoring_ranges_is_reported() {
    /// A driver that answers every read with the whole object.
    #[derive(Debug, Default)]
    struct NoRanges(MemoryDriver);
    #[async_trait]
    impl crate::layer::Layer for NoRanges {
        fn inner(&self) -> &dyn Driver {
            &self.0
        }
        async fn get_object(&self, c: &str, k: &str, _: &GetOptions) -> Result<GetResult> {
            self.0.get_object(c, k, &GetOptions::default()).await
        }
    }
    let d = NoRanges::default();
    d.0.create_container(C).await.unwrap();
    let big = Builder::new(vec![Member::stored("a.bin", &[7u8; 70_000])]).build();
    d.put_object(C, K, big.into(), &PutOptions::default()).await.unwrap();
    let e = list(&d, C, K).await.unwrap_err();
    assert_eq!((e.kind(), e.provider_code()), (ErrorKind::Backend, None), "{e}");
    assert!(e.message().contains("does not honour range reads"), "{e}");
}

#[tokio::test]
async fn zip_crc_mismatch_is_a_hash_mismatch() {
    let mut m = Member::deflated("bad.txt", &deflate_text());
    m.crc = Some(0x1234_5678);
    let mut s = Member::stored("bad-stored.txt", b"stored");
    s.crc = Some(1);
    let d = store(&Builder::new(vec![m, s, Member::stored("good.txt", b"good")]).build()).await;
    let entries = list(&d, C, K).await.unwrap();
    for entry in &entries[..2] {
        let e = extract_vec(&d, entry).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
        assert!(e.message().contains(&entry.name), "{e}");
    }
    let root = tempfile::tempdir().unwrap();
    let e = extract_to_dir(&d, C, K, "bad.txt", root.path()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
    assert_eq!(tree(root.path()), Vec::<String>::new());
    // The whole archive: the good member after the bad one is not reached; nothing partial.
    let e = extract_to_dir(&d, C, K, "", root.path()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
    assert_eq!(tree(root.path()), Vec::<String>::new());
}

#[tokio::test]
async fn zip_corrupt_member_data() {
    // Deflate data cut short (the compressed size lies).
    let mut m = Member::deflated("short.txt", &deflate_text());
    let full = m.clone();
    let mut payload = {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut e, &full.data).unwrap();
        e.finish().unwrap()
    };
    payload.truncate(payload.len() / 2);
    m.stored_bytes = Some(payload);
    // Not deflate data at all.
    let mut garbage = Member::deflated("garbage.txt", b"hello");
    garbage.stored_bytes = Some(vec![0xFF; 64]);
    // Stored, with sizes that disagree.
    let mut stored = Member::stored("stored.txt", b"abc");
    stored.declared_size = Some(2);
    // Stored, declaring more than it holds.
    let mut empty = Member::deflated("empty.txt", b"");
    empty.declared_size = Some(10);
    empty.stored_bytes = Some(Vec::new());
    let d = store(&Builder::new(vec![m, garbage, stored, empty]).build()).await;
    let entries = list(&d, C, K).await.unwrap();
    for entry in &entries {
        let e = extract_vec(&d, entry).await.unwrap_err();
        assert_backend(&e, CODE_CORRUPT);
        assert!(e.message().contains(&entry.name), "{e}");
        let e = expect_refused(&d, &entry.name).await;
        assert_eq!(e.kind(), ErrorKind::Backend, "{e}");
    }
}

#[tokio::test]
async fn zip_unsupported_methods_and_encryption() {
    let mut bz = Member::stored("bzip2.bin", b"data");
    bz.method = Some(12);
    let mut enc = Member::stored("secret.txt", b"data");
    enc.flags |= 1;
    let d = store(&Builder::new(vec![bz, enc]).build()).await;
    let entries = list(&d, C, K).await.unwrap();
    assert_eq!(entries[0].method, ZipMethod::Other(12));
    assert_eq!(entries[0].method.code(), 12);
    for entry in &entries {
        let e = extract_vec(&d, entry).await.unwrap_err();
        assert_backend(&e, CODE_UNSUPPORTED);
        assert!(e.message().contains(&entry.name), "{e}");
        assert_backend(&expect_refused_upfront(&d, &entry.name).await, CODE_UNSUPPORTED);
    }
}

#[tokio::test]
async fn zip_missing_archive_is_object_does_not_exist() {
    let d = store(PYTHON).await;
    let e = list(&d, C, "nope.zip").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectDoesNotExist);
    let e = extract_to_dir(&d, C, "nope.zip", "", Path::new("/nonexistent/never")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectDoesNotExist);
}

#[tokio::test]
async fn zip_random_corruption_never_panics() {
    // Flip bytes all over the end of a real archive: every outcome is Ok or a typed error.
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for round in 0..300 {
        let mut data = PYTHON.to_vec();
        for _ in 0..1 + round % 4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = data.len() - 1 - (x as usize % 700);
            data[at] = (x >> 32) as u8;
        }
        let d = store(&data).await;
        match list(&d, C, K).await {
            Ok(entries) => {
                for entry in &entries {
                    let _ = extract_vec(&d, entry).await;
                }
            }
            Err(e) => assert_eq!(e.kind(), ErrorKind::Backend, "{e}"),
        }
    }
}

#[tokio::test]
async fn zip_works_through_dyn_driver_and_get_ranges_helper_agrees() {
    let d: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
    d.create_container(C).await.unwrap();
    d.put_object(C, K, PYTHON.to_vec().into(), &PutOptions::default()).await.unwrap();
    let entries = list(d.as_ref(), C, K).await.unwrap();
    let s = find(&entries, "stored.txt");
    // The stored data sits right after the 30-byte header and the name.
    let start = s.local_header_offset + 30 + s.name.len() as u64;
    let raw = d.get_range(C, K, start..start + s.compressed_size).await.unwrap();
    assert_eq!(&raw[..], STORED);
    let mut out = Vec::new();
    extract(d.as_ref(), C, K, s, &mut out).await.unwrap();
    assert_eq!(out, STORED);
}

// ---- members as verified streams -----------------------------------------------------

async fn collect(stream: crate::payload::ByteStream) -> (Vec<u8>, Vec<Result<usize>>) {
    use futures::StreamExt as _;
    let items: Vec<Result<bytes::Bytes>> = stream.collect().await;
    let data = items.iter().filter_map(|i| i.as_ref().ok()).flat_map(|b| b.to_vec()).collect();
    (data, items.into_iter().map(|i| i.map(|b| b.len())).collect())
}

#[tokio::test]
async fn zip_member_streams_carry_each_members_bytes() {
    // Stored, deflated, empty, and larger than the pipe (backpressure).
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let members = vec![
        Member::stored("s.txt", STORED),
        Member::deflated("d.txt", &deflate_text()),
        Member::stored("empty", b""),
        Member::deflated("big.bin", &big),
    ];
    let d: Arc<dyn Driver> = Arc::new(store(&Builder::new(members).build()).await);
    for entry in list(d.as_ref(), C, K).await.unwrap() {
        let want = extract_vec(d.as_ref(), &entry).await.unwrap();
        let (got, items) = collect(member_stream(d.clone(), C, K, &entry)).await;
        assert!(items.iter().all(Result::is_ok), "{}: {items:?}", entry.name);
        assert_eq!(got, want, "{}", entry.name);
        assert!(items.iter().all(|i| i.as_ref().is_ok_and(|n| *n > 0 && *n <= 256 << 10)), "{}", entry.name);
    }
}

#[tokio::test]
async fn zip_a_member_that_fails_its_check_ends_its_stream_with_the_error_and_uploads_nothing() {
    let big: Vec<u8> = (0..2_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    let mut bad_crc = Member::deflated("bad.bin", &big);
    bad_crc.crc = Some(0x1234_5678);
    let mut short = Member::stored("short.txt", b"abc");
    short.declared_size = Some(2);
    let d: Arc<dyn Driver> = Arc::new(store(&Builder::new(vec![bad_crc, short]).build()).await);
    for entry in list(d.as_ref(), C, K).await.unwrap() {
        let (_, items) = collect(member_stream(d.clone(), C, K, &entry)).await;
        let last = items.last().unwrap_or_else(|| panic!("{}: no items", entry.name));
        let e = last.as_ref().unwrap_err();
        // A wrong CRC-32 is a hash mismatch, a wrong size a corrupt archive.
        match entry.name.as_str() {
            "bad.bin" => assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}"),
            _ => assert_backend(e, CODE_CORRUPT),
        }
        assert!(items[..items.len() - 1].iter().all(Result::is_ok), "{}: one error, at the end", entry.name);
        // Fed to an upload (multipart for bad.bin: parts of 256 KiB), it fails and leaves
        // no object and no upload.
        let target = format!("copy-of-{}", entry.name);
        let options = crate::TransferOptions { part_size: 256 << 10, ..Default::default() };
        let put = crate::Transfer::with_options(d.clone(), options)
            .upload_stream(member_stream(d.clone(), C, K, &entry), C, &target, PutOptions::default())
            .await;
        assert_eq!(put.unwrap_err().kind(), e.kind(), "{}: the upload fails as the stream did", entry.name);
        assert_eq!(d.head_object(C, &target).await.unwrap_err().kind(), ErrorKind::ObjectDoesNotExist);
        assert!(d.list_multipart_uploads(C, None).await.unwrap().is_empty(), "no upload left behind");
    }
}
