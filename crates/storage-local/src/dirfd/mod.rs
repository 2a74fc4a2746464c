//! Directory descriptors: every filesystem operation below a container directory is
//! made relative to an open descriptor of the directory it happens in ([`DirFd`]),
//! never by path, so a directory swapped for a symbolic link between a check and its
//! use cannot lead anywhere outside the root.
//!
//! - The container directory is opened without following a symlink; a symlinked
//!   container (allowed when it leads to a directory strictly inside the root) is
//!   opened component by component from the root, again without following one, so
//!   the directory opened is the one inside the root even if the link changes.
//! - The directories of a key are opened from the container's descriptor with one
//!   `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` on Linux ([`DirFd::find`],
//!   [`DirFd::make`]); where `openat2` is missing, refused, or something is in the way,
//!   and with [`crate::LocalOptions::fast_paths`] off, by a walk of `openat(O_NOFOLLOW |
//!   O_DIRECTORY)` one component at a time, making missing ones with `mkdirat`. The
//!   walk names what it found in the way (a symlink: `PermissionDenied`; a file).
//! - Then temporary files (`O_CREAT | O_EXCL | O_NOFOLLOW`), reads (`O_NOFOLLOW`),
//!   renames, links, unlinks, listings, metadata attributes and fsyncs are all relative
//!   to that descriptor.
//!
//! Separate because it is the driver's containment argument in one place: the other
//! modules never touch a path below a container. On platforms without `openat` (not
//! Unix) the same interface works on paths, checked per component as before, without
//! the guarantee against concurrent swaps.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::*;

#[cfg(not(unix))]
mod portable;
#[cfg(not(unix))]
pub use portable::*;

/// What a name in a directory is (never following a symlink).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// Anything else (a FIFO, a socket, a device).
    Other,
}

/// How many times an operation starts over when the directories it works in keep
/// changing under it (a concurrent delete pruning a directory just made).
pub const ATTEMPTS: usize = 8;

/// The error when the directories of a key kept changing during [`ATTEMPTS`] tries.
pub fn kept_changing(path: &std::path::Path) -> storage_core::kit::Error {
    storage_core::kit::Error::new(
        storage_core::kit::ErrorKind::Io,
        format!("the directory {} kept changing while it was opened", path.display()),
    )
}
