//! Multipart uploads as block blobs: Put Block for each part (concurrently), Put Block
//! List to commit exactly the parts given, in order. The upload's encryption scope goes
//! on every Put Block and on the commit; its tier, tags and headers on the commit.
//!
//! Azure has no upload object: uncommitted blocks belong to the blob name. An upload id
//! here is a random tag (which prefixes every block id of the upload, so two uploads to
//! one name never mix blocks) followed by the object's content headers and metadata, so
//! the commit, which is where Azure takes them, needs no state kept between calls.
//! Nothing is visible or committed before Put Block List; aborting commits nothing, and
//! the service discards uncommitted blocks after a week (or at the blob's next Put Blob
//! / Put Block List).
//!
//! Every block carries its CRC64, which the service checks; each part reports its
//! CRC32C ([`CompletedPart::checksum`], [`MultipartUpload::checksum`] is CRC32C), and the
//! commit keeps the whole blob's CRC32C, combined from them, in the blob's metadata
//! ([`crate::checksum`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http::Method;
use storage_core::kit::{is_md5_hex, mark_aborted, new_upload_id, parse_upload_id, was_aborted};
use storage_core::{
    CompleteOptions, CompletedPart, Error, ErrorKind, HashAlgorithm, MultipartUpload, Object, ObjectHash, PartOptions,
    Payload, PutOptions, Result,
};
use storage_http::{RequestBody, http};

use crate::checksum::{self, Tap, TapFor};
use crate::client::Call;
use crate::driver::{AzureDriver, NAME};
use crate::extras::{Extras, Target};
use crate::headers::{blob_headers, md5_b64_from_hex, md5_hex_from_b64, mode_headers};
use crate::write::{conditional, written_from};
use crate::{containers, xml};

/// Most blocks in one blob.
pub(crate) const MAX_BLOCKS: u32 = 50_000;

fn split_id(upload: &MultipartUpload) -> Result<(&str, PutOptions)> {
    parse_upload_id(&upload.upload_id).ok_or_else(|| {
        Error::new(ErrorKind::ObjectDoesNotExist, "this upload id was not made by the Azure driver")
            .with_driver(NAME)
            .with_object(&upload.container, &upload.key)
    })
}

/// The block id of part `n` (every id of a blob has the same length, as Azure requires).
fn block_id(tag: &str, n: u32) -> String {
    B64.encode(format!("{tag}-{n:05}"))
}

/// Starts an upload: checks the container and the options, sends nothing else.
pub(crate) async fn create(
    d: &AzureDriver,
    container: &str,
    key: &str,
    options: &PutOptions,
) -> Result<MultipartUpload> {
    d.check_key(container, key)?;
    // Refuse headers, metadata, tiers, tags or encryption Azure would refuse now, not
    // after every part was sent.
    blob_headers(&mut http::HeaderMap::new(), options)?;
    Extras::check(options).map_err(|e| e.with_object(container, key))?;
    containers::get(d, container).await?;
    let (_, upload_id) = new_upload_id(&format!("{}/{container}/{key}", d.client.account()), options);
    Ok(MultipartUpload {
        container: container.to_owned(),
        key: key.to_owned(),
        upload_id,
        initiated: Some(chrono::Utc::now()),
        checksum: Some(HashAlgorithm::Crc32c),
    })
}

