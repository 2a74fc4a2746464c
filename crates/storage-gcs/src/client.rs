//! The GCS driver's request path: endpoint, URLs of the JSON API, bearer tokens, sending
//! and typed errors.

use std::sync::Arc;

use async_trait::async_trait;
use http::{HeaderMap, HeaderValue, Method, Uri};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use storage_core::{Error, ErrorKind, Result};
use storage_http::{HttpClient, HttpRequest, HttpResponse, RequestBody, Signer, http};

use crate::config::{DEFAULT_ENDPOINT, GcsConfig};
use crate::credentials::{GcsCredentials, TokenProvider, application_default};

/// Escaped in a path segment or query value: everything but RFC 3986's unreserved set
/// (`/` in an object name too: it is one segment of the JSON API's path).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Percent-encodes a path segment or query value.
pub(crate) fn enc(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// Percent-encodes an object name for an XML-API style path (`/` kept).
pub(crate) fn enc_path(s: &str) -> String {
    s.split('/').map(enc).collect::<Vec<_>>().join("/")
}

/// Adds the bearer token to each attempt.
pub(crate) struct GcsSigner {
    pub(crate) tokens: Option<Arc<dyn TokenProvider>>,
}

#[async_trait]
impl Signer for GcsSigner {
    async fn sign(&self, _: &Method, _: &mut Uri, headers: &mut HeaderMap, _: &RequestBody) -> Result<()> {
        if let Some(p) = &self.tokens {
            let token = p.token().await?;
            let mut v = HeaderValue::from_str(&format!("Bearer {}", token.token))
                .map_err(|_| Error::new(ErrorKind::Unauthenticated, "the access token is not valid header text"))?;
            v.set_sensitive(true);
            headers.insert(http::header::AUTHORIZATION, v);
        }
        Ok(())
    }

    async fn rejected(&self, authorization: Option<&HeaderValue>) -> bool {
        match &self.tokens {
            Some(p) => storage_http::auth::forget_rejected(p.as_ref(), authorization).await,
            None => false,
        }
    }
}

/// Which API a call goes to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Api {
    /// `/storage/v1/...`
    Json,
    /// `/upload/storage/v1/...`
    Upload,
    /// `/batch/storage/v1`
    Batch,
}

/// A request before it is addressed: what the operations build.
pub(crate) struct Call<'a> {
    pub(crate) op: &'static str,
    pub(crate) method: Method,
    pub(crate) api: Api,
    /// The path after `/storage/v1`, already encoded.
    pub(crate) path: String,
    pub(crate) query: Vec<(&'static str, String)>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: RequestBody,
    pub(crate) idempotent: bool,
    pub(crate) bucket: Option<&'a str>,
    pub(crate) object: Option<&'a str>,
}

impl<'a> Call<'a> {
    /// A call on `path` (below `/storage/v1`). GET, HEAD and DELETE are idempotent (an
    /// object delete opts out: see `write::delete`); others only when a precondition
    /// makes them so (GCS's retry rules).
    pub(crate) fn new(op: &'static str, method: Method, path: String) -> Self {
        let idempotent = matches!(method, Method::GET | Method::HEAD | Method::DELETE);
        Call {
            op,
            method,
            api: Api::Json,
            path,
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: RequestBody::Empty,
            idempotent,
            bucket: None,
            object: None,
        }
    }
    /// On a bucket: `/b/{bucket}{rest}`.
    pub(crate) fn bucket(op: &'static str, method: Method, bucket: &'a str, rest: &str) -> Self {
        let mut c = Self::new(op, method, format!("/b/{}{rest}", enc(bucket)));
        c.bucket = Some(bucket);
        c
    }
    /// On an object: `/b/{bucket}/o/{object}{rest}`.
    pub(crate) fn object(op: &'static str, method: Method, bucket: &'a str, object: &'a str, rest: &str) -> Self {
        let mut c = Self::new(op, method, format!("/b/{}/o/{}{rest}", enc(bucket), enc(object)));
        c.bucket = Some(bucket);
        c.object = Some(object);
        c
    }
    pub(crate) fn api(mut self, api: Api) -> Self {
        self.api = api;
        self
    }
    pub(crate) fn query(mut self, k: &'static str, v: impl Into<String>) -> Self {
        self.query.push((k, v.into()));
        self
    }
    pub(crate) fn header(mut self, name: &'static str, value: &str) -> Result<Self> {
        let v = HeaderValue::from_str(value).map_err(|_| {
            Error::new(ErrorKind::Config, format!("the value for header {name} is not valid header text"))
        })?;
        self.headers.insert(name, v);
        Ok(self)
    }
    pub(crate) fn body(mut self, body: RequestBody) -> Self {
        self.body = body;
        self
    }
    pub(crate) fn json(self, value: &serde_json::Value) -> Result<Self> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| Error::new(ErrorKind::Config, format!("a request body cannot be encoded: {e}")))?;
        Ok(self.header("content-type", "application/json")?.body(RequestBody::Bytes(bytes.into())))
    }
    pub(crate) fn idempotent(mut self, i: bool) -> Self {
        self.idempotent = i;
        self
    }
    /// Also on `object` of `bucket` for error context (without changing the path).
    pub(crate) fn about(mut self, bucket: &'a str, object: Option<&'a str>) -> Self {
        self.bucket = Some(bucket);
        self.object = object;
        self
    }
}

