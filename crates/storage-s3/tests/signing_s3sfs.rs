//! Signatures against s3s-fs, which verifies SigV4 (header and presigned): presigned
//! GET/PUT/DELETE URLs work when fetched by a plain HTTP client; a wrong secret and an
//! expired URL are refused with typed errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use storage_core::{Driver, DriverExt, ErrorKind, PutOptions, SignedMethod, SignedUrlOptions};
use storage_http::{HttpClient, HttpConfig, HttpRequest, RequestBody, Unsigned, http::Method};
use storage_s3::{S3Config, S3Driver};

use storage_testkit::env;

fn driver(secret: Option<&str>) -> S3Driver {
    let secret = secret.map(str::to_owned).unwrap_or_else(|| env("EMU_S3_S3SFS_SECRET_ACCESS_KEY"));
    let c = S3Config::new()
        .endpoint(env("EMU_S3_S3SFS_ENDPOINT"))
        .static_credentials(env("EMU_S3_S3SFS_ACCESS_KEY_ID"), secret);
    S3Driver::new(c).unwrap()
}

fn http() -> HttpClient {
    HttpClient::new(HttpConfig { allow_http: true, proxy_from_env: false, ..Default::default() }).unwrap()
}

async fn fresh_bucket(s3: &S3Driver, tag: &str) -> String {
    let b = format!("sig-{tag}-{}", std::process::id());
    let _ = s3.delete_prefix(&b, "").await;
    let _ = s3.delete_container(&b).await;
    s3.create_container(&b).await.unwrap();
    b
}

#[tokio::test]
async fn presigned_get_put_and_delete_urls_work_with_a_plain_client() {
    let s3 = driver(None);
    let b = fresh_bucket(&s3, "presign").await;
    let key = "dir/with space (and parens).txt";
    s3.put_object(&b, key, "signed data".into(), &PutOptions::default()).await.unwrap();

    let opts = SignedUrlOptions { method: SignedMethod::Get, expires_in: Duration::from_secs(300), content_type: None };
    let url = s3.signed_url(&b, key, &opts).await.unwrap();
    let resp =
        http().execute(&HttpRequest::parse(Method::GET, &url, "presigned GET").unwrap(), &Unsigned).await.unwrap();
    assert_eq!(resp.status.as_u16(), 200);
    assert_eq!(resp.bytes().await.unwrap(), "signed data");

    let opts = SignedUrlOptions { method: SignedMethod::Put, ..opts };
    let url = s3.signed_url(&b, "uploaded.bin", &opts).await.unwrap();
    let req =
        HttpRequest::parse(Method::PUT, &url, "presigned PUT").unwrap().body(RequestBody::Bytes("via url".into()));
    assert_eq!(http().execute(&req, &Unsigned).await.unwrap().status.as_u16(), 200);
    assert_eq!(s3.get_bytes(&b, "uploaded.bin").await.unwrap(), "via url");

    let opts = SignedUrlOptions { method: SignedMethod::Delete, ..opts };
    let url = s3.signed_url(&b, "uploaded.bin", &opts).await.unwrap();
    let resp = http()
        .execute(&HttpRequest::parse(Method::DELETE, &url, "presigned DELETE").unwrap(), &Unsigned)
        .await
        .unwrap();
    assert!(resp.status.is_success(), "{}", resp.status);
    assert_eq!(s3.head_object(&b, "uploaded.bin").await.unwrap_err().kind(), ErrorKind::ObjectDoesNotExist);

    // A tampered signature is refused.
    let opts = SignedUrlOptions { method: SignedMethod::Get, ..opts };
    let url = s3.signed_url(&b, key, &opts).await.unwrap();
    // Change the signature's last hex digit (to a different one, whatever it was).
    let flipped = if url.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{flipped}", &url[..url.len() - 1]);
    assert_ne!(tampered, url);
    let resp =
        http().execute(&HttpRequest::parse(Method::GET, &tampered, "tampered").unwrap(), &Unsigned).await.unwrap();
    assert_eq!(resp.status.as_u16(), 403);

    s3.delete_prefix(&b, "").await.unwrap();
    s3.delete_container(&b).await.unwrap();
}

