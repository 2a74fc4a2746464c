//! Helpers shared by the providers: environment lookup, the metadata HTTP client, the
//! JSON credentials document of ECS and IMDS.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use storage_core::Result;

use super::Credentials;

pub(crate) use storage_http::auth::support::{
    endpoint_client, env_var, is_loopback_url, non_empty, send, unauthenticated, url_host,
};

/// The user's home directory from `HOME` (`USERPROFILE` on Windows).
pub(crate) fn home_dir(get: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    non_empty(get("HOME")).or_else(|| non_empty(get("USERPROFILE"))).map(PathBuf::from)
}

/// Expands a leading `~/` (or `~`) to the home directory, as the AWS tools do.
pub(crate) fn expand_home(path: &str, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix('~'), home) {
        (Some(""), Some(home)) => home.to_path_buf(),
        (Some(rest), Some(home)) if rest.starts_with('/') || rest.starts_with('\\') => home.join(&rest[1..]),
        _ => PathBuf::from(path),
    }
}

/// Parses an RFC 3339 expiry time; `what` names the source for the error.
pub(crate) fn parse_expiry(value: &str, what: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| unauthenticated(format!("{what}: the expiration time is not an RFC 3339 date: {e}")))
}

/// The credentials document served by the ECS and IMDS endpoints (`Token`) and printed
/// by a `credential_process` (`SessionToken`). No `Debug`: it holds secrets.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct JsonCredentials {
    code: Option<String>,
    message: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    #[serde(alias = "SessionToken")]
    token: Option<String>,
    expiration: Option<String>,
}

/// Parses `{Code?, AccessKeyId, SecretAccessKey, Token (or SessionToken), Expiration}`. A
/// `Code` other than `Success` is an `Unauthenticated` error carrying the code.
pub(crate) fn parse_json_credentials(body: &[u8], what: &str) -> Result<Credentials> {
    let doc: JsonCredentials = serde_json::from_slice(body).map_err(|e| {
        // The serde message may quote the input; give only the position.
        unauthenticated(format!(
            "{what}: the answer is not a valid credentials document (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    if let Some(code) = doc.code.as_deref().filter(|c| *c != "Success") {
        let message = doc.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
        return Err(unauthenticated(format!("{what}: the endpoint answered {code}{message}")).with_provider_code(code));
    }
    let (Some(access_key_id), Some(secret_access_key)) =
        (non_empty(doc.access_key_id), non_empty(doc.secret_access_key))
    else {
        return Err(unauthenticated(format!("{what}: the answer has no AccessKeyId or SecretAccessKey")));
    };
    let mut credentials = Credentials::new(access_key_id, secret_access_key, non_empty(doc.token));
    if let Some(expiration) = non_empty(doc.expiration) {
        credentials.expires_at = Some(parse_expiry(&expiration, what)?);
    }
    Ok(credentials)
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage_core::ErrorKind;

    #[test]
    fn json_credentials_parse() {
        let body = br#"{"Code":"Success","LastUpdated":"2024-01-01T00:00:00Z","Type":"AWS-HMAC",
            "AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"sekrit","Token":"tok","Expiration":"2030-01-02T03:04:05Z"}"#;
        let c = parse_json_credentials(body, "test").unwrap();
        assert_eq!(c.access_key_id, "ASIAEXAMPLE");
        assert_eq!(c.secret_access_key, "sekrit");
        assert_eq!(c.session_token.as_deref(), Some("tok"));
        assert_eq!(c.expires_at.unwrap().to_rfc3339(), "2030-01-02T03:04:05+00:00");
    }

    #[test]
    fn json_credentials_errors_are_typed_and_quiet() {
        let e = parse_json_credentials(br#"{"Code":"AssumeRoleUnauthorizedAccess","Message":"no role"}"#, "imds")
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert_eq!(e.provider_code(), Some("AssumeRoleUnauthorizedAccess"));
        let e = parse_json_credentials(br#"{"AccessKeyId": 12, "SecretAccessKey": "sekrit"}"#, "ecs").unwrap_err();
        assert!(!e.to_string().contains("sekrit"), "{e}");
        let e = parse_json_credentials(br#"{"AccessKeyId":"a"}"#, "ecs").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        let e = parse_json_credentials(br#"{"AccessKeyId":"a","SecretAccessKey":"s","Expiration":"soon"}"#, "ecs")
            .unwrap_err();
        assert!(e.message().contains("RFC 3339"), "{e}");
    }

    #[test]
    fn hosts_and_home() {
        assert_eq!(url_host("http://127.0.0.1:8080/x"), "127.0.0.1");
        assert_eq!(url_host("http://[::1]:80/"), "[::1]");
        assert_eq!(url_host("https://u:p@Example.com"), "example.com");
        assert!(is_loopback_url("http://localhost:1/"));
        assert!(is_loopback_url("http://[::1]:1/"));
        assert!(is_loopback_url("http://127.0.0.2/"));
        assert!(!is_loopback_url("http://169.254.169.254"));
        let home = PathBuf::from("/home/u");
        assert_eq!(expand_home("~/.aws/x", Some(&home)), PathBuf::from("/home/u/.aws/x"));
        assert_eq!(expand_home("/abs", Some(&home)), PathBuf::from("/abs"));
        assert_eq!(expand_home("~other/x", Some(&home)), PathBuf::from("~other/x"));
    }
}
