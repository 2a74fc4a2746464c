//! Leftovers of interrupted writes: unfinished multipart uploads, and runs of data chunks
//! that no object and no registered part references (a writer killed before its
//! commit: its chunks carry the pending TTL, or none at all if it died between
//! `PERSIST` and the flip).
//!
//! Chunk keys are not indexed, so listing SCANs the keyspace (every primary of a
//! cluster) for the container's object tags: a maintenance operation, O(keys in the
//! database). A run's age is how long its youngest chunk has been idle (`OBJECT
//! IDLETIME`, which nothing here resets: only commands that leave the LRU clock alone
//! are used); where the server cannot say (an LFU eviction policy), chunks with the
//! pending TTL are aged by what is left of it, and persisted ones have no known age.
//! Runs whose every chunk expires within the replace grace period are the retired data
//! of a replaced object that readers may still be finishing: they are not listed (they
//! vanish by themselves).
//!
//! Separate because it is maintenance, not a data path: it scans the keyspace for data
//! the other operations never reach.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use redis::Value;
use storage_core::kit::{Error, ErrorKind, Result};
use storage_core::{Leftover, LeftoverKind, MultipartUpload};

use crate::conn::RedisConnection;
use crate::core::{Inner, NAME};
use crate::errors::{ctx, no_container};
use crate::keys::chunk_key;
use crate::meta::{ObjectMeta, PartMeta, UploadMeta, parse_json};

/// Keys per SCAN step.
const SCAN_COUNT: u64 = 1000;
/// Chunks inspected per pipeline.
const BATCH: usize = 256;
/// Slack for the one-second resolution of Redis' idle clock.
const IDLE_SLACK_SECS: i64 = 2;

/// Escapes glob metacharacters for `SCAN MATCH`.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Whether `s` is one or more ASCII digits.
fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `stem` is a run name the driver writes: `v<n>` or `u<id>:p<n>:r<n>`.
fn valid_stem(stem: &str) -> bool {
    if let Some(v) = stem.strip_prefix('v') {
        return digits(v);
    }
    let mut parts = stem.split(':');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some(u), Some(p), Some(r), None)
            if u.strip_prefix('u').is_some_and(digits)
                && p.strip_prefix('p').is_some_and(digits)
                && r.strip_prefix('r').is_some_and(digits)
    )
}

/// The upload id of a part run `u<id>:p<n>:r<seq>`.
fn upload_of(stem: &str) -> Option<&str> {
    stem.strip_prefix('u')?.split(':').next()
}

/// Splits a chunk key found under `tag_start` (`{NS:len(C):C:`) into key, stem and index.
fn parse_chunk_key<'a>(name: &'a str, tag_start: &str) -> Option<(&'a str, &'a str, u64)> {
    let rest = name.strip_prefix(tag_start)?;
    let (head, index) = rest.rsplit_once(':')?;
    if !digits(index) {
        return None;
    }
    // The stem holds no `}`: the last `}:` ends the key.
    let split = head.rfind("}:")?;
    let (key, stem) = (&head[..split], &head[split + 2..]);
    valid_stem(stem).then_some((key, stem, index.parse().ok()?))
}

/// What a leftover run's id says: the stem and how many chunk indexes to cover.
fn parse_run_id(id: &str) -> Option<(&str, u64)> {
    let (stem, count) = id.rsplit_once('#')?;
    let count: u64 = count.parse().ok()?;
    (valid_stem(stem) && count > 0 && count <= 1 << 32).then_some((stem, count))
}

/// Container exists, metadata JSON of each key asked for, every upload (id, JSON).
type RefsReply = (bool, Vec<Option<Vec<u8>>>, Vec<(String, Vec<u8>)>);

/// Stems referenced per key, and the unfinished uploads with their parts.
type References = (HashMap<String, HashSet<String>>, BTreeMap<String, (UploadMeta, Vec<PartMeta>)>);

/// What one chunk looks like now.
#[derive(Debug, Clone, Copy)]
struct ChunkState {
    /// Seconds since last touched, if the server says.
    idle: Option<i64>,
    /// Milliseconds left (-1: no TTL, -2: missing).
    pttl: i64,
    /// Memory it takes, if the server says.
    bytes: Option<u64>,
}

/// A run of chunks found by the scan.
#[derive(Debug, Default)]
struct Run {
    /// Highest chunk index seen.
    max_index: u64,
    /// Chunk key names.
    chunks: Vec<String>,
}

