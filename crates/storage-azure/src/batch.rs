//! Blob Batch: up to 256 Delete Blob sub-requests in one `multipart/mixed` POST, each
//! sub-request authorized on its own (SharedKey or bearer token), one outcome per key.
//! With a SAS or no credential, keys are deleted one by one instead.

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, Method};
use storage_core::kit::object_key;
use storage_core::{DeleteOutcome, Error, ErrorKind, Result};
use storage_http::{RequestBody, http};

use crate::client::Call;
use crate::credentials::AzureCredential;
use crate::driver::{AzureDriver, NAME};
use crate::errors::kind_for_code;
use crate::signing::shared_key_authorization;
use crate::write;

/// Most sub-requests in one batch.
pub(crate) const MAX_BATCH: usize = 256;

/// Deletes `keys` (any number: sent 256 at a time).
pub(crate) async fn delete_batch(d: &AzureDriver, container: &str, keys: &[String]) -> Result<Vec<DeleteOutcome>> {
    d.check_container(container)?;
    let batched = matches!(d.client.signer.credential, AzureCredential::SharedKey(_) | AzureCredential::Token(_));
    if !batched {
        let outcomes = futures::stream::iter(keys.iter().cloned())
            .map(|key| async move {
                let result = write::delete(d, container, &key).await;
                DeleteOutcome { key, result }
            })
            .buffered(8)
            .collect::<Vec<_>>()
            .await;
        return Ok(outcomes);
    }
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(MAX_BATCH) {
        out.extend(one_batch(d, container, chunk).await?);
    }
    Ok(out)
}

async fn one_batch(d: &AzureDriver, container: &str, keys: &[String]) -> Result<Vec<DeleteOutcome>> {
    let mut outcomes: Vec<Option<Result<()>>> = keys.iter().map(|_| None).collect();
    let boundary = format!("batch_{}", storage_core::kit::md5_hex(storage_core::kit::unique_tag().as_bytes()));
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    let bearer = match &d.client.signer.credential {
        AzureCredential::Token(p) => Some(p.token().await?.token),
        _ => None,
    };
    let mut body = String::with_capacity(keys.len() * 400);
    let mut sent = 0usize;
    for (i, key) in keys.iter().enumerate() {
        if let Err(e) = object_key(key, d.info.limits.max_key_length) {
            outcomes[i] = Some(Err(e.with_driver(NAME).with_container(container)));
            continue;
        }
        let path = d.client.endpoint.path(Some(container), Some(key));
        let mut h = HeaderMap::new();
        h.insert("x-ms-date", HeaderValue::from_str(&date).map_err(|_| bad("x-ms-date"))?);
        h.insert("x-ms-delete-snapshots", HeaderValue::from_static("include"));
        let auth = match (&d.client.signer.credential, &bearer) {
            (AzureCredential::SharedKey(k), _) => {
                shared_key_authorization(d.client.account(), k.bytes(), "DELETE", &path, "", &h)
            }
            (_, Some(t)) => format!("Bearer {t}"),
            _ => return Err(bad("authorization")),
        };
        body.push_str(&format!(
            "--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {i}\r\n\r\n\
             DELETE {path} HTTP/1.1\r\nx-ms-date: {date}\r\nx-ms-delete-snapshots: include\r\nAuthorization: {auth}\r\nContent-Length: 0\r\n\r\n"
        ));
        sent += 1;
    }
    if sent > 0 {
        body.push_str(&format!("--{boundary}--\r\n"));
        let call = Call::new("BlobBatch", Method::POST, Some(container), None)
            .query("restype", "container")
            .query("comp", "batch")
            .header("content-type", &format!("multipart/mixed; boundary={boundary}"))?
            .body(RequestBody::Bytes(Bytes::from(body)))
            .idempotent(true);
        let resp = d.client.send(call).await?;
        let answer_boundary =
            resp.header("content-type").and_then(storage_http::batch::boundary_of).ok_or_else(|| {
                Error::new(ErrorKind::Backend, "the batch answer has no multipart boundary").with_driver(NAME)
            })?;
        let text = resp.bytes().await?;
        for part in storage_http::batch::parse_batch(&String::from_utf8_lossy(&text), &answer_boundary) {
            let (id, status) = (part.id_number().unwrap_or(part.position), part.status);
            let code = part.header("x-ms-error-code").map(str::to_owned);
            let Some(slot) = outcomes.get_mut(id) else { continue };
            *slot = Some(match (status, code.as_deref()) {
                (200..=299, _) | (404, Some("BlobNotFound")) => Ok(()),
                (_, code) => {
                    let kind = code.and_then(kind_for_code).unwrap_or_else(|| storage_http::kind_for_status(status));
                    let mut e = Error::new(
                        kind,
                        format!("Delete Blob in a batch failed with HTTP {status} {}", code.unwrap_or("")),
                    )
                    .with_status(status)
                    .with_driver(NAME)
                    .with_object(container, keys[id].as_str());
                    if let Some(c) = code {
                        e = e.with_provider_code(c);
                    }
                    Err(e)
                }
            });
        }
    }
    Ok(keys
        .iter()
        .zip(outcomes)
        .map(|(key, r)| DeleteOutcome {
            key: key.clone(),
            result: r.unwrap_or_else(|| {
                Err(Error::new(ErrorKind::Backend, "the batch answer said nothing about this key")
                    .with_driver(NAME)
                    .with_object(container, key.as_str()))
            }),
        })
        .collect())
}

fn bad(name: &str) -> Error {
    Error::new(ErrorKind::Config, format!("the {name} of a batch sub-request could not be built")).with_driver(NAME)
}
