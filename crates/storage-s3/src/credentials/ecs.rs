//! Credentials from the container credentials endpoint (ECS tasks, EKS Pod Identity).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use storage_core::{Error, ErrorKind, Result};
use storage_http::HttpRequest;
use storage_http::http::Method;

use super::support::{
    endpoint_client, env_var, is_loopback_url, non_empty, parse_json_credentials, send, unauthenticated, url_host,
};
use super::{Credentials, CredentialsProvider};

/// The ECS agent's address, prefixed to `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`.
const ECS_HOST: &str = "http://169.254.170.2";

/// Hosts a plain-http `AWS_CONTAINER_CREDENTIALS_FULL_URI` may name besides loopback:
/// the ECS agent and the EKS Pod Identity agent (IPv4 and IPv6).
const CONTAINER_HOSTS: &[&str] = &["169.254.170.2", "169.254.170.23", "[fd00:ec2::23]"];

/// The `Authorization` header sent to the container endpoint.
#[derive(Clone)]
pub enum EcsAuth {
    /// This value (`AWS_CONTAINER_AUTHORIZATION_TOKEN`).
    Token(String),
    /// The content of this file, read on every call, as it rotates
    /// (`AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`).
    TokenFile(PathBuf),
}

impl fmt::Debug for EcsAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EcsAuth::Token(_) => f.write_str("Token(<redacted>)"),
            EcsAuth::TokenFile(path) => f.debug_tuple("TokenFile").field(path).finish(),
        }
    }
}

#[derive(Clone, Debug)]
struct Settings {
    uri: String,
    auth: Option<EcsAuth>,
}

/// Credentials from the container credentials endpoint: a GET of
/// `http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or of
/// `AWS_CONTAINER_CREDENTIALS_FULL_URI`, authorized by `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`
/// or `AWS_CONTAINER_AUTHORIZATION_TOKEN`, answering
/// `{AccessKeyId, SecretAccessKey, Token, Expiration}`.
#[derive(Clone, Debug)]
pub struct EcsProvider {
    settings: std::result::Result<Settings, (ErrorKind, String)>,
}

impl EcsProvider {
    /// Fetches credentials from `uri`, sending `auth` (if any) as the `Authorization`
    /// header. Plain `http://` is allowed.
    pub fn new(uri: impl Into<String>, auth: Option<EcsAuth>) -> Self {
        EcsProvider { settings: Ok(Settings { uri: uri.into(), auth }) }
    }

    /// The provider the process environment describes. Without either URI variable the
    /// provider answers `Unauthenticated`; a full URI over plain http to a host other
    /// than loopback or the container agents is refused (`Config`).
    pub fn from_env() -> Self {
        Self::from_vars(env_var)
    }

    /// Like [`EcsProvider::from_env`], with `get` standing for the environment.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| non_empty(get(name));
        let auth = get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
            .map(|p| EcsAuth::TokenFile(PathBuf::from(p)))
            .or_else(|| get("AWS_CONTAINER_AUTHORIZATION_TOKEN").map(EcsAuth::Token));
        let settings = if let Some(relative) = get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
            let sep = if relative.starts_with('/') { "" } else { "/" };
            Ok(Settings { uri: format!("{ECS_HOST}{sep}{relative}"), auth })
        } else if let Some(full) = get("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
            check_full_uri(&full).map(|()| Settings { uri: full, auth }).map_err(|e| (e.kind(), e.message().to_owned()))
        } else {
            Err((
                ErrorKind::Unauthenticated,
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and AWS_CONTAINER_CREDENTIALS_FULL_URI are not set".to_owned(),
            ))
        };
        EcsProvider { settings }
    }
}

