//! Writing and reading objects: sizes, chunk boundaries, ranges, streams, metadata.

use bytes::Bytes;
use futures::StreamExt;
use storage_core::hash::md5_hex;
use storage_core::{ByteRange, CopyOptions, Driver, DriverExt, ErrorKind, GetOptions, Payload, PutMode, PutOptions};

use crate::common::{Fixture, Mode, data, kind};

const CHUNK: usize = 64 * 1024;

crate::on_both_servers!(sizes_and_ranges, streams_and_failed_writes, metadata_and_versions, copies, deletes);

async fn sizes_and_ranges(mode: Mode) {
    let f = Fixture::with(mode, "rt", |b| b.chunk_size(CHUNK)).await;
    let d = &f.driver;
    f.make_container("c").await;

    // Empty.
    let o = d.put_object("c", "empty", Bytes::new().into(), &PutOptions::default()).await.unwrap();
    assert_eq!((o.size, o.etag.as_deref()), (0, Some(md5_hex(b"").as_str())));
    assert_eq!(d.get_bytes("c", "empty").await.unwrap(), Bytes::new());
    assert_eq!(d.head_object("c", "empty").await.unwrap().size, 0);
    assert_eq!(kind(d.get_range("c", "empty", 0..1).await), ErrorKind::InvalidRange);
    assert!(f.chunk_keys("c", "empty").await.is_empty());

    // Small.
    let o = d.put_object("c", "small", "hello".into(), &PutOptions::default()).await.unwrap();
    assert_eq!(o.md5(), Some(md5_hex(b"hello").as_str()));
    assert_eq!(d.get_bytes("c", "small").await.unwrap(), "hello");
    assert_eq!(d.get_range("c", "small", 1..3).await.unwrap(), "el");

    // 3.5 chunks.
    let big = data(CHUNK * 7 / 2, 1);
    let o = d.put_object("c", "big", big.clone().into(), &PutOptions::default()).await.unwrap();
    assert_eq!(o.size, big.len() as u64);
    assert_eq!(o.etag.as_deref(), Some(md5_hex(&big).as_str()));
    assert_eq!(f.chunk_keys("c", "big").await.len(), 4);
    for k in f.chunk_keys("c", "big").await {
        assert_eq!(f.pttl(&k).await, -1, "a committed chunk must not expire: {k}");
    }
    assert_eq!(d.get_bytes("c", "big").await.unwrap(), big);
    let c = CHUNK as u64;
    let n = big.len() as u64;
    let ranges: Vec<(ByteRange, std::ops::Range<u64>)> = vec![
        ((c - 6..c + 10).into(), c - 6..c + 10),
        ((0..1).into(), 0..1),
        ((c..2 * c).into(), c..2 * c),
        ((c - 1..3 * c + 1).into(), c - 1..3 * c + 1),
        ((n - 1..n).into(), n - 1..n),
        ((n - 5..n + 100).into(), n - 5..n),
        (ByteRange::From(2 * c + 7), 2 * c + 7..n),
        (ByteRange::Suffix(c + 3), n - c - 3..n),
        (ByteRange::Suffix(10 * n), 0..n),
    ];
    for (r, want) in ranges {
        let got = d.get_object("c", "big", &GetOptions { range: Some(r), ..Default::default() }).await.unwrap();
        assert_eq!(got.range, want, "{r:?}");
        assert_eq!(got.object.size, n);
        let bytes = got.bytes().await.unwrap();
        assert_eq!(&bytes[..], &big[want.start as usize..want.end as usize], "{r:?}");
    }
    assert_eq!(kind(d.get_object("c", "big", &GetOptions::range(n..)).await), ErrorKind::InvalidRange);

    // The body is streamed chunk by chunk.
    let got = d.get_object("c", "big", &GetOptions::default()).await.unwrap();
    let pieces: Vec<Bytes> = got.body.map(|b| b.unwrap()).collect().await;
    assert_eq!(pieces.len(), 4);
    assert!(pieces.iter().all(|p| p.len() <= CHUNK));

    // Exactly chunk-sized and one byte more.
    for size in [CHUNK, CHUNK + 1, 2 * CHUNK] {
        let v = data(size, size as u64);
        d.put_object("c", "exact", v.clone().into(), &PutOptions::default()).await.unwrap();
        assert_eq!(d.get_bytes("c", "exact").await.unwrap(), v, "size {size}");
    }
}

fn stream_of(v: &[u8], piece: usize, length: Option<u64>) -> Payload {
    let pieces: Vec<storage_core::Result<Bytes>> = v.chunks(piece).map(|p| Ok(Bytes::copy_from_slice(p))).collect();
    Payload::stream(futures::stream::iter(pieces).boxed(), length)
}

