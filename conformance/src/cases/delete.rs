//! Deletes: batches, the delete_objects and delete_prefix helpers, exact-key deletes.

use std::collections::BTreeSet;

use storage_core::{DeleteOutcome, DriverExt};

use crate::case::{Case, CaseResult, case, ensure};
use crate::context::{Ctx, OrFail, ensure_eq};

const G: &str = "delete";

pub(crate) fn cases() -> Vec<Case> {
    vec![
        case!(G, delete_batch_mixed),
        case!(G, delete_batch_awkward_keys),
        case!(G, delete_only_exact_key),
        case!(G, delete_helper_delete_objects),
        case!(G, delete_helper_delete_objects_empty),
        case!(G, delete_helper_delete_prefix),
        case!(G, delete_helper_delete_prefix_nothing),
    ]
}

/// Checks there is one `Ok` outcome per key, for exactly `keys`.
fn check_outcomes(what: &str, outcomes: &[DeleteOutcome], keys: &[String]) -> CaseResult {
    ensure!(outcomes.len() == keys.len(), "{what}: {} outcomes for {} keys", outcomes.len(), keys.len());
    for o in outcomes {
        if let Err(e) = &o.result {
            return Err(format!("{what}: deleting {:?} failed: {e}", o.key));
        }
    }
    let got: BTreeSet<&str> = outcomes.iter().map(|o| o.key.as_str()).collect();
    let want: BTreeSet<&str> = keys.iter().map(String::as_str).collect();
    ensure_eq(&format!("{what}: the keys of the outcomes"), &got, &want)
}

async fn batch(ctx: &Ctx, existing: &[&str], missing: &[&str]) -> CaseResult {
    ctx.put_all(existing).await?;
    ctx.put_all(&["survivor"]).await?;
    let keys: Vec<String> = existing.iter().chain(missing).map(|n| ctx.k(n)).collect();
    let outcomes = ctx.d().delete_batch(&ctx.container, &keys).await.or_fail("delete_batch")?;
    check_outcomes("delete_batch", &outcomes, &keys)?;
    ctx.expect_listing(ctx.under(""), &["survivor"]).await
}

async fn delete_batch_mixed(ctx: Ctx) -> CaseResult {
    batch(&ctx, &["a", "b/c", "d"], &["missing-1", "missing/2"]).await
}

async fn delete_batch_awkward_keys(ctx: Ctx) -> CaseResult {
    batch(&ctx, &["with space", "amp&er<sand>", "quote\"'", "ünï/日本", "plus+%2B"], &["missing &<>"]).await
}

async fn delete_only_exact_key(ctx: Ctx) -> CaseResult {
    ctx.put_all(&["a", "ab", "a-b", "a.b", "c/a", "c/ab"]).await?;
    ctx.delete("a").await?;
    ctx.delete("c/a").await?;
    ctx.expect_listing(ctx.under(""), &["a-b", "a.b", "ab", "c/ab"]).await
}

async fn delete_helper_delete_objects(ctx: Ctx) -> CaseResult {
    let names: Vec<String> = (0..12).map(|i| format!("many/{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    ctx.put_all(&refs[..10]).await?;
    let keys: Vec<String> = names.iter().map(|n| ctx.k(n)).collect();
    let outcomes = ctx.d().delete_objects(&ctx.container, &keys).await.or_fail("delete_objects")?;
    check_outcomes("delete_objects", &outcomes, &keys)?;
    ctx.expect_listing(ctx.under(""), &[]).await
}

async fn delete_helper_delete_objects_empty(ctx: Ctx) -> CaseResult {
    ctx.put_all(&["untouched"]).await?;
    let outcomes = ctx.d().delete_objects(&ctx.container, &[]).await.or_fail("delete_objects with no keys")?;
    ensure!(outcomes.is_empty(), "delete_objects with no keys returned {} outcomes", outcomes.len());
    ctx.expect_listing(ctx.under(""), &["untouched"]).await
}

async fn delete_helper_delete_prefix(ctx: Ctx) -> CaseResult {
    ctx.put_all(&["p/1", "p/2", "p/sub/3", "px", "q", "p-"]).await?;
    let n = ctx.d().delete_prefix(&ctx.container, &ctx.k("p/")).await.or_fail("delete_prefix")?;
    ensure_eq("count returned by delete_prefix", &n, &3)?;
    ctx.expect_listing(ctx.under(""), &["p-", "px", "q"]).await
}

async fn delete_helper_delete_prefix_nothing(ctx: Ctx) -> CaseResult {
    ctx.put_all(&["kept"]).await?;
    let n = ctx.d().delete_prefix(&ctx.container, &ctx.k("nothing/")).await.or_fail("delete_prefix")?;
    ensure_eq("count returned by delete_prefix with no match", &n, &0)?;
    ctx.expect_listing(ctx.under(""), &["kept"]).await
}
