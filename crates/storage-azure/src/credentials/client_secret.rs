//! Tokens for a service principal with a client secret (OAuth2 client credentials grant).

use std::fmt;

use async_trait::async_trait;
use storage_core::{Error, ErrorKind, Result};

use super::support::{
    DEFAULT_AUTHORITY_HOST, check_authority_host, check_tenant, env_var, form_body, missing_vars, non_empty,
    request_token, token_url,
};
use super::{AccessToken, REDACTED, STORAGE_SCOPE, TokenProvider};

/// What the token request needs.
#[derive(Clone)]
struct Settings {
    tenant_id: String,
    client_id: String,
    client_secret: String,
    authority_host: String,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &REDACTED)
            .field("authority_host", &self.authority_host)
            .finish()
    }
}

/// Tokens of a service principal: `POST {authority}/{tenant}/oauth2/v2.0/token` with
/// `grant_type=client_credentials`, the client id and secret, and the storage scope. The
/// secret is sent only in the request body; it never appears in `Debug` output, logs or
/// errors.
#[derive(Clone, Debug)]
pub struct ClientSecretProvider {
    settings: std::result::Result<Settings, (ErrorKind, String)>,
}

impl ClientSecretProvider {
    /// The service principal `client_id` of `tenant_id` with `client_secret`, asking
    /// `authority_host` (`None`: `https://login.microsoftonline.com`). The authority must
    /// be `https://` (plain http only to a loopback host) and the tenant a GUID or domain
    /// name; otherwise every call answers `Config`.
    pub fn new(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        authority_host: Option<String>,
    ) -> Self {
        let settings = Self::settings(
            &tenant_id.into(),
            client_id.into(),
            client_secret.into(),
            authority_host.as_deref().unwrap_or(DEFAULT_AUTHORITY_HOST),
        );
        ClientSecretProvider { settings }
    }

    /// The provider the process environment describes: `AZURE_TENANT_ID`,
    /// `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`, and `AZURE_AUTHORITY_HOST` (other clouds).
    /// When one of the first three is missing, every call answers `Unauthenticated`
    /// naming it, without network.
    pub fn from_env() -> Self {
        Self::from_vars(env_var)
    }

    /// Like [`ClientSecretProvider::from_env`], with `get` standing for the environment.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| non_empty(get(name));
        let (tenant, client, secret) = (get("AZURE_TENANT_ID"), get("AZURE_CLIENT_ID"), get("AZURE_CLIENT_SECRET"));
        let missing = missing_vars(&[
            ("AZURE_TENANT_ID", &tenant),
            ("AZURE_CLIENT_ID", &client),
            ("AZURE_CLIENT_SECRET", &secret),
        ]);
        let settings = match (tenant, client, secret) {
            (Some(tenant), Some(client), Some(secret)) => {
                let authority = get("AZURE_AUTHORITY_HOST").unwrap_or_else(|| DEFAULT_AUTHORITY_HOST.to_owned());
                Self::settings(&tenant, client, secret, &authority)
            }
            _ => Err((ErrorKind::Unauthenticated, missing.unwrap_or_default())),
        };
        ClientSecretProvider { settings }
    }

    fn settings(
        tenant_id: &str,
        client_id: String,
        client_secret: String,
        authority_host: &str,
    ) -> std::result::Result<Settings, (ErrorKind, String)> {
        let client_id = client_id.trim().to_owned();
        if client_id.is_empty() {
            return Err((ErrorKind::Config, "the Azure client id is empty".to_owned()));
        }
        if client_secret.is_empty() {
            return Err((ErrorKind::Config, "the Azure client secret is empty".to_owned()));
        }
        Ok(Settings {
            tenant_id: check_tenant(tenant_id)?,
            client_id,
            client_secret,
            authority_host: check_authority_host(authority_host)?,
        })
    }

    /// The token endpoint asked, when the provider is configured.
    pub fn token_url(&self) -> Option<String> {
        self.settings.as_ref().ok().map(|s| token_url(&s.authority_host, &s.tenant_id))
    }
}

#[async_trait]
impl TokenProvider for ClientSecretProvider {
    async fn token(&self) -> Result<AccessToken> {
        let settings = self.settings.as_ref().map_err(|(kind, why)| Error::new(*kind, why.clone()))?;
        let form = form_body(&[
            ("grant_type", "client_credentials"),
            ("client_id", &settings.client_id),
            ("client_secret", &settings.client_secret),
            ("scope", STORAGE_SCOPE),
        ]);
        let url = token_url(&settings.authority_host, &settings.tenant_id);
        let token = request_token(&url, form, "Entra ID client secret token request").await?;
        tracing::debug!(tenant = %settings.tenant_id, client_id = %settings.client_id, "Entra ID issued a token for the client secret");
        Ok(token)
    }

    fn name(&self) -> &'static str {
        "client secret"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn env_settings() {
        let e = ClientSecretProvider::from_vars(|_| None).token().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert_eq!(e.message(), "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET are not set");
        let p = ClientSecretProvider::from_vars(|k| match k {
            "AZURE_TENANT_ID" => Some("tenant-1".into()),
            "AZURE_CLIENT_ID" => Some(" ".into()),
            _ => None,
        });
        let e = p.token().await.unwrap_err();
        assert_eq!(e.message(), "AZURE_CLIENT_ID and AZURE_CLIENT_SECRET are not set");

        let p = ClientSecretProvider::from_vars(|k| match k {
            "AZURE_TENANT_ID" => Some("tenant-1".into()),
            "AZURE_CLIENT_ID" => Some("app-1".into()),
            "AZURE_CLIENT_SECRET" => Some("hunter2-SECRET".into()),
            "AZURE_AUTHORITY_HOST" => Some("https://login.microsoftonline.us/".into()),
            _ => None,
        });
        assert_eq!(p.token_url().unwrap(), "https://login.microsoftonline.us/tenant-1/oauth2/v2.0/token");
        let shown = format!("{p:?}");
        assert!(shown.contains("app-1") && !shown.contains("hunter2"), "{shown}");

        let p = ClientSecretProvider::new("t", "c", "s", None);
        assert_eq!(p.token_url().unwrap(), "https://login.microsoftonline.com/t/oauth2/v2.0/token");
        let p = ClientSecretProvider::new("t", "c", "hunter2", Some("http://login.example.com".into()));
        let e = p.token().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(!e.to_string().contains("hunter2"));
        let e = ClientSecretProvider::new("t/../x", "c", "s", None).token().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        let e = ClientSecretProvider::new("t", "c", "", None).token().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
    }
}
