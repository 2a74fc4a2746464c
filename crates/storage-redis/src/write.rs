//! Puts, deletes and copies: data first (with a pending TTL), then one Lua script on the
//! container's slot flips the metadata and index atomically; the replaced data gets a
//! short grace period before it expires.
//!
//! Separate from reads because every change goes through the one flip here, which is
//! what makes writes atomic and conditional puts safe.

use chrono::Utc;
use storage_core::kit::etag_matches;
use storage_core::kit::{Error, ErrorKind, Result};
use storage_core::{CopyOptions, DeleteOutcome, Object, Payload, PutMode, PutOptions};

use crate::chunks::segment_keys;
use crate::core::{Inner, NAME};
use crate::errors::{bad_reply, ctx, no_container};
use crate::meta::{ObjectMeta, normalize_etag};
use crate::scripts::status;

/// The script arguments for a put mode: mode name and wanted etag.
pub(crate) fn mode_args(mode: &PutMode) -> (&'static str, String) {
    match mode {
        PutMode::Overwrite => ("overwrite", String::new()),
        PutMode::CreateIfAbsent => ("absent", String::new()),
        PutMode::IfMatch(e) if e.trim() == "*" => ("match", "*".to_owned()),
        PutMode::IfMatch(e) => ("match", normalize_etag(e)),
    }
}

/// The `PreconditionFailed` error for `mode` given the current metadata JSON.
pub(crate) fn precondition_error(mode: &PutMode, current: &[u8], container: &str, key: &str) -> Error {
    let etag = if current.is_empty() { None } else { ObjectMeta::parse(current).ok().map(|m| m.etag) };
    let err = mode.check(etag.as_deref()).err().unwrap_or_else(|| {
        Error::new(ErrorKind::PreconditionFailed, "the object changed while the write was being committed")
    });
    err.or_context(NAME, Some(container), Some(key))
}

/// How a flip ended.
pub(crate) enum Flip {
    /// Committed; the previous metadata JSON if an object was replaced.
    Done(Option<Vec<u8>>),
    /// Refused (container gone, precondition): nothing changed.
    Refused(Error),
    /// The request failed in a way that leaves open whether it was applied.
    Unknown(Error),
}

impl Inner {
    pub(crate) async fn put(
        &self,
        container: &str,
        key: &str,
        payload: Payload,
        options: &PutOptions,
    ) -> Result<Object> {
        self.check_key(container, key)?;
        let cx = ctx(container, Some(key));
        if !self.container_exists(container).await.map_err(&cx)? {
            return Err(no_container(container));
        }
        let version = self.next_seq().await.map_err(&cx)?.to_string();
        let tag = self.keys.object_tag(container, key);
        let written = self
            .write_chunks(&tag, &format!("v{version}"), payload, options.content_md5.as_deref())
            .await
            .map_err(&cx)?;
        let meta = ObjectMeta::new(
            written.segment.size,
            Some(written.md5.clone()),
            written.md5,
            options,
            version,
            vec![written.segment],
        );
        self.commit(container, key, &options.mode, meta, &written.keys).await
    }

    /// Persists the new chunks and flips the metadata; cleans up if the flip is refused.
    pub(crate) async fn commit(
        &self,
        container: &str,
        key: &str,
        mode: &PutMode,
        mut meta: ObjectMeta,
        new_keys: &[String],
    ) -> Result<Object> {
        let cx = ctx(container, Some(key));
        if let Err(e) = self.persist(new_keys).await {
            self.unlink(new_keys).await;
            return Err(cx(e));
        }
        meta.last_modified = Utc::now();
        match self.flip(container, key, mode, &meta).await {
            Flip::Done(previous) => {
                if let Some(prev) = previous {
                    self.retire(container, key, &prev).await;
                }
                Ok(meta.to_object(container, key))
            }
            Flip::Refused(e) => {
                self.unlink(new_keys).await;
                Err(cx(e))
            }
            Flip::Unknown(e) => match self.load_meta(container, key).await {
                // It was applied after all (the replaced data, unknown here, stays).
                Ok(m) if m.version == meta.version => Ok(meta.to_object(container, key)),
                // Not applied, or applied and replaced since: let the new data go after
                // the grace period, in case a reader already follows it.
                Ok(_) => {
                    self.expire(new_keys, self.settings.replace_grace).await;
                    Err(cx(e))
                }
                Err(l) if matches!(l.kind(), ErrorKind::ObjectDoesNotExist | ErrorKind::ContainerDoesNotExist) => {
                    self.expire(new_keys, self.settings.replace_grace).await;
                    Err(cx(e))
                }
                // Cannot tell: keep the data rather than risk deleting a committed object's.
                Err(_) => Err(cx(e)),
            },
        }
    }

