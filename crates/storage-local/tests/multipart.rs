//! Multipart uploads: staging, completion, abort and listing.

mod common;

use std::sync::Arc;

use common::{Fixture, kind, temp_files};
use storage_core::PartOptions;
use storage_core::hash::{md5_hex, multipart_etag};
use storage_core::kit::crc32c;
use storage_core::{
    CompletedPart, Driver, DriverExt, ErrorKind, HashAlgorithm, MultipartUpload, ObjectHash, PutMode, PutOptions,
};
use storage_local::LocalOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_parts_concurrently_and_complete() {
    for md5 in [false, true] {
        upload_parts_concurrently_and_complete_with(LocalOptions::default().md5(md5)).await;
    }
}

#[allow(clippy::unwrap_used)]
async fn upload_parts_concurrently_and_complete_with(options: LocalOptions) {
    let f = Fixture::with_options(options).await;
    let opts = PutOptions::content_type("text/plain").with_metadata("Part", "yes");
    let up = f.store.create_multipart("c", "big/file", &opts).await.unwrap();
    assert_eq!((up.container.as_str(), up.key.as_str()), ("c", "big/file"));
    let listed = f.store.list_multipart_uploads("c", None).await.unwrap();
    assert_eq!(listed, vec![up.clone()]);

    let data: Vec<String> = (0..3).map(|i| format!("part {i} ").repeat(10_000 + i)).collect();
    let mut tasks = Vec::new();
    for (i, d) in data.iter().enumerate() {
        let (store, up, d) = (Arc::clone(&f.store), up.clone(), d.clone());
        tasks.push(tokio::spawn(
            async move { store.put_part(&up, i as u32 + 1, d.into(), &PartOptions::default()).await },
        ));
    }
    let mut parts = Vec::new();
    for t in tasks {
        parts.push(t.await.unwrap().unwrap());
    }
    for (p, d) in parts.iter().zip(&data) {
        // The part's ETag is its MD5 with the `md5` option, else its CRC32C; its
        // checksum is its CRC32C either way.
        let crc = crc32c(d.as_bytes());
        let etag = if options.md5 { md5_hex(d.as_bytes()) } else { format!("{crc:08x}") };
        assert_eq!(p.etag, etag);
        assert_eq!(p.checksum, Some(ObjectHash::crc32c(crc)));
        assert_eq!(p.size, d.len() as u64);
    }
    // Nothing is visible before completion.
    assert_eq!(kind(f.store.head_object("c", "big/file").await), ErrorKind::ObjectDoesNotExist);
    assert!(f.store.list_keys("c", None).await.unwrap().is_empty());

    let o = f.store.complete_multipart(&up, &parts, &Default::default()).await.unwrap();
    let whole = data.concat();
    if options.md5 {
        let md5s: Vec<&str> = parts.iter().map(|p| p.etag.as_str()).collect();
        assert_eq!(o.etag.as_deref(), Some(multipart_etag(&md5s).as_str()));
        assert_eq!(o.hash.as_ref().map(|h| h.algorithm), Some(HashAlgorithm::Md5));
        assert_eq!(o.md5(), Some(md5_hex(whole.as_bytes()).as_str()));
    } else {
        // The whole CRC32C, combined from the parts' without reading them again.
        assert_eq!(o.hash, Some(ObjectHash::crc32c(crc32c(whole.as_bytes()))));
        assert!(o.etag.as_deref().is_some_and(|e| e.ends_with("-3")), "{:?}", o.etag);
    }
    assert_eq!(o.content_type.as_deref(), Some("text/plain"));
    assert_eq!(o.metadata.get("part").map(String::as_str), Some("yes"));
    assert_eq!(f.store.get_bytes("c", "big/file").await.unwrap(), whole);
    assert_eq!(f.store.head_object("c", "big/file").await.unwrap(), o);
    assert!(f.store.list_multipart_uploads("c", None).await.unwrap().is_empty());
    assert_eq!(std::fs::read_dir(f.container_dir().join("%uploads")).unwrap().count(), 0);
    assert_eq!(temp_files(f.root()), Vec::<String>::new());
    // Completing twice: the upload is gone.
    let e = f.store.complete_multipart(&up, &parts, &Default::default()).await.unwrap_err();
    assert_eq!((e.kind(), e.provider_code()), (ErrorKind::ObjectDoesNotExist, Some("NoSuchUpload")));
}

