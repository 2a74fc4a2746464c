//! Libcloud's `extra` on GCS writes and the four CDN calls, against fake-gcs-server
//! (`cargo xtask emulators start fake-gcs`, `EMU_GCS_FAKEGCS_ENDPOINT`) seen through an
//! in-process recording proxy: every request the driver sends is logged, so a test can
//! assert what went on the wire where fake-gcs-server ignores it (predefined ACL and
//! storage class on compose and rewrite, KMS key names everywhere), and that a refused
//! setting sends no request at all. The proxy can also answer a request itself, for what
//! fake-gcs-server lacks (bucket IAM) or cannot be made to say (uniform bucket-level
//! access, public access prevention).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use storage_core::{CopyOptions, Driver, DriverExt, Encryption, ErrorKind, Payload, PutOptions};
use storage_gcs::{GcsConfig, GcsDriver};
use storage_http::{HttpConfig, RetryConfig};
use storage_testkit::http::{Seen, read_request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const KMS: &str = "projects/p/locations/global/keyRings/r/cryptoKeys/k";

fn upstream() -> String {
    std::env::var("EMU_GCS_FAKEGCS_ENDPOINT").unwrap_or_else(|_| {
        panic!("EMU_GCS_FAKEGCS_ENDPOINT is not set: run `cargo xtask test`, or `cargo xtask emulators start fake-gcs` and export the variables it prints")
    })
}

// ---------------------------------------------------------------------------------------
// The recording proxy
// ---------------------------------------------------------------------------------------

/// One request as the proxy received it.
type Req = Seen;

/// What the tests read from a recorded request.
trait ReqExt {
    fn json(&self) -> Value;
    fn related_resource(&self) -> Value;
    fn is_upload(&self) -> bool;
}

impl ReqExt for Req {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap()
    }

    /// The resource JSON of a `multipart/related` upload.
    fn related_resource(&self) -> Value {
        let text = String::from_utf8_lossy(&self.bytes);
        let start = text.find('{').unwrap();
        let end = text.find("\r\n--").unwrap();
        serde_json::from_str(&text[start..end]).unwrap()
    }

    fn is_upload(&self) -> bool {
        self.method == "POST" && self.path.starts_with("/upload/storage/v1/")
    }
}

/// A canned answer: status, JSON body.
type Answer = (u16, Value);
type Intercept = Arc<dyn Fn(&Req) -> Option<Answer> + Send + Sync>;

struct Proxy {
    endpoint: String,
    log: Arc<Mutex<Vec<Req>>>,
}

impl Proxy {
    /// A proxy to fake-gcs-server answering what `intercept` answers itself.
    async fn start(intercept: Intercept) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let up = upstream().trim_start_matches("http://").trim_end_matches('/').to_owned();
        let seen = log.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else { return };
                let (seen, intercept, up) = (seen.clone(), intercept.clone(), up.clone());
                tokio::spawn(async move { serve(sock, seen, intercept, up).await });
            }
        });
        Proxy { endpoint, log }
    }

    async fn recording() -> Proxy {
        Self::start(Arc::new(|_| None)).await
    }

    fn driver(&self) -> GcsDriver {
        let mut config = GcsConfig::emulator(self.endpoint.clone());
        config.http = HttpConfig {
            allow_http: true,
            connect_timeout: Duration::from_secs(5),
            read_idle_timeout: Duration::from_secs(20),
            retry: RetryConfig {
                max_retries: 2,
                initial_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(4),
                retry_budget: Duration::from_secs(30),
            },
            proxy_from_env: false,
            ..HttpConfig::default()
        };
        GcsDriver::new(config).unwrap()
    }

    fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }

    fn clear(&self) {
        self.log.lock().unwrap().clear();
    }

    fn last(&self, what: impl Fn(&Req) -> bool) -> Req {
        self.requests().into_iter().rev().find(|r| what(r)).expect("no such request was sent")
    }
}