async fn streams_and_failed_writes(mode: Mode) {
    let f = Fixture::with(mode, "stream", |b| b.chunk_size(CHUNK)).await;
    let d = &f.driver;
    f.make_container("c").await;
    let v = data(CHUNK * 5 / 2 + 17, 2);
    for piece in [1000, 10_000, CHUNK, CHUNK + 3, 3 * CHUNK] {
        let o = d.put_object("c", "s", stream_of(&v, piece, None), &PutOptions::default()).await.unwrap();
        assert_eq!(o.etag.as_deref(), Some(md5_hex(&v).as_str()));
        assert_eq!(d.get_bytes("c", "s").await.unwrap(), v, "pieces of {piece}");
    }
    let before = f.live_chunk_keys("c", "s").await;
    assert_eq!(before.len(), 3);
    let all_before = f.chunk_keys("c", "s").await;

    // A stream shorter than announced fails and leaves the old object and no chunks.
    let short = d.put_object("c", "s", stream_of(&v[..1000], 100, Some(5000)), &PutOptions::default()).await;
    assert_eq!(kind(short), ErrorKind::Io);
    // A wrong content MD5 fails the same way.
    let opts = PutOptions { content_md5: Some(md5_hex(b"other")), ..Default::default() };
    let bad = d.put_object("c", "s", data(3 * CHUNK, 9).into(), &opts).await;
    assert_eq!(kind(bad), ErrorKind::ObjectHashMismatch);
    // A stream that fails midway.
    let failing = futures::stream::iter(vec![
        Ok(Bytes::from(data(2 * CHUNK, 3))),
        Err(storage_core::Error::new(ErrorKind::Io, "disk on fire")),
    ])
    .boxed();
    let r = d.put_object("c", "s", Payload::stream(failing, None), &PutOptions::default()).await;
    assert_eq!(kind(r), ErrorKind::Io);
    assert_eq!(d.get_bytes("c", "s").await.unwrap(), v);
    assert_eq!(f.chunk_keys("c", "s").await, all_before, "failed writes must leave no chunks behind");
    assert_eq!(f.live_chunk_keys("c", "s").await, before);

    // A correct MD5 is accepted.
    let opts = PutOptions { content_md5: Some(md5_hex(&v).to_uppercase()), ..Default::default() };
    d.put_object("c", "s", v.clone().into(), &opts).await.unwrap();
}

async fn metadata_and_versions(mode: Mode) {
    let f = Fixture::new(mode, "meta").await;
    let d = &f.driver;
    f.make_container("c").await;
    let opts = PutOptions {
        content_type: Some("text/plain".into()),
        content_encoding: Some("gzip".into()),
        cache_control: Some("max-age=60".into()),
        content_disposition: Some("attachment".into()),
        ..Default::default()
    }
    .with_metadata("Color", "Blue");
    let o = d.put_object("c", "k", "v1".into(), &opts).await.unwrap();
    let h = d.head_object("c", "k").await.unwrap();
    assert_eq!(h, o);
    assert_eq!(h.content_type.as_deref(), Some("text/plain"));
    assert_eq!(h.content_encoding.as_deref(), Some("gzip"));
    assert_eq!(h.cache_control.as_deref(), Some("max-age=60"));
    assert_eq!(h.content_disposition.as_deref(), Some("attachment"));
    assert_eq!(h.metadata.get("color").map(String::as_str), Some("Blue"));
    assert!(h.last_modified.is_some());
    let plain = d.put_object("c", "p", "x".into(), &PutOptions::default()).await.unwrap();
    assert_eq!(plain.content_type.as_deref(), Some("application/octet-stream"));

    // Reading by the current version works; an older one does not exist any more.
    let v1 = o.version.clone().unwrap();
    let got = d.get_object("c", "k", &GetOptions { version: Some(v1.clone()), ..Default::default() }).await.unwrap();
    assert_eq!(got.bytes().await.unwrap(), "v1");
    let o2 = d.put_object("c", "k", "v2".into(), &PutOptions::default()).await.unwrap();
    assert_ne!(o2.version, o.version);
    let old = d.get_object("c", "k", &GetOptions { version: Some(v1), ..Default::default() }).await;
    let e = old.unwrap_err();
    assert_eq!((e.kind(), e.provider_code()), (ErrorKind::ObjectDoesNotExist, Some("NoSuchVersion")));

    // Conditional reads.
    let etag = o2.etag.clone().unwrap();
    let g = GetOptions { if_none_match: Some(format!("\"{etag}\"")), ..Default::default() };
    assert_eq!(kind(d.get_object("c", "k", &g).await), ErrorKind::NotModified);
    let g = GetOptions { if_match: Some("nope".into()), ..Default::default() };
    assert_eq!(kind(d.get_object("c", "k", &g).await), ErrorKind::PreconditionFailed);
    let g = GetOptions { if_match: Some(etag), ..Default::default() };
    assert_eq!(d.get_object("c", "k", &g).await.unwrap().bytes().await.unwrap(), "v2");

    // The replaced version's chunks linger only for the grace period.
    let chunks = f.chunk_keys("c", "k").await;
    assert_eq!(chunks.len(), 2, "{chunks:?}");
    let mut ttls = Vec::new();
    for k in &chunks {
        ttls.push(f.pttl(k).await);
    }
    ttls.sort();
    assert_eq!(ttls[0], -1);
    assert!(ttls[1] > 0 && ttls[1] <= 60_000, "{ttls:?}");

    // Keys with awkward characters.
    for key in ["a b+c%d?e#f=g&h~i", "x//y/", "ünï/cödé", "{braces}:and:colons}", &"k".repeat(1024)] {
        d.put_object("c", key, key.to_owned().into(), &PutOptions::default()).await.unwrap();
        assert_eq!(d.get_bytes("c", key).await.unwrap(), key.as_bytes());
    }
}

