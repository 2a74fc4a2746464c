//! Helpers shared by the Google token providers: URL checks, the token request, Google's
//! token answers (OAuth2 and IAM shapes, success and error), JWT encoding, and a provider
//! that only reports why it cannot give tokens.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use storage_core::{Error, ErrorKind, Result};
use storage_http::HttpRequest;
use storage_http::auth::support::expires_in;
use storage_http::http::Method;

pub(crate) use storage_http::auth::support::{
    endpoint_client, env_var, form_body, is_loopback_url, non_empty, send, unauthenticated, url_host,
};

use super::{AccessToken, TokenProvider};

/// Google's OAuth2 token endpoint.
pub(crate) const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// The broad scope the IAM Credentials API needs (service account impersonation).
pub(crate) const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// A `Result` whose error is kept until a token is asked for: the kind and the message.
pub(crate) type Deferred<T> = std::result::Result<T, (ErrorKind, String)>;

/// The deferred error as an [`Error`].
pub(crate) fn deferred_error((kind, why): &(ErrorKind, String)) -> Error {
    Error::new(*kind, why.clone())
}

/// Checks a URL that secrets are sent to (assertions, refresh tokens, subject tokens):
/// `https://`, or plain `http://` to a loopback host (test servers). Answers it trimmed.
pub(crate) fn check_secure_url(url: &str, what: &str) -> Deferred<String> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    let secure = lower.starts_with("https://") || (lower.starts_with("http://") && is_loopback_url(url));
    if !secure {
        return Err((ErrorKind::Config, format!("the {what} {url:?} must be an https:// URL")));
    }
    if url_host(url).is_empty() {
        return Err((ErrorKind::Config, format!("the {what} {url:?} has no host name")));
    }
    Ok(url.to_owned())
}

/// An HTTP client for Google's token endpoints: 5 s to connect, 30 s idle, two retries
/// of transient failures, the environment's proxy unless the host is a loopback one.
pub(crate) fn token_client(url: &str) -> Result<storage_http::HttpClient> {
    endpoint_client(Duration::from_secs(5), Duration::from_secs(30), 2, !is_loopback_url(url))
}

/// POSTs the form `form` to `url` (with `authorization` when given) and reads the OAuth2
/// token answer. The form holds secrets: it goes only into the request body.
pub(crate) async fn request_token(
    url: &str,
    form: String,
    authorization: Option<&str>,
    what: &str,
) -> Result<AccessToken> {
    let mut request = HttpRequest::parse(Method::POST, url, "GetToken")?
        .header("content-type", "application/x-www-form-urlencoded")?
        .header("accept", "application/json")?
        .body(storage_http::RequestBody::Bytes(bytes::Bytes::from(form)))
        // Asking for a token twice is harmless.
        .idempotent(true);
    if let Some(value) = authorization {
        request.set_header("authorization", value)?;
    }
    let (status, body) = send(&token_client(url)?, &request, what).await?;
    parse_token_answer(status, &body, what)
}

/// An OAuth2 token answer (Google's token endpoint, STS, the metadata server) or an error
/// answer. No `Debug`: it holds a token.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<serde_json::Value>,
    error: Option<serde_json::Value>,
    error_description: Option<String>,
}

/// The error object of Google APIs (`{"error": {"code", "message", "status"}}`).
#[derive(Deserialize)]
struct ApiError {
    message: Option<String>,
    status: Option<String>,
}

/// Reads an OAuth2 token answer: on success `{access_token, expires_in, token_type}`;
/// otherwise `{error, error_description}` (OAuth2) or `{error: {code, message, status}}`
/// (Google APIs). Errors name `what`, carry the status and the error code as provider
/// code; they never quote the body.
pub(crate) fn parse_token_answer(status: u16, body: &[u8], what: &str) -> Result<AccessToken> {
    let success = (200..300).contains(&status);
    let answer = match serde_json::from_slice::<TokenAnswer>(body) {
        Ok(answer) => answer,
        Err(_) if !success => return Err(refusal(status, None, None, what)),
        Err(e) => return Err(not_a_token_document(status, &e, what)),
    };
    if let Some(e) = answer_error(status, answer.error.as_ref(), answer.error_description.as_deref(), what) {
        return Err(e);
    }
    let Some(token) = non_empty(answer.access_token) else {
        return Err(unauthenticated(format!("{what}: the answer has no access_token")).with_status(status));
    };
    if let Some(kind) = non_empty(answer.token_type).filter(|t| !t.eq_ignore_ascii_case("bearer")) {
        return Err(unauthenticated(format!("{what}: the answer is a {kind:?} token, not a Bearer token")));
    }
    let expires_at = match answer.expires_in {
        Some(v) => expires_in(&v, what)?,
        // Google's tokens live an hour; an answer that does not say is taken at that.
        None => Utc::now() + TimeDelta::seconds(3600),
    };
    Ok(AccessToken::new(token, expires_at))
}