async fn serve(mut sock: TcpStream, log: Arc<Mutex<Vec<Req>>>, intercept: Intercept, up: String) {
    let Some(req) = read_request(&mut sock).await else { return };
    log.lock().unwrap().push(req.clone());
    if let Some((status, body)) = intercept(&req) {
        let body = body.to_string();
        let answer = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = sock.write_all(answer.as_bytes()).await;
        let _ = sock.shutdown().await;
        return;
    }
    let mut upstream = TcpStream::connect(&up).await.unwrap();
    let mut head = format!("{} {} HTTP/1.1\r\nhost: {up}\r\nconnection: close\r\n", req.method, req.target);
    for (k, v) in &req.headers {
        if k != "host" && k != "connection" {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str("\r\n");
    upstream.write_all(head.as_bytes()).await.unwrap();
    upstream.write_all(&req.bytes).await.unwrap();
    let mut answer = Vec::new();
    let _ = upstream.read_to_end(&mut answer).await;
    let _ = sock.write_all(&answer).await;
    let _ = sock.shutdown().await;
}

/// `GET url` on fake-gcs-server, without authorization (HTTP/1.0: no chunked answer):
/// the status and the body.
async fn anonymous_get(url: &str) -> (u16, Vec<u8>) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut sock = TcpStream::connect(host).await.unwrap();
    sock.write_all(format!("GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    sock.read_to_end(&mut answer).await.unwrap();
    let end = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let status = String::from_utf8_lossy(&answer[..end]).split(' ').nth(1).unwrap().parse().unwrap();
    (status, answer[end + 4..].to_vec())
}

/// The entities with their roles of an object's ACL, straight from fake-gcs-server.
async fn acl(bucket: &str, key: &str) -> Vec<(String, String)> {
    let url = format!(
        "{}/storage/v1/b/{bucket}/o/{}/acl",
        upstream(),
        percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC)
    );
    let (status, body) = anonymous_get(&url).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let doc: Value = serde_json::from_slice(&body).unwrap();
    doc["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| (i["entity"].as_str().unwrap_or("").to_owned(), i["role"].as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn public(acl: &[(String, String)]) -> bool {
    acl.iter().any(|(e, r)| e == "allUsers" && r == "READER")
}

static N: AtomicUsize = AtomicUsize::new(0);

async fn bucket(d: &GcsDriver) -> String {
    let name = format!("extras-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    d.create_container(&name).await.unwrap();
    name
}

fn opts(f: impl FnOnce(&mut PutOptions)) -> PutOptions {
    let mut o = PutOptions::content_type("text/plain");
    f(&mut o);
    o
}

fn stream(data: &'static [u8]) -> Payload {
    Payload::Stream {
        stream: Box::pin(futures::stream::iter(data.chunks(3).map(|c| Ok(Bytes::from_static(c))))),
        length: None,
    }
}

// ---------------------------------------------------------------------------------------
// Extras on writes
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_put_carries_acl_class_kms_and_headers_and_reads_them_back() {
    let proxy = Proxy::recording().await;
    let d = proxy.driver();
    let b = bucket(&d).await;
    let o = opts(|o| {
        o.acl = Some("public-read".into());
        o.storage_class = Some("nearline".into());
        o.encryption = Some(Encryption::Kms { key_id: Some(KMS.into()) });
        o.headers.insert("Content-Language".into(), "fr".into());
        o.headers.insert("custom-time".into(), "2024-01-02T03:04:05Z".into());
    });
    let written = d.put_object(&b, "p.txt", "hello".into(), &o).await.unwrap();
    let sent = proxy.last(|r| r.is_upload());
    assert_eq!(sent.param("uploadType"), Some("multipart"));
    assert_eq!(sent.param("predefinedAcl"), Some("publicRead"));
    assert_eq!(sent.param("kmsKeyName"), Some(KMS));
    let resource = sent.related_resource();
    assert_eq!(resource["storageClass"], "NEARLINE");
    assert_eq!(resource["contentLanguage"], "fr");
    assert_eq!(resource["customTime"], "2024-01-02T03:04:05Z");
    // fake-gcs-server stores all but the KMS key.
    assert_eq!(written.extra.get("storage_class").map(String::as_str), Some("NEARLINE"));
    let head = d.head_object(&b, "p.txt").await.unwrap();
    assert_eq!(head.extra.get("storage_class").map(String::as_str), Some("NEARLINE"), "{:?}", head.extra);
    assert_eq!(head.extra.get("content_language").map(String::as_str), Some("fr"));
    assert!(head.extra.get("custom_time").is_some_and(|t| t.starts_with("2024-01-02T03:04:05")), "{:?}", head.extra);
    assert!(public(&acl(&b, "p.txt").await));
    assert_eq!(d.get_bytes(&b, "p.txt").await.unwrap(), "hello");

    // Without extras nothing is sent and the object is private.
    proxy.clear();
    d.put_object(&b, "plain.txt", "x".into(), &PutOptions::default()).await.unwrap();
    let sent = proxy.last(|r| r.is_upload());
    assert!(sent.param("predefinedAcl").is_none() && sent.param("kmsKeyName").is_none());
    assert!(sent.related_resource().get("storageClass").is_none());
    assert!(!public(&acl(&b, "plain.txt").await));
    let head = d.head_object(&b, "plain.txt").await.unwrap();
    assert_eq!(head.extra.get("storage_class").map(String::as_str), Some("STANDARD"));
    assert!(!head.extra.contains_key("custom_time") && !head.extra.contains_key("content_language"));

    // Google-managed encryption is the default: accepted, nothing sent.
    proxy.clear();
    d.put_object(&b, "managed.txt", "x".into(), &opts(|o| o.encryption = Some(Encryption::Managed))).await.unwrap();
    let sent = proxy.last(|r| r.is_upload());
    assert!(sent.param("kmsKeyName").is_none());
}

#[tokio::test]
async fn a_resumable_upload_carries_them_on_the_session_start() {
    let proxy = Proxy::recording().await;
    let d = proxy.driver();
    let b = bucket(&d).await;
    let o = opts(|o| {
        o.acl = Some("publicRead".into());
        o.storage_class = Some("COLDLINE".into());
        o.encryption = Some(Encryption::Kms { key_id: Some(KMS.into()) });
    });
    d.put_object(&b, "s.txt", stream(b"streamed data"), &o).await.unwrap();
    let start = proxy.last(|r| r.is_upload());
    assert_eq!(start.param("uploadType"), Some("resumable"));
    assert_eq!(start.param("predefinedAcl"), Some("publicRead"));
    assert_eq!(start.param("kmsKeyName"), Some(KMS));
    assert_eq!(start.json()["storageClass"], "COLDLINE");
    assert_eq!(d.get_bytes(&b, "s.txt").await.unwrap(), "streamed data");
    // fake-gcs-server 1.54 applies the predefined ACL but takes the object's other
    // properties from the chunks, not from the session's resource (its storage class is
    // STANDARD): GCS gets the request above.
    assert!(public(&acl(&b, "s.txt").await), "{:?}", acl(&b, "s.txt").await);
}

#[tokio::test]
async fn a_multipart_upload_applies_them_to_the_compose_only() {
    let proxy = Proxy::recording().await;
    let d = proxy.driver();
    let b = bucket(&d).await;
    let o = opts(|o| {
        o.acl = Some("bucket-owner-read".into());
        o.storage_class = Some("NEARLINE".into());
        o.encryption = Some(Encryption::Kms { key_id: Some(KMS.into()) });
        o.headers.insert("content-language".into(), "de".into());
    });
    let up = d.create_multipart(&b, "m.bin", &o).await.unwrap();
    let p1 = d.put_part(&up, 1, "first ".into(), &Default::default()).await.unwrap();
    let p2 = d.put_part(&up, 2, "second".into(), &Default::default()).await.unwrap();
    let written = d.complete_multipart(&up, &[p1, p2], &Default::default()).await.unwrap();
    assert_eq!(written.size, 12);
    assert_eq!(d.get_bytes(&b, "m.bin").await.unwrap(), "first second");

    // The staged parts and the marker are written without the object's extras: no part
    // is made public, given the object's class or encrypted with its key.
    let staged: Vec<Req> = proxy.requests().into_iter().filter(Req::is_upload).collect();
    assert_eq!(staged.len(), 3, "marker and two parts");
    for r in &staged {
        assert!(r.param("predefinedAcl").is_none() && r.param("kmsKeyName").is_none(), "{r:?}");
        assert!(r.related_resource().get("storageClass").is_none());
    }
    let compose = proxy.last(|r| r.path.ends_with("/compose"));
    assert!(compose.path.ends_with("/o/m.bin/compose"), "{}", compose.path);
    assert_eq!(compose.param("destinationPredefinedAcl"), Some("bucketOwnerRead"));
    assert_eq!(compose.param("kmsKeyName"), Some(KMS));
    let dest = &compose.json()["destination"];
    assert_eq!(dest["storageClass"], "NEARLINE");
    assert_eq!(dest["contentLanguage"], "de");
    // fake-gcs-server 1.54 ignores the destination's storage class and ACL on compose
    // (it answers STANDARD): what GCS does with them is the request above.
}

#[tokio::test]
async fn a_copy_with_replaced_options_carries_them_on_every_rewrite_call() {
    let proxy = Proxy::recording().await;
    let d = proxy.driver();
    let b = bucket(&d).await;
    d.put_object(&b, "src", "source".into(), &PutOptions::default()).await.unwrap();
    let replace = opts(|o| {
        o.acl = Some("authenticated-read".into());
        o.storage_class = Some("archive".into());
        o.encryption = Some(Encryption::Kms { key_id: Some(KMS.into()) });
    });
    let copy = CopyOptions { replace: Some(replace), ..CopyOptions::default() };
    d.copy_object(&b, "src", &b, "dst", &copy).await.unwrap();
    let rewrite = proxy.last(|r| r.path.contains("/rewriteTo/"));
    assert_eq!(rewrite.param("destinationPredefinedAcl"), Some("authenticatedRead"));
    assert_eq!(rewrite.param("destinationKmsKeyName"), Some(KMS));
    assert!(rewrite.param("kmsKeyName").is_none() && rewrite.param("predefinedAcl").is_none());
    assert_eq!(rewrite.json()["storageClass"], "ARCHIVE");
    assert_eq!(d.get_bytes(&b, "dst").await.unwrap(), "source");

    // A plain copy sends none.
    proxy.clear();
    d.copy_object(&b, "src", &b, "dst2", &CopyOptions::default()).await.unwrap();
    let rewrite = proxy.last(|r| r.path.contains("/rewriteTo/"));
    assert!(rewrite.param("destinationPredefinedAcl").is_none() && rewrite.param("destinationKmsKeyName").is_none());
}

#[tokio::test]
async fn refused_settings_are_typed_send_nothing_and_write_nothing() {
    let proxy = Proxy::recording().await;
    let d = proxy.driver();
    let b = bucket(&d).await;
    d.put_object(&b, "src", "source".into(), &PutOptions::default()).await.unwrap();
    let cases: Vec<(&str, ErrorKind, PutOptions)> = vec![
        ("public-read-write", ErrorKind::Config, opts(|o| o.acl = Some("public-read-write".into()))),
        ("unknown ACL", ErrorKind::Config, opts(|o| o.acl = Some("everyone".into()))),
        ("S3 class", ErrorKind::Config, opts(|o| o.storage_class = Some("STANDARD_IA".into()))),
        ("Azure tier", ErrorKind::Config, opts(|o| o.storage_class = Some("Cool".into()))),
        ("KMS without a key", ErrorKind::Config, opts(|o| o.encryption = Some(Encryption::Kms { key_id: None }))),
        (
            "not a key name",
            ErrorKind::Config,
            opts(|o| o.encryption = Some(Encryption::Kms { key_id: Some("alias/my-key".into()) })),
        ),
        ("scope", ErrorKind::NotSupported, opts(|o| o.encryption = Some(Encryption::Scope("s".into())))),
        (
            "tags",
            ErrorKind::NotSupported,
            opts(|o| {
                o.tags.insert("project".into(), "x".into());
            }),
        ),
        (
            "other header",
            ErrorKind::NotSupported,
            opts(|o| {
                o.headers.insert("x-amz-website-redirect-location".into(), "/x".into());
            }),
        ),
        (
            "bad custom time",
            ErrorKind::Config,
            opts(|o| {
                o.headers.insert("custom-time".into(), "tomorrow".into());
            }),
        ),
    ];
    for (what, kind, o) in cases {
        proxy.clear();
        let e = d.put_object(&b, "k", "data".into(), &o).await.unwrap_err();
        assert_eq!(e.kind(), kind, "{what}: {e}");
        assert!(e.message().contains("nothing was written") || e.kind() == ErrorKind::NotSupported, "{what}: {e}");
        let e = d.put_object(&b, "k", stream(b"data"), &o).await.unwrap_err();
        assert_eq!(e.kind(), kind, "{what} (stream): {e}");
        let e = d.create_multipart(&b, "k", &o).await.unwrap_err();
        assert_eq!(e.kind(), kind, "{what} (multipart): {e}");
        let copy = CopyOptions { replace: Some(o.clone()), ..CopyOptions::default() };
        let e = d.copy_object(&b, "src", &b, "k", &copy).await.unwrap_err();
        assert_eq!(e.kind(), kind, "{what} (copy): {e}");
        assert!(proxy.requests().is_empty(), "{what}: requests were sent: {:?}", proxy.requests());
        assert!(!d.object_exists(&b, "k").await.unwrap(), "{what}: something was written");
    }
    assert!(d.list_multipart_uploads(&b, None).await.unwrap().is_empty());
    let e =
        d.put_object(&b, "k", "data".into(), &opts(|o| o.acl = Some("public-read-write".into()))).await.unwrap_err();
    assert!(e.hint().contains("public-read (publicRead)"), "{}", e.hint());
    assert!(d.info().capabilities.put_acl && !d.info().capabilities.put_tags);
}

#[tokio::test]
async fn an_acl_on_a_uniform_access_bucket_is_not_supported() {
    let proxy = Proxy::start(Arc::new(|r: &Req| {
        r.param("predefinedAcl").map(|_| {
            (
                400,
                json!({"error": {"code": 400, "message": "Cannot insert legacy ACL for an object when uniform bucket-level access is enabled. Read more at https://cloud.google.com/storage/docs/uniform-bucket-level-access", "errors": [{"reason": "invalid", "domain": "global", "message": "Cannot insert legacy ACL for an object when uniform bucket-level access is enabled."}]}}),
            )
        })
    }))
    .await;
    let d = proxy.driver();
    let b = bucket(&d).await;
    let e = d.put_object(&b, "k", "x".into(), &opts(|o| o.acl = Some("private".into()))).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotSupported, "{e}");
    assert_eq!(e.status(), Some(400));
    assert!(e.hint().contains("uniform bucket-level access"), "{}", e.hint());
    assert!(!d.object_exists(&b, "k").await.unwrap());
}

// ---------------------------------------------------------------------------------------
// CDN calls
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn enable_object_cdn_makes_the_object_publicly_readable_at_its_url() {
    let proxy = Proxy::recording().await;
    let d = proxy.driver();
    let b = bucket(&d).await;
    let key = "dir/a b+c%é.txt";
    d.put_object(&b, key, "public data".into(), &PutOptions::default()).await.unwrap();
    assert!(!public(&acl(&b, key).await));
    d.enable_object_cdn(&b, key).await.unwrap();
    let sent = proxy.last(|r| r.method == "POST" && r.path.ends_with("/acl"));
    assert_eq!(sent.json(), json!({"entity": "allUsers", "role": "READER"}));
    assert!(public(&acl(&b, key).await), "{:?}", acl(&b, key).await);
    // Twice is fine.
    d.enable_object_cdn(&b, key).await.unwrap();

    let url = d.get_object_cdn_url(&b, key).await.unwrap();
    assert_eq!(url, format!("{}/{b}/dir/a%20b%2Bc%25%C3%A9.txt", proxy.endpoint));
    // The URL on fake-gcs-server itself, read without any authorization.
    let direct = url.replace(&proxy.endpoint, upstream().trim_end_matches('/'));
    let (status, body) = anonymous_get(&direct).await;
    assert_eq!((status, body.as_slice()), (200, b"public data".as_slice()));
    assert_eq!(d.get_container_cdn_url(&b).await.unwrap(), format!("{}/{b}", proxy.endpoint));

    let e = d.enable_object_cdn(&b, "missing").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectDoesNotExist, "{e}");
    let e = d.enable_object_cdn("no-such-bucket-extras", "k").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ContainerDoesNotExist, "{e}");
    assert_eq!(d.get_object_cdn_url(&b, "").await.unwrap_err().kind(), ErrorKind::InvalidObjectName);
    assert_eq!(d.get_container_cdn_url("Bad_Bucket!").await.unwrap_err().kind(), ErrorKind::InvalidContainerName);
}

#[tokio::test]
async fn enable_object_cdn_on_a_uniform_access_bucket_is_not_supported() {
    let proxy = Proxy::start(Arc::new(|r: &Req| {
        (r.method == "POST" && r.path.ends_with("/acl")).then(|| {
            (
                400,
                json!({"error": {"code": 400, "message": "Cannot insert legacy ACL for an object when uniform bucket-level access is enabled. Read more at https://cloud.google.com/storage/docs/uniform-bucket-level-access", "errors": [{"reason": "invalid"}]}}),
            )
        })
    }))
    .await;
    let d = proxy.driver();
    let b = bucket(&d).await;
    d.put_object(&b, "k", "x".into(), &PutOptions::default()).await.unwrap();
    let e = d.enable_object_cdn(&b, "k").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotSupported, "{e}");
    assert!(e.hint().contains("enable_container_cdn"), "{}", e.hint());
    assert!(!public(&acl(&b, "k").await));
}

