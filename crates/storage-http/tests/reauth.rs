//! A 401 to a bearer token: the client has the signer forget the token and sends the
//! request once more with a fresh one, against an in-process server that accepts only
//! some tokens. Once per request, whatever its method; never for a body that cannot be
//! sent again; never for a provider that cannot give another token; and requests refused
//! together with one stale token cause one refresh, not one each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use storage_http::auth::{AccessToken, StaticTokenProvider, TokenCache, TokenProvider, forget_rejected};
use storage_http::http::{HeaderMap, HeaderValue, Method, Uri};
use storage_http::{HttpClient, HttpConfig, HttpRequest, RequestBody, RetryConfig, Signer};
use storage_testkit::http::{Reply, Seen, Server, serve};

/// Token `T<n>` on its n-th call, valid for an hour.
#[derive(Debug, Default)]
struct Numbered(AtomicUsize);

#[async_trait]
impl TokenProvider for Numbered {
    async fn token(&self) -> storage_core::Result<AccessToken> {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        tokio::task::yield_now().await;
        Ok(AccessToken::new(format!("T{n}"), chrono::Utc::now() + chrono::TimeDelta::hours(1)))
    }
}

/// `Authorization: Bearer` from a provider, as the drivers sign.
struct Bearer(Arc<dyn TokenProvider>);

#[async_trait]
impl Signer for Bearer {
    async fn sign(
        &self,
        _: &Method,
        _: &mut Uri,
        headers: &mut HeaderMap,
        _: &RequestBody,
    ) -> storage_core::Result<()> {
        let token = self.0.token().await?;
        headers.insert("authorization", HeaderValue::from_str(&format!("Bearer {}", token.token)).unwrap());
        Ok(())
    }

    async fn rejected(&self, authorization: Option<&HeaderValue>) -> bool {
        forget_rejected(self.0.as_ref(), authorization).await
    }
}

/// Accepts the bearer tokens `ok`, answers 401 to anything else.
async fn server(ok: &'static [&'static str]) -> Server {
    serve(move |req: &Seen| {
        let token = req.header("authorization").and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("");
        if ok.contains(&token) {
            Reply::new(200, "text/plain", "fine")
        } else {
            Reply::new(401, "application/xml", "<Error><Code>InvalidAuthenticationInfo</Code></Error>")
        }
    })
    .await
}

fn client() -> HttpClient {
    // No retries of their own: only the re-authentication sends a request twice.
    let retry = RetryConfig { max_retries: 0, ..Default::default() };
    HttpClient::new(HttpConfig { allow_http: true, proxy_from_env: false, retry, ..Default::default() }).unwrap()
}

fn request(server: &Server, method: Method) -> HttpRequest {
    HttpRequest::parse(method, &format!("{}/b/k", server.base), "Op").unwrap()
}

fn tokens_sent(server: &Server) -> Vec<String> {
    server.requests().iter().map(|r| r.header("authorization").unwrap_or("").to_owned()).collect()
}

#[tokio::test]
async fn a_refused_token_is_replaced_and_the_request_sent_once_more() {
    let srv = server(&["T1"]).await;
    let provider = Arc::new(Numbered::default());
    let signer = Bearer(Arc::new(TokenCache::new(provider.clone())));
    for method in [Method::GET, Method::POST] {
        let req = request(&srv, method.clone()).body(RequestBody::Bytes(Bytes::from_static(b"body")));
        let resp = client().execute(&req, &signer).await.unwrap();
        assert_eq!(resp.status.as_u16(), 200, "{method}");
    }
    // T0 refused, T1 fetched and accepted, then kept for the POST.
    assert_eq!(tokens_sent(&srv), ["Bearer T0", "Bearer T1", "Bearer T1"]);
    assert_eq!(provider.0.load(Ordering::SeqCst), 2);
    assert!(srv.requests()[1].bytes == b"body", "the body is sent again whole");
}

#[tokio::test]
async fn a_request_is_sent_again_only_once() {
    let srv = server(&[]).await;
    let provider = Arc::new(Numbered::default());
    let signer = Bearer(Arc::new(TokenCache::new(provider.clone())));
    let resp = client().execute(&request(&srv, Method::GET), &signer).await.unwrap();
    assert_eq!(resp.status.as_u16(), 401, "the second refusal is the answer");
    assert_eq!(tokens_sent(&srv), ["Bearer T0", "Bearer T1"]);
}

#[tokio::test]
async fn no_second_try_without_a_new_token_or_without_the_body() {
    let srv = server(&[]).await;
    // A fixed token cannot change: one request.
    let fixed = Bearer(Arc::new(StaticTokenProvider::new("fixed", chrono::Utc::now() + chrono::TimeDelta::hours(1))));
    let resp = client().execute(&request(&srv, Method::GET), &fixed).await.unwrap();
    assert_eq!(resp.status.as_u16(), 401);
    assert_eq!(tokens_sent(&srv), ["Bearer fixed"]);

    // A streamed body is gone once sent: one request.
    let srv = server(&[]).await;
    let signer = Bearer(Arc::new(TokenCache::new(Arc::new(Numbered::default()))));
    let stream = futures::stream::iter([Ok(Bytes::from_static(b"once"))]);
    let body = RequestBody::stream(Box::pin(stream), 4);
    let resp = client().execute(&request(&srv, Method::PUT).body(body), &signer).await.unwrap();
    assert_eq!(resp.status.as_u16(), 401);
    assert_eq!(tokens_sent(&srv).len(), 1);
}

#[tokio::test]
async fn requests_refused_together_cause_one_refresh() {
    let srv = server(&["T1"]).await;
    let provider = Arc::new(Numbered::default());
    let signer = Arc::new(Bearer(Arc::new(TokenCache::new(provider.clone()))));
    let http = Arc::new(client());
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (signer, http, req) = (signer.clone(), http.clone(), request(&srv, Method::GET));
            tokio::spawn(async move { http.execute(&req, signer.as_ref()).await.unwrap().status.as_u16() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(provider.0.load(Ordering::SeqCst), 2, "T0 for all, then one refresh to T1");
    let sent = tokens_sent(&srv);
    assert_eq!(sent.iter().filter(|t| *t == "Bearer T0").count(), 8);
    assert_eq!(sent.iter().filter(|t| *t == "Bearer T1").count(), 8);
}
