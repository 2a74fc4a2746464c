//! Shared bits of the benchmark binaries: argument parsing, resource usage, defaults, the
//! floor of the large transfers and the peers' configurations (S3, Azure and GCS).

use std::collections::HashMap;

/// Access key the bench server accepts unless told otherwise.
pub const DEFAULT_ACCESS_KEY: &str = "AKIDBENCH";
/// Secret key the bench server accepts unless told otherwise.
pub const DEFAULT_SECRET_KEY: &str = "bench-secret-key";

/// `--name value` options and `--flag` switches.
#[derive(Debug, Default)]
pub struct Args {
    values: HashMap<String, String>,
    flags: Vec<String>,
}

/// Options that take no value.
const FLAGS: &[&str] = &["no-auth", "no-warmup", "help", "engine-defaults", "no-verify", "no-checksum"];

impl Args {
    /// Parses `--name value` pairs and the known flags.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut out = Args::default();
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            let name = a.strip_prefix("--").ok_or_else(|| format!("unexpected argument {a:?}"))?;
            if let Some((k, v)) = name.split_once('=') {
                out.values.insert(k.to_owned(), v.to_owned());
            } else if FLAGS.contains(&name) {
                out.flags.push(name.to_owned());
            } else {
                let v = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
                out.values.insert(name.to_owned(), v);
            }
        }
        Ok(out)
    }

    /// The value of `--name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Whether `--name` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    /// `--name` parsed, or `default` when absent.
    pub fn parse_or<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("--{name} {v:?} is not valid")),
        }
    }
}

/// CPU time and peak memory of this process, from `getrusage(RUSAGE_SELF)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// User CPU seconds.
    pub user_s: f64,
    /// System CPU seconds.
    pub sys_s: f64,
    /// Peak resident set size in KiB.
    pub max_rss_kb: i64,
}

impl Usage {
    /// The process's usage so far.
    pub fn now() -> Usage {
        // SAFETY: getrusage writes into the zeroed struct we hand it and nothing else.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: RUSAGE_SELF with a valid pointer; it cannot fail on Linux.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
        if rc != 0 {
            return Usage::default();
        }
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Usage { user_s: secs(ru.ru_utime), sys_s: secs(ru.ru_stime), max_rss_kb: ru.ru_maxrss }
    }
}

/// The floor of the large transfers: hyper-util's client doing one PUT or one GET of a
/// whole object, the body streamed from or to a file. S3: signed with
/// `storage_s3::sigv4::sign_headers` and `UNSIGNED-PAYLOAD` (no hashing, no checksum),
/// path-style URLs. Azure: one Put Blob / Get Blob signed with SharedKey
/// ([`AzureKey::sign`]), no Content-MD5. GCS (fake-gcs-server): one unauthenticated JSON
/// API media upload (`uploadType=media`) / `alt=media` download, no checksum.
pub struct LargeFloor {
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error>,
    >,
    scheme_host: String,
    host: http::HeaderValue,
    /// `/{bucket}` (S3), `/{account}/{container}` (Azurite) or the bucket's name (GCS).
    prefix: String,
    auth: FloorAuth,
}

/// How the floor clients sign (and, for GCS, which URLs they use).
enum FloorAuth {
    S3 {
        access_key: String,
        secret_key: String,
        cache: Box<storage_s3::sigv4::KeyCache>,
    },
    Azure(AzureKey),
    /// No authorization; JSON API URLs (`/upload/storage/v1/b/..`, `/storage/v1/b/..`).
    Gcs,
}

type FloorError = Box<dyn std::error::Error + Send + Sync>;

/// `http://host:port[/path]` split into `http://host:port`, `host:port` and `/path`.
pub fn split_endpoint(endpoint: &str) -> Result<(String, String, String), FloorError> {
    let rest = endpoint.strip_prefix("http://").ok_or("the hyper floor client speaks plain http:// only")?;
    let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
    let path = path.trim_matches('/');
    let path = if path.is_empty() { String::new() } else { format!("/{path}") };
    Ok((format!("http://{host}"), host.to_owned(), path))
}

