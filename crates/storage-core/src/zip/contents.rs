//! Listings shaped as Inductiva's storage module gives them ([`get_zip_contents`]: a
//! folder of the archive, top level or recursive, each member with where its compressed
//! data lies) and the byte range of one member ([`get_file_range`]), so any HTTP client
//! can fetch a member with one plain ranged GET.
//!
//! Where a member's data starts is not in the central directory: it follows the member's
//! local header, whose name and extra field lengths may differ from the central copies.
//! So the local headers of the listed members are read too, never their data: each
//! header is read in a window sized from the central directory (header, name, extra field
//! and some slack), and windows less than 16 KiB apart are coalesced into one range read
//! of at most 1 MiB, eight reads in flight (memory stays under about 8 MiB whatever the
//! archive). A header larger than its window costs one more small read.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};

use super::format::{LOCAL_LEN, RawEntry, parse_local_header};
use super::read::{Archive, read_range};
use super::times::{ExtraTimes, ZipTimestamp};
use super::{ZipLimits, ZipMethod, context, corrupt, list_raw};
use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};
use crate::options::ByteRange;

/// Room read after a local header's expected name and extra field, for local extra
/// fields longer than the central ones (ZIP64 sizes, extended timestamps with more times).
const SLACK: u64 = 128;
/// Windows at most this far apart are read together.
const MAX_GAP: u64 = 16 * 1024;
/// Longest coalesced read.
const MAX_READ: u64 = 1 << 20;
/// Range reads in flight while locating member data.
const IN_FLIGHT: usize = 8;

/// A member of an archive with where its compressed data lies (Inductiva's `ZipFileInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipFileInfo {
    /// The member's full name in the archive, with `/` separators; folders end in `/`.
    /// Not sanitised (see [`super::member_path`]).
    pub name: String,
    /// Whether the member is a folder entry.
    pub is_dir: bool,
    /// Bytes of content once extracted (Inductiva's `size`).
    pub uncompressed_size: u64,
    /// Bytes of compressed data in the archive (`range_end - range_start`).
    pub compressed_size: u64,
    /// Offset in the archive of the first byte of the member's compressed data: after its
    /// local header, name and extra field (not the local header's offset).
    pub range_start: u64,
    /// Offset just past the member's compressed data (exclusive): the data is the bytes
    /// `range_start..range_end`, HTTP `Range: bytes={range_start}-{range_end - 1}`.
    pub range_end: u64,
    /// How the data is compressed (Inductiva's `compress_type` is [`ZipMethod::code`]).
    pub method: ZipMethod,
    /// CRC-32 of the content.
    pub crc32: u32,
    /// Modification time (Inductiva calls it `creation_time`: what archivers record is
    /// the file's modification time). A UTC instant when an extended timestamp (0x5455,
    /// Info-ZIP `zip` on Unix, the local header's copy first) or an NTFS (0x000A) extra
    /// field gives one; else the MS-DOS date and time, which is the archiving machine's
    /// local wall-clock time with no zone recorded; `None` when that is invalid.
    pub modified: Option<ZipTimestamp>,
    /// Creation time, only when an extra field records one (extended timestamp flag bit
    /// 2, or NTFS): always UTC.
    pub created: Option<DateTime<Utc>>,
    /// Offset of the member's local header.
    pub local_header_offset: u64,
}

impl ZipFileInfo {
    /// The member's range, for [`get_file_range`]'s callers and tools.
    pub fn range(&self) -> ZipFileRange {
        ZipFileRange {
            name: self.name.clone(),
            range_start: self.range_start,
            range_end: self.range_end,
            uncompressed_size: self.uncompressed_size,
            method: self.method,
            crc32: self.crc32,
        }
    }
}

/// An archive's size and the members a listing selected (Inductiva's `ZipArchiveInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipArchiveInfo {
    /// Size of the archive object in bytes.
    pub size: u64,
    /// The selected members, in central directory order.
    pub files: Vec<ZipFileInfo>,
    /// The folders the selection holds (full names ending in `/`, sorted, each once),
    /// whether the archive has an entry for them or they are only implied by member names
    /// (`a/b/c.txt` implies `a/` and `a/b/`). Top level only unless the listing is
    /// recursive.
    pub folders: Vec<String>,
}

