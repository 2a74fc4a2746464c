//! Workload identity federation (`"type": "external_account"`): a token of another
//! identity provider (a Kubernetes service account token, a GitHub Actions OIDC token, an
//! Azure managed identity token...) exchanged at Google's Security Token Service, and
//! optionally for a service account's token.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use storage_core::{Error, ErrorKind, Result};
use storage_http::HttpRequest;
use storage_http::http::Method;

use super::support::{
    CLOUD_PLATFORM_SCOPE, check_secure_url, deferred_error, endpoint_client, form_body, is_loopback_url, json_error,
    non_empty, parse_iam_token_answer, request_token, send, token_client, unauthenticated,
};
use super::{AccessToken, REDACTED, SCOPE, TokenProvider};

const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The lifetime asked for impersonated tokens when the file does not say.
const DEFAULT_IMPERSONATION_LIFETIME: u64 = 3600;

/// The fields of an `external_account` JSON file this crate reads.
#[derive(Deserialize)]
struct AccountFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    audience: Option<String>,
    subject_token_type: Option<String>,
    token_url: Option<String>,
    service_account_impersonation_url: Option<String>,
    service_account_impersonation: Option<ImpersonationOptions>,
    credential_source: Option<SourceFile>,
    client_id: Option<String>,
    client_secret: Option<String>,
    workforce_pool_user_project: Option<String>,
}

#[derive(Deserialize)]
struct ImpersonationOptions {
    token_lifetime_seconds: Option<u64>,
}

#[derive(Deserialize)]
struct SourceFile {
    file: Option<String>,
    url: Option<String>,
    headers: Option<std::collections::BTreeMap<String, String>>,
    format: Option<FormatFile>,
    environment_id: Option<String>,
    executable: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct FormatFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    subject_token_field_name: Option<String>,
}

/// How the subject token is read from the file or URL answer.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Format {
    /// The whole text, trimmed.
    Text,
    /// A string member of a JSON object.
    Json { field: String },
}

/// Where the subject token comes from.
#[derive(Clone)]
enum Source {
    /// A file, read again on every call (the token rotates).
    File { path: PathBuf, format: Format },
    /// A URL answered with the token (an identity endpoint), with these headers.
    Url { url: String, headers: Vec<(String, String)>, format: Format },
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File { path, format } => {
                f.debug_struct("File").field("path", path).field("format", format).finish()
            }
            // Header values may be secrets (an API key, a bearer token).
            Source::Url { url, headers, format } => f
                .debug_struct("Url")
                .field("url", &storage_http::redact_url(url))
                .field("headers", &headers.iter().map(|(k, _)| (k.as_str(), REDACTED)).collect::<Vec<_>>())
                .field("format", format)
                .finish(),
        }
    }
}

/// The settings of the exchange.
#[derive(Clone)]
struct Settings {
    audience: String,
    subject_token_type: String,
    token_url: String,
    impersonation_url: Option<String>,
    impersonation_lifetime: u64,
    source: Source,
    /// The OAuth client of workforce pools (Basic authentication at STS).
    client: Option<(String, String)>,
    workforce_pool_user_project: Option<String>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("audience", &self.audience)
            .field("subject_token_type", &self.subject_token_type)
            .field("token_url", &self.token_url)
            .field("impersonation_url", &self.impersonation_url)
            .field("impersonation_lifetime", &self.impersonation_lifetime)
            .field("source", &self.source)
            .field("client_id", &self.client.as_ref().map(|(id, _)| id))
            .field("client_secret", &self.client.as_ref().map(|_| REDACTED))
            .field("workforce_pool_user_project", &self.workforce_pool_user_project)
            .finish()
    }
}

