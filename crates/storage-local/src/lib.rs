//! The local filesystem driver: a [`storage_core::Driver`] over a root directory.
//!
//! A container is a directory directly under the root; an object is a file; keys with
//! `/` become nested directories.
//!
//! ```
//! use storage_core::{Driver, DriverExt, ListOptions, PutOptions};
//! use storage_local::LocalDriver;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let root = tempfile::tempdir()?;
//! let store = LocalDriver::new(root.path())?;
//! store.create_container("photos").await?;
//! let opts = PutOptions::content_type("image/jpeg").with_metadata("Camera", "X100");
//! let obj = store.put_object("photos", "2024/cat 1.jpg", "meow".into(), &opts).await?;
//! assert_eq!(obj.md5(), Some("4a4be40c96ac6314e91d93f38043a634"));
//! assert_eq!(store.get_bytes("photos", "2024/cat 1.jpg").await?, "meow");
//! assert!(root.path().join("photos/2024/cat 1.jpg").is_file());
//!
//! let head = store.head_object("photos", "2024/cat 1.jpg").await?;
//! assert_eq!(head.metadata["camera"], "X100");
//! assert_eq!(store.list_keys("photos", Some("2024/")).await?, vec!["2024/cat 1.jpg"]);
//! let (objects, prefixes) = store.list_with_delimiter("photos", None).await?;
//! assert!(objects.is_empty());
//! assert_eq!(prefixes, vec!["2024/"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Layout on disk
//!
//! Each key segment (the parts between `/`) is one path component, encoded so that every
//! key the core accepts maps to a path and back, and nothing leaves the container:
//!
//! | key segment            | path component                                  |
//! |------------------------|-------------------------------------------------|
//! | `%` inside a segment   | `%25`                                           |
//! | `.`                    | `%2E`                                           |
//! | empty (`a//b`, `dir/`) | `%`                                             |
//! | `..`, or a leading `/` | refused with `InvalidObjectName`                |
//! | longer than 200 bytes  | 200-byte pieces: `<piece>%+/<piece>%+/<last>`   |
//!
//! So `dir/` is the file `dir/%`, `a//b` is `a/%/b`, and a 1024-byte key without `/`
//! is five nested *continuation* directories (`...%+`) and a file. Listing decodes
//! names back and returns keys sorted bytewise; a file name that the encoding could not
//! have produced (for example `100%` written by hand) is not listed.
//!
//! An object's metadata (content type, content encoding, cache control, content
//! disposition, user metadata, MD5, ETag) is kept in the extended attribute
//! `user.storage.meta` of its data file: a compact binary record set on the temporary
//! file before it is renamed into place, so data and metadata are replaced together by
//! one rename and read from one descriptor. It applies only while the file's size and
//! modification time match the ones it records. Where the filesystem refuses user
//! extended attributes (or the record is larger than an attribute may be), and with
//! [`LocalOptions::xattrs`] off, the metadata goes to a sidecar file instead. Reads try
//! the attribute first, then the sidecar, so trees written by earlier versions (sidecars
//! only) keep their metadata.
//!
//! Names starting with `%` followed by an ASCII letter are the driver's own:
//!
//! - `%m.<name>`: the JSON metadata sidecar of the data file `<name>` (the fallback
//!   above), which applies only while the data file's inode, size and modification time
//!   match the ones it records;
//! - `%t.<unique>`: temporary files of writes in progress;
//! - `%uploads/<upload id>/`: multipart staging (`upload.json`, `part-<n>.<md5>`).
//!
//! They never appear in listings. What a killed writer leaves of them (temporary files,
//! staging directories) is found by [`Driver::list_leftovers`]: temporary files as
//! staged data aged by their modification time, uploads aged by the last write into
//! their staging directory; [`Driver::remove_leftover`] removes one, refusing a file
//! written to since it was listed.
//!
//! Files written into the tree by hand are objects too:
//! without metadata they have no hash, no content type and an ETag made of their size
//! and modification time.
//!
//! A file and a directory cannot share a name, so the driver cannot hold a key and keys
//! under it as a prefix (`a` and `a/b`) at the same time: the second write fails with
//! `InvalidObjectName` and changes nothing (capability `key_and_prefix` is off).
//!
//! # Safety rules
//!
//! - Symbolic links: nothing the driver reads, writes, lists or deletes is outside its
//!   root. The root may be a symlink (it is resolved once, when the driver is built). A
//!   container directory may be a symlink to a directory inside the root; one leading
//!   anywhere else (outside the root, or to the root itself) is refused with
//!   `PermissionDenied` for every operation and left out of container listings. Below a
//!   container directory the driver never follows a symlink: a key whose path passes
//!   through one (or names one) is refused with `PermissionDenied`, and listings skip
//!   them.
//! - Writes stream into a temporary file in the destination directory while computing
//!   the MD5, check the announced length and `content_md5`, store the metadata (the
//!   attribute, or a temporary sidecar), fsync, then (under a per-key lock, so
//!   conditional writes are atomic between writers of one process) evaluate the put mode
//!   and rename the data file (and then its sidecar, if any) into place and fsync the
//!   directory. A failed or cancelled write leaves the old object intact.
//!   Create-if-absent commits with a hard link, which also fails atomically against
//!   writers in other processes; if-match is only atomic within one process.
//! - Durability: with [`LocalOptions::fsync`] off (option `fsync = false`) the fsyncs
//!   are skipped; writes stay atomic (temporary file + rename), but the last ones
//!   before a crash or power loss may be lost.
//! - On Linux an in-memory payload is written in one blocking task, relative to the
//!   descriptor of its directory, opened with `openat2(RESOLVE_NO_SYMLINKS |
//!   RESOLVE_BENEATH)` below the container directory; reads open the file the same way.
//!   Anything unusual (a directory to create, a symlink to report, no `openat2` or a
//!   seccomp filter refusing it) takes the checked path, which inspects each component;
//!   [`LocalOptions::fast_paths`] off takes it always.
//! - Reads open the file once and read from that descriptor (objects up to 64 KiB in
//!   the same blocking task, larger ones streamed), and its metadata attribute from
//!   the same descriptor, so a concurrent replacement never mixes two versions.
//! - Listing pages resume the previous page's directory walk while every directory it
//!   read is unchanged (same inode and modification time); otherwise, and for tokens
//!   the driver no longer holds, they walk afresh from the token.
//! - Versions are not kept: reading with `GetOptions::version` set fails with
//!   `ObjectDoesNotExist`.

