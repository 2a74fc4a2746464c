//! End-to-end: commands that write, overwrite, move or delete never destroy data. Each
//! test runs the built `storage` binary against the local driver and the servers
//! `cargo xtask test` starts, and checks that a refused command changed nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{World, bucket, write};

/// Backends the data-safety cases run on: the local driver, an S3 server, Redis.
const SAFETY_REMOTES: &[&str] = &["local", "moto", "redis"];

fn setup_tree(w: &World, remote: &str, name: &str) -> String {
    let base = format!("{remote}://{}", bucket(&format!("{name}-{remote}")));
    w.ok(&["mb", &base]);
    base
}

#[test]
fn sync_delete_from_a_missing_or_empty_source_deletes_nothing() {
    let w = World::new();
    write(&w.path("src/a.txt"), b"a");
    write(&w.path("src/b.txt"), b"b");
    for remote in SAFETY_REMOTES {
        let base = setup_tree(&w, remote, "syncmiss");
        let dst = format!("{base}/pfx");
        w.ok(&["sync", &w.p("src"), &dst]);
        // A missing local directory: not found, nothing deleted.
        let (_, err) = w.code(&["sync", "--delete", &w.p("no-such-dir"), &dst], 3);
        assert!(err.contains("does not exist"), "{remote}: {err}");
        // A typo'd (empty) source prefix: refused without --allow-empty-source.
        write(&w.path("mirror/keep.txt"), b"keep");
        let (_, err) = w.code(&["sync", "--delete", &format!("{base}/pfx-typo"), &w.p("mirror")], 2);
        assert!(err.contains("--allow-empty-source"), "{remote}: {err}");
        assert_eq!(std::fs::read(w.path("mirror/keep.txt")).unwrap(), b"keep", "{remote}");
        // A missing source container: not found.
        let (_, err) =
            w.code(&["sync", "--delete", &format!("{remote}://no-such-bucket-{}/x", std::process::id()), &dst], 3);
        assert!(err.contains("does not exist"), "{remote}: {err}");
        assert_eq!(w.ok(&["ls", &format!("{dst}/")]).lines().count(), 2, "{remote}: the destination was touched");
        // An empty local source directory: refused, then accepted when confirmed.
        std::fs::create_dir_all(w.path("empty")).unwrap();
        w.code(&["sync", "--delete", &w.p("empty"), &dst], 2);
        assert_eq!(w.ok(&["ls", &format!("{dst}/")]).lines().count(), 2, "{remote}");
        let out = w.ok(&["sync", "--delete", "--allow-empty-source", &w.p("empty"), &dst]);
        assert!(out.contains("2 deleted"), "{remote}: {out}");
        std::fs::remove_dir_all(w.path("mirror")).unwrap();
        w.ok(&["rb", "--force", &base]);
    }
}

#[test]
fn sync_delete_skips_deletions_when_a_copy_failed() {
    let w = World::new();
    let base = setup_tree(&w, "moto", "syncfail");
    // A key whose last segment is too long for a local file name: its download fails.
    let long = "x".repeat(300);
    write(&w.path("one.txt"), b"1");
    w.ok(&["cp", &w.p("one.txt"), &format!("{base}/src/one.txt")]);
    w.ok(&["cp", &w.p("one.txt"), &format!("{base}/src/{long}")]);
    write(&w.path("mirror/extra.txt"), b"only here");
    let (out, err) = w.code(&["sync", "--delete", &format!("{base}/src"), &w.p("mirror")], 1);
    assert!(err.contains("deletions") || out.contains("deletions skipped"), "{out} {err}");
    assert_eq!(std::fs::read(w.path("mirror/extra.txt")).unwrap(), b"only here", "a deletion ran after a failed copy");
    assert_eq!(std::fs::read(w.path("mirror/one.txt")).unwrap(), b"1");
    // --json: the failed file is reported as failed, never as copied, and a summary follows.
    let (out, _) = w.code(&["--json", "cp", "-r", &format!("{base}/src"), &w.p("jsoncopy")], 1);
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let failed: Vec<_> = lines.iter().filter(|v| v["ok"] == false).collect();
    assert_eq!(failed.len(), 1, "{out}");
    assert_eq!(failed[0]["path"], long.as_str());
    assert!(lines.iter().any(|v| v["ok"] == true && v["path"] == "one.txt"), "{out}");
    let summary = lines.last().unwrap();
    assert_eq!((summary["objects"].as_u64(), summary["failed"].as_u64()), (Some(1), Some(1)), "{out}");
    // Text: the failed path is not listed as copied with -v.
    let (out, _) = w.code(&["-v", "cp", "-r", &format!("{base}/src"), &w.p("textcopy")], 1);
    assert!(!out.contains(&long), "{out}");
    assert!(out.contains("copy one.txt") && out.contains("1 failed"), "{out}");
    w.ok(&["rb", "--force", &base]);
}