/// Tokens of a workload identity pool (AIP-4117):
///
/// 1. the subject token is read from `credential_source.file` (again on every call) or
///    fetched from `credential_source.url` (with `credential_source.headers`), as text
///    or, with `format.type` = `json`, from the member `format.subject_token_field_name`;
/// 2. it is exchanged at the Security Token Service (`token_url`, usually
///    `https://sts.googleapis.com/v1/token`) with
///    `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`, the `audience`, the
///    `subject_token_type` and the scope, for an access token;
/// 3. when `service_account_impersonation_url` is given, that token asks the IAM
///    Credentials API (`generateAccessToken`) for the service account's token.
///
/// Workforce pools' OAuth client (`client_id` / `client_secret`, sent as Basic
/// authentication) and `workforce_pool_user_project` are honoured. AWS
/// (`credential_source.environment_id`) and executable sources are not supported: the
/// provider says so. Subject tokens and access tokens never appear in `Debug` output, logs
/// or errors.
#[derive(Clone, Debug)]
pub struct ExternalAccountProvider {
    settings: Settings,
    scope: String,
}

impl ExternalAccountProvider {
    /// Reads an `external_account` JSON document. A document that is not one, lacks a
    /// field, or names an unsupported credential source is an error (`Config`, or
    /// `NotSupported` for AWS and executable sources) that never quotes it.
    pub fn from_json(json: &str) -> Result<Self> {
        let file: AccountFile = serde_json::from_str(json).map_err(|e| json_error("the external account JSON", &e))?;
        let settings = Self::settings(file)?;
        Ok(ExternalAccountProvider { settings, scope: SCOPE.to_owned() })
    }

