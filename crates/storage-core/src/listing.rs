//! Building listing pages from a sorted key space: prefix, start-after, delimiter
//! roll-up and continuation tokens, written once for every driver that stores keys in
//! order (memory, local, Redis, third-party ones).

use crate::error::{Error, ErrorKind, Result};
use crate::object::{ListEntry, Object, Page};
use crate::options::ListOptions;

/// Where a page starts: keys must be strictly after `after`, and keys under
/// `skip_prefix` (a common prefix already returned) are skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListCursor {
    /// The listing's prefix ("" for none).
    pub prefix: String,
    /// Exclusive lower bound on keys.
    pub after: Option<String>,
    /// Keys starting with this were already rolled up into a returned prefix.
    pub skip_prefix: Option<String>,
}

impl ListCursor {
    /// The cursor for `options` continuing from `token` (as produced by [`PageBuilder`]).
    pub fn new(options: &ListOptions, token: Option<&str>) -> Result<Self> {
        let mut after = options.start_after.clone();
        let mut skip_prefix = None;
        if let Some(token) = token {
            let (tag, rest) = token.split_at(token.len().min(1));
            match tag {
                "k" => after = max_opt(after, rest.to_owned()),
                "p" => {
                    after = max_opt(after, rest.to_owned());
                    skip_prefix = Some(rest.to_owned());
                }
                _ => {
                    return Err(Error::new(ErrorKind::Backend, "the continuation token is not one this driver issued"));
                }
            }
        }
        Ok(ListCursor { prefix: options.prefix.clone().unwrap_or_default(), after, skip_prefix })
    }

    /// The smallest key that may be listed (inclusive): the prefix or just after `after`.
    pub fn lower_bound(&self) -> &str {
        match &self.after {
            Some(a) if a.as_str() >= self.prefix.as_str() => a,
            _ => &self.prefix,
        }
    }

    /// Whether `key` belongs on this page's listing.
    pub fn admits(&self, key: &str) -> bool {
        key.starts_with(&self.prefix)
            && self.after.as_deref().is_none_or(|a| key > a)
            && self.skip_prefix.as_deref().is_none_or(|p| !key.starts_with(p))
    }

    /// Whether no key at or after `key` (in order) can match the prefix any more.
    pub fn past_prefix(&self, key: &str) -> bool {
        !key.starts_with(&self.prefix) && key > self.prefix.as_str()
    }
}

fn max_opt(a: Option<String>, b: String) -> Option<String> {
    match a {
        Some(a) if a > b => Some(a),
        _ => Some(b),
    }
}

/// Accumulates one page: rolls keys up at the delimiter and stops at the page size.
#[derive(Debug)]
pub struct PageBuilder {
    prefix: String,
    delimiter: Option<String>,
    limit: usize,
    entries: Vec<ListEntry>,
    more: bool,
}

impl PageBuilder {
    /// A builder for `options`; the page holds at most `options.page_size` (capped at
    /// `max_page`) entries.
    pub fn new(options: &ListOptions, max_page: usize) -> Self {
        let limit = options.page_size.unwrap_or(max_page).clamp(1, max_page.max(1));
        PageBuilder {
            prefix: options.prefix.clone().unwrap_or_default(),
            delimiter: options.delimiter.clone().filter(|d| !d.is_empty()),
            limit,
            entries: Vec::new(),
            more: false,
        }
    }

