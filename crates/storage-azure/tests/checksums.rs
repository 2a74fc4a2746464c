//! End-to-end checksums of block blobs, against Azurite and in-process stand-ins:
//!
//! - Azure's CRC64 is CRC-64/NVME, sent as base64 of its little-endian bytes: Azurite
//!   (which checks `x-ms-content-crc64` on Put Blob and Put Block) accepts the value
//!   computed bit by bit here and refuses another with `Crc64Mismatch`;
//! - a single put carries its CRC64 (no MD5 is computed) and keeps the blob's CRC32C in
//!   its metadata, hidden from the reported metadata; the blob's hash is the MD5 the
//!   service computed;
//! - a multipart upload's blocks carry their CRC64, the parts report their CRC32C, and
//!   the committed blob keeps the whole CRC32C, its hash on HEAD, listings and the commit;
//! - a whole read whose bytes differ from the kept CRC32C, or (for a blob without one)
//!   from its Content-MD5, fails with `ObjectHashMismatch`; a small range is checked
//!   against the CRC64 the service computes for it, where the service does;
//! - a server that stores other bytes than a block or a streamed put sent (it did not
//!   check) is caught from its answer: typed error, and the damaged blob deleted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use futures::StreamExt;
use storage_azure::{AzureConfig, AzureDriver};
use storage_core::kit::{crc32c, md5_hex};
use storage_core::{
    ByteRange, Driver, DriverExt, ErrorKind, GetOptions, HashAlgorithm, ListEntry, ObjectHash, Payload, PutOptions,
    SignedMethod, SignedUrlOptions, Transfer, TransferOptions,
};
use storage_http::http::Method;
use storage_http::{HttpClient, HttpConfig, HttpRequest, RequestBody, RetryConfig, Unsigned};
use storage_testkit::http::{Reply, Seen, serve};

/// Azure's CRC64 (CRC-64/NVME) bit by bit, from its definition: independent of the
/// driver's.
fn crc64(data: &[u8]) -> u64 {
    let mut crc = !0u64;
    for &b in data {
        crc ^= u64::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0x9A6C_9329_AC4B_C9B5 } else { crc >> 1 };
        }
    }
    !crc
}

fn crc64_b64(data: &[u8]) -> String {
    B64.encode(crc64(data).to_le_bytes())
}

fn md5_b64(data: &[u8]) -> String {
    B64.encode(hex::decode(md5_hex(data)).unwrap())
}

/// Data that is not one byte over and over.
fn noise(len: usize, seed: u32) -> Bytes {
    (0..len as u32).map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8).collect()
}

fn azurite() -> Arc<AzureDriver> {
    let endpoint = std::env::var("AZURITE_BLOB_ENDPOINT").unwrap_or_else(|_| {
        panic!("AZURITE_BLOB_ENDPOINT is not set: run `cargo xtask test`, or `cargo xtask emulators start azurite`")
    });
    Arc::new(AzureDriver::new(AzureConfig::emulator().endpoint(endpoint)).unwrap())
}

async fn container(d: &AzureDriver, tag: &str) -> String {
    let c = format!("crc-{tag}-{}", std::process::id());
    let _ = d.delete_prefix(&c, "").await;
    let _ = d.create_container(&c).await;
    c
}

async fn drop_container(d: &AzureDriver, c: &str) {
    d.delete_prefix(c, "").await.unwrap();
    d.delete_container(c).await.unwrap();
}

/// The engine with 1 MiB blocks from 1 MiB on.
fn engine(d: Arc<AzureDriver>) -> Transfer {
    let options = TransferOptions { single_put_threshold: 1 << 20, part_size: 1 << 20, ..TransferOptions::default() };
    Transfer::with_options(d, options)
}

