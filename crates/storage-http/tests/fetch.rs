//! `upload_from_url` against an in-process HTTP/1.1 server, into a `MemoryDriver`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use storage_core::hash::md5_hex;
use storage_core::{Driver, DriverExt, ErrorKind, MemoryDriver, PutOptions};
use storage_http::{HttpClient, HttpConfig, RetryConfig, upload_from_url, upload_from_url_into};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BIG: usize = 20 * 1024 * 1024 + 4321;
const CHUNK: usize = 64 * 1024;

fn big_body() -> Vec<u8> {
    (0..BIG).map(|i| (i * 31 % 253) as u8).collect()
}

fn head(status: &str, headers: &[(&str, String)]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nconnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

fn answer(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut h: Vec<(&str, String)> = headers.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    h.push(("content-length", body.len().to_string()));
    let mut out = head(status, &h);
    out.extend_from_slice(body);
    out
}

/// Reads a request head; returns the path of its request line.
async fn read_path(sock: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&buf[..pos]).to_string();
            return text.lines().next()?.split(' ').nth(1).map(str::to_owned);
        }
    }
}

async fn respond(sock: &mut TcpStream, path: &str, big: &[u8]) -> std::io::Result<()> {
    match path {
        "/hello.txt" => {
            let r =
                answer("200 OK", &[("content-type", "text/plain; charset=utf-8"), ("etag", "\"h1\"")], b"hello world");
            sock.write_all(&r).await
        }
        "/big" => {
            // Chunked: no length announced, 20 MiB in 64 KiB chunks.
            let h = head(
                "200 OK",
                &[("content-type", "application/x-big".into()), ("transfer-encoding", "chunked".into())],
            );
            sock.write_all(&h).await?;
            for chunk in big.chunks(CHUNK) {
                sock.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await?;
                sock.write_all(chunk).await?;
                sock.write_all(b"\r\n").await?;
            }
            sock.write_all(b"0\r\n\r\n").await
        }
        "/empty" => sock.write_all(&answer("200 OK", &[], b"")).await,
        "/redirect" => sock.write_all(&answer("302 Found", &[("location", "/hello.txt")], b"")).await,
        "/dir/relative" => sock.write_all(&answer("301 Moved Permanently", &[("location", "../hello.txt")], b"")).await,
        "/dir/../hello.txt" => {
            sock.write_all(&answer("200 OK", &[("content-type", "text/x-rel")], b"via relative")).await
        }
        "/loop" => sock.write_all(&answer("302 Found", &[("location", "/loop")], b"")).await,
        "/download?id=7" => {
            let cd = "attachment; filename=\"fallback.csv\"; filename*=UTF-8''r%C3%A9sultats%201.csv";
            sock.write_all(&answer("200 OK", &[("content-disposition", cd)], b"a,b\n1,2\n")).await
        }
        "/files/" | "/files/evil" => {
            let cd = if path == "/files/evil" { "attachment; filename=\"..\"" } else { "inline" };
            sock.write_all(&answer("200 OK", &[("content-disposition", cd)], b"listing")).await
        }
        "/runs/output%201.bin" => sock.write_all(&answer("200 OK", &[], b"output one")).await,
        "/forbidden" => sock.write_all(&answer("403 Forbidden", &[], b"no")).await,
        "/flaky" => sock.write_all(&answer("500 Internal Server Error", &[], b"boom")).await,
        "/truncated" => {
            // Announces 1000 bytes, sends 10, closes; no ETag, so it is never resumed.
            let mut r = head("200 OK", &[("content-length", "1000".into())]);
            r.extend_from_slice(&[b'x'; 10]);
            sock.write_all(&r).await
        }
        _ => sock.write_all(&answer("404 Not Found", &[("content-type", "text/plain")], b"not here")).await,
    }
}

struct Server {
    port: u16,
    paths: Arc<Mutex<Vec<String>>>,
}

