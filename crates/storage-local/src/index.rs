//! The listing index: one file per directory (`%i.list`) that keeps, for each file a
//! listing described, the metadata record read from the file's attribute, so the next
//! listing reads one file for the directory instead of one attribute per key (reading
//! an attribute by name costs about five times a `stat` on Linux).
//!
//! The index is a cache; the attribute stays the truth. A record applies only while
//! the file still has the inode, size, modification time and status change time
//! (ctime) it had when the record was read. The ctime moves on any write, attribute
//! change, rename or link of the file and no program can set it, so a file rewritten
//! in place, given new metadata, or replaced by another (even one reusing the inode
//! number) no longer matches. Every key is still `stat`-ed: a directory's own times
//! do not change when a file in it is written in place. A record is only written for
//! a file whose ctime was already [`SETTLED`] old when it was read: any later change
//! gets a later ctime, so two states of a file never share one (unless the system
//! clock is stepped back).
//!
//! Listings keep it, not writers: a write costs nothing more, and a record that does
//! not apply is only a miss (the attribute is read as before). A listing that had to
//! read at least [`MIN_LEARNED`] attributes in a directory writes the directory's index
//! again, when it finishes that directory: the records that still applied, plus what it
//! read. A torn or damaged index (its CRC32C does not match) is ignored. Deletes remove
//! an index left alone in a directory they prune.
//!
//! Separate because it is a format (the binary records) and a cache policy of its own;
//! `list.rs` only asks it and tells it what it read.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::ops::Range;
use std::time::{Duration, SystemTime};

use crate::dirfd::{DirFd, Kind};
use crate::meta::{self, Cursor};
use crate::sidecar::{FileStamp, Sidecar};

/// The index file's name in each directory (internal: `%` and a letter).
pub const INDEX_NAME: &str = "%i.list";

/// How old a file's ctime must be for its record to be written: more than the
/// coarsest clock tick a filesystem stamps times with.
pub const SETTLED: Duration = Duration::from_millis(100);

/// Attribute reads in one directory that make a listing write its index again; a
/// directory with fewer files than this never gets one.
pub const MIN_LEARNED: usize = 16;

const MAGIC: &[u8; 4] = b"LSI1";

/// One file's record: where its name and metadata lie in the index's bytes.
#[derive(Debug)]
struct Record {
    name: Range<usize>,
    inode: u64,
    ctime_ns: i64,
    meta: Range<usize>,
}

/// A directory's index as read: its records in name order, found by a cursor that
/// expects the next lookup to be the next name (a listing asks in key order), else by
/// binary search.
#[derive(Debug, Default)]
pub struct Index {
    bytes: Vec<u8>,
    records: Vec<Record>,
    next: usize,
}

impl Index {
    /// Reads the index of `dir`; `None` if there is none or it is not whole.
    pub fn load(dir: &DirFd) -> Option<Index> {
        use std::io::Read;
        // std sizes the buffer from the file's size: one read, no regrowing.
        let mut bytes = Vec::new();
        dir.open_read(INDEX_NAME).ok()?.read_to_end(&mut bytes).ok()?;
        Index::parse(bytes)
    }

    /// Parses an index: the magic, records (`name length u32, name, inode u64, ctime
    /// i64, metadata length u32, metadata` as `meta.rs` encodes it) in strictly
    /// increasing name order, then the CRC32C of all that (u32). All little-endian.
    pub fn parse(bytes: Vec<u8>) -> Option<Index> {
        let body_len = bytes.len().checked_sub(4)?;
        let (body, crc) = bytes.split_at(body_len);
        if storage_core::kit::crc32c(body) != u32::from_le_bytes(crc.try_into().ok()?) || !body.starts_with(MAGIC) {
            return None;
        }
        // A record of a short name and a bare attribute takes about 64 bytes: one
        // allocation for the usual index, not a dozen regrowths.
        let mut records: Vec<Record> = Vec::with_capacity(body.len() / 64);
        let mut b = Cursor::new(body);
        b.take(MAGIC.len())?;
        while !b.is_done() {
            let n = b.u32()? as usize;
            let start = b.at();
            let name = b.take(n)?;
            if records.last().is_some_and(|last| body[last.name.clone()] >= *name) {
                return None;
            }
            let name = start..b.at();
            let inode = b.u64()?;
            let ctime_ns = b.u64()? as i64;
            let m = b.u32()? as usize;
            let start = b.at();
            b.take(m)?;
            records.push(Record { name, inode, ctime_ns, meta: start..b.at() });
        }
        Some(Index { bytes, records, next: 0 })
    }

