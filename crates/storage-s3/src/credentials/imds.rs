//! Credentials of the EC2 instance's IAM role, from the instance metadata service
//! (IMDSv2, session-token protected; IMDSv1 when the service does not hand out tokens).

use std::time::Duration;

use async_trait::async_trait;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use storage_core::Result;
use storage_http::http::Method;
use storage_http::{HttpClient, HttpRequest};

use super::support::{endpoint_client, env_var, non_empty, parse_json_credentials, send, unauthenticated};
use super::{Credentials, CredentialsProvider};

/// The IPv4 endpoint of the instance metadata service.
const IMDS_IPV4: &str = "http://169.254.169.254";
/// The IPv6 endpoint (`AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6`).
const IMDS_IPV6: &str = "http://[fd00:ec2::254]";
/// Lifetime asked for the session token, in seconds (6 hours, the maximum).
const TOKEN_TTL: &str = "21600";
const CREDENTIALS_PATH: &str = "/latest/meta-data/iam/security-credentials/";
/// Characters escaped in the role name path segment.
const SEGMENT: &AsciiSet = &CONTROLS.add(b' ').add(b'/').add(b'?').add(b'#').add(b'%').add(b'"').add(b'<').add(b'>');

/// Credentials of the instance profile role, fetched with IMDSv2: `PUT /latest/api/token`,
/// then the role name and the role's credentials with the token in
/// `X-aws-ec2-metadata-token`. Timeouts are short (1 s to connect, one retry) so a
/// machine without IMDS fails fast.
///
/// IMDSv1 fallback, botocore's rule: when the token `PUT` is answered 403, 404 or 405
/// (an IMDS without v2, or a proxy refusing `PUT`), the same GETs are sent without a
/// token. A 400 is an error, and so are timeouts and refused connections (unlike botocore,
/// a read timeout does not retry as v1, so a machine without IMDS does not wait twice).
/// `AWS_EC2_METADATA_V1_DISABLED=true` turns the fallback off.
#[derive(Clone, Debug)]
pub struct ImdsProvider {
    endpoint: String,
    disabled: bool,
    v1_disabled: bool,
}

impl ImdsProvider {
    /// Queries the metadata service at `endpoint` (`http://169.254.169.254` on EC2).
    pub fn new(endpoint: impl Into<String>) -> Self {
        let endpoint = endpoint.into();
        ImdsProvider { endpoint: endpoint.trim_end_matches('/').to_owned(), disabled: false, v1_disabled: false }
    }

    /// The provider the process environment describes: endpoint
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT`, or the IPv6 one when
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6`, else `http://169.254.169.254`;
    /// disabled (always `Unauthenticated`) when `AWS_EC2_METADATA_DISABLED=true`; without
    /// the IMDSv1 fallback when `AWS_EC2_METADATA_V1_DISABLED=true`.
    pub fn from_env() -> Self {
        Self::from_vars(env_var)
    }

