//! Conditional reads (ETag, time) and conditional writes (create-if-absent, if-match).

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use storage_core::{ByteRange, ErrorKind, GetOptions, Payload, PutMode, PutOptions};

use crate::case::{Case, CaseResult, case, ensure};
use crate::context::{Ctx, OrFail, data, ensure_eq, expect_kind, expect_kinds, same_bytes};

const G: &str = "conditional";

pub(crate) fn cases() -> Vec<Case> {
    vec![
        case!(G, cond_get_if_match_ok, ["conditional_get_etag"]),
        case!(G, cond_get_if_match_mismatch, ["conditional_get_etag"]),
        case!(G, cond_get_if_match_stale, ["conditional_get_etag"]),
        case!(G, cond_get_if_none_match_same, ["conditional_get_etag"]),
        case!(G, cond_get_if_none_match_other, ["conditional_get_etag"]),
        case!(G, cond_get_range_if_match, ["conditional_get_etag", "ranges"]),
        case!(G, cond_get_if_modified_since_later, ["conditional_get_time"]),
        case!(G, cond_get_if_modified_since_earlier, ["conditional_get_time"]),
        case!(G, cond_get_if_unmodified_since_earlier, ["conditional_get_time"]),
        case!(G, cond_get_if_unmodified_since_later, ["conditional_get_time"]),
        case!(G, cond_put_if_absent_new, ["put_if_absent"]),
        case!(G, cond_put_if_absent_existing, ["put_if_absent"]),
        case!(G, cond_put_if_absent_after_delete, ["put_if_absent"]),
        case!(G, cond_put_if_absent_race, ["put_if_absent", "atomic_conditional_put"]),
        case!(G, cond_put_if_match_current, ["put_if_match"]),
        case!(G, cond_put_if_match_stale, ["put_if_match"]),
        case!(G, cond_put_if_match_missing, ["put_if_match"]),
        case!(G, cond_put_if_match_race, ["put_if_match", "atomic_conditional_put"]),
    ]
}

const OBJ: &str = "cond";
const BODY: &[u8] = b"conditional body";
/// A well-formed ETag that no object in the suite has.
const OTHER_ETAG: &str = "0123456789abcdef0123456789abcdef";

async fn setup(ctx: &Ctx) -> Result<String, String> {
    ctx.put(OBJ, Bytes::from_static(BODY)).await?;
    ctx.head(OBJ).await?.etag.ok_or_else(|| "head_object returned no ETag".to_owned())
}

async fn setup_time(ctx: &Ctx) -> Result<DateTime<Utc>, String> {
    ctx.put(OBJ, Bytes::from_static(BODY)).await?;
    ctx.head(OBJ).await?.last_modified.ok_or_else(|| "head_object returned no last_modified".to_owned())
}

async fn expect_body(ctx: &Ctx, options: GetOptions, what: &str) -> CaseResult {
    let (_, _, body) = ctx.get_with(OBJ, &options).await.or_fail(&format!("get_object {what}"))?;
    same_bytes(&format!("body of get_object {what}"), &body, BODY)
}

async fn expect_get_kind(ctx: &Ctx, options: GetOptions, kind: ErrorKind, what: &str) -> CaseResult {
    expect_kind(ctx.get_with(OBJ, &options).await, kind, &format!("get_object {what}"))?;
    Ok(())
}

async fn cond_get_if_match_ok(ctx: Ctx) -> CaseResult {
    let etag = setup(&ctx).await?;
    expect_body(&ctx, GetOptions { if_match: Some(etag), ..Default::default() }, "with if_match = current ETag").await
}

async fn cond_get_if_match_mismatch(ctx: Ctx) -> CaseResult {
    setup(&ctx).await?;
    let options = GetOptions { if_match: Some(OTHER_ETAG.into()), ..Default::default() };
    expect_get_kind(&ctx, options, ErrorKind::PreconditionFailed, "with if_match = another ETag").await
}

