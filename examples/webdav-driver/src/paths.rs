//! Keys and names on a WebDAV server: which keys it can hold, how they become URL paths,
//! and how the hrefs of PROPFIND answers become keys again.
//!
//! A key's `/`-separated segments are the path below the container's collection, each
//! segment percent-encoded (everything but `A-Z a-z 0-9 - . _ ~`), so any UTF-8 key maps
//! to one URL and servers store the names as written. A server keeps a tree of
//! collections, so some keys cannot be held and are refused with `InvalidObjectName`
//! before any request:
//!
//! - an empty segment (`a//b`, a leading or trailing `/`): a path cannot hold it;
//! - a `.` or `..` segment: servers resolve them (`a/./b` is `a/b`, `..` leaves the
//!   container);
//! - a last segment starting with [`STAGING_PREFIX`]: the names of this driver's staged
//!   uploads, which listings never show.
//!
//! Hrefs in PROPFIND answers may be absolute URLs or absolute paths (or, rarely,
//! relative), with escapes in either case (`%c3%a9` from Apache, `%C3%A9` from rclone):
//! they are compared decoded.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use storage_core::{Error, ErrorKind, Result};

/// The start of the names of staged uploads (`<dir>/.~upload.<tag>`): written first,
/// then moved onto the key. Listings skip them; keys ending in such a name are refused.
pub const STAGING_PREFIX: &str = ".~upload.";

/// Everything but the RFC 3986 unreserved characters is escaped in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encodes one path segment.
pub fn encode_segment(segment: &str) -> String {
    utf8_percent_encode(segment, SEGMENT).to_string()
}

/// Percent-encodes a `/`-separated path, segment by segment.
pub fn encode_path(path: &str) -> String {
    path.split('/').map(encode_segment).collect::<Vec<_>>().join("/")
}

fn invalid(key: &str, why: &str) -> Error {
    Error::new(ErrorKind::InvalidObjectName, format!("object key {key:?} cannot be stored on a WebDAV server: {why}"))
        .with_key(key)
        .with_hint(
            "WebDAV stores keys as paths: use keys without empty, `.` or `..` segments and without a trailing `/`",
        )
}

/// Refuses a key a WebDAV server cannot hold as a path (after the core's checks: not
/// empty, no NUL, at most the driver's length).
pub fn check_key(key: &str) -> Result<()> {
    if key.starts_with('/') {
        return Err(invalid(key, "it starts with `/` (an empty first segment)"));
    }
    if key.ends_with('/') {
        return Err(invalid(key, "it ends with `/` (a WebDAV path ending in `/` names a collection)"));
    }
    for segment in key.split('/') {
        match segment {
            "" => return Err(invalid(key, "it holds `//` (an empty segment)")),
            "." | ".." => return Err(invalid(key, "it holds a `.` or `..` segment, which servers resolve")),
            _ => {}
        }
    }
    let last = key.rsplit('/').next().unwrap_or(key);
    if last.starts_with(STAGING_PREFIX) {
        return Err(invalid(key, "names starting with `.~upload.` are this driver's staged uploads"));
    }
    Ok(())
}

/// Whether a name found on the server is a staged upload of this driver.
pub fn is_staging_name(name: &str) -> bool {
    name.starts_with(STAGING_PREFIX)
}

/// The collections a key lives in, shallowest first, as key prefixes ending in `/`:
/// `a/b/c` -> `["a/", "a/b/"]`.
pub fn ancestors(key: &str) -> Vec<&str> {
    key.match_indices('/').map(|(i, _)| &key[..=i]).collect()
}

/// The key prefix of the collection holding `key` (`""` for the container itself).
pub fn parent_dir(key: &str) -> &str {
    key.rfind('/').map_or("", |i| &key[..=i])
}

/// Decodes a percent-encoded path; `None` if it is not UTF-8 once decoded.
pub fn decode(path: &str) -> Option<String> {
    percent_decode_str(path).decode_utf8().ok().map(|c| c.into_owned())
}

