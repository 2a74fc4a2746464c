//! [`LocalDriver`] itself: the driver's name, what it claims ([`Capabilities`] and
//! [`Limits`]), the root, and the state its blocking tasks share ([`Shared`]: options,
//! per-key locks, the listing cache); its constructors and the checks that turn a
//! container name and key into paths.
//!
//! Separate from `driver.rs` (the thin `impl Driver`) so that the trait impl reads as a
//! table of delegations, and the operation files reach the shared state through one type.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use storage_core::kit::{ContainerNameRules, DriverConfig, Error, ErrorKind, Result, container_name, object_key};
use storage_core::{Capabilities, DriverInfo, Limits};

use crate::config::{self, LocalOptions};
use crate::paths::ObjectPath;
use crate::{list, locks};

/// The driver's name.
pub const NAME: &str = "local";

/// Stores containers as directories and objects as files under a root directory.
/// See the [crate documentation](crate) for the layout and the guarantees.
pub struct LocalDriver {
    pub(crate) info: DriverInfo,
    pub(crate) root: PathBuf,
    pub(crate) shared: Arc<Shared>,
}

/// What the driver's blocking tasks share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) options: LocalOptions,
    pub(crate) locks: locks::KeyLocks,
    /// Cleared when a filesystem answered that it has no user extended attributes.
    pub(crate) xattrs_work: AtomicBool,
    /// Listing walks kept between pages.
    pub(crate) list_cache: list::WalkCache,
    /// The limit on short blocking tasks at once (`LocalOptions::io_concurrency`).
    pub(crate) gate: crate::io::Gate,
}

impl Shared {
    /// Whether to try extended attributes for metadata.
    pub(crate) fn use_xattrs(&self) -> bool {
        self.options.xattrs && self.xattrs_work.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for LocalDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalDriver").field("root", &self.root).finish()
    }
}

/// What the local driver claims, starting from none.
fn capabilities(options: &LocalOptions) -> Capabilities {
    // Not claimed: signed_urls and versions (no server), batch_delete (one unlink per
    // key), key_and_prefix (a file and a directory cannot share a name: "a" and "a/b"
    // cannot coexist), parallel_upload (parts on one disk only add copies).
    let mut capabilities = Capabilities::NONE;
    capabilities.list_containers = true;
    capabilities.manage_containers = true;
    capabilities.any_delimiter = true;
    capabilities.start_after = true;
    capabilities.ranges = true;
    capabilities.suffix_ranges = true;
    // One whole read, checked against the kept CRC32C, beats ranges on one disk.
    capabilities.sequential_download = true;
    capabilities.conditional_get_etag = true;
    capabilities.conditional_get_time = true;
    capabilities.put_if_absent = true;
    capabilities.put_if_match = true;
    capabilities.put_content_md5 = true;
    capabilities.copy = true;
    capabilities.copy_if_absent = true;
    capabilities.multipart = true;
    capabilities.list_multipart = true;
    // CDN calls answer file:// URLs.
    capabilities.cdn = true;
    capabilities.object_cdn_url = true;
    capabilities.user_metadata = true;
    capabilities.content_headers = true;
    // MD5s only with the `md5` option; every write keeps (and reports) a CRC32C.
    capabilities.md5_hash = options.md5;
    capabilities.upload_checksums = true;
    capabilities.refuses_nonempty_delete = true;
    capabilities.verbatim_keys = true;
    capabilities.container_checked = true;
    capabilities.atomic_conditional_put = true;
    capabilities.atomic_overwrite = true;
    capabilities.multipart_md5 = options.md5;
    capabilities.stable_etag = true;
    capabilities.atomic_multipart = true;
    capabilities
}

