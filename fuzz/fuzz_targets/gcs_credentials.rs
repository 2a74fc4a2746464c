//! Google credential files (`storage_gcs::credentials::from_json`): service account keys
//! (PEM private keys included), authorized users (`gcloud auth application-default
//! login`) and external accounts (workload identity federation: file, URL and executable
//! sources, impersonation). Nothing is fetched or run: only the file is read.
//! Properties: no panic; neither an error nor the credentials' `Debug` shows a private
//! key, a client secret or a refresh token.

#![no_main]

use libfuzzer_sys::fuzz_target;
use storage_fuzz::{assert_no_secret, checkable_secrets, json_strings};
use storage_gcs::credentials::{AuthorizedUserProvider, ExternalAccountProvider, ServiceAccountKey, from_json};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (secrets, others) = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(doc) => json_strings(&doc),
        Err(_) => (Vec::new(), Vec::new()),
    };
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let others: Vec<&str> = others.iter().map(String::as_str).collect();
    let secrets = checkable_secrets(&secrets, &others);
    let check = |what: &str, shown: String| assert_no_secret(&shown, &secrets, what);
    let shown = |r: storage_core::Result<String>| match r {
        Ok(s) => s,
        Err(e) => format!("{e} {}", e.hint()),
    };
    check("from_json", shown(from_json(text).map(|c| format!("{c:?}"))));
    check("service account", shown(ServiceAccountKey::from_json(text).map(|k| format!("{k:?}"))));
    check("authorized user", shown(AuthorizedUserProvider::from_json(text).map(|p| format!("{p:?}"))));
    check("external account", shown(ExternalAccountProvider::from_json(text).map(|p| format!("{p:?}"))));
});
