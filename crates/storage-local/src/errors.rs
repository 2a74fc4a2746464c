//! What the filesystem answers, as `storage_core` errors: [`io`] maps an `io::Error`
//! (its kind, and on Linux its errno) to an [`ErrorKind`] with a hint that matches the
//! cause (a full disk, a quota, a read-only filesystem, too many open files, a name too
//! long, a symlink loop), and the named constructors give the driver's own refusals
//! (a symlink refused, a container symlink leaving the root, a key that is also a
//! prefix, a bad key, an unknown upload, an MD5 mismatch) the same words everywhere.
//!
//! Separate so that every operation file maps failures the same way, and a reader looking
//! for "what does the local driver answer when..." finds it in one place.

use std::path::Path;

use storage_core::MultipartUpload;
use storage_core::kit::{Error, ErrorKind};

use crate::core::NAME;

/// An I/O error with `context` (what the driver was doing, naming the path). The kind is
/// the one [`Error::io`] gives every driver (`Timeout`, `PermissionDenied`, else `Io`);
/// the hint names the cause where the filesystem said what it was.
pub(crate) fn io(context: impl Into<String>, e: std::io::Error) -> Error {
    let hint = hint(&e);
    let error = Error::io(context, e);
    match hint {
        Some(h) => error.with_hint(h),
        None => error,
    }
}

/// The hint for what the filesystem answered, where it is more precise than the
/// generic one [`Error::io`] gives.
fn hint(e: &std::io::Error) -> Option<&'static str> {
    #[cfg(target_os = "linux")]
    if let Some(errno) = rustix::io::Errno::from_io_error(e) {
        use rustix::io::Errno;
        let hint = match errno {
            Errno::NOSPC => "the filesystem holding the local driver's root is full: free some space and retry",
            Errno::DQUOT => {
                "the disk quota of this user is used up on the local driver's root: free space or raise \
                             the quota"
            }
            Errno::ROFS => {
                "the local driver's root is on a read-only filesystem: remount it read-write or choose \
                            another root"
            }
            Errno::MFILE | Errno::NFILE => {
                "too many open files: raise the limit (ulimit -n) or lower the \
                                            concurrency"
            }
            Errno::NAMETOOLONG => {
                "a file name or path is too long for this filesystem: use shorter keys or a \
                                   root with a shorter path"
            }
            Errno::LOOP => {
                "a symbolic link loop or a symbolic link the local driver refused to follow; replace \
                            the link with a real directory or file"
            }
            Errno::FBIG => "the file is larger than this filesystem allows",
            Errno::IO => "the storage device reported an I/O error: check the disk",
            Errno::ACCESS | Errno::PERM => {
                "the local driver's process may not access this file or directory: \
                                            check its permissions and owner"
            }
            _ => return None,
        };
        return Some(hint);
    }
    match e.kind() {
        std::io::ErrorKind::StorageFull => {
            Some("the filesystem holding the local driver's root is full: free some space and retry")
        }
        std::io::ErrorKind::ReadOnlyFilesystem => {
            Some("the local driver's root is on a read-only filesystem: remount it read-write or choose another root")
        }
        _ => None,
    }
}

/// Whether an I/O error means "no such file" (including a file where a directory was
/// expected on the way).
pub(crate) fn is_missing(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory)
}

/// Fills in the driver, container and key an error lacks.
pub(crate) fn ctx<'a>(container: &'a str, key: Option<&'a str>) -> impl FnOnce(Error) -> Error + 'a {
    move |e| e.or_context(NAME, Some(container), key)
}

/// `ContainerDoesNotExist` for `name`.
pub(crate) fn no_container(name: &str) -> Error {
    Error::container_not_found(NAME, name)
}

/// `ObjectDoesNotExist` for `key`.
pub(crate) fn no_object(container: &str, key: &str) -> Error {
    Error::object_not_found(NAME, container, key)
}

/// `ObjectDoesNotExist` with provider code `NoSuchUpload`.
pub(crate) fn no_upload(upload: &MultipartUpload) -> Error {
    Error::new(ErrorKind::ObjectDoesNotExist, format!("multipart upload {:?} does not exist", upload.upload_id))
        .with_driver(NAME)
        .with_object(&upload.container, &upload.key)
        .with_provider_code("NoSuchUpload")
}

/// A part list `complete_multipart` cannot use (provider code `InvalidPart`).
pub(crate) fn invalid_part(upload: &MultipartUpload, msg: String) -> Error {
    Error::new(ErrorKind::Backend, msg)
        .with_driver(NAME)
        .with_object(&upload.container, &upload.key)
        .with_provider_code("InvalidPart")
}

/// `InvalidObjectName`: `key` cannot be stored by the local driver, because `why`.
pub(crate) fn invalid_key(key: &str, why: &str) -> Error {
    Error::new(ErrorKind::InvalidObjectName, format!("object key {key:?} is invalid for the local driver: {why}"))
        .with_key(key)
}

