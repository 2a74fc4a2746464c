//! Copies between drivers (or within one) and filtered removals.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use futures::stream::{self, StreamExt, TryStreamExt};

use super::{Outcome, TreeOptions, TreeReport, drive, folder, objects_under};
use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};
use crate::object::Object;
use crate::ops::checksum::StreamTap;
use crate::ops::{DriverExt, MemoryBudget, Progress, TransferOptions};
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
/// - The source's MD5, where it reports one, goes with the upload as `content_md5`,
///   which every driver checks before the write commits: data damaged on the way fails
///   with `ObjectHashMismatch` and the destination keeps what it held. The bytes are
///   also counted (and hashed when the source reports no MD5): a copy found wrong after
///   it was written (its size, or the MD5 `dst` reports) is deleted, and the call fails
///   with `ObjectHashMismatch`.
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

/// Copies one version of an object (an S3 version id, a GCS generation, ...) from `src`
/// to `dst`, as [`copy_object_between_with`] streams an object: its content headers and
/// metadata carried over, its bytes counted and hashed on the way. The destination may
/// be the object's own key (restoring an old version: the live object is replaced only
/// once the whole version was read and checked; on a bucket that keeps versions, the
/// replaced one stays as a version); when `version` is the live object itself, nothing
/// is written and its metadata is returned. An answer of another version (a server that ignores
/// version ids answers with the live object) is `ObjectDoesNotExist`, before anything is
/// written.
#[allow(clippy::too_many_arguments)]
pub async fn copy_version_between_with<D1: Driver + ?Sized, D2: Driver + ?Sized>(
    src: &D1,
    src_container: &str,
    src_key: &str,
    version: &str,
    dst: &D2,
    dst_container: &str,
    dst_key: &str,
    transfer: &TransferOptions,
) -> Result<Object> {
    if same_instance(src, dst) && src_container == dst_container && src_key == dst_key {
        // Onto its own key: when that version is the live object there is nothing to
        // restore, and rewriting an object from itself could only put its one copy at
        // risk (on a bucket that keeps no versions, the live object is all there is).
        match src.head_object(src_container, src_key).await {
            Ok(live) if live.version.as_deref() == Some(version) => return Ok(live),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ObjectDoesNotExist => {}
            Err(e) => return Err(e),
        }
    }
    let from = Source { container: src_container, key: src_key, version: Some(version) };
    stream_copy(src, from, dst, dst_container, dst_key, transfer).await
}

/// What a streamed copy reads.
struct Source<'a> {
    container: &'a str,
    key: &'a str,
    version: Option<&'a str>,
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
    let from = Source { container: src_container, key: src_key, version: None };
    stream_copy(src, from, dst, dst_container, dst_key, transfer).await
}

async fn stream_copy<D1: Driver + ?Sized, D2: Driver + ?Sized>(
    src: &D1,
    from: Source<'_>,
    dst: &D2,
    dst_container: &str,
    dst_key: &str,
    transfer: &TransferOptions,
) -> Result<Object> {
    let (src_container, src_key) = (from.container, from.key);
    let get = GetOptions { version: from.version.map(str::to_owned), ..GetOptions::default() };
    let res = src.get_object(src_container, src_key, &get).await?;
    crate::kit::check_version_answered(from.version, res.object.version.as_deref())
        .map_err(|e| e.or_context(&src.info().name, Some(src_container), Some(src_key)))?;
    let source = res.object;
    let mut options = PutOptions::from_object(&source);
    // The source's MD5, where it reports one, goes with the upload: every driver checks a
    // `content_md5` before the write commits (the engine before completing parts), so
    // data damaged on the way never replaces what the destination holds. The stream is
    // hashed here only when there is no such MD5 (the MD5 is computed once).
    let known_md5 = source.md5().map(str::to_ascii_lowercase);
    options.content_md5.clone_from(&known_md5);
    let (body, tap) = StreamTap::wrap(res.body, known_md5.is_none());
    let written = if dst.info().capabilities.multipart {
        dst.upload_object_via_stream(body, dst_container, dst_key, options, transfer).await?
    } else {
        dst.put_object(dst_container, dst_key, Payload::stream(body, Some(source.size)), &options).await?
    };
    let (count, tapped) = tap.finish();
    let md5 = known_md5.or(tapped).unwrap_or_default();
    let problem = if count != source.size {
        Some(format!("{count} bytes were read but the source holds {}", source.size))
    } else if written.size != source.size {
        Some(format!("the copy holds {} bytes but the source {}", written.size, source.size))
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
    let sides = Sides { src, src_container, src_prefix: &src_prefix, dst, dst_container, dst_prefix: &dst_prefix };
    let transfer = TransferOptions::default();
    if overlapping {
        let all: Vec<Object> = listing.try_collect().await?;
        copy_objects(&sides, stream::iter(all.into_iter().map(Ok)), options, &transfer).await
    } else {
        copy_objects(&sides, listing, options, &transfer).await
    }
}

/// Both ends of a tree copy, the prefixes as folders.
struct Sides<'a, D1: ?Sized, D2: ?Sized> {
    src: &'a D1,
    src_container: &'a str,
    src_prefix: &'a str,
    dst: &'a D2,
    dst_container: &'a str,
    dst_prefix: &'a str,
}