impl LargeFloor {
    fn with_auth(endpoint: &str, prefix: &str, auth: FloorAuth) -> Result<Self, FloorError> {
        let (scheme_host, host, path) = split_endpoint(endpoint)?;
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
        Ok(LargeFloor {
            client,
            scheme_host,
            host: http::HeaderValue::from_str(&host)?,
            prefix: format!("{path}/{prefix}"),
            auth,
        })
    }

    /// An S3 client for `endpoint` (plain `http://` only).
    pub fn new(endpoint: &str, bucket: &str, access_key: &str, secret_key: &str) -> Result<Self, FloorError> {
        let auth = FloorAuth::S3 {
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            cache: Box::default(),
        };
        LargeFloor::with_auth(endpoint, bucket, auth)
    }

    /// An Azure Blob client for `endpoint` (`http://host:port/account`, Azurite's form),
    /// signing with the account key (base64).
    pub fn azure(endpoint: &str, container: &str, account: &str, key: &str) -> Result<Self, FloorError> {
        LargeFloor::with_auth(endpoint, container, FloorAuth::Azure(AzureKey::new(account, key)?))
    }

    /// A GCS JSON API client for `endpoint` (fake-gcs-server, `http://host:port`), without
    /// authorization.
    pub fn gcs(endpoint: &str, bucket: &str) -> Result<Self, FloorError> {
        let mut floor = LargeFloor::with_auth(endpoint, bucket, FloorAuth::Gcs)?;
        floor.prefix = bucket.to_owned();
        Ok(floor)
    }

    fn request(
        &self,
        method: http::Method,
        key: &str,
        len: Option<u64>,
        body: http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error>,
    ) -> Result<http::Request<http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error>>, FloorError> {
        use storage_s3::sigv4::{SigningInput, UNSIGNED_PAYLOAD, sign_headers, uri_encode_into};
        let mut path = format!("{}/", self.prefix);
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::HOST, self.host.clone());
        if let Some(n) = len {
            headers.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(n));
        }
        let mut method = method;
        match &self.auth {
            FloorAuth::S3 { access_key, secret_key, cache } => {
                uri_encode_into(&mut path, key, true);
                let input = SigningInput {
                    access_key_id: access_key,
                    secret: secret_key,
                    session_token: None,
                    region: "us-east-1",
                    service: "s3",
                    time: chrono::Utc::now(),
                };
                sign_headers(&input, cache, method.as_str(), &path, "", &mut headers, UNSIGNED_PAYLOAD)?;
            }
            FloorAuth::Azure(az) => {
                path.push_str(&storage_azure::signing::encode_path(key));
                if method == http::Method::PUT {
                    headers.insert("x-ms-blob-type", http::HeaderValue::from_static("BlockBlob"));
                }
                az.sign(&method, &path, "", &mut headers)?;
            }
            FloorAuth::Gcs => {
                // A media upload is a POST naming the object in the query; a download is the
                // object's resource with `alt=media`.
                path.clear();
                if method == http::Method::PUT {
                    method = http::Method::POST;
                    path.push_str("/upload/storage/v1/b/");
                    path.push_str(&self.prefix);
                    path.push_str("/o?uploadType=media&name=");
                    uri_encode_into(&mut path, key, false);
                    headers
                        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/octet-stream"));
                } else {
                    path.push_str("/storage/v1/b/");
                    path.push_str(&self.prefix);
                    path.push_str("/o/");
                    uri_encode_into(&mut path, key, false);
                    path.push_str("?alt=media");
                }
            }
        }
        let mut req = http::Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = format!("{}{path}", self.scheme_host).parse()?;
        *req.headers_mut() = headers;
        Ok(req)
    }

    /// One PUT of `len` bytes from `chunks`.
    pub async fn put(
        &self,
        key: &str,
        len: u64,
        chunks: impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send + Sync + 'static,
    ) -> Result<(), FloorError> {
        use futures::TryStreamExt;
        use http_body_util::BodyExt;
        let body = http_body_util::StreamBody::new(chunks.map_ok(hyper::body::Frame::data)).boxed();
        let resp = self.client.request(self.request(http::Method::PUT, key, Some(len), body)?).await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            return Err(format!("PUT: HTTP {status}: {}", String::from_utf8_lossy(&bytes)).into());
        }
        Ok(())
    }

    /// One GET, its body written to `dest` as it arrives; returns the bytes written.
    pub async fn get(&self, key: &str, dest: &std::path::Path) -> Result<u64, FloorError> {
        use http_body_util::BodyExt;
        use std::io::Write;
        let empty = http_body_util::Empty::new().map_err(|never| match never {}).boxed();
        let resp = self.client.request(self.request(http::Method::GET, key, None, empty)?).await?;
        let status = resp.status();
        let mut body = resp.into_body();
        if !status.is_success() {
            let bytes = body.collect().await?.to_bytes();
            return Err(format!("GET: HTTP {status}: {}", String::from_utf8_lossy(&bytes)).into());
        }
        let mut out = std::fs::File::create(dest)?;
        let mut n = 0u64;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                out.write_all(&data)?;
                n += data.len() as u64;
            }
        }
        Ok(n)
    }
}

