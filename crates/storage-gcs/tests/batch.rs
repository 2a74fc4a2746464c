//! The JSON batch on the wire, against an in-process server: one `multipart/mixed` POST
//! with a `DELETE` per key, outcomes matched by Content-ID (in any order), a missing
//! object counted as deleted, another failure typed with its reason; and a server
//! without the batch endpoint (fake-gcs-server) falls back to one request per key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use storage_core::{Driver, ErrorKind};
use storage_gcs::{GcsConfig, GcsDriver};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Answers each connection with the next of `answers`, recording each request.
async fn server(answers: Vec<String>) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for answer in answers {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            loop {
                let n = sock.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len || n == 0 {
                        break;
                    }
                }
            }
            log.lock().unwrap().push(String::from_utf8_lossy(&buf).into_owned());
            sock.write_all(answer.as_bytes()).await.unwrap();
            sock.shutdown().await.unwrap();
        }
    });
    (port, seen)
}

fn answer(status: &str, headers: &str, body: &str) -> String {
    format!("HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
}

#[tokio::test]
async fn one_batch_request_and_outcomes_by_content_id() {
    // Parts answered out of order.
    let body = "--batch_x\r\nContent-Type: application/http\r\nContent-ID: <response-item-2>\r\n\r\nHTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n\r\n{\"error\":{\"code\":403,\"message\":\"no\",\"errors\":[{\"reason\":\"forbidden\"}]}}\r\n\
                --batch_x\r\nContent-Type: application/http\r\nContent-ID: <response-item-0>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\r\n\
                --batch_x\r\nContent-Type: application/http\r\nContent-ID: <response-item-1>\r\n\r\nHTTP/1.1 404 Not Found\r\n\r\n{}\r\n\
                --batch_x--\r\n";
    let batch = answer("200 OK", "Content-Type: multipart/mixed; boundary=batch_x\r\n", body);
    // The 404 makes the driver check the bucket.
    let bucket = answer("200 OK", "Content-Type: application/json\r\n", "{\"name\":\"bkt\"}");
    let (port, seen) = server(vec![batch, bucket]).await;
    let d = GcsDriver::new(GcsConfig::emulator(format!("http://127.0.0.1:{port}"))).unwrap();
    let keys = vec!["a b/1".to_owned(), "gone".to_owned(), "locked".to_owned()];
    let out = d.delete_batch("bkt", &keys).await.unwrap();
    assert_eq!(out.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(), ["a b/1", "gone", "locked"]);
    assert!(out[0].result.is_ok() && out[1].result.is_ok());
    let e = out[2].result.as_ref().unwrap_err();
    assert_eq!((e.kind(), e.provider_code()), (ErrorKind::PermissionDenied, Some("forbidden")));
    let seen = seen.lock().unwrap();
    assert!(seen[0].starts_with("POST /batch/storage/v1 HTTP/1.1"), "{}", seen[0]);
    assert!(seen[0].contains("DELETE /storage/v1/b/bkt/o/a%20b%2F1 HTTP/1.1"), "{}", seen[0]);
    assert_eq!(seen[0].matches("Content-ID: <item-").count(), 3);
    assert!(seen[1].starts_with("GET /storage/v1/b/bkt "), "{}", seen[1]);
}

#[tokio::test]
async fn a_server_without_batches_gets_one_delete_per_key() {
    let not_found = answer("404 Not Found", "", "Not Found");
    let deleted = answer("204 No Content", "", "");
    let (port, seen) = server(vec![not_found, deleted.clone(), deleted.clone(), deleted]).await;
    let d = GcsDriver::new(GcsConfig::emulator(format!("http://127.0.0.1:{port}"))).unwrap();
    let keys = vec!["k1".to_owned(), "k2".to_owned()];
    let out = d.delete_batch("bkt", &keys).await.unwrap();
    assert!(out.iter().all(|o| o.result.is_ok()), "{out:?}");
    // The next batch goes straight to single deletes.
    let out = d.delete_batch("bkt", &["k3".to_owned()]).await.unwrap();
    assert!(out[0].result.is_ok());
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 4);
    assert!(seen[0].starts_with("POST /batch/storage/v1"));
    assert!(seen[1..].iter().all(|r| r.starts_with("DELETE /storage/v1/b/bkt/o/k")), "{seen:?}");
}

#[tokio::test]
async fn a_batch_whose_every_request_is_refused_falls_back_to_single_deletes() {
    // fake-gcs-server answers the envelope, and 400 to everything inside it.
    let body = "--b\r\nContent-Type: application/http\r\nContent-ID: <response-item-0>\r\n\r\nHTTP/1.1 400 Bad Request\r\n\r\nunable to process request\r\n--b--\r\n";
    let batch = answer("200 OK", "Content-Type: multipart/mixed; boundary=b\r\n", body);
    let (port, seen) = server(vec![batch, answer("204 No Content", "", "")]).await;
    let d = GcsDriver::new(GcsConfig::emulator(format!("http://127.0.0.1:{port}"))).unwrap();
    let out = d.delete_batch("bkt", &["k1".to_owned()]).await.unwrap();
    assert!(out[0].result.is_ok(), "{out:?}");
    assert!(seen.lock().unwrap()[1].starts_with("DELETE /storage/v1/b/bkt/o/k1 "));
}
