//! The Azure driver's request path: the endpoint and account, authorization of each
//! attempt (SharedKey, SAS, bearer token), sending, and typed errors.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use async_trait::async_trait;
use http::{HeaderMap, HeaderValue, Method, Uri};
use storage_core::{Error, ErrorKind, Result};
use storage_http::{HttpClient, HttpRequest, HttpResponse, RequestBody, Signer, http};

use crate::config::AzureConfig;
use crate::credentials::{AzureCredential, default_chain};
use crate::signing::{API_VERSION, encode_path, encode_query, shared_key_authorization};

/// Where requests go: `{scheme}://{authority}{prefix}/{container}/{blob}`.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) scheme: String,
    pub(crate) authority: String,
    /// `""` for `https://acct.blob.core.windows.net`, `/devstoreaccount1` for Azurite.
    pub(crate) prefix: String,
}

impl Endpoint {
    /// The endpoint of `config`, and the account name (taken from the endpoint when the
    /// configuration does not say it).
    pub(crate) fn parse(config: &AzureConfig) -> Result<(Self, String)> {
        let Some(url) = &config.endpoint else {
            if config.account.is_empty() {
                return Err(Error::new(ErrorKind::Config, "no Azure storage account is configured")
                    .with_hint("set account (or AZURE_STORAGE_ACCOUNT), or a connection string"));
            }
            check_account(&config.account)?;
            let e = Endpoint {
                scheme: "https".into(),
                authority: format!("{}.blob.core.windows.net", config.account),
                prefix: String::new(),
            };
            return Ok((e, config.account.clone()));
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                format!(
                    "the Azure endpoint {:?} needs a scheme (https:// or http://)",
                    storage_core::kit::redact_url(url)
                ),
            )
        })?;
        if scheme != "http" && scheme != "https" {
            return Err(Error::new(
                ErrorKind::Config,
                format!("the Azure endpoint scheme {scheme:?} is not http or https"),
            ));
        }
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        if authority.contains('@') {
            return Err(Error::new(
                ErrorKind::Config,
                "the Azure endpoint holds user information (user:password@); it is refused so the password is neither sent nor printed",
            )
            .with_hint("give the account key as account_key, or a SAS token as sas_token"));
        }
        if authority.is_empty() || rest.contains('?') || rest.contains('#') {
            return Err(Error::new(
                ErrorKind::Config,
                "the Azure endpoint must be scheme://host[:port][/path], without a query",
            )
            .with_hint("give a SAS token as sas_token, not in the endpoint URL"));
        }
        let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h).trim_matches(['[', ']']);
        let path_style = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok();
        let path = path.trim_matches('/');
        let mut account = config.account.clone();
        let prefix = if !path.is_empty() {
            if account.is_empty() && !path.contains('/') {
                account = path.to_owned();
            }
            format!("/{path}")
        } else if path_style {
            if account.is_empty() {
                return Err(Error::new(
                    ErrorKind::Config,
                    "the Azure endpoint is an address without an account path; name the account",
                )
                .with_hint("set account, or give the endpoint as http://host:port/ACCOUNT"));
            }
            format!("/{account}")
        } else {
            String::new()
        };
        if account.is_empty() {
            account = host.split('.').next().unwrap_or_default().to_owned();
        }
        Ok((Endpoint { scheme: scheme.to_owned(), authority: authority.to_owned(), prefix }, account))
    }

    /// The encoded path of a container or blob.
    pub(crate) fn path(&self, container: Option<&str>, blob: Option<&str>) -> String {
        let mut p = String::with_capacity(self.prefix.len() + 64);
        p.push_str(&self.prefix);
        p.push('/');
        if let Some(c) = container {
            p.push_str(c);
            if let Some(b) = blob {
                p.push('/');
                p.push_str(&encode_path(b));
            }
        }
        p
    }

    /// The URL of a container or blob, without a query.
    pub(crate) fn url(&self, container: Option<&str>, blob: Option<&str>) -> String {
        format!("{}://{}{}", self.scheme, self.authority, self.path(container, blob))
    }
}

