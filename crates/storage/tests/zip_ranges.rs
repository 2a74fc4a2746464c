//! Inductiva-shaped ZIP listings and member ranges on every backend `cargo xtask test`
//! starts, with archives made by real tools (Info-ZIP `zip` with extended timestamps and
//! with `-fz` ZIP64, Python's zipfile with forced ZIP64): each member's
//! [range_start, range_end) fetched with a plain ranged GET and inflated by Python's zlib
//! (an outside tool) gives the member's bytes; paths into archives resolve to the real
//! object first, then to the longest existing `.zip` prefix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use storage::zip::{self, ArchivePath, ZipFileRange, ZipMethod, ZipTimestamp};
use storage::{Driver, DriverExt, ErrorKind, GetOptions, PutOptions};

/// 2024-05-17 12:34:56 UTC.
const EPOCH: i64 = 1_715_949_296;

fn run(dir: &Path, program: &str, args: &[&str], tz: &str) {
    let out = Command::new(program).args(args).current_dir(dir).env("TZ", tz).output().unwrap_or_else(|e| {
        panic!("{program} could not be run ({e}); these tests need Info-ZIP's zip and python3 installed")
    });
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Bytes that barely compress (so `zip` stores or nearly stores them).
fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The tree the archives hold: relative path -> content.
fn contents() -> BTreeMap<&'static str, Vec<u8>> {
    BTreeMap::from([
        ("stdout.txt", b"simulation step 1\n".repeat(500)),
        ("logs/run.log", b"INFO all good\n".repeat(300)),
        ("logs/deep/err.txt", b"no errors\n".to_vec()),
        ("data.bin", noise(150_000)),
        ("empty.txt", Vec::new()),
    ])
}

/// Builds the archives in `dir`: `ut.zip` (Info-ZIP, extended timestamps, made in a
/// zone nine hours ahead of UTC), `z64.zip` (Info-ZIP -fz) and `py64.zip` (zipfile,
/// force_zip64, deflate).
fn make_archives(dir: &Path) {
    let src = dir.join("src");
    for (rel, data) in contents() {
        let p = src.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
    }
    let touch = format!(
        "import os,sys\nfor d,ds,fs in os.walk(sys.argv[1]):\n    for n in ds+fs: os.utime(os.path.join(d,n),({EPOCH},{EPOCH}))"
    );
    run(dir, "python3", &["-c", &touch, "src"], "UTC");
    let names = ["stdout.txt", "logs", "data.bin", "empty.txt"];
    let mut args = vec!["-q", "-r", "../ut.zip"];
    args.extend(names);
    run(&src, "zip", &args, "JST-9");
    let mut args = vec!["-q", "-r", "-fz", "../z64.zip"];
    args.extend(names);
    run(&src, "zip", &args, "UTC");
    let py = "import zipfile,os\n\
              with zipfile.ZipFile('py64.zip','w',zipfile.ZIP_DEFLATED) as z:\n    \
                for d,ds,fs in sorted(os.walk('src')):\n        \
                  for n in sorted(fs):\n            \
                    p=os.path.join(d,n)\n            \
                    zi=zipfile.ZipInfo(os.path.relpath(p,'src'),date_time=(2024,5,17,12,34,56))\n            \
                    zi.compress_type=zipfile.ZIP_DEFLATED\n            \
                    with z.open(zi,'w',force_zip64=True) as f: f.write(open(p,'rb').read())";
    run(dir, "python3", &["-c", py], "UTC");
}

/// Fetches `range` with one plain ranged GET and inflates it with Python's zlib.
async fn fetch_and_inflate(d: &dyn Driver, bucket: &str, key: &str, r: &ZipFileRange, scratch: &Path) -> Vec<u8> {
    let Some(range) = r.byte_range() else { return Vec::new() };
    let got = d.get_object(bucket, key, &GetOptions { range: Some(range), ..Default::default() }).await.unwrap();
    assert_eq!(got.range, r.range_start..r.range_end);
    let raw = got.bytes().await.unwrap();
    match r.method {
        ZipMethod::Stored => raw.to_vec(),
        ZipMethod::Deflate => {
            let (input, output) = (scratch.join("member.deflate"), scratch.join("member.out"));
            std::fs::write(&input, &raw).unwrap();
            let py =
                "import zlib,sys; open(sys.argv[2],'wb').write(zlib.decompress(open(sys.argv[1],'rb').read(),-15))";
            run(scratch, "python3", &["-c", py, input.to_str().unwrap(), output.to_str().unwrap()], "UTC");
            std::fs::read(&output).unwrap()
        }
        ZipMethod::Other(c) => panic!("{}: method {c}", r.name),
    }
}

