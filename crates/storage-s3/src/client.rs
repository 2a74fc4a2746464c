//! The S3 driver's request path: endpoint and addressing, signing, sending, and
//! following a wrong-region answer to the bucket's region.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use http::{HeaderMap, Method, Uri};
use storage_core::{Error, ErrorKind, Result};
use storage_http::auth::TokenProvider;
use storage_http::{HttpClient, HttpRequest, HttpResponse, RequestBody, Signer, http};

use crate::config::{Addressing, PayloadSigning, S3Config};
use crate::credentials::{CredentialsProvider, default_chain};
use crate::signing::{
    EMPTY_SHA256, KeyCache, SigningInput, UNSIGNED_PAYLOAD, sha256_hex, sign_headers, uri_encode_into,
};

/// The parts of the signer shared by every region.
pub(crate) struct SignerCore {
    /// SigV4 credentials (for an IBM IAM driver: only for presigned URLs).
    pub(crate) provider: Option<Arc<dyn CredentialsProvider>>,
    /// IBM COS: requests carry `Authorization: Bearer` with these tokens instead of SigV4.
    pub(crate) bearer: Option<Arc<dyn TokenProvider>>,
    pub(crate) cache: KeyCache,
    pub(crate) payload: PayloadSigning,
}

/// Signs S3 requests for one region (cheap to clone).
#[derive(Clone)]
pub(crate) struct S3Signer {
    pub(crate) core: Arc<SignerCore>,
    pub(crate) region: Arc<str>,
}

#[async_trait]
impl Signer for S3Signer {
    async fn sign(&self, method: &Method, uri: &mut Uri, headers: &mut HeaderMap, body: &RequestBody) -> Result<()> {
        if let Some(tokens) = &self.core.bearer {
            let token = tokens.token().await?;
            let mut value = http::HeaderValue::from_str(&format!("Bearer {}", token.token))
                .map_err(|_| bad_header("authorization"))?;
            value.set_sensitive(true);
            headers.insert(http::header::AUTHORIZATION, value);
            return Ok(());
        }
        let Some(provider) = &self.core.provider else { return Ok(()) };
        let creds = provider.credentials().await?;
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
        headers.insert(http::header::HOST, authority.parse().map_err(|_| bad_header("host"))?);
        let https = uri.scheme_str() == Some("https");
        let preset = headers.get("x-amz-content-sha256").and_then(|v| v.to_str().ok()).map(str::to_owned);
        // Auto: the body is not hashed into the signature when TLS protects it, or when a
        // checksum header (itself signed, and verified by the server) covers it.
        let checksummed = headers.contains_key("x-amz-checksum-crc32c") || headers.contains_key("content-md5");
        let hash = match preset {
            Some(h) => h,
            None => match (self.core.payload, body) {
                (PayloadSigning::Unsigned, _) => UNSIGNED_PAYLOAD.to_owned(),
                (PayloadSigning::Auto, _) if https || checksummed => UNSIGNED_PAYLOAD.to_owned(),
                (_, RequestBody::Empty) => EMPTY_SHA256.to_owned(),
                (_, RequestBody::Bytes(b)) => sha256_hex(b),
                (_, RequestBody::Stream(..)) => UNSIGNED_PAYLOAD.to_owned(),
            },
        };
        let input = SigningInput {
            access_key_id: &creds.access_key_id,
            secret: &creds.secret_access_key,
            session_token: creds.session_token.as_deref(),
            region: &self.region,
            service: "s3",
            time: chrono::Utc::now(),
        };
        let (path, query) = (uri.path(), uri.query().unwrap_or_default());
        sign_headers(&input, &self.core.cache, method.as_str(), path, query, headers, &hash)
            .map_err(|_| bad_header("authorization"))
    }

    /// IBM COS bearer tokens only: S3 answers refused SigV4 credentials with 403.
    async fn rejected(&self, authorization: Option<&http::HeaderValue>) -> bool {
        match &self.core.bearer {
            Some(tokens) => storage_http::auth::forget_rejected(tokens.as_ref(), authorization).await,
            None => false,
        }
    }
}

