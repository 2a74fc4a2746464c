//! The credentials providers against in-process HTTP servers standing in for STS, the
//! container credentials endpoint and IMDS (loopback only, no real AWS).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::{SecondsFormat, TimeDelta, Utc};
use storage_core::ErrorKind;
use storage_s3::credentials::{
    AssumeRoleProvider, CachingProvider, ChainProvider, Credentials, CredentialsProvider, EcsAuth, EcsProvider,
    ImdsProvider, ProfileProvider, StaticProvider, WebIdentityProvider, default_chain,
};
use tokio::net::TcpListener;

mod common;
use common::{Reply, Seen, form, serve};

fn in_an_hour() -> String {
    (Utc::now() + TimeDelta::hours(1)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The STS answer, shaped as AWS documents it.
fn sts_ok(expiration: &str) -> String {
    format!(
        r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:default:app</SubjectFromWebIdentityToken>
    <Audience>sts.amazonaws.com</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/app-role/my-session</Arn>
      <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:my-session</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>FwoGZXIvYXdzSTSTOKEN+abc/def==</SessionToken>
      <SecretAccessKey>stsSecretKeyEXAMPLE/K7MDENG</SecretAccessKey>
      <Expiration>{expiration}</Expiration>
      <AccessKeyId>ASIASTSEXAMPLE</AccessKeyId>
    </Credentials>
    <Provider>arn:aws:iam::123456789012:oidc-provider/oidc.eks.example</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>"#
    )
}

const STS_ERROR: &str = r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>Sender</Type>
    <Code>InvalidIdentityToken</Code>
    <Message>Incorrect token audience</Message>
  </Error>
  <RequestId>4a9ea1b2-0000-0000-0000-000000000000</RequestId>
</ErrorResponse>"#;

const WEB_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.webtoken-SECRET.sig";

fn token_file(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let path = dir.path().join("token");
    std::fs::write(&path, format!("{WEB_TOKEN}\n")).unwrap();
    path
}

#[tokio::test]
async fn web_identity_credentials_from_sts() {
    let expiration = in_an_hour();
    let answer = sts_ok(&expiration);
    let server = serve(move |_| (200, "text/xml", answer.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let provider = WebIdentityProvider::new(
        "arn:aws:iam::123456789012:role/app-role",
        token_file(&dir),
        Some("my-session".into()),
        &server.base,
    );
    let c = provider.credentials().await.unwrap();
    assert_eq!(c.access_key_id, "ASIASTSEXAMPLE");
    assert_eq!(c.secret_access_key, "stsSecretKeyEXAMPLE/K7MDENG");
    assert_eq!(c.session_token.as_deref(), Some("FwoGZXIvYXdzSTSTOKEN+abc/def=="));
    assert_eq!(c.expires_at.unwrap().to_rfc3339_opts(SecondsFormat::Secs, true), expiration);

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let req = &reqs[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/");
    assert!(req.header("authorization").is_none(), "the STS call is unsigned");
    assert!(req.header("content-type").unwrap().starts_with("application/x-www-form-urlencoded"));
    let params = form(&req.body);
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("Action"), Some("AssumeRoleWithWebIdentity"));
    assert_eq!(get("Version"), Some("2011-06-15"));
    assert_eq!(get("RoleArn"), Some("arn:aws:iam::123456789012:role/app-role"));
    assert_eq!(get("RoleSessionName"), Some("my-session"));
    assert_eq!(get("WebIdentityToken"), Some(WEB_TOKEN), "the token file is read and trimmed");
    assert!(!format!("{provider:?}").contains("webtoken-SECRET"));
}

#[tokio::test]
async fn web_identity_credentials_default_session_name() {
    let answer = sts_ok(&in_an_hour());
    let server = serve(move |_| (200, "text/xml", answer.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let provider =
        WebIdentityProvider::new("arn:aws:iam::1:role/r", token_file(&dir), None, format!("{}/", server.base));
    provider.credentials().await.unwrap();
    let params = form(&server.requests()[0].body);
    let name = params.iter().find(|(k, _)| k == "RoleSessionName").map(|(_, v)| v.clone()).unwrap();
    let secs = name.strip_prefix("storage-rs-").expect(&name);
    assert!(secs.parse::<u64>().unwrap() > 1_600_000_000, "{name}");
}

#[tokio::test]
async fn web_identity_credentials_sts_error_is_unauthenticated() {
    let server = serve(|_| (400, "text/xml", STS_ERROR.to_owned())).await;
    let dir = tempfile::tempdir().unwrap();
    let provider = WebIdentityProvider::new("arn:aws:iam::1:role/r", token_file(&dir), None, &server.base);
    let e = provider.credentials().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert_eq!(e.provider_code(), Some("InvalidIdentityToken"));
    assert_eq!(e.status(), Some(400));
    let shown = format!("{e} {e:?}");
    assert!(shown.contains("Incorrect token audience"), "{shown}");
    assert!(!shown.contains("webtoken-SECRET"), "{shown}");
}

#[tokio::test]
async fn profile_web_identity_credentials_delegate_to_sts() {
    let answer = sts_ok(&in_an_hour());
    let server = serve(move |_| (200, "text/xml", answer.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let token = token_file(&dir);
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "[profile eks]\nrole_arn = arn:aws:iam::1:role/from-profile\nweb_identity_token_file = {}\n\
             role_session_name = prof-session\nregion = eu-central-1\n",
            token.display()
        ),
    )
    .unwrap();
    let provider = ProfileProvider::new("eks", dir.path().join("credentials"), &config).with_sts_endpoint(&server.base);
    let c = provider.credentials().await.unwrap();
    assert_eq!(c.access_key_id, "ASIASTSEXAMPLE");
    let params = form(&server.requests()[0].body);
    assert!(params.contains(&("RoleArn".into(), "arn:aws:iam::1:role/from-profile".into())));
    assert!(params.contains(&("RoleSessionName".into(), "prof-session".into())));
    assert_eq!(provider.configured_region().as_deref(), Some("eu-central-1"));
}

#[tokio::test]
async fn profile_credentials_file_wins_and_malformed_files_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials");
    let config = dir.path().join("config");
    std::fs::write(
        &creds,
        "# shared credentials\n[default]\naws_access_key_id = AKIDCREDS\n; comment\n[dev]\n\
         AWS_ACCESS_KEY_ID = AKIDDEV\naws_secret_access_key = devsecret\n",
    )
    .unwrap();
    std::fs::write(
        &config,
        "[default]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = cfgsecret\nregion = us-west-1\n\
         [profile dev]\nregion = eu-north-1\n",
    )
    .unwrap();
    let c = ProfileProvider::new("default", &creds, &config).credentials().await.unwrap();
    assert_eq!((c.access_key_id.as_str(), c.secret_access_key.as_str()), ("AKIDCREDS", "cfgsecret"));
    let dev = ProfileProvider::new("dev", &creds, &config);
    assert_eq!(dev.credentials().await.unwrap().access_key_id, "AKIDDEV");
    assert_eq!(dev.configured_region().as_deref(), Some("eu-north-1"));
    assert_eq!(dev.region_of("default").as_deref(), Some("us-west-1"));

    std::fs::write(&creds, "[default]\naws_access_key_id = A\n\naws_secret_access_key: hunter2\n").unwrap();
    let e = ProfileProvider::new("default", &creds, &config).credentials().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().contains(&creds.display().to_string()), "{e}");
    assert!(e.message().contains("line 4"), "{e}");
    assert!(!e.to_string().contains("hunter2"), "{e}");
}

#[tokio::test]
async fn ecs_credentials_with_auth_token() {
    let expiration = in_an_hour();
    let body = format!(
        r#"{{"RoleArn":"arn:aws:iam::1:role/task","AccessKeyId":"ASIAECS","SecretAccessKey":"ecsSecret","Token":"ecsToken","Expiration":"{expiration}"}}"#
    );
    let server = serve(move |req| match req.header("authorization") {
        Some("Bearer auth-SECRET") | Some("from-file-SECRET") => (200, "application/json", body.clone()),
        _ => (401, "application/json", r#"{"Message":"unauthorized"}"#.to_owned()),
    })
    .await;
    let uri = format!("{}/v2/credentials/task-1", server.base);

    let provider = EcsProvider::new(&uri, Some(EcsAuth::Token("Bearer auth-SECRET".into())));
    let c = provider.credentials().await.unwrap();
    assert_eq!(c.access_key_id, "ASIAECS");
    assert_eq!(c.secret_access_key, "ecsSecret");
    assert_eq!(c.session_token.as_deref(), Some("ecsToken"));
    assert!(c.expires_at.is_some());
    assert!(!format!("{provider:?}").contains("auth-SECRET"));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("eks-token");
    std::fs::write(&file, "from-file-SECRET\n").unwrap();
    EcsProvider::new(&uri, Some(EcsAuth::TokenFile(file))).credentials().await.unwrap();

    let e = EcsProvider::new(&uri, None).credentials().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert_eq!(e.status(), Some(401));

    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs.iter().all(|r| r.method == "GET" && r.path == "/v2/credentials/task-1"));
    assert_eq!(reqs[0].header("authorization"), Some("Bearer auth-SECRET"));
    assert_eq!(reqs[1].header("authorization"), Some("from-file-SECRET"));
    assert_eq!(reqs[2].header("authorization"), None);
}

#[tokio::test]
async fn ecs_credentials_from_env_full_uri() {
    let body = r#"{"AccessKeyId":"ASIAFULL","SecretAccessKey":"s","Token":"t","Expiration":"2099-01-01T00:00:00Z"}"#;
    let server = serve(move |_| (200, "application/json", body.to_owned())).await;
    let full = format!("{}/creds", server.base);
    let provider = EcsProvider::from_vars(|k| match k {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI" => Some(full.clone()),
        "AWS_CONTAINER_AUTHORIZATION_TOKEN" => Some("envtoken".into()),
        _ => None,
    });
    assert_eq!(provider.credentials().await.unwrap().access_key_id, "ASIAFULL");
    assert_eq!(server.requests()[0].header("authorization"), Some("envtoken"));
    let refused = EcsProvider::from_vars(|k| {
        (k == "AWS_CONTAINER_CREDENTIALS_FULL_URI").then(|| "http://metadata.example.com/creds".to_owned())
    });
    assert_eq!(refused.credentials().await.unwrap_err().kind(), ErrorKind::Config);
}

const IMDS_TOKEN: &str = "imds-session-TOKEN";

fn imds_handler(expiration: String) -> impl Fn(&Seen) -> Reply + Send + Sync + 'static {
    move |req| {
        if req.method == "PUT" && req.path == "/latest/api/token" {
            return match req.header("x-aws-ec2-metadata-token-ttl-seconds") {
                Some("21600") => (200, "text/plain", IMDS_TOKEN.to_owned()),
                _ => (400, "text/plain", String::new()),
            };
        }
        if req.header("x-aws-ec2-metadata-token") != Some(IMDS_TOKEN) {
            return (401, "text/plain", String::new());
        }
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/latest/meta-data/iam/security-credentials/") => (200, "text/plain", "ec2-role\n".to_owned()),
            ("GET", "/latest/meta-data/iam/security-credentials/ec2-role") => (
                200,
                "text/plain",
                format!(
                    r#"{{"Code":"Success","LastUpdated":"2024-01-01T00:00:00Z","Type":"AWS-HMAC","AccessKeyId":"ASIAIMDS","SecretAccessKey":"imdsSecret","Token":"imdsToken","Expiration":"{expiration}"}}"#
                ),
            ),
            _ => (404, "text/plain", String::new()),
        }
    }
}

#[tokio::test]
async fn imds_v2_credentials_token_flow() {
    let server = serve(imds_handler(in_an_hour())).await;
    let provider = ImdsProvider::new(&server.base);
    let c = provider.credentials().await.unwrap();
    assert_eq!(c.access_key_id, "ASIAIMDS");
    assert_eq!(c.secret_access_key, "imdsSecret");
    assert_eq!(c.session_token.as_deref(), Some("imdsToken"));
    assert!(c.expires_at.is_some());

    let reqs = server.requests();
    let calls: Vec<_> = reqs.iter().map(|r| (r.method.as_str(), r.path.as_str())).collect();
    assert_eq!(
        calls,
        [
            ("PUT", "/latest/api/token"),
            ("GET", "/latest/meta-data/iam/security-credentials/"),
            ("GET", "/latest/meta-data/iam/security-credentials/ec2-role"),
        ]
    );
    assert_eq!(reqs[0].header("x-aws-ec2-metadata-token-ttl-seconds"), Some("21600"));
    assert!(reqs[1..].iter().all(|r| r.header("x-aws-ec2-metadata-token") == Some(IMDS_TOKEN)));
}

#[tokio::test]
async fn imds_credentials_errors() {
    // No role attached: the listing is a 404.
    let server = serve(|req| {
        if req.method == "PUT" { (200, "text/plain", "t".to_owned()) } else { (404, "text/plain", String::new()) }
    })
    .await;
    let e = ImdsProvider::new(&server.base).credentials().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert_eq!(e.status(), Some(404));

    // IMDSv2 token refused and IMDSv1 refused as well: one PUT, one tokenless GET.
    let server = serve(|_| (403, "text/plain", String::new())).await;
    let e = ImdsProvider::new(&server.base).credentials().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    let calls: Vec<_> = server.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(calls, ["PUT", "GET"], "a refused token is not retried");

    // A malformed token request (400) is an error, not a reason to fall back.
    let server = serve(|_| (400, "text/plain", String::new())).await;
    let e = ImdsProvider::new(&server.base).credentials().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert_eq!(e.status(), Some(400));
    assert_eq!(server.requests().len(), 1);
}

/// An IMDS that does not do IMDSv2: the token PUT answers `status`, GETs need no token.
fn imds_v1_handler(status: u16) -> impl Fn(&Seen) -> Reply + Send + Sync + 'static {
    let expiration = in_an_hour();
    move |req| match (req.method.as_str(), req.path.as_str()) {
        ("PUT", _) => (status, "text/plain", String::new()),
        (_, _) if req.header("x-aws-ec2-metadata-token").is_some() => (400, "text/plain", String::new()),
        ("GET", "/latest/meta-data/iam/security-credentials/") => (200, "text/plain", "v1-role".to_owned()),
        ("GET", "/latest/meta-data/iam/security-credentials/v1-role") => (
            200,
            "text/plain",
            format!(
                r#"{{"Code":"Success","AccessKeyId":"ASIAIMDSV1","SecretAccessKey":"v1Secret","Token":"v1Token","Expiration":"{expiration}"}}"#
            ),
        ),
        _ => (404, "text/plain", String::new()),
    }
}

#[tokio::test]
async fn imds_v1_fallback_when_the_token_put_is_refused() {
    for status in [403, 404, 405] {
        let server = serve(imds_v1_handler(status)).await;
        let c = ImdsProvider::new(&server.base).credentials().await.unwrap();
        assert_eq!(c.access_key_id, "ASIAIMDSV1", "token answered {status}");
        assert_eq!(c.session_token.as_deref(), Some("v1Token"));
        let reqs = server.requests();
        let calls: Vec<_> = reqs.iter().map(|r| (r.method.as_str(), r.path.as_str())).collect();
        assert_eq!(
            calls,
            [
                ("PUT", "/latest/api/token"),
                ("GET", "/latest/meta-data/iam/security-credentials/"),
                ("GET", "/latest/meta-data/iam/security-credentials/v1-role"),
            ],
            "IMDSv2 is tried first, then v1"
        );
        assert!(reqs[1..].iter().all(|r| r.header("x-aws-ec2-metadata-token").is_none()));
    }
}

#[tokio::test]
async fn imds_v1_fallback_can_be_disabled() {
    let server = serve(imds_v1_handler(403)).await;
    let base = server.base.clone();
    let provider = ImdsProvider::from_vars(|k| match k {
        "AWS_EC2_METADATA_SERVICE_ENDPOINT" => Some(base.clone()),
        "AWS_EC2_METADATA_V1_DISABLED" => Some("true".into()),
        _ => None,
    });
    let e = provider.credentials().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert!(e.message().contains("AWS_EC2_METADATA_V1_DISABLED"), "{e}");
    assert_eq!(server.requests().len(), 1, "no tokenless request");
}

#[tokio::test]
async fn imds_unreachable_credentials_fail_fast_with_a_typed_error() {
    // A port nobody listens on: the connection is refused at once.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let e = ImdsProvider::new(format!("http://{addr}")).credentials().await.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Io | ErrorKind::Timeout), "{e}");
    assert!(e.message().contains("IMDS"), "{e}");
}

#[tokio::test]
async fn chain_credentials_order_and_combined_error() {
    let dir = tempfile::tempdir().unwrap();
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let failing: Vec<Arc<dyn CredentialsProvider>> = vec![
        Arc::new(ProfileProvider::new("default", dir.path().join("credentials"), dir.path().join("config"))),
        Arc::new(WebIdentityProvider::from_vars(|_| None)),
        Arc::new(EcsProvider::from_vars(|_| None)),
        Arc::new(ImdsProvider::new(format!("http://{closed}"))),
    ];
    let chain = ChainProvider::new(failing.clone())
        .with(Arc::new(StaticProvider::new("AKIDFIRST", "first-SECRET", None)))
        .with(Arc::new(StaticProvider::new("AKIDSECOND", "second-SECRET", None)));
    assert_eq!(chain.credentials().await.unwrap().access_key_id, "AKIDFIRST");

    let chain = ChainProvider::new(failing);
    let e = chain.credentials().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    let m = e.message();
    let positions: Vec<usize> =
        ["profile (", "web identity (", "ecs (", "imds ("].iter().map(|p| m.find(p).expect(m)).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{m}");
    assert!(m.contains("AWS_WEB_IDENTITY_TOKEN_FILE is not set"), "{m}");
    assert!(m.contains("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"), "{m}");
}

#[tokio::test]
async fn caching_credentials_share_one_sts_call() {
    let answer = sts_ok(&in_an_hour());
    let server = serve(move |_| (200, "text/xml", answer.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let sts = WebIdentityProvider::new("arn:aws:iam::1:role/r", token_file(&dir), None, &server.base);
    let cache = Arc::new(CachingProvider::new(Arc::new(sts)));
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.credentials().await.unwrap() })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().access_key_id, "ASIASTSEXAMPLE");
    }
    assert_eq!(cache.credentials().await.unwrap().access_key_id, "ASIASTSEXAMPLE");
    assert_eq!(server.requests().len(), 1);
    let shown = format!("{cache:?}");
    assert!(!shown.contains("stsSecretKey") && !shown.contains("FwoGZ") && !shown.contains("webtoken"), "{shown}");
}

