//! Upload ids for backends that keep no upload object (Azure block blobs, GCS composite
//! uploads): a random tag that names the upload's staged data, followed by what the
//! commit needs (content headers, metadata, put mode, MD5), so completing needs no state
//! kept between calls or processes. And the uploads aborted in this process, so a part
//! or a commit that races an abort is refused.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde::{Deserialize, Serialize};

use crate::hash::md5_hex;
use crate::options::{PutMode, PutOptions};

#[derive(Serialize, Deserialize, Default)]
struct Carried {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ct: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cd: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    m: BTreeMap<String, String>,
    /// `*` for create-if-absent, an ETag for if-match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cond: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    md5: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    acl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    enc: Option<crate::options::Encryption>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    h: BTreeMap<String, String>,
}

/// A new upload id for an object written with `options`: `(tag, id)`. The tag is 16 hex
/// digits, unique to this upload (process, counter, clock and `seed`, typically the
/// object's address), fit to prefix the names of its staged parts.
pub fn new_upload_id(seed: &str, options: &PutOptions) -> (String, String) {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let tag = md5_hex(format!("{}{nanos}{seed}", crate::fsio::unique_tag()).as_bytes())[..16].to_owned();
    let carried = Carried {
        ct: options.content_type.clone(),
        ce: options.content_encoding.clone(),
        cc: options.cache_control.clone(),
        cd: options.content_disposition.clone(),
        m: options.metadata.clone(),
        cond: match &options.mode {
            PutMode::Overwrite => None,
            PutMode::CreateIfAbsent => Some("*".into()),
            PutMode::IfMatch(e) => Some(e.clone()),
        },
        md5: options.content_md5.clone(),
        acl: options.acl.clone(),
        sc: options.storage_class.clone(),
        enc: options.encryption.clone(),
        tags: options.tags.clone(),
        h: options.headers.clone(),
    };
    // Serializing strings and maps of strings cannot fail.
    let json = serde_json::to_vec(&carried).unwrap_or_default();
    let id =
        if json.is_empty() || json == b"{}" { format!("{tag}.") } else { format!("{tag}.{}", B64URL.encode(json)) };
    (tag, id)
}

/// The tag and the options of an id made by [`new_upload_id`]; `None` for any other.
pub fn parse_upload_id(id: &str) -> Option<(&str, PutOptions)> {
    let (tag, rest) = id.split_once('.')?;
    if tag.len() != 16 || !tag.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let c: Carried =
        if rest.is_empty() { Carried::default() } else { serde_json::from_slice(&B64URL.decode(rest).ok()?).ok()? };
    let options = PutOptions {
        content_type: c.ct,
        content_encoding: c.ce,
        cache_control: c.cc,
        content_disposition: c.cd,
        metadata: c.m,
        content_md5: c.md5,
        acl: c.acl,
        storage_class: c.sc,
        encryption: c.enc,
        tags: c.tags,
        headers: c.h,
        mode: match c.cond.as_deref() {
            None => PutMode::Overwrite,
            Some("*") => PutMode::CreateIfAbsent,
            Some(e) => PutMode::IfMatch(e.to_owned()),
        },
    };
    Some((tag, options))
}

/// Uploads aborted in this process (the most recent 4096).
static ABORTED: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());
const ABORTED_KEPT: usize = 4096;

/// Records that upload `id` was aborted.
pub fn mark_aborted(id: &str) {
    let mut aborted = ABORTED.lock().unwrap_or_else(PoisonError::into_inner);
    if !aborted.iter().any(|a| a == id) {
        if aborted.len() >= ABORTED_KEPT {
            aborted.pop_front();
        }
        aborted.push_back(id.to_owned());
    }
}

/// Whether upload `id` was aborted in this process.
pub fn was_aborted(id: &str) -> bool {
    ABORTED.lock().unwrap_or_else(PoisonError::into_inner).iter().any(|a| a == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_the_options_and_aborts_are_remembered() {
        let mut o =
            PutOptions::content_type("text/plain").with_metadata("k", "v").with_mode(PutMode::IfMatch("e1".into()));
        o.storage_class = Some("Cool".into());
        o.encryption = Some(crate::options::Encryption::Scope("scope1".into()));
        o.tags.insert("project".into(), "x".into());
        o.headers.insert("x-ms-blob-content-language".into(), "en".into());
        o.acl = Some("private".into());
        let (tag, id) = new_upload_id("b/k", &o);
        assert_eq!(tag.len(), 16);
        let (t2, back) = parse_upload_id(&id).unwrap();
        assert_eq!((t2, back), (tag.as_str(), o));
        let (_, plain) = new_upload_id("b/k", &PutOptions::default());
        assert!(plain.ends_with('.'));
        assert_eq!(parse_upload_id(&plain).unwrap().1, PutOptions::default());
        assert!(parse_upload_id("nothex.").is_none() && parse_upload_id("0123456789abcdef.%%").is_none());
        assert!(!was_aborted(&id));
        mark_aborted(&id);
        assert!(was_aborted(&id));
    }
}
