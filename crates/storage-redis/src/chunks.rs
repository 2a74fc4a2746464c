//! Writing, persisting, expiring and deleting runs of data chunks. All chunks of one
//! object share its hash tag, so multi-key commands and pipelines over them stay in
//! one slot.
//!
//! Separate because puts, copies and multipart parts all store data the same way; the
//! operation files decide only which run of chunks the metadata names.

use bytes::{Bytes, BytesMut};
use futures::stream::{FuturesUnordered, StreamExt};
use storage_core::Payload;
use storage_core::kit::check_length;
use storage_core::kit::{Error, ErrorKind, Md5Hasher, Result};

use crate::core::{Inner, NAME};
use crate::keys::chunk_key;
use crate::meta::Segment;
use storage_core::kit::verify_md5_hex;

/// Chunk writes in flight at once for one object.
const WRITES_IN_FLIGHT: usize = 4;
/// Keys per multi-key command or pipeline.
const BATCH: usize = 512;

/// A run of chunks that was written with the pending TTL.
#[derive(Debug)]
pub(crate) struct Written {
    /// Where the bytes are.
    pub segment: Segment,
    /// The chunk keys, in order.
    pub keys: Vec<String>,
    /// MD5 of the data, lowercase hex.
    pub md5: String,
}

/// Every chunk key of `segments` under `tag`.
pub(crate) fn segment_keys(tag: &str, segments: &[Segment]) -> Vec<String> {
    segments.iter().flat_map(|s| (0..s.chunks()).map(move |i| chunk_key(tag, &s.stem, i))).collect()
}

impl Inner {
    /// Writes `payload` as chunks `<tag>:<stem>:<i>` that expire after the pending TTL,
    /// checking the announced length and `expected_md5`. On any failure, deletes what it
    /// wrote (and what it could not delete expires by itself).
    pub(crate) async fn write_chunks(
        &self,
        tag: &str,
        stem: &str,
        payload: Payload,
        expected_md5: Option<&str>,
    ) -> Result<Written> {
        let mut keys = Vec::new();
        match self.write_chunks_inner(tag, stem, payload, expected_md5, &mut keys).await {
            Ok(w) => Ok(w),
            Err(e) => {
                self.unlink(&keys).await;
                Err(e)
            }
        }
    }

    async fn write_chunks_inner(
        &self,
        tag: &str,
        stem: &str,
        payload: Payload,
        expected_md5: Option<&str>,
        keys: &mut Vec<String>,
    ) -> Result<Written> {
        let chunk = self.settings.chunk_size;
        let announced = match &payload {
            Payload::Stream { length, .. } => *length,
            Payload::Bytes(_) => None,
        };
        let mut stream = payload.into_stream();
        let mut hasher = Md5Hasher::new();
        let mut total = 0u64;
        let mut carry = BytesMut::new();
        let mut in_flight = FuturesUnordered::new();
        while let Some(item) = stream.next().await {
            let mut data = item?;
            hasher.update(&data);
            total += data.len() as u64;
            let mut ready = Vec::new();
            if !carry.is_empty() {
                let take = (chunk - carry.len()).min(data.len());
                carry.extend_from_slice(&data.split_to(take));
                if carry.len() == chunk {
                    ready.push(std::mem::take(&mut carry).freeze());
                }
            }
            while data.len() >= chunk {
                ready.push(data.split_to(chunk));
            }
            if !data.is_empty() {
                carry.extend_from_slice(&data);
            }
            for piece in ready {
                let key = chunk_key(tag, stem, keys.len() as u64);
                keys.push(key.clone());
                in_flight.push(self.set_pending(key, piece));
                if in_flight.len() >= WRITES_IN_FLIGHT
                    && let Some(r) = in_flight.next().await
                {
                    r?;
                }
            }
        }
        if !carry.is_empty() {
            let key = chunk_key(tag, stem, keys.len() as u64);
            keys.push(key.clone());
            in_flight.push(self.set_pending(key, carry.freeze()));
        }
        while let Some(r) = in_flight.next().await {
            r?;
        }
        check_length(announced, total)?;
        let md5 = hasher.finish_hex();
        verify_md5_hex(expected_md5, &md5)?;
        let segment = Segment { stem: stem.to_owned(), size: total, chunk: chunk as u64 };
        Ok(Written { segment, keys: std::mem::take(keys), md5 })
    }

    /// `SET key data PX <pending TTL>`, retried.
    async fn set_pending(&self, key: String, data: Bytes) -> Result<()> {
        let ttl = self.settings.pending_ttl.as_millis() as u64;
        let (key, data) = (&key, &data);
        self.run(move |mut c| async move {
            redis::cmd("SET").arg(key).arg(&data[..]).arg("PX").arg(ttl).query_async::<()>(&mut c).await
        })
        .await
    }

    /// Removes the TTL of every chunk. Fails if one vanished (its TTL ran out).
    pub(crate) async fn persist(&self, keys: &[String]) -> Result<()> {
        for batch in keys.chunks(BATCH) {
            let replies: Vec<i64> = self
                .run(move |mut c| async move {
                    let mut p = redis::pipe();
                    for k in batch {
                        p.cmd("PERSIST").arg(k);
                    }
                    p.query_async(&mut c).await
                })
                .await?;
            // 0 means "no TTL" (already persisted by an earlier attempt) or "missing".
            let unsure: Vec<&String> = batch.iter().zip(&replies).filter(|(_, r)| **r == 0).map(|(k, _)| k).collect();
            if unsure.is_empty() {
                continue;
            }
            let unsure = &unsure;
            let present: usize = self
                .run(move |mut c| async move { redis::cmd("EXISTS").arg(unsure).query_async(&mut c).await })
                .await?;
            if present != unsure.len() {
                return Err(Error::new(
                    ErrorKind::Backend,
                    format!(
                        "{} data chunk(s) expired before the write completed (unfinished writes live {:?})",
                        unsure.len() - present,
                        self.settings.pending_ttl
                    ),
                )
                .with_driver(NAME)
                .with_provider_code("ChunkExpired"));
            }
        }
        Ok(())
    }

    /// Gives the chunks a TTL of `ttl`; best effort (failures are logged: the data then
    /// stays until deleted by hand).
    pub(crate) async fn expire(&self, keys: &[String], ttl: std::time::Duration) {
        let ms = ttl.as_millis() as u64;
        for batch in keys.chunks(BATCH) {
            let r: Result<Vec<i64>> = self
                .run(move |mut c| async move {
                    let mut p = redis::pipe();
                    for k in batch {
                        p.cmd("PEXPIRE").arg(k).arg(ms);
                    }
                    p.query_async(&mut c).await
                })
                .await;
            if let Err(e) = r {
                tracing::warn!(driver = NAME, error = %e, chunks = batch.len(), "could not expire old data chunks");
            }
        }
    }

    /// Deletes chunks; best effort (pending chunks expire anyway).
    pub(crate) async fn unlink(&self, keys: &[String]) {
        for batch in keys.chunks(BATCH) {
            let r: Result<i64> =
                self.run(move |mut c| async move { redis::cmd("UNLINK").arg(batch).query_async(&mut c).await }).await;
            if let Err(e) = r {
                tracing::warn!(driver = NAME, error = %e, chunks = batch.len(), "could not delete data chunks");
            }
        }
    }
}