/// Put Block. The block goes with its CRC64 (`x-ms-content-crc64`), or with the caller's
/// MD5 (`Content-MD5`; Azure refuses both at once), which the service checks before
/// staging it (`Crc64Mismatch` / `Md5Mismatch`, `ObjectHashMismatch`); the checksum the
/// service answers is compared with it too. A stream is hashed as it is sent, so only the
/// service's answer checks it. The part's CRC32C, computed in the same pass, is its
/// [`CompletedPart::checksum`], combined at completion into the whole blob's.
pub(crate) async fn put_part(
    d: &AzureDriver,
    upload: &MultipartUpload,
    part_number: u32,
    payload: Payload,
    options: &PartOptions,
) -> Result<CompletedPart> {
    if part_number == 0 || part_number > MAX_BLOCKS {
        return Err(Error::new(
            ErrorKind::InvalidRange,
            format!("part number {part_number} is outside 1..={MAX_BLOCKS}"),
        )
        .with_driver(NAME)
        .with_object(&upload.container, &upload.key));
    }
    let (tag, put) = split_id(upload)?;
    let extras = Extras::check(&put)?;
    let mut call = Call::new("PutBlock", Method::PUT, Some(&upload.container), Some(&upload.key))
        .query("comp", "block")
        .query("blockid", block_id(tag, part_number));
    extras.apply(&mut call.headers, Target::PutBlock)?;
    let with_md5 = options.content_md5.is_some();
    if let Some(md5) = &options.content_md5 {
        call = call.header("content-md5", &md5_b64_from_hex(md5)?)?;
    }
    let (body, size, sums) = match payload {
        Payload::Stream { stream, length: Some(len) } => {
            let (stream, tap) = Tap::wrap(stream, if with_md5 { TapFor::Crc32c } else { TapFor::Crcs });
            (RequestBody::stream(stream, len), len, Sums::Streamed(tap))
        }
        p => {
            let b = p.into_bytes().await?;
            let (crc64, crc32c) = checksum::crc64_and_crc32c(&b);
            if !with_md5 {
                call = call.header(checksum::CRC64_HEADER, &checksum::crc64_b64(crc64))?;
            }
            let len = b.len() as u64;
            (RequestBody::Bytes(b), len, Sums::Known { crc64: (!with_md5).then_some(crc64), crc32c })
        }
    };
    let resp = d.client.send(call.body(body)).await?;
    let (sent_crc64, crc32c) = match sums {
        Sums::Known { crc64, crc32c } => (crc64, Some(crc32c)),
        Sums::Streamed(tap) => {
            let seen = tap.finish();
            (seen.crc64, seen.crc32c)
        }
    };
    let mismatch = |what: String| {
        checksum::mismatch(format!("part {part_number}: {what}")).with_object(&upload.container, &upload.key)
    };
    let got = resp.header("content-md5").and_then(md5_hex_from_b64);
    if let (Some(want), Some(got)) = (&options.content_md5, &got)
        && !want.eq_ignore_ascii_case(got)
    {
        return Err(mismatch(format!("the service stored data with MD5 {got}, but the part's MD5 is {want}")));
    }
    if let (Some(want), Some(got)) = (sent_crc64, checksum::answered_crc64(&resp.headers))
        && want != got
    {
        return Err(mismatch(format!(
            "the service stored data with CRC64 {got:016x}, but the part's CRC64 is {want:016x}"
        )));
    }
    let etag = got.unwrap_or_else(|| block_id(tag, part_number));
    Ok(CompletedPart { checksum: crc32c.map(ObjectHash::crc32c), ..CompletedPart::new(part_number, etag, size) })
}

/// The checksums of a block.
enum Sums {
    /// Data in memory: its CRC64 (unless the caller's MD5 went instead) and CRC32C.
    Known { crc64: Option<u64>, crc32c: u32 },
    /// A stream, hashed as it was sent.
    Streamed(Tap),
}

