//! Retry, resume and timeout behaviour against an in-process server that injects faults.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use storage_core::ErrorKind;
use storage_http::http::Method;
use storage_http::{
    HttpClient, HttpConfig, HttpRequest, RequestBody, Resumable, RetryConfig, Unsigned, resumable_body,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server does with one request.
#[derive(Clone)]
enum Act {
    /// Write these bytes and close.
    Send(Vec<u8>),
    /// Close without answering.
    Close,
    /// Write these bytes, then hold the connection open without sending more.
    SendThenStall(Vec<u8>),
}

struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nconnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length")) {
        out.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut v = out.into_bytes();
    v.extend_from_slice(body);
    v
}

async fn read_request(sock: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..pos]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            let mut body = buf.len() - pos - 4;
            while body < len {
                let n = sock.read(&mut tmp).await.ok()?;
                if n == 0 {
                    break;
                }
                body += n;
            }
            return Some(head);
        }
    }
}

/// Serves `script` in order, one action per request; requests beyond it get the last.
async fn serve(script: Vec<Act>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    tokio::spawn(async move {
        let mut i = 0;
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let act = script[i.min(script.len() - 1)].clone();
            i += 1;
            let seen = seen.clone();
            tokio::spawn(async move {
                let Some(head) = read_request(&mut sock).await else { return };
                seen.lock().unwrap().push(head);
                match act {
                    Act::Send(bytes) => {
                        let _ = sock.write_all(&bytes).await;
                        let _ = sock.shutdown().await;
                    }
                    Act::Close => drop(sock),
                    Act::SendThenStall(bytes) => {
                        let _ = sock.write_all(&bytes).await;
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                }
            });
        }
    });
    Server { port, requests }
}

fn client(idle_ms: u64, retries: u32) -> HttpClient {
    HttpClient::new(HttpConfig {
        allow_http: true,
        read_idle_timeout: Duration::from_millis(idle_ms),
        connect_timeout: Duration::from_millis(500),
        retry: RetryConfig {
            max_retries: retries,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            retry_budget: Duration::from_secs(30),
        },
        proxy_from_env: false,
        ..Default::default()
    })
    .unwrap()
}

fn get(port: u16) -> HttpRequest {
    HttpRequest::parse(Method::GET, &format!("http://127.0.0.1:{port}/bucket/key"), "GetObject").unwrap()
}

