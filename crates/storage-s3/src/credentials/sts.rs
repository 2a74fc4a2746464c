//! What the STS calls share: the regional endpoint, the SigV4 signer of `AssumeRole`
//! (service `sts`), and the XML answers of the Query API, read by element name.

use std::time::Duration;

use async_trait::async_trait;
use storage_core::{Error, ErrorKind, Result};
use storage_http::auth::support::{context, form_body};
use storage_http::http::{self, HeaderMap, Method, Uri};
use storage_http::{HttpRequest, RequestBody, Signer};

use super::Credentials;
use super::support::{endpoint_client, is_loopback_url, parse_expiry, unauthenticated};
use crate::signing::{KeyCache, SigningInput, sha256_hex, sign_headers};

/// The session name when none is configured: `storage-rs-<unix time>`.
pub(super) fn default_session_name() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    format!("storage-rs-{}", now.as_secs())
}

/// Calls STS `action` (Query API, version 2011-06-15) at `endpoint` with `params`, the
/// POST form signed by `signer`, and reads the credentials of the answer. Parameters go
/// in the body, never in a URL, log or error (a web identity token is one of them).
pub(super) async fn call(
    endpoint: &str,
    action: &'static str,
    params: &[(&str, &str)],
    signer: &dyn Signer,
) -> Result<Credentials> {
    let mut pairs = vec![("Action", action), ("Version", "2011-06-15")];
    pairs.extend_from_slice(params);
    let url = if endpoint.ends_with('/') { endpoint.to_owned() } else { format!("{endpoint}/") };
    let what = format!("STS {action}");
    let request = HttpRequest::parse(Method::POST, &url, action)?
        .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")?
        .body(RequestBody::Bytes(bytes::Bytes::from(form_body(&pairs))))
        .idempotent(true);
    let client = endpoint_client(Duration::from_secs(5), Duration::from_secs(10), 2, !is_loopback_url(&url))?;
    let response = client.execute(&request, signer).await.map_err(|e| context(e, &what))?;
    let status = response.status.as_u16();
    let body = response.bytes().await.map_err(|e| context(e, &what))?;
    let text = String::from_utf8_lossy(&body);
    if (200..300).contains(&status) {
        parse_sts_credentials(&text, action)
    } else {
        Err(sts_error(status, &text, action))
    }
}

/// The STS endpoint of `region` (`https://sts.{region}.amazonaws.com`, `.com.cn` for
/// China), or the global `https://sts.amazonaws.com` without a region.
pub(super) fn sts_endpoint(region: Option<&str>) -> String {
    match region.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) if r.starts_with("cn-") => format!("https://sts.{r}.amazonaws.com.cn"),
        Some(r) => format!("https://sts.{r}.amazonaws.com"),
        None => "https://sts.amazonaws.com".to_owned(),
    }
}

/// Signs STS Query API calls with SigV4 (service `sts`) and the caller's credentials;
/// the body is hashed into the signature.
pub(super) struct StsSigner {
    pub(super) credentials: Credentials,
    pub(super) region: String,
    pub(super) cache: KeyCache,
}

#[async_trait]
impl Signer for StsSigner {
    async fn sign(&self, method: &Method, uri: &mut Uri, headers: &mut HeaderMap, body: &RequestBody) -> Result<()> {
        let bad = || Error::new(ErrorKind::Config, "the STS request could not be signed (bad endpoint or credentials)");
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
        headers.insert(http::header::HOST, authority.parse().map_err(|_| bad())?);
        let hash = match body {
            RequestBody::Bytes(b) => sha256_hex(b),
            RequestBody::Empty => sha256_hex(b""),
            RequestBody::Stream(..) => return Err(bad()),
        };
        let input = SigningInput {
            access_key_id: &self.credentials.access_key_id,
            secret: &self.credentials.secret_access_key,
            session_token: self.credentials.session_token.as_deref(),
            region: &self.region,
            service: "sts",
            time: chrono::Utc::now(),
        };
        let (path, query) = (uri.path(), uri.query().unwrap_or_default());
        sign_headers(&input, &self.cache, method.as_str(), path, query, headers, &hash).map_err(|_| bad())
    }
}

/// The elements of an XML document, read with [`crate::xml::walk`]: the path of local
/// names from the root (included), and the element's own text (entities resolved). `None`
/// for a document that is not well-formed: the parser's message is dropped, as it may
/// quote the document (and so a secret key or a session token).
fn xml_leaves(xml: &str) -> Option<Vec<(Vec<String>, String)>> {
    let mut leaves: Vec<(Vec<String>, String)> = Vec::new();
    let root = crate::xml::walk(xml.as_bytes(), "STS", |path, text| {
        let segments = path.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect();
        leaves.push((segments, text.to_owned()));
        Ok(())
    })
    .ok()?;
    if let Some(root) = root {
        leaves.iter_mut().for_each(|(path, _)| path.insert(0, root.clone()));
    }
    Some(leaves)
}