    fn name_of(&self, r: &Record) -> &[u8] {
        &self.bytes[r.name.clone()]
    }

    /// The position of `name`'s record.
    fn find(&mut self, name: &str) -> Option<usize> {
        let name = name.as_bytes();
        let i = match self.records.get(self.next) {
            Some(r) if self.name_of(r) == name => self.next,
            _ => self.records.binary_search_by(|r| self.bytes[r.name.clone()].cmp(name)).ok()?,
        };
        self.next = i + 1;
        Some(i)
    }

    /// The metadata record of file `name`, if it applies to the file as it is now (same
    /// inode and status change time; `meta.rs` checks size and modification time).
    fn record_of(&mut self, name: &str, stamp: &FileStamp, ctime_ns: i64) -> Option<&[u8]> {
        let i = self.find(name)?;
        let r = &self.records[i];
        if ctime_ns == 0 || r.inode != stamp.inode || r.ctime_ns != ctime_ns {
            return None;
        }
        self.bytes.get(r.meta.clone())
    }

    /// The metadata of file `name`, if its record applies to the file as it is now.
    #[cfg(test)]
    pub fn lookup(&mut self, name: &str, stamp: &FileStamp, ctime_ns: i64) -> Option<Sidecar> {
        meta::decode(self.record_of(name, stamp, ctime_ns)?, stamp)
    }

    /// The object of file `name` described from its record (`meta::decode_object`) into
    /// `o`: `false` when no record applies (then only `o`'s name is worth keeping).
    pub fn describe_into(
        &mut self,
        name: &str,
        stamp: &FileStamp,
        ctime_ns: i64,
        o: &mut storage_core::Object,
    ) -> bool {
        self.record_of(name, stamp, ctime_ns).is_some_and(|bytes| meta::decode_object(bytes, stamp, o))
    }

    /// Records held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.records.len()
    }
}

/// What a listing read from one file's attribute, to be kept in the index.
#[derive(Debug)]
pub struct Learned {
    name: String,
    inode: u64,
    ctime_ns: i64,
    meta: Vec<u8>,
}

impl Learned {
    /// The record for `name` with `stamp` and `ctime_ns`, if its ctime is settled
    /// relative to `now` (when the listing started).
    pub fn of(name: &str, stamp: &FileStamp, ctime_ns: i64, meta: &Sidecar, now: SystemTime) -> Option<Learned> {
        let now_ns = i64::try_from(now.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_nanos()).ok()?;
        let settled_ns = i64::try_from(SETTLED.as_nanos()).ok()?;
        if ctime_ns == 0 || ctime_ns > now_ns.saturating_sub(settled_ns) {
            return None;
        }
        Some(Learned { name: name.to_owned(), inode: stamp.inode, ctime_ns, meta: meta::encode(meta) })
    }
}

/// What one listing did with one directory's index.
#[derive(Debug, Default)]
pub struct DirIndex {
    /// The index read (`None`: none, or the directory is too small to have one).
    pub index: Option<Index>,
    /// Records read from attributes, to be written.
    pub learned: Vec<Learned>,
    /// Names whose record did not apply.
    pub stale: HashSet<String>,
}

impl DirIndex {
    /// Writes the index of `dir` again if at least [`MIN_LEARNED`] records were
    /// learned: the old records except stale ones and (when `present` gives the names
    /// of the files there, asked only then) those of files no longer there, plus the
    /// learned. Best effort: a directory that cannot be written keeps its index.
    pub fn save<'n>(&mut self, dir: &DirFd, present: impl FnOnce() -> Option<HashSet<&'n str>>) {
        if self.learned.len() < MIN_LEARNED {
            return;
        }
        let present = present();
        let present = present.as_ref();
        let mut all: BTreeMap<&str, (u64, i64, &[u8])> = BTreeMap::new();
        if let Some(old) = &self.index {
            for r in &old.records {
                let Ok(name) = std::str::from_utf8(old.name_of(r)) else { continue };
                if self.stale.contains(name) || present.is_some_and(|p| !p.contains(name)) {
                    continue;
                }
                if let Some(m) = old.bytes.get(r.meta.clone()) {
                    all.insert(name, (r.inode, r.ctime_ns, m));
                }
            }
        }
        for l in &self.learned {
            all.insert(&l.name, (l.inode, l.ctime_ns, &l.meta));
        }
        let size = 8 + all.iter().map(|(n, (_, _, m))| 24 + n.len() + m.len()).sum::<usize>();
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(MAGIC);
        for (name, (inode, ctime_ns, m)) in all {
            out.extend_from_slice(&(name.len() as u32).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&inode.to_le_bytes());
            out.extend_from_slice(&ctime_ns.to_le_bytes());
            out.extend_from_slice(&(m.len() as u32).to_le_bytes());
            out.extend_from_slice(m);
        }
        out.extend_from_slice(&storage_core::kit::crc32c(&out).to_le_bytes());
        self.learned.clear();
        let _ = write(dir, &out);
    }
}