/// `PermissionDenied`: `path`, below a container directory, is a symbolic link.
pub(crate) fn symlink_refused(path: &Path) -> Error {
    Error::new(
        ErrorKind::PermissionDenied,
        format!(
            "{} is a symbolic link; the local driver never follows symbolic links inside a container",
            path.display()
        ),
    )
    .with_hint("the local driver refused to follow a symbolic link; replace the link with a real directory or file")
}

/// `PermissionDenied`: something other than a regular file or a directory is at
/// `path` (a FIFO, a socket, a device).
pub(crate) fn not_regular(path: &Path) -> Error {
    Error::new(ErrorKind::PermissionDenied, format!("{} is not a regular file", path.display()))
}

/// `PermissionDenied`: a write would replace the symbolic link at `path`.
pub(crate) fn symlink_not_replaced(path: &Path) -> Error {
    Error::new(
        ErrorKind::PermissionDenied,
        format!("{} is a symbolic link; the local driver never replaces one", path.display()),
    )
}

/// What the error of a container symlink leaving the root says to do.
const ESCAPE_HINT: &str = "a symbolic link leading out of the local driver's root was refused; move the data under \
                           the root, or make the root a directory that holds it";

/// `PermissionDenied`: the container directory `dir` is a symbolic link to `target`,
/// which is not strictly inside `root`.
pub(crate) fn container_escape(dir: &Path, target: &Path, root: &Path) -> Error {
    Error::new(
        ErrorKind::PermissionDenied,
        format!(
            "the container directory {} is a symbolic link to {}, which is not inside the root {}; the local \
             driver never follows a symbolic link out of its root",
            dir.display(),
            target.display(),
            root.display()
        ),
    )
    .with_hint(ESCAPE_HINT)
}

/// `InvalidObjectName`: a key needs `path` as a directory but an object's file is there.
pub(crate) fn conflict(path: &Path) -> Error {
    Error::new(
        ErrorKind::InvalidObjectName,
        format!(
            "{} is an object, so it cannot also be a directory of keys: the local driver cannot hold a key \
             and keys under it as a prefix (\"a\" and \"a/b\") at the same time",
            path.display()
        ),
    )
}

/// `InvalidObjectName`: a key's file would go where a directory of keys under it (as a
/// prefix) is.
pub(crate) fn prefix_conflict(path: &Path) -> Error {
    Error::new(
        ErrorKind::InvalidObjectName,
        format!(
            "{} is a directory holding keys under this key as a prefix: the local driver cannot hold a key \
             and keys under it as a prefix (\"a\" and \"a/b\") at the same time",
            path.display()
        ),
    )
}

/// `Io`: an object's file ended before the length it had when it was opened (it was
/// truncated by hand while being read).
pub(crate) fn truncated() -> Error {
    Error::new(ErrorKind::Io, "the file ended before the expected length; it was truncated")
}

/// `PreconditionFailed`: create-if-absent found the object there.
pub(crate) fn already_exists() -> Error {
    Error::new(ErrorKind::PreconditionFailed, "create-if-absent: the object already exists")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_name_the_cause() {
        let full = io("writing x", std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert_eq!(full.kind(), ErrorKind::Io);
        assert!(full.hint().contains("full"), "{}", full.hint());
        let ro = io("writing x", std::io::Error::from(std::io::ErrorKind::ReadOnlyFilesystem));
        assert!(ro.hint().contains("read-only"), "{}", ro.hint());
        let denied = io("opening x", std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert_eq!(denied.kind(), ErrorKind::PermissionDenied);
        #[cfg(target_os = "linux")]
        {
            let errno = |e: rustix::io::Errno| std::io::Error::from_raw_os_error(e.raw_os_error());
            let full = io("writing x", errno(rustix::io::Errno::NOSPC));
            assert_eq!(full.kind(), ErrorKind::Io);
            assert!(full.hint().contains("full"), "{}", full.hint());
            let quota = io("writing x", errno(rustix::io::Errno::DQUOT));
            assert!(quota.hint().contains("quota"), "{}", quota.hint());
            let ro = io("writing x", errno(rustix::io::Errno::ROFS));
            assert!(ro.hint().contains("read-only"), "{}", ro.hint());
            let files = io("opening x", errno(rustix::io::Errno::MFILE));
            assert!(files.hint().contains("ulimit"), "{}", files.hint());
            let denied = io("opening x", errno(rustix::io::Errno::ACCESS));
            assert_eq!(denied.kind(), ErrorKind::PermissionDenied);
            assert!(denied.hint().contains("permissions"), "{}", denied.hint());
            let lp = io("opening x", errno(rustix::io::Errno::LOOP));
            assert!(lp.hint().contains("symbolic link"), "{}", lp.hint());
        }
        assert!(symlink_refused(Path::new("/r/c/l")).hint().contains("symbolic link"));
    }
}
