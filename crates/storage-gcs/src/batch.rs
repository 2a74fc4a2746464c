//! Batch deletes: Google's JSON batch (`POST /batch/storage/v1`, up to 100 `DELETE`
//! sub-requests in a `multipart/mixed` body, one outcome per key). A server without the
//! batch endpoint, or that refuses every sub-request as a bad request (fake-gcs-server), is
//! remembered, and keys are then deleted one by one, 8 at a time.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use futures::StreamExt;
use http::Method;
use storage_core::kit::{md5_hex, object_key, unique_tag};
use storage_core::{DeleteOutcome, Error, ErrorKind, Result};
use storage_http::batch::{boundary_of, parse_batch};
use storage_http::{RequestBody, http};

use crate::client::{Api, Call, enc};
use crate::driver::{GcsDriver, NAME};
use crate::errors::kind_for_reason;
use crate::json::ErrorBody;
use crate::{containers, write};

/// Most sub-requests in one batch.
pub(crate) const MAX_BATCH: usize = 100;

/// Deletes `keys` (any number), one outcome per key, in order.
pub(crate) async fn delete_batch(d: &GcsDriver, bucket: &str, keys: &[String]) -> Result<Vec<DeleteOutcome>> {
    d.check_bucket(bucket)?;
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(MAX_BATCH) {
        if !d.client.no_batch.load(Ordering::Relaxed) {
            match one_batch(d, bucket, chunk).await {
                Ok(outcomes) => {
                    out.extend(outcomes);
                    continue;
                }
                Err(e) if matches!(e.status(), Some(400 | 404 | 405 | 501)) => {
                    tracing::debug!(error = %e, "no JSON batch endpoint; deleting one by one");
                    d.client.no_batch.store(true, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
        out.extend(one_by_one(d, bucket, chunk).await);
    }
    Ok(out)
}

async fn one_by_one(d: &GcsDriver, bucket: &str, keys: &[String]) -> Vec<DeleteOutcome> {
    futures::stream::iter(keys.iter().cloned())
        .map(|key| async move {
            let result = write::delete(d, bucket, &key).await;
            DeleteOutcome { key, result }
        })
        .buffered(8)
        .collect()
        .await
}

async fn one_batch(d: &GcsDriver, bucket: &str, keys: &[String]) -> Result<Vec<DeleteOutcome>> {
    let mut outcomes: Vec<Option<Result<()>>> = keys.iter().map(|_| None).collect();
    let boundary = format!("batch_{}", md5_hex(unique_tag().as_bytes()));
    let mut body = String::with_capacity(keys.len() * 160);
    for (i, key) in keys.iter().enumerate() {
        if let Err(e) = object_key(key, d.info.limits.max_key_length) {
            outcomes[i] = Some(Err(e.with_driver(NAME).with_container(bucket)));
            continue;
        }
        body.push_str(&format!(
            "--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <item-{i}>\r\n\r\n\
             DELETE /storage/v1/b/{}/o/{} HTTP/1.1\r\n\r\n",
            enc(bucket),
            enc(key)
        ));
    }
    if outcomes.iter().all(Option::is_some) {
        return Ok(finish(bucket, keys, outcomes));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    // A sub-request deletes whatever generation is there: GCS's rule makes an
    // unconditional delete non-idempotent, so the batch is not retried.
    let call = Call::new("BatchDelete", Method::POST, String::new())
        .api(Api::Batch)
        .about(bucket, None)
        .header("content-type", &format!("multipart/mixed; boundary={boundary}"))?
        .body(RequestBody::Bytes(Bytes::from(body)))
        .idempotent(false);
    let resp = d.client.send(call).await?;
    let answer_boundary = resp.header("content-type").and_then(boundary_of).ok_or_else(|| {
        Error::new(ErrorKind::Backend, "the batch answer has no multipart boundary").with_driver(NAME)
    })?;
    let text = resp.bytes().await?;
    let parts = parse_batch(&String::from_utf8_lossy(&text), &answer_boundary);
    if !parts.is_empty() && parts.iter().all(|p| p.status == 400) {
        // Every well-formed DELETE refused as a bad request: the server speaks the batch
        // envelope but not what is inside (fake-gcs-server answers so).
        return Err(Error::new(ErrorKind::NotSupported, "the server refuses every request inside a batch")
            .with_status(400)
            .with_driver(NAME));
    }
    let mut missing = false;
    for part in parts {
        let Some(slot) = part.id_number().and_then(|i| outcomes.get_mut(i)) else { continue };
        *slot = Some(match part.status {
            200..=299 => Ok(()),
            404 => {
                missing = true;
                Ok(())
            }
            status => {
                let doc = ErrorBody::parse(part.body.as_bytes());
                let reason = doc.reason().map(str::to_owned);
                let kind = reason
                    .as_deref()
                    .and_then(kind_for_reason)
                    .unwrap_or_else(|| storage_http::kind_for_status(status));
                let msg = doc.error.message.unwrap_or_default();
                let mut e = Error::new(kind, format!("a delete in the batch failed with HTTP {status}: {msg}"))
                    .with_status(status)
                    .with_retryable(storage_http::is_retryable_status(status))
                    .with_driver(NAME);
                if let Some(r) = reason {
                    e = e.with_provider_code(r);
                }
                Err(e)
            }
        });
    }
    if missing {
        // A 404 is a missing object (deleted: fine) unless the bucket itself is missing.
        if let Err(e) = containers::get(d, bucket).await
            && e.kind() == ErrorKind::ContainerDoesNotExist
        {
            return Err(e);
        }
    }
    Ok(finish(bucket, keys, outcomes))
}

fn finish(bucket: &str, keys: &[String], outcomes: Vec<Option<Result<()>>>) -> Vec<DeleteOutcome> {
    keys.iter()
        .zip(outcomes)
        .map(|(key, r)| DeleteOutcome {
            key: key.clone(),
            result: r
                .unwrap_or_else(|| Err(Error::new(ErrorKind::Backend, "the batch answer said nothing about this key")))
                .map_err(|e| e.with_object(bucket, key.as_str())),
        })
        .collect()
}