#[test]
fn debug_output_of_credentials_and_providers_has_no_secrets() {
    let c = Credentials::new("AKIDVISIBLE", "secret-KEY-value", Some("session-TOKEN-value".into()));
    let providers: Vec<Arc<dyn CredentialsProvider>> = vec![
        Arc::new(StaticProvider::from_credentials(c.clone())),
        Arc::new(EcsProvider::new("http://127.0.0.1:1/x", Some(EcsAuth::Token("session-TOKEN-value".into())))),
        Arc::new(CachingProvider::new(Arc::new(StaticProvider::from_credentials(c.clone())))),
        default_chain(),
    ];
    let mut shown = format!("{c:?}");
    assert!(shown.contains("AKIDVISIBLE"), "{shown}");
    for p in &providers {
        shown.push_str(&format!("{p:?}"));
    }
    assert!(!shown.contains("secret-KEY-value") && !shown.contains("session-TOKEN-value"), "{shown}");
    assert!(shown.contains("EnvProvider") && shown.contains("ImdsProvider"), "{shown}");
}

// ---------------------------------------------------------------------------------------
// STS AssumeRole from profiles (source_profile, credential_source), signed with SigV4.

/// An `AssumeRoleResponse` issuing `ASIA{tag}` / `secret-{tag}` / `token-{tag}`.
fn assume_role_ok(tag: &str) -> String {
    format!(
        r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <SourceIdentity>Alice</SourceIdentity>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/demo/TestAR</Arn>
      <AssumedRoleId>ARO123EXAMPLE123:TestAR</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>ASIA{tag}</AccessKeyId>
      <SecretAccessKey>secret-{tag}</SecretAccessKey>
      <SessionToken>token-{tag}</SessionToken>
      <Expiration>{}</Expiration>
    </Credentials>
    <PackedPolicySize>6</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>"#,
        in_an_hour()
    )
}

