//! Configuration of the S3 driver: builder, environment, string map.

use std::sync::Arc;

use storage_core::{DriverConfig, Error, ErrorKind, Result};
use storage_http::HttpConfig;

use crate::credentials::{Credentials, CredentialsProvider, StaticProvider};
use crate::ibm::IbmIam;

/// How buckets appear in URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Addressing {
    /// Path style for IP-address and `localhost` endpoints, virtual-hosted otherwise
    /// (path style also for bucket names with dots over HTTPS, which break certificates).
    #[default]
    Auto,
    /// `https://endpoint/bucket/key`.
    Path,
    /// `https://bucket.endpoint/key`.
    VirtualHosted,
}

/// How writes and reads are checked end to end (the string option `checksum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Checksum {
    /// CRC32C, computed at hardware speed (`crc32c`, the default): `x-amz-checksum-crc32c`
    /// with every PutObject of bytes and every UploadPart (S3 refuses a mismatch with
    /// `BadDigest`); multipart uploads created with `x-amz-checksum-algorithm: CRC32C` and
    /// `x-amz-checksum-type: FULL_OBJECT`, each part's checksum and the whole object's
    /// (combined from the parts') sent with CompleteMultipartUpload, and the server's
    /// whole-object checksum compared with it; reads ask for checksums
    /// (`x-amz-checksum-mode: ENABLED`), a whole-object GET's body is checked against the
    /// stored CRC32C (`ObjectHashMismatch` at its end when it differs), and an object whose
    /// ETag is no MD5 (multipart, SSE-KMS, SSE-C) reports the CRC32C as its hash. A server
    /// that does not acknowledge the algorithm at CreateMultipartUpload (s3s-fs, rclone)
    /// gets that upload's parts checked with MD5 instead (`Content-MD5`, part ETags, the
    /// multipart ETag). The driver then claims `upload_checksums`, and the transfer engine
    /// hashes nothing itself.
    #[default]
    Crc32c,
    /// MD5 only (`md5`): `Content-MD5` with every PutObject of bytes and every part, part
    /// ETags and the multipart ETag checked; reads check nothing themselves (the transfer
    /// engine checks MD5 ETags).
    Md5,
    /// No checksum sent or asked for (`none`): for servers that refuse checksum headers.
    /// A caller's `content_md5` is still sent and checked.
    None,
}

/// Whether the body is covered by the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PayloadSigning {
    /// `UNSIGNED-PAYLOAD` over HTTPS (TLS protects the body), SHA-256 over plain HTTP.
    #[default]
    Auto,
    /// Always hash the body into the signature.
    Signed,
    /// Never (`UNSIGNED-PAYLOAD`).
    Unsigned,
}

/// Settings of an [`crate::S3Driver`].
#[derive(Clone)]
pub struct S3Config {
    /// Endpoint URL (`https://s3.us-east-1.amazonaws.com` when `None`).
    pub endpoint: Option<String>,
    /// Signing region.
    pub region: String,
    /// Addressing style.
    pub addressing: Addressing,
    /// Where credentials come from; `None` means AWS's default chain.
    pub credentials: Option<Arc<dyn CredentialsProvider>>,
    /// Send requests unsigned (public buckets).
    pub anonymous: bool,
    /// End-to-end checksums of writes and reads ([`Checksum`]).
    pub checksum: Checksum,
    /// Payload signing.
    pub payload_signing: PayloadSigning,
    /// HTTP settings (`allow_http` is set automatically for an explicit `http://` endpoint).
    pub http: HttpConfig,
    /// IBM Cloud Object Storage: requests carry an IAM bearer token obtained with this
    /// API key instead of a SigV4 signature (see [`crate::ibm`]). `credentials`, if set,
    /// then only sign presigned URLs (IBM's HMAC keys).
    pub ibm_iam: Option<IbmIam>,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint.as_deref().map(storage_core::kit::redact_url))
            .field("region", &self.region)
            .field("addressing", &self.addressing)
            .field("credentials", &self.credentials)
            .field("anonymous", &self.anonymous)
            .field("checksum", &self.checksum)
            .field("payload_signing", &self.payload_signing)
            .field("ibm_iam", &self.ibm_iam)
            .finish_non_exhaustive()
    }
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: None,
            region: "us-east-1".to_owned(),
            addressing: Addressing::Auto,
            credentials: None,
            anonymous: false,
            checksum: Checksum::Crc32c,
            payload_signing: PayloadSigning::Auto,
            http: HttpConfig::default(),
            ibm_iam: None,
        }
    }
}

