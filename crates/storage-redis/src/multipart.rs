//! Multipart uploads: parts are staged as chunks with the pending TTL in the object's own
//! slot; completing persists them and flips the metadata to a segment list pointing at
//! them, so no data is copied.
//!
//! Separate because uploads have their own state (the `uploads` hash and one part hash
//! per upload) that the other operations never read.

use std::collections::HashMap;

use chrono::Utc;
use storage_core::kit::etag_matches;
use storage_core::kit::{Error, ErrorKind, Result, multipart_etag};
use storage_core::{CompletedPart, MultipartUpload, Object, Payload, PutOptions};

use crate::chunks::segment_keys;
use crate::core::{Inner, NAME};
use crate::errors::{bad_reply, ctx, no_container, no_upload};
use crate::meta::{ObjectMeta, PartMeta, UploadMeta, parse_json, to_json};
use crate::scripts::status;
use crate::write::{mode_args, precondition_error};

/// Part number and JSON of each uploaded part.
type StoredParts = Vec<(u32, Vec<u8>)>;

/// The parts of an upload as the scripts return them: number, JSON, number, JSON...
fn parse_parts(flat: &[Vec<u8>]) -> Vec<(u32, PartMeta)> {
    flat.chunks(2)
        .filter_map(|pair| match pair {
            [n, json] => {
                let n = std::str::from_utf8(n).ok()?.parse().ok()?;
                Some((n, parse_json::<PartMeta>(json, "part").ok()?))
            }
            _ => None,
        })
        .collect()
}

/// Upload ids are decimal numbers; anything else names no upload.
fn valid_id(upload: &MultipartUpload) -> Result<()> {
    if upload.upload_id.is_empty() || !upload.upload_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(no_upload(upload));
    }
    Ok(())
}

impl Inner {
    pub(crate) async fn create_multipart(
        &self,
        container: &str,
        key: &str,
        options: &PutOptions,
    ) -> Result<MultipartUpload> {
        self.check_key(container, key)?;
        let cx = ctx(container, Some(key));
        let id = self.next_seq().await.map_err(&cx)?.to_string();
        let initiated = Utc::now();
        let json = to_json(&UploadMeta { key: key.to_owned(), options: options.into(), initiated })?;
        let (info, uploads) = (self.keys.info(container), self.keys.uploads(container));
        let (script, id_ref, json) = (&self.scripts.create_upload, &id, &json);
        let reply = self
            .once(|mut c| async move {
                script.key(&info).key(&uploads).arg(id_ref).arg(json).invoke_async::<Vec<Vec<u8>>>(&mut c).await
            })
            .await
            .map_err(|(e, _)| cx(e))?;
        match status(&reply) {
            "ok" => {}
            "nocontainer" => return Err(no_container(container)),
            _ => return Err(bad_reply("create upload")),
        }
        Ok(MultipartUpload {
            container: container.to_owned(),
            key: key.to_owned(),
            upload_id: id,
            initiated: Some(initiated),
            checksum: None,
        })
    }

    /// The stored upload (checking it belongs to `upload.key`) and its parts.
    async fn load_upload(&self, upload: &MultipartUpload) -> Result<(UploadMeta, StoredParts)> {
        valid_id(upload)?;
        let c = &upload.container;
        let (info, uploads, parts) =
            (self.keys.info(c), self.keys.uploads(c), self.keys.upload_parts(c, &upload.upload_id));
        let (info, uploads, parts, id) = (&info, &uploads, &parts, &upload.upload_id);
        let (exists, json, stored): (bool, Option<Vec<u8>>, StoredParts) = self
            .run(move |mut conn| async move {
                redis::pipe()
                    .cmd("EXISTS")
                    .arg(info)
                    .cmd("HGET")
                    .arg(uploads)
                    .arg(id)
                    .cmd("HGETALL")
                    .arg(parts)
                    .query_async(&mut conn)
                    .await
            })
            .await
            .map_err(ctx(c, Some(&upload.key)))?;
        if !exists {
            return Err(no_container(c));
        }
        let meta: UploadMeta = match json {
            Some(j) => parse_json(&j, "upload")?,
            None => return Err(no_upload(upload)),
        };
        if meta.key != upload.key {
            return Err(no_upload(upload));
        }
        Ok((meta, stored))
    }

