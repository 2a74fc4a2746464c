//! [`DirFd`] on Unix: `openat` and friends through rustix, `openat2` on Linux.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use storage_core::kit::Result;

use super::{ATTEMPTS, Kind, kept_changing};
use crate::errors::{self, no_container};
use crate::paths::temp_name;
use crate::sidecar::FileStamp;

/// Opening a directory: never through a symlink as the last component either.
const DIR_FLAGS: OFlags = OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

/// Opening a file to read: not a symlink, and non-blocking so that a FIFO placed at
/// the name cannot hang the open.
const READ_FLAGS: OFlags =
    OFlags::RDONLY.union(OFlags::NOFOLLOW).union(OFlags::NONBLOCK).union(OFlags::NOCTTY).union(OFlags::CLOEXEC);

/// Creating a file: a new name only, never through a symlink.
const NEW_FLAGS: OFlags =
    OFlags::WRONLY.union(OFlags::CREATE).union(OFlags::EXCL).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

/// Cleared if the kernel has no `openat2` (before 5.6, or filtered out).
#[cfg(target_os = "linux")]
static OPENAT2: AtomicBool = AtomicBool::new(true);

/// How paths below a container are resolved by `openat2`: no symlinks, never outside.
#[cfg(target_os = "linux")]
const RESOLVE: rfs::ResolveFlags = rfs::ResolveFlags::NO_SYMLINKS.union(rfs::ResolveFlags::BENEATH);

