//! Multipart uploads: round trips, concurrency, abort, bad completions, hashes, options.

use bytes::Bytes;
use futures::future::join_all;
use storage_core::{
    CompletedPart, HashAlgorithm, LeftoverKind, MultipartUpload, Object, PartOptions, Payload, PutOptions,
};

use crate::case::{Case, CaseResult, case, ensure};
use crate::context::{Ctx, OrFail, data, ensure_eq, expect_err, md5};

const G: &str = "multipart";

pub(crate) fn cases() -> Vec<Case> {
    vec![
        case!(G, multipart_three_parts, ["multipart"]),
        case!(G, multipart_concurrent_out_of_order, ["multipart"]),
        case!(G, multipart_single_part, ["multipart"]),
        case!(G, multipart_invisible_until_complete, ["multipart"]),
        case!(G, multipart_abort, ["multipart"]),
        case!(G, multipart_abort_keeps_existing, ["multipart"]),
        case!(G, multipart_list_and_abort, ["multipart", "list_multipart"]),
        case!(G, multipart_leftovers_listed_and_removed, ["multipart", "list_multipart"]),
        case!(G, multipart_missing_part, ["multipart"]),
        case!(G, multipart_hash_truthful, ["multipart"]),
        case!(G, multipart_whole_md5, ["multipart", "multipart_md5"]),
        case!(G, multipart_part_md5_given, ["multipart"]),
        case!(G, multipart_overwrites_existing, ["multipart"]),
        case!(G, multipart_content_type, ["multipart", "content_headers"]),
        case!(G, multipart_metadata, ["multipart", "user_metadata"]),
        case!(G, checksum_reported, ["multipart", "upload_checksums"]),
    ]
}

const OBJ: &str = "mpu";

/// Test data for `n` parts of the case's part size, the last one half-sized.
fn parts_data(ctx: &Ctx, n: usize, seed: u64) -> (Bytes, Vec<Bytes>) {
    let ps = ctx.part_size();
    let total = ps * (n - 1) + (ps / 2).max(1);
    let all = data(total, seed);
    let parts = (0..n).map(|i| all.slice(i * ps..((i + 1) * ps).min(total))).collect();
    (all, parts)
}

async fn put_part(ctx: &Ctx, upload: &MultipartUpload, number: u32, part: Bytes) -> Result<CompletedPart, String> {
    let size = part.len() as u64;
    let done = ctx
        .d()
        .put_part(upload, number, Payload::Bytes(part), &PartOptions::default())
        .await
        .or_fail(&format!("put_part {number}"))?;
    ensure_eq(&format!("part_number returned by put_part {number}"), &done.part_number, &number)?;
    ensure_eq(&format!("size returned by put_part {number}"), &done.size, &size)?;
    Ok(done)
}

/// Uploads `parts` one after another and completes the upload.
async fn upload(ctx: &Ctx, name: &str, parts: &[Bytes], options: &PutOptions) -> Result<Object, String> {
    let up = ctx.create_upload(name, options).await?;
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        done.push(put_part(ctx, &up, i as u32 + 1, p.clone()).await?);
    }
    ctx.d().complete_multipart(&up, &done, &Default::default()).await.or_fail("complete_multipart")
}

async fn multipart_three_parts(ctx: Ctx) -> CaseResult {
    let (all, parts) = parts_data(&ctx, 3, 30);
    let o = upload(&ctx, OBJ, &parts, &PutOptions::default()).await?;
    ensure_eq("name returned by complete_multipart", &o.name, &ctx.k(OBJ))?;
    ensure_eq("size returned by complete_multipart", &o.size, &(all.len() as u64))?;
    ensure_eq("size from head_object", &ctx.head(OBJ).await?.size, &(all.len() as u64))?;
    ctx.expect_data(OBJ, &all).await
}

