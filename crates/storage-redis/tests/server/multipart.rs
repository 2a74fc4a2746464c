//! Multipart uploads: complete (parts out of order, re-sent parts), validation, abort.

use storage_core::hash::{md5_hex, multipart_etag};
use storage_core::{CompletedPart, Driver, DriverExt, ErrorKind, HashAlgorithm, MultipartUpload, PutMode, PutOptions};

use crate::common::{Fixture, Mode, data, kind};
use storage_core::PartOptions;

const CHUNK: usize = 64 * 1024;

crate::on_both_servers!(complete_assembles_parts, complete_validates_parts, abort_and_list);

async fn complete_assembles_parts(mode: Mode) {
    let f = Fixture::with(mode, "mpu", |b| b.chunk_size(CHUNK)).await;
    let d = &f.driver;
    f.make_container("c").await;
    d.put_object("c", "obj", "old".into(), &PutOptions::default()).await.unwrap();
    let up =
        d.create_multipart("c", "obj", &PutOptions::content_type("video/mp4").with_metadata("K", "v")).await.unwrap();
    let parts_data = [data(CHUNK + 10, 1), data(CHUNK * 2, 2), data(5, 3)];
    // Parts sent concurrently, out of order; part 2 sent twice with different data.
    let no = PartOptions::default();
    let (p3, p2_first, p1) = tokio::join!(
        d.put_part(&up, 3, parts_data[2].clone().into(), &no),
        d.put_part(&up, 2, data(100, 99).into(), &no),
        d.put_part(&up, 1, parts_data[0].clone().into(), &no),
    );
    let (p3, p1) = (p3.unwrap(), p1.unwrap());
    assert_eq!(p2_first.unwrap().etag, md5_hex(&data(100, 99)));
    let p2 = d.put_part(&up, 2, parts_data[1].clone().into(), &PartOptions::default()).await.unwrap();
    assert_eq!(p1.etag, md5_hex(&parts_data[0]));
    assert_eq!(p2.size, (CHUNK * 2) as u64);
    let pending = f.chunk_keys("c", "obj").await;
    // old object 1 + part1 2 + part2 2 + part3 1 (the first part 2 was dropped).
    assert_eq!(pending.len(), 6, "{pending:?}");
    let listed = d.list_multipart_uploads("c", None).await.unwrap();
    assert_eq!(listed.iter().map(|u| u.upload_id.as_str()).collect::<Vec<_>>(), [up.upload_id.as_str()]);

    let o = d.complete_multipart(&up, &[p1.clone(), p2.clone(), p3.clone()], &Default::default()).await.unwrap();
    let whole: Vec<u8> = parts_data.concat();
    assert_eq!(o.size, whole.len() as u64);
    assert_eq!(o.etag.as_deref(), Some(multipart_etag(&[&p1.etag, &p2.etag, &p3.etag]).as_str()));
    let hash = o.hash.clone().unwrap();
    assert_eq!(hash.algorithm, HashAlgorithm::Opaque, "no MD5 of the whole object was computed");
    assert_eq!(o.md5(), None);
    assert_eq!(o.content_type.as_deref(), Some("video/mp4"));
    assert_eq!(o.metadata.get("k").map(String::as_str), Some("v"));
    assert_eq!(d.get_bytes("c", "obj").await.unwrap(), whole);
    let n = whole.len() as u64;
    for r in [0..n, CHUNK as u64 - 3..CHUNK as u64 + 20, n - 7..n, 5..3 * CHUNK as u64 + 12] {
        assert_eq!(d.get_range("c", "obj", r.clone()).await.unwrap(), &whole[r.start as usize..r.end as usize]);
    }
    assert!(d.list_multipart_uploads("c", None).await.unwrap().is_empty());
    // The parts' chunks are the object's now: no copy, nothing pending; the old object's expire.
    let mut persisted = 0;
    for k in f.chunk_keys("c", "obj").await {
        let ttl = f.pttl(&k).await;
        if k.contains(":u") {
            assert_eq!(ttl, -1, "{k}");
            persisted += 1;
        } else {
            assert!(ttl > 0, "{k}");
        }
    }
    assert_eq!(persisted, 5);
    assert_eq!(kind(d.complete_multipart(&up, &[p1], &Default::default()).await), ErrorKind::ObjectDoesNotExist);

    // A part left out of the completed object is freed.
    let up = d.create_multipart("c", "obj2", &PutOptions::default()).await.unwrap();
    let a = d.put_part(&up, 1, data(10, 5).into(), &PartOptions::default()).await.unwrap();
    d.put_part(&up, 2, data(CHUNK * 3, 6).into(), &PartOptions::default()).await.unwrap();
    d.complete_multipart(&up, &[a], &Default::default()).await.unwrap();
    assert_eq!(d.get_bytes("c", "obj2").await.unwrap(), data(10, 5));
    assert_eq!(f.chunk_keys("c", "obj2").await.len(), 1);

    // Create-if-absent on an existing key fails, and the upload is gone.
    let up = d.create_multipart("c", "obj2", &PutOptions::default().with_mode(PutMode::CreateIfAbsent)).await.unwrap();
    let a = d.put_part(&up, 1, data(10, 7).into(), &PartOptions::default()).await.unwrap();
    assert_eq!(kind(d.complete_multipart(&up, &[a], &Default::default()).await), ErrorKind::PreconditionFailed);
    assert!(d.list_multipart_uploads("c", None).await.unwrap().is_empty());
    assert_eq!(d.get_bytes("c", "obj2").await.unwrap(), data(10, 5));
    assert_eq!(f.chunk_keys("c", "obj2").await.len(), 1);
}

