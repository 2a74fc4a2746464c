//! IBM Cloud Object Storage with IAM API-key authentication: tokens from an in-process
//! IAM server, sent as `Authorization: Bearer` to an in-process S3-ish server (headers
//! recorded) and to moto (a real S3 server, which ignores authentication); the token is
//! cached and refreshed; the API key never shows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use storage_core::{Driver, DriverConfig, DriverExt, ErrorKind, PutOptions, Registry, SignedUrlOptions};
use storage_s3::ibm::{IbmCosFactory, IbmIam};
use storage_s3::{S3Config, S3Driver};

mod common;
use common::{Seen, Server, form, serve};

const API_KEY: &str = "ibm-API-KEY-do-not-print-0123456789";
const INSTANCE: &str = "crn:v1:bluemix:public:cloud-object-storage:global:a/acct:instance-guid::";

/// An IAM stand-in: token `tok-N` for call N; `lifetimes[N]` seconds (the last repeats).
/// A wrong API key gets IAM's `BXNIM0415E` answer.
async fn iam_server(lifetimes: &'static [i64]) -> Server {
    let calls = AtomicUsize::new(0);
    serve(move |req: &Seen| {
        let params = form(&req.body);
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        if req.method != "POST"
            || req.path != "/identity/token"
            || get("grant_type") != Some("urn:ibm:params:oauth:grant-type:apikey")
        {
            return (400, "application/json", r#"{"errorCode":"BXNIM0109E","errorMessage":"bad request"}"#.into());
        }
        if get("apikey") != Some(API_KEY) {
            return (
                400,
                "application/json",
                r#"{"errorCode":"BXNIM0415E","errorMessage":"Provided API key could not be found.","context":{}}"#
                    .into(),
            );
        }
        let n = calls.fetch_add(1, Ordering::SeqCst);
        let life = lifetimes.get(n).or(lifetimes.last()).copied().unwrap_or(3600);
        let now = chrono::Utc::now().timestamp();
        (
            200,
            "application/json",
            format!(
                r#"{{"access_token":"tok-{n}","refresh_token":"not_supported","token_type":"Bearer","expires_in":{life},"expiration":{},"scope":"ibm openid"}}"#,
                now + life
            ),
        )
    })
    .await
}

/// An S3-ish stand-in: lists one bucket, accepts bucket and object PUTs.
async fn cos_server() -> Server {
    serve(|req: &Seen| match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/") => (
            200,
            "application/xml",
            r#"<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>o</ID></Owner>
<Buckets><Bucket><Name>existing</Name><CreationDate>2024-01-01T00:00:00.000Z</CreationDate></Bucket></Buckets>
</ListAllMyBucketsResult>"#
                .into(),
        ),
        ("PUT", _) => (200, "application/xml", String::new()),
        _ => (404, "application/xml", "<Error><Code>NoSuchKey</Code><Message>no</Message></Error>".into()),
    })
    .await
}

fn iam(iam: &Server) -> IbmIam {
    IbmIam::new(API_KEY).service_instance_id(INSTANCE).iam_endpoint(&iam.base)
}

#[tokio::test]
async fn a_lifetime_too_long_for_a_time_is_taken_as_an_hour() {
    // `expires_in` beyond what a time can hold panicked in chrono (the Azure and GCS token
    // answers had the same bug, found with `cargo xtask fuzz credential_output`).
    let srv = serve(|_req: &Seen| {
        let body = r#"{"access_token":"tok-long","token_type":"Bearer","expires_in":9223372036854775807}"#;
        (200, "application/json", body.into())
    })
    .await;
    let provider = iam(&srv).token_provider();
    let token = provider.token().await.unwrap();
    assert_eq!(token.token, "tok-long");
    let hour = chrono::Utc::now() + chrono::TimeDelta::hours(1);
    assert!((token.expires_at - hour).num_seconds().abs() <= 5, "{}", token.expires_at);
}

