//! Tokens of the service account attached to the Google Cloud resource the process runs
//! on (Compute Engine, GKE, Cloud Run, Cloud Functions...), from the metadata server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use storage_core::{Error, ErrorKind, Result};
use storage_http::HttpRequest;
use storage_http::http::Method;

use super::support::{endpoint_client, env_var, non_empty, parse_token_answer, send, unauthenticated};
use super::{AccessToken, TokenProvider};

/// The metadata server's name on Google Cloud.
const DEFAULT_HOST: &str = "metadata.google.internal";
const TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";
const PROJECT_PATH: &str = "/computeMetadata/v1/project/project-id";
const EMAIL_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/email";
/// How long the first contact may take before the machine is taken for one without a
/// metadata server (name lookup, connection and answer).
const FIRST_CONTACT: Duration = Duration::from_secs(2);

/// Tokens from the metadata server:
/// `GET http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token`
/// with `Metadata-Flavor: Google` (the host from `GCE_METADATA_HOST` when set, as
/// Google's libraries do).
///
/// Until the server has answered once, a call gives up after 2 seconds (1 to connect)
/// with `Unauthenticated` ("no metadata server"), so machines outside Google Cloud fail
/// fast; afterwards the usual timeouts and retries apply. `NO_GCE_CHECK=true` turns the
/// provider off.
#[derive(Clone, Debug)]
pub struct MetadataProvider {
    base: String,
    disabled: bool,
    /// Whether the server has answered (then it is known to exist).
    seen: Arc<AtomicBool>,
}

impl MetadataProvider {
    /// Asks the metadata server at `host` (`metadata.google.internal`, `169.254.169.254`,
    /// `127.0.0.1:8080` or a full `http://` URL).
    pub fn new(host: impl AsRef<str>) -> Self {
        let host = host.as_ref().trim().trim_end_matches('/');
        let base = if host.contains("://") { host.to_owned() } else { format!("http://{host}") };
        MetadataProvider { base, disabled: false, seen: Arc::new(AtomicBool::new(false)) }
    }

    /// The provider the process environment describes: `GCE_METADATA_HOST` (else
    /// `metadata.google.internal`); off when `NO_GCE_CHECK` is `true`.
    pub fn from_env() -> Self {
        Self::from_vars(env_var)
    }

    /// Like [`MetadataProvider::from_env`], with `get` standing for the environment.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| non_empty(get(name));
        let mut provider = Self::new(get("GCE_METADATA_HOST").unwrap_or_else(|| DEFAULT_HOST.to_owned()));
        provider.disabled = get("NO_GCE_CHECK").is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
        provider
    }

    /// The server's base URL (`http://metadata.google.internal`).
    pub fn endpoint(&self) -> &str {
        &self.base
    }

    /// Whether the provider is turned off (`NO_GCE_CHECK=true`).
    pub fn is_disabled(&self) -> bool {
        self.disabled
    }

    /// The project the resource runs in (`/computeMetadata/v1/project/project-id`).
    pub async fn project_id(&self) -> Result<String> {
        self.text(PROJECT_PATH, "GetMetadataProjectId", "metadata server project id").await
    }

    /// The attached service account's email (what V4 signed URLs would name, signed with
    /// the IAM `signBlob` API rather than a local key).
    pub async fn email(&self) -> Result<String> {
        self.text(EMAIL_PATH, "GetMetadataEmail", "metadata server service account email").await
    }

    /// A metadata value that is plain text.
    async fn text(&self, path: &str, operation: &'static str, what: &str) -> Result<String> {
        let (status, body) = self.get(path, operation, what).await?;
        if !(200..300).contains(&status) {
            return Err(storage_http::status_error(
                storage_http::kind_for_status(status),
                status,
                None,
                None,
                None,
                what,
            ));
        }
        non_empty(Some(String::from_utf8_lossy(&body).into_owned()))
            .ok_or_else(|| Error::new(ErrorKind::Backend, format!("{what}: the answer is empty")))
    }

    /// `GET {base}{path}` with `Metadata-Flavor: Google`: `(status, body)`. The first
    /// contact is bounded so a machine without a metadata server fails fast.
    async fn get(&self, path: &str, operation: &'static str, what: &str) -> Result<(u16, bytes::Bytes)> {
        if self.disabled {
            return Err(unauthenticated("the metadata server is turned off (NO_GCE_CHECK is set)"));
        }
        let url = format!("{}{path}", self.base);
        let request = HttpRequest::parse(Method::GET, &url, operation)?.header("metadata-flavor", "Google")?;
        if self.seen.load(Ordering::Relaxed) {
            let client = endpoint_client(Duration::from_secs(5), Duration::from_secs(30), 2, false)?;
            return send(&client, &request, what).await;
        }
        let client = endpoint_client(Duration::from_secs(1), FIRST_CONTACT, 0, false)?;
        let answer = match tokio::time::timeout(FIRST_CONTACT, send(&client, &request, what)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => {
                return Err(Error::new(
                    ErrorKind::Unauthenticated,
                    format!(
                        "no metadata server answered at {} ({}); not running on Google Cloud?",
                        self.base,
                        e.message()
                    ),
                )
                .with_source(e));
            }
            Err(_) => {
                return Err(unauthenticated(format!(
                    "no metadata server answered at {} within {} s; not running on Google Cloud?",
                    self.base,
                    FIRST_CONTACT.as_secs()
                )));
            }
        };
        self.seen.store(true, Ordering::Relaxed);
        Ok(answer)
    }
}

#[async_trait]
impl TokenProvider for MetadataProvider {
    async fn token(&self) -> Result<AccessToken> {
        let what = "metadata server token request";
        let (status, body) = self.get(TOKEN_PATH, "GetMetadataToken", what).await?;
        let token = parse_token_answer(status, &body, what)?;
        tracing::debug!(endpoint = %self.base, "the metadata server issued a token");
        Ok(token)
    }

    fn name(&self) -> &'static str {
        "metadata server"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_settings() {
        let p = MetadataProvider::from_vars(|_| None);
        assert_eq!(p.endpoint(), "http://metadata.google.internal");
        assert!(!p.is_disabled());
        let p = MetadataProvider::from_vars(|k| (k == "GCE_METADATA_HOST").then(|| "127.0.0.1:8080".into()));
        assert_eq!(p.endpoint(), "http://127.0.0.1:8080");
        let p = MetadataProvider::new("http://169.254.169.254/");
        assert_eq!(p.endpoint(), "http://169.254.169.254");
        let p = MetadataProvider::from_vars(|k| (k == "NO_GCE_CHECK").then(|| "True".into()));
        assert!(p.is_disabled());
    }

    #[tokio::test]
    async fn turned_off_says_so_without_network() {
        let p = MetadataProvider::from_vars(|k| (k == "NO_GCE_CHECK").then(|| "true".into()));
        let e = p.token().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert!(e.message().contains("NO_GCE_CHECK"), "{e}");
    }
}
