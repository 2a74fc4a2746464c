//! End-to-end CRC32C checksums (`checksum = crc32c`, the default), against the S3
//! servers `cargo xtask test` starts and against in-process stand-ins for what they do not
//! do:
//!
//! - a single PUT carries `x-amz-checksum-crc32c` and every server keeps it (read back
//!   with HEAD and `x-amz-checksum-mode`); s3s-fs refuses a body that does not match it;
//! - a multipart upload on moto is created with CRC32C / `FULL_OBJECT`, sends each part's
//!   checksum and the whole object's, and the object reports that CRC32C as its hash;
//!   s3s-fs and rclone ignore the algorithm, so their parts are checked with MD5;
//! - SSE-KMS objects (ETags that are not MD5s) report and are verified by their CRC32C;
//! - a whole-object GET whose bytes differ from the stored checksum fails with
//!   `ObjectHashMismatch` (a real server keeping a wrong checksum, and a stand-in); a
//!   ranged GET is not checked;
//! - a part the server refuses with `BadDigest` fails the engine's upload with a typed
//!   error and the upload is aborted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use bytes::Bytes;
use storage_core::kit::crc32c;
use storage_core::{
    ByteRange, Driver, DriverExt, Encryption, ErrorKind, GetOptions, HashAlgorithm, ObjectHash, PutOptions, Transfer,
    TransferOptions,
};
use storage_s3::{Checksum, S3Config, S3Driver, S3Request};
use storage_testkit::S3Server;
use storage_testkit::http::{Reply, Seen, serve};

fn b64(crc: u32) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(crc.to_be_bytes())
}

fn driver(server: &str) -> S3Driver {
    let s = S3Server::from_env(server);
    S3Driver::new(S3Config::new().endpoint(s.endpoint).static_credentials(s.access_key_id, s.secret_access_key))
        .unwrap()
}

async fn bucket(s3: &S3Driver, tag: &str) -> String {
    let b = format!("crc-{tag}-{}", std::process::id());
    let _ = s3.delete_prefix(&b, "").await;
    let _ = s3.delete_container(&b).await;
    s3.create_container(&b).await.unwrap();
    b
}

async fn drop_bucket(s3: &S3Driver, b: &str) {
    s3.delete_prefix(b, "").await.unwrap();
    s3.delete_container(b).await.unwrap();
}

/// The checksum headers of a HEAD that asks for them.
async fn stored_checksum(s3: &S3Driver, b: &str, key: &str) -> (Option<String>, Option<String>) {
    let head =
        s3.send_raw(S3Request::head().bucket(b).key(key).header("x-amz-checksum-mode", "ENABLED")).await.unwrap();
    (head.header("x-amz-checksum-crc32c").map(str::to_owned), head.header("x-amz-checksum-type").map(str::to_owned))
}

/// Data that is not the same byte over and over (so a swapped part would show).
fn noise(len: usize, seed: u32) -> Bytes {
    (0..len as u32).map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8).collect()
}

async fn single_put_keeps_the_crc32c(server: &str) {
    let s3 = driver(server);
    assert!(s3.info().capabilities.upload_checksums);
    let b = bucket(&s3, &format!("single-{}", server.to_ascii_lowercase())).await;
    let data = noise(100_000, 1);
    s3.put_object(&b, "one", data.clone().into(), &PutOptions::default()).await.unwrap();
    let (value, _) = stored_checksum(&s3, &b, "one").await;
    assert_eq!(value, Some(b64(crc32c(&data))), "{server} keeps the CRC32C sent with the PUT");
    // The read is checked against it (and passes).
    assert_eq!(s3.get_bytes(&b, "one").await.unwrap(), data);
    drop_bucket(&s3, &b).await;
}

#[tokio::test]
async fn moto_keeps_the_crc32c_of_a_single_put() {
    single_put_keeps_the_crc32c("MOTO").await;
}

#[tokio::test]
async fn s3s_fs_keeps_the_crc32c_of_a_single_put() {
    single_put_keeps_the_crc32c("S3SFS").await;
}

#[tokio::test]
async fn rclone_keeps_the_crc32c_of_a_single_put() {
    single_put_keeps_the_crc32c("RCLONE").await;
}

