//! Signatures proven by a server that verifies them: Azurite checks SharedKey and SAS.
//! A wrong key, a tampered SAS and an expired SAS are refused with typed errors that
//! hold no secret; SAS URLs made here work with a plain HTTP client; a driver
//! authorized by a SAS token works within what the token grants.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use storage_azure::signing::{SasParams, sas_time, service_sas};
use storage_azure::{AzureConfig, AzureDriver, EMULATOR_ACCOUNT, EMULATOR_KEY};
use storage_core::{Driver, DriverExt, ErrorKind, PutOptions, SignedMethod, SignedUrlOptions};
use storage_http::http::Method;
use storage_http::{HttpClient, HttpConfig, HttpRequest, RequestBody, Unsigned};

fn endpoint() -> String {
    std::env::var("AZURITE_BLOB_ENDPOINT").unwrap_or_else(|_| {
        panic!("AZURITE_BLOB_ENDPOINT is not set: run `cargo xtask test`, or `cargo xtask emulators start azurite`")
    })
}

fn good() -> AzureDriver {
    AzureDriver::new(AzureConfig::emulator().endpoint(endpoint())).unwrap()
}

fn container(tag: &str) -> String {
    format!("sig-{tag}-{}", std::process::id())
}

async fn fresh(tag: &str) -> (AzureDriver, String) {
    let d = good();
    let c = container(tag);
    let _ = d.create_container(&c).await;
    d.put_object(&c, "k.txt", "signed data".into(), &PutOptions::default()).await.unwrap();
    (d, c)
}

fn plain_client() -> HttpClient {
    HttpClient::new(HttpConfig { allow_http: true, ..Default::default() }).unwrap()
}

async fn plain(method: Method, url: &str, body: Option<&'static str>) -> (u16, String) {
    let mut req = HttpRequest::parse(method, url, "test").unwrap();
    if let Some(b) = body {
        req = req.header("x-ms-blob-type", "BlockBlob").unwrap().body(RequestBody::Bytes(b.into()));
    }
    let resp = plain_client().execute(&req, &Unsigned).await.unwrap();
    let status = resp.status.as_u16();
    (status, String::from_utf8_lossy(&resp.bytes().await.unwrap()).into_owned())
}

fn no_secret(e: &storage_core::Error, secrets: &[&str]) {
    let shown = format!("{e} {e:?}");
    for s in secrets {
        assert!(!shown.contains(s), "{s} leaked into {shown}");
    }
}

#[tokio::test]
async fn a_wrong_account_key_is_refused_without_echoing_it() {
    let (_, c) = fresh("wrongkey").await;
    let wrong = "d3JvbmdrZXl3cm9uZ2tleXdyb25na2V5d3Jvbmc=";
    let d =
        AzureDriver::new(AzureConfig::new(EMULATOR_ACCOUNT).endpoint(endpoint()).account_key(wrong).unwrap()).unwrap();
    let e = d.get_bytes(&c, "k.txt").await.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::PermissionDenied | ErrorKind::Unauthenticated), "{e}");
    assert_eq!(e.status(), Some(403));
    no_secret(&e, &[wrong, EMULATOR_KEY]);
    let e = d.put_object(&c, "other.txt", "x".into(), &PutOptions::default()).await.unwrap_err();
    assert_eq!(e.status(), Some(403));
    // Nothing was written.
    assert_eq!(good().head_object(&c, "other.txt").await.unwrap_err().kind(), ErrorKind::ObjectDoesNotExist);
}

