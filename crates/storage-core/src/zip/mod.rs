//! Remote ZIP archives: list the members of an archive stored in any [`Driver`], and
//! extract one member or a whole folder, reading only the bytes needed with range reads.
//!
//! - [`list`]: one `head_object`, one range read of the archive's tail (its last
//!   `min(size, 65 557)` bytes, which hold the end-of-central-directory record and its
//!   comment), one more small read for a ZIP64 end-of-central-directory record that is
//!   not inside the tail, and one range read of the central directory (none when it is
//!   inside the tail already). The member data is never read.
//! - [`extract`]: one range read of the member's 30-byte local header, then exactly its
//!   `compressed_size` bytes, streamed and inflated incrementally (stored and deflate),
//!   with the CRC-32 and the size checked at the end.
//! - [`extract_to_dir`]: a file, a folder (recursively) or the whole archive into a local
//!   directory, each file written to a temporary file and renamed into place;
//!   [`extract_to_dir_opts`] lays a folder out relative to itself (as `cp -r` does) and
//!   filters; [`extract_to_file`] writes one member to a path of the caller's choosing.
//! - [`get_zip_contents`] / [`get_file_range`] (Inductiva's calls): a folder of the
//!   archive, top level or recursive, as a [`ZipArchiveInfo`] whose members carry the
//!   byte range of their compressed data ([`ZipFileInfo::range_start`], `range_end`
//!   exclusive), read from the central directory plus the members' local headers
//!   (coalesced range reads, never the data). Any HTTP client can then fetch a member
//!   with `Range: bytes={range_start}-{range_end - 1}` and inflate it (raw deflate).
//! - [`resolve`] / [`resolve_folder`]: keys that cross into an archive
//!   (`runs/1/output.zip/logs/stdout.txt`). An object with the exact key always wins;
//!   else the longest prefix ending in `.zip` that is an existing object is the archive.
//!
//! The reads of a listing are pinned to the ETag `head_object` returned when the driver
//! honours `If-Match` ([`crate::Capabilities::conditional_get_etag`]), so an archive
//! replaced in the meantime fails instead of mixing two versions.
//!
//! # Hostile and corrupt archives
//!
//! Nothing in an archive is trusted: every offset and length is checked (with checked
//! arithmetic) against the archive's size and against the structure that contains it,
//! and a failure is a typed error naming the member:
//!
//! | problem | [`ErrorKind`] | [`Error::provider_code`] |
//! | --- | --- | --- |
//! | no end record, offsets or sizes pointing outside the archive, truncated headers, data shorter than declared, invalid deflate data | `Backend` | `"ZipCorrupt"` ([`CODE_CORRUPT`]) |
//! | a compression method other than stored/deflate, encryption, split archives, symbolic-link members (in [`extract_to_dir`]) | `Backend` | `"ZipUnsupported"` ([`CODE_UNSUPPORTED`]) |
//! | a member inflating to more than its declared size, an absurd declared ratio, members overlapping each other (in [`extract_to_dir`]), anything over a [`ZipLimits`] limit | `Backend` | `"ZipBomb"` ([`CODE_BOMB`]) |
//! | the data's CRC-32 differs from the archive's | `ObjectHashMismatch` | |
//! | a name with `..`, absolute, with a drive letter, a backslash or NUL; a path through a symbolic link | `InvalidObjectName` | |
//! | no such member (in [`extract_to_dir`]) | `ObjectDoesNotExist` | |
//!
//! Zip bombs: [`extract`] never writes more than the member's declared
//! `uncompressed_size` (the inflater is given room for one byte more, and that byte is
//! the error), and refuses up front a member declaring more than
//! [`ZipLimits::max_ratio`] (1000:1) when it is larger than
//! [`ZipLimits::ratio_threshold`] (1 GiB). [`extract_to_dir`] checks every selected
//! member (names, links, methods, sizes, ratios, the total) before it writes anything,
//! and refuses members whose data overlap (the trick of non-recursive zip bombs, where
//! many entries share one compressed kernel), as Info-ZIP's `unzip` does.
//!
//! # Names
//!
//! A member name is decoded as UTF-8 when its flag bit 11 is set; else from an Info-ZIP
//! Unicode Path extra field (0x7075) written for that very name; else as ASCII if it is;
//! else as UTF-8 when the archive was made on a host other than MS-DOS/Windows/OS/2 and
//! the bytes are valid UTF-8 (what Info-ZIP's `zip` on Unix and macOS write); else as
//! code page 437 through a full table (every byte maps to one character: nothing is lost
//! or merged).
//!
//! # Times and their zones
//!
//! [`ZipEntry::modified`] is the MS-DOS date and time stored in the central directory:
//! the archiving machine's local wall-clock time, no time zone recorded, 2-second
//! resolution. [`ZipFileInfo::modified`] says which it is: [`ZipTimestamp::Utc`] when an
//! Info-ZIP extended timestamp extra field (0x5455, written by `zip` on Unix unless `-X`;
//! the local header's copy first, then the central one) or an NTFS extra field (0x000A,
//! Windows tools) gives a UTC instant, else [`ZipTimestamp::Local`] with the MS-DOS
//! value. [`ZipFileInfo::created`] is set only when such a field records a creation time.
//!
//! Not supported: encryption, compression methods other than stored and deflate, split
//! or spanned archives, archives with data prepended before the first member whose
//! offsets were not adjusted (self-extracting executables).
//!
//! ```no_run
//! use std::path::Path;
//! use storage_core::{MemoryDriver, zip};
//!
//! # async fn demo(store: &MemoryDriver) -> storage_core::Result<()> {
//! for member in zip::list(store, "backups", "site.zip").await? {
//!     println!("{} {} bytes ({:?})", member.name, member.uncompressed_size, member.method);
//! }
//! let members = zip::list(store, "backups", "site.zip").await?;
//! if let Some(index) = members.iter().find(|m| m.name == "index.html") {
//!     let mut html = Vec::new();
//!     zip::extract(store, "backups", "site.zip", index, &mut html).await?;
//! }
//! let written = zip::extract_to_dir(store, "backups", "site.zip", "assets/", Path::new("out")).await?;
//! # let _ = written;
//! # Ok(())
//! # }
//! ```