fn check_account(account: &str) -> Result<()> {
    if account.len() < 3 || account.len() > 24 || !account.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return Err(Error::new(
            ErrorKind::Config,
            format!("{account:?} is not an Azure storage account name (3-24 lowercase letters and digits)"),
        ));
    }
    Ok(())
}

/// Authorizes each attempt of a request.
#[derive(Clone)]
pub(crate) struct AzureSigner {
    pub(crate) account: Arc<str>,
    pub(crate) credential: AzureCredential,
}

#[async_trait]
impl Signer for AzureSigner {
    async fn sign(&self, method: &Method, uri: &mut Uri, headers: &mut HeaderMap, body: &RequestBody) -> Result<()> {
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        headers.insert("x-ms-date", HeaderValue::from_str(&date).map_err(|_| bad_header("x-ms-date"))?);
        // A request that needs a later service version (the Cold tier) says so itself.
        headers.entry("x-ms-version").or_insert(HeaderValue::from_static(API_VERSION));
        if *method != Method::GET && *method != Method::HEAD && *method != Method::DELETE {
            headers.entry(http::header::CONTENT_LENGTH).or_insert_with(|| HeaderValue::from(body.len()));
        }
        match &self.credential {
            AzureCredential::SharedKey(key) => {
                let auth = shared_key_authorization(
                    &self.account,
                    key.bytes(),
                    method.as_str(),
                    uri.path(),
                    uri.query().unwrap_or_default(),
                    headers,
                );
                headers.insert(
                    http::header::AUTHORIZATION,
                    HeaderValue::from_str(&auth).map_err(|_| bad_header("authorization"))?,
                );
            }
            AzureCredential::Token(provider) => {
                let token = provider.token().await?;
                let mut v = HeaderValue::from_str(&format!("Bearer {}", token.token))
                    .map_err(|_| bad_header("authorization"))?;
                v.set_sensitive(true);
                headers.insert(http::header::AUTHORIZATION, v);
            }
            // The SAS is part of every URL (see `Client::uri`).
            AzureCredential::Sas(_) | AzureCredential::Anonymous => {}
        }
        Ok(())
    }

    async fn rejected(&self, authorization: Option<&HeaderValue>) -> bool {
        match &self.credential {
            AzureCredential::Token(p) => storage_http::auth::forget_rejected(p.as_ref(), authorization).await,
            AzureCredential::SharedKey(_) | AzureCredential::Sas(_) | AzureCredential::Anonymous => false,
        }
    }
}

fn bad_header(name: &str) -> Error {
    Error::new(ErrorKind::Config, format!("the {name} header could not be built from the credentials"))
}

/// A request before it is addressed: what the driver's operations build.
pub(crate) struct Call<'a> {
    pub(crate) op: &'static str,
    pub(crate) method: Method,
    pub(crate) container: Option<&'a str>,
    pub(crate) blob: Option<&'a str>,
    pub(crate) query: Vec<(&'static str, String)>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: RequestBody,
    pub(crate) idempotent: bool,
}

impl<'a> Call<'a> {
    pub(crate) fn new(op: &'static str, method: Method, container: Option<&'a str>, blob: Option<&'a str>) -> Self {
        let idempotent = method != Method::POST;
        Call {
            op,
            method,
            container,
            blob,
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: RequestBody::Empty,
            idempotent,
        }
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
    pub(crate) fn idempotent(mut self, i: bool) -> Self {
        self.idempotent = i;
        self
    }
}

/// Shared state of one Azure driver.
pub(crate) struct Client {
    pub(crate) config: AzureConfig,
    pub(crate) http: HttpClient,
    pub(crate) endpoint: Endpoint,
    pub(crate) signer: Arc<AzureSigner>,
    /// The service refused `x-ms-range-get-content-crc64` (Azurite in its default strict
    /// mode answers it with 500 FeatureNotSupported): ranges are no longer asked for it.
    pub(crate) no_range_crc64: AtomicBool,
}

impl Client {
    pub(crate) fn new(config: AzureConfig) -> Result<Self> {
        let (endpoint, account) = Endpoint::parse(&config)?;
        let http = HttpClient::new(config.http.clone())?;
        let credential = config.credential.clone().unwrap_or_else(|| AzureCredential::Token(default_chain()));
        let signer = Arc::new(AzureSigner { account: Arc::from(account.as_str()), credential });
        Ok(Client { config, http, endpoint, signer, no_range_crc64: AtomicBool::new(false) })
    }