/// The object_store peer as every bench binary configures it: `AmazonS3Builder` defaults
/// against the bench server (path style, plain HTTP, us-east-1).
pub fn object_store_s3(
    endpoint: &str,
    bucket: &str,
    access_key: &str,
    secret_key: &str,
) -> object_store::Result<object_store::aws::AmazonS3> {
    object_store::aws::AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .with_region("us-east-1")
        .with_bucket_name(bucket)
        .with_access_key_id(access_key)
        .with_secret_access_key(secret_key)
        .build()
}

/// The OpenDAL peer as every bench binary configures it: `services::S3` defaults against
/// the bench server, no config files or instance metadata.
pub fn opendal_s3(
    endpoint: &str,
    bucket: &str,
    access_key: &str,
    secret_key: &str,
) -> opendal::Result<opendal::Operator> {
    // Installs the reqwest transport (the `auto-register-services` ctor is off).
    opendal::install_default();
    let builder = opendal::services::S3::default()
        .root("/")
        .bucket(bucket)
        .endpoint(endpoint)
        .region("us-east-1")
        .access_key_id(access_key)
        .secret_access_key(secret_key)
        .disable_config_load()
        .disable_ec2_metadata();
    opendal::Operator::new(builder)
}

/// Azurite's account unless told otherwise.
pub const DEFAULT_AZURE_ACCOUNT: &str = storage_azure::EMULATOR_ACCOUNT;
/// Azurite's well-known account key unless told otherwise.
pub const DEFAULT_AZURE_KEY: &str = storage_azure::EMULATOR_KEY;

/// An Azure account and its key, for the floor clients' SharedKey signatures.
pub struct AzureKey {
    account: String,
    key: Vec<u8>,
}

impl AzureKey {
    /// `key` is the account key in base64, as the portal shows it.
    pub fn new(account: &str, key: &str) -> Result<Self, FloorError> {
        use base64::Engine as _;
        let key = base64::engine::general_purpose::STANDARD.decode(key)?;
        Ok(AzureKey { account: account.to_owned(), key })
    }

    /// Adds `x-ms-date`, `x-ms-version` and a SharedKey `Authorization` (our
    /// `storage_azure::signing`) to `headers`; `path` is the URL path as sent, `query`
    /// the raw query string. Content-Length, when there is a body, must already be set.
    pub fn sign(
        &self,
        method: &http::Method,
        path: &str,
        query: &str,
        headers: &mut http::HeaderMap,
    ) -> Result<(), FloorError> {
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        headers.insert("x-ms-date", http::HeaderValue::from_str(&date)?);
        headers.insert("x-ms-version", http::HeaderValue::from_static(storage_azure::signing::API_VERSION));
        let auth = storage_azure::signing::shared_key_authorization(
            &self.account,
            &self.key,
            method.as_str(),
            path,
            query,
            headers,
        );
        headers.insert(http::header::AUTHORIZATION, http::HeaderValue::from_str(&auth)?);
        Ok(())
    }
}