#[tokio::test]
async fn requests_carry_a_cached_bearer_token_refreshed_before_expiry() {
    // The first token lives 60 s (inside the 5-minute refresh window), the next an hour.
    let iam_srv = iam_server(&[60, 3600]).await;
    let cos = cos_server().await;
    let s3 = S3Driver::new(S3Config::new().endpoint(&cos.base).region("us-south").ibm_iam(iam(&iam_srv))).unwrap();

    let buckets = s3.list_containers_page(None).await.unwrap().items;
    assert_eq!(buckets.iter().map(|b| b.name.as_str()).collect::<Vec<_>>(), ["existing"]);
    s3.create_container("new-bucket").await.unwrap();
    s3.put_object("new-bucket", "a/b.txt", "hi".into(), &PutOptions::default()).await.unwrap();
    s3.put_object("new-bucket", "c.txt", "yo".into(), &PutOptions::default()).await.unwrap();

    let tokens = iam_srv.requests();
    assert_eq!(tokens.len(), 2, "one fetch, one refresh of the short-lived token, then reuse");
    let params = form(&tokens[0].body);
    assert!(params.contains(&("apikey".to_owned(), API_KEY.to_owned())));
    assert!(tokens[0].header("content-type").unwrap().starts_with("application/x-www-form-urlencoded"));
    assert_eq!(tokens[0].header("accept"), Some("application/json"));

    let reqs = cos.requests();
    let seen: Vec<_> = reqs.iter().map(|r| (r.method.as_str(), r.path.as_str(), r.header("authorization"))).collect();
    assert_eq!(
        seen,
        [
            ("GET", "/", Some("Bearer tok-0")),
            ("HEAD", "/new-bucket", Some("Bearer tok-1")),
            ("PUT", "/new-bucket", Some("Bearer tok-1")),
            ("PUT", "/new-bucket/a/b.txt", Some("Bearer tok-1")),
            ("PUT", "/new-bucket/c.txt", Some("Bearer tok-1")),
        ]
    );
    // The instance id goes with listing and creating buckets only.
    let instance: Vec<_> = reqs.iter().map(|r| r.header("ibm-service-instance-id")).collect();
    assert_eq!(instance, [Some(INSTANCE), None, Some(INSTANCE), None, None]);
    // No SigV4 at all.
    assert!(reqs.iter().all(|r| r.header("x-amz-date").is_none() && r.header("x-amz-security-token").is_none()));
}

#[tokio::test]
async fn the_api_key_never_shows_in_debug_or_errors() {
    let iam_srv = iam_server(&[3600]).await;
    let cos = cos_server().await;
    let wrong = IbmIam::new("wrong-KEY-also-secret").iam_endpoint(&iam_srv.base);
    let config = S3Config::new().endpoint(&cos.base).ibm_iam(wrong);
    let s3 = S3Driver::new(config.clone()).unwrap();
    let e = s3.list_containers_page(None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e}");
    assert_eq!(e.provider_code(), Some("BXNIM0415E"));
    assert!(e.message().contains("Provided API key could not be found"), "{e}");
    assert!(cos.requests().is_empty(), "nothing reaches COS without a token");

    let good = S3Config::new().endpoint(&cos.base).ibm_iam(iam(&iam_srv));
    let registry_built = IbmCosFactory::config(
        &DriverConfig::new().set("api_key", API_KEY).set("region", "eu-de").set("service_instance_id", INSTANCE),
        |_| None,
    )
    .unwrap();
    let shown = format!(
        "{e} {e:?} {config:?} {s3:?} {good:?} {:?} {registry_built:?} {:?}",
        iam(&iam_srv),
        iam(&iam_srv).token_provider()
    );
    for secret in [API_KEY, "wrong-KEY-also-secret"] {
        assert!(!shown.contains(secret), "{secret} shown in {shown}");
    }
    assert!(shown.contains("<redacted>") && shown.contains(INSTANCE), "{shown}");
    // And the config map redacts it too.
    assert!(!format!("{:?}", DriverConfig::new().set("api_key", API_KEY)).contains(API_KEY));
}