/// An STS stand-in: answers `AssumeRole` for `arn:aws:iam::1:role/NAME` with credentials
/// tagged `NAME` (upper-case), `AccessDenied` for the role `denied`.
fn sts_server() -> impl Fn(&Seen) -> Reply + Send + Sync + 'static {
    |req| {
        let params = form(&req.body);
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
        if get("Action") != "AssumeRole" || req.header("authorization").is_none() {
            return (400, "text/xml", STS_ERROR.to_owned());
        }
        match get("RoleArn").strip_prefix("arn:aws:iam::1:role/") {
            Some("denied") => (
                403,
                "text/xml",
                "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not allowed to assume \
                 denied</Message></Error><RequestId>r</RequestId></ErrorResponse>"
                    .to_owned(),
            ),
            Some(name) => (200, "text/xml", assume_role_ok(&name.to_ascii_uppercase())),
            None => (400, "text/xml", STS_ERROR.to_owned()),
        }
    }
}

/// Checks the SigV4 signature of a request the STS stand-in received, by signing the same
/// request again with `secret` (service `sts`): returns the access key and region of the
/// credential scope.
fn verify_sts_signature(req: &Seen, secret: &str) -> (String, String) {
    use storage_s3::signing::{KeyCache, SigningInput, sha256_hex, sign_headers};
    let auth = req.header("authorization").expect("signed");
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256 Credential=").expect(auth);
    let (credential, rest) = rest.split_once(", SignedHeaders=").expect(auth);
    let (signed, _) = rest.split_once(", Signature=").expect(auth);
    let scope: Vec<&str> = credential.split('/').collect();
    let (access_key, region) = (scope[0].to_owned(), scope[2].to_owned());
    assert_eq!(scope[3], "sts", "{auth}");
    let time =
        chrono::NaiveDateTime::parse_from_str(req.header("x-amz-date").unwrap(), "%Y%m%dT%H%M%SZ").unwrap().and_utc();
    let mut headers = storage_http::http::HeaderMap::new();
    for name in signed.split(';') {
        let value = req.header(name).unwrap_or_else(|| panic!("signed header {name} was not sent"));
        headers.insert(storage_http::http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
    }
    let input = SigningInput {
        access_key_id: &access_key,
        secret,
        session_token: req.header("x-amz-security-token"),
        region: &region,
        service: "sts",
        time,
    };
    let hash = sha256_hex(req.body.as_bytes());
    sign_headers(&input, &KeyCache::default(), &req.method, "/", "", &mut headers, &hash).unwrap();
    assert_eq!(headers.get("authorization").unwrap().to_str().unwrap(), auth, "the signature verifies");
    (access_key, region)
}

fn param(req: &Seen, name: &str) -> Option<String> {
    form(&req.body).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

#[tokio::test]
async fn profile_assume_role_chain_signed_by_each_source() {
    let server = serve(sts_server()).await;
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials");
    let config = dir.path().join("config");
    std::fs::write(&creds, "[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = base-SECRET\n").unwrap();
    std::fs::write(
        &config,
        "[profile mid]\nrole_arn = arn:aws:iam::1:role/mid\nsource_profile = base\nexternal_id = ext-123\n\
         role_session_name = mid-session\nduration_seconds = 1800\nregion = eu-west-1\n\
         [profile top]\nrole_arn = arn:aws:iam::1:role/top\nsource_profile = mid\n",
    )
    .unwrap();
    let provider = ProfileProvider::new("top", &creds, &config).with_sts_endpoint(&server.base);
    let c = provider.credentials().await.unwrap();
    assert_eq!(c.access_key_id, "ASIATOP");
    assert_eq!(c.secret_access_key, "secret-TOP");
    assert_eq!(c.session_token.as_deref(), Some("token-TOP"));
    assert!(c.expires_at.is_some());

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "the source role first, then the asked one");
    let (first, second) = (&reqs[0], &reqs[1]);
    assert_eq!((first.method.as_str(), first.path.as_str()), ("POST", "/"));
    assert!(first.header("content-type").unwrap().starts_with("application/x-www-form-urlencoded"));
    assert_eq!(param(first, "Version").as_deref(), Some("2011-06-15"));
    assert_eq!(param(first, "RoleArn").as_deref(), Some("arn:aws:iam::1:role/mid"));
    assert_eq!(param(first, "ExternalId").as_deref(), Some("ext-123"));
    assert_eq!(param(first, "RoleSessionName").as_deref(), Some("mid-session"));
    assert_eq!(param(first, "DurationSeconds").as_deref(), Some("1800"));
    assert_eq!(first.header("x-amz-security-token"), None, "long-lived keys have no session token");
    assert_eq!(verify_sts_signature(first, "base-SECRET"), ("AKIDBASE".to_owned(), "eu-west-1".to_owned()));

    assert_eq!(param(second, "RoleArn").as_deref(), Some("arn:aws:iam::1:role/top"));
    assert_eq!(param(second, "ExternalId"), None);
    assert_eq!(param(second, "DurationSeconds"), None);
    assert!(param(second, "RoleSessionName").unwrap().starts_with("storage-rs-"));
    assert_eq!(second.header("x-amz-security-token"), Some("token-MID"), "the session token is propagated");
    assert_eq!(verify_sts_signature(second, "secret-MID"), ("ASIAMID".to_owned(), "us-east-1".to_owned()));
    assert!(!format!("{provider:?}").contains("base-SECRET"));
}

#[tokio::test]
async fn profile_assume_role_refusals_make_no_sts_call() {
    let server = serve(sts_server()).await;
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials");
    let config = dir.path().join("config");
    std::fs::write(&creds, "[keys]\naws_access_key_id = AKID\naws_secret_access_key = s\n").unwrap();
    std::fs::write(
        &config,
        "[profile a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = b\n\
         [profile b]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = c\n\
         [profile c]\nrole_arn = arn:aws:iam::1:role/c\nsource_profile = a\n\
         [profile selfish]\nrole_arn = arn:aws:iam::1:role/selfish\nsource_profile = selfish\n\
         [profile mfa]\nrole_arn = arn:aws:iam::1:role/mfa\nsource_profile = keys\n\
         mfa_serial = arn:aws:iam::1:mfa/alice\n\
         [profile both]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = keys\ncredential_source = Environment\n\
         [profile orphan]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = nowhere\n\
         [profile bogus]\nrole_arn = arn:aws:iam::1:role/x\ncredential_source = Floppy\n\
         [profile short]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = keys\nduration_seconds = 60\n",
    )
    .unwrap();
    let run = |name: &str| ProfileProvider::new(name, &creds, &config).with_sts_endpoint(&server.base);

    let e = run("a").credentials().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(e.message().contains(r#""a" -> "b" -> "c" -> "a""#), "{e}");
    let e = run("selfish").credentials().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "a profile naming itself without keys loops: {e}");

    let e = run("mfa").credentials().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(e.message().contains("mfa_serial") && e.message().contains("not supported"), "{e}");
    assert!(e.hint().contains("export-credentials"), "{}", e.hint());

    for (name, needle) in [
        ("both", "both source_profile and credential_source"),
        ("orphan", "\"nowhere\""),
        ("bogus", "Floppy"),
        ("short", "900 s"),
    ] {
        let e = run(name).credentials().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{name}: {e}");
        assert!(e.message().contains(needle), "{name}: {e}");
    }
    assert!(server.requests().is_empty(), "no refused profile reaches STS");
}

#[tokio::test]
async fn profile_assume_role_self_source_denied_and_cached() {
    let server = serve(sts_server()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        "[profile selfkeys]\nrole_arn = arn:aws:iam::1:role/selfkeys\nsource_profile = selfkeys\n\
         aws_access_key_id = AKIDSELF\naws_secret_access_key = self-SECRET\n\
         [profile denied]\nrole_arn = arn:aws:iam::1:role/denied\nsource_profile = selfkeys\n",
    )
    .unwrap();
    let run = |name: &str| {
        ProfileProvider::new(name, dir.path().join("credentials"), &config).with_sts_endpoint(&server.base)
    };

    // A profile naming itself assumes its role with its own keys; cached, one STS call.
    let cache = CachingProvider::new(Arc::new(run("selfkeys")));
    assert_eq!(cache.credentials().await.unwrap().access_key_id, "ASIASELFKEYS");
    assert_eq!(cache.credentials().await.unwrap().access_key_id, "ASIASELFKEYS");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(verify_sts_signature(&reqs[0], "self-SECRET").0, "AKIDSELF");

    let e = run("denied").credentials().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e}");
    assert_eq!(e.provider_code(), Some("AccessDenied"));
    assert_eq!(e.status(), Some(403));
    assert!(e.message().contains("STS AssumeRole failed") && e.message().contains("not allowed"), "{e}");
    assert!(!format!("{e} {e:?}").contains("SECRET"), "{e:?}");
}

#[tokio::test]
async fn profile_assume_role_from_credential_source_imds_and_ecs() {
    let sts = serve(sts_server()).await;
    let imds = serve(imds_handler(in_an_hour())).await;
    let ecs_body = r#"{"AccessKeyId":"ASIAECSSRC","SecretAccessKey":"ecs-src-secret","Token":"ecs-src-token","Expiration":"2099-01-01T00:00:00Z"}"#;
    let ecs = serve(move |_| (200, "application/json", ecs_body.to_owned())).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        "[profile onec2]\nrole_arn = arn:aws:iam::1:role/onec2\ncredential_source = Ec2InstanceMetadata\n\
         [profile onecs]\nrole_arn = arn:aws:iam::1:role/onecs\ncredential_source = EcsContainer\n",
    )
    .unwrap();
    let run = |name: &str| {
        ProfileProvider::new(name, dir.path().join("credentials"), &config)
            .with_sts_endpoint(&sts.base)
            .with_imds(ImdsProvider::new(&imds.base))
            .with_ecs(EcsProvider::new(format!("{}/creds", ecs.base), None))
    };
    assert_eq!(run("onec2").credentials().await.unwrap().access_key_id, "ASIAONEC2");
    assert_eq!(run("onecs").credentials().await.unwrap().access_key_id, "ASIAONECS");
    let reqs = sts.requests();
    assert_eq!(reqs[0].header("x-amz-security-token"), Some("imdsToken"));
    assert_eq!(verify_sts_signature(&reqs[0], "imdsSecret").0, "ASIAIMDS");
    assert_eq!(reqs[1].header("x-amz-security-token"), Some("ecs-src-token"));
    assert_eq!(verify_sts_signature(&reqs[1], "ecs-src-secret").0, "ASIAECSSRC");
    assert_eq!(imds.requests().len(), 3);
    assert_eq!(ecs.requests().len(), 1);
}

