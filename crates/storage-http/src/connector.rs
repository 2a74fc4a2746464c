//! The TCP connector: direct, or through an HTTP CONNECT proxy chosen per destination
//! from `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY`, or the configured proxy.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Connects directly or through the proxy the environment names for the destination.
#[derive(Clone)]
pub struct ProxyConnector {
    direct: HttpConnector,
    matcher: Option<Arc<Matcher>>,
}

impl std::fmt::Debug for ProxyConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyConnector").field("proxy", &self.matcher.is_some()).finish()
    }
}

impl ProxyConnector {
    /// Wraps `direct`; with `from_env`, proxies are taken from the environment.
    pub fn new(direct: HttpConnector, from_env: bool) -> Self {
        ProxyConnector { direct, matcher: from_env.then(|| Arc::new(Matcher::from_env())) }
    }

    /// Wraps `direct`, sending every request through `proxy` except to the hosts of
    /// `no_proxy` (`NO_PROXY` syntax).
    pub fn with_proxy(direct: HttpConnector, proxy: &str, no_proxy: Option<&str>) -> Self {
        let mut builder = Matcher::builder().all(proxy.to_owned());
        if let Some(no) = no_proxy {
            builder = builder.no(no.to_owned());
        }
        ProxyConnector { direct, matcher: Some(Arc::new(builder.build())) }
    }
}

impl Service<Uri> for ProxyConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let intercept = self.matcher.as_ref().and_then(|m| m.intercept(&dst));
        let direct = self.direct.clone();
        Box::pin(async move {
            match intercept {
                Some(proxy) => {
                    let mut tunnel = Tunnel::new(proxy.uri().clone(), direct);
                    if let Some(auth) = proxy.basic_auth() {
                        tunnel = tunnel.with_auth(auth.clone());
                    }
                    futures::future::poll_fn(|cx| tunnel.poll_ready(cx)).await?;
                    Ok(tunnel.call(dst).await?)
                }
                None => {
                    let mut direct = direct;
                    Ok(direct.call(dst).await?)
                }
            }
        })
    }
}