#[tokio::test]
async fn presigned_urls_need_hmac_keys() {
    let iam_srv = iam_server(&[3600]).await;
    let cos = cos_server().await;
    let iam_only = S3Driver::new(S3Config::new().endpoint(&cos.base).ibm_iam(iam(&iam_srv))).unwrap();
    assert!(!iam_only.info().capabilities.signed_urls);
    let e = iam_only.signed_url("bucket", "k", &SignedUrlOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotSupported);
    assert!(e.hint().contains("HMAC"), "{}", e.hint());

    let both = S3Driver::new(
        S3Config::new().endpoint(&cos.base).ibm_iam(iam(&iam_srv)).static_credentials("HMACKEYID", "hmac-secret"),
    )
    .unwrap();
    assert!(both.info().capabilities.signed_urls);
    let url = both.signed_url("bucket", "k", &SignedUrlOptions::default()).await.unwrap();
    assert!(url.contains("X-Amz-Credential=HMACKEYID") && url.contains("X-Amz-Signature="), "{url}");
    // Requests still use IAM.
    both.create_container("bucket").await.unwrap();
    assert_eq!(cos.requests()[0].header("authorization"), Some("Bearer tok-0"));
}

#[test]
fn cos_urls_and_the_ibm_cos_name_reach_the_factory() {
    let mut registry = Registry::new();
    registry.register(Arc::new(storage_s3::S3Factory));
    registry.register(Arc::new(IbmCosFactory));
    let known = registry.known_schemes();
    assert!(known.contains(&"cos".to_owned()) && known.contains(&"ibm_cos".to_owned()), "{known:?}");
    let options = DriverConfig::new().set("api_key", API_KEY).set("region", "us-south");
    let at = registry.open("cos://my-bucket/some/key", &options).unwrap();
    assert_eq!((at.container.as_deref(), at.key.as_deref()), (Some("my-bucket"), Some("some/key")));
    let shown = format!("{:?}", at.driver);
    assert!(shown.contains("https://s3.us-south.cloud-object-storage.appdomain.cloud"), "{shown}");
    assert!(!shown.contains(API_KEY), "{shown}");
    assert!(registry.build("ibm_cos", &options).is_ok());
    // A misspelt option is refused like the S3 driver's.
    let e = registry.build("cos", &options.clone().set("privte_endpoint", "true")).err().unwrap();
    assert!(e.message().contains("did you mean \"private_endpoint\""), "{e}");
}

