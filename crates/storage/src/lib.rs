//! One API for every object store: `storage-core`'s model plus the drivers enabled by
//! cargo features (`local` by default; `s3`, `redis`, `azure`, `gcs`, or `full` for all), opened by URL or
//! from a configuration file.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use storage::{Config, DriverExt, PutOptions, Storage, Target};
//!
//! let storage = Storage::new(Config::default());
//! let Target::Remote { driver, container, key, .. } = storage.open("memory://bucket/hello.txt")? else {
//!     unreachable!()
//! };
//! let (bucket, key) = (container.unwrap(), key.unwrap());
//! driver.create_container(&bucket).await?;
//! driver.put_object(&bucket, &key, "hi".into(), &PutOptions::default()).await?;
//! // The same URL opens the same in-memory store within one `Storage`.
//! let Target::Remote { driver: again, .. } = storage.open("memory://bucket")? else { unreachable!() };
//! assert_eq!(again.get_bytes(&bucket, &key).await?, "hi");
//! # Ok::<(), storage::Error>(())
//! # }).unwrap();
//! ```
//!
//! URLs: `s3://bucket/key`, `az://container/key` (or `azure://`; the account from the
//! `[azure]` section or `AZURE_STORAGE_ACCOUNT` / a connection string), `gs://bucket/key`
//! (or `gcs://`), `redis://container/key` (server from the `[redis]` section or
//! `REDIS_URL`), `memory://container/key`, `local://container/key` (root from the `[local]`
//! section, `STORAGE_LOCAL_ROOT`, else `~/.local/share/storage`), `NAME://container/key`
//! for a named remote of the configuration file, and a bare path (or `file:///path`) for a
//! local file. A third-party driver registers its factory with [`Storage::with_registry`]
//! and gets the same URLs and configuration selection.
//!
//! A URL names a container, never a server: `redis://localhost:6379/k` (a `host:port` or
//! `user@host` where the container goes) is a `Config` error; the server belongs in the
//! configuration (`url = ...`, `endpoint = ...`) or the environment (`REDIS_URL`).
//!
//! Configuration checks: an option the section's driver does not know (a typo such as
//! `endpiont`) is a `Config` error naming the closest known option, instead of being
//! ignored. A local `root` may start with `~` (`$HOME`); a relative `root` in the file is
//! relative to the file's directory, while one from `STORAGE_LOCAL_ROOT` (or
//! `STORAGE_<NAME>_ROOT`) is relative to the working directory.
//!
//! Layers ([`layers`]) wrap any driver and stack: a key prefix, limits on requests in
//! flight and on bandwidth, read-only access, tracing.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! use std::sync::Arc;
//!
//! use storage::layers::{ConcurrencyLimitLayer, PrefixLayer, ReadOnlyLayer};
//! use storage::{Driver, DriverExt, ErrorKind, MemoryDriver, PutOptions};
//!
//! let memory: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
//! let tenant = Arc::new(PrefixLayer::new(memory.clone(), "tenant-a/")?);
//! let limited = ConcurrencyLimitLayer::new(tenant.clone(), 8);
//! limited.create_container("c").await?;
//! limited.put_object("c", "k", "v".into(), &PutOptions::default()).await?;
//! assert_eq!(memory.list_keys("c", None).await?, ["tenant-a/k"]);
//! let reader = ReadOnlyLayer::new(tenant);
//! assert_eq!(reader.get_bytes("c", "k").await?, "v");
//! assert_eq!(reader.delete_object("c", "k").await.unwrap_err().kind(), ErrorKind::PermissionDenied);
//! # Ok::<(), storage::Error>(())
//! # }).unwrap();
//! ```

pub mod blocking;
pub mod config;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

pub use config::Config;
pub use storage_core::*;

/// The stream traits a listing or a download needs (`next`, `try_next`, `try_collect`...),
/// so users need no `futures` dependency of their own.
pub use futures::stream::{Stream, StreamExt, TryStreamExt};