#[test]
fn copying_or_moving_a_file_onto_itself_is_refused_locally() {
    let w = World::new();
    write(&w.path("d/f.txt"), b"precious");
    write(&w.path("d/sub/g.txt"), b"also precious");
    let d = w.p("d");
    let f = w.p("d/f.txt");
    for args in [
        vec!["cp", f.as_str(), f.as_str()],
        vec!["cp", "d/f.txt", "./d/"],
        vec!["cp", "d/f.txt", "d"],
        vec!["mv", f.as_str(), f.as_str()],
        vec!["mv", "d/f.txt", "./d/./"],
        vec!["cp", "-r", d.as_str(), d.as_str()],
        vec!["cp", "-r", "d", "./d/"],
        vec!["cp", "-r", "d", "d/sub/inner"],
        vec!["mv", "-r", "d", "d"],
        vec!["mv", "-r", "d/sub", "d"],
        vec!["sync", "--delete", "d", "d/"],
        vec!["sync", "--delete", "d/sub", "d"],
    ] {
        let (_, err) = w.code(&args, 2);
        assert!(err.contains("same") || err.contains("overlap"), "{args:?}: {err}");
        assert_eq!(std::fs::read(w.path("d/f.txt")).unwrap(), b"precious", "{args:?}");
        assert_eq!(std::fs::read(w.path("d/sub/g.txt")).unwrap(), b"also precious", "{args:?}");
        assert!(!w.path("d/sub/inner").exists(), "{args:?}");
    }
    // A link to the same file is the same file.
    std::os::unix::fs::symlink(w.path("d/f.txt"), w.path("link.txt")).unwrap();
    w.code(&["cp", "link.txt", "d/f.txt"], 2);
    assert_eq!(std::fs::read(w.path("d/f.txt")).unwrap(), b"precious");
    // A real copy still works, and goes through a temporary file.
    w.ok(&["cp", "d/f.txt", "copy.txt"]);
    assert_eq!(std::fs::read(w.path("copy.txt")).unwrap(), b"precious");
    w.ok(&["mv", "copy.txt", "moved.txt"]);
    assert!(!w.path("copy.txt").exists());
    assert_eq!(std::fs::read(w.path("moved.txt")).unwrap(), b"precious");
}

#[test]
fn moving_an_object_onto_itself_is_refused_on_every_backend() {
    let w = World::new();
    write(&w.path("k.txt"), b"precious");
    for remote in common::REMOTES {
        let base = setup_tree(&w, remote, "self");
        let k = format!("{base}/d/k.txt");
        w.ok(&["cp", &w.p("k.txt"), &k]);
        for args in [
            vec!["mv", k.as_str(), k.as_str()],
            vec!["cp", k.as_str(), k.as_str()],
            vec!["mv", k.as_str(), &format!("{base}/d/")],
            vec!["mv", "-r", &format!("{base}/d"), &format!("{base}/d/")],
            vec!["cp", "-r", &format!("{base}/d"), &format!("{base}/d/deeper")],
            vec!["sync", "--delete", &format!("{base}/d/"), &format!("{base}/d")],
            vec!["sync", "--delete", &format!("{base}/d/"), &base],
        ] {
            let (_, err) = w.code(&args, 2);
            assert!(err.contains("same") || err.contains("overlap"), "{remote} {args:?}: {err}");
            assert_eq!(w.ok(&["cat", &k]), "precious", "{remote} {args:?}");
        }
        w.ok(&["rb", "--force", &base]);
    }
    // Two names for one server, and two spellings of one local root.
    for (a, b) in [("moto", "motoalias"), ("local", "localalias")] {
        let name = bucket(&format!("alias-{a}"));
        w.ok(&["mb", &format!("{a}://{name}")]);
        let k = format!("{a}://{name}/k.txt");
        w.ok(&["cp", &w.p("k.txt"), &k]);
        let (_, err) = w.code(&["mv", &k, &format!("{b}://{name}/k.txt")], 2);
        assert!(err.contains("same"), "{a}/{b}: {err}");
        w.code(&["sync", "--delete", &format!("{a}://{name}/"), &format!("{b}://{name}/")], 2);
        assert_eq!(w.ok(&["cat", &k]), "precious", "{a}/{b}");
        w.ok(&["rb", "--force", &format!("{a}://{name}")]);
    }
}

