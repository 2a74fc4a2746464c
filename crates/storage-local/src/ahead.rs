//! Stats taken ahead of a listing: the next run of a directory's files that the page
//! will describe, stat'ed on several threads at once.
//!
//! A listing stats every file it describes (its size, times and inode, so a file
//! rewritten in place by another program is never described from an old record), and on
//! a large directory those stats are most of the listing's time. They are independent of
//! each other, so when the page still has room for many files of one directory, the run
//! is split into chunks stat'ed in parallel (the listing's own blocking thread takes the
//! first chunk). Each stat is still taken during the page that uses it, after the page
//! started, and what is left unused when the page ends is dropped, never carried to the
//! next page.
//!
//! Separate from `list.rs` because it is an optimisation: a listing that never looks
//! ahead (one CPU, short runs) stats each file as it comes, with the same result.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::dirfd::{DirFd, Kind};
use crate::sidecar::FileStamp;

/// What a stat of one entry found: its kind, stamp and status change time; `None` when
/// it vanished or could not be read (the listing skips it, as it would a failed stat).
pub type Stat = Option<(Kind, FileStamp, i64)>;

/// Runs shorter than this are stat'ed one by one (a thread costs tens of microseconds).
pub const MIN_RUN: usize = 256;

/// The longest run stat'ed at once (a page holds at most 1,000 keys by default).
pub const MAX_RUN: usize = 4096;

/// Fewest stats one thread gets.
const MIN_CHUNK: usize = 128;

/// Most threads one run uses.
const MAX_THREADS: usize = 4;

/// The stats taken ahead for entries `from..from + stats.len()` of one level.
#[derive(Debug, Default)]
pub struct Ahead {
    from: usize,
    stats: Vec<Stat>,
    /// Entries below this were looked at and left to be stat'ed one by one.
    passed: usize,
}

impl Ahead {
    /// Whether entry `i` has a stat taken ahead.
    pub fn covers(&self, i: usize) -> bool {
        i >= self.from && i - self.from < self.stats.len()
    }

    /// Whether a run starting at entry `i` is worth looking at: nothing was taken ahead
    /// for it, it is not inside a run found too short, and this machine has more than
    /// one CPU.
    pub fn wants(&self, i: usize) -> bool {
        !self.covers(i) && i >= self.passed && threads() >= 2
    }

    /// Entries `..end` are to be stat'ed one by one (their run is too short).
    pub fn pass(&mut self, end: usize) {
        self.passed = end;
    }

    /// The stat taken ahead for entry `i`, if any (each is used once).
    pub fn take(&mut self, i: usize) -> Option<Stat> {
        if !self.covers(i) {
            return None;
        }
        self.stats.get_mut(i - self.from).map(Option::take)
    }

    /// Drops every stat taken ahead (the page ended: the next one stats again).
    pub fn clear(&mut self) {
        self.stats = Vec::new();
        self.passed = 0;
    }

    /// Stats `names` (files of `dir`, entries `from..`) on up to [`MAX_THREADS`]
    /// threads, when the run is long enough and this machine has more than one CPU;
    /// otherwise takes nothing ahead.
    pub fn fill(&mut self, dir: &DirFd, from: usize, names: &[&str]) {
        self.clear();
        let threads = threads().min(names.len() / MIN_CHUNK);
        if names.len() < MIN_RUN || threads < 2 {
            self.pass(from + names.len().max(1));
            return;
        }
        self.from = from;
        self.stats = stat_all(dir, names, threads);
    }
}

/// CPUs this process may use, at most [`MAX_THREADS`] (asked once).
fn threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS)))
}

/// Helper threads running now, across every listing of the process.
static HELPERS: AtomicUsize = AtomicUsize::new(0);

/// A helper thread's place in the process-wide budget ([`threads`] at once, however many
/// listings run), given back when dropped.
struct Helper;

