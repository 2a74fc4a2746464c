//! Google credential files (`storage_gcs::credentials::from_json`): service account keys
//! (PEM private keys included), authorized users (`gcloud auth application-default
//! login`) and external accounts (workload identity federation: file, URL and executable
//! sources, impersonation). Nothing is fetched or run: only the file is read.
//! Properties: no panic; neither an error nor the credentials' `Debug` shows a private
//! key, a client secret or a refresh token.

#![no_main]

use libfuzzer_sys::fuzz_target;
use storage_fuzz::{assert_no_leak, checkable_secrets, json_strings};
use storage_gcs::credentials::{AuthorizedUserProvider, ExternalAccountProvider, ServiceAccountKey, from_json};

/// What each reader makes of the file, as shown (`Debug`, else the error).
fn render(data: &[u8]) -> String {
    let Ok(text) = std::str::from_utf8(data) else { return String::new() };
    let shown = |r: storage_core::Result<String>| match r {
        Ok(s) => s,
        Err(e) => format!("{e} {}", e.hint()),
    };
    [
        shown(from_json(text).map(|c| format!("{c:?}"))),
        shown(ServiceAccountKey::from_json(text).map(|k| format!("{k:?}"))),
        shown(AuthorizedUserProvider::from_json(text).map(|p| format!("{p:?}"))),
        shown(ExternalAccountProvider::from_json(text).map(|p| format!("{p:?}"))),
    ]
    .join("\n")
}

fuzz_target!(|data: &[u8]| {
    let (secrets, others) = json_strings(data).unwrap_or_default();
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let others: Vec<&str> = others.iter().map(String::as_str).collect();
    let secrets = checkable_secrets(&secrets, &others);
    assert_no_leak(data, &secrets, "a credentials file's reader", render);
});
