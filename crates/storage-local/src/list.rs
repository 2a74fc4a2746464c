//! Listing: a depth-first walk of the directory tree in key order, feeding the kit's
//! [`PageBuilder`] exactly as the memory driver does.
//!
//! The walk starts in the directory named by the prefix's complete segments and only
//! reads the entries whose segment can start with the prefix's last, partial segment.
//! Each directory level is read and sorted by key; a directory whose keys all roll up
//! into one common prefix (with delimiter `/`: every subdirectory) is emitted without
//! being read further, once it is known to hold at least one listable key. The walk is
//! an explicit stack of levels and stops as soon as the page is full, so a page costs
//! the directories on its way, not the whole container.
//!
//! Between pages the stack is kept in a small cache under the continuation token it
//! leads to ([`WalkCache`]): the next page resumes where the last one stopped instead
//! of reading and sorting its directories again. A cached walk is only used while every
//! directory it read still has the inode and modification time it had then (any entry
//! created, removed or renamed in it changes them), so a resumed page lists exactly
//! what a fresh walk from the token would. A token not in the cache (evicted, older
//! than [`CACHE_TTL`], from another process) is served by a fresh walk.
//!
//! Every directory is read through a descriptor opened from its parent's (the first
//! from the container's, `dirfd.rs`) without following a symlink, and each key is
//! stat-ed and its metadata read relative to it; a resumed walk opens its directories
//! again the same way before comparing them.
//!
//! Separate because listing is the one operation that reads many directories: the
//! walk, its ordering and its cache have nothing in common with single-object I/O.

use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use storage_core::kit::{ListCursor, PageBuilder, Result};
use storage_core::{ListEntry, ListOptions, Object, Page};

use crate::ahead::Ahead;
use crate::core::{LocalDriver, NAME};
use crate::dirfd::{DirFd, Kind};
use crate::errors;
use crate::index::{DirIndex, Index, Learned, MIN_LEARNED};
use crate::io::blocking;
use crate::paths::{
    self, CONTINUATION, MAX_PIECE, SIDECAR_PREFIX, decode_segment, encode_chars, is_internal, segment_components,
};
use crate::sidecar::{describe, load_meta, object_of};

/// Walks kept between pages, at most.
pub const CACHE_CAPACITY: usize = 16;

/// How long a walk is kept between pages.
pub const CACHE_TTL: Duration = Duration::from_secs(120);

/// What identifies a listing's continuation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CacheKey {
    container: String,
    prefix: Option<String>,
    delimiter: Option<String>,
    start_after: Option<String>,
    token: String,
}

/// Listing walks between pages, by continuation token (see the module docs).
#[derive(Debug, Default)]
pub struct WalkCache {
    walks: Mutex<VecDeque<(CacheKey, Instant, Vec<Level>)>>,
    /// Pages that resumed a cached walk.
    hits: AtomicU64,
    /// Keys described from a directory's listing index (`index.rs`).
    index_hits: AtomicU64,
}

impl WalkCache {
    fn take(&self, key: &CacheKey) -> Option<Vec<Level>> {
        let mut walks = self.walks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let i = walks.iter().position(|(k, at, _)| k == key && at.elapsed() < CACHE_TTL)?;
        walks.remove(i).map(|(_, _, levels)| levels)
    }

    fn put(&self, key: CacheKey, levels: Vec<Level>) {
        let mut walks = self.walks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        walks.retain(|(_, at, _)| at.elapsed() < CACHE_TTL);
        while walks.len() >= CACHE_CAPACITY {
            walks.pop_front();
        }
        walks.push_back((key, Instant::now(), levels));
    }

    /// Walks held and pages served from them (for tests).
    #[cfg(test)]
    fn stats(&self) -> (usize, u64) {
        let held = self.walks.lock().map(|w| w.len()).unwrap_or(0);
        (held, self.hits.load(Ordering::Relaxed))
    }

