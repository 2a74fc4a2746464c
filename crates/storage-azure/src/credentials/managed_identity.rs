//! Tokens of the managed identity of the Azure resource the process runs on: the App
//! Service / Functions identity endpoint, or the VM's instance metadata service (IMDS).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use storage_core::{Error, ErrorKind, Result};
use storage_http::HttpRequest;
use storage_http::http::Method;

use super::support::{
    STORAGE_RESOURCE, endpoint_client, env_var, form_body, non_empty, parse_token_answer, send, unauthenticated,
};
use super::{AccessToken, REDACTED, TokenProvider};

/// The IMDS address of Azure VMs.
const IMDS_HOST: &str = "http://169.254.169.254";
/// The token path of IMDS.
const IMDS_TOKEN_PATH: &str = "/metadata/identity/oauth2/token";
const IMDS_API_VERSION: &str = "2018-02-01";
const APP_SERVICE_API_VERSION: &str = "2019-08-01";
/// Attempts made again after an answer saying "busy" (410, 429, 5xx).
const BUSY_RETRIES: u32 = 2;
/// The first wait before such a retry; doubles each time.
const BUSY_BACKOFF: Duration = Duration::from_millis(250);

/// Where the token comes from.
#[derive(Clone)]
enum Source {
    /// App Service / Functions: `IDENTITY_ENDPOINT`, authorized by `IDENTITY_HEADER`.
    AppService { endpoint: String, header: String },
    /// The instance metadata service: the token URL.
    Imds { url: String },
    /// An environment with a managed identity this provider cannot use.
    Unsupported(String),
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::AppService { endpoint, .. } => {
                f.debug_struct("AppService").field("endpoint", endpoint).field("header", &REDACTED).finish()
            }
            Source::Imds { url } => f.debug_struct("Imds").field("url", url).finish(),
            Source::Unsupported(why) => f.debug_tuple("Unsupported").field(why).finish(),
        }
    }
}

/// Tokens of the resource's managed identity for Azure Storage:
///
/// - App Service / Functions (`IDENTITY_ENDPOINT` and `IDENTITY_HEADER` set):
///   `GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=https://storage.azure.com`
///   with the header `X-IDENTITY-HEADER`.
/// - Otherwise the VM's IMDS: `GET http://169.254.169.254/metadata/identity/oauth2/token
///   ?api-version=2018-02-01&resource=https://storage.azure.com` with `Metadata: true`.
///   A machine without IMDS fails fast (1 s to connect, no retry) with `Unauthenticated`.
///
/// A user-assigned identity is chosen by its client id (`client_id=`). Answers saying the
/// endpoint is busy (410, 429, 5xx) are retried twice. Service Fabric and Azure Arc
/// identities are not supported (the provider says so).
#[derive(Clone, Debug)]
pub struct ManagedIdentityProvider {
    source: Source,
    client_id: Option<String>,
}

impl ManagedIdentityProvider {
    /// Asks the instance metadata service at `host` (`http://169.254.169.254` on Azure
    /// VMs; the path `/metadata/identity/oauth2/token` is added).
    pub fn imds(host: impl Into<String>) -> Self {
        let host = host.into();
        let url = format!("{}{IMDS_TOKEN_PATH}", host.trim().trim_end_matches('/'));
        ManagedIdentityProvider { source: Source::Imds { url }, client_id: None }
    }

    /// Asks the App Service / Functions identity endpoint `endpoint` (`IDENTITY_ENDPOINT`)
    /// with `identity_header` (`IDENTITY_HEADER`, a secret).
    pub fn app_service(endpoint: impl Into<String>, identity_header: impl Into<String>) -> Self {
        ManagedIdentityProvider {
            source: Source::AppService { endpoint: endpoint.into().trim().to_owned(), header: identity_header.into() },
            client_id: None,
        }
    }