/// Writes `bytes` as the index of `dir`: a temporary file renamed into place (no fsync:
/// after a crash a torn index fails its CRC and is ignored).
fn write(dir: &DirFd, bytes: &[u8]) -> std::io::Result<()> {
    let (mut f, name) = dir.create_temp()?;
    #[cfg(target_os = "linux")]
    crate::sweep::hold(&f);
    let written = f.write_all(bytes).and_then(|()| dir.rename(&name, dir, INDEX_NAME));
    if written.is_err() {
        let _ = dir.unlink(&name);
    }
    written
}

/// Removes the directory `name` of `holder` if it is empty, or holds nothing but its
/// listing index (which goes first). `open` is that directory, when the caller has it
/// open. Only a refusal for not being empty leads to a look inside: one `stat` of the
/// index, and only if there is one, a read of the first few entries.
pub fn remove_empty_dir(holder: &DirFd, name: &str, open: Option<&DirFd>) -> std::io::Result<()> {
    let e = match holder.rmdir(name) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    // POSIX lets a non-empty directory's removal fail with either.
    if !matches!(e.kind(), std::io::ErrorKind::DirectoryNotEmpty | std::io::ErrorKind::AlreadyExists) {
        return Err(e);
    }
    let opened;
    let sub = match open {
        Some(sub) => sub,
        None => match holder.open_dir(name) {
            Ok(sub) => {
                opened = sub;
                &opened
            }
            Err(_) => return Err(e),
        },
    };
    if !matches!(sub.stat(INDEX_NAME), Ok((Kind::File, _))) || !only_index(sub) {
        return Err(e);
    }
    let _ = sub.unlink(INDEX_NAME);
    holder.rmdir(name)
}