/// The Azure Blob driver (`AzureConfig`, `AzureDriver`...), feature `azure`.
#[cfg(feature = "azure")]
pub use storage_azure as azure;
/// The Google Cloud Storage driver (`GcsConfig`, `GcsDriver`...), feature `gcs`.
#[cfg(feature = "gcs")]
pub use storage_gcs as gcs;
/// The HTTP client the cloud drivers share (`HttpClient`, `HttpConfig`), and uploads
/// from URLs (`upload_from_url`, `upload_from_url_into`), with any cloud feature.
#[cfg(any(feature = "s3", feature = "azure", feature = "gcs"))]
pub use storage_http as http;
/// The local filesystem driver (`LocalDriver`, `LocalOptions`...), feature `local`.
#[cfg(feature = "local")]
pub use storage_local as local;
/// The Redis driver (`RedisDriver`...), feature `redis`.
#[cfg(feature = "redis")]
pub use storage_redis as redis;
/// The S3 driver (`S3Config`, `S3Driver`...), feature `s3`.
#[cfg(feature = "s3")]
pub use storage_s3 as s3;

/// Every driver name the facade can know of (enabled or not), for configuration checks.
pub const KNOWN_DRIVERS: &[&str] = &["local", "memory", "s3", "ibm_cos", "redis", "azure", "gcs"];

/// A registry holding the drivers enabled in this build.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(MemoryFactory));
    #[cfg(feature = "local")]
    r.register(Arc::new(storage_local::LocalFactory));
    #[cfg(feature = "s3")]
    r.register(Arc::new(storage_s3::S3Factory));
    // IBM Cloud Object Storage: the S3 driver with IAM API keys (`cos://`).
    #[cfg(feature = "s3")]
    r.register(Arc::new(storage_s3::IbmCosFactory));
    #[cfg(feature = "redis")]
    r.register(Arc::new(storage_redis::RedisFactory));
    #[cfg(feature = "azure")]
    r.register(Arc::new(storage_azure::AzureFactory));
    #[cfg(feature = "gcs")]
    r.register(Arc::new(storage_gcs::GcsFactory));
    r
}

/// What a URL or path names.
#[derive(Debug, Clone)]
pub enum Target {
    /// A local file or directory (a bare path or `file:///...`).
    Path(PathBuf),
    /// A location in a storage backend.
    Remote {
        /// The driver.
        driver: Arc<dyn Driver>,
        /// The backend or remote name the URL used (`s3`, `prod`...).
        remote: String,
        /// The container, if the URL has one.
        container: Option<String>,
        /// The key or prefix, if the URL has one.
        key: Option<String>,
    },
}

/// Opens backends by name or URL from a configuration, building each driver once.
pub struct Storage {
    config: Config,
    registry: Registry,
    drivers: Mutex<HashMap<String, Arc<dyn Driver>>>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage").field("registry", &self.registry).field("source", &self.config.source).finish()
    }
}

impl Storage {
    /// With the built-in drivers enabled in this build.
    pub fn new(config: Config) -> Self {
        Self::with_registry(config, registry())
    }

    /// With a registry of your own (built-ins plus third-party factories).
    pub fn with_registry(config: Config, registry: Registry) -> Self {
        Storage { config, registry, drivers: Mutex::new(HashMap::new()) }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// URL schemes this storage answers to: the drivers' and the configuration's remotes.
    pub fn known_schemes(&self) -> Vec<String> {
        let mut v = self.registry.known_schemes();
        v.extend(self.config.sections.keys().cloned());
        v.sort();
        v.dedup();
        v
    }

    /// The driver for a backend name, URL scheme or named remote (built once, then shared).
    pub fn backend(&self, name: &str) -> Result<Arc<dyn Driver>> {
        let name = name.to_ascii_lowercase();
        if let Some(d) = self.drivers.lock().unwrap_or_else(PoisonError::into_inner).get(&name) {
            return Ok(d.clone());
        }
        let (driver_name, section) = if self.config.sections.contains_key(&name) {
            (self.config.driver_of(&name), name.clone())
        } else {
            let factory = self.registry.factory(&name).ok_or_else(|| {
                Error::new(
                    ErrorKind::Config,
                    format!("unknown backend or scheme {name:?}; known: {}", self.known_schemes().join(", ")),
                )
            })?;
            let driver = factory.name().to_owned();
            (driver.clone(), driver)
        };
        let known = self.registry.factory(&driver_name).and_then(|f| f.known_options());
        let context = |e: Error| {
            let file = self.config.source.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default();
            let msg = format!("{file}backend {section:?} (driver {driver_name}): {}", e.message());
            let mut out = Error::new(e.kind(), msg).with_hint(e.hint().to_owned());
            if let Some(d) = e.driver() {
                out = out.with_driver(d);
            }
            out
        };
        let mut options = self.config.options(&section, known)?;
        if driver_name == "local" && options.get("root").is_none() {
            options = options.set("root", default_local_root().to_string_lossy());
        }
        let driver = self.registry.build(&driver_name, &options).map_err(context)?;
        self.drivers.lock().unwrap_or_else(PoisonError::into_inner).insert(name, driver.clone());
        Ok(driver)
    }

    /// The default backend: the configuration's `default`, else `local`.
    pub fn default_backend(&self) -> Result<Arc<dyn Driver>> {
        self.backend(self.config.default.as_deref().unwrap_or("local"))
    }

    /// Resolves a URL or path.
    pub fn open(&self, url: &str) -> Result<Target> {
        if let Some(path) = url.strip_prefix("file://") {
            return Ok(Target::Path(PathBuf::from(path)));
        }
        if !url.contains("://") {
            return Ok(Target::Path(PathBuf::from(url)));
        }
        refuse_hadoop_azure_url(url)?;
        let parsed = StorageUrl::parse(url)?;
        let driver = self.backend(&parsed.scheme)?;
        Ok(Target::Remote { driver, remote: parsed.scheme, container: parsed.container, key: parsed.key })
    }
}

impl Storage {
    /// A Libcloud-style container handle for a URL naming a container
    /// (`s3://bucket`, `prod://bucket`), without a request: see [`BoundContainer`].
    pub fn container(&self, url: &str) -> Result<BoundContainer> {
        match self.open(url)? {
            Target::Remote { driver, container: Some(container), key: None, .. } => {
                Ok(BoundContainer::named(driver, container))
            }
            Target::Remote { key: Some(_), .. } => Err(url_error(url, "names an object, not a container")),
            _ => Err(url_error(url, "does not name a container")),
        }
    }

