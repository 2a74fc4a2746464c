//! Client settings: timeouts, pool, retries, TLS roots, proxy.

use std::time::Duration;

use storage_core::{Error, ErrorKind, Result};

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

/// Settings of an [`crate::HttpClient`]. Every cloud driver's configuration holds one,
/// settable in code, from a configuration section or the options given with a URL
/// ([`HttpConfig::apply_options`], names in [`HTTP_OPTIONS`]) and from the environment
/// ([`HttpConfig::apply_env`], `STORAGE_HTTP_<NAME>`). `Debug` hides a proxy's password.
#[derive(Clone, PartialEq, Eq)]
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
    /// Use `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` from the environment (when
    /// `proxy` is not set).
    pub proxy_from_env: bool,
    /// An HTTP CONNECT proxy for every request (`http://[user:password@]host:port`),
    /// instead of the environment's.
    pub proxy: Option<String>,
    /// Hosts reached directly despite `proxy` (comma-separated, `NO_PROXY` syntax).
    pub no_proxy: Option<String>,
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("allow_http", &self.allow_http)
            .field("connect_timeout", &self.connect_timeout)
            .field("read_idle_timeout", &self.read_idle_timeout)
            .field("total_timeout", &self.total_timeout)
            .field("pool_max_idle_per_host", &self.pool_max_idle_per_host)
            .field("pool_idle_timeout", &self.pool_idle_timeout)
            .field("user_agent", &self.user_agent)
            .field("retry", &self.retry)
            .field("tls_roots", &self.tls_roots)
            .field("ca_bundle", &self.ca_bundle)
            .field("proxy_from_env", &self.proxy_from_env)
            .field("proxy", &self.proxy.as_deref().map(storage_core::kit::redact_url))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
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
            proxy: None,
            no_proxy: None,
        }
    }
}

/// A driver's option names followed by [`HTTP_OPTIONS`], as a `&[&str]` constant:
/// `const OPTIONS: &[&str] = storage_http::with_http_options!["endpoint", "region"];`.
#[macro_export]
macro_rules! with_http_options {
    ($($name:expr),* $(,)?) => {
        &[
            $($name,)*
            "connect_timeout",
            "read_timeout",
            "request_timeout",
            "pool_max_idle_per_host",
            "pool_idle_timeout",
            "user_agent",
            "proxy",
            "no_proxy",
            "proxy_from_env",
            "max_retries",
            "retry_initial_backoff",
            "retry_max_backoff",
            "retry_budget",
            "tls_roots",
        ]
    };
}

/// The HTTP settings a configuration section, URL options or `STORAGE_HTTP_<NAME>` may
/// hold, for every cloud driver. Durations are `500ms`, `30s`, `5m`, `1h` or seconds.
pub const HTTP_OPTIONS: &[&str] = with_http_options![];

/// Parses `500ms`, `30s`, `5m`, `1h` or a number of seconds (`2.5`).
pub fn parse_duration(name: &str, value: &str) -> Result<Duration> {
    let v = value.trim();
    let (number, unit) = match v.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&v[..i], &v[i..]),
        None => (v, "s"),
    };
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => f64::NAN,
    };
    match number.trim().parse::<f64>() {
        Ok(n) if n >= 0.0 && n.is_finite() && scale.is_finite() && n * scale < 1e9 => {
            Ok(Duration::from_secs_f64(n * scale))
        }
        _ => Err(bad(name, value, "a duration such as 500ms, 30s, 5m or 1h")),
    }
}

fn bad(name: &str, value: &str, want: &str) -> Error {
    let shown = if name == "proxy" { storage_core::kit::redact_url(value) } else { value.to_owned() };
    Error::new(ErrorKind::Config, format!("{name} = {shown:?} is not {want}"))
}

fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T> {
    value.trim().parse().map_err(|_| bad(name, value, "a whole number"))
}

fn flag(name: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(bad(name, value, "true or false")),
    }
}

