//! Operations on whole trees of objects, written once for every driver: recursive folder
//! upload, download, copy and removal with concurrency and include / exclude globs;
//! `listdir` (one level, ordered, with per-prefix sizes; at the root, the containers); the
//! space used under a prefix or across every container;
//! and copies of objects between any two drivers ("export").
//!
//! Each is a generic function taking any `D: Driver + ?Sized` (so `&dyn Driver` works)
//! and a method of [`TreeExt`], implemented for every driver, third-party ones included.
//!
//! # Prefixes are folders
//!
//! The `prefix` of these operations names a folder: `""` is the whole container, and
//! any other prefix gets a trailing `/` if it has none, so `photos` means the keys under
//! `photos/` (never `photos-old/...`). Paths relative to the folder are what
//! [`Filter`]s see and what becomes a local path.
//!
//! # Reports, not aborts
//!
//! Tree transfers go on past a failing entry and collect the failures in
//! [`TreeReport::failed`]; the caller decides what to do. The whole call fails only when
//! the tree itself cannot be read: a missing container, a listing that breaks, a local
//! directory that cannot be opened (transfers already in flight finish first).
//!
//! # Memory
//!
//! At most [`TreeOptions::concurrency`] entries are in flight. A large object is sent as
//! a multipart upload of the default [`crate::TransferOptions`], so the data held in
//! memory stays under `concurrency x part_size x (transfer concurrency + 1)` whatever
//! the size of the tree (about 320 MiB with the defaults and only huge objects; small
//! objects hold their own size).
//!
//! ```
//! use storage_core::tree::{Filter, ListdirOptions, Order, TreeExt, TreeOptions};
//! use storage_core::{Driver, MemoryDriver};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::create_dir_all(dir.path().join("docs/img")).unwrap();
//! std::fs::write(dir.path().join("docs/readme.txt"), "hello").unwrap();
//! std::fs::write(dir.path().join("docs/img/cat.png"), "meow").unwrap();
//! std::fs::write(dir.path().join("docs/draft.tmp"), "scratch").unwrap();
//!
//! let store = MemoryDriver::new();
//! store.create_container("site").await?;
//! let options = TreeOptions { filter: Filter::exclude(&["*.tmp"])?, ..TreeOptions::default() };
//! let report = store.upload_dir(&dir.path().join("docs"), "site", "v1", &options).await?;
//! assert_eq!((report.objects, report.bytes, report.filtered), (2, 9, 1));
//! assert!(report.is_ok());
//! assert_eq!(store.head_object("site", "v1/img/cat.png").await?.content_type.as_deref(), Some("image/png"));
//!
//! let listing = store.listdir("site", "v1", &ListdirOptions { sizes: true, ..Default::default() }).await?;
//! let names: Vec<_> = listing.iter().map(|e| (e.name.as_str(), e.size)).collect();
//! assert_eq!(names, [("img/", 4), ("readme.txt", 5)]);
//! assert_eq!(store.space_used("site", None).await?.bytes, 9);
//! # Ok::<(), storage_core::Error>(())
//! # }).unwrap();
//! ```

mod filter;
mod listdir;
mod local;
mod remote;
#[cfg(test)]
mod tests;

use std::path::Path;

use async_trait::async_trait;
use futures::future::{self, FutureExt};
use futures::stream::{BoxStream, Stream, StreamExt, TryStreamExt};

use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::object::{ListEntry, Object};
use crate::options::ListOptions;

pub use crate::mime::content_type_for;
pub use filter::Filter;
pub use listdir::{
    BackendUsage, ContainerUsage, DirEntry, ListdirOptions, Order, Usage, listdir, space_used, space_used_all,
    usage_by_container,
};
pub use local::{download_dir, upload_dir};
pub use remote::{
    ExportOptions, copy_object_between, copy_object_between_with, copy_tree, copy_version_between_with, export,
    remove_tree,
};

