//! The pooled HTTP client with retries, timeouts and tracing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Method, Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use storage_core::{Error, ErrorKind, Result};
use tracing::Instrument;

use crate::activity::Activity;
use crate::config::{HttpConfig, TlsRoots};
use crate::connector::ProxyConnector;
use crate::request::{HttpRequest, HyperBody, Signer};
use crate::response::HttpResponse;
use crate::retry::{backoff, is_retryable_status, retry_after};
use storage_core::kit::redact_url;

type Inner = Client<HttpsConnector<ProxyConnector>, HyperBody>;

/// A pooled HTTP/1.1 client (cheap to clone) shared by the cloud drivers.
#[derive(Clone)]
pub struct HttpClient {
    client: Inner,
    config: Arc<HttpConfig>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient").field("config", &self.config).finish()
    }
}

enum Attempt {
    /// The answer, and the `Authorization` header the request carried.
    Answer(HttpResponse, Option<http::HeaderValue>),
    Failed {
        error: Error,
        sent: bool,
    },
}

impl HttpClient {
    /// A client with these settings.
    pub fn new(config: HttpConfig) -> Result<Self> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.connect_timeout));
        let tcp = match &config.proxy {
            Some(proxy) => ProxyConnector::with_proxy(http, proxy, config.no_proxy.as_deref()),
            None => ProxyConnector::new(http, config.proxy_from_env),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let builder = match (&config.ca_bundle, config.tls_roots) {
            (Some(bundle), _) => builder.with_tls_config(tls_with_bundle(bundle, provider)?),
            (None, TlsRoots::Webpki) => builder.with_provider_and_webpki_roots(provider).map_err(|e| tls_error(&e))?,
            (None, TlsRoots::Native) => native_roots(builder, provider)?,
        };
        let https = builder.https_or_http().enable_http1().wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            .build(https);
        Ok(HttpClient { client, config: Arc::new(config) })
    }

    /// The settings.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// Sends `request`, signing every attempt, retrying what is safe to retry: connect
    /// failures always; timeouts, broken connections, 408, 429 and 5xx when the request
    /// is idempotent and its body replayable. Waits a jittered exponential backoff, or
    /// longer if `Retry-After` asks. The final answer is returned whatever its status;
    /// the caller maps error statuses with its provider's codes.
    pub async fn execute(&self, request: &HttpRequest, signer: &dyn Signer) -> Result<HttpResponse> {
        if request.uri.scheme_str() == Some("http") && !self.config.allow_http {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "{} uses plain http; enable allow_http for local servers",
                    redact_url(&request.uri.to_string())
                ),
            ));
        }
        // The redacted URL is only worked out when someone listens. The span is at INFO so
        // the retries logged at INFO say which request they repeat.
        let span = if tracing::enabled!(tracing::Level::INFO) {
            let url = redact_url(&request.uri.to_string());
            tracing::info_span!("http_request", op = request.operation, method = %request.method, url = %url)
        } else {
            tracing::Span::none()
        };
        async {
            let start = Instant::now();
            let retry = &self.config.retry;
            let mut retries = 0u32;
            let mut reauthenticated = false;
            loop {
                let attempt_start = Instant::now();
                let outcome = self.attempt(request, signer).await;
                // Refused credentials: once, with fresh ones if the signer has any (the
                // server did nothing, so this holds for every method).
                if let Attempt::Answer(resp, authorization) = &outcome
                    && resp.status == http::StatusCode::UNAUTHORIZED
                    && !reauthenticated
                    && request.body.is_replayable()
                    && signer.rejected(authorization.as_ref()).await
                {
                    tracing::info!(
                        attempt = retries,
                        "the server refused the credentials; sending again with fresh ones"
                    );
                    reauthenticated = true;
                    continue;
                }
                let (retryable, wait_hint) = match &outcome {
                    Attempt::Answer(resp, _) => {
                        let status = resp.status.as_u16();
                        tracing::debug!(
                            attempt = retries,
                            status,
                            ms = attempt_start.elapsed().as_millis() as u64,
                            request_id =
                                resp.header("x-amz-request-id").or(resp.header("x-ms-request-id")).unwrap_or(""),
                            "answer"
                        );
                        (
                            is_retryable_status(status) && request.idempotent && request.body.is_replayable(),
                            retry_after(&resp.headers),
                        )
                    }
                    Attempt::Failed { error, sent } => {
                        tracing::debug!(attempt = retries, error = %error, "attempt failed");
                        let safe = !sent || request.idempotent;
                        (safe && request.body.is_replayable() && error.is_retryable(), None)
                    }
                };
                let elapsed = start.elapsed();
                let budget_left = retry.retry_budget.saturating_sub(elapsed);
                let deadline_left = self.config.total_timeout.map(|t| t.saturating_sub(elapsed));
                let wait = backoff(retry, retries).max(wait_hint.unwrap_or(Duration::ZERO));
                let fits = wait < budget_left && deadline_left.is_none_or(|d| wait < d);
                if retryable && retries < retry.max_retries && fits {
                    let why = match &outcome {
                        Attempt::Answer(resp, _) => format!("status {}", resp.status.as_u16()),
                        Attempt::Failed { error, .. } => error.to_string(),
                    };
                    tracing::info!(attempt = retries, wait_ms = wait.as_millis() as u64, after = %why, "retrying");
                    tokio::time::sleep(wait).await;
                    retries += 1;
                    continue;
                }
                return match outcome {
                    Attempt::Answer(mut resp, _) => {
                        resp.retries = retries;
                        Ok(resp)
                    }
                    Attempt::Failed { error, .. } => Err(error.with_retries(retries)),
                };
            }
        }
        .instrument(span)
        .await
    }

    async fn attempt(&self, request: &HttpRequest, signer: &dyn Signer) -> Attempt {
        let mut uri = request.uri.clone();
        let mut headers = request.headers.clone();
        if let Err(error) = signer.sign(&request.method, &mut uri, &mut headers, &request.body).await {
            return Attempt::Failed { error, sent: false };
        }
        // hyper sends no userinfo, but keys its pool (and its trace logs) by authority.
        let uri = without_userinfo(uri);
        headers.entry(http::header::USER_AGENT).or_insert_with(|| {
            http::HeaderValue::from_str(&self.config.user_agent)
                .unwrap_or_else(|_| http::HeaderValue::from_static("storage-rs"))
        });
        if request.method != Method::GET && request.method != Method::HEAD && request.method != Method::DELETE {
            headers.entry(http::header::CONTENT_LENGTH).or_insert_with(|| http::HeaderValue::from(request.body.len()));
        }
        // Header names only: values may be credentials (Authorization, session tokens).
        tracing::trace!(
            body_bytes = request.body.len(),
            headers = %headers.keys().map(http::HeaderName::as_str).collect::<Vec<_>>().join(","),
            "sending"
        );
        let activity = Activity::new();
        let body = match request.body.to_hyper(&activity) {
            Ok(b) => b,
            Err(error) => return Attempt::Failed { error, sent: false },
        };
        let mut req = Request::new(body);
        *req.method_mut() = request.method.clone();
        *req.uri_mut() = uri;
        // Kept for `Signer::rejected` should the server refuse it (its bytes shared, not copied).
        let authorization = headers.get(http::header::AUTHORIZATION).cloned();
        *req.headers_mut() = headers;
        let idle = self.config.read_idle_timeout;
        // Wait for the answer; give up only when nothing moved (no body chunk sent) for
        // the idle timeout (plus the connect timeout), so slow uploads that progress live.
        let limit = idle + self.config.connect_timeout;
        let mut fut = std::pin::pin!(self.client.request(req));
        let result = loop {
            match tokio::time::timeout(limit.min(Duration::from_secs(1)), &mut fut).await {
                Ok(r) => break Some(r),
                Err(_) if activity.idle_for() >= limit => break None,
                Err(_) => {}
            }
        };
        match result {
            None => Attempt::Failed {
                error: Error::new(ErrorKind::Timeout, format!("no progress and no response for {limit:?}"))
                    .with_retryable(true),
                sent: true,
            },
            Some(Err(e)) => {
                // An untrusted or invalid server certificate is not transient: no retry.
                if let Some(reason) = tls_refusal(&e) {
                    let msg = format!(
                        "the server's TLS certificate was refused: {reason}; if the server is yours, trust its CA \
                         with ca_bundle (AWS_CA_BUNDLE)"
                    );
                    return Attempt::Failed { error: Error::new(ErrorKind::Config, msg), sent: false };
                }
                let connect = e.is_connect();
                let kind = if format!("{e:?}").contains("TimedOut") { ErrorKind::Timeout } else { ErrorKind::Io };
                let what = if connect { "connecting failed" } else { "the request failed" };
                let detail = std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_else(|| e.to_string());
                Attempt::Failed {
                    error: Error::new(kind, format!("{what}: {detail}")).with_retryable(true),
                    sent: !connect,
                }
            }
            Some(Ok(resp)) => {
                let (parts, body) = resp.into_parts();
                let response = HttpResponse { status: parts.status, headers: parts.headers, retries: 0, body, idle };
                Attempt::Answer(response, authorization)
            }
        }
    }
}