#[tokio::test]
async fn a_503_storm_is_retried_until_success() {
    let s = serve(vec![
        Act::Send(response("503 Service Unavailable", &[], b"slow down")),
        Act::Send(response("503 Service Unavailable", &[], b"slow down")),
        Act::Send(response("200 OK", &[], b"hello")),
    ])
    .await;
    let resp = client(2000, 5).execute(&get(s.port), &Unsigned).await.unwrap();
    assert_eq!(resp.status.as_u16(), 200);
    assert_eq!(resp.retries, 2);
    assert_eq!(resp.bytes().await.unwrap(), "hello");
    assert_eq!(s.requests.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_429_with_retry_after_is_honoured_and_retried() {
    let s = serve(vec![
        Act::Send(response("429 Too Many Requests", &[("retry-after", "0")], b"")),
        Act::Send(response("200 OK", &[], b"ok")),
    ])
    .await;
    let resp = client(2000, 3).execute(&get(s.port), &Unsigned).await.unwrap();
    assert_eq!((resp.status.as_u16(), resp.retries), (200, 1));
}

#[tokio::test]
async fn retries_stop_at_the_limit_and_return_the_last_answer() {
    let s = serve(vec![Act::Send(response("500 Internal Server Error", &[], b"boom"))]).await;
    let resp = client(2000, 2).execute(&get(s.port), &Unsigned).await.unwrap();
    assert_eq!((resp.status.as_u16(), resp.retries), (500, 2));
    assert_eq!(s.requests.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_non_idempotent_request_is_not_retried_after_sending() {
    let s = serve(vec![Act::Send(response("503 Service Unavailable", &[], b""))]).await;
    let req = HttpRequest::parse(Method::POST, &format!("http://127.0.0.1:{}/b?uploads", s.port), "Create")
        .unwrap()
        .body(RequestBody::Bytes("x".into()));
    let resp = client(2000, 5).execute(&req, &Unsigned).await.unwrap();
    assert_eq!((resp.status.as_u16(), resp.retries), (503, 0));
    assert_eq!(s.requests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_reset_connection_is_retried_for_idempotent_requests() {
    let s = serve(vec![Act::Close, Act::Close, Act::Send(response("200 OK", &[], b"fine"))]).await;
    let resp = client(2000, 5).execute(&get(s.port), &Unsigned).await.unwrap();
    assert_eq!((resp.status.as_u16(), resp.retries), (200, 2));
    assert_eq!(resp.bytes().await.unwrap(), "fine");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_with_a_typed_error() {
    let s = serve(vec![Act::SendThenStall(Vec::new())]).await;
    let err = client(200, 1).execute(&get(s.port), &Unsigned).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert_eq!(err.retries(), 1);
}

#[tokio::test]
async fn connection_refused_is_an_io_error_after_retries() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = client(200, 2).execute(&get(port), &Unsigned).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert_eq!(err.retries(), 2);
    assert!(err.message().contains("connect"), "{err}");
}

#[tokio::test]
async fn plain_http_needs_allow_http() {
    let c = HttpClient::new(HttpConfig { proxy_from_env: false, ..Default::default() }).unwrap();
    let err = c.execute(&get(1), &Unsigned).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

async fn download(port: u16, c: &HttpClient, total: u64) -> storage_core::Result<Vec<u8>> {
    let req = get(port);
    let first = c.execute(&req, &Unsigned).await?;
    let etag = first.header("etag").map(|s| s.trim_matches('"').to_owned());
    let resumable = Resumable {
        client: c.clone(),
        request: req,
        signer: Arc::new(Unsigned),
        start: 0,
        end: total,
        etag,
        max_resumes: 3,
    };
    let mut s = resumable_body(first, resumable);
    let mut out = Vec::new();
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

#[tokio::test]
async fn a_truncated_body_resumes_from_the_last_byte_pinned_to_the_etag() {
    let all = data(1000);
    let mut truncated = response("200 OK", &[("etag", "\"v1\""), ("content-length", "1000")], &[]);
    truncated.extend_from_slice(&all[..400]);
    let rest =
        response("206 Partial Content", &[("etag", "\"v1\""), ("content-range", "bytes 400-999/1000")], &all[400..]);
    let s = serve(vec![Act::Send(truncated), Act::Send(rest)]).await;
    let got = download(s.port, &client(2000, 2), 1000).await.unwrap();
    assert_eq!(got, all);
    let reqs = s.requests.lock().unwrap();
    assert_eq!(reqs.len(), 2);
    let second = reqs[1].to_ascii_lowercase();
    assert!(second.contains("range: bytes=400-999"), "{second}");
    assert!(second.contains("if-match: \"v1\""), "{second}");
}

#[tokio::test]
async fn a_stalled_body_resumes_after_the_idle_timeout() {
    let all = data(5000);
    let mut head = response("200 OK", &[("etag", "\"e\""), ("content-length", "5000")], &[]);
    head.extend_from_slice(&all[..1234]);
    let rest =
        response("206 Partial Content", &[("etag", "\"e\""), ("content-range", "bytes 1234-4999/5000")], &all[1234..]);
    let s = serve(vec![Act::SendThenStall(head), Act::Send(rest)]).await;
    let got = download(s.port, &client(300, 2), 5000).await.unwrap();
    assert_eq!(got, all);
}

#[tokio::test]
async fn a_changed_object_is_never_mixed_into_a_resumed_download() {
    let all = data(100);
    let mut truncated = response("200 OK", &[("etag", "\"old\""), ("content-length", "100")], &[]);
    truncated.extend_from_slice(&all[..10]);
    let s = serve(vec![Act::Send(truncated), Act::Send(response("412 Precondition Failed", &[], b""))]).await;
    let err = download(s.port, &client(2000, 0), 100).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed, "{err}");
}

#[tokio::test]
async fn without_an_etag_a_short_body_is_an_error_not_a_short_read() {
    let mut truncated = response("200 OK", &[("content-length", "100")], &[]);
    truncated.extend_from_slice(&data(100)[..10]);
    let s = serve(vec![Act::Send(truncated)]).await;
    let err = download(s.port, &client(2000, 0), 100).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
}

#[tokio::test]
async fn a_slow_upload_that_keeps_progressing_is_not_cut_by_the_idle_timeout() {
    let s = serve(vec![Act::Send(response("200 OK", &[], b"stored"))]).await;
    // 8 chunks, 100 ms apart: 800 ms in total, well past the 300 ms idle timeout.
    let chunks = futures::stream::iter(0..8).then(|_| async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(bytes::Bytes::from(vec![b'x'; 1000]))
    });
    let req = HttpRequest::parse(Method::PUT, &format!("http://127.0.0.1:{}/b/k", s.port), "PutObject")
        .unwrap()
        .body(RequestBody::stream(chunks.boxed(), 8000));
    let resp = client(300, 0).execute(&req, &Unsigned).await.unwrap();
    assert_eq!(resp.status.as_u16(), 200);
    assert!(s.requests.lock().unwrap()[0].to_ascii_lowercase().contains("content-length: 8000"));
}