#[tokio::test]
async fn enable_container_cdn_is_not_supported_where_the_server_has_no_bucket_iam() {
    let proxy = Proxy::recording().await;
    let d = proxy.driver();
    let b = bucket(&d).await;
    let e = d.enable_container_cdn(&b).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotSupported, "{e}");
    assert!(e.hint().contains("enable_object_cdn"), "{}", e.hint());
    let e = d.enable_container_cdn("no-such-bucket-extras").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ContainerDoesNotExist, "{e}");
}

/// A bucket IAM policy kept by the proxy (fake-gcs-server has none): `GET` answers it,
/// `PUT` replaces it when its etag matches (else 412), after `conflicts` forced 412s.
fn iam(policy: Value, conflicts: usize, put_answer: Option<Answer>) -> (Intercept, Arc<Mutex<Value>>) {
    let state = Arc::new(Mutex::new(policy));
    let left = Arc::new(AtomicUsize::new(conflicts));
    let kept = state.clone();
    let intercept: Intercept = Arc::new(move |r: &Req| {
        if !r.path.ends_with("/iam") {
            return None;
        }
        let mut policy = kept.lock().unwrap();
        if r.method == "GET" {
            assert_eq!(r.param("optionsRequestedPolicyVersion"), Some("3"));
            return Some((200, policy.clone()));
        }
        if let Some(a) = &put_answer {
            return Some(a.clone());
        }
        let body = r.json();
        let stale = body["etag"] != policy["etag"];
        if stale || left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            // Another writer changed the policy.
            policy["etag"] = json!(format!("{}x", policy["etag"].as_str().unwrap_or("")));
            return Some((
                412,
                json!({"error": {"code": 412, "message": "Precondition Failed", "errors": [{"reason": "conditionNotMet"}]}}),
            ));
        }
        let mut next = body;
        next["etag"] = json!(format!("{}n", policy["etag"].as_str().unwrap_or("")));
        *policy = next.clone();
        Some((200, next))
    });
    (intercept, state)
}

