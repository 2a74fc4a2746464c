//! Client settings: timeouts, pool, retries, TLS roots, proxy.

use std::time::Duration;

/// How failed requests are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryConfig {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// First backoff; doubles on each retry (with full jitter).
    pub initial_backoff: Duration,
    /// Upper bound of one backoff.
    pub max_backoff: Duration,
    /// Give up retrying once this much time has passed since the first attempt.
    pub retry_budget: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_retries: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            retry_budget: Duration::from_secs(180),
        }
    }
}

/// Which certificate authorities TLS trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsRoots {
    /// Mozilla's roots bundled in the binary (webpki-roots).
    #[default]
    Webpki,
    /// The operating system's store (needs the `native-roots` feature).
    Native,
}

/// Settings of an [`crate::HttpClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Allow plain `http://` URLs (local servers, emulators).
    pub allow_http: bool,
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// Longest wait for the response headers or for the next chunk of a body. A slow
    /// transfer that keeps making progress is never cut by this.
    pub read_idle_timeout: Duration,
    /// Optional deadline for a whole request including its retries (not the body).
    pub total_timeout: Option<Duration>,
    /// Idle connections kept per host.
    pub pool_max_idle_per_host: usize,
    /// How long an idle pooled connection is kept.
    pub pool_idle_timeout: Duration,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// Retry policy.
    pub retry: RetryConfig,
    /// TLS roots.
    pub tls_roots: TlsRoots,
    /// A PEM file of certificate authorities trusted *instead of* `tls_roots` (a private
    /// CA or a TLS-intercepting proxy; the S3 driver reads `AWS_CA_BUNDLE` into it, as
    /// the AWS CLI does). A missing, unreadable or certificate-less file fails
    /// [`crate::HttpClient::new`] with `Config`, naming the file.
    pub ca_bundle: Option<std::path::PathBuf>,
    /// Use `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` from the environment.
    pub proxy_from_env: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            allow_http: false,
            connect_timeout: Duration::from_secs(10),
            read_idle_timeout: Duration::from_secs(60),
            total_timeout: None,
            pool_max_idle_per_host: 64,
            pool_idle_timeout: Duration::from_secs(90),
            user_agent: concat!("storage-rs/", env!("CARGO_PKG_VERSION")).to_owned(),
            retry: RetryConfig::default(),
            tls_roots: TlsRoots::Webpki,
            ca_bundle: None,
            proxy_from_env: true,
        }
    }
}
