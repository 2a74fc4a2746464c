//! Objects: round trips, overwrites, metadata, hashes, streams, failed writes, versions.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::Utc;
use storage_core::{ErrorKind, GetOptions, Payload, PutOptions};

use crate::case::{Case, CaseResult, case, ensure};
use crate::context::{
    Ctx, OrFail, data, ensure_eq, expect_kind, failing_stream, irregular_chunks, md5, same_bytes, stream_of,
};

const G: &str = "objects";

pub(crate) fn cases() -> Vec<Case> {
    vec![
        case!(G, object_round_trip_small),
        case!(G, object_round_trip_empty),
        case!(G, object_round_trip_binary),
        case!(G, object_round_trip_large),
        case!(G, object_put_returns_metadata),
        case!(G, object_put_etag_matches_head),
        case!(G, object_overwrite_replaces),
        case!(G, object_head_matches_get),
        case!(G, object_get_full_range),
        case!(G, object_head_missing),
        case!(G, object_get_missing),
        case!(G, object_delete_then_get),
        case!(G, object_delete_missing_ok),
        case!(G, object_content_type, ["content_headers"]),
        case!(G, object_cache_control, ["content_headers"]),
        case!(G, object_content_disposition, ["content_headers"]),
        case!(G, object_content_encoding, ["content_headers"]),
        case!(G, object_user_metadata, ["user_metadata"]),
        case!(G, object_metadata_replaced_on_overwrite, ["user_metadata"]),
        case!(G, object_md5, ["md5_hash"]),
        case!(G, object_hash_is_truthful),
        case!(G, object_stream_known_length),
        case!(G, object_stream_unknown_length),
        case!(G, object_stream_too_short),
        case!(G, object_stream_too_long),
        case!(G, object_stream_error_midway),
        case!(G, object_stream_error_unknown_length),
        case!(G, object_content_md5_ok, ["put_content_md5"]),
        case!(G, object_content_md5_wrong, ["put_content_md5"]),
        case!(G, object_last_modified),
        case!(G, object_version_get, ["versions"]),
        case!(G, object_version_bogus, ["versions"]),
        case!(G, object_version_changes_on_overwrite, ["versions"]),
        case!(G, driver_info_sane),
        case!(G, driver_capabilities_consistent),
    ]
}

async fn round_trip(ctx: &Ctx, name: &str, body: Bytes) -> CaseResult {
    let put = ctx.put(name, body.clone()).await?;
    ensure!(put.size == body.len() as u64, "put_object returned size {} for {} bytes", put.size, body.len());
    ctx.expect_data(name, &body).await?;
    let head = ctx.head(name).await?;
    ensure!(head.size == body.len() as u64, "head_object says {} bytes, {} were written", head.size, body.len());
    Ok(())
}

async fn object_round_trip_small(ctx: Ctx) -> CaseResult {
    round_trip(&ctx, "small.txt", Bytes::from_static(b"hello, conformance")).await
}

async fn object_round_trip_empty(ctx: Ctx) -> CaseResult {
    round_trip(&ctx, "empty", Bytes::new()).await
}

async fn object_round_trip_binary(ctx: Ctx) -> CaseResult {
    let mut v: Vec<u8> = (0..=255u8).collect();
    v.extend((0..=255u8).rev());
    v.extend_from_slice(b"\r\n\0\r\n\x1a");
    round_trip(&ctx, "binary.bin", Bytes::from(v)).await
}

async fn object_round_trip_large(ctx: Ctx) -> CaseResult {
    round_trip(&ctx, "large.bin", data(6 * 1024 * 1024 + 123, 6)).await
}

async fn object_put_returns_metadata(ctx: Ctx) -> CaseResult {
    let o = ctx.put("meta/returned", Bytes::from_static(b"12345")).await?;
    ensure_eq("the returned object's name", &o.name, &ctx.k("meta/returned"))?;
    ensure_eq("the returned object's container", &o.container, &ctx.container)?;
    ensure_eq("the returned object's size", &o.size, &5)?;
    Ok(())
}