/// The decoded path of an href: an absolute URL loses its scheme and authority, a
/// relative reference is resolved against `request_path` (the decoded path the request
/// went to), runs of `/` become one, and a query or fragment is dropped.
pub fn href_path(href: &str, request_path: &str) -> Option<String> {
    let href = href.trim();
    let raw = match href.split_once("://") {
        Some((scheme, rest)) if !scheme.contains('/') => match rest.find('/') {
            Some(i) => &rest[i..],
            None => "/",
        },
        _ => href,
    };
    let raw = raw.split(['?', '#']).next().unwrap_or(raw);
    let decoded = decode(raw)?;
    let absolute = if decoded.starts_with('/') {
        decoded
    } else {
        let base = match request_path.rfind('/') {
            Some(i) => &request_path[..=i],
            None => "/",
        };
        format!("{base}{decoded}")
    };
    let mut out = String::with_capacity(absolute.len());
    for c in absolute.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    Some(out)
}

/// The name of a direct child of the collection at `dir_path` (decoded, ending in `/`),
/// if `path` (decoded) is one: `Some((name, ends_with_slash))`. The collection itself,
/// deeper descendants and unrelated paths are `None`.
pub fn child_name<'a>(dir_path: &str, path: &'a str) -> Option<(&'a str, bool)> {
    let rest = path.strip_prefix(dir_path)?;
    let (name, slash) = match rest.strip_suffix('/') {
        Some(n) => (n, true),
        None => (rest, false),
    };
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return None;
    }
    Some((name, slash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_a_path_cannot_hold_are_refused() {
        for ok in ["a", "a/b/c", "...", "a+b", "100% sure", "ünï/日本/😀", "a%2Fb", "x/.hidden", "a/.~upload"] {
            assert!(check_key(ok).is_ok(), "{ok}");
        }
        for bad in ["/a", "a/", "dir/", "a//b", "a/./b", "a/../b", "..", ".", "a/.~upload.123", ".~upload.x"] {
            let e = check_key(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidObjectName, "{bad}");
            assert_eq!(e.key(), Some(bad));
        }
    }

    #[test]
    fn segments_are_encoded_and_decoded_back() {
        assert_eq!(encode_path("héllo w%rld&?#.txt/a+b"), "h%C3%A9llo%20w%25rld%26%3F%23.txt/a%2Bb");
        assert_eq!(encode_segment("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(decode("h%c3%a9llo%20w%25rld&%3f%23.txt").as_deref(), Some("héllo w%rld&?#.txt"));
        assert_eq!(decode("%ff"), None);
    }

    #[test]
    fn ancestors_and_parents() {
        assert_eq!(ancestors("a/b/c"), vec!["a/", "a/b/"]);
        assert!(ancestors("a").is_empty());
        assert_eq!(parent_dir("a/b/c"), "a/b/");
        assert_eq!(parent_dir("c"), "");
    }

    #[test]
    fn hrefs_absolute_relative_and_odd() {
        let req = "/dav/c/dir/";
        assert_eq!(href_path("/dav/c/dir/f%20g", req).as_deref(), Some("/dav/c/dir/f g"));
        assert_eq!(href_path("http://127.0.0.1:8470/dav/c/dir/x", req).as_deref(), Some("/dav/c/dir/x"));
        assert_eq!(href_path("https://h/dav/c/dir/sub/", req).as_deref(), Some("/dav/c/dir/sub/"));
        assert_eq!(href_path("x%3Fy", req).as_deref(), Some("/dav/c/dir/x?y"));
        assert_eq!(href_path("//dav//c/dir/y", req).as_deref(), Some("/dav/c/dir/y"));
        assert_eq!(href_path("/dav/c/dir/z?q=1", req).as_deref(), Some("/dav/c/dir/z"));
        assert_eq!(href_path("http://h", req).as_deref(), Some("/"));
    }

    #[test]
    fn children_of_a_collection() {
        assert_eq!(child_name("/c/d/", "/c/d/f"), Some(("f", false)));
        assert_eq!(child_name("/c/d/", "/c/d/sub/"), Some(("sub", true)));
        assert_eq!(child_name("/c/d/", "/c/d/"), None);
        assert_eq!(child_name("/c/d/", "/c/d"), None);
        assert_eq!(child_name("/c/d/", "/c/d/sub/deeper"), None);
        assert_eq!(child_name("/c/d/", "/c/e/f"), None);
    }
}
