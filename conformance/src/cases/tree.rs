//! Tree operations (`storage_core::tree`): folder upload and download with awkward
//! names, filters, dry runs, overwrite control, refusal of escaping keys, filtered
//! removal, `listdir` orders and sizes, space used, copies within the driver and to and
//! from another driver.

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use storage_core::tree::{DirEntry, Filter, ListdirOptions, Order, TreeExt, TreeOptions, TreeReport, Usage};
use storage_core::{Driver, ErrorKind, MemoryDriver, Payload, PutOptions};
use tempfile::TempDir;

use crate::case::{Case, CaseResult, case, ensure};
use crate::context::{Ctx, OrFail, data, ensure_eq, same_bytes};

const G: &str = "tree";

pub(crate) fn cases() -> Vec<Case> {
    vec![
        case!(G, tree_upload_download_round_trip),
        case!(G, tree_upload_content_types, ["content_headers"]),
        case!(G, tree_upload_filters),
        case!(G, tree_upload_no_overwrite),
        case!(G, tree_upload_dry_run),
        case!(G, tree_download_filters),
        case!(G, tree_download_no_overwrite),
        case!(G, tree_download_refuses_escaping_keys, ["verbatim_keys"]),
        case!(G, tree_remove_filtered),
        case!(G, tree_remove_all),
        case!(G, tree_listdir_order_name),
        case!(G, tree_listdir_order_size),
        case!(G, tree_listdir_order_time),
        case!(G, tree_listdir_sizes),
        case!(G, tree_space_used),
        case!(G, tree_copy_tree_within),
        case!(G, tree_copy_tree_other_driver),
    ]
}

/// A small tree with awkward names: spaces, unicode, `~`, `=`, `&`, nesting, an empty file.
/// (`+` is left to the `keys` group, gated on `verbatim_keys`: some servers store it as a space.)
const FILES: &[(&str, &[u8])] = &[
    ("plain.txt", b"plain text"),
    ("with space.txt", b"spaced out"),
    ("unicod\u{e9} \u{65e5}\u{672c}.md", b"# unicode"),
    ("a~b=c&d.json", b"{\"plus\": true}"),
    ("sub/dir/deep.png", b"\x89PNG fake"),
    ("sub/empty.bin", b""),
    ("sub/skip.log", b"log line"),
];

fn temp_dir() -> Result<TempDir, String> {
    tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))
}