async fn object_put_etag_matches_head(ctx: Ctx) -> CaseResult {
    let put = ctx.put("etag", Bytes::from_static(b"etag data")).await?;
    let head = ctx.head("etag").await?;
    ensure!(head.etag.is_some(), "head_object returned no ETag (needed for conditional requests)");
    if put.etag.is_some() {
        ensure_eq("the ETag returned by put_object vs head_object", &put.etag, &head.etag)?;
    }
    Ok(())
}

async fn object_overwrite_replaces(ctx: Ctx) -> CaseResult {
    let first = ctx.put("over", Bytes::from_static(b"first version")).await?;
    let h1 = ctx.head("over").await?;
    let second = ctx.put("over", Bytes::from_static(b"second, longer version")).await?;
    ctx.expect_data("over", b"second, longer version").await?;
    let h2 = ctx.head("over").await?;
    ensure_eq("size after overwrite", &h2.size, &22)?;
    ensure!(h1.etag != h2.etag, "the ETag did not change when the data did ({:?})", h2.etag);
    if first.etag.is_some() && second.etag.is_some() {
        ensure!(first.etag != second.etag, "put_object returned the same ETag for different data");
    }
    Ok(())
}

async fn object_head_matches_get(ctx: Ctx) -> CaseResult {
    ctx.put("same", data(1000, 1)).await?;
    let head = ctx.head("same").await?;
    let (got, _, body) = ctx.get_with("same", &GetOptions::default()).await.or_fail("get_object")?;
    ensure_eq("size (head vs get)", &head.size, &got.size)?;
    ensure_eq("ETag (head vs get)", &head.etag, &got.etag)?;
    ensure_eq("hash (head vs get)", &head.hash, &got.hash)?;
    ensure_eq("name (head vs get)", &head.name, &got.name)?;
    ensure_eq("body length", &(body.len() as u64), &head.size)?;
    Ok(())
}

async fn object_get_full_range(ctx: Ctx) -> CaseResult {
    ctx.put("full", data(777, 2)).await?;
    let (o, range, body) = ctx.get_with("full", &GetOptions::default()).await.or_fail("get_object")?;
    ensure_eq("GetResult.range of a full read", &range, &(0..777))?;
    ensure_eq("GetResult.object.size", &o.size, &777)?;
    same_bytes("body", &body, &data(777, 2))
}

async fn object_head_missing(ctx: Ctx) -> CaseResult {
    let e = expect_kind(
        ctx.d().head_object(&ctx.container, &ctx.k("missing")).await,
        ErrorKind::ObjectDoesNotExist,
        "head_object of a missing key",
    )?;
    ensure!(e.is_object_error(), "ObjectDoesNotExist must be an object error (is_object_error)");
    Ok(())
}

async fn object_get_missing(ctx: Ctx) -> CaseResult {
    let e = expect_kind(
        ctx.d().get_object(&ctx.container, &ctx.k("missing"), &GetOptions::default()).await,
        ErrorKind::ObjectDoesNotExist,
        "get_object of a missing key",
    )?;
    ensure!(e.is_object_error(), "ObjectDoesNotExist must be an object error (is_object_error)");
    Ok(())
}

async fn object_delete_then_get(ctx: Ctx) -> CaseResult {
    ctx.put("doomed", Bytes::from_static(b"bye")).await?;
    ctx.delete("doomed").await?;
    ctx.expect_absent("doomed").await
}

async fn object_delete_missing_ok(ctx: Ctx) -> CaseResult {
    ctx.delete("never-existed").await?;
    ctx.put("twice", Bytes::from_static(b"x")).await?;
    ctx.delete("twice").await?;
    ctx.delete("twice").await.map_err(|e| format!("deleting an already deleted key: {e}"))?;
    Ok(())
}

async fn put_and_head(
    ctx: &Ctx,
    name: &str,
    options: PutOptions,
) -> Result<(storage_core::Object, storage_core::Object), String> {
    ctx.put_opts(name, Bytes::from_static(b"headers"), &options).await?;
    let head = ctx.head(name).await?;
    let (got, _, _) = ctx.get_with(name, &GetOptions::default()).await.or_fail("get_object")?;
    Ok((head, got))
}