/// The text of the first leaf whose path ends with `suffix`.
fn leaf<'a>(leaves: &'a [(Vec<String>, String)], suffix: &[&str]) -> Option<&'a str> {
    leaves
        .iter()
        .find(|(path, _)| path.len() >= suffix.len() && path[path.len() - suffix.len()..].iter().eq(suffix.iter()))
        .map(|(_, text)| text.trim())
        .filter(|t| !t.is_empty())
}

/// Credentials from the answer to STS `action` (`AssumeRoleWithWebIdentityResponse`,
/// `AssumeRoleResponse`: elements are matched by name, whatever the root).
pub(crate) fn parse_sts_credentials(xml: &str, action: &str) -> Result<Credentials> {
    let what = format!("STS {action}");
    let what = what.as_str();
    let leaves =
        xml_leaves(xml).ok_or_else(|| unauthenticated(format!("{what}: the answer is not well-formed XML")))?;
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

/// The error for a failed answer to STS `action`: `<ErrorResponse><Error><Code>`
/// /`<Message>`. `AccessDenied` and the like stay `Unauthenticated`: the credentials chain
/// could not produce credentials.
pub(crate) fn sts_error(status: u16, xml: &str, action: &str) -> Error {
    let leaves = xml_leaves(xml).unwrap_or_default();
    let code = leaf(&leaves, &["Error", "Code"]);
    let message = leaf(&leaves, &["Error", "Message"]);
    let request_id = leaf(&leaves, &["RequestId"]);
    let text = match (code, message) {
        (Some(c), Some(m)) => format!("STS {action} failed with HTTP {status} {c}: {m}"),
        (Some(c), None) => format!("STS {action} failed with HTTP {status} {c}"),
        _ => format!("STS {action} failed with HTTP {status}"),
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

    const W: &str = "AssumeRoleWithWebIdentity";

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
        let c = parse_sts_credentials(OK, W).unwrap();
        assert_eq!(c.access_key_id, "ASgeIAIOSFODNN7EXAMPLE");
        assert_eq!(c.secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY");
        assert_eq!(c.session_token.as_deref(), Some("AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE&x"));
        assert_eq!(c.expires_at.unwrap().to_rfc3339(), "2014-10-24T23:00:23+00:00");
        let e = parse_sts_credentials("<AssumeRoleWithWebIdentityResponse/>", W).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert!(parse_sts_credentials("<a><b></a>", W).is_err());
    }

    #[test]
    fn sts_xml_error() {
        let xml = r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>No OpenIDConnect provider found</Message></Error>
  <RequestId>rid-1</RequestId></ErrorResponse>"#;
        let e = sts_error(400, xml, "AssumeRole");
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert_eq!(e.provider_code(), Some("InvalidIdentityToken"));
        assert_eq!(e.request_id(), Some("rid-1"));
        assert!(e.message().contains("No OpenIDConnect provider found"), "{e}");
        assert!(e.message().starts_with("STS AssumeRole failed with HTTP 400"), "{e}");
        assert!(!e.is_retryable());
        let e = sts_error(503, "not xml <", W);
        assert_eq!(e.status(), Some(503));
        assert!(e.is_retryable());
    }

    #[test]
    fn malformed_answers_quote_no_secret() {
        // Found by `cargo xtask fuzz credential_output` (fuzz/corpus/credential_output/
        // regression-sts-mismatched-tag): the XML parser's message for a mismatched end tag
        // quotes what the tag holds, here the session token.
        let xml = "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIA</AccessKeyId>\
                   <SecretAccessKey>sts-secret-key-1</SecretAccessKey><SessionToken>t</Sessionsts-token-value-2\
                   </SessionToken></Credentials></AssumeRoleResult></AssumeRoleResponse>";
        let e = parse_sts_credentials(xml, "AssumeRole").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert!(e.message().contains("not well-formed XML"), "{e}");
        for secret in ["sts-secret-key-1", "sts-token-value-2"] {
            assert!(!e.to_string().contains(secret), "{e}");
        }
    }

    #[test]
    fn sts_endpoints() {
        assert_eq!(sts_endpoint(None), "https://sts.amazonaws.com");
        assert_eq!(sts_endpoint(Some("eu-west-3")), "https://sts.eu-west-3.amazonaws.com");
        assert_eq!(sts_endpoint(Some("cn-north-1")), "https://sts.cn-north-1.amazonaws.com.cn");
    }
}