#[tokio::test]
async fn assume_role_provider_on_its_own() {
    let server = serve(sts_server()).await;
    let source = Arc::new(StaticProvider::new("AKIDSRC", "src-SECRET", Some("src-token".into())));
    let provider = AssumeRoleProvider::new(source, "arn:aws:iam::1:role/direct")
        .region("ap-southeast-2")
        .endpoint(&server.base)
        .session_name("direct-session")
        .external_id("ext-SECRETISH")
        .duration(std::time::Duration::from_secs(3600));
    let c = provider.credentials().await.unwrap();
    assert_eq!(c.access_key_id, "ASIADIRECT");
    let req = &server.requests()[0];
    assert_eq!(verify_sts_signature(req, "src-SECRET"), ("AKIDSRC".to_owned(), "ap-southeast-2".to_owned()));
    assert_eq!(req.header("x-amz-security-token"), Some("src-token"));
    assert_eq!(param(req, "DurationSeconds").as_deref(), Some("3600"));
    assert_eq!(param(req, "ExternalId").as_deref(), Some("ext-SECRETISH"));
    let shown = format!("{provider:?}");
    assert!(!shown.contains("src-SECRET") && !shown.contains("ext-SECRETISH"), "{shown}");
    assert!(shown.contains("arn:aws:iam::1:role/direct"), "{shown}");
}

