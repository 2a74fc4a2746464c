//! What a command-line argument names (a local path, stdin/stdout, or a remote location),
//! and whether two of them are the same place: the checks that keep `cp f f`,
//! `mv s3://b/k s3://b/k` or `sync d d/sub` from destroying what they were asked to copy.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use storage::{Driver, ErrorKind, Storage, Target};

use crate::Failure;

/// A remote location: driver, container, key or prefix (possibly empty).
#[derive(Clone)]
pub struct Remote {
    /// The driver.
    pub driver: Arc<dyn Driver>,
    /// The container.
    pub container: String,
    /// The key or prefix ("" for the container's root).
    pub key: String,
    /// What the backend is, whatever it was called: two named remotes of the same server
    /// (or root directory) have the same identity.
    pub identity: String,
    /// The URL as given, for messages.
    pub url: String,
}

impl Remote {
    /// Whether `self` and `other` are on the same backend (one driver instance, or two
    /// names for the same server, root or database) and in the same container.
    pub fn same_container(&self, other: &Remote) -> bool {
        let same_backend =
            std::ptr::addr_eq(Arc::as_ptr(&self.driver), Arc::as_ptr(&other.driver)) || self.identity == other.identity;
        same_backend && self.container == other.container
    }

    /// Where `key` lives on disk when this is the local driver (its root, the container,
    /// the key), so a local path that is the same file can be recognised.
    pub fn local_path(&self, key: &str) -> Option<PathBuf> {
        let root = self.identity.strip_prefix("local|")?;
        Some(Path::new(root).join(&self.container).join(key.trim_end_matches('/')))
    }

    /// `scheme://container/key` for messages.
    pub fn display_key(&self, key: &str) -> String {
        let scheme = self.url.split_once("://").map(|(s, _)| s).unwrap_or("storage");
        format!("{scheme}://{}/{key}", self.container)
    }
}

/// A resolved argument.
pub enum Loc {
    /// A local file or directory.
    Local(PathBuf),
    /// `-`: stdin or stdout.
    Stdio,
    /// A remote location.
    Remote(Remote),
}

/// Opens a URL; a malformed URL, an unknown scheme or a broken configuration is a usage
/// error (exit 2), not a failed operation.
pub fn open(storage: &Storage, arg: &str) -> Result<Target, Failure> {
    storage.open(arg).map_err(|e| if e.kind() == ErrorKind::Config { Failure::Config(e) } else { e.into() })
}

/// Resolves `arg`; a remote URL must name a container.
pub fn resolve(storage: &Storage, arg: &str) -> Result<Loc, Failure> {
    if arg == "-" {
        return Ok(Loc::Stdio);
    }
    match open(storage, arg)? {
        Target::Path(p) => Ok(Loc::Local(p)),
        Target::Remote { driver, container: Some(container), key, remote } => Ok(Loc::Remote(Remote {
            identity: identity(storage, &remote, driver.info().name.as_str()),
            driver,
            container,
            key: key.unwrap_or_default(),
            url: arg.to_owned(),
        })),
        Target::Remote { .. } => Err(Failure::Usage(format!("{arg} names no container; use scheme://container/key"))),
    }
}

/// Resolves an argument that must be remote.
pub fn remote(storage: &Storage, arg: &str) -> Result<Remote, Failure> {
    match resolve(storage, arg)? {
        Loc::Remote(r) => Ok(r),
        _ => Err(Failure::Usage(format!("{arg} is not a storage URL (scheme://container/key)"))),
    }
}

/// What `du` and `listdir` take: a whole backend or a place inside a container.
pub enum Scope {
    /// Every container of a backend (no URL: the default backend; or `scheme://`).
    Backend {
        /// The driver.
        driver: Arc<dyn Driver>,
        /// `scheme://`, for messages and output.
        url: String,
    },
    /// A container, or a prefix in it.
    Remote(Remote),
}

/// Resolves an optional URL to a [`Scope`]: none is the default backend, `scheme://` a
/// whole backend, anything else must be a remote URL naming a container.
pub fn scope(storage: &Storage, arg: Option<&str>) -> Result<Scope, Failure> {
    let Some(arg) = arg else {
        let name = storage.config().default.clone().unwrap_or_else(|| "local".to_owned());
        let driver = storage.default_backend().map_err(Failure::Config)?;
        return Ok(Scope::Backend { driver, url: format!("{name}://") });
    };
    match open(storage, arg)? {
        Target::Remote { driver, container: None, .. } => {
            let scheme = arg.split_once("://").map_or(arg, |(s, _)| s);
            Ok(Scope::Backend { driver, url: format!("{scheme}://") })
        }
        Target::Remote { driver, container: Some(container), key, remote } => Ok(Scope::Remote(Remote {
            identity: identity(storage, &remote, driver.info().name.as_str()),
            driver,
            container,
            key: key.unwrap_or_default(),
            url: arg.to_owned(),
        })),
        Target::Path(_) => Err(Failure::Usage(format!("{arg} is not a storage URL (scheme://container/prefix)"))),
    }
}

