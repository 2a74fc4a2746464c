//! Remote ZIP reading (`storage_core::zip`) through the driver: listing by range reads,
//! extracting stored and deflate members and folders, ZIP64, and the typed refusals of
//! hostile and corrupt archives. The archives are fixtures made by Python's zipfile and
//! Info-ZIP's `zip` (fixtures/make_fixtures.py), uploaded through the driver.

use std::path::Path;

use bytes::Bytes;
use storage_core::zip::{self, CODE_CORRUPT, CODE_UNSUPPORTED, ZipEntry, ZipMethod};
use storage_core::{Error, ErrorKind};
use tempfile::TempDir;

use crate::case::{Case, CaseResult, case, ensure};
use crate::context::{Ctx, OrFail, ensure_eq, expect_kind, same_bytes};

const G: &str = "zip";

pub(crate) fn cases() -> Vec<Case> {
    vec![
        case!(G, zip_list_members, ["ranges"]),
        case!(G, zip_extract_stored, ["ranges"]),
        case!(G, zip_extract_deflate, ["ranges"]),
        case!(G, zip_extract_folder, ["ranges"]),
        case!(G, zip_list_zip64, ["ranges"]),
        case!(G, zip_hostile_names_rejected, ["ranges"]),
        case!(G, zip_symlink_members_refused, ["ranges"]),
        case!(G, zip_corrupt_archive_rejected, ["ranges"]),
    ]
}

const PYTHON: &[u8] = include_bytes!("../../fixtures/python.zip");
const CLI: &[u8] = include_bytes!("../../fixtures/cli.zip");
const CLI_ZIP64: &[u8] = include_bytes!("../../fixtures/cli_zip64.zip");
const PYTHON_ZIP64: &[u8] = include_bytes!("../../fixtures/python_zip64.zip");
const CLI_SYMLINK: &[u8] = include_bytes!("../../fixtures/cli_symlink.zip");
const HOSTILE_NAMES: &[u8] = include_bytes!("../../fixtures/hostile_names.zip");

/// Contents written by make_fixtures.py.
const STORED: &[u8] = b"Stored, not compressed.\n";
fn deflate_text() -> Vec<u8> {
    b"The quick brown fox jumps over the lazy dog.\n".repeat(200)
}

/// Uploads `data` at `name`; returns the full key.
async fn upload(ctx: &Ctx, name: &str, data: &[u8]) -> Result<String, String> {
    ctx.put(name, Bytes::copy_from_slice(data)).await?;
    Ok(ctx.k(name))
}

async fn list(ctx: &Ctx, key: &str) -> Result<Vec<ZipEntry>, String> {
    zip::list(ctx.d(), &ctx.container, key).await.or_fail(&format!("zip::list {:?}", ctx.rel(key)))
}

fn member<'a>(entries: &'a [ZipEntry], name: &str) -> Result<&'a ZipEntry, String> {
    entries.iter().find(|e| e.name == name).ok_or_else(|| {
        format!("zip::list: no member {name:?} among {:?}", entries.iter().map(|e| &e.name).collect::<Vec<_>>())
    })
}

fn names(entries: &[ZipEntry]) -> Vec<String> {
    entries.iter().map(|e| e.name.clone()).collect()
}

async fn extract(ctx: &Ctx, key: &str, entry: &ZipEntry) -> storage_core::Result<Vec<u8>> {
    let mut out = Vec::new();
    zip::extract(ctx.d(), &ctx.container, key, entry, &mut out).await?;
    Ok(out)
}

fn temp_dir() -> Result<TempDir, String> {
    tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))
}

