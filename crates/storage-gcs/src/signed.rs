//! V4 signed URLs (`GOOG4-RSA-SHA256`), made with the service account key of the
//! credentials. (The object CDN URL is the public one: [`crate::cdn`].)

use storage_core::{Error, ErrorKind, Result, SignedMethod, SignedUrlOptions};

use crate::driver::{GcsDriver, NAME};
use crate::signing::{V4Request, signed_url};

/// A signed URL for one object.
pub(crate) async fn url(d: &GcsDriver, bucket: &str, key: &str, options: &SignedUrlOptions) -> Result<String> {
    d.check_key(bucket, key)?;
    let Some(signer) = &d.client.credentials.signer else {
        if d.client.credentials.tokens.is_none() {
            // Anonymous access: the object's plain URL.
            return Ok(format!("{}/{}/{}", d.client.endpoint, bucket, crate::client::enc_path(key)));
        }
        return Err(Error::new(ErrorKind::NotSupported, "signed URLs need a service account key")
            .with_driver(NAME)
            .with_object(bucket, key)
            .with_hint("use a service account JSON (GOOGLE_APPLICATION_CREDENTIALS or credentials_file); user and metadata-server credentials cannot sign"));
    };
    let method = match options.method {
        SignedMethod::Get => "GET",
        SignedMethod::Put => "PUT",
        SignedMethod::Delete => "DELETE",
    };
    let content_type = options.content_type.as_deref();
    let headers: Vec<(&str, &str)> = content_type.map(|ct| ("content-type", ct)).into_iter().collect();
    let req = V4Request {
        method,
        endpoint: &d.client.endpoint,
        bucket,
        object: key,
        expires_in: options.expires_in,
        time: chrono::Utc::now(),
        headers: &headers,
        query: &[],
    };
    signed_url(signer, &req).map_err(|e| e.or_context(NAME, Some(bucket), Some(key)))
}
