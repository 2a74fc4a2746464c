//! Copies between drivers (or within one) and filtered removals.

use std::collections::HashMap;

use futures::stream::{self, StreamExt, TryStreamExt};

use super::{Outcome, TreeOptions, TreeReport, drive, folder, objects_under};
use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};
use crate::object::Object;
use crate::ops::checksum::StreamTap;
use crate::ops::{DriverExt, MemoryBudget, TransferOptions};
use crate::options::{CopyOptions, GetOptions, PutOptions};
use crate::payload::Payload;

/// Whether `a` and `b` are the same driver instance (their data pointers are equal,
/// whatever the types they are seen through).
fn same_instance<D1: ?Sized, D2: ?Sized>(a: &D1, b: &D2) -> bool {
    std::ptr::addr_eq(a as *const D1, b as *const D2)
}

/// Copies one object from `src` to `dst`, which may be different drivers (S3 to GCS,
/// local to Azure...): Libcloud-style "export".
///
/// - When `src` and `dst` are the same driver instance (the same `Arc`, or the same
///   reference) and it has server-side `copy`, the backend copies the data itself.
///   Copying an object onto itself is a no-op returning its metadata.
/// - Otherwise the data is streamed: a GET on `src` feeds
///   [`DriverExt::upload_object_via_stream`] on `dst` (a multipart upload for big
///   objects), so memory stays bounded by `part_size x (concurrency + 1)` of the default
///   [`TransferOptions`] whatever the object's size. A `dst` without multipart gets one
///   streamed request of the known length.
/// - Content type, content encoding, cache control, content disposition and user
///   metadata are carried over (as far as `dst` stores them).
/// - The bytes streamed are counted and hashed: if they differ from the source's size
///   or MD5, or from what `dst` reports having stored, the copy is deleted and the call
///   fails with `ObjectHashMismatch`.
pub async fn copy_object_between<D1: Driver + ?Sized, D2: Driver + ?Sized>(
    src: &D1,
    src_container: &str,
    src_key: &str,
    dst: &D2,
    dst_container: &str,
    dst_key: &str,
) -> Result<Object> {
    copy_between(src, src_container, src_key, dst, dst_container, dst_key, &TransferOptions::default()).await
}

/// [`copy_object_between`] with explicit transfer settings for the streamed case (part
/// size, parts in flight, progress, verification of parts). A server-side copy reports no
/// progress.
pub async fn copy_object_between_with<D1: Driver + ?Sized, D2: Driver + ?Sized>(
    src: &D1,
    src_container: &str,
    src_key: &str,
    dst: &D2,
    dst_container: &str,
    dst_key: &str,
    transfer: &TransferOptions,
) -> Result<Object> {
    copy_between(src, src_container, src_key, dst, dst_container, dst_key, transfer).await
}

async fn copy_between<D1: Driver + ?Sized, D2: Driver + ?Sized>(
    src: &D1,
    src_container: &str,
    src_key: &str,
    dst: &D2,
    dst_container: &str,
    dst_key: &str,
    transfer: &TransferOptions,
) -> Result<Object> {
    if same_instance(src, dst) {
        if src_container == dst_container && src_key == dst_key {
            return src.head_object(src_container, src_key).await;
        }
        if src.info().capabilities.copy {
            match src.copy_object(src_container, src_key, dst_container, dst_key, &CopyOptions::default()).await {
                Err(e) if e.kind() == ErrorKind::NotSupported => {
                    tracing::debug!(error = %e, "server-side copy refused; streaming the data instead");
                }
                other => return other,
            }
        }
    }
    stream_copy(src, src_container, src_key, dst, dst_container, dst_key, transfer).await
}

