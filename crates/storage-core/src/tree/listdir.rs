//! One level of a folder, ordered, with per-prefix sizes; the space used under a prefix.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use futures::future;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::{folder, objects_under};
use crate::driver::Driver;
use crate::error::Result;
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
/// common prefix).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntry {
    /// The name relative to the listed folder; sub-folders end with `/` (`img/`).
    pub name: String,
    /// The full key, or the full prefix for a sub-folder.
    pub key: String,
    /// Whether this is a sub-folder.
    pub is_prefix: bool,
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

/// One level of the folder `prefix` (`""` for the container's top level): the objects
/// directly in it and its sub-folders, listed with the delimiter `/`, sorted by
/// `options.order` (ties by name), reversed when `descending`, cut at `options.max`.
/// With `options.sizes`, every sub-folder kept gets its total size, object count and
/// newest modification from a full listing under it (several at once).
///
/// Sorted by name ascending with `max`, the listing stops after `max` entries; other
/// orders need the whole level (and, ordered by size or time with `sizes`, the sizes of
/// every sub-folder) before cutting.
pub async fn listdir<D: Driver + ?Sized>(
    driver: &D,
    container: &str,
    prefix: &str,
    options: &ListdirOptions,
) -> Result<Vec<DirEntry>> {
    let prefix = folder(prefix);
    let list = ListOptions {
        prefix: (!prefix.is_empty()).then(|| prefix.clone()),
        delimiter: Some("/".to_owned()),
        ..ListOptions::default()
    };
    let entries = driver.list_objects(container, list).try_filter_map(|e| future::ready(Ok(entry(&prefix, e))));
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
        },
        ListEntry::Prefix(p) => DirEntry { name, key: p, is_prefix, size: 0, last_modified: None, object_count: None },
    })
}

fn compare(a: &DirEntry, b: &DirEntry, order: Order) -> Ordering {
    let first = match order {
        Order::Name => Ordering::Equal,
        Order::Size => a.size.cmp(&b.size),
        Order::Time => a.last_modified.cmp(&b.last_modified),
    };
    first.then_with(|| a.name.cmp(&b.name))
}

async fn fill_sizes<D: Driver + ?Sized>(driver: &D, container: &str, entries: &mut [DirEntry]) -> Result<()> {
    let wanted: Vec<(usize, String)> =
        entries.iter().enumerate().filter(|(_, e)| e.is_prefix).map(|(i, e)| (i, e.key.clone())).collect();
    let totals: Vec<(usize, Usage, Option<DateTime<Utc>>)> = stream::iter(wanted)
        .map(|(i, key)| async move {
            let (usage, newest) = usage_under(driver, container, &key).await?;
            Ok::<_, crate::Error>((i, usage, newest))
        })
        .buffer_unordered(SIZE_CONCURRENCY)
        .try_collect()
        .await?;
    for (i, usage, newest) in totals {
        if let Some(e) = entries.get_mut(i) {
            e.size = usage.bytes;
            e.object_count = Some(usage.objects);
            e.last_modified = newest;
        }
    }
    Ok(())
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
