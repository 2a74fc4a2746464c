//! Helpers shared by the token providers: environment lookup, the HTTP client for token
//! endpoints, form bodies, and the OAuth2 token answer of Entra ID and the managed
//! identity endpoints.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use storage_core::{Error, ErrorKind, Result};
use storage_http::auth::support::{expires_in, json_seconds};
use storage_http::http::Method;
use storage_http::{HttpRequest, RequestBody};

use super::AccessToken;

/// The resource of Azure Storage, for the endpoints that take a resource rather than a
/// scope (managed identity, `az account get-access-token --resource`).
pub(crate) const STORAGE_RESOURCE: &str = "https://storage.azure.com";

/// The Entra ID authority of the public cloud.
pub(crate) const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";

/// `client_assertion_type` of a federated (JWT) client assertion.
pub(crate) const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub(crate) use storage_http::auth::support::{
    endpoint_client, env_var, is_loopback_url, missing_vars, non_empty, send, unauthenticated, url_host,
};

/// Checks an Entra ID authority host: `https://`, or plain `http://` to a loopback host
/// (test servers); a secret is never sent in clear text elsewhere. Answers it without a
/// trailing `/`.
pub(crate) fn check_authority_host(host: &str) -> std::result::Result<String, (ErrorKind, String)> {
    let host = host.trim().trim_end_matches('/');
    let lower = host.to_ascii_lowercase();
    if lower.starts_with("https://") || (lower.starts_with("http://") && is_loopback_url(host)) {
        if url_host(host).is_empty() {
            return Err((ErrorKind::Config, format!("the Azure authority host {host:?} has no host name")));
        }
        Ok(host.to_owned())
    } else {
        Err((
            ErrorKind::Config,
            format!("the Azure authority host {host:?} (AZURE_AUTHORITY_HOST) must be an https:// URL"),
        ))
    }
}

/// Checks a tenant id: a GUID or a domain name (letters, digits, `-` and `.`, starting
/// with a letter or digit), so it cannot change the path of the token URL or pass for a
/// command-line option.
pub(crate) fn check_tenant(tenant: &str) -> std::result::Result<String, (ErrorKind, String)> {
    let tenant = tenant.trim();
    let starts_well = tenant.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if starts_well && tenant.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') {
        Ok(tenant.to_owned())
    } else {
        Err((
            ErrorKind::Config,
            format!(
                "the Azure tenant id {tenant:?} (AZURE_TENANT_ID) is not valid: it may only hold letters, digits, \
                 '-' and '.', and starts with a letter or digit"
            ),
        ))
    }
}

/// The OAuth2 v2.0 token endpoint of `tenant` at `authority_host`.
pub(crate) fn token_url(authority_host: &str, tenant: &str) -> String {
    format!("{}/{tenant}/oauth2/v2.0/token", authority_host.trim_end_matches('/'))
}

pub(crate) use storage_http::auth::support::form_body;

/// POSTs the form `form` to the Entra ID token endpoint `url` and reads the token. The
/// form holds secrets (client secret, assertion): it goes only into the request body.
pub(crate) async fn request_token(url: &str, form: String, what: &str) -> Result<AccessToken> {
    let request = HttpRequest::parse(Method::POST, url, "GetToken")?
        .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")?
        .header("accept", "application/json")?
        .body(RequestBody::Bytes(bytes::Bytes::from(form)))
        // Asking for a token twice is harmless.
        .idempotent(true);
    let client = endpoint_client(Duration::from_secs(5), Duration::from_secs(30), 2, !is_loopback_url(url))?;
    let (status, body) = send(&client, &request, what).await?;
    parse_token_answer(status, &body, what)
}

/// The JSON answer of a token endpoint, successful or not. No `Debug`: it holds a token.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<serde_json::Value>,
    expires_on: Option<serde_json::Value>,
    error: Option<String>,
    error_description: Option<String>,
    /// App Service's error shape (`{"statusCode": 400, "message": ...}`).
    #[serde(alias = "Message")]
    message: Option<String>,
    #[serde(alias = "correlationId")]
    correlation_id: Option<String>,
    trace_id: Option<String>,
}

