//! Libcloud's `extra` settings of a write ([`PutOptions`]'s `storage_class`, `tags`,
//! `encryption`, `headers`) as Azure request headers, checked before any request so a
//! write Azure would refuse, or would silently weaken, sends nothing.
//!
//! - `storage_class` is the access tier, `x-ms-access-tier`: `Hot`, `Cool`, `Cold` or
//!   `Archive` (any case in, Azure's spelling out). `Cold` needs service version
//!   2021-12-02, sent on the requests that carry it (the driver speaks 2021-08-06).
//! - `tags` are blob index tags, `x-ms-tags` (`k=v&k2=v2`, percent-encoded), under
//!   Azure's rules: at most 10, keys of 1-128 and values of 0-256 characters, each one
//!   a letter, digit, space or one of `+ - . / : = _`.
//! - `encryption`: `Scope(name)` is `x-ms-encryption-scope`, on Put Blob, on every Put
//!   Block and on Put Block List; `Managed` sends nothing (Azure encrypts every blob with
//!   Microsoft-managed keys unless a scope says otherwise); `Kms` is refused: Azure's
//!   customer-managed keys are reached through an encryption scope.
//! - `headers` are sent as given when they are `x-ms-*` headers the driver does not set
//!   itself, or `Content-Language` (sent as `x-ms-blob-content-language`, the form every
//!   write takes). Headers the driver owns (authorization, date, version, length, host,
//!   hop-by-hop), headers a portable option covers (content type and the other content
//!   headers, metadata, tier, tags, encryption, conditions) and customer-provided keys
//!   (every read would need the key too) are `Config` errors.
//! - ACLs are not taken: Azure has no per-blob ACL (`put_acl` is not claimed; public
//!   read access is per container, see the CDN calls).

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderName, HeaderValue};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use storage_core::{Encryption, Error, ErrorKind, PutOptions, Result};
use storage_http::http;

use crate::driver::NAME;

/// Azure's block blob access tiers.
pub(crate) const TIERS: [&str; 4] = ["Hot", "Cool", "Cold", "Archive"];
/// Most index tags on one blob.
pub(crate) const MAX_TAGS: usize = 10;
/// The service version that knows the Cold tier.
const COLD_VERSION: &str = "2021-12-02";

/// Which request the settings go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// Put Blob: everything.
    PutBlob,
    /// Put Block: the encryption scope and a lease id.
    PutBlock,
    /// Put Block List (the commit): everything.
    PutBlockList,
    /// Copy Blob From URL / Copy Blob: tier, tags, scope, and the headers that are not
    /// content properties (those go on Set Blob Properties).
    Copy,
    /// Set Blob Properties after a copy: content properties (`x-ms-blob-content-*`) and a
    /// lease id.
    SetProperties,
}

/// The checked settings of one write.
#[derive(Debug, Clone, Default)]
pub(crate) struct Extras {
    /// `x-ms-access-tier`, in Azure's spelling.
    pub(crate) tier: Option<&'static str>,
    /// The `x-ms-tags` value (encoded); `None` without tags.
    pub(crate) tags: Option<String>,
    /// `x-ms-encryption-scope`.
    pub(crate) scope: Option<String>,
    /// The caller's headers, checked (Content-Language renamed).
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
}

fn config(message: String) -> Error {
    Error::new(ErrorKind::Config, message).with_driver(NAME)
}

/// The access tier named by `storage_class`, in Azure's spelling.
pub(crate) fn access_tier(storage_class: &str) -> Result<&'static str> {
    TIERS.iter().copied().find(|t| t.eq_ignore_ascii_case(storage_class.trim())).ok_or_else(|| {
        config(format!("Azure has no access tier {storage_class:?}; the block blob tiers are {}", TIERS.join(", ")))
            .with_hint(
                "set storage_class to Hot, Cool, Cold or Archive (the account's default tier applies when unset)",
            )
    })
}

fn tag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ' ' | '+' | '-' | '.' | '/' | ':' | '=' | '_')
}

const TAG_RULES: &str = "Azure blob index tags: at most 10; keys 1-128 and values 0-256 characters of letters, digits, space and + - . / : = _";

