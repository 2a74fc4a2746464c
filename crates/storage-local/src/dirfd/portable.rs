//! [`DirFd`] where there is no `openat` (not Unix): the same interface over paths,
//! each component checked for symlinks when the directory is opened. Without
//! descriptors this cannot stop a concurrent swap of a directory for a link.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use storage_core::kit::Result;

use super::{ATTEMPTS, Kind, kept_changing};
use crate::errors::{self, no_container};
use crate::paths::temp_name;
use crate::sidecar::FileStamp;

fn kind_of(m: &std::fs::Metadata) -> Kind {
    let t = m.file_type();
    if t.is_symlink() {
        Kind::Symlink
    } else if t.is_dir() {
        Kind::Dir
    } else if t.is_file() {
        Kind::File
    } else {
        Kind::Other
    }
}

/// A directory below (or of) a container, by path; see the [module docs](super).
#[derive(Debug)]
pub struct DirFd {
    path: PathBuf,
}

impl DirFd {
    /// Where the directory is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The one-call open of a key's directory exists on Linux only: always `None`.
    pub fn key_dir(_container_dir: &Path, _comps: &[String], _fast: bool) -> Option<Arc<DirFd>> {
        None
    }

    /// The container directory `dir`: a symlink there must lead strictly inside the root.
    pub fn container(dir: &Path, name: &str, _fast: bool) -> Result<Arc<DirFd>> {
        if let Ok(m) = std::fs::symlink_metadata(dir)
            && m.file_type().is_symlink()
        {
            let root = dir.parent().unwrap_or(dir);
            match std::fs::canonicalize(dir) {
                Ok(target) if target != root && target.starts_with(root) => {}
                Ok(target) => return Err(errors::container_escape(dir, &target, root)),
                Err(e) if errors::is_missing(&e) => return Err(no_container(name)),
                Err(e) => return Err(errors::io(format!("resolving the container directory {}", dir.display()), e)),
            }
        }
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => Ok(Arc::new(DirFd { path: dir.to_owned() })),
            Ok(_) => Err(no_container(name)),
            Err(e) if errors::is_missing(&e) => Err(no_container(name)),
            Err(e) => Err(errors::io(format!("inspecting container directory {}", dir.display()), e)),
        }
    }

    /// The metadata of the container directory `dir`.
    pub fn container_metadata(dir: &Path, name: &str) -> Result<std::fs::Metadata> {
        let d = Self::container(dir, name, false)?;
        std::fs::metadata(&d.path)
            .map_err(|e| errors::io(format!("inspecting container directory {}", dir.display()), e))
    }

    /// The directory `comps` below this one, or `None` if something on the way is missing.
    pub fn find(self: &Arc<Self>, comps: &[String]) -> Result<Option<Arc<DirFd>>> {
        self.descend(comps, false)
    }

    /// The directory `comps` below this one, making the missing ones.
    pub fn make(self: &Arc<Self>, comps: &[String]) -> Result<Arc<DirFd>> {
        self.descend(comps, true)?.ok_or_else(|| kept_changing(&self.path.join(comps.join("/"))))
    }

    fn descend(self: &Arc<Self>, comps: &[String], create: bool) -> Result<Option<Arc<DirFd>>> {
        if comps.is_empty() {
            return Ok(Some(Arc::clone(self)));
        }
        'walk: for _ in 0..ATTEMPTS {
            let mut dir = self.path.clone();
            for c in comps {
                dir.push(c);
                loop {
                    match std::fs::symlink_metadata(&dir) {
                        Ok(m) if m.file_type().is_symlink() => return Err(errors::symlink_refused(&dir)),
                        Ok(m) if m.is_dir() => break,
                        Ok(_) if create => return Err(errors::conflict(&dir)),
                        Ok(_) => return Ok(None),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                            match std::fs::create_dir(&dir) {
                                Ok(()) => break,
                                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue 'walk,
                                Err(e) => return Err(errors::io(format!("creating directory {}", dir.display()), e)),
                            }
                        }
                        Err(e) if errors::is_missing(&e) => return Ok(None),
                        Err(e) => return Err(errors::io(format!("inspecting {}", dir.display()), e)),
                    }
                }
            }
            return Ok(Some(Arc::new(DirFd { path: dir })));
        }
        Err(kept_changing(&self.path.join(comps.join("/"))))
    }

    /// Always the checked walk here.
    pub fn open_beneath(&self, _comps: &[String]) -> Option<std::io::Result<File>> {
        None
    }

    /// The subdirectory `name` (`NotADirectory` for a symlink or file).
    pub fn open_dir(&self, name: &str) -> std::io::Result<DirFd> {
        let path = self.path.join(name);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => Ok(DirFd { path }),
            Ok(_) => Err(std::io::ErrorKind::NotADirectory.into()),
            Err(e) => Err(e),
        }
    }

    /// Opens the file `name` to read (a symlink is refused).
    pub fn open_read(&self, name: &str) -> std::io::Result<File> {
        let path = self.path.join(name);
        if std::fs::symlink_metadata(&path)?.file_type().is_symlink() {
            return Err(std::io::Error::other("a symbolic link"));
        }
        File::open(path)
    }

    /// Reads the whole file `name`.
    pub fn read(&self, name: &str) -> std::io::Result<Vec<u8>> {
        use std::io::Read;
        let mut out = Vec::new();
        self.open_read(name)?.read_to_end(&mut out)?;
        Ok(out)
    }

    /// Creates the new file `name` to write.
    pub fn create_new(&self, name: &str) -> std::io::Result<File> {
        std::fs::OpenOptions::new().write(true).create_new(true).open(self.path.join(name))
    }

    /// Creates a new temporary file; returns it and its name.
    pub fn create_temp(&self) -> std::io::Result<(File, String)> {
        loop {
            let name = temp_name();
            match self.create_new(&name) {
                Ok(f) => return Ok((f, name)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// What `name` is (not following a symlink), and its stamp.
    pub fn stat(&self, name: &str) -> std::io::Result<(Kind, FileStamp)> {
        let m = std::fs::symlink_metadata(self.path.join(name))?;
        Ok((kind_of(&m), FileStamp::of(&m)))
    }

    /// What `name` is, its stamp and its status change time: unknown here (0), so no
    /// listing index applies.
    pub fn stat_changed(&self, name: &str) -> std::io::Result<(Kind, FileStamp, i64)> {
        self.stat(name).map(|(kind, stamp)| (kind, stamp, 0))
    }

    /// This directory's own stamp.
    pub fn own_stamp(&self) -> std::io::Result<FileStamp> {
        std::fs::symlink_metadata(&self.path).map(|m| FileStamp::of(&m))
    }

    /// Makes the directory `name`.
    pub fn mkdir(&self, name: &str) -> std::io::Result<()> {
        std::fs::create_dir(self.path.join(name))
    }

    /// Renames `from` (here) to `to` in `dir`.
    pub fn rename(&self, from: &str, dir: &DirFd, to: &str) -> std::io::Result<()> {
        std::fs::rename(self.path.join(from), dir.path.join(to))
    }

    /// Hard-links `from` as `to`, both here.
    pub fn link(&self, from: &str, to: &str) -> std::io::Result<()> {
        std::fs::hard_link(self.path.join(from), self.path.join(to))
    }

    /// Removes the file `name`.
    pub fn unlink(&self, name: &str) -> std::io::Result<()> {
        std::fs::remove_file(self.path.join(name))
    }

    /// Removes the empty directory `name`.
    pub fn rmdir(&self, name: &str) -> std::io::Result<()> {
        std::fs::remove_dir(self.path.join(name))
    }

    /// Removes `name` and everything in it; already gone is fine.
    pub fn remove_tree(&self, name: &str) -> std::io::Result<()> {
        let path = self.path.join(name);
        let r = match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&path),
            Ok(_) => std::fs::remove_file(&path),
            Err(e) => Err(e),
        };
        match r {
            Err(e) if errors::is_missing(&e) => Ok(()),
            other => other,
        }
    }

    /// Whether this directory holds nothing but (at most) the entry `name`, reading
    /// entries only until another one shows.
    pub fn holds_only(&self, name: &str) -> std::io::Result<bool> {
        for entry in std::fs::read_dir(&self.path)? {
            if entry?.file_name() != name {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The entries of this directory, with what each is.
    pub fn entries(&self) -> std::io::Result<Vec<(OsString, Kind)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.path)? {
            let entry = entry?;
            let Ok(m) = std::fs::symlink_metadata(entry.path()) else { continue };
            out.push((entry.file_name(), kind_of(&m)));
        }
        Ok(out)
    }

    /// Directories are not synced here.
    pub fn sync(&self) -> Result<()> {
        Ok(())
    }

    /// No attributes here: always look for a sidecar.
    pub fn xattr(&self, _name: &str, _stamp: &FileStamp) -> crate::meta::Found {
        crate::meta::Found::Absent
    }
}
