//! Errors: invalid keys, error context, and `NotSupported` for what a driver lacks.

use std::time::Duration;

use storage_core::{
    CompletedPart, CopyOptions, ErrorKind, GetOptions, MultipartUpload, PartOptions, Payload, PutOptions,
    SignedUrlOptions,
};

use crate::case::{Case, CaseResult, case, ensure};
use crate::context::{Ctx, OrFail, ensure_eq, expect_kind};

const G: &str = "errors";

pub(crate) fn cases() -> Vec<Case> {
    vec![
        case!(G, error_empty_key),
        case!(G, error_key_too_long),
        case!(G, error_key_with_nul),
        case!(G, error_invalid_key_multipart, ["multipart"]),
        case!(G, error_context_object),
        case!(G, error_context_container),
        case!(G, signed_url_get, ["signed_urls"]),
        case!(G, signed_url_not_supported, [], not["signed_urls"]),
        case!(G, cdn_urls, ["cdn"]),
        case!(G, cdn_not_supported, [], not["cdn", "object_cdn_url"]),
        case!(G, cdn_object_url, ["object_cdn_url"], not["cdn"]),
        case!(G, copy_not_supported, [], not["copy"]),
        case!(G, multipart_not_supported, [], not["multipart"]),
        case!(G, list_multipart_not_supported, [], not["list_multipart"]),
    ]
}

/// Every object call with `key` must answer `InvalidObjectName`, naming the driver.
async fn invalid_key(ctx: &Ctx, key: &str, what: &str) -> CaseResult {
    let d = ctx.d();
    let c = &ctx.container;
    let checks = [
        ("put_object", d.put_object(c, key, Payload::from("x"), &PutOptions::default()).await.map(|_| ())),
        ("get_object", d.get_object(c, key, &GetOptions::default()).await.map(|_| ())),
        ("head_object", d.head_object(c, key).await.map(|_| ())),
        ("delete_object", d.delete_object(c, key).await),
    ];
    for (op, r) in checks {
        let e = expect_kind(r, ErrorKind::InvalidObjectName, &format!("{op} with {what}"))?;
        ensure!(e.is_object_error(), "{op} with {what}: InvalidObjectName must be an object error");
        ensure_eq(&format!("{op} with {what}: the error's driver"), &e.driver(), &Some(ctx.driver_name.as_str()))?;
    }
    let listed = ctx.list(ctx.under("")).await?;
    ensure!(listed.is_empty(), "a refused write left something behind: {:?}", ctx.render(&listed));
    Ok(())
}

async fn error_empty_key(ctx: Ctx) -> CaseResult {
    invalid_key(&ctx, "", "an empty key").await
}

async fn error_key_too_long(ctx: Ctx) -> CaseResult {
    let max = ctx.limits.max_key_length;
    ensure!(max < 1 << 24, "max_key_length {max} is too large to test");
    let key = format!("{}{}", ctx.prefix, "k".repeat((max + 1).saturating_sub(ctx.prefix.len())));
    invalid_key(&ctx, &key, &format!("a key of {} bytes (the limit is {max})", key.len())).await
}

async fn error_key_with_nul(ctx: Ctx) -> CaseResult {
    invalid_key(&ctx, &ctx.k("nul\0inside"), "a key containing NUL").await
}

async fn error_invalid_key_multipart(ctx: Ctx) -> CaseResult {
    let r = ctx.d().create_multipart(&ctx.container, "", &PutOptions::default()).await;
    if let Ok(up) = &r {
        let _ = ctx.d().abort_multipart(up).await;
    }
    expect_kind(r, ErrorKind::InvalidObjectName, "create_multipart with an empty key")?;
    Ok(())
}

async fn error_context_object(ctx: Ctx) -> CaseResult {
    let key = ctx.k("missing/object");
    for (op, r) in [
        ("head_object", ctx.d().head_object(&ctx.container, &key).await.map(|_| ())),
        ("get_object", ctx.d().get_object(&ctx.container, &key, &GetOptions::default()).await.map(|_| ())),
    ] {
        let e = expect_kind(r, ErrorKind::ObjectDoesNotExist, &format!("{op} of a missing key"))?;
        ensure_eq(&format!("{op}: the error's driver"), &e.driver(), &Some(ctx.driver_name.as_str()))?;
        ensure_eq(&format!("{op}: the error's key"), &e.key(), &Some(key.as_str()))?;
        ensure_eq(&format!("{op}: the error's container"), &e.container(), &Some(ctx.container.as_str()))?;
        let shown = e.to_string();
        ensure!(shown.contains("ObjectDoesNotExist"), "the error's Display does not name its kind: {shown}");
    }
    Ok(())
}

async fn error_context_container(ctx: Ctx) -> CaseResult {
    let name = crate::context::fresh_container_name();
    let e = expect_kind(
        ctx.d().get_container(&name).await,
        ErrorKind::ContainerDoesNotExist,
        "get_container of a missing container",
    )?;
    ensure_eq("the error's driver", &e.driver(), &Some(ctx.driver_name.as_str()))?;
    ensure_eq("the error's container", &e.container(), &Some(name.as_str()))
}

