//! Requests the driver does not wrap (Lithops' `storage.get_client()`, which hands out a
//! boto3 client): any S3 API call, addressed, signed, retried and redirected to the
//! bucket's region exactly as the driver's own, with S3 errors turned into typed ones.
//!
//! ```no_run
//! # async fn demo(driver: storage_s3::S3Driver) -> storage_core::Result<()> {
//! use storage_s3::S3Request;
//!
//! // PutBucketVersioning: not an operation of the portable API.
//! let body = r#"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"#;
//! let answer = driver
//!     .send_raw(S3Request::put().bucket("b").query("versioning", "").body(body))
//!     .await?;
//! assert_eq!(answer.status, 200);
//! # Ok(()) }
//! ```

use bytes::Bytes;
use storage_core::{Error, ErrorKind, Result};
use storage_http::RequestBody;
use storage_http::http::{HeaderName, HeaderValue, Method};

use crate::client::Call;
use crate::driver::S3Driver;

/// One S3 request: method, bucket, key, query parameters, headers and a body in memory.
/// The driver adds the host, `x-amz-date`, the payload hash and the signature.
#[derive(Debug, Clone)]
pub struct S3Request {
    method: Method,
    bucket: Option<String>,
    key: Option<String>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Bytes,
    idempotent: Option<bool>,
}

impl S3Request {
    /// A request with `method` and nothing else.
    pub fn new(method: Method) -> Self {
        S3Request {
            method,
            bucket: None,
            key: None,
            query: Vec::new(),
            headers: Vec::new(),
            body: Bytes::new(),
            idempotent: None,
        }
    }
    /// A GET.
    pub fn get() -> Self {
        Self::new(Method::GET)
    }
    /// A PUT.
    pub fn put() -> Self {
        Self::new(Method::PUT)
    }
    /// A POST (not retried unless [`S3Request::idempotent`] says so).
    pub fn post() -> Self {
        Self::new(Method::POST)
    }
    /// A DELETE.
    pub fn delete() -> Self {
        Self::new(Method::DELETE)
    }
    /// A HEAD.
    pub fn head() -> Self {
        Self::new(Method::HEAD)
    }
    /// The bucket (path-style or virtual-hosted as the driver's addressing says).
    pub fn bucket(mut self, bucket: impl Into<String>) -> Self {
        self.bucket = Some(bucket.into());
        self
    }
    /// The object key (percent-encoded by the driver).
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }
    /// A query parameter (`("versioning", "")` for `?versioning`).
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }
    /// A header (`x-amz-...`, `content-type`...).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// The body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }
    /// Whether a failed attempt may be retried (default: every method but POST).
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = Some(idempotent);
        self
    }
}

/// A successful (2xx) answer. Any other status is an [`Error`] of the kind S3's error
/// code maps to, with the provider code and request id.
#[derive(Debug, Clone)]
pub struct S3Response {
    /// The HTTP status.
    pub status: u16,
    /// The response headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Bytes,
}

impl S3Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

impl S3Driver {
    /// Sends a request of the S3 API this driver does not wrap, signed with the
    /// driver's credentials and sent through its HTTP client (retries, region
    /// redirects, timeouts). A non-2xx answer is a typed error.
    pub async fn send_raw(&self, request: S3Request) -> Result<S3Response> {
        let mut call = Call::new("raw", request.method.clone(), request.bucket.as_deref(), request.key.as_deref());
        if let Some(i) = request.idempotent {
            call = call.idempotent(i);
        }
        for (k, v) in &request.query {
            call = call.query(k, v.clone());
        }
        for (name, value) in &request.headers {
            let bad = || Error::new(ErrorKind::Config, format!("the header {name:?} is not a valid HTTP header"));
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
            let value = HeaderValue::from_str(value).map_err(|_| bad())?;
            call.headers.append(name, value);
        }
        if !request.body.is_empty() {
            call = call.body(RequestBody::Bytes(request.body.clone()));
        }
        let resp = self.client.send(call).await?;
        let status = resp.status.as_u16();
        let headers = resp
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let body = resp.bytes().await?;
        Ok(S3Response { status, headers, body })
    }
}