#[test]
fn rb_and_mb_refuse_a_url_with_a_key() {
    let w = World::new();
    write(&w.path("k.txt"), b"k");
    for remote in SAFETY_REMOTES {
        let base = setup_tree(&w, remote, "rbkey");
        w.ok(&["cp", &w.p("k.txt"), &format!("{base}/tmp/k.txt")]);
        w.ok(&["cp", &w.p("k.txt"), &format!("{base}/keep.txt")]);
        let (_, err) = w.code(&["rb", "--force", &format!("{base}/tmp/")], 2);
        assert!(err.contains("container only"), "{remote}: {err}");
        assert_eq!(w.ok(&["cat", &format!("{base}/keep.txt")]), "k", "{remote}");
        let other = bucket(&format!("mbkey-{remote}"));
        w.code(&["mb", &format!("{remote}://{other}/some/key")], 2);
        w.code(&["ls", &format!("{remote}://{other}/")], 3);
        w.ok(&["rb", "--force", &base]);
    }
}

#[test]
fn uploads_never_create_containers_unless_asked() {
    let w = World::new();
    write(&w.path("f.txt"), b"f");
    write(&w.path("tree/a.txt"), b"a");
    for remote in SAFETY_REMOTES {
        let typo = bucket(&format!("typo-{remote}"));
        let (_, err) = w.code(&["cp", &w.p("f.txt"), &format!("{remote}://{typo}/f.txt")], 3);
        assert!(err.contains("ContainerDoesNotExist") && err.contains("storage mb"), "{remote}: {err}");
        w.code(&["cp", "-r", &w.p("tree"), &format!("{remote}://{typo}/t")], 3);
        w.code(&["sync", &w.p("tree"), &format!("{remote}://{typo}/t")], 3);
        let out = w.run_with_stdin(&["cp", "-", &format!("{remote}://{typo}/s.txt")], Some(b"x"));
        assert_eq!(out.status.code(), Some(3), "{remote}");
        let containers = w.ok(&["ls", &format!("{remote}://")]);
        assert!(!containers.lines().any(|l| l == typo), "{remote}: {typo} was created: {containers}");
        // Asked for: created.
        w.ok(&["cp", "--create-container", &w.p("f.txt"), &format!("{remote}://{typo}/f.txt")]);
        assert_eq!(w.ok(&["cat", &format!("{remote}://{typo}/f.txt")]), "f");
        w.ok(&["rb", "--force", &format!("{remote}://{typo}")]);
    }
}

#[test]
fn symlinks_are_never_skipped_silently() {
    let w = World::new();
    write(&w.path("outside/target.txt"), b"linked");
    write(&w.path("src/plain.txt"), b"plain");
    std::os::unix::fs::symlink(w.path("outside/target.txt"), w.path("src/link.txt")).unwrap();
    std::os::unix::fs::symlink(w.path("outside"), w.path("src/linkdir")).unwrap();
    let base = setup_tree(&w, "local", "links");
    let (out, err) = w.code(&["cp", "-r", &w.p("src"), &format!("{base}/t")], 0);
    assert!(err.contains("skipping symbolic link") && err.contains("link.txt") && err.contains("-L"), "{err}");
    assert!(out.contains("2 symbolic links skipped"), "{out}");
    // check counts the links as differences.
    let (out, _) = w.code(&["check", &w.p("src"), &format!("{base}/t")], 1);
    assert!(out.contains("symbolic link") && out.contains("2 differences"), "{out}");
    // -L follows them.
    w.ok(&["cp", "-r", "-L", &w.p("src"), &format!("{base}/t")]);
    assert_eq!(w.ok(&["cat", &format!("{base}/t/link.txt")]), "linked");
    assert_eq!(w.ok(&["cat", &format!("{base}/t/linkdir/target.txt")]), "linked");
    w.ok(&["check", "-L", &w.p("src"), &format!("{base}/t")]);
    w.ok(&["sync", "-L", &w.p("src"), &format!("{base}/t")]);
    w.ok(&["rb", "--force", &base]);
}

