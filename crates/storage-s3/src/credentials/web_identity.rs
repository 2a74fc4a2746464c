//! Credentials from an OIDC web identity token exchanged with STS
//! `AssumeRoleWithWebIdentity` (EKS IAM roles for service accounts, GitHub Actions...).

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use storage_core::{Error, ErrorKind, Result};
use storage_http::HttpRequest;
use storage_http::http::Method;

use super::support::{endpoint_client, env_var, is_loopback_url, non_empty, parse_expiry, send, unauthenticated};
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

/// Characters escaped in form values: everything but the RFC 3986 unreserved set.
const FORM: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

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
        match region.map(str::trim).filter(|r| !r.is_empty()) {
            Some(r) if r.starts_with("cn-") => format!("https://sts.{r}.amazonaws.com.cn"),
            Some(r) => format!("https://sts.{r}.amazonaws.com"),
            None => "https://sts.amazonaws.com".to_owned(),
        }
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
        let session_name = settings.session_name.clone().unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            format!("storage-rs-{}", now.as_secs())
        });
        let form = [
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", settings.role_arn.as_str()),
            ("RoleSessionName", session_name.as_str()),
            ("WebIdentityToken", token.as_str()),
        ]
        .iter()
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, FORM)))
        .collect::<Vec<_>>()
        .join("&");
        let url = if settings.endpoint.ends_with('/') {
            settings.endpoint.clone()
        } else {
            format!("{}/", settings.endpoint)
        };
        let what = "STS AssumeRoleWithWebIdentity";
        let request = HttpRequest::parse(Method::POST, &url, "AssumeRoleWithWebIdentity")?
            .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")?
            .body(storage_http::RequestBody::Bytes(bytes::Bytes::from(form)))
            .idempotent(true);
        let client = endpoint_client(Duration::from_secs(5), Duration::from_secs(10), 2, !is_loopback_url(&url))?;
        let (status, body) = send(&client, &request, what).await?;
        let text = String::from_utf8_lossy(&body);
        let credentials = if (200..300).contains(&status) {
            parse_sts_credentials(&text)?
        } else {
            return Err(sts_error(status, &text));
        };
        tracing::debug!(role_arn = %settings.role_arn, "STS issued web identity credentials");
        Ok(credentials)
    }

    fn name(&self) -> &'static str {
        "web identity"
    }
}

/// The elements of an XML document, read with [`crate::xml::walk`]: the path of local
/// names from the root (included), and the element's own text (entities resolved).
fn xml_leaves(xml: &str) -> std::result::Result<Vec<(Vec<String>, String)>, String> {
    let mut leaves: Vec<(Vec<String>, String)> = Vec::new();
    let root = crate::xml::walk(xml.as_bytes(), "STS", |path, text| {
        let segments = path.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect();
        leaves.push((segments, text.to_owned()));
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    if let Some(root) = root {
        leaves.iter_mut().for_each(|(path, _)| path.insert(0, root.clone()));
    }
    Ok(leaves)
}

/// The text of the first leaf whose path ends with `suffix`.
fn leaf<'a>(leaves: &'a [(Vec<String>, String)], suffix: &[&str]) -> Option<&'a str> {
    leaves
        .iter()
        .find(|(path, _)| path.len() >= suffix.len() && path[path.len() - suffix.len()..].iter().eq(suffix.iter()))
        .map(|(_, text)| text.trim())
        .filter(|t| !t.is_empty())
}

/// Credentials from an `AssumeRoleWithWebIdentityResponse` (or `AssumeRoleResponse`).
fn parse_sts_credentials(xml: &str) -> Result<Credentials> {
    let what = "STS AssumeRoleWithWebIdentity";
    let leaves = xml_leaves(xml).map_err(|e| unauthenticated(format!("{what}: {e}")))?;
    let field = |name: &str| leaf(&leaves, &["Credentials", name]).map(str::to_owned);
    let (Some(access_key_id), Some(secret_access_key)) = (field("AccessKeyId"), field("SecretAccessKey")) else {
        return Err(unauthenticated(format!("{what}: the answer has no Credentials/AccessKeyId or SecretAccessKey")));
    };
    let mut credentials = Credentials::new(access_key_id, secret_access_key, field("SessionToken"));
    if let Some(expiration) = field("Expiration") {
        credentials.expires_at = Some(parse_expiry(&expiration, what)?);
    }
    Ok(credentials)
}

