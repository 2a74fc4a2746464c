//! get_zip_contents / get_file_range (data ranges, filters, times), paths into archives,
//! and the single-file and relative extractions, on MemoryDriver.

use std::io::Read;

use chrono::{DateTime, NaiveDate};

use super::builder::{Builder, Member};
use super::*;

/// The member's bytes as a plain ranged read of [range_start, range_end) gives them,
/// decompressed as an outside tool would (raw deflate).
async fn fetch_range<D: Driver + ?Sized>(d: &D, key: &str, r: &ZipFileRange) -> Vec<u8> {
    let raw = match r.byte_range() {
        None => Vec::new(),
        Some(range) => {
            let got = d.get_object(C, key, &GetOptions { range: Some(range), ..Default::default() }).await.unwrap();
            assert_eq!(got.range, r.range_start..r.range_end);
            got.bytes().await.unwrap().to_vec()
        }
    };
    assert_eq!(raw.len() as u64, r.len());
    let content = match r.method {
        ZipMethod::Stored => raw,
        ZipMethod::Deflate => {
            let mut out = Vec::new();
            flate2::read::DeflateDecoder::new(&raw[..]).read_to_end(&mut out).unwrap();
            out
        }
        ZipMethod::Other(c) => panic!("method {c}"),
    };
    assert_eq!(content.len() as u64, r.uncompressed_size, "{}", r.name);
    assert_eq!(crc32fast::hash(&content), r.crc32, "{}", r.name);
    content
}

fn file_names(info: &ZipArchiveInfo) -> Vec<&str> {
    info.files.iter().map(|f| f.name.as_str()).collect()
}

fn file<'a>(info: &'a ZipArchiveInfo, name: &str) -> &'a ZipFileInfo {
    info.files.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("no {name:?} in {:?}", file_names(info)))
}

#[tokio::test]
async fn contents_top_level_recursive_and_folders() {
    let d = store(PYTHON).await;
    let top = get_zip_contents(&d, C, K, "", false).await.unwrap();
    assert_eq!(top.size, PYTHON.len() as u64);
    assert_eq!(file_names(&top), ["stored.txt", "deflate.txt", "binary.bin", "tree/"]);
    assert_eq!(top.folders, ["tree/", "unicode/"]);

    let tree = get_zip_contents(&d, C, K, "tree", false).await.unwrap();
    assert_eq!(file_names(&tree), ["tree/a.txt", "tree/sub/", "tree/empty/"]);
    assert_eq!(tree.folders, ["tree/empty/", "tree/sub/"]);
    assert_eq!(get_zip_contents(&d, C, K, "tree/", false).await.unwrap(), tree);

    let all = get_zip_contents(&d, C, K, "tree/", true).await.unwrap();
    assert_eq!(file_names(&all), ["tree/a.txt", "tree/sub/", "tree/sub/b.txt", "tree/sub/deeper/c.txt", "tree/empty/"]);
    assert_eq!(all.folders, ["tree/empty/", "tree/sub/", "tree/sub/deeper/"]);

    // A folder only implied by names lists too.
    let deeper = get_zip_contents(&d, C, K, "tree/sub/deeper", false).await.unwrap();
    assert_eq!(file_names(&deeper), ["tree/sub/deeper/c.txt"]);
    // One file's exact name lists that file.
    let one = get_zip_contents(&d, C, K, "tree/a.txt", false).await.unwrap();
    assert_eq!(file_names(&one), ["tree/a.txt"]);
    assert!(one.folders.is_empty());
    // Whole archive, recursive: every member.
    let every = get_zip_contents(&d, C, K, "", true).await.unwrap();
    assert_eq!(every.files.len(), list(&d, C, K).await.unwrap().len());

    for missing in ["nope", "tree/a.tx", "tre", "tree/a.txt/"] {
        let e = get_zip_contents(&d, C, K, missing, false).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ObjectDoesNotExist, "{missing}: {e}");
        assert!(e.message().contains(missing), "{e}");
    }
}