/// Reads the answer of a token endpoint (Entra ID, IMDS, App Service): on success
/// `{access_token, expires_in | expires_on, token_type}`; otherwise
/// `{error, error_description}` (or `{message}`). Errors name `what`, carry the status,
/// the `error` code as provider code and the correlation id as request id; they never
/// quote the body.
pub(crate) fn parse_token_answer(status: u16, body: &[u8], what: &str) -> Result<AccessToken> {
    let success = (200..300).contains(&status);
    let answer = match serde_json::from_slice::<TokenAnswer>(body) {
        Ok(answer) => answer,
        Err(_) if !success => return Err(status_error(status, None, None, None, what)),
        // The serde message may quote the input; give only the position.
        Err(e) => {
            return Err(unauthenticated(format!(
                "{what}: the answer is not a valid token document (line {}, column {})",
                e.line(),
                e.column()
            ))
            .with_status(status));
        }
    };
    let request_id = non_empty(answer.correlation_id.clone()).or_else(|| non_empty(answer.trace_id.clone()));
    let error = non_empty(answer.error.clone());
    if !success || error.is_some() {
        let description = non_empty(answer.error_description.clone()).or_else(|| non_empty(answer.message.clone()));
        return Err(status_error(status, error.as_deref(), description.as_deref(), request_id.as_deref(), what));
    }
    let Some(token) = non_empty(answer.access_token) else {
        return Err(unauthenticated(format!("{what}: the answer has no access_token")).with_status(status));
    };
    if let Some(kind) = non_empty(answer.token_type).filter(|t| !t.eq_ignore_ascii_case("bearer")) {
        return Err(unauthenticated(format!("{what}: the answer is a {kind:?} token, not a Bearer token")));
    }
    let expires_at = match (answer.expires_in, answer.expires_on) {
        // Relative lifetimes do not depend on the clocks agreeing: preferred.
        (Some(v), _) if !v.is_null() => expires_in(&v, what)?,
        (_, Some(v)) if !v.is_null() => {
            let parsed = match &v {
                serde_json::Value::String(s) => parse_expires_on(s),
                other => json_seconds(other).and_then(|s| DateTime::from_timestamp(s, 0)),
            };
            match parsed {
                Some(t) => t,
                None => return Err(unauthenticated(format!("{what}: the answer's expires_on is not a time"))),
            }
        }
        _ => return Err(unauthenticated(format!("{what}: the answer has no expires_in or expires_on"))),
    };
    Ok(AccessToken::new(token, expires_at))
}

/// The error for a refused token request. Transient statuses (408, 429, 5xx) keep the
/// kind their status means and are retryable; everything else is `Unauthenticated`.
fn status_error(
    status: u16,
    code: Option<&str>,
    description: Option<&str>,
    request_id: Option<&str>,
    what: &str,
) -> Error {
    let transient = storage_http::is_retryable_status(status);
    let kind = if transient { storage_http::kind_for_status(status) } else { ErrorKind::Unauthenticated };
    // An `error` in a 2xx answer: the request was refused all the same.
    let kind = if (200..300).contains(&status) { ErrorKind::Unauthenticated } else { kind };
    storage_http::status_error(kind, status, code, description, request_id, what).with_retryable(transient)
}