/// s3s-fs checks the checksum of a PUT (as S3 does): a body that does not match it is
/// refused with BadDigest, a typed `ObjectHashMismatch`.
#[tokio::test]
async fn s3s_fs_refuses_a_body_that_does_not_match_its_crc32c() {
    let s3 = driver("S3SFS");
    let b = bucket(&s3, "baddigest").await;
    let request = S3Request::put()
        .bucket(&b)
        .key("bad")
        .header("x-amz-checksum-crc32c", b64(crc32c(b"the data that was meant")))
        .body("the data that arrived");
    let e = s3.send_raw(request).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
    assert_eq!(e.provider_code(), Some("BadDigest"), "{e}");
    // (s3s-fs 0.14 then leaves the refused body in place without a checksum, and serves
    // it: a defect of the emulator; AWS writes nothing.)
    drop_bucket(&s3, &b).await;
}

/// The engine over `s3` with 5 MiB parts (moto's minimum) from 5 MiB on.
fn engine(s3: &S3Driver) -> Transfer {
    let options = TransferOptions { part_size: 5 << 20, single_put_threshold: 5 << 20, ..TransferOptions::default() };
    Transfer::with_options(Arc::new(s3.clone()), options)
}

#[tokio::test]
async fn moto_multipart_uploads_carry_part_and_whole_object_crc32c() {
    let s3 = driver("MOTO");
    let b = bucket(&s3, "mpu-moto").await;
    let data = noise((11 << 20) + 12_345, 2);
    let up = s3.create_multipart(&b, "direct", &PutOptions::default()).await.unwrap();
    assert_eq!(up.checksum, Some(HashAlgorithm::Crc32c), "moto acknowledges CRC32C at create");
    let mut parts = Vec::new();
    for (i, chunk) in data.chunks(5 << 20).enumerate() {
        let part = s3.put_part(&up, i as u32 + 1, Bytes::copy_from_slice(chunk).into(), &Default::default()).await;
        let part = part.unwrap();
        assert_eq!(part.checksum, Some(ObjectHash::crc32c(crc32c(chunk))), "part {}", i + 1);
        parts.push(part);
    }
    let o = s3.complete_multipart(&up, &parts, &Default::default()).await.unwrap();
    let whole = ObjectHash::crc32c(crc32c(&data));
    assert_eq!(o.hash.as_ref(), Some(&whole));
    assert_eq!(stored_checksum(&s3, &b, "direct").await, (Some(b64(crc32c(&data))), Some("FULL_OBJECT".into())));
    assert_eq!(s3.head_object(&b, "direct").await.unwrap().hash.as_ref(), Some(&whole));
    assert_eq!(s3.get_bytes(&b, "direct").await.unwrap(), data);

    // The engine: no MD5 of its own (upload_checksums), the same checksums.
    let o = engine(&s3).upload_bytes(data.clone(), &b, "engine", PutOptions::default()).await.unwrap();
    assert_eq!(o.hash.as_ref(), Some(&whole));
    assert_eq!(stored_checksum(&s3, &b, "engine").await.0, Some(b64(crc32c(&data))));
    assert!(s3.list_multipart_uploads(&b, None).await.unwrap().is_empty());
    drop_bucket(&s3, &b).await;
}

/// s3s-fs and rclone ignore `x-amz-checksum-algorithm` at CreateMultipartUpload (no
/// checksum is kept for the object), so the upload's parts are checked with MD5 instead:
/// `Content-MD5`, the part ETags, and the multipart ETag at completion.
async fn servers_without_multipart_checksums_get_md5_parts(server: &str) {
    let s3 = driver(server);
    let b = bucket(&s3, &format!("mpu-{}", server.to_ascii_lowercase())).await;
    let data = noise((10 << 20) + 99, 3);
    let up = s3.create_multipart(&b, "direct", &PutOptions::default()).await.unwrap();
    assert_eq!(up.checksum, Some(HashAlgorithm::Md5), "{server} ignores x-amz-checksum-algorithm");
    let mut parts = Vec::new();
    for (i, chunk) in data.chunks(5 << 20).enumerate() {
        let part = s3.put_part(&up, i as u32 + 1, Bytes::copy_from_slice(chunk).into(), &Default::default()).await;
        let part = part.unwrap();
        let md5 = storage_core::hash::md5_hex(chunk);
        assert_eq!(part.checksum, Some(ObjectHash::md5(&md5)), "part {}", i + 1);
        parts.push(part);
    }
    let o = s3.complete_multipart(&up, &parts, &Default::default()).await.unwrap();
    assert_eq!(o.size, data.len() as u64);
    assert_eq!(s3.get_bytes(&b, "direct").await.unwrap(), data);
    let o = engine(&s3).upload_bytes(data.clone(), &b, "engine", PutOptions::default()).await.unwrap();
    assert_eq!(o.size, data.len() as u64);
    assert_eq!(s3.get_bytes(&b, "engine").await.unwrap(), data);
    drop_bucket(&s3, &b).await;
}