/// Resolves an argument that must name a whole container (no key): `mb`, `rb`.
pub fn container(storage: &Storage, arg: &str) -> Result<Remote, Failure> {
    let r = remote(storage, arg)?;
    if !r.key.trim_matches('/').is_empty() {
        return Err(Failure::Usage(format!(
            "{arg} names a key or prefix inside container {:?}; this command takes a container only \
             (scheme://container); to delete objects under a prefix use `storage rm -r`",
            r.container
        )));
    }
    Ok(r)
}

/// Resolves an argument that must name an object (a non-empty key).
pub fn object(storage: &Storage, arg: &str) -> Result<Remote, Failure> {
    let r = remote(storage, arg)?;
    if r.key.is_empty() {
        return Err(Failure::Usage(format!("{arg} names a container, not an object")));
    }
    if r.key.ends_with('/') {
        return Err(Failure::Usage(format!("{arg} names a prefix (it ends with `/`), not an object")));
    }
    Ok(r)
}

/// The last path segment of a key (`a/b/c.txt` -> `c.txt`).
pub fn basename(key: &str) -> &str {
    key.trim_end_matches('/').rsplit('/').next().unwrap_or(key)
}

/// What identifies the place a named remote stores its data: the driver and the options
/// that choose the server, root or database (never credentials). The memory driver and
/// drivers we know nothing of are told apart by every non-secret option and, for memory,
/// the remote's name (each name is its own store).
fn identity(storage: &Storage, remote: &str, driver: &str) -> String {
    let config = storage.config();
    let section = if config.sections.contains_key(remote) { remote.to_owned() } else { driver.to_owned() };
    let options = config.options(&section, None).unwrap_or_default();
    let pick = |keys: &[&str]| -> String {
        keys.iter()
            .map(|k| format!("{k}={}", options.get(k).unwrap_or_default().trim_end_matches('/')))
            .collect::<Vec<_>>()
            .join("|")
    };
    match driver {
        "local" => {
            let root = options.get("root").map(PathBuf::from).unwrap_or_else(storage::default_local_root);
            format!("local|{}", absolute(&root).display())
        }
        "s3" => format!("s3|{}", pick(&["endpoint", "region", "addressing"]).to_ascii_lowercase()),
        "redis" => format!("redis|{}", pick(&["url", "nodes", "namespace"])),
        "memory" => format!("memory|{remote}"),
        other => {
            let shown: Vec<String> = options
                .iter()
                .filter(|(k, _)| !storage::registry::is_secret_key(k))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!("{other}|{}", shown.join("|"))
        }
    }
}

/// `path` made absolute and resolved as far as it exists: symlinks and `..` in the part
/// that exists are resolved by the filesystem, the rest is normalised lexically. Two
/// spellings of one place (`./d`, `d/`, `/abs/d`, a symlink to it) give the same result.
pub fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(path)).unwrap_or_else(|_| path.to_path_buf())
    };
    let mut existing = joined.clone();
    let mut rest: Vec<PathBuf> = Vec::new();
    loop {
        if let Ok(canon) = existing.canonicalize() {
            let mut out = canon;
            for part in rest.iter().rev() {
                push_normalised(&mut out, part);
            }
            return out;
        }
        match (existing.file_name().map(|n| n.to_owned()), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(PathBuf::from(name));
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut out = PathBuf::new();
    for c in joined.components() {
        push_normalised(&mut out, Path::new(c.as_os_str()));
    }
    out
}

fn push_normalised(out: &mut PathBuf, part: &Path) {
    for c in part.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
}

/// Whether two local paths are the same existing file (same device and inode).
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// How two trees relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// Disjoint.
    None,
    /// The same tree.
    Same,
    /// The destination lies inside the source.
    DestInsideSource,
    /// The source lies inside the destination.
    SourceInsideDest,
}

/// How local trees `src` and `dst` relate.
pub fn local_overlap(src: &Path, dst: &Path) -> Overlap {
    let (a, b) = (absolute(src), absolute(dst));
    if a == b || same_file(&a, &b) {
        Overlap::Same
    } else if b.starts_with(&a) {
        Overlap::DestInsideSource
    } else if a.starts_with(&b) {
        Overlap::SourceInsideDest
    } else {
        Overlap::None
    }
}

/// How remote trees relate (prefixes are "" or end with `/`).
pub fn remote_overlap(src: &Remote, dst: &Remote) -> Overlap {
    if !src.same_container(dst) {
        Overlap::None
    } else if src.key == dst.key {
        Overlap::Same
    } else if dst.key.starts_with(&src.key) {
        Overlap::DestInsideSource
    } else if src.key.starts_with(&dst.key) {
        Overlap::SourceInsideDest
    } else {
        Overlap::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_directory_are_the_same_tree() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("d");
        std::fs::create_dir(&d).unwrap();
        assert_eq!(local_overlap(&d, &dir.path().join("d/")), Overlap::Same);
        assert_eq!(local_overlap(&d, &dir.path().join("d/./x/..")), Overlap::Same);
        assert_eq!(local_overlap(&d, &dir.path().join("d/new/deeper")), Overlap::DestInsideSource);
        assert_eq!(local_overlap(&d.join("sub"), &d), Overlap::SourceInsideDest);
        assert_eq!(local_overlap(&d, &dir.path().join("e")), Overlap::None);
        std::os::unix::fs::symlink(&d, dir.path().join("link")).unwrap();
        assert_eq!(local_overlap(&d, &dir.path().join("link")), Overlap::Same);
    }
}
