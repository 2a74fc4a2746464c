//! End-to-end: the built `storage` binary against the local driver and every server
//! `cargo xtask test` starts (moto and s3s-fs for S3, Redis standalone and cluster), each
//! reached through a named remote of a configuration file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{REMOTES, World, bucket, env, read_tree, write};

#[test]
fn single_objects_round_trip_on_every_backend() {
    let w = World::new();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 251) as u8).collect();
    write(&w.path("in/data with space.bin"), &data);
    for remote in REMOTES {
        let b = bucket(remote);
        let base = format!("{remote}://{b}");
        w.ok(&["mb", &base]);
        w.ok(&["cp", w.path("in/data with space.bin").to_str().unwrap(), &format!("{base}/dir/")]);
        let listed = w.ok(&["ls", &format!("{base}/dir/")]);
        assert_eq!(listed.trim(), "dir/data with space.bin", "{remote}");
        w.ok(&["cp", &format!("{base}/dir/data with space.bin"), w.path("back.bin").to_str().unwrap()]);
        assert_eq!(std::fs::read(w.path("back.bin")).unwrap(), data, "{remote}: round trip");
        let part = w.run(&["cat", "--offset", "1000", "--count", "100", &format!("{base}/dir/data with space.bin")]);
        assert_eq!(part.stdout, &data[1000..1100], "{remote}: cat range");
        let stat = w.ok(&["--json", "stat", &format!("{base}/dir/data with space.bin")]);
        let v: serde_json::Value = serde_json::from_str(stat.trim()).unwrap();
        assert_eq!(v["size"], 300_000, "{remote}");
        let out = w.run_with_stdin(&["cp", "-", &format!("{base}/stdin.txt")], Some(b"from stdin\n"));
        assert!(out.status.success(), "{remote}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(w.ok(&["cat", &format!("{base}/stdin.txt")]), "from stdin\n");
        w.ok(&["mv", &format!("{base}/stdin.txt"), &format!("{base}/moved.txt")]);
        let missing = w.run(&["stat", &format!("{base}/stdin.txt")]);
        assert_eq!(missing.status.code(), Some(3), "{remote}: a moved source is gone");
        let err = String::from_utf8_lossy(&missing.stderr);
        assert!(err.starts_with("storage: error: ObjectDoesNotExist") && err.lines().count() == 1, "{remote}: {err}");
        // s3s-fs 0.14 deletes non-empty buckets (its declared gap), so only the others refuse.
        if *remote != "s3sfs" {
            let refused = w.run(&["rb", &base]);
            assert_eq!(refused.status.code(), Some(1), "{remote}: rb of a non-empty container");
        }
        w.ok(&["rb", "--force", &base]);
    }
}

#[test]
fn copies_between_backends_keep_bytes_and_content_type() {
    let w = World::new();
    write(&w.path("doc.txt"), b"cross-backend copy");
    let pairs = [("local", "moto"), ("moto", "redis"), ("redis", "s3sfs"), ("s3sfs", "cluster"), ("cluster", "local")];
    for (from, _) in pairs {
        w.ok(&["mb", &format!("{from}://{}", bucket(&format!("x{from}")))]);
    }
    w.ok(&["cp", w.path("doc.txt").to_str().unwrap(), &format!("local://{}/doc.txt", bucket("xlocal"))]);
    for (from, to) in pairs {
        let src = format!("{from}://{}/doc.txt", bucket(&format!("x{from}")));
        let dst = format!("{to}://{}/doc.txt", bucket(&format!("x{to}")));
        w.ok(&["cp", &src, &dst]);
        assert_eq!(w.ok(&["cat", &dst]), "cross-backend copy", "{from} -> {to}");
    }
    for (from, _) in pairs {
        w.ok(&["rb", "--force", &format!("{from}://{}", bucket(&format!("x{from}")))]);
    }
}