async fn copies(mode: Mode) {
    let f = Fixture::with(mode, "copy", |b| b.chunk_size(CHUNK)).await;
    let d = &f.driver;
    f.make_container("a").await;
    f.make_container("b").await;
    let v = data(CHUNK * 3 + 5, 4);
    let src = d
        .put_object("a", "src", v.clone().into(), &PutOptions::content_type("image/png").with_metadata("m", "1"))
        .await
        .unwrap();
    let c = d.copy_object("a", "src", "b", "dst", &CopyOptions::default()).await.unwrap();
    assert_eq!((c.container.as_str(), c.name.as_str()), ("b", "dst"));
    assert_eq!(c.etag, src.etag);
    assert_eq!(c.content_type.as_deref(), Some("image/png"));
    assert_eq!(c.metadata.get("m").map(String::as_str), Some("1"));
    assert_eq!(d.get_bytes("b", "dst").await.unwrap(), v);
    assert_ne!(c.version, src.version);

    // Replace the metadata; same key (copy onto itself).
    let opts = CopyOptions { replace: Some(PutOptions::content_type("text/plain")), ..Default::default() };
    let c = d.copy_object("a", "src", "a", "src", &opts).await.unwrap();
    assert_eq!(c.content_type.as_deref(), Some("text/plain"));
    assert!(c.metadata.is_empty());
    assert_eq!(d.get_bytes("a", "src").await.unwrap(), v);

    // Conditions.
    let opts = CopyOptions { source_if_match: Some("nope".into()), ..Default::default() };
    assert_eq!(kind(d.copy_object("a", "src", "b", "x", &opts).await), ErrorKind::PreconditionFailed);
    let opts = CopyOptions { mode: PutMode::CreateIfAbsent, ..Default::default() };
    assert_eq!(kind(d.copy_object("a", "src", "b", "dst", &opts).await), ErrorKind::PreconditionFailed);
    assert_eq!(
        kind(d.copy_object("a", "missing", "b", "x", &CopyOptions::default()).await),
        ErrorKind::ObjectDoesNotExist
    );
    assert_eq!(
        kind(d.copy_object("a", "src", "nope", "x", &CopyOptions::default()).await),
        ErrorKind::ContainerDoesNotExist
    );
    assert_eq!(d.list_keys("b", None).await.unwrap(), vec!["dst"]);
}

async fn deletes(mode: Mode) {
    let f = Fixture::with(mode, "del", |b| b.chunk_size(CHUNK).replace_grace(std::time::Duration::from_secs(5))).await;
    let d = &f.driver;
    f.make_container("c").await;
    d.put_object("c", "one", data(2 * CHUNK, 5).into(), &PutOptions::default()).await.unwrap();
    d.delete_object("c", "one").await.unwrap();
    assert_eq!(kind(d.head_object("c", "one").await), ErrorKind::ObjectDoesNotExist);
    d.delete_object("c", "one").await.unwrap();
    for k in f.chunk_keys("c", "one").await {
        let ttl = f.pttl(&k).await;
        assert!(ttl == -2 || (ttl > 0 && ttl <= 5000), "deleted data must expire soon: {k} {ttl}");
    }

    let keys: Vec<String> = (0..25).map(|i| format!("k{i:02}")).collect();
    for k in &keys {
        d.put_object("c", k, k.clone().into(), &PutOptions::default()).await.unwrap();
    }
    let mut batch: Vec<String> = keys[..20].to_vec();
    batch.push(String::new());
    batch.push("never-existed".into());
    let out = d.delete_batch("c", &batch).await.unwrap();
    assert_eq!(out.len(), batch.len());
    for (o, k) in out.iter().zip(&batch) {
        assert_eq!(&o.key, k);
        if k.is_empty() {
            assert_eq!(o.result.as_ref().unwrap_err().kind(), ErrorKind::InvalidObjectName);
        } else {
            assert!(o.result.is_ok(), "{k}: {:?}", o.result);
        }
    }
    assert_eq!(d.list_keys("c", None).await.unwrap(), keys[20..].to_vec());
    let out = d.delete_batch("missing", &keys[..2]).await.unwrap();
    assert!(out.iter().all(|o| o.result.as_ref().unwrap_err().kind() == ErrorKind::ContainerDoesNotExist));
}