/// Where one member's compressed data lies in its archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipFileRange {
    /// The member's name.
    pub name: String,
    /// Offset of the first byte of compressed data (inclusive).
    pub range_start: u64,
    /// Offset just past the last byte (exclusive); `range_end - range_start` is the
    /// compressed size. An empty member has `range_start == range_end`.
    pub range_end: u64,
    /// Bytes of content once decompressed.
    pub uncompressed_size: u64,
    /// How the bytes are compressed: [`ZipMethod::Stored`] bytes are the content;
    /// [`ZipMethod::Deflate`] bytes are a raw deflate stream (RFC 1951, no zlib or gzip
    /// header), e.g. Python's `zlib.decompress(data, -15)`.
    pub method: ZipMethod,
    /// CRC-32 of the content.
    pub crc32: u32,
}

impl ZipFileRange {
    /// Bytes of compressed data.
    pub fn len(&self) -> u64 {
        self.range_end - self.range_start
    }

    /// Whether the member has no data.
    pub fn is_empty(&self) -> bool {
        self.range_end == self.range_start
    }

    /// The range for [`crate::GetOptions::range`]; `None` for an empty member (nothing to
    /// read).
    pub fn byte_range(&self) -> Option<ByteRange> {
        (!self.is_empty()).then_some(ByteRange::Bounded { start: self.range_start, end: self.range_end })
    }

    /// The HTTP `Range` header value (`bytes=START-LAST`, both inclusive); `None` for an
    /// empty member, which no HTTP range can express.
    pub fn http_range(&self) -> Option<String> {
        (!self.is_empty()).then(|| format!("bytes={}-{}", self.range_start, self.range_end - 1))
    }
}

/// What [`get_zip_contents_with`] lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZipContentsOptions {
    /// A folder inside the archive (`logs` or `logs/`; `""` for the root), or one file
    /// member's exact name (which lists that file alone).
    pub path: String,
    /// Every member under the folder, at any depth; otherwise only its top level (files
    /// and folder entries directly in it, and every immediate subfolder in
    /// [`ZipArchiveInfo::folders`]).
    pub recursive: bool,
    /// Safety limits.
    pub limits: ZipLimits,
}

/// Lists the archive at `container`/`key` as Inductiva's `get_zip_contents(path,
/// zip_relative_path, recursive)` does: the members under `zip_relative_path` (a folder
/// of the archive, `""` for its root), top level only unless `recursive`, each with the
/// byte range of its compressed data. Reads the central directory as [`super::list`] does,
/// then the selected members' local headers (coalesced range reads), never their data.
///
/// A `zip_relative_path` that is neither a member nor a folder is `ObjectDoesNotExist`.
pub async fn get_zip_contents<D>(
    driver: &D,
    container: &str,
    key: &str,
    zip_relative_path: &str,
    recursive: bool,
) -> Result<ZipArchiveInfo>
where
    D: Driver + ?Sized,
{
    let options = ZipContentsOptions { path: zip_relative_path.to_owned(), recursive, ..ZipContentsOptions::default() };
    get_zip_contents_with(driver, container, key, &options).await
}

/// [`get_zip_contents`] with explicit options.
pub async fn get_zip_contents_with<D>(
    driver: &D,
    container: &str,
    key: &str,
    options: &ZipContentsOptions,
) -> Result<ZipArchiveInfo>
where
    D: Driver + ?Sized,
{
    let run = async {
        let parsed = list_raw(driver, container, key, &options.limits).await?;
        let (chosen, folders) = select(&parsed.entries, &options.path, options.recursive)?;
        let files = locate(driver, &parsed.archive, &chosen, parsed.data_end).await?;
        Ok(ZipArchiveInfo { size: parsed.size, files, folders })
    };
    run.await.map_err(|e| context(e, driver, container, key))
}