impl Helper {
    /// A place, if one is free.
    fn take() -> Option<Helper> {
        let limit = threads();
        HELPERS.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1)).ok().map(|_| Helper)
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        HELPERS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Stats each of `names` in `dir`, split into `threads` chunks: the calling thread takes
/// the first, scoped threads the others. A chunk gets no thread of its own when the
/// process already runs [`threads`] helpers (many listings at once) or its thread cannot
/// be started: it is stat'ed here afterwards, so every name gets its stat.
fn stat_all(dir: &DirFd, names: &[&str], threads: usize) -> Vec<Stat> {
    let mut out: Vec<Stat> = vec![None; names.len()];
    let chunk = names.len().div_ceil(threads.max(1)).max(1);
    let stat = |names: &[&str], out: &mut [Stat]| {
        for (name, slot) in names.iter().zip(out.iter_mut()) {
            *slot = dir.stat_changed(name).ok();
        }
    };
    let mut not_started = Vec::new();
    std::thread::scope(|scope| {
        let mut parts = names.chunks(chunk).zip(out.chunks_mut(chunk)).enumerate();
        let first = parts.next();
        for (k, (names, out)) in parts {
            let Some(helper) = Helper::take() else {
                not_started.push(k);
                continue;
            };
            let spawned =
                std::thread::Builder::new().name("storage-local-stat".into()).spawn_scoped(scope, move || {
                    let _helper = helper;
                    stat(names, out);
                });
            if spawned.is_err() {
                not_started.push(k);
            }
        }
        if let Some((_, (names, out))) = first {
            stat(names, out);
        }
    });
    for k in not_started {
        let range = k * chunk..((k + 1) * chunk).min(names.len());
        stat(&names[range.clone()], &mut out[range]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_taken_ahead_match_stats_taken_one_by_one() {
        let tmp = tempfile::tempdir().unwrap();
        let names: Vec<String> = (0..700).map(|i| format!("f{i:04}")).collect();
        for (i, n) in names.iter().enumerate() {
            std::fs::write(tmp.path().join(n), vec![b'x'; i]).unwrap();
        }
        std::fs::create_dir(tmp.path().join("sub")).unwrap();
        let dir = DirFd::container(tmp.path(), "c", false).unwrap();
        let mut refs: Vec<&str> = names.iter().map(String::as_str).collect();
        // One name vanished, one is a directory: each gets what a stat of it gets.
        refs[10] = "missing";
        refs[20] = "sub";
        let all = stat_all(&dir, &refs, 3);
        assert_eq!(all.len(), refs.len());
        for (name, got) in refs.iter().zip(&all) {
            let want = dir.stat_changed(name).ok();
            assert_eq!(*got, want, "{name}");
        }
        assert!(all[10].is_none());
        assert!(matches!(all[20], Some((Kind::Dir, _, _))));
        // With the process's helper budget spent (other listings), the caller stats every
        // chunk itself, with the same result.
        // (Other tests may hold some places meanwhile: the budget is the process's.)
        let held: Vec<Helper> = std::iter::from_fn(Helper::take).collect();
        assert!(held.len() <= threads());
        assert_eq!(stat_all(&dir, &refs, 3), all);
        drop(held);

        let mut ahead = Ahead::default();
        ahead.fill(&dir, 5, &refs);
        if threads() >= 2 {
            assert!(ahead.covers(5) && ahead.covers(5 + refs.len() - 1) && !ahead.covers(4));
            assert_eq!(ahead.take(5 + 30).flatten().map(|(_, s, _)| s.size), Some(30));
            // Used once.
            assert_eq!(ahead.take(5 + 30), Some(None));
        }
        ahead.clear();
        assert!(!ahead.covers(5) && ahead.take(5).is_none());
        // A short run is not taken ahead.
        ahead.fill(&dir, 0, &refs[..MIN_RUN - 1]);
        assert!(!ahead.covers(0));
    }
}