    /// Asks for `scope` (space-separated scopes) instead of [`SCOPE`].
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = scope.into();
        self
    }

    /// The Security Token Service endpoint asked.
    pub fn token_url(&self) -> &str {
        &self.settings.token_url
    }

    /// The impersonation URL asked after the exchange, if any.
    pub fn impersonation_url(&self) -> Option<&str> {
        self.settings.impersonation_url.as_deref()
    }

    fn settings(file: AccountFile) -> Result<Settings> {
        let config = |why: String| Error::new(ErrorKind::Config, why);
        if let Some(kind) = non_empty(file.kind).filter(|k| k != "external_account") {
            return Err(config(format!(
                "the credentials JSON is of type {kind:?}, not workload identity federation (\"external_account\")"
            )));
        }
        let missing = |field: &str| {
            config(format!("the external account JSON has no {field}"))
                .with_hint("create the file again with `gcloud iam workload-identity-pools create-cred-config`")
        };
        let audience = non_empty(file.audience).ok_or_else(|| missing("audience"))?;
        let subject_token_type = non_empty(file.subject_token_type).ok_or_else(|| missing("subject_token_type"))?;
        let token_url = non_empty(file.token_url).ok_or_else(|| missing("token_url"))?;
        let token_url = check_secure_url(&token_url, "external account token_url").map_err(|e| deferred_error(&e))?;
        let impersonation_url = match non_empty(file.service_account_impersonation_url) {
            Some(url) => {
                Some(check_secure_url(&url, "service_account_impersonation_url").map_err(|e| deferred_error(&e))?)
            }
            None => None,
        };
        let source = file.credential_source.ok_or_else(|| missing("credential_source"))?;
        let source = Self::source(source)?;
        let client = match (non_empty(file.client_id), non_empty(file.client_secret)) {
            (Some(id), Some(secret)) => Some((id, secret)),
            (Some(id), None) => Some((id, String::new())),
            _ => None,
        };
        Ok(Settings {
            audience,
            subject_token_type,
            token_url,
            impersonation_url,
            impersonation_lifetime: file
                .service_account_impersonation
                .and_then(|o| o.token_lifetime_seconds)
                .unwrap_or(DEFAULT_IMPERSONATION_LIFETIME),
            source,
            client,
            workforce_pool_user_project: non_empty(file.workforce_pool_user_project),
        })
    }

    fn source(source: SourceFile) -> Result<Source> {
        let not_supported = |what: &str| {
            Error::new(
                ErrorKind::NotSupported,
                format!(
                    "workload identity federation with {what} is not supported (only file and url credential sources are)"
                ),
            )
        };
        if let Some(env) = non_empty(source.environment_id) {
            return Err(not_supported(&format!("the {env:?} environment (AWS credential source)")));
        }
        if source.executable.is_some() {
            return Err(not_supported("an executable credential source"));
        }
        let format = match source.format {
            None => Format::Text,
            Some(f) => match non_empty(f.kind).map(|k| k.to_ascii_lowercase()).as_deref() {
                None | Some("text") => Format::Text,
                Some("json") => match non_empty(f.subject_token_field_name) {
                    Some(field) => Format::Json { field },
                    None => {
                        return Err(Error::new(
                            ErrorKind::Config,
                            "the external account credential_source.format is json but has no subject_token_field_name",
                        ));
                    }
                },
                Some(other) => {
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!("the external account credential_source.format type {other:?} is not text or json"),
                    ));
                }
            },
        };
        match (non_empty(source.file), non_empty(source.url)) {
            (Some(file), None) => Ok(Source::File { path: PathBuf::from(file), format }),
            (None, Some(url)) => {
                Ok(Source::Url { url, headers: source.headers.unwrap_or_default().into_iter().collect(), format })
            }
            (Some(_), Some(_)) => Err(Error::new(
                ErrorKind::Config,
                "the external account credential_source has both a file and a url; give one",
            )),
            (None, None) => {
                Err(Error::new(ErrorKind::Config, "the external account credential_source has no file or url"))
            }
        }
    }

    /// The subject token, read from its source.
    async fn subject_token(&self, settings: &Settings) -> Result<String> {
        let (text, format, origin) = match &settings.source {
            Source::File { path, format } => match tokio::fs::read_to_string(path).await {
                Ok(text) => (text, format, format!("the subject token file {}", path.display())),
                Err(e) => {
                    return Err(unauthenticated(format!(
                        "cannot read the subject token file {} (external account credential_source.file): {e}",
                        path.display()
                    ))
                    .with_source(e));
                }
            },
            Source::Url { url, headers, format } => {
                let shown = storage_http::redact_url(url);
                let what = format!("the subject token URL {shown}");
                let mut request = HttpRequest::parse(Method::GET, url, "GetSubjectToken")?;
                for (name, value) in headers {
                    request.set_header(name, value)?;
                }
                let proxy = url.to_ascii_lowercase().starts_with("https://") && !is_loopback_url(url);
                let client = endpoint_client(Duration::from_secs(5), Duration::from_secs(30), 2, proxy)?;
                let (status, body) = send(&client, &request, &what).await?;
                if !(200..300).contains(&status) {
                    let kind = if storage_http::is_retryable_status(status) {
                        storage_http::kind_for_status(status)
                    } else {
                        ErrorKind::Unauthenticated
                    };
                    return Err(Error::new(kind, format!("{what} answered HTTP {status}"))
                        .with_status(status)
                        .with_retryable(storage_http::is_retryable_status(status)));
                }
                (String::from_utf8_lossy(&body).into_owned(), format, what)
            }
        };
        let token = match format {
            Format::Text => text.trim().to_owned(),
            Format::Json { field } => {
                let value: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| unauthenticated(json_error(&origin, &e).message().to_owned()))?;
                match value.get(field) {
                    Some(serde_json::Value::String(s)) => s.trim().to_owned(),
                    _ => {
                        return Err(unauthenticated(format!(
                            "{origin} has no string member {field:?} (credential_source.format.subject_token_field_name)"
                        )));
                    }
                }
            }
        };
        if token.is_empty() {
            return Err(unauthenticated(format!("{origin} holds an empty subject token")));
        }
        Ok(token)
    }

    /// Exchanges the subject token at STS.
    async fn exchange(&self, settings: &Settings, subject_token: &str) -> Result<AccessToken> {
        // The IAM Credentials API needs a broad scope; the final token gets `self.scope`.
        let scope = if settings.impersonation_url.is_some() { CLOUD_PLATFORM_SCOPE } else { self.scope.as_str() };
        let mut pairs = vec![
            ("grant_type", TOKEN_EXCHANGE_GRANT),
            ("audience", settings.audience.as_str()),
            ("scope", scope),
            ("requested_token_type", ACCESS_TOKEN_TYPE),
            ("subject_token", subject_token),
            ("subject_token_type", settings.subject_token_type.as_str()),
        ];
        let options;
        if let (None, Some(project)) = (&settings.client, &settings.workforce_pool_user_project) {
            options = serde_json::json!({ "userProject": project }).to_string();
            pairs.push(("options", options.as_str()));
        }
        let authorization =
            settings.client.as_ref().map(|(id, secret)| format!("Basic {}", B64.encode(format!("{id}:{secret}"))));
        request_token(&settings.token_url, form_body(&pairs), authorization.as_deref(), "STS token exchange").await
    }

    /// Asks the IAM Credentials API for the service account's token with the STS token.
    async fn impersonate(&self, settings: &Settings, url: &str, sts: &AccessToken) -> Result<AccessToken> {
        let what = "service account impersonation (generateAccessToken)";
        let scopes: Vec<&str> = self.scope.split_whitespace().collect();
        let body = serde_json::json!({
            "scope": scopes,
            "lifetime": format!("{}s", settings.impersonation_lifetime),
        });
        let request = HttpRequest::parse(Method::POST, url, "GenerateAccessToken")?
            .header("content-type", "application/json")?
            .header("accept", "application/json")?
            .header("authorization", format!("Bearer {}", sts.token))?
            .body(storage_http::RequestBody::Bytes(bytes::Bytes::from(body.to_string())))
            .idempotent(true);
        let (status, body) = send(&token_client(url)?, &request, what).await?;
        parse_iam_token_answer(status, &body, what)
    }
}

