//! Listing objects from the container's sorted-set index with ZRANGEBYLEX, feeding the
//! kit's [`PageBuilder`]: a page costs O(log n + page size), and a common prefix is
//! skipped in one jump.
//!
//! Separate because listing is the one operation that reads the index rather than one
//! object's metadata: its bounds and jumps have nothing in common with the data path.

use std::collections::BTreeMap;

use storage_core::kit::{ListCursor, PageBuilder, Result};
use storage_core::{ListEntry, ListOptions, Page};

use crate::core::{Inner, NAME};
use crate::errors::{ctx, no_container};
use crate::keys::{lex_bound, prefix_successor};
use crate::meta::ObjectMeta;

/// Where the next ZRANGEBYLEX starts.
fn start_bound(cursor: &ListCursor) -> Option<Vec<u8>> {
    let lower = cursor.lower_bound();
    let mut bound = match &cursor.after {
        Some(a) if a.as_str() == lower => (lower.as_bytes().to_vec(), false),
        _ => (lower.as_bytes().to_vec(), true),
    };
    if let Some(skip) = &cursor.skip_prefix {
        // Everything under the prefix already returned is skipped in one jump.
        let succ = prefix_successor(skip.as_bytes())?;
        if succ > bound.0 {
            bound = (succ, true);
        }
    }
    Some(if bound.1 && bound.0.is_empty() { b"-".to_vec() } else { lex_bound(bound.1, &bound.0) })
}

impl Inner {
    pub(crate) async fn list_page(
        &self,
        container: &str,
        options: &ListOptions,
        token: Option<String>,
    ) -> Result<Page<ListEntry>> {
        self.check_container(container)?;
        let cx = ctx(container, None);
        let cursor = ListCursor::new(options, token.as_deref()).map_err(|e| e.with_driver(NAME))?;
        let max_page = self.info.limits.max_page_size;
        let mut page = PageBuilder::new(options, max_page);
        let batch = options.page_size.unwrap_or(max_page).clamp(1, max_page.max(1)) + 1;
        let upper = match prefix_successor(cursor.prefix.as_bytes()) {
            Some(s) => lex_bound(false, &s),
            None => b"+".to_vec(),
        };
        let (idx, meta_key, info) = (self.keys.idx(container), self.keys.meta(container), self.keys.info(container));
        let (idx, meta_key, info, upper) = (&idx, &meta_key, &info, &upper);
        let mut start = start_bound(&cursor);
        let mut first = true;
        while let Some(from) = start.take() {
            let from = &from;
            let (members, exists): (Vec<String>, bool) = self
                .run(move |mut c| async move {
                    let mut p = redis::pipe();
                    p.cmd("ZRANGEBYLEX").arg(idx).arg(from).arg(upper).arg("LIMIT").arg(0).arg(batch);
                    p.cmd("EXISTS").arg(info);
                    p.query_async(&mut c).await
                })
                .await
                .map_err(&cx)?;
            if first && !exists {
                return Err(no_container(container));
            }
            first = false;
            // Metadata only for keys that will be listed as objects.
            let wanted: Vec<&str> = members
                .iter()
                .map(String::as_str)
                .filter(|k| cursor.admits(k) && page.rollup_of(k).is_none())
                .collect();
            let metas: BTreeMap<&str, Vec<u8>> = if wanted.is_empty() {
                BTreeMap::new()
            } else {
                let wanted = &wanted;
                let found: Vec<Option<Vec<u8>>> =
                    self.run(move |mut c| async move {
                        redis::cmd("HMGET").arg(meta_key).arg(wanted).query_async(&mut c).await
                    })
                    .await
                    .map_err(&cx)?;
                wanted.iter().zip(found).filter_map(|(k, m)| m.map(|m| (*k, m))).collect()
            };
            let mut full = false;
            for key in &members {
                if cursor.past_prefix(key) {
                    full = true;
                    break;
                }
                if !cursor.admits(key) || page.absorbs(key) {
                    continue;
                }
                if let Some(p) = page.rollup_of(key) {
                    if !page.push_prefix(p.to_owned()) {
                        full = true;
                        break;
                    }
                    continue;
                }
                // An index entry whose metadata vanished was deleted meanwhile: skip it.
                let Some(json) = metas.get(key.as_str()) else { continue };
                let object = ObjectMeta::parse(json).map_err(ctx(container, Some(key)))?.to_object(container, key);
                if !page.push(object) {
                    full = true;
                    break;
                }
            }
            if full || members.len() < batch {
                break;
            }
            if let Some(last) = members.last() {
                start = match page.rollup_of(last) {
                    // The batch ended inside a common prefix: jump past all of it.
                    Some(p) => prefix_successor(p.as_bytes()).map(|s| lex_bound(true, &s)),
                    None => Some(lex_bound(false, last.as_bytes())),
                };
            }
        }
        Ok(page.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_bounds() {
        let c = ListCursor::new(&ListOptions::default(), None).unwrap();
        assert_eq!(start_bound(&c), Some(b"-".to_vec()));
        let c = ListCursor::new(&ListOptions::prefix("a/"), None).unwrap();
        assert_eq!(start_bound(&c), Some(b"[a/".to_vec()));
        let c = ListCursor::new(&ListOptions::default().with_start_after("b"), None).unwrap();
        assert_eq!(start_bound(&c), Some(b"(b".to_vec()));
        let c = ListCursor::new(&ListOptions::default(), Some("pa/")).unwrap();
        assert_eq!(start_bound(&c), Some(b"[a0".to_vec()));
    }
}
