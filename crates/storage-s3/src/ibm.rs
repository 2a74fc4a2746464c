//! IBM Cloud Object Storage, the S3 flavour Lithops uses: the same wire protocol, with
//! IBM Cloud IAM bearer tokens instead of SigV4.
//!
//! An API key is exchanged at IAM (`POST {iam}/identity/token`, form
//! `grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=...`) for an access token
//! sent as `Authorization: Bearer <token>`; the token is cached and refreshed 5 minutes
//! before it expires ([`storage_http::auth::TokenCache`]). Creating and listing buckets
//! also send `ibm-service-instance-id` (the COS instance's id). Presigned URLs need HMAC
//! keys (IBM does not presign with IAM tokens): give `access_key_id` +
//! `secret_access_key` too, and requests stay on IAM while URLs are signed with HMAC.
//!
//! The `ibm_cos` driver (URL scheme `cos://bucket/key`, see [`IbmCosFactory`]) is this
//! S3 driver with IBM's defaults: the endpoint of `region`
//! (`https://s3.{region}.cloud-object-storage.appdomain.cloud`) and the API key from
//! `IBM_COS_API_KEY` / `IBM_API_KEY`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use storage_core::{Driver, DriverConfig, DriverFactory, Error, ErrorKind, Result};
use storage_http::HttpRequest;
use storage_http::auth::support::{endpoint_client, env_var, form_body, is_loopback_url, non_empty, send};
use storage_http::auth::{AccessToken, REDACTED, TokenCache, TokenProvider};
use storage_http::http::Method;

use crate::{S3Config, S3Driver};

/// IBM Cloud's IAM token service.
pub const IBM_IAM_ENDPOINT: &str = "https://iam.cloud.ibm.com";
/// The path of the token call under the IAM endpoint.
const TOKEN_PATH: &str = "/identity/token";
/// The grant type of an API key.
const APIKEY_GRANT: &str = "urn:ibm:params:oauth:grant-type:apikey";

/// IBM Cloud IAM authentication of an [`S3Config`]: the API key (never printed), the COS
/// service instance id (sent as `ibm-service-instance-id` when creating or listing
/// buckets) and the IAM endpoint.
#[derive(Clone)]
pub struct IbmIam {
    api_key: String,
    /// The COS instance (its CRN or GUID); needed to create and list buckets.
    pub service_instance_id: Option<String>,
    /// The IAM endpoint (default [`IBM_IAM_ENDPOINT`]); `/identity/token` is appended
    /// unless the URL already ends with it.
    pub iam_endpoint: String,
}

impl IbmIam {
    /// Authentication with this API key, against IBM Cloud's IAM.
    pub fn new(api_key: impl Into<String>) -> Self {
        IbmIam { api_key: api_key.into(), service_instance_id: None, iam_endpoint: IBM_IAM_ENDPOINT.to_owned() }
    }

    /// Sets the COS service instance id.
    pub fn service_instance_id(mut self, id: impl Into<String>) -> Self {
        self.service_instance_id = Some(id.into());
        self
    }

    /// Asks tokens from `url` instead of IBM Cloud's IAM (a private endpoint, a test server).
    pub fn iam_endpoint(mut self, url: impl Into<String>) -> Self {
        self.iam_endpoint = url.into();
        self
    }

    /// The cached token source these settings describe.
    pub fn token_provider(&self) -> Arc<dyn TokenProvider> {
        Arc::new(TokenCache::new(Arc::new(IbmIamTokenProvider::new(&self.api_key, &self.iam_endpoint))))
    }
}

impl fmt::Debug for IbmIam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IbmIam")
            .field("api_key", &REDACTED)
            .field("service_instance_id", &self.service_instance_id)
            .field("iam_endpoint", &self.iam_endpoint)
            .finish()
    }
}

/// Access tokens for an IBM Cloud API key, one IAM call each (wrap it in a
/// [`TokenCache`], as [`IbmIam::token_provider`] does). The key is sent in the POST body
/// only and never appears in `Debug` output, logs or errors.
#[derive(Clone)]
pub struct IbmIamTokenProvider {
    api_key: String,
    url: String,
}

