//! Server-side copies and the rename helper.

use std::collections::BTreeMap;

use bytes::Bytes;
use storage_core::{CopyOptions, DriverExt, ErrorKind, Object, PutMode, PutOptions};

use crate::case::{Case, CaseResult, case, ensure};
use crate::context::{Ctx, OrFail, data, ensure_eq, expect_kind, fresh_container_name, same_bytes};

const G: &str = "copy";

pub(crate) fn cases() -> Vec<Case> {
    vec![
        case!(G, copy_same_container, ["copy"]),
        case!(G, copy_preserves_content_type, ["copy", "content_headers"]),
        case!(G, copy_preserves_metadata, ["copy", "user_metadata"]),
        case!(G, copy_replace_metadata, ["copy", "user_metadata"]),
        case!(G, copy_replace_content_type, ["copy", "content_headers"]),
        case!(G, copy_overwrites_destination, ["copy"]),
        case!(G, copy_if_absent_new, ["copy", "copy_if_absent"]),
        case!(G, copy_if_absent_existing, ["copy", "copy_if_absent"]),
        case!(G, copy_missing_source, ["copy"]),
        case!(G, copy_source_if_match_ok, ["copy"]),
        case!(G, copy_source_if_match_mismatch, ["copy"]),
        case!(G, copy_across_containers, ["copy", "manage_containers"]),
        case!(G, copy_missing_destination_container, ["copy"]),
        case!(G, copy_invalid_destination_key, ["copy"]),
        case!(G, copy_helper_rename),
        case!(G, copy_helper_rename_missing),
        case!(G, copy_helper_rename_keeps_metadata, ["user_metadata"]),
    ]
}

const SRC: &str = "src";
const DST: &str = "dst";

async fn copy(ctx: &Ctx, src: &str, dst: &str, options: &CopyOptions) -> storage_core::Result<Object> {
    ctx.d().copy_object(&ctx.container, &ctx.k(src), &ctx.container, &ctx.k(dst), options).await
}

async fn copy_same_container(ctx: Ctx) -> CaseResult {
    let body = data(300_000, 50);
    ctx.put(SRC, body.clone()).await?;
    let o = copy(&ctx, SRC, DST, &CopyOptions::default()).await.or_fail("copy_object")?;
    ensure_eq("name returned by copy_object", &o.name, &ctx.k(DST))?;
    ensure_eq("size returned by copy_object", &o.size, &(body.len() as u64))?;
    ctx.expect_data(DST, &body).await?;
    ctx.expect_data(SRC, &body).await.map_err(|e| format!("the source after a copy: {e}"))
}

async fn copy_preserves_content_type(ctx: Ctx) -> CaseResult {
    let ct = "application/x-conformance-copy";
    let options = PutOptions { cache_control: Some("max-age=60".into()), ..PutOptions::content_type(ct) };
    ctx.put_opts(SRC, Bytes::from_static(b"typed"), &options).await?;
    copy(&ctx, SRC, DST, &CopyOptions::default()).await.or_fail("copy_object")?;
    let head = ctx.head(DST).await?;
    ensure_eq("content_type of the copy", &head.content_type.as_deref(), &Some(ct))?;
    ensure_eq("cache_control of the copy", &head.cache_control.as_deref(), &Some("max-age=60"))
}

async fn copy_preserves_metadata(ctx: Ctx) -> CaseResult {
    ctx.put_opts(SRC, Bytes::from_static(b"m"), &PutOptions::default().with_metadata("Kept", "yes")).await?;
    copy(&ctx, SRC, DST, &CopyOptions::default()).await.or_fail("copy_object")?;
    let expected = BTreeMap::from([("kept".to_owned(), "yes".to_owned())]);
    ensure_eq("metadata of the copy", &ctx.head(DST).await?.metadata, &expected)
}

async fn copy_replace_metadata(ctx: Ctx) -> CaseResult {
    ctx.put_opts(SRC, Bytes::from_static(b"m"), &PutOptions::default().with_metadata("old", "1")).await?;
    let options = CopyOptions { replace: Some(PutOptions::default().with_metadata("new", "2")), ..Default::default() };
    copy(&ctx, SRC, DST, &options).await.or_fail("copy_object replacing metadata")?;
    let expected = BTreeMap::from([("new".to_owned(), "2".to_owned())]);
    ensure_eq("metadata of the copy (replaced)", &ctx.head(DST).await?.metadata, &expected)?;
    let old = BTreeMap::from([("old".to_owned(), "1".to_owned())]);
    ensure_eq("metadata of the source (unchanged)", &ctx.head(SRC).await?.metadata, &old)
}

async fn copy_replace_content_type(ctx: Ctx) -> CaseResult {
    ctx.put_opts(SRC, Bytes::from_static(b"t"), &PutOptions::content_type("text/plain")).await?;
    let options =
        CopyOptions { replace: Some(PutOptions::content_type("application/x-replaced")), ..Default::default() };
    copy(&ctx, SRC, DST, &options).await.or_fail("copy_object replacing the content type")?;
    ensure_eq(
        "content_type of the copy (replaced)",
        &ctx.head(DST).await?.content_type.as_deref(),
        &Some("application/x-replaced"),
    )?;
    ensure_eq("content_type of the source", &ctx.head(SRC).await?.content_type.as_deref(), &Some("text/plain"))
}

async fn copy_overwrites_destination(ctx: Ctx) -> CaseResult {
    ctx.put(SRC, Bytes::from_static(b"new data")).await?;
    ctx.put(DST, Bytes::from_static(b"old data, longer")).await?;
    copy(&ctx, SRC, DST, &CopyOptions::default()).await.or_fail("copy_object onto an existing key")?;
    ctx.expect_data(DST, b"new data").await
}