async fn serve() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let paths = Arc::new(Mutex::new(Vec::new()));
    let seen = paths.clone();
    let big = Arc::new(big_body());
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let seen = seen.clone();
            let big = big.clone();
            tokio::spawn(async move {
                let Some(path) = read_path(&mut sock).await else { return };
                seen.lock().unwrap().push(path.clone());
                let _ = respond(&mut sock, &path, &big).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Server { port, paths }
}

fn client() -> HttpClient {
    HttpClient::new(HttpConfig {
        allow_http: true,
        read_idle_timeout: Duration::from_secs(10),
        retry: RetryConfig {
            max_retries: 1,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(10),
            retry_budget: Duration::from_secs(10),
        },
        proxy_from_env: false,
        ..Default::default()
    })
    .unwrap()
}

async fn store() -> MemoryDriver {
    let m = MemoryDriver::new();
    m.create_container("c").await.unwrap();
    m
}

fn url(s: &Server, path: &str) -> String {
    format!("http://127.0.0.1:{}{path}", s.port)
}

#[tokio::test]
async fn a_small_resource_lands_with_its_content_type() {
    let s = serve().await;
    let m = store().await;
    let o =
        upload_from_url(&client(), &url(&s, "/hello.txt"), &m, "c", "greeting", PutOptions::default()).await.unwrap();
    assert_eq!(o.size, 11);
    assert_eq!(m.get_bytes("c", "greeting").await.unwrap(), "hello world");
    let head = m.head_object("c", "greeting").await.unwrap();
    assert_eq!(head.content_type.as_deref(), Some("text/plain; charset=utf-8"));
}

#[tokio::test]
async fn options_override_the_response_and_metadata_is_kept() {
    let s = serve().await;
    let m = store().await;
    let options = PutOptions::content_type("application/x-mine").with_metadata("source", "web");
    upload_from_url(&client(), &url(&s, "/hello.txt"), &m, "c", "k", options).await.unwrap();
    let head = m.head_object("c", "k").await.unwrap();
    assert_eq!(head.content_type.as_deref(), Some("application/x-mine"));
    assert_eq!(head.metadata.get("source").map(String::as_str), Some("web"));
}

#[tokio::test]
async fn a_large_chunked_body_is_streamed_in_parts() {
    let s = serve().await;
    let m = store().await;
    let o = upload_from_url(&client(), &url(&s, "/big"), &m, "c", "big.bin", PutOptions::default()).await.unwrap();
    assert_eq!(o.size, BIG as u64);
    let got = m.get_bytes("c", "big.bin").await.unwrap();
    assert_eq!(got.len(), BIG);
    assert_eq!(md5_hex(&got), md5_hex(&big_body()));
    let head = m.head_object("c", "big.bin").await.unwrap();
    assert_eq!(head.content_type.as_deref(), Some("application/x-big"));
    // More than one part: the body was never held whole for a single request.
    assert!(head.etag.as_deref().is_some_and(|e| e.contains('-')), "{:?}", head.etag);
    assert!(m.list_multipart_uploads("c", None).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_empty_resource_makes_an_empty_object() {
    let s = serve().await;
    let m = store().await;
    let o = upload_from_url(&client(), &url(&s, "/empty"), &m, "c", "e", PutOptions::default()).await.unwrap();
    assert_eq!(o.size, 0);
    assert!(m.get_bytes("c", "e").await.unwrap().is_empty());
}

#[tokio::test]
async fn redirects_are_followed_but_not_forever() {
    let s = serve().await;
    let m = store().await;
    upload_from_url(&client(), &url(&s, "/redirect"), &m, "c", "r", PutOptions::default()).await.unwrap();
    assert_eq!(m.get_bytes("c", "r").await.unwrap(), "hello world");
    upload_from_url(&client(), &url(&s, "/dir/relative"), &m, "c", "rel", PutOptions::default()).await.unwrap();
    assert_eq!(m.get_bytes("c", "rel").await.unwrap(), "via relative");
    let e = upload_from_url(&client(), &url(&s, "/loop"), &m, "c", "l", PutOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Backend, "{e}");
    assert!(e.message().contains("redirected more than"), "{e}");
    assert!(!m.object_exists("c", "l").await.unwrap());
    assert!(s.paths.lock().unwrap().iter().filter(|p| *p == "/loop").count() > 10);
}

#[tokio::test]
async fn error_statuses_are_typed_and_write_nothing() {
    let s = serve().await;
    let m = store().await;
    m.put_object("c", "keep", "old".into(), &PutOptions::default()).await.unwrap();
    for (path, kind, status) in [
        ("/missing", ErrorKind::ObjectDoesNotExist, 404),
        ("/forbidden", ErrorKind::PermissionDenied, 403),
        ("/flaky", ErrorKind::Backend, 500),
    ] {
        let e = upload_from_url(&client(), &url(&s, path), &m, "c", "keep", PutOptions::default()).await.unwrap_err();
        assert_eq!((e.kind(), e.status()), (kind, Some(status)), "{path}: {e}");
        assert!(e.message().contains(path), "{e}");
    }
    assert_eq!(m.get_bytes("c", "keep").await.unwrap(), "old");
}

#[tokio::test]
async fn a_truncated_body_fails_and_keeps_the_old_object() {
    let s = serve().await;
    let m = store().await;
    m.put_object("c", "keep", "old".into(), &PutOptions::default()).await.unwrap();
    let e =
        upload_from_url(&client(), &url(&s, "/truncated"), &m, "c", "keep", PutOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert_eq!(m.get_bytes("c", "keep").await.unwrap(), "old");
}

#[tokio::test]
async fn bad_urls_and_plain_http_are_config_errors() {
    let m = store().await;
    for bad in ["ftp://example.com/x", "file:///etc/passwd", "not a url"] {
        let e = upload_from_url(&client(), bad, &m, "c", "k", PutOptions::default()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{bad}: {e}");
    }
    let strict = HttpClient::new(HttpConfig { proxy_from_env: false, ..Default::default() }).unwrap();
    let e =
        upload_from_url(&strict, "http://127.0.0.1:9/x?X-Amz-Signature=secret", &m, "c", "k", PutOptions::default())
            .await
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(!e.to_string().contains("secret"), "{e}");
}

#[tokio::test]
async fn a_missing_container_is_reported_by_the_driver() {
    let s = serve().await;
    let m = MemoryDriver::new();
    let e =
        upload_from_url(&client(), &url(&s, "/hello.txt"), &m, "nope", "k", PutOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ContainerDoesNotExist, "{e}");
}

#[tokio::test]
async fn into_a_folder_the_name_comes_from_the_url_or_the_disposition() {
    let s = serve().await;
    let m = store().await;
    let c = client();
    let put = PutOptions::default;
    // The URL's last segment, percent-decoded.
    let o = upload_from_url_into(&c, &url(&s, "/runs/output%201.bin"), &m, "c", "in", None, put()).await.unwrap();
    assert_eq!(o.name, "in/output 1.bin");
    assert_eq!(m.get_bytes("c", "in/output 1.bin").await.unwrap(), "output one");
    // Content-Disposition's filename* wins over filename and over the URL.
    let o = upload_from_url_into(&c, &url(&s, "/download?id=7"), &m, "c", "in/", None, put()).await.unwrap();
    assert_eq!(o.name, "in/r\u{e9}sultats 1.csv");
    // A name given wins over both; the container's root is "".
    let o = upload_from_url_into(&c, &url(&s, "/download?id=7"), &m, "c", "", Some("mine.csv"), put()).await.unwrap();
    assert_eq!(o.name, "mine.csv");
    // Through a redirect, the name is still the URL given's.
    let o = upload_from_url_into(&c, &url(&s, "/redirect"), &m, "c", "r/", None, put()).await.unwrap();
    assert_eq!((o.name.as_str(), o.size), ("r/redirect", 11));

    // No name to be had: refused, nothing written.
    let before = m.list_keys("c", None).await.unwrap();
    for path in ["/files/", "/files/evil"] {
        let e = upload_from_url_into(&c, &url(&s, path), &m, "c", "in/", None, put()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidObjectName, "{path}: {e}");
    }
    // A bad name given is refused before any request.
    let asked = s.paths.lock().unwrap().len();
    for bad in ["", ".", "..", "a/b", "a\\b", "x\ny"] {
        let e = upload_from_url_into(&c, &url(&s, "/hello.txt"), &m, "c", "in/", Some(bad), put()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidObjectName, "{bad:?}: {e}");
    }
    assert_eq!(s.paths.lock().unwrap().len(), asked);
    assert_eq!(m.list_keys("c", None).await.unwrap(), before);
}