/// Checks `tags` against Azure's rules; the `x-ms-tags` value (`None` when empty).
pub(crate) fn encode_tags(tags: &BTreeMap<String, String>) -> Result<Option<String>> {
    if tags.is_empty() {
        return Ok(None);
    }
    if tags.len() > MAX_TAGS {
        return Err(config(format!("{} tags were given; Azure stores at most {MAX_TAGS} per blob", tags.len()))
            .with_hint(TAG_RULES));
    }
    let mut out = String::new();
    for (k, v) in tags {
        let klen = k.chars().count();
        if klen == 0 || klen > 128 || !k.chars().all(tag_char) {
            return Err(config(format!("Azure refuses the tag key {k:?}")).with_hint(TAG_RULES));
        }
        if v.chars().count() > 256 || !v.chars().all(tag_char) {
            return Err(config(format!("Azure refuses the value of tag {k:?}")).with_hint(TAG_RULES));
        }
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&utf8_percent_encode(k, NON_ALPHANUMERIC).to_string());
        out.push('=');
        out.push_str(&utf8_percent_encode(v, NON_ALPHANUMERIC).to_string());
    }
    Ok(Some(out))
}

/// Headers the driver sets itself, or that belong to HTTP rather than to the blob.
fn owned_by_driver(name: &str) -> bool {
    matches!(
        name,
        "authorization"
            | "host"
            | "date"
            | "content-length"
            | "transfer-encoding"
            | "connection"
            | "keep-alive"
            | "expect"
            | "te"
            | "trailer"
            | "upgrade"
            | "proxy-authorization"
            | "proxy-connection"
            | "forwarded"
            | "x-ms-date"
            | "x-ms-version"
            | "x-ms-blob-type"
            | "x-ms-requires-sync"
            | "x-ms-range"
            | "x-ms-content-crc64"
            | "x-ms-range-get-content-crc64"
            | "x-ms-range-get-content-md5"
    ) || name.starts_with("x-forwarded-")
        || name.starts_with("x-ms-copy-")
        || name.starts_with("x-ms-source-")
}

/// The portable option that covers a header, if one does.
fn covered_by(name: &str) -> Option<&'static str> {
    Some(match name {
        "content-type" | "x-ms-blob-content-type" => "content_type",
        "content-encoding" | "x-ms-blob-content-encoding" => "content_encoding",
        "cache-control" | "x-ms-blob-cache-control" => "cache_control",
        "content-disposition" | "x-ms-blob-content-disposition" => "content_disposition",
        "content-md5" | "x-ms-blob-content-md5" => "content_md5",
        "x-ms-access-tier" => "storage_class",
        "x-ms-tags" => "tags",
        "x-ms-encryption-scope" => "encryption (Encryption::Scope)",
        "if-match" | "if-none-match" => "mode",
        n if n.starts_with("x-ms-meta-") => "metadata",
        _ => return None,
    })
}

/// One caller header, checked: `(name, value)` as it is sent.
fn custom_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue)> {
    let lower = name.trim().to_ascii_lowercase();
    if owned_by_driver(&lower) {
        return Err(config(format!("the header {name:?} is set by the driver and cannot be given in headers"))
            .with_hint("remove it from PutOptions::headers"));
    }
    if let Some(option) = covered_by(&lower) {
        return Err(config(format!("the header {name:?} is not taken in headers: PutOptions::{option} sets it"))
            .with_hint(format!("set PutOptions::{option} instead")));
    }
    if lower.starts_with("x-ms-encryption-key") || lower == "x-ms-encryption-algorithm" {
        return Err(config(format!(
            "customer-provided keys ({name}) are not supported: every read would need the key, and the driver does not send it"
        ))
        .with_hint("use an encryption scope (Encryption::Scope) bound to your Key Vault key"));
    }
    let sent = match lower.as_str() {
        "content-language" => "x-ms-blob-content-language".to_owned(),
        n if n.starts_with("x-ms-") => lower.clone(),
        _ => {
            return Err(config(format!(
                "Azure takes only x-ms-* headers and Content-Language with a write; {name:?} is neither"
            ))
            .with_hint("Azure blob properties are x-ms-blob-* headers (x-ms-blob-content-language...)"));
        }
    };
    let n = HeaderName::from_bytes(sent.as_bytes())
        .map_err(|_| config(format!("{name:?} cannot be sent as a header name")))?;
    let v = HeaderValue::from_str(value)
        .map_err(|_| config(format!("the value of header {name} is not valid header text")))?;
    Ok((n, v))
}

