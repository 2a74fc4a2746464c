//! Libcloud's `extra` on writes (ACL, storage class, encryption, tags, provider headers):
//! a backend that cannot apply one refuses the write with `NotSupported` and writes
//! nothing, through every write path (put, upload engine, writer, multipart, copy).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use storage::{
    CopyOptions, Driver, DriverExt, Encryption, ErrorKind, OpenExt, PutOptions, UploadOptions, WriterOptions,
};

fn each_extra() -> Vec<(&'static str, PutOptions)> {
    let acl = PutOptions { acl: Some("public-read".into()), ..PutOptions::default() };
    let class = PutOptions { storage_class: Some("COLD".into()), ..PutOptions::default() };
    let enc = PutOptions { encryption: Some(Encryption::Managed), ..PutOptions::default() };
    let tags = PutOptions { tags: [("project".into(), "x".into())].into(), ..PutOptions::default() };
    let headers = PutOptions { headers: [("content-language".into(), "en".into())].into(), ..PutOptions::default() };
    vec![
        ("an ACL", acl),
        ("a storage class", class),
        ("server-side encryption", enc),
        ("object tags", tags),
        ("provider headers", headers),
    ]
}

async fn refused_everywhere(name: &str, driver: Arc<dyn Driver>, scratch: &std::path::Path) {
    let bucket = format!("extras-{}-{name}", std::process::id());
    driver.create_container(&bucket).await.unwrap();
    driver.put_object(&bucket, "source", "src".into(), &PutOptions::default()).await.unwrap();
    let file = scratch.join(format!("{name}.txt"));
    std::fs::write(&file, b"file data").unwrap();
    for (what, options) in each_extra() {
        let claimed = driver.info().capabilities;
        let supported = match what {
            "an ACL" => claimed.put_acl,
            "a storage class" => claimed.put_storage_class,
            "server-side encryption" => claimed.put_encryption,
            "object tags" => claimed.put_tags,
            _ => claimed.put_headers,
        };
        assert!(!supported, "{name} claims {what}: test it where it is honoured");
        let check = |e: storage::Error, path: &str| {
            assert_eq!(e.kind(), ErrorKind::NotSupported, "{name} {what} {path}: {e}");
            assert!(e.message().contains(what.trim_start_matches("a ").trim_start_matches("an ")), "{e}");
        };
        check(driver.put_object(&bucket, "k", "data".into(), &options).await.unwrap_err(), "put_object");
        check(driver.create_multipart(&bucket, "k", &options).await.unwrap_err(), "create_multipart");
        let upload = UploadOptions { put: options.clone(), ..UploadOptions::default() };
        check(driver.upload_object(&file, &bucket, "k", &upload).await.unwrap_err(), "upload_object");
        check(driver.open_writer(&bucket, "k", WriterOptions::put(options.clone())).unwrap_err(), "open_writer");
        if driver.info().capabilities.copy {
            let copy = CopyOptions { replace: Some(options.clone()), ..CopyOptions::default() };
            check(driver.copy_object(&bucket, "source", &bucket, "k", &copy).await.unwrap_err(), "copy_object");
        }
        assert!(!driver.object_exists(&bucket, "k").await.unwrap(), "{name} {what}: something was written");
    }
    driver.delete_object(&bucket, "source").await.unwrap();
    driver.delete_container(&bucket).await.unwrap();
}

#[tokio::test]
async fn backends_without_extras_refuse_them_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, names) = common::backends(&dir.path().join("store"));
    for name in names.iter().filter(|n| ["memory", "local", "redis", "cluster"].contains(&n.as_str())) {
        refused_everywhere(name, storage.backend(name).unwrap(), dir.path()).await;
    }
}