#[tokio::test]
async fn contents_ranges_fetch_each_member_with_a_plain_ranged_get() {
    for (fixture, data) in [
        ("python", PYTHON),
        ("python_streamed", PYTHON_STREAMED),
        ("python_zip64", PYTHON_ZIP64),
        ("cli", CLI),
        ("cli_zip64", CLI_ZIP64),
    ] {
        let d = store(data).await;
        let info = get_zip_contents(&d, C, K, "", true).await.unwrap();
        let entries = list(&d, C, K).await.unwrap();
        assert_eq!(info.files.len(), entries.len(), "{fixture}");
        for (f, e) in info.files.iter().zip(&entries) {
            assert_eq!(f.name, e.name);
            assert_eq!(f.range_end - f.range_start, f.compressed_size, "{fixture} {}", f.name);
            assert!(f.range_start >= f.local_header_offset + 30 + f.name.len() as u64, "{fixture} {}", f.name);
            assert_eq!(f.local_header_offset, e.local_header_offset);
            if f.is_dir {
                continue;
            }
            let via_range = fetch_range(&d, K, &f.range()).await;
            assert_eq!(via_range, extract_vec(&d, e).await.unwrap(), "{fixture} {}", f.name);
            assert_eq!(get_file_range(&d, C, K, &f.name).await.unwrap(), f.range(), "{fixture} {}", f.name);
        }
    }
    let d = store(PYTHON).await;
    let r = get_file_range(&d, C, K, "deflate.txt").await.unwrap();
    assert_eq!(r.method, ZipMethod::Deflate);
    assert_eq!(fetch_range(&d, K, &r).await, deflate_text());
    let h = r.http_range().unwrap();
    assert_eq!(h, format!("bytes={}-{}", r.range_start, r.range_end - 1));
    let r = get_file_range(&d, C, K, "stored.txt").await.unwrap();
    assert_eq!(r.method, ZipMethod::Stored);
    assert_eq!(fetch_range(&d, K, &r).await, STORED);
}

#[tokio::test]
async fn file_range_refuses_folders_and_missing_members() {
    let d = store(PYTHON).await;
    for (member, why) in [("tree/", "folder"), ("tree", "folder"), ("tree/sub/deeper", "folder"), ("zzz", "no such")] {
        let e = get_file_range(&d, C, K, member).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ObjectDoesNotExist, "{member}");
        assert!(e.message().contains(why), "{member}: {e}");
    }
}

#[tokio::test]
async fn contents_reads_local_headers_in_few_coalesced_reads() {
    let d = store(&gunzip(MANY_GZ)).await;
    let all = get_zip_contents(&d, C, K, "", true).await.unwrap();
    assert_eq!(all.files.len(), 65_536);
    let (gets, bytes) = d.reads();
    // Tail + central directory, then the ~2.9 MB of headers in 1 MiB reads: about the
    // archive once (the tail overlaps the directory), never a read per member.
    assert!(gets <= 10, "{gets} reads");
    let len = gunzip(MANY_GZ).len() as u64;
    assert!(bytes <= len + 2 * MAX_TAIL, "{bytes} bytes for a {len}-byte archive");

    // Big members far apart: one small read per header, never the data.
    let big = vec![7u8; 3 << 20];
    let zip =
        Builder::new(vec![Member::stored("a.bin", &big), Member::stored("b.bin", &big), Member::dir("c/")]).build();
    let d = store(&zip).await;
    let info = get_zip_contents(&d, C, K, "", false).await.unwrap();
    assert_eq!(file_names(&info), ["a.bin", "b.bin", "c/"]);
    let (gets, bytes) = d.reads();
    assert!(gets <= 4, "{gets}");
    assert!(bytes < 2 * MAX_TAIL, "{bytes} bytes read for headers");
    assert_eq!(info.files[1].range_start, (30 + 5 + big.len() + 30 + 5) as u64);
}

