//! Names of the Redis keys that hold containers, indexes, metadata and data chunks.
//!
//! Every key starts with a hash tag (`{...}`) so related keys share a cluster slot:
//! a container's bookkeeping under `{NS:len(C):C}`, an object's chunks under
//! `{NS:len(C):C:K}`. The length prefix keeps `C` and `K` apart even when they contain
//! `:` or braces.
//!
//! Separate because the key layout is the data model: every operation and every Lua
//! script must agree on it, so it is written down once.

/// Builds key names for one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Keys {
    ns: String,
}

impl Keys {
    /// Keys under namespace `ns` (already validated: non-empty, no braces).
    pub(crate) fn new(ns: &str) -> Self {
        Keys { ns: ns.to_owned() }
    }

    /// The namespace.
    pub(crate) fn namespace(&self) -> &str {
        &self.ns
    }

    fn container_tag(&self, c: &str) -> String {
        format!("{{{}:{}:{}}}", self.ns, c.len(), c)
    }

    /// Hash marking that container `c` exists (`created`).
    pub(crate) fn info(&self, c: &str) -> String {
        format!("{}:info", self.container_tag(c))
    }

    /// Sorted set of all keys of `c` (score 0, ordered bytewise).
    pub(crate) fn idx(&self, c: &str) -> String {
        format!("{}:idx", self.container_tag(c))
    }

    /// Hash key -> object metadata JSON.
    pub(crate) fn meta(&self, c: &str) -> String {
        format!("{}:meta", self.container_tag(c))
    }

    /// Hash upload id -> upload JSON.
    pub(crate) fn uploads(&self, c: &str) -> String {
        format!("{}:uploads", self.container_tag(c))
    }

    /// Prefix of the per-upload part hashes (`<prefix><id>`), for the Lua scripts.
    pub(crate) fn upload_parts_prefix(&self, c: &str) -> String {
        format!("{}:up:", self.container_tag(c))
    }

    /// Hash part number -> part JSON of upload `id`.
    pub(crate) fn upload_parts(&self, c: &str, id: &str) -> String {
        format!("{}{id}", self.upload_parts_prefix(c))
    }

    /// Sorted set of container names.
    pub(crate) fn containers(&self) -> String {
        format!("{{{}}}:containers", self.ns)
    }

    /// Counter for versions and upload ids.
    pub(crate) fn seq(&self) -> String {
        format!("{{{}}}:seq", self.ns)
    }

    /// The hash tag (with braces) shared by every chunk of object `k` in `c`.
    pub(crate) fn object_tag(&self, c: &str, k: &str) -> String {
        format!("{{{}:{}:{}:{}}}", self.ns, c.len(), c, k)
    }
}

/// Chunk `i` of the run `stem` (`v<version>` or `u<id>:p<n>:r<seq>`) under an object
/// tag from [`Keys::object_tag`].
pub(crate) fn chunk_key(object_tag: &str, stem: &str, i: u64) -> String {
    format!("{object_tag}:{stem}:{i}")
}

/// The smallest byte string greater than every string starting with `prefix`, or `None`
/// when there is none (empty prefix or all `0xff`).
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut v = prefix.to_vec();
    while let Some(last) = v.pop() {
        if last < 0xff {
            v.push(last + 1);
            return Some(v);
        }
    }
    None
}

/// A ZRANGEBYLEX bound: `[` inclusive or `(` exclusive followed by the member.
pub(crate) fn lex_bound(inclusive: bool, member: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(member.len() + 1);
    v.push(if inclusive { b'[' } else { b'(' });
    v.extend_from_slice(member);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_keep_related_keys_together() {
        let k = Keys::new("ns");
        assert_eq!(k.info("c"), "{ns:1:c}:info");
        assert_eq!(k.idx("c"), "{ns:1:c}:idx");
        assert_eq!(k.upload_parts("c", "7"), "{ns:1:c}:up:7");
        assert_eq!(k.containers(), "{ns}:containers");
        assert_eq!(chunk_key(&k.object_tag("c", "a/b"), "v12", 3), "{ns:1:c:a/b}:v12:3");
        // The length prefix separates container and key.
        assert_ne!(k.object_tag("a:b", "c"), k.object_tag("a", "b:c"));
    }

    #[test]
    fn successor_bounds_a_prefix() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(b""), None);
        assert_eq!(lex_bound(false, b"x"), b"(x".to_vec());
    }
}
