//! Listings: a lazy walk of the container's collections (PROPFIND, depth 1, one
//! collection at a time), flattened into keys in bytewise order.
//!
//! # Order
//!
//! Keys must come in bytewise order of the whole key, not of path components: `a-b`
//! (`-` is 0x2D) sorts before `a/x` (`/` is 0x2F), which sorts before `a0`. Within one
//! collection, a file child `n` stands for the key `<dir>n` and a collection child `n`
//! for every key starting `<dir>n/`. Sorting the children by `n` for files and `n/` for
//! collections therefore orders whole subtrees correctly: two such sort keys are never
//! a prefix of one another unless equal (a name holds no `/`, and a file and a
//! collection cannot share a name), so they differ at a byte where every key of the
//! first subtree is below every key of the second. A depth-first walk of children in
//! that order yields keys in bytewise order (see the tests).
//!
//! # What is read
//!
//! The walk starts at the deepest collection the prefix names (`a/b/` for the prefix
//! `a/b/c`), skips subtrees that hold nothing after the start-after key or the page
//! token, and stops once the page is full. With the delimiter `/` a collection is a
//! common prefix, reported without reading its contents beyond the first object (a
//! collection holding no object, left behind by another client, is not reported);
//! other delimiters read the tree and roll keys up as every driver does
//! ([`PageBuilder`]). Staged uploads (`.~upload.*`) are never listed. Each page walks
//! again from the token, so a listing sees the tree as it is when each page is read.

use futures::future::BoxFuture;
use storage_core::kit::{ListCursor, PageBuilder};
use storage_core::{Error, ErrorKind, Leftover, LeftoverKind, ListEntry, ListOptions, Object, Page, Result};

use crate::client::{Client, Depth};
use crate::driver::WebDavDriver;
use crate::paths::{check_key, is_staging_name};
use crate::xml::{Resource, normalize_etag};

/// Most entries in one page.
pub(crate) const MAX_PAGE: usize = 1000;

/// One child of a collection, with the key (or key prefix, for a collection) it stands
/// for.
#[derive(Debug, Clone)]
pub(crate) struct Child {
    /// `<dir><name>` for a file, `<dir><name>/` for a collection.
    pub(crate) key: String,
    pub(crate) collection: bool,
    pub(crate) resource: Resource,
}

/// The children of a collection in walk order: by name for files, by name and `/` for
/// collections, bytewise.
pub(crate) fn sort_children(children: &mut [Child]) {
    children.sort_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
}

/// What the walk meets, in key order.
#[derive(Debug)]
pub(crate) enum Entry {
    /// An object.
    Object(Object),
    /// A collection: its key prefix, ending in `/`. The caller descends into it (or not).
    Collection(String),
    /// A staged upload (only when the walk was asked for them): its key and resource.
    Staged(String, Resource),
}

/// Which keys a walk is after.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bounds {
    prefix: String,
    after: Option<String>,
    skip_prefix: Option<String>,
}

impl Bounds {
    fn from_cursor(c: &ListCursor) -> Self {
        Bounds { prefix: c.prefix.clone(), after: c.after.clone(), skip_prefix: c.skip_prefix.clone() }
    }

    fn under(prefix: &str) -> Self {
        Bounds { prefix: prefix.to_owned(), ..Bounds::default() }
    }

    fn admits_key(&self, key: &str) -> bool {
        key.starts_with(&self.prefix)
            && self.after.as_deref().is_none_or(|a| key > a)
            && self.skip_prefix.as_deref().is_none_or(|p| !key.starts_with(p))
    }

    /// Whether the collection `dir` (ending in `/`) may hold an admitted key.
    fn admits_dir(&self, dir: &str) -> bool {
        (dir.starts_with(&self.prefix) || self.prefix.starts_with(dir))
            // Every key under `dir` is at or before `after` when `dir` sorts before it
            // and is not a prefix of it.
            && self.after.as_deref().is_none_or(|a| dir > a || a.starts_with(dir))
            && self.skip_prefix.as_deref().is_none_or(|p| !dir.starts_with(p))
    }
}

struct Frame {
    children: Vec<Child>,
    next: usize,
}

/// A depth-first walk of a container's collections in key order.
pub(crate) struct Walk<'a> {
    d: &'a WebDavDriver,
    container: &'a str,
    bounds: Bounds,
    staged: bool,
    stack: Vec<Frame>,
}

