//! Multipart uploads as block blobs: Put Block for each part (concurrently), Put Block
//! List to commit exactly the parts given, in order.
//!
//! Azure has no upload object: uncommitted blocks belong to the blob name. An upload id
//! here is a random tag (which prefixes every block id of the upload, so two uploads to
//! one name never mix blocks) followed by the object's content headers and metadata, so
//! the commit, which is where Azure takes them, needs no state kept between calls.
//! Nothing is visible or committed before Put Block List; aborting commits nothing, and
//! the service discards uncommitted blocks after a week (or at the blob's next Put Blob
//! / Put Block List).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use bytes::Bytes;
use http::Method;
use serde::{Deserialize, Serialize};
use storage_core::kit::{is_md5_hex, md5_hex};
use storage_core::{
    CompleteOptions, CompletedPart, Error, ErrorKind, MultipartUpload, Object, ObjectHash, PartOptions, Payload,
    PutMode, PutOptions, Result,
};
use storage_http::{RequestBody, http};

use crate::client::Call;
use crate::driver::{AzureDriver, NAME};
use crate::headers::{blob_headers, md5_b64_from_hex, md5_hex_from_b64, mode_headers};
use crate::write::{conditional, written_from};
use crate::{containers, xml};

/// Most blocks in one blob.
pub(crate) const MAX_BLOCKS: u32 = 50_000;

/// What the commit needs, carried in the upload id.
#[derive(Serialize, Deserialize, Default)]
struct Carried {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ct: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cd: Option<String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    m: std::collections::BTreeMap<String, String>,
    /// `*` for create-if-absent, an ETag for if-match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cond: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    md5: Option<String>,
}

impl Carried {
    fn options(&self) -> PutOptions {
        PutOptions {
            content_type: self.ct.clone(),
            content_encoding: self.ce.clone(),
            cache_control: self.cc.clone(),
            content_disposition: self.cd.clone(),
            metadata: self.m.clone(),
            content_md5: self.md5.clone(),
            mode: match self.cond.as_deref() {
                None => PutMode::Overwrite,
                Some("*") => PutMode::CreateIfAbsent,
                Some(e) => PutMode::IfMatch(e.to_owned()),
            },
        }
    }
}

/// A tag unique to one upload: 16 hex digits from the process, a counter, the clock and
/// the blob's name.
fn new_tag(account: &str, container: &str, key: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let seed = format!("{}{nanos}{account}/{container}/{key}", storage_core::kit::unique_tag());
    md5_hex(seed.as_bytes())[..16].to_owned()
}

fn split_id(upload: &MultipartUpload) -> Result<(&str, Carried)> {
    let bad = || {
        Error::new(ErrorKind::ObjectDoesNotExist, "this upload id was not made by the Azure driver")
            .with_driver(NAME)
            .with_object(&upload.container, &upload.key)
    };
    let (tag, rest) = upload.upload_id.split_once('.').ok_or_else(bad)?;
    if tag.len() != 16 || !tag.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let carried = if rest.is_empty() {
        Carried::default()
    } else {
        let json = B64URL.decode(rest).map_err(|_| bad())?;
        serde_json::from_slice(&json).map_err(|_| bad())?
    };
    Ok((tag, carried))
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
    // Refuse headers or metadata Azure would refuse now, not after every part was sent.
    blob_headers(&mut http::HeaderMap::new(), options)?;
    containers::get(d, container).await?;
    let carried = Carried {
        ct: options.content_type.clone(),
        ce: options.content_encoding.clone(),
        cc: options.cache_control.clone(),
        cd: options.content_disposition.clone(),
        m: options.metadata.clone(),
        cond: match &options.mode {
            PutMode::Overwrite => None,
            PutMode::CreateIfAbsent => Some("*".into()),
            PutMode::IfMatch(e) => Some(e.clone()),
        },
        md5: options.content_md5.clone(),
    };
    let json = serde_json::to_vec(&carried)
        .map_err(|e| Error::new(ErrorKind::Config, format!("the upload's options cannot be encoded: {e}")))?;
    let tag = new_tag(d.client.account(), container, key);
    let upload_id = if json == b"{}" { format!("{tag}.") } else { format!("{tag}.{}", B64URL.encode(json)) };
    Ok(MultipartUpload {
        container: container.to_owned(),
        key: key.to_owned(),
        upload_id,
        initiated: Some(chrono::Utc::now()),
    })
}