/// An `expires_on` value: Unix seconds (IMDS, App Service 2019-08-01, written as a
/// string), RFC 3339, or the `MM/DD/YYYY hh:mm:ss AM +00:00` of App Service 2017-09-01.
pub(crate) fn parse_expires_on(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<i64>() {
        return DateTime::from_timestamp(secs, 0);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some(t.with_timezone(&Utc));
    }
    for format in ["%m/%d/%Y %I:%M:%S %p %:z", "%m/%d/%Y %I:%M:%S %p %z", "%m/%d/%Y %H:%M:%S %:z"] {
        if let Ok(t) = DateTime::parse_from_str(value, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    NaiveDateTime::parse_from_str(value, "%m/%d/%Y %I:%M:%S %p").ok().map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn near(t: DateTime<Utc>, secs: i64) -> bool {
        let expected = Utc::now() + TimeDelta::seconds(secs);
        (t - expected).num_seconds().abs() <= 5
    }

    #[test]
    fn lifetimes_out_of_range_are_errors_not_panics() {
        // An endpoint's `expires_in` too large for a time (it panicked in chrono).
        for body in [
            &br#"{"access_token":"tok-secret-1","expires_in":"9223372036854775807"}"#[..],
            br#"{"access_token":"tok-secret-1","expires_in":9223372036854775}"#,
            br#"{"access_token":"tok-secret-1","expires_in":1e300}"#,
        ] {
            let e = parse_token_answer(200, body, "token endpoint").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e}");
            assert!(e.message().contains("expires_in"), "{e}");
            assert!(!e.to_string().contains("tok-secret-1"), "{e}");
        }
    }

    #[test]
    fn token_answers_parse_with_every_expiry_shape() {
        let t = parse_token_answer(
            200,
            br#"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0eXAi.a.b"}"#,
            "test",
        )
        .unwrap();
        assert_eq!(t.token, "eyJ0eXAi.a.b");
        assert!(near(t.expires_at, 3599));
        // IMDS: everything is a string.
        let t = parse_token_answer(
            200,
            br#"{"access_token":"imds","refresh_token":"","expires_in":"86399","expires_on":"1506484173",
                "not_before":"1506480273","resource":"https://storage.azure.com","token_type":"Bearer"}"#,
            "imds",
        )
        .unwrap();
        assert_eq!(t.token, "imds");
        assert!(near(t.expires_at, 86399));
        // App Service 2019-08-01: expires_on only.
        let t = parse_token_answer(
            200,
            br#"{"access_token":"app","expires_on":"1893456000","resource":"https://storage.azure.com",
                "token_type":"Bearer","client_id":"00000000-0000-0000-0000-000000000000"}"#,
            "app service",
        )
        .unwrap();
        assert_eq!(t.expires_at.to_rfc3339(), "2030-01-01T00:00:00+00:00");
        let t = parse_token_answer(200, br#"{"access_token":"n","expires_on":1893456000}"#, "x").unwrap();
        assert_eq!(t.expires_at.timestamp(), 1_893_456_000);
        let t = parse_token_answer(200, br#"{"access_token":"f","expires_in":60.0,"token_type":"bearer"}"#, "x");
        assert!(near(t.unwrap().expires_at, 60));
    }

    #[test]
    fn expires_on_dates() {
        assert_eq!(parse_expires_on("1893456000").unwrap().timestamp(), 1_893_456_000);
        assert_eq!(parse_expires_on("2030-01-01T00:00:00Z").unwrap().timestamp(), 1_893_456_000);
        assert_eq!(
            parse_expires_on("01/01/2030 01:00:00 AM +01:00").unwrap().to_rfc3339(),
            "2030-01-01T00:00:00+00:00"
        );
        assert_eq!(parse_expires_on("09/14/2017 13:30:00 +00:00").unwrap().to_rfc3339(), "2017-09-14T13:30:00+00:00");
        assert_eq!(
            parse_expires_on("09/14/2017 12:30:00 PM +00:00").unwrap().to_rfc3339(),
            "2017-09-14T12:30:00+00:00"
        );
        assert_eq!(parse_expires_on("soon"), None);
    }

    #[test]
    fn error_answers_are_typed_and_never_quote_the_body() {
        let e = parse_token_answer(
            401,
            br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.",
                "error_codes":[7000215],"timestamp":"2024-01-01 00:00:00Z","trace_id":"trace-1",
                "correlation_id":"corr-1"}"#,
            "client secret token request",
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert_eq!(e.provider_code(), Some("invalid_client"));
        assert_eq!(e.status(), Some(401));
        assert_eq!(e.request_id(), Some("corr-1"));
        assert!(!e.is_retryable());
        assert!(e.message().contains("AADSTS7000215") && e.message().contains("client secret token request"), "{e}");

        let e = parse_token_answer(503, b"<html>busy</html>", "imds").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Backend);
        assert!(e.is_retryable());
        let e = parse_token_answer(429, br#"{"error":"throttled"}"#, "imds").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        let e = parse_token_answer(400, br#"{"statusCode":400,"message":"Unable to load the identity"}"#, "app")
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert!(e.message().contains("Unable to load the identity"), "{e}");

        for bad in [
            &br#"{"access_token": "SECRET-TOKEN", "expires_in": "#[..],
            br#"{"access_token": ["SECRET-TOKEN"], "expires_in": 1}"#,
            b"SECRET-TOKEN",
            br#"{"access_token":"SECRET-TOKEN"}"#,
            br#"{"access_token":"SECRET-TOKEN","expires_in":"later"}"#,
            br#"{"access_token":"SECRET-TOKEN","expires_on":"later"}"#,
            br#"{"access_token":"SECRET-TOKEN","expires_in":-5}"#,
            br#"{"access_token":"SECRET-TOKEN","expires_in":5,"token_type":"pop"}"#,
            br#"{"expires_in":5}"#,
            br#"{"error":"invalid_grant","access_token":"SECRET-TOKEN","expires_in":5}"#,
        ] {
            let e = parse_token_answer(200, bad, "test").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e}");
            assert!(!format!("{e} {e:?}").contains("SECRET-TOKEN"), "{e:?}");
        }
    }

    #[test]
    fn settings_checks() {
        assert_eq!(
            check_authority_host("https://login.microsoftonline.us/").unwrap(),
            "https://login.microsoftonline.us"
        );
        assert_eq!(check_authority_host("http://127.0.0.1:8080").unwrap(), "http://127.0.0.1:8080");
        assert_eq!(check_authority_host("http://login.example.com").unwrap_err().0, ErrorKind::Config);
        assert_eq!(check_authority_host("https://").unwrap_err().0, ErrorKind::Config);
        assert_eq!(check_tenant(" contoso.onmicrosoft.com ").unwrap(), "contoso.onmicrosoft.com");
        assert!(check_tenant("72f988bf-86f1-41af-91ab-2d7cd011db47").is_ok());
        assert_eq!(check_tenant("a/../b").unwrap_err().0, ErrorKind::Config);
        assert_eq!(check_tenant("").unwrap_err().0, ErrorKind::Config);
        assert_eq!(token_url("https://h/", "t"), "https://h/t/oauth2/v2.0/token");
        assert_eq!(
            form_body(&[("a", "x y&z"), ("scope", "https://s/.default")]),
            "a=x%20y%26z&scope=https%3A%2F%2Fs%2F.default"
        );
        assert_eq!(missing_vars(&[("A", &None), ("B", &Some("b".into()))]).unwrap(), "A is not set");
        assert_eq!(missing_vars(&[("A", &None), ("B", &None)]).unwrap(), "A and B are not set");
        assert!(is_loopback_url("http://localhost:1/"));
        assert!(is_loopback_url("http://[::1]:1/"));
        assert!(!is_loopback_url("http://169.254.169.254/metadata"));
    }
}