impl IbmIamTokenProvider {
    /// Tokens for `api_key` from the IAM service at `iam_endpoint`.
    pub fn new(api_key: impl Into<String>, iam_endpoint: &str) -> Self {
        let base = iam_endpoint.trim_end_matches('/');
        let url = if base.ends_with(TOKEN_PATH) { base.to_owned() } else { format!("{base}{TOKEN_PATH}") };
        IbmIamTokenProvider { api_key: api_key.into(), url }
    }
}

impl fmt::Debug for IbmIamTokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IbmIamTokenProvider").field("api_key", &REDACTED).field("url", &self.url).finish()
    }
}

/// The IAM answer. No `Debug`: it holds the token.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    /// Lifetime in seconds.
    expires_in: Option<i64>,
    /// Expiry in seconds since the epoch.
    expiration: Option<i64>,
    #[serde(rename = "errorCode")]
    error_code: Option<String>,
    #[serde(rename = "errorMessage")]
    error_message: Option<String>,
}

#[async_trait]
impl TokenProvider for IbmIamTokenProvider {
    async fn token(&self) -> Result<AccessToken> {
        let what = "IBM Cloud IAM token";
        let body = form_body(&[("grant_type", APIKEY_GRANT), ("apikey", &self.api_key)]);
        let request = HttpRequest::parse(Method::POST, &self.url, "GetIamToken")?
            .header("content-type", "application/x-www-form-urlencoded")?
            .header("accept", "application/json")?
            .body(storage_http::RequestBody::Bytes(bytes::Bytes::from(body)))
            .idempotent(true);
        let client = endpoint_client(Duration::from_secs(5), Duration::from_secs(15), 2, !is_loopback_url(&self.url))?;
        let (status, body) = send(&client, &request, what).await?;
        let answer: Option<TokenAnswer> = serde_json::from_slice(&body).ok();
        if !(200..300).contains(&status) {
            let (code, message) = answer.map_or((None, None), |a| (a.error_code, a.error_message));
            let mut text = format!("{what}: IAM answered HTTP {status}");
            if let Some(code) = &code {
                text.push_str(&format!(" {code}"));
            }
            if let Some(message) = &message {
                text.push_str(&format!(": {message}"));
            }
            let kind = if matches!(status, 400 | 401 | 403) { ErrorKind::Unauthenticated } else { ErrorKind::Backend };
            let mut e = Error::new(kind, text)
                .with_status(status)
                .with_retryable(storage_http::is_retryable_status(status))
                .with_hint("check the IBM Cloud API key (ibm_api_key / IBM_API_KEY) and that it is not disabled");
            if let Some(code) = code {
                e = e.with_provider_code(code);
            }
            return Err(e);
        }
        let Some(answer) = answer else {
            return Err(Error::new(ErrorKind::Unauthenticated, format!("{what}: the answer is not JSON")));
        };
        let Some(token) = non_empty(answer.access_token) else {
            return Err(Error::new(ErrorKind::Unauthenticated, format!("{what}: the answer has no access_token")));
        };
        let expires_at = answer
            .expiration
            .and_then(|s| DateTime::from_timestamp(s, 0))
            .or_else(|| {
                let lifetime = answer.expires_in.and_then(TimeDelta::try_seconds)?;
                Utc::now().checked_add_signed(lifetime)
            })
            // IAM tokens live one hour.
            .unwrap_or_else(|| Utc::now() + TimeDelta::hours(1));
        tracing::debug!(%expires_at, "IBM Cloud IAM issued an access token");
        Ok(AccessToken::new(token, expires_at))
    }

    fn name(&self) -> &'static str {
        "ibm iam"
    }
}

/// The IBM COS endpoint of `region` (`us-south`, `eu-de`...): public, or the private
/// network's when `private`.
pub fn ibm_cos_endpoint(region: &str, private: bool) -> String {
    let network = if private { "s3.private" } else { "s3" };
    format!("https://{network}.{region}.cloud-object-storage.appdomain.cloud")
}