    /// Keys described from a listing index so far (for tests).
    #[cfg(test)]
    fn index_hits(&self) -> u64 {
        self.index_hits.load(Ordering::Relaxed)
    }
}

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
    let shared = Arc::clone(&d.shared);
    let key = CacheKey {
        container: container.to_owned(),
        prefix: options.prefix.clone(),
        delimiter: options.delimiter.clone(),
        start_after: options.start_after.clone(),
        token: token.unwrap_or_default(),
    };
    blocking(move || {
        let cfd = DirFd::container(&dir, &key.container, shared.options.fast_paths)?;
        let cached = if key.token.is_empty() { None } else { shared.list_cache.take(&key) };
        let resumed = cached.and_then(|mut levels| levels.iter_mut().all(|l| l.reopen(&cfd)).then_some(levels));
        let mut stack = match resumed {
            Some(levels) => {
                shared.list_cache.hits.fetch_add(1, Ordering::Relaxed);
                levels
            }
            None => start(&cfd, &cursor, max_key)?,
        };
        let mut walk = Walk {
            container: &key.container,
            cursor: &cursor,
            page,
            max_key,
            started: SystemTime::now(),
            index_hits: &shared.list_cache.index_hits,
        };
        walk.run(&mut stack)?;
        let page = walk.page.finish();
        if let Some(token) = &page.next_token
            && !stack.is_empty()
        {
            for level in &mut stack {
                level.fds.clear();
                level.ahead.clear();
            }
            shared.list_cache.put(CacheKey { token: token.clone(), ..key }, stack);
        }
        Ok(page)
    })
    .await
}

/// A directory read for a level (its components below the container), with what it
/// looked like then.
#[derive(Debug)]
struct DirStamp {
    rel: Vec<String>,
    stamp: Option<(u64, i64)>,
}

impl DirStamp {
    fn of(dir: &DirFd, rel: Vec<String>) -> DirStamp {
        DirStamp { rel, stamp: dir.own_stamp().ok().map(|s| (s.inode, s.mtime_ns)) }
    }
}

/// One entry of a directory level: a key segment that is a file or a directory.
#[derive(Debug)]
struct Entry {
    /// The decoded segment.
    segment: String,
    /// The entry's file name, when it is not the segment itself.
    name: Option<String>,
    /// Index of the directory holding the entry in its level's `dirs` (a continuation
    /// directory for long segments).
    dir: usize,
    /// Whether it is a directory of further segments.
    is_dir: bool,
    /// Whether a `%m.` sidecar file with its name is beside it.
    has_sidecar: bool,
    /// The first eight bytes of the entry's sort key (`segment`, then `/` for a
    /// directory), big-endian and padded with zeros: most comparisons of a sort end here.
    head: u64,
}

impl Entry {
    fn new(segment: String, name: Option<String>, dir: usize, is_dir: bool) -> Entry {
        let mut head = [0u8; 8];
        let s = segment.as_bytes();
        let n = s.len().min(8);
        head[..n].copy_from_slice(&s[..n]);
        if is_dir && n < 8 {
            head[n] = b'/';
        }
        Entry { segment, name, dir, is_dir, has_sidecar: false, head: u64::from_be_bytes(head) }
    }

    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.segment)
    }
}

/// The order of an entry among its siblings: a directory's keys all start with
/// `segment/`, and that string sorts against a sibling file's key as every one of
/// them does.
///
/// Heads that differ decide alone: zero padding sorts below every byte but a real
/// zero, and where it meets one the heads are equal there, so a padded head is
/// smaller only where its key is a proper prefix of the other's.
fn entry_order(a: &Entry, b: &Entry) -> std::cmp::Ordering {
    if a.head != b.head {
        return a.head.cmp(&b.head);
    }
    let (x, y) = (a.segment.as_bytes(), b.segment.as_bytes());
    let n = x.len().min(y.len());
    // One memcmp over the common length; only a tie looks at what follows it.
    match x[..n].cmp(&y[..n]) {
        std::cmp::Ordering::Equal => {
            let after = |e: &Entry, s: &[u8]| s.get(n).copied().or(e.is_dir.then_some(b'/'));
            after(a, x).cmp(&after(b, y)).then(x.len().cmp(&y.len()))
        }
        unequal => unequal,
    }
}

