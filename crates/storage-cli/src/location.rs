//! What a command-line argument names: a local path, stdin/stdout, or a remote location.

use std::path::PathBuf;
use std::sync::Arc;

use storage::{Driver, Storage, Target};

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

/// Resolves `arg`; a remote URL must name a container.
pub fn resolve(storage: &Storage, arg: &str) -> Result<Loc, Failure> {
    if arg == "-" {
        return Ok(Loc::Stdio);
    }
    match storage.open(arg)? {
        Target::Path(p) => Ok(Loc::Local(p)),
        Target::Remote { driver, container: Some(container), key, .. } => {
            Ok(Loc::Remote(Remote { driver, container, key: key.unwrap_or_default() }))
        }
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

/// Resolves an argument that must name an object (a non-empty key).
pub fn object(storage: &Storage, arg: &str) -> Result<Remote, Failure> {
    let r = remote(storage, arg)?;
    if r.key.is_empty() {
        return Err(Failure::Usage(format!("{arg} names a container, not an object")));
    }
    Ok(r)
}

/// The last path segment of a key (`a/b/c.txt` -> `c.txt`).
pub fn basename(key: &str) -> &str {
    key.trim_end_matches('/').rsplit('/').next().unwrap_or(key)
}
