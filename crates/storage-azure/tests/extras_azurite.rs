//! Libcloud's `extra` on Azure, against Azurite: access tiers and index tags on Put Blob,
//! on Put Block List (a multipart upload) and on copies, read back by HEAD and by Get
//! Blob Tags (a raw SharedKey request); invalid tiers, too many tags, a KMS key and
//! forbidden headers are typed errors that write nothing; the CDN calls give URLs an
//! anonymous client can read from.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use storage_azure::signing::{API_VERSION, shared_key_authorization};
use storage_azure::{AzureConfig, AzureDriver, EMULATOR_ACCOUNT, EMULATOR_KEY};
use storage_core::{
    CopyOptions, Driver, DriverExt, Encryption, ErrorKind, ListEntry, Object, PutOptions, Result, Transfer,
    TransferOptions,
};
use storage_http::http::{HeaderMap, HeaderValue, Method, Uri};
use storage_http::{HttpClient, HttpConfig, HttpRequest, RequestBody, Signer, Unsigned};

fn endpoint() -> String {
    std::env::var("AZURITE_BLOB_ENDPOINT").unwrap_or_else(|_| {
        panic!("AZURITE_BLOB_ENDPOINT is not set: run `cargo xtask test`, or `cargo xtask emulators start azurite`")
    })
}

fn driver() -> Arc<AzureDriver> {
    Arc::new(AzureDriver::new(AzureConfig::emulator().endpoint(endpoint())).unwrap())
}

async fn fresh(tag: &str) -> (Arc<AzureDriver>, String) {
    let d = driver();
    let c = format!("extra-{tag}-{}", std::process::id());
    let _ = d.create_container(&c).await;
    (d, c)
}

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn cool_tagged() -> PutOptions {
    let mut o = PutOptions::content_type("text/plain");
    o.storage_class = Some("cool".into());
    o.tags = tags(&[("project", "alpha beta"), ("team", "a/b:c=d")]);
    o.headers.insert("Content-Language".into(), "de-DE".into());
    o
}

fn plain_client() -> HttpClient {
    HttpClient::new(HttpConfig { allow_http: true, ..Default::default() }).unwrap()
}

/// SharedKey with Azurite's well-known key, for requests the driver does not make.
struct Key;