fn bad_header(name: &str) -> Error {
    Error::new(ErrorKind::Config, format!("the {name} header could not be built from the credentials or endpoint"))
}

/// Where requests go.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) scheme: String,
    /// Host with port, if any.
    pub(crate) host: String,
    /// Whether this is AWS's default endpoint (its host follows the region).
    pub(crate) aws_default: bool,
}

impl Endpoint {
    pub(crate) fn parse(config: &S3Config) -> Result<Self> {
        match &config.endpoint {
            None => Ok(Endpoint {
                scheme: "https".into(),
                host: format!("s3.{}.amazonaws.com", config.region),
                aws_default: true,
            }),
            Some(url) => {
                // Before anything echoes the URL: it may hold a password.
                if url.contains('@') {
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!(
                            "the S3 endpoint {} holds user information (user:password@); it is refused so the \
                             password is neither sent nor printed",
                            storage_core::kit::redact_url(url)
                        ),
                    )
                    .with_hint(
                        "remove user:password@ from the endpoint and give the keys as access_key_id and \
                         secret_access_key (or through the AWS credentials chain)",
                    ));
                }
                let (scheme, rest) = url.split_once("://").ok_or_else(|| {
                    Error::new(
                        ErrorKind::Config,
                        format!("the S3 endpoint {url:?} needs a scheme (https:// or http://)"),
                    )
                })?;
                if scheme != "http" && scheme != "https" {
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!("the S3 endpoint scheme {scheme:?} is not http or https"),
                    ));
                }
                let host = rest.trim_end_matches('/');
                if host.is_empty() || host.contains('/') {
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!("the S3 endpoint {url:?} must be scheme://host[:port]"),
                    ));
                }
                Ok(Endpoint { scheme: scheme.to_owned(), host: host.to_owned(), aws_default: false })
            }
        }
    }

    fn host_name(&self) -> &str {
        if self.host.starts_with('[') {
            return self.host.split(']').next().map(|h| h.trim_start_matches('[')).unwrap_or(&self.host);
        }
        self.host.rsplit_once(':').map_or(self.host.as_str(), |(h, _)| h)
    }

    /// Whether buckets go in the path for this endpoint and bucket.
    pub(crate) fn path_style(&self, addressing: Addressing, bucket: &str) -> bool {
        match addressing {
            Addressing::Path => true,
            Addressing::VirtualHosted => false,
            Addressing::Auto => {
                let h = self.host_name();
                h == "localhost"
                    || h.ends_with(".localhost")
                    || h.parse::<std::net::IpAddr>().is_ok()
                    || (self.scheme == "https" && bucket.contains('.'))
            }
        }
    }
}

/// Shared state of one S3 driver.
pub(crate) struct Client {
    pub(crate) config: S3Config,
    pub(crate) http: HttpClient,
    pub(crate) endpoint: Endpoint,
    pub(crate) core: Arc<SignerCore>,
    default_signer: S3Signer,
    /// Buckets found to live in another region than the configured one.
    regions: Mutex<HashMap<String, Arc<str>>>,
}

/// A request before it is addressed: what the driver's operations build.
pub(crate) struct Call<'a> {
    pub(crate) op: &'static str,
    pub(crate) method: Method,
    pub(crate) bucket: Option<&'a str>,
    pub(crate) key: Option<&'a str>,
    pub(crate) query: Vec<(&'a str, String)>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: RequestBody,
    pub(crate) idempotent: bool,
}

impl<'a> Call<'a> {
    pub(crate) fn new(op: &'static str, method: Method, bucket: Option<&'a str>, key: Option<&'a str>) -> Self {
        let idempotent = method != Method::POST;
        Call {
            op,
            method,
            bucket,
            key,
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: RequestBody::Empty,
            idempotent,
        }
    }
    pub(crate) fn query(mut self, k: &'a str, v: impl Into<String>) -> Self {
        self.query.push((k, v.into()));
        self
    }
    pub(crate) fn header(mut self, name: &'static str, value: &str) -> Result<Self> {
        let v = http::HeaderValue::from_str(value).map_err(|_| {
            Error::new(ErrorKind::Config, format!("the value for header {name} is not valid header text"))
        })?;
        self.headers.insert(name, v);
        Ok(self)
    }
    pub(crate) fn body(mut self, body: RequestBody) -> Self {
        self.body = body;
        self
    }
    pub(crate) fn idempotent(mut self, i: bool) -> Self {
        self.idempotent = i;
        self
    }
}

