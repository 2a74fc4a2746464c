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
    if let Some(want) = expected {
        let got = md5_hex(data);
        if !want.eq_ignore_ascii_case(&got) {
            return Err(Error::new(
                ErrorKind::ObjectHashMismatch,
                format!("the data's MD5 is {got} but {want} was expected; nothing was written"),
            ));
        }
    }
    Ok(())
}
