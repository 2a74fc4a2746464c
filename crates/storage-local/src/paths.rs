//! Key <-> path encoding, internal names and the containment (symlink) policy.
//!
//! A key is split on `/`; each segment becomes one path component after encoding:
//!
//! - `%` becomes `%25`;
//! - the segment `.` becomes `%2E`, the empty segment (from `a//b` or `dir/`) a lone `%`;
//! - `..` segments and keys starting with `/` are refused (`InvalidObjectName`);
//! - an encoded segment longer than [`MAX_PIECE`] bytes is cut (on character
//!   boundaries) into pieces of at most that size; every piece but the last becomes a
//!   *continuation directory* named `<piece>%+`, the last piece is the component itself.
//!
//! The encoding never produces a name that ends in `%+` (other than continuation
//! directories) or starts with `%` followed by an ASCII letter; the latter are the
//! driver's internal files (`%m.` sidecars, `%t.` temporary files, `%uploads`), so they
//! never collide with keys and never show up in listings.
//!
//! Separate because every operation goes through it: it is the one place that decides
//! which path a key names. That nothing leaves the root is `dirfd.rs`'s part: these
//! components are only ever opened relative to the container's descriptor.

use std::path::{Path, PathBuf};

use storage_core::kit::Result;

use crate::errors;

/// Longest piece of an encoded segment stored in one path component (bytes). Leaves
/// room under the usual 255-byte name limit for the `%m.` sidecar prefix.
pub const MAX_PIECE: usize = 200;

/// Suffix of a continuation directory (a non-final piece of a long segment).
pub const CONTINUATION: &str = "%+";

/// Prefix of metadata sidecar files.
pub const SIDECAR_PREFIX: &str = "%m.";

/// Prefix of temporary files.
pub const TEMP_PREFIX: &str = "%t.";

/// Name of the multipart staging directory inside a container.
pub const UPLOADS_DIR: &str = "%uploads";

/// Whether a directory entry is one of the driver's internal files (`%` + a letter).
pub fn is_internal(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next() == Some('%') && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
}

/// A temporary file name, unique in practice: the process id and start time (read
/// once per process) and a counter.
pub fn temp_name() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static TAG: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tag = TAG.get_or_init(storage_core::kit::unique_tag);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = String::with_capacity(TEMP_PREFIX.len() + tag.len() + 17);
    name.push_str(TEMP_PREFIX);
    name.push_str(tag);
    name.push('-');
    crate::digest::push_hex(&mut name, n, 1);
    name
}

/// The sidecar's file name for a data file named `leaf`.
pub fn sidecar_name(leaf: &str) -> String {
    format!("{SIDECAR_PREFIX}{leaf}")
}

/// Encodes one segment (without splitting). `None` for `..`.
fn encode_segment(segment: &str) -> Option<String> {
    match segment {
        ".." => None,
        "" => Some("%".to_owned()),
        "." => Some("%2E".to_owned()),
        s => Some(s.replace('%', "%25")),
    }
}

/// Encodes the characters of a partial segment (no whole-segment special cases); the
/// mapping is prefix-free, so `s` starts with `p` iff `encode_chars(s)` starts with
/// `encode_chars(p)`.
pub fn encode_chars(s: &str) -> String {
    s.replace('%', "%25")
}

/// Cuts an encoded segment into path components (continuation directories first).
fn split_pieces(encoded: &str) -> Vec<String> {
    if encoded.len() <= MAX_PIECE {
        return vec![encoded.to_owned()];
    }
    let mut cuts = Vec::new();
    let mut start = 0;
    while encoded.len() - start > MAX_PIECE {
        let mut end = start + MAX_PIECE;
        while !encoded.is_char_boundary(end) {
            end -= 1;
        }
        cuts.push(end);
        start = end;
    }
    // The last piece must not be `.` or `..` (those are not file names).
    while let Some(last) = cuts.last_mut() {
        let tail = &encoded[*last..];
        if tail != "." && tail != ".." {
            break;
        }
        let mut back = *last - 1;
        while !encoded.is_char_boundary(back) {
            back -= 1;
        }
        *last = back;
    }
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut from = 0;
    for cut in cuts {
        out.push(format!("{}{CONTINUATION}", &encoded[from..cut]));
        from = cut;
    }
    out.push(encoded[from..].to_owned());
    out
}

