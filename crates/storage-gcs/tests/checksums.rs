//! End-to-end CRC32C checksums, against fake-gcs-server and in-process stand-ins for
//! what it does not do (it checks no checksum sent to it and stores what arrives):
//!
//! - every upload reports the data's hash (MD5 for single requests, CRC32C for composed
//!   objects), parts report their CRC32C, and no MD5 is computed for them;
//! - a resumable upload sends the whole object's CRC32C with its last request
//!   (`x-goog-hash`), which GCS checks;
//! - an object stored with other bytes than were sent (a streamed put, a resumable
//!   upload, a compose, a copy: what a server that does not check leaves) fails with
//!   `ObjectHashMismatch`, and that generation is deleted;
//! - a whole download whose bytes differ from `x-goog-hash` fails; a range is not checked
//!   (GCS sends only the whole object's hashes).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use futures::StreamExt;
use storage_core::kit::{crc32c, md5_hex};
use storage_core::{
    ByteRange, Driver, DriverExt, ErrorKind, GetOptions, HashAlgorithm, ObjectHash, Payload, PutOptions, Transfer,
    TransferOptions,
};
use storage_gcs::{GcsConfig, GcsDriver};
use storage_http::{HttpConfig, RetryConfig};
use storage_testkit::http::{Reply, Seen, serve};

fn b64(crc: u32) -> String {
    B64.encode(crc.to_be_bytes())
}

/// Data that is not one byte over and over.
fn noise(len: usize, seed: u32) -> Bytes {
    (0..len as u32).map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8).collect()
}

fn fake_gcs() -> Arc<GcsDriver> {
    let endpoint = std::env::var("EMU_GCS_FAKEGCS_ENDPOINT").unwrap_or_else(|_| {
        panic!("EMU_GCS_FAKEGCS_ENDPOINT is not set: run `cargo xtask test`, or `cargo xtask emulators start fake-gcs`")
    });
    Arc::new(GcsDriver::new(GcsConfig::emulator(endpoint)).unwrap())
}

/// A chunked stream of `data` whose length is not given (a resumable upload).
fn stream_of(data: &Bytes) -> Payload {
    let chunks: Vec<_> = data.chunks(300_000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    Payload::stream(futures::stream::iter(chunks).boxed(), None)
}

#[tokio::test]
async fn uploads_of_every_kind_report_the_datas_hash() {
    let d = fake_gcs();
    assert!(d.info().capabilities.upload_checksums);
    let b = format!("crc-{}", std::process::id());
    let _ = d.create_container(&b).await;
    let data = noise((3 << 20) + 4321, 1);
    let crc = ObjectHash::crc32c(crc32c(&data));

    let single = d.put_object(&b, "single", data.clone().into(), &PutOptions::default()).await.unwrap();
    assert_eq!(single.hash, Some(ObjectHash::md5(md5_hex(&data))));
    let known = Payload::stream(futures::stream::iter([Ok(data.clone())]).boxed(), Some(data.len() as u64));
    d.put_object(&b, "streamed", known, &PutOptions::default()).await.unwrap();
    d.put_object(&b, "resumable", stream_of(&data), &PutOptions::default()).await.unwrap();

    let up = d.create_multipart(&b, "direct", &PutOptions::default()).await.unwrap();
    assert_eq!(up.checksum, Some(HashAlgorithm::Crc32c));
    let mut parts = Vec::new();
    for (i, chunk) in data.chunks(1 << 20).enumerate() {
        let body = Bytes::copy_from_slice(chunk).into();
        let part = d.put_part(&up, i as u32 + 1, body, &Default::default()).await.unwrap();
        assert_eq!(part.checksum, Some(ObjectHash::crc32c(crc32c(chunk))), "part {}", i + 1);
        parts.push(part);
    }
    // The data's MD5 or CRC32C (GCS gives a composed object no MD5; fake-gcs-server does).
    let truthful = |hash: Option<&ObjectHash>| match hash.map(|h| h.algorithm) {
        Some(HashAlgorithm::Md5) => hash == Some(&ObjectHash::md5(md5_hex(&data))),
        Some(HashAlgorithm::Crc32c) => hash == Some(&crc),
        _ => false,
    };
    let o = d.complete_multipart(&up, &parts, &Default::default()).await.unwrap();
    assert!(truthful(o.hash.as_ref()), "{:?}", o.hash);

    let options = TransferOptions { single_put_threshold: 1 << 20, part_size: 1 << 20, ..TransferOptions::default() };
    let t = Transfer::with_options(d.clone(), options);
    let o = t.upload_bytes(data.clone(), &b, "engine", PutOptions::default()).await.unwrap();
    assert!(truthful(o.hash.as_ref()), "{:?}", o.hash);
    for key in ["single", "streamed", "resumable", "direct", "engine"] {
        let head = d.head_object(&b, key).await.unwrap();
        assert!(truthful(head.hash.as_ref()), "{key}: {:?}", head.hash);
        assert_eq!(d.get_bytes(&b, key).await.unwrap(), data, "{key}");
    }
    d.delete_prefix(&b, "").await.unwrap();
    d.delete_container(&b).await.unwrap();
}

// ---------------------------------------------------------------------------------------
// In-process stand-ins
// ---------------------------------------------------------------------------------------

const BUCKET: &str = "bkt";

fn stand_in(base: &str) -> GcsDriver {
    let http = HttpConfig {
        allow_http: true,
        retry: RetryConfig { max_retries: 0, ..RetryConfig::default() },
        ..HttpConfig::default()
    };
    GcsDriver::new(GcsConfig::emulator(base).http(http)).unwrap()
}

/// An object resource as the server answers it.
fn resource(name: &str, size: usize, crc: u32, generation: u64) -> String {
    format!(
        r#"{{"kind":"storage#object","bucket":"{BUCKET}","name":"{name}","size":"{size}","crc32c":"{}","generation":"{generation}","etag":"CAE="}}"#,
        b64(crc)
    )
}

fn deletes(seen: &[Seen]) -> Vec<(String, Option<String>)> {
    seen.iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| (r.path.clone(), r.param("ifGenerationMatch").map(str::to_owned)))
        .collect()
}

