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
//! Accounts with S3 Block Public Access on refuse the ACL and the policy: the error is
//! `PermissionDenied` with S3's code.

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
    Ok(())
}

pub(crate) async fn enable_container(d: &S3Driver, container: &str) -> Result<()> {
    d.check_bucket(container)?;
    let get = Call::new("GetBucketPolicy", Method::GET, Some(container), None).query("policy", "");
    match d.client.send(get).await {
        Ok(resp) => {
            let existing = resp.bytes().await?;
            if String::from_utf8_lossy(&existing).contains(SID) {
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
    Ok(())
}

pub(crate) fn container_url(d: &S3Driver, container: &str) -> Result<String> {
    d.check_bucket(container)?;
    let (host, path) = d.client.target(Some(container), None);
    let path = if path.ends_with('/') { path } else { format!("{path}/") };
    Ok(format!("{}://{host}{path}", d.client.endpoint.scheme))
}