impl LocalDriver {
    /// A driver over `root`, which is created (with its parents) if missing. The path is
    /// made absolute and its symlinks resolved. Fails with `Config` if `root` exists but
    /// is not a directory, with `Io` or `PermissionDenied` if it cannot be created.
    ///
    /// This constructor does blocking filesystem calls (once).
    pub fn new(root: impl AsRef<Path>) -> Result<Self> {
        Self::with_options(root, LocalOptions::default())
    }

    /// A driver over `root` with `options`; otherwise like [`LocalDriver::new`].
    pub fn with_options(root: impl AsRef<Path>, options: LocalOptions) -> Result<Self> {
        let root = root.as_ref();
        if root.as_os_str().is_empty() {
            return Err(
                Error::new(ErrorKind::Config, "the local driver's root directory must not be empty").with_driver(NAME)
            );
        }
        match std::fs::metadata(root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("the local driver's root {} exists but is not a directory", root.display()),
                )
                .with_driver(NAME));
            }
            Err(_) => std::fs::create_dir_all(root).map_err(|e| {
                crate::errors::io(format!("creating the local driver's root directory {}", root.display()), e)
                    .with_driver(NAME)
            })?,
        }
        let root = std::fs::canonicalize(root).map_err(|e| {
            crate::errors::io(format!("resolving the local driver's root directory {}", root.display()), e)
                .with_driver(NAME)
        })?;
        // Parts would only add copies on one disk: the transfer engine streams objects
        // of any size in one request here.
        let limits = Limits { min_part_size: 1, max_single_put: u64::MAX, ..Limits::default() };
        Ok(LocalDriver {
            info: DriverInfo {
                name: NAME.to_owned(),
                capabilities: capabilities(&options),
                limits,
                container_rules: ContainerNameRules::Filesystem,
            },
            root,
            shared: Arc::new(Shared {
                options,
                locks: locks::KeyLocks::default(),
                xattrs_work: AtomicBool::new(true),
                list_cache: list::WalkCache::default(),
                gate: crate::io::Gate::new(options.io_concurrency),
            }),
        })
    }

    /// A driver from a string map: `root` (required) and the [`LocalOptions`] fields
    /// (`fsync`, `xattrs`, `fast_paths`), as [`crate::LocalFactory`] reads them.
    pub fn from_config(config: &DriverConfig) -> Result<Self> {
        let root = config::root(config)?;
        Self::with_options(root, LocalOptions::from_config(config)?)
    }

    /// A driver from the environment: `STORAGE_LOCAL_ROOT` (required), and
    /// `STORAGE_LOCAL_FSYNC`, `STORAGE_LOCAL_XATTRS`, `STORAGE_LOCAL_FAST_PATHS`
    /// (`true`/`false`), the variables the facade's configuration reads for the `local`
    /// section. The root is used as given (relative to the working directory; `~` is not
    /// expanded).
    pub fn from_env() -> Result<Self> {
        Self::from_config(&config::env_config(|k| std::env::var(k).ok()))
    }

    /// The options the driver was built with.
    pub fn options(&self) -> LocalOptions {
        self.shared.options
    }

    /// The root directory (absolute, symlinks resolved).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of the file holding `key` in `container` (whether or not it exists),
    /// after validating both names.
    pub fn object_path(&self, container: &str, key: &str) -> Result<PathBuf> {
        Ok(self.locate(container, key)?.data())
    }

    /// The directory of `container` after validating its name.
    pub(crate) fn container_dir(&self, container: &str) -> Result<PathBuf> {
        container_name(container, self.info.container_rules).map_err(|e| e.with_driver(NAME))?;
        Ok(self.root.join(container))
    }

    /// Validates `container` and `key` and encodes the key into a path.
    pub(crate) fn locate(&self, container: &str, key: &str) -> Result<ObjectPath> {
        let dir = self.container_dir(container)?;
        object_key(key, self.info.limits.max_key_length).map_err(|e| e.or_context(NAME, Some(container), Some(key)))?;
        ObjectPath::new(dir, key).map_err(|e| e.or_context(NAME, Some(container), Some(key)))
    }
}
