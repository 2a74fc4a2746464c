//! User metadata and content-MD5 checks, as every driver applies them.

use std::collections::BTreeMap;

use crate::error::{Error, ErrorKind, Result};
use crate::hash::md5_hex;

/// Lowercases metadata keys, as HTTP backends do.
pub fn normalize_metadata(m: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    m.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect()
}

/// Checks `data` against the MD5 the caller expects, if any: `ObjectHashMismatch`
/// (saying nothing was written) when it differs.
pub fn verify_content_md5(expected: Option<&str>, data: &[u8]) -> Result<()> {
    match expected {
        Some(_) => verify_md5_hex(expected, &md5_hex(data)),
        None => Ok(()),
    }
}

/// [`verify_content_md5`] for data hashed as it streamed by: `computed` is its MD5 (hex,
/// any case).
pub fn verify_md5_hex(expected: Option<&str>, computed: &str) -> Result<()> {
    match expected {
        Some(want) if !want.eq_ignore_ascii_case(computed) => Err(Error::new(
            ErrorKind::ObjectHashMismatch,
            format!("the data's MD5 is {computed} but {want} was expected; nothing was written"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_checks_ignore_case_and_refuse_a_mismatch() {
        assert!(verify_md5_hex(Some("AB"), "ab").is_ok());
        assert!(verify_md5_hex(None, "ab").is_ok());
        assert_eq!(verify_md5_hex(Some("ab"), "cd").unwrap_err().kind(), ErrorKind::ObjectHashMismatch);
        assert!(verify_content_md5(Some("900150983CD24FB0D6963F7D28E17F72"), b"abc").is_ok());
        assert!(verify_content_md5(Some(&md5_hex(b"x")), b"abc").is_err());
    }
}
