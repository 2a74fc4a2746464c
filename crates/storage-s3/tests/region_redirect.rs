//! A bucket in another region: S3 answers 301 with `x-amz-bucket-region`; the driver
//! re-signs for that region and retries, transparently. Against an in-process server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use storage_core::Driver;
use storage_s3::{S3Config, S3Driver};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::test]
async fn a_wrong_region_answer_is_followed_to_the_buckets_region() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for i in 0.. {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 16384];
            let n = sock.read(&mut buf).await.unwrap();
            log.lock().unwrap().push(String::from_utf8_lossy(&buf[..n]).to_string());
            let resp = if i == 0 {
                let body = "<Error><Code>PermanentRedirect</Code><Message>use the bucket's region</Message></Error>";
                format!(
                    "HTTP/1.1 301 Moved Permanently\r\nx-amz-bucket-region: eu-west-1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 200 OK\r\ncontent-length: 5\r\netag: \"5d41402abc4b2a76b9719d911017c592\"\r\nconnection: close\r\n\r\nhello".to_owned()
            };
            sock.write_all(resp.as_bytes()).await.unwrap();
        }
    });
    let s3 = S3Driver::new(
        S3Config::new()
            .endpoint(format!("http://127.0.0.1:{port}"))
            .region("us-east-1")
            .static_credentials("AKID", "SECRET"),
    )
    .unwrap();
    let obj = s3.head_object("far-bucket", "k").await.unwrap();
    assert_eq!(obj.size, 5);
    {
        let reqs = seen.lock().unwrap();
        assert_eq!(reqs.len(), 2);
        assert!(reqs[0].contains("/us-east-1/s3/aws4_request"), "{}", reqs[0]);
        assert!(reqs[1].contains("/eu-west-1/s3/aws4_request"), "{}", reqs[1]);
    }
    // Later requests to that bucket go straight to its region.
    s3.head_object("far-bucket", "k").await.unwrap();
    assert!(seen.lock().unwrap()[2].contains("/eu-west-1/s3/aws4_request"));
}