#[tokio::test]
async fn s3s_fs_multipart_parts_are_checked_with_md5() {
    servers_without_multipart_checksums_get_md5_parts("S3SFS").await;
}

#[tokio::test]
async fn rclone_multipart_parts_are_checked_with_md5() {
    servers_without_multipart_checksums_get_md5_parts("RCLONE").await;
}

/// Under SSE-KMS the ETag is not the data's MD5: the object reports its CRC32C instead,
/// single and multipart, and downloads check it.
#[tokio::test]
async fn kms_objects_are_verified_by_their_crc32c() {
    let s3 = driver("MOTO");
    let b = bucket(&s3, "kms").await;
    let kms = PutOptions {
        encryption: Some(Encryption::Kms { key_id: Some("alias/test-key".into()) }),
        ..PutOptions::default()
    };
    let small = noise(70_000, 4);
    let put = s3.put_object(&b, "single", small.clone().into(), &kms).await.unwrap();
    let want = ObjectHash::crc32c(crc32c(&small));
    assert_eq!(put.hash.as_ref(), Some(&want));
    let head = s3.head_object(&b, "single").await.unwrap();
    assert_eq!(head.extra.get("encryption").map(String::as_str), Some("aws:kms"));
    assert_eq!(head.hash.as_ref(), Some(&want));

    let big = noise((10 << 20) + 7, 5);
    let o = engine(&s3).upload_bytes(big.clone(), &b, "multi", kms.clone()).await.unwrap();
    let want_big = ObjectHash::crc32c(crc32c(&big));
    assert_eq!(o.hash.as_ref(), Some(&want_big));
    assert_eq!(s3.head_object(&b, "multi").await.unwrap().hash.as_ref(), Some(&want_big));

    let dir = tempfile::tempdir().unwrap();
    for key in ["single", "multi"] {
        let path = dir.path().join(key);
        s3.download_object(&b, key, &path, &Default::default()).await.unwrap();
        let want = if key == "single" { &small } else { &big };
        assert_eq!(&std::fs::read(&path).unwrap()[..], &want[..], "{key}");
    }
    drop_bucket(&s3, &b).await;
}

/// moto and rclone keep a PUT's checksum without checking it: an object stored with a
/// checksum its bytes do not have (what a corruption on the way in would leave) is
/// refused when read whole, by the driver and by the engine's download.
async fn a_kept_checksum_that_does_not_match_is_refused_on_read(server: &str) {
    let s3 = driver(server);
    let b = bucket(&s3, &format!("wrongsum-{}", server.to_ascii_lowercase())).await;
    let request = S3Request::put()
        .bucket(&b)
        .key("damaged")
        .header("content-type", "application/octet-stream")
        .header("x-amz-checksum-crc32c", b64(crc32c(b"what was sent")))
        .header("x-amz-sdk-checksum-algorithm", "CRC32C")
        .body("what was stored");
    s3.send_raw(request).await.unwrap();
    let e = s3.get_bytes(&b, "damaged").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{server}: {e}");
    assert!(e.to_string().contains("CRC32C"), "{e}");
    // A range carries no checksum of its own bytes: not checked.
    let range = GetOptions { range: Some(ByteRange::Bounded { start: 0, end: 4 }), ..GetOptions::default() };
    assert_eq!(s3.get_object(&b, "damaged", &range).await.unwrap().bytes().await.unwrap(), "what");
    drop_bucket(&s3, &b).await;
}

#[tokio::test]
async fn moto_reads_of_an_object_whose_checksum_does_not_match_fail() {
    a_kept_checksum_that_does_not_match_is_refused_on_read("MOTO").await;
}