/// Put Block List with exactly `parts`, in the order given, and the object's headers,
/// metadata and put mode from the upload. The whole blob's CRC32C, combined from the
/// parts' checksums, is kept in its metadata ([`checksum`]); the whole object's MD5, when
/// known (the caller's at create or at complete), is stored as `x-ms-blob-content-md5`.
/// Reads report and verify them (the MD5 as the hash, where there is one).
pub(crate) async fn complete(
    d: &AzureDriver,
    upload: &MultipartUpload,
    parts: &[CompletedPart],
    complete: &CompleteOptions,
) -> Result<Object> {
    let (tag, mut options) = split_id(upload)?;
    if was_aborted(&upload.upload_id) {
        return Err(Error::new(ErrorKind::ObjectDoesNotExist, "this upload was aborted")
            .with_driver(NAME)
            .with_object(&upload.container, &upload.key));
    }
    if let Some(md5) = &complete.content_md5 {
        options.content_md5 = Some(md5.clone());
    }
    let mut body = String::with_capacity(64 + parts.len() * 48);
    body.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
    for p in parts {
        body.push_str("<Latest>");
        body.push_str(&xml::escape(&block_id(tag, p.part_number)));
        body.push_str("</Latest>");
    }
    body.push_str("</BlockList>");
    let mut call = Call::new("PutBlockList", Method::PUT, Some(&upload.container), Some(&upload.key))
        .query("comp", "blocklist")
        .header("content-type", "application/xml")?;
    blob_headers(&mut call.headers, &options)?;
    Extras::check(&options)?.apply(&mut call.headers, Target::PutBlockList)?;
    mode_headers(&mut call.headers, &options.mode)?;
    if let Some(md5) = &options.content_md5 {
        call = call.header("x-ms-blob-content-md5", &md5_b64_from_hex(md5)?)?;
    }
    let size: u64 = parts.iter().map(|p| p.size).sum();
    let whole = checksum::combined(parts);
    if let Some(crc) = whole {
        call = call.header(checksum::META_HEADER, &checksum::stored_value(crc, size))?;
    }
    let headers = match d.client.send(call.body(RequestBody::Bytes(Bytes::from(body)))).await {
        Ok(resp) => resp.headers,
        Err(e) => {
            let e = conditional(e, &options.mode);
            // A retried commit refused by its condition may be refused because of the
            // commit an earlier attempt made, its answer lost: the block ids carry this
            // upload's tag, so a committed list of exactly these parts is that commit.
            if e.kind() != ErrorKind::PreconditionFailed || e.retries() == 0 {
                return Err(e);
            }
            committed_by_this_upload(d, upload, tag, parts).await.ok_or(e)?
        }
    };
    let mut o = written_from(&upload.container, &upload.key, size, &headers, &options);
    o.hash =
        options.content_md5.as_deref().filter(|m| is_md5_hex(m)).map(ObjectHash::md5).or(whole.map(ObjectHash::crc32c));
    Ok(o)
}

/// The headers of Get Block List (the blob's ETag and Last-Modified) when the blob's
/// committed blocks are exactly `parts` of this upload, in order; `None` when they are
/// not, or when that cannot be told.
async fn committed_by_this_upload(
    d: &AzureDriver,
    upload: &MultipartUpload,
    tag: &str,
    parts: &[CompletedPart],
) -> Option<http::HeaderMap> {
    if parts.is_empty() {
        return None;
    }
    let call = Call::new("GetBlockList", Method::GET, Some(&upload.container), Some(&upload.key))
        .query("comp", "blocklist")
        .query("blocklisttype", "committed");
    let resp = d.client.send(call).await.ok()?;
    let headers = resp.headers.clone();
    let list = xml::BlockList::parse(&resp.bytes().await.ok()?).ok()?;
    let ours = list.committed.len() == parts.len()
        && list
            .committed
            .iter()
            .zip(parts)
            .all(|((id, size), p)| *id == block_id(tag, p.part_number) && *size == p.size);
    ours.then_some(headers)
}

/// Aborting commits nothing, and nothing was committed: the blocks stay uncommitted
/// until the service discards them (a week later, or at the blob's next commit, which
/// names only its own blocks). Completing an upload this process aborted is refused.
pub(crate) async fn abort(_d: &AzureDriver, upload: &MultipartUpload) -> Result<()> {
    split_id(upload)?;
    mark_aborted(&upload.upload_id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ids_carry_the_options_and_block_ids_have_one_width() {
        let (tag, _) = new_upload_id("a/c/k", &PutOptions::default());
        assert_ne!(tag, new_upload_id("a/c/k", &PutOptions::default()).0);
        assert_eq!(B64.decode(block_id(&tag, 1)).unwrap().len(), B64.decode(block_id(&tag, 50_000)).unwrap().len());
        let up = MultipartUpload {
            container: "c".into(),
            key: "k".into(),
            upload_id: "nothex.".into(),
            initiated: None,
            checksum: None,
        };
        assert_eq!(split_id(&up).err().unwrap().kind(), ErrorKind::ObjectDoesNotExist);
    }
}