/// Waits for `cond`, up to 60 s.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Unfinished multipart uploads in a container, asked of the backend through the library.
fn unfinished_uploads(w: &World, remote: &str, container: &str) -> usize {
    let config = storage::Config::load(&w.config).unwrap();
    let driver = storage::Storage::new(config).backend(remote).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(driver.list_multipart_uploads(container, None)).unwrap().len()
}

#[test]
fn ctrl_c_aborts_an_upload_in_flight_and_exits_130() {
    let w = World::new();
    for remote in ["moto", "redis"] {
        let base = setup_tree(&w, remote, "sigint");
        let container = base.split("://").nth(1).unwrap().to_owned();
        let mut child = w
            .command(&["cp", "-", &format!("{base}/big.bin")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // More than one part, then the writer pauses with stdin still open.
        stdin.write_all(&vec![7u8; 40 << 20]).unwrap();
        wait_for("a multipart upload to start", || unfinished_uploads(&w, remote, &container) > 0);
        std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
        let out = child.wait_with_output().unwrap();
        drop(stdin);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{remote}: {err}");
        assert!(err.contains("interrupted") && err.lines().count() == 1, "{remote}: {err}");
        assert_eq!(unfinished_uploads(&w, remote, &container), 0, "{remote}: the upload was left behind");
        w.code(&["stat", &format!("{base}/big.bin")], 3);
        w.ok(&["rb", "--force", &base]);
    }
}

#[test]
fn an_interrupted_download_leaves_no_temporary_file() {
    let w = World::new();
    let base = setup_tree(&w, "moto", "sigdl");
    let data = vec![3u8; 200 << 20];
    write(&w.path("big.bin"), &data);
    w.ok(&["cp", &w.p("big.bin"), &format!("{base}/big.bin")]);
    std::fs::create_dir_all(w.path("down")).unwrap();
    let temp_exists = |w: &World| {
        std::fs::read_dir(w.path("down"))
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().contains("storage-tmp"))
    };
    // One range at a time so the download lasts long enough to be caught midway.
    let mut interrupted = false;
    for _ in 0..5 {
        let mut child = w
            .command(&["-j", "1", "cp", &format!("{base}/big.bin"), &w.p("down/big.bin")])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while !temp_exists(&w) && start.elapsed() < Duration::from_secs(30) && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        let out = child.wait_with_output().unwrap();
        if out.status.code() == Some(130) {
            interrupted = true;
            break;
        }
        std::fs::remove_file(w.path("down/big.bin")).unwrap();
    }
    assert!(interrupted, "the download always finished before the signal");
    assert!(!temp_exists(&w), "a temporary file was left behind");
    assert!(!w.path("down/big.bin").exists(), "a partial destination was left behind");
    w.ok(&["rb", "--force", &base]);
}

#[test]
fn cat_reads_empty_objects_ends_and_tails() {
    let w = World::new();
    for remote in SAFETY_REMOTES {
        let base = setup_tree(&w, remote, "cat");
        let out = w.run_with_stdin(&["cp", "-", &format!("{base}/empty")], Some(b""));
        assert!(out.status.success(), "{remote}");
        let out = w.run_with_stdin(&["cp", "-", &format!("{base}/abc")], Some(b"abcdef"));
        assert!(out.status.success(), "{remote}");
        assert_eq!(w.ok(&["cat", "--offset", "0", &format!("{base}/empty")]), "", "{remote}");
        assert_eq!(w.ok(&["cat", "--tail", "3", &format!("{base}/empty")]), "", "{remote}");
        assert_eq!(w.ok(&["cat", "--tail", "3", &format!("{base}/abc")]), "def", "{remote}");
        assert_eq!(w.ok(&["cat", "--tail", "30", &format!("{base}/abc")]), "abcdef", "{remote}");
        assert_eq!(w.ok(&["cat", "--offset", "6", &format!("{base}/abc")]), "", "{remote}");
        w.code(&["cat", "--offset", "7", &format!("{base}/abc")], 1);
        w.code(&["cat", &format!("{base}/missing")], 3);
        w.ok(&["rb", "--force", &base]);
    }
}

#[test]
fn exit_codes_tell_usage_from_not_found_from_failure() {
    let w = World::new();
    let base = setup_tree(&w, "local", "codes");
    w.code(&["stat", &format!("{base}/missing")], 3);
    w.code(&["cp", &w.p("no-such-file"), &format!("{base}/x")], 3);
    w.code(&["ls", "nope://bucket"], 2);
    w.code(&["presign", "--expires-in", "soon", &format!("{base}/k")], 2);
    w.code(&["cp", "--include", "*.txt", &w.p("a"), &format!("{base}/x")], 2);
    w.code(&["rm", "--exclude", "*.txt", &format!("{base}/x")], 2);
    w.code(&["ls", &format!("local://no-such-container-{}/", std::process::id())], 3);
    let help = w.ok(&["--help"]);
    for needle in ["Exit codes", "SCHEME://CONTAINER/KEY", "storage.toml", "Examples", "completions"] {
        assert!(help.contains(needle), "--help lacks {needle}: {help}");
    }
    let script = w.ok(&["completions", "bash"]);
    assert!(script.contains("_storage") && script.contains("sync"), "{script}");
    w.ok(&["rb", "--force", &base]);
}

#[test]
fn uploads_guess_content_types_and_name_destinations() {
    let w = World::new();
    let base = setup_tree(&w, "moto", "ctype");
    write(&w.path("data.json"), b"{}");
    let out = w.ok(&["cp", &w.p("data.json"), &format!("{base}/")]);
    assert!(out.contains("data.json"), "{out}");
    let stat = w.ok(&["--json", "stat", &format!("{base}/data.json")]);
    let v: serde_json::Value = serde_json::from_str(stat.trim()).unwrap();
    assert_eq!(v["content_type"], "application/json");
    let out = w.ok(&["cp", &format!("{base}/data.json"), &w.p("back.json")]);
    assert!(out.contains(&w.p("back.json")), "the download names its destination: {out}");
    let long = w.ok(&["ls", "-l", &format!("{base}/")]);
    assert!(long.contains("data.json") && long.contains(" 2 ") || long.contains("2  "), "{long}");
    w.ok(&["rb", "--force", &base]);
}

#[test]
fn progress_without_a_terminal_prints_plain_lines() {
    let w = World::new();
    let base = setup_tree(&w, "moto", "plainprog");
    write(&w.path("p.bin"), &vec![1u8; 1 << 20]);
    for args in [
        vec!["-P".to_owned(), "cp".into(), w.p("p.bin"), format!("{base}/p.bin")],
        vec!["-P".to_owned(), "cp".into(), format!("{base}/p.bin"), format!("{base}/q.bin")],
        vec!["-P".to_owned(), "cp".into(), format!("{base}/p.bin"), w.p("back.bin")],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (_, err) = w.code(&args, 0);
        assert!(err.contains("storage: done:") && err.contains("1.0 MiB"), "{args:?}: {err}");
    }
    let out = w.run_with_stdin(&["-P", "cp", "-", &format!("{base}/s.bin")], Some(&[5u8; 4096]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("storage: done:"));
    let out = w.run(&["-P", "cp", &format!("{base}/p.bin"), "-"]);
    assert_eq!(out.stdout.len(), 1 << 20, "the data goes to stdout, the progress to stderr");
    assert!(String::from_utf8_lossy(&out.stderr).contains("storage: done:"));
    w.ok(&["rb", "--force", &base]);
}

#[test]
fn exclude_with_a_trailing_slash_means_directories() {
    let w = World::new();
    write(&w.path("src/top.txt"), b"t");
    write(&w.path("src/sub/deep.txt"), b"d");
    let base = setup_tree(&w, "local", "dirs");
    w.ok(&["cp", "-r", "--exclude", "*/", &w.p("src"), &format!("{base}/t")]);
    assert_eq!(w.ok(&["ls", "-r", &format!("{base}/t/")]).trim(), "t/top.txt");
    w.ok(&["rb", "--force", &base]);
}

#[test]
fn a_full_local_disk_gets_a_hint_about_the_disk() {
    let w = World::new();
    let base = setup_tree(&w, "local", "full");
    let out = w.run_with_stdin(&["cp", "-", &format!("{base}/k")], Some(b"some bytes"));
    assert!(out.status.success());
    // /dev/full refuses every write with ENOSPC, as a full disk does.
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = w.command(&["cat", &format!("{base}/k")]).stdout(full).stderr(Stdio::piped()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("disk is full") && !err.contains("backend's status"), "{err}");
    w.ok(&["rb", "--force", &base]);
}

#[test]
fn sync_compares_by_recorded_time_and_content_hash() {
    for backend in ["moto", "redis"] {
        sync_compares_on(backend);
    }
}

fn sync_compares_on(backend: &str) {
    let w = World::new();
    let base = setup_tree(&w, backend, "modes");
    // Above the single-request threshold: a multipart upload, whose ETag is no MD5.
    let mut data = vec![0u8; 17 << 20];
    data[100] = 1;
    write(&w.path("src/big.bin"), &data);
    let dst = format!("{base}/m");
    w.ok(&["sync", &w.p("src"), &dst]);
    let stat = w.ok(&["--json", "stat", &format!("{dst}/big.bin")]);
    let v: serde_json::Value = serde_json::from_str(stat.trim()).unwrap();
    if backend == "moto" {
        // S3 reports the whole object's CRC32C (checked end to end as it was uploaded):
        // no MD5 is computed or recorded.
        let crc = format!("crc32c:{:08x}", storage::kit::crc32c(&data));
        assert_eq!(v["hash"], crc.as_str(), "{stat}");
        assert!(v["metadata"]["md5"].is_null(), "{stat}");
    } else {
        // Redis reports no hash for a multipart object: its MD5 is recorded.
        assert_eq!(v["metadata"]["md5"], md5_hex(&data).as_str(), "{stat}");
    }
    assert!(v["metadata"]["mtime"].is_string(), "{stat}");
    assert!(w.ok(&["sync", &w.p("src"), &dst]).contains("0 copied"));
    // Same size, new bytes, new time: copied.
    data[100] = 2;
    let old_time = std::fs::metadata(w.path("src/big.bin")).unwrap().modified().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    write(&w.path("src/big.bin"), &data);
    assert!(w.ok(&["sync", "--size-only", &w.p("src"), &dst]).contains("0 copied"), "--size-only sees no change");
    assert!(w.ok(&["sync", &w.p("src"), &dst]).contains("1 copied"));
    // Same size and time, new bytes: only --checksum sees it (as with rclone).
    data[100] = 3;
    let recorded = std::fs::metadata(w.path("src/big.bin")).unwrap().modified().unwrap();
    write(&w.path("src/big.bin"), &data);
    std::fs::File::options().write(true).open(w.path("src/big.bin")).unwrap().set_modified(recorded).unwrap();
    assert_ne!(recorded, old_time);
    assert!(w.ok(&["sync", &w.p("src"), &dst]).contains("0 copied"));
    w.code(&["check", &w.p("src"), &dst], 1);
    assert!(w.ok(&["sync", "--checksum", &w.p("src"), &dst]).contains("1 copied"));
    w.ok(&["check", &w.p("src"), &dst]);
    w.ok(&["rb", "--force", &base]);
}

fn md5_hex(data: &[u8]) -> String {
    let mut h = storage::hash::Md5Hasher::new();
    h.update(data);
    h.finish_hex()
}

#[test]
fn the_local_drivers_files_are_the_same_files_as_their_paths() {
    let w = World::new();
    let base = setup_tree(&w, "local", "alias");
    let container = base.split("://").nth(1).unwrap().to_owned();
    write(&w.path("k.txt"), b"precious");
    w.ok(&["cp", &w.p("k.txt"), &format!("{base}/d/k.txt")]);
    let on_disk = w.path(&format!("store/{container}/d/k.txt"));
    assert_eq!(std::fs::read(&on_disk).unwrap(), b"precious", "the local driver's layout");
    let disk = on_disk.to_str().unwrap();
    for args in [
        vec!["mv", &format!("{base}/d/k.txt"), disk],
        vec!["mv", disk, &format!("{base}/d/k.txt")],
        vec!["mv", disk, &format!("{base}/d/")],
        vec!["sync", "--delete", &format!("{base}/d"), on_disk.parent().unwrap().to_str().unwrap()],
    ] {
        let (_, err) = w.code(&args, 2);
        assert!(err.contains("same"), "{args:?}: {err}");
        assert_eq!(std::fs::read(&on_disk).unwrap(), b"precious", "{args:?}");
    }
    w.ok(&["rb", "--force", &base]);
}

#[test]
fn rm_r_of_nothing_or_of_an_object_says_so() {
    let w = World::new();
    for remote in SAFETY_REMOTES {
        let base = setup_tree(&w, remote, "rmr");
        let out = w.run_with_stdin(&["cp", "-", &format!("{base}/file.txt")], Some(b"x"));
        assert!(out.status.success());
        w.code(&["rm", "-r", &format!("{base}/typo/")], 3);
        let (_, err) = w.code(&["rm", "-r", &format!("{base}/file.txt")], 2);
        assert!(err.contains("use rm without -r"), "{remote}: {err}");
        assert_eq!(w.ok(&["cat", &format!("{base}/file.txt")]), "x");
        w.ok(&["rb", "--force", &base]);
    }
}

#[test]
fn cleanup_of_a_local_directory_removes_what_killed_downloads_left() {
    let w = World::new();
    // What a SIGKILLed download or copy leaves beside its destination, and a ZIP scratch dir.
    write(&w.path("down/.big.bin.storage-tmp-1a2b-0-00ff"), &[1u8; 1000]);
    write(&w.path("down/sub/.x.txt.storage-tmp-99-1-0000"), b"partial");
    write(&w.path("down/.storage-zip-1-2-3/member.txt"), b"scratch");
    write(&w.path("down/.hidden"), b"mine");
    write(&w.path("down/data.storage-tmp-looking.txt"), b"mine too");
    let (out, _) = w.code(&["cleanup", &w.p("down")], 0);
    assert!(out.contains("kept 3"), "young leftovers are kept by default: {out}");
    w.code(&["cleanup", "--older-than", "0", "--dry-run", &w.p("down")], 0);
    assert!(w.path("down/.big.bin.storage-tmp-1a2b-0-00ff").exists());
    let (out, _) = w.code(&["--json", "cleanup", "--older-than", "0", &w.p("down")], 0);
    assert!(out.contains("\"removed\":3"), "{out}");
    assert!(!w.path("down/.big.bin.storage-tmp-1a2b-0-00ff").exists());
    assert!(!w.path("down/sub/.x.txt.storage-tmp-99-1-0000").exists());
    assert!(!w.path("down/.storage-zip-1-2-3").exists());
    assert_eq!(std::fs::read(w.path("down/.hidden")).unwrap(), b"mine");
    assert_eq!(std::fs::read(w.path("down/data.storage-tmp-looking.txt")).unwrap(), b"mine too");
    w.code(&["cleanup", &w.p("no-such-dir")], 1);
}

/// `cp SRC newdir/` (a destination ending in `/` that does not exist yet) creates the
/// directory and writes the file inside it, from a remote or a local source; a missing
/// destination without the `/` is a file name, as before.
#[test]
fn copying_into_a_new_directory_creates_it() {
    let w = World::new();
    write(&w.path("f.txt"), b"local file");
    for remote in SAFETY_REMOTES {
        let base = setup_tree(&w, remote, "newdir");
        w.ok(&["cp", &w.p("f.txt"), &format!("{base}/k.txt")]);
        let into = format!("{}/", w.p(&format!("new-{remote}/sub")));
        w.ok(&["cp", &format!("{base}/k.txt"), &into]);
        assert_eq!(std::fs::read(w.path(&format!("new-{remote}/sub/k.txt"))).unwrap(), b"local file", "{remote}");
        let plain = w.p(&format!("file-{remote}"));
        w.ok(&["cp", &format!("{base}/k.txt"), &plain]);
        assert_eq!(std::fs::read(&plain).unwrap(), b"local file", "{remote}");
    }
    let into = format!("{}/", w.p("local-new/deeper"));
    w.ok(&["cp", &w.p("f.txt"), &into]);
    assert_eq!(std::fs::read(w.path("local-new/deeper/f.txt")).unwrap(), b"local file");
}
