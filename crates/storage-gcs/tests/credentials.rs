//! The Google token providers and Application Default Credentials against in-process
//! HTTP servers standing in for Google's token endpoint, STS, the IAM Credentials API and
//! the metadata server (loopback only, no real Google), with the published throwaway
//! service account key of Google's conformance tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{TimeDelta, Utc};
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use storage_core::ErrorKind;
use storage_gcs::credentials::{
    AccessToken, AuthorizedUserProvider, ExternalAccountProvider, GcsCredentials, MetadataProvider, SCOPE,
    ServiceAccountKey, ServiceAccountProvider, TokenProvider, application_default_from_vars, from_file, from_json,
};
use tokio::net::TcpListener;

const KEY_JSON: &str = include_str!("fixtures/service-account.json");
const CLIENT_EMAIL: &str = "test-iam-credentials@dummy-project-id.iam.gserviceaccount.com";
const KEY_ID: &str = "ffffffffffffffffffffffffffffffffffffffff";
const ACCESS_TOKEN: &str = "ya29.c.ACCESS-TOKEN-value";

use storage_testkit::http::{Seen, Server, pairs};

/// The answer: status and JSON body.
type Reply = (u16, String);

/// storage-testkit's server, answering as Google's endpoints do (JSON with
/// `Metadata-Flavor: Google`).
async fn serve(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Server {
    storage_testkit::http::serve(move |req: &Seen| {
        let (status, body) = handler(req);
        storage_testkit::http::Reply::json(status, body).with_header("metadata-flavor", "Google")
    })
    .await
}

/// A closed loopback port: connections are refused at once.
async fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("127.0.0.1:{}", addr.port())
}

/// Whether `t` expires `secs` from now, give or take a few seconds.
fn expires_in(t: &AccessToken, secs: i64) -> bool {
    (t.expires_at - (Utc::now() + TimeDelta::seconds(secs))).num_seconds().abs() <= 5
}

/// A successful answer of Google's token endpoint.
fn google_ok(token: &str) -> String {
    format!(r#"{{"access_token":"{token}","expires_in":3599,"scope":"{SCOPE}","token_type":"Bearer"}}"#)
}

/// The throwaway key's JSON with its token URI pointed at `token_uri`.
fn key_json_for(token_uri: &str) -> String {
    KEY_JSON.replace("https://oauth2.googleapis.com/token", token_uri)
}

/// A JWT's header and claims, and whether its signature verifies with the throwaway key's
/// public key.
fn decode_jwt(jwt: &str) -> (serde_json::Value, serde_json::Value, bool) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "{jwt}");
    let json = |p: &str| serde_json::from_slice::<serde_json::Value>(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
    let key = ServiceAccountKey::from_json(KEY_JSON).unwrap();
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    let signed = format!("{}.{}", parts[0], parts[1]);
    let verified = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public_key_der())
        .verify(signed.as_bytes(), &signature)
        .is_ok();
    (json(parts[0]), json(parts[1]), verified)
}

/// The public key derived independently of the crate: the PEM of the fixture through
/// `rustls-pki-types` and `ring`.
fn fixture_public_key() -> Vec<u8> {
    use ring::signature::KeyPair;
    use rustls_pki_types::pem::PemObject;
    let file: serde_json::Value = serde_json::from_str(KEY_JSON).unwrap();
    let pem = file["private_key"].as_str().unwrap();
    let der = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).unwrap();
    let pair = ring::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap();
    pair.public_key().as_ref().to_vec()
}

