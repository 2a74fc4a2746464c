//! The binary structures of a ZIP archive (APPNOTE 6.3.x): the end-of-central-directory
//! record, the ZIP64 locator and record, central directory headers and local headers.
//! Pure functions over byte slices: every read is bounds-checked, every offset and length
//! computed with checked arithmetic, and nothing here panics on hostile input.

use chrono::{NaiveDate, NaiveDateTime};

use super::names::decode_name;
use super::times::ExtraTimes;
use super::{ZipEntry, ZipLimits, ZipMethod, bomb, corrupt, unsupported};
use crate::error::Result;

/// Signature of the end-of-central-directory record.
pub(super) const EOCD_SIG: u32 = 0x0605_4b50;
/// Fixed size of the end-of-central-directory record (the comment follows).
pub(super) const EOCD_LEN: usize = 22;
/// Longest archive comment.
pub(super) const MAX_COMMENT: usize = 0xFFFF;
/// Signature of the ZIP64 end-of-central-directory locator.
pub(super) const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
/// Size of the ZIP64 locator.
pub(super) const ZIP64_LOCATOR_LEN: usize = 20;
/// Signature of the ZIP64 end-of-central-directory record.
pub(super) const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
/// Fixed size of the ZIP64 end-of-central-directory record (an extensible part may follow).
pub(super) const ZIP64_EOCD_LEN: usize = 56;
/// Signature of a central directory file header.
pub(super) const CENTRAL_SIG: u32 = 0x0201_4b50;
/// Fixed size of a central directory file header.
pub(super) const CENTRAL_LEN: usize = 46;
/// Signature of a local file header.
pub(super) const LOCAL_SIG: u32 = 0x0403_4b50;
/// Fixed size of a local file header.
pub(super) const LOCAL_LEN: usize = 30;
/// Extra field holding ZIP64 sizes and offsets.
const ZIP64_EXTRA: u16 = 0x0001;

/// General-purpose flag: the member is encrypted.
pub(super) const FLAG_ENCRYPTED: u16 = 1;
/// General-purpose flag: strong encryption.
pub(super) const FLAG_STRONG_ENCRYPTION: u16 = 1 << 6;
/// General-purpose flag: the name (and comment) are UTF-8.
pub(super) const FLAG_UTF8: u16 = 1 << 11;

/// A little-endian reader over a slice that reports truncation instead of panicking.
pub(super) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    pub(super) fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    /// The next `n` bytes, or `None` if fewer remain.
    pub(super) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).and_then(|s| s.try_into().ok())
    }

    pub(super) fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_le_bytes)
    }

    pub(super) fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    pub(super) fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }
}

fn le_u32(data: &[u8], at: usize) -> Option<u32> {
    let end = at.checked_add(4)?;
    data.get(at..end).and_then(|s| s.try_into().ok()).map(u32::from_le_bytes)
}

/// The classic end-of-central-directory record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Eocd {
    /// Where the record starts in the buffer it was found in.
    pub pos: usize,
    pub disk: u16,
    pub cd_disk: u16,
    pub entries_on_disk: u16,
    pub entries: u16,
    pub cd_size: u32,
    pub cd_offset: u32,
}

fn parse_eocd_at(tail: &[u8], pos: usize) -> Option<(Eocd, usize)> {
    let mut r = Reader::new(tail.get(pos..)?);
    if r.u32()? != EOCD_SIG {
        return None;
    }
    let eocd = Eocd {
        pos,
        disk: r.u16()?,
        cd_disk: r.u16()?,
        entries_on_disk: r.u16()?,
        entries: r.u16()?,
        cd_size: r.u32()?,
        cd_offset: r.u32()?,
    };
    let comment_len = usize::from(r.u16()?);
    Some((eocd, comment_len))
}

/// Finds the end-of-central-directory record in the last bytes of an archive, scanning
/// backwards for its signature. A record whose comment ends exactly at the end of the
/// data wins (so a comment that happens to contain the signature cannot mislead); failing
/// that, the last record whose comment fits inside the data (trailing garbage tolerated).
pub(super) fn find_eocd(tail: &[u8]) -> Result<Eocd> {
    let Some(last) = tail.len().checked_sub(EOCD_LEN) else {
        return Err(corrupt(format!(
            "the archive is {} bytes long, too short for an end-of-central-directory record",
            tail.len()
        )));
    };
    let mut fallback = None;
    for pos in (0..=last).rev() {
        if le_u32(tail, pos) != Some(EOCD_SIG) {
            continue;
        }
        let Some((eocd, comment_len)) = parse_eocd_at(tail, pos) else { continue };
        let Some(end) = pos.checked_add(EOCD_LEN).and_then(|e| e.checked_add(comment_len)) else { continue };
        if end == tail.len() {
            return Ok(eocd);
        }
        if end < tail.len() && fallback.is_none() {
            fallback = Some(eocd);
        }
    }
    fallback.ok_or_else(|| {
        corrupt("no end-of-central-directory record in the last 64 KiB: not a ZIP archive, or a truncated one")
    })
}