/// Whether `dir` holds nothing but a listing index (or nothing).
pub fn only_index(dir: &DirFd) -> bool {
    dir.holds_only(INDEX_NAME).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sidecar(stamp: FileStamp, etag: &str) -> Sidecar {
        let mut s = Sidecar::new(stamp, etag.into(), Default::default());
        s.crc32c = Some("0a0b0c0d".into());
        s
    }

    #[test]
    fn an_index_round_trips_and_applies_only_to_the_same_file() {
        let root = tempfile::tempdir().unwrap();
        let dir = DirFd::container(root.path(), "c", true).unwrap();
        let stamp = FileStamp { inode: 11, size: 5, mtime_ns: 1_700_000_000_000_000_000 };
        let long_ago = SystemTime::now();
        let mut d = DirIndex::default();
        for i in 0..MIN_LEARNED {
            let s = sidecar(stamp, &format!("e{i}"));
            d.learned.push(Learned::of(&format!("k{i}"), &stamp, 42, &s, long_ago).unwrap());
        }
        d.save(&dir, || None);
        let mut index = Index::load(&dir).unwrap();
        assert_eq!(index.len(), MIN_LEARNED);
        assert_eq!(index.lookup("k3", &stamp, 42).unwrap().etag, "e3");
        // Another ctime, inode, size or time: the record does not apply.
        assert!(index.lookup("k3", &stamp, 43).is_none());
        assert!(index.lookup("k3", &FileStamp { inode: 12, ..stamp }, 42).is_none());
        assert!(index.lookup("k3", &FileStamp { size: 6, ..stamp }, 42).is_none());
        assert!(index.lookup("k3", &FileStamp { mtime_ns: 1, ..stamp }, 42).is_none());
        assert!(index.lookup("k3", &stamp, 0).is_none());
        assert!(index.lookup("other", &stamp, 42).is_none());

        // Saving again drops stale records and those of files gone, keeps the rest.
        let mut again = DirIndex { index: Some(index), ..Default::default() };
        again.stale.insert("k0".into());
        let present: HashSet<&str> = (1..MIN_LEARNED - 1).map(|i| format!("k{i}")).map(|s| &*s.leak()).collect();
        for i in 0..MIN_LEARNED {
            let s = sidecar(stamp, &format!("new{i}"));
            again.learned.push(Learned::of(&format!("n{i}"), &stamp, 42, &s, long_ago).unwrap());
        }
        again.save(&dir, || Some(present));
        let mut index = Index::load(&dir).unwrap();
        assert_eq!(index.len(), 2 * MIN_LEARNED - 2);
        assert!(index.lookup("k0", &stamp, 42).is_none());
        assert!(index.lookup(&format!("k{}", MIN_LEARNED - 1), &stamp, 42).is_none());
        assert_eq!(index.lookup("k1", &stamp, 42).unwrap().etag, "e1");
        assert_eq!(index.lookup("n1", &stamp, 42).unwrap().etag, "new1");
    }

    #[test]
    fn a_directory_is_removed_only_when_its_index_is_all_it_holds() {
        let root = tempfile::tempdir().unwrap();
        let cfd = DirFd::container(root.path(), "c", true).unwrap();
        cfd.mkdir("d").unwrap();
        let path = root.path().join("d");
        std::fs::write(path.join(INDEX_NAME), b"index").unwrap();
        // More entries than one directory read returns.
        for i in 0..300 {
            std::fs::write(path.join(format!("file-with-a-long-name-{i:04}")), b"x").unwrap();
        }
        let d = cfd.open_dir("d").unwrap();
        for _ in 0..2 {
            assert!(remove_empty_dir(&cfd, "d", Some(&d)).is_err());
            assert!(remove_empty_dir(&cfd, "d", None).is_err());
            assert!(path.join(INDEX_NAME).exists());
        }
        for i in 0..300 {
            std::fs::remove_file(path.join(format!("file-with-a-long-name-{i:04}"))).unwrap();
        }
        // A subdirectory holds it too.
        std::fs::create_dir(path.join("sub")).unwrap();
        assert!(remove_empty_dir(&cfd, "d", Some(&d)).is_err());
        std::fs::remove_dir(path.join("sub")).unwrap();
        assert_eq!(std::fs::read_dir(&path).unwrap().count(), 1);
        remove_empty_dir(&cfd, "d", Some(&d)).unwrap();
        assert!(!path.exists());
        // Without an index, a directory holding a file stays, and an empty one goes.
        cfd.mkdir("e").unwrap();
        std::fs::write(root.path().join("e/f"), b"x").unwrap();
        assert!(remove_empty_dir(&cfd, "e", None).is_err());
        std::fs::remove_file(root.path().join("e/f")).unwrap();
        remove_empty_dir(&cfd, "e", None).unwrap();
        assert!(!root.path().join("e").exists());
        // A directory already gone, or a file where a directory was: an error, nothing touched.
        assert_eq!(remove_empty_dir(&cfd, "e", None).unwrap_err().kind(), std::io::ErrorKind::NotFound);
        std::fs::write(root.path().join("f"), b"x").unwrap();
        assert!(remove_empty_dir(&cfd, "f", None).is_err());
        assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"x");
    }

    #[test]
    fn an_unsettled_file_is_not_recorded_and_a_damaged_index_is_ignored() {
        let stamp = FileStamp { inode: 1, size: 1, mtime_ns: 1 };
        let now = SystemTime::now();
        let now_ns = now.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as i64;
        let s = sidecar(stamp, "e");
        assert!(Learned::of("k", &stamp, now_ns - 1_000, &s, now).is_none());
        assert!(Learned::of("k", &stamp, 0, &s, now).is_none());
        assert!(Learned::of("k", &stamp, now_ns - 1_000_000_000, &s, now).is_some());

        let root = tempfile::tempdir().unwrap();
        let dir = DirFd::container(root.path(), "c", true).unwrap();
        let mut d = DirIndex::default();
        for i in 0..MIN_LEARNED {
            d.learned.push(Learned::of(&format!("k{i}"), &stamp, 7, &s, now).unwrap());
        }
        // Too little learned: nothing written.
        d.learned.pop();
        d.save(&dir, || None);
        assert!(Index::load(&dir).is_none());
        d.learned.push(Learned::of("last", &stamp, 7, &s, now).unwrap());
        d.save(&dir, || None);
        let bytes = dir.read(INDEX_NAME).unwrap();
        assert!(Index::parse(bytes.clone()).is_some());
        for cut in [0, 3, 4, bytes.len() / 2, bytes.len() - 1] {
            assert!(Index::parse(bytes[..cut].to_vec()).is_none(), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[20] ^= 1;
        assert!(Index::parse(flipped).is_none());
    }
}