/// The path components of one key segment; `None` for `..`.
pub fn segment_components(segment: &str) -> Option<Vec<String>> {
    encode_segment(segment).map(|e| split_pieces(&e))
}

/// Decodes a whole encoded segment (its pieces concatenated, without the `%+`
/// suffixes). `None` if the name is not something the encoding produces.
pub fn decode_segment(encoded: &str) -> Option<String> {
    match encoded {
        "%" => return Some(String::new()),
        "%2E" => return Some(".".to_owned()),
        _ => {}
    }
    let mut out = String::with_capacity(encoded.len());
    let mut rest = encoded;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        if !rest[i..].starts_with("%25") {
            return None;
        }
        out.push('%');
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    if out.is_empty() || out == "." || out == ".." {
        return None;
    }
    Some(out)
}

/// Checks the local rules on a key already validated by `storage_core::kit::object_key`.
pub fn check_key(key: &str) -> Result<()> {
    if key.starts_with('/') {
        return Err(errors::invalid_key(key, "it starts with '/' (an absolute path)"));
    }
    if key.split('/').any(|s| s == "..") {
        return Err(errors::invalid_key(key, "a '..' segment would leave the container"));
    }
    Ok(())
}

/// Whether a key found on disk is one the driver accepts (so listing never shows a key
/// that reads would refuse).
///
/// The same answer as `object_key(..).is_ok() && check_key(..).is_ok()`, in one pass over
/// the bytes and without building the errors (a listing asks this of every key).
pub fn is_acceptable_key(key: &str, max_len: usize) -> bool {
    let b = key.as_bytes();
    !b.is_empty()
        && b.len() <= max_len
        && b[0] != b'/'
        && !b.contains(&0)
        && !b.split(|&c| c == b'/').any(|segment| segment == b"..")
}

/// The path components (relative to the container directory) of a key; the last one is
/// the data file's name.
pub fn key_components(key: &str) -> Result<Vec<String>> {
    check_key(key)?;
    let mut out = Vec::with_capacity(4);
    for segment in key.split('/') {
        // The common case, a plain name that fits one component: itself.
        if segment.len() <= MAX_PIECE && !matches!(segment, "" | "." | "..") && !segment.contains('%') {
            out.push(segment.to_owned());
            continue;
        }
        let comps = segment_components(segment).ok_or_else(|| errors::invalid_key(key, "a '..' segment"))?;
        out.extend(comps);
    }
    Ok(out)
}

/// Where an object lives on disk.
#[derive(Debug, Clone)]
pub struct ObjectPath {
    /// The container directory.
    pub container_dir: PathBuf,
    /// Components below the container directory; the last is the data file.
    pub components: Vec<String>,
}

impl ObjectPath {
    /// The location of `key` in `container_dir`.
    pub fn new(container_dir: PathBuf, key: &str) -> Result<Self> {
        Ok(ObjectPath { container_dir, components: key_components(key)? })
    }

    /// The data file's name.
    pub fn leaf(&self) -> &str {
        self.components.last().map(String::as_str).unwrap_or_default()
    }

    /// The components of the directory holding the data file (below the container).
    pub fn parent_components(&self) -> &[String] {
        &self.components[..self.components.len().saturating_sub(1)]
    }

    /// The directory holding the data file (for messages: every operation goes through
    /// descriptors, `dirfd.rs`).
    pub fn parent(&self) -> PathBuf {
        let mut p = self.container_dir.clone();
        for c in &self.components[..self.components.len().saturating_sub(1)] {
            p.push(c);
        }
        p
    }

    /// The data file.
    pub fn data(&self) -> PathBuf {
        self.parent().join(self.leaf())
    }

    /// The metadata sidecar.
    pub fn sidecar(&self) -> PathBuf {
        self.parent().join(sidecar_name(self.leaf()))
    }
}