async fn object_content_type(ctx: Ctx) -> CaseResult {
    let ct = "application/x-conformance-test";
    let (head, got) = put_and_head(&ctx, "typed", PutOptions::content_type(ct)).await?;
    ensure_eq("content_type from head_object", &head.content_type.as_deref(), &Some(ct))?;
    ensure_eq("content_type from get_object", &got.content_type.as_deref(), &Some(ct))
}

async fn object_cache_control(ctx: Ctx) -> CaseResult {
    let v = "max-age=3600";
    let options = PutOptions { cache_control: Some(v.into()), ..Default::default() };
    let (head, got) = put_and_head(&ctx, "cached", options).await?;
    ensure_eq("cache_control from head_object", &head.cache_control.as_deref(), &Some(v))?;
    ensure_eq("cache_control from get_object", &got.cache_control.as_deref(), &Some(v))
}

async fn object_content_disposition(ctx: Ctx) -> CaseResult {
    let v = "attachment; filename=\"report.txt\"";
    let options = PutOptions { content_disposition: Some(v.into()), ..Default::default() };
    let (head, got) = put_and_head(&ctx, "disposed", options).await?;
    ensure_eq("content_disposition from head_object", &head.content_disposition.as_deref(), &Some(v))?;
    ensure_eq("content_disposition from get_object", &got.content_disposition.as_deref(), &Some(v))
}

async fn object_content_encoding(ctx: Ctx) -> CaseResult {
    let v = "identity";
    let options = PutOptions { content_encoding: Some(v.into()), ..Default::default() };
    let (head, got) = put_and_head(&ctx, "encoded", options).await?;
    ensure_eq("content_encoding from head_object", &head.content_encoding.as_deref(), &Some(v))?;
    ensure_eq("content_encoding from get_object", &got.content_encoding.as_deref(), &Some(v))
}

fn sample_metadata() -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let sent = BTreeMap::from([
        ("Color".to_owned(), "blue".to_owned()),
        ("projectname2".to_owned(), "Conformance Suite".to_owned()),
    ]);
    let expected = BTreeMap::from([
        ("color".to_owned(), "blue".to_owned()),
        ("projectname2".to_owned(), "Conformance Suite".to_owned()),
    ]);
    (sent, expected)
}

async fn object_user_metadata(ctx: Ctx) -> CaseResult {
    let (sent, expected) = sample_metadata();
    let options = PutOptions { metadata: sent, ..Default::default() };
    let (head, got) = put_and_head(&ctx, "with-meta", options).await?;
    ensure_eq("user metadata from head_object (keys lowercase)", &head.metadata, &expected)?;
    ensure_eq("user metadata from get_object (keys lowercase)", &got.metadata, &expected)
}

async fn object_metadata_replaced_on_overwrite(ctx: Ctx) -> CaseResult {
    let (sent, _) = sample_metadata();
    ctx.put_opts("meta-over", Bytes::from_static(b"1"), &PutOptions { metadata: sent, ..Default::default() }).await?;
    ctx.put_opts("meta-over", Bytes::from_static(b"2"), &PutOptions::default().with_metadata("other", "x")).await?;
    let head = ctx.head("meta-over").await?;
    let expected = BTreeMap::from([("other".to_owned(), "x".to_owned())]);
    ensure_eq("metadata after an overwrite with new metadata (old keys must be gone)", &head.metadata, &expected)
}

async fn object_md5(ctx: Ctx) -> CaseResult {
    for (name, body) in [("md5/data", data(10_000, 3)), ("md5/empty", Bytes::new())] {
        let put = ctx.put(name, body.clone()).await?;
        let head = ctx.head(name).await?;
        let want = md5(&body);
        ensure_eq(&format!("MD5 of {name:?} from head_object"), &head.md5(), &Some(want.as_str()))?;
        if let Some(h) = put.md5() {
            ensure_eq(&format!("MD5 of {name:?} returned by put_object"), &h, &want.as_str())?;
        }
    }
    Ok(())
}

async fn object_hash_is_truthful(ctx: Ctx) -> CaseResult {
    let body = data(5000, 4);
    ctx.put("truthful", body.clone()).await?;
    let head = ctx.head("truthful").await?;
    if let Some(h) = head.md5() {
        ensure_eq("an object hash that claims MD5", &h, &md5(&body).as_str())?;
    }
    Ok(())
}

