//! Versions on GCS are generations, against fake-gcs-server (`cargo xtask emulators start
//! fake-gcs`, `EMU_GCS_FAKEGCS_ENDPOINT`): `GetOptions::version` reads the generation
//! asked for, with its conditions evaluated on that generation (not on the live one); a
//! bucket with object versioning keeps older generations readable after overwrites and
//! deletes, a plain bucket does not; text that is not a generation names no version and
//! is refused before any request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use bytes::Bytes;
use storage_core::{ByteRange, Driver, ErrorKind, GetOptions};
use storage_gcs::{GcsConfig, GcsDriver};

fn endpoint() -> String {
    std::env::var("EMU_GCS_FAKEGCS_ENDPOINT").unwrap_or_else(|_| {
        panic!("EMU_GCS_FAKEGCS_ENDPOINT is not set: run `cargo xtask test`, or `cargo xtask emulators start fake-gcs`")
    })
}

fn driver(endpoint: &str) -> Arc<GcsDriver> {
    Arc::new(GcsDriver::new(GcsConfig::emulator(endpoint)).unwrap())
}

async fn read(
    d: &GcsDriver,
    bucket: &str,
    key: &str,
    options: &GetOptions,
) -> storage_core::Result<(Bytes, Option<String>)> {
    let got = d.get_object(bucket, key, options).await?;
    let version = got.object.version.clone();
    Ok((got.bytes().await?, version))
}

fn at(version: &str) -> GetOptions {
    GetOptions { version: Some(version.to_owned()), ..Default::default() }
}

#[tokio::test]
async fn a_version_reads_its_generation_with_conditions_evaluated_on_it() {
    let endpoint = endpoint();
    let d = driver(&endpoint);
    assert!(d.info().capabilities.versions);
    let b = format!("versioned-{}", std::process::id());
    storage_testkit::create_versioned_gcs_bucket(&endpoint, &b);
    let one = d.put_object(&b, "k", Bytes::from_static(b"version one").into(), &Default::default()).await.unwrap();
    let two = d.put_object(&b, "k", Bytes::from_static(b"version two").into(), &Default::default()).await.unwrap();
    let (v1, v2) = (one.version.clone().unwrap(), two.version.clone().unwrap());
    assert_ne!(v1, v2, "an overwrite makes a new generation");
    assert_eq!(d.head_object(&b, "k").await.unwrap().version.as_deref(), Some(v2.as_str()));

    assert_eq!(read(&d, &b, "k", &at(&v1)).await.unwrap(), (Bytes::from_static(b"version one"), Some(v1.clone())));
    assert_eq!(read(&d, &b, "k", &at(&v2)).await.unwrap(), (Bytes::from_static(b"version two"), Some(v2.clone())));
    let ranged = GetOptions { range: Some(ByteRange::Bounded { start: 8, end: 11 }), ..at(&v1) };
    assert_eq!(read(&d, &b, "k", &ranged).await.unwrap().0, Bytes::from_static(b"one"));

    // If-Match holds for the generation read: its own ETag passes, the live one's fails
    // (evaluated on the live object, both answers would be the other way round).
    let (e1, e2) = (one.etag.clone().unwrap(), two.etag.clone().unwrap());
    assert_ne!(e1, e2);
    let matching = GetOptions { if_match: Some(e1.clone()), ..at(&v1) };
    assert_eq!(read(&d, &b, "k", &matching).await.unwrap().0, Bytes::from_static(b"version one"));
    let live_etag = GetOptions { if_match: Some(e2.clone()), ..at(&v1) };
    let err = read(&d, &b, "k", &live_etag).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed, "{err}");
    let none_match = GetOptions { if_none_match: Some(e1), ..at(&v1) };
    assert_eq!(read(&d, &b, "k", &none_match).await.unwrap_err().kind(), ErrorKind::NotModified);

    // Deleted: the live object is gone, its generations stay readable.
    d.delete_object(&b, "k").await.unwrap();
    assert_eq!(d.head_object(&b, "k").await.unwrap_err().kind(), ErrorKind::ObjectDoesNotExist);
    assert_eq!(read(&d, &b, "k", &at(&v2)).await.unwrap().0, Bytes::from_static(b"version two"));
    let err = read(&d, &b, "k", &at("999999999999")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ObjectDoesNotExist, "{err}");
}

