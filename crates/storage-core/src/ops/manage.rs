//! Renames, key listings, existence checks and bulk deletes.

use futures::stream::{StreamExt, TryStreamExt};

use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};
use crate::object::{DeleteOutcome, ListEntry, Object};
use crate::options::{CopyOptions, GetOptions, ListOptions, PutOptions};
use crate::payload::Payload;

pub(super) fn absent_is_false<T>(r: Result<T>) -> Result<bool> {
    match r {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.kind(), ErrorKind::ObjectDoesNotExist | ErrorKind::ContainerDoesNotExist) => Ok(false),
        Err(e) => Err(e),
    }
}

pub(super) async fn rename<D: Driver + ?Sized>(driver: &D, container: &str, src: &str, dst: &str) -> Result<Object> {
    if src == dst {
        return driver.head_object(container, src).await;
    }
    let object = if driver.info().capabilities.copy {
        driver.copy_object(container, src, container, dst, &CopyOptions::default()).await?
    } else {
        let res = driver.get_object(container, src, &GetOptions::default()).await?;
        let o = &res.object;
        let options = PutOptions::from_object(o);
        let len = o.size;
        driver.put_object(container, dst, Payload::stream(res.body, Some(len)), &options).await?
    };
    driver.delete_object(container, src).await?;
    Ok(object)
}

pub(super) async fn list_keys<D: Driver + ?Sized>(
    driver: &D,
    container: &str,
    prefix: Option<&str>,
) -> Result<Vec<String>> {
    let opts = ListOptions { prefix: prefix.map(str::to_owned), ..Default::default() };
    driver
        .list_objects(container, opts)
        .try_filter_map(|e| async move {
            Ok(match e {
                ListEntry::Object(o) => Some(o.name),
                ListEntry::Prefix(_) => None,
            })
        })
        .try_collect()
        .await
}

pub(super) async fn list_with_delimiter<D: Driver + ?Sized>(
    driver: &D,
    container: &str,
    prefix: Option<&str>,
) -> Result<(Vec<Object>, Vec<String>)> {
    let opts = ListOptions { prefix: prefix.map(str::to_owned), delimiter: Some("/".into()), ..Default::default() };
    let mut objects = Vec::new();
    let mut prefixes = Vec::new();
    let mut s = driver.list_objects(container, opts);
    while let Some(e) = s.next().await {
        match e? {
            ListEntry::Object(o) => objects.push(o),
            ListEntry::Prefix(p) => prefixes.push(p),
        }
    }
    Ok((objects, prefixes))
}

pub(super) async fn delete_objects<D: Driver + ?Sized>(
    driver: &D,
    container: &str,
    keys: &[String],
) -> Result<Vec<DeleteOutcome>> {
    let batch = driver.info().limits.max_batch_delete.max(1);
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(batch) {
        out.extend(driver.delete_batch(container, chunk).await?);
    }
    Ok(out)
}

pub(super) async fn delete_prefix<D: Driver + ?Sized>(driver: &D, container: &str, prefix: &str) -> Result<u64> {
    let batch = driver.info().limits.max_batch_delete.max(1);
    let mut deleted = 0u64;
    let mut after: Option<String> = None;
    loop {
        // One batch at a time, always continuing after the last key seen: the loop ends
        // even on a server that reports a delete as done but keeps listing the key.
        let opts = ListOptions {
            prefix: Some(prefix.to_owned()),
            start_after: after.clone(),
            page_size: Some(batch),
            ..Default::default()
        };
        let keys: Vec<String> = driver
            .list_objects(container, opts)
            .try_filter_map(|e| async move { Ok(e.as_object().map(|o| o.name.clone())) })
            .take(batch)
            .try_collect()
            .await?;
        let Some(last) = keys.last().cloned() else { return Ok(deleted) };
        for outcome in driver.delete_batch(container, &keys).await? {
            match outcome.result {
                Ok(()) => deleted += 1,
                Err(e) => {
                    return Err(Error::new(
                        e.kind(),
                        format!("deleted {deleted} objects under {prefix:?}, then failed: {}", e.message()),
                    )
                    .with_object(container, outcome.key));
                }
            }
        }
        after = Some(last);
    }
}