    /// Uses the user-assigned identity with this client id instead of the system-assigned
    /// one.
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = non_empty(Some(client_id.into()));
        self
    }

    /// The provider the process environment describes: App Service when
    /// `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are set, else IMDS (at
    /// `AZURE_POD_IDENTITY_AUTHORITY_HOST` if set); the user-assigned identity
    /// `AZURE_CLIENT_ID` if set, as Azure's `DefaultAzureCredential` does.
    pub fn from_env() -> Self {
        Self::from_vars(env_var)
    }

    /// Like [`ManagedIdentityProvider::from_env`], with `get` standing for the environment.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| non_empty(get(name));
        let provider = match (get("IDENTITY_ENDPOINT"), get("IDENTITY_HEADER")) {
            (Some(_), Some(_)) if get("IDENTITY_SERVER_THUMBPRINT").is_some() => ManagedIdentityProvider {
                source: Source::Unsupported(
                    "the Service Fabric managed identity (IDENTITY_SERVER_THUMBPRINT is set) is not supported"
                        .to_owned(),
                ),
                client_id: None,
            },
            (Some(endpoint), Some(header)) => Self::app_service(endpoint, header),
            (Some(_), None) if get("IMDS_ENDPOINT").is_some() => ManagedIdentityProvider {
                source: Source::Unsupported(
                    "the Azure Arc managed identity (IDENTITY_ENDPOINT and IMDS_ENDPOINT are set) is not supported"
                        .to_owned(),
                ),
                client_id: None,
            },
            _ => Self::imds(get("AZURE_POD_IDENTITY_AUTHORITY_HOST").unwrap_or_else(|| IMDS_HOST.to_owned())),
        };
        match get("AZURE_CLIENT_ID") {
            Some(id) => provider.with_client_id(id),
            None => provider,
        }
    }

    /// The URL asked (without its query), or `None` when the environment's identity is
    /// not supported.
    pub fn endpoint(&self) -> Option<&str> {
        match &self.source {
            Source::AppService { endpoint, .. } => Some(endpoint),
            Source::Imds { url } => Some(url),
            Source::Unsupported(_) => None,
        }
    }

    /// The client id of the user-assigned identity asked for, if any.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// Whether the App Service endpoint is asked (rather than IMDS).
    pub fn is_app_service(&self) -> bool {
        matches!(self.source, Source::AppService { .. })
    }

    /// The request for the token, and what it is called in errors.
    fn request(&self) -> Result<(HttpRequest, &'static str)> {
        let (base, api_version, header, what) = match &self.source {
            Source::AppService { endpoint, header } => (
                endpoint.as_str(),
                APP_SERVICE_API_VERSION,
                ("x-identity-header", header.as_str()),
                "App Service managed identity endpoint",
            ),
            Source::Imds { url } => (url.as_str(), IMDS_API_VERSION, ("metadata", "true"), "IMDS managed identity"),
            Source::Unsupported(why) => return Err(unauthenticated(why.clone())),
        };
        let mut query = vec![("api-version", api_version), ("resource", STORAGE_RESOURCE)];
        if let Some(id) = &self.client_id {
            query.push(("client_id", id));
        }
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}{}", form_body(&query));
        let request = HttpRequest::parse(Method::GET, &url, "GetManagedIdentityToken")?.header(header.0, header.1)?;
        Ok((request, what))
    }
}

/// Whether an answer of a managed identity endpoint means "busy, ask again".
fn busy(status: u16) -> bool {
    matches!(status, 410 | 429 | 500..=599)
}