#[test]
fn the_oauth_jwt_decodes_and_verifies() {
    let key = Arc::new(ServiceAccountKey::from_json(KEY_JSON).unwrap());
    assert_eq!(key.public_key_der(), fixture_public_key().as_slice());
    let provider = ServiceAccountProvider::new(key.clone());
    let iat = 1_700_000_000;
    let jwt = provider.assertion(iat).unwrap();
    let (header, claims, verified) = decode_jwt(&jwt);
    assert_eq!(header, serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": KEY_ID}));
    assert_eq!(
        claims,
        serde_json::json!({
            "iss": CLIENT_EMAIL,
            "scope": SCOPE,
            "aud": "https://oauth2.googleapis.com/token",
            "iat": iat,
            "exp": iat + 3600,
        })
    );
    assert!(verified, "the signature verifies with the key's public key");
    // Another key's public key does not verify it; a changed claim breaks the signature.
    let parts: Vec<&str> = jwt.split('.').collect();
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    let forged = format!("{}.{}", parts[0], URL_SAFE_NO_PAD.encode(br#"{"iss":"someone@else"}"#));
    let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, fixture_public_key());
    assert!(public.verify(forged.as_bytes(), &signature).is_err());
    assert!(public.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature).is_ok());
    // RSA PKCS#1 v1.5 is deterministic: the same claims give the same JWT.
    assert_eq!(provider.assertion(iat).unwrap(), jwt);
}

#[tokio::test]
async fn self_signed_jwts_need_no_server() {
    let key = Arc::new(ServiceAccountKey::from_json(&key_json_for("http://127.0.0.1:1/token")).unwrap());
    let provider = ServiceAccountProvider::self_signed(key);
    assert!(provider.is_self_signed());
    let token = provider.token().await.unwrap();
    assert!(expires_in(&token, 3600), "{token:?}");
    let (header, claims, verified) = decode_jwt(&token.token);
    assert!(verified);
    assert_eq!(header["kid"], KEY_ID);
    assert_eq!(claims["iss"], CLIENT_EMAIL);
    assert_eq!(claims["sub"], CLIENT_EMAIL);
    assert_eq!(claims["aud"], "https://storage.googleapis.com/");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 3600);
    assert!((claims["iat"].as_i64().unwrap() - Utc::now().timestamp()).abs() <= 5);
}

#[tokio::test]
async fn service_account_exchanges_a_verified_jwt() {
    let server = serve(|req| {
        let assertion = req.form("assertion").unwrap_or_default();
        let (_, _, verified) = decode_jwt(&assertion);
        if req.form("grant_type").as_deref() == Some("urn:ietf:params:oauth:grant-type:jwt-bearer") && verified {
            (200, google_ok(ACCESS_TOKEN))
        } else {
            (400, r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#.to_owned())
        }
    })
    .await;
    let token_uri = format!("{}/token", server.base);
    let creds = from_json(&key_json_for(&token_uri)).unwrap();
    assert_eq!(creds.project_id.as_deref(), Some("dummy-project-id"));
    assert_eq!(creds.signer.as_ref().unwrap().client_email, CLIENT_EMAIL);
    let tokens = creds.tokens.clone().unwrap();
    let token = tokens.token().await.unwrap();
    assert_eq!(token.token, ACCESS_TOKEN);
    assert!(expires_in(&token, 3599), "{token:?}");
    // Cached: a second call asks nobody.
    assert_eq!(tokens.token().await.unwrap().token, ACCESS_TOKEN);

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let req = &reqs[0];
    assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", "/token"));
    assert!(req.header("content-type").unwrap().starts_with("application/x-www-form-urlencoded"));
    assert!(req.header("authorization").is_none());
    let (header, claims, verified) = decode_jwt(&req.form("assertion").unwrap());
    assert!(verified);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], KEY_ID);
    assert_eq!(claims["iss"], CLIENT_EMAIL);
    assert_eq!(claims["scope"], SCOPE);
    assert_eq!(claims["aud"], token_uri.as_str(), "the audience is the token URI");
    assert!((claims["iat"].as_i64().unwrap() - Utc::now().timestamp()).abs() <= 5);
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 3600);
    assert_eq!(pairs(&req.body).len(), 2, "grant_type and assertion only: {}", req.body);

    let shown = format!("{creds:?}");
    assert!(!shown.contains("PRIVATE KEY") && !shown.contains("MIIEv"), "{shown}");
    assert!(!shown.contains(ACCESS_TOKEN), "{shown}");
}

