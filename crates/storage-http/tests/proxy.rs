//! A configured proxy (`proxy`, `no_proxy`): requests go through an in-process HTTP
//! CONNECT proxy that checks its credentials, except to the hosts `no_proxy` names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use storage_core::DriverConfig;
use storage_http::{HttpClient, HttpConfig, HttpRequest, Unsigned, http::Method};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Reads a request head (up to the blank line) and returns it as text.
async fn read_head(sock: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if sock.read(&mut byte).await.unwrap() == 0 {
            break;
        }
        buf.push(byte[0]);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// A server answering every request with `hello`.
async fn origin() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = read_head(&mut sock).await;
                let _ = sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello").await;
            });
        }
    });
    format!("http://{addr}/x")
}

fn client(options: DriverConfig) -> HttpClient {
    let mut config = HttpConfig { allow_http: true, proxy_from_env: false, ..HttpConfig::default() };
    config.apply_options(&options).unwrap();
    config.retry.max_retries = 0;
    HttpClient::new(config).unwrap()
}

async fn get(client: &HttpClient, url: &str) -> storage_core::Result<String> {
    let resp = client.execute(&HttpRequest::parse(Method::GET, url, "get").unwrap(), &Unsigned).await?;
    Ok(String::from_utf8(resp.bytes().await?.to_vec()).unwrap())
}

#[tokio::test]
async fn requests_go_through_the_configured_proxy_except_no_proxy_hosts() {
    let url = origin().await;
    // "dTpw" is base64("u:p").
    let (port, seen) = storage_testkit::connect_proxy(Some("dTpw")).await;

    let through = client(DriverConfig::new().set("proxy", format!("http://u:p@127.0.0.1:{port}")));
    assert_eq!(get(&through, &url).await.unwrap(), "hello");
    let heads = seen.lock().unwrap().clone();
    assert_eq!(heads.len(), 1, "{heads:?}");
    let authority = url.trim_start_matches("http://").trim_end_matches("/x");
    assert!(heads[0].starts_with(&format!("CONNECT {authority} ")), "{heads:?}");
    // The password never shows in the client's Debug output.
    assert!(!format!("{through:?}").contains("u:p@"), "{through:?}");

    // Wrong credentials: the proxy refuses, and the request fails (typed, not hanging).
    let wrong = client(DriverConfig::new().set("proxy", format!("http://u:wrong@127.0.0.1:{port}")));
    assert!(get(&wrong, &url).await.is_err());
    assert_eq!(seen.lock().unwrap().len(), 2);

    // no_proxy: reached directly, the proxy sees nothing more.
    let direct =
        client(DriverConfig::new().set("proxy", format!("http://u:p@127.0.0.1:{port}")).set("no_proxy", "127.0.0.1"));
    assert_eq!(get(&direct, &url).await.unwrap(), "hello");
    assert_eq!(seen.lock().unwrap().len(), 2);
}