async fn copy_if_absent_new(ctx: Ctx) -> CaseResult {
    ctx.put(SRC, Bytes::from_static(b"data")).await?;
    let options = CopyOptions { mode: PutMode::CreateIfAbsent, ..Default::default() };
    copy(&ctx, SRC, DST, &options).await.or_fail("copy_object CreateIfAbsent to a new key")?;
    ctx.expect_data(DST, b"data").await
}

async fn copy_if_absent_existing(ctx: Ctx) -> CaseResult {
    ctx.put(SRC, Bytes::from_static(b"data")).await?;
    ctx.put(DST, Bytes::from_static(b"already here")).await?;
    let options = CopyOptions { mode: PutMode::CreateIfAbsent, ..Default::default() };
    expect_kind(
        copy(&ctx, SRC, DST, &options).await,
        ErrorKind::PreconditionFailed,
        "copy_object CreateIfAbsent onto an existing key",
    )?;
    ctx.expect_data(DST, b"already here").await
}

async fn copy_missing_source(ctx: Ctx) -> CaseResult {
    let e = expect_kind(
        copy(&ctx, "no-such-source", DST, &CopyOptions::default()).await,
        ErrorKind::ObjectDoesNotExist,
        "copy_object from a missing source",
    )?;
    ensure!(e.is_object_error(), "ObjectDoesNotExist must be an object error");
    ctx.expect_absent(DST).await
}

async fn copy_source_if_match_ok(ctx: Ctx) -> CaseResult {
    ctx.put(SRC, Bytes::from_static(b"matched")).await?;
    let etag = ctx.head(SRC).await?.etag.ok_or("head_object returned no ETag")?;
    let options = CopyOptions { source_if_match: Some(etag), ..Default::default() };
    copy(&ctx, SRC, DST, &options).await.or_fail("copy_object with source_if_match = current ETag")?;
    ctx.expect_data(DST, b"matched").await
}

async fn copy_source_if_match_mismatch(ctx: Ctx) -> CaseResult {
    ctx.put(SRC, Bytes::from_static(b"v1")).await?;
    let old = ctx.head(SRC).await?.etag.ok_or("head_object returned no ETag")?;
    ctx.put(SRC, Bytes::from_static(b"v2")).await?;
    let options = CopyOptions { source_if_match: Some(old), ..Default::default() };
    expect_kind(
        copy(&ctx, SRC, DST, &options).await,
        ErrorKind::PreconditionFailed,
        "copy_object with a stale source_if_match",
    )?;
    ctx.expect_absent(DST).await
}

async fn copy_across_containers(ctx: Ctx) -> CaseResult {
    let other = ctx.new_container().await?;
    let body = data(10_000, 51);
    ctx.put(SRC, body.clone()).await?;
    let o = ctx
        .d()
        .copy_object(&ctx.container, &ctx.k(SRC), &other, "copied", &CopyOptions::default())
        .await
        .or_fail("copy_object to another container")?;
    ensure_eq("container returned by copy_object", &o.container, &other)?;
    let got = ctx.d().get_bytes(&other, "copied").await.or_fail("get_object in the other container")?;
    same_bytes("the copy in the other container", &got, &body)
}

async fn copy_missing_destination_container(ctx: Ctx) -> CaseResult {
    ctx.put(SRC, Bytes::from_static(b"x")).await?;
    let missing = fresh_container_name();
    let r = ctx.d().copy_object(&ctx.container, &ctx.k(SRC), &missing, "k", &CopyOptions::default()).await;
    if r.is_ok() {
        ctx.track_container(&missing);
    }
    expect_kind(r, ErrorKind::ContainerDoesNotExist, "copy_object into a container that does not exist")?;
    Ok(())
}

async fn copy_invalid_destination_key(ctx: Ctx) -> CaseResult {
    ctx.put(SRC, Bytes::from_static(b"x")).await?;
    let e = expect_kind(
        ctx.d().copy_object(&ctx.container, &ctx.k(SRC), &ctx.container, "", &CopyOptions::default()).await,
        ErrorKind::InvalidObjectName,
        "copy_object to an empty key",
    )?;
    ensure!(e.is_object_error(), "InvalidObjectName must be an object error");
    Ok(())
}

async fn copy_helper_rename(ctx: Ctx) -> CaseResult {
    let body = data(50_000, 52);
    ctx.put(SRC, body.clone()).await?;
    let o = ctx.d().rename(&ctx.container, &ctx.k(SRC), &ctx.k(DST)).await.or_fail("rename")?;
    ensure_eq("name returned by rename", &o.name, &ctx.k(DST))?;
    ctx.expect_data(DST, &body).await?;
    ctx.expect_absent(SRC).await.map_err(|e| format!("the source after rename: {e}"))
}

async fn copy_helper_rename_missing(ctx: Ctx) -> CaseResult {
    expect_kind(
        ctx.d().rename(&ctx.container, &ctx.k("no-such-source"), &ctx.k(DST)).await,
        ErrorKind::ObjectDoesNotExist,
        "rename of a missing object",
    )?;
    ctx.expect_absent(DST).await
}

async fn copy_helper_rename_keeps_metadata(ctx: Ctx) -> CaseResult {
    ctx.put_opts(SRC, Bytes::from_static(b"m"), &PutOptions::default().with_metadata("travels", "along")).await?;
    ctx.d().rename(&ctx.container, &ctx.k(SRC), &ctx.k(DST)).await.or_fail("rename")?;
    let expected = BTreeMap::from([("travels".to_owned(), "along".to_owned())]);
    ensure_eq("metadata after rename", &ctx.head(DST).await?.metadata, &expected)
}