impl Extras {
    /// Checks every extra setting of `o`; nothing is sent.
    pub(crate) fn check(o: &PutOptions) -> Result<Self> {
        let tier = o.storage_class.as_deref().map(access_tier).transpose()?;
        let tags = encode_tags(&o.tags)?;
        let scope = match &o.encryption {
            None | Some(Encryption::Managed) => None,
            Some(Encryption::Kms { .. }) => {
                return Err(Error::new(
                    ErrorKind::NotSupported,
                    "Azure takes no KMS key with a write; nothing was written",
                )
                .with_driver(NAME)
                .with_hint("use an encryption scope bound to your Key Vault key (Encryption::Scope)"));
            }
            Some(Encryption::Scope(s)) => {
                if s.trim().is_empty() || HeaderValue::from_str(s).is_err() {
                    return Err(config(format!("{s:?} is not an encryption scope name")));
                }
                Some(s.clone())
            }
        };
        let headers = o.headers.iter().map(|(k, v)| custom_header(k, v)).collect::<Result<Vec<_>>>()?;
        Ok(Extras { tier, tags, scope, headers })
    }

    /// Whether any setting needs sending.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.tier.is_none() && self.tags.is_none() && self.scope.is_none() && self.headers.is_empty()
    }

    /// What a HEAD would show of these settings, as `Object::extra` entries.
    pub(crate) fn describe(&self, extra: &mut BTreeMap<String, String>, tag_count: usize) {
        if let Some(t) = self.tier {
            extra.insert("storage_class".into(), t.into());
            extra.insert("access_tier".into(), t.into());
        }
        if tag_count > 0 {
            extra.insert("tag_count".into(), tag_count.to_string());
        }
        if let Some(s) = &self.scope {
            extra.insert("encryption_scope".into(), s.clone());
        }
    }

    /// Adds the headers that go on `target` to `h`.
    pub(crate) fn apply(&self, h: &mut HeaderMap, target: Target) -> Result<()> {
        let whole = matches!(target, Target::PutBlob | Target::PutBlockList | Target::Copy);
        if whole {
            if let Some(t) = self.tier {
                h.insert("x-ms-access-tier", HeaderValue::from_static(t));
                if t == "Cold" {
                    h.insert("x-ms-version", HeaderValue::from_static(COLD_VERSION));
                }
            }
            if let Some(t) = &self.tags {
                h.insert("x-ms-tags", HeaderValue::from_str(t).map_err(|_| config("the tags cannot be sent".into()))?);
            }
        }
        if target != Target::SetProperties
            && let Some(s) = &self.scope
        {
            h.insert(
                "x-ms-encryption-scope",
                HeaderValue::from_str(s).map_err(|_| config(format!("{s:?} is not an encryption scope name")))?,
            );
        }
        for (n, v) in &self.headers {
            let property = n.as_str().starts_with("x-ms-blob-content-");
            let lease = n.as_str() == "x-ms-lease-id";
            let send = match target {
                Target::PutBlob | Target::PutBlockList => true,
                Target::PutBlock => lease,
                Target::Copy => !property,
                Target::SetProperties => property || lease,
            };
            if send {
                h.insert(n.clone(), v.clone());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> PutOptions {
        PutOptions::default()
    }

    #[test]
    fn tiers_are_checked_and_spelled_as_azure_does() {
        assert_eq!(access_tier("cool").unwrap(), "Cool");
        assert_eq!(access_tier("ARCHIVE").unwrap(), "Archive");
        let e = access_tier("STANDARD_IA").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.to_string().contains("Hot, Cool, Cold, Archive"), "{e}");
        let mut o = opts();
        o.storage_class = Some("Cold".into());
        let mut h = HeaderMap::new();
        Extras::check(&o).unwrap().apply(&mut h, Target::PutBlob).unwrap();
        assert_eq!(h.get("x-ms-access-tier").unwrap(), "Cold");
        assert_eq!(h.get("x-ms-version").unwrap(), COLD_VERSION);
        let mut h = HeaderMap::new();
        Extras::check(&o).unwrap().apply(&mut h, Target::PutBlock).unwrap();
        assert!(h.is_empty(), "no tier on a block: {h:?}");
    }

    #[test]
    fn tags_follow_azures_rules() {
        let mut t = BTreeMap::new();
        t.insert("project".to_owned(), "x y/z".to_owned());
        t.insert("a+b".to_owned(), String::new());
        assert_eq!(encode_tags(&t).unwrap().unwrap(), "a%2Bb=&project=x%20y%2Fz");
        assert_eq!(encode_tags(&BTreeMap::new()).unwrap(), None);
        let many: BTreeMap<_, _> = (0..11).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        assert_eq!(encode_tags(&many).unwrap_err().kind(), ErrorKind::Config);
        let ten: BTreeMap<_, _> = (0..10).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        assert!(encode_tags(&ten).is_ok());
        for (k, v) in
            [("", "v"), (&*"k".repeat(129), "v"), ("k", &*"v".repeat(257)), ("k&", "v"), ("k", "ü"), ("k", "a,b")]
        {
            let t = BTreeMap::from([(k.to_owned(), v.to_owned())]);
            assert_eq!(encode_tags(&t).unwrap_err().kind(), ErrorKind::Config, "{k:?}={v:?}");
        }
        let edge = BTreeMap::from([("k".repeat(128), "v".repeat(256))]);
        assert!(encode_tags(&edge).is_ok());
    }

    #[test]
    fn encryption_scopes_go_on_every_data_request_and_kms_is_refused() {
        let mut o = opts();
        o.encryption = Some(Encryption::Scope("myscope".into()));
        let x = Extras::check(&o).unwrap();
        for t in [Target::PutBlob, Target::PutBlock, Target::PutBlockList, Target::Copy] {
            let mut h = HeaderMap::new();
            x.apply(&mut h, t).unwrap();
            assert_eq!(h.get("x-ms-encryption-scope").unwrap(), "myscope", "{t:?}");
        }
        o.encryption = Some(Encryption::Managed);
        assert!(Extras::check(&o).unwrap().is_empty());
        o.encryption = Some(Encryption::Kms { key_id: Some("k".into()) });
        let e = Extras::check(&o).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotSupported);
        assert!(e.hint().contains("encryption scope"), "{e:?}");
    }

    #[test]
    fn headers_are_x_ms_or_content_language_and_never_the_drivers() {
        let mut o = opts();
        o.headers.insert("Content-Language".into(), "de".into());
        o.headers.insert("x-ms-lease-id".into(), "L".into());
        o.headers.insert("x-ms-legal-hold".into(), "true".into());
        let x = Extras::check(&o).unwrap();
        let mut h = HeaderMap::new();
        x.apply(&mut h, Target::PutBlob).unwrap();
        assert_eq!(h.get("x-ms-blob-content-language").unwrap(), "de");
        assert_eq!(h.len(), 3);
        let mut h = HeaderMap::new();
        x.apply(&mut h, Target::PutBlock).unwrap();
        assert_eq!((h.len(), h.get("x-ms-lease-id").map(|v| v.to_str().unwrap())), (1, Some("L")));
        let mut h = HeaderMap::new();
        x.apply(&mut h, Target::Copy).unwrap();
        assert!(h.get("x-ms-blob-content-language").is_none() && h.get("x-ms-legal-hold").is_some());
        let mut h = HeaderMap::new();
        x.apply(&mut h, Target::SetProperties).unwrap();
        assert!(h.get("x-ms-blob-content-language").is_some() && h.get("x-ms-legal-hold").is_none());
        for bad in [
            "Authorization",
            "x-ms-date",
            "X-MS-Version",
            "Host",
            "x-forwarded-host",
            "content-type",
            "x-ms-meta-a",
            "x-ms-tags",
            "x-ms-access-tier",
            "x-ms-encryption-scope",
            "x-ms-encryption-key",
            "x-ms-copy-source",
            "expires",
            "bad header",
        ] {
            let mut o = opts();
            o.headers.insert(bad.into(), "v".into());
            assert_eq!(Extras::check(&o).unwrap_err().kind(), ErrorKind::Config, "{bad}");
        }
    }
}