/// Where the compressed data of the file member named `member` (its exact name) lies in
/// the archive: one listing plus one small read of its local header. `range_end` is
/// exclusive. A folder or a missing member is `ObjectDoesNotExist`.
pub async fn get_file_range<D>(driver: &D, container: &str, key: &str, member: &str) -> Result<ZipFileRange>
where
    D: Driver + ?Sized,
{
    get_file_range_with(driver, container, key, member, &ZipLimits::default()).await
}

/// [`get_file_range`] with explicit limits.
pub async fn get_file_range_with<D>(
    driver: &D,
    container: &str,
    key: &str,
    member: &str,
    limits: &ZipLimits,
) -> Result<ZipFileRange>
where
    D: Driver + ?Sized,
{
    let run = async {
        let parsed = list_raw(driver, container, key, limits).await?;
        let Some(raw) = parsed.entries.iter().rev().find(|e| e.entry.name == member && !e.entry.is_dir) else {
            let folder = format!("{}/", member.trim_end_matches('/'));
            let why = if parsed.entries.iter().any(|e| e.entry.name.starts_with(&folder)) {
                "it is a folder"
            } else {
                "there is no such member"
            };
            return Err(Error::new(
                ErrorKind::ObjectDoesNotExist,
                format!("the archive has no file member {member:?}: {why}"),
            ));
        };
        let files = locate(driver, &parsed.archive, &[raw], parsed.data_end).await?;
        files.first().map(ZipFileInfo::range).ok_or_else(|| corrupt(format!("member {member:?} could not be located")))
    };
    run.await.map_err(|e| context(e, driver, container, key))
}

/// The members a listing of `path` selects, and the folders it holds.
fn select<'a>(entries: &'a [RawEntry], path: &str, recursive: bool) -> Result<(Vec<&'a RawEntry>, Vec<String>)> {
    if !path.is_empty()
        && !path.ends_with('/')
        && let Some(file) = entries.iter().rev().find(|e| e.entry.name == path && !e.entry.is_dir)
    {
        return Ok((vec![file], Vec::new()));
    }
    let folder = path.trim_end_matches('/');
    let prefix = if folder.is_empty() { String::new() } else { format!("{folder}/") };
    let mut chosen = Vec::new();
    let mut folders = BTreeSet::new();
    let mut found = prefix.is_empty();
    for raw in entries {
        let Some(rest) = raw.entry.name.strip_prefix(&prefix) else { continue };
        found = true;
        if rest.is_empty() {
            continue; // the folder's own entry
        }
        let slashes: Vec<usize> = rest.match_indices('/').map(|(i, _)| i).collect();
        let mut implied = slashes.iter().map(|&i| &rest[..=i]);
        if recursive {
            folders.extend(implied.map(|f| format!("{prefix}{f}")));
            chosen.push(raw);
            continue;
        }
        if let Some(first) = implied.next() {
            folders.insert(format!("{prefix}{first}"));
        }
        let direct = match slashes.as_slice() {
            [] => true,
            [only] => *only == rest.len() - 1,
            _ => false,
        };
        if direct {
            chosen.push(raw);
        }
    }
    if !found {
        return Err(Error::new(ErrorKind::ObjectDoesNotExist, format!("the archive has no member or folder {path:?}")));
    }
    Ok((chosen, folders.into_iter().collect()))
}

/// One member's local header window.
struct Window {
    /// Index into the selection.
    index: usize,
    start: u64,
    end: u64,
}

/// A coalesced read: its span and the windows inside it.
struct Group {
    start: u64,
    end: u64,
    windows: Vec<Window>,
}

/// What a member's local header says.
struct Located {
    index: usize,
    range_start: u64,
    times: ExtraTimes,
}

