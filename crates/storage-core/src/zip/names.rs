//! Member names: decoding the stored bytes, and turning a name into a path that stays
//! inside the destination directory.

use std::path::PathBuf;

use super::format::{FLAG_UTF8, Reader, find_extra};
use crate::error::{Error, ErrorKind, Result};

/// Info-ZIP Unicode Path extra field: a UTF-8 name plus the CRC-32 of the stored name.
const UNICODE_PATH_EXTRA: u16 = 0x7075;

/// Host systems (high byte of "version made by") whose archivers write names in the OEM
/// code page: MS-DOS/FAT, OS/2 HPFS, NTFS, VFAT.
const OEM_HOSTS: [u8; 4] = [0, 6, 11, 14];

/// Code page 437, bytes 0x80..=0xFF (bytes below 0x80 are read as ASCII).
const CP437_HIGH: [char; 128] = [
    'Ç', 'ü', 'é', 'â', 'ä', 'à', 'å', 'ç', 'ê', 'ë', 'è', 'ï', 'î', 'ì', 'Ä', 'Å', //
    'É', 'æ', 'Æ', 'ô', 'ö', 'ò', 'û', 'ù', 'ÿ', 'Ö', 'Ü', '¢', '£', '¥', '₧', 'ƒ', //
    'á', 'í', 'ó', 'ú', 'ñ', 'Ñ', 'ª', 'º', '¿', '⌐', '¬', '½', '¼', '¡', '«', '»', //
    '░', '▒', '▓', '│', '┤', '╡', '╢', '╖', '╕', '╣', '║', '╗', '╝', '╜', '╛', '┐', //
    '└', '┴', '┬', '├', '─', '┼', '╞', '╟', '╚', '╔', '╩', '╦', '╠', '═', '╬', '╧', //
    '╨', '╤', '╥', '╙', '╘', '╒', '╓', '╫', '╪', '┘', '┌', '█', '▄', '▌', '▐', '▀', //
    'α', 'ß', 'Γ', 'π', 'Σ', 'σ', 'µ', 'τ', 'Φ', 'Θ', 'Ω', 'δ', '∞', 'φ', 'ε', '∩', //
    '≡', '±', '≥', '≤', '⌠', '⌡', '÷', '≈', '°', '∙', '·', '√', 'ⁿ', '²', '■', '\u{a0}',
];

/// Decodes `bytes` as code page 437 (the ZIP default), exactly: every byte maps to one
/// character, so distinct names stay distinct.
pub(super) fn cp437(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| if b < 0x80 { char::from(b) } else { CP437_HIGH[usize::from(b - 0x80)] }).collect()
}

/// Decodes a stored member name (see the module documentation of [`crate::zip`] for the
/// rules). Errors say what is wrong, for the caller to prefix with the member.
pub(super) fn decode_name(raw: &[u8], flags: u16, version_made_by: u16, extra: &[u8]) -> Result<String, String> {
    if flags & FLAG_UTF8 != 0 {
        return String::from_utf8(raw.to_vec()).map_err(|_| {
            format!("its name {:?} is flagged UTF-8 but is not valid UTF-8", String::from_utf8_lossy(raw))
        });
    }
    if let Some(name) = unicode_path_extra(raw, extra) {
        return Ok(name);
    }
    if raw.is_ascii() {
        return Ok(raw.iter().map(|&b| char::from(b)).collect());
    }
    let host = version_made_by.to_be_bytes()[0];
    if !OEM_HOSTS.contains(&host)
        && let Ok(s) = std::str::from_utf8(raw)
    {
        return Ok(s.to_owned());
    }
    Ok(cp437(raw))
}

/// The UTF-8 name of an Info-ZIP Unicode Path extra field, when present, of version 1 and
/// written for this very name (its CRC-32 matches the stored name).
fn unicode_path_extra(raw: &[u8], extra: &[u8]) -> Option<String> {
    let data = find_extra(extra, UNICODE_PATH_EXTRA)?;
    let mut r = Reader::new(data);
    if r.take(1)? != [1] {
        return None;
    }
    if r.u32()? != crc32fast::hash(raw) {
        return None;
    }
    let rest = r.take(r.remaining())?;
    std::str::from_utf8(rest).ok().map(str::to_owned)
}

fn invalid(name: &str, why: &str) -> Error {
    Error::new(ErrorKind::InvalidObjectName, format!("member {name:?} cannot be extracted: {why}"))
}