/// Copies the listed objects, `options.concurrency` at a time, each with `transfer`'s
/// settings, within one memory budget of `transfer`'s size.
async fn copy_objects<D1: Driver + ?Sized, D2: Driver + ?Sized>(
    sides: &Sides<'_, D1, D2>,
    objects: impl futures::Stream<Item = Result<Object>>,
    options: &TreeOptions,
    transfer: &TransferOptions,
) -> Result<TreeReport> {
    let budget = MemoryBudget::for_transfer(transfer);
    let budget = &budget;
    let work = |o: Object| async move {
        let _held = budget.reserve(o.size).await;
        copy_one(sides, o, options, transfer).await
    };
    drive(objects, options.concurrency, TreeReport::default(), work).await
}

async fn copy_one<D1: Driver + ?Sized, D2: Driver + ?Sized>(
    sides: &Sides<'_, D1, D2>,
    object: Object,
    options: &TreeOptions,
    transfer: &TransferOptions,
) -> Outcome {
    let (src, src_container, src_prefix) = (sides.src, sides.src_container, sides.src_prefix);
    let (dst, dst_container, dst_prefix) = (sides.dst, sides.dst_container, sides.dst_prefix);
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
    match copy_reported(src, src_container, &object.name, dst, dst_container, &dst_key, transfer).await {
        Ok(_) => Outcome::Done(object.size),
        Err(e) => Outcome::Failed(object.name, e),
    }
}

/// One object's share of a progress shared by many copies: forwards its bytes and its
/// completion, never a `start` of its own, and remembers what was reported so that what
/// was not (all of a server-side copy) is reported once the copy is done.
struct Share {
    parent: Arc<dyn Progress>,
    reported: AtomicU64,
    done: AtomicBool,
}

impl Progress for Share {
    fn bytes(&self, n: u64) {
        self.reported.fetch_add(n, Ordering::Relaxed);
        self.parent.bytes(n);
    }
    fn object_done(&self, key: &str) {
        self.done.store(true, Ordering::Relaxed);
        self.parent.object_done(key);
    }
}

/// [`copy_between`] reporting to `transfer`'s progress as one object of many: exactly
/// its size in bytes once it is done (streamed bytes as they go, the rest at the end)
/// and its completion under `dst_key`.
#[allow(clippy::too_many_arguments)]
async fn copy_reported<D1: Driver + ?Sized, D2: Driver + ?Sized>(
    src: &D1,
    src_container: &str,
    src_key: &str,
    dst: &D2,
    dst_container: &str,
    dst_key: &str,
    transfer: &TransferOptions,
) -> Result<Object> {
    let Some(parent) = transfer.progress.clone() else {
        return copy_between(src, src_container, src_key, dst, dst_container, dst_key, transfer).await;
    };
    let share = Arc::new(Share { parent, reported: AtomicU64::new(0), done: AtomicBool::new(false) });
    let t = TransferOptions { progress: Some(share.clone()), ..transfer.clone() };
    let object = copy_between(src, src_container, src_key, dst, dst_container, dst_key, &t).await?;
    let reported = share.reported.load(Ordering::Relaxed);
    if object.size > reported {
        share.parent.bytes(object.size - reported);
    }
    if !share.done.load(Ordering::Relaxed) {
        share.parent.object_done(dst_key);
    }
    Ok(object)
}

/// How [`export`] copies (Inductiva's `export(path, destination, part_size)`).
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Objects of a folder copied at once (`concurrency`), which ones (`filter`),
    /// whether existing destinations are replaced (`overwrite`), `dry_run`.
    pub tree: TreeOptions,
    /// How each object is copied when it is streamed: `part_size`, `concurrency` (parts
    /// in flight per object), `verify`, and the `progress` that the whole export reports
    /// to: one `start` with the totals, then bytes and completions of every object
    /// (a server-side copy's bytes when it is done).
    pub transfer: TransferOptions,
}