async fn stream_copy<D1: Driver + ?Sized, D2: Driver + ?Sized>(
    src: &D1,
    src_container: &str,
    src_key: &str,
    dst: &D2,
    dst_container: &str,
    dst_key: &str,
    transfer: &TransferOptions,
) -> Result<Object> {
    let res = src.get_object(src_container, src_key, &GetOptions::default()).await?;
    let source = res.object;
    let options = PutOptions::from_object(&source);
    let (body, tap) = StreamTap::wrap(res.body, true);
    let written = if dst.info().capabilities.multipart {
        dst.upload_object_via_stream(body, dst_container, dst_key, options, transfer).await?
    } else {
        dst.put_object(dst_container, dst_key, Payload::stream(body, Some(source.size)), &options).await?
    };
    let (count, md5) = tap.finish();
    let md5 = md5.unwrap_or_default();
    let problem = if count != source.size {
        Some(format!("{count} bytes were read but the source holds {}", source.size))
    } else if written.size != source.size {
        Some(format!("the copy holds {} bytes but the source {}", written.size, source.size))
    } else if source.md5().is_some_and(|want| !want.eq_ignore_ascii_case(&md5)) {
        Some(format!("the data read has MD5 {md5} but the source's is {}", source.md5().unwrap_or_default()))
    } else if written.md5().is_some_and(|got| !got.eq_ignore_ascii_case(&md5)) {
        Some(format!("the copy's MD5 is {} but the data sent has {md5}", written.md5().unwrap_or_default()))
    } else {
        None
    };
    if let Some(problem) = problem {
        if let Err(e) = dst.delete_object(dst_container, dst_key).await {
            tracing::warn!(error = %e, "deleting a corrupt copy failed");
        }
        return Err(Error::new(
            ErrorKind::ObjectHashMismatch,
            format!("copying {src_container}/{src_key} failed verification and was deleted: {problem}"),
        )
        .with_driver(&dst.info().name)
        .with_object(dst_container, dst_key));
    }
    Ok(written)
}

/// Copies every object under `src_prefix` in `src` to `dst_prefix` in `dst` (the same
/// driver, or any other), keeping the paths relative to the prefixes, through
/// [`copy_object_between`] (server-side within one driver instance, streamed otherwise),
/// `options.concurrency` objects at a time.
///
/// The filter sees the key relative to `src_prefix`; without `overwrite`, an object
/// whose destination key exists is skipped. When source and destination overlap in one
/// driver instance and container (copying `a/` into `a/b/`), the source is listed in full
/// before anything is written, so copies are never copied again.
#[allow(clippy::too_many_arguments)]
pub async fn copy_tree<D1: Driver + ?Sized, D2: Driver + ?Sized>(
    src: &D1,
    src_container: &str,
    src_prefix: &str,
    dst: &D2,
    dst_container: &str,
    dst_prefix: &str,
    options: &TreeOptions,
) -> Result<TreeReport> {
    let src_prefix = folder(src_prefix);
    let dst_prefix = folder(dst_prefix);
    let overlapping = same_instance(src, dst)
        && src_container == dst_container
        && (dst_prefix.starts_with(&src_prefix) || src_prefix.starts_with(&dst_prefix));
    let listing = objects_under(src, src_container, &src_prefix);
    let budget = MemoryBudget::for_transfer(&TransferOptions::default());
    let (budget, src_p, dst_p) = (&budget, &src_prefix, &dst_prefix);
    let work = |o: Object| async move {
        let _held = budget.reserve(o.size).await;
        copy_one(src, src_container, src_p, dst, dst_container, dst_p, o, options).await
    };
    if overlapping {
        let all: Vec<Object> = listing.try_collect().await?;
        drive(stream::iter(all.into_iter().map(Ok)), options.concurrency, TreeReport::default(), work).await
    } else {
        drive(listing, options.concurrency, TreeReport::default(), work).await
    }
}

#[allow(clippy::too_many_arguments)]
async fn copy_one<D1: Driver + ?Sized, D2: Driver + ?Sized>(
    src: &D1,
    src_container: &str,
    src_prefix: &str,
    dst: &D2,
    dst_container: &str,
    dst_prefix: &str,
    object: Object,
    options: &TreeOptions,
) -> Outcome {
    let Some(rel) = object.name.strip_prefix(src_prefix) else {
        let e = Error::new(ErrorKind::Backend, format!("the listing under {src_prefix:?} returned {:?}", object.name));
        return Outcome::Failed(object.name.clone(), e.with_object(src_container, &object.name));
    };
    if !options.filter.matches(rel) {
        return Outcome::Filtered;
    }
    let dst_key = format!("{dst_prefix}{rel}");
    if !options.overwrite {
        match dst.head_object(dst_container, &dst_key).await {
            Ok(_) => return Outcome::Skipped,
            Err(e) if e.kind() == ErrorKind::ObjectDoesNotExist => {}
            Err(e) => return Outcome::Failed(object.name, e),
        }
    }
    if options.dry_run {
        return Outcome::Done(object.size);
    }
    let transfer = TransferOptions::default();
    match copy_between(src, src_container, &object.name, dst, dst_container, &dst_key, &transfer).await {
        Ok(_) => Outcome::Done(object.size),
        Err(e) => Outcome::Failed(object.name, e),
    }
}