/// How a tree operation runs.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeOptions {
    /// Entries transferred (or deleted, in batches) at once.
    pub concurrency: usize,
    /// Which entries, by their path relative to the tree root.
    pub filter: Filter,
    /// Replace what exists at the destination. When off, an entry whose destination
    /// exists is left alone and counted in [`TreeReport::skipped`].
    pub overwrite: bool,
    /// Only report what would be done: nothing is written, created or deleted (the
    /// source and, without `overwrite`, the destination are still read).
    pub dry_run: bool,
}

impl Default for TreeOptions {
    /// 8 at a time, no filter, overwrite, for real.
    fn default() -> Self {
        TreeOptions { concurrency: 8, filter: Filter::all(), overwrite: true, dry_run: false }
    }
}

impl TreeOptions {
    /// Sets the filter.
    pub fn with_filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }
    /// Sets the concurrency (at least 1 is used).
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency;
        self
    }
    /// Sets whether existing destinations are replaced.
    pub fn with_overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }
    /// Sets dry-run mode.
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
}

/// What a tree operation did (or, in dry-run mode, would do).
#[derive(Debug, Default)]
pub struct TreeReport {
    /// Objects uploaded, downloaded, copied or deleted.
    pub objects: u64,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Entries left alone: their destination exists and `overwrite` is off, or they are
    /// directory markers (keys ending in `/`, downloaded as directories).
    pub skipped: u64,
    /// Entries the filter left out.
    pub filtered: u64,
    /// Entries that failed, each with the key concerned (the local path relative to the
    /// tree root where no key could be made) and the error. The other entries went on.
    pub failed: Vec<(String, Error)>,
}

impl TreeReport {
    /// Whether no entry failed.
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty()
    }

    /// Adds `other`'s counts and failures to this report.
    pub fn merge(&mut self, other: TreeReport) {
        self.objects += other.objects;
        self.bytes += other.bytes;
        self.skipped += other.skipped;
        self.filtered += other.filtered;
        self.failed.extend(other.failed);
    }

    fn record(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Done(bytes) => {
                self.objects += 1;
                self.bytes += bytes;
            }
            Outcome::Skipped => self.skipped += 1,
            Outcome::Filtered => self.filtered += 1,
            Outcome::Failed(name, e) => self.failed.push((name, e)),
        }
    }
}

impl std::fmt::Display for TreeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} objects ({} bytes), {} skipped, {} filtered out, {} failed",
            self.objects,
            self.bytes,
            self.skipped,
            self.filtered,
            self.failed.len()
        )
    }
}

/// What became of one entry.
pub(crate) enum Outcome {
    /// Transferred (or deleted); its size.
    Done(u64),
    /// Left alone (exists, overwrite off; or a directory marker).
    Skipped,
    /// Left out by the filter.
    Filtered,
    /// Failed: the key (or relative path) and the error.
    Failed(String, Error),
}

/// `prefix` as a folder: empty, or ending with `/`.
pub(crate) fn folder(prefix: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('/') { prefix.to_owned() } else { format!("{prefix}/") }
}

/// Every object under `prefix` (a lazy listing without delimiter).
pub(crate) fn objects_under<'a, D: Driver + ?Sized>(
    driver: &'a D,
    container: &'a str,
    prefix: &str,
) -> BoxStream<'a, Result<Object>> {
    let options = ListOptions { prefix: (!prefix.is_empty()).then(|| prefix.to_owned()), ..Default::default() };
    driver
        .list_objects(container, options)
        .try_filter_map(|e| {
            future::ready(Ok(match e {
                ListEntry::Object(o) => Some(o),
                ListEntry::Prefix(_) => None,
            }))
        })
        .boxed()
}