    /// A Libcloud-style object handle for a URL naming an object (`s3://bucket/key`),
    /// with its metadata (one HEAD request; `ObjectDoesNotExist` when it is absent):
    /// see [`BoundObject`].
    pub async fn object(&self, url: &str) -> Result<BoundObject> {
        match self.open(url)? {
            Target::Remote { driver, container: Some(container), key: Some(key), .. } => {
                BoundObject::get(driver, &container, &key).await
            }
            _ => Err(url_error(url, "does not name an object")),
        }
    }
}

/// Lithops' cloud objects through the configuration: references name their backend, so
/// any process with the same configuration reads them.
impl Storage {
    /// Writes and reads [`CloudObject`]s in `backend`'s `container` (Lithops'
    /// `Storage(backend=..).put_cloudobject(body, bucket)`); set a key prefix with
    /// [`CloudObjects::with_prefix`].
    pub fn cloudobjects(&self, backend: &str, container: &str) -> Result<CloudObjects> {
        Ok(CloudObjects::new(backend.to_ascii_lowercase(), self.backend(backend)?, container))
    }

    /// Lithops `get_cloudobject(reference)`: the data of a reference made anywhere with
    /// the same configuration.
    pub async fn get_cloudobject(&self, object: &CloudObject) -> Result<Bytes> {
        self.cloudobjects(&object.backend, &object.container)?.get(object).await
    }

    /// Lithops `delete_cloudobject(reference)`.
    pub async fn delete_cloudobject(&self, object: &CloudObject) -> Result<()> {
        self.cloudobjects(&object.backend, &object.container)?.delete(object).await
    }

    /// Lithops `delete_cloudobjects(references)`: batched per backend and container, an
    /// outcome per reference in order.
    pub async fn delete_cloudobjects(&self, objects: &[CloudObject]) -> Result<Vec<DeleteOutcome>> {
        let mut out = Vec::with_capacity(objects.len());
        for run in objects.chunk_by(|a, b| a.backend == b.backend && a.container == b.container) {
            out.extend(self.cloudobjects(&run[0].backend, &run[0].container)?.delete_many(run).await?);
        }
        Ok(out)
    }
}

impl Storage {
    /// Signed URLs for many object URLs at once (Inductiva's `get_signed_urls(paths,
    /// operation)`), in order; each URL may name another backend. A URL that names no
    /// object, or a backend that cannot sign, fails the call with a typed error.
    pub async fn signed_urls(&self, urls: &[&str], options: &SignedUrlOptions) -> Result<Vec<String>> {
        let located = urls.iter().map(|u| self.object_location(u)).collect::<Result<Vec<_>>>()?;
        let mut out = Vec::with_capacity(urls.len());
        // Consecutive URLs of the same backend and container are signed together.
        for run in located.chunk_by(|(d1, c1, _), (d2, c2, _)| Arc::ptr_eq(d1, d2) && c1 == c2) {
            let keys: Vec<String> = run.iter().map(|(_, _, k)| k.clone()).collect();
            out.extend(run[0].0.signed_urls(&run[0].1, &keys, options).await?);
        }
        Ok(out)
    }