    /// The common prefix `key` rolls up into, if any.
    pub fn rollup_of<'k>(&self, key: &'k str) -> Option<&'k str> {
        let d = self.delimiter.as_deref()?;
        let rest = key.get(self.prefix.len()..)?;
        rest.find(d).map(|i| &key[..self.prefix.len() + i + d.len()])
    }

    fn last_prefix(&self) -> Option<&str> {
        match self.entries.last() {
            Some(ListEntry::Prefix(p)) => Some(p),
            _ => None,
        }
    }

    /// Adds an object (keys must arrive in order). Returns `false` once the page is full
    /// and this object would start a new entry: stop feeding then.
    pub fn push(&mut self, object: Object) -> bool {
        if let Some(p) = self.rollup_of(&object.name) {
            if self.last_prefix() == Some(p) {
                return true;
            }
            let p = p.to_owned();
            return self.push_entry(ListEntry::Prefix(p));
        }
        self.push_entry(ListEntry::Object(object))
    }

    /// Adds a common prefix directly (for drivers that know one without reading its keys).
    pub fn push_prefix(&mut self, prefix: String) -> bool {
        if self.last_prefix() == Some(prefix.as_str()) {
            return true;
        }
        self.push_entry(ListEntry::Prefix(prefix))
    }

    /// Whether `key` would only extend the prefix entry already at the end of the page.
    pub fn absorbs(&self, key: &str) -> bool {
        self.last_prefix().is_some_and(|p| key.starts_with(p))
    }

    fn push_entry(&mut self, e: ListEntry) -> bool {
        if self.entries.len() >= self.limit {
            self.more = true;
            return false;
        }
        self.entries.push(e);
        true
    }

    /// How many more entries the page takes.
    pub fn room(&self) -> usize {
        self.limit.saturating_sub(self.entries.len())
    }

    /// Makes room for `entries` more entries (at most as many as the page takes), so a
    /// driver that knows how many follow spares the page's vector its regrowth.
    pub fn reserve(&mut self, entries: usize) {
        let n = entries.min(self.room());
        if self.entries.capacity() - self.entries.len() < n {
            self.entries.reserve_exact(n);
        }
    }

    /// Whether the page is full (the next new entry would be refused).
    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.limit
    }

    /// The page, with a continuation token if entries were refused.
    pub fn finish(self) -> Page<ListEntry> {
        let next_token = if self.more {
            self.entries.last().map(|e| match e {
                ListEntry::Object(o) => format!("k{}", o.name),
                ListEntry::Prefix(p) => format!("p{p}"),
            })
        } else {
            None
        };
        Page { items: self.entries, next_token }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(keys: &[&str], opts: &ListOptions, page: usize) -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let cur = ListCursor::new(opts, token.as_deref()).unwrap();
            let mut b = PageBuilder::new(opts, page);
            for k in keys.iter().filter(|k| cur.admits(k)) {
                if !b.push(Object::new("c", *k, 0)) {
                    break;
                }
            }
            let p = b.finish();
            pages.push(p.items.iter().map(|e| e.name().to_owned()).collect());
            match p.next_token {
                Some(t) => token = Some(t),
                None => return pages,
            }
        }
    }

    #[test]
    fn pages_and_rollup() {
        let keys = ["a/1", "a/2", "b", "c/x/1", "c/y", "d"];
        let opts = ListOptions::default().with_delimiter("/");
        assert_eq!(list(&keys, &opts, 2), vec![vec!["a/", "b"], vec!["c/", "d"]]);
        assert_eq!(list(&keys, &opts, 1), vec![vec!["a/"], vec!["b"], vec!["c/"], vec!["d"]]);
        let opts = ListOptions::prefix("c/").with_delimiter("/");
        assert_eq!(list(&keys, &opts, 10), vec![vec!["c/x/", "c/y"]]);
        let opts = ListOptions::default().with_start_after("b");
        assert_eq!(list(&keys, &opts, 10), vec![vec!["c/x/1", "c/y", "d"]]);
    }

    #[test]
    fn reserving_makes_room_only_for_what_the_page_takes() {
        let mut page = PageBuilder::new(&ListOptions::default().with_page_size(3), 1000);
        page.reserve(1_000_000);
        let capacity = page.entries.capacity();
        assert!((3..1000).contains(&capacity), "{capacity}");
        for k in ["a", "b", "c"] {
            assert!(page.push(Object::new("c", k, 0)));
        }
        page.reserve(5);
        assert_eq!(page.entries.capacity(), capacity);
        assert!(!page.push(Object::new("c", "d", 0)));
        assert_eq!(page.finish().next_token.as_deref(), Some("kc"));
    }

    #[test]
    fn bad_token_is_rejected() {
        assert!(ListCursor::new(&ListOptions::default(), Some("zzz")).is_err());
    }
}
