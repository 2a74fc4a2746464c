//! Tokens for a federated identity: a token issued by another identity provider (the
//! Kubernetes service account token of AKS workload identity, a GitHub Actions OIDC
//! token...) exchanged as a client assertion.

use std::path::PathBuf;

use async_trait::async_trait;
use storage_core::{Error, ErrorKind, Result};

use super::support::{
    DEFAULT_AUTHORITY_HOST, JWT_BEARER_ASSERTION, check_authority_host, check_tenant, env_var, form_body, missing_vars,
    non_empty, request_token, token_url, unauthenticated,
};
use super::{AccessToken, STORAGE_SCOPE, TokenProvider};

/// What the token request needs (no secret: the assertion stays in its file).
#[derive(Clone, Debug)]
struct Settings {
    tenant_id: String,
    client_id: String,
    token_file: PathBuf,
    authority_host: String,
}

/// Tokens of a workload identity: the federated token in a file (read again on every
/// call, as it rotates) is sent as `client_assertion` in
/// `POST {authority}/{tenant}/oauth2/v2.0/token` (`grant_type=client_credentials`,
/// `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`). The
/// assertion goes only into the request body, never into `Debug` output, logs or errors.
#[derive(Clone, Debug)]
pub struct WorkloadIdentityProvider {
    settings: std::result::Result<Settings, (ErrorKind, String)>,
}

impl WorkloadIdentityProvider {
    /// The application `client_id` of `tenant_id`, its federated token read from
    /// `token_file`, asking `authority_host` (`None`: `https://login.microsoftonline.com`).
    /// The authority must be `https://` (plain http only to a loopback host) and the
    /// tenant a GUID or domain name; otherwise every call answers `Config`.
    pub fn new(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        token_file: impl Into<PathBuf>,
        authority_host: Option<String>,
    ) -> Self {
        let settings = Self::settings(
            &tenant_id.into(),
            client_id.into(),
            token_file.into(),
            authority_host.as_deref().unwrap_or(DEFAULT_AUTHORITY_HOST),
        );
        WorkloadIdentityProvider { settings }
    }

    /// The provider the process environment describes (as the AKS workload identity
    /// webhook sets it): `AZURE_FEDERATED_TOKEN_FILE`, `AZURE_CLIENT_ID`,
    /// `AZURE_TENANT_ID`, and `AZURE_AUTHORITY_HOST`. When one of the first three is
    /// missing, every call answers `Unauthenticated` naming it, without network.
    pub fn from_env() -> Self {
        Self::from_vars(env_var)
    }

    /// Like [`WorkloadIdentityProvider::from_env`], with `get` standing for the
    /// environment.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| non_empty(get(name));
        let (file, client, tenant) =
            (get("AZURE_FEDERATED_TOKEN_FILE"), get("AZURE_CLIENT_ID"), get("AZURE_TENANT_ID"));
        let settings = match (file, client, tenant) {
            (None, _, _) => Err((ErrorKind::Unauthenticated, "AZURE_FEDERATED_TOKEN_FILE is not set".to_owned())),
            (Some(file), Some(client), Some(tenant)) => {
                let authority = get("AZURE_AUTHORITY_HOST").unwrap_or_else(|| DEFAULT_AUTHORITY_HOST.to_owned());
                Self::settings(&tenant, client, PathBuf::from(file), &authority)
            }
            (Some(_), client, tenant) => {
                let missing = missing_vars(&[("AZURE_CLIENT_ID", &client), ("AZURE_TENANT_ID", &tenant)]);
                Err((
                    ErrorKind::Unauthenticated,
                    format!("AZURE_FEDERATED_TOKEN_FILE is set but {}", missing.unwrap_or_default()),
                ))
            }
        };
        WorkloadIdentityProvider { settings }
    }

    fn settings(
        tenant_id: &str,
        client_id: String,
        token_file: PathBuf,
        authority_host: &str,
    ) -> std::result::Result<Settings, (ErrorKind, String)> {
        let client_id = client_id.trim().to_owned();
        if client_id.is_empty() {
            return Err((ErrorKind::Config, "the Azure client id is empty".to_owned()));
        }
        Ok(Settings {
            tenant_id: check_tenant(tenant_id)?,
            client_id,
            token_file,
            authority_host: check_authority_host(authority_host)?,
        })
    }

    /// The token endpoint asked, when the provider is configured.
    pub fn token_url(&self) -> Option<String> {
        self.settings.as_ref().ok().map(|s| token_url(&s.authority_host, &s.tenant_id))
    }
}

#[async_trait]
impl TokenProvider for WorkloadIdentityProvider {
    async fn token(&self) -> Result<AccessToken> {
        let settings = self.settings.as_ref().map_err(|(kind, why)| Error::new(*kind, why.clone()))?;
        let assertion = match tokio::fs::read_to_string(&settings.token_file).await {
            Ok(text) => text.trim().to_owned(),
            Err(e) => {
                return Err(unauthenticated(format!(
                    "cannot read the federated token file {} (AZURE_FEDERATED_TOKEN_FILE): {e}",
                    settings.token_file.display()
                ))
                .with_source(e));
            }
        };
        if assertion.is_empty() {
            return Err(unauthenticated(format!(
                "the federated token file {} is empty",
                settings.token_file.display()
            )));
        }
        let form = form_body(&[
            ("grant_type", "client_credentials"),
            ("client_id", &settings.client_id),
            ("client_assertion_type", JWT_BEARER_ASSERTION),
            ("client_assertion", &assertion),
            ("scope", STORAGE_SCOPE),
        ]);
        let url = token_url(&settings.authority_host, &settings.tenant_id);
        let token = request_token(&url, form, "Entra ID workload identity token request").await?;
        tracing::debug!(tenant = %settings.tenant_id, client_id = %settings.client_id, "Entra ID issued a token for the federated credential");
        Ok(token)
    }

    fn name(&self) -> &'static str {
        "workload identity"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn env_settings() {
        let e = WorkloadIdentityProvider::from_vars(|_| None).token().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert_eq!(e.message(), "AZURE_FEDERATED_TOKEN_FILE is not set");
        let e = WorkloadIdentityProvider::from_vars(|k| (k == "AZURE_FEDERATED_TOKEN_FILE").then(|| "/t".into()))
            .token()
            .await
            .unwrap_err();
        assert_eq!(
            e.message(),
            "AZURE_FEDERATED_TOKEN_FILE is set but AZURE_CLIENT_ID and AZURE_TENANT_ID are not set"
        );

        let p = WorkloadIdentityProvider::from_vars(|k| match k {
            "AZURE_FEDERATED_TOKEN_FILE" => Some("/nonexistent/azure/token".into()),
            "AZURE_CLIENT_ID" => Some("app-1".into()),
            "AZURE_TENANT_ID" => Some("tenant-1".into()),
            _ => None,
        });
        assert_eq!(p.token_url().unwrap(), "https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token");
        let e = p.token().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert!(e.message().contains("/nonexistent/azure/token"), "{e}");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, " \n").unwrap();
        let e = WorkloadIdentityProvider::new("t", "c", &file, None).token().await.unwrap_err();
        assert!(e.message().contains("is empty"), "{e}");
        let e = WorkloadIdentityProvider::new("t", "c", &file, Some("ftp://x".into())).token().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
    }
}