#[tokio::test]
async fn zip_contents_and_ranges_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    make_archives(dir.path());
    let want = contents();
    let (storage, names) = common::backends(&dir.path().join("store"));
    for name in names {
        let d = storage.backend(&name).unwrap();
        let d = d.as_ref();
        let bucket = format!("zipranges-{}-{name}", std::process::id());
        d.create_container(&bucket).await.unwrap();
        for archive in ["ut.zip", "z64.zip", "py64.zip"] {
            let key = format!("runs/1/{archive}");
            let bytes = std::fs::read(dir.path().join(archive)).unwrap();
            d.put_object(&bucket, &key, bytes.clone().into(), &PutOptions::default()).await.unwrap();

            let all = zip::get_zip_contents(d, &bucket, &key, "", true).await.unwrap();
            assert_eq!(all.size, bytes.len() as u64, "{name} {archive}");
            let files: Vec<_> = all.files.iter().filter(|f| !f.is_dir).collect();
            assert_eq!(files.len(), want.len(), "{name} {archive}: {:?}", all.files);
            for f in files {
                let content = want.get(f.name.as_str()).unwrap_or_else(|| panic!("{name} {archive}: {}", f.name));
                assert_eq!(f.uncompressed_size, content.len() as u64);
                let r = zip::get_file_range(d, &bucket, &key, &f.name).await.unwrap();
                assert_eq!(r, f.range(), "{name} {archive} {}", f.name);
                let got = fetch_and_inflate(d, &bucket, &key, &r, dir.path()).await;
                assert!(got == *content, "{name} {archive} {}: the ranged bytes do not inflate to the member", f.name);
                // Times: Info-ZIP's extended timestamp is UTC whatever the zone it ran in;
                // zipfile writes only the MS-DOS local time.
                match archive {
                    "py64.zip" => assert!(matches!(f.modified, Some(ZipTimestamp::Local(_))), "{name} {f:?}"),
                    _ => {
                        let when = f.modified.as_ref().filter(|t| t.is_utc()).map(ZipTimestamp::to_iso8601);
                        assert_eq!(when.as_deref(), Some("2024-05-17T12:34:56Z"), "{name} {archive} {}", f.name);
                    }
                }
            }

            let top = zip::get_zip_contents(d, &bucket, &key, "", false).await.unwrap();
            let mut top_files: Vec<_> = top.files.iter().filter(|f| !f.is_dir).map(|f| f.name.as_str()).collect();
            top_files.sort_unstable();
            assert_eq!(top_files, ["data.bin", "empty.txt", "stdout.txt"], "{name} {archive}");
            assert_eq!(top.folders, ["logs/"], "{name} {archive}");
            let logs = zip::get_zip_contents(d, &bucket, &key, "logs", false).await.unwrap();
            let logs_files: Vec<_> = logs.files.iter().filter(|f| !f.is_dir).map(|f| f.name.as_str()).collect();
            assert_eq!(logs_files, ["logs/run.log"], "{name} {archive}");
            assert_eq!(logs.folders, ["logs/deep/"], "{name} {archive}");
        }

        // Paths into archives: the longest existing .zip prefix, unless the key is real.
        let member = zip::resolve(d, &bucket, "runs/1/ut.zip/logs/run.log").await.unwrap();
        let expected = ArchivePath::Member { archive: "runs/1/ut.zip".into(), member: "logs/run.log".into() };
        assert_eq!(member, expected, "{name}");
        let e = zip::resolve(d, &bucket, "runs/1/none.zip/x").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ObjectDoesNotExist, "{name}: {e}");
        let folder = zip::resolve_folder(d, &bucket, "runs/1/ut.zip/logs/").await.unwrap();
        assert_eq!(folder, Some(("runs/1/ut.zip".into(), "logs/".into())), "{name}");
        if !["local", "s3sfs"].contains(&name.as_str()) {
            // A real object under the archive's name wins (filesystem-backed stores cannot
            // hold both a file and a directory named runs/1/z64.zip).
            let real = "runs/1/z64.zip/stdout.txt";
            d.put_object(&bucket, real, b"real".to_vec().into(), &PutOptions::default()).await.unwrap();
            assert!(matches!(zip::resolve(d, &bucket, real).await.unwrap(), ArchivePath::Object(_)), "{name}");
            assert_eq!(zip::resolve_folder(d, &bucket, "runs/1/z64.zip/").await.unwrap(), None, "{name}");
        }
        d.delete_prefix(&bucket, "").await.unwrap();
        d.delete_container(&bucket).await.unwrap();
    }
}