impl Client {
    pub(crate) fn new(config: S3Config) -> Result<Self> {
        let endpoint = Endpoint::parse(&config)?;
        let http = HttpClient::new(config.http.clone())?;
        let (provider, bearer) = match (&config.ibm_iam, config.anonymous) {
            (_, true) => (None, None),
            // IBM IAM: the AWS chain is not consulted; explicit HMAC keys sign URLs only.
            (Some(iam), false) => (config.credentials.clone(), Some(iam.token_provider())),
            (None, false) => (Some(config.credentials.clone().unwrap_or_else(default_chain)), None),
        };
        let core =
            Arc::new(SignerCore { provider, bearer, cache: KeyCache::default(), payload: config.payload_signing });
        let default_signer = S3Signer { core: core.clone(), region: Arc::from(config.region.as_str()) };
        Ok(Client { config, http, endpoint, core, default_signer, regions: Mutex::new(HashMap::new()) })
    }

    fn region_for(&self, bucket: Option<&str>) -> Option<Arc<str>> {
        let b = bucket?;
        self.regions.lock().unwrap_or_else(PoisonError::into_inner).get(b).cloned()
    }

    /// The signer for a bucket (its region if it was found elsewhere).
    pub(crate) fn signer(&self, bucket: Option<&str>) -> S3Signer {
        match self.region_for(bucket) {
            Some(region) => S3Signer { core: self.core.clone(), region },
            None => self.default_signer.clone(),
        }
    }

    /// Scheme, host and path (encoded) for a bucket and key.
    pub(crate) fn target(&self, bucket: Option<&str>, key: Option<&str>) -> (String, String) {
        let mut host = self.endpoint.host.clone();
        if self.endpoint.aws_default
            && let Some(r) = self.region_for(bucket)
        {
            host = format!("s3.{r}.amazonaws.com");
        }
        let mut path = String::with_capacity(64);
        path.push('/');
        if let Some(b) = bucket {
            if self.endpoint.path_style(self.config.addressing, b) {
                path.push_str(b);
                if key.is_some() {
                    path.push('/');
                }
            } else {
                host = format!("{b}.{host}");
            }
        }
        if let Some(k) = key {
            uri_encode_into(&mut path, k, true);
        }
        (host, path)
    }

    fn uri(&self, bucket: Option<&str>, key: Option<&str>, query: &[(&str, String)]) -> Result<Uri> {
        let (host, path) = self.target(bucket, key);
        let pairs: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let q = crate::signing::canonical_query(&pairs);
        // Pushed, not `format!`ted: this runs on every request.
        let scheme = &self.endpoint.scheme;
        let mut url = String::with_capacity(scheme.len() + 4 + host.len() + path.len() + q.len());
        for piece in [scheme.as_str(), "://", &host, &path] {
            url.push_str(piece);
        }
        if !q.is_empty() {
            url.push('?');
            url.push_str(&q);
        }
        url.parse().map_err(|e| {
            Error::new(ErrorKind::InvalidObjectName, format!("the request URL cannot be built for this key: {e}"))
        })
    }

    /// Builds the HTTP request for `call`.
    pub(crate) fn request(&self, call: &Call<'_>) -> Result<HttpRequest> {
        let uri = self.uri(call.bucket, call.key, &call.query)?;
        let mut req = HttpRequest::new(call.method.clone(), uri, call.op).idempotent(call.idempotent);
        req.headers = call.headers.clone();
        req.body = call.body.clone();
        // IBM COS names the service instance when buckets are listed or created.
        if let Some(id) = self.config.ibm_iam.as_ref().and_then(|iam| iam.service_instance_id.as_deref())
            && call.key.is_none()
            && call.query.is_empty()
            && (call.bucket.is_none() || call.method == Method::PUT)
        {
            req.set_header("ibm-service-instance-id", id)?;
        }
        Ok(req)
    }

