//! The driver's configuration: [`LocalOptions`] (with its builder-style setters), reading
//! them from a string map (the factory's and the configuration file's options, listed in
//! [`OPTIONS`]) and from the environment (`STORAGE_LOCAL_<OPTION>`).
//!
//! Separate from the driver so that every way of configuring it (code, map, environment)
//! reads the same options in one place, and the factory only forwards.

use std::path::PathBuf;

use storage_core::kit::{DriverConfig, Error, ErrorKind, Result};

use crate::core::NAME;

/// Every option the local driver reads from a string map (what [`crate::LocalFactory`]
/// accepts): the root and the fields of [`LocalOptions`].
pub(crate) const OPTIONS: &[&str] = &["root", "fsync", "xattrs", "fast_paths", "md5", "io_concurrency"];

/// Prefix of the environment variables [`crate::LocalDriver::from_env`] reads: the
/// facade's `STORAGE_<NAME>_<OPTION>` convention for the `local` driver
/// (`STORAGE_LOCAL_ROOT`, `STORAGE_LOCAL_FSYNC`, ...).
pub(crate) const ENV_PREFIX: &str = "STORAGE_LOCAL_";

/// Options of a [`crate::LocalDriver`] (see [`crate::LocalDriver::with_options`]).
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
    /// On Linux, resolve the directories of a key with one `openat2(RESOLVE_BENEATH |
    /// RESOLVE_NO_SYMLINKS)` and write small objects in one blocking hop (default
    /// `true`). With `false`, every operation takes the walk other platforms use: one
    /// `openat(O_NOFOLLOW)` per component, and the streaming write (same guarantees,
    /// more system calls). Factory / URL / configuration option `fast_paths`.
    pub fast_paths: bool,
    /// Keep each object's MD5 (default `false`): objects then report an MD5 hash and, when
    /// written in one request, an MD5 ETag, as S3 does, and a completed multipart upload
    /// the MD5 of the whole object. It costs an MD5 of every byte written (about 0.5 GiB/s
    /// per core). Either way every write keeps the CRC32C of its content (computed with
    /// the CPU's instructions, at memory speed), which objects report as their hash
    /// without this option and which whole reads are checked against; a `content_md5`
    /// given to a write is always checked (and then kept). Factory / URL /
    /// configuration option `md5`.
    pub md5: bool,
    /// The most short filesystem tasks (a small GET, HEAD or PUT, one chunk of a
    /// streamed read) the driver runs at once on the blocking thread pool; the others
    /// wait their turn. Default [`default_io_concurrency`]: four per CPU the process may
    /// use, at least 8. Where the files are in memory such tasks are all CPU, and more
    /// of them at once only add contention (32 GETs in flight on one CPU ran 20% faster
    /// 4 to 8 at a time); on a network filesystem or a slow disk, where each task
    /// mostly waits, raise it to the concurrency wanted. Listings, copies, multipart
    /// assembly and streamed writes are not limited by it. Factory / URL /
    /// configuration option `io_concurrency` (a whole number from 1).
    pub io_concurrency: usize,
}

/// The default [`LocalOptions::io_concurrency`]: four per CPU this process may use, at
/// least 8.
pub fn default_io_concurrency() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get).saturating_mul(4).max(8)
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            fsync: true,
            xattrs: true,
            fast_paths: true,
            md5: false,
            io_concurrency: default_io_concurrency(),
        }
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

    /// These options with `md5` set.
    pub fn md5(mut self, md5: bool) -> Self {
        self.md5 = md5;
        self
    }

    /// These options with `xattrs` set.
    pub fn xattrs(mut self, xattrs: bool) -> Self {
        self.xattrs = xattrs;
        self
    }

    /// These options with `io_concurrency` set (0 counts as 1).
    pub fn io_concurrency(mut self, io_concurrency: usize) -> Self {
        self.io_concurrency = io_concurrency.max(1);
        self
    }

    /// The options set in `config` (`fsync`, `xattrs`, `fast_paths`, `md5`: `true`/`false`;
    /// `io_concurrency`: a whole number from 1), the defaults for the others. A value that
    /// is not of its option's kind is a `Config` error.
    pub fn from_config(config: &DriverConfig) -> Result<Self> {
        let mut options = LocalOptions::default();
        if let Some(fsync) = config.flag("fsync").map_err(|e| e.with_driver(NAME))? {
            options.fsync = fsync;
        }
        if let Some(xattrs) = config.flag("xattrs").map_err(|e| e.with_driver(NAME))? {
            options.xattrs = xattrs;
        }
        if let Some(fast_paths) = config.flag("fast_paths").map_err(|e| e.with_driver(NAME))? {
            options.fast_paths = fast_paths;
        }
        if let Some(md5) = config.flag("md5").map_err(|e| e.with_driver(NAME))? {
            options.md5 = md5;
        }
        if let Some(n) = config.parse::<usize>("io_concurrency").map_err(|e| e.with_driver(NAME))? {
            if n == 0 {
                return Err(Error::new(
                    ErrorKind::Config,
                    "the local driver's option \"io_concurrency\" is 0: give how many filesystem tasks may run at once, from 1",
                )
                .with_driver(NAME));
            }
            options.io_concurrency = n;
        }
        Ok(options)
    }
}

