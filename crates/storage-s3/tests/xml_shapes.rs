//! Answers shaped the way real servers send them, against an in-process server: the
//! roots moto and rclone use, a CompleteMultipartUpload and a CopyObject without an ETag
//! (the driver asks with a HEAD rather than leaving it out), a ranged GET answered 200.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use storage_core::{ByteRange, CompletedPart, CopyOptions, Driver, GetOptions, HashAlgorithm, MultipartUpload};
use storage_s3::{S3Config, S3Driver};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const HEAD_ETAG: &str = "0123456789abcdef0123456789abcdef-2";

/// A server answering each request from `answer(request line)`; returns the driver and
/// the request lines seen.
async fn server(answer: fn(&str) -> String) -> (S3Driver, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 65536];
            let n = sock.read(&mut buf).await.unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let line = req.lines().next().unwrap_or_default().to_owned();
            log.lock().unwrap().push(line.clone());
            sock.write_all(answer(&line).as_bytes()).await.unwrap();
        }
    });
    let s3 = S3Driver::new(
        S3Config::new().endpoint(format!("http://127.0.0.1:{port}")).static_credentials("AKID", "SECRET"),
    )
    .unwrap();
    (s3, seen)
}

fn ok(headers: &str, body: &str) -> String {
    format!("HTTP/1.1 200 OK\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}", body.len())
}

fn head_answer() -> String {
    ok(&format!("etag: \"{HEAD_ETAG}\"\r\nlast-modified: Thu, 03 Dec 2026 01:02:03 GMT\r\n"), "")
        .replace("content-length: 0", "content-length: 11")
}

fn upload() -> MultipartUpload {
    MultipartUpload {
        container: "bkt".into(),
        key: "big".into(),
        upload_id: "u1".into(),
        initiated: None,
        checksum: None,
    }
}

fn parts() -> Vec<CompletedPart> {
    vec![CompletedPart::new(1, "a", 6), CompletedPart::new(2, "b", 5)]
}

#[tokio::test]
async fn rclone_initiate_root_starts_an_upload() {
    let (s3, _) = server(|_| {
        ok(
            "",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUpload>\n  <Bucket>bkt</Bucket>\n  <Key>big</Key>\n  <UploadId>91059288-9b3f</UploadId>\n</InitiateMultipartUpload>",
        )
    })
    .await;
    let up = s3.create_multipart("bkt", "big", &Default::default()).await.unwrap();
    assert_eq!(up.upload_id, "91059288-9b3f");
}

#[tokio::test]
async fn moto_complete_root_keeps_the_etag() {
    let (s3, seen) = server(|_| {
        ok(
            "",
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<CompleteMultipartUploadResponse xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Location>http://x/big</Location><Bucket>bkt</Bucket><Key>big</Key><ETag>\"cb8d7289925309a05b2db09b7709c264-2\"</ETag></CompleteMultipartUploadResponse>",
        )
    })
    .await;
    let o = s3.complete_multipart(&upload(), &parts(), &Default::default()).await.unwrap();
    assert_eq!(o.etag.as_deref(), Some("cb8d7289925309a05b2db09b7709c264-2"));
    assert_eq!(o.hash.unwrap().algorithm, HashAlgorithm::Opaque);
    assert_eq!(seen.lock().unwrap().len(), 1, "no HEAD when the answer has the ETag");
}

#[tokio::test]
async fn a_complete_without_an_etag_is_followed_by_a_head() {
    let (s3, seen) = server(|line| {
        if line.starts_with("HEAD ") {
            head_answer()
        } else {
            ok("", "<CompleteMultipartUploadResult><Bucket>bkt</Bucket><Key>big</Key><Extra/></CompleteMultipartUploadResult>")
        }
    })
    .await;
    let o = s3.complete_multipart(&upload(), &parts(), &Default::default()).await.unwrap();
    assert_eq!(o.etag.as_deref(), Some(HEAD_ETAG));
    assert_eq!(o.size, 11);
    let seen = seen.lock().unwrap();
    assert!(seen[0].starts_with("POST /bkt/big?uploadId=u1"), "{seen:?}");
    assert!(seen[1].starts_with("HEAD /bkt/big"), "{seen:?}");
}

#[tokio::test]
async fn an_error_in_a_complete_200_is_an_error() {
    let (s3, _) = server(|_| ok("", "<Error><Code>InvalidPart</Code><Message>part 2</Message></Error>")).await;
    let e = s3.complete_multipart(&upload(), &parts(), &Default::default()).await.unwrap_err();
    assert_eq!(e.provider_code(), Some("InvalidPart"));
}

#[tokio::test]
async fn a_copy_without_an_etag_is_followed_by_a_head() {
    let (s3, seen) = server(|line| {
        if line.starts_with("HEAD ") {
            head_answer()
        } else {
            ok("", "<CopyObjectResult><Unknown>1</Unknown></CopyObjectResult>")
        }
    })
    .await;
    let o = s3.copy_object("bkt", "src", "bkt", "dst", &CopyOptions::default()).await.unwrap();
    assert_eq!(o.etag.as_deref(), Some(HEAD_ETAG));
    let seen = seen.lock().unwrap();
    assert!(seen[0].starts_with("HEAD /bkt/src") && seen[1].starts_with("PUT /bkt/dst"), "{seen:?}");
    assert!(seen[2].starts_with("HEAD /bkt/dst"), "{seen:?}");
}

#[tokio::test]
async fn a_ranged_get_answered_200_with_content_range_is_a_range() {
    let (s3, _) = server(|_| ok("content-range: bytes 10-14/100\r\netag: \"e\"\r\n", "01234")).await;
    let options = GetOptions::range(ByteRange::Bounded { start: 10, end: 15 });
    let r = s3.get_object("bkt", "k", &options).await.unwrap();
    assert_eq!(r.range, 10..15);
    assert_eq!(r.object.size, 100);
}