fn write_tree(root: &Path, files: &[(&str, &[u8])]) -> CaseResult {
    for (rel, body) in files {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, body).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Every file under `root`: relative path -> contents.
fn read_tree(root: &Path) -> Result<BTreeMap<String, Vec<u8>>, String> {
    fn go(dir: &Path, rel: &str, out: &mut BTreeMap<String, Vec<u8>>) -> CaseResult {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        for e in entries {
            let e = e.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let r = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            let ft = e.file_type().map_err(|e| format!("cannot stat {r}: {e}"))?;
            if ft.is_dir() {
                go(&e.path(), &r, out)?;
            } else {
                let body = std::fs::read(e.path()).map_err(|e| format!("cannot read {r}: {e}"))?;
                out.insert(r, body);
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    if root.exists() {
        go(root, "", &mut out)?;
    }
    Ok(out)
}

fn expected_files(files: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
    files.iter().map(|(r, b)| ((*r).to_owned(), b.to_vec())).collect()
}

/// Keys under the case prefix + `sub`, relative to the case prefix, sorted.
async fn keys_under(ctx: &Ctx, sub: &str) -> Result<Vec<String>, String> {
    let entries = ctx.list(ctx.under(sub)).await?;
    Ok(ctx.render(&entries))
}

fn ensure_clean(what: &str, report: &TreeReport) -> CaseResult {
    ensure!(
        report.failed.is_empty(),
        "{what}: {} entries failed: {}",
        report.failed.len(),
        report.failed.iter().map(|(k, e)| format!("{k:?}: {e}")).collect::<Vec<_>>().join("; ")
    );
    Ok(())
}

fn counts(report: &TreeReport) -> (u64, u64, u64, u64) {
    (report.objects, report.bytes, report.skipped, report.filtered)
}

fn total(files: &[(&str, &[u8])]) -> u64 {
    files.iter().map(|(_, b)| b.len() as u64).sum()
}

/// Uploads `FILES` under the case prefix + `folder`.
async fn upload_fixture(ctx: &Ctx, folder: &str) -> Result<TempDir, String> {
    let dir = temp_dir()?;
    write_tree(dir.path(), FILES)?;
    let report = ctx
        .d()
        .upload_dir(dir.path(), &ctx.container, &ctx.k(folder), &TreeOptions::default())
        .await
        .or_fail("upload_dir")?;
    ensure_clean("upload_dir", &report)?;
    ensure_eq("upload_dir (objects, bytes, skipped, filtered)", &counts(&report), &(7, total(FILES), 0, 0))?;
    Ok(dir)
}

async fn tree_upload_download_round_trip(ctx: Ctx) -> CaseResult {
    let _src = upload_fixture(&ctx, "up").await?;
    let mut expected: Vec<String> = FILES.iter().map(|(r, _)| format!("up/{r}")).collect();
    expected.sort();
    ensure_eq("keys after upload_dir", &keys_under(&ctx, "up/").await?, &expected)?;
    for (rel, body) in FILES {
        ctx.expect_data(&format!("up/{rel}"), body).await?;
    }
    let dst = temp_dir()?;
    let out = dst.path().join("restored");
    let report = ctx
        .d()
        .download_dir(&ctx.container, &ctx.k("up"), &out, &TreeOptions::default())
        .await
        .or_fail("download_dir")?;
    ensure_clean("download_dir", &report)?;
    ensure_eq("download_dir (objects, bytes, skipped, filtered)", &counts(&report), &(7, total(FILES), 0, 0))?;
    ensure_eq("the downloaded tree", &read_tree(&out)?, &expected_files(FILES))
}

async fn tree_upload_content_types(ctx: Ctx) -> CaseResult {
    let _src = upload_fixture(&ctx, "ct").await?;
    for (name, want) in
        [("plain.txt", "text/plain"), ("sub/dir/deep.png", "image/png"), ("a~b=c&d.json", "application/json")]
    {
        let head = ctx.head(&format!("ct/{name}")).await?;
        ensure_eq(&format!("content_type of {name:?}"), &head.content_type.as_deref(), &Some(want))?;
    }
    Ok(())
}

async fn tree_upload_filters(ctx: Ctx) -> CaseResult {
    let dir = temp_dir()?;
    write_tree(dir.path(), FILES)?;
    write_tree(dir.path(), &[("tmp/scratch.txt", b"x"), ("tmp/deep/more.txt", b"y")])?;
    let filter = Filter::new(&["*.txt", "*.png"], &["tmp/**", "with space*"]).or_fail("Filter::new")?;
    let options = TreeOptions { filter, ..TreeOptions::default() };
    let report =
        ctx.d().upload_dir(dir.path(), &ctx.container, &ctx.k("f"), &options).await.or_fail("upload_dir filtered")?;
    ensure_clean("upload_dir filtered", &report)?;
    ensure_eq(
        "keys after a filtered upload_dir",
        &keys_under(&ctx, "f/").await?,
        &strings(&["f/plain.txt", "f/sub/dir/deep.png"]),
    )?;
    ensure_eq("(objects, filtered) of a filtered upload_dir", &(report.objects, report.filtered), &(2, 5))
}

async fn tree_upload_no_overwrite(ctx: Ctx) -> CaseResult {
    ctx.put("nw/plain.txt", Bytes::from_static(b"remote version")).await?;
    let dir = temp_dir()?;
    write_tree(dir.path(), FILES)?;
    let options = TreeOptions { overwrite: false, ..TreeOptions::default() };
    let report = ctx.d().upload_dir(dir.path(), &ctx.container, &ctx.k("nw"), &options).await.or_fail("upload_dir")?;
    ensure_clean("upload_dir without overwrite", &report)?;
    ensure_eq("(objects, skipped) without overwrite", &(report.objects, report.skipped), &(6, 1))?;
    ctx.expect_data("nw/plain.txt", b"remote version").await
}

async fn tree_upload_dry_run(ctx: Ctx) -> CaseResult {
    let dir = temp_dir()?;
    write_tree(dir.path(), FILES)?;
    let options = TreeOptions { dry_run: true, ..TreeOptions::default() };
    let report =
        ctx.d().upload_dir(dir.path(), &ctx.container, &ctx.k("dry"), &options).await.or_fail("upload_dir dry run")?;
    ensure_eq("(objects, bytes) of a dry run", &(report.objects, report.bytes), &(7, total(FILES)))?;
    ensure_eq("keys after a dry run", &keys_under(&ctx, "dry/").await?, &Vec::<String>::new())
}

async fn tree_download_filters(ctx: Ctx) -> CaseResult {
    let _src = upload_fixture(&ctx, "df").await?;
    let dst = temp_dir()?;
    let filter = Filter::new(&["sub"], &["*.log"]).or_fail("Filter::new")?;
    let options = TreeOptions { filter, ..TreeOptions::default() };
    let report =
        ctx.d().download_dir(&ctx.container, &ctx.k("df"), dst.path(), &options).await.or_fail("download_dir")?;
    ensure_clean("download_dir filtered", &report)?;
    ensure_eq("(objects, filtered) of a filtered download_dir", &(report.objects, report.filtered), &(2, 5))?;
    let want = expected_files(&[("sub/dir/deep.png", b"\x89PNG fake"), ("sub/empty.bin", b"")]);
    ensure_eq("the downloaded tree", &read_tree(dst.path())?, &want)
}

async fn tree_download_no_overwrite(ctx: Ctx) -> CaseResult {
    let _src = upload_fixture(&ctx, "dn").await?;
    let dst = temp_dir()?;
    write_tree(dst.path(), &[("plain.txt", b"local version")])?;
    let options = TreeOptions { overwrite: false, ..TreeOptions::default() };
    let report =
        ctx.d().download_dir(&ctx.container, &ctx.k("dn"), dst.path(), &options).await.or_fail("download_dir")?;
    ensure_clean("download_dir without overwrite", &report)?;
    ensure_eq("(objects, skipped) without overwrite", &(report.objects, report.skipped), &(6, 1))?;
    let got = std::fs::read(dst.path().join("plain.txt")).map_err(|e| format!("cannot read plain.txt: {e}"))?;
    same_bytes("the local file kept", &got, b"local version")
}

async fn tree_download_refuses_escaping_keys(ctx: Ctx) -> CaseResult {
    // Keys the driver itself refuses to store (a local driver refuses `..`) need no
    // refusing on download.
    let mut bad = Vec::new();
    for name in ["esc/../evil", "esc/a/../../evil", "esc/x//y", "esc/./dot"] {
        match ctx.try_put(name, Payload::Bytes(Bytes::from_static(b"bad")), &PutOptions::default()).await {
            Ok(_) => bad.push(name),
            Err(e) if e.kind() == ErrorKind::InvalidObjectName => {}
            Err(e) => return Err(format!("put_object {name:?}: unexpected error: {e}")),
        }
    }
    ctx.put("esc/good/file.txt", Bytes::from_static(b"good")).await?;
    let base = temp_dir()?;
    let root = base.path().join("root");
    let report = ctx
        .d()
        .download_dir(&ctx.container, &ctx.k("esc"), &root, &TreeOptions::default())
        .await
        .or_fail("download_dir")?;
    ensure_eq("objects downloaded", &report.objects, &1)?;
    let mut refused: Vec<String> = report.failed.iter().map(|(k, _)| ctx.rel(k).to_owned()).collect();
    refused.sort();
    let mut want = strings(&bad);
    want.sort();
    ensure_eq("keys refused", &refused, &want)?;
    for (k, e) in &report.failed {
        ensure!(
            e.kind() == ErrorKind::InvalidObjectName,
            "{:?} was refused with {e}, not InvalidObjectName",
            ctx.rel(k)
        );
    }
    let everything = read_tree(base.path())?;
    ensure_eq(
        "files written under the temporary directory",
        &everything.keys().cloned().collect::<Vec<_>>(),
        &strings(&["root/good/file.txt"]),
    )
}

async fn put_logs(ctx: &Ctx, folder: &str) -> CaseResult {
    for i in 0..5 {
        ctx.put(&format!("{folder}/{i}.log"), data(i * 10, i as u64)).await?;
        ctx.put(&format!("{folder}/keep/{i}.txt"), Bytes::from_static(b"k")).await?;
    }
    Ok(())
}

async fn tree_remove_filtered(ctx: Ctx) -> CaseResult {
    put_logs(&ctx, "rm").await?;
    ctx.put("rm-other/0.log", Bytes::from_static(b"other")).await?;
    let filter = Filter::include(&["*.log"]).or_fail("Filter::include")?;
    let options = TreeOptions { filter, ..TreeOptions::default() };
    let report = ctx.d().remove_tree(&ctx.container, &ctx.k("rm"), &options).await.or_fail("remove_tree")?;
    ensure_clean("remove_tree", &report)?;
    ensure_eq(
        "remove_tree (objects, bytes, filtered)",
        &(report.objects, report.bytes, report.filtered),
        &(5, 100, 5),
    )?;
    let expected: Vec<String> = (0..5).map(|i| format!("rm/keep/{i}.txt")).collect();
    ensure_eq("keys left under rm/", &keys_under(&ctx, "rm/").await?, &expected)?;
    ensure_eq("keys beside the folder", &keys_under(&ctx, "rm-other/").await?, &strings(&["rm-other/0.log"]))
}

async fn tree_remove_all(ctx: Ctx) -> CaseResult {
    put_logs(&ctx, "ra").await?;
    // A key named like the folder is not in it; tried only where keys and prefixes
    // coexist (drivers mapping keys onto a directory tree cannot hold both, and rclone
    // serve s3's failed attempt leaves a ghost `ra` that hides `ra/` from listings).
    let beside = ctx.caps.key_and_prefix && ctx.put("ra", Bytes::from_static(b"beside")).await.is_ok();
    let dry = TreeOptions { dry_run: true, ..TreeOptions::default() };
    let report = ctx.d().remove_tree(&ctx.container, &ctx.k("ra/"), &dry).await.or_fail("remove_tree dry run")?;
    ensure_eq("objects a dry run would remove", &report.objects, &10)?;
    ensure_eq("keys after a dry run", &keys_under(&ctx, "ra/").await?.len(), &10)?;
    let report =
        ctx.d().remove_tree(&ctx.container, &ctx.k("ra"), &TreeOptions::default()).await.or_fail("remove_tree")?;
    ensure_clean("remove_tree", &report)?;
    ensure_eq("objects removed", &report.objects, &10)?;
    ensure_eq("keys left under ra/", &keys_under(&ctx, "ra/").await?, &Vec::<String>::new())?;
    if beside {
        ctx.expect_data("ra", b"beside").await?;
    }
    Ok(())
}

/// `ls/`: objects a (20 bytes), b (10), c (30); folders d/ (5 + 6 bytes) and e/ (100).
async fn listing_fixture(ctx: &Ctx) -> CaseResult {
    for (name, len) in [("ls/c", 30), ("ls/a", 20), ("ls/d/1", 5), ("ls/d/2", 6), ("ls/b", 10), ("ls/e/x/y", 100)] {
        ctx.put(name, data(len, len as u64)).await?;
    }
    Ok(())
}

async fn ls(
    ctx: &Ctx,
    order: Order,
    descending: bool,
    max: Option<usize>,
    sizes: bool,
) -> Result<Vec<DirEntry>, String> {
    let options = ListdirOptions { order, descending, max, sizes };
    ctx.d().listdir(&ctx.container, &ctx.k("ls"), &options).await.or_fail(&format!("listdir {options:?}"))
}

fn names(entries: &[DirEntry]) -> Vec<String> {
    entries.iter().map(|e| e.name.clone()).collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

async fn tree_listdir_order_name(ctx: Ctx) -> CaseResult {
    listing_fixture(&ctx).await?;
    let all = ls(&ctx, Order::Name, false, None, false).await?;
    ensure_eq("listdir by name", &names(&all), &strings(&["a", "b", "c", "d/", "e/"]))?;
    for e in &all {
        ensure_eq(&format!("is_prefix of {:?}", e.name), &e.is_prefix, &e.name.ends_with('/'))?;
        ensure_eq(&format!("key of {:?}", e.name), &e.key, &ctx.k(&format!("ls/{}", e.name)))?;
    }
    ensure_eq("size of a", &all[0].size, &20)?;
    ensure_eq(
        "listdir by name, descending",
        &names(&ls(&ctx, Order::Name, true, None, false).await?),
        &strings(&["e/", "d/", "c", "b", "a"]),
    )?;
    ensure_eq(
        "listdir by name, max 2",
        &names(&ls(&ctx, Order::Name, false, Some(2), false).await?),
        &strings(&["a", "b"]),
    )?;
    ensure_eq(
        "listdir by name, descending, max 2",
        &names(&ls(&ctx, Order::Name, true, Some(2), false).await?),
        &strings(&["e/", "d/"]),
    )
}

async fn tree_listdir_order_size(ctx: Ctx) -> CaseResult {
    listing_fixture(&ctx).await?;
    ensure_eq(
        "listdir by size (folders unsized weigh 0)",
        &names(&ls(&ctx, Order::Size, false, None, false).await?),
        &strings(&["d/", "e/", "b", "a", "c"]),
    )?;
    ensure_eq(
        "listdir by size, descending, max 3",
        &names(&ls(&ctx, Order::Size, true, Some(3), false).await?),
        &strings(&["c", "a", "b"]),
    )?;
    ensure_eq(
        "listdir by size with folder sizes",
        &names(&ls(&ctx, Order::Size, false, None, true).await?),
        &strings(&["b", "d/", "a", "c", "e/"]),
    )?;
    ensure_eq(
        "listdir by size with sizes, descending, max 2",
        &names(&ls(&ctx, Order::Size, true, Some(2), true).await?),
        &strings(&["e/", "c"]),
    )
}

async fn tree_listdir_order_time(ctx: Ctx) -> CaseResult {
    listing_fixture(&ctx).await?;
    // Timestamps may have a coarse resolution: check the order is consistent with the
    // times reported (ties by name), whatever they are.
    for descending in [false, true] {
        let got = ls(&ctx, Order::Time, descending, None, true).await?;
        ensure_eq("entries listed by time", &got.len(), &5)?;
        for w in got.windows(2) {
            let key = |e: &DirEntry| (e.last_modified, e.name.clone());
            let in_order = if descending { key(&w[0]) >= key(&w[1]) } else { key(&w[0]) <= key(&w[1]) };
            ensure!(
                in_order,
                "listdir by time (descending: {descending}): {:?} ({:?}) comes before {:?} ({:?})",
                w[0].name,
                w[0].last_modified,
                w[1].name,
                w[1].last_modified
            );
        }
        let cut = ls(&ctx, Order::Time, descending, Some(2), true).await?;
        ensure_eq("listdir by time, max 2", &names(&cut), &names(&got[..2]))?;
    }
    Ok(())
}

async fn tree_listdir_sizes(ctx: Ctx) -> CaseResult {
    listing_fixture(&ctx).await?;
    let all = ls(&ctx, Order::Name, false, None, true).await?;
    let summary: Vec<(String, u64, Option<u64>)> =
        all.iter().map(|e| (e.name.clone(), e.size, e.object_count)).collect();
    let want: Vec<(String, u64, Option<u64>)> =
        [("a", 20, 1), ("b", 10, 1), ("c", 30, 1), ("d/", 11, 2), ("e/", 100, 1)]
            .iter()
            .map(|(n, s, c)| ((*n).to_owned(), *s, Some(*c)))
            .collect();
    ensure_eq("listdir with sizes (name, size, object_count)", &summary, &want)?;
    let plain = ls(&ctx, Order::Name, false, None, false).await?;
    ensure_eq("object_count of a folder without sizes", &plain[3].object_count, &None)
}

async fn tree_space_used(ctx: Ctx) -> CaseResult {
    listing_fixture(&ctx).await?;
    ctx.put("ls-other/x", data(7, 7)).await?;
    let got = ctx.d().space_used(&ctx.container, Some(&ctx.k("ls"))).await.or_fail("space_used")?;
    ensure_eq("space_used of the folder", &got, &Usage { objects: 6, bytes: 171 })?;
    let got = ctx.d().space_used(&ctx.container, Some(&ctx.k("ls/d/"))).await.or_fail("space_used")?;
    ensure_eq("space_used of a sub-folder", &got, &Usage { objects: 2, bytes: 11 })?;
    let got = ctx.d().space_used(&ctx.container, Some(&ctx.k("nothing"))).await.or_fail("space_used")?;
    ensure_eq("space_used of an empty folder", &got, &Usage::default())
}

fn rich(ct: &str) -> PutOptions {
    PutOptions::content_type(ct).with_metadata("origin", "conformance")
}

async fn check_copy(ctx: &Ctx, d: &dyn Driver, container: &str, key: &str, body: &[u8], ct: &str) -> CaseResult {
    let res = d.head_object(container, key).await.or_fail(&format!("head_object {key:?}"))?;
    ensure_eq(&format!("size of {key:?}"), &res.size, &(body.len() as u64))?;
    let got = storage_core::DriverExt::get_bytes(d, container, key).await.or_fail(&format!("get {key:?}"))?;
    same_bytes(&format!("the data of {key:?}"), &got, body)?;
    if ctx.caps.content_headers {
        ensure_eq(&format!("content_type of {key:?}"), &res.content_type.as_deref(), &Some(ct))?;
    }
    if ctx.caps.user_metadata {
        ensure_eq(
            &format!("metadata of {key:?}"),
            &res.metadata.get("origin").map(String::as_str),
            &Some("conformance"),
        )?;
    }
    Ok(())
}

const COPY_SET: &[(&str, &str, usize)] =
    &[("one.txt", "text/plain", 100), ("dir/two.bin", "application/x-two", 70_000), ("dir/sp ace~.csv", "text/csv", 0)];

async fn put_copy_set(ctx: &Ctx, folder: &str) -> CaseResult {
    for (i, (name, ct, len)) in COPY_SET.iter().enumerate() {
        ctx.put_opts(&format!("{folder}/{name}"), data(*len, i as u64), &rich(ct)).await?;
    }
    Ok(())
}

async fn tree_copy_tree_within(ctx: Ctx) -> CaseResult {
    put_copy_set(&ctx, "cs").await?;
    let d = ctx.d();
    let report = d
        .copy_tree(&ctx.container, &ctx.k("cs"), d, &ctx.container, &ctx.k("cd"), &TreeOptions::default())
        .await
        .or_fail("copy_tree")?;
    ensure_clean("copy_tree", &report)?;
    ensure_eq("objects copied", &report.objects, &3)?;
    for (i, (name, ct, len)) in COPY_SET.iter().enumerate() {
        check_copy(&ctx, d, &ctx.container, &ctx.k(&format!("cd/{name}")), &data(*len, i as u64), ct).await?;
    }
    // Overlapping folders: each object is copied once.
    let report = d
        .copy_tree(&ctx.container, &ctx.k("cs"), d, &ctx.container, &ctx.k("cs/nested"), &TreeOptions::default())
        .await
        .or_fail("copy_tree into a sub-folder of the source")?;
    ensure_eq("objects copied into a sub-folder", &report.objects, &3)?;
    ensure_eq("keys under cs/", &keys_under(&ctx, "cs/").await?.len(), &6)
}

async fn tree_copy_tree_other_driver(ctx: Ctx) -> CaseResult {
    put_copy_set(&ctx, "ex").await?;
    let memory = MemoryDriver::new();
    memory.create_container("export").await.or_fail("create a MemoryDriver container")?;
    let report = ctx
        .d()
        .copy_tree(&ctx.container, &ctx.k("ex"), &memory, "export", "copied", &TreeOptions::default())
        .await
        .or_fail("copy_tree to a MemoryDriver")?;
    ensure_clean("copy_tree to a MemoryDriver", &report)?;
    ensure_eq("objects exported", &report.objects, &3)?;
    for (i, (name, _, len)) in COPY_SET.iter().enumerate() {
        let key = format!("copied/{name}");
        let got = storage_core::DriverExt::get_bytes(&memory, "export", &key).await.or_fail(&format!("get {key:?}"))?;
        same_bytes(&format!("the exported {name:?}"), &got, &data(*len, i as u64))?;
    }
    let report = memory
        .copy_tree("export", "copied", ctx.d(), &ctx.container, &ctx.k("back"), &TreeOptions::default())
        .await
        .or_fail("copy_tree from a MemoryDriver")?;
    ensure_clean("copy_tree from a MemoryDriver", &report)?;
    for (i, (name, ct, len)) in COPY_SET.iter().enumerate() {
        check_copy(&ctx, ctx.d(), &ctx.container, &ctx.k(&format!("back/{name}")), &data(*len, i as u64), ct).await?;
    }
    Ok(())
}
