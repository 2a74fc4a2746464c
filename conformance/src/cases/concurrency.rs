//! Concurrency: many writers, racing overwrites, readers during overwrites.

use bytes::Bytes;
use futures::future::join_all;

use crate::case::{Case, CaseResult, case, ensure};
use crate::context::{Ctx, data};

const G: &str = "concurrency";

pub(crate) fn cases() -> Vec<Case> {
    vec![
        case!(G, concurrent_puts_distinct),
        case!(G, concurrent_overwrites_one_key),
        case!(G, concurrent_reads_during_overwrites, ["atomic_overwrite"]),
        case!(G, concurrent_gets),
        case!(G, concurrent_deletes),
    ]
}

async fn concurrent_puts_distinct(ctx: Ctx) -> CaseResult {
    let names: Vec<String> = (0..32).map(|i| format!("w/{i:02}")).collect();
    let results = join_all(names.iter().map(|n| ctx.put(n, Bytes::from(format!("writer {n}"))))).await;
    results.into_iter().collect::<Result<Vec<_>, String>>()?;
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    ctx.expect_listing(ctx.under(""), &refs).await?;
    for n in names.iter().step_by(7) {
        ctx.expect_data(n, format!("writer {n}").as_bytes()).await?;
    }
    Ok(())
}

async fn concurrent_overwrites_one_key(ctx: Ctx) -> CaseResult {
    let payloads: Vec<Bytes> = (0..8).map(|i| data(256 * 1024 + i as usize, 200 + i)).collect();
    let handles: Vec<_> = payloads
        .iter()
        .map(|p| {
            let (ctx, p) = (ctx.clone(), p.clone());
            tokio::spawn(async move { ctx.put("contended", p).await })
        })
        .collect();
    for h in join_all(handles).await {
        h.map_err(|e| format!("a writer task failed: {e}"))??;
    }
    let got = ctx.get("contended").await?;
    ensure!(
        payloads.contains(&got),
        "after 8 concurrent overwrites the object ({} bytes) equals none of the payloads written (torn data)",
        got.len()
    );
    Ok(())
}

async fn concurrent_reads_during_overwrites(ctx: Ctx) -> CaseResult {
    let versions: Vec<Bytes> = (0..5).map(|i| data(300_000 + i as usize * 1000, 300 + i)).collect();
    ctx.put("flux", versions[0].clone()).await?;
    let writer = {
        let (ctx, versions) = (ctx.clone(), versions.clone());
        tokio::spawn(async move {
            for round in 0..3 {
                for v in &versions[1..] {
                    ctx.put("flux", v.clone()).await.map_err(|e| format!("writer round {round}: {e}"))?;
                }
            }
            Ok::<(), String>(())
        })
    };
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (ctx, versions) = (ctx.clone(), versions.clone());
            tokio::spawn(async move {
                for i in 0..10 {
                    let got = ctx.get("flux").await.map_err(|e| format!("reader {r}, read {i}: {e}"))?;
                    if !versions.contains(&got) {
                        return Err(format!(
                            "reader {r}, read {i}: got {} bytes matching no complete version (torn read)",
                            got.len()
                        ));
                    }
                }
                Ok::<(), String>(())
            })
        })
        .collect();
    writer.await.map_err(|e| format!("the writer task failed: {e}"))??;
    for h in join_all(readers).await {
        h.map_err(|e| format!("a reader task failed: {e}"))??;
    }
    Ok(())
}

async fn concurrent_gets(ctx: Ctx) -> CaseResult {
    let body = data(1024 * 1024, 400);
    ctx.put("shared", body.clone()).await?;
    let results = join_all((0..16).map(|_| ctx.get("shared"))).await;
    for (i, r) in results.into_iter().enumerate() {
        let got = r?;
        ensure!(got == body, "concurrent read {i} returned {} bytes that differ from the object", got.len());
    }
    Ok(())
}

async fn concurrent_deletes(ctx: Ctx) -> CaseResult {
    let names: Vec<String> = (0..16).map(|i| format!("del/{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    ctx.put_all(&refs).await?;
    let results = join_all(names.iter().map(|n| ctx.delete(n))).await;
    results.into_iter().collect::<Result<Vec<_>, String>>()?;
    ctx.expect_listing(ctx.under(""), &[]).await
}