/// A request to Azurite through a SAS URL of the blob (`query` appended), answered with
/// (status, the answer's headers, body).
async fn raw(
    d: &AzureDriver,
    c: &str,
    key: &str,
    method: Method,
    query: &str,
    headers: &[(&'static str, String)],
    body: Option<Bytes>,
) -> (u16, storage_http::http::HeaderMap, String) {
    let signed = match method {
        Method::GET | Method::HEAD => SignedMethod::Get,
        _ => SignedMethod::Put,
    };
    let url = d.signed_url(c, key, &SignedUrlOptions { method: signed, ..Default::default() }).await.unwrap();
    let mut req = HttpRequest::parse(method, &format!("{url}{query}"), "test").unwrap();
    for (name, value) in headers {
        req = req.header(name, value).unwrap();
    }
    if let Some(b) = body {
        req = req.body(RequestBody::Bytes(b));
    }
    let client = HttpClient::new(HttpConfig { allow_http: true, ..Default::default() }).unwrap();
    let resp = client.execute(&req, &Unsigned).await.unwrap();
    let (status, headers) = (resp.status.as_u16(), resp.headers.clone());
    (status, headers, String::from_utf8_lossy(&resp.bytes().await.unwrap()).into_owned())
}

fn header<'a>(h: &'a storage_http::http::HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Azurite checks `x-ms-content-crc64` on Put Blob and Put Block: the CRC-64/NVME value
/// computed here (little-endian, base64) is accepted, another refused.
#[tokio::test]
async fn azurite_checks_crc64_as_computed_here() {
    let d = azurite();
    let c = container(&d, "azurite64").await;
    let data = noise(70_000, 1);
    let blob = [("x-ms-blob-type", "BlockBlob".to_owned())];
    let right = [blob[0].clone(), ("x-ms-content-crc64", crc64_b64(&data))];
    assert_eq!(raw(&d, &c, "right", Method::PUT, "", &right, Some(data.clone())).await.0, 201);
    let wrong = [blob[0].clone(), ("x-ms-content-crc64", crc64_b64(b"other bytes"))];
    let (status, _, body) = raw(&d, &c, "wrong", Method::PUT, "", &wrong, Some(data.clone())).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Crc64Mismatch"), "{body}");
    let block = "&comp=block&blockid=YmxvY2stMQ==";
    let right = [("x-ms-content-crc64", crc64_b64(&data))];
    let (status, h, _) = raw(&d, &c, "blocks", Method::PUT, block, &right, Some(data.clone())).await;
    assert_eq!(status, 201);
    assert_eq!(header(&h, "x-ms-content-crc64"), Some(crc64_b64(&data).as_str()), "the service's own CRC64");
    let wrong = [("x-ms-content-crc64", crc64_b64(b"other bytes"))];
    let (status, _, body) = raw(&d, &c, "blocks", Method::PUT, block, &wrong, Some(data)).await;
    assert_eq!((status, body.contains("Crc64Mismatch")), (400, true), "{body}");
    assert_eq!(d.head_object(&c, "wrong").await.unwrap_err().kind(), ErrorKind::ObjectDoesNotExist);
    drop_container(&d, &c).await;
}

#[tokio::test]
async fn a_single_put_keeps_its_crc32c_and_reports_the_services_md5() {
    let d = azurite();
    assert!(d.info().capabilities.upload_checksums);
    let c = container(&d, "single").await;
    let data = noise(100_000, 2);
    let options = PutOptions::default().with_metadata("owner", "me");
    let put = d.put_object(&c, "one", data.clone().into(), &options).await.unwrap();
    assert_eq!(put.md5(), Some(md5_hex(&data).as_str()), "Put Blob answers with the MD5 it computed");
    let (_, h, _) = raw(&d, &c, "one", Method::HEAD, "", &[], None).await;
    let kept = format!("{:08x}:{}", crc32c(&data), data.len());
    assert_eq!(header(&h, "x-ms-meta-storage_crc32c"), Some(kept.as_str()));
    let head = d.head_object(&c, "one").await.unwrap();
    assert_eq!(head.hash, Some(ObjectHash::md5(md5_hex(&data))));
    assert_eq!(head.metadata.keys().collect::<Vec<_>>(), ["owner"], "the driver's entry is not user metadata");
    let listed = d.list_page(&c, &Default::default(), None).await.unwrap();
    match &listed.items[..] {
        [ListEntry::Object(o)] => {
            assert_eq!(o.metadata.keys().collect::<Vec<_>>(), ["owner"]);
            assert_eq!(o.md5(), Some(md5_hex(&data).as_str()));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(d.get_bytes(&c, "one").await.unwrap(), data, "the read is checked, and passes");
    // The driver's entry cannot be set as user metadata.
    let reserved = PutOptions::default().with_metadata("storage_crc32c", "0:1");
    let e = d.put_object(&c, "two", "x".into(), &reserved).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    drop_container(&d, &c).await;
}

#[tokio::test]
async fn multipart_blobs_keep_and_report_their_whole_crc32c() {
    let d = azurite();
    let c = container(&d, "blocks").await;
    let data = noise((3 << 20) + 12_345, 3);
    let whole = ObjectHash::crc32c(crc32c(&data));

    let up = d.create_multipart(&c, "direct", &PutOptions::default()).await.unwrap();
    assert_eq!(up.checksum, Some(HashAlgorithm::Crc32c));
    let mut parts = Vec::new();
    for (i, chunk) in data.chunks(1 << 20).enumerate() {
        let body = Bytes::copy_from_slice(chunk).into();
        let part = d.put_part(&up, i as u32 + 1, body, &Default::default()).await.unwrap();
        assert_eq!(part.checksum, Some(ObjectHash::crc32c(crc32c(chunk))), "part {}", i + 1);
        parts.push(part);
    }
    let o = d.complete_multipart(&up, &parts, &Default::default()).await.unwrap();
    assert_eq!(o.hash.as_ref(), Some(&whole));
    let (_, h, _) = raw(&d, &c, "direct", Method::HEAD, "", &[], None).await;
    assert_eq!(header(&h, "x-ms-meta-storage_crc32c"), Some(format!("{:08x}:{}", crc32c(&data), data.len()).as_str()));
    assert_eq!(d.head_object(&c, "direct").await.unwrap().hash.as_ref(), Some(&whole));
    assert_eq!(d.get_bytes(&c, "direct").await.unwrap(), data);

    // Through the engine: no MD5 anywhere, the same CRC32C; a streamed block too.
    let o = engine(d.clone()).upload_bytes(data.clone(), &c, "engine", PutOptions::default()).await.unwrap();
    assert_eq!(o.hash.as_ref(), Some(&whole));
    let listed = d.list_page(&c, &Default::default(), None).await.unwrap();
    for entry in &listed.items {
        let ListEntry::Object(o) = entry else { panic!("{entry:?}") };
        assert_eq!(o.hash.as_ref(), Some(&whole), "{}", o.name);
        assert!(o.metadata.is_empty(), "{:?}", o.metadata);
    }
    let up = d.create_multipart(&c, "streamed", &PutOptions::default()).await.unwrap();
    let stream = Payload::stream(
        futures::stream::iter([Ok(data.slice(..1000)), Ok(data.slice(1000..))]).boxed(),
        Some(data.len() as u64),
    );
    let part = d.put_part(&up, 1, stream, &Default::default()).await.unwrap();
    assert_eq!(part.checksum.as_ref(), Some(&whole));
    d.complete_multipart(&up, &[part], &Default::default()).await.unwrap();
    assert_eq!(d.get_bytes(&c, "streamed").await.unwrap(), data);
    drop_container(&d, &c).await;
}

/// A blob whose kept CRC32C (or, without one, whose Content-MD5) is not its bytes' is
/// refused when read whole, as a body damaged on the way would be; a range is not.
#[tokio::test]
async fn whole_reads_of_a_blob_whose_hash_does_not_match_fail() {
    let d = azurite();
    let c = container(&d, "wrongsum").await;
    let data = noise(50_000, 4);
    let other = noise(50_000, 5);
    let wrong_crc = [
        ("x-ms-blob-type", "BlockBlob".to_owned()),
        ("x-ms-meta-storage_crc32c", format!("{:08x}:{}", crc32c(&other), other.len())),
    ];
    assert_eq!(raw(&d, &c, "crc", Method::PUT, "", &wrong_crc, Some(data.clone())).await.0, 201);
    let e = d.get_bytes(&c, "crc").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
    assert!(e.to_string().contains("CRC32C"), "{e}");
    let range = GetOptions { range: Some(ByteRange::Bounded { start: 0, end: 10 }), ..GetOptions::default() };
    assert_eq!(d.get_object(&c, "crc", &range).await.unwrap().bytes().await.unwrap(), data.slice(..10));

    // A kept value of another size is stale (a tool rewrote the data and carried the
    // metadata over): ignored, and the MD5 checks the read.
    let stale = [
        ("x-ms-blob-type", "BlockBlob".to_owned()),
        ("x-ms-meta-storage_crc32c", format!("{:08x}:{}", crc32c(&other), other.len() + 1)),
    ];
    assert_eq!(raw(&d, &c, "stale", Method::PUT, "", &stale, Some(data.clone())).await.0, 201);
    assert_eq!(d.get_bytes(&c, "stale").await.unwrap(), data);
    assert_eq!(d.head_object(&c, "stale").await.unwrap().md5(), Some(md5_hex(&data).as_str()));

    // No CRC32C, and a Content-MD5 that is not the bytes' (Set Blob Properties takes any).
    let plain = [("x-ms-blob-type", "BlockBlob".to_owned())];
    assert_eq!(raw(&d, &c, "md5", Method::PUT, "", &plain, Some(data.clone())).await.0, 201);
    let set = [("x-ms-blob-content-md5", md5_b64(&other))];
    assert_eq!(raw(&d, &c, "md5", Method::PUT, "&comp=properties", &set, None).await.0, 200);
    let e = d.get_bytes(&c, "md5").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
    assert!(e.to_string().contains("MD5"), "{e}");
    drop_container(&d, &c).await;
}

/// Copies carry the kept CRC32C with the data, replaced metadata or not.
#[tokio::test]
async fn copies_keep_the_crc32c() {
    let d = azurite();
    let c = container(&d, "copies").await;
    let data = noise((2 << 20) + 3, 6);
    engine(d.clone())
        .upload_bytes(data.clone(), &c, "src", PutOptions::default().with_metadata("a", "1"))
        .await
        .unwrap();
    let whole = ObjectHash::crc32c(crc32c(&data));
    d.copy_object(&c, "src", &c, "kept", &Default::default()).await.unwrap();
    let replace = storage_core::CopyOptions { replace: Some(PutOptions::default()), ..Default::default() };
    d.copy_object(&c, "src", &c, "replaced", &replace).await.unwrap();
    for key in ["kept", "replaced"] {
        let head = d.head_object(&c, key).await.unwrap();
        assert_eq!(head.hash.as_ref(), Some(&whole), "{key}");
        assert_eq!(d.get_bytes(&c, key).await.unwrap(), data, "{key}");
    }
    assert!(d.head_object(&c, "replaced").await.unwrap().metadata.is_empty());
    drop_container(&d, &c).await;
}

// ---------------------------------------------------------------------------------------
// In-process stand-ins
// ---------------------------------------------------------------------------------------

fn stand_in(base: &str) -> AzureDriver {
    let http = HttpConfig {
        allow_http: true,
        retry: RetryConfig { max_retries: 0, ..RetryConfig::default() },
        ..HttpConfig::default()
    };
    AzureDriver::new(AzureConfig::emulator().endpoint(format!("{base}/devstoreaccount1")).http(http)).unwrap()
}

/// The stand-ins' container.
const CONT: &str = "cont";

const BODY: &str = "the bytes on the wire";

fn blob(status: u16, body: &str) -> Reply {
    Reply::new(status, "application/octet-stream", body)
        .with_header("etag", "\"0x8D0\"")
        .with_header("last-modified", "Mon, 27 Jan 2014 22:28:43 GMT")
        .with_header("x-ms-blob-type", "BlockBlob")
}

#[tokio::test]
async fn a_whole_get_is_checked_against_the_kept_crc32c_else_the_md5() {
    // The CRC32C of `data`, kept for a blob of BODY's size.
    let kept = |data: &[u8]| format!("{:08x}:{}", crc32c(data), BODY.len());
    let other = "the bytes that were sent!";
    for (name, reply, refused) in [
        ("crc ok", blob(200, BODY).with_header("x-ms-meta-storage_crc32c", &kept(BODY.as_bytes())), false),
        ("crc wrong", blob(200, BODY).with_header("x-ms-meta-storage_crc32c", &kept(other.as_bytes())), true),
        (
            "crc wins over md5",
            blob(200, BODY)
                .with_header("x-ms-meta-storage_crc32c", &kept(other.as_bytes()))
                .with_header("content-md5", &md5_b64(BODY.as_bytes())),
            true,
        ),
        ("md5 ok", blob(200, BODY).with_header("content-md5", &md5_b64(BODY.as_bytes())), false),
        ("md5 wrong", blob(200, BODY).with_header("content-md5", &md5_b64(other.as_bytes())), true),
        ("nothing kept", blob(200, BODY), false),
    ] {
        let server = serve(move |_: &Seen| reply.clone()).await;
        let got = stand_in(&server.base).get_bytes(CONT, "k").await;
        match (refused, got) {
            (false, Ok(b)) => assert_eq!(b, BODY, "{name}"),
            (true, Err(e)) => assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{name}: {e}"),
            (_, got) => panic!("{name}: {got:?}"),
        }
    }
}

/// A range of up to 4 MiB asks for its CRC64 and is checked against it; a longer one
/// does not ask. A service that refuses the header (Azurite in strict mode) is read
/// without it from then on.
#[tokio::test]
async fn small_ranges_are_checked_against_the_services_crc64() {
    let part = &BODY[..5];
    let ranged = |crc: String| {
        move |seen: &Seen| {
            let r = blob(206, part).with_header("content-range", &format!("bytes 0-4/{}", BODY.len()));
            if seen.header("x-ms-range-get-content-crc64") == Some("true") {
                r.with_header("x-ms-content-crc64", &crc)
            } else {
                r
            }
        }
    };
    let five = GetOptions { range: Some(ByteRange::Bounded { start: 0, end: 5 }), ..GetOptions::default() };
    let server = serve(ranged(crc64_b64(part.as_bytes()))).await;
    let d = stand_in(&server.base);
    assert_eq!(d.get_object(CONT, "k", &five).await.unwrap().bytes().await.unwrap(), part);
    let long = GetOptions { range: Some(ByteRange::Bounded { start: 0, end: (4 << 20) + 1 }), ..GetOptions::default() };
    let _ = d.get_object(CONT, "k", &long).await.unwrap().bytes().await;
    let seen = server.requests();
    assert_eq!(seen[0].header("x-ms-range-get-content-crc64"), Some("true"));
    assert_eq!(seen[1].header("x-ms-range-get-content-crc64"), None, "Azure refuses it above 4 MiB");

    let server = serve(ranged(crc64_b64(b"other"))).await;
    let e = stand_in(&server.base).get_object(CONT, "k", &five).await.unwrap().bytes().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
    assert!(e.to_string().contains("CRC64"), "{e}");

    // Azurite's strict mode.
    let server = serve(|seen: &Seen| match seen.header("x-ms-range-get-content-crc64") {
        Some(_) => Reply::new(
            500,
            "application/xml",
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>FeatureNotSupported</Code><Message>x-ms-range-get-content-crc64 \
             header or parameter is not supported in Azurite strict mode.</Message></Error>",
        )
        .with_header("x-ms-error-code", "FeatureNotSupported"),
        None => blob(206, &BODY[..5]).with_header("content-range", &format!("bytes 0-4/{}", BODY.len())),
    })
    .await;
    let d = stand_in(&server.base);
    for _ in 0..2 {
        assert_eq!(d.get_object(CONT, "k", &five).await.unwrap().bytes().await.unwrap(), part);
    }
    let asked: Vec<bool> =
        server.requests().iter().map(|r| r.header("x-ms-range-get-content-crc64").is_some()).collect();
    assert_eq!(asked, [true, false, false], "asked once, then never again");
}

/// A service that stores other bytes than a streamed Put Blob sent (a stream carries no
/// checksum ahead of it) is caught by the MD5 it answers: typed error, blob deleted.
#[tokio::test]
async fn a_streamed_put_stored_damaged_is_refused_and_deleted() {
    let server = serve(|seen: &Seen| match seen.method.as_str() {
        "PUT" => Reply::new(201, "text/plain", "")
            .with_header("etag", "\"0x8D1\"")
            .with_header("content-md5", &md5_b64(b"what the service stored")),
        _ => Reply::new(202, "text/plain", ""),
    })
    .await;
    let d = stand_in(&server.base);
    let stream = futures::stream::iter([Ok(Bytes::from_static(b"what was ")), Ok(Bytes::from_static(b"sent"))]);
    let payload = Payload::stream(stream.boxed(), Some(13));
    let e = d.put_object(CONT, "k", payload, &PutOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
    assert!(e.to_string().contains("it was deleted"), "{e}");
    let seen = server.requests();
    assert_eq!(seen[0].header("content-md5"), None, "a stream carries no checksum ahead of it");
    assert_eq!(seen[1].method, "DELETE");
    assert_eq!(seen[1].header("if-match"), Some("\"0x8D1\""), "only the damaged version");

    // The same put, stored as sent: fine.
    let server = serve(|_: &Seen| {
        Reply::new(201, "text/plain", "")
            .with_header("etag", "\"0x8D1\"")
            .with_header("content-md5", &md5_b64(b"what was sent"))
    })
    .await;
    let stream = futures::stream::iter([Ok(Bytes::from_static(b"what was ")), Ok(Bytes::from_static(b"sent"))]);
    let d = stand_in(&server.base);
    let o = d.put_object(CONT, "k", Payload::stream(stream.boxed(), Some(13)), &PutOptions::default()).await.unwrap();
    assert_eq!(o.md5(), Some(md5_hex(b"what was sent").as_str()));
}

/// Bytes in memory go with their CRC64 and CRC32C and no MD5; a block the service
/// answers with another CRC64 than was sent (it did not check) fails typed.
#[tokio::test]
async fn blocks_whose_answered_crc64_differs_fail() {
    let server = serve(|seen: &Seen| {
        let crc = if seen.bytes == b"second" { crc64_b64(b"damaged") } else { crc64_b64(&seen.bytes) };
        Reply::new(201, "text/plain", "").with_header("etag", "\"0x8D2\"").with_header("x-ms-content-crc64", &crc)
    })
    .await;
    let d = stand_in(&server.base);
    d.put_object(CONT, "single", "in memory".into(), &PutOptions::default()).await.unwrap();
    let put = &server.requests()[0];
    assert_eq!(put.header("x-ms-content-crc64"), Some(crc64_b64(b"in memory").as_str()));
    assert_eq!(put.header("x-ms-meta-storage_crc32c"), Some(format!("{:08x}:9", crc32c(b"in memory")).as_str()));
    assert_eq!(put.header("content-md5"), None);

    let up = d.create_multipart(CONT, "k", &PutOptions::default()).await;
    // (create checks the container: the stand-in answers 201 to everything)
    let up = up.unwrap();
    let one = d.put_part(&up, 1, "first".into(), &Default::default()).await.unwrap();
    assert_eq!(one.checksum, Some(ObjectHash::crc32c(crc32c(b"first"))));
    let e = d.put_part(&up, 2, "second".into(), &Default::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
    assert!(e.to_string().contains("part 2"), "{e}");
}

#[tokio::test]
async fn a_version_the_service_does_not_keep_never_reads_the_live_blob() {
    // Azurite keeps no versions; whatever it answers for a version id, the live blob is
    // not handed on as that version.
    let d = azurite();
    let c = container(&d, "versionless").await;
    d.put_object(&c, "k", Bytes::from_static(b"live").into(), &PutOptions::default()).await.unwrap();
    let options = GetOptions { version: Some("2026-01-01T00:00:00.0000000Z".into()), ..Default::default() };
    let e = d.get_object(&c, "k", &options).await.err().unwrap();
    assert!(e.is_not_found() || e.kind() == ErrorKind::NotSupported, "{e}");
    assert_eq!(d.get_bytes(&c, "k").await.unwrap(), "live");
    drop_container(&d, &c).await;
}