mod contents;
mod dir;
mod format;
mod names;
mod read;
mod resolve;
mod stream;
#[cfg(test)]
mod tests;
mod times;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDateTime;
use tokio::io::AsyncWrite;

pub use contents::{
    ZipArchiveInfo, ZipContentsOptions, ZipFileInfo, ZipFileRange, get_file_range, get_file_range_with,
    get_zip_contents, get_zip_contents_with,
};
pub use names::member_path;
pub use resolve::{ArchivePath, archive_candidates, resolve, resolve_folder};
pub use stream::{member_stream, member_stream_with};
pub use times::ZipTimestamp;

use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};
use format::{
    Directory, EOCD_LEN, MAX_COMMENT, RawEntry, ZIP64_EOCD_LEN, ZIP64_LOCATOR_LEN, find_eocd, parse_central_directory,
    parse_zip64_eocd, parse_zip64_locator,
};
use read::{Archive, read_range};

/// Provider code of a structurally broken archive.
pub const CODE_CORRUPT: &str = "ZipCorrupt";
/// Provider code of an archive or member using a feature this reader does not support.
pub const CODE_UNSUPPORTED: &str = "ZipUnsupported";
/// Provider code of a zip bomb, or of anything over a [`ZipLimits`] limit.
pub const CODE_BOMB: &str = "ZipBomb";

/// How many bytes from the end an end-of-central-directory record can start: its 22
/// bytes plus the longest comment.
pub const MAX_TAIL: u64 = (EOCD_LEN + MAX_COMMENT) as u64;

fn backend(code: &str, message: String) -> Error {
    Error::new(ErrorKind::Backend, message).with_provider_code(code)
}
pub(crate) fn corrupt(message: impl Into<String>) -> Error {
    backend(CODE_CORRUPT, message.into())
}
pub(crate) fn unsupported(message: impl Into<String>) -> Error {
    backend(CODE_UNSUPPORTED, message.into())
}
pub(crate) fn bomb(message: impl Into<String>) -> Error {
    backend(CODE_BOMB, message.into())
}

/// How a member's data is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ZipMethod {
    /// Not compressed (method 0).
    Stored,
    /// Deflate (method 8).
    Deflate,
    /// Any other method, by its code (12 bzip2, 14 LZMA, 93 zstd...): listed, not extracted.
    Other(u16),
}

impl ZipMethod {
    /// The method for a compression method code.
    pub fn from_code(code: u16) -> Self {
        match code {
            0 => ZipMethod::Stored,
            8 => ZipMethod::Deflate,
            n => ZipMethod::Other(n),
        }
    }