/// Put Block. The part's MD5 (the caller's) is sent as `Content-MD5`, which the service
/// checks; the MD5 the service answers is checked against it too.
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
    let (tag, _) = split_id(upload)?;
    let (body, size) = match payload {
        Payload::Stream { stream, length: Some(len) } => (RequestBody::stream(stream, len), len),
        p => {
            let b = p.into_bytes().await?;
            let len = b.len() as u64;
            (RequestBody::Bytes(b), len)
        }
    };
    let mut call = Call::new("PutBlock", Method::PUT, Some(&upload.container), Some(&upload.key))
        .query("comp", "block")
        .query("blockid", block_id(tag, part_number));
    if let Some(md5) = &options.content_md5 {
        call = call.header("content-md5", &md5_b64_from_hex(md5)?)?;
    }
    let resp = d.client.send(call.body(body)).await?;
    let got = resp.header("content-md5").and_then(md5_hex_from_b64);
    if let (Some(want), Some(got)) = (&options.content_md5, &got)
        && !want.eq_ignore_ascii_case(got)
    {
        return Err(Error::new(
            ErrorKind::ObjectHashMismatch,
            format!("part {part_number}: the service stored data with MD5 {got}, but the part's MD5 is {want}"),
        )
        .with_driver(NAME)
        .with_object(&upload.container, &upload.key));
    }
    let etag = got.unwrap_or_else(|| block_id(tag, part_number));
    Ok(CompletedPart { part_number, etag, size })
}

/// Put Block List with exactly `parts`, in the order given, and the object's headers,
/// metadata and put mode from the upload; the whole object's MD5 (the caller's at
/// create or at complete) is stored as `x-ms-blob-content-md5`, so reads report and
/// verify it.
pub(crate) async fn complete(
    d: &AzureDriver,
    upload: &MultipartUpload,
    parts: &[CompletedPart],
    complete: &CompleteOptions,
) -> Result<Object> {
    let (tag, carried) = split_id(upload)?;
    if was_aborted(&upload.upload_id) {
        return Err(Error::new(ErrorKind::ObjectDoesNotExist, "this upload was aborted")
            .with_driver(NAME)
            .with_object(&upload.container, &upload.key));
    }
    let mut options = carried.options();
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
    mode_headers(&mut call.headers, &options.mode)?;
    if let Some(md5) = &options.content_md5 {
        call = call.header("x-ms-blob-content-md5", &md5_b64_from_hex(md5)?)?;
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
    let mut o = written_from(&upload.container, &upload.key, parts.iter().map(|p| p.size).sum(), &headers, &options);
    o.hash = options.content_md5.as_deref().filter(|m| is_md5_hex(m)).map(ObjectHash::md5);
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

/// Uploads aborted in this process, so completing one is refused (the service has no
/// upload to close: its blocks stay uncommitted until discarded). Bounded: the oldest
/// entries are forgotten first.
static ABORTED: std::sync::Mutex<std::collections::VecDeque<String>> =
    std::sync::Mutex::new(std::collections::VecDeque::new());
const ABORTED_KEPT: usize = 4096;

fn was_aborted(upload_id: &str) -> bool {
    ABORTED.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().any(|id| id == upload_id)
}

/// Aborting commits nothing, and nothing was committed: the blocks stay uncommitted
/// until the service discards them (a week later, or at the blob's next commit, which
/// names only its own blocks). Completing an upload this process aborted is refused.
pub(crate) async fn abort(_d: &AzureDriver, upload: &MultipartUpload) -> Result<()> {
    split_id(upload)?;
    let mut aborted = ABORTED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !aborted.iter().any(|id| *id == upload.upload_id) {
        if aborted.len() >= ABORTED_KEPT {
            aborted.pop_front();
        }
        aborted.push_back(upload.upload_id.clone());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ids_carry_the_options_and_block_ids_have_one_width() {
        let tag = new_tag("a", "c", "k");
        assert_eq!(tag.len(), 16);
        assert_ne!(tag, new_tag("a", "c", "k"));
        assert_eq!(B64.decode(block_id(&tag, 1)).unwrap().len(), B64.decode(block_id(&tag, 50_000)).unwrap().len());
        let up =
            MultipartUpload { container: "c".into(), key: "k".into(), upload_id: "nothex.".into(), initiated: None };
        assert_eq!(split_id(&up).err().unwrap().kind(), ErrorKind::ObjectDoesNotExist);
    }
}
