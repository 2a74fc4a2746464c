//! What every credentials provider of the cloud drivers needs: environment lookup, URL
//! checks, form bodies, a small HTTP client for token and metadata endpoints, and errors
//! that carry context without secrets.

use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use storage_core::{Error, ErrorKind, Result};

use crate::{HttpClient, HttpConfig, HttpRequest, RetryConfig, Unsigned};

/// Characters escaped in form and query values: everything but the RFC 3986 unreserved set.
pub const FORM: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// A variable of the process environment, `None` when unset, blank or not UTF-8.
pub fn env_var(name: &str) -> Option<String> {
    non_empty(std::env::var(name).ok())
}

/// `None` for missing or blank values, the trimmed value otherwise.
pub fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// `a`, `a and b`, `a, b and c`.
pub fn and_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// "`X` is not set" / "`X and Y` are not set" for the variables of `wanted` that have no
/// value, or `None` when every one is set.
pub fn missing_vars(wanted: &[(&'static str, &Option<String>)]) -> Option<String> {
    let missing: Vec<&str> = wanted.iter().filter(|(_, v)| v.is_none()).map(|(n, _)| *n).collect();
    match missing.len() {
        0 => None,
        1 => Some(format!("{} is not set", missing[0])),
        _ => Some(format!("{} are not set", and_list(&missing))),
    }
}

/// Whether the host of `url` is a loopback address (no proxy, and plain http, make sense
/// for it).
pub fn is_loopback_url(url: &str) -> bool {
    let host = url_host(url);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The host part of `url` (lower case, without port or userinfo; IPv6 keeps its brackets).
pub fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if authority.starts_with('[') {
        authority.split_once(']').map_or(authority.to_owned(), |(h, _)| format!("{h}]"))
    } else {
        authority.split(':').next().unwrap_or("").to_owned()
    };
    host.to_ascii_lowercase()
}

/// `k1=v1&k2=v2`, values percent-encoded.
pub fn form_body(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, FORM))).collect::<Vec<_>>().join("&")
}

/// An HTTP client for a token or metadata endpoint: plain http allowed (the callers check
/// where it may be used), the given timeouts and retries, a proxy from the environment
/// only when `proxy`.
pub fn endpoint_client(connect: Duration, idle: Duration, retries: u32, proxy: bool) -> Result<HttpClient> {
    HttpClient::new(HttpConfig {
        allow_http: true,
        connect_timeout: connect,
        read_idle_timeout: idle,
        total_timeout: Some(connect * (retries + 1) + idle * (retries + 1) + Duration::from_secs(1)),
        pool_max_idle_per_host: 1,
        pool_idle_timeout: Duration::from_secs(5),
        retry: RetryConfig {
            max_retries: retries,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
            retry_budget: Duration::from_secs(20),
        },
        proxy_from_env: proxy,
        ..HttpConfig::default()
    })
}

/// Sends `request` unsigned and reads the whole answer: `(status, body)`. Transport
/// errors keep their kind and get `what` as context.
pub async fn send(client: &HttpClient, request: &HttpRequest, what: &str) -> Result<(u16, bytes::Bytes)> {
    let response = client.execute(request, &Unsigned).await.map_err(|e| context(e, what))?;
    let status = response.status.as_u16();
    let body = response.bytes().await.map_err(|e| context(e, what))?;
    Ok((status, body))
}

/// The same error with `what` prefixed to its message.
pub fn context(e: Error, what: &str) -> Error {
    let mut out = Error::new(e.kind(), format!("{what}: {}", e.message()))
        .with_retryable(e.is_retryable())
        .with_retries(e.retries());
    if let Some(status) = e.status() {
        out = out.with_status(status);
    }
    if let Some(code) = e.provider_code() {
        out = out.with_provider_code(code);
    }
    if let Some(id) = e.request_id() {
        out = out.with_request_id(id);
    }
    out.with_source(e)
}

/// An `Unauthenticated` error.
pub fn unauthenticated(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Unauthenticated, message)
}

/// Whole seconds from a JSON number (fractions dropped) or a string of digits (as IMDS
/// writes every field).
pub fn json_seconds(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        serde_json::Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// When a token expires whose answer said `expires_in: v` (seconds from now, a number or
/// a string of digits). A negative, non-numeric or too large value (for a time: an
/// endpoint answering `9223372036854775807` once panicked in chrono) is an
/// `Unauthenticated` error naming `what`, never quoting the answer.
pub fn expires_in(v: &serde_json::Value, what: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    let Some(secs) = json_seconds(v).filter(|s| *s >= 0) else {
        return Err(unauthenticated(format!("{what}: the answer's expires_in is not a number of seconds")));
    };
    chrono::TimeDelta::try_seconds(secs)
        .and_then(|d| chrono::Utc::now().checked_add_signed(d))
        .ok_or_else(|| unauthenticated(format!("{what}: the answer's expires_in ({secs} s) is out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lifetimes() {
        let near = |t: chrono::DateTime<chrono::Utc>, secs: i64| {
            (t - (chrono::Utc::now() + chrono::TimeDelta::seconds(secs))).num_seconds().abs() <= 5
        };
        for (v, secs) in
            [(serde_json::json!(3599), 3599), (serde_json::json!("86399"), 86399), (serde_json::json!(60.5), 60)]
        {
            assert!(near(expires_in(&v, "x").unwrap(), secs), "{v}");
        }
        // Out of range for a time (it panicked in chrono), negative, not a number.
        for v in [
            serde_json::json!("9223372036854775807"),
            serde_json::json!(9_223_372_036_854_775_i64),
            serde_json::json!(1e300),
            serde_json::json!(-1),
            serde_json::json!("later"),
            serde_json::json!(null),
        ] {
            let e = expires_in(&v, "token endpoint").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e}");
            assert!(e.message().contains("token endpoint: the answer's expires_in"), "{e}");
        }
    }

    #[test]
    fn hosts_lists_and_forms() {
        assert_eq!(url_host("http://127.0.0.1:8080/x"), "127.0.0.1");
        assert_eq!(url_host("http://[::1]:80/"), "[::1]");
        assert_eq!(url_host("https://u:p@Example.com"), "example.com");
        assert!(is_loopback_url("http://localhost:1/") && is_loopback_url("http://[::1]:1/"));
        assert!(!is_loopback_url("http://169.254.169.254"));
        assert_eq!(and_list(&["a", "b", "c"]), "a, b and c");
        assert_eq!(missing_vars(&[("A", &None), ("B", &Some("x".into()))]).as_deref(), Some("A is not set"));
        assert_eq!(form_body(&[("a", "b c/d"), ("e", "f")]), "a=b%20c%2Fd&e=f");
        assert_eq!(non_empty(Some("  ".into())), None);
    }
}