/// Refuses to send a token over plain http to a host that is not local.
fn check_full_uri(uri: &str) -> Result<()> {
    let lower = uri.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Ok(());
    }
    if !lower.starts_with("http://") {
        return Err(Error::new(ErrorKind::Config, "AWS_CONTAINER_CREDENTIALS_FULL_URI is not an http(s) URL"));
    }
    let host = url_host(uri);
    if is_loopback_url(uri) || CONTAINER_HOSTS.contains(&host.as_str()) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Config,
            format!(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI names host {host} over plain http; only loopback and the container agents are allowed"
            ),
        ))
    }
}

#[async_trait]
impl CredentialsProvider for EcsProvider {
    async fn credentials(&self) -> Result<Credentials> {
        let settings = match &self.settings {
            Ok(s) => s,
            Err((kind, message)) => return Err(Error::new(*kind, message.clone())),
        };
        let what = "container credentials endpoint";
        let mut request = HttpRequest::parse(Method::GET, &settings.uri, "GetContainerCredentials")?
            .header("accept", "application/json")?;
        let token = match &settings.auth {
            None => None,
            Some(EcsAuth::Token(t)) => Some(t.trim().to_owned()),
            Some(EcsAuth::TokenFile(path)) => match tokio::fs::read_to_string(path).await {
                Ok(t) => Some(t.trim().to_owned()),
                Err(e) => {
                    return Err(unauthenticated(format!(
                        "cannot read the container authorization token file {}: {e}",
                        path.display()
                    ))
                    .with_source(e));
                }
            },
        };
        if let Some(token) = token.filter(|t| !t.is_empty()) {
            request.set_header("authorization", &token)?;
        }
        let client = endpoint_client(Duration::from_secs(2), Duration::from_secs(5), 2, false)?;
        let (status, body) = send(&client, &request, what).await?;
        if !(200..300).contains(&status) {
            return Err(unauthenticated(format!("the {what} answered HTTP {status}"))
                .with_status(status)
                .with_retryable(storage_http::is_retryable_status(status)));
        }
        let credentials = parse_json_credentials(&body, what)?;
        tracing::debug!("the container endpoint issued credentials");
        Ok(credentials)
    }

    fn name(&self) -> &'static str {
        "ecs"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ecs_env_settings() {
        let e = EcsProvider::from_vars(|_| None).credentials().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert!(e.message().contains("not set"), "{e}");

        let p = EcsProvider::from_vars(|k| match k {
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" => Some("/v2/credentials/abc".into()),
            "AWS_CONTAINER_CREDENTIALS_FULL_URI" => Some("http://127.0.0.1:1/ignored".into()),
            "AWS_CONTAINER_AUTHORIZATION_TOKEN" => Some("tok-secret".into()),
            _ => None,
        });
        let s = p.settings.as_ref().unwrap();
        assert_eq!(s.uri, "http://169.254.170.2/v2/credentials/abc");
        assert!(matches!(s.auth, Some(EcsAuth::Token(_))));
        assert!(!format!("{p:?}").contains("tok-secret"));

        let p = EcsProvider::from_vars(|k| match k {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI" => Some("http://169.254.170.23/v1/credentials".into()),
            "AWS_CONTAINER_AUTHORIZATION_TOKEN" => Some("t".into()),
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE" => Some("/var/run/token".into()),
            _ => None,
        });
        let s = p.settings.as_ref().unwrap();
        assert!(matches!(&s.auth, Some(EcsAuth::TokenFile(f)) if f == &PathBuf::from("/var/run/token")));
    }

    #[test]
    fn ecs_full_uri_hosts() {
        assert!(check_full_uri("http://127.0.0.1:8080/creds").is_ok());
        assert!(check_full_uri("http://localhost/creds").is_ok());
        assert!(check_full_uri("http://[fd00:ec2::23]/v1").is_ok());
        assert!(check_full_uri("https://creds.example.com/x").is_ok());
        assert_eq!(check_full_uri("http://evil.example.com/").unwrap_err().kind(), ErrorKind::Config);
        assert_eq!(check_full_uri("ftp://x/").unwrap_err().kind(), ErrorKind::Config);
    }
}