/// One level of the walk: the sorted entries of a directory (and its continuation
/// directories) and how far the walk got.
#[derive(Debug)]
struct Level {
    /// What every key below this level starts with.
    key_prefix: String,
    /// The directories read; the first is the level's own.
    dirs: Vec<DirStamp>,
    entries: Vec<Entry>,
    /// The next entry to look at.
    next: usize,
    /// Open descriptors of `dirs` during one page (never cached).
    fds: Vec<Option<Arc<DirFd>>>,
    /// The listing index of each of `dirs`, and what this walk learned for it.
    indexes: Vec<DirIndex>,
    /// Whether every entry of `dirs` was read (no filter).
    complete: bool,
    /// Stats of the next run of files, taken ahead during one page (never cached).
    ahead: Ahead,
}

impl Level {
    /// Reads the segments under `dir` (at `rel` below the container; following
    /// continuation directories) whose decoded segment starts with `filter`, sorted.
    /// Internal files, symlinks, non-UTF-8 names and names the encoding could not have
    /// produced are skipped. With `describe`, the listing index of each directory
    /// holding enough files is read too.
    fn read(dir: Arc<DirFd>, rel: Vec<String>, filter: &str, key_prefix: String, describe: bool) -> Result<Level> {
        let mut level = Level {
            key_prefix,
            dirs: Vec::new(),
            entries: Vec::new(),
            next: 0,
            fds: Vec::new(),
            indexes: Vec::new(),
            complete: filter.is_empty(),
            ahead: Ahead::default(),
        };
        let scope = Scan { encoded_filter: &encode_chars(filter), filter, describe };
        scan(dir, rel, "", &mut Vec::new(), &scope, &mut level)?;
        level.entries.sort_unstable_by(entry_order);
        Ok(level)
    }

    /// Opens every directory it read again from the container's descriptor; true if
    /// each is still as it was (same inode and modification time).
    fn reopen(&mut self, cfd: &Arc<DirFd>) -> bool {
        self.fds.clear();
        self.ahead.clear();
        for d in &self.dirs {
            let Ok(Some(fd)) = cfd.find(&d.rel) else { return false };
            let now = fd.own_stamp().ok().map(|s| (s.inode, s.mtime_ns));
            if d.stamp.is_none() || now != d.stamp {
                return false;
            }
            self.fds.push(Some(fd));
        }
        true
    }

    /// Opens the subdirectory `name` of directory `d`; `None` if it is gone or no
    /// longer a directory.
    fn open_sub(&self, d: usize, name: &str) -> Option<(Arc<DirFd>, Vec<String>)> {
        let parent = self.fds.get(d)?.as_ref()?;
        let sub = parent.open_dir(name).ok()?;
        let mut rel = self.dirs[d].rel.clone();
        rel.push(name.to_owned());
        Some((Arc::new(sub), rel))
    }

    /// Describes the object of entry `i` (a file) from its directory's listing index
    /// where its record applies, else from its attribute or sidecar (learning the
    /// record); `None` if it vanished or is no longer a regular file.
    fn object_at(&mut self, i: usize, container: &str, key: String, walk: &Walk<'_>) -> Option<Object> {
        let e = &self.entries[i];
        let dir = self.fds.get(e.dir)?.as_ref()?;
        let index = self.indexes.get_mut(e.dir)?;
        let name = e.name();
        let stat = match self.ahead.take(i) {
            Some(stat) => stat,
            None => dir.stat_changed(name).ok(),
        };
        let Some((Kind::File, stamp, ctime_ns)) = stat else { return None };
        // A sidecar can change without the data file: only attribute records are kept.
        let mut key = key;
        if !e.has_sidecar
            && let Some(old) = &mut index.index
        {
            let mut o = object_of(container, key, &stamp);
            if old.describe_into(name, &stamp, ctime_ns, &mut o) {
                walk.index_hits.fetch_add(1, Ordering::Relaxed);
                return Some(o);
            }
            key = o.name;
            index.stale.insert(name.to_owned());
        }
        let found = dir.xattr(name, &stamp);
        let from_attribute = matches!(found, crate::meta::Found::Applies(_));
        let (meta, _) = load_meta(found, &stamp, e.has_sidecar.then_some((dir.as_ref(), name)));
        if from_attribute
            && !e.has_sidecar
            && let Some(m) = &meta
            && let Some(l) = Learned::of(name, &stamp, ctime_ns, m, walk.started)
        {
            index.learned.push(l);
        }
        Some(describe(container, key, &stamp, meta))
    }