async fn cond_get_if_match_stale(ctx: Ctx) -> CaseResult {
    let old = setup(&ctx).await?;
    ctx.put(OBJ, Bytes::from_static(b"changed")).await?;
    let options = GetOptions { if_match: Some(old), ..Default::default() };
    expect_get_kind(&ctx, options, ErrorKind::PreconditionFailed, "with if_match = the ETag before an overwrite").await
}

async fn cond_get_if_none_match_same(ctx: Ctx) -> CaseResult {
    let etag = setup(&ctx).await?;
    let options = GetOptions { if_none_match: Some(etag), ..Default::default() };
    expect_get_kind(&ctx, options, ErrorKind::NotModified, "with if_none_match = current ETag").await
}

async fn cond_get_if_none_match_other(ctx: Ctx) -> CaseResult {
    setup(&ctx).await?;
    let options = GetOptions { if_none_match: Some(OTHER_ETAG.into()), ..Default::default() };
    expect_body(&ctx, options, "with if_none_match = another ETag").await
}

async fn cond_get_range_if_match(ctx: Ctx) -> CaseResult {
    let etag = setup(&ctx).await?;
    let options =
        GetOptions { range: Some(ByteRange::Bounded { start: 2, end: 6 }), if_match: Some(etag), ..Default::default() };
    let (_, range, body) = ctx.get_with(OBJ, &options).await.or_fail("get_object with a range and if_match")?;
    ensure_eq("range with if_match", &range, &(2..6))?;
    same_bytes("ranged body with if_match", &body, &BODY[2..6])?;
    let options = GetOptions {
        range: Some(ByteRange::Bounded { start: 2, end: 6 }),
        if_match: Some(OTHER_ETAG.into()),
        ..Default::default()
    };
    expect_get_kind(&ctx, options, ErrorKind::PreconditionFailed, "with a range and a wrong if_match").await
}

async fn cond_get_if_modified_since_later(ctx: Ctx) -> CaseResult {
    let lm = setup_time(&ctx).await?;
    let options = GetOptions { if_modified_since: Some(lm + Duration::hours(1)), ..Default::default() };
    expect_get_kind(&ctx, options, ErrorKind::NotModified, "with if_modified_since = last_modified + 1h").await
}

async fn cond_get_if_modified_since_earlier(ctx: Ctx) -> CaseResult {
    let lm = setup_time(&ctx).await?;
    let options = GetOptions { if_modified_since: Some(lm - Duration::hours(1)), ..Default::default() };
    expect_body(&ctx, options, "with if_modified_since = last_modified - 1h").await
}

async fn cond_get_if_unmodified_since_earlier(ctx: Ctx) -> CaseResult {
    let lm = setup_time(&ctx).await?;
    let options = GetOptions { if_unmodified_since: Some(lm - Duration::hours(1)), ..Default::default() };
    expect_get_kind(&ctx, options, ErrorKind::PreconditionFailed, "with if_unmodified_since = last_modified - 1h").await
}

async fn cond_get_if_unmodified_since_later(ctx: Ctx) -> CaseResult {
    let lm = setup_time(&ctx).await?;
    let options = GetOptions { if_unmodified_since: Some(lm + Duration::hours(1)), ..Default::default() };
    expect_body(&ctx, options, "with if_unmodified_since = last_modified + 1h").await
}

fn mode(m: PutMode) -> PutOptions {
    PutOptions::default().with_mode(m)
}

async fn cond_put_if_absent_new(ctx: Ctx) -> CaseResult {
    ctx.put_opts("new", Bytes::from_static(b"first"), &mode(PutMode::CreateIfAbsent)).await?;
    ctx.expect_data("new", b"first").await
}

async fn cond_put_if_absent_existing(ctx: Ctx) -> CaseResult {
    ctx.put(OBJ, Bytes::from_static(b"original")).await?;
    expect_kind(
        ctx.try_put(OBJ, Payload::from("intruder"), &mode(PutMode::CreateIfAbsent)).await,
        ErrorKind::PreconditionFailed,
        "put_object CreateIfAbsent onto an existing key",
    )?;
    ctx.expect_data(OBJ, b"original").await
}