    fn object_location(&self, url: &str) -> Result<(Arc<dyn Driver>, String, String)> {
        match self.open(url)? {
            Target::Remote { driver, container: Some(container), key: Some(key), .. } => Ok((driver, container, key)),
            _ => Err(url_error(url, "does not name an object")),
        }
    }
}

fn url_error(url: &str, what: &str) -> Error {
    Error::new(ErrorKind::Config, format!("{url:?} {what}")).with_hint("write NAME://container or NAME://container/key")
}

/// Hadoop's Azure URLs (`abfs[s]://container@account.dfs.core.windows.net/path`,
/// `wasb[s]://...`) name the account in the URL; here the account belongs to the
/// configuration, so they are refused with the equivalent `az://` URL.
fn refuse_hadoop_azure_url(url: &str) -> Result<()> {
    let Some((scheme, rest)) = url.split_once("://") else { return Ok(()) };
    if !["abfs", "abfss", "wasb", "wasbs"].contains(&scheme.to_ascii_lowercase().as_str()) {
        return Ok(());
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (container, host) = authority.split_once('@').unwrap_or(("CONTAINER", authority));
    let account = host.split('.').next().filter(|a| !a.is_empty()).unwrap_or("ACCOUNT");
    Err(Error::new(
        ErrorKind::Config,
        format!("{scheme}:// URLs (Hadoop's Azure form) are not opened directly: use az://{container}/{path}"),
    )
    .with_hint(format!(
        "and set the account: account = \"{account}\" in the [azure] section, or AZURE_STORAGE_ACCOUNT={account}"
    )))
}

/// `~/.local/share/storage` (or `./.storage` without a home directory).
pub fn default_local_root() -> PathBuf {
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".local").join("share").join("storage"),
        None => PathBuf::from(".storage"),
    }
}

/// One [`Storage`] per configuration for the whole process, so that [`open`] and
/// [`from_config`] build each driver once: two opens of `memory://b/x` see the same data,
/// and HTTP connection pools and credential caches are shared.
fn shared(config: Config) -> Arc<Storage> {
    static SHARED: std::sync::OnceLock<Mutex<Vec<Arc<Storage>>>> = std::sync::OnceLock::new();
    let mut all = SHARED.get_or_init(|| Mutex::new(Vec::new())).lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(s) = all.iter().find(|s| s.config == config) {
        return s.clone();
    }
    let s = Arc::new(Storage::new(config));
    all.push(s.clone());
    s
}

/// Opens `url` with the discovered configuration (see [`Config::discover`]). Every call
/// with the same configuration shares one [`Storage`], so each driver is built once per
/// process.
pub fn open(url: &str) -> Result<Target> {
    shared(Config::discover(None)?).open(url)
}

/// The driver for `backend` (a driver name or a named remote) of `config`, built once per
/// process and configuration (as [`open`]).
pub fn from_config(config: &Config, backend: &str) -> Result<Arc<dyn Driver>> {
    shared(config.clone()).backend(backend)
}