    /// Takes ahead (`ahead.rs`) the stats of the run of files of one directory that
    /// starts at entry `i`, as many as the page has `room` for, unless entry `i`'s stat
    /// was taken ahead already or its run is too short.
    fn look_ahead(&mut self, i: usize, room: usize) {
        if !self.ahead.wants(i) {
            return;
        }
        let Some(d) = self.entries.get(i).map(|e| e.dir) else { return };
        let Some(Some(dir)) = self.fds.get(d) else { return };
        let run = &self.entries[i..];
        let len = run.iter().take(room.min(crate::ahead::MAX_RUN)).take_while(|e| !e.is_dir && e.dir == d).count();
        if len < crate::ahead::MIN_RUN {
            self.ahead.pass(i + len.max(1));
            return;
        }
        let names: Vec<&str> = run[..len].iter().map(Entry::name).collect();
        let dir = Arc::clone(dir);
        self.ahead.fill(&dir, i, &names);
    }

    /// The walk is done with this level: each directory whose index learned enough gets
    /// it written again.
    fn finish(&mut self) {
        for (d, index) in self.indexes.iter_mut().enumerate() {
            let Some(Some(dir)) = self.fds.get(d) else { continue };
            let (complete, entries) = (self.complete, &self.entries);
            index.save(dir, || {
                complete.then(|| entries.iter().filter(|e| e.dir == d && !e.is_dir).map(Entry::name).collect())
            });
        }
    }
}

/// What a directory scan keeps: the filter (as typed and as encoded in names) and
/// whether the listing index is wanted.
struct Scan<'a> {
    encoded_filter: &'a str,
    filter: &'a str,
    describe: bool,
}