#[tokio::test]
async fn an_expired_presigned_url_is_refused() {
    let s3 = driver(None);
    let b = fresh_bucket(&s3, "expired").await;
    s3.put_object(&b, "k", "x".into(), &PutOptions::default()).await.unwrap();
    let opts = SignedUrlOptions { method: SignedMethod::Get, expires_in: Duration::from_secs(1), content_type: None };
    let url = s3.signed_url(&b, "k", &opts).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let resp = http().execute(&HttpRequest::parse(Method::GET, &url, "expired").unwrap(), &Unsigned).await.unwrap();
    assert_eq!(resp.status.as_u16(), 403);
    s3.delete_prefix(&b, "").await.unwrap();
    s3.delete_container(&b).await.unwrap();
}

#[tokio::test]
async fn a_wrong_secret_is_an_unauthenticated_error_that_names_no_secret() {
    let bad = driver(Some("definitely-not-the-secret"));
    let err = bad.list_containers_page(None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err}");
    assert_eq!(err.status(), Some(403));
    let shown = format!("{err} {err:?} {:?}", bad.config());
    assert!(!shown.contains("definitely-not-the-secret"), "{shown}");
    assert!(!shown.contains(&env("EMU_S3_S3SFS_SECRET_ACCESS_KEY")), "{shown}");
}

#[tokio::test]
async fn presigned_urls_longer_than_seven_days_are_refused() {
    let s3 = driver(None);
    let opts = SignedUrlOptions { expires_in: Duration::from_secs(7 * 24 * 3600 + 1), ..Default::default() };
    assert_eq!(s3.signed_url("bucket", "k", &opts).await.unwrap_err().kind(), ErrorKind::Config);
}

#[tokio::test]
async fn a_presigned_put_with_a_content_type_refuses_another_type() {
    let s3 = driver(None);
    let b = fresh_bucket(&s3, "ctype").await;
    let opts = SignedUrlOptions {
        method: SignedMethod::Put,
        expires_in: Duration::from_secs(300),
        content_type: Some("image/png".to_owned()),
    };
    let url = s3.signed_url(&b, "pic.png", &opts).await.unwrap();
    assert!(url.contains("X-Amz-SignedHeaders=content-type%3Bhost"), "{url}");
    let put = |content_type: &'static str| {
        HttpRequest::parse(Method::PUT, &url, "presigned PUT")
            .unwrap()
            .header("content-type", content_type)
            .unwrap()
            .body(RequestBody::Bytes("png bytes".into()))
    };
    // Another type (the signature covers the header): refused, nothing written.
    let resp = http().execute(&put("text/plain"), &Unsigned).await.unwrap();
    assert_eq!(resp.status.as_u16(), 403);
    assert_eq!(s3.head_object(&b, "pic.png").await.unwrap_err().kind(), ErrorKind::ObjectDoesNotExist);
    // The signed type: stored, and stored with that type.
    let resp = http().execute(&put("image/png"), &Unsigned).await.unwrap();
    assert_eq!(resp.status.as_u16(), 200);
    assert_eq!(s3.head_object(&b, "pic.png").await.unwrap().content_type.as_deref(), Some("image/png"));
    // No type at all is refused too.
    let bare = HttpRequest::parse(Method::PUT, &url, "presigned PUT").unwrap().body(RequestBody::Bytes("x".into()));
    assert_eq!(http().execute(&bare, &Unsigned).await.unwrap().status.as_u16(), 403);

    s3.delete_prefix(&b, "").await.unwrap();
    s3.delete_container(&b).await.unwrap();
}

/// Signed URLs for many keys at once, in order, each valid on its own.
#[tokio::test]
async fn many_keys_are_signed_at_once() {
    let s3 = driver(None);
    let b = fresh_bucket(&s3, "many").await;
    let keys: Vec<String> = (0..40).map(|i| format!("batch/{i:02} file.txt")).collect();
    for k in &keys {
        s3.put_object(&b, k, k.clone().into(), &PutOptions::default()).await.unwrap();
    }
    let urls = s3.signed_urls(&b, &keys, &SignedUrlOptions::default()).await.unwrap();
    assert_eq!(urls.len(), keys.len());
    for (key, url) in keys.iter().zip(&urls) {
        let resp = http().execute(&HttpRequest::parse(Method::GET, url, "signed").unwrap(), &Unsigned).await.unwrap();
        assert_eq!(resp.status.as_u16(), 200, "{key}");
        assert_eq!(resp.bytes().await.unwrap(), key.as_bytes());
    }
    s3.delete_prefix(&b, "").await.unwrap();
    s3.delete_container(&b).await.unwrap();
}
