//! Lithops' `Storage` calls through the facade: cloud objects handed from one process's
//! `Storage` to another's on every backend, and `get_client()` (the typed driver behind
//! a backend) for S3, Redis and the local filesystem.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use storage::{CloudObject, Config, DriverExt, ErrorKind, MemoryDriver, Storage, downcast};

#[tokio::test]
async fn cloud_objects_travel_between_processes_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let (writer, names) = common::backends(&root);
    // The reading "process": its own Storage built from the same configuration.
    let reader = Storage::new(Config::parse(&common::config_text(&root), None).unwrap());
    for name in names.iter().filter(|n| *n != "memory") {
        let bucket = format!("lithops-{}-{name}", std::process::id());
        let driver = writer.backend(name).unwrap();
        driver.create_container(&bucket).await.unwrap();
        let objects = writer.cloudobjects(name, &bucket).unwrap().with_prefix("job-1/");
        let a = objects.put("first result".into()).await.unwrap();
        let b = objects.put("second result".into()).await.unwrap();
        assert_ne!(a.key, b.key, "{name}");
        assert!(a.key.starts_with("job-1/cloudobjects/"), "{name}: {}", a.key);
        assert_eq!((a.backend.as_str(), a.container.as_str()), (name.as_str(), bucket.as_str()));
        let fixed = objects.put_with_key("third".into(), "job-1/fixed").await.unwrap();

        let wire = serde_json::to_string(&[&a, &b, &fixed]).unwrap();
        let refs: Vec<CloudObject> = serde_json::from_str(&wire).unwrap();
        assert_eq!(reader.get_cloudobject(&refs[0]).await.unwrap(), "first result", "{name}");
        assert_eq!(reader.get_cloudobject(&refs[2]).await.unwrap(), "third", "{name}");
        reader.delete_cloudobject(&refs[0]).await.unwrap();
        let e = reader.get_cloudobject(&refs[0]).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ObjectDoesNotExist, "{name}: {e}");
        let outcomes = reader.delete_cloudobjects(&refs[1..]).await.unwrap();
        assert_eq!(outcomes.iter().filter(|o| o.result.is_ok()).count(), 2, "{name}");
        let left: Vec<_> = driver.list_keys(&bucket, None).await.unwrap();
        assert!(left.is_empty(), "{name}: {left:?}");
        driver.delete_container(&bucket).await.unwrap();
    }
}

#[tokio::test]
async fn get_client_is_the_typed_driver() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let (storage, names) = common::backends(&root);

    // The local driver: its root, where the files are.
    #[cfg(feature = "local")]
    {
        let local = storage.backend("local").unwrap();
        local.create_container("gc").await.unwrap();
        local.put_object("gc", "k.txt", "local".into(), &Default::default()).await.unwrap();
        let fs: &storage::local::LocalDriver = downcast(local.as_ref()).unwrap();
        assert_eq!(std::fs::read(fs.root().join("gc").join("k.txt")).unwrap(), b"local");

        // Asking for the wrong driver is a Config error naming the real one.
        let memory = storage.backend("memory").unwrap();
        let e = downcast::<storage::local::LocalDriver>(memory.as_ref()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.message().contains("memory driver") && e.message().contains("LocalDriver"), "{e}");
    }
    let memory = storage.backend("memory").unwrap();
    assert!(downcast::<MemoryDriver>(memory.as_ref()).is_ok());
    let _ = &names;

    #[cfg(feature = "s3")]
    if names.iter().any(|n| n == "moto") {
        let s3 = storage.backend("moto").unwrap();
        s3.create_container("get-client").await.unwrap();
        let client: &storage::s3::S3Driver = downcast(s3.as_ref()).unwrap();
        let answer = client.send_raw(storage::s3::S3Request::get().bucket("get-client").query("location", "")).await;
        assert!(String::from_utf8_lossy(&answer.unwrap().body).contains("LocationConstraint"));
        s3.delete_container("get-client").await.unwrap();
    }

    #[cfg(feature = "redis")]
    if names.iter().any(|n| n == "redis") {
        use storage::redis::redis::AsyncCommands;
        let backend = storage.backend("redis").unwrap();
        let redis: &storage::redis::RedisDriver = downcast(backend.as_ref()).unwrap();
        let mut conn = redis.connection().await.unwrap();
        let key = format!("get-client-{}", std::process::id());
        let _: () = conn.set(&key, "native").await.unwrap();
        let got: String = conn.get(&key).await.unwrap();
        assert_eq!(got, "native");
        let _: () = conn.del(&key).await.unwrap();
    }
}

/// Inductiva's `get_signed_urls(paths, operation)`: object URLs of several backends signed
/// in one call, in order; a backend that cannot sign is a typed error.
#[cfg(feature = "s3")]
#[tokio::test]
async fn object_urls_of_several_backends_are_signed_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, _) = common::backends(&dir.path().join("store"));
    let urls = ["moto://signed-many/a.txt", "moto://signed-many/b.txt", "s3sfs://signed-many/c.txt"];
    let options = storage::SignedUrlOptions::default();
    let signed = storage.signed_urls(&urls, &options).await.unwrap();
    assert_eq!(signed.len(), 3);
    let moto = storage_testkit::S3Server::from_env("MOTO").endpoint;
    let s3sfs = storage_testkit::S3Server::from_env("S3SFS").endpoint;
    for (url, (host, key)) in signed.iter().zip([(&moto, "a.txt"), (&moto, "b.txt"), (&s3sfs, "c.txt")]) {
        assert!(url.starts_with(host.as_str()) && url.contains(key) && url.contains("X-Amz-Signature="), "{url}");
    }
    let e = storage.signed_urls(&["memory://b/k"], &options).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotSupported, "{e}");
    let e = storage.signed_urls(&["moto://bucket-only"], &options).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
}