impl<'a> Walk<'a> {
    /// A walk starting in the collection `dir` (`""` or ending in `/`). `None` when the
    /// collection does not exist (or a file stands there).
    pub(crate) async fn start(
        d: &'a WebDavDriver,
        container: &'a str,
        dir: &str,
        bounds: Bounds,
        staged: bool,
    ) -> Result<Option<Walk<'a>>> {
        let mut w = Walk { d, container, bounds, staged, stack: Vec::new() };
        Ok(w.descend(dir).await?.then_some(w))
    }

    /// Reads the collection `dir` and continues the walk inside it; `false` if it is
    /// not there (then the walk goes on after it).
    pub(crate) async fn descend(&mut self, dir: &str) -> Result<bool> {
        let ep = &self.d.client.endpoint;
        let url = ep.key_url(self.container, dir);
        let path = ep.dir_path(self.container, dir);
        let Some(found) = self.d.client.propfind(&url, Depth::One).await? else { return Ok(false) };
        // A file standing where a collection was expected answers for itself only.
        let is_dir = found.iter().any(|r| r.collection && crate::client::names(r, &path)) || found.len() > 1;
        if !is_dir {
            return Ok(false);
        }
        let mut children: Vec<Child> = Client::children(&path, found)
            .into_iter()
            .map(|(name, collection, resource)| {
                let key = if collection { format!("{dir}{name}/") } else { format!("{dir}{name}") };
                Child { key, collection, resource }
            })
            .collect();
        sort_children(&mut children);
        self.stack.push(Frame { children, next: 0 });
        Ok(true)
    }

    /// The next entry in key order within the bounds, or `None` at the end. A
    /// collection is returned before its contents; call [`Walk::descend`] to read them.
    pub(crate) async fn next(&mut self) -> Result<Option<Entry>> {
        loop {
            let Some(frame) = self.stack.last_mut() else { return Ok(None) };
            let Some(child) = frame.children.get(frame.next).cloned() else {
                self.stack.pop();
                continue;
            };
            frame.next += 1;
            if child.collection {
                if self.bounds.admits_dir(&child.key) {
                    return Ok(Some(Entry::Collection(child.key)));
                }
                continue;
            }
            let name = child.key.rsplit('/').next().unwrap_or(&child.key);
            if is_staging_name(name) {
                if self.staged && child.key.starts_with(&self.bounds.prefix) {
                    return Ok(Some(Entry::Staged(child.key, child.resource)));
                }
                continue;
            }
            // Names a reader would refuse (too long, `.`) are not listed.
            if !self.bounds.admits_key(&child.key) || !acceptable(self.d, &child.key) {
                continue;
            }
            return Ok(Some(Entry::Object(object_of(self.container, child.key, &child.resource))));
        }
    }

    /// Walks on into every collection until an object turns up.
    async fn first_object(&mut self) -> Result<Option<Object>> {
        while let Some(e) = self.next().await? {
            match e {
                Entry::Object(o) => return Ok(Some(o)),
                Entry::Collection(dir) => {
                    self.descend(&dir).await?;
                }
                Entry::Staged(..) => {}
            }
        }
        Ok(None)
    }
}

fn acceptable(d: &WebDavDriver, key: &str) -> bool {
    storage_core::kit::object_key(key, d.info.limits.max_key_length).is_ok() && check_key(key).is_ok()
}

/// An object from the properties of its file.
pub(crate) fn object_of(container: &str, key: String, r: &Resource) -> Object {
    let mut o = Object::new(container, key, r.size.unwrap_or(0));
    if let Some(raw) = &r.etag {
        let (etag, _) = normalize_etag(raw);
        o.etag = Some(etag);
    }
    o.last_modified = r.last_modified;
    o.content_type = r.content_type.clone();
    if let Some(c) = r.created {
        o.extra.insert("created".into(), c.to_rfc3339());
    }
    o
}

/// Whether the collection `dir` of `container` holds an object (staged uploads aside),
/// at any depth.
pub(crate) async fn holds_object(d: &WebDavDriver, container: &str, dir: &str) -> Result<bool> {
    holds_object_within(d, container, dir, Bounds::under(dir)).await
}

fn holds_object_within<'a>(
    d: &'a WebDavDriver,
    container: &'a str,
    dir: &'a str,
    bounds: Bounds,
) -> BoxFuture<'a, Result<bool>> {
    Box::pin(async move {
        match Walk::start(d, container, dir, bounds, false).await? {
            Some(mut w) => Ok(w.first_object().await?.is_some()),
            None => Ok(false),
        }
    })
}

/// One page of a listing (see the module documentation).
pub(crate) async fn page(
    d: &WebDavDriver,
    container: &str,
    options: &ListOptions,
    token: Option<String>,
) -> Result<Page<ListEntry>> {
    d.check_container(container)?;
    let cursor = ListCursor::new(options, token.as_deref()).map_err(|e| e.with_driver(d.name()))?;
    let bounds = Bounds::from_cursor(&cursor);
    let mut builder = PageBuilder::new(options, d.info.limits.max_page_size);
    let slash_delimited = options.delimiter.as_deref() == Some("/");
    let start = &cursor.prefix[..cursor.prefix.rfind('/').map_or(0, |i| i + 1)];
    let walk = Walk::start(d, container, start, bounds.clone(), false).await.map_err(|e| not_webdav(d, e))?;
    let Some(mut walk) = walk else {
        // Nothing at the prefix's collection: an empty listing, if the container exists.
        if start.is_empty() || crate::containers::find(d, container).await?.is_none() {
            return Err(Error::container_not_found(d.name(), container));
        }
        return Ok(Page::last(Vec::new()));
    };
    while let Some(entry) = walk.next().await? {
        match entry {
            Entry::Object(o) => {
                if !builder.push(o) {
                    break;
                }
            }
            Entry::Collection(dir) => {
                if builder.absorbs(&dir) {
                    continue;
                }
                // With `/`, a collection below the prefix is a common prefix of its own
                // (the walk starts at the prefix's collection, so no name between the
                // prefix and the collection holds a `/`).
                if slash_delimited && builder.rollup_of(&dir) == Some(dir.as_str()) {
                    if holds_object_within(d, container, &dir, bounds.clone()).await? && !builder.push_prefix(dir) {
                        break;
                    }
                    continue;
                }
                walk.descend(&dir).await?;
            }
            Entry::Staged(..) => {}
        }
    }
    Ok(builder.finish())
}