impl ExportOptions {
    /// Parts of `part_size` bytes (raised to the destination's minimum): an object larger
    /// than one part is written as a multipart upload, a smaller one with one request.
    pub fn with_part_size(mut self, part_size: u64) -> Self {
        self.transfer.part_size = part_size;
        self.transfer.single_put_threshold = part_size;
        self.transfer.download_part_size = part_size;
        self
    }
    /// Parts in flight per object.
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.transfer.concurrency = concurrency;
        self
    }
    /// Objects of a folder in flight.
    pub fn with_objects_in_flight(mut self, n: usize) -> Self {
        self.tree.concurrency = n;
        self
    }
    /// Reports progress to `progress`.
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.transfer.progress = Some(progress);
        self
    }
}

/// Copies a file or a folder from `src` to `dst`, which may be different drivers (S3 to
/// GCS, local to Azure...), with the part size and concurrency of `options`: Inductiva's
/// `export`.
///
/// - `src_path` names an object when one exists at that key: it is copied to `dst_path`,
///   or into it (`dst_path` + its base name) when `dst_path` is empty or ends with `/`.
///   A failure is the call's error.
/// - Otherwise (or when it is empty or ends with `/`) it names a folder: every object
///   under it is copied under the folder `dst_path`, keeping the paths relative to it,
///   as [`copy_tree`] does, and failures are collected in [`TreeReport::failed`]. A folder
///   with no object is `ObjectDoesNotExist` (nothing to export is an error, not an empty
///   success).
/// - Within one driver instance with server-side `copy`, the backend copies the data;
///   otherwise it is streamed through a multipart upload of `part_size` parts,
///   `concurrency` at a time, every copy verified ([`copy_object_between`]).
/// - Progress: one `start` with the totals (bytes and objects of the file or of the
///   folder's objects the filter takes), then every object's bytes and completion; when
///   the export succeeds the bytes reported add up to the total.
/// - Without `overwrite`, an object whose destination exists is skipped (and not
///   reported in the progress).
#[allow(clippy::too_many_arguments)]
pub async fn export<D1: Driver + ?Sized, D2: Driver + ?Sized>(
    src: &D1,
    src_container: &str,
    src_path: &str,
    dst: &D2,
    dst_container: &str,
    dst_path: &str,
    options: &ExportOptions,
) -> Result<TreeReport> {
    let progress = options.transfer.progress();
    if !src_path.is_empty() && !src_path.ends_with('/') {
        match src.head_object(src_container, src_path).await {
            Ok(object) => {
                let name = src_path.rsplit('/').next().unwrap_or(src_path);
                let dst_key = if dst_path.is_empty() || dst_path.ends_with('/') {
                    format!("{dst_path}{name}")
                } else {
                    dst_path.to_owned()
                };
                let mut report = TreeReport::default();
                if !options.tree.overwrite {
                    match dst.head_object(dst_container, &dst_key).await {
                        Ok(_) => {
                            report.skipped += 1;
                            return Ok(report);
                        }
                        Err(e) if e.kind() == ErrorKind::ObjectDoesNotExist => {}
                        Err(e) => return Err(e),
                    }
                }
                progress.start(Some(object.size), Some(1));
                if !options.tree.dry_run {
                    copy_reported(src, src_container, src_path, dst, dst_container, &dst_key, &options.transfer)
                        .await?;
                }
                report.objects = 1;
                report.bytes = object.size;
                return Ok(report);
            }
            Err(e) if e.kind() == ErrorKind::ObjectDoesNotExist => {}
            Err(e) => return Err(e),
        }
    }
    let src_prefix = folder(src_path);
    let dst_prefix = folder(dst_path);
    // Listed in full first: the totals, and no copy ever listed again when the folders
    // overlap.
    let all: Vec<Object> = objects_under(src, src_container, &src_prefix).try_collect().await?;
    if all.is_empty() {
        return Err(Error::new(
            ErrorKind::ObjectDoesNotExist,
            format!("there is no object {src_path:?} nor any object under {src_prefix:?}; nothing was exported"),
        )
        .with_object(src_container, src_path));
    }
    let taken = all
        .iter()
        .filter(|o| o.name.strip_prefix(src_prefix.as_str()).is_some_and(|rel| options.tree.filter.matches(rel)));
    let (count, bytes) = taken.fold((0u64, 0u64), |(n, b), o| (n + 1, b + o.size));
    progress.start(Some(bytes), Some(count));
    let sides = Sides { src, src_container, src_prefix: &src_prefix, dst, dst_container, dst_prefix: &dst_prefix };
    copy_objects(&sides, stream::iter(all.into_iter().map(Ok)), &options.tree, &options.transfer).await
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