/// The relative path a member is extracted to, or `InvalidObjectName` if its name could
/// escape the destination or is not portable: `..` components, an absolute name (leading
/// `/`), a drive letter (`C:`), a backslash (a separator on Windows), a NUL byte. Empty
/// and `.` components are dropped (`a//./b` is `a/b`); a name with no component left
/// (`./`) gives an empty path, the destination itself.
///
/// ```
/// use std::path::PathBuf;
/// use storage_core::zip::member_path;
///
/// assert_eq!(member_path("docs/./a.txt").unwrap(), PathBuf::from("docs/a.txt"));
/// assert!(member_path("../evil").is_err());
/// assert!(member_path("/etc/passwd").is_err());
/// assert!(member_path("C:/x").is_err());
/// assert!(member_path("a\\b").is_err());
/// ```
pub fn member_path(name: &str) -> Result<PathBuf> {
    if name.contains('\0') {
        return Err(invalid(name, "its name contains a NUL byte"));
    }
    if name.contains('\\') {
        return Err(invalid(name, "its name contains a backslash, a path separator on Windows"));
    }
    if name.starts_with('/') {
        return Err(invalid(name, "its name is an absolute path"));
    }
    let b = name.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Err(invalid(name, "its name starts with a drive letter"));
    }
    let mut path = PathBuf::new();
    for comp in name.split('/') {
        match comp {
            "" | "." => {}
            ".." => return Err(invalid(name, "its name has a `..` component that could escape the destination")),
            c => {
                if cfg!(windows) && c.contains(':') {
                    return Err(invalid(name, "its name has a `:` (a drive or an alternate data stream on Windows)"));
                }
                path.push(c);
            }
        }
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cp437_maps_every_byte() {
        assert_eq!(cp437(b"abc"), "abc");
        assert_eq!(cp437(&[0x82, 0x81, 0xE1, 0xFF]), "éüß\u{a0}");
        let all: Vec<u8> = (0x80..=0xFF).collect();
        assert_eq!(cp437(&all).chars().count(), 128);
    }

    #[test]
    fn names_follow_flag_extra_host_rules() {
        let utf8 = "h\u{e9}llo".as_bytes();
        // Flag bit 11.
        assert_eq!(decode_name(utf8, FLAG_UTF8, 0, &[]).unwrap(), "h\u{e9}llo");
        assert!(decode_name(&[0xFF, 0xFE], FLAG_UTF8, 0, &[]).is_err());
        // Unix host, valid UTF-8, no flag: UTF-8.
        assert_eq!(decode_name(utf8, 0, 3 << 8, &[]).unwrap(), "h\u{e9}llo");
        // MS-DOS host: CP437 even if the bytes happen to be valid UTF-8.
        assert_eq!(decode_name(utf8, 0, 0, &[]).unwrap(), "h\u{251c}\u{2310}llo");
        // Unix host, invalid UTF-8: CP437.
        assert_eq!(decode_name(&[b'a', 0x82], 0, 3 << 8, &[]).unwrap(), "a\u{e9}");
        // Info-ZIP Unicode Path extra field, only when its CRC matches the stored name.
        let raw = [b'a', 0x82];
        let mut extra = vec![0x75, 0x70];
        let uni = "a\u{2713}".as_bytes();
        extra.extend_from_slice(&((1 + 4 + uni.len()) as u16).to_le_bytes());
        extra.push(1);
        extra.extend_from_slice(&crc32fast::hash(&raw).to_le_bytes());
        extra.extend_from_slice(uni);
        assert_eq!(decode_name(&raw, 0, 0, &extra).unwrap(), "a\u{2713}");
        assert_eq!(decode_name(b"other", 0, 0, &extra).unwrap(), "other");
    }

    #[test]
    fn member_paths_stay_inside() {
        assert_eq!(member_path("a/b/c.txt").unwrap(), PathBuf::from("a/b/c.txt"));
        assert_eq!(member_path("a//./b/").unwrap(), PathBuf::from("a/b"));
        assert_eq!(member_path("./").unwrap(), PathBuf::new());
        assert_eq!(member_path("...").unwrap(), PathBuf::from("..."));
        assert_eq!(member_path("a..b/c").unwrap(), PathBuf::from("a..b/c"));
        for bad in ["../x", "a/../../x", "a/..", "/abs", "//server/share", "C:/x", "c:x", "a\\b", "..\\x", "a\0b"] {
            let e = member_path(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidObjectName, "{bad:?}");
        }
    }
}
