//! `S3Driver::send_raw` (Lithops' `get_client()`): S3 calls the portable API does not
//! wrap, signed and sent by the driver, against moto and s3s-fs (which checks SigV4).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use storage_core::{Driver, ErrorKind, PutOptions};
use storage_s3::{S3Config, S3Driver, S3Request};
use storage_testkit::S3Server;

fn driver(server: &str) -> S3Driver {
    let s = S3Server::from_env(server);
    S3Driver::new(S3Config::new().endpoint(s.endpoint).static_credentials(s.access_key_id, s.secret_access_key))
        .unwrap()
}

async fn fresh_bucket(s3: &S3Driver, tag: &str) -> String {
    let b = format!("raw-{tag}-{}", std::process::id());
    let _ = s3.delete_object(&b, "k").await;
    let _ = s3.delete_container(&b).await;
    s3.create_container(&b).await.unwrap();
    b
}

/// Bucket versioning is not part of the portable API: set and read it raw (moto has it).
#[tokio::test]
async fn raw_requests_reach_apis_the_driver_does_not_wrap() {
    let s3 = driver("MOTO");
    let b = fresh_bucket(&s3, "versioning").await;
    let body = "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>";
    let put = s3.send_raw(S3Request::put().bucket(&b).query("versioning", "").body(body)).await.unwrap();
    assert_eq!(put.status, 200);
    let got = s3.send_raw(S3Request::get().bucket(&b).query("versioning", "")).await.unwrap();
    let text = String::from_utf8(got.body.to_vec()).unwrap();
    assert!(text.contains("<Status>Enabled</Status>"), "{text}");
    assert!(got.header("Content-Type").is_some(), "{:?}", got.headers);
}

/// Headers and keys go out as given (signed, on a server that checks signatures);
/// failures are typed errors with S3's code.
#[tokio::test]
async fn raw_requests_are_signed_and_errors_are_typed() {
    let s3 = driver("S3SFS");
    let b = fresh_bucket(&s3, "signed").await;
    let put = S3Request::put().bucket(&b).key("k").header("x-amz-meta-colour", "blue").body("raw body");
    s3.send_raw(put).await.unwrap();
    let o = s3.head_object(&b, "k").await.unwrap();
    assert_eq!((o.size, o.metadata.get("colour").map(String::as_str)), (8, Some("blue")));
    let head = s3.send_raw(S3Request::head().bucket(&b).key("k")).await.unwrap();
    assert_eq!(head.header("content-length"), Some("8"));

    let e = s3.send_raw(S3Request::get().bucket(&b).key("missing")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectDoesNotExist, "{e}");
    assert_eq!(e.provider_code(), Some("NoSuchKey"), "{e}");
    let e = s3.send_raw(S3Request::put().bucket(&b).key("k").header("bad header", "x")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    // A wrong secret: refused by the server, typed, and the secret is not in the error.
    let s = S3Server::from_env("S3SFS");
    let wrong =
        S3Driver::new(S3Config::new().endpoint(s.endpoint).static_credentials(s.access_key_id, "wrong-secret-for-raw"))
            .unwrap();
    let e = wrong.send_raw(S3Request::get().bucket(&b).key("k")).await.unwrap_err();
    assert!(e.is_auth(), "{e}");
    assert!(!format!("{e:?}{e}").contains("wrong-secret-for-raw"), "{e:?}");
    s3.delete_object(&b, "k").await.unwrap();
    s3.put_object(&b, "k", "x".into(), &PutOptions::default()).await.unwrap();
}