async fn multipart_concurrent_out_of_order(ctx: Ctx) -> CaseResult {
    let (all, parts) = parts_data(&ctx, 3, 31);
    let up = ctx.create_upload(OBJ, &PutOptions::default()).await?;
    let order = [3u32, 1, 2];
    let results = join_all(order.iter().map(|&n| put_part(&ctx, &up, n, parts[n as usize - 1].clone()))).await;
    let mut done = results.into_iter().collect::<Result<Vec<_>, String>>()?;
    done.sort_by_key(|p| p.part_number);
    ctx.d()
        .complete_multipart(&up, &done, &Default::default())
        .await
        .or_fail("complete_multipart after concurrent parts")?;
    ctx.expect_data(OBJ, &all).await
}

async fn multipart_single_part(ctx: Ctx) -> CaseResult {
    let body = data(1000, 32);
    let o = upload(&ctx, OBJ, std::slice::from_ref(&body), &PutOptions::default()).await?;
    ensure_eq("size of a one-part upload", &o.size, &1000)?;
    ctx.expect_data(OBJ, &body).await
}

async fn multipart_invisible_until_complete(ctx: Ctx) -> CaseResult {
    let (all, parts) = parts_data(&ctx, 2, 33);
    let up = ctx.create_upload(OBJ, &PutOptions::default()).await?;
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        done.push(put_part(&ctx, &up, i as u32 + 1, p.clone()).await?);
    }
    ctx.expect_absent(OBJ).await.map_err(|e| format!("before complete_multipart: {e}"))?;
    let listed = ctx.render(&ctx.list(ctx.under("")).await?);
    ensure!(listed.is_empty(), "an unfinished upload shows in the listing: {listed:?}");
    ctx.d().complete_multipart(&up, &done, &Default::default()).await.or_fail("complete_multipart")?;
    ctx.expect_data(OBJ, &all).await
}

async fn multipart_abort(ctx: Ctx) -> CaseResult {
    let (_, parts) = parts_data(&ctx, 2, 34);
    let up = ctx.create_upload(OBJ, &PutOptions::default()).await?;
    let done = vec![put_part(&ctx, &up, 1, parts[0].clone()).await?];
    ctx.d().abort_multipart(&up).await.or_fail("abort_multipart")?;
    ctx.expect_absent(OBJ).await.map_err(|e| format!("after abort_multipart: {e}"))?;
    expect_err(
        ctx.d().complete_multipart(&up, &done, &Default::default()).await,
        "complete_multipart after abort_multipart",
    )?;
    ctx.expect_absent(OBJ).await.map_err(|e| format!("after completing an aborted upload: {e}"))
}

async fn multipart_abort_keeps_existing(ctx: Ctx) -> CaseResult {
    ctx.put(OBJ, Bytes::from_static(b"existing")).await?;
    let (_, parts) = parts_data(&ctx, 2, 35);
    let up = ctx.create_upload(OBJ, &PutOptions::default()).await?;
    put_part(&ctx, &up, 1, parts[0].clone()).await?;
    ctx.d().abort_multipart(&up).await.or_fail("abort_multipart")?;
    ctx.expect_data(OBJ, b"existing").await
}

/// An abandoned upload is a leftover (`list_leftovers`); `remove_leftover` removes it
/// (twice: the second finds it gone, which is no error); live objects are never listed.
async fn multipart_leftovers_listed_and_removed(ctx: Ctx) -> CaseResult {
    let live = "live";
    ctx.put(live, Bytes::from_static(b"live data")).await?;
    let (_, parts) = parts_data(&ctx, 2, 36);
    let up = ctx.create_upload(OBJ, &PutOptions::default()).await?;
    put_part(&ctx, &up, 1, parts[0].clone()).await?;
    let found = ctx.d().list_leftovers(&ctx.container, Some(&ctx.prefix)).await.or_fail("list_leftovers")?;
    let Some(mine) =
        found.iter().find(|l| l.kind == LeftoverKind::MultipartUpload && l.id == up.upload_id && l.key == up.key)
    else {
        return Err(format!(
            "list_leftovers does not show the upload {:?} at {:?} (got {found:?})",
            up.upload_id, up.key
        ));
    };
    ensure!(found.iter().all(|l| l.key != ctx.k(live)), "list_leftovers shows a live object as a leftover: {found:?}");
    ctx.d().remove_leftover(mine).await.or_fail("remove_leftover")?;
    ctx.d().remove_leftover(mine).await.or_fail("remove_leftover of a leftover already removed")?;
    let after =
        ctx.d().list_leftovers(&ctx.container, Some(&ctx.prefix)).await.or_fail("list_leftovers after removal")?;
    ensure!(after.iter().all(|l| l.id != up.upload_id), "list_leftovers still shows the removed upload: {after:?}");
    ensure!(
        ctx.d()
            .list_multipart_uploads(&ctx.container, Some(&ctx.prefix))
            .await
            .or_fail("list_multipart_uploads")?
            .iter()
            .all(|u| u.upload_id != up.upload_id),
        "remove_leftover did not abort the upload"
    );
    ctx.expect_data(live, b"live data").await?;
    ctx.expect_absent(OBJ).await
}

