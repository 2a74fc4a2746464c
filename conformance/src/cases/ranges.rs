//! Range reads at the edges, and the get_range / get_ranges helpers.

use std::ops::Range;

use bytes::Bytes;
use storage_core::{ByteRange, DriverExt, ErrorKind, GetOptions};

use crate::case::{Case, CaseResult, case};
use crate::context::{Ctx, OrFail, data, ensure_eq, expect_kind, same_bytes};

const G: &str = "ranges";

pub(crate) fn cases() -> Vec<Case> {
    vec![
        case!(G, range_bounded, ["ranges"]),
        case!(G, range_from, ["ranges"]),
        case!(G, range_suffix, ["ranges", "suffix_ranges"]),
        case!(G, range_suffix_larger_than_object, ["ranges", "suffix_ranges"]),
        case!(G, range_end_clamped, ["ranges"]),
        case!(G, range_start_at_size, ["ranges"]),
        case!(G, range_start_past_size, ["ranges"]),
        case!(G, range_on_empty_object, ["ranges"]),
        case!(G, range_first_byte, ["ranges"]),
        case!(G, range_last_byte, ["ranges"]),
        case!(G, range_whole_object, ["ranges"]),
        case!(G, range_absolute_offsets, ["ranges"]),
        case!(G, range_inverted, ["ranges"]),
        case!(G, range_empty, ["ranges"]),
        case!(G, range_helper_get_range, ["ranges"]),
        case!(G, range_helper_get_ranges, ["ranges"]),
        case!(G, range_helper_get_ranges_past_end, ["ranges"]),
    ]
}

const OBJ: &str = "ranged";

async fn hundred(ctx: &Ctx) -> Result<Bytes, String> {
    let d = data(100, 20);
    ctx.put(OBJ, d.clone()).await?;
    Ok(d)
}

/// Reads `range` of `name` and checks the data and `GetResult.range` against `expected`
/// (absolute offsets into `full`).
async fn expect_range(ctx: &Ctx, name: &str, range: ByteRange, full: &Bytes, expected: Range<u64>) -> CaseResult {
    let (o, got_range, body) =
        ctx.get_with(name, &GetOptions::range(range)).await.or_fail(&format!("get_object with range {range:?}"))?;
    ensure_eq(&format!("GetResult.range for {range:?}"), &got_range, &expected)?;
    ensure_eq(&format!("GetResult.object.size for {range:?} (the full size)"), &o.size, &(full.len() as u64))?;
    let want = full.slice(expected.start as usize..expected.end as usize);
    same_bytes(&format!("the bytes of {range:?}"), &body, &want)
}

async fn expect_invalid(ctx: &Ctx, name: &str, range: ByteRange, what: &str) -> CaseResult {
    expect_kind(
        ctx.d().get_object(&ctx.container, &ctx.k(name), &GetOptions::range(range)).await,
        ErrorKind::InvalidRange,
        &format!("get_object with {range:?} ({what})"),
    )?;
    Ok(())
}

async fn range_bounded(ctx: Ctx) -> CaseResult {
    let d = hundred(&ctx).await?;
    expect_range(&ctx, OBJ, ByteRange::Bounded { start: 10, end: 20 }, &d, 10..20).await
}

async fn range_from(ctx: Ctx) -> CaseResult {
    let d = hundred(&ctx).await?;
    expect_range(&ctx, OBJ, ByteRange::From(90), &d, 90..100).await?;
    expect_range(&ctx, OBJ, ByteRange::From(0), &d, 0..100).await
}

async fn range_suffix(ctx: Ctx) -> CaseResult {
    let d = hundred(&ctx).await?;
    expect_range(&ctx, OBJ, ByteRange::Suffix(10), &d, 90..100).await?;
    expect_range(&ctx, OBJ, ByteRange::Suffix(1), &d, 99..100).await
}

async fn range_suffix_larger_than_object(ctx: Ctx) -> CaseResult {
    let d = hundred(&ctx).await?;
    expect_range(&ctx, OBJ, ByteRange::Suffix(1000), &d, 0..100).await
}

async fn range_end_clamped(ctx: Ctx) -> CaseResult {
    let d = hundred(&ctx).await?;
    expect_range(&ctx, OBJ, ByteRange::Bounded { start: 90, end: 200 }, &d, 90..100).await?;
    expect_range(&ctx, OBJ, ByteRange::Bounded { start: 0, end: 1 << 40 }, &d, 0..100).await
}

async fn range_start_at_size(ctx: Ctx) -> CaseResult {
    hundred(&ctx).await?;
    expect_invalid(&ctx, OBJ, ByteRange::Bounded { start: 100, end: 110 }, "start at the size").await?;
    expect_invalid(&ctx, OBJ, ByteRange::From(100), "start at the size").await
}

async fn range_start_past_size(ctx: Ctx) -> CaseResult {
    hundred(&ctx).await?;
    expect_invalid(&ctx, OBJ, ByteRange::Bounded { start: 150, end: 160 }, "start past the size").await?;
    expect_invalid(&ctx, OBJ, ByteRange::From(1000), "start past the size").await
}