mod containers;
mod factory;
#[cfg(target_os = "linux")]
mod fast;
mod io;
mod leftovers;
mod list;
mod locks;
mod meta;
mod multipart;
mod paths;
mod read;
mod sidecar;
mod write;

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use storage_core::validate::{self, ContainerNameRules};
use storage_core::{
    Capabilities, CompletedPart, Container, CopyOptions, Driver, DriverInfo, Error, ErrorKind, GetOptions, GetResult,
    Leftover, LeftoverKind, Limits, ListEntry, ListOptions, MultipartUpload, Object, Page, PartOptions, Payload,
    PutOptions, Result,
};

pub use factory::LocalFactory;

/// The driver's name.
pub const NAME: &str = "local";

/// Stores containers as directories and objects as files under a root directory.
/// See the [crate documentation](crate) for the layout and the guarantees.
pub struct LocalDriver {
    info: DriverInfo,
    root: PathBuf,
    shared: Arc<Shared>,
}

/// Options of a [`LocalDriver`] (see [`LocalDriver::with_options`]).
///
/// ```
/// use storage_local::{LocalDriver, LocalOptions};
///
/// let root = tempfile::tempdir().unwrap();
/// // Atomic but not durable writes: a crash may lose the last writes (never mix them).
/// let store = LocalDriver::with_options(root.path(), LocalOptions { fsync: false, ..Default::default() }).unwrap();
/// assert!(!store.options().fsync);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalOptions {
    /// Fsync every written file and the directory it is renamed in (default `true`):
    /// a write that returned survives a crash or power loss. With `false` writes are
    /// still atomic (temporary file + rename: readers see the old or the new object,
    /// never a mix), but the last writes before a crash may be lost or rolled back.
    /// Factory / URL / configuration option `fsync`.
    pub fsync: bool,
    /// Keep each object's metadata in an extended attribute of its data file (default
    /// `true`), falling back to a `%m.` sidecar file where the filesystem refuses it.
    /// With `false`, sidecar files only (the layout of earlier versions). Either way
    /// both are read. Factory / URL / configuration option `xattrs`.
    pub xattrs: bool,
    /// On Linux, open objects and write small ones through descriptors resolved with
    /// `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, one blocking hop each (default
    /// `true`). With `false`, every operation takes the checked path-by-path walk that
    /// other platforms use (same guarantees, more system calls). Factory / URL /
    /// configuration option `fast_paths`.
    pub fast_paths: bool,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions { fsync: true, xattrs: true, fast_paths: true }
    }
}

impl LocalOptions {
    /// These options with `fsync` set.
    pub fn fsync(mut self, fsync: bool) -> Self {
        self.fsync = fsync;
        self
    }

    /// These options with `fast_paths` set.
    pub fn fast_paths(mut self, fast_paths: bool) -> Self {
        self.fast_paths = fast_paths;
        self
    }