#[test]
fn ibm_cos_config_from_options_and_environment() {
    let env = |k: &str| match k {
        "IBM_API_KEY" => Some("env-KEY".to_owned()),
        "IBM_SERVICE_INSTANCE_ID" => Some("env-instance".to_owned()),
        "IBM_IAM_ENDPOINT" => Some("https://private.iam.cloud.ibm.com".to_owned()),
        _ => None,
    };
    let c = IbmCosFactory::config(&DriverConfig::new().set("region", "eu-de").set("private_endpoint", "true"), env)
        .unwrap();
    assert_eq!(c.endpoint.as_deref(), Some("https://s3.private.eu-de.cloud-object-storage.appdomain.cloud"));
    assert_eq!(c.region, "eu-de");
    let iam = c.ibm_iam.as_ref().unwrap();
    assert_eq!(iam.service_instance_id.as_deref(), Some("env-instance"));
    assert_eq!(iam.iam_endpoint, "https://private.iam.cloud.ibm.com");
    assert!(c.credentials.is_none(), "IAM alone: the AWS chain is not consulted");

    // Options win over the environment.
    let c = IbmCosFactory::config(
        &DriverConfig::new()
            .set("endpoint", "https://s3.direct.us-south.cloud-object-storage.appdomain.cloud")
            .set("ibm_api_key", "opt-KEY")
            .set("service_instance_id", "opt-instance")
            .set("iam_endpoint", "http://127.0.0.1:1"),
        env,
    )
    .unwrap();
    assert_eq!(c.endpoint.as_deref(), Some("https://s3.direct.us-south.cloud-object-storage.appdomain.cloud"));
    let iam = c.ibm_iam.as_ref().unwrap();
    assert_eq!(
        (iam.service_instance_id.as_deref(), iam.iam_endpoint.as_str()),
        (Some("opt-instance"), "http://127.0.0.1:1")
    );

    // HMAC keys alone: SigV4, no IAM.
    let hmac = DriverConfig::new().set("region", "us-south").set("access_key_id", "A").set("secret_access_key", "S");
    let c = IbmCosFactory::config(&hmac, env).unwrap();
    assert!(c.ibm_iam.is_none() && c.credentials.is_some());

    // Nothing to authenticate with, or nowhere to go: typed errors.
    let e = IbmCosFactory::config(&DriverConfig::new().set("region", "us-south"), |_| None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert!(e.message().contains("IBM_API_KEY"), "{e}");
    let e = IbmCosFactory::config(&DriverConfig::new().set("api_key", "k"), |_| None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().contains("region"), "{e}");
    // The S3 driver refuses IBM options without the key that gives them a meaning.
    let e = S3Config::from_config(&DriverConfig::new().set("service_instance_id", "x")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
}

/// Against moto (a real S3 implementation; it ignores authentication, so Bearer requests
/// are served): the whole object cycle with IAM tokens from the in-process IAM server.
#[tokio::test]
async fn object_cycle_against_moto_with_iam_tokens() {
    let iam_srv = iam_server(&[3600]).await;
    let endpoint = storage_testkit::env("EMU_S3_MOTO_ENDPOINT");
    let s3 = S3Driver::new(S3Config::new().endpoint(endpoint).ibm_iam(iam(&iam_srv))).unwrap();
    let bucket = format!("ibm-cos-{}", std::process::id());
    let _ = s3.delete_prefix(&bucket, "").await;
    let _ = s3.delete_container(&bucket).await;
    s3.create_container(&bucket).await.unwrap();
    s3.put_object(&bucket, "dir/hello.txt", "hello from IAM".into(), &PutOptions::default()).await.unwrap();
    assert_eq!(s3.get_bytes(&bucket, "dir/hello.txt").await.unwrap(), "hello from IAM");
    assert_eq!(s3.head_object(&bucket, "dir/hello.txt").await.unwrap().size, 14);
    assert_eq!(s3.list_keys(&bucket, Some("dir/")).await.unwrap(), ["dir/hello.txt"]);
    assert!(s3.list_containers_page(None).await.unwrap().items.iter().any(|c| c.name == bucket));
    s3.delete_object(&bucket, "dir/hello.txt").await.unwrap();
    s3.delete_container(&bucket).await.unwrap();
    assert_eq!(iam_srv.requests().len(), 1, "one token for the whole cycle");
}

#[tokio::test]
async fn a_token_the_server_refuses_is_replaced_once() {
    // IAM tokens live an hour, but COS refuses tok-0 (revoked): the driver fetches tok-1
    // and sends the request again, once.
    let iam_srv = iam_server(&[3600]).await;
    let cos = serve(|req: &Seen| match req.header("authorization") {
        Some("Bearer tok-0") => {
            (401, "application/xml", "<Error><Code>AccessDenied</Code><Message>expired</Message></Error>".into())
        }
        _ => (200, "application/xml", String::new()),
    })
    .await;
    let s3 = S3Driver::new(S3Config::new().endpoint(&cos.base).region("us-south").ibm_iam(iam(&iam_srv))).unwrap();
    s3.put_object("bucket", "k", "hi".into(), &PutOptions::default()).await.unwrap();
    s3.put_object("bucket", "k2", "yo".into(), &PutOptions::default()).await.unwrap();
    assert_eq!(iam_srv.requests().len(), 2, "one refresh after the refusal, then the new token kept");
    let seen: Vec<_> =
        cos.requests().iter().map(|r| (r.path.clone(), r.header("authorization").map(str::to_owned))).collect();
    let bearer = |t: &str| Some(format!("Bearer {t}"));
    assert_eq!(
        seen,
        [
            ("/bucket/k".to_owned(), bearer("tok-0")),
            ("/bucket/k".to_owned(), bearer("tok-1")),
            ("/bucket/k2".to_owned(), bearer("tok-1")),
        ]
    );
    assert!(cos.requests()[1].bytes == b"hi", "the body is sent again whole");
}
