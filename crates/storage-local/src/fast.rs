//! Linux fast paths: a PUT of an in-memory payload and the opening of an object for a
//! read, each a handful of system calls in one blocking task.
//!
//! Containment comes from the kernel instead of a `stat` per path component: the
//! container directory is opened without following a symlink (a symlinked container
//! goes through the checked code, which follows it only inside the root), then everything below it is
//! resolved with `openat2(RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH)`, and a write then
//! works relative to the parent directory's descriptor (temporary file, metadata
//! attribute, mode check, rename), so nothing it touches can be swapped for a symlink
//! half way. Anything unusual (a missing directory to create, a symlink to report, a
//! kernel without `openat2`) goes through the checked path-by-path code, which gives
//! the same errors as before.
//!
//! Separate (and Linux only) because it is an optimisation with its own containment
//! argument: removing this module leaves a driver with the same behaviour.

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use storage_core::kit::{Error, ErrorKind, Md5Hasher, Result};
use storage_core::{Object, PutMode};

use crate::core::Shared;
use crate::errors::{self, already_exists, no_container, no_object, prefix_conflict, symlink_not_replaced};
use crate::meta;
use crate::paths::{self, ObjectPath, require_container, sidecar_name, temp_name};
use crate::read::Opened;
use crate::sidecar::{FileStamp, Headers, Sidecar, describe, load_meta};
use storage_core::kit::verify_md5_hex;

/// Cleared if the kernel has no `openat2` (before 5.6, or filtered out).
static OPENAT2: AtomicBool = AtomicBool::new(true);

/// How paths below a container are resolved: no symlinks, never outside.
const RESOLVE: ResolveFlags = ResolveFlags::NO_SYMLINKS.union(ResolveFlags::BENEATH);

fn os(e: Errno) -> std::io::Error {
    std::io::Error::from_raw_os_error(e.raw_os_error())
}

/// The components of `op` joined with `/`, all of them or all but the last.
fn rel(op: &ObjectPath, with_leaf: bool) -> String {
    let n = if with_leaf { op.components.len() } else { op.components.len().saturating_sub(1) };
    op.components[..n].join("/")
}

/// The stamp of a `stat` result (the same values `FileStamp::of` takes from std).
#[allow(clippy::unnecessary_cast)]
pub fn stamp_of(st: &rfs::Stat) -> FileStamp {
    let secs = st.st_mtime as i64;
    let nanos = st.st_mtime_nsec as i64;
    FileStamp {
        inode: st.st_ino as u64,
        size: u64::try_from(st.st_size as i64).unwrap_or(0),
        mtime_ns: secs.saturating_mul(1_000_000_000).saturating_add(nanos),
    }
}

/// Opens the data file of `op` for reading and reads its metadata. `Ok(None)` when
/// the checked path must decide (a symlink on the way, a directory or special file at
/// the key, no `openat2`).
pub fn open(op: &ObjectPath, container: &str, key: &str) -> Result<Option<Opened>> {
    if !OPENAT2.load(Ordering::Relaxed) {
        return Ok(None);
    }
    // Not following a symlinked container: the checked path vets where it leads.
    let cflags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let cfd = match rfs::open(&op.container_dir, cflags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Err(no_container(container)),
        Err(_) => return Ok(None),
    };
    // Non-blocking, so a FIFO placed at the key cannot hang the open.
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = match rfs::openat2(&cfd, rel(op, true), flags, Mode::empty(), RESOLVE) {
        Ok(fd) => fd,
        Err(Errno::NOENT | Errno::NOTDIR) => return Err(no_object(container, key)),
        // No openat2, or a seccomp filter refusing it (containers answer EPERM).
        Err(Errno::NOSYS | Errno::PERM) => {
            OPENAT2.store(false, Ordering::Relaxed);
            return Ok(None);
        }
        Err(_) => return Ok(None),
    };
    let file = std::fs::File::from(fd);
    let Ok(m) = file.metadata() else { return Ok(None) };
    if !m.is_file() {
        return Ok(None);
    }
    let stamp = FileStamp::of(&m);
    let (meta, stale) = load_meta(Some(&file), &op.data(), &stamp, &op.sidecar(), true);
    let object = describe(container, key, &stamp, meta);
    Ok(Some(Opened { file, object, stale }))
}

/// A file created in a directory (by descriptor) and removed again unless kept.
struct TempAt<'a> {
    dir: BorrowedFd<'a>,
    name: String,
    armed: bool,
}

impl TempAt<'_> {
    fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for TempAt<'_> {
    fn drop(&mut self) {
        if self.armed
            && let Err(e) = rfs::unlinkat(self.dir, &self.name, AtFlags::empty())
            && e != Errno::NOENT
        {
            tracing::warn!(name = %self.name, error = %os(e), "could not remove a temporary file");
        }
    }
}