// ---------------------------------------------------------------------------------------
// SSO profiles, with the AWS CLI's token cache.

const SSO_TOKEN: &str = "sso-access-TOKEN-value";

/// Writes the CLI's token cache file for `key` (session name or start URL).
fn sso_cache(dir: &std::path::Path, key: &str, expires_at: &str) {
    let cache = dir.join("sso-cache");
    std::fs::create_dir_all(&cache).unwrap();
    let name = format!("{}.json", sha1_smol::Sha1::from(key.as_bytes()).digest());
    std::fs::write(
        cache.join(name),
        format!(
            r#"{{"startUrl": "https://d-1.awsapps.com/start", "region": "eu-west-1", "accessToken": "{SSO_TOKEN}",
               "expiresAt": "{expires_at}", "clientId": "c", "clientSecret": "cs", "refreshToken": "r"}}"#
        ),
    )
    .unwrap();
}

fn sso_portal() -> impl Fn(&Seen) -> Reply + Send + Sync + 'static {
    |req| {
        if req.header("x-amz-sso_bearer_token") != Some(SSO_TOKEN) {
            return (401, "application/json", r#"{"message":"Session token not found or invalid"}"#.to_owned());
        }
        let millis = (Utc::now() + TimeDelta::hours(1)).timestamp_millis();
        (
            200,
            "application/json",
            format!(
                r#"{{"roleCredentials":{{"accessKeyId":"ASIASSO","secretAccessKey":"sso-secret","sessionToken":"sso-session","expiration":{millis}}}}}"#
            ),
        )
    }
}