    /// These options with `xattrs` set.
    pub fn xattrs(mut self, xattrs: bool) -> Self {
        self.xattrs = xattrs;
        self
    }
}

/// What the driver's blocking tasks share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) options: LocalOptions,
    pub(crate) locks: locks::KeyLocks,
    /// Cleared when a filesystem answered that it has no user extended attributes.
    pub(crate) xattrs_work: std::sync::atomic::AtomicBool,
    /// Listing walks kept between pages.
    pub(crate) list_cache: list::WalkCache,
}

impl Shared {
    /// Whether to try extended attributes for metadata.
    pub(crate) fn use_xattrs(&self) -> bool {
        self.options.xattrs && self.xattrs_work.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl std::fmt::Debug for LocalDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalDriver").field("root", &self.root).finish()
    }
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
                Error::io(format!("creating the local driver's root directory {}", root.display()), e).with_driver(NAME)
            })?,
        }
        let root = std::fs::canonicalize(root).map_err(|e| {
            Error::io(format!("resolving the local driver's root directory {}", root.display()), e).with_driver(NAME)
        })?;
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
        capabilities.md5_hash = true;
        capabilities.refuses_nonempty_delete = true;
        capabilities.verbatim_keys = true;
        capabilities.container_checked = true;
        capabilities.atomic_conditional_put = true;
        capabilities.multipart_md5 = true;
        // Parts would only add copies on one disk: the transfer engine streams objects
        // of any size in one request here.
        let limits = Limits { min_part_size: 1, max_single_put: u64::MAX, ..Limits::default() };
        Ok(LocalDriver {
            info: DriverInfo {
                name: NAME.to_owned(),
                capabilities,
                limits,
                container_rules: ContainerNameRules::Filesystem,
            },
            root,
            shared: Arc::new(Shared {
                options,
                locks: locks::KeyLocks::default(),
                xattrs_work: std::sync::atomic::AtomicBool::new(true),
                list_cache: list::WalkCache::default(),
            }),
        })
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
    fn container_dir(&self, container: &str) -> Result<PathBuf> {
        validate::container_name(container, self.info.container_rules).map_err(|e| e.with_driver(NAME))?;
        Ok(self.root.join(container))
    }

    /// Validates `container` and `key` and encodes the key into a path.
    fn locate(&self, container: &str, key: &str) -> Result<paths::ObjectPath> {
        let dir = self.container_dir(container)?;
        validate::object_key(key, self.info.limits.max_key_length)
            .map_err(|e| e.or_context(NAME, Some(container), Some(key)))?;
        paths::ObjectPath::new(dir, key).map_err(|e| e.or_context(NAME, Some(container), Some(key)))
    }
}

/// Fills in the driver, container and key an error lacks.
fn ctx<'a>(container: &'a str, key: Option<&'a str>) -> impl FnOnce(Error) -> Error + 'a {
    move |e| e.or_context(NAME, Some(container), key)
}

/// `ContainerDoesNotExist` for `name`.
fn no_container(name: &str) -> Error {
    Error::container_not_found(NAME, name)
}

/// `ObjectDoesNotExist` for `key`.
fn no_object(container: &str, key: &str) -> Error {
    Error::object_not_found(NAME, container, key)
}

/// Checks that `dir` is an existing container directory, and not a symlink leading out
/// of the root (blocking).
fn require_container(dir: &Path, name: &str) -> Result<()> {
    paths::check_container_dir(dir)?;
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(no_container(name)),
        Err(e) if paths::is_missing(&e) => Err(no_container(name)),
        Err(e) => Err(Error::io(format!("inspecting container directory {}", dir.display()), e)),
    }
}