/// The ZIP64 end-of-central-directory locator: where the ZIP64 record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Zip64Locator {
    pub record_disk: u32,
    pub record_offset: u64,
    pub total_disks: u32,
}

/// Parses the ZIP64 locator if `data` (the 20 bytes before the EOCD) holds one.
pub(super) fn parse_zip64_locator(data: &[u8]) -> Option<Zip64Locator> {
    let mut r = Reader::new(data);
    if r.u32()? != ZIP64_LOCATOR_SIG {
        return None;
    }
    Some(Zip64Locator { record_disk: r.u32()?, record_offset: r.u64()?, total_disks: r.u32()? })
}

/// Where the central directory is and how many entries it holds, whichever record said so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Directory {
    pub disk: u32,
    pub cd_disk: u32,
    pub entries_on_disk: u64,
    pub entries: u64,
    pub cd_size: u64,
    pub cd_offset: u64,
}

impl From<Eocd> for Directory {
    fn from(e: Eocd) -> Self {
        Directory {
            disk: e.disk.into(),
            cd_disk: e.cd_disk.into(),
            entries_on_disk: e.entries_on_disk.into(),
            entries: e.entries.into(),
            cd_size: e.cd_size.into(),
            cd_offset: e.cd_offset.into(),
        }
    }
}

/// Parses the fixed part of a ZIP64 end-of-central-directory record.
pub(super) fn parse_zip64_eocd(data: &[u8]) -> Result<Directory> {
    let bad = || corrupt("the ZIP64 end-of-central-directory record is truncated or has a wrong signature");
    let mut r = Reader::new(data);
    if r.u32().ok_or_else(bad)? != ZIP64_EOCD_SIG {
        return Err(bad());
    }
    let _record_size = r.u64().ok_or_else(bad)?;
    let _made_by = r.u16().ok_or_else(bad)?;
    let _needed = r.u16().ok_or_else(bad)?;
    Ok(Directory {
        disk: r.u32().ok_or_else(bad)?,
        cd_disk: r.u32().ok_or_else(bad)?,
        entries_on_disk: r.u64().ok_or_else(bad)?,
        entries: r.u64().ok_or_else(bad)?,
        cd_size: r.u64().ok_or_else(bad)?,
        cd_offset: r.u64().ok_or_else(bad)?,
    })
}

impl Directory {
    /// Refuses split/spanned archives, and directories over the limits or declaring more
    /// entries than their size can hold.
    pub(super) fn check(&self, limits: &ZipLimits) -> Result<()> {
        if self.disk != 0 || self.cd_disk != 0 || self.entries_on_disk != self.entries {
            return Err(unsupported(format!(
                "the archive is split across disks (this is disk {}, the central directory starts on disk {}): \
                 split and spanned archives are not supported",
                self.disk, self.cd_disk
            )));
        }
        if self.cd_size > limits.max_central_directory_size {
            return Err(bomb(format!(
                "the central directory is {} bytes, over the limit of {} (ZipLimits::max_central_directory_size)",
                self.cd_size, limits.max_central_directory_size
            )));
        }
        if self.entries > limits.max_entries {
            return Err(bomb(format!(
                "the archive declares {} members, over the limit of {} (ZipLimits::max_entries)",
                self.entries, limits.max_entries
            )));
        }
        let fit = self.cd_size / CENTRAL_LEN as u64;
        if self.entries > fit {
            return Err(corrupt(format!(
                "the archive declares {} members but its central directory of {} bytes can hold at most {fit}",
                self.entries, self.cd_size
            )));
        }
        Ok(())
    }
}

/// A central directory entry: the public [`ZipEntry`] and what extraction also needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RawEntry {
    pub entry: ZipEntry,
    pub flags: u16,
    pub version_made_by: u16,
    pub external_attributes: u32,
    /// Length of the stored name, and of the central extra block (the local header's are
    /// usually the same, which sizes the read of the local header).
    pub name_len: u16,
    pub extra_len: u16,
    /// UTC times from the central extra block.
    pub times: ExtraTimes,
}

/// Unix file type bits of the external attributes.
const S_IFMT: u32 = 0o170_000;
/// Unix symbolic link.
const S_IFLNK: u32 = 0o120_000;

