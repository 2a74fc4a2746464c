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

/// Sizes for tables: binary units with two decimals (`5.68 MiB`), bytes exact (`512 B`).
pub fn human2(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64;
    let mut u = 0;
    // Move up a unit as long as the rounded value would reach 1024.00.
    while u + 1 < UNITS.len() && (v * 100.0).round() >= 1024.0 * 100.0 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.2} {}", UNITS[u])
}

/// A time as the tables show it: UTC, `2026-12-03 10:15:02`.
pub fn utc(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
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
        "extra": o.extra,
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

    #[test]
    fn table_sizes_have_two_decimals() {
        assert_eq!(human2(0), "0 B");
        assert_eq!(human2(1023), "1023 B");
        assert_eq!(human2(1024), "1.00 KiB");
        assert_eq!(human2(5_955_912), "5.68 MiB");
        assert_eq!(human2(1024 * 1024 - 1), "1.00 MiB");
        assert_eq!(human2(3 * 1024 * 1024 * 1024), "3.00 GiB");
        assert_eq!(human2(u64::MAX), "16.00 EiB");
    }
}
