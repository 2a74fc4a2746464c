//! Credentials from an OIDC web identity token exchanged with STS
//! `AssumeRoleWithWebIdentity` (EKS IAM roles for service accounts, GitHub Actions...).

use std::path::PathBuf;

use async_trait::async_trait;
use storage_core::Result;
use storage_http::Unsigned;

use super::sts::{call, default_session_name};
use super::support::{env_var, non_empty, unauthenticated};
use super::{Credentials, CredentialsProvider};

/// What STS needs to know, or which variable is missing.
#[derive(Clone, Debug)]
struct Settings {
    role_arn: String,
    token_file: PathBuf,
    session_name: Option<String>,
    endpoint: String,
}

/// Credentials from `AssumeRoleWithWebIdentity`: the token read from a file (again on
/// every call, as it rotates) is exchanged with STS for temporary credentials. The call
/// is unsigned; the token is sent in the POST body, never in a URL, log or error.
#[derive(Clone, Debug)]
pub struct WebIdentityProvider {
    settings: std::result::Result<Settings, String>,
}

impl WebIdentityProvider {
    /// Assumes `role_arn` with the token in `token_file`, as session `session_name`
    /// (default `storage-rs-<unix time>`), calling the STS endpoint `sts_endpoint` (see
    /// [`WebIdentityProvider::sts_endpoint`]; tests pass a local server).
    pub fn new(
        role_arn: impl Into<String>,
        token_file: impl Into<PathBuf>,
        session_name: Option<String>,
        sts_endpoint: impl Into<String>,
    ) -> Self {
        WebIdentityProvider {
            settings: Ok(Settings {
                role_arn: role_arn.into(),
                token_file: token_file.into(),
                session_name,
                endpoint: sts_endpoint.into(),
            }),
        }
    }

    /// The provider the process environment describes: `AWS_WEB_IDENTITY_TOKEN_FILE`,
    /// `AWS_ROLE_ARN`, `AWS_ROLE_SESSION_NAME`, the STS endpoint `AWS_ENDPOINT_URL_STS`
    /// or the one of region `AWS_REGION` / `AWS_DEFAULT_REGION`. When a required variable
    /// is missing the provider answers `Unauthenticated` saying so.
    pub fn from_env() -> Self {
        Self::from_vars(env_var)
    }

    /// Like [`WebIdentityProvider::from_env`], with `get` standing for the environment.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| non_empty(get(name));
        let settings = match (get("AWS_WEB_IDENTITY_TOKEN_FILE"), get("AWS_ROLE_ARN")) {
            (None, _) => Err("AWS_WEB_IDENTITY_TOKEN_FILE is not set".to_owned()),
            (Some(_), None) => Err("AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not".to_owned()),
            (Some(token_file), Some(role_arn)) => {
                let region = get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION"));
                Ok(Settings {
                    role_arn,
                    token_file: PathBuf::from(token_file),
                    session_name: get("AWS_ROLE_SESSION_NAME"),
                    endpoint: get("AWS_ENDPOINT_URL_STS").unwrap_or_else(|| Self::sts_endpoint(region.as_deref())),
                })
            }
        };
        WebIdentityProvider { settings }
    }

    /// The STS endpoint of `region` (`https://sts.{region}.amazonaws.com`, `.com.cn` for
    /// China), or the global `https://sts.amazonaws.com` without a region.
    pub fn sts_endpoint(region: Option<&str>) -> String {
        super::sts::sts_endpoint(region)
    }
}

#[async_trait]
impl CredentialsProvider for WebIdentityProvider {
    async fn credentials(&self) -> Result<Credentials> {
        let settings = self.settings.as_ref().map_err(|why| unauthenticated(why.clone()))?;
        let token = match tokio::fs::read_to_string(&settings.token_file).await {
            Ok(token) => token.trim().to_owned(),
            Err(e) => {
                return Err(unauthenticated(format!(
                    "cannot read the web identity token file {}: {e}",
                    settings.token_file.display()
                ))
                .with_source(e));
            }
        };
        if token.is_empty() {
            return Err(unauthenticated(format!(
                "the web identity token file {} is empty",
                settings.token_file.display()
            )));
        }
        let session_name = settings.session_name.clone().unwrap_or_else(default_session_name);
        let params = [
            ("RoleArn", settings.role_arn.as_str()),
            ("RoleSessionName", session_name.as_str()),
            ("WebIdentityToken", token.as_str()),
        ];
        // The call is not signed: the token is the proof.
        let credentials = call(&settings.endpoint, "AssumeRoleWithWebIdentity", &params, &Unsigned).await?;
        tracing::debug!(role_arn = %settings.role_arn, "STS issued web identity credentials");
        Ok(credentials)
    }

    fn name(&self) -> &'static str {
        "web identity"
    }
}

#[cfg(test)]
mod tests {
    use storage_core::ErrorKind;

    use super::*;

    #[tokio::test]
    async fn web_identity_env_settings() {
        let p = WebIdentityProvider::from_vars(|_| None);
        let e = p.credentials().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert!(e.message().contains("AWS_WEB_IDENTITY_TOKEN_FILE is not set"), "{e}");
        let p = WebIdentityProvider::from_vars(|k| match k {
            "AWS_WEB_IDENTITY_TOKEN_FILE" => Some("/nonexistent/token".into()),
            "AWS_ROLE_ARN" => Some("arn:aws:iam::1:role/r".into()),
            "AWS_REGION" => Some("us-west-2".into()),
            _ => None,
        });
        let s = p.settings.as_ref().unwrap();
        assert_eq!(s.endpoint, "https://sts.us-west-2.amazonaws.com");
        let e = p.credentials().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert!(e.message().contains("/nonexistent/token"), "{e}");
    }
}