#[async_trait]
impl TokenProvider for ExternalAccountProvider {
    async fn token(&self) -> Result<AccessToken> {
        let settings = &self.settings;
        let subject_token = self.subject_token(settings).await?;
        let sts = self.exchange(settings, &subject_token).await?;
        let token = match &settings.impersonation_url {
            Some(url) => self.impersonate(settings, url, &sts).await?,
            None => sts,
        };
        tracing::debug!(audience = %settings.audience, impersonated = settings.impersonation_url.is_some(), "Google issued a token for the external account");
        Ok(token)
    }

    fn name(&self) -> &'static str {
        "external account"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(source: &str) -> String {
        format!(
            r#"{{"type":"external_account","audience":"//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q",
               "subject_token_type":"urn:ietf:params:oauth:token-type:jwt","token_url":"https://sts.googleapis.com/v1/token",
               "credential_source":{source}}}"#
        )
    }

    #[test]
    fn sources_and_formats() {
        let p = ExternalAccountProvider::from_json(&json(r#"{"file":"/var/run/token"}"#)).unwrap();
        assert_eq!(p.token_url(), "https://sts.googleapis.com/v1/token");
        assert_eq!(p.impersonation_url(), None);
        let p = ExternalAccountProvider::from_json(&json(
            r#"{"url":"http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01","headers":{"Metadata":"True","X-Key":"hunter2"},
                "format":{"type":"json","subject_token_field_name":"access_token"}}"#,
        ))
        .unwrap();
        let shown = format!("{p:?}");
        assert!(shown.contains("Metadata") && !shown.contains("hunter2"), "{shown}");

        for (source, kind, word) in [
            (r#"{"environment_id":"aws1","region_url":"http://x"}"#, ErrorKind::NotSupported, "AWS"),
            (r#"{"executable":{"command":"/bin/true"}}"#, ErrorKind::NotSupported, "executable"),
            (r#"{}"#, ErrorKind::Config, "no file or url"),
            (r#"{"file":"/a","url":"http://b"}"#, ErrorKind::Config, "both"),
            (r#"{"file":"/a","format":{"type":"json"}}"#, ErrorKind::Config, "subject_token_field_name"),
            (r#"{"file":"/a","format":{"type":"xml"}}"#, ErrorKind::Config, "xml"),
        ] {
            let e = ExternalAccountProvider::from_json(&json(source)).unwrap_err();
            assert_eq!(e.kind(), kind, "{e}");
            assert!(e.message().contains(word), "{e}");
        }
        let e = ExternalAccountProvider::from_json(&json(r#"{"file":"/a"}"#).replace("https://sts", "http://sts"))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        let e = ExternalAccountProvider::from_json(r#"{"type":"external_account"}"#).unwrap_err();
        assert!(e.message().contains("audience"), "{e}");
    }
}