impl S3Config {
    /// Defaults (AWS, us-east-1, default credentials chain).
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the endpoint; an `http://` endpoint also allows plain HTTP.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        let e: String = endpoint.into();
        if e.starts_with("http://") {
            self.http.allow_http = true;
        }
        self.endpoint = Some(e.trim_end_matches('/').to_owned());
        self
    }
    /// Sets the region.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }
    /// Sets static credentials.
    pub fn static_credentials(mut self, access_key_id: impl Into<String>, secret: impl Into<String>) -> Self {
        let creds = Credentials::new(access_key_id.into(), secret.into(), None);
        self.credentials = Some(Arc::new(StaticProvider::from_credentials(creds)));
        self
    }
    /// Sets a credentials provider.
    pub fn credentials(mut self, provider: Arc<dyn CredentialsProvider>) -> Self {
        self.credentials = Some(provider);
        self
    }
    /// Sets the addressing style.
    pub fn addressing(mut self, addressing: Addressing) -> Self {
        self.addressing = addressing;
        self
    }
    /// Sends requests unsigned.
    pub fn anonymous(mut self, anonymous: bool) -> Self {
        self.anonymous = anonymous;
        self
    }
    /// Sets how writes and reads are checked end to end ([`Checksum`]).
    pub fn checksum(mut self, checksum: Checksum) -> Self {
        self.checksum = checksum;
        self
    }
    /// Sets payload signing.
    pub fn payload_signing(mut self, p: PayloadSigning) -> Self {
        self.payload_signing = p;
        self
    }
    /// Authenticates with IBM Cloud IAM (bearer tokens) instead of SigV4.
    pub fn ibm_iam(mut self, iam: IbmIam) -> Self {
        self.ibm_iam = Some(iam);
        self
    }
    /// Allows plain HTTP.
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.http.allow_http = allow;
        self
    }

    /// From the environment, as AWS tools read it: `AWS_ENDPOINT_URL_S3` /
    /// `AWS_ENDPOINT_URL`, `AWS_REGION` / `AWS_DEFAULT_REGION` (else the profile's region),
    /// `AWS_CA_BUNDLE` (a PEM file of CAs trusted instead of the bundled roots), and the
    /// default credentials chain; the HTTP settings `STORAGE_HTTP_<NAME>`
    /// ([`storage_http::HttpConfig::apply_env`]).
    pub fn from_env() -> Result<Self> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// [`S3Config::from_env`] reading variables through `get`.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut c = S3Config::new();
        if let Some(e) = get("AWS_ENDPOINT_URL_S3").or_else(|| get("AWS_ENDPOINT_URL")).filter(|e| !e.is_empty()) {
            c = c.endpoint(e);
        }
        if let Some(r) = get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")).filter(|r| !r.is_empty()) {
            c.region = r;
        } else if let Some(r) = crate::credentials::ProfileProvider::from_env().configured_region() {
            c.region = r;
        }
        if let Some(b) = get("AWS_CA_BUNDLE").filter(|b| !b.is_empty()) {
            c.http.ca_bundle = Some(b.into());
        }
        c.http.apply_vars(&get)?;
        Ok(c)
    }

    /// From a string map (config file section or URL options): `endpoint`, `region`,
    /// `addressing` (auto|path|virtual), `access_key_id` + `secret_access_key`
    /// (+ `session_token`), `anonymous`, `allow_http`, `checksum` (crc32c|md5|none),
    /// `payload_signing` (auto|signed|unsigned), `ca_bundle` (a PEM file); for IBM COS,
    /// `ibm_api_key` (or `api_key`), `service_instance_id` and `iam_endpoint` (see
    /// [`IbmIam`]); the HTTP settings of [`storage_http::HTTP_OPTIONS`] (timeouts, pool,
    /// retries, proxy, user agent). Unset values come from the environment.
    pub fn from_config(config: &DriverConfig) -> Result<Self> {
        let mut c = Self::from_env()?;
        if let Some(e) = config.get("endpoint") {
            c = c.endpoint(e);
        }
        if let Some(r) = config.get("region") {
            c.region = r.to_owned();
        }
        if let Some(a) = config.get("addressing") {
            c.addressing = match a.to_ascii_lowercase().as_str() {
                "auto" => Addressing::Auto,
                "path" => Addressing::Path,
                "virtual" | "virtual-hosted" | "virtual_hosted" => Addressing::VirtualHosted,
                other => return Err(bad("addressing", other, "auto, path or virtual")),
            };
        }
        match (config.get("access_key_id"), config.get("secret_access_key")) {
            (Some(id), Some(secret)) => {
                let creds =
                    Credentials::new(id.to_owned(), secret.to_owned(), config.get("session_token").map(str::to_owned));
                c.credentials = Some(Arc::new(StaticProvider::from_credentials(creds)));
            }
            (None, None) => {}
            _ => {
                return Err(Error::new(
                    ErrorKind::Config,
                    "access_key_id and secret_access_key must be given together",
                ));
            }
        }
        let pick = |keys: &[&str]| keys.iter().find_map(|k| config.get(k)).map(str::to_owned);
        match pick(&["ibm_api_key", "api_key"]) {
            Some(key) => {
                let mut iam = IbmIam::new(key);
                iam.service_instance_id = pick(&["service_instance_id", "ibm_service_instance_id"]);
                if let Some(url) = pick(&["iam_endpoint", "ibm_iam_endpoint"]) {
                    iam = iam.iam_endpoint(url);
                }
                c.ibm_iam = Some(iam);
            }
            None => {
                if let Some(k) = ["service_instance_id", "ibm_service_instance_id", "iam_endpoint", "ibm_iam_endpoint"]
                    .into_iter()
                    .find(|k| config.get(k).is_some())
                {
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!("the S3 option {k:?} is for IBM COS IAM authentication and needs ibm_api_key"),
                    ));
                }
            }
        }
        if let Some(a) = config.flag("anonymous")? {
            c.anonymous = a;
        }
        if let Some(a) = config.flag("allow_http")? {
            c.http.allow_http = a;
        }
        if let Some(b) = config.get("ca_bundle").filter(|b| !b.trim().is_empty()) {
            c.http.ca_bundle = Some(b.into());
        }
        if let Some(v) = config.get("checksum") {
            c.checksum = match v.to_ascii_lowercase().as_str() {
                "crc32c" => Checksum::Crc32c,
                "md5" => Checksum::Md5,
                "none" => Checksum::None,
                other => return Err(bad("checksum", other, "crc32c, md5 or none")),
            };
        }
        if let Some(v) = config.get("payload_signing") {
            c.payload_signing = match v.to_ascii_lowercase().as_str() {
                "auto" => PayloadSigning::Auto,
                "signed" => PayloadSigning::Signed,
                "unsigned" => PayloadSigning::Unsigned,
                other => return Err(bad("payload_signing", other, "auto, signed or unsigned")),
            };
        }
        c.http.apply_options(config)?;
        Ok(c)
    }
}

/// Every option [`S3Config::from_config`] reads (what [`crate::S3Factory`] accepts).
pub(crate) const OPTIONS: &[&str] = storage_http::with_http_options![
    "endpoint",
    "region",
    "addressing",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "anonymous",
    "allow_http",
    "ca_bundle",
    "checksum",
    "payload_signing",
    "ibm_api_key",
    "api_key",
    "service_instance_id",
    "ibm_service_instance_id",
    "iam_endpoint",
    "ibm_iam_endpoint",
];

fn bad(key: &str, value: &str, expected: &str) -> Error {
    Error::new(ErrorKind::Config, format!("the S3 option {key:?} is {value:?}; expected {expected}"))
}