#[tokio::test]
async fn enable_container_cdn_grants_all_users_object_viewer_keeping_the_policy() {
    let start = json!({
        "kind": "storage#policy", "resourceId": "projects/_/buckets/b", "version": 1, "etag": "CAE=",
        "bindings": [
            {"role": "roles/storage.legacyBucketOwner", "members": ["projectOwner:p"]},
            {"role": "roles/storage.objectViewer", "members": ["user:a@example.com"]}
        ]
    });
    // One concurrent change: read again, written on the second round.
    let (intercept, state) = iam(start, 1, None);
    let proxy = Proxy::start(intercept).await;
    let d = proxy.driver();
    let b = bucket(&d).await;
    proxy.clear();
    d.enable_container_cdn(&b).await.unwrap();
    let methods: Vec<String> = proxy.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, ["GET", "PUT", "GET", "PUT"]);
    let policy = state.lock().unwrap().clone();
    assert_eq!(
        policy["bindings"],
        json!([
            {"role": "roles/storage.legacyBucketOwner", "members": ["projectOwner:p"]},
            {"role": "roles/storage.objectViewer", "members": ["user:a@example.com", "allUsers"]}
        ])
    );
    assert!(policy.get("kind").is_none(), "{policy}");

    // Already public: read, nothing written.
    proxy.clear();
    d.enable_container_cdn(&b).await.unwrap();
    let methods: Vec<String> = proxy.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, ["GET"]);
}

#[tokio::test]
async fn public_access_prevention_is_permission_denied_not_a_precondition() {
    let pap = (
        412,
        json!({"error": {"code": 412, "message": "The member bindings allUsers and allAuthenticatedUsers are not allowed since public access prevention is enforced.", "errors": [{"reason": "conditionNotMet"}]}}),
    );
    let (intercept, _) = iam(json!({"etag": "CAE=", "bindings": []}), 0, Some(pap));
    let proxy = Proxy::start(intercept).await;
    let d = proxy.driver();
    let b = bucket(&d).await;
    proxy.clear();
    let e = d.enable_container_cdn(&b).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(e.hint().contains("public access prevention"), "{}", e.hint());
    assert_eq!(proxy.requests().iter().filter(|r| r.method == "PUT").count(), 1, "not retried as a conflict");
}