#[test]
fn usage_errors_exit_2_and_failures_exit_1_with_one_line() {
    let w = World::new();
    assert_eq!(w.run(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(w.run(&["cat", "local://"]).status.code(), Some(2));
    let unknown = w.run(&["ls", "nope://bucket"]);
    assert_eq!(unknown.status.code(), Some(2));
    let msg = String::from_utf8_lossy(&unknown.stderr);
    assert!(msg.contains("known:") && msg.contains("moto") && msg.contains("s3"), "{msg}");
    let secret = env("EMU_S3_S3SFS_SECRET_ACCESS_KEY");
    let denied = w.run(&["ls", "s3sfs://no-such-bucket-here/"]);
    assert!(!String::from_utf8_lossy(&denied.stderr).contains(&secret));
}

#[test]
fn presign_gives_a_url_and_ls_output_survives_a_closed_pipe() {
    let w = World::new();
    let b = bucket("presign");
    w.ok(&["mb", &format!("moto://{b}")]);
    write(&w.path("p.txt"), b"p");
    w.ok(&["cp", w.path("p.txt").to_str().unwrap(), &format!("moto://{b}/p.txt")]);
    let url = w.ok(&["presign", "--expires-in", "10m", &format!("moto://{b}/p.txt")]);
    assert!(url.starts_with("http://") && url.contains("X-Amz-Signature="), "{url}");
    let json = w.ok(&["--json", "presign", &format!("moto://{b}/p.txt")]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["method"], "GET");
    // A reader that stops early must not make the tool panic.
    let mut child = Command::new(env!("CARGO_BIN_EXE_storage"))
        .args(["--config", w.config.to_str().unwrap(), "ls", &format!("moto://{b}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    w.ok(&["rb", "--force", &format!("moto://{b}")]);
}

/// A tree with awkward names (no `+`: s3s-fs stores it as a space, see the keys cases).
fn awkward_tree(root: &Path) {
    write(&root.join("with space.txt"), b"spaced");
    write(&root.join("unicod\u{e9} \u{65e5}\u{672c}.md"), b"# unicode");
    write(&root.join("a=b&c~d.json"), b"{}");
    write(&root.join("deep/er/still/file.bin"), &(0..70_000u32).map(|i| i as u8).collect::<Vec<_>>());
    write(&root.join("deep/empty.txt"), b"");
}

#[test]
fn recursive_copies_round_trip_byte_for_byte_on_every_backend() {
    let w = World::new();
    awkward_tree(&w.path("src"));
    let original = read_tree(&w.path("src"));
    for remote in REMOTES {
        let base = format!("{remote}://{}", bucket(&format!("tree-{remote}")));
        w.ok(&["mb", &base]);
        w.ok(&["cp", "-r", w.path("src").to_str().unwrap(), &format!("{base}/up")]);
        let listed = w.ok(&["ls", "-r", &format!("{base}/up/")]);
        assert_eq!(listed.lines().count(), original.len(), "{remote}: {listed}");
        let back = w.path(&format!("back-{remote}"));
        w.ok(&["cp", "-r", &format!("{base}/up"), back.to_str().unwrap()]);
        assert_eq!(read_tree(&back), original, "{remote}: the tree came back different");
        w.ok(&["check", w.path("src").to_str().unwrap(), &format!("{base}/up")]);
        w.ok(&["rb", "--force", &base]);
    }
}

#[test]
fn az_urls_round_trip_an_awkward_tree_through_azurite() {
    // `az://` and `azure://` are the same backend: what one writes the other reads.
    let w = World::new();
    awkward_tree(&w.path("src"));
    write(&w.path("src/plus+sign.txt"), b"plus");
    let original = read_tree(&w.path("src"));
    let b = bucket("az");
    w.ok(&["mb", &format!("az://{b}")]);
    w.ok(&["cp", "-r", w.path("src").to_str().unwrap(), &format!("az://{b}/up")]);
    let listed = w.ok(&["ls", "-r", &format!("azure://{b}/up/")]);
    assert_eq!(listed.lines().count(), original.len(), "{listed}");
    assert_eq!(w.ok(&["cat", &format!("az://{b}/up/plus+sign.txt")]), "plus");
    w.ok(&["check", w.path("src").to_str().unwrap(), &format!("az://{b}/up")]);
    w.ok(&["cp", "-r", &format!("az://{b}/up"), w.path("back").to_str().unwrap()]);
    assert_eq!(read_tree(&w.path("back")), original, "the tree came back different");
    // A non-empty container is not removed without --force.
    let (_, err) = w.code(&["rb", &format!("az://{b}")], 1);
    assert!(err.to_lowercase().contains("not empty"), "{err}");
    w.ok(&["rb", "--force", &format!("az://{b}")]);
}

#[test]
fn gs_urls_round_trip_an_awkward_tree_through_fake_gcs_server() {
    // `gs://` and `gcs://` are the same backend: what one writes the other reads.
    let w = World::new();
    awkward_tree(&w.path("src"));
    write(&w.path("src/plus+sign.txt"), b"plus");
    let original = read_tree(&w.path("src"));
    let b = bucket("gs");
    w.ok(&["mb", &format!("gs://{b}")]);
    w.ok(&["cp", "-r", w.path("src").to_str().unwrap(), &format!("gs://{b}/up")]);
    let listed = w.ok(&["ls", "-r", &format!("gcs://{b}/up/")]);
    assert_eq!(listed.lines().count(), original.len(), "{listed}");
    assert_eq!(w.ok(&["cat", &format!("gs://{b}/up/plus+sign.txt")]), "plus");
    w.ok(&["check", w.path("src").to_str().unwrap(), &format!("gs://{b}/up")]);
    w.ok(&["cp", "-r", &format!("gs://{b}/up"), w.path("back").to_str().unwrap()]);
    assert_eq!(read_tree(&w.path("back")), original, "the tree came back different");
    // A non-empty container is not removed without --force.
    let (_, err) = w.code(&["rb", &format!("gs://{b}")], 1);
    assert!(err.to_lowercase().contains("not empty"), "{err}");
    w.ok(&["rb", "--force", &format!("gs://{b}")]);
}

#[test]
fn sync_delete_and_check_find_and_fix_differences() {
    let w = World::new();
    awkward_tree(&w.path("src"));
    for remote in ["local", "moto", "redis", "azure", "gcs"] {
        let dst = format!("{remote}://{}/mirror", bucket(&format!("sync-{remote}")));
        w.ok(&["sync", "--create-container", w.path("src").to_str().unwrap(), &dst]);
        w.ok(&["check", w.path("src").to_str().unwrap(), &dst]);
        // Change one file (same size, different bytes), add one, remove one.
        write(&w.path("src/with space.txt"), b"SPACED");
        write(&w.path("src/new.txt"), b"new");
        std::fs::remove_file(w.path("src/a=b&c~d.json")).unwrap();
        let out = w.run(&["check", w.path("src").to_str().unwrap(), &dst]);
        assert_eq!(out.status.code(), Some(1), "{remote}: check must fail on differences");
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(report.contains("content differs: with space.txt"), "{remote}: {report}");
        assert!(report.contains("only in source: new.txt"), "{remote}: {report}");
        assert!(report.contains("only in destination: a=b&c~d.json"), "{remote}: {report}");
        let dry = w.ok(&["sync", "--delete", "--dry-run", w.path("src").to_str().unwrap(), &dst]);
        assert!(dry.contains("(dry run) delete a=b&c~d.json"), "{remote}: {dry}");
        assert_eq!(
            w.run(&["check", w.path("src").to_str().unwrap(), &dst]).status.code(),
            Some(1),
            "dry run changed nothing"
        );
        w.ok(&["sync", "--delete", w.path("src").to_str().unwrap(), &dst]);
        w.ok(&["check", w.path("src").to_str().unwrap(), &dst]);
        // Put the source back for the next backend.
        write(&w.path("src/with space.txt"), b"spaced");
        write(&w.path("src/a=b&c~d.json"), b"{}");
        std::fs::remove_file(w.path("src/new.txt")).unwrap();
        w.ok(&["rb", "--force", &format!("{remote}://{}", bucket(&format!("sync-{remote}")))]);
    }
}

#[test]
fn zip_members_list_and_extract_on_every_backend() {
    let w = World::new();
    awkward_tree(&w.path("zsrc"));
    let zipped = Command::new("python3")
        .args(["-c", "import shutil,sys; shutil.make_archive(sys.argv[1], 'zip', sys.argv[2])"])
        .arg(w.path("archive"))
        .arg(w.path("zsrc"))
        .status()
        .unwrap();
    assert!(zipped.success());
    for remote in REMOTES {
        let url = format!("{remote}://{}/a.zip", bucket(&format!("zip-{remote}")));
        w.ok(&["cp", "--create-container", w.path("archive.zip").to_str().unwrap(), &url]);
        let listing = w.ok(&["--json", "zip", "ls", "-r", &url]);
        let names: Vec<String> = listing
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["name"].as_str().unwrap().to_owned())
            .collect();
        assert!(names.contains(&"deep/er/still/file.bin".to_owned()), "{remote}: {names:?}");
        let out = w.run(&["zip", "get", &url, "with space.txt", "-o", "-"]);
        assert_eq!(out.stdout, b"spaced", "{remote}");
        let dest = w.path(&format!("unzipped-{remote}"));
        w.ok(&["zip", "get", &url, "deep/", "-o", dest.to_str().unwrap()]);
        assert_eq!(std::fs::read(dest.join("deep/er/still/file.bin")).unwrap().len(), 70_000, "{remote}");
        w.ok(&["rb", "--force", &format!("{remote}://{}", bucket(&format!("zip-{remote}")))]);
    }
}

#[test]
fn progress_bars_never_corrupt_json_output() {
    let w = World::new();
    awkward_tree(&w.path("src"));
    let out = w.run(&[
        "-P",
        "--json",
        "cp",
        "-r",
        "--create-container",
        w.path("src").to_str().unwrap(),
        "local://progress/t",
    ]);
    assert!(out.status.success());
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"));
    }
    let out = w.run(&["-P", "--json", "du", "local://progress/t"]);
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
}

#[test]
fn cat_reads_the_version_asked_or_nothing_on_every_backend() {
    let w = World::new();
    write(&w.path("one.txt"), b"version one");
    write(&w.path("two.txt"), b"version two");
    for remote in REMOTES {
        let b = bucket(&format!("ver-{remote}"));
        let url = format!("{remote}://{b}/k.txt");
        w.ok(&["cp", "--create-container", &w.p("one.txt"), &url]);
        let stat = |w: &World| -> Option<String> {
            let v: serde_json::Value = serde_json::from_str(w.ok(&["--json", "stat", &url]).trim()).unwrap();
            v["version"].as_str().map(str::to_owned)
        };
        let v1 = stat(&w);
        w.ok(&["cp", &w.p("two.txt"), &url]);
        let v2 = stat(&w);
        match (v1, v2) {
            (Some(v1), Some(v2)) => {
                assert_ne!(v1, v2, "{remote}: an overwrite makes a new version");
                assert_eq!(w.ok(&["cat", "--version-id", &v2, &url]), "version two", "{remote}");
                assert_eq!(w.ok(&["cat", "--version-id", &v2, "--offset", "8", &url]), "two", "{remote}");
                // The overwritten version is gone on these (unversioned) containers.
                let (out, _) = w.code(&["cat", "--version-id", &v1, &url], 3);
                assert!(out.is_empty(), "{remote}: {out}");
            }
            // No versions here: whatever the backend answers, nothing is printed as the
            // version asked for.
            _ => {
                let out = w.run(&["cat", "--version-id", "1234567890", &url]);
                assert!(!out.status.success() && out.stdout.is_empty(), "{remote}: {out:?}");
            }
        }
        let out = w.run(&["cat", "--version-id", "999999999999", &url]);
        assert!(!out.status.success() && out.stdout.is_empty(), "{remote}: {out:?}");
        w.ok(&["rb", "--force", &format!("{remote}://{b}")]);
    }
}

/// `cp --version-id`: an old version to a file, to stdout, to another backend and onto
/// its own key (a restore that keeps the replaced version); a version a backend does not
/// keep, or does not read, writes nothing and leaves an existing destination as it was.
#[test]
fn cp_copies_the_version_asked_or_writes_nothing() {
    let w = World::new();
    write(&w.path("one.txt"), b"version one");
    write(&w.path("two.txt"), b"version two");
    let b = bucket("cpver");
    storage_testkit::create_versioned_gcs_bucket(&env("EMU_GCS_FAKEGCS_ENDPOINT"), &b);
    let url = format!("gcs://{b}/k.txt");
    let version = |w: &World, url: &str| -> String {
        let v: serde_json::Value = serde_json::from_str(w.ok(&["--json", "stat", url]).trim()).unwrap();
        v["version"].as_str().unwrap().to_owned()
    };
    w.ok(&["cp", &w.p("one.txt"), &url]);
    let v1 = version(&w, &url);
    w.ok(&["cp", &w.p("two.txt"), &url]);
    let v2 = version(&w, &url);
    assert_ne!(v1, v2);

    // To a file, replacing one there, and to stdout.
    write(&w.path("out.txt"), b"before");
    w.ok(&["cp", "--version-id", &v1, &url, &w.p("out.txt")]);
    assert_eq!(std::fs::read(w.path("out.txt")).unwrap(), b"version one");
    assert_eq!(w.ok(&["cp", "--version-id", &v1, &url, "-"]), "version one");
    // To another backend, with the version in the JSON report.
    let moto = format!("moto://{}", bucket("cpver-dst"));
    w.ok(&["mb", &moto]);
    let out = w.ok(&["--json", "cp", "--version-id", &v1, &url, &format!("{moto}/restored.txt")]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!((v["version"].as_str(), v["bytes"].as_u64()), (Some(v1.as_str()), Some(11)), "{out}");
    assert_eq!(w.ok(&["cat", &format!("{moto}/restored.txt")]), "version one");
    // The live version onto its own key: nothing to restore, nothing written (no new
    // generation).
    w.ok(&["cp", "--version-id", &v2, &url, &url]);
    assert_eq!(version(&w, &url), v2);
    // Onto its own key: the old version is live again, the replaced one still readable.
    w.ok(&["cp", "--version-id", &v1, &url, &url]);
    assert_eq!(w.ok(&["cat", &url]), "version one");
    assert_eq!(w.ok(&["cat", "--version-id", &v2, &url]), "version two");

    // A version this bucket never had: nothing written anywhere, exit 3.
    write(&w.path("keep.txt"), b"keep me");
    w.code(&["cp", "--version-id", "1", &url, &w.p("keep.txt")], 3);
    assert_eq!(std::fs::read(w.path("keep.txt")).unwrap(), b"keep me");
    w.code(&["cp", "--version-id", "1", &url, &format!("{moto}/never.txt")], 3);
    w.code(&["stat", &format!("{moto}/never.txt")], 3);
    // Backends that keep no versions (or ignore version ids): the same.
    for remote in ["local", "s3sfs"] {
        let src = format!("{remote}://{}", bucket(&format!("cpver-{remote}")));
        w.ok(&["mb", &src]);
        w.ok(&["cp", &w.p("one.txt"), &format!("{src}/k.txt")]);
        let out = w.run(&["cp", "--version-id", "123456", &format!("{src}/k.txt"), &w.p("keep.txt")]);
        assert!(!out.status.success(), "{remote}");
        assert_eq!(std::fs::read(w.path("keep.txt")).unwrap(), b"keep me", "{remote}");
        let out = w.run(&["cp", "--version-id", "123456", &format!("{src}/k.txt"), &format!("{moto}/never.txt")]);
        assert!(!out.status.success(), "{remote}");
        w.code(&["stat", &format!("{moto}/never.txt")], 3);
        assert_eq!(w.ok(&["cat", &format!("{src}/k.txt")]), "version one", "{remote}: the source is untouched");
        w.ok(&["rb", "--force", &src]);
    }
    // Usage: a local source, a tree, an empty version.
    w.code(&["cp", "--version-id", &v1, &w.p("one.txt"), &url], 2);
    w.code(&["cp", "-r", "--version-id", &v1, &format!("gcs://{b}/"), &w.p("tree")], 2);
    w.code(&["cp", "--version-id", "", &url, &w.p("x.txt")], 2);
    assert!(!w.path("x.txt").exists());
    w.ok(&["rb", "--force", &moto]);
    let _ = w.run(&["rb", "--force", &format!("gcs://{b}")]);
}