    /// Sends `call`; a 2xx (or 3xx other than a region redirect) answer is returned, any
    /// other is turned into a typed error. A wrong-region answer is followed once.
    pub(crate) async fn send(&self, call: Call<'_>) -> Result<HttpResponse> {
        let req = self.request(&call)?;
        self.send_built(call, req).await
    }

    /// [`Client::send`] with the request already built from `call`.
    pub(crate) async fn send_built(&self, call: Call<'_>, first: HttpRequest) -> Result<HttpResponse> {
        let mut followed = false;
        let mut next = Some(first);
        loop {
            let req = match next.take() {
                Some(r) => r,
                None => self.request(&call)?,
            };
            let signer = self.signer(call.bucket);
            let resp = self.http.execute(&req, &signer).await.map_err(|e| self.context(e, &call))?;
            let status = resp.status.as_u16();
            if (200..300).contains(&status) {
                return Ok(resp);
            }
            if !followed
                && matches!(status, 301 | 307 | 400)
                && let Some(bucket) = call.bucket
                && let Some(region) = resp.header("x-amz-bucket-region")
                && region != &*signer.region
                && call.body.is_replayable()
            {
                tracing::debug!(bucket, region, "following the bucket to its region");
                self.regions
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(bucket.to_owned(), Arc::from(region));
                followed = true;
                continue;
            }
            let e = crate::errors::from_response(resp, call.op).await;
            return Err(self.context(e, &call));
        }
    }

    pub(crate) fn context(&self, e: Error, call: &Call<'_>) -> Error {
        e.or_context("s3", call.bucket, call.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(endpoint: Option<&str>, addressing: Addressing) -> Client {
        let mut c = S3Config::new().anonymous(true).addressing(addressing).region("eu-west-1");
        if let Some(e) = endpoint {
            c = c.endpoint(e);
        }
        Client::new(c).unwrap()
    }

    #[test]
    fn addressing_is_chosen_from_the_endpoint() {
        let local = client(Some("http://127.0.0.1:9000"), Addressing::Auto);
        assert_eq!(local.target(Some("b"), Some("a b/c")), ("127.0.0.1:9000".into(), "/b/a%20b/c".into()));
        let named = client(Some("http://localhost:9000"), Addressing::Auto);
        assert_eq!(named.target(Some("b"), None).1, "/b");
        let aws = client(None, Addressing::Auto);
        assert_eq!(aws.target(Some("b"), Some("k")), ("b.s3.eu-west-1.amazonaws.com".into(), "/k".into()));
        assert_eq!(aws.target(Some("a.b"), Some("k")), ("s3.eu-west-1.amazonaws.com".into(), "/a.b/k".into()));
        assert!(local.config.http.allow_http);
    }

    #[test]
    fn endpoints_with_user_information_are_refused_without_echoing_it() {
        for e in [
            "http://minio:hunter2@127.0.0.1:9000",
            "https://hunter2@s3.example.com",
            "http://user:hun/ter2@host:9000",
            "user:hunter2@host",
            "http://u:p@ss-hunter2@host",
        ] {
            let config = S3Config::new().anonymous(true).endpoint(e);
            assert!(
                !format!("{config:?}").contains("hunter2") && !format!("{config:?}").contains("ter2"),
                "{config:?}"
            );
            let err = Client::new(config).err().unwrap();
            assert_eq!(err.kind(), ErrorKind::Config, "{e}");
            let shown = format!("{err} {err:?}");
            assert!(shown.contains("user information") && shown.contains("access_key_id"), "{shown}");
            assert!(!shown.contains("hunter2") && !shown.contains("ter2") && !shown.contains("minio"), "{shown}");
        }
    }

    #[test]
    fn bad_endpoints_are_config_errors() {
        for e in ["127.0.0.1:9000", "ftp://x", "http://host/path"] {
            let err = Client::new(S3Config::new().endpoint(e)).err().unwrap();
            assert_eq!(err.kind(), ErrorKind::Config, "{e}");
        }
    }
}