/// A plain HTTP server that does not answer PROPFIND cannot be listed.
fn not_webdav(d: &WebDavDriver, e: Error) -> Error {
    if d.is_http() && matches!(e.status(), Some(400 | 403 | 405 | 501)) {
        return Error::new(
            ErrorKind::NotSupported,
            format!("the server does not list collections (PROPFIND answered {}): {e}", e.status().unwrap_or(0)),
        )
        .with_driver(d.name())
        .with_hint("listing a plain HTTP store needs a server that also speaks WebDAV");
    }
    e
}

/// The staged uploads under `prefix` that no write is using any more, or that are in
/// progress: every `.~upload.*` file, with its size and modification time.
pub(crate) async fn leftovers(d: &WebDavDriver, container: &str, prefix: Option<&str>) -> Result<Vec<Leftover>> {
    d.writable("listing leftovers")?;
    d.check_container(container)?;
    let prefix = prefix.unwrap_or("");
    let start = &prefix[..prefix.rfind('/').map_or(0, |i| i + 1)];
    let Some(mut walk) = Walk::start(d, container, start, Bounds::under(prefix), true).await? else {
        crate::containers::require(d, container).await?;
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    while let Some(entry) = walk.next().await? {
        match entry {
            Entry::Collection(dir) => {
                walk.descend(&dir).await?;
            }
            Entry::Staged(key, r) => out.push(Leftover {
                container: container.to_owned(),
                key: crate::paths::parent_dir(&key).to_owned(),
                kind: LeftoverKind::StagedData,
                id: key,
                size: r.size,
                created: r.last_modified,
            }),
            Entry::Object(_) => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(key: &str) -> Child {
        Child { key: key.to_owned(), collection: key.ends_with('/'), resource: Resource::default() }
    }

    /// Flattens a tree given as a map of collections to the names in them (`name/` for
    /// collections), walking children in `sort_children` order.
    fn flatten(tree: &[(&str, &[&str])], dir: &str, out: &mut Vec<String>) {
        let names = tree.iter().find(|(d, _)| *d == dir).map(|(_, n)| *n).unwrap_or(&[]);
        let mut children: Vec<Child> = names.iter().map(|n| child(&format!("{dir}{n}"))).collect();
        sort_children(&mut children);
        for c in children {
            if c.collection {
                flatten(tree, &c.key, out);
            } else {
                out.push(c.key);
            }
        }
    }

    #[test]
    fn the_walk_yields_whole_keys_in_bytewise_order() {
        // "a-b" < "a/..." < "a0" < "a~"; "b" (file) < "b!" < "b/..." (a collection b can't
        // hold a file b, but b! sorts between them).
        let tree: &[(&str, &[&str])] = &[
            ("", &["a0", "a/", "a-b", "a~", "b!", "b/", "Z", "é", "a.txt"]),
            ("a/", &["x", "b/", "b-c", "b.d", " "]),
            ("a/b/", &["1", "0/"]),
            ("a/b/0/", &["z"]),
            ("b/", &["c"]),
        ];
        let mut walked = Vec::new();
        flatten(tree, "", &mut walked);
        let mut sorted = walked.clone();
        sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        assert_eq!(walked, sorted);
        assert_eq!(
            walked,
            ["Z", "a-b", "a.txt", "a/ ", "a/b-c", "a/b.d", "a/b/0/z", "a/b/1", "a/x", "a0", "a~", "b!", "b/c", "é"]
        );
    }

    #[test]
    fn bounds_skip_subtrees_that_cannot_hold_a_listed_key() {
        let b = Bounds { prefix: "p/".into(), after: Some("p/m/x".into()), skip_prefix: None };
        assert!(b.admits_dir("p/m/"), "holds keys after p/m/x");
        assert!(!b.admits_dir("p/l/"), "every key under p/l/ is before p/m/x");
        assert!(b.admits_dir("p/n/"));
        assert!(!b.admits_dir("q/"));
        assert!(b.admits_dir("p/"), "an ancestor of the prefix");
        assert!(!b.admits_key("p/m/x") && b.admits_key("p/m/y") && !b.admits_key("p/a"));
        let b = Bounds { prefix: String::new(), after: Some("a/".into()), skip_prefix: Some("a/".into()) };
        assert!(!b.admits_dir("a/") && !b.admits_key("a/b") && b.admits_key("a0"));
    }
}
