//! The shared conformance suite against two WebDAV servers that
//! `cargo xtask emulators start apache-dav rclone-dav` starts: Apache httpd's mod_dav
//! (`EMU_WEBDAV_APACHE_URL`), run with both write modes, and `rclone serve webdav`
//! (`EMU_WEBDAV_RCLONE_URL`). What a server lacks is declared below as a capability
//! override with its reason, never by weakening a case. Without a server's variable its
//! cases are skipped, saying so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use storage_conformance::{Override, RunConfig};
use storage_core::{Driver, MemoryDriver};
use storage_webdav::{WebDavConfig, WebDavDriver, WriteMode};

/// The server URL in `var`, if set.
fn server(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

/// The driver for the server in `var`. Without one, a placeholder: the run
/// configuration then selects no case, so it is never used.
fn driver(var: &str, mode: WriteMode) -> Arc<dyn Driver> {
    match server(var) {
        Some(url) => Arc::new(WebDavDriver::new(WebDavConfig::new(url).write_mode(mode)).unwrap()),
        None => Arc::new(MemoryDriver::new()),
    }
}

fn run_config(var: &str, label: &str, overrides: Vec<Override>) -> RunConfig {
    // Said once per variable, not once per case.
    static SAID: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let only = match server(var) {
        Some(_) => None,
        None => {
            let mut said = SAID.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if !said.iter().any(|v| v == var) {
                said.push(var.to_owned());
                eprintln!(
                    "{var} is not set: the {label} conformance cases are skipped (run `cargo xtask emulators start \
                     apache-dav rclone-dav` and export the variables it prints)"
                );
            }
            Some(Vec::new())
        }
    };
    RunConfig { label: Some(label.into()), overrides, only, ..RunConfig::default() }
}

fn overrides(list: &[(&str, &str)]) -> Vec<Override> {
    list.iter().map(|(c, r)| Override::new(*c, *r)).collect()
}

/// Apache httpd 2.4 mod_dav_fs: nothing to declare.
fn apache_profile() -> Vec<Override> {
    Vec::new()
}

/// `rclone serve webdav` 1.75 over a local directory (`--dir-cache-time 0s`).
fn rclone_profile() -> Vec<Override> {
    overrides(&[(
        "put_if_match",
        "rclone's WebDAV `If` header honours lock tokens only: an ETag condition always fails with 412, so a write \
         conditioned on the current ETag is refused too (never applied wrongly)",
    )])
}

/// Staged writes (the default) on Apache.
mod apache {
    use super::*;
    storage_conformance::conformance_tests!(
        async { driver("EMU_WEBDAV_APACHE_URL", WriteMode::Staged) },
        run_config("EMU_WEBDAV_APACHE_URL", "webdav (apache mod_dav)", apache_profile())
    );
}

/// Direct PUTs on Apache, which commits a PUT atomically (a temporary file renamed into
/// place).
mod apache_direct {
    use super::*;
    storage_conformance::conformance_tests!(
        async { driver("EMU_WEBDAV_APACHE_URL", WriteMode::Direct) },
        run_config("EMU_WEBDAV_APACHE_URL", "webdav (apache mod_dav, direct writes)", apache_profile())
    );
}

/// Staged writes on rclone, which writes a PUT in place (direct writes are not for it).
mod rclone {
    use super::*;
    storage_conformance::conformance_tests!(
        async { driver("EMU_WEBDAV_RCLONE_URL", WriteMode::Staged) },
        run_config("EMU_WEBDAV_RCLONE_URL", "webdav (rclone serve webdav)", rclone_profile())
    );
}
