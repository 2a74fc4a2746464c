//! One level of a folder (or of the backend: its containers), ordered, with per-prefix
//! sizes; the space used under a prefix, in one container or in every container.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use futures::future;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::{folder, objects_under};
use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};
use crate::object::ListEntry;
use crate::options::ListOptions;

/// Prefixes whose sizes are computed at once.
const SIZE_CONCURRENCY: usize = 8;

/// What [`listdir`] orders by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// The name, bytewise (the order object stores list in).
    #[default]
    Name,
    /// The size: an object's size; a prefix's total when sizes are computed, else 0.
    Size,
    /// The last modification: an object's; for a prefix, its newest object's when sizes
    /// are computed, else none (which sorts first).
    Time,
}

/// How [`listdir`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListdirOptions {
    /// The sort key; ties are broken by name.
    pub order: Order,
    /// Largest first (names from z to a, newest first...).
    pub descending: bool,
    /// Keep only the first `max` entries after sorting.
    pub max: Option<usize>,
    /// Compute each prefix's total size, object count and newest modification (one full
    /// listing under each prefix, several at once).
    pub sizes: bool,
}

/// One entry of a [`listdir`]: an object directly in the folder, or a sub-folder (a
/// common prefix); at the backend's root (no container), a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntry {
    /// The name relative to the listed folder; sub-folders and containers end with `/`
    /// (`img/`, `results/`).
    pub name: String,
    /// The full key, the full prefix for a sub-folder, the container's name for a
    /// container.
    pub key: String,
    /// Whether this is a sub-folder or a container (something that holds objects).
    pub is_prefix: bool,
    /// Whether this is a container (listed at the backend's root); `is_prefix` is then
    /// true too.
    #[serde(default)]
    pub is_container: bool,
    /// An object's size; a sub-folder's total bytes when sizes were asked for, else 0.
    pub size: u64,
    /// An object's last modification; a sub-folder's newest object's when sizes were
    /// asked for, else `None`.
    pub last_modified: Option<DateTime<Utc>>,
    /// 1 for an object; the objects under a sub-folder when sizes were asked for, else
    /// `None` (not computed).
    pub object_count: Option<u64>,
}

/// How much a container or folder holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Number of objects.
    pub objects: u64,
    /// Their total size in bytes.
    pub bytes: u64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        self.objects += other.objects;
        self.bytes += other.bytes;
    }
}

/// How much one container holds: an item of [`usage_by_container`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerUsage {
    /// The container's name.
    pub container: String,
    /// Its objects and bytes.
    pub usage: Usage,
}

/// How much a whole backend holds: [`space_used_all`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BackendUsage {
    /// Every container, in the order the backend lists them (by name).
    pub containers: Vec<ContainerUsage>,
    /// The sum over every container.
    pub total: Usage,
}

/// One level of the folder `prefix` (`""` for the container's top level): the objects
/// directly in it and its sub-folders, listed with the delimiter `/`, sorted by
/// `options.order` (ties by name), reversed when `descending`, cut at `options.max`.
/// With `options.sizes`, every sub-folder kept gets its total size, object count and
/// newest modification from a full listing under it (several at once).
///
/// Sorted by name ascending with `max`, the listing stops after `max` entries; other
/// orders need the whole level (and, ordered by size or time with `sizes`, the sizes of
/// every sub-folder) before cutting.
///
/// # The backend's root
///
/// With `container` empty, the level listed is the backend's: its containers, each an
/// entry named `container/` with `is_container` (and `is_prefix`) set and `key` the
/// container's name (`prefix` must then be empty too: `InvalidContainerName` otherwise).
/// Without `options.sizes` a container weighs 0 and has no time (listing containers says
/// nothing about their contents); with it, each container kept gets its total size,
/// object count and newest modification from one full listing of it, as a sub-folder
/// does. A container deleted between the two listings is left out.
pub async fn listdir<D: Driver + ?Sized>(
    driver: &D,
    container: &str,
    prefix: &str,
    options: &ListdirOptions,
) -> Result<Vec<DirEntry>> {
    let prefix = folder(prefix);
    if container.is_empty() && !prefix.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidContainerName,
            format!("listdir of the prefix {prefix:?} needs a container (an empty container lists the containers)"),
        ));
    }
    let entries = if container.is_empty() {
        driver.list_containers().map_ok(|c| container_entry(c.name)).boxed()
    } else {
        let list = ListOptions {
            prefix: (!prefix.is_empty()).then(|| prefix.clone()),
            delimiter: Some("/".to_owned()),
            ..ListOptions::default()
        };
        driver.list_objects(container, list).try_filter_map(|e| future::ready(Ok(entry(&prefix, e)))).boxed()
    };
    let mut entries: Vec<DirEntry> = match options.max {
        Some(max) if options.order == Order::Name && !options.descending => entries.take(max).try_collect().await?,
        _ => entries.try_collect().await?,
    };
    let sort = |entries: &mut Vec<DirEntry>| {
        entries.sort_by(|a, b| {
            let o = compare(a, b, options.order);
            if options.descending { o.reverse() } else { o }
        });
        if let Some(max) = options.max {
            entries.truncate(max);
        }
    };
    // By name, the sizes do not change the order: cut first, then size what is kept.
    let sizes_change_order = options.order != Order::Name;
    if !sizes_change_order {
        sort(&mut entries);
    }
    if options.sizes {
        fill_sizes(driver, container, &mut entries).await?;
    }
    if sizes_change_order {
        sort(&mut entries);
    }
    Ok(entries)
}

