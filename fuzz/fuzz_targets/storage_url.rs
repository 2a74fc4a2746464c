//! Storage URLs and URLs shown in messages: `StorageUrl::parse`, `Storage::open` (paths,
//! `file://`, Hadoop's Azure forms, named backends) and `kit::redact_url`.
//! Properties: no panic; a parsed URL printed back parses to the same thing; a server
//! address is refused without repeating its userinfo; a redacted URL shows no userinfo
//! and no signature, and redacting twice changes nothing.

#![no_main]

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use storage::{Config, MemoryFactory, Registry, Storage, StorageUrl, Target};
use storage_core::kit::redact_url;
use storage_fuzz::{assert_no_secret, checkable_secrets};

/// `scheme://container/key` as `parse` reads it back.
fn print(u: &StorageUrl) -> String {
    let key = u.key.as_deref().map(|k| format!("/{k}")).unwrap_or_default();
    format!("{}://{}{key}", u.scheme, u.container.as_deref().unwrap_or(""))
}

fuzz_target!(|data: &[u8]| {
    static STORAGE: LazyLock<Storage> = LazyLock::new(|| {
        let mut registry = Registry::new();
        registry.register(Arc::new(MemoryFactory));
        Storage::with_registry(Config::default(), registry)
    });
    let Ok(url) = std::str::from_utf8(data) else { return };

    // The userinfo of `scheme://userinfo@host/...`, when it occurs nowhere else.
    let userinfo = url.split_once("://").and_then(|(scheme, rest)| {
        if !scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
            return None;
        }
        let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
        let (info, _) = authority.rsplit_once('@')?;
        // Not a secret if the redacted form shows it anyway (`<redacted>@` + the rest).
        let after = format!("{scheme}://<redacted>@{}", &rest[info.len() + 1..]);
        // Nor if it is one of the redaction's own words (`REDACTED` replaces signatures).
        checkable_secrets(&[info], &[&after, "<redacted>@REDACTED"]).first().map(|s| (*s).to_owned())
    });

    match StorageUrl::parse(url) {
        Ok(parsed) => {
            assert_eq!(StorageUrl::parse(&print(&parsed)).ok().as_ref(), Some(&parsed), "{url:?}");
            assert!(!parsed.container.as_deref().unwrap_or("").contains(['/', '@']), "{parsed:?}");
        }
        Err(e) => {
            if let Some(info) = &userinfo {
                assert_no_secret(&format!("{e} {}", e.hint()), &[&format!("{info}@")], "the URL error");
            }
        }
    }
    match STORAGE.open(url) {
        Ok(Target::Remote { container, key, .. }) => {
            let parsed = StorageUrl::parse(url).expect("opened, so parsed");
            assert_eq!((container, key), (parsed.container, parsed.key));
        }
        Ok(_) => {}
        Err(e) => {
            if let Some(info) = &userinfo {
                assert_no_secret(&format!("{e} {}", e.hint()), &[&format!("{info}@")], "the open error");
            }
        }
    }

    let shown = redact_url(url);
    assert_eq!(redact_url(&shown), shown, "redacting {url:?} twice");
    if let Some(info) = &userinfo
        && !info.contains(['/', '?', '#'])
    {
        assert_no_secret(&shown, &[info], "the redacted URL");
    }
    // A signature of the query (`sig`, `X-Amz-Signature`, `Signature`): a plain token (letters,
    // digits, `%`, `-`, `_`, `.`), found once in the whole URL and in none of the redaction's
    // own words, never shows.
    if let Some(q_at) = url.find('?')
        && url.find('#').is_none_or(|h| h > q_at)
    {
        let query_end = url[q_at..].find('#').map_or(url.len(), |h| q_at + h);
        for kv in url[q_at + 1..query_end].split('&') {
            let Some((k, v)) = kv.split_once('=') else { continue };
            let signature = ["sig", "x-amz-signature", "signature"].contains(&k.to_ascii_lowercase().as_str());
            let plain = v.len() >= 8 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"%-_.".contains(&b));
            if signature && plain && url.matches(v).count() == 1 && !"<redacted>@REDACTED".contains(v) {
                assert_no_secret(&shown, &[v], "the redacted URL");
            }
        }
    }
});