/// An errno as an `io::Error`.
pub fn os(e: Errno) -> std::io::Error {
    std::io::Error::from_raw_os_error(e.raw_os_error())
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

fn kind_of_type(t: FileType) -> Kind {
    match t {
        FileType::RegularFile => Kind::File,
        FileType::Directory => Kind::Dir,
        FileType::Symlink => Kind::Symlink,
        _ => Kind::Other,
    }
}

/// An open directory below (or of) a container; see the [module docs](super).
#[derive(Debug)]
pub struct DirFd {
    fd: OwnedFd,
    /// Where it was when opened: for messages only, never opened again.
    path: PathBuf,
    /// Whether `openat2` may resolve several components at once (`fast_paths`).
    fast: bool,
    /// Whether its entries were read (the next read rewinds first).
    listed: AtomicBool,
}

/// How a walk from a directory ended.
enum Walk {
    Opened(DirFd),
    Missing,
    /// Something changed under the walk: start over.
    Again,
}

impl DirFd {
    fn new(fd: OwnedFd, path: PathBuf, fast: bool) -> DirFd {
        DirFd { fd, path, fast, listed: AtomicBool::new(false) }
    }

    fn child(&self, fd: OwnedFd, rel: impl AsRef<Path>) -> DirFd {
        DirFd::new(fd, self.path.join(rel), self.fast)
    }

    /// Where the directory was when it was opened (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the container directory `dir` (`root/name`, the root canonical), with
    /// `fast` the `fast_paths` option for what is opened below it. A symlink there is
    /// followed only to a directory strictly inside the root (`PermissionDenied`
    /// otherwise); a missing container (or a file there) is `ContainerDoesNotExist`.
    pub fn container(dir: &Path, name: &str, fast: bool) -> Result<Arc<DirFd>> {
        Self::open_container(dir, name, fast).map(Arc::new)
    }

    /// The metadata of the container directory `dir` (see [`DirFd::container`]).
    pub fn container_metadata(dir: &Path, name: &str) -> Result<std::fs::Metadata> {
        let d = Self::open_container(dir, name, false)?;
        File::from(d.fd)
            .metadata()
            .map_err(|e| errors::io(format!("inspecting container directory {}", dir.display()), e))
    }

    fn open_container(dir: &Path, name: &str, fast: bool) -> Result<DirFd> {
        let failed = |e: std::io::Error| errors::io(format!("opening container directory {}", dir.display()), e);
        for _ in 0..ATTEMPTS {
            match rfs::open(dir, DIR_FLAGS, Mode::empty()) {
                Ok(fd) => return Ok(DirFd::new(fd, dir.to_owned(), fast)),
                Err(Errno::NOENT) => return Err(no_container(name)),
                // A symlink, or a file.
                Err(Errno::NOTDIR | Errno::LOOP) => {}
                Err(e) => return Err(failed(os(e))),
            }
            match std::fs::symlink_metadata(dir) {
                Ok(m) if m.file_type().is_symlink() => {}
                // Swapped back meanwhile: open it again.
                Ok(m) if m.is_dir() => continue,
                Ok(_) => return Err(no_container(name)),
                Err(e) if errors::is_missing(&e) => return Err(no_container(name)),
                Err(e) => return Err(failed(e)),
            }
            let root = dir.parent().unwrap_or(dir);
            let target = match std::fs::canonicalize(dir) {
                Ok(t) => t,
                Err(e) if errors::is_missing(&e) => return Err(no_container(name)),
                Err(e) => return Err(errors::io(format!("resolving the container directory {}", dir.display()), e)),
            };
            let rel = match target.strip_prefix(root) {
                Ok(rel) if !rel.as_os_str().is_empty() => rel,
                _ => return Err(errors::container_escape(dir, &target, root)),
            };
            // Opened from the root one component at a time, never following a link:
            // the directory opened is inside the root even if the link changed since.
            let mut at =
                DirFd::new(rfs::open(root, DIR_FLAGS, Mode::empty()).map_err(|e| failed(os(e)))?, root.into(), fast);
            for c in rel.components() {
                let Component::Normal(c) = c else { return Err(errors::container_escape(dir, &target, root)) };
                at = match rfs::openat(&at.fd, c, DIR_FLAGS, Mode::empty()) {
                    Ok(fd) => at.child(fd, c),
                    Err(Errno::NOENT) => return Err(no_container(name)),
                    // Changed since it was resolved: a symlink now is refused, a file
                    // is no container.
                    Err(Errno::NOTDIR | Errno::LOOP) => match rfs::statat(&at.fd, c, AtFlags::SYMLINK_NOFOLLOW) {
                        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                            return Err(errors::symlink_refused(&at.path.join(c)));
                        }
                        _ => return Err(no_container(name)),
                    },
                    Err(e) => return Err(failed(os(e))),
                };
            }
            at.path = dir.to_owned();
            return Ok(at);
        }
        Err(kept_changing(dir))
    }

    /// The directory `comps` below this one, or `None` if something on the way is
    /// missing (or is a file). A symlink on the way is `PermissionDenied`.
    pub fn find(self: &Arc<Self>, comps: &[String]) -> Result<Option<Arc<DirFd>>> {
        self.descend(comps, false)
    }

    /// The directory `comps` below this one, making the missing ones. A symlink on the
    /// way is `PermissionDenied`; a file where a directory is needed is refused with
    /// `InvalidObjectName` (a key cannot be a prefix too).
    pub fn make(self: &Arc<Self>, comps: &[String]) -> Result<Arc<DirFd>> {
        self.descend(comps, true)?.ok_or_else(|| kept_changing(&self.path.join(comps.join("/"))))
    }

    fn descend(self: &Arc<Self>, comps: &[String], create: bool) -> Result<Option<Arc<DirFd>>> {
        if comps.is_empty() {
            return Ok(Some(Arc::clone(self)));
        }
        for _ in 0..ATTEMPTS {
            #[cfg(target_os = "linux")]
            if self.fast && OPENAT2.load(Ordering::Relaxed) {
                let rel = comps.join("/");
                match rfs::openat2(&self.fd, &rel, DIR_FLAGS, Mode::empty(), RESOLVE) {
                    Ok(fd) => return Ok(Some(Arc::new(self.child(fd, &rel)))),
                    Err(Errno::NOENT) if !create => return Ok(None),
                    // No openat2, or a seccomp filter refusing it (containers answer
                    // EPERM): the walk from now on.
                    Err(Errno::NOSYS | Errno::PERM) => OPENAT2.store(false, Ordering::Relaxed),
                    // Directories to make, or a symlink or file in the way (a symlink
                    // as the last component is ENOTDIR with O_DIRECTORY): the walk makes
                    // them or says what is there.
                    Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP | Errno::XDEV | Errno::AGAIN) => {}
                    Err(e) => {
                        return Err(errors::io(format!("opening directory {}", self.path.join(&rel).display()), os(e)));
                    }
                }
            }
            match self.walk(comps, create)? {
                Walk::Opened(d) => return Ok(Some(Arc::new(d))),
                Walk::Missing => return Ok(None),
                Walk::Again => continue,
            }
        }
        Err(kept_changing(&self.path.join(comps.join("/"))))
    }

    /// On Linux with `openat2` and `fast`: the existing directory `comps` below the
    /// container directory `container_dir` (`root/name`, the root canonical), in one call
    /// that follows no symlink anywhere on the path, instead of opening the container
    /// and then the directory (two opens and a close fewer per PUT). `None` whenever that
    /// call fails (a directory to make, a container that is a symlink, no `openat2`...):
    /// the caller then takes [`DirFd::container`] and [`DirFd::make`], which decide.
    #[cfg(target_os = "linux")]
    pub fn key_dir(container_dir: &Path, comps: &[String], fast: bool) -> Option<Arc<DirFd>> {
        if !fast || !OPENAT2.load(Ordering::Relaxed) {
            return None;
        }
        let mut path = container_dir.to_path_buf();
        path.extend(comps);
        // The keys' components hold no `..` (encoded), and the root was made canonical:
        // refusing every symlink keeps the open inside the container.
        let resolve = rfs::ResolveFlags::NO_SYMLINKS | rfs::ResolveFlags::NO_MAGICLINKS;
        let fd = rfs::openat2(rfs::CWD, &path, DIR_FLAGS, Mode::empty(), resolve).ok()?;
        Some(Arc::new(DirFd::new(fd, path, true)))
    }

    /// Elsewhere: always `None` (see the Linux version).
    #[cfg(not(target_os = "linux"))]
    pub fn key_dir(_container_dir: &Path, _comps: &[String], _fast: bool) -> Option<Arc<DirFd>> {
        None
    }

    /// Opens `comps` one component at a time, never following a symlink.
    fn walk(&self, comps: &[String], create: bool) -> Result<Walk> {
        let mut cur: Option<DirFd> = None;
        for c in comps {
            let base = cur.as_ref().unwrap_or(self);
            let here = || base.path.join(c);
            let mut tries = 0;
            let fd = loop {
                tries += 1;
                if tries > ATTEMPTS {
                    return Ok(Walk::Again);
                }
                match rfs::openat(&base.fd, c.as_str(), DIR_FLAGS, Mode::empty()) {
                    Ok(fd) => break fd,
                    Err(Errno::NOENT) if create => {
                        match rfs::mkdirat(&base.fd, c.as_str(), Mode::from_bits_truncate(0o777)) {
                            Ok(()) | Err(Errno::EXIST) => continue,
                            // `base` itself is gone (pruned by a concurrent delete).
                            Err(Errno::NOENT) => return Ok(Walk::Again),
                            Err(e) => {
                                return Err(errors::io(format!("creating directory {}", here().display()), os(e)));
                            }
                        }
                    }
                    Err(Errno::NOENT) => return Ok(Walk::Missing),
                    // Not a directory: a symlink, a file, or changed meanwhile.
                    Err(Errno::NOTDIR | Errno::LOOP) => match base.stat(c) {
                        Ok((Kind::Symlink, _)) => return Err(errors::symlink_refused(&here())),
                        Ok((Kind::Dir, _)) => continue,
                        Ok(_) if create => return Err(errors::conflict(&here())),
                        Ok(_) => return Ok(Walk::Missing),
                        Err(e) if errors::is_missing(&e) => continue,
                        Err(e) => return Err(errors::io(format!("inspecting {}", here().display()), e)),
                    },
                    Err(e) => return Err(errors::io(format!("opening directory {}", here().display()), os(e))),
                }
            };
            cur = Some(base.child(fd, c));
        }
        Ok(cur.map_or(Walk::Missing, Walk::Opened))
    }

    /// On Linux with `openat2`: opens the file `comps` below this directory to read, in
    /// one call refusing symlinks. `None` when the walk must decide (no `openat2`,
    /// `fast_paths` off, or a symlink to report); `NotFound` when something on the way
    /// is missing or not a directory.
    #[cfg(target_os = "linux")]
    pub fn open_beneath(&self, comps: &[String]) -> Option<std::io::Result<File>> {
        if !self.fast || !OPENAT2.load(Ordering::Relaxed) {
            return None;
        }
        match rfs::openat2(&self.fd, comps.join("/"), READ_FLAGS, Mode::empty(), RESOLVE) {
            Ok(fd) => Some(Ok(File::from(fd))),
            Err(Errno::NOENT | Errno::NOTDIR) => Some(Err(std::io::ErrorKind::NotFound.into())),
            Err(Errno::NOSYS | Errno::PERM) => {
                OPENAT2.store(false, Ordering::Relaxed);
                None
            }
            Err(_) => None,
        }
    }

    /// Elsewhere: always the walk.
    #[cfg(not(target_os = "linux"))]
    pub fn open_beneath(&self, _comps: &[String]) -> Option<std::io::Result<File>> {
        None
    }

    /// The subdirectory `name` (never a symlink: `NotADirectory` then).
    pub fn open_dir(&self, name: &str) -> std::io::Result<DirFd> {
        rfs::openat(&self.fd, name, DIR_FLAGS, Mode::empty()).map(|fd| self.child(fd, name)).map_err(os)
    }

    /// Opens the file `name` to read (never through a symlink: `ELOOP` then).
    pub fn open_read(&self, name: &str) -> std::io::Result<File> {
        rfs::openat(&self.fd, name, READ_FLAGS, Mode::empty()).map(File::from).map_err(os)
    }

    /// Reads the whole file `name` (never through a symlink). Meant for small files
    /// (sidecars, manifests): plain reads until the end, without the `fstat` and `lseek`
    /// std spends on sizing a buffer.
    pub fn read(&self, name: &str) -> std::io::Result<Vec<u8>> {
        let mut f = self.open_read(name)?;
        let mut out = vec![0u8; 1024];
        let mut len = 0;
        loop {
            if len == out.len() {
                out.resize(len * 2, 0);
            }
            match f.read(&mut out[len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        out.truncate(len);
        Ok(out)
    }

    /// Creates the new file `name` to write (`AlreadyExists` if anything has the name).
    pub fn create_new(&self, name: &str) -> std::io::Result<File> {
        rfs::openat(&self.fd, name, NEW_FLAGS, Mode::from_bits_truncate(0o666)).map(File::from).map_err(os)
    }

    /// Creates a new temporary file (`%t.<unique>`); returns it and its name.
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
        let st = rfs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW).map_err(os)?;
        Ok((kind_of_type(FileType::from_raw_mode(st.st_mode)), stamp_of(&st)))
    }

    /// What `name` is (not following a symlink), its stamp and its status change time
    /// (nanoseconds since the epoch: any write, attribute change or rename of the file
    /// moves it, and no program can set it).
    pub fn stat_changed(&self, name: &str) -> std::io::Result<(Kind, FileStamp, i64)> {
        let st = rfs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW).map_err(os)?;
        let ctime_ns = (st.st_ctime as i64).saturating_mul(1_000_000_000).saturating_add(st.st_ctime_nsec as i64);
        Ok((kind_of_type(FileType::from_raw_mode(st.st_mode)), stamp_of(&st), ctime_ns))
    }

    /// This directory's own stamp (inode, modification time).
    pub fn own_stamp(&self) -> std::io::Result<FileStamp> {
        rfs::fstat(&self.fd).map(|st| stamp_of(&st)).map_err(os)
    }

    /// Makes the directory `name`.
    pub fn mkdir(&self, name: &str) -> std::io::Result<()> {
        rfs::mkdirat(&self.fd, name, Mode::from_bits_truncate(0o777)).map_err(os)
    }

    /// Renames `from` (here) to `to` in `dir`, replacing a file there.
    pub fn rename(&self, from: &str, dir: &DirFd, to: &str) -> std::io::Result<()> {
        rfs::renameat(&self.fd, from, &dir.fd, to).map_err(os)
    }

    /// Hard-links `from` as `to`, both here (`AlreadyExists` if `to` exists).
    pub fn link(&self, from: &str, to: &str) -> std::io::Result<()> {
        rfs::linkat(&self.fd, from, &self.fd, to, AtFlags::empty()).map_err(os)
    }

    /// Removes the file (or symlink) `name`.
    pub fn unlink(&self, name: &str) -> std::io::Result<()> {
        rfs::unlinkat(&self.fd, name, AtFlags::empty()).map_err(os)
    }

    /// Removes the empty directory `name`.
    pub fn rmdir(&self, name: &str) -> std::io::Result<()> {
        rfs::unlinkat(&self.fd, name, AtFlags::REMOVEDIR).map_err(os)
    }

    /// Removes `name` and, if it is a directory, everything in it (never following a
    /// symlink). Already gone is fine.
    pub fn remove_tree(&self, name: &str) -> std::io::Result<()> {
        match self.stat(name) {
            Ok((kind, _)) => self.remove_entry(OsStr::new(name), kind),
            Err(e) if errors::is_missing(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn remove_entry(&self, name: &OsStr, kind: Kind) -> std::io::Result<()> {
        let gone = |r: rustix::io::Result<()>| match r {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(os(e)),
        };
        if kind != Kind::Dir {
            return gone(rfs::unlinkat(&self.fd, name, AtFlags::empty()));
        }
        let sub = match rfs::openat(&self.fd, name, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => self.child(fd, name),
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(os(e)),
        };
        for (entry, kind) in sub.entries()? {
            sub.remove_entry(&entry, kind)?;
        }
        gone(rfs::unlinkat(&self.fd, name, AtFlags::REMOVEDIR))
    }

    /// Whether this directory holds nothing but (at most) the entry `name`: reads
    /// entries only until another one shows, so a large directory costs one small read.
    pub fn holds_only(&self, name: &str) -> std::io::Result<bool> {
        let mut only = true;
        self.each_entry(1024, |n, _| {
            only = n == name.as_bytes();
            Ok(only)
        })?;
        Ok(only)
    }

    /// The entries of this directory (without `.` and `..`), with what each is.
    pub fn entries(&self) -> std::io::Result<Vec<(OsString, Kind)>> {
        let mut out = Vec::new();
        self.each_entry(32 * 1024, |name, t| {
            let kind = match t {
                FileType::Unknown => match rfs::statat(&self.fd, OsStr::from_bytes(name), AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => kind_of_type(FileType::from_raw_mode(st.st_mode)),
                    Err(Errno::NOENT) => return Ok(true),
                    Err(e) => return Err(os(e)),
                },
                t => kind_of_type(t),
            };
            out.push((OsString::from_vec(name.to_vec()), kind));
            Ok(true)
        })?;
        Ok(out)
    }

    /// Calls `f` with each entry's name and type (without `.` and `..`), from the start
    /// of the directory (reading `buf` bytes of entries at a time on Linux), until `f`
    /// answers `false`.
    fn each_entry(
        &self,
        #[cfg_attr(not(target_os = "linux"), allow(unused_variables))] buf: usize,
        mut f: impl FnMut(&[u8], FileType) -> std::io::Result<bool>,
    ) -> std::io::Result<()> {
        let mut visit = |name: &[u8], t: FileType| match name {
            b"." | b".." => Ok(true),
            name => f(name, t),
        };
        #[cfg(target_os = "linux")]
        {
            // getdents64 on this descriptor: no second open (so a second read seeks back).
            if self.listed.swap(true, Ordering::Relaxed) {
                rfs::seek(&self.fd, rfs::SeekFrom::Start(0)).map_err(os)?;
            }
            let mut buf = Vec::with_capacity(buf);
            let mut raw = rfs::RawDir::new(&self.fd, buf.spare_capacity_mut());
            while let Some(entry) = raw.next() {
                let entry = entry.map_err(os)?;
                if !visit(entry.file_name().to_bytes(), entry.file_type())? {
                    break;
                }
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            self.listed.store(true, Ordering::Relaxed);
            for entry in rfs::Dir::read_from(&self.fd).map_err(os)? {
                let entry = entry.map_err(os)?;
                if !visit(entry.file_name().to_bytes(), entry.file_type())? {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Fsyncs this directory (`EINVAL` from filesystems that cannot is ignored).
    pub fn sync(&self) -> Result<()> {
        match rfs::fsync(&self.fd) {
            Ok(()) | Err(Errno::INVAL) => Ok(()),
            Err(e) => Err(errors::io(format!("syncing directory {}", self.path.display()), os(e))),
        }
    }

    /// The metadata attribute of the file `name` here, read without opening it where
    /// `/proc` lets a path start at this descriptor.
    #[cfg(target_os = "linux")]
    pub fn xattr(&self, name: &str, stamp: &FileStamp) -> crate::meta::Found {
        use std::os::fd::AsRawFd;
        static PROC_FD: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        if *PROC_FD.get_or_init(|| Path::new("/proc/self/fd").is_dir()) {
            // The magic link is the directory this descriptor holds, wherever it is now.
            let path = format!("/proc/self/fd/{}/{name}", self.fd.as_raw_fd());
            return crate::meta::get_path(Path::new(&path), stamp);
        }
        match self.open_read(name) {
            Ok(f) => crate::meta::get_fd(&f, stamp),
            Err(_) => crate::meta::Found::Absent,
        }
    }

    /// No attributes here: always look for a sidecar.
    #[cfg(not(target_os = "linux"))]
    pub fn xattr(&self, _name: &str, _stamp: &FileStamp) -> crate::meta::Found {
        crate::meta::Found::Absent
    }
}