/// Builds [`S3Driver`]s for IBM Cloud Object Storage: name `ibm_cos`, URL scheme `cos`.
/// Options are those of [`S3Config::from_config`] plus `api_key` (alias of
/// `ibm_api_key`) and `private_endpoint`; when `endpoint` is not given it is the one of
/// `region` ([`ibm_cos_endpoint`]). The API key comes from the options, else
/// `IBM_COS_API_KEY` / `IBM_API_KEY`, unless HMAC keys (`access_key_id` +
/// `secret_access_key`) are given alone; the service instance id from
/// `service_instance_id`, else `IBM_COS_SERVICE_INSTANCE_ID` / `IBM_SERVICE_INSTANCE_ID`.
#[derive(Debug, Default, Clone, Copy)]
pub struct IbmCosFactory;

impl IbmCosFactory {
    /// The driver configuration `config` describes, with `get` standing for the
    /// environment.
    pub fn config(config: &DriverConfig, get: impl Fn(&str) -> Option<String>) -> Result<S3Config> {
        let get = |name: &str| non_empty(get(name));
        let first = |names: &[&str]| names.iter().find_map(|n| get(n));
        let mut config = config.clone();
        let has = |config: &DriverConfig, keys: &[&str]| keys.iter().any(|k| config.get(k).is_some());
        if !has(&config, &["api_key", "ibm_api_key", "access_key_id"]) {
            let key = first(&["IBM_COS_API_KEY", "IBM_API_KEY"]).ok_or_else(|| {
                Error::new(
                    ErrorKind::Unauthenticated,
                    "IBM COS needs an IAM API key (api_key, IBM_COS_API_KEY or IBM_API_KEY) or HMAC keys \
                     (access_key_id + secret_access_key)",
                )
            })?;
            config = config.set("ibm_api_key", key);
        }
        let iam = has(&config, &["api_key", "ibm_api_key"]);
        if iam
            && !has(&config, &["service_instance_id", "ibm_service_instance_id"])
            && let Some(id) = first(&["IBM_COS_SERVICE_INSTANCE_ID", "IBM_SERVICE_INSTANCE_ID"])
        {
            config = config.set("service_instance_id", id);
        }
        if iam
            && !has(&config, &["iam_endpoint", "ibm_iam_endpoint"])
            && let Some(url) = get("IBM_IAM_ENDPOINT")
        {
            config = config.set("iam_endpoint", url);
        }
        let mut c = S3Config::from_config(&config)?;
        if config.get("endpoint").is_none() {
            let region =
                config.get("region").map(str::to_owned).or_else(|| get("IBM_COS_REGION")).ok_or_else(|| {
                    Error::new(ErrorKind::Config, "IBM COS needs `endpoint` or `region` (us-south, eu-de...)")
                        .with_hint("set region = \"us-south\" (or endpoint = \"https://...\") in the ibm_cos section")
                })?;
            let private = config.flag("private_endpoint")?.unwrap_or(false);
            c = c.endpoint(ibm_cos_endpoint(&region, private)).region(region);
        }
        Ok(c)
    }
}

/// Options of the `ibm_cos` driver besides the S3 ones.
const IBM_OPTIONS: &[&str] = &["private_endpoint"];

impl DriverFactory for IbmCosFactory {
    fn name(&self) -> &str {
        "ibm_cos"
    }
    fn schemes(&self) -> &[&str] {
        &["cos"]
    }
    fn build(&self, config: &DriverConfig) -> Result<Arc<dyn Driver>> {
        Ok(Arc::new(S3Driver::new(Self::config(config, env_var)?)?))
    }
    fn known_options(&self) -> Option<&[&str]> {
        static ALL: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
        Some(ALL.get_or_init(|| crate::config::OPTIONS.iter().chain(IBM_OPTIONS).copied().collect()))
    }
}
