//! Credentials of an IAM Identity Center (AWS SSO) role, with the access token the AWS CLI
//! keeps after `aws sso login`.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use percent_encoding::utf8_percent_encode;
use serde::Deserialize;
use storage_core::{Error, ErrorKind, Result};
use storage_http::HttpRequest;
use storage_http::auth::support::FORM;
use storage_http::http::Method;

use super::support::{endpoint_client, is_loopback_url, non_empty, send, unauthenticated};
use super::{Credentials, CredentialsProvider};

/// Where the access token comes from, and which role it is exchanged for.
#[derive(Clone, Debug)]
pub(super) struct SsoSettings {
    /// The profile, for the `aws sso login --profile` hint.
    pub(super) profile: String,
    /// The `[sso-session NAME]`, or `None` for a legacy profile (`sso_start_url` in it).
    pub(super) session: Option<String>,
    pub(super) start_url: String,
    pub(super) region: String,
    pub(super) account_id: String,
    pub(super) role_name: String,
    /// `~/.aws/sso/cache`.
    pub(super) cache_dir: PathBuf,
    /// The portal URL; `https://portal.sso.{region}.amazonaws.com` when `None`.
    pub(super) endpoint: Option<String>,
}

/// The token file the AWS CLI writes (`~/.aws/sso/cache/<sha1>.json`). No `Debug`: it
/// holds a secret.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CachedToken {
    access_token: Option<String>,
    expires_at: Option<String>,
}

/// The portal's `GetRoleCredentials` answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoleCredentialsAnswer {
    role_credentials: Option<RoleCredentials>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoleCredentials {
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    /// Milliseconds since the epoch.
    expiration: Option<i64>,
}

impl SsoSettings {
    /// The token cache file: the SHA-1 of the session name (or, for a legacy profile, of
    /// the start URL), in hex, as the AWS CLI names it.
    pub(super) fn token_path(&self) -> PathBuf {
        let key = self.session.as_deref().unwrap_or(&self.start_url);
        self.cache_dir.join(format!("{}.json", sha1_smol::Sha1::from(key.as_bytes()).digest()))
    }

    /// What to run to get a fresh token.
    fn login_hint(&self) -> String {
        format!("run `aws sso login --profile {}` and try again", self.profile)
    }

    /// The access token, if the file holds one that has not expired.
    async fn access_token(&self) -> Result<String> {
        let path = self.token_path();
        let text = match tokio::fs::read(&path).await {
            Ok(text) => text,
            Err(e) => {
                return Err(unauthenticated(format!(
                    "profile {:?}: no SSO token cache file {} ({e})",
                    self.profile,
                    path.display()
                ))
                .with_hint(self.login_hint()));
            }
        };
        let token: CachedToken = serde_json::from_slice(&text).map_err(|e| {
            unauthenticated(format!(
                "profile {:?}: the SSO token cache file {} is not valid JSON (line {}, column {})",
                self.profile,
                path.display(),
                e.line(),
                e.column()
            ))
            .with_hint(self.login_hint())
        })?;
        let (Some(access_token), Some(expires_at)) = (non_empty(token.access_token), non_empty(token.expires_at))
        else {
            return Err(unauthenticated(format!(
                "profile {:?}: the SSO token cache file {} has no accessToken or expiresAt",
                self.profile,
                path.display()
            ))
            .with_hint(self.login_hint()));
        };
        let expires_at = parse_cache_time(&expires_at).ok_or_else(|| {
            unauthenticated(format!(
                "profile {:?}: the expiresAt of the SSO token cache file {} is not a date",
                self.profile,
                path.display()
            ))
            .with_hint(self.login_hint())
        })?;
        if expires_at <= Utc::now() {
            return Err(unauthenticated(format!(
                "profile {:?}: the SSO session token expired at {expires_at}",
                self.profile
            ))
            .with_hint(self.login_hint()));
        }
        Ok(access_token)
    }
}

/// An `expiresAt` as the AWS CLI writes it: RFC 3339 (`2024-01-01T00:00:00Z`), or with a
/// `UTC` suffix instead of `Z` (older versions).
pub(crate) fn parse_cache_time(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    let value = value.strip_suffix("UTC").map_or_else(|| value.to_owned(), |v| format!("{v}Z"));
    DateTime::parse_from_rfc3339(&value).ok().map(|t| t.with_timezone(&Utc))
}

