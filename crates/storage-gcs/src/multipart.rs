//! Multipart uploads as parallel composite uploads: each part is a temporary object in
//! the bucket's staging area (`.storage-rs-parts/{tag}/{n}`), the parts are composed in
//! order (32 at a time, in rounds when there are more), and every temporary object is
//! deleted afterwards, and on abort. Listings never show the staging area, and
//! `list_multipart_uploads` finds what a killed writer left there.
//!
//! Composite objects have no MD5: their hash is the CRC32C, which the driver checks
//! against the CRC32Cs of the parts it sent (combined without the data), so the data is
//! verified end to end. The XML API's S3-style multipart upload is not used: the test
//! server (fake-gcs-server) answers it with 400.
//!
//! The upload id is a random tag followed by the object's content headers, metadata and
//! put mode, so completing needs no state kept between calls.

use std::collections::BTreeMap;

use futures::StreamExt;
use http::Method;
use serde_json::json;
use storage_core::kit::{crc32c, crc32c_combine, mark_aborted, new_upload_id, parse_upload_id, was_aborted};
use storage_core::{
    CompleteOptions, CompletedPart, Error, ErrorKind, HashAlgorithm, MultipartUpload, Object, ObjectHash, PartOptions,
    Payload, PutOptions, Result,
};
use storage_http::http;

use crate::client::Call;
use crate::driver::{GcsDriver, NAME};
use crate::extras::Extras;
use crate::json::{ObjectResource, Objects};
use crate::write::{generation_condition, resource_json};

/// Where parts wait to be composed.
pub(crate) const STAGING: &str = ".storage-rs-parts/";
/// Most sources of one compose request.
const MAX_COMPOSE: usize = 32;
/// Most parts of one upload.
pub(crate) const MAX_PARTS: u32 = 10_000;

fn split_id(upload: &MultipartUpload) -> Result<(&str, PutOptions)> {
    parse_upload_id(&upload.upload_id).ok_or_else(|| {
        Error::new(ErrorKind::ObjectDoesNotExist, "this upload id was not made by the GCS driver")
            .with_driver(NAME)
            .with_object(&upload.container, &upload.key)
    })
}

fn part_name(tag: &str, n: u32) -> String {
    format!("{STAGING}{tag}/{n:05}")
}

fn aborted(upload: &MultipartUpload) -> Error {
    Error::new(ErrorKind::ObjectDoesNotExist, "this upload was aborted")
        .with_driver(NAME)
        .with_object(&upload.container, &upload.key)
}

fn marker_name(tag: &str) -> String {
    format!("{STAGING}{tag}/upload")
}

/// The metadata that names the upload and its key on every staged object.
fn staged_options(upload_id: &str, key: &str) -> PutOptions {
    let mut o = PutOptions::default();
    o.metadata.insert("storage_key".into(), key.to_owned());
    o.metadata.insert("storage_upload".into(), upload_id.to_owned());
    o
}

/// Starts an upload: an empty marker in the staging area records it (so unfinished
/// uploads can be listed even before their first part); the object is untouched.
pub(crate) async fn create(d: &GcsDriver, bucket: &str, key: &str, options: &PutOptions) -> Result<MultipartUpload> {
    d.check_key(bucket, key)?;
    // Refused now, before the marker is written, rather than at completion.
    Extras::of(options).map_err(|e| e.with_object(bucket, key))?;
    let mut carried = options.clone();
    // The whole MD5 is checked by the transfer engine; a composite object has none.
    carried.content_md5 = None;
    let (tag, upload_id) = new_upload_id(&format!("{bucket}/{key}"), &carried);
    let marker = marker_name(&tag);
    let written = crate::write::put_unique(
        d,
        bucket,
        &marker,
        Payload::Bytes(Default::default()),
        &staged_options(&upload_id, key),
    )
    .await;
    if let Err(e) = written {
        // The server may have written the marker and the answer been lost: the caller
        // never gets the upload id to abort it with, so remove it here (a marker alone
        // is an unfinished upload that list_multipart_uploads would show).
        if let Err(d_err) = crate::write::delete_unique(d, bucket, &marker).await {
            tracing::warn!(error = %d_err, "removing the marker of a multipart upload whose creation failed failed");
        }
        return Err(e.with_object(bucket, key));
    }
    Ok(MultipartUpload {
        container: bucket.to_owned(),
        key: key.to_owned(),
        upload_id,
        initiated: Some(chrono::Utc::now()),
        checksum: Some(HashAlgorithm::Crc32c),
    })
}

