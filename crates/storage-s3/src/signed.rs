//! Presigned URLs (SigV4 query form), which also serve as the object CDN URL. A presigned
//! PUT given a content type signs the `content-type` header, so only that type is accepted.

use storage_core::{Error, ErrorKind, Result, SignedMethod, SignedUrlOptions};

use crate::driver::{NAME, S3Driver};
use crate::signing::{SigningInput, presign_query_with_headers};

/// Longest presigned URL lifetime S3 accepts.
const MAX_PRESIGN_SECS: u64 = 7 * 24 * 3600;

/// A presigned URL for one object (a plain URL for an anonymous driver).
pub(crate) async fn url(d: &S3Driver, container: &str, key: &str, options: &SignedUrlOptions) -> Result<String> {
    d.check_key(container, key)?;
    let secs = options.expires_in.as_secs();
    if secs == 0 || secs > MAX_PRESIGN_SECS {
        return Err(Error::new(ErrorKind::Config, format!("a presigned URL lives 1 s to 7 days; {secs} s was asked"))
            .with_driver(NAME));
    }
    let client = &d.client;
    if client.core.bearer.is_some() && client.core.provider.is_none() {
        return Err(Error::new(
            ErrorKind::NotSupported,
            "presigned URLs cannot be made with IBM IAM (API key) authentication",
        )
        .with_driver(NAME)
        .with_hint("give the COS instance's HMAC keys too (access_key_id + secret_access_key): requests stay on IAM and URLs are signed with HMAC"));
    }
    let Some(provider) = &client.core.provider else {
        let (host, path) = client.target(Some(container), Some(key));
        return Ok(format!("{}://{host}{path}", client.endpoint.scheme));
    };
    let creds = provider.credentials().await?;
    let signer = client.signer(Some(container));
    let (host, path) = client.target(Some(container), Some(key));
    let input = SigningInput {
        access_key_id: &creds.access_key_id,
        secret: &creds.secret_access_key,
        session_token: creds.session_token.as_deref(),
        region: &signer.region,
        service: "s3",
        time: chrono::Utc::now(),
    };
    let method = match options.method {
        SignedMethod::Get => "GET",
        SignedMethod::Put => "PUT",
        SignedMethod::Delete => "DELETE",
    };
    // A PUT bound to a content type signs the header: an upload sending another type (or
    // none) does not match the signature and is refused by the server.
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let (SignedMethod::Put, Some(content_type)) = (options.method, options.content_type.as_deref()) {
        let content_type = content_type.trim();
        if content_type.is_empty() || content_type.bytes().any(|b| b.is_ascii_control()) {
            return Err(Error::new(
                ErrorKind::Config,
                "the content type of a presigned PUT must be non-empty header text",
            )
            .with_driver(NAME));
        }
        headers.push(("content-type", content_type));
    }
    let query = presign_query_with_headers(&input, &client.core.cache, method, &host, &path, &[], &headers, secs);
    Ok(format!("{}://{host}{path}?{query}", client.endpoint.scheme))
}

/// The object CDN URL: a presigned GET with the default lifetime.
pub(crate) async fn object_cdn_url(d: &S3Driver, container: &str, key: &str) -> Result<String> {
    url(d, container, key, &SignedUrlOptions::default()).await
}