async fn multipart_list_and_abort(ctx: Ctx) -> CaseResult {
    let up = ctx.create_upload(OBJ, &PutOptions::default()).await?;
    let listed =
        ctx.d().list_multipart_uploads(&ctx.container, Some(&ctx.prefix)).await.or_fail("list_multipart_uploads")?;
    ensure!(
        listed.iter().any(|u| u.upload_id == up.upload_id && u.key == up.key),
        "list_multipart_uploads does not show the upload {:?} at {:?} (got {listed:?})",
        up.upload_id,
        up.key
    );
    let elsewhere = ctx
        .d()
        .list_multipart_uploads(&ctx.container, Some(&ctx.k("elsewhere/")))
        .await
        .or_fail("list_multipart_uploads under another prefix")?;
    ensure!(
        elsewhere.iter().all(|u| u.upload_id != up.upload_id),
        "list_multipart_uploads under another prefix shows the upload"
    );
    ctx.d().abort_multipart(&up).await.or_fail("abort_multipart")?;
    let after = ctx
        .d()
        .list_multipart_uploads(&ctx.container, Some(&ctx.prefix))
        .await
        .or_fail("list_multipart_uploads after abort")?;
    ensure!(
        after.iter().all(|u| u.upload_id != up.upload_id),
        "list_multipart_uploads still shows the upload after abort_multipart"
    );
    ctx.expect_absent(OBJ).await
}

async fn multipart_missing_part(ctx: Ctx) -> CaseResult {
    let (_, parts) = parts_data(&ctx, 2, 36);
    let up = ctx.create_upload(OBJ, &PutOptions::default()).await?;
    let mut done = vec![put_part(&ctx, &up, 1, parts[0].clone()).await?];
    let fake = CompletedPart::new(7, md5(b"never uploaded"), 10);
    done.push(fake.clone());
    expect_err(
        ctx.d().complete_multipart(&up, &done, &Default::default()).await,
        "complete_multipart listing a part never uploaded",
    )?;
    ctx.expect_absent(OBJ).await.map_err(|e| format!("after a refused complete_multipart: {e}"))?;
    let up2 = ctx.create_upload(OBJ, &PutOptions::default()).await?;
    expect_err(
        ctx.d().complete_multipart(&up2, &[fake], &Default::default()).await,
        "complete_multipart with only a never-uploaded part",
    )?;
    ctx.expect_absent(OBJ).await.map_err(|e| format!("after a refused complete_multipart: {e}"))
}

async fn multipart_hash_truthful(ctx: Ctx) -> CaseResult {
    let (all, parts) = parts_data(&ctx, 3, 37);
    let o = upload(&ctx, OBJ, &parts, &PutOptions::default()).await?;
    let head = ctx.head(OBJ).await?;
    let want = md5(&all);
    for (what, obj) in [("complete_multipart", &o), ("head_object", &head)] {
        if let Some(h) = &obj.hash
            && h.algorithm == HashAlgorithm::Md5
        {
            ensure!(
                h.value.eq_ignore_ascii_case(&want),
                "{what} claims MD5 {} for a multipart object whose MD5 is {want} (an opaque multipart ETag must \
                 be reported as HashAlgorithm::Opaque)",
                h.value
            );
        }
        if let Some(h) = &obj.hash
            && h.algorithm == HashAlgorithm::Crc32c
        {
            ensure!(
                h.matches(&all) == Some(true),
                "{what} claims CRC32C {} for a multipart object whose CRC32C differs",
                h.value
            );
        }
    }
    Ok(())
}