impl Inner {
    /// Every key matching `pattern`, on every primary.
    async fn scan(&self, pattern: &str) -> Result<Vec<String>> {
        let conn = self.conn().await.map_err(|e| self.map(&e, 0))?;
        let mut found = Vec::new();
        match conn {
            RedisConnection::Standalone(_) => {
                let mut cursor = 0u64;
                loop {
                    let (next, batch): (u64, Vec<Vec<u8>>) = self
                        .run(move |mut c| async move {
                            redis::cmd("SCAN")
                                .arg(cursor)
                                .arg("MATCH")
                                .arg(pattern)
                                .arg("COUNT")
                                .arg(SCAN_COUNT)
                                .query_async(&mut c)
                                .await
                        })
                        .await?;
                    found.extend(batch.into_iter().filter_map(|k| String::from_utf8(k).ok()));
                    if next == 0 {
                        break;
                    }
                    cursor = next;
                }
            }
            RedisConnection::Cluster(mut c) => {
                use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
                let slots = c
                    .route_command(
                        redis::cmd("CLUSTER").arg("SLOTS").clone(),
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
                    )
                    .await
                    .map_err(|e| self.map(&e, 0))?;
                for (host, port) in primaries(&slots) {
                    let mut cursor = 0u64;
                    loop {
                        let mut cmd = redis::cmd("SCAN");
                        cmd.arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(SCAN_COUNT);
                        let routing =
                            RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host: host.clone(), port });
                        let reply = c.route_command(cmd, routing).await.map_err(|e| self.map(&e, 0))?;
                        let (next, batch): (u64, Vec<Vec<u8>>) = redis::from_redis_value(reply).map_err(|e| {
                            Error::new(ErrorKind::Backend, format!("unexpected SCAN reply from {host}:{port}: {e}"))
                                .with_driver(NAME)
                        })?;
                        found.extend(batch.into_iter().filter_map(|k| String::from_utf8(k).ok()));
                        if next == 0 {
                            break;
                        }
                        cursor = next;
                    }
                }
            }
        }
        found.sort();
        found.dedup();
        Ok(found)
    }

    /// Idle time, TTL and memory of chunks of one object (one slot), in order.
    async fn inspect(&self, chunks: &[String]) -> Result<Vec<ChunkState>> {
        let mut out = Vec::with_capacity(chunks.len());
        for batch in chunks.chunks(BATCH) {
            // Commands that leave the LRU clock alone: OBJECT IDLETIME, PTTL, MEMORY USAGE.
            let idle: Option<Vec<Option<i64>>> = self
                .run(move |mut c| async move {
                    let mut p = redis::pipe();
                    for k in batch {
                        p.cmd("OBJECT").arg("IDLETIME").arg(k);
                    }
                    p.query_async(&mut c).await
                })
                .await
                .ok();
            let (ttls, bytes): (Vec<i64>, Option<Vec<Option<u64>>>) = {
                let ttls: Vec<i64> = self
                    .run(move |mut c| async move {
                        let mut p = redis::pipe();
                        for k in batch {
                            p.cmd("PTTL").arg(k);
                        }
                        p.query_async(&mut c).await
                    })
                    .await?;
                let bytes = self
                    .run(move |mut c| async move {
                        let mut p = redis::pipe();
                        for k in batch {
                            p.cmd("MEMORY").arg("USAGE").arg(k).arg("SAMPLES").arg(0);
                        }
                        p.query_async(&mut c).await
                    })
                    .await
                    .ok();
                (ttls, bytes)
            };
            for (i, pttl) in ttls.into_iter().enumerate() {
                out.push(ChunkState {
                    idle: idle.as_ref().and_then(|v| v.get(i).copied().flatten()),
                    pttl,
                    bytes: bytes.as_ref().and_then(|v| v.get(i).copied().flatten()),
                });
            }
        }
        Ok(out)
    }

    /// When the youngest present chunk was last written, if known: now minus its idle
    /// time, or (without idle times) what the pending TTL says.
    fn last_write(&self, states: &[ChunkState], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let present: Vec<&ChunkState> = states.iter().filter(|s| s.pttl != -2).collect();
        if present.is_empty() {
            return None;
        }
        let ages: Option<Vec<i64>> = present
            .iter()
            .map(|s| match s.idle {
                Some(idle) => Some(idle * 1000),
                None if s.pttl > 0 => Some((self.settings.pending_ttl.as_millis() as i64 - s.pttl).max(0)),
                None => None,
            })
            .collect();
        let youngest = ages?.into_iter().min()?;
        Some(now - chrono::Duration::milliseconds(youngest))
    }

    /// The stems that the object `key` and the container's unfinished uploads reference,
    /// and the uploads (id -> metadata), read in one transaction on the container's slot.
    async fn references(&self, container: &str, keys: &[&str]) -> Result<References> {
        let (info, meta_key, uploads_key) =
            (self.keys.info(container), self.keys.meta(container), self.keys.uploads(container));
        let (info, meta_key, uploads_key) = (&info, &meta_key, &uploads_key);
        let (exists, metas, uploads): RefsReply = self
            .run(move |mut c| async move {
                let mut p = redis::pipe();
                p.atomic().cmd("EXISTS").arg(info);
                let mut hmget = redis::cmd("HMGET");
                hmget.arg(meta_key);
                for k in keys {
                    hmget.arg(*k);
                }
                // HMGET needs a field: ask for "" (never a key) when there is none.
                if keys.is_empty() {
                    hmget.arg("");
                }
                p.add_command(hmget);
                p.cmd("HGETALL").arg(uploads_key);
                p.query_async(&mut c).await
            })
            .await?;
        if !exists {
            return Err(no_container(container));
        }
        let mut refs: HashMap<String, HashSet<String>> = HashMap::new();
        for (k, json) in keys.iter().zip(metas) {
            let Some(json) = json else { continue };
            let m = ObjectMeta::parse(&json)?;
            refs.entry((*k).to_owned()).or_default().extend(m.segments.into_iter().map(|s| s.stem));
        }
        let mut all = BTreeMap::new();
        for (id, json) in uploads {
            let u: UploadMeta = parse_json(&json, "upload")?;
            let parts_key = self.keys.upload_parts(container, &id);
            let parts_key = &parts_key;
            let parts: Vec<(String, Vec<u8>)> = self
                .run(move |mut c| async move { redis::cmd("HGETALL").arg(parts_key).query_async(&mut c).await })
                .await?;
            let parts: Vec<PartMeta> =
                parts.iter().filter_map(|(_, json)| parse_json::<PartMeta>(json, "part").ok()).collect();
            refs.entry(u.key.clone()).or_default().extend(parts.iter().map(|p| p.segment.stem.clone()));
            all.insert(id, (u, parts));
        }
        Ok((refs, all))
    }

    /// `list_leftovers`: unfinished uploads (aged by their last part write) and
    /// unreferenced chunk runs.
    pub(crate) async fn list_leftovers(&self, container: &str, prefix: Option<&str>) -> Result<Vec<Leftover>> {
        self.check_container(container)?;
        let cx = ctx(container, None);
        let tag_start = format!("{{{}:{}:{}:", self.keys.namespace(), container.len(), container);
        let pattern = format!("{}{}*", glob_escape(&tag_start), glob_escape(prefix.unwrap_or("")));
        let names = self.scan(&pattern).await.map_err(&cx)?;
        // key -> stem -> run
        let mut runs: BTreeMap<String, BTreeMap<String, Run>> = BTreeMap::new();
        for name in &names {
            let Some((key, stem, index)) = parse_chunk_key(name, &tag_start) else { continue };
            let run = runs.entry(key.to_owned()).or_default().entry(stem.to_owned()).or_default();
            run.max_index = run.max_index.max(index);
            run.chunks.push(name.clone());
        }
        let keys: Vec<&str> = runs.keys().map(String::as_str).collect();
        let (refs, uploads) = self.references(container, &keys).await.map_err(&cx)?;
        let now = Utc::now();
        let grace_ms = self.settings.replace_grace.as_millis() as i64;
        let mut out = Vec::new();
        // Latest write into each upload's part runs.
        let mut upload_activity: HashMap<String, DateTime<Utc>> = HashMap::new();
        for (key, stems) in &runs {
            let referenced = refs.get(key);
            for (stem, run) in stems {
                let is_referenced = referenced.is_some_and(|r| r.contains(stem));
                let open_upload = upload_of(stem).filter(|id| uploads.contains_key(*id));
                // A live object's data needs no closer look.
                if is_referenced && open_upload.is_none() {
                    continue;
                }
                let states = self.inspect(&run.chunks).await.map_err(&cx)?;
                let written = self.last_write(&states, now);
                if let (Some(id), Some(w)) = (open_upload, written) {
                    let e = upload_activity.entry(id.to_owned()).or_insert(w);
                    *e = (*e).max(w);
                }
                if is_referenced {
                    continue;
                }
                let present: Vec<&ChunkState> = states.iter().filter(|s| s.pttl != -2).collect();
                if present.is_empty() || present.iter().all(|s| s.pttl > 0 && s.pttl <= grace_ms) {
                    continue;
                }
                out.push(Leftover {
                    container: container.to_owned(),
                    key: key.clone(),
                    kind: LeftoverKind::StagedData,
                    id: format!("{stem}#{}", run.max_index + 1),
                    size: present.iter().map(|s| s.bytes).sum::<Option<u64>>(),
                    created: written,
                });
            }
        }
        for (id, (u, parts)) in &uploads {
            if prefix.is_some_and(|p| !u.key.starts_with(p)) {
                continue;
            }
            let created = upload_activity.get(id).map_or(u.initiated, |w| (*w).max(u.initiated));
            out.push(Leftover {
                container: container.to_owned(),
                key: u.key.clone(),
                kind: LeftoverKind::MultipartUpload,
                id: id.clone(),
                size: Some(parts.iter().map(|p| p.size).sum()),
                created: Some(created),
            });
        }
        out.sort_by(|a, b| (&a.key, &a.id).cmp(&(&b.key, &b.id)));
        Ok(out)
    }

    /// `remove_leftover`: aborts an upload; deletes an unreferenced run after checking,
    /// again, that nothing references it and that none of its chunks was written to since
    /// it was listed.
    pub(crate) async fn remove_leftover(&self, leftover: &Leftover) -> Result<()> {
        let (c, k) = (leftover.container.as_str(), leftover.key.as_str());
        if leftover.kind == LeftoverKind::MultipartUpload {
            let upload = MultipartUpload {
                container: c.to_owned(),
                key: k.to_owned(),
                upload_id: leftover.id.clone(),
                initiated: leftover.created,
                checksum: None,
            };
            return match self.abort_multipart(&upload).await {
                Err(e) if e.kind() == ErrorKind::ObjectDoesNotExist => Ok(()),
                other => other,
            };
        }
        if leftover.kind != LeftoverKind::StagedData {
            return Err(Error::not_supported(NAME, "removing this kind of leftover"));
        }
        self.check_key(c, k)?;
        let refuse = |why: &str| {
            Error::new(ErrorKind::PreconditionFailed, format!("leftover {:?} was not removed: {why}", leftover.id))
                .with_driver(NAME)
                .with_object(c, k)
        };
        let Some((stem, count)) = parse_run_id(&leftover.id) else {
            return Err(refuse("not a chunk run of the Redis driver"));
        };
        let (refs, _) = self.references(c, &[k]).await.map_err(ctx(c, Some(k)))?;
        if refs.get(k).is_some_and(|r| r.contains(stem)) {
            return Err(refuse("an object or an unfinished upload references it now"));
        }
        let tag = self.keys.object_tag(c, k);
        // A writer still running would have written past the last chunk listed.
        let chunks: Vec<String> = (0..count + 8).map(|i| chunk_key(&tag, stem, i)).collect();
        let states = self.inspect(&chunks).await.map_err(ctx(c, Some(k)))?;
        if states[count as usize..].iter().any(|s| s.pttl != -2) {
            return Err(refuse("it grew since it was listed (a writer may still be using it)"));
        }
        let listed = leftover.created;
        let now = Utc::now();
        for s in states.iter().filter(|s| s.pttl != -2) {
            if let (Some(listed), Some(idle)) = (listed, s.idle)
                && idle + IDLE_SLACK_SECS < (now - listed).num_seconds()
            {
                return Err(refuse("it was written to since it was listed (a writer may still be using it)"));
            }
        }
        self.unlink(&chunks[..count as usize]).await;
        Ok(())
    }
}

