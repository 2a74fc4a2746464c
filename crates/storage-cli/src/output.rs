//! Human and JSON output.

use storage::{Container, ListEntry, Object};

/// `1.5 KiB`-style sizes.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{bytes} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

/// A size, human or exact.
pub fn size(bytes: u64, human_sizes: bool) -> String {
    if human_sizes { human(bytes) } else { bytes.to_string() }
}

/// An object as a JSON value.
pub fn object_json(o: &Object) -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "container": o.container,
        "key": o.name,
        "size": o.size,
        "etag": o.etag,
        "hash": o.hash.as_ref().map(|h| format!("{}:{}", h.algorithm.as_str(), h.value)),
        "last_modified": o.last_modified.map(|t| t.to_rfc3339()),
        "content_type": o.content_type,
        "metadata": o.metadata,
        "version": o.version,
    })
}

/// A listing entry as a JSON value.
pub fn entry_json(container: &str, e: &ListEntry) -> serde_json::Value {
    match e {
        ListEntry::Object(o) => object_json(o),
        ListEntry::Prefix(p) => serde_json::json!({"type": "prefix", "container": container, "prefix": p}),
    }
}

/// A container as a JSON value.
pub fn container_json(c: &Container) -> serde_json::Value {
    serde_json::json!({"type": "container", "name": c.name, "created": c.created.map(|t| t.to_rfc3339())})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(5 * 1024 * 1024), "5.0 MiB");
    }
}