async fn object_stream_known_length(ctx: Ctx) -> CaseResult {
    let body = data(700_000, 5);
    let payload = Payload::stream(stream_of(irregular_chunks(&body)), Some(body.len() as u64));
    let o = ctx.try_put("streamed", payload, &PutOptions::default()).await.or_fail("put_object with a stream")?;
    ensure_eq("size returned for a streamed put", &o.size, &(body.len() as u64))?;
    ctx.expect_data("streamed", &body).await
}

async fn object_stream_unknown_length(ctx: Ctx) -> CaseResult {
    let body = data(700_001, 6);
    let payload = Payload::stream(stream_of(irregular_chunks(&body)), None);
    let o = ctx
        .try_put("streamed-unknown", payload, &PutOptions::default())
        .await
        .or_fail("put_object with a stream of unknown length")?;
    ensure_eq("size returned for a streamed put", &o.size, &(body.len() as u64))?;
    ctx.expect_data("streamed-unknown", &body).await
}

/// Writes `old` at `name`, then a failing payload; expects `kind`, the old data intact,
/// and, for a fresh key, no object at all.
async fn failed_write_changes_nothing(
    ctx: &Ctx,
    what: &str,
    kind: ErrorKind,
    make: impl Fn() -> (Payload, PutOptions),
) -> CaseResult {
    let old = Bytes::from_static(b"the old data must survive");
    ctx.put("victim", old.clone()).await?;
    let (payload, options) = make();
    expect_kind(ctx.try_put("victim", payload, &options).await, kind, &format!("{what} over an existing object"))?;
    ctx.expect_data("victim", &old).await.map_err(|e| format!("after a failed write ({what}): {e}"))?;
    let (payload, options) = make();
    expect_kind(ctx.try_put("fresh", payload, &options).await, kind, &format!("{what} to a new key"))?;
    ctx.expect_absent("fresh").await.map_err(|e| format!("after a failed write ({what}) to a new key: {e}"))
}

async fn object_stream_too_short(ctx: Ctx) -> CaseResult {
    failed_write_changes_nothing(&ctx, "a stream shorter than its announced length", ErrorKind::Io, || {
        let body = data(1000, 7);
        (Payload::stream(stream_of(vec![body]), Some(2000)), PutOptions::default())
    })
    .await
}

async fn object_stream_too_long(ctx: Ctx) -> CaseResult {
    failed_write_changes_nothing(&ctx, "a stream longer than its announced length", ErrorKind::Io, || {
        let body = data(3000, 8);
        (Payload::stream(stream_of(irregular_chunks(&body)), Some(2000)), PutOptions::default())
    })
    .await
}

async fn object_stream_error_midway(ctx: Ctx) -> CaseResult {
    failed_write_changes_nothing(&ctx, "a stream that fails midway", ErrorKind::Io, || {
        (Payload::stream(failing_stream(data(100_000, 9)), Some(200_000)), PutOptions::default())
    })
    .await
}

async fn object_stream_error_unknown_length(ctx: Ctx) -> CaseResult {
    failed_write_changes_nothing(&ctx, "a stream of unknown length that fails midway", ErrorKind::Io, || {
        (Payload::stream(failing_stream(data(100_000, 10)), None), PutOptions::default())
    })
    .await
}

async fn object_content_md5_ok(ctx: Ctx) -> CaseResult {
    let body = data(4096, 11);
    let options = PutOptions { content_md5: Some(md5(&body)), ..Default::default() };
    ctx.put_opts("md5-ok", body.clone(), &options).await?;
    ctx.expect_data("md5-ok", &body).await
}

