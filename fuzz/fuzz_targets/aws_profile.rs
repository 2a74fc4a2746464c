//! The shared AWS files `~/.aws/credentials` and `~/.aws/config` (INI) and how a profile
//! resolves through them (`source_profile` chains, `credential_source`, web identity,
//! SSO sessions, `credential_process`), planned without touching a file, a process or a
//! network (`storage_s3::fuzzing::profile_plan`). The input is `credentials NUL config`;
//! the profile is `default`, then the first section named in either file.
//! Properties: no panic, no endless loop over `source_profile` links; neither an error
//! nor the planned credentials' `Debug` shows a secret key or a session token.

#![no_main]

use libfuzzer_sys::fuzz_target;
use storage_fuzz::{assert_no_leak, checkable_secrets, split2};
use storage_s3::fuzzing::profile_plan;

/// The values of secret keys, and every other string, of an INI text (roughly: what a
/// line holds on either side of its `=`, section names). A line indented deeper than the
/// property before it continues that property's value, as the parser reads it (`s3 =`
/// and its nested settings), so it is a secret only when that property's value is.
fn strings<'a>(text: &'a str, secrets: &mut Vec<&'a str>, others: &mut Vec<&'a str>) {
    // The current property: its indentation and whether its value is secret.
    let mut property: Option<(usize, bool)> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        let indent = line.len() - line.trim_start().len();
        if trimmed.is_empty() || trimmed.starts_with(['#', ';']) {
            continue;
        }
        if trimmed.starts_with('[') {
            property = None;
            others.push(line);
            continue;
        }
        if let Some((prop_indent, secret)) = property
            && indent > prop_indent
        {
            if secret {
                secrets.push(trimmed);
            } else {
                others.push(line);
            }
            continue;
        }
        match line.split_once('=') {
            Some((k, v)) => {
                let k = k.trim().to_ascii_lowercase();
                let v = v.trim();
                // The value as the parser keeps it may lose an inline comment: check the
                // part before any `#` / `;` too.
                let core = v.split([';', '#']).next().unwrap_or(v).trim();
                let secret = k.contains("secret") || k.contains("token") && !k.contains("file");
                if secret {
                    secrets.push(v);
                    secrets.push(core);
                } else {
                    others.push(line);
                }
                property = Some((indent, secret));
            }
            None => others.push(line),
        }
    }
}

/// Every plan or error of the profiles tried, as shown.
fn render(data: &[u8]) -> String {
    let (credentials, config) = split2(data);
    let (Ok(credentials), Ok(config)) = (std::str::from_utf8(credentials), std::str::from_utf8(config)) else {
        return String::new();
    };
    let first_section = credentials
        .lines()
        .chain(config.lines())
        .find_map(|l| l.trim().strip_prefix('[').and_then(|r| r.split_once(']')).map(|(n, _)| n.trim()))
        .map(|n| n.strip_prefix("profile ").unwrap_or(n).trim());
    let mut shown = String::new();
    for profile in ["default"].into_iter().chain(first_section) {
        match profile_plan(credentials, config, profile) {
            Ok(plan) => {
                if let Some(c) = &plan.static_credentials {
                    assert_eq!(plan.base, "static");
                    assert!(!c.access_key_id.is_empty() && !c.secret_access_key.is_empty());
                }
                shown.push_str(&format!("{plan:?}\n"));
            }
            Err(e) => shown.push_str(&format!("{e} {}\n", e.hint())),
        }
    }
    shown
}

fuzz_target!(|data: &[u8]| {
    let (credentials, config) = split2(data);
    let (Ok(credentials), Ok(config)) = (std::str::from_utf8(credentials), std::str::from_utf8(config)) else {
        return;
    };
    let (mut secrets, mut others) = (Vec::new(), Vec::new());
    strings(credentials, &mut secrets, &mut others);
    strings(config, &mut secrets, &mut others);
    let secrets = checkable_secrets(&secrets, &others);
    assert_no_leak(data, &secrets, "a profile's plan or error", render);
});