/// Creates a new temporary file in `dir`; returns it and its name.
fn create_temp(dir: BorrowedFd<'_>) -> std::result::Result<(std::fs::File, String), Errno> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    loop {
        let name = temp_name();
        match rfs::openat(dir, &name, flags, Mode::from_bits_truncate(0o666)) {
            Ok(fd) => {
                let file = std::fs::File::from(fd);
                crate::sweep::hold(&file);
                return Ok((file, name));
            }
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// An in-memory payload to store as `key`: the whole PUT, on a blocking thread.
pub struct PutBytes {
    /// The driver's shared state.
    pub shared: Arc<Shared>,
    /// Where the object goes.
    pub op: ObjectPath,
    /// Its container.
    pub container: String,
    /// Its key.
    pub key: String,
    /// The content.
    pub data: Bytes,
    /// Headers to store (default content type already applied).
    pub headers: Headers,
    /// `PutOptions::content_md5`.
    pub content_md5: Option<String>,
    /// The put mode.
    pub mode: PutMode,
}

impl PutBytes {
    /// Opens (creating if needed) the directory the data file goes in, refusing
    /// symlinks below the container.
    fn parent_dir(&self) -> Result<OwnedFd> {
        let op = &self.op;
        let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let parent = rel(op, false);
        for _ in 0..8 {
            if !OPENAT2.load(Ordering::Relaxed) {
                require_container(&op.container_dir, &self.container)?;
                paths::resolve(op, true)?;
                let p = op.parent();
                match rfs::open(&p, dir_flags | OFlags::NOFOLLOW, Mode::empty()) {
                    Ok(fd) => return Ok(fd),
                    // A concurrent delete pruned the directory just made: make it again.
                    Err(Errno::NOENT) => continue,
                    Err(e) => return Err(errors::io(format!("opening directory {}", p.display()), os(e))),
                }
            }
            let cflags = if parent.is_empty() { dir_flags } else { OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC };
            let cfd = match rfs::open(&op.container_dir, cflags | OFlags::NOFOLLOW, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => return Err(no_container(&self.container)),
                // A symlink (followed only when it stays inside the root) or a file.
                Err(Errno::NOTDIR | Errno::LOOP) => {
                    require_container(&op.container_dir, &self.container)?;
                    match rfs::open(&op.container_dir, cflags, Mode::empty()) {
                        Ok(fd) => fd,
                        Err(Errno::NOENT | Errno::NOTDIR) => return Err(no_container(&self.container)),
                        Err(e) => {
                            let p = &op.container_dir;
                            return Err(errors::io(format!("opening container directory {}", p.display()), os(e)));
                        }
                    }
                }
                Err(e) => {
                    let p = &op.container_dir;
                    return Err(errors::io(format!("opening container directory {}", p.display()), os(e)));
                }
            };
            if parent.is_empty() {
                return Ok(cfd);
            }
            match rfs::openat2(&cfd, &parent, dir_flags | OFlags::NOFOLLOW, Mode::empty(), RESOLVE) {
                Ok(fd) => return Ok(fd),
                // Creates the missing directories (or reports a file in the way).
                Err(Errno::NOENT | Errno::NOTDIR) => {
                    paths::resolve(op, true)?;
                }
                // No openat2, or a seccomp filter refusing it (containers answer EPERM):
                // the checked walk from now on, which reports any real error.
                Err(Errno::NOSYS | Errno::PERM) => OPENAT2.store(false, Ordering::Relaxed),
                // A symlink on the way: the checked walk reports it.
                Err(Errno::LOOP | Errno::XDEV | Errno::AGAIN) => {
                    paths::resolve(op, false)?;
                }
                Err(e) => {
                    let p = op.parent();
                    return Err(errors::io(format!("opening directory {}", p.display()), os(e)));
                }
            }
        }
        Err(Error::new(ErrorKind::Io, format!("the directory {} kept changing", op.parent().display())))
    }

    /// Runs the PUT (blocking).
    pub fn run(self) -> Result<Object> {
        let mut hasher = Md5Hasher::new();
        hasher.update(&self.data);
        let md5 = hasher.finish_hex();
        verify_md5_hex(self.content_md5.as_deref(), &md5)?;
        let fsync = self.shared.options.fsync;
        let op = &self.op;
        let io = |what: &str, e: std::io::Error| errors::io(format!("{what} in {}", op.parent().display()), e);

        let mut attempts = 0;
        let (dir, mut file, name) = loop {
            attempts += 1;
            let dir = self.parent_dir()?;
            match create_temp(dir.as_fd()) {
                Ok((file, name)) => break (dir, file, name),
                // A concurrent delete pruned the directory: make it again.
                Err(Errno::NOENT) if attempts < 8 => continue,
                Err(e) => return Err(io("creating a temporary file", os(e))),
            }
        };
        let temp = TempAt { dir: dir.as_fd(), name, armed: true };
        file.write_all(&self.data).map_err(|e| io("writing a temporary file", e))?;
        let m = file.metadata().map_err(|e| io("inspecting a temporary file", e))?;
        let stamp = FileStamp::of(&m);
        let sidecar = Sidecar::new(stamp, md5.clone(), Some(md5), self.headers.clone());

        let mut in_xattr = false;
        if self.shared.use_xattrs() {
            match meta::set_fd(&file, &meta::encode(&sidecar)) {
                Ok(()) => in_xattr = true,
                Err(true) => self.shared.xattrs_work.store(false, Ordering::Relaxed),
                Err(false) => {}
            }
        }
        let side = if in_xattr {
            None
        } else {
            let json = sidecar.json()?;
            let (mut f, name) = create_temp(dir.as_fd()).map_err(|e| io("creating a sidecar file", os(e)))?;
            let side = TempAt { dir: dir.as_fd(), name, armed: true };
            f.write_all(&json).map_err(|e| io("writing a sidecar file", e))?;
            if fsync {
                f.sync_all().map_err(|e| io("syncing a sidecar file", e))?;
            }
            Some(side)
        };
        if fsync {
            file.sync_all().map_err(|e| io("syncing a temporary file", e))?;
        }
        let lock = self.shared.locks.lock(&self.container, &self.key);
        let linked = commit_at(dir.as_fd(), op, &temp.name, side.as_ref().map(|s| s.name.as_str()), &self.mode)?;
        drop(lock);
        // Closed (and its writer's lock released, `sweep.rs`) only once it is in place.
        drop(file);
        if linked {
            // Linked into place: the temporary name goes (TempAt's drop).
            drop(temp);
        } else {
            temp.keep();
        }
        if let Some(s) = side {
            s.keep();
        }
        if fsync {
            match rfs::fsync(&dir) {
                Ok(()) | Err(Errno::INVAL) => {}
                Err(e) => return Err(io("syncing the directory", os(e))),
            }
        }
        Ok(describe(&self.container, &self.key, &stamp, Some(sidecar)))
    }
}

/// Under the key's lock: checks the put mode against the current file and moves the
/// temporary file (and sidecar) into place. Returns whether the data was hard-linked
/// (its temporary name is then still to be removed).
fn commit_at(dir: BorrowedFd<'_>, op: &ObjectPath, temp: &str, side: Option<&str>, mode: &PutMode) -> Result<bool> {
    let leaf = op.leaf();
    let data = || op.data();
    let current = match rfs::statat(dir, leaf, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => match FileType::from_raw_mode(st.st_mode) {
            FileType::Symlink => return Err(symlink_not_replaced(&data())),
            // An empty directory left behind is removed; one holding keys is a conflict.
            FileType::Directory => match rfs::unlinkat(dir, leaf, AtFlags::REMOVEDIR) {
                Ok(()) => None,
                Err(_) => return Err(prefix_conflict(&data())),
            },
            _ if *mode == PutMode::Overwrite => None,
            _ if *mode == PutMode::CreateIfAbsent => Some(String::new()),
            FileType::RegularFile => {
                let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
                match rfs::openat(dir, leaf, flags, Mode::empty()) {
                    Ok(fd) => {
                        let f = std::fs::File::from(fd);
                        let m = f.metadata().map_err(|e| errors::io(format!("inspecting {}", data().display()), e))?;
                        let stamp = FileStamp::of(&m);
                        let (meta, _) = load_meta(Some(&f), &data(), &stamp, &op.sidecar(), true);
                        Some(meta.map(|s| s.etag).unwrap_or_else(|| stamp.derived_etag()))
                    }
                    Err(Errno::NOENT) => None,
                    Err(e) => return Err(errors::io(format!("opening {}", data().display()), os(e))),
                }
            }
            _ => Some(stamp_of(&st).derived_etag()),
        },
        Err(Errno::NOENT) => None,
        Err(e) => return Err(errors::io(format!("inspecting {}", data().display()), os(e))),
    };
    mode.check(current.as_deref())?;
    let mut linked = false;
    let rename = || {
        rfs::renameat(dir, temp, dir, leaf)
            .map_err(|e| errors::io(format!("renaming into place {}", data().display()), os(e)))
    };
    if *mode == PutMode::CreateIfAbsent {
        // A hard link fails atomically if the name exists, even against other processes.
        match rfs::linkat(dir, temp, dir, leaf, AtFlags::empty()) {
            Ok(()) => linked = true,
            Err(Errno::EXIST) => return Err(already_exists()),
            Err(Errno::PERM | Errno::NOTSUP | Errno::ACCESS) => rename()?,
            Err(e) => return Err(errors::io(format!("linking into place {}", data().display()), os(e))),
        }
    } else {
        rename()?;
    }
    if let Some(side) = side {
        let name = sidecar_name(leaf);
        rfs::renameat(dir, side, dir, &name).map_err(|e| {
            errors::io(format!("renaming metadata sidecar into place {}", op.sidecar().display()), os(e))
        })?;
    }
    Ok(linked)
}