/// Reads the local headers of `chosen` (coalesced, a few reads in flight) and returns
/// each member with its data range, in the order of `chosen`.
async fn locate<D: Driver + ?Sized>(
    driver: &D,
    archive: &Archive<'_>,
    chosen: &[&RawEntry],
    data_end: u64,
) -> Result<Vec<ZipFileInfo>> {
    let mut windows: Vec<Window> = chosen
        .iter()
        .enumerate()
        .map(|(index, raw)| {
            let start = raw.entry.local_header_offset;
            let want = LOCAL_LEN as u64 + u64::from(raw.name_len) + u64::from(raw.extra_len) + SLACK;
            // The central directory check guarantees start + 30 <= data_end.
            let end = start.saturating_add(want).min(data_end).max(start.saturating_add(LOCAL_LEN as u64));
            Window { index, start, end }
        })
        .collect();
    windows.sort_unstable_by_key(|w| w.start);
    let mut groups: Vec<Group> = Vec::new();
    for w in windows {
        match groups.last_mut() {
            Some(g) if w.start <= g.end.saturating_add(MAX_GAP) && w.end.max(g.end) - g.start <= MAX_READ => {
                g.end = g.end.max(w.end);
                g.windows.push(w);
            }
            _ => groups.push(Group { start: w.start, end: w.end, windows: vec![w] }),
        }
    }
    let located: Vec<Vec<Located>> = stream::iter(groups)
        .map(|g| read_group(driver, archive, chosen, g, data_end))
        .buffer_unordered(IN_FLIGHT)
        .try_collect()
        .await?;
    let mut found: Vec<Option<Located>> = (0..chosen.len()).map(|_| None).collect();
    for l in located.into_iter().flatten() {
        let index = l.index;
        if let Some(slot) = found.get_mut(index) {
            *slot = Some(l);
        }
    }
    chosen
        .iter()
        .zip(found)
        .map(|(raw, l)| {
            let e = &raw.entry;
            let l = l.ok_or_else(|| corrupt(format!("member {:?}: its local header was not read", e.name)))?;
            let times = l.times.or(raw.times);
            Ok(ZipFileInfo {
                name: e.name.clone(),
                is_dir: e.is_dir,
                uncompressed_size: e.uncompressed_size,
                compressed_size: e.compressed_size,
                range_start: l.range_start,
                range_end: l.range_start + e.compressed_size,
                method: e.method,
                crc32: e.crc32,
                modified: times.modified.map(ZipTimestamp::Utc).or(e.modified.map(ZipTimestamp::Local)),
                created: times.created,
                local_header_offset: e.local_header_offset,
            })
        })
        .collect()
}

/// Reads one coalesced span and parses the local headers in it.
async fn read_group<D: Driver + ?Sized>(
    driver: &D,
    archive: &Archive<'_>,
    chosen: &[&RawEntry],
    g: Group,
    data_end: u64,
) -> Result<Vec<Located>> {
    let data = read_range(driver, archive, g.start, g.end - g.start, "local headers").await?;
    let mut out = Vec::with_capacity(g.windows.len());
    for w in &g.windows {
        let Some(raw) = chosen.get(w.index) else { continue };
        let e = &raw.entry;
        let name = e.name.as_str();
        let at = usize::try_from(w.start - g.start).unwrap_or(usize::MAX);
        let here = data.get(at..).unwrap_or_default();
        let local = parse_local_header(here, name)?;
        let header_len = local.data_offset();
        let range_start = w
            .start
            .checked_add(header_len)
            .filter(|start| start.checked_add(e.compressed_size).is_some_and(|end| end <= data_end))
            .ok_or_else(|| {
                corrupt(format!(
                    "member {name:?}: its local header at offset {} ({header_len} bytes with its name and extra \
                     field) and {} bytes of data do not fit before the central directory at offset {data_end}",
                    w.start, e.compressed_size
                ))
            })?;
        let extra_at = LOCAL_LEN as u64 + u64::from(local.name_len);
        let extra = match usize::try_from(header_len).ok().and_then(|end| here.get(..end)) {
            Some(header) => header.get(usize::try_from(extra_at).unwrap_or(usize::MAX)..).unwrap_or_default().to_vec(),
            // Longer than its window: read the extra field alone.
            None => {
                let what = format!("member {name:?}: its local extra field");
                let len = u64::from(local.extra_len);
                read_range(driver, archive, w.start + extra_at, len, &what).await?.to_vec()
            }
        };
        out.push(Located { index: w.index, range_start, times: ExtraTimes::parse(&extra, false) });
    }
    Ok(out)
}
