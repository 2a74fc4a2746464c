//! Containers: an `info` hash marks existence; a global sorted set lists the names.

use chrono::Utc;
use storage_core::{Container, Error, ErrorKind, Result};

use crate::NAME;
use crate::driver::{Inner, bad_reply, ctx, no_container, status};
use crate::list::container;

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
}