#[tokio::test]
async fn rclone_reads_of_an_object_whose_checksum_does_not_match_fail() {
    a_kept_checksum_that_does_not_match_is_refused_on_read("RCLONE").await;
}

/// A driver on an in-process stand-in.
fn stand_in(base: &str, checksum: Checksum) -> S3Driver {
    S3Driver::new(S3Config::new().endpoint(base).static_credentials("AKID", "SECRET").checksum(checksum)).unwrap()
}

const BODY: &str = "the bytes on the wire";

/// GET answers `BODY` with the checksum of other bytes (a 206 for a range).
fn wrong_checksum_server(seen: &Seen) -> Reply {
    let stored = b64(crc32c(b"the bytes that were stored"));
    match seen.header("range") {
        Some(_) => Reply::new(206, "application/octet-stream", &BODY[..5])
            .with_header("content-range", &format!("bytes 0-4/{}", BODY.len())),
        None => Reply::new(200, "application/octet-stream", BODY),
    }
    .with_header("etag", "\"0123456789abcdef0123456789abcdef\"")
    .with_header("x-amz-checksum-crc32c", &stored)
}

#[tokio::test]
async fn a_whole_get_whose_bytes_differ_from_the_checksum_fails_and_a_range_is_not_checked() {
    let server = serve(wrong_checksum_server).await;
    let s3 = stand_in(&server.base, Checksum::Crc32c);
    let e = s3.get_bytes("bkt", "k").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
    assert!(server.requests().iter().all(|r| r.header("x-amz-checksum-mode") == Some("ENABLED")));
    let range = GetOptions { range: Some(ByteRange::Bounded { start: 0, end: 4 }), ..GetOptions::default() };
    assert_eq!(s3.get_object("bkt", "k", &range).await.unwrap().bytes().await.unwrap(), &BODY[..5]);

    // `checksum = none`: nothing asked for, nothing checked (the user's choice).
    let unchecked = stand_in(&server.base, Checksum::None);
    assert!(!unchecked.info().capabilities.upload_checksums);
    let before = server.requests().len();
    assert_eq!(unchecked.get_bytes("bkt", "k").await.unwrap(), BODY);
    assert_eq!(server.requests()[before].header("x-amz-checksum-mode"), None);
}

#[tokio::test]
async fn a_whole_get_that_matches_its_checksum_passes() {
    let server = serve(|_: &Seen| {
        Reply::new(200, "application/octet-stream", BODY)
            .with_header("etag", "\"0123456789abcdef0123456789abcdef-2\"")
            .with_header("x-amz-checksum-crc32c", &b64(crc32c(BODY.as_bytes())))
            .with_header("x-amz-checksum-type", "FULL_OBJECT")
    })
    .await;
    let s3 = stand_in(&server.base, Checksum::Crc32c);
    let got = s3.get_object("bkt", "k", &GetOptions::default()).await.unwrap();
    assert_eq!(got.object.hash, Some(ObjectHash::crc32c(crc32c(BODY.as_bytes()))), "a multipart ETag gives way");
    assert_eq!(got.bytes().await.unwrap(), BODY);
}

const UPLOAD_ID: &str = "up-1";

/// A multipart stand-in that acknowledges CRC32C, refuses part 2 with BadDigest, and
/// answers everything else.
fn bad_digest_server(seen: &Seen) -> Reply {
    let xml = "application/xml";
    match (seen.method.as_str(), seen.param("partNumber")) {
        ("POST", _) if seen.target.contains("uploads") => Reply::new(
            200,
            xml,
            format!("<InitiateMultipartUploadResult><UploadId>{UPLOAD_ID}</UploadId></InitiateMultipartUploadResult>"),
        )
        .with_header("x-amz-checksum-algorithm", "CRC32C")
        .with_header("x-amz-checksum-type", "FULL_OBJECT"),
        ("PUT", Some("2")) => Reply::new(
            400,
            xml,
            "<Error><Code>BadDigest</Code><Message>The CRC32C you specified did not match the calculated \
             checksum.</Message></Error>",
        ),
        ("PUT", Some(n)) => Reply::new(200, xml, "").with_header("etag", &format!("\"part{n}\"")),
        ("DELETE", _) => Reply::new(204, xml, ""),
        _ => Reply::new(500, xml, "<Error><Code>InternalError</Code><Message>unexpected</Message></Error>"),
    }
}