/// `uri` without its userinfo (`user:password@`): a password in a URL is never sent
/// (requests carry their credentials in headers), so it must not reach the connection
/// pool's keys, which hyper logs.
fn without_userinfo(uri: Uri) -> Uri {
    let Some(host) = uri.authority().and_then(|a| a.as_str().rsplit_once('@')).map(|(_, host)| host.to_owned()) else {
        return uri;
    };
    let mut parts = uri.clone().into_parts();
    match host.parse() {
        Ok(authority) => {
            parts.authority = Some(authority);
            Uri::from_parts(parts).unwrap_or(uri)
        }
        Err(_) => uri,
    }
}

/// The TLS error (certificate refused, handshake failure) somewhere in `e`'s sources,
/// looking inside `std::io::Error`s, which carry it as their payload.
fn tls_refusal(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        current = match err.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(payload) => Some(payload as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

fn tls_error(e: &dyn std::fmt::Display) -> Error {
    Error::new(ErrorKind::Config, format!("TLS setup failed: {e}"))
}

/// A TLS configuration trusting exactly the certificate authorities of the PEM file
/// `bundle`.
fn tls_with_bundle(
    bundle: &std::path::Path,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let bad = |what: String| {
        Error::new(
            ErrorKind::Config,
            format!("the CA bundle {} (ca_bundle, AWS_CA_BUNDLE) is not usable: {what}", bundle.display()),
        )
    };
    let certs = CertificateDer::pem_file_iter(bundle).map_err(|e| bad(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs {
        let cert = cert.map_err(|e| bad(e.to_string()))?;
        roots.add(cert).map_err(|e| bad(format!("a certificate is not usable as a root: {e}")))?;
    }
    if roots.is_empty() {
        return Err(bad("it holds no certificate".to_owned()));
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(&e))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

type SchemesBuilder = hyper_rustls::HttpsConnectorBuilder<hyper_rustls::builderstates::WantsSchemes>;

#[cfg(feature = "native-roots")]
fn native_roots(
    builder: hyper_rustls::HttpsConnectorBuilder<hyper_rustls::builderstates::WantsTlsConfig>,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<SchemesBuilder> {
    builder.with_provider_and_native_roots(provider).map_err(|e| tls_error(&e))
}

#[cfg(not(feature = "native-roots"))]
fn native_roots(
    _builder: hyper_rustls::HttpsConnectorBuilder<hyper_rustls::builderstates::WantsTlsConfig>,
    _provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<SchemesBuilder> {
    Err(Error::new(ErrorKind::Config, "native TLS roots need the storage-http feature `native-roots`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_dropped_and_the_rest_kept() {
        let uri: Uri = "http://user:hunter2@127.0.0.1:9000/b/k?x=1".parse().unwrap();
        let bare = without_userinfo(uri);
        assert_eq!(bare.to_string(), "http://127.0.0.1:9000/b/k?x=1");
        assert_eq!(bare.authority().map(|a| a.as_str()), Some("127.0.0.1:9000"));
        let plain: Uri = "https://host.example/p".parse().unwrap();
        assert_eq!(without_userinfo(plain.clone()), plain);
    }
}