/// Uploads part `n` as a temporary object, with its CRC32C (and the caller's MD5) for
/// the server to check, compared with the CRC32C the server stored too (a part stored
/// damaged is deleted); the part's "ETag" is `{crc32c}-{md5}` of what was stored, its
/// [`CompletedPart::checksum`] the CRC32C.
pub(crate) async fn put_part(
    d: &GcsDriver,
    upload: &MultipartUpload,
    part_number: u32,
    payload: Payload,
    options: &PartOptions,
) -> Result<CompletedPart> {
    if part_number == 0 || part_number > MAX_PARTS {
        return Err(Error::new(
            ErrorKind::InvalidRange,
            format!("part number {part_number} is outside 1..={MAX_PARTS}"),
        )
        .with_driver(NAME)
        .with_object(&upload.container, &upload.key));
    }
    let (tag, _) = split_id(upload)?;
    if was_aborted(&upload.upload_id) {
        return Err(aborted(upload));
    }
    let data = payload.into_bytes().await?;
    let size = data.len() as u64;
    let crc = crc32c(&data);
    let name = part_name(tag, part_number);
    let mut part_options = staged_options(&upload.upload_id, &upload.key);
    part_options.content_md5 = options.content_md5.as_ref().map(|m| m.to_ascii_lowercase());
    let written = crate::write::put_unique(d, &upload.container, &name, Payload::Bytes(data), &part_options)
        .await
        .map_err(|e| e.with_object(&upload.container, &upload.key))?;
    let stored_md5 = written.md5().map(str::to_owned);
    if let (Some(want), Some(got)) = (&options.content_md5, &stored_md5)
        && !want.eq_ignore_ascii_case(got)
    {
        return Err(Error::new(
            ErrorKind::ObjectHashMismatch,
            format!("part {part_number}: the server stored data with MD5 {got}, but the part's MD5 is {want}"),
        )
        .with_driver(NAME)
        .with_object(&upload.container, &upload.key));
    }
    if written.size != size {
        return Err(Error::new(
            ErrorKind::ObjectHashMismatch,
            format!("part {part_number}: {} bytes stored of {size}", written.size),
        )
        .with_driver(NAME)
        .with_object(&upload.container, &upload.key));
    }
    if was_aborted(&upload.upload_id) {
        // The upload was aborted while this part was on its way: remove it again.
        let _ = crate::write::delete_unique(d, &upload.container, &name).await;
        return Err(aborted(upload));
    }
    let etag = format!("{crc:08x}-{}", stored_md5.unwrap_or_default());
    Ok(CompletedPart { checksum: Some(ObjectHash::crc32c(crc)), ..CompletedPart::new(part_number, etag, size) })
}

/// Composes `sources` (in order) into `dest` as `resource`, with the extras' query
/// parameters (the final object's ACL and KMS key).
#[allow(clippy::too_many_arguments)]
async fn compose(
    d: &GcsDriver,
    bucket: &str,
    dest: &str,
    sources: &[String],
    resource: serde_json::Value,
    extras: &Extras,
    condition: Option<&str>,
    about: &str,
) -> Result<ObjectResource> {
    let body = json!({
        "sourceObjects": sources.iter().map(|n| json!({ "name": n })).collect::<Vec<_>>(),
        "destination": resource,
    });
    let mut call = extras.compose_query(
        Call::object("ComposeObject", Method::POST, bucket, dest, "/compose").about(bucket, Some(about)).json(&body)?,
    );
    if let Some(g) = condition {
        call = call.query("ifGenerationMatch", g).idempotent(true);
    } else if dest.starts_with(STAGING) {
        // An intermediate object of this upload: nobody else writes that name.
        call = call.idempotent(true);
    }
    // Otherwise (an unconditional compose onto the object) GCS's rule applies: it is
    // not idempotent, so it is not retried.
    d.client.send_json(call).await
}

