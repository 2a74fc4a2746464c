//! Listing: a depth-first walk of the directory tree in key order, feeding
//! `storage_core::listing::PageBuilder` exactly as the memory driver does.
//!
//! The walk starts in the directory named by the prefix's complete segments and only
//! reads the entries whose segment can start with the prefix's last, partial segment.
//! Each directory level is read and sorted by key; a directory whose keys all roll up
//! into one common prefix (with delimiter `/`: every subdirectory) is emitted without
//! being read further, once it is known to hold at least one listable key. The walk
//! stops as soon as the page is full, so a page costs the directories on its way, not
//! the whole container.

use std::path::{Path, PathBuf};

use storage_core::listing::{ListCursor, PageBuilder};
use storage_core::{Error, ListEntry, ListOptions, Object, Page, Result};

use crate::io::blocking;
use crate::paths::{self, CONTINUATION, decode_segment, encode_chars, is_internal, segment_components};
use crate::sidecar::{FileStamp, Sidecar, describe};
use crate::{LocalDriver, NAME, require_container};

/// `list_page`.
pub async fn page(
    d: &LocalDriver,
    dir: PathBuf,
    container: &str,
    options: &ListOptions,
    token: Option<String>,
) -> Result<Page<ListEntry>> {
    let cursor = ListCursor::new(options, token.as_deref()).map_err(|e| e.with_driver(NAME))?;
    let page = PageBuilder::new(options, d.info.limits.max_page_size);
    let max_key = d.info.limits.max_key_length;
    let container = container.to_owned();
    blocking(move || {
        require_container(&dir, &container)?;
        let mut walk = Walk { container: &container, cursor: &cursor, page, max_key };
        walk.run(&dir)?;
        Ok(walk.page.finish())
    })
    .await
}

/// One entry of a directory level: a key segment that is a file or a directory.
#[derive(Debug)]
struct Entry {
    /// The decoded segment.
    segment: String,
    /// The directory holding the entry (a continuation directory for long segments).
    dir: PathBuf,
    /// The entry's file name.
    name: String,
    /// Whether it is a directory of further segments.
    is_dir: bool,
}

impl Entry {
    fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }
}

/// Reads the segments of one level (following continuation directories) whose decoded
/// segment starts with `filter`. Internal files, symlinks, non-UTF-8 names and names the
/// encoding could not have produced are skipped.
fn read_level(dir: &Path, filter: &str) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    scan(dir, "", &mut Vec::new(), &encode_chars(filter), filter, &mut out)?;
    Ok(out)
}

fn scan(
    dir: &Path,
    acc: &str,
    comps: &mut Vec<String>,
    encoded_filter: &str,
    filter: &str,
    out: &mut Vec<Entry>,
) -> Result<()> {
    let io = |e| Error::io(format!("reading directory {}", dir.display()), e);
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if paths::is_missing(&e) => return Ok(()),
        Err(e) => return Err(io(e)),
    };
    for entry in rd {
        let entry = entry.map_err(io)?;
        let Ok(name) = entry.file_name().into_string() else { continue };
        if is_internal(&name) {
            continue;
        }
        let ft = match entry.file_type() {
            Ok(ft) => ft,
            Err(e) if paths::is_missing(&e) => continue,
            Err(e) => return Err(io(e)),
        };
        if ft.is_symlink() || !(ft.is_dir() || ft.is_file()) {
            continue;
        }
        if ft.is_dir()
            && let Some(piece) = name.strip_suffix(CONTINUATION)
        {
            let so_far = format!("{acc}{piece}");
            if so_far.starts_with(encoded_filter) || encoded_filter.starts_with(&so_far) {
                comps.push(name.clone());
                scan(&entry.path(), &so_far, comps, encoded_filter, filter, out)?;
                comps.pop();
            }
            continue;
        }
        let Some(segment) = decode_segment(&format!("{acc}{name}")) else { continue };
        if !segment.starts_with(filter) {
            continue;
        }
        comps.push(name.clone());
        let canonical = segment_components(&segment).as_deref() == Some(&comps[..]);
        comps.pop();
        if canonical {
            out.push(Entry { segment, dir: dir.to_owned(), name, is_dir: ft.is_dir() });
        }
    }
    Ok(())
}

/// The order of an entry among its siblings: a directory's keys all start with
/// `segment/`, and that string sorts against a sibling file's key as every one of
/// them does.
fn sort_key(e: &Entry) -> String {
    if e.is_dir { format!("{}/", e.segment) } else { e.segment.clone() }
}