#[async_trait]
impl TokenProvider for ManagedIdentityProvider {
    async fn token(&self) -> Result<AccessToken> {
        let (request, what) = self.request()?;
        let imds = matches!(self.source, Source::Imds { .. });
        // IMDS may not exist: connect briefly. The App Service endpoint is there when its
        // variables are set.
        let connect = if imds { Duration::from_secs(1) } else { Duration::from_secs(5) };
        let client = endpoint_client(connect, Duration::from_secs(10), 0, false)?;
        let mut attempt = 0u32;
        loop {
            let (status, body) = match send(&client, &request, what).await {
                Ok(answer) => answer,
                Err(e) if imds && attempt == 0 => {
                    let endpoint = self.endpoint().unwrap_or(IMDS_HOST);
                    return Err(Error::new(
                        ErrorKind::Unauthenticated,
                        format!(
                            "no managed identity endpoint answered (IMDS at {endpoint}: {}); not running on an Azure VM?",
                            e.message()
                        ),
                    )
                    .with_source(e));
                }
                Err(e) => return Err(e),
            };
            if busy(status) && attempt < BUSY_RETRIES {
                tokio::time::sleep(BUSY_BACKOFF * 2u32.pow(attempt)).await;
                attempt += 1;
                continue;
            }
            let token = parse_token_answer(status, &body, what)?;
            tracing::debug!(endpoint = what, user_assigned = self.client_id.is_some(), "managed identity token issued");
            return Ok(token);
        }
    }

    fn name(&self) -> &'static str {
        "managed identity"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_settings() {
        let p = ManagedIdentityProvider::from_vars(|_| None);
        assert_eq!(p.endpoint(), Some("http://169.254.169.254/metadata/identity/oauth2/token"));
        assert!(!p.is_app_service());
        assert_eq!(p.client_id(), None);
        let (req, _) = p.request().unwrap();
        assert_eq!(
            req.uri.to_string(),
            "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fstorage.azure.com"
        );
        assert_eq!(req.headers.get("metadata").unwrap(), "true");

        let p = ManagedIdentityProvider::from_vars(|k| match k {
            "AZURE_POD_IDENTITY_AUTHORITY_HOST" => Some("http://127.0.0.1:2579/".into()),
            "AZURE_CLIENT_ID" => Some("user-assigned-1".into()),
            _ => None,
        });
        assert_eq!(p.endpoint(), Some("http://127.0.0.1:2579/metadata/identity/oauth2/token"));
        assert_eq!(p.client_id(), Some("user-assigned-1"));
        let (req, _) = p.request().unwrap();
        assert!(req.uri.query().unwrap().ends_with("&client_id=user-assigned-1"), "{}", req.uri);

        let p = ManagedIdentityProvider::from_vars(|k| match k {
            "IDENTITY_ENDPOINT" => Some("http://127.0.0.1:41741/MSI/token/".into()),
            "IDENTITY_HEADER" => Some("header-SECRET".into()),
            _ => None,
        });
        assert!(p.is_app_service());
        let (req, _) = p.request().unwrap();
        assert_eq!(
            req.uri.to_string(),
            "http://127.0.0.1:41741/MSI/token/?api-version=2019-08-01&resource=https%3A%2F%2Fstorage.azure.com"
        );
        assert_eq!(req.headers.get("x-identity-header").unwrap(), "header-SECRET");
        assert!(req.headers.get("metadata").is_none());
        assert!(!format!("{p:?}").contains("header-SECRET"), "{p:?}");
    }

    #[tokio::test]
    async fn unsupported_environments_say_so_without_network() {
        let fabric = ManagedIdentityProvider::from_vars(|k| match k {
            "IDENTITY_ENDPOINT" | "IDENTITY_HEADER" | "IDENTITY_SERVER_THUMBPRINT" => Some("x".into()),
            _ => None,
        });
        let arc = ManagedIdentityProvider::from_vars(|k| match k {
            "IDENTITY_ENDPOINT" | "IMDS_ENDPOINT" => Some("http://localhost:40342".into()),
            _ => None,
        });
        for (p, word) in [(fabric, "Service Fabric"), (arc, "Azure Arc")] {
            assert_eq!(p.endpoint(), None);
            let e = p.token().await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unauthenticated);
            assert!(e.message().contains(word), "{e}");
        }
        assert!(busy(503) && busy(410) && busy(429) && !busy(400) && !busy(404));
    }
}
