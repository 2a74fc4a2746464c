//! Entra ID bearer tokens on the wire, against an in-process server: every request
//! carries `Authorization: Bearer`, tokens are cached between requests, and a signed URL
//! is a user delegation SAS made from a key the service hands out for the token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use storage_azure::credentials::{AccessToken, TokenCache, TokenProvider};
use storage_azure::{AzureConfig, AzureDriver};
use storage_core::{Driver, SignedUrlOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, Default)]
struct Counting(AtomicUsize);

#[async_trait]
impl TokenProvider for Counting {
    async fn token(&self) -> storage_core::Result<AccessToken> {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        Ok(AccessToken::new(format!("tok-{n}"), chrono::Utc::now() + chrono::TimeDelta::hours(1)))
    }
}

/// Serves `answers` in order, one per connection, recording each request's head and body.
async fn server(answers: Vec<String>) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for answer in answers {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
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

/// A driver on the server at `port` with tokens from `provider`, cached.
fn driver(port: u16, provider: &Arc<Counting>) -> AzureDriver {
    let config = AzureConfig::new("acct")
        .endpoint(format!("http://127.0.0.1:{port}/acct"))
        .token_provider(Arc::new(TokenCache::new(provider.clone())));
    AzureDriver::new(config).unwrap()
}

#[tokio::test]
async fn requests_carry_cached_bearer_tokens() {
    let ok = answer("200 OK", "Last-Modified: Mon, 27 Jan 2014 22:28:43 GMT\r\n", "");
    let (port, seen) = server(vec![ok.clone(), ok]).await;
    let provider = Arc::new(Counting::default());
    let d = driver(port, &provider);
    d.get_container("box1").await.unwrap();
    d.get_container("box2").await.unwrap();
    let seen = seen.lock().unwrap();
    for req in seen.iter() {
        let lower = req.to_ascii_lowercase();
        assert!(lower.contains("authorization: bearer tok-0"), "{req}");
        assert!(lower.contains("x-ms-version: ") && lower.contains("x-ms-date: "), "{req}");
    }
    assert_eq!(provider.0.load(Ordering::SeqCst), 1, "the token is fetched once and cached");
}

#[tokio::test]
async fn signed_urls_are_user_delegation_sas_for_tokens() {
    let key = "<?xml version=\"1.0\" encoding=\"utf-8\"?><UserDelegationKey><SignedOid>oid-1</SignedOid><SignedTid>tid-1</SignedTid>\
               <SignedStart>2026-01-01T00:00:00Z</SignedStart><SignedExpiry>2026-01-08T00:00:00Z</SignedExpiry>\
               <SignedService>b</SignedService><SignedVersion>2021-08-06</SignedVersion><Value>aHVudGVyMmh1bnRlcjI=</Value></UserDelegationKey>";
    let (port, seen) = server(vec![answer("200 OK", "Content-Type: application/xml\r\n", key)]).await;
    let config = AzureConfig::new("acct")
        .endpoint(format!("http://127.0.0.1:{port}/acct"))
        .token_provider(Arc::new(Counting::default()));
    let d = AzureDriver::new(config).unwrap();
    let url = d.signed_url("box", "dir/a b.txt", &SignedUrlOptions::default()).await.unwrap();
    assert!(url.starts_with(&format!("http://127.0.0.1:{port}/acct/box/dir/a%20b.txt?")), "{url}");
    for part in ["skoid=oid-1", "sktid=tid-1", "sks=b", "skv=2021-08-06", "sr=b", "sp=r", "sig="] {
        assert!(url.contains(part), "{part} missing from {url}");
    }
    assert!(!url.contains("aHVudGVyMmh1bnRlcjI"), "the delegation key itself never appears");
    let req = seen.lock().unwrap()[0].clone();
    assert!(req.starts_with("POST /acct/?restype=service&comp=userdelegationkey"), "{req}");
    assert!(
        req.contains("<KeyInfo><Start>") && req.to_ascii_lowercase().contains("authorization: bearer tok-0"),
        "{req}"
    );
}

#[tokio::test]
async fn a_token_the_service_refuses_is_replaced_once() {
    // The first token is refused (revoked before its hour was up): a new one is fetched
    // and the request sent again, once; a second refusal is the answer.
    let refused = answer(
        "401 Server failed to authenticate the request.",
        "x-ms-error-code: InvalidAuthenticationInfo\r\nContent-Type: application/xml\r\n",
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>InvalidAuthenticationInfo</Code><Message>expired</Message></Error>",
    );
    let ok = answer("200 OK", "Last-Modified: Mon, 27 Jan 2014 22:28:43 GMT\r\n", "");
    let (port, seen) = server(vec![refused.clone(), ok, refused.clone(), refused]).await;
    let provider = Arc::new(Counting::default());
    let d = driver(port, &provider);
    d.get_container("box1").await.unwrap();
    let err = d.get_container("box2").await.unwrap_err();
    assert_eq!(err.kind(), storage_core::ErrorKind::Unauthenticated, "{err}");
    assert_eq!(provider.0.load(Ordering::SeqCst), 3);
    let tokens: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|r| {
            r.lines()
                .find_map(|l| l.strip_prefix("authorization: ").or(l.strip_prefix("Authorization: ")))
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(tokens, ["Bearer tok-0", "Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]);
}