fn extended_timestamp(flags: u8, times: &[u32]) -> Vec<u8> {
    let mut v = 0x5455u16.to_le_bytes().to_vec();
    v.extend_from_slice(&((1 + 4 * times.len()) as u16).to_le_bytes());
    v.push(flags);
    for t in times {
        v.extend_from_slice(&t.to_le_bytes());
    }
    v
}

#[tokio::test]
async fn local_extra_longer_than_the_window_and_its_times() {
    // A local extra field of 1 000 bytes (padding field 0xCAFE) before an extended
    // timestamp: the data starts far later than the central directory suggests.
    let mut pad = 0xCAFEu16.to_le_bytes().to_vec();
    pad.extend_from_slice(&996u16.to_le_bytes());
    pad.extend_from_slice(&[0; 996]);
    let mut local = pad;
    local.extend_from_slice(&extended_timestamp(0b101, &[1_715_949_296, 1_600_000_000]));
    let mut m = Member::deflated("padded.txt", &deflate_text());
    m.local_extra = local;
    m.central_extra = extended_timestamp(0b101, &[1_715_949_296]);
    let plain = Member::stored("plain.txt", STORED);
    let d = store(&Builder::new(vec![m, plain]).build()).await;
    let info = get_zip_contents(&d, C, K, "", false).await.unwrap();
    let f = file(&info, "padded.txt");
    assert_eq!(f.range_start, 30 + 10 + 1000 + 13);
    assert_eq!(fetch_range(&d, K, &f.range()).await, deflate_text());
    assert_eq!(f.modified, Some(ZipTimestamp::Utc(DateTime::from_timestamp(1_715_949_296, 0).unwrap())));
    assert_eq!(f.created, DateTime::from_timestamp(1_600_000_000, 0));
    // No extra field: the MS-DOS time, zone unknown.
    let p = file(&info, "plain.txt");
    let dos = NaiveDate::from_ymd_opt(2024, 5, 17).unwrap().and_hms_opt(12, 34, 56).unwrap();
    assert_eq!(p.modified, Some(ZipTimestamp::Local(dos)));
    assert_eq!(p.created, None);
    assert_eq!(fetch_range(&d, K, &p.range()).await, STORED);
}

#[tokio::test]
async fn hostile_local_headers_are_corrupt() {
    // A local extra length that pushes the data into the central directory.
    let mut m = Member::stored("a.txt", STORED);
    m.local_extra = vec![0; 4];
    let mut zip = Builder::new(vec![m]).build();
    zip[28..30].copy_from_slice(&u16::MAX.to_le_bytes());
    let d = store(&zip).await;
    assert_backend(&get_zip_contents(&d, C, K, "", false).await.unwrap_err(), CODE_CORRUPT);
    assert_backend(&get_file_range(&d, C, K, "a.txt").await.unwrap_err(), CODE_CORRUPT);
    // No local header signature at the member's offset.
    let mut zip = Builder::new(vec![Member::stored("a.txt", STORED)]).build();
    zip[0] = b'X';
    let d = store(&zip).await;
    assert_backend(&get_file_range(&d, C, K, "a.txt").await.unwrap_err(), CODE_CORRUPT);
}