async fn cond_put_if_absent_after_delete(ctx: Ctx) -> CaseResult {
    ctx.put(OBJ, Bytes::from_static(b"original")).await?;
    ctx.delete(OBJ).await?;
    ctx.put_opts(OBJ, Bytes::from_static(b"reborn"), &mode(PutMode::CreateIfAbsent)).await?;
    ctx.expect_data(OBJ, b"reborn").await
}

/// Runs `writers` concurrent writes of distinct payloads with `options`; expects exactly
/// one to succeed, the others to fail with `PreconditionFailed`, and the winner's data
/// to be stored.
async fn race(ctx: &Ctx, writers: u64, options: PutOptions, what: &str) -> CaseResult {
    let payloads: Vec<Bytes> = (0..writers).map(|i| data(64 * 1024, 100 + i)).collect();
    let results = join_all(payloads.iter().map(|p| ctx.try_put(OBJ, Payload::Bytes(p.clone()), &options))).await;
    let winners: Vec<usize> = results.iter().enumerate().filter(|(_, r)| r.is_ok()).map(|(i, _)| i).collect();
    ensure!(
        winners.len() == 1,
        "{what}: {} of {writers} concurrent writers succeeded; exactly one must",
        winners.len()
    );
    for r in results.into_iter().filter(|r| r.is_err()) {
        expect_kind(r, ErrorKind::PreconditionFailed, &format!("{what}: a losing writer"))?;
    }
    ctx.expect_data(OBJ, &payloads[winners[0]]).await.map_err(|e| format!("{what}: the winner's data: {e}"))
}

async fn cond_put_if_absent_race(ctx: Ctx) -> CaseResult {
    race(&ctx, 8, mode(PutMode::CreateIfAbsent), "8 concurrent CreateIfAbsent writes").await
}

async fn cond_put_if_match_current(ctx: Ctx) -> CaseResult {
    let etag = setup(&ctx).await?;
    let o = ctx.put_opts(OBJ, Bytes::from_static(b"updated"), &mode(PutMode::IfMatch(etag.clone()))).await?;
    ctx.expect_data(OBJ, b"updated").await?;
    let new = ctx.head(OBJ).await?.etag;
    ensure!(new.as_deref() != Some(etag.as_str()), "the ETag did not change after an if-match write");
    if o.etag.is_some() {
        ensure_eq("the ETag returned by the if-match write vs head_object", &o.etag, &new)?;
    }
    Ok(())
}

async fn cond_put_if_match_stale(ctx: Ctx) -> CaseResult {
    let old = setup(&ctx).await?;
    ctx.put(OBJ, Bytes::from_static(b"second")).await?;
    expect_kind(
        ctx.try_put(OBJ, Payload::from("third"), &mode(PutMode::IfMatch(old))).await,
        ErrorKind::PreconditionFailed,
        "put_object IfMatch with a stale ETag",
    )?;
    ctx.expect_data(OBJ, b"second").await?;
    expect_kind(
        ctx.try_put(OBJ, Payload::from("third"), &mode(PutMode::IfMatch(OTHER_ETAG.into()))).await,
        ErrorKind::PreconditionFailed,
        "put_object IfMatch with an unrelated ETag",
    )?;
    ctx.expect_data(OBJ, b"second").await
}

async fn cond_put_if_match_missing(ctx: Ctx) -> CaseResult {
    expect_kinds(
        ctx.try_put("absent", Payload::from("x"), &mode(PutMode::IfMatch(OTHER_ETAG.into()))).await,
        &[ErrorKind::PreconditionFailed, ErrorKind::ObjectDoesNotExist],
        "put_object IfMatch on a key that does not exist",
    )?;
    ctx.expect_absent("absent").await
}

async fn cond_put_if_match_race(ctx: Ctx) -> CaseResult {
    let etag = setup(&ctx).await?;
    race(&ctx, 8, mode(PutMode::IfMatch(etag)), "8 concurrent IfMatch writes with the same ETag").await
}