    /// The compression method code.
    pub fn code(self) -> u16 {
        match self {
            ZipMethod::Stored => 0,
            ZipMethod::Deflate => 8,
            ZipMethod::Other(n) => n,
        }
    }
}

/// A member of an archive, as its central directory describes it (ZIP64 values applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    /// The name, with `/` separators; folders end in `/`. See the module documentation
    /// for how it is decoded. Not sanitised: use [`member_path`] before touching a disk.
    pub name: String,
    /// Bytes of (compressed) data in the archive.
    pub compressed_size: u64,
    /// Bytes of content once extracted.
    pub uncompressed_size: u64,
    /// The MS-DOS modification time (archiver's local time, no zone); `None` if invalid.
    pub modified: Option<NaiveDateTime>,
    /// The compression method.
    pub method: ZipMethod,
    /// CRC-32 of the content.
    pub crc32: u32,
    /// Offset of the member's local header from the start of the archive.
    pub local_header_offset: u64,
    /// Whether the member is a folder (its name ends in `/`).
    pub is_dir: bool,
}

/// Safety limits of listing and extraction. The defaults let any reasonable archive
/// through; raise one explicitly to read an archive that exceeds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZipLimits {
    /// Largest central directory read into memory (default 64 MiB).
    pub max_central_directory_size: u64,
    /// Most members an archive may declare (default 2^20 = 1 048 576).
    pub max_entries: u64,
    /// Highest declared uncompressed:compressed ratio accepted for members larger than
    /// [`ZipLimits::ratio_threshold`] (default 1000).
    pub max_ratio: u64,
    /// Members declaring at most this many bytes are exempt from the ratio check
    /// (default 1 GiB).
    pub ratio_threshold: u64,
    /// Largest declared uncompressed size of one member (default: no limit).
    pub max_entry_size: u64,
    /// Largest total declared uncompressed size [`extract_to_dir_with`] writes (default:
    /// no limit).
    pub max_total_size: u64,
}

impl Default for ZipLimits {
    fn default() -> Self {
        ZipLimits {
            max_central_directory_size: 64 << 20,
            max_entries: 1 << 20,
            max_ratio: 1000,
            ratio_threshold: 1 << 30,
            max_entry_size: u64::MAX,
            max_total_size: u64::MAX,
        }
    }
}

/// Lists the members of the archive at `container`/`key`, in central directory order,
/// with the default [`ZipLimits`].
pub async fn list<D>(driver: &D, container: &str, key: &str) -> Result<Vec<ZipEntry>>
where
    D: Driver + ?Sized,
{
    list_with(driver, container, key, &ZipLimits::default()).await
}

/// [`list`] with explicit limits.
pub async fn list_with<D>(driver: &D, container: &str, key: &str, limits: &ZipLimits) -> Result<Vec<ZipEntry>>
where
    D: Driver + ?Sized,
{
    let parsed = list_raw(driver, container, key, limits).await.map_err(|e| context(e, driver, container, key))?;
    Ok(parsed.entries.into_iter().map(|r| r.entry).collect())
}

/// Writes the content of `entry` (from [`list`]) to `out`, with the default
/// [`ZipLimits`]; returns the number of bytes written. The data is streamed: memory stays
/// bounded whatever the member's size. On error, `out` may hold part of the content.
pub async fn extract<D>(
    driver: &D,
    container: &str,
    key: &str,
    entry: &ZipEntry,
    out: &mut (impl AsyncWrite + Unpin),
) -> Result<u64>
where
    D: Driver + ?Sized,
{
    extract_with(driver, container, key, entry, out, &ZipLimits::default()).await
}

/// [`extract`] with explicit limits.
pub async fn extract_with<D>(
    driver: &D,
    container: &str,
    key: &str,
    entry: &ZipEntry,
    out: &mut (impl AsyncWrite + Unpin),
    limits: &ZipLimits,
) -> Result<u64>
where
    D: Driver + ?Sized,
{
    let archive = Archive { container, key, etag: None };
    read::extract_entry(driver, &archive, entry, limits, out).await.map_err(|e| context(e, driver, container, key))
}