async fn complete_validates_parts(mode: Mode) {
    let f = Fixture::new(mode, "mpuval").await;
    let d = &f.driver;
    f.make_container("c").await;
    let up = d.create_multipart("c", "k", &PutOptions::default()).await.unwrap();
    let p1 = d.put_part(&up, 1, "aaa".into(), &PartOptions::default()).await.unwrap();
    let p2 = d.put_part(&up, 2, "bbb".into(), &PartOptions::default()).await.unwrap();
    let empty = d.put_part(&up, 3, "".into(), &PartOptions::default()).await.unwrap();
    let invalid = |r: storage_core::Result<storage_core::Object>| {
        let e = r.unwrap_err();
        assert_eq!((e.kind(), e.provider_code()), (ErrorKind::Backend, Some("InvalidPart")), "{e}");
    };
    invalid(d.complete_multipart(&up, &[], &Default::default()).await);
    invalid(d.complete_multipart(&up, &[p2.clone(), p1.clone()], &Default::default()).await);
    invalid(d.complete_multipart(&up, &[p1.clone(), p1.clone()], &Default::default()).await);
    let ghost = CompletedPart::new(9, p1.etag.clone(), 3);
    invalid(d.complete_multipart(&up, &[p1.clone(), ghost], &Default::default()).await);
    let wrong = CompletedPart { etag: md5_hex(b"zzz"), ..p2.clone() };
    invalid(d.complete_multipart(&up, &[p1.clone(), wrong], &Default::default()).await);
    invalid(d.complete_multipart(&up, &[p1.clone(), empty.clone(), p2.clone()], &Default::default()).await);
    assert_eq!(kind(d.put_part(&up, 0, "x".into(), &PartOptions::default()).await), ErrorKind::InvalidRange);
    assert_eq!(kind(d.put_part(&up, 10_001, "x".into(), &PartOptions::default()).await), ErrorKind::InvalidRange);
    // The upload survives failed validation.
    let o = d.complete_multipart(&up, &[p1, p2, empty], &Default::default()).await.unwrap();
    assert_eq!(d.get_bytes("c", "k").await.unwrap(), "aaabbb");
    assert_eq!(o.size, 6);

    for id in ["12345678", "not-a-number", ""] {
        let ghost = MultipartUpload { upload_id: id.into(), ..up.clone() };
        let e = d.put_part(&ghost, 1, "x".into(), &PartOptions::default()).await.unwrap_err();
        assert_eq!((e.kind(), e.provider_code()), (ErrorKind::ObjectDoesNotExist, Some("NoSuchUpload")), "{id}");
        assert_eq!(kind(d.abort_multipart(&ghost).await), ErrorKind::ObjectDoesNotExist);
    }
    let up = d.create_multipart("c", "k", &PutOptions::default()).await.unwrap();
    let other_key = MultipartUpload { key: "other".into(), ..up.clone() };
    assert_eq!(
        kind(d.put_part(&other_key, 1, "x".into(), &PartOptions::default()).await),
        ErrorKind::ObjectDoesNotExist
    );
    assert_eq!(kind(d.create_multipart("nope", "k", &PutOptions::default()).await), ErrorKind::ContainerDoesNotExist);
}

async fn abort_and_list(mode: Mode) {
    let f = Fixture::with(mode, "abort", |b| b.chunk_size(CHUNK)).await;
    let d = &f.driver;
    f.make_container("c").await;
    let a = d.create_multipart("c", "logs/a", &PutOptions::default()).await.unwrap();
    let b = d.create_multipart("c", "logs/b", &PutOptions::default()).await.unwrap();
    let z = d.create_multipart("c", "zeta", &PutOptions::default()).await.unwrap();
    d.put_part(&a, 1, data(CHUNK * 2, 1).into(), &PartOptions::default()).await.unwrap();
    d.put_part(&a, 2, data(10, 2).into(), &PartOptions::default()).await.unwrap();
    let part_chunks = f.chunk_keys("c", "logs/a").await;
    assert_eq!(part_chunks.len(), 3);
    for k in &part_chunks {
        let ttl = f.pttl(k).await;
        assert!(ttl > 0 && ttl <= 24 * 3600 * 1000, "staged parts carry the pending TTL: {k} {ttl}");
    }
    let ids = |v: Vec<MultipartUpload>| v.into_iter().map(|u| (u.key, u.upload_id)).collect::<Vec<_>>();
    assert_eq!(
        ids(d.list_multipart_uploads("c", Some("logs/")).await.unwrap()),
        [("logs/a".to_owned(), a.upload_id.clone()), ("logs/b".to_owned(), b.upload_id.clone())]
    );
    assert_eq!(d.list_multipart_uploads("c", None).await.unwrap().len(), 3);
    d.abort_multipart(&a).await.unwrap();
    assert!(f.chunk_keys("c", "logs/a").await.is_empty(), "abort frees the parts");
    assert_eq!(kind(d.abort_multipart(&a).await), ErrorKind::ObjectDoesNotExist);
    assert_eq!(kind(d.put_part(&a, 1, "x".into(), &PartOptions::default()).await), ErrorKind::ObjectDoesNotExist);
    assert_eq!(ids(d.list_multipart_uploads("c", None).await.unwrap()).len(), 2);
    assert_eq!(kind(d.list_multipart_uploads("nope", None).await), ErrorKind::ContainerDoesNotExist);
    assert!(!d.object_exists("c", "logs/a").await.unwrap());
    // A container with only unfinished uploads can be deleted; the uploads go with it.
    d.abort_multipart(&z).await.unwrap();
    d.delete_container("c").await.unwrap();
    assert_eq!(kind(d.list_multipart_uploads("c", None).await), ErrorKind::ContainerDoesNotExist);
    assert!(f.scan(&format!("{{{}:1:c}}:*", f.ns)).await.is_empty(), "no container keys remain");
}