    /// Like [`ImdsProvider::from_env`], with `get` standing for the environment.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| non_empty(get(name));
        let endpoint = get("AWS_EC2_METADATA_SERVICE_ENDPOINT").unwrap_or_else(|| {
            match get("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE") {
                Some(mode) if mode.eq_ignore_ascii_case("ipv6") => IMDS_IPV6.to_owned(),
                _ => IMDS_IPV4.to_owned(),
            }
        });
        let flag = |name: &str| get(name).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let (disabled, v1_disabled) = (flag("AWS_EC2_METADATA_DISABLED"), flag("AWS_EC2_METADATA_V1_DISABLED"));
        ImdsProvider { disabled, v1_disabled, ..Self::new(endpoint) }
    }

    /// Turns the IMDSv1 fallback off (on) so only IMDSv2 is used.
    pub fn with_v1_disabled(mut self, disabled: bool) -> Self {
        self.v1_disabled = disabled;
        self
    }

    /// The endpoint queried.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Whether the provider is turned off (`AWS_EC2_METADATA_DISABLED=true`).
    pub fn is_disabled(&self) -> bool {
        self.disabled
    }

    /// A session token from `PUT /latest/api/token`, or `None` when the answer says to
    /// use IMDSv1 (403, 404, 405) and the fallback is allowed.
    async fn session_token(&self, client: &HttpClient) -> Result<Option<String>> {
        let url = format!("{}/latest/api/token", self.endpoint);
        let request = HttpRequest::parse(Method::PUT, &url, "GetMetadataToken")?
            .header("x-aws-ec2-metadata-token-ttl-seconds", TOKEN_TTL)?;
        let (status, body) = send(client, &request, "IMDS token").await?;
        if (403..=405).contains(&status) {
            if self.v1_disabled {
                return Err(unauthenticated(format!(
                    "IMDS refused a session token (HTTP {status}) and the IMDSv1 fallback is turned off by \
                     AWS_EC2_METADATA_V1_DISABLED"
                ))
                .with_status(status));
            }
            tracing::debug!(status, "IMDS gives no session token; falling back to IMDSv1");
            return Ok(None);
        }
        if !(200..300).contains(&status) {
            return Err(unauthenticated(format!("IMDS token request answered HTTP {status}"))
                .with_status(status)
                .with_retryable(storage_http::is_retryable_status(status)));
        }
        let token = String::from_utf8_lossy(&body).trim().to_owned();
        if token.is_empty() {
            return Err(unauthenticated("IMDS answered an empty session token"));
        }
        Ok(Some(token))
    }

    /// A GET of `path` with the session token (none for IMDSv1); the body on success.
    async fn get(&self, client: &HttpClient, token: Option<&str>, path: &str, what: &str) -> Result<bytes::Bytes> {
        let url = format!("{}{path}", self.endpoint);
        let mut request = HttpRequest::parse(Method::GET, &url, "GetMetadata")?;
        if let Some(token) = token {
            request.set_header("x-aws-ec2-metadata-token", token)?;
        }
        let (status, body) = send(client, &request, what).await?;
        match status {
            200..=299 => Ok(body),
            404 => {
                Err(unauthenticated(format!("{what}: not found (HTTP 404); is an IAM role attached to the instance?"))
                    .with_status(status))
            }
            _ => Err(unauthenticated(format!("{what}: IMDS answered HTTP {status}"))
                .with_status(status)
                .with_retryable(storage_http::is_retryable_status(status))),
        }
    }
}

#[async_trait]
impl CredentialsProvider for ImdsProvider {
    async fn credentials(&self) -> Result<Credentials> {
        if self.disabled {
            return Err(unauthenticated("IMDS is disabled by AWS_EC2_METADATA_DISABLED"));
        }
        let client = endpoint_client(Duration::from_secs(1), Duration::from_secs(2), 1, false)?;
        let token = self.session_token(&client).await?;
        let token = token.as_deref();
        let roles = self.get(&client, token, CREDENTIALS_PATH, "IMDS role name").await?;
        let roles = String::from_utf8_lossy(&roles);
        let Some(role) = roles.lines().map(str::trim).find(|l| !l.is_empty()) else {
            return Err(unauthenticated("IMDS lists no IAM role for this instance"));
        };
        let path = format!("{CREDENTIALS_PATH}{}", utf8_percent_encode(role, SEGMENT));
        let body = self.get(&client, token, &path, "IMDS role credentials").await?;
        let credentials = parse_json_credentials(&body, "IMDS role credentials")?;
        tracing::debug!(role = %role, "IMDS issued instance role credentials");
        Ok(credentials)
    }

    fn name(&self) -> &'static str {
        "imds"
    }
}

#[cfg(test)]
mod tests {
    use storage_core::ErrorKind;

    use super::*;

    #[tokio::test]
    async fn imds_env_settings() {
        let p = ImdsProvider::from_vars(|_| None);
        assert_eq!(p.endpoint(), "http://169.254.169.254");
        assert!(!p.is_disabled());
        let p = ImdsProvider::from_vars(|k| (k == "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE").then(|| "IPv6".into()));
        assert_eq!(p.endpoint(), "http://[fd00:ec2::254]");
        let p = ImdsProvider::from_vars(|k| match k {
            "AWS_EC2_METADATA_SERVICE_ENDPOINT" => Some("http://127.0.0.1:9/".into()),
            "AWS_EC2_METADATA_DISABLED" => Some("TRUE".into()),
            _ => None,
        });
        assert_eq!(p.endpoint(), "http://127.0.0.1:9");
        assert!(p.is_disabled());
        let e = p.credentials().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert!(e.message().contains("disabled"), "{e}");
    }
}
