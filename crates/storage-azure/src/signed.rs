//! Signed URLs as SAS: a service SAS signed with the account key, or a user delegation
//! SAS when the credential is an Entra ID token; they also serve as the object CDN URL.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http::Method;
use storage_core::{Error, ErrorKind, Result, SignedMethod, SignedUrlOptions};
use storage_http::{RequestBody, http};

use crate::client::Call;
use crate::credentials::AzureCredential;
use crate::driver::{AzureDriver, NAME};
use crate::signing::{DelegationKey, SasParams, sas_time, service_sas, user_delegation_sas};
use crate::xml::UserDelegationKey;

/// Longest lifetime of a signed URL (a user delegation key lives 7 days at most).
const MAX_SAS: Duration = Duration::from_secs(7 * 24 * 3600);

/// The SAS query string granting `permissions` on one blob for `ttl`.
pub(crate) async fn sas_query(
    d: &AzureDriver,
    container: &str,
    key: &str,
    permissions: &str,
    ttl: Duration,
) -> Result<String> {
    if ttl.is_zero() || ttl > MAX_SAS {
        return Err(Error::new(
            ErrorKind::Config,
            format!("a signed URL lives 1 s to 7 days; {} s was asked", ttl.as_secs()),
        )
        .with_driver(NAME));
    }
    let now = chrono::Utc::now();
    let expiry = now + chrono::TimeDelta::from_std(ttl).unwrap_or(chrono::TimeDelta::days(7));
    let params = SasParams {
        permissions,
        // A little in the past, for clocks that run behind the service's.
        start: Some(sas_time(now - chrono::TimeDelta::minutes(5))),
        expiry: sas_time(expiry),
        canonical_resource: format!("/blob/{}/{container}/{key}", d.client.account()),
        resource: "b",
        protocol: if d.client.endpoint.scheme == "https" { "https" } else { "https,http" },
    };
    match &d.client.signer.credential {
        AzureCredential::SharedKey(k) => Ok(service_sas(k.bytes(), &params)),
        AzureCredential::Token(_) => {
            let dk = delegation_key(d, now, expiry).await?;
            Ok(user_delegation_sas(&dk, &params))
        }
        AzureCredential::Sas(_) => Err(Error::new(
            ErrorKind::NotSupported,
            "signed URLs need the account key or an Entra ID token; a SAS token cannot sign another",
        )
        .with_driver(NAME)),
        AzureCredential::Anonymous => {
            Err(Error::new(ErrorKind::NotSupported, "an anonymous driver cannot sign URLs").with_driver(NAME))
        }
    }
}

/// Get User Delegation Key for `start..expiry`.
async fn delegation_key(
    d: &AzureDriver,
    start: chrono::DateTime<chrono::Utc>,
    expiry: chrono::DateTime<chrono::Utc>,
) -> Result<DelegationKey> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><KeyInfo><Start>{}</Start><Expiry>{}</Expiry></KeyInfo>",
        sas_time(start - chrono::TimeDelta::minutes(5)),
        sas_time(expiry)
    );
    let call = Call::new("GetUserDelegationKey", Method::POST, None, None)
        .query("restype", "service")
        .query("comp", "userdelegationkey")
        .header("content-type", "application/xml")?
        .body(RequestBody::Bytes(Bytes::from(body)))
        .idempotent(true);
    let answer = d.client.send(call).await?.bytes().await?;
    let k = UserDelegationKey::parse(&answer)?;
    let value = B64
        .decode(k.value.trim())
        .map_err(|_| Error::new(ErrorKind::Backend, "the user delegation key is not base64").with_driver(NAME))?;
    Ok(DelegationKey {
        oid: k.oid,
        tid: k.tid,
        start: k.start,
        expiry: k.expiry,
        service: k.service,
        version: k.version,
        value,
    })
}

/// A signed URL for one blob.
pub(crate) async fn url(d: &AzureDriver, container: &str, key: &str, options: &SignedUrlOptions) -> Result<String> {
    d.check_key(container, key)?;
    let base = d.client.endpoint.url(Some(container), Some(key));
    if matches!(d.client.signer.credential, AzureCredential::Anonymous) {
        return Ok(base);
    }
    let permissions = match options.method {
        SignedMethod::Get => "r",
        SignedMethod::Put => "cw",
        SignedMethod::Delete => "d",
    };
    let q = sas_query(d, container, key, permissions, options.expires_in).await?;
    Ok(format!("{base}?{q}"))
}

/// The object CDN URL: the blob's plain URL when its container is public (anonymous
/// reads work, and the URL never expires), else a read SAS URL with the default lifetime.
pub(crate) async fn object_cdn_url(d: &AzureDriver, container: &str, key: &str) -> Result<String> {
    d.check_key(container, key)?;
    if matches!(d.client.signer.credential, AzureCredential::Anonymous)
        || crate::containers::is_public(d, container).await?
    {
        return Ok(d.client.endpoint.url(Some(container), Some(key)));
    }
    url(d, container, key, &SignedUrlOptions::default()).await
}

/// The container's URL, the base of its blobs' public URLs (`{url}/{key}`), once the
/// container exists. Anonymous reads of its blobs work once [`crate::AzureDriver`]'s
/// `enable_container_cdn` made it public; listings stay private.
pub(crate) async fn container_cdn_url(d: &AzureDriver, container: &str) -> Result<String> {
    if matches!(d.client.signer.credential, AzureCredential::Anonymous) {
        // Anonymous callers may not read a container's properties; the URL is the same.
        d.check_container(container)?;
    } else {
        crate::containers::get(d, container).await?;
    }
    Ok(d.client.endpoint.url(Some(container), None))
}