impl RawEntry {
    /// Whether the member is a symbolic link (Unix mode in the external attributes).
    pub(super) fn is_symlink(&self) -> bool {
        (self.external_attributes >> 16) & S_IFMT == S_IFLNK
    }

    /// Whether the member is encrypted.
    pub(super) fn is_encrypted(&self) -> bool {
        self.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION) != 0
    }
}

/// Parses `count` central directory headers from `cd`. `data_end` is where member data
/// must end (the central directory's offset): a member whose local header or data would
/// reach past it is corrupt.
pub(super) fn parse_central_directory(cd: &[u8], count: u64, data_end: u64) -> Result<Vec<RawEntry>> {
    let capacity = usize::try_from(count).unwrap_or(0).min(cd.len() / CENTRAL_LEN);
    let mut out = Vec::with_capacity(capacity);
    let mut r = Reader::new(cd);
    for index in 0..count {
        let entry = parse_central_header(&mut r, index, count)?;
        check_bounds(&entry.entry, data_end)?;
        out.push(entry);
    }
    Ok(out)
}

fn parse_central_header(r: &mut Reader<'_>, index: u64, count: u64) -> Result<RawEntry> {
    let truncated = |what: &str| {
        corrupt(format!(
            "the central directory is truncated: it ends inside the {what} of member #{index} of {count} declared"
        ))
    };
    let start = r.pos();
    let mut h = Reader::new(r.take(CENTRAL_LEN).ok_or_else(|| truncated("header"))?);
    let sig = h.u32().ok_or_else(|| truncated("header"))?;
    if sig != CENTRAL_SIG {
        return Err(corrupt(format!(
            "member #{index} of {count}: no central directory header signature at offset {start} of the central \
             directory (found {sig:#010x}); the directory is corrupt or shorter than declared"
        )));
    }
    let f = CentralFixed::read(&mut h).ok_or_else(|| truncated("header"))?;
    let raw_name = r.take(usize::from(f.name_len)).ok_or_else(|| truncated("name"))?;
    let extra = r.take(usize::from(f.extra_len)).ok_or_else(|| truncated("extra field"))?;
    r.take(usize::from(f.comment_len)).ok_or_else(|| truncated("comment"))?;

    let name =
        decode_name(raw_name, f.flags, f.made_by, extra).map_err(|e| corrupt(format!("member #{index}: {e}")))?;
    let mut z = Zip64Values {
        uncompressed: u64::from(f.uncompressed),
        compressed: u64::from(f.compressed),
        offset: u64::from(f.offset),
        disk: u32::from(f.disk),
    };
    let saturated = [f.uncompressed == u32::MAX, f.compressed == u32::MAX, f.offset == u32::MAX, f.disk == u16::MAX];
    z.apply_extra(extra, saturated).map_err(|what| corrupt(format!("member {name:?}: {what}")))?;
    if z.disk != 0 {
        return Err(unsupported(format!(
            "member {name:?} starts on disk {}: split and spanned archives are not supported",
            z.disk
        )));
    }
    let is_dir = name.ends_with('/');
    Ok(RawEntry {
        entry: ZipEntry {
            name,
            compressed_size: z.compressed,
            uncompressed_size: z.uncompressed,
            modified: dos_datetime(f.date, f.time),
            method: ZipMethod::from_code(f.method),
            crc32: f.crc32,
            local_header_offset: z.offset,
            is_dir,
        },
        flags: f.flags,
        version_made_by: f.made_by,
        external_attributes: f.external,
        name_len: f.name_len,
        extra_len: f.extra_len,
        times: ExtraTimes::parse(extra, true),
    })
}

/// The fixed fields of a central directory header after its signature.
struct CentralFixed {
    made_by: u16,
    flags: u16,
    method: u16,
    time: u16,
    date: u16,
    crc32: u32,
    compressed: u32,
    uncompressed: u32,
    name_len: u16,
    extra_len: u16,
    comment_len: u16,
    disk: u16,
    external: u32,
    offset: u32,
}

impl CentralFixed {
    fn read(h: &mut Reader<'_>) -> Option<Self> {
        let made_by = h.u16()?;
        let _needed = h.u16()?;
        let flags = h.u16()?;
        let method = h.u16()?;
        let time = h.u16()?;
        let date = h.u16()?;
        let crc32 = h.u32()?;
        let compressed = h.u32()?;
        let uncompressed = h.u32()?;
        let name_len = h.u16()?;
        let extra_len = h.u16()?;
        let comment_len = h.u16()?;
        let disk = h.u16()?;
        let _internal = h.u16()?;
        let external = h.u32()?;
        let offset = h.u32()?;
        Some(CentralFixed {
            made_by,
            flags,
            method,
            time,
            date,
            crc32,
            compressed,
            uncompressed,
            name_len,
            extra_len,
            comment_len,
            disk,
            external,
            offset,
        })
    }
}

