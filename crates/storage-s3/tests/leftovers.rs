//! Leftovers on the S3 servers `cargo xtask test` starts: an abandoned multipart upload is
//! found by `list_leftovers` (ListMultipartUploads) and removed by `remove_leftover`
//! (AbortMultipartUpload) on moto; s3s-fs has no ListMultipartUploads, which
//! `list_leftovers` reports as `NotSupported`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use storage_core::PartOptions;
use storage_core::{Driver, DriverExt, ErrorKind, Leftover, LeftoverKind, PutOptions};
use storage_s3::{S3Config, S3Driver};

use storage_testkit::env;

fn driver(prefix: &str) -> Arc<dyn Driver> {
    let endpoint = env(&format!("EMU_S3_{prefix}_ENDPOINT"));
    let key = env(&format!("EMU_S3_{prefix}_ACCESS_KEY_ID"));
    let secret = env(&format!("EMU_S3_{prefix}_SECRET_ACCESS_KEY"));
    Arc::new(S3Driver::new(S3Config::new().endpoint(endpoint).static_credentials(key, secret)).unwrap())
}

fn bucket(tag: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("leftovers-{tag}-{}-{}", std::process::id(), nanos % 1_000_000_000)
}

#[tokio::test]
async fn moto_abandoned_uploads_are_listed_and_aborted() {
    let d = driver("MOTO");
    let b = bucket("moto");
    d.create_container(&b).await.unwrap();
    d.put_object(&b, "logs/live", "live".into(), &PutOptions::default()).await.unwrap();
    let up = d.create_multipart(&b, "logs/big", &PutOptions::default()).await.unwrap();
    d.put_part(&up, 1, vec![1u8; 1000].into(), &PartOptions::default()).await.unwrap();
    let other = d.create_multipart(&b, "other", &PutOptions::default()).await.unwrap();

    let found = d.list_leftovers(&b, Some("logs/")).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].kind, found[0].key.as_str()), (LeftoverKind::MultipartUpload, "logs/big"));
    assert_eq!(found[0].id, up.upload_id);
    assert!(found[0].is_older_than(Duration::ZERO, Utc::now()));
    assert_eq!(d.list_leftovers(&b, None).await.unwrap().len(), 2);

    d.remove_leftover(&found[0]).await.unwrap();
    // Already gone: no error.
    d.remove_leftover(&found[0]).await.unwrap();
    let rest = d.list_leftovers(&b, None).await.unwrap();
    assert_eq!(rest.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(), vec![other.upload_id.as_str()]);
    d.remove_leftover(&rest[0]).await.unwrap();
    assert!(d.list_leftovers(&b, None).await.unwrap().is_empty());
    assert_eq!(d.get_bytes(&b, "logs/live").await.unwrap(), "live");
    d.delete_object(&b, "logs/live").await.unwrap();
    d.delete_container(&b).await.unwrap();
}

#[tokio::test]
async fn s3s_fs_cannot_list_unfinished_uploads_but_aborts_a_known_one() {
    let d = driver("S3SFS");
    let b = bucket("s3sfs");
    d.create_container(&b).await.unwrap();
    d.put_object(&b, "live", "live".into(), &PutOptions::default()).await.unwrap();
    let up = d.create_multipart(&b, "big", &PutOptions::default()).await.unwrap();
    d.put_part(&up, 1, vec![1u8; 1000].into(), &PartOptions::default()).await.unwrap();

    // s3s-fs answers ListMultipartUploads with 501 NotImplemented.
    let err = d.list_leftovers(&b, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotSupported, "{err}");
    assert!(err.to_string().contains("ListMultipartUploads"), "the error names what the server lacks: {err}");

    // An upload known some other way is still removed through remove_leftover.
    d.remove_leftover(&Leftover::from(up.clone())).await.unwrap();
    // (s3s-fs refuses parts of an unknown upload with AccessDenied rather than NoSuchUpload.)
    assert!(d.put_part(&up, 2, vec![1u8; 10].into(), &PartOptions::default()).await.is_err(), "the upload is gone");
    assert_eq!(d.get_bytes(&b, "live").await.unwrap(), "live");
    d.delete_object(&b, "live").await.unwrap();
    d.delete_container(&b).await.unwrap();
}