/// The answer of the IAM Credentials API's `generateAccessToken`:
/// `{accessToken, expireTime}` (RFC 3339), or a Google API error.
pub(crate) fn parse_iam_token_answer(status: u16, body: &[u8], what: &str) -> Result<AccessToken> {
    /// No `Debug`: it holds a token.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct IamAnswer {
        access_token: Option<String>,
        expire_time: Option<String>,
        error: Option<serde_json::Value>,
    }
    let success = (200..300).contains(&status);
    let answer = match serde_json::from_slice::<IamAnswer>(body) {
        Ok(answer) => answer,
        Err(_) if !success => return Err(refusal(status, None, None, what)),
        Err(e) => return Err(not_a_token_document(status, &e, what)),
    };
    if let Some(e) = answer_error(status, answer.error.as_ref(), None, what) {
        return Err(e);
    }
    let Some(token) = non_empty(answer.access_token) else {
        return Err(unauthenticated(format!("{what}: the answer has no accessToken")).with_status(status));
    };
    let expires_at = match non_empty(answer.expire_time).map(|t| DateTime::parse_from_rfc3339(&t)) {
        Some(Ok(t)) => t.with_timezone(&Utc),
        _ => return Err(unauthenticated(format!("{what}: the answer's expireTime is not an RFC 3339 time"))),
    };
    Ok(AccessToken::new(token, expires_at))
}

/// The error an answer reports, if any: a non-2xx status, or an `error` member (OAuth2
/// string or Google API object) even in a 2xx answer.
fn answer_error(
    status: u16,
    error: Option<&serde_json::Value>,
    description: Option<&str>,
    what: &str,
) -> Option<Error> {
    let (code, message) = match error {
        Some(serde_json::Value::String(code)) => (non_empty(Some(code.clone())), description.map(str::to_owned)),
        Some(object @ serde_json::Value::Object(_)) => match serde_json::from_value::<ApiError>(object.clone()) {
            Ok(api) => (non_empty(api.status), non_empty(api.message)),
            Err(_) => (None, None),
        },
        _ => (None, description.map(str::to_owned)),
    };
    let refused = error.is_some_and(|e| !e.is_null());
    if (200..300).contains(&status) && !refused {
        return None;
    }
    Some(refusal(status, code.as_deref(), non_empty(message).as_deref(), what))
}

/// The error for a refused token request. Transient statuses (408, 429, 5xx) keep the kind
/// their status means and are retryable; everything else is `Unauthenticated`.
fn refusal(status: u16, code: Option<&str>, description: Option<&str>, what: &str) -> Error {
    let transient = storage_http::is_retryable_status(status);
    let kind = if transient { storage_http::kind_for_status(status) } else { ErrorKind::Unauthenticated };
    storage_http::status_error(kind, status, code, description, None, what).with_retryable(transient)
}

/// A 2xx answer that is not JSON. The serde message may quote the input: only the
/// position is given.
fn not_a_token_document(status: u16, e: &serde_json::Error, what: &str) -> Error {
    unauthenticated(format!(
        "{what}: the answer is not a valid token document (line {}, column {})",
        e.line(),
        e.column()
    ))
    .with_status(status)
}

/// A `Config` error for JSON that does not parse, giving only the position (serde's
/// message may quote the input, which can hold a key).
pub(crate) fn json_error(what: &str, e: &serde_json::Error) -> Error {
    let why = match e.classify() {
        serde_json::error::Category::Io => "cannot be read",
        serde_json::error::Category::Syntax => "is not valid JSON",
        serde_json::error::Category::Data => "has a field of the wrong type",
        serde_json::error::Category::Eof => "ends too early",
    };
    Error::new(ErrorKind::Config, format!("{what} {why} (line {}, column {})", e.line(), e.column()))
}