async fn signed_url_get(ctx: Ctx) -> CaseResult {
    ctx.put("signed", bytes::Bytes::from_static(b"signed data")).await?;
    let options = SignedUrlOptions { expires_in: Duration::from_secs(600), ..Default::default() };
    let url = ctx.d().signed_url(&ctx.container, &ctx.k("signed"), &options).await.or_fail("signed_url")?;
    ensure!(url.starts_with("http"), "signed_url returned {:?}, which is not an http(s) URL", url.get(..40));
    Ok(())
}

fn not_supported<T>(ctx: &Ctx, r: storage_core::Result<T>, what: &str) -> CaseResult {
    let e = expect_kind(r, ErrorKind::NotSupported, what)?;
    ensure_eq(&format!("{what}: the error's driver"), &e.driver(), &Some(ctx.driver_name.as_str()))
}

async fn signed_url_not_supported(ctx: Ctx) -> CaseResult {
    let r = ctx.d().signed_url(&ctx.container, &ctx.k("x"), &SignedUrlOptions::default()).await;
    not_supported(&ctx, r, "signed_url on a driver without signed_urls")
}

async fn cdn_urls(ctx: Ctx) -> CaseResult {
    ctx.put("cdn", bytes::Bytes::from_static(b"cdn")).await?;
    let key = ctx.k("cdn");
    ctx.d().enable_container_cdn(&ctx.container).await.or_fail("enable_container_cdn")?;
    let url = ctx.d().get_container_cdn_url(&ctx.container).await.or_fail("get_container_cdn_url")?;
    ensure!(url.contains("://"), "get_container_cdn_url returned {url:?}, which is not a URL");
    ctx.d().enable_object_cdn(&ctx.container, &key).await.or_fail("enable_object_cdn")?;
    let url = ctx.d().get_object_cdn_url(&ctx.container, &key).await.or_fail("get_object_cdn_url")?;
    ensure!(url.contains("://"), "get_object_cdn_url returned {url:?}, which is not a URL");
    Ok(())
}

async fn cdn_not_supported(ctx: Ctx) -> CaseResult {
    let d = ctx.d();
    let (c, k) = (&ctx.container, ctx.k("x"));
    not_supported(&ctx, d.enable_container_cdn(c).await, "enable_container_cdn")?;
    not_supported(&ctx, d.enable_object_cdn(c, &k).await, "enable_object_cdn")?;
    not_supported(&ctx, d.get_container_cdn_url(c).await, "get_container_cdn_url")?;
    not_supported(&ctx, d.get_object_cdn_url(c, &k).await, "get_object_cdn_url")
}

async fn cdn_object_url(ctx: Ctx) -> CaseResult {
    // Object URLs without CDN management (S3's is a presigned GET): the URL works, enabling does not.
    ctx.put("cdn", bytes::Bytes::from_static(b"cdn")).await?;
    let url = ctx.d().get_object_cdn_url(&ctx.container, &ctx.k("cdn")).await.or_fail("get_object_cdn_url")?;
    ensure!(url.contains("://"), "get_object_cdn_url returned {url:?}, which is not a URL");
    not_supported(&ctx, ctx.d().enable_container_cdn(&ctx.container).await, "enable_container_cdn")
}

async fn copy_not_supported(ctx: Ctx) -> CaseResult {
    ctx.put("src", bytes::Bytes::from_static(b"x")).await?;
    let r = ctx
        .d()
        .copy_object(&ctx.container, &ctx.k("src"), &ctx.container, &ctx.k("dst"), &CopyOptions::default())
        .await;
    not_supported(&ctx, r, "copy_object on a driver without copy")?;
    ctx.expect_absent("dst").await
}

async fn multipart_not_supported(ctx: Ctx) -> CaseResult {
    let r = ctx.d().create_multipart(&ctx.container, &ctx.k("mpu"), &PutOptions::default()).await;
    if let Ok(up) = &r {
        let _ = ctx.d().abort_multipart(up).await;
    }
    not_supported(&ctx, r, "create_multipart on a driver without multipart")?;
    let fake = MultipartUpload {
        container: ctx.container.clone(),
        key: ctx.k("mpu"),
        upload_id: "no-such-upload".into(),
        initiated: None,
        checksum: None,
    };
    not_supported(
        &ctx,
        ctx.d().put_part(&fake, 1, Payload::from("x"), &PartOptions::default()).await,
        "put_part without multipart",
    )?;
    let part = CompletedPart::new(1, "x", 1);
    not_supported(
        &ctx,
        ctx.d().complete_multipart(&fake, &[part], &Default::default()).await,
        "complete_multipart without multipart",
    )?;
    not_supported(&ctx, ctx.d().abort_multipart(&fake).await, "abort_multipart without multipart")
}

async fn list_multipart_not_supported(ctx: Ctx) -> CaseResult {
    let r = ctx.d().list_multipart_uploads(&ctx.container, Some(&ctx.prefix)).await;
    not_supported(&ctx, r, "list_multipart_uploads on a driver without list_multipart")
}
