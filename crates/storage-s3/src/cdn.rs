//! Libcloud's CDN calls on S3, where "CDN" means public read access (S3 has no CDN call;
//! CloudFront is another service):
//!
//! - `enable_object_cdn`: the object's ACL becomes `public-read` (PutObjectAcl).
//! - `enable_container_cdn`: a bucket policy lets anyone `s3:GetObject` in the bucket.
//!   An existing policy is never replaced: the call is refused, naming it, unless the
//!   policy is the one this call writes (then it succeeds, idempotently).
//! - `get_container_cdn_url`: the bucket's plain URL (objects made public are served under
//!   it, unsigned).
//! - `get_object_cdn_url`: a presigned GET (valid for an hour), which works whether the
//!   object is public or not; for public objects the plain URL is
//!   `get_container_cdn_url` + the key.
//!
//! Each enabling call reads back what it set: a server that answers 200 but keeps no ACL
//! or policy (or answers `?policy` with something that is not one) gets `NotSupported`,
//! never a silent success. Accounts with S3 Block Public Access on refuse the ACL and the
//! policy: the error is `PermissionDenied` with S3's code.

use storage_core::{Error, ErrorKind, Result};
use storage_http::RequestBody;
use storage_http::http::Method;

use crate::client::Call;
use crate::driver::{NAME, S3Driver};

/// The statement id of the policy `enable_container_cdn` writes.
const SID: &str = "storage-rs-public-read";

pub(crate) async fn enable_object(d: &S3Driver, container: &str, key: &str) -> Result<()> {
    d.check_key(container, key)?;
    let call = Call::new("PutObjectAcl", Method::PUT, Some(container), Some(key))
        .query("acl", "")
        .header("x-amz-acl", "public-read")?;
    d.client.send(call).await?;
    // Some servers answer 200 and keep no ACL (rclone serves the object itself to
    // `GET ?acl`): read it back rather than report a public object that is not.
    let get = Call::new("GetObjectAcl", Method::GET, Some(container), Some(key)).query("acl", "");
    let acl = d.client.send(get).await?.bytes().await?;
    let text = String::from_utf8_lossy(&acl);
    if text.contains("AccessControlPolicy") && text.contains("/groups/global/AllUsers") {
        return Ok(());
    }
    Err(not_kept("an object ACL", container))
}

/// The server accepted a call but does not keep what it set.
fn not_kept(what: &str, container: &str) -> Error {
    Error::new(ErrorKind::NotSupported, format!("this S3 server does not keep {what}; nothing was made public"))
        .with_driver(NAME)
        .with_container(container)
        .with_hint("serve the objects through signed URLs (get_object_cdn_url) instead")
}

pub(crate) async fn enable_container(d: &S3Driver, container: &str) -> Result<()> {
    d.check_bucket(container)?;
    match bucket_policy(d, container).await {
        Ok(text) => {
            // A policy is a JSON document; a server without policies may answer `?policy`
            // with something else (rclone lists the bucket).
            if !text.trim_start().starts_with('{') {
                return Err(not_kept("bucket policies", container));
            }
            if text.contains(SID) {
                return Ok(());
            }
            return Err(Error::new(
                ErrorKind::Config,
                format!("bucket {container} already has a bucket policy; it was not replaced"),
            )
            .with_driver(NAME)
            .with_container(container)
            .with_hint(format!("add a statement allowing s3:GetObject on arn:aws:s3:::{container}/* to it yourself")));
        }
        Err(e) if e.provider_code() == Some("NoSuchBucketPolicy") => {}
        Err(e) => return Err(e),
    }
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{SID}","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{container}/*"}}]}}"#
    );
    let put = Call::new("PutBucketPolicy", Method::PUT, Some(container), None)
        .query("policy", "")
        .header("content-type", "application/json")?
        .body(RequestBody::Bytes(policy.into()));
    d.client.send(put).await?;
    if bucket_policy(d, container).await?.contains(SID) { Ok(()) } else { Err(not_kept("bucket policies", container)) }
}

/// The bucket's policy document as the server answers GetBucketPolicy.
async fn bucket_policy(d: &S3Driver, container: &str) -> Result<String> {
    let get = Call::new("GetBucketPolicy", Method::GET, Some(container), None).query("policy", "");
    let body = d.client.send(get).await?.bytes().await?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

pub(crate) fn container_url(d: &S3Driver, container: &str) -> Result<String> {
    d.check_bucket(container)?;
    let (host, path) = d.client.target(Some(container), None);
    let path = if path.ends_with('/') { path } else { format!("{path}/") };
    Ok(format!("{}://{host}{path}", d.client.endpoint.scheme))
}