#[tokio::test]
async fn a_refused_assertion_is_unauthenticated_with_the_provider_code() {
    let server =
        serve(|_| (400, r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#.to_owned())).await;
    let key = Arc::new(ServiceAccountKey::from_json(KEY_JSON).unwrap());
    let provider = ServiceAccountProvider::new(key).with_token_uri(format!("{}/token", server.base));
    let e = provider.token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert_eq!(e.provider_code(), Some("invalid_grant"));
    assert_eq!(e.status(), Some(400));
    assert!(!e.is_retryable());
    assert!(e.message().contains("Invalid JWT Signature.") && e.message().contains("service account"), "{e}");
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains("MIIEv") && !shown.contains("eyJ"), "no key, no assertion: {shown}");
    assert_eq!(server.requests().len(), 1, "a refusal is not retried");

    // A token URI that would send the assertion in clear text is refused before sending.
    let key = Arc::new(ServiceAccountKey::from_json(KEY_JSON).unwrap());
    let e = ServiceAccountProvider::new(key).with_token_uri("http://oauth2.example.com/token").token().await;
    assert_eq!(e.unwrap_err().kind(), ErrorKind::Config);
}

#[tokio::test]
async fn transient_token_errors_are_retried() {
    let calls = Arc::new(Mutex::new(0));
    let counter = calls.clone();
    let server = serve(move |_| {
        let mut n = counter.lock().unwrap();
        *n += 1;
        if *n == 1 { (503, "busy".to_owned()) } else { (200, google_ok("second")) }
    })
    .await;
    let key = Arc::new(ServiceAccountKey::from_json(KEY_JSON).unwrap());
    let provider = ServiceAccountProvider::new(key).with_token_uri(format!("{}/token", server.base));
    assert_eq!(provider.token().await.unwrap().token, "second");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn bad_keys_are_config_errors_that_never_quote_the_key() {
    let file: serde_json::Value = serde_json::from_str(KEY_JSON).unwrap();
    let pem = file["private_key"].as_str().unwrap();
    // A damaged key body (one base64 line dropped), a truncated file, a key that is not
    // PEM, a missing field, a wrong type.
    let lines: Vec<&str> = pem.lines().collect();
    let damaged = [&lines[..5], &lines[6..]].concat().join("\n");
    let with_key = |k: &str| {
        let mut f = file.clone();
        f["private_key"] = serde_json::Value::String(k.to_owned());
        f.to_string()
    };
    let cases = [
        (with_key(&damaged), "RSA key"),
        (KEY_JSON[..KEY_JSON.find("-----END").unwrap()].to_owned(), "ends too early"),
        (with_key("MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCsPzMirIottfQ2"), "not a PEM private key"),
        (KEY_JSON.replace("\"client_email\"", "\"email\""), "no client_email"),
        (KEY_JSON.replace("\"service_account\"", "\"authorized_user\""), "authorized_user"),
    ];
    for (json, word) in cases {
        let e = ServiceAccountKey::from_json(&json).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        assert!(e.message().contains(word), "{word}: {e}");
        let shown = format!("{e} {e:?} {}", e.hint());
        assert!(!shown.contains("MIIEv") && !shown.contains("Nmls8wmYqO4"), "{shown}");
    }
    // A PKCS#8 body in PKCS#1 (`BEGIN RSA PRIVATE KEY`) armour is refused.
    let e = ServiceAccountKey::from_pem("a@b", &pem.replace("PRIVATE KEY", "RSA PRIVATE KEY"), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
}

const CLIENT_ID: &str = "764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com";
const CLIENT_SECRET: &str = "d-FL95Q19q7MQmFpd7hHD0Ty-SECRET";
const REFRESH_TOKEN: &str = "1//0gREFRESH-TOKEN-value";

fn user_json(token_uri: Option<&str>) -> String {
    let uri = token_uri.map(|u| format!(r#","token_uri":"{u}""#)).unwrap_or_default();
    format!(
        r#"{{"account":"","client_id":"{CLIENT_ID}","client_secret":"{CLIENT_SECRET}","quota_project_id":"my-quota-project",
            "refresh_token":"{REFRESH_TOKEN}","type":"authorized_user","universe_domain":"googleapis.com"{uri}}}"#
    )
}

#[tokio::test]
async fn authorized_user_refreshes_its_token() {
    let server = serve(|req| {
        if req.form("refresh_token").as_deref() == Some(REFRESH_TOKEN) {
            (200, google_ok(ACCESS_TOKEN))
        } else {
            (400, r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#.to_owned())
        }
    })
    .await;
    let provider = AuthorizedUserProvider::from_json(&user_json(None)).unwrap();
    assert_eq!(provider.token_uri(), "https://oauth2.googleapis.com/token");
    assert_eq!(provider.quota_project_id(), Some("my-quota-project"));
    let provider = provider.with_token_uri(format!("{}/token", server.base));
    let token = provider.token().await.unwrap();
    assert_eq!(token.token, ACCESS_TOKEN);
    assert!(expires_in(&token, 3599));
    let req = &server.requests()[0];
    assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", "/token"));
    assert_eq!(req.form("grant_type").as_deref(), Some("refresh_token"));
    assert_eq!(req.form("client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(req.form("client_secret").as_deref(), Some(CLIENT_SECRET));
    assert_eq!(req.form("refresh_token").as_deref(), Some(REFRESH_TOKEN));
    let shown = format!("{provider:?}");
    assert!(shown.contains(CLIENT_ID) && !shown.contains("SECRET") && !shown.contains("REFRESH"), "{shown}");

    // The token URI of the file is honoured; a revoked refresh token says what to do.
    let creds = from_json(&user_json(Some(&format!("{}/token", server.base)))).unwrap();
    assert_eq!(creds.project_id.as_deref(), Some("my-quota-project"));
    assert!(creds.signer.is_none());
    assert_eq!(creds.tokens.unwrap().token().await.unwrap().token, ACCESS_TOKEN);
    let revoked = AuthorizedUserProvider::new(CLIENT_ID, CLIENT_SECRET, "1//0g-revoked")
        .with_token_uri(format!("{}/token", server.base));
    let e = revoked.token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert_eq!(e.provider_code(), Some("invalid_grant"));
    assert!(e.message().contains("expired or revoked"), "{e}");
    assert!(e.hint().contains("gcloud auth application-default login"), "{}", e.hint());
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains("SECRET") && !shown.contains("1//0g"), "{shown}");
}

const SUBJECT_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.SUBJECT-token.sig";
const STS_TOKEN: &str = "ya29.d.STS-TOKEN";
const AUDIENCE: &str = "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/prov";

fn external_json(base: &str, source: &str, impersonate: bool) -> String {
    let impersonation = if impersonate {
        format!(
            r#""service_account_impersonation_url":"{base}/v1/projects/-/serviceAccounts/{CLIENT_EMAIL}:generateAccessToken",
               "service_account_impersonation":{{"token_lifetime_seconds":1800}},"#
        )
    } else {
        String::new()
    };
    format!(
        r#"{{"type":"external_account","audience":"{AUDIENCE}","subject_token_type":"urn:ietf:params:oauth:token-type:jwt",
            "token_url":"{base}/v1/token",{impersonation}"credential_source":{source}}}"#
    )
}

/// STS and the IAM Credentials API in one server.
async fn sts_server() -> Server {
    serve(|req| match req.path.as_str() {
        "/v1/token" => {
            if req.form("subject_token").as_deref() == Some(SUBJECT_TOKEN) {
                (
                    200,
                    format!(
                        r#"{{"access_token":"{STS_TOKEN}","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","expires_in":3600}}"#
                    ),
                )
            } else {
                (400, r#"{"error":"invalid_grant","error_description":"The audience in ID Token does not match."}"#.to_owned())
            }
        }
        p if p.ends_with(":generateAccessToken") => {
            if req.header("authorization") == Some(&format!("Bearer {STS_TOKEN}")) {
                (200, r#"{"accessToken":"ya29.c.IMPERSONATED","expireTime":"2099-01-01T00:00:00Z"}"#.to_owned())
            } else {
                (403, r#"{"error":{"code":403,"message":"Permission 'iam.serviceAccounts.getAccessToken' denied","status":"PERMISSION_DENIED"}}"#.to_owned())
            }
        }
        "/subject" if req.header("x-custom") == Some("yes") => {
            (200, format!(r#"{{"access_token":"{SUBJECT_TOKEN}","expires_in":3600}}"#))
        }
        _ => (404, "{}".to_owned()),
    })
    .await
}

#[tokio::test]
async fn external_account_exchanges_a_file_subject_token_at_sts() {
    let server = sts_server().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{SUBJECT_TOKEN}\n")).unwrap();
    let source = format!(r#"{{"file":"{}"}}"#, file.display());
    let creds = from_json(&external_json(&server.base, &source, false)).unwrap();
    assert!(creds.signer.is_none() && creds.project_id.is_none());
    let token = creds.tokens.unwrap().token().await.unwrap();
    assert_eq!(token.token, STS_TOKEN);
    assert!(expires_in(&token, 3600));
    let req = &server.requests()[0];
    assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", "/v1/token"));
    assert_eq!(req.form("grant_type").as_deref(), Some("urn:ietf:params:oauth:grant-type:token-exchange"));
    assert_eq!(req.form("requested_token_type").as_deref(), Some("urn:ietf:params:oauth:token-type:access_token"));
    assert_eq!(req.form("subject_token_type").as_deref(), Some("urn:ietf:params:oauth:token-type:jwt"));
    assert_eq!(req.form("subject_token").as_deref(), Some(SUBJECT_TOKEN), "read from the file, trimmed");
    assert_eq!(req.form("audience").as_deref(), Some(AUDIENCE));
    assert_eq!(req.form("scope").as_deref(), Some(SCOPE));
    assert!(req.header("authorization").is_none());

    // The file is read again on every call (it rotates); a refused token is typed.
    std::fs::write(&file, "eyJ.rotated-SUBJECT.sig").unwrap();
    let provider = ExternalAccountProvider::from_json(&external_json(&server.base, &source, false)).unwrap();
    let e = provider.token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert_eq!(e.provider_code(), Some("invalid_grant"));
    assert!(e.message().contains("STS") && e.message().contains("audience"), "{e}");
    assert!(!format!("{e} {e:?} {provider:?}").contains("SUBJECT"), "{e:?}");

    // A JSON subject token file, and a missing file naming itself.
    std::fs::write(&file, format!(r#"{{"id_token":"{SUBJECT_TOKEN}"}}"#)).unwrap();
    let json_source =
        format!(r#"{{"file":"{}","format":{{"type":"json","subject_token_field_name":"id_token"}}}}"#, file.display());
    let provider = ExternalAccountProvider::from_json(&external_json(&server.base, &json_source, false)).unwrap();
    assert_eq!(provider.token().await.unwrap().token, STS_TOKEN);
    let missing = r#"{"file":"/nonexistent/gcs/subject-token"}"#;
    let e = ExternalAccountProvider::from_json(&external_json(&server.base, missing, false))
        .unwrap()
        .token()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert!(e.message().contains("/nonexistent/gcs/subject-token"), "{e}");
}

#[tokio::test]
async fn external_account_url_source_and_impersonation() {
    let server = sts_server().await;
    let source = format!(
        r#"{{"url":"{}/subject","headers":{{"X-Custom":"yes"}},"format":{{"type":"json","subject_token_field_name":"access_token"}}}}"#,
        server.base
    );
    let provider = ExternalAccountProvider::from_json(&external_json(&server.base, &source, true)).unwrap();
    assert!(provider.impersonation_url().unwrap().ends_with(":generateAccessToken"));
    let token = provider.token().await.unwrap();
    assert_eq!(token.token, "ya29.c.IMPERSONATED");
    assert_eq!(token.expires_at.to_rfc3339(), "2099-01-01T00:00:00+00:00");

    let reqs = server.requests();
    let paths: Vec<String> = reqs.iter().map(|r| r.path.clone()).collect();
    let impersonation_path = format!("/v1/projects/-/serviceAccounts/{CLIENT_EMAIL}:generateAccessToken");
    assert_eq!(paths, ["/subject", "/v1/token", impersonation_path.as_str()]);
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[1].form("subject_token").as_deref(), Some(SUBJECT_TOKEN));
    assert_eq!(
        reqs[1].form("scope").as_deref(),
        Some("https://www.googleapis.com/auth/cloud-platform"),
        "the STS token must be allowed to call the IAM Credentials API"
    );
    let impersonation = &reqs[2];
    assert_eq!(impersonation.method, "POST");
    assert!(impersonation.header("content-type").unwrap().starts_with("application/json"));
    let body: serde_json::Value = serde_json::from_str(&impersonation.body).unwrap();
    assert_eq!(body, serde_json::json!({"scope": [SCOPE], "lifetime": "1800s"}));

    // A refused impersonation is typed, with the Google API error's status as code.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, SUBJECT_TOKEN).unwrap();
    let denied = serve(move |req| {
        if req.path.ends_with(":generateAccessToken") {
            (403, r#"{"error":{"code":403,"message":"Permission 'iam.serviceAccounts.getAccessToken' denied","status":"PERMISSION_DENIED"}}"#.to_owned())
        } else {
            (200, r#"{"access_token":"ya29.d.OTHER-STS","token_type":"Bearer","expires_in":3600}"#.to_owned())
        }
    })
    .await;
    let json = external_json(&denied.base, &format!(r#"{{"file":"{}"}}"#, file.display()), true);
    let e = ExternalAccountProvider::from_json(&json).unwrap().token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert_eq!(e.provider_code(), Some("PERMISSION_DENIED"));
    assert!(e.message().contains("impersonation"), "{e}");
    assert!(!format!("{e} {e:?}").contains("OTHER-STS"), "{e:?}");
}

#[tokio::test]
async fn metadata_server_tokens_carry_the_flavor_header() {
    let server = serve(|req| {
        if req.header("metadata-flavor") != Some("Google") {
            return (403, "Missing Metadata-Flavor:Google header.".to_owned());
        }
        match req.path.as_str() {
            "/computeMetadata/v1/instance/service-accounts/default/token" => {
                (200, r#"{"access_token":"ya29.c.METADATA","expires_in":3599,"token_type":"Bearer"}"#.to_owned())
            }
            "/computeMetadata/v1/project/project-id" => (200, "my-gce-project".to_owned()),
            "/computeMetadata/v1/instance/service-accounts/default/email" => {
                (200, "123-compute@developer.gserviceaccount.com".to_owned())
            }
            _ => (404, "not found".to_owned()),
        }
    })
    .await;
    let host = server.base.trim_start_matches("http://").to_owned();
    let provider = MetadataProvider::from_vars(|k| (k == "GCE_METADATA_HOST").then(|| host.clone()));
    assert_eq!(provider.endpoint(), server.base);
    let token = provider.token().await.unwrap();
    assert_eq!(token.token, "ya29.c.METADATA");
    assert!(expires_in(&token, 3599));
    assert_eq!(provider.project_id().await.unwrap(), "my-gce-project");
    assert_eq!(provider.email().await.unwrap(), "123-compute@developer.gserviceaccount.com");
    let req = &server.requests()[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("GET", "/computeMetadata/v1/instance/service-accounts/default/token")
    );
    assert_eq!(req.header("metadata-flavor"), Some("Google"));
    assert!(req.header("authorization").is_none());
}

#[tokio::test]
async fn no_metadata_server_fails_fast() {
    let provider = MetadataProvider::new(closed_port().await);
    let started = Instant::now();
    let e = provider.token().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert!(e.message().contains("no metadata server"), "{e}");

    // A server that accepts but never answers: bounded too.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let started = Instant::now();
    let e = MetadataProvider::new(addr.to_string()).token().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    assert!(e.message().contains("no metadata server"), "{e}");
}

/// Variables for [`application_default_from_vars`].
fn vars(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
    move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
}

#[tokio::test]
async fn adc_reads_google_application_credentials() {
    let server = serve(|_| (200, google_ok(ACCESS_TOKEN))).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sa.json");
    std::fs::write(&file, key_json_for(&format!("{}/token", server.base))).unwrap();
    let creds = application_default_from_vars(vars(vec![
        ("GOOGLE_APPLICATION_CREDENTIALS", file.display().to_string()),
        // Ignored: GOOGLE_APPLICATION_CREDENTIALS comes first.
        ("CLOUDSDK_CONFIG", "/nonexistent".to_owned()),
    ]));
    assert_eq!(creds.project_id.as_deref(), Some("dummy-project-id"));
    assert_eq!(creds.signer.as_ref().unwrap().client_email, CLIENT_EMAIL);
    assert_eq!(creds.tokens.as_ref().unwrap().token().await.unwrap().token, ACCESS_TOKEN);
    assert_eq!(from_file(&file).unwrap().project_id.as_deref(), Some("dummy-project-id"));

    // GOOGLE_CLOUD_PROJECT names the project over the file's.
    let creds = application_default_from_vars(vars(vec![
        ("GOOGLE_APPLICATION_CREDENTIALS", file.display().to_string()),
        ("GOOGLE_CLOUD_PROJECT", "env-project".to_owned()),
    ]));
    assert_eq!(creds.project_id.as_deref(), Some("env-project"));
}

#[tokio::test]
async fn adc_broken_files_fail_at_token_time_naming_the_file_never_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.json");
    // A key file cut in the middle of the private key.
    std::fs::write(&broken, &KEY_JSON[..KEY_JSON.find("Nmls8wmYqO4").unwrap() + 11]).unwrap();
    let missing = dir.path().join("missing.json");
    let unsupported = dir.path().join("impersonated.json");
    std::fs::write(&unsupported, r#"{"type":"impersonated_service_account","source_credentials":{}}"#).unwrap();
    for (path, kind) in
        [(&broken, ErrorKind::Config), (&missing, ErrorKind::Config), (&unsupported, ErrorKind::NotSupported)]
    {
        let creds =
            application_default_from_vars(vars(vec![("GOOGLE_APPLICATION_CREDENTIALS", path.display().to_string())]));
        assert!(creds.signer.is_none());
        let e = creds.tokens.unwrap().token().await.unwrap_err();
        assert_eq!(e.kind(), kind, "{e}");
        assert!(e.message().contains(&path.display().to_string()), "{e}");
        assert!(e.message().contains("GOOGLE_APPLICATION_CREDENTIALS"), "{e}");
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("MIIEv") && !shown.contains("Nmls8wmYqO4"), "{shown}");
    }
    let e = from_file(&broken).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().contains("broken.json"), "{e}");
}

#[tokio::test]
async fn adc_reads_gclouds_file_then_falls_back_to_the_metadata_server() {
    let server = serve(|req| match req.path.as_str() {
        "/token" => (200, google_ok("ya29.USER")),
        "/computeMetadata/v1/instance/service-accounts/default/token" => {
            (200, r#"{"access_token":"ya29.METADATA","expires_in":3599,"token_type":"Bearer"}"#.to_owned())
        }
        _ => (404, "{}".to_owned()),
    })
    .await;
    let host = server.base.trim_start_matches("http://").to_owned();

    // gcloud's file in $CLOUDSDK_CONFIG.
    let config = tempfile::tempdir().unwrap();
    std::fs::write(
        config.path().join("application_default_credentials.json"),
        user_json(Some(&format!("{}/token", server.base))),
    )
    .unwrap();
    let creds = application_default_from_vars(vars(vec![
        ("CLOUDSDK_CONFIG", config.path().display().to_string()),
        ("GCE_METADATA_HOST", host.clone()),
    ]));
    assert_eq!(creds.project_id.as_deref(), Some("my-quota-project"));
    assert_eq!(creds.tokens.unwrap().token().await.unwrap().token, "ya29.USER");

    // ~/.config/gcloud when CLOUDSDK_CONFIG is not set.
    let home = tempfile::tempdir().unwrap();
    if !cfg!(windows) {
        let gcloud = home.path().join(".config").join("gcloud");
        std::fs::create_dir_all(&gcloud).unwrap();
        std::fs::write(
            gcloud.join("application_default_credentials.json"),
            user_json(Some(&format!("{}/token", server.base))),
        )
        .unwrap();
        let creds = application_default_from_vars(vars(vec![("HOME", home.path().display().to_string())]));
        assert_eq!(creds.tokens.unwrap().token().await.unwrap().token, "ya29.USER");
    }

    // No file anywhere: the metadata server.
    let empty = tempfile::tempdir().unwrap();
    let creds = application_default_from_vars(vars(vec![
        ("CLOUDSDK_CONFIG", empty.path().display().to_string()),
        ("GCE_METADATA_HOST", host),
        ("GCLOUD_PROJECT", "from-env".to_owned()),
    ]));
    assert!(creds.signer.is_none());
    assert_eq!(creds.project_id.as_deref(), Some("from-env"));
    assert_eq!(creds.tokens.unwrap().token().await.unwrap().token, "ya29.METADATA");
}

#[tokio::test]
async fn adc_with_nothing_lists_what_was_tried() {
    let empty = tempfile::tempdir().unwrap();
    let creds: GcsCredentials = application_default_from_vars(vars(vec![
        ("CLOUDSDK_CONFIG", empty.path().display().to_string()),
        ("GCE_METADATA_HOST", closed_port().await),
    ]));
    let started = Instant::now();
    let e = creds.tokens.unwrap().token().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    let m = e.message();
    assert!(m.starts_with("no Google Cloud credentials found"), "{m}");
    assert!(m.contains("GOOGLE_APPLICATION_CREDENTIALS is not set"), "{m}");
    assert!(m.contains("application_default_credentials.json does not exist"), "{m}");
    assert!(m.contains("no metadata server"), "{m}");
    assert!(e.hint().contains("gcloud auth application-default login"), "{}", e.hint());
}

#[tokio::test]
async fn a_token_the_server_refuses_is_replaced_once() {
    // Google's token endpoint issues ya29.first, then ya29.second; the storage endpoint
    // answers 401 to the first (revoked before its hour was up).
    let issued = Arc::new(Mutex::new(0usize));
    let count = issued.clone();
    let token_server = serve(move |_req| {
        let mut n = count.lock().unwrap();
        *n += 1;
        (200, google_ok(if *n == 1 { "ya29.first" } else { "ya29.second" }))
    })
    .await;
    let storage = serve(|req| match req.header("authorization") {
        Some("Bearer ya29.second") => (
            200,
            r#"{"kind":"storage#object","name":"k","bucket":"bkt","size":"5","generation":"7","etag":"CAc="}"#.into(),
        ),
        _ => (401, r#"{"error":{"code":401,"message":"Invalid Credentials"}}"#.into()),
    })
    .await;
    let credentials = from_json(&key_json_for(&format!("{}/token", token_server.base))).unwrap();
    let config = storage_gcs::GcsConfig::new().endpoint(&storage.base).credentials(credentials);
    let d = storage_gcs::GcsDriver::new(config).unwrap();
    let o = storage_core::Driver::head_object(&d, "bkt", "k").await.unwrap();
    assert_eq!((o.size, o.version.as_deref()), (5, Some("7")));
    assert_eq!(*issued.lock().unwrap(), 2, "one refresh after the refusal");
    let sent: Vec<_> = storage.requests().iter().map(|r| r.header("authorization").unwrap_or("").to_owned()).collect();
    assert_eq!(sent, ["Bearer ya29.first", "Bearer ya29.second"]);
    // The new token is kept.
    storage_core::Driver::head_object(&d, "bkt", "k").await.unwrap();
    assert_eq!(*issued.lock().unwrap(), 2);
}