async fn range_on_empty_object(ctx: Ctx) -> CaseResult {
    ctx.put("empty", Bytes::new()).await?;
    expect_invalid(&ctx, "empty", ByteRange::Bounded { start: 0, end: 1 }, "an empty object").await?;
    expect_invalid(&ctx, "empty", ByteRange::From(0), "an empty object").await
}

async fn range_first_byte(ctx: Ctx) -> CaseResult {
    let d = hundred(&ctx).await?;
    expect_range(&ctx, OBJ, ByteRange::Bounded { start: 0, end: 1 }, &d, 0..1).await
}

async fn range_last_byte(ctx: Ctx) -> CaseResult {
    let d = hundred(&ctx).await?;
    expect_range(&ctx, OBJ, ByteRange::Bounded { start: 99, end: 100 }, &d, 99..100).await?;
    expect_range(&ctx, OBJ, ByteRange::From(99), &d, 99..100).await
}

async fn range_whole_object(ctx: Ctx) -> CaseResult {
    let d = hundred(&ctx).await?;
    expect_range(&ctx, OBJ, ByteRange::Bounded { start: 0, end: 100 }, &d, 0..100).await
}

async fn range_absolute_offsets(ctx: Ctx) -> CaseResult {
    let d = data(3 * 1024 * 1024, 21);
    ctx.put("big", d.clone()).await?;
    let len = d.len() as u64;
    expect_range(&ctx, "big", ByteRange::Bounded { start: 2_000_000, end: 2_000_010 }, &d, 2_000_000..2_000_010)
        .await?;
    expect_range(&ctx, "big", ByteRange::Bounded { start: 1_000_000, end: 2_600_000 }, &d, 1_000_000..2_600_000)
        .await?;
    expect_range(&ctx, "big", ByteRange::From(len - 5), &d, len - 5..len).await?;
    if ctx.caps.suffix_ranges {
        expect_range(&ctx, "big", ByteRange::Suffix(1_500_000), &d, len - 1_500_000..len).await?;
    }
    Ok(())
}

async fn range_inverted(ctx: Ctx) -> CaseResult {
    hundred(&ctx).await?;
    expect_invalid(&ctx, OBJ, ByteRange::Bounded { start: 20, end: 10 }, "an inverted range").await
}

async fn range_empty(ctx: Ctx) -> CaseResult {
    hundred(&ctx).await?;
    expect_invalid(&ctx, OBJ, ByteRange::Bounded { start: 5, end: 5 }, "an empty range").await
}

async fn range_helper_get_range(ctx: Ctx) -> CaseResult {
    let d = hundred(&ctx).await?;
    let key = ctx.k(OBJ);
    let got = ctx.d().get_range(&ctx.container, &key, 10..20).await.or_fail("get_range 10..20")?;
    same_bytes("get_range 10..20", &got, &d[10..20])?;
    let got = ctx.d().get_range(&ctx.container, &key, 5..5).await.or_fail("get_range 5..5")?;
    ensure_eq("get_range 5..5 (empty)", &got.len(), &0)?;
    let got = ctx.d().get_range(&ctx.container, &key, 90..110).await.or_fail("get_range 90..110")?;
    same_bytes("get_range 90..110 (clamped to the size)", &got, &d[90..100])
}

async fn range_helper_get_ranges(ctx: Ctx) -> CaseResult {
    let d = data(3 * 1024 * 1024, 22);
    ctx.put("big", d.clone()).await?;
    let len = d.len() as u64;
    let ranges: Vec<Range<u64>> = vec![
        2_500_000..2_500_100, // far from the others, out of order
        0..10,
        5..15, // overlaps the previous one
        5..5,  // empty
        100..200,
        len - 10..len, // the last bytes
        7..8,          // inside another
    ];
    let got = ctx.d().get_ranges(&ctx.container, &ctx.k("big"), &ranges).await.or_fail("get_ranges")?;
    ensure_eq("number of results from get_ranges", &got.len(), &ranges.len())?;
    for (r, bytes) in ranges.iter().zip(&got) {
        same_bytes(&format!("get_ranges result for {r:?}"), bytes, &d[r.start as usize..r.end as usize])?;
    }
    let none = ctx.d().get_ranges(&ctx.container, &ctx.k("big"), &[]).await.or_fail("get_ranges with no ranges")?;
    ensure_eq("get_ranges with no ranges", &none.len(), &0)
}

async fn range_helper_get_ranges_past_end(ctx: Ctx) -> CaseResult {
    let d = hundred(&ctx).await?;
    // Consistent with get_range: a range reaching past the end is clamped to the size.
    let got = ctx
        .d()
        .get_ranges(&ctx.container, &ctx.k(OBJ), &[0..10, 90..110])
        .await
        .or_fail("get_ranges 0..10, 90..110")?;
    ensure_eq("number of results from get_ranges", &got.len(), &2)?;
    same_bytes("get_ranges 0..10", &got[0], &d[0..10])?;
    same_bytes("get_ranges 90..110 (clamped to the size)", &got[1], &d[90..100])?;
    expect_kind(
        ctx.d().get_ranges(&ctx.container, &ctx.k(OBJ), &[200..210, 250..260]).await,
        ErrorKind::InvalidRange,
        "get_ranges with a range starting past the end",
    )?;
    Ok(())
}