/// Percent-encodes a path for a `file://` URL (keeps `A-Z a-z 0-9 - . _ ~ /`).
pub fn file_url(path: &Path) -> String {
    let bytes = path_bytes(path);
    let mut out = String::from("file://");
    for b in bytes.iter() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(b) {
            out.push(char::from(*b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(unix)]
fn path_bytes(path: &Path) -> std::borrow::Cow<'_, [u8]> {
    use std::os::unix::ffi::OsStrExt;
    std::borrow::Cow::Borrowed(path.as_os_str().as_bytes())
}

#[cfg(not(unix))]
fn path_bytes(path: &Path) -> std::borrow::Cow<'_, [u8]> {
    let s = path.to_string_lossy().replace('\\', "/");
    std::borrow::Cow::Owned(s.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage_core::kit::ErrorKind;

    #[test]
    fn acceptable_keys_are_those_both_checks_accept() {
        // Every key of up to four of these characters, under limits around its length.
        let chars = ['\0', '.', '/', 'a', 'é'];
        let mut keys = vec![String::new()];
        for len in 1..=4 {
            let mut next = Vec::new();
            for k in keys.iter().filter(|k| k.chars().count() == len - 1) {
                for c in chars {
                    next.push(format!("{k}{c}"));
                }
            }
            keys.extend(next);
        }
        for key in &keys {
            for max in [key.len().saturating_sub(1), key.len(), 1024] {
                let both = storage_core::kit::object_key(key, max).is_ok() && check_key(key).is_ok();
                assert_eq!(is_acceptable_key(key, max), both, "{key:?} under {max}");
            }
        }
    }

    fn round_trip(key: &str) {
        let comps = key_components(key).unwrap();
        for c in &comps {
            assert!(!c.is_empty() && c.len() <= 255 - SIDECAR_PREFIX.len(), "{c:?}");
            assert!(c != "." && c != ".." && !is_internal(c) && !c.contains('/'), "{c:?}");
        }
        // Decode: join pieces of each segment.
        let mut segments = Vec::new();
        let mut acc = String::new();
        for c in &comps {
            match c.strip_suffix(CONTINUATION) {
                Some(piece) => acc.push_str(piece),
                None => {
                    acc.push_str(c);
                    segments.push(decode_segment(&acc).unwrap());
                    acc.clear();
                }
            }
        }
        assert_eq!(segments.join("/"), key);
    }

    #[test]
    fn encoding_round_trips() {
        for k in ["a", "a/b", "a//b", "dir/", "a/./b", "...", "100%", "%2E", "%", "%%/%+", ". /.x/x."] {
            round_trip(k);
        }
        round_trip(&"x".repeat(1024));
        round_trip(&"%".repeat(1024));
        round_trip(&format!("{}..", "y".repeat(200)));
        round_trip(&format!("{}.", "y".repeat(400)));
        round_trip(&"é".repeat(300));
        round_trip(&format!("{}%", "z".repeat(199)));
        round_trip(&".".repeat(201));
        round_trip(&".".repeat(202));
        round_trip(&".".repeat(400));
        round_trip(&format!("{}/{}", "%".repeat(300), ".".repeat(300)));
    }

    #[test]
    fn escapes_are_refused() {
        for k in ["..", "../x", "a/../b", "a/..", "/abs"] {
            assert_eq!(key_components(k).unwrap_err().kind(), ErrorKind::InvalidObjectName, "{k}");
        }
    }

    #[test]
    fn non_canonical_names_do_not_decode() {
        assert_eq!(decode_segment("100%"), None);
        assert_eq!(decode_segment("a%2Eb"), None);
        assert_eq!(decode_segment("%25"), Some("%".into()));
        assert!(is_internal("%m.x") && is_internal("%uploads") && !is_internal("%25") && !is_internal("%"));
    }

    #[test]
    fn urls_are_percent_encoded() {
        assert_eq!(file_url(Path::new("/r/c/a b%25")), "file:///r/c/a%20b%2525");
    }
}