async fn object_content_md5_wrong(ctx: Ctx) -> CaseResult {
    let wrong = md5(b"something else");
    failed_write_changes_nothing(&ctx, "put_object with a wrong content_md5", ErrorKind::ObjectHashMismatch, || {
        let options = PutOptions { content_md5: Some(wrong.clone()), ..Default::default() };
        (Payload::Bytes(data(4096, 12)), options)
    })
    .await?;
    let e = expect_kind(
        ctx.try_put(
            "fresh",
            Payload::from("x"),
            &PutOptions { content_md5: Some(wrong.clone()), ..Default::default() },
        )
        .await,
        ErrorKind::ObjectHashMismatch,
        "put_object with a wrong content_md5",
    )?;
    ensure!(e.is_object_error(), "ObjectHashMismatch must be an object error (is_object_error)");
    Ok(())
}

async fn object_last_modified(ctx: Ctx) -> CaseResult {
    ctx.put("dated", Bytes::from_static(b"when?")).await?;
    let head = ctx.head("dated").await?;
    let Some(lm) = head.last_modified else {
        return Err("head_object returned no last_modified".into());
    };
    let skew = (Utc::now() - lm).num_seconds().abs();
    ensure!(skew < 24 * 3600, "last_modified {lm} is more than a day away from now ({})", Utc::now());
    Ok(())
}

async fn object_version_get(ctx: Ctx) -> CaseResult {
    let put = ctx.put("versioned", Bytes::from_static(b"version one")).await?;
    let version = match put.version {
        Some(v) => v,
        None => ctx.head("versioned").await?.version.ok_or("neither put_object nor head_object returned a version")?,
    };
    let options = GetOptions { version: Some(version.clone()), ..Default::default() };
    let (o, _, body) = ctx.get_with("versioned", &options).await.or_fail(&format!("get_object version {version:?}"))?;
    same_bytes("the data of the requested version", &body, b"version one")?;
    ensure_eq("the version of the object read", &o.version, &Some(version))
}

async fn object_version_bogus(ctx: Ctx) -> CaseResult {
    ctx.put("versioned", Bytes::from_static(b"v")).await?;
    let options = GetOptions { version: Some("999999999999".into()), ..Default::default() };
    expect_kind(
        ctx.d().get_object(&ctx.container, &ctx.k("versioned"), &options).await,
        ErrorKind::ObjectDoesNotExist,
        "get_object with a version that does not exist",
    )?;
    Ok(())
}

async fn object_version_changes_on_overwrite(ctx: Ctx) -> CaseResult {
    ctx.put("versioned", Bytes::from_static(b"1")).await?;
    let v1 = ctx.head("versioned").await?.version;
    ctx.put("versioned", Bytes::from_static(b"2")).await?;
    let v2 = ctx.head("versioned").await?.version;
    ensure!(v1.is_some() && v2.is_some(), "head_object returned no version ({v1:?}, {v2:?})");
    ensure!(v1 != v2, "the version did not change on overwrite ({v1:?})");
    Ok(())
}

async fn driver_info_sane(ctx: Ctx) -> CaseResult {
    let info = ctx.d().info();
    let l = &info.limits;
    ensure!(!info.name.trim().is_empty(), "info().name is empty");
    ensure!(
        l.min_part_size <= l.max_part_size,
        "min_part_size {} > max_part_size {}",
        l.min_part_size,
        l.max_part_size
    );
    ensure!(l.max_part_size >= 1, "max_part_size is 0");
    ensure!(l.max_parts >= 1, "max_parts is 0");
    ensure!(l.max_batch_delete >= 1, "max_batch_delete is 0");
    ensure!(l.max_key_length >= 64, "max_key_length {} is below 64 bytes", l.max_key_length);
    ensure!(l.max_single_put >= 1, "max_single_put is 0");
    ensure!(l.max_page_size >= 1, "max_page_size is 0");
    let _ = ctx.d().as_any();
    Ok(())
}

async fn driver_capabilities_consistent(ctx: Ctx) -> CaseResult {
    let c = ctx.d().info().capabilities;
    ensure!(!c.suffix_ranges || c.ranges, "suffix_ranges is on but ranges is off");
    ensure!(!c.copy_if_absent || c.copy, "copy_if_absent is on but copy is off");
    ensure!(!c.list_multipart || c.multipart, "list_multipart is on but multipart is off");
    ensure!(
        !c.refuses_nonempty_delete || c.manage_containers,
        "refuses_nonempty_delete is on but manage_containers is off"
    );
    Ok(())
}
