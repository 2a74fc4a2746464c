//! Member timestamps: the MS-DOS date and time every header carries (the archiver's local
//! time, no zone, 2-second resolution) and the extra fields that give real UTC instants:
//! Info-ZIP's extended timestamp (0x5455, "UT": Unix seconds) and the NTFS field (0x000A:
//! 100-nanosecond ticks since 1601).

use chrono::{DateTime, NaiveDateTime, Utc};

use super::format::{Reader, find_extra};

/// Info-ZIP extended timestamp extra field.
const EXTENDED_TIMESTAMP: u16 = 0x5455;
/// NTFS extra field (PKWARE).
const NTFS: u16 = 0x000A;
/// Seconds from 1601-01-01 (the NTFS epoch) to 1970-01-01.
const NTFS_TO_UNIX: i64 = 11_644_473_600;

/// When a member was modified, with what its zone is known to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ZipTimestamp {
    /// An instant in UTC, from an extended timestamp (0x5455) or NTFS (0x000A) extra field.
    Utc(DateTime<Utc>),
    /// The MS-DOS date and time: the wall-clock time of the machine that made the archive,
    /// in a zone the archive does not record (2-second resolution). Do not read it as UTC.
    Local(NaiveDateTime),
}

impl ZipTimestamp {
    /// Whether the zone is known (the value is a UTC instant).
    pub fn is_utc(&self) -> bool {
        matches!(self, ZipTimestamp::Utc(_))
    }

    /// ISO 8601 text: `2024-05-17T12:34:56Z` for a UTC instant, `2024-05-17T12:34:56`
    /// (no zone designator) for an MS-DOS local time.
    pub fn to_iso8601(&self) -> String {
        match self {
            ZipTimestamp::Utc(t) => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            ZipTimestamp::Local(t) => t.format("%Y-%m-%dT%H:%M:%S").to_string(),
        }
    }
}

/// The UTC times an extra block holds (any of them may be missing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct ExtraTimes {
    pub modified: Option<DateTime<Utc>>,
    pub created: Option<DateTime<Utc>>,
}

impl ExtraTimes {
    /// Reads the extended timestamp and NTFS fields of an extra block. In the central
    /// directory the extended timestamp holds the modification time only (its flags still
    /// describe the local header's field); in a local header it holds each time its flags
    /// announce, in the order modification, access, creation. The extended timestamp wins
    /// over NTFS where both give a time.
    pub(super) fn parse(extra: &[u8], central: bool) -> Self {
        let mut out = ExtraTimes::default();
        if let Some(data) = find_extra(extra, EXTENDED_TIMESTAMP) {
            let mut r = Reader::new(data);
            if let Some(&[flags]) = r.take(1) {
                if flags & 1 != 0 {
                    out.modified = r.u32().and_then(unix);
                }
                if !central {
                    if flags & 2 != 0 {
                        let _access = r.u32();
                    }
                    if flags & 4 != 0 {
                        out.created = r.u32().and_then(unix);
                    }
                }
            }
        }
        out.or(ntfs(extra).unwrap_or_default())
    }

    /// `self`'s times, else `other`'s.
    pub(super) fn or(self, other: ExtraTimes) -> Self {
        ExtraTimes { modified: self.modified.or(other.modified), created: self.created.or(other.created) }
    }
}

/// A 32-bit Unix time of an extended timestamp: signed, as Info-ZIP writes it.
fn unix(raw: u32) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(i64::from(raw.cast_signed()), 0)
}

/// Modification and creation times of an NTFS extra field (attribute tag 1).
fn ntfs(extra: &[u8]) -> Option<ExtraTimes> {
    let data = find_extra(extra, NTFS)?;
    let mut r = Reader::new(data);
    r.take(4)?; // reserved
    while r.remaining() >= 4 {
        let tag = r.u16()?;
        let len = r.u16()?;
        let body = r.take(usize::from(len))?;
        if tag == 1 && len >= 24 {
            let mut b = Reader::new(body);
            let modified = b.u64().and_then(filetime);
            let _access = b.u64();
            let created = b.u64().and_then(filetime);
            return Some(ExtraTimes { modified, created });
        }
    }
    None
}

/// A Windows FILETIME (100-ns ticks since 1601-01-01 UTC); `None` for 0 (unset) or out of range.
fn filetime(ticks: u64) -> Option<DateTime<Utc>> {
    if ticks == 0 {
        return None;
    }
    let secs = i64::try_from(ticks / 10_000_000).ok()?.checked_sub(NTFS_TO_UNIX)?;
    let nanos = u32::try_from(ticks % 10_000_000).ok()? * 100;
    DateTime::from_timestamp(secs, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(id: u16, data: &[u8]) -> Vec<u8> {
        let mut v = id.to_le_bytes().to_vec();
        v.extend_from_slice(&(data.len() as u16).to_le_bytes());
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn extended_timestamp_local_and_central() {
        let mut ut = vec![0b111];
        ut.extend_from_slice(&1_715_949_296u32.to_le_bytes()); // modified
        ut.extend_from_slice(&1u32.to_le_bytes()); // accessed
        ut.extend_from_slice(&1_700_000_000u32.to_le_bytes()); // created
        let local = ExtraTimes::parse(&field(EXTENDED_TIMESTAMP, &ut), false);
        assert_eq!(local.modified.unwrap().to_rfc3339(), "2024-05-17T12:34:56+00:00");
        assert_eq!(local.created.unwrap().timestamp(), 1_700_000_000);
        // The central copy carries the flags but only the modification time.
        let central = ExtraTimes::parse(&field(EXTENDED_TIMESTAMP, &ut[..5]), true);
        assert_eq!(central.modified, local.modified);
        assert_eq!(central.created, None);
        // Truncated: nothing, no panic.
        assert_eq!(ExtraTimes::parse(&field(EXTENDED_TIMESTAMP, &[1, 2]), false), ExtraTimes::default());
        assert_eq!(ExtraTimes::parse(&field(EXTENDED_TIMESTAMP, &[]), false), ExtraTimes::default());
    }

    #[test]
    fn ntfs_times() {
        let ticks = (1_715_949_296u64 + NTFS_TO_UNIX as u64) * 10_000_000 + 5;
        let mut data = vec![0; 4];
        data.extend_from_slice(&1u16.to_le_bytes());
        data.extend_from_slice(&24u16.to_le_bytes());
        data.extend_from_slice(&ticks.to_le_bytes());
        data.extend_from_slice(&0u64.to_le_bytes());
        data.extend_from_slice(&ticks.to_le_bytes());
        let t = ExtraTimes::parse(&field(NTFS, &data), true);
        assert_eq!(t.modified.unwrap().timestamp(), 1_715_949_296);
        assert_eq!(t.created.unwrap().timestamp_subsec_nanos(), 500);
        assert_eq!(ExtraTimes::parse(&field(NTFS, &data[..10]), true), ExtraTimes::default());
    }

    #[test]
    fn iso_text_says_whether_the_zone_is_known() {
        let utc = ZipTimestamp::Utc(DateTime::from_timestamp(1_715_949_296, 0).unwrap());
        assert_eq!(utc.to_iso8601(), "2024-05-17T12:34:56Z");
        let local = ZipTimestamp::Local(utc_naive());
        assert_eq!(local.to_iso8601(), "2024-05-17T12:34:56");
        assert!(!local.is_utc());
    }

    fn utc_naive() -> NaiveDateTime {
        DateTime::from_timestamp(1_715_949_296, 0).unwrap().naive_utc()
    }
}
