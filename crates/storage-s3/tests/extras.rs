//! Libcloud's `extra` on S3 writes, against moto: canned ACLs, storage classes, SSE-S3 and
//! SSE-KMS, tagging and provider headers on single requests, multipart uploads and
//! copies; what S3 cannot take is refused before anything is written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use futures::stream;
use storage_core::{
    ByteStream, CopyOptions, Driver, DriverExt, Encryption, ErrorKind, HashAlgorithm, PutOptions, TransferOptions,
};
use storage_s3::{S3Config, S3Driver, S3Request};
use storage_testkit::S3Server;

fn driver() -> S3Driver {
    let s = S3Server::from_env("MOTO");
    S3Driver::new(S3Config::new().endpoint(s.endpoint).static_credentials(s.access_key_id, s.secret_access_key))
        .unwrap()
}

async fn bucket(s3: &S3Driver, tag: &str) -> String {
    let b = format!("extras-{tag}-{}", std::process::id());
    let _ = s3.delete_prefix(&b, "").await;
    let _ = s3.delete_container(&b).await;
    s3.create_container(&b).await.unwrap();
    b
}

fn rich() -> PutOptions {
    let mut o = PutOptions::content_type("text/plain");
    o.acl = Some("public-read".into());
    o.storage_class = Some("standard_ia".into());
    o.encryption = Some(Encryption::Managed);
    o.tags.insert("project".into(), "alpha".into());
    o.tags.insert("with space".into(), "a+b=c/d@e".into());
    o.headers.insert("x-amz-website-redirect-location".into(), "/elsewhere".into());
    o.headers.insert("Content-Language".into(), "pt-PT".into());
    o
}

async fn raw_text(s3: &S3Driver, b: &str, key: &str, sub: &str) -> String {
    let r = s3.send_raw(S3Request::get().bucket(b).key(key).query(sub, "")).await.unwrap();
    String::from_utf8(r.body.to_vec()).unwrap()
}

async fn assert_rich(s3: &S3Driver, b: &str, key: &str) {
    let o = s3.head_object(b, key).await.unwrap();
    assert_eq!(o.extra.get("storage_class").map(String::as_str), Some("STANDARD_IA"), "{key}: {:?}", o.extra);
    assert_eq!(o.extra.get("encryption").map(String::as_str), Some("AES256"), "{key}");
    let head = s3.send_raw(S3Request::head().bucket(b).key(key)).await.unwrap();
    assert_eq!(head.header("content-language"), Some("pt-PT"), "{key}");
    assert_eq!(head.header("x-amz-website-redirect-location"), Some("/elsewhere"), "{key}");
    let tags = raw_text(s3, b, key, "tagging").await;
    assert!(tags.contains("<Key>project</Key>") && tags.contains("<Value>alpha</Value>"), "{tags}");
    assert!(tags.contains("<Key>with space</Key>") && tags.contains("<Value>a+b=c/d@e</Value>"), "{tags}");
    let acl = raw_text(s3, b, key, "acl").await;
    assert!(acl.contains("http://acs.amazonaws.com/groups/global/AllUsers") && acl.contains("READ"), "{acl}");
}

#[tokio::test]
async fn extras_reach_single_multipart_and_copied_objects() {
    let s3 = driver();
    let b = bucket(&s3, "rich").await;
    s3.put_object(&b, "single", "one request".into(), &rich()).await.unwrap();
    assert_rich(&s3, &b, "single").await;

    // Multipart: 12 MiB in 5 MiB parts carries the same settings (from create).
    let data = Bytes::from(vec![5u8; 12 << 20]);
    let body: ByteStream =
        Box::pin(stream::iter(data.chunks(1 << 20).map(|c| Ok(Bytes::copy_from_slice(c))).collect::<Vec<_>>()));
    let transfer = TransferOptions { part_size: 5 << 20, single_put_threshold: 5 << 20, ..TransferOptions::default() };
    let o = s3.upload_object_via_stream(body, &b, "multi", rich(), &transfer).await.unwrap();
    assert_eq!(o.size, 12 << 20);
    assert_rich(&s3, &b, "multi").await;

    // A copy that replaces the settings: new tags (tagging directive REPLACE) and class.
    let mut replace = PutOptions::content_type("text/plain");
    replace.storage_class = Some("GLACIER_IR".into());
    replace.tags.insert("stage".into(), "copied".into());
    let copy = CopyOptions { replace: Some(replace), ..CopyOptions::default() };
    s3.copy_object(&b, "single", &b, "copied", &copy).await.unwrap();
    let c = s3.head_object(&b, "copied").await.unwrap();
    assert_eq!(c.extra.get("storage_class").map(String::as_str), Some("GLACIER_IR"));
    let tags = raw_text(&s3, &b, "copied", "tagging").await;
    assert!(tags.contains("<Key>stage</Key>") && !tags.contains("project"), "{tags}");
    s3.delete_prefix(&b, "").await.unwrap();
    s3.delete_container(&b).await.unwrap();
}