/// Every path under `root`, relative with `/` separators, sorted; directories end in `/`.
fn tree(root: &Path) -> Result<Vec<String>, String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), String> {
        let rd = std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        for entry in rd {
            let path = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?.path();
            let rel = path.strip_prefix(root).map_err(|e| e.to_string())?;
            let rel = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            let meta = std::fs::symlink_metadata(&path).map_err(|e| format!("cannot stat {}: {e}", path.display()))?;
            if meta.is_dir() {
                out.push(format!("{rel}/"));
                walk(root, &path, out)?;
            } else {
                out.push(rel);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    if root.exists() {
        walk(root, root, &mut out)?;
    }
    out.sort();
    Ok(out)
}

fn read_local(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Expects a `Backend` error with the provider code `code`.
fn expect_code<T>(result: storage_core::Result<T>, code: &str, what: &str) -> Result<Error, String> {
    let e = expect_kind(result, ErrorKind::Backend, what)?;
    ensure_eq(&format!("{what}: provider code of {e}"), &e.provider_code(), &Some(code))?;
    Ok(e)
}

async fn zip_list_members(ctx: Ctx) -> CaseResult {
    let key = upload(&ctx, "python.zip", PYTHON).await?;
    let entries = list(&ctx, &key).await?;
    let expected = [
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
    ];
    ensure_eq("zip::list of python.zip: member names", &names(&entries), &expected.map(String::from).to_vec())?;
    let s = member(&entries, "stored.txt")?;
    ensure_eq(
        "stored.txt: (method, compressed, uncompressed, is_dir)",
        &(s.method, s.compressed_size, s.uncompressed_size, s.is_dir),
        &(ZipMethod::Stored, 24, 24, false),
    )?;
    let when = s.modified.map(|m| m.format("%Y-%m-%d %H:%M:%S").to_string());
    ensure_eq("stored.txt: modified", &when.as_deref(), &Some("2024-05-17 12:34:56"))?;
    let d = member(&entries, "deflate.txt")?;
    ensure_eq("deflate.txt: (method, uncompressed)", &(d.method, d.uncompressed_size), &(ZipMethod::Deflate, 9000))?;
    ensure!(d.compressed_size < 9000, "deflate.txt: compressed size {} is not below 9000", d.compressed_size);
    ensure!(member(&entries, "tree/empty/")?.is_dir, "tree/empty/ is not listed as a folder");

    let key = upload(&ctx, "cli.zip", CLI).await?;
    let entries = list(&ctx, &key).await?;
    let expected = [
        "docs/",
        "docs/readme.txt",
        "docs/notes/",
        "docs/notes/todo.txt",
        "docs/empty/",
        "random.bin",
        "\u{fc}n\u{ef} \u{2713}.txt",
    ];
    ensure_eq("zip::list of cli.zip: member names", &names(&entries), &expected.map(String::from).to_vec())
}

async fn zip_extract_stored(ctx: Ctx) -> CaseResult {
    let key = upload(&ctx, "python.zip", PYTHON).await?;
    let entries = list(&ctx, &key).await?;
    for (name, want) in
        [("stored.txt", STORED), ("tree/sub/b.txt", b"bravo\n"), ("unicode/\u{65e5}\u{672c}\u{8a9e}.txt", b"nihongo\n")]
    {
        let got = extract(&ctx, &key, member(&entries, name)?).await.or_fail(&format!("zip::extract {name:?}"))?;
        same_bytes(&format!("zip::extract {name:?}"), &got, want)?;
    }
    let key = upload(&ctx, "cli.zip", CLI).await?;
    let entries = list(&ctx, &key).await?;
    let r = member(&entries, "random.bin")?;
    ensure_eq("cli.zip random.bin: method", &r.method, &ZipMethod::Stored)?;
    let got = extract(&ctx, &key, r).await.or_fail("zip::extract random.bin")?;
    ensure_eq("zip::extract random.bin: length", &got.len(), &2000)
}

async fn zip_extract_deflate(ctx: Ctx) -> CaseResult {
    let key = upload(&ctx, "python.zip", PYTHON).await?;
    let entries = list(&ctx, &key).await?;
    let got = extract(&ctx, &key, member(&entries, "deflate.txt")?).await.or_fail("zip::extract deflate.txt")?;
    same_bytes("zip::extract deflate.txt", &got, &deflate_text())?;
    let binary: Vec<u8> = (0..=255u8).collect::<Vec<u8>>().repeat(16);
    let got = extract(&ctx, &key, member(&entries, "binary.bin")?).await.or_fail("zip::extract binary.bin")?;
    same_bytes("zip::extract binary.bin", &got, &binary)?;

    let key = upload(&ctx, "cli.zip", CLI).await?;
    let entries = list(&ctx, &key).await?;
    let got =
        extract(&ctx, &key, member(&entries, "docs/readme.txt")?).await.or_fail("zip::extract docs/readme.txt")?;
    same_bytes("zip::extract docs/readme.txt (zip CLI)", &got, &deflate_text())
}

async fn zip_extract_folder(ctx: Ctx) -> CaseResult {
    let key = upload(&ctx, "python.zip", PYTHON).await?;
    let dir = temp_dir()?;
    let dest = dir.path().join("out");
    zip::extract_to_dir(ctx.d(), &ctx.container, &key, "tree/", &dest)
        .await
        .or_fail("zip::extract_to_dir \"tree/\"")?;
    let expected = [
        "tree/",
        "tree/a.txt",
        "tree/empty/",
        "tree/sub/",
        "tree/sub/b.txt",
        "tree/sub/deeper/",
        "tree/sub/deeper/c.txt",
    ];
    ensure_eq("files extracted from folder tree/", &tree(&dest)?, &expected.map(String::from).to_vec())?;
    same_bytes("tree/a.txt", &read_local(&dest.join("tree/a.txt"))?, b"alpha\n")?;
    same_bytes("tree/sub/deeper/c.txt", &read_local(&dest.join("tree/sub/deeper/c.txt"))?, &b"charlie\n".repeat(50))?;

    // A folder named without its trailing slash, from the zip CLI archive.
    let key = upload(&ctx, "cli.zip", CLI).await?;
    let dest = dir.path().join("cli");
    zip::extract_to_dir(ctx.d(), &ctx.container, &key, "docs", &dest).await.or_fail("zip::extract_to_dir \"docs\"")?;
    let expected = ["docs/", "docs/empty/", "docs/notes/", "docs/notes/todo.txt", "docs/readme.txt"];
    ensure_eq("files extracted from folder docs", &tree(&dest)?, &expected.map(String::from).to_vec())?;
    same_bytes("docs/readme.txt", &read_local(&dest.join("docs/readme.txt"))?, &deflate_text())
}

async fn zip_list_zip64(ctx: Ctx) -> CaseResult {
    // `zip -fz`: ZIP64 extra fields in the central directory and a ZIP64 end record.
    let key = upload(&ctx, "cli_zip64.zip", CLI_ZIP64).await?;
    let entries = list(&ctx, &key).await?;
    let expected = ["z64/", "z64/hello.txt", "z64/lorem.txt"];
    ensure_eq("zip::list of cli_zip64.zip", &names(&entries), &expected.map(String::from).to_vec())?;
    let lorem = member(&entries, "z64/lorem.txt")?;
    ensure_eq("z64/lorem.txt: uncompressed size (from the ZIP64 extra field)", &lorem.uncompressed_size, &9000)?;
    let got = extract(&ctx, &key, lorem).await.or_fail("zip::extract z64/lorem.txt")?;
    same_bytes("zip::extract z64/lorem.txt", &got, &deflate_text())?;

    // zipfile with force_zip64: ZIP64 extra fields in the local headers.
    let key = upload(&ctx, "python_zip64.zip", PYTHON_ZIP64).await?;
    let entries = list(&ctx, &key).await?;
    let expected = ["z64/deflate.txt", "z64/stored.txt"];
    ensure_eq("zip::list of python_zip64.zip", &names(&entries), &expected.map(String::from).to_vec())?;
    let got = extract(&ctx, &key, member(&entries, "z64/stored.txt")?).await.or_fail("zip::extract z64/stored.txt")?;
    same_bytes("zip::extract z64/stored.txt", &got, STORED)
}

async fn zip_hostile_names_rejected(ctx: Ctx) -> CaseResult {
    let key = upload(&ctx, "hostile.zip", HOSTILE_NAMES).await?;
    let entries = list(&ctx, &key).await?;
    ensure_eq("zip::list of hostile_names.zip: member count", &entries.len(), &6)?;
    let dir = temp_dir()?;
    let dest = dir.path().join("dest");
    for name in ["", "../evil.txt", "/abs.txt", "C:/drive.txt", "dir\\back.txt", "ok/../../up.txt"] {
        expect_kind(
            zip::extract_to_dir(ctx.d(), &ctx.container, &key, name, &dest).await,
            ErrorKind::InvalidObjectName,
            &format!("zip::extract_to_dir {name:?}"),
        )?;
        ensure_eq(&format!("files written after refusing {name:?}"), &tree(dir.path())?, &Vec::new())?;
    }
    zip::extract_to_dir(ctx.d(), &ctx.container, &key, "fine.txt", &dest)
        .await
        .or_fail("zip::extract_to_dir \"fine.txt\"")?;
    ensure_eq(
        "files after extracting fine.txt",
        &tree(dir.path())?,
        &vec!["dest/".to_owned(), "dest/fine.txt".to_owned()],
    )
}

async fn zip_symlink_members_refused(ctx: Ctx) -> CaseResult {
    let key = upload(&ctx, "symlink.zip", CLI_SYMLINK).await?;
    let entries = list(&ctx, &key).await?;
    let expected = ["ln/", "ln/link", "ln/target.txt", "ln/escape"];
    ensure_eq("zip::list of cli_symlink.zip", &names(&entries), &expected.map(String::from).to_vec())?;
    let dir = temp_dir()?;
    let dest = dir.path().join("dest");
    for name in ["ln/", "ln/escape"] {
        expect_code(
            zip::extract_to_dir(ctx.d(), &ctx.container, &key, name, &dest).await,
            CODE_UNSUPPORTED,
            &format!("zip::extract_to_dir {name:?} (holds a symbolic link)"),
        )?;
        ensure_eq(&format!("files written after refusing {name:?}"), &tree(dir.path())?, &Vec::new())?;
    }
    Ok(())
}

async fn zip_corrupt_archive_rejected(ctx: Ctx) -> CaseResult {
    // Truncated: the end-of-central-directory record is cut.
    let key = upload(&ctx, "truncated.zip", &PYTHON[..PYTHON.len() - 30]).await?;
    expect_code(zip::list(ctx.d(), &ctx.container, &key).await, CODE_CORRUPT, "zip::list of a truncated archive")?;
    // Not an archive at all.
    let key = upload(&ctx, "text.zip", b"this is plain text, not a ZIP archive; nothing to see here").await?;
    expect_code(zip::list(ctx.d(), &ctx.container, &key).await, CODE_CORRUPT, "zip::list of a text file")?;

    // One byte of a stored member's data flipped: the CRC-32 check fails and nothing is
    // left on disk.
    let at = PYTHON.windows(STORED.len()).position(|w| w == STORED).ok_or("python.zip does not hold stored.txt")?;
    let mut data = PYTHON.to_vec();
    data[at] ^= 0x20;
    let key = upload(&ctx, "crc.zip", &data).await?;
    let entries = list(&ctx, &key).await?;
    expect_kind(
        extract(&ctx, &key, member(&entries, "stored.txt")?).await,
        ErrorKind::ObjectHashMismatch,
        "zip::extract of a member whose data was altered",
    )?;
    let dir = temp_dir()?;
    expect_kind(
        zip::extract_to_dir(ctx.d(), &ctx.container, &key, "stored.txt", dir.path()).await,
        ErrorKind::ObjectHashMismatch,
        "zip::extract_to_dir of a member whose data was altered",
    )?;
    ensure_eq("files left after the CRC-32 mismatch", &tree(dir.path())?, &Vec::new())?;

    // A member whose offset points past the end of the archive.
    let mut far = member(&entries, "deflate.txt")?.clone();
    far.local_header_offset = data.len() as u64 + 100;
    expect_code(extract(&ctx, &key, &far).await, CODE_CORRUPT, "zip::extract of a member past the end")?;
    Ok(())
}