/// Extracts `member` of the archive into the local directory `dest` (created if
/// missing), with the default [`ZipLimits`]. Returns the paths created, one per member
/// (folders included), in archive order.
///
/// `member` is a file's name (`docs/a.txt`), a folder (`docs/`, or `docs` when the
/// archive has a `docs/` entry or members under it), extracted recursively, or `""` for
/// the whole archive. Members keep their full archive path under `dest` (`docs/a.txt`
/// goes to `dest/docs/a.txt`), as `unzip -d dest` does; existing files are replaced.
///
/// Before anything is written, every selected member is checked: a name that could
/// escape `dest` is `InvalidObjectName`, a symbolic link, an encrypted member or an
/// unsupported method is `ZipUnsupported`, a declared zip bomb or overlapping members are
/// `ZipBomb`. Each file is written to a temporary file beside its target and renamed into
/// place once its size and CRC-32 are verified, so a corrupt member leaves no partial
/// file (members extracted before it stay). Directories are created one level at a time
/// and never through a symbolic link.
pub async fn extract_to_dir<D>(
    driver: &D,
    container: &str,
    key: &str,
    member: &str,
    dest: &Path,
) -> Result<Vec<PathBuf>>
where
    D: Driver + ?Sized,
{
    extract_to_dir_with(driver, container, key, member, dest, &ZipLimits::default()).await
}

/// [`extract_to_dir`] with explicit limits.
pub async fn extract_to_dir_with<D>(
    driver: &D,
    container: &str,
    key: &str,
    member: &str,
    dest: &Path,
    limits: &ZipLimits,
) -> Result<Vec<PathBuf>>
where
    D: Driver + ?Sized,
{
    let run = async {
        let parsed = list_raw(driver, container, key, limits).await?;
        let layout = dir::Layout { relative: false, filter: None };
        dir::extract_all(driver, &parsed.archive, &parsed.entries, member, dest, &layout, limits).await
    };
    run.await.map_err(|e| context(e, driver, container, key))
}

/// A predicate over extracted paths (see [`ExtractOptions::filter`]).
pub type MemberFilter = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// What [`extract_to_dir_opts`] extracts and where it puts it.
#[derive(Clone, Default)]
pub struct ExtractOptions {
    /// Safety limits.
    pub limits: ZipLimits,
    /// Lay members out relative to the selected folder, as `cp -r` copies a folder
    /// (`logs/a.txt` of the folder `logs/` goes to `dest/a.txt`; a single file goes to
    /// `dest/its-file-name`), instead of under their full archive path (`unzip -d`).
    pub relative: bool,
    /// Extract only the files whose path (as laid out under `dest`, `/`-separated) this
    /// accepts; directory entries are then not created on their own.
    pub filter: Option<MemberFilter>,
}

impl std::fmt::Debug for ExtractOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtractOptions")
            .field("limits", &self.limits)
            .field("relative", &self.relative)
            .field("filter", &self.filter.as_ref().map(|_| "Fn(&str) -> bool"))
            .finish()
    }
}

/// [`extract_to_dir`] with a layout, a filter and limits: the same checks before anything
/// is written, the same temporary file and rename per member.
pub async fn extract_to_dir_opts<D>(
    driver: &D,
    container: &str,
    key: &str,
    member: &str,
    dest: &Path,
    options: &ExtractOptions,
) -> Result<Vec<PathBuf>>
where
    D: Driver + ?Sized,
{
    let run = async {
        let parsed = list_raw(driver, container, key, &options.limits).await?;
        let layout = dir::Layout { relative: options.relative, filter: options.filter.as_deref() };
        dir::extract_all(driver, &parsed.archive, &parsed.entries, member, dest, &layout, &options.limits).await
    };
    run.await.map_err(|e| context(e, driver, container, key))
}

/// Extracts the file member named `member` (its exact name) to the path `target`, with the
/// default [`ZipLimits`]; returns the member. The content goes to a new temporary file
/// beside `target`, synced and renamed over it once its size and CRC-32 are verified: a
/// failed or interrupted extraction leaves `target` as it was and no temporary file. The
/// member's name is checked as [`extract_to_dir`] checks it (a hostile name is refused
/// even though it does not choose the path); a folder or a missing member is
/// `ObjectDoesNotExist`; the parent of `target` must exist.
pub async fn extract_to_file<D>(driver: &D, container: &str, key: &str, member: &str, target: &Path) -> Result<ZipEntry>
where
    D: Driver + ?Sized,
{
    extract_to_file_with(driver, container, key, member, target, &ZipLimits::default()).await
}

