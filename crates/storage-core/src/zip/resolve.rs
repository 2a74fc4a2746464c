//! Paths that cross into an archive: `runs/1/output.zip/logs/stdout.txt` names the member
//! `logs/stdout.txt` of the object `runs/1/output.zip`, as Inductiva's `download` reads
//! such paths.
//!
//! The rule, in order:
//! 1. An object (for [`resolve`]) or any object under the prefix (for
//!    [`resolve_folder`]) with exactly the given key wins: a real key is never shadowed
//!    by an archive, even when its name crosses one (`a.zip/b` may be both an object and
//!    a member of the object `a.zip`; the object is what you get).
//! 2. Otherwise the longest prefix of the key that ends in `.zip` (any case) just before
//!    a `/` and is an existing object is the archive; the rest of the key, after that
//!    `/`, is the path inside it (`""` for the archive's root).
//! 3. Otherwise the key names nothing: the first lookup's `ObjectDoesNotExist` is returned.
//!
//! Each step is one `head_object` (or one listing of at most one key), so resolving costs
//! one request for a plain key and one more per `.zip/` in the key. Whether the member
//! exists inside the archive is for the caller's listing to say.

use futures::StreamExt;

use crate::driver::Driver;
use crate::error::{ErrorKind, Result};
use crate::object::Object;
use crate::options::ListOptions;

/// What a key names once paths into archives are resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum ArchivePath {
    /// An object with exactly this key (its metadata).
    Object(Box<Object>),
    /// A path inside an archive.
    Member {
        /// The archive's key.
        archive: String,
        /// The path inside it: a member's name, a folder (possibly without its trailing
        /// `/`), or `""` for the whole archive.
        member: String,
    },
}

/// The ways `key` can cross into an archive, longest archive key first: each
/// `(archive key, path inside)` where the archive key ends in `.zip` (any case) and is
/// followed by `/`.
///
/// ```
/// use storage_core::zip::archive_candidates;
///
/// assert_eq!(
///     archive_candidates("r/a.zip/b.zip/c.txt"),
///     vec![("r/a.zip/b.zip", "c.txt"), ("r/a.zip", "b.zip/c.txt")]
/// );
/// assert_eq!(archive_candidates("r/out.ZIP/"), vec![("r/out.ZIP", "")]);
/// assert!(archive_candidates("r/a.zipx/c").is_empty());
/// assert!(archive_candidates("r/a.zip").is_empty());
/// ```
pub fn archive_candidates(key: &str) -> Vec<(&str, &str)> {
    let mut out: Vec<(&str, &str)> = key
        .match_indices('/')
        .filter_map(|(i, _)| {
            let archive = &key[..i];
            let ext = archive.len().checked_sub(4).and_then(|at| archive.get(at..))?;
            ext.eq_ignore_ascii_case(".zip").then(|| (archive, &key[i + 1..]))
        })
        .collect();
    out.reverse();
    out
}

/// Resolves `key` (an object, or a file or folder inside an archive) by the rule of the
/// module documentation: the exact object wins; else the longest existing `….zip` prefix.
pub async fn resolve<D>(driver: &D, container: &str, key: &str) -> Result<ArchivePath>
where
    D: Driver + ?Sized,
{
    let not_found = match driver.head_object(container, key).await {
        Ok(o) => return Ok(ArchivePath::Object(Box::new(o))),
        Err(e) if e.kind() == ErrorKind::ObjectDoesNotExist || (is_refused_name(&e) && crosses(key)) => e,
        Err(e) => return Err(e),
    };
    match find_archive(driver, container, key).await? {
        Some(found) => Ok(found),
        None => Err(not_found),
    }
}

/// Resolves a folder `prefix` for a recursive copy: `None` when any object lies under it
/// (the real folder wins) or it crosses no existing archive, else the archive and the
/// folder inside it.
pub async fn resolve_folder<D>(driver: &D, container: &str, prefix: &str) -> Result<Option<(String, String)>>
where
    D: Driver + ?Sized,
{
    if !crosses(prefix) {
        return Ok(None);
    }
    let folder = if prefix.ends_with('/') { prefix.to_owned() } else { format!("{prefix}/") };
    let mut listing = driver.list_objects(container, ListOptions::prefix(folder).with_page_size(1));
    if let Some(first) = listing.next().await {
        first?;
        return Ok(None);
    }
    Ok(match find_archive(driver, container, prefix).await? {
        Some(ArchivePath::Member { archive, member }) => Some((archive, member)),
        _ => None,
    })
}

fn crosses(key: &str) -> bool {
    !archive_candidates(key).is_empty()
}

/// Some drivers refuse a key under a file (the local driver: `a.zip/x` where `a.zip` is
/// a file) as an invalid name rather than a missing object.
fn is_refused_name(e: &crate::Error) -> bool {
    e.kind() == ErrorKind::InvalidObjectName
}

/// The longest existing archive `key` crosses into.
async fn find_archive<D>(driver: &D, container: &str, key: &str) -> Result<Option<ArchivePath>>
where
    D: Driver + ?Sized,
{
    for (archive, member) in archive_candidates(key) {
        match driver.head_object(container, archive).await {
            Ok(_) => return Ok(Some(ArchivePath::Member { archive: archive.to_owned(), member: member.to_owned() })),
            Err(e) if e.kind() == ErrorKind::ObjectDoesNotExist || is_refused_name(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}