/// Composes the parts, in the order given, into the object (in rounds of 32), checks its
/// CRC32C against the parts' (combined without the data; an object that differs is
/// deleted), and deletes every temporary object.
pub(crate) async fn complete(
    d: &GcsDriver,
    upload: &MultipartUpload,
    parts: &[CompletedPart],
    _complete: &CompleteOptions,
) -> Result<Object> {
    let (tag, options) = split_id(upload)?;
    if was_aborted(&upload.upload_id) {
        return Err(aborted(upload));
    }
    let bucket = upload.container.as_str();
    let extras = Extras::of(&options).map_err(|e| e.with_object(bucket, &upload.key))?;
    let invalid =
        |msg: String| Error::new(ErrorKind::InvalidRange, msg).with_driver(NAME).with_object(bucket, &upload.key);
    if parts.is_empty() {
        return Err(invalid("a multipart upload needs at least one part".into()));
    }
    if parts.windows(2).any(|w| w[0].part_number >= w[1].part_number) {
        return Err(invalid("parts must be given in increasing part-number order, each once".into()));
    }
    let mut expected = 0u32;
    let mut total = 0u64;
    for p in parts {
        // The part's checksum, else the CRC32C its ETag carries (parts listed or kept
        // from before checksums were reported).
        let crc = p
            .checksum
            .as_ref()
            .and_then(ObjectHash::crc32c_value)
            .or_else(|| p.etag.split_once('-').and_then(|(c, _)| u32::from_str_radix(c, 16).ok()))
            .ok_or_else(|| invalid(format!("part {} has an ETag this driver did not make", p.part_number)))?;
        expected = crc32c_combine(expected, crc, p.size);
        total += p.size;
    }
    let condition = generation_condition(d, bucket, &upload.key, &options.mode).await?;
    let mut sources: Vec<String> = parts.iter().map(|p| part_name(tag, p.part_number)).collect();
    let mut intermediates = Vec::new();
    let mut round = 0;
    while sources.len() > MAX_COMPOSE {
        round += 1;
        let mut next = Vec::new();
        for (i, group) in sources.chunks(MAX_COMPOSE).enumerate() {
            let name = format!("{STAGING}{tag}/c{round}-{i:05}");
            let resource = json!({ "contentType": "application/octet-stream" });
            compose(d, bucket, &name, group, resource, &Extras::default(), None, &upload.key).await?;
            intermediates.push(name.clone());
            next.push(name);
        }
        sources = next;
    }
    let resource = resource_json(&upload.key, &options, None)?;
    let result = compose(d, bucket, &upload.key, &sources, resource, &extras, condition.as_deref(), &upload.key).await;
    let written = match result {
        Ok(w) => w,
        Err(e) => {
            delete_all(d, bucket, &intermediates).await;
            return Err(e.or_context(NAME, Some(bucket), Some(&upload.key)));
        }
    };
    // The parts are no longer needed, whatever the check below finds.
    let staged: Vec<String> = parts
        .iter()
        .map(|p| part_name(tag, p.part_number))
        .chain(intermediates)
        .chain(std::iter::once(marker_name(tag)))
        .collect();
    delete_all(d, bucket, &staged).await;
    if written.crc32c_value().is_some_and(|got| got != expected) || written.size.is_some_and(|s| s != total) {
        let why = format!(
            "the composed object has CRC32C {:08x} and {} bytes, but its parts give {expected:08x} and {total}",
            written.crc32c_value().unwrap_or(0),
            written.size.unwrap_or(0)
        );
        return Err(crate::write::discard(d, bucket, &upload.key, &written, why).await);
    }
    Ok(written.into_object(bucket))
}

/// Deletes temporary objects, 8 at a time; failures are logged (what is left is found by
/// `list_multipart_uploads` and removed by the next abort).
async fn delete_all(d: &GcsDriver, bucket: &str, names: &[String]) {
    let results = futures::stream::iter(names.iter().cloned())
        .map(|n| async move {
            let r = crate::write::delete_unique(d, bucket, &n).await;
            (n, r)
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    for (n, r) in results {
        if let Err(e) = r {
            tracing::warn!(object = %n, error = %e, "a temporary part of a composite upload could not be deleted");
        }
    }
}

/// The staged objects of upload `tag`.
async fn staged(d: &GcsDriver, bucket: &str, prefix: &str) -> Result<Vec<ObjectResource>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut call =
            Call::bucket("ListObjects", Method::GET, bucket, "/o").query("prefix", prefix).query("maxResults", "1000");
        if let Some(t) = &token {
            call = call.query("pageToken", t.clone());
        }
        let page: Objects = d.client.send_json(call).await?;
        out.extend(page.items);
        match page.next_page_token {
            Some(t) => token = Some(t),
            None => return Ok(out),
        }
    }
}

/// Deletes every temporary object of the upload. Completing it afterwards fails: its
/// parts are gone.
pub(crate) async fn abort(d: &GcsDriver, upload: &MultipartUpload) -> Result<()> {
    let (tag, _) = split_id(upload)?;
    mark_aborted(&upload.upload_id);
    let names: Vec<String> =
        staged(d, &upload.container, &format!("{STAGING}{tag}/")).await?.into_iter().map(|o| o.name).collect();
    delete_all(d, &upload.container, &names).await;
    Ok(())
}

/// Unfinished uploads: the staging area grouped by upload, each with the key it is for
/// (kept in its parts' metadata) and when its first part was written.
pub(crate) async fn list_uploads(d: &GcsDriver, bucket: &str, prefix: Option<&str>) -> Result<Vec<MultipartUpload>> {
    d.check_bucket(bucket)?;
    let mut uploads: BTreeMap<String, MultipartUpload> = BTreeMap::new();
    for o in staged(d, bucket, STAGING).await.map_err(|e| e.or_context(NAME, Some(bucket), None))? {
        let meta = o.metadata.clone().unwrap_or_default();
        let (Some(key), Some(id)) = (meta.get("storage_key"), meta.get("storage_upload")) else { continue };
        if prefix.is_some_and(|p| !key.starts_with(p)) {
            continue;
        }
        let when = o.time_created.or(o.updated);
        let entry = uploads.entry(id.clone()).or_insert_with(|| MultipartUpload {
            container: bucket.to_owned(),
            key: key.clone(),
            upload_id: id.clone(),
            initiated: when,
            checksum: Some(HashAlgorithm::Crc32c),
        });
        if let (Some(w), Some(i)) = (when, entry.initiated)
            && w < i
        {
            entry.initiated = Some(w);
        }
    }
    Ok(uploads.into_values().collect())
}