/// Credentials of an SSO profile: the access token the AWS CLI cached at login is
/// exchanged at the portal (`GET /federation/credentials?role_name=&account_id=` with the
/// `x-amz-sso_bearer_token` header) for the role's temporary credentials. This provider
/// never logs in: a missing or expired token is `Unauthenticated` with the hint to run
/// `aws sso login --profile NAME`.
#[derive(Clone, Debug)]
pub(super) struct SsoProvider(pub(super) SsoSettings);

#[async_trait]
impl CredentialsProvider for SsoProvider {
    async fn credentials(&self) -> Result<Credentials> {
        let s = &self.0;
        let token = s.access_token().await?;
        let base = s.endpoint.clone().unwrap_or_else(|| format!("https://portal.sso.{}.amazonaws.com", s.region));
        let url = format!(
            "{}/federation/credentials?role_name={}&account_id={}",
            base.trim_end_matches('/'),
            utf8_percent_encode(&s.role_name, FORM),
            utf8_percent_encode(&s.account_id, FORM)
        );
        let what = "SSO GetRoleCredentials";
        let request = HttpRequest::parse(Method::GET, &url, "GetRoleCredentials")?
            .header("x-amz-sso_bearer_token", &token)?
            .header("accept", "application/json")?;
        let client = endpoint_client(Duration::from_secs(5), Duration::from_secs(10), 2, !is_loopback_url(&url))?;
        let (status, body) = send(&client, &request, what).await?;
        if matches!(status, 401 | 403) {
            return Err(unauthenticated(format!(
                "profile {:?}: the SSO portal refused the session token (HTTP {status}) for role {} in account {}",
                s.profile, s.role_name, s.account_id
            ))
            .with_status(status)
            .with_hint(s.login_hint()));
        }
        if !(200..300).contains(&status) {
            return Err(Error::new(
                ErrorKind::Unauthenticated,
                format!("profile {:?}: {what} answered HTTP {status}", s.profile),
            )
            .with_status(status)
            .with_retryable(storage_http::is_retryable_status(status)));
        }
        let answer: RoleCredentialsAnswer = serde_json::from_slice(&body).map_err(|e| {
            unauthenticated(format!("{what}: the answer is not valid JSON (line {}, column {})", e.line(), e.column()))
        })?;
        let Some(rc) = answer.role_credentials else {
            return Err(unauthenticated(format!("{what}: the answer has no roleCredentials")));
        };
        let (Some(access_key_id), Some(secret)) = (non_empty(rc.access_key_id), non_empty(rc.secret_access_key)) else {
            return Err(unauthenticated(format!("{what}: the answer has no accessKeyId or secretAccessKey")));
        };
        let mut credentials = Credentials::new(access_key_id, secret, non_empty(rc.session_token));
        credentials.expires_at = rc.expiration.and_then(DateTime::from_timestamp_millis);
        tracing::debug!(profile = %s.profile, role = %s.role_name, "the SSO portal issued role credentials");
        Ok(credentials)
    }

    fn name(&self) -> &'static str {
        "sso"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_cache_file_names_are_the_cli_ones() {
        let mut s = SsoSettings {
            profile: "p".into(),
            session: Some("my-sso".into()),
            start_url: "https://d-123.awsapps.com/start".into(),
            region: "us-east-1".into(),
            account_id: "1".into(),
            role_name: "r".into(),
            cache_dir: PathBuf::from("/c"),
            endpoint: None,
        };
        // sha1("my-sso") and sha1 of the start URL, as `aws sso login` names the files.
        assert_eq!(s.token_path(), PathBuf::from("/c/0ad374308c5a4e22f723adf10145eafad7c4031c.json"));
        s.session = None;
        assert_eq!(s.token_path(), PathBuf::from("/c/2b829a45f04c9828cb45b7d092d8e4aa30818393.json"));
    }

    #[test]
    fn cache_times() {
        assert_eq!(parse_cache_time("2030-01-02T03:04:05Z").unwrap().to_rfc3339(), "2030-01-02T03:04:05+00:00");
        assert_eq!(parse_cache_time("2030-01-02T03:04:05UTC").unwrap().to_rfc3339(), "2030-01-02T03:04:05+00:00");
        assert!(parse_cache_time("soon").is_none());
    }
}