#[tokio::test]
async fn signed_urls_work_with_a_plain_client_and_tampering_is_refused() {
    let (d, c) = fresh("urls").await;
    let get = d.signed_url(&c, "k.txt", &SignedUrlOptions::default()).await.unwrap();
    assert!(get.contains("sig=") && get.contains("sp=r"), "{get}");
    assert_eq!(plain(Method::GET, &get, None).await, (200, "signed data".to_owned()));
    // The same URL does not allow a write.
    assert_eq!(plain(Method::PUT, &get, Some("overwritten")).await.0, 403);
    assert_eq!(d.get_bytes(&c, "k.txt").await.unwrap(), "signed data");
    // One character of the signature changed.
    let (head, sig) = get.split_once("sig=").unwrap();
    let mut bad = sig.to_owned();
    let first = bad.remove(0);
    let tampered = format!("{head}sig={}{bad}", if first == 'A' { 'B' } else { 'A' });
    assert_eq!(plain(Method::GET, &tampered, None).await.0, 403);
    // A widened permission is a tampered SAS too.
    assert_eq!(plain(Method::PUT, &get.replace("sp=r", "sp=rcw"), Some("x")).await.0, 403);
    // PUT and DELETE URLs.
    let put = d
        .signed_url(&c, "up.txt", &SignedUrlOptions { method: SignedMethod::Put, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(plain(Method::PUT, &put, Some("via sas")).await.0, 201);
    assert_eq!(d.get_bytes(&c, "up.txt").await.unwrap(), "via sas");
    let del = d
        .signed_url(&c, "up.txt", &SignedUrlOptions { method: SignedMethod::Delete, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(plain(Method::DELETE, &del, None).await.0, 202);
    assert_eq!(d.head_object(&c, "up.txt").await.unwrap_err().kind(), ErrorKind::ObjectDoesNotExist);
    // Lifetimes outside 1 s..7 days are refused before anything is signed.
    let long = SignedUrlOptions { expires_in: Duration::from_secs(8 * 24 * 3600), ..Default::default() };
    assert_eq!(d.signed_url(&c, "k.txt", &long).await.unwrap_err().kind(), ErrorKind::Config);
}

fn container_sas(
    c: &str,
    permissions: &str,
    start: chrono::DateTime<chrono::Utc>,
    expiry: chrono::DateTime<chrono::Utc>,
) -> String {
    let key = base64_decode(EMULATOR_KEY);
    let params = SasParams {
        permissions,
        start: Some(sas_time(start)),
        expiry: sas_time(expiry),
        canonical_resource: format!("/blob/{EMULATOR_ACCOUNT}/{c}"),
        resource: "c",
        protocol: "https,http",
    };
    service_sas(&key, &params)
}

fn base64_decode(s: &str) -> Vec<u8> {
    storage_azure::credentials::AccountKey::from_base64(s).unwrap().bytes().to_vec()
}

#[tokio::test]
async fn an_expired_sas_is_refused() {
    let (d, c) = fresh("expired").await;
    let now = chrono::Utc::now();
    let expired = container_sas(&c, "rl", now - chrono::TimeDelta::hours(2), now - chrono::TimeDelta::hours(1));
    let url = format!("{}/{c}/k.txt?{expired}", endpoint());
    assert_eq!(plain(Method::GET, &url, None).await.0, 403);
    let via =
        AzureDriver::new(AzureConfig::new(EMULATOR_ACCOUNT).endpoint(endpoint()).sas_token(&expired).unwrap()).unwrap();
    let e = via.get_bytes(&c, "k.txt").await.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::PermissionDenied | ErrorKind::Unauthenticated), "{e}");
    let sig = expired.split("sig=").nth(1).unwrap();
    no_secret(&e, &[sig]);
    assert_eq!(d.get_bytes(&c, "k.txt").await.unwrap(), "signed data");
}

#[tokio::test]
async fn a_driver_authorized_by_a_sas_works_within_its_grant() {
    let (d, c) = fresh("sasdriver").await;
    let now = chrono::Utc::now();
    let read_list = container_sas(&c, "rl", now - chrono::TimeDelta::minutes(5), now + chrono::TimeDelta::hours(1));
    let ro = AzureDriver::new(AzureConfig::new(EMULATOR_ACCOUNT).endpoint(endpoint()).sas_token(&read_list).unwrap())
        .unwrap();
    assert_eq!(ro.get_bytes(&c, "k.txt").await.unwrap(), "signed data");
    assert_eq!(ro.list_keys(&c, None).await.unwrap(), ["k.txt"]);
    let e = ro.put_object(&c, "no.txt", "x".into(), &PutOptions::default()).await.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::PermissionDenied | ErrorKind::Unauthenticated), "{e}");
    let all = container_sas(&c, "racwdl", now - chrono::TimeDelta::minutes(5), now + chrono::TimeDelta::hours(1));
    let rw =
        AzureDriver::new(AzureConfig::new(EMULATOR_ACCOUNT).endpoint(endpoint()).sas_token(&all).unwrap()).unwrap();
    rw.put_object(&c, "yes.txt", "written with a sas".into(), &PutOptions::default()).await.unwrap();
    assert_eq!(d.get_bytes(&c, "yes.txt").await.unwrap(), "written with a sas");
    // A copy with a SAS credential takes the asynchronous Copy Blob path (no key to sign
    // a source SAS for Copy Blob From URL), polled to completion.
    let copied = rw.copy_object(&c, "yes.txt", &c, "copy.txt", &Default::default()).await.unwrap();
    assert_eq!(copied.size, 18);
    assert_eq!(d.get_bytes(&c, "copy.txt").await.unwrap(), "written with a sas");
    // A SAS cannot sign another one.
    assert_eq!(
        rw.signed_url(&c, "yes.txt", &SignedUrlOptions::default()).await.unwrap_err().kind(),
        ErrorKind::NotSupported
    );
    // Batch deletes fall back to one request per key (sub-requests cannot carry the SAS).
    let outcomes = rw.delete_batch(&c, &["yes.txt".into(), "copy.txt".into(), "missing.txt".into()]).await.unwrap();
    assert!(outcomes.iter().all(|o| o.result.is_ok()), "{outcomes:?}");
    // Debug output never shows the token.
    let sig = all.split("sig=").nth(1).unwrap();
    assert!(!format!("{rw:?}").contains(sig));
}

#[tokio::test]
async fn connection_strings_reach_azurite() {
    let (_, c) = fresh("connstr").await;
    let cs = format!(
        "DefaultEndpointsProtocol=http;AccountName={EMULATOR_ACCOUNT};AccountKey={EMULATOR_KEY};BlobEndpoint={};",
        endpoint()
    );
    let d = AzureDriver::new(AzureConfig::from_connection_string(&cs).unwrap()).unwrap();
    assert_eq!(d.get_bytes(&c, "k.txt").await.unwrap(), "signed data");
}