/// The error for a failed STS answer: `<ErrorResponse><Error><Code>` /`<Message>`.
fn sts_error(status: u16, xml: &str) -> Error {
    let leaves = xml_leaves(xml).unwrap_or_default();
    let code = leaf(&leaves, &["Error", "Code"]);
    let message = leaf(&leaves, &["Error", "Message"]);
    let request_id = leaf(&leaves, &["RequestId"]);
    let text = match (code, message) {
        (Some(c), Some(m)) => format!("STS AssumeRoleWithWebIdentity failed with HTTP {status} {c}: {m}"),
        (Some(c), None) => format!("STS AssumeRoleWithWebIdentity failed with HTTP {status} {c}"),
        _ => format!("STS AssumeRoleWithWebIdentity failed with HTTP {status}"),
    };
    let retryable = storage_http::is_retryable_status(status)
        || matches!(code, Some("IDPCommunicationError" | "Throttling" | "ServiceUnavailable"));
    let mut e = Error::new(ErrorKind::Unauthenticated, text).with_status(status).with_retryable(retryable);
    if let Some(code) = code {
        e = e.with_provider_code(code);
    }
    if let Some(id) = request_id {
        e = e.with_request_id(id);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>amzn1.account.AF6RHO7KZU5XRVQJGXK6HB56KR2A</SubjectFromWebIdentityToken>
    <Audience>client.5498841531868486423.1548@apps.example.com</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/FederatedWebIdentityRole/app1</Arn>
      <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:app1</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE&amp;x</SessionToken>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
      <Expiration>2014-10-24T23:00:23Z</Expiration>
      <AccessKeyId>ASgeIAIOSFODNN7EXAMPLE</AccessKeyId>
    </Credentials>
    <SourceIdentity>SourceIdentityValue</SourceIdentity>
    <Provider>www.amazon.com</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>"#;

    #[test]
    fn sts_xml_credentials() {
        let c = parse_sts_credentials(OK).unwrap();
        assert_eq!(c.access_key_id, "ASgeIAIOSFODNN7EXAMPLE");
        assert_eq!(c.secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY");
        assert_eq!(c.session_token.as_deref(), Some("AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE&x"));
        assert_eq!(c.expires_at.unwrap().to_rfc3339(), "2014-10-24T23:00:23+00:00");
        let e = parse_sts_credentials("<AssumeRoleWithWebIdentityResponse/>").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert!(parse_sts_credentials("<a><b></a>").is_err());
    }

    #[test]
    fn sts_xml_error() {
        let xml = r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>No OpenIDConnect provider found</Message></Error>
  <RequestId>rid-1</RequestId></ErrorResponse>"#;
        let e = sts_error(400, xml);
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert_eq!(e.provider_code(), Some("InvalidIdentityToken"));
        assert_eq!(e.request_id(), Some("rid-1"));
        assert!(e.message().contains("No OpenIDConnect provider found"), "{e}");
        assert!(!e.is_retryable());
        let e = sts_error(503, "not xml <");
        assert_eq!(e.status(), Some(503));
        assert!(e.is_retryable());
    }

    #[test]
    fn sts_endpoints() {
        assert_eq!(WebIdentityProvider::sts_endpoint(None), "https://sts.amazonaws.com");
        assert_eq!(WebIdentityProvider::sts_endpoint(Some("eu-west-3")), "https://sts.eu-west-3.amazonaws.com");
        assert_eq!(WebIdentityProvider::sts_endpoint(Some("cn-north-1")), "https://sts.cn-north-1.amazonaws.com.cn");
    }

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