#[tokio::test]
async fn a_plain_bucket_keeps_only_the_live_generation() {
    let endpoint = endpoint();
    let d = driver(&endpoint);
    let b = format!("plain-versions-{}", std::process::id());
    d.create_container(&b).await.unwrap();
    let one = d.put_object(&b, "k", Bytes::from_static(b"1").into(), &Default::default()).await.unwrap();
    let two = d.put_object(&b, "k", Bytes::from_static(b"2").into(), &Default::default()).await.unwrap();
    let err = read(&d, &b, "k", &at(one.version.as_deref().unwrap())).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ObjectDoesNotExist, "{err}");
    assert_eq!(read(&d, &b, "k", &at(two.version.as_deref().unwrap())).await.unwrap().0, Bytes::from_static(b"2"));
}

#[tokio::test]
async fn text_that_is_not_a_generation_names_no_version_and_sends_nothing() {
    // Nothing listens on port 1: an answer other than ObjectDoesNotExist would mean a
    // request was attempted.
    let d = driver("http://127.0.0.1:1");
    for bogus in ["abc", "", "-1", "+5", "1.5", "18446744073709551616", " 7"] {
        let err = d.get_object("bucket", "k", &at(bogus)).await.err().unwrap();
        assert_eq!(err.kind(), ErrorKind::ObjectDoesNotExist, "{bogus:?}: {err}");
        assert!(err.hint().contains("generation"), "{bogus:?}: {err}");
    }
}

/// The transfer engine downloads a version in ranges, each asking for that generation:
/// with the live object overwritten by one of the same size, every range still holds the
/// old bytes (a range that asked for the live object would be refused as a changed
/// object). A version the bucket does not keep leaves an existing file as it was.
#[tokio::test]
async fn a_version_downloads_in_ranges_to_a_file_and_as_a_stream() {
    use futures::StreamExt;
    use storage_core::{DownloadOptions, Transfer, TransferOptions};
    let endpoint = endpoint();
    let d = driver(&endpoint);
    let b = format!("versioned-ranges-{}", std::process::id());
    storage_testkit::create_versioned_gcs_bucket(&endpoint, &b);
    let old: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let new: Vec<u8> = old.iter().map(|x| x ^ 0x5a).collect();
    let v1 = d.put_object(&b, "big", old.clone().into(), &Default::default()).await.unwrap().version.unwrap();
    d.put_object(&b, "big", new.clone().into(), &Default::default()).await.unwrap();
    let t = Transfer::with_options(
        d.clone(),
        TransferOptions { download_part_size: 64 * 1024, ..TransferOptions::default() },
    );
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("old.bin");
    let got = t.download_file(&b, "big", &dest, &DownloadOptions::default().with_version(&v1)).await.unwrap();
    assert_eq!(got.version.as_deref(), Some(v1.as_str()));
    assert!(std::fs::read(&dest).unwrap() == old, "the file holds the old generation");
    let mut stream = t.download_version_stream(&b, "big", &v1).await.unwrap();
    let mut streamed = Vec::new();
    while let Some(chunk) = stream.next().await {
        streamed.extend_from_slice(&chunk.unwrap());
    }
    assert!(streamed == old, "the stream holds the old generation");
    // The live object, for contrast.
    let live = dir.path().join("live.bin");
    t.download_file(&b, "big", &live, &DownloadOptions::default()).await.unwrap();
    assert!(std::fs::read(&live).unwrap() == new);
    // A generation this bucket never had: an error, and the file there is untouched.
    let err = t.download_file(&b, "big", &live, &DownloadOptions::overwrite().with_version("1")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ObjectDoesNotExist, "{err}");
    assert!(std::fs::read(&live).unwrap() == new);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "no temporary file left");
}