    pub(crate) async fn put_part(
        &self,
        upload: &MultipartUpload,
        part_number: u32,
        payload: Payload,
    ) -> Result<CompletedPart> {
        let (c, k) = (upload.container.as_str(), upload.key.as_str());
        let cx = ctx(c, Some(k));
        if part_number == 0 || part_number > self.info.limits.max_parts {
            return Err(Error::new(
                ErrorKind::InvalidRange,
                format!("part number {part_number} is outside 1..={}", self.info.limits.max_parts),
            )
            .with_driver(NAME)
            .with_object(c, k));
        }
        self.check_key(c, k)?;
        self.load_upload(upload).await?;
        // A fresh run per attempt: a re-sent part never overwrites chunks that a
        // concurrent complete may already have read.
        let attempt = self.next_seq().await.map_err(&cx)?;
        let stem = format!("u{}:p{part_number}:r{attempt}", upload.upload_id);
        let written = self.write_chunks(&self.keys.object_tag(c, k), &stem, payload, None).await.map_err(&cx)?;
        let part = PartMeta { etag: written.md5.clone(), size: written.segment.size, segment: written.segment };
        let json = to_json(&part)?;
        let (info, uploads, parts) =
            (self.keys.info(c), self.keys.uploads(c), self.keys.upload_parts(c, &upload.upload_id));
        let (script, id, number) = (&self.scripts.put_part, &upload.upload_id, part_number.to_string());
        let reply = self
            .once(|mut conn| async move {
                script
                    .key(&info)
                    .key(&uploads)
                    .key(&parts)
                    .arg(id)
                    .arg(&number)
                    .arg(&json)
                    .invoke_async::<Vec<Vec<u8>>>(&mut conn)
                    .await
            })
            .await;
        let reply = match reply {
            Ok(r) => r,
            // Unregistered chunks expire with the pending TTL.
            Err((e, _)) => return Err(cx(e)),
        };
        match status(&reply) {
            "ok" => {
                if let Some(prev) = reply.get(1).filter(|p| !p.is_empty())
                    && let Ok(prev) = parse_json::<PartMeta>(prev, "part")
                {
                    self.unlink(&segment_keys(&self.keys.object_tag(c, k), &[prev.segment])).await;
                }
                Ok(CompletedPart::new(part_number, part.etag, part.size))
            }
            other => {
                self.unlink(&written.keys).await;
                Err(match other {
                    "nocontainer" => no_container(c),
                    "noupload" => no_upload(upload),
                    _ => bad_reply("put part"),
                })
            }
        }
    }

    pub(crate) async fn complete_multipart(&self, upload: &MultipartUpload, parts: &[CompletedPart]) -> Result<Object> {
        let (c, k) = (upload.container.as_str(), upload.key.as_str());
        let cx = ctx(c, Some(k));
        let invalid = |msg: String| {
            Error::new(ErrorKind::Backend, msg).with_driver(NAME).with_object(c, k).with_provider_code("InvalidPart")
        };
        self.check_key(c, k)?;
        let (up, stored) = self.load_upload(upload).await?;
        let stored: HashMap<u32, Vec<u8>> = stored.into_iter().collect();
        if parts.is_empty() {
            return Err(invalid("a multipart upload needs at least one part".into()));
        }
        let mut chosen = Vec::with_capacity(parts.len());
        let mut last = 0;
        for (i, p) in parts.iter().enumerate() {
            if p.part_number <= last {
                return Err(invalid("parts must be listed in ascending order without repeats".into()));
            }
            last = p.part_number;
            let json = stored
                .get(&p.part_number)
                .ok_or_else(|| invalid(format!("part {} was never uploaded", p.part_number)))?;
            let meta: PartMeta = parse_json(json, "part")?;
            if !etag_matches(&p.etag, &meta.etag) {
                return Err(invalid(format!("part {} has a different ETag", p.part_number)));
            }
            if i + 1 < parts.len() && meta.size < self.info.limits.min_part_size {
                return Err(invalid(format!("part {} is smaller than the minimum part size", p.part_number)));
            }
            chosen.push((p.part_number, json.clone(), meta));
        }
        let md5s: Vec<&str> = chosen.iter().map(|(_, _, m)| m.etag.as_str()).collect();
        let etag = multipart_etag(&md5s);
        let size = chosen.iter().map(|(_, _, m)| m.size).sum();
        let segments = chosen.iter().map(|(_, _, m)| m.segment.clone()).collect::<Vec<_>>();
        let tag = self.keys.object_tag(c, k);
        // Once persisted, the chunks stay until the upload completes or is aborted.
        self.persist(&segment_keys(&tag, &segments)).await.map_err(&cx)?;
        let version = self.next_seq().await.map_err(&cx)?.to_string();
        let options = PutOptions::from(&up.options);
        // No MD5 of the whole object was computed: the hash is the opaque multipart ETag.
        let meta = ObjectMeta::new(size, None, etag, &options, version, segments);
        let meta_json = meta.to_json()?;
        let (mode_name, want) = mode_args(&options.mode);
        let keys = &self.keys;
        let (info, idx, meta_key, uploads, up_key) =
            (keys.info(c), keys.idx(c), keys.meta(c), keys.uploads(c), keys.upload_parts(c, &upload.upload_id));
        let script = &self.scripts.complete;
        let (chosen_ref, id) = (&chosen, &upload.upload_id);
        let reply = self
            .once(|mut conn| async move {
                let mut inv = script.key(&info);
                inv.key(&idx).key(&meta_key).key(&uploads).key(&up_key);
                inv.arg(id).arg(k).arg(mode_name).arg(&want).arg(&meta_json);
                for (n, json, _) in chosen_ref {
                    inv.arg(n.to_string()).arg(&json[..]);
                }
                inv.invoke_async::<Vec<Vec<u8>>>(&mut conn).await
            })
            .await;
        let reply = match reply {
            Ok(r) => r,
            Err((e, ambiguous)) => {
                if ambiguous
                    && let Ok(m) = self.load_meta(c, k).await
                    && m.version == meta.version
                {
                    return Ok(meta.to_object(c, k));
                }
                return Err(cx(e));
            }
        };
        let all_parts = parse_parts(reply.get(2..).unwrap_or_default());
        match status(&reply) {
            "ok" => {
                if let Some(prev) = reply.get(1).filter(|p| !p.is_empty()) {
                    self.retire(c, k, prev).await;
                }
                // Uploaded parts left out of the object are freed.
                let used: Vec<&str> = meta.segments.iter().map(|s| s.stem.as_str()).collect();
                let unused: Vec<_> = all_parts
                    .into_iter()
                    .map(|(_, p)| p.segment)
                    .filter(|s| !used.contains(&s.stem.as_str()))
                    .collect();
                self.unlink(&segment_keys(&tag, &unused)).await;
                Ok(meta.to_object(c, k))
            }
            "precondition" => {
                // The upload is gone (as on S3 and in the memory driver): free its data.
                let segs: Vec<_> = all_parts.into_iter().map(|(_, p)| p.segment).collect();
                self.unlink(&segment_keys(&tag, &segs)).await;
                Err(precondition_error(&options.mode, reply.get(1).map_or(&[][..], |v| v), c, k))
            }
            "nocontainer" => Err(no_container(c)),
            "noupload" => Err(no_upload(upload)),
            "changed" => {
                let n = reply.get(1).map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default();
                Err(invalid(format!("part {n} was uploaded again while the upload was being completed")))
            }
            _ => Err(bad_reply("complete")),
        }
    }