struct Walk<'a> {
    container: &'a str,
    cursor: &'a ListCursor,
    page: PageBuilder,
    max_key: usize,
}

impl Walk<'_> {
    /// Walks from the directory named by the prefix's complete segments.
    fn run(&mut self, container_dir: &Path) -> Result<()> {
        let prefix = self.cursor.prefix.clone();
        let (level_key, partial) = match prefix.rfind('/') {
            Some(i) => (&prefix[..=i], &prefix[i + 1..]),
            None => ("", prefix.as_str()),
        };
        let mut dir = container_dir.to_owned();
        if !level_key.is_empty() {
            if !paths::is_acceptable_key(level_key, self.max_key) {
                return Ok(());
            }
            for segment in level_key[..level_key.len() - 1].split('/') {
                let Some(comps) = segment_components(segment) else { return Ok(()) };
                for c in comps {
                    dir.push(c);
                    match std::fs::symlink_metadata(&dir) {
                        Ok(m) if m.is_dir() => {}
                        _ => return Ok(()),
                    }
                }
            }
        }
        self.walk(&dir, level_key, partial)?;
        Ok(())
    }

    /// Whether a key under directory prefix `p` can be listed on this page.
    fn may_hold_admitted(&self, p: &str) -> bool {
        if p.len() >= self.max_key {
            return false;
        }
        if self.cursor.skip_prefix.as_deref().is_some_and(|s| p.starts_with(s)) {
            return false;
        }
        // Keys under `p` are all below `after` if `after` sorts after `p` without
        // starting with it.
        !self.cursor.after.as_deref().is_some_and(|a| a >= p && !a.starts_with(p))
    }

    fn admits(&self, key: &str) -> bool {
        paths::is_acceptable_key(key, self.max_key) && self.cursor.admits(key)
    }

    /// Feeds the keys under `dir` (whose keys start with `key_prefix`) in order.
    /// Returns `false` once the page refused an entry (it is full).
    fn walk(&mut self, dir: &Path, key_prefix: &str, filter: &str) -> Result<bool> {
        let mut entries = read_level(dir, filter)?;
        entries.sort_by_cached_key(sort_key);
        for e in entries {
            if e.is_dir {
                let p = format!("{key_prefix}{}/", e.segment);
                if !self.may_hold_admitted(&p) || self.page.absorbs(&p) {
                    continue;
                }
                match self.page.rollup_of(&p) {
                    Some(r) if r.len() <= p.len() => {
                        let r = r.to_owned();
                        if self.holds_admitted(&e.path(), &p)? && !self.page.push_prefix(r) {
                            return Ok(false);
                        }
                    }
                    _ => {
                        if !self.walk(&e.path(), &p, "")? {
                            return Ok(false);
                        }
                    }
                }
            } else {
                let key = format!("{key_prefix}{}", e.segment);
                if !self.admits(&key) || self.page.absorbs(&key) {
                    continue;
                }
                if let Some(r) = self.page.rollup_of(&key) {
                    let r = r.to_owned();
                    if !self.page.push_prefix(r) {
                        return Ok(false);
                    }
                    continue;
                }
                if self.page.is_full() {
                    // Refused anyway: this only records that more entries follow.
                    self.page.push(Object::new(self.container, key, 0));
                    return Ok(false);
                }
                if let Some(o) = object_at(&e.dir, &e.name, self.container, &key)
                    && !self.page.push(o)
                {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Whether any listable key lies under `dir` (keys starting with `key_prefix`).
    fn holds_admitted(&self, dir: &Path, key_prefix: &str) -> Result<bool> {
        for e in read_level(dir, "")? {
            if e.is_dir {
                let p = format!("{key_prefix}{}/", e.segment);
                if self.may_hold_admitted(&p) && self.holds_admitted(&e.path(), &p)? {
                    return Ok(true);
                }
            } else if self.admits(&format!("{key_prefix}{}", e.segment)) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Describes the object whose data file is `dir/name`; `None` if it vanished.
fn object_at(dir: &Path, name: &str, container: &str, key: &str) -> Option<Object> {
    let m = std::fs::symlink_metadata(dir.join(name)).ok().filter(|m| m.is_file())?;
    let stamp = FileStamp::of(&m);
    let sidecar = Sidecar::load(&dir.join(paths::sidecar_name(name)), &stamp);
    Some(describe(container, key, &stamp, sidecar.as_ref()))
}