/// Runs `work` on every item, `concurrency` at a time, recording the outcomes in
/// `report`. An `Err` item (a listing that broke) stops nothing already started, and is
/// returned once every started entry has finished.
pub(crate) async fn drive<T, S, F, Fut>(
    items: S,
    concurrency: usize,
    mut report: TreeReport,
    mut work: F,
) -> Result<TreeReport>
where
    S: Stream<Item = Result<T>>,
    F: FnMut(T) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let results = items
        .map(move |item| match item {
            Ok(t) => work(t).map(Ok).left_future(),
            Err(e) => future::ready(Err(e)).right_future(),
        })
        .buffer_unordered(concurrency.max(1));
    let mut results = std::pin::pin!(results);
    let mut first_error = None;
    while let Some(r) = results.next().await {
        match r {
            Ok(outcome) => report.record(outcome),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// The tree operations every driver gets. Import this trait to call them as methods;
/// each one is also a free function of this module.
#[async_trait]
pub trait TreeExt: Driver {
    /// Uploads the files under `local_dir` to `container` under `prefix`; see
    /// [`upload_dir`].
    async fn upload_dir(
        &self,
        local_dir: &Path,
        container: &str,
        prefix: &str,
        options: &TreeOptions,
    ) -> Result<TreeReport> {
        local::upload_dir(self, local_dir, container, prefix, options).await
    }

    /// Downloads the objects under `prefix` into `local_dir`; see [`download_dir`].
    async fn download_dir(
        &self,
        container: &str,
        prefix: &str,
        local_dir: &Path,
        options: &TreeOptions,
    ) -> Result<TreeReport> {
        local::download_dir(self, container, prefix, local_dir, options).await
    }

    /// Copies the objects under `src_prefix` to `dst` (this driver or another) under
    /// `dst_prefix`; see [`copy_tree`].
    #[allow(clippy::too_many_arguments)]
    async fn copy_tree<D2: Driver + ?Sized>(
        &self,
        src_container: &str,
        src_prefix: &str,
        dst: &D2,
        dst_container: &str,
        dst_prefix: &str,
        options: &TreeOptions,
    ) -> Result<TreeReport> {
        remote::copy_tree(self, src_container, src_prefix, dst, dst_container, dst_prefix, options).await
    }

    /// Copies a file or a folder to `dst` (this driver or another) with the part size,
    /// concurrency and progress of `options` (Inductiva's `export`); see [`export`].
    #[allow(clippy::too_many_arguments)]
    async fn export<D2: Driver + ?Sized>(
        &self,
        src_container: &str,
        src_path: &str,
        dst: &D2,
        dst_container: &str,
        dst_path: &str,
        options: &ExportOptions,
    ) -> Result<TreeReport> {
        remote::export(self, src_container, src_path, dst, dst_container, dst_path, options).await
    }

    /// Deletes the objects under `prefix` that the filter takes; see [`remove_tree`].
    async fn remove_tree(&self, container: &str, prefix: &str, options: &TreeOptions) -> Result<TreeReport> {
        remote::remove_tree(self, container, prefix, options).await
    }

    /// Copies one object to `dst` (this driver or another), server-side when possible;
    /// see [`copy_object_between`].
    async fn copy_object_between<D2: Driver + ?Sized>(
        &self,
        src_container: &str,
        src_key: &str,
        dst: &D2,
        dst_container: &str,
        dst_key: &str,
    ) -> Result<Object> {
        remote::copy_object_between(self, src_container, src_key, dst, dst_container, dst_key).await
    }

    /// One level of the folder `prefix`, ordered; see [`listdir`].
    async fn listdir(&self, container: &str, prefix: &str, options: &ListdirOptions) -> Result<Vec<DirEntry>> {
        listdir::listdir(self, container, prefix, options).await
    }

    /// Objects and bytes in the container or under the folder `prefix`; see
    /// [`space_used`].
    async fn space_used(&self, container: &str, prefix: Option<&str>) -> Result<Usage> {
        listdir::space_used(self, container, prefix).await
    }

    /// Objects and bytes in every container of the backend, and their sum; see
    /// [`space_used_all`].
    async fn space_used_all(&self) -> Result<BackendUsage> {
        listdir::space_used_all(self).await
    }

    /// Every container with its usage, lazily; see [`usage_by_container`].
    fn usage_by_container(&self) -> BoxStream<'_, Result<ContainerUsage>> {
        listdir::usage_by_container(self)
    }
}

impl<D: Driver + ?Sized> TreeExt for D {}