/// Our Azure driver as every bench binary configures it: `AzureConfig` defaults with the
/// endpoint (`http://127.0.0.1:PORT/devstoreaccount1`) and the account key.
pub fn ours_azure(endpoint: &str, account: &str, key: &str) -> storage_core::Result<storage_azure::AzureDriver> {
    storage_azure::AzureDriver::new(storage_azure::AzureConfig::new(account).endpoint(endpoint).account_key(key)?)
}

/// The object_store peer on Azure as every bench binary configures it:
/// `MicrosoftAzureBuilder` defaults with the endpoint, the account and its key, plain HTTP.
pub fn object_store_azure(
    endpoint: &str,
    container: &str,
    account: &str,
    key: &str,
) -> object_store::Result<object_store::azure::MicrosoftAzure> {
    object_store::azure::MicrosoftAzureBuilder::new()
        .with_endpoint(endpoint.to_owned())
        .with_allow_http(true)
        .with_account(account)
        .with_access_key(key)
        .with_container_name(container)
        .build()
}

/// The OpenDAL peer on Azure as every bench binary configures it: `services::Azblob`
/// defaults with the endpoint, the account and its key.
pub fn opendal_azblob(endpoint: &str, container: &str, account: &str, key: &str) -> opendal::Result<opendal::Operator> {
    // Installs the reqwest transport (the `auto-register-services` ctor is off).
    opendal::install_default();
    let builder = opendal::services::Azblob::default()
        .root("/")
        .container(container)
        .endpoint(endpoint)
        .account_name(account)
        .account_key(key);
    opendal::Operator::new(builder)
}

/// Our GCS driver as every bench binary configures it: `GcsConfig::emulator(endpoint)`
/// (fake-gcs-server, no authorization), defaults otherwise.
pub fn ours_gcs(endpoint: &str) -> storage_core::Result<storage_gcs::GcsDriver> {
    storage_gcs::GcsDriver::new(storage_gcs::GcsConfig::emulator(endpoint))
}

/// The object_store peer on GCS as every bench binary configures it:
/// `GoogleCloudStorageBuilder` with the base URL (fake-gcs-server), the bucket, and no
/// signature. Its object requests use the XML API (`{base}/{bucket}/{object}`); reads pass
/// `skip_signature`, but writes ask the credential provider for a bearer token whatever
/// it says, so an empty static one stands in for the GCE metadata server it would
/// otherwise call.
pub fn object_store_gcs(endpoint: &str, bucket: &str) -> object_store::Result<object_store::gcp::GoogleCloudStorage> {
    let anonymous =
        object_store::StaticCredentialProvider::new(object_store::gcp::GcpCredential { bearer: String::new() });
    object_store::gcp::GoogleCloudStorageBuilder::new()
        .with_base_url(endpoint)
        .with_bucket_name(bucket)
        .with_skip_signature(true)
        .with_credentials(std::sync::Arc::new(anonymous))
        .build()
}

/// The OpenDAL peer on GCS as every bench binary configures it: `services::Gcs` with the
/// endpoint (fake-gcs-server) and the bucket, unsigned, no config files or VM metadata.
pub fn opendal_gcs(endpoint: &str, bucket: &str) -> opendal::Result<opendal::Operator> {
    // Installs the reqwest transport (the `auto-register-services` ctor is off).
    opendal::install_default();
    let builder = opendal::services::Gcs::default()
        .root("/")
        .bucket(bucket)
        .endpoint(endpoint)
        .skip_signature()
        .disable_vm_metadata()
        .disable_config_load();
    opendal::Operator::new(builder)
}

/// The `main` of a bench binary: parses the arguments, runs `run` on a current-thread
/// runtime, and maps the outcome to an exit code (2 for bad arguments, 1 for failures),
/// printing errors prefixed with `name`.
pub fn run_main<F, Fut, E>(name: &str, run: F) -> std::process::ExitCode
where
    F: FnOnce(Args) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    use std::process::ExitCode;
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
