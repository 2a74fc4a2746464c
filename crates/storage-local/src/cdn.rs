//! The four Libcloud CDN calls: a local "CDN" is the filesystem itself, so enabling one
//! only checks the container or object exists, and its URL is the `file://` URL of the
//! directory or data file.
//!
//! Separate because it is its own operation family (capabilities `cdn` and
//! `object_cdn_url`), even if a small one here.

use std::path::PathBuf;

use storage_core::{Driver, Result};

use crate::core::LocalDriver;
use crate::paths::{self, ObjectPath};

/// `get_container_cdn_url`: the `file://` URL of the container directory `dir`, once
/// the container is known to exist.
pub async fn container_url(d: &LocalDriver, dir: PathBuf, container: &str) -> Result<String> {
    d.get_container(container).await?;
    Ok(paths::file_url(&dir))
}

/// `get_object_cdn_url`: the `file://` URL of the object's data file, once the object is
/// known to exist.
pub async fn object_url(d: &LocalDriver, op: ObjectPath, container: &str, key: &str) -> Result<String> {
    d.head_object(container, key).await?;
    Ok(paths::file_url(&op.data()))
}