/// Base64url without padding, as JWTs use.
pub(crate) fn b64url(data: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Seconds since the Unix epoch, now.
pub(crate) fn unix_now() -> i64 {
    Utc::now().timestamp()
}

/// A provider that cannot give tokens and says why on every call (a missing or broken
/// credentials file, an unsupported credential type). Its messages never hold secrets.
#[derive(Clone, Debug)]
pub(crate) struct Unavailable {
    name: &'static str,
    kind: ErrorKind,
    message: String,
    hint: Option<String>,
}

impl Unavailable {
    /// Answers `kind` with `message`, named `name` in a chain's error.
    pub(crate) fn new(name: &'static str, kind: ErrorKind, message: impl Into<String>) -> Self {
        Unavailable { name, kind, message: message.into(), hint: None }
    }

    /// The provider for `e` (its kind, message and hint).
    pub(crate) fn from_error(name: &'static str, e: &Error) -> Self {
        Unavailable { hint: Some(e.hint().to_owned()), ..Unavailable::new(name, e.kind(), e.message()) }
    }
}

#[async_trait]
impl TokenProvider for Unavailable {
    async fn token(&self) -> Result<AccessToken> {
        let e = Error::new(self.kind, self.message.clone());
        Err(match &self.hint {
            Some(hint) => e.with_hint(hint.clone()),
            None => e,
        })
    }

    fn name(&self) -> &'static str {
        self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn near(t: DateTime<Utc>, secs: i64) -> bool {
        (t - (Utc::now() + TimeDelta::seconds(secs))).num_seconds().abs() <= 5
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
    fn oauth_answers() {
        let t = parse_token_answer(
            200,
            br#"{"access_token":"ya29.a0AfH6","expires_in":3599,"scope":"https://www.googleapis.com/auth/devstorage.full_control","token_type":"Bearer"}"#,
            "test",
        )
        .unwrap();
        assert_eq!(t.token, "ya29.a0AfH6");
        assert!(near(t.expires_at, 3599));
        // STS answers.
        let t = parse_token_answer(
            200,
            br#"{"access_token":"sts","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","expires_in":"3600"}"#,
            "sts",
        )
        .unwrap();
        assert!(near(t.expires_at, 3600));
        let t = parse_token_answer(200, br#"{"access_token":"n"}"#, "x").unwrap();
        assert!(near(t.expires_at, 3600));
    }

    #[test]
    fn error_answers_are_typed_and_never_quote_the_body() {
        let e = parse_token_answer(
            400,
            br#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
            "service account token request",
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert_eq!(e.provider_code(), Some("invalid_grant"));
        assert_eq!(e.status(), Some(400));
        assert!(!e.is_retryable());
        assert!(e.message().contains("Invalid JWT Signature."), "{e}");
        let e = parse_iam_token_answer(
            403,
            br#"{"error":{"code":403,"message":"Permission 'iam.serviceAccounts.getAccessToken' denied","status":"PERMISSION_DENIED"}}"#,
            "impersonation",
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert_eq!(e.provider_code(), Some("PERMISSION_DENIED"));
        assert!(e.message().contains("getAccessToken"), "{e}");
        let e = parse_token_answer(503, b"<html>busy</html>", "x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Backend);
        assert!(e.is_retryable());

        for bad in [
            &br#"{"access_token": "SECRET-TOKEN", "expires_in": "#[..],
            br#"{"access_token": ["SECRET-TOKEN"], "expires_in": 1}"#,
            b"SECRET-TOKEN",
            br#"{"access_token":"SECRET-TOKEN","expires_in":"later"}"#,
            br#"{"access_token":"SECRET-TOKEN","expires_in":-5}"#,
            br#"{"access_token":"SECRET-TOKEN","expires_in":5,"token_type":"mac"}"#,
            br#"{"expires_in":5}"#,
            br#"{"error":"invalid_grant","access_token":"SECRET-TOKEN","expires_in":5}"#,
        ] {
            let e = parse_token_answer(200, bad, "test").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e}");
            assert!(!format!("{e} {e:?}").contains("SECRET-TOKEN"), "{e:?}");
        }
        for bad in [
            &br#"{"accessToken":"SECRET-TOKEN"}"#[..],
            br#"{"accessToken":"SECRET-TOKEN","expireTime":"soon"}"#,
            br#"{"accessToken":"SECRET-TOKEN","expireTime":5"#,
        ] {
            let e = parse_iam_token_answer(200, bad, "test").unwrap_err();
            assert!(!format!("{e} {e:?}").contains("SECRET-TOKEN"), "{e:?}");
        }
        let t = parse_iam_token_answer(200, br#"{"accessToken":"a","expireTime":"2030-01-01T00:00:00Z"}"#, "x");
        assert_eq!(t.unwrap().expires_at.timestamp(), 1_893_456_000);
    }

    #[test]
    fn url_checks() {
        assert!(check_secure_url(" https://oauth2.googleapis.com/token ", "token URI").is_ok());
        assert!(check_secure_url("http://127.0.0.1:9/token", "token URI").is_ok());
        let (kind, why) = check_secure_url("http://oauth2.example.com/token", "token URI").unwrap_err();
        assert_eq!(kind, ErrorKind::Config);
        assert!(why.contains("token URI"), "{why}");
        assert!(check_secure_url("https://", "token URI").is_err());
        let e = json_error("the file", &serde_json::from_str::<serde_json::Value>("{\"k\": SECRET").unwrap_err());
        assert!(!e.message().contains("SECRET") && e.message().contains("line 1"), "{e}");
        assert_eq!(b64url(b"\xfb\xff"), "-_8");
    }
}