#[tokio::test]
async fn invalid_part_lists_are_refused_and_keep_the_upload() {
    let f = Fixture::new().await;
    let up = f.store.create_multipart("c", "k", &PutOptions::default()).await.unwrap();
    let p1 = f.store.put_part(&up, 1, "one".into(), &PartOptions::default()).await.unwrap();
    let p2 = f.store.put_part(&up, 2, "two".into(), &PartOptions::default()).await.unwrap();
    let bad = |parts: Vec<CompletedPart>| {
        let (store, up) = (Arc::clone(&f.store), up.clone());
        async move {
            let e = store.complete_multipart(&up, &parts, &Default::default()).await.unwrap_err();
            assert_eq!((e.kind(), e.provider_code()), (ErrorKind::Backend, Some("InvalidPart")), "{e}");
        }
    };
    bad(vec![]).await;
    bad(vec![p2.clone(), p1.clone()]).await;
    bad(vec![p1.clone(), p1.clone()]).await;
    bad(vec![p1.clone(), CompletedPart::new(3, p2.etag.clone(), 3)]).await;
    bad(vec![p1.clone(), CompletedPart { etag: md5_hex(b"other"), ..p2.clone() }]).await;
    let empty = f.store.put_part(&up, 4, "".into(), &PartOptions::default()).await.unwrap();
    bad(vec![p1.clone(), empty.clone(), p2.clone()]).await;
    assert_eq!(kind(f.store.put_part(&up, 0, "x".into(), &PartOptions::default()).await), ErrorKind::InvalidRange);

    // Re-uploading a part replaces it: its old ETag no longer completes.
    let p2b = f.store.put_part(&up, 2, "TWO".into(), &PartOptions::default()).await.unwrap();
    bad(vec![p1.clone(), p2.clone()]).await;
    // Quoted ETags are accepted, and an empty last part is fine.
    let quoted = CompletedPart { etag: format!("\"{}\"", p2b.etag), ..p2b.clone() };
    f.store.complete_multipart(&up, &[p1, quoted, empty], &Default::default()).await.unwrap();
    assert_eq!(f.store.get_bytes("c", "k").await.unwrap(), "oneTWO");
}

#[tokio::test]
async fn abort_and_unknown_uploads() {
    let f = Fixture::new().await;
    let up = f.store.create_multipart("c", "k", &PutOptions::default()).await.unwrap();
    f.store.put_part(&up, 1, "data".into(), &PartOptions::default()).await.unwrap();
    f.store.abort_multipart(&up).await.unwrap();
    assert!(f.store.list_multipart_uploads("c", None).await.unwrap().is_empty());
    let e = f.store.abort_multipart(&up).await.unwrap_err();
    assert_eq!((e.kind(), e.provider_code()), (ErrorKind::ObjectDoesNotExist, Some("NoSuchUpload")));
    let e = f.store.put_part(&up, 2, "x".into(), &PartOptions::default()).await.unwrap_err();
    assert_eq!(e.provider_code(), Some("NoSuchUpload"));
    assert_eq!(kind(f.store.head_object("c", "k").await), ErrorKind::ObjectDoesNotExist);
    for id in ["../../etc", "nope", "", "%uploads"] {
        let fake = MultipartUpload { upload_id: id.into(), ..up.clone() };
        let e = f.store.abort_multipart(&fake).await.unwrap_err();
        assert_eq!(e.provider_code(), Some("NoSuchUpload"), "{id}");
    }
    // The id belongs to a key: another key cannot use it.
    let up2 = f.store.create_multipart("c", "k", &PutOptions::default()).await.unwrap();
    let other = MultipartUpload { key: "other".into(), ..up2.clone() };
    assert_eq!(
        kind(f.store.put_part(&other, 1, "x".into(), &PartOptions::default()).await),
        ErrorKind::ObjectDoesNotExist
    );
    assert_eq!(temp_files(f.root()), Vec::<String>::new());
}

#[tokio::test]
async fn listing_uploads_by_prefix_and_container_deletion() {
    let f = Fixture::new().await;
    let a = f.store.create_multipart("c", "logs/a", &PutOptions::default()).await.unwrap();
    let b = f.store.create_multipart("c", "logs/b", &PutOptions::default()).await.unwrap();
    let x = f.store.create_multipart("c", "x", &PutOptions::default()).await.unwrap();
    assert_eq!(f.store.list_multipart_uploads("c", None).await.unwrap(), vec![a.clone(), b.clone(), x]);
    assert_eq!(f.store.list_multipart_uploads("c", Some("logs/")).await.unwrap(), vec![a, b]);
    assert_eq!(kind(f.store.list_multipart_uploads("nope", None).await), ErrorKind::ContainerDoesNotExist);
    // Staging alone does not keep a container from being deleted.
    f.store.delete_container("c").await.unwrap();
    assert!(!f.container_dir().exists());
}

#[tokio::test]
async fn completion_honours_the_put_mode() {
    let f = Fixture::new().await;
    f.put("k", "existing").await;
    let opts = PutOptions::default().with_mode(PutMode::CreateIfAbsent);
    let up = f.store.create_multipart("c", "k", &opts).await.unwrap();
    let p = f.store.put_part(&up, 1, "new".into(), &PartOptions::default()).await.unwrap();
    assert_eq!(kind(f.store.complete_multipart(&up, &[p], &Default::default()).await), ErrorKind::PreconditionFailed);
    assert_eq!(f.store.get_bytes("c", "k").await.unwrap(), "existing");
    assert_eq!(temp_files(f.root()), Vec::<String>::new());

    let opts = PutOptions { content_md5: Some(md5_hex(b"abc")), ..Default::default() };
    let up = f.store.create_multipart("c", "m", &opts).await.unwrap();
    let p = f.store.put_part(&up, 1, "abd".into(), &PartOptions::default()).await.unwrap();
    assert_eq!(kind(f.store.complete_multipart(&up, &[p], &Default::default()).await), ErrorKind::ObjectHashMismatch);
    assert_eq!(kind(f.store.head_object("c", "m").await), ErrorKind::ObjectDoesNotExist);
}
