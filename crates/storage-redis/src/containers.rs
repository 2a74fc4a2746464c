//! Containers: an `info` hash marks existence; a global sorted set lists the names
//! (list, get, create, delete, and the existence check writes make).
//!
//! Separate from objects because a container's state is its own keys (`info` and the
//! global name set), changed by its own script.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use storage_core::kit::{Error, ErrorKind, Result};
use storage_core::{Container, Page};

use crate::core::{Inner, NAME};
use crate::errors::{bad_reply, ctx, no_container};
use crate::keys::lex_bound;
use crate::scripts::status;

/// Containers per page of `list_containers_page`.
const CONTAINER_PAGE: usize = 1000;

impl Inner {
    pub(crate) async fn get_container(&self, name: &str) -> Result<Container> {
        self.check_container(name)?;
        match self.container_created(name).await? {
            Some(created) => Ok(container(name, created)),
            None => Err(no_container(name)),
        }
    }

    pub(crate) async fn create_container(&self, name: &str) -> Result<Container> {
        self.check_container(name)?;
        let cx = ctx(name, None);
        let (set, info) = (self.keys.containers(), self.keys.info(name));
        let (set, info) = (&set, &info);
        // The name goes into the list first: a crash in between leaves a name without
        // `info`, which listings skip.
        self.run(
            move |mut c| async move { redis::cmd("ZADD").arg(set).arg(0).arg(name).query_async::<()>(&mut c).await },
        )
        .await
        .map_err(&cx)?;
        let now = Utc::now();
        let created = now.to_rfc3339();
        let created = &created;
        let fresh: bool = self
            .once(|mut c| async move {
                redis::cmd("HSETNX").arg(info).arg("created").arg(created).query_async(&mut c).await
            })
            .await
            .map_err(|(e, _)| cx(e))?;
        if !fresh {
            return Err(Error::new(ErrorKind::ContainerAlreadyExists, format!("container {name:?} already exists"))
                .with_driver(NAME)
                .with_container(name));
        }
        Ok(container(name, Some(now)))
    }

    pub(crate) async fn delete_container(&self, name: &str) -> Result<()> {
        self.check_container(name)?;
        let cx = ctx(name, None);
        let k = &self.keys;
        let (info, idx, meta, uploads, prefix) =
            (k.info(name), k.idx(name), k.meta(name), k.uploads(name), k.upload_parts_prefix(name));
        let script = &self.scripts.delete_container;
        let reply = self
            .once(|mut c| async move {
                script
                    .key(&info)
                    .key(&idx)
                    .key(&meta)
                    .key(&uploads)
                    .arg(&prefix)
                    .invoke_async::<Vec<Vec<u8>>>(&mut c)
                    .await
            })
            .await
            .map_err(|(e, _)| cx(e))?;
        match status(&reply) {
            "ok" => {}
            "nocontainer" => return Err(no_container(name)),
            "notempty" => {
                let n = reply.get(1).map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default();
                return Err(Error::new(
                    ErrorKind::ContainerIsNotEmpty,
                    format!("container {name:?} holds {n} objects"),
                )
                .with_driver(NAME)
                .with_container(name));
            }
            _ => return Err(bad_reply("delete container")),
        }
        let (set, info) = (k.containers(), k.info(name));
        let (set, info) = (&set, &info);
        self.run(move |mut c| async move {
            redis::cmd("ZREM").arg(set).arg(name).query_async::<()>(&mut c).await?;
            // Created again meanwhile? Then it must stay listed.
            if redis::cmd("EXISTS").arg(info).query_async::<bool>(&mut c).await? {
                redis::cmd("ZADD").arg(set).arg(0).arg(name).query_async::<()>(&mut c).await?;
            }
            Ok(())
        })
        .await
        .map_err(&cx)
    }

    pub(crate) async fn list_containers_page(&self, token: Option<String>) -> Result<Page<Container>> {
        let set = self.keys.containers();
        let set = &set;
        let from = match &token {
            Some(t) => lex_bound(false, t.as_bytes()),
            None => b"-".to_vec(),
        };
        let from = &from;
        let names: Vec<String> = self
            .run(move |mut c| async move {
                redis::cmd("ZRANGEBYLEX")
                    .arg(set)
                    .arg(from)
                    .arg("+")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(CONTAINER_PAGE + 1)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        let more = names.len() > CONTAINER_PAGE;
        let names = &names[..names.len().min(CONTAINER_PAGE)];
        // Each container's info lives in its own slot: one request each, a few at a time.
        let found: Vec<Result<Option<Container>>> = stream::iter(names.iter().cloned())
            .map(|name| async move { self.container_created(&name).await.map(|c| c.map(|c| container(&name, c))) })
            .buffered(16)
            .collect()
            .await;
        let mut items = Vec::with_capacity(found.len());
        for f in found {
            if let Some(c) = f? {
                items.push(c);
            }
        }
        let next_token = if more { names.last().cloned() } else { None };
        Ok(Page { items, next_token })
    }

    /// The container's creation time, or `None` if it does not exist.
    pub(crate) async fn container_created(&self, name: &str) -> Result<Option<Option<DateTime<Utc>>>> {
        let info = self.keys.info(name);
        let info = &info;
        let created: Option<String> = self
            .run(move |mut c| async move { redis::cmd("HGET").arg(info).arg("created").query_async(&mut c).await })
            .await
            .map_err(ctx(name, None))?;
        Ok(created.map(|c| DateTime::parse_from_rfc3339(&c).ok().map(|d| d.with_timezone(&Utc))))
    }

    /// Whether the container exists (its `info` hash).
    pub(crate) async fn container_exists(&self, container: &str) -> Result<bool> {
        let info = self.keys.info(container);
        let info = &info;
        self.run(move |mut c| async move { redis::cmd("EXISTS").arg(info).query_async::<bool>(&mut c).await }).await
    }
}

/// A container record.
pub(crate) fn container(name: &str, created: Option<DateTime<Utc>>) -> Container {
    Container { name: name.to_owned(), created, extra: BTreeMap::new() }
}
