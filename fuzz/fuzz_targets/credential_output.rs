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
use storage_fuzz::{assert_no_secret, checkable_secrets, json_strings};

const STATUSES: [u16; 8] = [200, 201, 400, 401, 403, 404, 429, 500];

fuzz_target!(|data: &[u8]| {
    let Some((first, body)) = data.split_first() else { return };
    let status = STATUSES[usize::from(*first) % STATUSES.len()];

    // The document's secrets, when it is JSON.
    let (secrets, others) = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(doc) => json_strings(&doc),
        Err(_) => (Vec::new(), Vec::new()),
    };
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let others: Vec<&str> = others.iter().map(String::as_str).collect();
    let secrets = checkable_secrets(&secrets, &others);
    let check = |what: &str, shown: String| assert_no_secret(&shown, &secrets, what);
    let shown = |r: storage_core::Result<String>| match r {
        Ok(s) => s,
        Err(e) => format!("{e} {} {:?}", e.hint(), e.provider_code()),
    };

    check("credential_process", shown(storage_s3::fuzzing::credential_process_output(body).map(|c| format!("{c:?}"))));
    check("ECS/IMDS", shown(storage_s3::fuzzing::container_credentials(body).map(|c| format!("{c:?}"))));
    check("az CLI", shown(storage_azure::fuzzing::azure_cli_output(body).map(|t| format!("{t:?}"))));
    check("Azure token", shown(storage_azure::fuzzing::token_answer(status, body).map(|t| format!("{t:?}"))));
    check("Google token", shown(storage_gcs::fuzzing::token_answer(status, body).map(|t| format!("{t:?}"))));
    check("Google IAM", shown(storage_gcs::fuzzing::iam_token_answer(status, body).map(|t| format!("{t:?}"))));

    let Ok(text) = std::str::from_utf8(body) else { return };
    let _ = storage_s3::fuzzing::sso_cache_time(text);
    let _ = storage_azure::fuzzing::expires_on(text);
    let _ = storage_s3::fuzzing::error_in_ok_body(body);
    // STS answers are XML: their secrets are the texts of the secret elements.
    let mut xml_secrets = Vec::new();
    let mut xml_others = Vec::new();
    let _ = storage_s3::xml::walk(body, "STS", |path, t| {
        if path.ends_with("SecretAccessKey") || path.ends_with("SessionToken") {
            xml_secrets.push(t.trim().to_owned());
        } else {
            xml_others.push(t.to_owned());
            xml_others.push(path.to_owned());
        }
        Ok(())
    });
    let xml_secrets: Vec<&str> = xml_secrets.iter().map(String::as_str).collect();
    let xml_others: Vec<&str> = xml_others.iter().map(String::as_str).collect();
    let xml_secrets = checkable_secrets(&xml_secrets, &xml_others);
    let sts = shown(storage_s3::fuzzing::sts_answer(status, text).map(|c| format!("{c:?}")));
    assert_no_secret(&sts, &xml_secrets, "STS");
});
