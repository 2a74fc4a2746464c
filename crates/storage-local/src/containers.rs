//! Containers: the directories directly under the root (list, get, create, delete).
//!
//! Separate from objects because a container is one directory and its own checks (the
//! filesystem naming rules, symlinked container directories, emptiness).

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use storage_core::kit::{ContainerNameRules, Error, ErrorKind, Result, container_name};
use storage_core::{Container, Page};

use crate::core::NAME;
use crate::dirfd::{DirFd, Kind};
use crate::errors::{self, no_container};
use crate::io::blocking;
use crate::paths::is_internal;

fn describe(name: &str, m: &std::fs::Metadata) -> Container {
    let created = m.created().or_else(|_| m.modified()).ok().map(DateTime::<Utc>::from);
    Container { name: name.to_owned(), created, extra: BTreeMap::new() }
}

/// Every container, sorted by name (directories with names the rules allow).
pub async fn list(root: PathBuf) -> Result<Page<Container>> {
    blocking(move || {
        let rd = std::fs::read_dir(&root).map_err(|e| errors::io(format!("reading the root {}", root.display()), e))?;
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| errors::io(format!("reading the root {}", root.display()), e))?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            if container_name(&name, ContainerNameRules::Filesystem).is_err() {
                continue;
            }
            // Follows a symlinked container directory on purpose, unless it leaves the root.
            if let Ok(m) = DirFd::container_metadata(&entry.path(), &name) {
                out.push(describe(&name, &m));
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Page::last(out))
    })
    .await
}

/// A container's details.
pub async fn get(dir: PathBuf, name: String) -> Result<Container> {
    blocking(move || DirFd::container_metadata(&dir, &name).map(|m| describe(&name, &m))).await
}

/// Creates the directory; `ContainerAlreadyExists` if anything has that name.
pub async fn create(dir: PathBuf, name: String) -> Result<Container> {
    blocking(move || {
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::new(
                    ErrorKind::ContainerAlreadyExists,
                    format!("container {name:?} already exists"),
                )
                .with_driver(NAME)
                .with_container(&name));
            }
            Err(e) => return Err(errors::io(format!("creating container directory {}", dir.display()), e)),
        }
        if let Some(parent) = dir.parent() {
            crate::io::sync_dir(parent)?;
        }
        DirFd::container_metadata(&dir, &name).map(|m| describe(&name, &m))
    })
    .await
}

/// Deletes the directory and the driver's internal files in it; refuses while it holds
/// any object (or any other file that is not the driver's own).
pub async fn delete(dir: PathBuf, name: String) -> Result<()> {
    blocking(move || {
        let cfd = DirFd::container(&dir, &name, false)?;
        if let Some(found) = first_foreign_file(&cfd)? {
            return Err(Error::new(
                ErrorKind::ContainerIsNotEmpty,
                format!("container {name:?} is not empty: it holds {}", found.display()),
            )
            .with_driver(NAME)
            .with_container(&name));
        }
        drop(cfd);
        // std's removal never follows a symlink, not even the container's own.
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if errors::is_missing(&e) => Err(no_container(&name)),
            Err(e) => Err(errors::io(format!("removing container directory {}", dir.display()), e)),
        }
    })
    .await
}

/// The first file (or symlink, or anything not a directory) under `dir` that is not one
/// of the driver's internal files; directories are searched depth-first, each opened
/// from its parent's descriptor without following a symlink.
fn first_foreign_file(dir: &DirFd) -> Result<Option<PathBuf>> {
    let entries = match dir.entries() {
        Ok(e) => e,
        Err(e) if errors::is_missing(&e) => return Ok(None),
        Err(e) => return Err(errors::io(format!("reading directory {}", dir.path().display()), e)),
    };
    for (name, kind) in entries {
        if name.to_str().is_some_and(is_internal) {
            continue;
        }
        let path = dir.path().join(&name);
        if kind != Kind::Dir {
            return Ok(Some(path));
        }
        let Some(utf8) = name.to_str() else { return Ok(Some(path)) };
        match dir.open_dir(utf8) {
            Ok(sub) => {
                if let Some(found) = first_foreign_file(&sub)? {
                    return Ok(Some(found));
                }
            }
            Err(e) if errors::is_missing(&e) => return Ok(Some(path)),
            Err(e) => return Err(errors::io(format!("opening directory {}", path.display()), e)),
        }
    }
    Ok(None)
}