impl HttpConfig {
    /// Sets one of [`HTTP_OPTIONS`] from its text; `Ok(false)` when `name` is not one.
    /// A value that does not parse is a `Config` error naming the option.
    pub fn set_option(&mut self, name: &str, value: &str) -> Result<bool> {
        match name {
            "connect_timeout" => self.connect_timeout = parse_duration(name, value)?,
            "read_timeout" => self.read_idle_timeout = parse_duration(name, value)?,
            "request_timeout" => self.total_timeout = Some(parse_duration(name, value)?),
            "pool_max_idle_per_host" => self.pool_max_idle_per_host = number(name, value)?,
            "pool_idle_timeout" => self.pool_idle_timeout = parse_duration(name, value)?,
            "user_agent" => {
                if http::HeaderValue::from_str(value).is_err() {
                    return Err(bad(name, value, "valid header text"));
                }
                self.user_agent = value.to_owned();
            }
            "proxy" => {
                let uri: http::Uri = value.trim().parse().map_err(|_| bad(name, value, "a proxy URL"))?;
                if uri.scheme_str() != Some("http") || uri.host().is_none() {
                    return Err(bad(name, value, "an http:// proxy URL with a host"));
                }
                self.proxy = Some(value.trim().to_owned());
            }
            "no_proxy" => self.no_proxy = Some(value.trim().to_owned()),
            "proxy_from_env" => self.proxy_from_env = flag(name, value)?,
            "max_retries" => self.retry.max_retries = number(name, value)?,
            "retry_initial_backoff" => self.retry.initial_backoff = parse_duration(name, value)?,
            "retry_max_backoff" => self.retry.max_backoff = parse_duration(name, value)?,
            "retry_budget" => self.retry.retry_budget = parse_duration(name, value)?,
            "tls_roots" => {
                self.tls_roots = match value.trim().to_ascii_lowercase().as_str() {
                    "webpki" | "bundled" => TlsRoots::Webpki,
                    "native" | "system" => TlsRoots::Native,
                    _ => return Err(bad(name, value, "webpki or native")),
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Applies the [`HTTP_OPTIONS`] found in a configuration section or URL options.
    pub fn apply_options(&mut self, options: &storage_core::DriverConfig) -> Result<()> {
        for name in HTTP_OPTIONS {
            if let Some(v) = options.get(name).filter(|v| !v.trim().is_empty()) {
                self.set_option(name, v)?;
            }
        }
        Ok(())
    }

    /// Applies `STORAGE_HTTP_<NAME>` variables (`STORAGE_HTTP_CONNECT_TIMEOUT=5s`,
    /// `STORAGE_HTTP_PROXY=...`) from the environment.
    pub fn apply_env(&mut self) -> Result<()> {
        self.apply_vars(|k| std::env::var(k).ok())
    }

    /// [`HttpConfig::apply_env`] reading variables through `get`.
    pub fn apply_vars(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<()> {
        for name in HTTP_OPTIONS {
            let var = format!("STORAGE_HTTP_{}", name.to_ascii_uppercase());
            if let Some(v) = get(&var).filter(|v| !v.trim().is_empty()) {
                self.set_option(name, &v)
                    .map_err(|e| Error::new(ErrorKind::Config, format!("{var}: {}", e.message())))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_bad_values_are_named() {
        let mut c = HttpConfig::default();
        let o = storage_core::DriverConfig::new()
            .set("connect_timeout", "500ms")
            .set("read_timeout", "2m")
            .set("request_timeout", "90")
            .set("pool_max_idle_per_host", "3")
            .set("user_agent", "my-app/1.0")
            .set("proxy", "http://user:hunter2@proxy.internal:3128")
            .set("no_proxy", "localhost,.internal")
            .set("max_retries", "0")
            .set("retry_initial_backoff", "1.5s")
            .set("tls_roots", "native");
        c.apply_options(&o).unwrap();
        assert_eq!(c.connect_timeout, Duration::from_millis(500));
        assert_eq!(c.read_idle_timeout, Duration::from_secs(120));
        assert_eq!(c.total_timeout, Some(Duration::from_secs(90)));
        assert_eq!((c.pool_max_idle_per_host, c.retry.max_retries), (3, 0));
        assert_eq!(c.retry.initial_backoff, Duration::from_millis(1500));
        assert_eq!((c.user_agent.as_str(), c.tls_roots), ("my-app/1.0", TlsRoots::Native));
        assert!(!format!("{c:?}").contains("hunter2"), "{c:?}");
        for (name, value) in
            [("connect_timeout", "soon"), ("max_retries", "-1"), ("proxy", "socks5://h:1"), ("tls_roots", "x")]
        {
            let e = HttpConfig::default().set_option(name, value).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config);
            assert!(e.message().starts_with(name), "{e}");
        }
        let e = HttpConfig::default().set_option("proxy", "ftp://u:hunter2@h").unwrap_err();
        assert!(!e.message().contains("hunter2"), "{e}");
        assert!(!HttpConfig::default().set_option("endpoint", "x").unwrap());
        let all: &[&str] = crate::with_http_options!["endpoint"];
        assert_eq!(&all[1..], HTTP_OPTIONS);
    }
}