    pub(crate) fn account(&self) -> &str {
        &self.signer.account
    }

    /// The URL of a call, its query encoded, with the SAS token when that is the credential.
    pub(crate) fn uri(&self, container: Option<&str>, blob: Option<&str>, query: &[(&str, String)]) -> Result<Uri> {
        let mut url = self.endpoint.url(container, blob);
        let mut sep = '?';
        for (k, v) in query {
            url.push(sep);
            url.push_str(k);
            if !v.is_empty() {
                url.push('=');
                url.push_str(&encode_query(v));
            }
            sep = '&';
        }
        if let AzureCredential::Sas(sas) = &self.signer.credential {
            url.push(sep);
            url.push_str(sas.query());
        }
        url.parse().map_err(|e| {
            Error::new(ErrorKind::InvalidObjectName, format!("the request URL cannot be built for this name: {e}"))
        })
    }

    /// Builds the HTTP request for `call`.
    pub(crate) fn request(&self, call: &Call<'_>) -> Result<HttpRequest> {
        let uri = self.uri(call.container, call.blob, &call.query)?;
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

    /// [`Client::send`] with the request already built from `call`.
    pub(crate) async fn send_built(&self, call: &Call<'_>, req: &HttpRequest) -> Result<HttpResponse> {
        let resp = self.http.execute(req, self.signer.as_ref()).await.map_err(|e| self.context(e, call))?;
        if resp.status.is_success() {
            return Ok(resp);
        }
        let e = crate::errors::from_response(resp, call.op).await;
        Err(self.context(e, call))
    }

    pub(crate) fn context(&self, e: Error, call: &Call<'_>) -> Error {
        e.or_context(crate::driver::NAME, call.container, call.blob)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(c: AzureConfig) -> (Endpoint, String) {
        Endpoint::parse(&c).unwrap()
    }

    #[test]
    fn endpoints_and_accounts() {
        let (e, a) = endpoint(AzureConfig::new("acct"));
        assert_eq!(
            (e.url(Some("c"), Some("a b/ü")), a.as_str()),
            ("https://acct.blob.core.windows.net/c/a%20b/%C3%BC".into(), "acct")
        );
        let (e, a) = endpoint(AzureConfig::emulator());
        assert_eq!(
            (e.url(Some("c"), None), a.as_str()),
            ("http://127.0.0.1:10000/devstoreaccount1/c".into(), "devstoreaccount1")
        );
        let (e, _) = endpoint(AzureConfig::new("devstoreaccount1").endpoint("http://127.0.0.1:10000"));
        assert_eq!(e.prefix, "/devstoreaccount1");
        let (e, a) = endpoint(AzureConfig::default().endpoint("https://acct.blob.core.usgovcloudapi.net/"));
        assert_eq!((e.prefix.as_str(), a.as_str()), ("", "acct"));
        assert_eq!(e.path(None, None), "/");
    }

    #[test]
    fn bad_endpoints_are_config_errors_without_secrets() {
        for url in ["ftp://x", "127.0.0.1:10000", "http://u:hunter2@h/acct", "https://h/acct?sig=hunter2"] {
            let e = Endpoint::parse(&AzureConfig::new("acct").endpoint(url)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{url}");
            assert!(!format!("{e} {e:?}").contains("hunter2"), "{e}");
        }
        assert_eq!(Endpoint::parse(&AzureConfig::new("Bad_Name")).unwrap_err().kind(), ErrorKind::Config);
    }
}
