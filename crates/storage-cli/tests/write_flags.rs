//! Write settings on uploads (`--storage-class`, `--tag`, `--acl`, `--sse`, `--header`,
//! `--content-type`): applied where the backend supports them, refused (exit 1, nothing
//! written) where it does not, and refused as usage errors where they would be ignored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{World, bucket, write};

fn stat(w: &World, url: &str) -> serde_json::Value {
    serde_json::from_str(w.ok(&["--json", "stat", url]).trim()).unwrap()
}

#[test]
fn uploads_carry_the_write_settings_where_backends_take_them() {
    let w = World::new();
    write(&w.path("in/report.dat"), b"settings");
    write(&w.path("tree/a.txt"), b"a");
    write(&w.path("tree/sub/b.txt"), b"bb");

    // S3 (moto): class, tags, ACL, SSE, headers, a content type that replaces the guess.
    let base = format!("moto://{}", bucket("wflags"));
    w.ok(&["mb", &base]);
    let url = format!("{base}/report.dat");
    w.ok(&[
        "cp",
        "--storage-class",
        "STANDARD_IA",
        "--tag",
        "project=alpha",
        "--acl",
        "public-read",
        "--sse",
        "managed",
        "--header",
        "content-language: en",
        "--content-type",
        "text/x-report",
        &w.p("in/report.dat"),
        &url,
    ]);
    let v = stat(&w, &url);
    assert_eq!(v["content_type"], "text/x-report", "{v}");
    assert_eq!(v["extra"]["storage_class"], "STANDARD_IA", "{v}");
    assert_eq!(v["extra"]["encryption"], "AES256", "{v}");

    // Azure (Azurite): a tree upload with an access tier; every object gets it.
    let base = format!("azure://{}", bucket("wflags"));
    w.ok(&["mb", &base]);
    w.ok(&["cp", "-r", "--storage-class", "cool", &w.p("tree"), &format!("{base}/t/")]);
    for key in ["t/a.txt", "t/sub/b.txt"] {
        let v = stat(&w, &format!("{base}/{key}"));
        assert_eq!(v["extra"]["storage_class"], "Cool", "{key}: {v}");
    }

    // stdin to GCS with a class.
    let base = format!("gcs://{}", bucket("wflags"));
    w.ok(&["mb", &base]);
    let out = w.run_with_stdin(&["cp", "--storage-class", "NEARLINE", "-", &format!("{base}/from-stdin")], Some(b"x"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stat(&w, &format!("{base}/from-stdin"))["extra"]["storage_class"], "NEARLINE");
}

#[test]
fn settings_a_backend_cannot_apply_are_refused_and_nothing_is_written() {
    let w = World::new();
    write(&w.path("f.txt"), b"data");
    write(&w.path("d/f.txt"), b"data");
    for remote in ["local", "redis"] {
        let base = format!("{remote}://{}", bucket("wflags-no"));
        w.ok(&["mb", &base]);
        let url = format!("{base}/f.txt");
        let (_, err) = w.code(&["cp", "--acl", "public-read", &w.p("f.txt"), &url], 1);
        assert!(err.contains("NotSupported") && err.contains("ACL"), "{remote}: {err}");
        w.code(&["stat", &url], 3);
        let (_, err) = w.code(&["cp", "-r", "--tag", "a=b", &w.p("d"), &format!("{base}/t/")], 1);
        assert!(err.contains("object tags"), "{remote}: {err}");
        w.code(&["stat", &format!("{base}/t/f.txt")], 3);
    }
    // An S3 class name S3 does not know: a typed error, nothing written.
    let base = format!("moto://{}", bucket("wflags-bad"));
    w.ok(&["mb", &base]);
    let (_, err) = w.code(&["cp", "--storage-class", "cold storage", &w.p("f.txt"), &format!("{base}/f.txt")], 1);
    assert!(err.contains("storage class"), "{err}");
    w.code(&["stat", &format!("{base}/f.txt")], 3);
}

#[test]
fn settings_that_would_be_ignored_are_usage_errors() {
    let w = World::new();
    write(&w.path("f.txt"), b"data");
    let base = format!("moto://{}", bucket("wflags-use"));
    w.ok(&["mb", &base]);
    w.ok(&["cp", &w.p("f.txt"), &format!("{base}/k")]);
    for args in [
        vec!["cp", "--tag", "a=b", "moto://X/k", "moto://X/k2"],
        vec!["cp", "--acl", "private", "moto://X/k", "OUT"],
        vec!["rm", "--storage-class", "COLD", "moto://X/k"],
        vec!["sync", "--sse", "managed", "moto://X/", "OUT"],
    ] {
        let args: Vec<String> = args.iter().map(|a| a.replace("moto://X", &base).replace("OUT", &w.p("out"))).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (_, err) = w.code(&args, 2);
        assert!(err.contains("write settings") || err.contains("shape uploads"), "{args:?}: {err}");
    }
    assert!(!w.path("out").exists());
    let (_, err) = w.code(&["cp", "--sse", "rot13", &w.p("f.txt"), &format!("{base}/k")], 2);
    assert!(err.contains("managed, kms"), "{err}");
}