/// Sizes and offset, replaced by their ZIP64 values where the 32-bit fields are saturated.
struct Zip64Values {
    uncompressed: u64,
    compressed: u64,
    offset: u64,
    disk: u32,
}

impl Zip64Values {
    /// Reads the ZIP64 extra field (0x0001): its values appear in a fixed order, each only
    /// when the corresponding header field is saturated.
    fn apply_extra(&mut self, extra: &[u8], saturated: [bool; 4]) -> Result<(), String> {
        let [u, c, o, d] = saturated;
        if !(u || c || o || d) {
            return Ok(());
        }
        let Some(data) = find_extra(extra, ZIP64_EXTRA) else {
            return Err("its sizes or offset are saturated (0xFFFFFFFF) but it has no ZIP64 extra field".into());
        };
        let mut r = Reader::new(data);
        let short = || "its ZIP64 extra field is shorter than the saturated fields require".to_owned();
        if u {
            self.uncompressed = r.u64().ok_or_else(short)?;
        }
        if c {
            self.compressed = r.u64().ok_or_else(short)?;
        }
        if o {
            self.offset = r.u64().ok_or_else(short)?;
        }
        if d {
            self.disk = r.u32().ok_or_else(short)?;
        }
        Ok(())
    }
}

/// The data of the first extra field with `id`. Parsing stops at a field that overruns
/// the block (some tools pad extra blocks), which then counts as absent.
pub(super) fn find_extra(extra: &[u8], id: u16) -> Option<&[u8]> {
    let mut r = Reader::new(extra);
    while r.remaining() >= 4 {
        let field = r.u16()?;
        let len = r.u16()?;
        let data = r.take(usize::from(len))?;
        if field == id {
            return Some(data);
        }
    }
    None
}

/// Checks that a member's local header and data fit before the central directory.
fn check_bounds(e: &ZipEntry, data_end: u64) -> Result<()> {
    let end = e.local_header_offset.checked_add(LOCAL_LEN as u64).and_then(|v| v.checked_add(e.compressed_size));
    match end {
        Some(end) if end <= data_end => Ok(()),
        _ => Err(corrupt(format!(
            "member {:?}: its local header at offset {} and {} bytes of data do not fit before the central \
             directory at offset {data_end}",
            e.name, e.local_header_offset, e.compressed_size
        ))),
    }
}

/// The fields of a local file header that extraction needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LocalHeader {
    pub flags: u16,
    pub method: u16,
    pub name_len: u16,
    pub extra_len: u16,
}

impl LocalHeader {
    /// Bytes from the start of the header to the start of the data.
    pub(super) fn data_offset(&self) -> u64 {
        LOCAL_LEN as u64 + u64::from(self.name_len) + u64::from(self.extra_len)
    }
}

/// Parses the fixed 30 bytes of a local file header.
pub(super) fn parse_local_header(data: &[u8], member: &str) -> Result<LocalHeader> {
    let bad = || corrupt(format!("member {member:?}: its local header is truncated"));
    let mut r = Reader::new(data);
    let sig = r.u32().ok_or_else(bad)?;
    if sig != LOCAL_SIG {
        return Err(corrupt(format!(
            "member {member:?}: no local header signature at its offset (found {sig:#010x}); the offset is wrong"
        )));
    }
    let _needed = r.u16().ok_or_else(bad)?;
    let flags = r.u16().ok_or_else(bad)?;
    let method = r.u16().ok_or_else(bad)?;
    r.take(16).ok_or_else(bad)?; // time, date, crc, sizes: the central directory is authoritative
    let name_len = r.u16().ok_or_else(bad)?;
    let extra_len = r.u16().ok_or_else(bad)?;
    Ok(LocalHeader { flags, method, name_len, extra_len })
}

/// An MS-DOS date and time (local time of the archiver, 2-second resolution); `None`
/// when the fields do not form a valid date (zero dates are common).
pub(super) fn dos_datetime(date: u16, time: u16) -> Option<NaiveDateTime> {
    let year = 1980 + i32::from(date >> 9);
    let month = u32::from((date >> 5) & 0x0F);
    let day = u32::from(date & 0x1F);
    let hour = u32::from(time >> 11);
    let minute = u32::from((time >> 5) & 0x3F);
    let second = u32::from(time & 0x1F) * 2;
    NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(hour, minute, second)
}