/// The root directory `config` names (option `root`, required and not blank).
pub(crate) fn root(config: &DriverConfig) -> Result<PathBuf> {
    config.get("root").filter(|r| !r.trim().is_empty()).map(PathBuf::from).ok_or_else(|| {
        Error::new(
            ErrorKind::Config,
            "the local driver needs the option \"root\": the directory that holds the containers",
        )
        .with_driver(NAME)
    })
}

/// The options found in the environment through `var` (`STORAGE_LOCAL_ROOT`,
/// `STORAGE_LOCAL_FSYNC`, `STORAGE_LOCAL_XATTRS`, `STORAGE_LOCAL_FAST_PATHS`,
/// `STORAGE_LOCAL_MD5`, `STORAGE_LOCAL_IO_CONCURRENCY`), as a map
/// for [`crate::LocalDriver::from_config`]. Values are used as given: a relative root is
/// relative to the working directory, and `~` is not expanded.
pub(crate) fn env_config(var: impl Fn(&str) -> Option<String>) -> DriverConfig {
    let mut config = DriverConfig::new();
    for option in OPTIONS {
        if let Some(value) = var(&format!("{ENV_PREFIX}{}", option.to_ascii_uppercase())) {
            config = config.set(*option, value);
        }
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_come_from_a_map_or_the_environment() {
        let map = DriverConfig::new().set("root", "/r").set("fsync", "false").set("fast_paths", "false");
        let options = LocalOptions::from_config(&map).unwrap();
        assert_eq!(options, LocalOptions::default().fsync(false).fast_paths(false));
        assert_eq!(root(&map).unwrap(), PathBuf::from("/r"));
        let bad = DriverConfig::new().set("xattrs", "maybe");
        assert_eq!(LocalOptions::from_config(&bad).unwrap_err().kind(), ErrorKind::Config);
        let n = DriverConfig::new().set("io_concurrency", "64");
        assert_eq!(LocalOptions::from_config(&n).unwrap(), LocalOptions::default().io_concurrency(64));
        for bad in ["0", "-1", "many", ""] {
            let e = LocalOptions::from_config(&DriverConfig::new().set("io_concurrency", bad)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{bad:?}");
            assert!(e.message().contains("io_concurrency"), "{bad:?}: {}", e.message());
        }
        assert!(LocalOptions::default().io_concurrency >= 8);
        assert_eq!(LocalOptions::default().io_concurrency(0).io_concurrency, 1);
        let blank = DriverConfig::new().set("root", " ");
        assert!(root(&blank).unwrap_err().message().contains("\"root\""));

        let env = |k: &str| match k {
            "STORAGE_LOCAL_ROOT" => Some("/e".to_owned()),
            "STORAGE_LOCAL_XATTRS" => Some("false".to_owned()),
            "STORAGE_LOCAL_IO_CONCURRENCY" => Some("3".to_owned()),
            _ => None,
        };
        let from_env = env_config(env);
        assert_eq!(root(&from_env).unwrap(), PathBuf::from("/e"));
        assert_eq!(
            LocalOptions::from_config(&from_env).unwrap(),
            LocalOptions::default().xattrs(false).io_concurrency(3)
        );
    }
}