/// Shared state of one GCS driver.
pub(crate) struct Client {
    pub(crate) config: GcsConfig,
    pub(crate) http: HttpClient,
    /// `scheme://host[:port]`.
    pub(crate) endpoint: String,
    pub(crate) credentials: GcsCredentials,
    pub(crate) signer: Arc<GcsSigner>,
    /// Set once the server answered a JSON batch with "no such endpoint" (emulators).
    pub(crate) no_batch: std::sync::atomic::AtomicBool,
}

impl Client {
    pub(crate) fn new(config: GcsConfig) -> Result<Self> {
        let endpoint = config.endpoint.clone().unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
        let (scheme, rest) = endpoint.split_once("://").unwrap_or(("", ""));
        if scheme != "http" && scheme != "https" {
            return Err(Error::new(ErrorKind::Config, "the GCS endpoint must start with https:// or http://"));
        }
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return Err(Error::new(
                ErrorKind::Config,
                "the GCS endpoint must be scheme://host[:port], without a path, query or user",
            )
            .with_hint("give credentials as credentials_file, credentials_json or bearer_token, not in the URL"));
        }
        let http = HttpClient::new(config.http.clone())?;
        let credentials = config.credentials.clone().unwrap_or_else(application_default);
        let signer = Arc::new(GcsSigner { tokens: credentials.tokens.clone() });
        Ok(Client { config, http, endpoint, credentials, signer, no_batch: Default::default() })
    }

    /// The project buckets are created in.
    pub(crate) fn project(&self) -> Option<&str> {
        self.config.project_id.as_deref().or(self.credentials.project_id.as_deref())
    }

    /// The URL of a call.
    pub(crate) fn url(&self, call: &Call<'_>) -> String {
        let base = match call.api {
            Api::Json => "/storage/v1",
            Api::Upload => "/upload/storage/v1",
            Api::Batch => "/batch/storage/v1",
        };
        let mut url = String::with_capacity(self.endpoint.len() + base.len() + call.path.len() + 64);
        url.push_str(&self.endpoint);
        url.push_str(base);
        url.push_str(&call.path);
        let mut sep = '?';
        for (k, v) in &call.query {
            url.push(sep);
            url.push_str(k);
            url.push('=');
            url.push_str(&enc(v));
            sep = '&';
        }
        url
    }

    pub(crate) fn request(&self, call: &Call<'_>) -> Result<HttpRequest> {
        let url = self.url(call);
        let uri: Uri = url.parse().map_err(|e| {
            Error::new(ErrorKind::InvalidObjectName, format!("the request URL cannot be built for this name: {e}"))
        })?;
        let mut req = HttpRequest::new(call.method.clone(), uri, call.op).idempotent(call.idempotent);
        req.headers = call.headers.clone();
        req.body = call.body.clone();
        Ok(req)
    }

    /// Sends `call`; a 2xx answer is returned, any other becomes a typed error.
    pub(crate) async fn send(&self, call: Call<'_>) -> Result<HttpResponse> {
        let req = self.request(&call)?;
        self.send_built(&call, &req).await
    }

    pub(crate) async fn send_built(&self, call: &Call<'_>, req: &HttpRequest) -> Result<HttpResponse> {
        let resp = self.http.execute(req, self.signer.as_ref()).await.map_err(|e| self.context(e, call))?;
        if resp.status.is_success() {
            return Ok(resp);
        }
        let e = crate::errors::from_response(resp, call.op).await;
        Err(self.context(e, call))
    }

    /// Sends `call` and parses its JSON answer.
    pub(crate) async fn send_json<T: serde::de::DeserializeOwned>(&self, call: Call<'_>) -> Result<T> {
        let what = call.op;
        let (bucket, object) = (call.bucket, call.object);
        let resp = self.send(call).await?;
        let status = resp.status.as_u16();
        let body = resp.bytes().await?;
        // An answer that does not parse (a broken server, or one damaged on the way): say
        // which status it came with, and for what.
        crate::json::parse(&body, what)
            .map_err(|e| e.with_status(status).or_context(crate::driver::NAME, bucket, object))
    }

    pub(crate) fn context(&self, e: Error, call: &Call<'_>) -> Error {
        e.or_context(crate::driver::NAME, call.bucket, call.object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_object_names_as_one_segment() {
        let c = Client::new(GcsConfig::emulator("127.0.0.1:4443")).unwrap();
        let call = Call::object("GetObject", Method::GET, "b", "a b/c+d%e", "").query("alt", "media");
        assert_eq!(c.url(&call), "http://127.0.0.1:4443/storage/v1/b/b/o/a%20b%2Fc%2Bd%25e?alt=media");
        let up = Call::bucket("Insert", Method::POST, "b", "/o").api(Api::Upload).query("name", "x/y");
        assert_eq!(c.url(&up), "http://127.0.0.1:4443/upload/storage/v1/b/b/o?name=x%2Fy");
    }

    #[test]
    fn bad_endpoints_are_config_errors() {
        for e in ["ftp://x", "https://h/path", "https://u:hunter2@h"] {
            let err = Client::new(GcsConfig::new().anonymous().endpoint(e)).err().unwrap();
            assert_eq!(err.kind(), ErrorKind::Config, "{e}");
            assert!(!err.to_string().contains("hunter2"));
        }
    }
}