/// A resumable upload whose last request carries `x-goog-hash`; the object the server
/// answers with is `answered` (its CRC32C).
fn resumable_server(whole: usize, answered: u32, base: Arc<OnceLock<String>>) -> impl Fn(&Seen) -> Reply {
    move |seen: &Seen| match (seen.method.as_str(), seen.header("content-range")) {
        ("POST", _) => {
            Reply::json(200, "{}").with_header("location", &format!("{}/upload/session/1", base.get().unwrap()))
        }
        ("PUT", Some(range)) if range.ends_with("/*") => {
            let end = range.trim_start_matches("bytes ").split(['-', '/']).nth(1).unwrap().to_owned();
            Reply::new(308, "text/plain", "").with_header("range", &format!("bytes=0-{end}"))
        }
        ("PUT", Some(_)) => Reply::json(200, resource("obj", whole, answered, 7)),
        ("DELETE", _) => Reply::new(204, "text/plain", ""),
        _ => Reply::json(500, r#"{"error":{"code":500,"message":"unexpected"}}"#),
    }
}

#[tokio::test]
async fn a_resumable_upload_sends_the_whole_crc32c_last_and_checks_the_answer() {
    let data = noise((8 << 20) + 1000, 2);
    let whole = crc32c(&data);
    let base = Arc::new(OnceLock::new());
    let server = serve(resumable_server(data.len(), whole, base.clone())).await;
    base.set(server.base.clone()).unwrap();
    let o = stand_in(&server.base).put_object(BUCKET, "obj", stream_of(&data), &PutOptions::default()).await.unwrap();
    assert_eq!(o.hash, Some(ObjectHash::crc32c(whole)));
    let puts: Vec<Seen> = server.requests().into_iter().filter(|r| r.method == "PUT").collect();
    assert_eq!(puts.len(), 2, "two chunks");
    assert_eq!(puts[0].header("x-goog-hash"), None, "the CRC32C is not known before the end");
    assert_eq!(puts[1].header("x-goog-hash"), Some(format!("crc32c={}", b64(whole)).as_str()));

    // The server stored other bytes (it did not check): refused, that generation deleted.
    let base = Arc::new(OnceLock::new());
    let server = serve(resumable_server(data.len(), whole ^ 1, base.clone())).await;
    base.set(server.base.clone()).unwrap();
    let e = stand_in(&server.base).put_object(BUCKET, "obj", stream_of(&data), &PutOptions::default()).await;
    let e = e.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
    assert_eq!(deletes(&server.requests()), [("/storage/v1/b/bkt/o/obj".to_owned(), Some("7".to_owned()))]);
}

#[tokio::test]
async fn a_streamed_put_stored_damaged_is_refused_and_deleted() {
    let data = Bytes::from_static(b"a stream of known length");
    let server = serve(|seen: &Seen| match seen.method.as_str() {
        "POST" => Reply::json(200, resource("obj", 24, crc32c(b"a stream of known lengtH"), 9)),
        _ => Reply::new(204, "text/plain", ""),
    })
    .await;
    let payload = Payload::stream(futures::stream::iter([Ok(data.clone())]).boxed(), Some(data.len() as u64));
    let e = stand_in(&server.base).put_object(BUCKET, "obj", payload, &PutOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
    assert_eq!(deletes(&server.requests()), [("/storage/v1/b/bkt/o/obj".to_owned(), Some("9".to_owned()))]);
}

#[tokio::test]
async fn a_copy_whose_crc32c_is_not_the_sources_is_refused_and_deleted() {
    let server = serve(|seen: &Seen| match seen.method.as_str() {
        "GET" => Reply::json(200, resource("src", 5, crc32c(b"hello"), 3)),
        "POST" => Reply::json(
            200,
            format!(r#"{{"kind":"storage#rewriteResponse","done":true,"resource":{}}}"#, resource("dst", 5, 1, 4)),
        ),
        _ => Reply::new(204, "text/plain", ""),
    })
    .await;
    let e = stand_in(&server.base).copy_object(BUCKET, "src", BUCKET, "dst", &Default::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
    assert_eq!(deletes(&server.requests()), [("/storage/v1/b/bkt/o/dst".to_owned(), Some("4".to_owned()))]);
}

/// A composite upload whose composed object does not have the CRC32C its parts make:
/// refused, and that generation deleted (with every staged part).
#[tokio::test]
async fn a_compose_whose_crc32c_differs_from_the_parts_is_refused_and_deleted() {
    let server = serve(|seen: &Seen| match seen.method.as_str() {
        // Uploads (the marker and the parts): stored as sent, as GCS would.
        "POST" if seen.path.starts_with("/upload/") => {
            let crc = seen.body.split("\"crc32c\":\"").nth(1).and_then(|r| r.split('"').next()).unwrap().to_owned();
            let name = seen.body.split("\"name\":\"").nth(1).and_then(|r| r.split('"').next()).unwrap().to_owned();
            // The marker is empty, each part 5 bytes.
            let size = if name.ends_with("/upload") { 0 } else { 5 };
            let mut r: serde_json::Value = serde_json::from_str(&resource(&name, size, 0, 1)).unwrap();
            r["crc32c"] = crc.into();
            Reply::json(200, r.to_string())
        }
        "POST" => Reply::json(200, resource("obj", 10, crc32c(b"not these!"), 5)),
        "GET" => Reply::json(200, r#"{"kind":"storage#objects","items":[]}"#),
        _ => Reply::new(204, "text/plain", ""),
    })
    .await;
    let d = stand_in(&server.base);
    let up = d.create_multipart(BUCKET, "obj", &PutOptions::default()).await.unwrap();
    let one = d.put_part(&up, 1, "hello".into(), &Default::default()).await.unwrap();
    let two = d.put_part(&up, 2, "world".into(), &Default::default()).await.unwrap();
    let e = d.complete_multipart(&up, &[one, two], &Default::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
    let gone = deletes(&server.requests());
    assert!(gone.contains(&("/storage/v1/b/bkt/o/obj".to_owned(), Some("5".to_owned()))), "{gone:?}");
    assert_eq!(gone.len(), 4, "the composed object, both parts and the marker: {gone:?}");
}

#[tokio::test]
async fn a_whole_download_is_checked_against_x_goog_hash_and_a_range_is_not() {
    let body = "the bytes on the wire";
    let server = serve(move |seen: &Seen| {
        let stored = format!("crc32c={}", b64(crc32c(b"the bytes that were stored")));
        match seen.header("range") {
            Some(_) => Reply::new(206, "application/octet-stream", &body[..5])
                .with_header("content-range", &format!("bytes 0-4/{}", body.len())),
            None => Reply::new(200, "application/octet-stream", body),
        }
        .with_header("x-goog-hash", &stored)
        .with_header("x-goog-generation", "3")
    })
    .await;
    let d = stand_in(&server.base);
    let e = d.get_bytes(BUCKET, "obj").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
    let range = GetOptions { range: Some(ByteRange::Bounded { start: 0, end: 5 }), ..GetOptions::default() };
    assert_eq!(d.get_object(BUCKET, "obj", &range).await.unwrap().bytes().await.unwrap(), &body[..5]);
}