/// The repository README's examples, compiled and run as doctests of the facade: what a
/// user who depends on `storage` alone writes.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_and_from_config_share_one_store_per_configuration() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let Target::Remote { driver, .. } = open("memory://shared-b/x").unwrap() else { panic!("a remote") };
            driver.create_container("shared-b").await.unwrap();
            driver.put_object("shared-b", "x", "kept".into(), &PutOptions::default()).await.unwrap();
            let Target::Remote { driver: again, .. } = open("memory://shared-b/x").unwrap() else { panic!("a remote") };
            assert_eq!(again.get_bytes("shared-b", "x").await.unwrap(), "kept");
            let c = Config::parse("[m2]\ndriver = \"memory\"\n", None).unwrap();
            let a = from_config(&c, "m2").unwrap();
            let b = from_config(&c.clone(), "m2").unwrap();
            assert!(Arc::ptr_eq(&a, &b), "the same configuration builds the driver once");
            let other = Config::parse("[m2]\ndriver = \"memory\"\n[m3]\ndriver = \"memory\"\n", None).unwrap();
            assert!(!Arc::ptr_eq(&a, &from_config(&other, "m2").unwrap()), "another configuration, another store");
        });
    }

    #[test]
    fn urls_resolve_to_paths_and_remotes() {
        let s = Storage::new(Config::default());
        assert!(matches!(s.open("./some/file.txt").unwrap(), Target::Path(_)));
        assert!(matches!(s.open("file:///tmp/x").unwrap(), Target::Path(p) if p == std::path::Path::new("/tmp/x")));
        match s.open("memory://c/a/b").unwrap() {
            Target::Remote { container, key, remote, .. } => {
                assert_eq!((container.as_deref(), key.as_deref(), remote.as_str()), (Some("c"), Some("a/b"), "memory"));
            }
            Target::Path(_) => panic!("expected a remote"),
        }
        let e = s.open("nope://c/k").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.message().contains("memory"), "{e}");
    }

    #[cfg(feature = "s3")]
    #[test]
    fn cos_urls_open_the_ibm_cos_flavour_of_s3() {
        let c = Config::parse("default = \"ibm_cos\"\n[ibm_cos]\nregion = \"eu-de\"\napi_key = \"k-SECRET\"\n", None)
            .unwrap();
        let s = Storage::new(c);
        assert!(s.known_schemes().contains(&"cos".to_owned()));
        let Target::Remote { driver, container, key, .. } = s.open("cos://bucket/a/b").unwrap() else {
            panic!("a remote")
        };
        assert_eq!((container.as_deref(), key.as_deref()), (Some("bucket"), Some("a/b")));
        let shown = format!("{driver:?}");
        assert!(shown.contains("s3.eu-de.cloud-object-storage.appdomain.cloud"), "{shown}");
        assert!(!shown.contains("k-SECRET"), "{shown}");
    }

    #[test]
    fn hadoop_azure_urls_are_refused_with_the_az_equivalent() {
        let s = Storage::new(Config::default());
        let e = s.open("abfss://data@myacct.dfs.core.windows.net/runs/1/out.zip").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.message().contains("az://data/runs/1/out.zip"), "{e}");
        assert!(e.hint().contains("AZURE_STORAGE_ACCOUNT=myacct"), "{e:?}");
    }

    #[test]
    fn a_server_address_in_a_url_is_refused_not_taken_for_a_container() {
        let s = Storage::new(Config::default());
        for url in ["redis://localhost:6379/k", "memory://127.0.0.1:6379/k", "memory://user:hunter2@host/k"] {
            let e = s.open(url).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{url}");
            assert!(e.message().contains("server address") && e.message().contains("://CONTAINER/KEY"), "{e}");
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
        let e = s.open("redis://localhost:6379/k").unwrap_err();
        assert!(e.message().contains("REDIS_URL") && e.message().contains("url = "), "{e}");
    }

    #[cfg(feature = "local")]
    #[test]
    fn unknown_options_are_refused_naming_the_closest_one() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        let text = format!("[archive]\ndriver = \"local\"\nroot = \"{}\"\nfsnyc = false\n", root.display());
        let file = dir.path().join("storage.toml");
        let s = Storage::new(Config::parse(&text, Some(&file)).unwrap());
        let e = s.open("archive://c/k").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        let m = e.message();
        assert!(m.contains(&file.display().to_string()) && m.contains("\"archive\""), "{e}");
        assert!(m.contains("unknown option \"fsnyc\" for driver local; did you mean \"fsync\"?"), "{e}");
        assert!(!root.exists(), "nothing was created");
        // The memory driver takes no options at all.
        let s = Storage::new(Config::parse("[memory]\nroot = \"/x\"\n", None).unwrap());
        assert_eq!(s.open("memory://c/k").unwrap_err().kind(), ErrorKind::Config);
    }

    #[cfg(feature = "local")]
    #[test]
    fn a_relative_root_is_beside_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("conf").join("storage.toml");
        let s = Storage::new(Config::parse("[local]\nroot = \"data\"\n", Some(&file)).unwrap());
        let d = s.backend("local").unwrap();
        let local = d.as_any().downcast_ref::<storage_local::LocalDriver>().unwrap();
        let want = std::fs::canonicalize(dir.path()).unwrap().join("conf").join("data");
        assert_eq!(local.root(), want);
    }

    #[test]
    fn named_remotes_come_from_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("[archive]\ndriver = \"local\"\nroot = \"{}\"\n", dir.path().display());
        let s = Storage::new(Config::parse(&text, None).unwrap());
        match s.open("archive://c/k").unwrap() {
            Target::Remote { driver, .. } => assert_eq!(driver.info().name, "local"),
            Target::Path(_) => panic!("expected a remote"),
        }
        assert!(s.known_schemes().contains(&"archive".to_owned()));
    }
}