#[tokio::test]
async fn profile_sso_session_credentials_from_the_portal() {
    let portal = serve(sso_portal()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        "[profile dev]\nsso_session = my-sso\nsso_account_id = 123456789012\nsso_role_name = Read Only\n\
         region = us-west-2\n\
         [sso-session my-sso]\nsso_start_url = https://d-1.awsapps.com/start\nsso_region = eu-west-1\n\
         sso_registration_scopes = sso:account:access\n\
         [profile legacy]\nsso_start_url = https://d-1.awsapps.com/start\nsso_region = eu-west-1\n\
         sso_account_id = 210987654321\nsso_role_name = Admin\n",
    )
    .unwrap();
    sso_cache(dir.path(), "my-sso", &in_an_hour());
    sso_cache(dir.path(), "https://d-1.awsapps.com/start", "2099-01-01T00:00:00UTC");
    let run = |name: &str| {
        ProfileProvider::new(name, dir.path().join("credentials"), &config)
            .with_sso_endpoint(&portal.base)
            .with_sso_cache_dir(dir.path().join("sso-cache"))
    };
    let c = run("dev").credentials().await.unwrap();
    assert_eq!(c.access_key_id, "ASIASSO");
    assert_eq!(c.secret_access_key, "sso-secret");
    assert_eq!(c.session_token.as_deref(), Some("sso-session"));
    let expires = c.expires_at.unwrap();
    assert!(expires > Utc::now() + TimeDelta::minutes(59) && expires < Utc::now() + TimeDelta::minutes(61));
    assert_eq!(run("legacy").credentials().await.unwrap().access_key_id, "ASIASSO");

    let reqs = portal.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].target, "/federation/credentials?role_name=Read%20Only&account_id=123456789012");
    assert_eq!(reqs[0].header("x-amz-sso_bearer_token"), Some(SSO_TOKEN));
    assert_eq!(reqs[1].target, "/federation/credentials?role_name=Admin&account_id=210987654321");
    assert!(!format!("{:?}", run("dev")).contains(SSO_TOKEN));
}

