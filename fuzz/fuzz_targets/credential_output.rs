//! What credential helpers print and token endpoints answer: AWS `credential_process`
//! output, the ECS / IMDS credentials document, STS `AssumeRole` answers (XML) and the SSO
//! token cache's `expiresAt`; `az account get-access-token` output and Entra ID / IMDS /
//! App Service token answers; Google's OAuth2 and IAM `generateAccessToken` answers. The
//! first byte picks the HTTP status given to the token-answer parsers.
//! Properties: no panic (huge or negative lifetimes included); no error shows a secret
//! of the document (secret key, session token, access token); accepted credentials'
//! `Debug` shows none either.

#![no_main]

use libfuzzer_sys::fuzz_target;
use storage_fuzz::{assert_no_leak, checkable_secrets, json_strings};

const STATUSES: [u16; 8] = [200, 201, 400, 401, 403, 404, 429, 500];

/// Every parser's answer to the input, as shown (`Debug` of what it accepted, else its
/// error).
fn render(data: &[u8]) -> String {
    let Some((first, body)) = data.split_first() else { return String::new() };
    let status = STATUSES[usize::from(*first) % STATUSES.len()];
    let shown = |r: storage_core::Result<String>| match r {
        Ok(s) => s,
        Err(e) => format!("{e} {} {:?}", e.hint(), e.provider_code()),
    };
    let mut out = vec![
        shown(storage_s3::fuzzing::credential_process_output(body).map(|c| format!("{c:?}"))),
        shown(storage_s3::fuzzing::container_credentials(body).map(|c| format!("{c:?}"))),
        shown(storage_azure::fuzzing::azure_cli_output(body).map(|t| format!("{t:?}"))),
        shown(storage_azure::fuzzing::token_answer(status, body).map(|t| format!("{t:?}"))),
        shown(storage_gcs::fuzzing::token_answer(status, body).map(|t| format!("{t:?}"))),
        shown(storage_gcs::fuzzing::iam_token_answer(status, body).map(|t| format!("{t:?}"))),
    ];
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = storage_s3::fuzzing::sso_cache_time(text);
        let _ = storage_azure::fuzzing::expires_on(text);
        out.push(shown(storage_s3::fuzzing::sts_answer(status, text).map(|c| format!("{c:?}"))));
    }
    if let Some(e) = storage_s3::fuzzing::error_in_ok_body(body) {
        out.push(e.to_string());
    }
    out.join("\n")
}

fuzz_target!(|data: &[u8]| {
    let Some((_, body)) = data.split_first() else { return };
    // The document's secrets: JSON members named so, or the texts of STS's secret elements.
    let (mut secrets, mut others) = json_strings(body).unwrap_or_default();
    let _ = storage_s3::xml::walk(body, "STS", |path, t| {
        if path.ends_with("SecretAccessKey") || path.ends_with("SessionToken") {
            secrets.push(t.trim().to_owned());
        } else {
            others.push(t.to_owned());
            others.push(path.to_owned());
        }
        Ok(())
    });
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let others: Vec<&str> = others.iter().map(String::as_str).collect();
    let secrets = checkable_secrets(&secrets, &others);
    assert_no_leak(data, &secrets, "a credential document's parser", render);
});