    /// The put script: checks the container and mode, writes metadata and index.
    async fn flip(&self, container: &str, key: &str, mode: &PutMode, meta: &ObjectMeta) -> Flip {
        let json = match meta.to_json() {
            Ok(j) => j,
            Err(e) => return Flip::Refused(e),
        };
        let (mode_name, want) = mode_args(mode);
        let (info, idx, meta_key) = (self.keys.info(container), self.keys.idx(container), self.keys.meta(container));
        let script = &self.scripts.put;
        let reply = self
            .once(|mut c| async move {
                script
                    .key(&info)
                    .key(&idx)
                    .key(&meta_key)
                    .arg(key)
                    .arg(mode_name)
                    .arg(&want)
                    .arg(&json)
                    .invoke_async::<Vec<Vec<u8>>>(&mut c)
                    .await
            })
            .await;
        match reply {
            Err((e, true)) => Flip::Unknown(e),
            Err((e, false)) => Flip::Refused(e),
            Ok(r) => match status(&r) {
                "ok" => Flip::Done(r.get(1).filter(|p| !p.is_empty()).cloned()),
                "nocontainer" => Flip::Refused(no_container(container)),
                "precondition" => {
                    Flip::Refused(precondition_error(mode, r.get(1).map_or(&[][..], |v| v), container, key))
                }
                _ => Flip::Refused(bad_reply("put")),
            },
        }
    }

    /// Lets the chunks of a replaced or deleted object expire after the grace period.
    pub(crate) async fn retire(&self, container: &str, key: &str, previous: &[u8]) {
        match ObjectMeta::parse(previous) {
            Ok(m) => {
                let keys = segment_keys(&self.keys.object_tag(container, key), &m.segments);
                self.expire(&keys, self.settings.replace_grace).await;
            }
            Err(e) => tracing::warn!(driver = NAME, error = %e, "cannot read replaced metadata; its chunks stay"),
        }
    }

    /// Deletes `keys` of one container with one script call; retires their data.
    pub(crate) async fn delete_keys(&self, container: &str, keys: &[&str]) -> Result<()> {
        let (info, idx, meta_key) = (self.keys.info(container), self.keys.idx(container), self.keys.meta(container));
        let script = &self.scripts.delete;
        let reply = self
            .once(|mut c| async move {
                let mut inv = script.key(&info);
                inv.key(&idx).key(&meta_key);
                for k in keys {
                    inv.arg(*k);
                }
                inv.invoke_async::<Vec<Vec<u8>>>(&mut c).await
            })
            .await
            .map_err(|(e, _)| e.or_context(NAME, Some(container), None))?;
        match status(&reply) {
            "ok" => {}
            "nocontainer" => return Err(no_container(container)),
            _ => return Err(bad_reply("delete")),
        }
        let retired = keys.iter().zip(reply.iter().skip(1)).filter(|(_, prev)| !prev.is_empty());
        futures::future::join_all(retired.map(|(k, prev)| self.retire(container, k, prev))).await;
        Ok(())
    }

    pub(crate) async fn delete(&self, container: &str, key: &str) -> Result<()> {
        self.check_key(container, key)?;
        self.delete_keys(container, &[key]).await.map_err(ctx(container, Some(key)))
    }