/// Under SSE-KMS an ETag is not the data's MD5: the object reports the CRC32C sent with
/// it instead (tests/checksums.rs checks more), and a verified download succeeds.
#[tokio::test]
async fn kms_objects_do_not_claim_an_md5() {
    let s3 = driver();
    let b = bucket(&s3, "kms").await;
    let o = PutOptions {
        encryption: Some(Encryption::Kms { key_id: Some("alias/test-key".into()) }),
        ..PutOptions::default()
    };
    let put = s3.put_object(&b, "secret", "kms data".into(), &o).await.unwrap();
    let head = s3.head_object(&b, "secret").await.unwrap();
    assert_eq!(head.extra.get("encryption").map(String::as_str), Some("aws:kms"));
    assert_eq!(head.hash.map(|h| h.algorithm), Some(HashAlgorithm::Crc32c));
    assert_eq!(put.hash.map(|h| h.algorithm), Some(HashAlgorithm::Crc32c));
    let dir = tempfile::tempdir().unwrap();
    s3.download_object(&b, "secret", &dir.path().join("f"), &Default::default()).await.unwrap();
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"kms data");
    s3.delete_prefix(&b, "").await.unwrap();
    s3.delete_container(&b).await.unwrap();
}

#[tokio::test]
async fn what_s3_cannot_take_is_refused_and_nothing_is_written() {
    let s3 = driver();
    let b = bucket(&s3, "refused").await;
    let cases: Vec<(&str, PutOptions, ErrorKind)> = vec![
        ("unknown ACL", PutOptions { acl: Some("world-writable".into()), ..PutOptions::default() }, ErrorKind::Config),
        (
            "bad class",
            PutOptions { storage_class: Some("cold storage".into()), ..PutOptions::default() },
            ErrorKind::Config,
        ),
        (
            "scope",
            PutOptions { encryption: Some(Encryption::Scope("s".into())), ..PutOptions::default() },
            ErrorKind::NotSupported,
        ),
        (
            "reserved header",
            PutOptions { headers: [("Authorization".into(), "x".into())].into(), ..PutOptions::default() },
            ErrorKind::Config,
        ),
        (
            "named header",
            PutOptions { headers: [("content-type".into(), "x/y".into())].into(), ..PutOptions::default() },
            ErrorKind::Config,
        ),
        (
            "an ampersand in a tag",
            PutOptions { tags: [("k".into(), "a&b".into())].into(), ..PutOptions::default() },
            ErrorKind::Config,
        ),
        (
            "eleven tags",
            PutOptions { tags: (0..11).map(|i| (format!("k{i}"), "v".into())).collect(), ..PutOptions::default() },
            ErrorKind::Config,
        ),
    ];
    for (what, options, kind) in cases {
        let e = s3.put_object(&b, "k", "data".into(), &options).await.unwrap_err();
        assert_eq!(e.kind(), kind, "{what}: {e}");
        let e = s3.create_multipart(&b, "k", &options).await.unwrap_err();
        assert_eq!(e.kind(), kind, "{what} (multipart): {e}");
        assert!(!s3.object_exists(&b, "k").await.unwrap(), "{what}");
    }
    assert!(s3.list_multipart_uploads(&b, None).await.unwrap().is_empty());
    s3.delete_container(&b).await.unwrap();
}

/// Libcloud's CDN calls on S3 (public read): an object made public is served unsigned
/// under the container's URL; the bucket policy is written once and an existing one is
/// never replaced.
#[tokio::test]
async fn cdn_calls_make_objects_publicly_readable() {
    use storage_http::{HttpClient, HttpConfig, HttpRequest, Unsigned, http::Method};
    let s3 = driver();
    let b = bucket(&s3, "cdn").await;
    s3.put_object(&b, "page.html", "<p>public</p>".into(), &PutOptions::content_type("text/html")).await.unwrap();
    let base = s3.get_container_cdn_url(&b).await.unwrap();
    assert!(base.ends_with(&format!("/{b}/")), "{base}");
    assert!(s3.get_object_cdn_url(&b, "page.html").await.unwrap().contains("X-Amz-Signature="));

    let http =
        HttpClient::new(HttpConfig { allow_http: true, proxy_from_env: false, ..HttpConfig::default() }).unwrap();
    let url = format!("{base}page.html");
    let before = http.execute(&HttpRequest::parse(Method::GET, &url, "anonymous").unwrap(), &Unsigned).await;
    assert_eq!(before.map(|r| r.status.as_u16()).unwrap_or(403), 403, "private before enable_object_cdn");

    s3.enable_object_cdn(&b, "page.html").await.unwrap();
    let acl = raw_text(&s3, &b, "page.html", "acl").await;
    assert!(acl.contains("http://acs.amazonaws.com/groups/global/AllUsers"), "{acl}");
    let resp = http.execute(&HttpRequest::parse(Method::GET, &url, "anonymous").unwrap(), &Unsigned).await.unwrap();
    assert_eq!(resp.status.as_u16(), 200, "{url}");
    assert_eq!(resp.bytes().await.unwrap(), "<p>public</p>");

    s3.enable_container_cdn(&b).await.unwrap();
    let policy =
        String::from_utf8(s3.send_raw(S3Request::get().bucket(&b).query("policy", "")).await.unwrap().body.to_vec())
            .unwrap();
    assert!(policy.contains("s3:GetObject") && policy.contains(&format!("arn:aws:s3:::{b}/*")), "{policy}");
    s3.enable_container_cdn(&b).await.unwrap();

    // A policy of someone else's: refused, left as it was.
    let theirs = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"theirs","Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::{b}/*"}}]}}"#
    );
    s3.send_raw(S3Request::put().bucket(&b).query("policy", "").body(theirs.clone())).await.unwrap();
    let e = s3.enable_container_cdn(&b).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    let after = s3.send_raw(S3Request::get().bucket(&b).query("policy", "")).await.unwrap().body;
    assert!(String::from_utf8_lossy(&after).contains("\"theirs\""));
    s3.send_raw(S3Request::delete().bucket(&b).query("policy", "")).await.unwrap();
    s3.delete_prefix(&b, "").await.unwrap();
    s3.delete_container(&b).await.unwrap();
}