#[tokio::test]
async fn profile_sso_expired_or_refused_token_says_to_log_in() {
    let portal = serve(sso_portal()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        "[profile dev]\nsso_session = s\nsso_account_id = 1\nsso_role_name = r\n\
         [sso-session s]\nsso_start_url = https://d-1.awsapps.com/start\nsso_region = eu-west-1\n\
         [profile nologin]\nsso_session = other\nsso_account_id = 1\nsso_role_name = r\n\
         [sso-session other]\nsso_start_url = https://d-2.awsapps.com/start\nsso_region = eu-west-1\n\
         [profile nosection]\nsso_session = ghost\nsso_account_id = 1\nsso_role_name = r\n",
    )
    .unwrap();
    let run = |name: &str| {
        ProfileProvider::new(name, dir.path().join("credentials"), &config)
            .with_sso_endpoint(&portal.base)
            .with_sso_cache_dir(dir.path().join("sso-cache"))
    };
    // Expired: no portal call.
    sso_cache(dir.path(), "s", "2020-01-01T00:00:00Z");
    let e = run("dev").credentials().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e}");
    assert!(e.message().contains("expired"), "{e}");
    assert!(e.hint().contains("aws sso login --profile dev"), "{}", e.hint());
    assert!(portal.requests().is_empty());
    // Never logged in: no cache file.
    let e = run("nologin").credentials().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e}");
    assert!(e.hint().contains("aws sso login --profile nologin"), "{}", e.hint());
    // No [sso-session] section: a configuration mistake.
    let e = run("nosection").credentials().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(e.message().contains("[sso-session ghost]"), "{e}");
    // A token the portal no longer accepts (signed out elsewhere).
    std::fs::write(
        dir.path().join("sso-cache").join(format!("{}.json", sha1_smol::Sha1::from(b"s").digest())),
        format!(r#"{{"accessToken": "revoked", "expiresAt": "{}"}}"#, in_an_hour()),
    )
    .unwrap();
    let e = run("dev").credentials().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e}");
    assert_eq!(e.status(), Some(401));
    assert!(e.hint().contains("aws sso login --profile dev"), "{}", e.hint());
    assert!(!format!("{e} {e:?}").contains("revoked"), "{e:?}");
}