    pub(crate) async fn delete_batch(&self, container: &str, keys: &[String]) -> Result<Vec<DeleteOutcome>> {
        self.check_container(container)?;
        let mut outcomes: Vec<DeleteOutcome> = Vec::with_capacity(keys.len());
        let mut valid = Vec::new();
        for key in keys {
            match self.check_key(container, key) {
                Ok(()) => valid.push(key.as_str()),
                Err(e) => outcomes.push(DeleteOutcome { key: key.clone(), result: Err(e) }),
            }
        }
        let failure = match valid.is_empty() {
            true => None,
            false => self.delete_keys(container, &valid).await.err(),
        };
        for key in valid {
            let result = match &failure {
                None => Ok(()),
                Some(e) => Err(Error::new(e.kind(), e.message())
                    .with_driver(NAME)
                    .with_object(container, key)
                    .with_retryable(e.is_retryable())),
            };
            outcomes.push(DeleteOutcome { key: key.to_owned(), result });
        }
        let order: std::collections::HashMap<&str, usize> =
            keys.iter().enumerate().map(|(i, k)| (k.as_str(), i)).collect();
        outcomes.sort_by_key(|o| order.get(o.key.as_str()).copied().unwrap_or(usize::MAX));
        Ok(outcomes)
    }

    pub(crate) async fn copy(
        self: &std::sync::Arc<Self>,
        src_container: &str,
        src_key: &str,
        dst_container: &str,
        dst_key: &str,
        options: &CopyOptions,
    ) -> Result<Object> {
        self.check_key(src_container, src_key)?;
        self.check_key(dst_container, dst_key)?;
        let src = self.load_meta(src_container, src_key).await?;
        if let Some(want) = &options.source_if_match
            && !etag_matches(want, &src.etag)
        {
            return Err(Error::new(ErrorKind::PreconditionFailed, "the source's ETag differs from source_if_match")
                .with_driver(NAME)
                .with_object(src_container, src_key));
        }
        let cx = ctx(dst_container, Some(dst_key));
        if !self.container_exists(dst_container).await.map_err(&cx)? {
            return Err(no_container(dst_container));
        }
        let put = match &options.replace {
            Some(p) => p.clone(),
            None => PutOptions {
                content_type: src.content_type.clone(),
                content_encoding: src.content_encoding.clone(),
                cache_control: src.cache_control.clone(),
                content_disposition: src.content_disposition.clone(),
                metadata: src.metadata.clone(),
                ..Default::default()
            },
        };
        let version = self.next_seq().await.map_err(&cx)?.to_string();
        let body = crate::read::body(self.clone(), src_container, src_key, &src, 0..src.size);
        let written = self
            .write_chunks(
                &self.keys.object_tag(dst_container, dst_key),
                &format!("v{version}"),
                Payload::stream(body, Some(src.size)),
                None,
            )
            .await
            .map_err(|e| e.or_context(NAME, Some(src_container), Some(src_key)))?;
        // Like the memory driver, the copy keeps the source's ETag and hash.
        let meta = ObjectMeta::new(
            written.segment.size,
            src.md5.clone(),
            src.etag.clone(),
            &put,
            version,
            vec![written.segment],
        );
        self.commit(dst_container, dst_key, &options.mode, meta, &written.keys).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_become_script_arguments() {
        assert_eq!(mode_args(&PutMode::Overwrite).0, "overwrite");
        assert_eq!(mode_args(&PutMode::CreateIfAbsent).0, "absent");
        assert_eq!(mode_args(&PutMode::IfMatch("\"abc\"".into())), ("match", "abc".to_owned()));
        assert_eq!(mode_args(&PutMode::IfMatch("*".into())), ("match", "*".to_owned()));
        let e = precondition_error(&PutMode::CreateIfAbsent, br#"{"etag":"x"}"#, "c", "k");
        assert_eq!(e.kind(), ErrorKind::PreconditionFailed);
        let e = precondition_error(&PutMode::IfMatch("a".into()), b"", "c", "k");
        assert_eq!(e.kind(), ErrorKind::PreconditionFailed);
    }
}