/// Deletes every object under `prefix` that the filter takes, with
/// [`Driver::delete_batch`] in batches of the driver's `max_batch_delete`,
/// `options.concurrency` batches at a time, while the listing goes on. Without a filter
/// this removes what [`DriverExt::delete_prefix`] would, but counts bytes and collects
/// per-key failures instead of stopping at the first. In dry-run mode nothing is
/// deleted. The folder's prefix itself is a folder (`"a"` removes `a/...`, never `a`
/// nor `ab/...`); `""` empties the container.
pub async fn remove_tree<D: Driver + ?Sized>(
    driver: &D,
    container: &str,
    prefix: &str,
    options: &TreeOptions,
) -> Result<TreeReport> {
    let prefix = folder(prefix);
    let batch = driver.info().limits.max_batch_delete.max(1);
    let mut results = objects_under(driver, container, &prefix)
        .chunks(batch)
        .map(|chunk| remove_chunk(driver, container, &prefix, chunk, options))
        .buffer_unordered(options.concurrency.max(1));
    let mut report = TreeReport::default();
    let mut first_error = None;
    while let Some((part, error)) = results.next().await {
        report.merge(part);
        if let Some(e) = error {
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        Some(e) => {
            tracing::warn!(removed = report.objects, error = %e, "the listing failed during remove_tree");
            Err(e)
        }
        None => Ok(report),
    }
}

async fn remove_chunk<D: Driver + ?Sized>(
    driver: &D,
    container: &str,
    prefix: &str,
    chunk: Vec<Result<Object>>,
    options: &TreeOptions,
) -> (TreeReport, Option<Error>) {
    let mut report = TreeReport::default();
    let mut list_error = None;
    let mut sizes = HashMap::new();
    let mut keys = Vec::new();
    for item in chunk {
        match item {
            Ok(o) => {
                let rel = o.name.strip_prefix(prefix).unwrap_or(&o.name);
                if options.filter.matches(rel) {
                    sizes.insert(o.name.clone(), o.size);
                    keys.push(o.name);
                } else {
                    report.filtered += 1;
                }
            }
            Err(e) => {
                list_error.get_or_insert(e);
            }
        }
    }
    if keys.is_empty() {
        return (report, list_error);
    }
    if options.dry_run {
        report.objects += keys.len() as u64;
        report.bytes += sizes.values().sum::<u64>();
        return (report, list_error);
    }
    match driver.delete_batch(container, &keys).await {
        Ok(outcomes) => {
            for outcome in outcomes {
                match outcome.result {
                    Ok(()) => {
                        report.objects += 1;
                        report.bytes += sizes.get(&outcome.key).copied().unwrap_or(0);
                    }
                    Err(e) => report.failed.push((outcome.key, e)),
                }
            }
        }
        Err(e) => {
            for key in keys {
                let each = copy_error(&e).with_object(container, &key);
                report.failed.push((key, each));
            }
        }
    }
    (report, list_error)
}

/// A copy of `e`'s kind, message and context (errors are not `Clone`: their source is
/// dropped), to report one failed batch against each of its keys.
fn copy_error(e: &Error) -> Error {
    let mut c = Error::new(e.kind(), e.message()).with_retryable(e.is_retryable()).with_retries(e.retries());
    if let Some(d) = e.driver() {
        c = c.with_driver(d);
    }
    if let Some(s) = e.status() {
        c = c.with_status(s);
    }
    if let Some(p) = e.provider_code() {
        c = c.with_provider_code(p);
    }
    if let Some(r) = e.request_id() {
        c = c.with_request_id(r);
    }
    c
}
