//! The next writer's cleanup: temporary files (`%t.*`) that a killed writer left in a
//! directory are removed by the next put into that directory.
//!
//! A writer holds an exclusive `flock` on its temporary data file from the moment it
//! creates it until it closes it (after the rename into place, or after removing it). The
//! kernel drops the lock when the process dies, however it dies. So a temporary file that
//! is older than [`GRACE`] and whose lock can be taken belongs to nobody, and is removed.
//! A live writer's file is never taken: its lock is held (and a file younger than the grace
//! period is left alone, covering the moment between creating a file and locking it, and
//! the short-lived sidecar files written just before a rename).
//!
//! A put sweeps its directory at most once per [`INTERVAL`] per process, so the cost is
//! one directory read now and then. Everything happens through a directory descriptor
//! opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` below the container, and
//! relative to it with `O_NOFOLLOW`, so a directory swapped for a symlink cannot turn a
//! sweep into a deletion elsewhere. Without `openat2` (Linux before 5.6, or filtered) or
//! `flock` (some network filesystems), nothing is swept: [`crate::LocalDriver`]'s
//! `list_leftovers` / `remove_leftover` still find and remove what a kill left.

use std::collections::HashMap;
use std::fs::File;
use std::hash::Hasher;
use std::os::fd::AsFd;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use rustix::fs::{self as rfs, AtFlags, FileType, FlockOperation, Mode, OFlags, ResolveFlags};

use crate::locks::{BuildPrehashed, Fnv1a};
use crate::paths::{ObjectPath, TEMP_PREFIX};

/// Temporary files younger than this are never swept.
pub const GRACE: Duration = Duration::from_secs(60);

/// A directory is swept at most once per this long per process.
pub const INTERVAL: Duration = Duration::from_secs(600);

/// Directories remembered at most; the memory is cleared beyond.
const REMEMBERED: usize = 4096;

/// When each directory was last swept, by a 64-bit FNV-1a hash of its path (two
/// directories sharing one only delay a sweep: the next writer's cleanup is best effort).
static LAST: Mutex<Option<HashMap<u64, Instant, BuildPrehashed>>> = Mutex::new(None);

/// FNV-1a over the directory's path, without building it: a PUT asks every time, and the
/// `PathBuf` and SipHash this replaced were 6% of a 4 KiB PUT's instructions.
fn dir_hash(op: &ObjectPath) -> u64 {
    let mut h = Fnv1a::default();
    let mut eat = |bytes: &[u8]| {
        h.write(bytes);
        // A separator no name holds, so ("ab", "c") and ("a", "bc") differ.
        h.write_u8(b'/');
    };
    eat(op.container_dir.as_os_str().as_encoded_bytes());
    for c in op.parent_components() {
        eat(c.as_bytes());
    }
    h.finish()
}

/// Takes the writer's lock on a temporary file it just created (blocking, never waits:
/// nobody else has the file). A filesystem without `flock` leaves it unlocked, and then
/// a sweep cannot lock it either.
pub fn hold(file: &File) {
    let _ = rfs::flock(file.as_fd(), FlockOperation::NonBlockingLockExclusive);
}

/// Whether the directory of `op` is due for a sweep (and marks it swept).
pub fn due(op: &ObjectPath) -> bool {
    let dir = dir_hash(op);
    let now = Instant::now();
    let mut guard = LAST.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let map = guard.get_or_insert_with(HashMap::default);
    if map.get(&dir).is_some_and(|t| now.duration_since(*t) < INTERVAL) {
        return false;
    }
    if map.len() >= REMEMBERED {
        map.clear();
    }
    map.insert(dir, now);
    true
}

/// Removes the dead writers' temporary files in the directory of `op` (blocking); returns
/// how many. Best effort: any failure leaves files in place.
pub fn sweep(op: &ObjectPath) -> usize {
    sweep_older_than(op, GRACE)
}

/// [`sweep`] with another grace period (tests age nothing: they pass zero).
pub fn sweep_older_than(op: &ObjectPath, grace: Duration) -> usize {
    let cflags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let Ok(cfd) = rfs::open(&op.container_dir, cflags, Mode::empty()) else { return 0 };
    let parent = op.components[..op.components.len().saturating_sub(1)].join("/");
    let parent = if parent.is_empty() { ".".to_owned() } else { parent };
    let dflags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let resolve = ResolveFlags::NO_SYMLINKS | ResolveFlags::BENEATH;
    let Ok(dir) = rfs::openat2(&cfd, &parent, dflags, Mode::empty(), resolve) else { return 0 };
    let Ok(mut entries) = rfs::Dir::read_from(&dir) else { return 0 };
    let cutoff = SystemTime::now().checked_sub(grace).unwrap_or(SystemTime::UNIX_EPOCH);
    let mut removed = 0;
    while let Some(Ok(entry)) = entries.next() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(TEMP_PREFIX) && remove_if_dead(&dir, &name, cutoff) {
            removed += 1;
        }
    }
    removed
}

/// Removes `name` in `dir` if it is a regular file last modified before `cutoff` whose
/// writer's lock is gone; true if removed.
fn remove_if_dead(dir: &rustix::fd::OwnedFd, name: &str, cutoff: SystemTime) -> bool {
    let Ok(st) = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) else { return false };
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return false;
    }
    let modified = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(st.st_mtime).unwrap_or(0));
    if modified >= cutoff {
        return false;
    }
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let Ok(fd) = rfs::openat(dir, name, flags, Mode::empty()) else { return false };
    if rfs::flock(&fd, FlockOperation::NonBlockingLockExclusive).is_err() {
        return false;
    }
    // Still the same file under that name (not renamed into place and replaced meanwhile).
    match (rfs::fstat(&fd), rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)) {
        (Ok(a), Ok(b)) if a.st_ino == b.st_ino && a.st_dev == b.st_dev => {}
        _ => return false,
    }
    let gone = rfs::unlinkat(dir, name, AtFlags::empty()).is_ok();
    if gone {
        tracing::debug!(file = name, "removed a dead writer's temporary file");
    }
    gone
}