    pub(crate) async fn abort_multipart(&self, upload: &MultipartUpload) -> Result<()> {
        valid_id(upload)?;
        let c = upload.container.as_str();
        let (info, uploads, parts) =
            (self.keys.info(c), self.keys.uploads(c), self.keys.upload_parts(c, &upload.upload_id));
        let (script, id) = (&self.scripts.abort, &upload.upload_id);
        let reply = self
            .once(|mut conn| async move {
                script.key(&info).key(&uploads).key(&parts).arg(id).invoke_async::<Vec<Vec<u8>>>(&mut conn).await
            })
            .await
            .map_err(|(e, _)| e.or_context(NAME, Some(c), Some(&upload.key)))?;
        match status(&reply) {
            "ok" => {
                let segs: Vec<_> = parse_parts(&reply[1..]).into_iter().map(|(_, p)| p.segment).collect();
                self.unlink(&segment_keys(&self.keys.object_tag(c, &upload.key), &segs)).await;
                Ok(())
            }
            "nocontainer" => Err(no_container(c)),
            "noupload" => Err(no_upload(upload)),
            _ => Err(bad_reply("abort")),
        }
    }

    pub(crate) async fn list_multipart_uploads(
        &self,
        container: &str,
        prefix: Option<&str>,
    ) -> Result<Vec<MultipartUpload>> {
        self.check_container(container)?;
        let (info, uploads) = (self.keys.info(container), self.keys.uploads(container));
        let (info, uploads) = (&info, &uploads);
        let (exists, all): (bool, Vec<(String, Vec<u8>)>) = self
            .run(move |mut c| async move {
                redis::pipe().cmd("EXISTS").arg(info).cmd("HGETALL").arg(uploads).query_async(&mut c).await
            })
            .await
            .map_err(ctx(container, None))?;
        if !exists {
            return Err(no_container(container));
        }
        let mut out = Vec::with_capacity(all.len());
        for (id, json) in all {
            let u: UploadMeta = parse_json(&json, "upload")?;
            if prefix.is_none_or(|p| u.key.starts_with(p)) {
                out.push(MultipartUpload {
                    container: container.to_owned(),
                    key: u.key,
                    upload_id: id,
                    initiated: Some(u.initiated),
                    checksum: None,
                });
            }
        }
        out.sort_by_key(|u| u.upload_id.parse::<u64>().unwrap_or(u64::MAX));
        Ok(out)
    }
}