fn scan(
    dir: Arc<DirFd>,
    rel: Vec<String>,
    acc: &str,
    comps: &mut Vec<String>,
    scope: &Scan<'_>,
    level: &mut Level,
) -> Result<()> {
    let (encoded_filter, filter) = (scope.encoded_filter, scope.filter);
    let d = level.dirs.len();
    level.indexes.push(DirIndex::default());
    level.dirs.push(DirStamp::of(&dir, rel));
    level.fds.push(Some(Arc::clone(&dir)));
    let entries = match dir.entries() {
        Ok(e) => e,
        Err(e) if errors::is_missing(&e) => return Ok(()),
        Err(e) => return Err(errors::io(format!("reading directory {}", dir.path().display()), e)),
    };
    let first = level.entries.len();
    let mut sidecars: Option<HashSet<String>> = None;
    for (name, kind) in entries {
        let Ok(name) = name.into_string() else { continue };
        if is_internal(&name) {
            if let Some(target) = name.strip_prefix(SIDECAR_PREFIX) {
                sidecars.get_or_insert_with(HashSet::new).insert(target.to_owned());
            }
            continue;
        }
        let is_dir = match kind {
            Kind::Dir => true,
            Kind::File => false,
            Kind::Symlink | Kind::Other => continue,
        };
        // The common case: a plain name is its own segment.
        if acc.is_empty() && !name.contains('%') {
            if name.len() <= MAX_PIECE && name.starts_with(filter) {
                level.entries.push(Entry::new(name, None, d, is_dir));
            }
            continue;
        }
        if is_dir && let Some(piece) = name.strip_suffix(CONTINUATION) {
            let so_far = format!("{acc}{piece}");
            if (so_far.starts_with(encoded_filter) || encoded_filter.starts_with(&so_far))
                && let Ok(sub) = dir.open_dir(&name)
            {
                let mut sub_rel = level.dirs[d].rel.clone();
                sub_rel.push(name.clone());
                comps.push(name);
                scan(Arc::new(sub), sub_rel, &so_far, comps, scope, level)?;
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
            let name = (name != segment).then_some(name);
            level.entries.push(Entry::new(segment, name, d, is_dir));
        }
    }
    if let Some(sidecars) = sidecars {
        for e in &mut level.entries[first..] {
            if e.dir == d && !e.is_dir {
                e.has_sidecar = sidecars.contains(e.name());
            }
        }
    }
    if scope.describe && level.entries[first..].iter().filter(|e| e.dir == d && !e.is_dir).count() >= MIN_LEARNED {
        level.indexes[d].index = Index::load(&dir);
    }
    Ok(())
}

/// The first level of a fresh walk: the directory named by the prefix's complete
/// segments, filtered by its last, partial one. No level if that directory is missing
/// (or a symlink or file is on its way).
fn start(cfd: &Arc<DirFd>, cursor: &ListCursor, max_key: usize) -> Result<Vec<Level>> {
    let prefix = cursor.prefix.as_str();
    let (level_key, partial) = match prefix.rfind('/') {
        Some(i) => (&prefix[..=i], &prefix[i + 1..]),
        None => ("", prefix),
    };
    let mut rel = Vec::new();
    if !level_key.is_empty() {
        if !paths::is_acceptable_key(level_key, max_key) {
            return Ok(Vec::new());
        }
        for segment in level_key[..level_key.len() - 1].split('/') {
            let Some(comps) = segment_components(segment) else { return Ok(Vec::new()) };
            rel.extend(comps);
        }
    }
    let dir = match cfd.find(&rel) {
        Ok(Some(dir)) => dir,
        Ok(None) => return Ok(Vec::new()),
        Err(e) if e.kind() == storage_core::ErrorKind::PermissionDenied => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(vec![Level::read(dir, rel, partial, level_key.to_owned(), true)?])
}

struct Walk<'a> {
    container: &'a str,
    cursor: &'a ListCursor,
    page: PageBuilder,
    max_key: usize,
    /// When the page started: what a file's ctime must be settled against.
    started: SystemTime,
    /// Where keys described from a listing index are counted.
    index_hits: &'a AtomicU64,
}

/// What to do with the entry at a level's position.
enum Step {
    /// Go on with the next entry.
    Next,
    /// Go into this directory (open, its components and its key prefix).
    Descend(Arc<DirFd>, Vec<String>, String),
    /// The page is full; this entry starts the next one.
    Full,
}

impl Walk<'_> {
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

    /// Feeds the keys of the walk in order until the page is full (the stack then
    /// points at the first entry of the next page) or the walk ends (empty stack).
    fn run(&mut self, stack: &mut Vec<Level>) -> Result<()> {
        while let Some(level) = stack.last_mut() {
            if level.next >= level.entries.len() {
                level.finish();
                stack.pop();
                continue;
            }
            match self.step(level)? {
                Step::Next => level.next += 1,
                Step::Descend(dir, rel, p) => {
                    level.next += 1;
                    stack.push(Level::read(dir, rel, "", p, true)?);
                }
                Step::Full => return Ok(()),
            }
        }
        Ok(())
    }

    fn step(&mut self, level: &mut Level) -> Result<Step> {
        let i = level.next;
        let e = &level.entries[i];
        if e.is_dir {
            let p = format!("{}{}/", level.key_prefix, e.segment);
            if !self.may_hold_admitted(&p) || self.page.absorbs(&p) {
                return Ok(Step::Next);
            }
            // Vanished, or replaced by a symlink or file: nothing to list there.
            let Some((dir, rel)) = level.open_sub(e.dir, e.name()) else { return Ok(Step::Next) };
            return Ok(match self.page.rollup_of(&p) {
                Some(r) if r.len() <= p.len() => {
                    let r = r.to_owned();
                    if self.holds_admitted(dir, rel, &p)? && !self.page.push_prefix(r) {
                        Step::Full
                    } else {
                        Step::Next
                    }
                }
                _ => Step::Descend(dir, rel, p),
            });
        }
        // Not `format!`: two copies into one allocation, without the formatting machinery.
        let mut key = String::with_capacity(level.key_prefix.len() + e.segment.len());
        key.push_str(&level.key_prefix);
        key.push_str(&e.segment);
        if !self.admits(&key) || self.page.absorbs(&key) {
            return Ok(Step::Next);
        }
        if let Some(r) = self.page.rollup_of(&key) {
            let r = r.to_owned();
            return Ok(if self.page.push_prefix(r) { Step::Next } else { Step::Full });
        }
        if self.page.is_full() {
            // Refused anyway: this only records that more entries follow.
            self.page.push(Object::new(self.container, key, 0));
            return Ok(Step::Full);
        }
        // The rest of this directory (as much as fits) goes into the page: room for it
        // at once, not by doubling a vector of large entries.
        self.page.reserve(level.entries.len() - i);
        level.look_ahead(i, self.page.room());
        if let Some(o) = level.object_at(i, self.container, key, self)
            && !self.page.push(o)
        {
            return Ok(Step::Full);
        }
        Ok(Step::Next)
    }

    /// Whether any listable key lies under `dir` (keys starting with `key_prefix`).
    fn holds_admitted(&self, dir: Arc<DirFd>, rel: Vec<String>, key_prefix: &str) -> Result<bool> {
        let level = Level::read(dir, rel, "", key_prefix.to_owned(), false)?;
        for e in &level.entries {
            if e.is_dir {
                let p = format!("{key_prefix}{}/", e.segment);
                if !self.may_hold_admitted(&p) {
                    continue;
                }
                let Some((sub, rel)) = level.open_sub(e.dir, e.name()) else { continue };
                if self.holds_admitted(sub, rel, &p)? {
                    return Ok(true);
                }
            } else if self.admits(&format!("{key_prefix}{}", e.segment)) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use storage_core::{Driver, ListOptions, PutOptions};

    use crate::core::LocalDriver;

    #[tokio::test]
    async fn a_walk_is_resumed_until_its_directory_changes() {
        let root = tempfile::tempdir().unwrap();
        let d = LocalDriver::new(root.path()).unwrap();
        d.create_container("c").await.unwrap();
        for i in 0..7 {
            d.put_object("c", &format!("k/{i}"), "v".into(), &PutOptions::default()).await.unwrap();
        }
        let cache = &d.shared.list_cache;
        let opts = ListOptions::default().with_page_size(2);
        let p1 = d.list_page("c", &opts, None).await.unwrap();
        assert_eq!(cache.stats(), (1, 0));
        let p2 = d.list_page("c", &opts, p1.next_token).await.unwrap();
        assert_eq!(cache.stats(), (1, 1));
        // A change in a directory of the walk: the next page walks afresh.
        d.put_object("c", "k/9", "v".into(), &PutOptions::default()).await.unwrap();
        let p3 = d.list_page("c", &opts, p2.next_token).await.unwrap();
        assert_eq!(cache.stats(), (1, 1));
        let p4 = d.list_page("c", &opts, p3.next_token).await.unwrap();
        assert_eq!(cache.stats(), (0, 2));
        assert_eq!(p4.next_token, None);
        let names: Vec<_> = p4.items.iter().filter_map(|e| e.as_object()).map(|o| o.name.as_str()).collect();
        assert_eq!(names, vec!["k/6", "k/9"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn listings_during_rewrites_agree_with_head_once_the_writes_stop() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let root = tempfile::tempdir().unwrap();
        let writer = Arc::new(LocalDriver::new(root.path()).unwrap());
        writer.create_container("c").await.unwrap();
        // Same size for every version: only the content (and the times) change.
        let body = |i: u64, n: u64| format!("v{i:02}-{:04}", n % 10_000);
        for i in 0..64 {
            writer.put_object("c", &format!("k/{i:02}"), body(i, 0).into(), &PutOptions::default()).await.unwrap();
        }
        std::thread::sleep(crate::index::SETTLED * 2);
        // Two listers with caches of their own, as two processes would be.
        let listers: Vec<_> = (0..2).map(|_| Arc::new(LocalDriver::new(root.path()).unwrap())).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let writes = Arc::new(AtomicU64::new(0));
        let w = {
            let (writer, stop, writes) = (writer.clone(), stop.clone(), writes.clone());
            tokio::spawn(async move {
                let mut n = 1;
                while !stop.load(Ordering::Relaxed) {
                    let i = (n * 7) % 64;
                    writer
                        .put_object("c", &format!("k/{i:02}"), body(i, n).into(), &PutOptions::default())
                        .await
                        .unwrap();
                    writes.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                }
            })
        };
        let ls: Vec<_> = listers
            .iter()
            .map(|l| {
                let (l, stop) = (l.clone(), stop.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let all = objects(&l, 1000).await;
                        assert_eq!(all.len(), 64);
                        assert!(all.iter().all(|o| o.size == 8));
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        stop.store(true, Ordering::Relaxed);
        w.await.unwrap();
        for l in ls {
            l.await.unwrap();
        }
        assert!(writes.load(Ordering::Relaxed) > 64);
        // Once settled, each lister (index rebuilt, then used) reports what HEAD does.
        std::thread::sleep(crate::index::SETTLED * 2);
        for l in &listers {
            for _ in 0..2 {
                for o in objects(l, 1000).await {
                    let head = writer.head_object("c", &o.name).await.unwrap();
                    assert_eq!((&o.etag, &o.hash, o.size), (&head.etag, &head.hash, head.size), "{}", o.name);
                }
            }
        }
        assert!(listers.iter().any(|l| l.shared.list_cache.index_hits() > 0));
    }

    #[test]
    fn entries_sort_as_their_keys_do() {
        use super::{Entry, entry_order};
        // Every segment of up to three of these characters, alone and after stems that
        // end just before, at and after the eight bytes of an entry's head, as a file and
        // as a directory (whose keys all start with `segment/`).
        let chars = ['\0', '!', '.', '0', 'a', '~', 'é'];
        let mut tails = vec![String::new()];
        for len in 1..=3 {
            let mut next = Vec::new();
            for s in tails.iter().filter(|s| s.chars().count() == len - 1) {
                for c in chars {
                    next.push(format!("{s}{c}"));
                }
            }
            tails.extend(next);
        }
        let mut segments = Vec::new();
        for stem in ["", "abcdef", "abcdefg", "abcdefgh"] {
            segments.extend(tails.iter().map(|t| format!("{stem}{t}")).filter(|s| !s.is_empty()));
        }
        let entries: Vec<Entry> =
            segments.iter().flat_map(|s| [false, true].map(|is_dir| Entry::new(s.clone(), None, 0, is_dir))).collect();
        let keys: Vec<String> =
            entries.iter().map(|e| format!("{}{}", e.segment, if e.is_dir { "/" } else { "" })).collect();
        for (a, ka) in entries.iter().zip(&keys) {
            for (b, kb) in entries.iter().zip(&keys) {
                assert_eq!(entry_order(a, b), ka.cmp(kb), "{ka:?} vs {kb:?}");
            }
        }
    }

    /// Every object of container `c`, listed in pages of `page`.
    async fn objects(d: &LocalDriver, page: usize) -> Vec<storage_core::Object> {
        let opts = ListOptions::default().with_page_size(page);
        let (mut out, mut token) = (Vec::new(), None);
        loop {
            let p = d.list_page("c", &opts, token).await.unwrap();
            out.extend(p.items.into_iter().filter_map(|e| e.as_object().cloned()));
            token = p.next_token;
            if token.is_none() {
                return out;
            }
        }
    }

    /// Long runs of files have their stats taken ahead on several threads (`ahead.rs`):
    /// every key still gets its own file's size and metadata, pages of any size, with
    /// files rewritten in place and removed behind the driver's back, a directory in the
    /// middle of the run, and the listing index in use.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn long_runs_of_files_are_described_as_head_describes_them() {
        let root = tempfile::tempdir().unwrap();
        let d = LocalDriver::new(root.path()).unwrap();
        d.create_container("c").await.unwrap();
        let key = |i: usize| format!("k/{i:04}");
        for i in 0..900 {
            let opts = PutOptions::content_type(format!("text/x-{i}"));
            d.put_object("c", &key(i), vec![b'a'; i % 97].into(), &opts).await.unwrap();
        }
        d.put_object("c", "k/0450x/inner", "x".into(), &PutOptions::default()).await.unwrap();
        std::thread::sleep(crate::index::SETTLED * 2);
        assert_eq!(objects(&d, 1000).await.len(), 901);
        // Behind the driver: one file grows in place, one goes.
        let dir = root.path().join("c").join("k");
        std::fs::write(dir.join("0123"), vec![b'b'; 500]).unwrap();
        std::fs::remove_file(dir.join("0777")).unwrap();
        for page in [1000, 300, 7] {
            let all = objects(&d, page).await;
            assert_eq!(all.len(), 900, "pages of {page}");
            assert!(all.iter().all(|o| o.name != key(777)));
            for o in &all {
                let head = d.head_object("c", &o.name).await.unwrap();
                assert_eq!(
                    (&o.etag, &o.hash, o.size, &o.content_type),
                    (&head.etag, &head.hash, head.size, &head.content_type),
                    "{} in pages of {page}",
                    o.name
                );
            }
            let grown = all.iter().find(|o| o.name == key(123)).unwrap();
            assert_eq!(grown.size, 500);
            let kept = all.iter().find(|o| o.name == key(96)).unwrap();
            assert_eq!((kept.size, kept.content_type.as_deref()), (96, Some("text/x-96")));
        }
        assert!(d.shared.list_cache.index_hits() > 0);
    }

    #[tokio::test]
    async fn a_listing_index_describes_unchanged_files_and_nothing_else() {
        let root = tempfile::tempdir().unwrap();
        let d = LocalDriver::new(root.path()).unwrap();
        d.create_container("c").await.unwrap();
        let opts = PutOptions { content_type: Some("text/x-test".into()), ..Default::default() };
        let first_write = std::time::Instant::now();
        for i in 0..40 {
            d.put_object("c", &format!("k/{i:02}"), format!("value {i:02}").into(), &opts).await.unwrap();
        }
        d.put_object("c", "top", "t".into(), &opts).await.unwrap();
        let hits = || d.shared.list_cache.index_hits();
        let dir = root.path().join("c").join("k");
        let index = dir.join(crate::index::INDEX_NAME);

        // Written only once the files' ctimes are settled, by the listing that read them
        // (checked when this listing ended within the settling time of the first write:
        // on a loaded machine it may not, and then some files were settled already).
        let fresh = objects(&d, 1000).await;
        assert_eq!(hits(), 0);
        if first_write.elapsed() < crate::index::SETTLED {
            assert!(!index.exists(), "an index of files written {:?} ago", first_write.elapsed());
        }
        std::thread::sleep(crate::index::SETTLED * 2);
        // From no index, whatever that listing wrote: every file is settled now.
        let _ = std::fs::remove_file(&index);
        let base = hits();
        assert_eq!(objects(&d, 1000).await, fresh);
        assert!(index.exists());
        assert_eq!(hits(), base);
        // The next listings (one page or many) describe every key in k/ from it, the same.
        assert_eq!(objects(&d, 1000).await, fresh);
        assert_eq!(hits(), base + 40);
        assert_eq!(objects(&d, 7).await, fresh);
        assert_eq!(hits(), base + 80);
        let listed = |all: &[storage_core::Object], key: &str| all.iter().find(|o| o.name == key).cloned().unwrap();

        // Rewritten by the driver (same size): its record no longer applies.
        d.put_object("c", "k/01", "VALUE 01".into(), &opts).await.unwrap();
        let head = d.head_object("c", "k/01").await.unwrap();
        let now = objects(&d, 1000).await;
        assert_eq!(hits(), base + 80 + 39);
        assert_eq!((listed(&now, "k/01").hash, listed(&now, "k/01").etag), (head.hash, head.etag));
        assert_ne!(listed(&now, "k/01").hash, listed(&fresh, "k/01").hash);

        // Written in place by another program, size and modification time kept: only
        // its ctime tells, and the index is not used for it.
        let path = dir.join("02");
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::fs::write(&path, "VALUE 02").unwrap();
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(mtime).unwrap();
        let before = hits();
        objects(&d, 1000).await;
        assert_eq!(hits(), before + 38);

        // Replaced by another program's file of the same size: not from the index.
        std::fs::write(dir.join("other"), "value XX").unwrap();
        std::fs::rename(dir.join("other"), dir.join("03")).unwrap();
        let before = hits();
        let now = objects(&d, 1000).await;
        assert_eq!(hits(), before + 37);
        assert_eq!(listed(&now, "k/03").hash, None);

        // Damaged: ignored, and the listing is still right.
        std::fs::write(&index, b"LSI1 not an index").unwrap();
        let before = hits();
        let again = objects(&d, 1000).await;
        assert_eq!(hits(), before);
        assert_eq!(again.len(), now.len());
        assert_eq!(listed(&again, "k/01"), listed(&now, "k/01"));

        // Deleting every key still prunes the directory its index was left in.
        std::thread::sleep(crate::index::SETTLED * 2);
        objects(&d, 1000).await;
        assert!(index.exists());
        for i in 0..40 {
            d.delete_object("c", &format!("k/{i:02}")).await.unwrap();
        }
        assert!(!dir.exists());
        // And a key can take the directory's name.
        d.put_object("c", "k", "v".into(), &opts).await.unwrap();
    }
}
