//! Containers: the directories directly under the root (list, get, create, delete).
//!
//! Separate from objects because a container is one directory and its own checks (the
//! filesystem naming rules, symlinked container directories, emptiness).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use storage_core::kit::{ContainerNameRules, Error, ErrorKind, Result, container_name};
use storage_core::{Container, Page};

use crate::core::NAME;
use crate::errors::{self, no_container};
use crate::io::blocking;
use crate::paths::{self, is_internal};

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
            if paths::check_container_dir(&entry.path()).is_err() {
                continue;
            }
            match std::fs::metadata(entry.path()) {
                Ok(m) if m.is_dir() => out.push(describe(&name, &m)),
                _ => continue,
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Page::last(out))
    })
    .await
}

/// A container's details.
pub async fn get(dir: PathBuf, name: String) -> Result<Container> {
    blocking(move || {
        paths::check_container_dir(&dir)?;
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => Ok(describe(&name, &m)),
            Ok(_) => Err(no_container(&name)),
            Err(e) if errors::is_missing(&e) => Err(no_container(&name)),
            Err(e) => Err(errors::io(format!("inspecting container directory {}", dir.display()), e)),
        }
    })
    .await
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
        let m = std::fs::metadata(&dir)
            .map_err(|e| errors::io(format!("inspecting container directory {}", dir.display()), e))?;
        Ok(describe(&name, &m))
    })
    .await
}

/// Deletes the directory and the driver's internal files in it; refuses while it holds
/// any object (or any other file that is not the driver's own).
pub async fn delete(dir: PathBuf, name: String) -> Result<()> {
    blocking(move || {
        paths::require_container(&dir, &name)?;
        if let Some(found) = first_foreign_file(&dir)? {
            return Err(Error::new(
                ErrorKind::ContainerIsNotEmpty,
                format!("container {name:?} is not empty: it holds {}", found.display()),
            )
            .with_driver(NAME)
            .with_container(&name));
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if errors::is_missing(&e) => Err(no_container(&name)),
            Err(e) => Err(errors::io(format!("removing container directory {}", dir.display()), e)),
        }
    })
    .await
}

/// The first file (or symlink, or anything not a directory) under `dir` that is not one
/// of the driver's internal files; directories are searched depth-first.
fn first_foreign_file(dir: &Path) -> Result<Option<PathBuf>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if errors::is_missing(&e) => return Ok(None),
        Err(e) => return Err(errors::io(format!("reading directory {}", dir.display()), e)),
    };
    for entry in rd {
        let entry = entry.map_err(|e| errors::io(format!("reading directory {}", dir.display()), e))?;
        if entry.file_name().to_str().is_some_and(is_internal) {
            continue;
        }
        let ft = entry.file_type().map_err(|e| errors::io(format!("inspecting {}", entry.path().display()), e))?;
        if ft.is_dir() {
            if let Some(found) = first_foreign_file(&entry.path())? {
                return Ok(Some(found));
            }
        } else {
            return Ok(Some(entry.path()));
        }
    }
    Ok(None)
}