fn entry(prefix: &str, e: ListEntry) -> Option<DirEntry> {
    let (key, is_prefix) = match &e {
        ListEntry::Object(o) => (o.name.as_str(), false),
        ListEntry::Prefix(p) => (p.as_str(), true),
    };
    let name = key.strip_prefix(prefix).unwrap_or(key);
    if name.is_empty() {
        // The folder's own marker object.
        return None;
    }
    let name = name.to_owned();
    Some(match e {
        ListEntry::Object(o) => DirEntry {
            name,
            is_prefix,
            size: o.size,
            last_modified: o.last_modified,
            object_count: Some(1),
            key: o.name,
            is_container: false,
        },
        ListEntry::Prefix(p) => {
            DirEntry { name, key: p, is_prefix, is_container: false, size: 0, last_modified: None, object_count: None }
        }
    })
}

/// A container at the backend's root, before its size is known.
fn container_entry(name: String) -> DirEntry {
    DirEntry {
        name: format!("{name}/"),
        key: name,
        is_prefix: true,
        is_container: true,
        size: 0,
        last_modified: None,
        object_count: None,
    }
}

fn compare(a: &DirEntry, b: &DirEntry, order: Order) -> Ordering {
    let first = match order {
        Order::Name => Ordering::Equal,
        Order::Size => a.size.cmp(&b.size),
        Order::Time => a.last_modified.cmp(&b.last_modified),
    };
    first.then_with(|| a.name.cmp(&b.name))
}

/// A folder's usage and newest modification.
type Total = (Usage, Option<DateTime<Utc>>);

/// Sizes every sub-folder (or container) of `entries`; containers that no longer exist
/// are removed.
async fn fill_sizes<D: Driver + ?Sized>(driver: &D, container: &str, entries: &mut Vec<DirEntry>) -> Result<()> {
    let wanted: Vec<(usize, String, bool)> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.is_prefix)
        .map(|(i, e)| (i, e.key.clone(), e.is_container))
        .collect();
    let totals: Vec<(usize, Option<Total>)> = stream::iter(wanted)
        .map(|(i, key, is_container)| async move {
            let total = if is_container {
                of_container(usage_under(driver, &key, "").await)?
            } else {
                Some(usage_under(driver, container, &key).await?)
            };
            Ok::<_, Error>((i, total))
        })
        .buffer_unordered(SIZE_CONCURRENCY)
        .try_collect()
        .await?;
    let mut vanished = Vec::new();
    for (i, total) in totals {
        match (entries.get_mut(i), total) {
            (Some(e), Some((usage, newest))) => {
                e.size = usage.bytes;
                e.object_count = Some(usage.objects);
                e.last_modified = newest;
            }
            (Some(_), None) => vanished.push(i),
            (None, _) => {}
        }
    }
    vanished.sort_unstable();
    for i in vanished.into_iter().rev() {
        entries.remove(i);
    }
    Ok(())
}

/// A container's total, or `None` when it was deleted after it was listed.
fn of_container<T>(total: Result<T>) -> Result<Option<T>> {
    match total {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == ErrorKind::ContainerDoesNotExist => Ok(None),
        Err(e) => Err(e),
    }
}

/// The objects and bytes under the raw key prefix `prefix`, and the newest modification.
async fn usage_under<D: Driver + ?Sized>(
    driver: &D,
    container: &str,
    prefix: &str,
) -> Result<(Usage, Option<DateTime<Utc>>)> {
    objects_under(driver, container, prefix)
        .try_fold((Usage::default(), None), |(mut usage, newest): (Usage, Option<DateTime<Utc>>), o| {
            usage.objects += 1;
            usage.bytes += o.size;
            let newest = newest.max(o.last_modified);
            future::ready(Ok((usage, newest)))
        })
        .await
}

/// How many objects and bytes the container holds, or the folder `prefix` (`"photos"`
/// and `"photos/"` both mean the keys under `photos/`): one full listing.
pub async fn space_used<D: Driver + ?Sized>(driver: &D, container: &str, prefix: Option<&str>) -> Result<Usage> {
    let prefix = folder(prefix.unwrap_or(""));
    Ok(usage_under(driver, container, &prefix).await?.0)
}

/// Every container of the backend with the objects and bytes it holds, lazily: the
/// containers are listed page by page as the stream is polled, and a few containers are
/// summed at once (each one full listing), in the backend's order (by name). A container
/// deleted between the listing of containers and its own listing is left out; any other
/// failure ends the stream with that error.
pub fn usage_by_container<D: Driver + ?Sized>(driver: &D) -> BoxStream<'_, Result<ContainerUsage>> {
    driver
        .list_containers()
        .map_ok(move |c| async move {
            let total = of_container(usage_under(driver, &c.name, "").await)?;
            Ok(total.map(|(usage, _)| ContainerUsage { container: c.name, usage }))
        })
        .try_buffered(SIZE_CONCURRENCY)
        .try_filter_map(|u| future::ready(Ok(u)))
        .boxed()
}

/// How many objects and bytes the whole backend holds: each container's usage (see
/// [`usage_by_container`]) and their sum. Inductiva's `get_space_used()`; for one
/// container or folder use [`space_used`].
pub async fn space_used_all<D: Driver + ?Sized>(driver: &D) -> Result<BackendUsage> {
    usage_by_container(driver)
        .try_fold(BackendUsage::default(), |mut all, c| {
            all.total += c.usage;
            all.containers.push(c);
            future::ready(Ok(all))
        })
        .await
}
