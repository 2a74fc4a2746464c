//! The Entra ID token providers against in-process HTTP servers standing in for Entra ID,
//! the App Service identity endpoint and IMDS (loopback only, no real Azure), and against
//! a fake `az` script.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use storage_azure::credentials::{
    AccessToken, AzureCliProvider, ClientSecretProvider, ManagedIdentityProvider, STORAGE_SCOPE, TokenCache,
    TokenChain, TokenProvider, WorkloadIdentityProvider, default_chain,
};
use storage_core::ErrorKind;
use tokio::net::TcpListener;

use storage_testkit::http::{Seen, Server};

/// The answer: status and JSON body.
type Reply = (u16, String);

/// storage-testkit's server with JSON answers.
async fn serve(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Server {
    storage_testkit::http::serve(handler).await
}

/// A closed loopback port: connections are refused at once.
async fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// Whether `t` is `secs` from now, give or take a few seconds.
fn expires_in(t: &AccessToken, secs: i64) -> bool {
    (t.expires_at - (Utc::now() + TimeDelta::seconds(secs))).num_seconds().abs() <= 5
}

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT_ID: &str = "0f2b7c1e-app-client-id";
const CLIENT_SECRET: &str = "cs~SECRET-value/with+chars&=";
const ACCESS_TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.ACCESS-TOKEN.sig";

/// A successful answer of the v2.0 token endpoint, shaped as Entra ID sends it.
fn entra_ok(token: &str) -> String {
    format!(r#"{{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"{token}"}}"#)
}

/// Entra ID's answer to a wrong client secret.
const INVALID_CLIENT: &str = r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '0f2b7c1e-app-client-id'. Trace ID: 0a1b Correlation ID: c0ffee Timestamp: 2024-01-01 00:00:00Z","error_codes":[7000215],"timestamp":"2024-01-01 00:00:00Z","trace_id":"0a1b","correlation_id":"c0ffee","error_uri":"https://login.microsoftonline.com/error?code=7000215"}"#;

#[tokio::test]
async fn client_secret_token_from_entra() {
    let server = serve(|req| {
        if req.form("client_secret").as_deref() == Some(CLIENT_SECRET) {
            (200, entra_ok(ACCESS_TOKEN))
        } else {
            (401, INVALID_CLIENT.to_owned())
        }
    })
    .await;
    let provider = ClientSecretProvider::new(TENANT, CLIENT_ID, CLIENT_SECRET, Some(format!("{}/", server.base)));
    let token = provider.token().await.unwrap();
    assert_eq!(token.token, ACCESS_TOKEN);
    assert!(expires_in(&token, 3599), "{token:?}");

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let req = &reqs[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, format!("/{TENANT}/oauth2/v2.0/token"));
    assert!(req.query.is_empty(), "nothing in the URL");
    assert!(req.header("content-type").unwrap().starts_with("application/x-www-form-urlencoded"));
    assert_eq!(req.header("accept"), Some("application/json"));
    assert!(req.header("authorization").is_none());
    assert_eq!(req.form("grant_type").as_deref(), Some("client_credentials"));
    assert_eq!(req.form("client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(req.form("client_secret").as_deref(), Some(CLIENT_SECRET), "the secret survives form encoding");
    assert_eq!(req.form("scope").as_deref(), Some(STORAGE_SCOPE));
    assert_eq!(STORAGE_SCOPE, "https://storage.azure.com/.default");
    assert!(!format!("{provider:?}").contains("SECRET"), "{provider:?}");
    assert!(!format!("{token:?}").contains("ACCESS-TOKEN"), "{token:?}");
}

#[tokio::test]
async fn client_secret_from_vars_honours_the_authority_host() {
    let server = serve(|_| (200, entra_ok(ACCESS_TOKEN))).await;
    let base = server.base.clone();
    let provider = ClientSecretProvider::from_vars(move |k| match k {
        "AZURE_TENANT_ID" => Some("contoso.onmicrosoft.com".into()),
        "AZURE_CLIENT_ID" => Some(CLIENT_ID.into()),
        "AZURE_CLIENT_SECRET" => Some(CLIENT_SECRET.into()),
        "AZURE_AUTHORITY_HOST" => Some(base.clone()),
        _ => None,
    });
    assert_eq!(provider.token().await.unwrap().token, ACCESS_TOKEN);
    assert_eq!(server.requests()[0].path, "/contoso.onmicrosoft.com/oauth2/v2.0/token");
    assert_eq!(provider.name(), "client secret");
}

#[tokio::test]
async fn client_secret_invalid_client_is_unauthenticated() {
    let server = serve(|_| (401, INVALID_CLIENT.to_owned())).await;
    let provider = ClientSecretProvider::new(TENANT, CLIENT_ID, CLIENT_SECRET, Some(server.base.clone()));
    let e = provider.token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert_eq!(e.provider_code(), Some("invalid_client"));
    assert_eq!(e.status(), Some(401));
    assert_eq!(e.request_id(), Some("c0ffee"));
    assert!(!e.is_retryable());
    assert!(e.message().contains("AADSTS7000215"), "{e}");
    assert!(e.message().contains("client secret"), "the message names the provider: {e}");
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains("SECRET-value"), "{shown}");
    assert_eq!(server.requests().len(), 1, "a refusal is not retried");
}

#[tokio::test]
async fn client_secret_transient_errors_are_retried() {
    let calls = Arc::new(Mutex::new(0));
    let counter = calls.clone();
    let server = serve(move |_| {
        let mut n = counter.lock().unwrap();
        *n += 1;
        if *n == 1 { (503, r#"{"error":"temporarily_unavailable"}"#.to_owned()) } else { (200, entra_ok("second")) }
    })
    .await;
    let provider = ClientSecretProvider::new(TENANT, CLIENT_ID, CLIENT_SECRET, Some(server.base.clone()));
    assert_eq!(provider.token().await.unwrap().token, "second");
    assert_eq!(server.requests().len(), 2);
}

const FEDERATED_1: &str = "eyJhbGciOiJSUzI1NiJ9.federated-ONE.sig";
const FEDERATED_2: &str = "eyJhbGciOiJSUzI1NiJ9.federated-TWO.sig";

#[tokio::test]
async fn workload_identity_reads_the_token_file_on_each_call() {
    let server = serve(|req| match req.form("client_assertion").as_deref() {
        Some(FEDERATED_1) => (200, entra_ok("token-for-one")),
        Some(FEDERATED_2) => (200, entra_ok("token-for-two")),
        _ => (
            400,
            r#"{"error":"invalid_client","error_description":"AADSTS700024: Client assertion is not within its valid time range.","error_codes":[700024],"correlation_id":"wi-corr"}"#
                .to_owned(),
        ),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("azure-identity-token");
    std::fs::write(&file, format!("{FEDERATED_1}\n")).unwrap();
    let base = server.base.clone();
    let path = file.display().to_string();
    let provider = WorkloadIdentityProvider::from_vars(move |k| match k {
        "AZURE_FEDERATED_TOKEN_FILE" => Some(path.clone()),
        "AZURE_CLIENT_ID" => Some(CLIENT_ID.into()),
        "AZURE_TENANT_ID" => Some(TENANT.into()),
        "AZURE_AUTHORITY_HOST" => Some(base.clone()),
        _ => None,
    });
    let first = provider.token().await.unwrap();
    assert_eq!(first.token, "token-for-one");
    assert!(expires_in(&first, 3599));
    std::fs::write(&file, FEDERATED_2).unwrap();
    assert_eq!(provider.token().await.unwrap().token, "token-for-two");
    std::fs::write(&file, "eyJ.expired-ASSERTION.sig").unwrap();
    let e = provider.token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert_eq!(e.provider_code(), Some("invalid_client"));
    assert!(e.message().contains("AADSTS700024") && e.message().contains("workload identity"), "{e}");
    assert!(!format!("{e} {e:?}").contains("expired-ASSERTION"), "{e:?}");

    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    for req in &reqs {
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, format!("/{TENANT}/oauth2/v2.0/token"));
        assert!(req.header("content-type").unwrap().starts_with("application/x-www-form-urlencoded"));
        assert_eq!(req.form("grant_type").as_deref(), Some("client_credentials"));
        assert_eq!(req.form("client_id").as_deref(), Some(CLIENT_ID));
        assert_eq!(
            req.form("client_assertion_type").as_deref(),
            Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        );
        assert_eq!(req.form("scope").as_deref(), Some(STORAGE_SCOPE));
        assert!(req.form("client_secret").is_none());
    }
    assert_eq!(reqs[0].form("client_assertion").as_deref(), Some(FEDERATED_1), "read and trimmed");
    assert_eq!(reqs[1].form("client_assertion").as_deref(), Some(FEDERATED_2), "read again after rotation");
    assert!(!format!("{provider:?}").contains("federated-"), "{provider:?}");

    std::fs::remove_file(&file).unwrap();
    let e = provider.token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert!(e.message().contains("federated token file"), "{e}");
    assert_eq!(server.requests().len(), 3, "no request without an assertion");
}

const IDENTITY_HEADER: &str = "identity-header-SECRET";

#[tokio::test]
async fn app_service_managed_identity_sends_the_identity_header() {
    let expires_on = (Utc::now() + TimeDelta::hours(24)).timestamp();
    let server = serve(move |req| {
        if req.header("x-identity-header") != Some(IDENTITY_HEADER) {
            return (401, r#"{"statusCode":401,"message":"Unauthorized request"}"#.to_owned());
        }
        (
            200,
            format!(
                r#"{{"access_token":"{ACCESS_TOKEN}","expires_on":"{expires_on}","resource":"https://storage.azure.com","token_type":"Bearer","client_id":"ms-client"}}"#
            ),
        )
    })
    .await;
    let endpoint = format!("{}/msi/token", server.base);
    let provider = ManagedIdentityProvider::from_vars(|k| match k {
        "IDENTITY_ENDPOINT" => Some(endpoint.clone()),
        "IDENTITY_HEADER" => Some(IDENTITY_HEADER.into()),
        "AZURE_CLIENT_ID" => Some("user-assigned-client".into()),
        _ => None,
    });
    assert!(provider.is_app_service());
    let token = provider.token().await.unwrap();
    assert_eq!(token.token, ACCESS_TOKEN);
    assert_eq!(token.expires_at.timestamp(), expires_on);
    assert!(!format!("{provider:?}").contains("SECRET"), "{provider:?}");

    let wrong = ManagedIdentityProvider::app_service(&endpoint, "wrong");
    let e = wrong.token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert_eq!(e.status(), Some(401));
    assert!(e.message().contains("Unauthorized request") && e.message().contains("App Service"), "{e}");

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let req = &reqs[0];
    assert_eq!(req.method, "GET");
    assert_eq!(req.path, "/msi/token");
    assert_eq!(req.param("api-version"), Some("2019-08-01"));
    assert_eq!(req.param("resource"), Some("https://storage.azure.com"));
    assert_eq!(req.param("client_id"), Some("user-assigned-client"));
    assert_eq!(req.header("x-identity-header"), Some(IDENTITY_HEADER));
    assert_eq!(reqs[1].param("client_id"), None, "system-assigned identity");
}

#[tokio::test]
async fn imds_managed_identity_sends_metadata_true_and_retries_when_busy() {
    let calls = Arc::new(Mutex::new(0));
    let counter = calls.clone();
    let server = serve(move |req| {
        if req.header("metadata") != Some("true") {
            return (400, r#"{"error":"invalid_request","error_description":"Required metadata header not specified"}"#.to_owned());
        }
        let mut n = counter.lock().unwrap();
        *n += 1;
        if *n == 1 {
            return (500, r#"{"error":"unknown","error_description":"busy"}"#.to_owned());
        }
        (
            200,
            format!(
                r#"{{"access_token":"{ACCESS_TOKEN}","refresh_token":"","expires_in":"86399","expires_on":"1506484173","not_before":"1506480273","resource":"https://storage.azure.com","token_type":"Bearer"}}"#
            ),
        )
    })
    .await;
    let provider = ManagedIdentityProvider::imds(&server.base).with_client_id("imds-user-client");
    let token = provider.token().await.unwrap();
    assert_eq!(token.token, ACCESS_TOKEN);
    assert!(expires_in(&token, 86399), "expires_in wins over a stale expires_on: {token:?}");

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "the 500 is asked again");
    for req in &reqs {
        assert_eq!(req.method, "GET");
        assert_eq!(req.path, "/metadata/identity/oauth2/token");
        assert_eq!(req.param("api-version"), Some("2018-02-01"));
        assert_eq!(req.param("resource"), Some("https://storage.azure.com"));
        assert_eq!(req.param("client_id"), Some("imds-user-client"));
        assert_eq!(req.header("metadata"), Some("true"));
        assert!(req.header("x-identity-header").is_none());
    }
}

#[tokio::test]
async fn imds_without_an_identity_is_unauthenticated() {
    let server =
        serve(|_| (400, r#"{"error":"invalid_request","error_description":"Identity not found"}"#.to_owned())).await;
    let base = server.base.clone();
    let provider =
        ManagedIdentityProvider::from_vars(move |k| (k == "AZURE_POD_IDENTITY_AUTHORITY_HOST").then(|| base.clone()));
    assert!(!provider.is_app_service());
    let e = provider.token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert_eq!(e.provider_code(), Some("invalid_request"));
    assert_eq!(e.status(), Some(400));
    assert!(e.message().contains("Identity not found") && e.message().contains("IMDS"), "{e}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn imds_unreachable_fails_fast_with_unauthenticated() {
    let started = Instant::now();
    let e = ManagedIdentityProvider::imds(closed_port().await).token().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e}");
    assert!(e.message().contains("no managed identity endpoint answered"), "{e}");
}

/// Writes an executable shell script standing in for `az`.
#[cfg(unix)]
fn fake_az(dir: &std::path::Path, name: &str, body: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Every CLI case in one test, so no other test of this binary forks while a script is
/// open for writing (which would make running it fail with "text file busy").
#[cfg(unix)]
#[tokio::test]
async fn azure_cli_tokens_from_a_fake_az() {
    let dir = tempfile::tempdir().unwrap();
    let expires_on = (Utc::now() + TimeDelta::minutes(59)).timestamp();
    let ok = fake_az(
        dir.path(),
        "az-ok",
        &format!(
            r#"printf '%s\n' "$@" > "$0.args"
cat <<'EOF'
{{
  "accessToken": "{ACCESS_TOKEN}",
  "expiresOn": "2030-01-01 12:00:00.000000",
  "expires_on": {expires_on},
  "subscription": "00000000-0000-0000-0000-000000000000",
  "tenant": "{TENANT}",
  "tokenType": "Bearer"
}}
EOF"#
        ),
    );
    let old = fake_az(
        dir.path(),
        "az-old",
        r#"echo '{"accessToken":"old-cli-token","expiresOn":"2099-01-01 00:00:00.000000","tokenType":"Bearer"}'"#,
    );
    let logged_out = fake_az(
        dir.path(),
        "az-logged-out",
        &format!(
            "echo '{{\"accessToken\":\"{ACCESS_TOKEN}\"}}'\necho 'WARNING: a warning first' >&2\n\
             echo \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1"
        ),
    );
    let garbage = fake_az(dir.path(), "az-garbage", &format!("echo 'not json {ACCESS_TOKEN}'"));
    let slow = fake_az(dir.path(), "az-slow", "sleep 5");

    let provider = AzureCliProvider::new().with_program(&ok).with_tenant(TENANT);
    let token = provider.token().await.unwrap();
    assert_eq!(token.token, ACCESS_TOKEN);
    assert_eq!(token.expires_at.timestamp(), expires_on, "expires_on (Unix seconds) wins over expiresOn");
    let args = std::fs::read_to_string(format!("{}.args", ok.display())).unwrap();
    assert_eq!(
        args.lines().collect::<Vec<_>>(),
        [
            "account",
            "get-access-token",
            "--output",
            "json",
            "--resource",
            "https://storage.azure.com",
            "--tenant",
            TENANT
        ]
    );
    assert_eq!(provider.name(), "azure cli");

    let token = AzureCliProvider::new().with_program(&old).token().await.unwrap();
    assert_eq!(token.token, "old-cli-token");
    assert!(token.expires_at > Utc::now() + TimeDelta::days(365 * 50), "{token:?}");

    let e = AzureCliProvider::new().with_program(&logged_out).token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert!(e.message().contains("ERROR: Please run 'az login' to setup account."), "{e}");
    assert!(!e.message().contains("WARNING"), "{e}");
    assert!(!format!("{e} {e:?}").contains("ACCESS-TOKEN"), "stdout is never quoted: {e:?}");

    let e = AzureCliProvider::new().with_program(&garbage).token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert!(e.message().contains("not its token document"), "{e}");
    assert!(!format!("{e} {e:?}").contains("ACCESS-TOKEN"), "{e:?}");

    let started = Instant::now();
    let e =
        AzureCliProvider::new().with_program(&slow).with_timeout(Duration::from_millis(300)).token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(started.elapsed() < Duration::from_secs(4), "the slow CLI is killed: {:?}", started.elapsed());

    let e = AzureCliProvider::new().with_program(dir.path().join("no-such-az")).token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert!(e.message().contains("Azure CLI not found"), "{e}");
}

#[tokio::test]
async fn chain_of_unconfigured_providers_names_each_reason() {
    let closed = closed_port().await;
    let providers: Vec<Arc<dyn TokenProvider>> = vec![
        Arc::new(ClientSecretProvider::from_vars(|_| None)),
        Arc::new(WorkloadIdentityProvider::from_vars(|_| None)),
        Arc::new(ManagedIdentityProvider::imds(&closed)),
        Arc::new(AzureCliProvider::new().with_program("/nonexistent/bin/az")),
    ];
    let started = Instant::now();
    let e = TokenChain::new(providers.clone()).token().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    let m = e.message();
    let at: Vec<usize> = ["client secret (", "workload identity (", "managed identity (", "azure cli ("]
        .iter()
        .map(|p| m.find(p).expect(m))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{m}");
    assert!(m.contains("AZURE_CLIENT_SECRET are not set"), "{m}");
    assert!(m.contains("AZURE_FEDERATED_TOKEN_FILE is not set"), "{m}");
    assert!(m.contains("no managed identity endpoint answered"), "{m}");
    assert!(m.contains("Azure CLI not found"), "{m}");

    let server = serve(|_| (200, entra_ok("from-the-chain"))).await;
    let chain = TokenChain::new(providers).with(Arc::new(ClientSecretProvider::new(
        TENANT,
        CLIENT_ID,
        CLIENT_SECRET,
        Some(server.base.clone()),
    )));
    assert_eq!(chain.token().await.unwrap().token, "from-the-chain");
}

#[tokio::test]
async fn cached_client_secret_tokens_share_one_request() {
    let server = serve(|_| (200, entra_ok(ACCESS_TOKEN))).await;
    let provider = ClientSecretProvider::new(TENANT, CLIENT_ID, CLIENT_SECRET, Some(server.base.clone()));
    let cache = Arc::new(TokenCache::new(Arc::new(provider)));
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.token().await.unwrap() })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().token, ACCESS_TOKEN);
    }
    assert_eq!(server.requests().len(), 1);
    assert_eq!(cache.name(), "client secret");
    let shown = format!("{cache:?}");
    assert!(!shown.contains("SECRET") && !shown.contains("ACCESS-TOKEN"), "{shown}");
}

#[test]
fn debug_output_of_providers_has_no_secrets() {
    let providers: Vec<Arc<dyn TokenProvider>> = vec![
        Arc::new(ClientSecretProvider::new(TENANT, CLIENT_ID, CLIENT_SECRET, None)),
        Arc::new(ClientSecretProvider::from_vars(|k| match k {
            "AZURE_TENANT_ID" => Some(TENANT.into()),
            "AZURE_CLIENT_ID" => Some(CLIENT_ID.into()),
            "AZURE_CLIENT_SECRET" => Some(CLIENT_SECRET.into()),
            _ => None,
        })),
        Arc::new(WorkloadIdentityProvider::new(TENANT, CLIENT_ID, "/var/run/secrets/azure/tokens/token", None)),
        Arc::new(ManagedIdentityProvider::app_service("http://127.0.0.1:41741/msi/token", IDENTITY_HEADER)),
        Arc::new(ManagedIdentityProvider::imds("http://169.254.169.254")),
        Arc::new(AzureCliProvider::new()),
        default_chain(),
    ];
    let mut shown = String::new();
    for p in &providers {
        shown.push_str(&format!("{p:?}\n"));
    }
    assert!(!shown.contains(CLIENT_SECRET) && !shown.contains("SECRET-value"), "{shown}");
    assert!(!shown.contains(IDENTITY_HEADER), "{shown}");
    assert!(shown.contains(CLIENT_ID) && shown.contains("/var/run/secrets/azure/tokens/token"), "{shown}");
    assert!(shown.contains("ClientSecretProvider") && shown.contains("AzureCliProvider"), "{shown}");
}