#[tokio::test]
async fn resolve_prefers_real_objects_then_the_longest_archive() {
    let d = store(PYTHON).await;
    let put = |k: &'static str, v: &'static [u8]| {
        let d = &d;
        async move { d.put_object(C, k, v.to_vec().into(), &PutOptions::default()).await.unwrap() }
    };
    put("runs/out.zip", PYTHON).await;
    put("runs/out.zip/stored.txt", b"a real object").await;
    put("runs/out.zip/inner.zip", CLI).await;
    match resolve(&d, C, "runs/out.zip/stored.txt").await.unwrap() {
        ArchivePath::Object(o) => assert_eq!(o.size, 13),
        other => panic!("{other:?}"),
    }
    let member = |archive: &str, member: &str| ArchivePath::Member { archive: archive.into(), member: member.into() };
    assert_eq!(resolve(&d, C, "runs/out.zip/tree/a.txt").await.unwrap(), member("runs/out.zip", "tree/a.txt"));
    assert_eq!(
        resolve(&d, C, "runs/out.zip/inner.zip/docs/x").await.unwrap(),
        member("runs/out.zip/inner.zip", "docs/x")
    );
    assert_eq!(resolve(&d, C, "runs/out.zip/").await.unwrap(), member("runs/out.zip", ""));
    for missing in ["runs/none.zip/a", "runs/x.txt", "runs/out.zipx/a"] {
        assert_eq!(resolve(&d, C, missing).await.unwrap_err().kind(), ErrorKind::ObjectDoesNotExist, "{missing}");
    }
    // Folders: a real prefix wins; else the archive.
    assert_eq!(resolve_folder(&d, C, "runs/out.zip/").await.unwrap(), None);
    assert_eq!(
        resolve_folder(&d, C, "runs/out.zip/tree/").await.unwrap(),
        Some(("runs/out.zip".into(), "tree/".into()))
    );
    assert_eq!(resolve_folder(&d, C, "runs/out.zip/tree").await.unwrap(), Some(("runs/out.zip".into(), "tree".into())));
    assert_eq!(resolve_folder(&d, C, "runs/plain/").await.unwrap(), None);
}

#[tokio::test]
async fn extract_to_file_is_atomic_and_checked() {
    let d = store(PYTHON).await;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.txt");
    std::fs::write(&target, b"old").unwrap();
    let e = extract_to_file(&d, C, K, "deflate.txt", &target).await.unwrap();
    assert_eq!(e.name, "deflate.txt");
    assert_eq!(std::fs::read(&target).unwrap(), deflate_text());
    for bad in ["tree/", "tree", "nope"] {
        let err = extract_to_file(&d, C, K, bad, &target).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ObjectDoesNotExist, "{bad}");
    }
    assert_eq!(tree(dir.path()), ["out.txt"]);

    // A corrupt member leaves the old file and no temporary file.
    let mut m = Member::stored("bad.txt", STORED);
    m.crc = Some(1);
    let d = store(&Builder::new(vec![m]).build()).await;
    let err = extract_to_file(&d, C, K, "bad.txt", &target).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ObjectHashMismatch);
    assert_eq!(std::fs::read(&target).unwrap(), deflate_text());
    assert_eq!(tree(dir.path()), ["out.txt"]);
    // Hostile names are refused even though the caller chose the path.
    let d = store(HOSTILE_NAMES).await;
    let err = extract_to_file(&d, C, K, "../evil.txt", &target).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidObjectName);
}

#[tokio::test]
async fn extract_relative_with_a_filter() {
    let d = store(PYTHON).await;
    let dir = tempfile::tempdir().unwrap();
    let rel = ExtractOptions { relative: true, ..ExtractOptions::default() };
    extract_to_dir_opts(&d, C, K, "tree/", dir.path(), &rel).await.unwrap();
    assert_eq!(tree(dir.path()), ["a.txt", "empty/", "sub/", "sub/b.txt", "sub/deeper/", "sub/deeper/c.txt"]);
    let only_txt = ExtractOptions {
        relative: true,
        filter: Some(Arc::new(|p: &str| p.starts_with("sub/"))),
        ..ExtractOptions::default()
    };
    let dir = tempfile::tempdir().unwrap();
    extract_to_dir_opts(&d, C, K, "tree", dir.path(), &only_txt).await.unwrap();
    assert_eq!(tree(dir.path()), ["sub/", "sub/b.txt", "sub/deeper/", "sub/deeper/c.txt"]);
    let dir = tempfile::tempdir().unwrap();
    extract_to_dir_opts(&d, C, K, "tree/sub/b.txt", dir.path(), &rel).await.unwrap();
    assert_eq!(tree(dir.path()), ["b.txt"]);
}