#[tokio::test]
async fn a_part_refused_with_bad_digest_fails_the_upload_typed_and_aborts_it() {
    let server = serve(bad_digest_server).await;
    let s3 = stand_in(&server.base, Checksum::Crc32c);
    let data = noise((10 << 20) + 5, 6);
    let e = engine(&s3).upload_bytes(data.clone(), "bkt", "big", PutOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
    assert_eq!(e.provider_code(), Some("BadDigest"), "{e}");
    let seen = server.requests();
    let create = &seen[0];
    assert_eq!(create.header("x-amz-checksum-algorithm"), Some("CRC32C"));
    assert_eq!(create.header("x-amz-checksum-type"), Some("FULL_OBJECT"));
    let parts: Vec<&Seen> = seen.iter().filter(|r| r.method == "PUT").collect();
    assert!(parts.len() >= 2, "{} parts sent", parts.len());
    for p in &parts {
        assert_eq!(p.header("x-amz-checksum-crc32c"), Some(b64(crc32c(&p.bytes)).as_str()), "{}", p.target);
        assert_eq!(p.header("content-md5"), None, "no MD5 is computed for a CRC32C upload: {}", p.target);
    }
    assert!(seen.iter().any(|r| r.method == "DELETE" && r.param("uploadId") == Some(UPLOAD_ID)), "aborted");
    assert!(!seen.iter().any(|r| r.method == "POST" && r.param("uploadId").is_some()), "never completed");
}

/// A complete stand-in: CompleteMultipartUpload is answered with the checksum the server
/// "computed", which must be the one the parts make.
fn complete_server(answer: u32) -> impl Fn(&Seen) -> Reply + Send + Sync + 'static {
    move |seen: &Seen| {
        let xml = "application/xml";
        match seen.method.as_str() {
            "POST" if seen.target.contains("uploads") => Reply::new(
                200,
                xml,
                format!(
                    "<InitiateMultipartUploadResult><UploadId>{UPLOAD_ID}</UploadId></InitiateMultipartUploadResult>"
                ),
            )
            .with_header("x-amz-checksum-algorithm", "CRC32C"),
            "PUT" => Reply::new(200, xml, "").with_header("etag", "\"p\""),
            "POST" => Reply::new(
                200,
                xml,
                format!(
                    "<CompleteMultipartUploadResult><ETag>\"abc-2\"</ETag><ChecksumCRC32C>{}</ChecksumCRC32C>\
                     <ChecksumType>FULL_OBJECT</ChecksumType></CompleteMultipartUploadResult>",
                    b64(answer)
                ),
            ),
            _ => Reply::new(204, xml, ""),
        }
    }
}