#[async_trait]
impl Driver for LocalDriver {
    fn info(&self) -> &DriverInfo {
        &self.info
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    async fn list_containers_page(&self, _token: Option<String>) -> Result<Page<Container>> {
        containers::list(self.root.clone()).await.map_err(|e| e.or_context(NAME, None, None))
    }

    async fn get_container(&self, name: &str) -> Result<Container> {
        let dir = self.container_dir(name)?;
        containers::get(dir, name.to_owned()).await.map_err(ctx(name, None))
    }

    async fn create_container(&self, name: &str) -> Result<Container> {
        let dir = self.container_dir(name)?;
        containers::create(dir, name.to_owned()).await.map_err(ctx(name, None))
    }

    async fn delete_container(&self, name: &str) -> Result<()> {
        let dir = self.container_dir(name)?;
        containers::delete(dir, name.to_owned()).await.map_err(ctx(name, None))
    }

    async fn list_page(
        &self,
        container: &str,
        options: &ListOptions,
        token: Option<String>,
    ) -> Result<Page<ListEntry>> {
        let dir = self.container_dir(container)?;
        list::page(self, dir, container, options, token).await.map_err(ctx(container, None))
    }

    async fn head_object(&self, container: &str, key: &str) -> Result<Object> {
        let op = self.locate(container, key)?;
        read::head(self, op, container, key).await.map_err(ctx(container, Some(key)))
    }

    async fn get_object(&self, container: &str, key: &str, options: &GetOptions) -> Result<GetResult> {
        let op = self.locate(container, key)?;
        read::get(self, op, container, key, options).await.map_err(ctx(container, Some(key)))
    }

    async fn put_object(&self, container: &str, key: &str, payload: Payload, options: &PutOptions) -> Result<Object> {
        let op = self.locate(container, key)?;
        write::put(self, op, container, key, payload, options).await.map_err(ctx(container, Some(key)))
    }

    async fn delete_object(&self, container: &str, key: &str) -> Result<()> {
        let op = self.locate(container, key)?;
        write::delete(self, op, container, key).await.map_err(ctx(container, Some(key)))
    }

    async fn copy_object(
        &self,
        src_container: &str,
        src_key: &str,
        dst_container: &str,
        dst_key: &str,
        options: &CopyOptions,
    ) -> Result<Object> {
        let src = self.locate(src_container, src_key)?;
        let dst = self.locate(dst_container, dst_key)?;
        write::copy(self, src, (src_container, src_key), dst, (dst_container, dst_key), options)
            .await
            .map_err(ctx(dst_container, Some(dst_key)))
    }

    async fn create_multipart(&self, container: &str, key: &str, options: &PutOptions) -> Result<MultipartUpload> {
        let op = self.locate(container, key)?;
        multipart::create(op, container, key, options).await.map_err(ctx(container, Some(key)))
    }

    async fn put_part(
        &self,
        upload: &MultipartUpload,
        part_number: u32,
        payload: Payload,
        options: &PartOptions,
    ) -> Result<CompletedPart> {
        let _ = options;
        let dir = self.container_dir(&upload.container)?;
        multipart::put_part(self, dir, upload, part_number, payload)
            .await
            .map_err(ctx(&upload.container, Some(&upload.key)))
    }

    async fn complete_multipart(&self, upload: &MultipartUpload, parts: &[CompletedPart]) -> Result<Object> {
        let op = self.locate(&upload.container, &upload.key)?;
        multipart::complete(self, op, upload, parts).await.map_err(ctx(&upload.container, Some(&upload.key)))
    }

    async fn abort_multipart(&self, upload: &MultipartUpload) -> Result<()> {
        let dir = self.container_dir(&upload.container)?;
        multipart::abort(dir, upload).await.map_err(ctx(&upload.container, Some(&upload.key)))
    }

    async fn list_multipart_uploads(&self, container: &str, prefix: Option<&str>) -> Result<Vec<MultipartUpload>> {
        let dir = self.container_dir(container)?;
        multipart::list(dir, container, prefix).await.map_err(ctx(container, None))
    }

    async fn list_leftovers(&self, container: &str, prefix: Option<&str>) -> Result<Vec<Leftover>> {
        let dir = self.container_dir(container)?;
        leftovers::list_async(dir, container, prefix).await.map_err(ctx(container, None))
    }

    async fn remove_leftover(&self, leftover: &Leftover) -> Result<()> {
        let dir = self.container_dir(&leftover.container)?;
        match leftover.kind {
            LeftoverKind::MultipartUpload => match self.abort_multipart(&leftover.to_upload()).await {
                Err(e) if e.kind() == ErrorKind::ObjectDoesNotExist => Ok(()),
                other => other,
            },
            _ => leftovers::remove_async(dir, leftover, self.shared.options.fsync)
                .await
                .map_err(ctx(&leftover.container, None)),
        }
    }

    async fn enable_container_cdn(&self, container: &str) -> Result<()> {
        self.get_container(container).await.map(|_| ())
    }

    async fn enable_object_cdn(&self, container: &str, key: &str) -> Result<()> {
        self.head_object(container, key).await.map(|_| ())
    }

    async fn get_container_cdn_url(&self, container: &str) -> Result<String> {
        let dir = self.container_dir(container)?;
        self.get_container(container).await?;
        Ok(paths::file_url(&dir))
    }

    async fn get_object_cdn_url(&self, container: &str, key: &str) -> Result<String> {
        let op = self.locate(container, key)?;
        self.head_object(container, key).await?;
        Ok(paths::file_url(&op.data()))
    }
}