/// A driver that checks writes end to end (`upload_checksums`) reports a content hash
/// (MD5 or CRC32C) that is the data's, for a single put and a multipart upload alike.
async fn checksum_reported(ctx: Ctx) -> CaseResult {
    let single = data(10_000, 41);
    ctx.put("single", single.clone()).await?;
    let (all, parts) = parts_data(&ctx, 2, 42);
    let o = upload(&ctx, OBJ, &parts, &PutOptions::default()).await?;
    for (what, obj, bytes) in [
        ("head_object of a single put", ctx.head("single").await?, &single),
        ("complete_multipart", o, &all),
        ("head_object of a multipart object", ctx.head(OBJ).await?, &all),
    ] {
        match &obj.hash {
            Some(h) if h.matches(bytes) == Some(true) => {}
            other => {
                return Err(format!(
                    "{what} reports hash {other:?}, not the data's MD5 or CRC32C, though the driver claims \
                     upload_checksums"
                ));
            }
        }
    }
    ctx.expect_data(OBJ, &all).await
}

async fn multipart_whole_md5(ctx: Ctx) -> CaseResult {
    let (all, parts) = parts_data(&ctx, 3, 39);
    let o = upload(&ctx, OBJ, &parts, &PutOptions::default()).await?;
    let head = ctx.head(OBJ).await?;
    let want = md5(&all);
    for (what, obj) in [("complete_multipart", &o), ("head_object", &head)] {
        ensure!(
            obj.md5().is_some_and(|m| m.eq_ignore_ascii_case(&want)),
            "the driver declares multipart_md5, but {what} reports hash {:?} for a multipart object whose MD5 is {want}",
            obj.hash
        );
    }
    Ok(())
}

/// `put_part_with` and the part's MD5 (in upper case for one part, as callers may give
/// it) stores the same object as `put_part`.
async fn multipart_part_md5_given(ctx: Ctx) -> CaseResult {
    let (all, parts) = parts_data(&ctx, 2, 40);
    let up = ctx.create_upload(OBJ, &PutOptions::default()).await?;
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let number = i as u32 + 1;
        let digest = if i == 0 { md5(p).to_ascii_uppercase() } else { md5(p) };
        let part = ctx
            .d()
            .put_part(&up, number, Payload::Bytes(p.clone()), &PartOptions::content_md5(digest))
            .await
            .or_fail(&format!("put_part_with {number} and the part's MD5"))?;
        ensure_eq(&format!("size returned by put_part_with {number}"), &part.size, &(p.len() as u64))?;
        done.push(part);
    }
    let o = ctx.d().complete_multipart(&up, &done, &Default::default()).await.or_fail("complete_multipart")?;
    ensure_eq("size returned by complete_multipart", &o.size, &(all.len() as u64))?;
    ctx.expect_data(OBJ, &all).await
}

async fn multipart_overwrites_existing(ctx: Ctx) -> CaseResult {
    ctx.put(OBJ, Bytes::from_static(b"old")).await?;
    let (all, parts) = parts_data(&ctx, 2, 38);
    upload(&ctx, OBJ, &parts, &PutOptions::default()).await?;
    ctx.expect_data(OBJ, &all).await
}

async fn multipart_content_type(ctx: Ctx) -> CaseResult {
    let (_, parts) = parts_data(&ctx, 2, 39);
    let ct = "application/x-conformance-multipart";
    upload(&ctx, OBJ, &parts, &PutOptions::content_type(ct)).await?;
    ensure_eq("content_type of a multipart object", &ctx.head(OBJ).await?.content_type.as_deref(), &Some(ct))
}

async fn multipart_metadata(ctx: Ctx) -> CaseResult {
    let (_, parts) = parts_data(&ctx, 2, 40);
    upload(&ctx, OBJ, &parts, &PutOptions::default().with_metadata("Origin", "multipart")).await?;
    let meta = ctx.head(OBJ).await?.metadata;
    ensure_eq("metadata of a multipart object", &meta.get("origin").map(String::as_str), &Some("multipart"))?;
    ensure_eq("metadata keys of a multipart object", &meta.len(), &1)
}