#[tokio::test]
async fn complete_sends_each_parts_checksum_and_the_whole_objects_and_checks_the_answer() {
    let data = noise((5 << 20) + 3, 7);
    let whole = crc32c(&data);
    let server = serve(complete_server(whole)).await;
    let s3 = stand_in(&server.base, Checksum::Crc32c);
    let o = engine(&s3).upload_bytes(data.clone(), "bkt", "big", PutOptions::default()).await.unwrap();
    assert_eq!(o.hash, Some(ObjectHash::crc32c(whole)));
    let seen = server.requests();
    let complete = seen.iter().find(|r| r.method == "POST" && r.param("uploadId").is_some()).unwrap();
    assert_eq!(complete.header("x-amz-checksum-crc32c"), Some(b64(whole).as_str()));
    assert_eq!(complete.header("x-amz-checksum-type"), Some("FULL_OBJECT"));
    assert_eq!(complete.body.matches("<ChecksumCRC32C>").count(), 2, "{}", complete.body);
    for chunk in data.chunks(5 << 20) {
        let part = format!("<ChecksumCRC32C>{}</ChecksumCRC32C></Part>", b64(crc32c(chunk)));
        assert!(complete.body.contains(&part), "{}", complete.body);
    }

    // A server that reports another checksum for the object than the parts make.
    let server = serve(complete_server(whole ^ 1)).await;
    let s3 = stand_in(&server.base, Checksum::Crc32c);
    let e = engine(&s3).upload_bytes(data, "bkt", "big", PutOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
}

/// A streamed body of known length (what `put_object` sends as it reads, without a
/// checksum ahead of it).
fn streamed(data: &'static [u8]) -> storage_core::Payload {
    use futures::StreamExt as _;
    let chunks: Vec<storage_core::Result<Bytes>> = data.chunks(7).map(|c| Ok(Bytes::from_static(c))).collect();
    storage_core::Payload::stream(futures::stream::iter(chunks).boxed(), Some(data.len() as u64))
}

#[tokio::test]
async fn a_streamed_put_is_held_to_the_etag_the_server_answers() {
    use storage_core::kit::md5_hex;
    // An honest stand-in answers the MD5 of what it received; a damaging one the MD5 of
    // other bytes (what a server that stored them damaged would say).
    let honest = serve(|seen: &Seen| {
        Reply::new(200, "application/xml", "").with_header("etag", &format!("\"{}\"", md5_hex(&seen.bytes)))
    })
    .await;
    let damaging = serve(|seen: &Seen| {
        let mut stored = seen.bytes.clone();
        stored[0] ^= 1;
        Reply::new(200, "application/xml", "").with_header("etag", &format!("\"{}\"", md5_hex(&stored)))
    })
    .await;
    let data: &'static [u8] = b"bytes streamed to a single PutObject, in chunks of seven";
    let o =
        stand_in(&honest.base, Checksum::Crc32c).put_object("bkt", "k", streamed(data), &PutOptions::default()).await;
    assert_eq!(o.unwrap().md5(), Some(md5_hex(data).as_str()));
    assert!(honest.requests()[0].bytes == data);

    let e = stand_in(&damaging.base, Checksum::Crc32c)
        .put_object("bkt", "k", streamed(data), &PutOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
    assert!(e.message().contains(&md5_hex(data)), "{e}");
    // `checksum = none`: nothing computed, nothing checked (the user's choice).
    let unchecked = stand_in(&damaging.base, Checksum::None);
    unchecked.put_object("bkt", "k", streamed(data), &PutOptions::default()).await.unwrap();
}

#[tokio::test]
async fn streamed_puts_match_their_etags_on_every_server() {
    let data: &'static [u8] = b"a streamed single PutObject on a real server";
    for server in ["MOTO", "S3SFS", "RCLONE"] {
        let s3 = driver(server);
        let b = bucket(&s3, &format!("stream-{}", server.to_ascii_lowercase())).await;
        let o = s3.put_object(&b, "k", streamed(data), &PutOptions::default()).await.unwrap();
        assert_eq!(o.md5(), Some(storage_core::kit::md5_hex(data).as_str()), "{server}");
        assert_eq!(s3.get_bytes(&b, "k").await.unwrap(), data, "{server}");
        drop_bucket(&s3, &b).await;
    }
}

/// A streamed PutObject whose stream fails midway (the source broke: a disk error, a
/// dropped download) fails, and the server keeps what it had: the old object whole where
/// there was one, nothing where there was none. The request is cut before its announced
/// length, which every server discards.
#[tokio::test]
async fn a_streamed_put_that_breaks_midway_leaves_the_old_object_on_every_server() {
    use futures::StreamExt as _;
    let broken = || {
        let chunks: Vec<storage_core::Result<Bytes>> = vec![
            Ok(noise(64 * 1024, 1)),
            Ok(noise(64 * 1024, 2)),
            Err(storage_core::Error::new(ErrorKind::Io, "the source broke")),
        ];
        storage_core::Payload::stream(futures::stream::iter(chunks).boxed(), Some(1024 * 1024))
    };
    for server in ["MOTO", "S3SFS", "RCLONE"] {
        let s3 = driver(server);
        let b = bucket(&s3, &format!("broken-{}", server.to_ascii_lowercase())).await;
        let old = noise(1000, 7);
        s3.put_object(&b, "k", old.clone().into(), &PutOptions::default()).await.unwrap();
        let e = s3.put_object(&b, "k", broken(), &PutOptions::default()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io, "{server}: {e}");
        assert_eq!(s3.get_bytes(&b, "k").await.unwrap(), old, "{server}: the old object is whole");
        let e = s3.put_object(&b, "new", broken(), &PutOptions::default()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io, "{server}: {e}");
        // Give a server that stores as it receives a moment to finish with the cut request.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let e = s3.head_object(&b, "new").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ObjectDoesNotExist, "{server}: nothing was stored: {e}");
        drop_bucket(&s3, &b).await;
    }
}