/// `(host, port)` of each primary in a `CLUSTER SLOTS` reply.
fn primaries(reply: &Value) -> Vec<(String, u16)> {
    let mut out: Vec<(String, u16)> = Vec::new();
    let Value::Array(ranges) = reply else { return out };
    for range in ranges {
        let Value::Array(fields) = range else { continue };
        let Some(Value::Array(node)) = fields.get(2) else { continue };
        let host = match node.first() {
            Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
            Some(Value::SimpleString(s)) => s.clone(),
            _ => continue,
        };
        let Some(Value::Int(port)) = node.get(1) else { continue };
        let Ok(port) = u16::try_from(*port) else { continue };
        if !out.iter().any(|(h, p)| *h == host && *p == port) {
            out.push((host, port));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_keys_split_into_key_stem_and_index() {
        let start = "{ns:1:c:";
        assert_eq!(parse_chunk_key("{ns:1:c:a/b}:v12:3", start), Some(("a/b", "v12", 3)));
        assert_eq!(parse_chunk_key("{ns:1:c:x}:y}:u4:p2:r9:0", start), Some(("x}:y", "u4:p2:r9", 0)));
        assert_eq!(parse_chunk_key("{ns:1:c:x}:w1:0", start), None);
        assert_eq!(parse_chunk_key("{ns:1:c}:info", start), None);
        assert_eq!(parse_run_id("v12#3"), Some(("v12", 3)));
        assert_eq!(parse_run_id("u4:p2:r9#1"), Some(("u4:p2:r9", 1)));
        assert_eq!(parse_run_id("v12#0"), None);
        assert_eq!(parse_run_id("x#1"), None);
        assert_eq!(upload_of("u4:p2:r9"), Some("4"));
        assert_eq!(glob_escape("a*[b]?"), "a\\*\\[b\\]\\?");
    }
}