/// [`extract_to_file`] with explicit limits.
pub async fn extract_to_file_with<D>(
    driver: &D,
    container: &str,
    key: &str,
    member: &str,
    target: &Path,
    limits: &ZipLimits,
) -> Result<ZipEntry>
where
    D: Driver + ?Sized,
{
    let run = async {
        let parsed = list_raw(driver, container, key, limits).await?;
        dir::extract_file(driver, &parsed.archive, &parsed.entries, member, target, limits).await
    };
    run.await.map_err(|e| context(e, driver, container, key))
}

fn context<D: Driver + ?Sized>(e: Error, driver: &D, container: &str, key: &str) -> Error {
    e.or_context(&driver.info().name, Some(container), Some(key))
}

/// A central directory read: the archive handle (ETag-pinned) to read members with, the
/// parsed entries, the archive's size and where member data must end (the central
/// directory's offset).
struct Parsed<'a> {
    archive: Archive<'a>,
    entries: Vec<RawEntry>,
    size: u64,
    data_end: u64,
}

/// Reads the central directory.
async fn list_raw<'a, D>(driver: &D, container: &'a str, key: &'a str, limits: &ZipLimits) -> Result<Parsed<'a>>
where
    D: Driver + ?Sized,
{
    let head = driver.head_object(container, key).await?;
    let size = head.size;
    let etag = if driver.info().capabilities.conditional_get_etag { head.etag.clone() } else { None };
    let archive = Archive { container, key, etag };
    if size < EOCD_LEN as u64 {
        return Err(corrupt(format!("the object is {size} bytes, too short to be a ZIP archive")));
    }
    let tail_len = size.min(MAX_TAIL);
    let tail_start = size - tail_len;
    let tail = read_range(driver, &archive, tail_start, tail_len, "the end of the archive").await?;
    let eocd = find_eocd(&tail)?;
    let eocd_at = tail_start + eocd.pos as u64;

    // A ZIP64 locator sits right before the end record.
    let locator =
        eocd.pos.checked_sub(ZIP64_LOCATOR_LEN).and_then(|at| tail.get(at..eocd.pos)).and_then(parse_zip64_locator);
    let (dir, dir_end) = match locator {
        Some(loc) => {
            if loc.record_disk != 0 || loc.total_disks > 1 {
                return Err(unsupported(format!(
                    "the archive is split across {} disks: split and spanned archives are not supported",
                    loc.total_disks
                )));
            }
            let locator_at = eocd_at - ZIP64_LOCATOR_LEN as u64;
            let fits = loc.record_offset.checked_add(ZIP64_EOCD_LEN as u64).is_some_and(|end| end <= locator_at);
            if !fits {
                return Err(corrupt(format!(
                    "the ZIP64 end-of-central-directory record's offset {} does not fit before its locator at {}",
                    loc.record_offset, locator_at
                )));
            }
            let record = if loc.record_offset >= tail_start {
                let at = usize::try_from(loc.record_offset - tail_start).unwrap_or(usize::MAX);
                let end = at.saturating_add(ZIP64_EOCD_LEN);
                tail.get(at..end).map(|s| tail.slice_ref(s)).unwrap_or_default()
            } else {
                let what = "the ZIP64 end-of-central-directory record";
                read_range(driver, &archive, loc.record_offset, ZIP64_EOCD_LEN as u64, what).await?
            };
            (parse_zip64_eocd(&record)?, loc.record_offset)
        }
        // Without a locator the classic record's values stand (saturated or not); the checks
        // below catch any inconsistency.
        None => (Directory::from(eocd), eocd_at),
    };
    dir.check(limits)?;
    let cd_end = dir.cd_offset.checked_add(dir.cd_size);
    if cd_end.is_none_or(|end| end > dir_end) {
        return Err(corrupt(format!(
            "the central directory (offset {}, {} bytes) does not fit before the end-of-central-directory record \
             at offset {dir_end}",
            dir.cd_offset, dir.cd_size
        )));
    }
    let cd = if dir.cd_offset >= tail_start {
        let at = usize::try_from(dir.cd_offset - tail_start).unwrap_or(usize::MAX);
        let len = usize::try_from(dir.cd_size).unwrap_or(usize::MAX);
        let slice = at.checked_add(len).and_then(|end| tail.get(at..end));
        slice.map(|s| tail.slice_ref(s)).ok_or_else(|| corrupt("the central directory is cut short"))?
    } else {
        read_range(driver, &archive, dir.cd_offset, dir.cd_size, "the central directory").await?
    };
    let entries = parse_central_directory(&cd, dir.entries, dir.cd_offset)?;
    Ok(Parsed { archive, entries, size, data_end: dir.cd_offset })
}