#[async_trait]
impl Signer for Key {
    async fn sign(&self, method: &Method, uri: &mut Uri, headers: &mut HeaderMap, _body: &RequestBody) -> Result<()> {
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        headers.insert("x-ms-date", HeaderValue::from_str(&date).unwrap());
        headers.insert("x-ms-version", HeaderValue::from_static(API_VERSION));
        let key = base64_decode(EMULATOR_KEY);
        let auth = shared_key_authorization(
            EMULATOR_ACCOUNT,
            &key,
            method.as_str(),
            uri.path(),
            uri.query().unwrap_or_default(),
            headers,
        );
        headers.insert("authorization", HeaderValue::from_str(&auth).unwrap());
        Ok(())
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

/// Get Blob Tags, as a raw signed request: the tags the service stored.
async fn blob_tags(c: &str, k: &str) -> BTreeMap<String, String> {
    let url = format!("{}/{c}/{k}?comp=tags", endpoint());
    let req = HttpRequest::parse(Method::GET, &url, "GetBlobTags").unwrap();
    let resp = plain_client().execute(&req, &Key).await.unwrap();
    assert_eq!(resp.status.as_u16(), 200, "Get Blob Tags");
    storage_azure::xml::parse_tags(&resp.bytes().await.unwrap()).unwrap()
}

fn check_read_back(o: &Object, tier: &str, tag_count: &str) {
    assert_eq!(o.extra.get("storage_class").map(String::as_str), Some(tier), "{:?}", o.extra);
    assert_eq!(o.extra.get("tag_count").map(String::as_str), Some(tag_count), "{:?}", o.extra);
}

#[tokio::test]
async fn a_single_put_stores_tier_tags_and_headers() {
    let (d, c) = fresh("put").await;
    let o = d.put_object(&c, "one.txt", "tiered".into(), &cool_tagged()).await.unwrap();
    check_read_back(&o, "Cool", "2");
    let head = d.head_object(&c, "one.txt").await.unwrap();
    check_read_back(&head, "Cool", "2");
    assert_eq!(blob_tags(&c, "one.txt").await, tags(&[("project", "alpha beta"), ("team", "a/b:c=d")]));
    // Content-Language went as x-ms-blob-content-language.
    let url = d.signed_url(&c, "one.txt", &Default::default()).await.unwrap();
    let resp = plain_client().execute(&HttpRequest::parse(Method::HEAD, &url, "t").unwrap(), &Unsigned).await.unwrap();
    assert_eq!(resp.header("content-language"), Some("de-DE"));
    // Listings carry the tier too.
    let page = d.list_page(&c, &Default::default(), None).await.unwrap();
    let listed: Vec<_> = page
        .items
        .into_iter()
        .filter_map(|e| match e {
            ListEntry::Object(o) => Some(o),
            ListEntry::Prefix(_) => None,
        })
        .collect();
    assert_eq!(listed[0].extra.get("storage_class").map(String::as_str), Some("Cool"));
}

#[tokio::test]
async fn a_multipart_upload_commits_tier_and_tags_from_the_upload_id() {
    let (d, c) = fresh("mpu").await;
    let data: Vec<u8> = (0..3 * 1024 * 1024 + 5).map(|i: u32| (i % 253) as u8).collect();
    let t = Transfer::with_options(
        d.clone(),
        TransferOptions { single_put_threshold: 1024 * 1024, part_size: 1024 * 1024, ..Default::default() },
    );
    t.upload_bytes(data.clone().into(), &c, "big.bin", cool_tagged()).await.unwrap();
    let head = d.head_object(&c, "big.bin").await.unwrap();
    check_read_back(&head, "Cool", "2");
    assert_eq!(head.size, data.len() as u64);
    assert_eq!(blob_tags(&c, "big.bin").await.len(), 2);
    assert_eq!(d.get_bytes(&c, "big.bin").await.unwrap(), data);

    // By hand: the options travel in the upload id, the parts carry none of them.
    let up = d.create_multipart(&c, "hand.bin", &cool_tagged()).await.unwrap();
    let p1 = d.put_part(&up, 1, vec![1u8; 1000].into(), &Default::default()).await.unwrap();
    let p2 = d.put_part(&up, 2, vec![2u8; 10].into(), &Default::default()).await.unwrap();
    let done = d.complete_multipart(&up, &[p1, p2], &Default::default()).await.unwrap();
    check_read_back(&done, "Cool", "2");
    check_read_back(&d.head_object(&c, "hand.bin").await.unwrap(), "Cool", "2");
}

#[tokio::test]
async fn invalid_settings_are_typed_errors_and_write_nothing() {
    let (d, c) = fresh("bad").await;
    let t = Transfer::with_options(
        d.clone(),
        TransferOptions { single_put_threshold: 1024, part_size: 1024, ..Default::default() },
    );
    let header = |k: &str, v: &str| PutOptions { headers: tags(&[(k, v)]), ..Default::default() };
    let cases: Vec<(&str, PutOptions, ErrorKind)> = vec![
        ("tier", PutOptions { storage_class: Some("GLACIER".into()), ..Default::default() }, ErrorKind::Config),
        (
            "eleven tags",
            PutOptions { tags: (0..11).map(|i| (format!("k{i}"), "v".to_owned())).collect(), ..Default::default() },
            ErrorKind::Config,
        ),
        ("tag chars", PutOptions { tags: tags(&[("bad,key", "v")]), ..Default::default() }, ErrorKind::Config),
        (
            "kms",
            PutOptions {
                encryption: Some(Encryption::Kms { key_id: Some("https://vault/keys/k".into()) }),
                ..Default::default()
            },
            ErrorKind::NotSupported,
        ),
        ("x-ms-version", header("x-ms-version", "2099-01-01"), ErrorKind::Config),
        ("authorization", header("Authorization", "SharedKey x:y"), ErrorKind::Config),
        ("acl", PutOptions { acl: Some("public-read".into()), ..Default::default() }, ErrorKind::NotSupported),
    ];
    for (what, o, kind) in cases {
        let key = format!("bad-{}.txt", what.replace(' ', "-"));
        let e = d.put_object(&c, &key, "x".into(), &o).await.unwrap_err();
        assert_eq!(e.kind(), kind, "{what}: {e}");
        if what == "tier" {
            assert!(e.to_string().contains("Hot, Cool, Cold, Archive"), "{e}");
        }
        if what == "kms" {
            assert!(e.hint().contains("encryption scope"), "{e:?}");
        }
        let e = d.create_multipart(&c, &key, &o).await.unwrap_err();
        assert_eq!(e.kind(), kind, "{what} (multipart): {e}");
        let e = t.upload_bytes(vec![9u8; 4096].into(), &c, &key, o.clone()).await.unwrap_err();
        assert_eq!(e.kind(), kind, "{what} (transfer): {e}");
        assert_eq!(d.head_object(&c, &key).await.unwrap_err().kind(), ErrorKind::ObjectDoesNotExist, "{what}");
        // A copy with these replacement options writes nothing either.
        d.put_object(&c, "src.txt", "s".into(), &PutOptions::default()).await.unwrap();
        let copy = CopyOptions { replace: Some(o.clone()), ..Default::default() };
        let e = d.copy_object(&c, "src.txt", &c, &key, &copy).await.unwrap_err();
        assert_eq!(e.kind(), kind, "{what} (copy): {e}");
        assert_eq!(d.head_object(&c, &key).await.unwrap_err().kind(), ErrorKind::ObjectDoesNotExist, "{what}");
    }
}

#[tokio::test]
async fn copies_keep_the_sources_tags_or_take_the_replacements() {
    let (d, c) = fresh("copy").await;
    d.put_object(&c, "src.txt", "copied".into(), &cool_tagged()).await.unwrap();
    // A plain copy keeps the tags (Copy Blob From URL is told to copy them).
    d.copy_object(&c, "src.txt", &c, "plain.txt", &CopyOptions::default()).await.unwrap();
    assert_eq!(blob_tags(&c, "plain.txt").await, blob_tags(&c, "src.txt").await);
    assert_eq!(d.get_bytes(&c, "plain.txt").await.unwrap(), "copied");
    // Replacement options set their own tier and tags.
    let mut r = PutOptions::content_type("text/csv");
    r.storage_class = Some("Hot".into());
    r.tags = tags(&[("copied", "yes")]);
    let copy = CopyOptions { replace: Some(r), ..Default::default() };
    let o = d.copy_object(&c, "src.txt", &c, "replaced.txt", &copy).await.unwrap();
    check_read_back(&o, "Hot", "1");
    let head = d.head_object(&c, "replaced.txt").await.unwrap();
    check_read_back(&head, "Hot", "1");
    assert_eq!(head.content_type.as_deref(), Some("text/csv"));
    assert_eq!(blob_tags(&c, "replaced.txt").await, tags(&[("copied", "yes")]));
    // Replacement options without tags leave none.
    let copy = CopyOptions { replace: Some(PutOptions::default()), ..Default::default() };
    d.copy_object(&c, "src.txt", &c, "untagged.txt", &copy).await.unwrap();
    assert!(blob_tags(&c, "untagged.txt").await.is_empty());
}

#[tokio::test]
async fn cold_and_archive_tiers_are_stored() {
    let (d, c) = fresh("tiers").await;
    for (tier, key) in [("Cold", "cold.txt"), ("archive", "archive.txt"), ("HOT", "hot.txt")] {
        let o = PutOptions { storage_class: Some(tier.into()), ..Default::default() };
        d.put_object(&c, key, "t".into(), &o).await.unwrap();
    }
    let cold = d.head_object(&c, "cold.txt").await.unwrap();
    assert_eq!(cold.extra.get("storage_class").map(String::as_str), Some("Cold"));
    assert_eq!(cold.extra.get("tag_count"), None, "no tags, no count");
    let archived = d.head_object(&c, "archive.txt").await.unwrap();
    assert_eq!(archived.extra.get("storage_class").map(String::as_str), Some("Archive"));
    assert_eq!(d.head_object(&c, "hot.txt").await.unwrap().extra.get("storage_class").map(String::as_str), Some("Hot"));
    // An archived blob cannot be read until rehydrated: the error says so.
    let e = d.get_bytes(&c, "archive.txt").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(e.hint().contains("rehydrate"), "{e:?}");
}

#[tokio::test]
async fn managed_encryption_is_accepted() {
    let (d, c) = fresh("managed").await;
    let o = PutOptions { encryption: Some(Encryption::Managed), ..Default::default() };
    d.put_object(&c, "m.txt", "m".into(), &o).await.unwrap();
    assert_eq!(d.get_bytes(&c, "m.txt").await.unwrap(), "m");
}

#[tokio::test]
async fn cdn_calls_give_urls_an_anonymous_client_can_read() {
    let (d, c) = fresh("cdn").await;
    d.put_object(&c, "pic.txt", "public bytes".into(), &PutOptions::default()).await.unwrap();
    // Private container: enable_object_cdn refuses (Azure has no per-blob public access),
    // the object URL is a read SAS that works, a plain URL would not.
    let e = d.enable_object_cdn(&c, "pic.txt").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotSupported, "{e}");
    assert!(e.hint().contains("enable_container_cdn"), "{e:?}");
    let sas = d.get_object_cdn_url(&c, "pic.txt").await.unwrap();
    assert!(sas.contains("sig="), "{sas}");
    let anon = |url: String| async move {
        let resp =
            plain_client().execute(&HttpRequest::parse(Method::GET, &url, "t").unwrap(), &Unsigned).await.unwrap();
        (resp.status.as_u16(), resp.bytes().await.unwrap())
    };
    assert_eq!(anon(sas).await, (200, "public bytes".into()));
    let base = d.get_container_cdn_url(&c).await.unwrap();
    let (status, _) = anon(format!("{base}/pic.txt")).await;
    assert!(matches!(status, 403 | 404), "private before enable_container_cdn: {status}");

    // Public container: plain URLs.
    d.enable_container_cdn(&c).await.unwrap();
    d.enable_object_cdn(&c, "pic.txt").await.unwrap();
    let url = d.get_object_cdn_url(&c, "pic.txt").await.unwrap();
    assert_eq!(url, format!("{base}/pic.txt"), "no SAS once the container is public");
    assert_eq!(anon(url).await, (200, "public bytes".into()));
    assert_eq!(d.enable_object_cdn(&c, "missing.txt").await.unwrap_err().kind(), ErrorKind::ObjectDoesNotExist);
    assert_eq!(
        d.get_container_cdn_url("no-such-container-here").await.unwrap_err().kind(),
        ErrorKind::ContainerDoesNotExist
    );
}
