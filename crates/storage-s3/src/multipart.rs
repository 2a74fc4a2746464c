//! Multipart uploads: CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
//! AbortMultipartUpload, ListMultipartUploads.

use bytes::Bytes;
use http::Method;
use storage_core::hash::{is_md5_hex, md5_hex, multipart_etag};
use storage_core::kit::crc32c;
use storage_core::{
    CompletedPart, Error, ErrorKind, HashAlgorithm, MultipartUpload, Object, ObjectHash, PartOptions, Payload,
    PutOptions, Result,
};
use storage_http::{RequestBody, http};

use crate::checksum;
use crate::client::Call;
use crate::config::Checksum;
use crate::driver::{NAME, S3Driver};
use crate::errors::error_in_ok_body;
use crate::headers::{content_headers, md5_header, quote};
use crate::read;
use crate::write::crc32c_headers;
use crate::xml::{self, CompleteMultipartUploadResult, InitiateMultipartUploadResult, ListMultipartUploadsResult};

/// CreateMultipartUpload, with the object's content headers and metadata; with
/// `checksums` and `checksum = crc32c`, created with the CRC32C `FULL_OBJECT` checksum.
/// The upload keeps the algorithm its parts carry: CRC32C when the server acknowledged it
/// (its answer names it, as AWS and moto do), otherwise MD5 (s3s-fs and rclone ignore the
/// request headers and keep no checksum), so its parts are still checked.
pub(crate) async fn create(
    d: &S3Driver,
    container: &str,
    key: &str,
    options: &PutOptions,
    checksums: bool,
) -> Result<MultipartUpload> {
    d.check_key(container, key)?;
    let mut call = Call::new("CreateMultipartUpload", Method::POST, Some(container), Some(key)).query("uploads", "");
    content_headers(&mut call.headers, options)?;
    let config = d.client.config.checksum;
    if checksums && config == Checksum::Crc32c {
        call = call.header("x-amz-checksum-algorithm", "CRC32C")?.header(checksum::TYPE_HEADER, "FULL_OBJECT")?;
    }
    let resp = d.client.send(call).await?;
    let acknowledged = resp.header("x-amz-checksum-algorithm").is_some_and(|a| a.trim().eq_ignore_ascii_case("CRC32C"));
    let body = resp.bytes().await?;
    let upload_id = InitiateMultipartUploadResult::parse(&body)?.upload_id.ok_or_else(|| {
        Error::new(ErrorKind::Backend, "CreateMultipartUpload returned no UploadId")
            .with_driver(NAME)
            .with_object(container, key)
    })?;
    let checksum = match (checksums, config) {
        (false, _) | (_, Checksum::None) => None,
        (true, Checksum::Crc32c) if acknowledged => Some(HashAlgorithm::Crc32c),
        (true, _) => Some(HashAlgorithm::Md5),
    };
    if checksums && config == Checksum::Crc32c && !acknowledged {
        tracing::debug!(container, key, "the server ignored x-amz-checksum-algorithm: parts are checked with MD5");
    }
    Ok(MultipartUpload {
        container: container.to_owned(),
        key: key.to_owned(),
        upload_id,
        initiated: Some(chrono::Utc::now()),
        checksum,
    })
}

/// UploadPart with the checksum of the upload's algorithm: CRC32C (computed here, sent as
/// `x-amz-checksum-crc32c`, which S3 checks), or MD5 (the caller's, else computed here;
/// `Content-MD5`, and checked against the part ETag the server answers). A caller's MD5
/// is sent and checked in any case.
pub(crate) async fn put_part(
    d: &S3Driver,
    upload: &MultipartUpload,
    part_number: u32,
    payload: Payload,
    options: &PartOptions,
) -> Result<CompletedPart> {
    if part_number == 0 || part_number > d.info.limits.max_parts {
        return Err(Error::new(ErrorKind::InvalidRange, format!("part number {part_number} is outside 1..=10000"))
            .with_driver(NAME)
            .with_object(&upload.container, &upload.key));
    }
    let data = payload.into_bytes().await?;
    let size = data.len() as u64;
    let mut call = Call::new("UploadPart", Method::PUT, Some(&upload.container), Some(&upload.key))
        .query("partNumber", part_number.to_string())
        .query("uploadId", upload.upload_id.clone());
    let (crc, md5) = match upload.checksum {
        Some(HashAlgorithm::Crc32c) => (Some(crc32c(&data)), options.content_md5.clone()),
        Some(HashAlgorithm::Md5) => match &options.content_md5 {
            Some(md5) => (None, Some(md5.clone())),
            None => (None, Some(md5_off_thread(data.clone()).await?)),
        },
        _ => (None, options.content_md5.clone()),
    };
    // The MD5 is sent as is: the server refuses the part if it does not match it.
    if let Some(md5) = &md5 {
        call = call.header("content-md5", &md5_header(md5)?)?;
    }
    if let Some(crc) = crc {
        call = crc32c_headers(call, crc)?;
    }
    let resp = d.client.send(call.body(RequestBody::Bytes(data))).await?;
    let etag = resp
        .header("etag")
        .map(|e| e.trim_matches('"').to_owned())
        .ok_or_else(|| Error::new(ErrorKind::Backend, "UploadPart returned no ETag"))?;
    let context = |e: Error| e.with_object(&upload.container, &upload.key);
    if let (Some(sent), Some(answered)) = (crc, checksum::full_object(&resp.headers))
        && sent != answered
    {
        return Err(context(checksum::mismatch(&format!("part {part_number}"), sent, answered)));
    }
    // Not every S3-compatible server checks Content-MD5 on parts; a part ETag that is
    // an MD5 (it is, without SSE-KMS/SSE-C) is the server's digest of what it stored.
    if let Some(want) = &md5
        && is_md5_hex(&etag)
        && !etag.eq_ignore_ascii_case(want)
    {
        return Err(context(
            Error::new(
                ErrorKind::ObjectHashMismatch,
                format!("part {part_number}: the server stored data with MD5 {etag}, but the part's MD5 is {want}"),
            )
            .with_driver(NAME),
        ));
    }
    let checksum = match (crc, md5) {
        (Some(crc), _) => Some(ObjectHash::crc32c(crc)),
        (None, Some(md5)) => Some(ObjectHash::md5(md5)),
        (None, None) => None,
    };
    Ok(CompletedPart { checksum, ..CompletedPart::new(part_number, etag, size) })
}

/// MD5 (hex) of a part on tokio's blocking pool, so hashing runs beside the network.
async fn md5_off_thread(data: Bytes) -> Result<String> {
    tokio::task::spawn_blocking(move || md5_hex(&data))
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("a hashing task failed: {e}")).with_driver(NAME))
}

/// CompleteMultipartUpload. The object's ETag comes from the answer, whatever its root
/// element (moto's `<CompleteMultipartUploadResponse>` included); a server that leaves
/// it out gets a HEAD, so the caller always has the ETag.
///
/// A CRC32C upload sends each part's checksum and the whole object's, combined from the
/// parts' (S3 refuses a mismatch), and compares it with the checksum the server reports
/// for the object (in the answer, else on a HEAD): the object's hash is then that CRC32C.
/// An MD5 upload checks the multipart ETag (`md5-of-part-md5s-N`) against its parts'.
pub(crate) async fn complete(d: &S3Driver, upload: &MultipartUpload, parts: &[CompletedPart]) -> Result<Object> {
    let crc_upload = upload.checksum == Some(HashAlgorithm::Crc32c);
    let mut body = String::with_capacity(64 + parts.len() * 128);
    body.push_str("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for p in parts {
        body.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag>",
            p.part_number,
            xml::escape(&quote(&p.etag))
        ));
        if crc_upload && let Some(crc) = p.checksum.as_ref().and_then(ObjectHash::crc32c_value) {
            body.push_str(&format!("<ChecksumCRC32C>{}</ChecksumCRC32C>", checksum::to_b64(crc)));
        }
        body.push_str("</Part>");
    }
    body.push_str("</CompleteMultipartUpload>");
    let mut call = Call::new("CompleteMultipartUpload", Method::POST, Some(&upload.container), Some(&upload.key))
        .query("uploadId", upload.upload_id.clone())
        .header("content-type", "application/xml")?;
    let whole = if crc_upload { checksum::combined(parts) } else { None };
    if let Some(crc) = whole {
        call = call.header(checksum::HEADER, &checksum::to_b64(crc))?.header(checksum::TYPE_HEADER, "FULL_OBJECT")?;
    }
    let call = call.body(RequestBody::Bytes(Bytes::from(body))).idempotent(true);
    let resp = d.client.send(call).await?.bytes().await?;
    if let Some(e) = error_in_ok_body(&resp, "CompleteMultipartUpload") {
        return Err(e.with_object(&upload.container, &upload.key));
    }
    let result = CompleteMultipartUploadResult::parse(&resp)?;
    let mut o = Object::new(&upload.container, &upload.key, parts.iter().map(|p| p.size).sum());
    o.last_modified = Some(chrono::Utc::now());
    let answered = match (&result.checksum_type, &result.checksum_crc32c) {
        (Some(t), _) if t.eq_ignore_ascii_case("COMPOSITE") => None,
        (_, Some(v)) => checksum::from_b64(v),
        _ => None,
    };
    // What the server keeps, asked for when its answer leaves out the ETag or (for a
    // CRC32C upload) the checksum.
    let head = if result.etag.is_none() || (whole.is_some() && answered.is_none()) {
        let done = read::head(d, &upload.container, &upload.key).await.map_err(|e| {
            e.with_hint("CompleteMultipartUpload answered without an ETag or checksum, and the HEAD that asks failed")
        })?;
        o.size = done.size;
        o.last_modified = done.last_modified.or(o.last_modified);
        Some(done)
    } else {
        None
    };
    o.etag = match (result.etag, &head) {
        (Some(e), _) => Some(e),
        (None, Some(done)) => Some(done.etag.clone().ok_or_else(|| {
            Error::new(
                ErrorKind::Backend,
                "the server gave no ETag for the completed multipart upload, in its answer or on HEAD",
            )
            .with_driver(NAME)
            .with_object(&upload.container, &upload.key)
        })?),
        (None, None) => None,
    };
    let stored = answered.or_else(|| head.as_ref().and_then(|h| h.hash.as_ref()).and_then(ObjectHash::crc32c_value));
    // A multipart ETag is S3's `md5-of-part-md5s-N`, not the object's MD5.
    o.hash = o.etag.as_deref().map(|e| ObjectHash { algorithm: HashAlgorithm::Opaque, value: e.to_owned() });
    match (whole, stored) {
        (Some(sent), Some(kept)) if sent != kept => {
            return Err(
                checksum::mismatch("CompleteMultipartUpload", sent, kept).with_object(&upload.container, &upload.key)
            );
        }
        (Some(sent), Some(_)) => o.hash = Some(ObjectHash::crc32c(sent)),
        (Some(_), None) => {
            tracing::warn!(
                container = %upload.container,
                key = %upload.key,
                "the server acknowledged CRC32C at CreateMultipartUpload but reports no checksum for the object"
            );
        }
        (None, _) => check_multipart_etag(upload, parts, o.etag.as_deref())?,
    }
    Ok(o)
}

/// For an upload whose parts carry MD5s: the multipart ETag (`md5-of-part-md5s-N`) must
/// be the one they make (servers that answer another form of ETag are not checked).
fn check_multipart_etag(upload: &MultipartUpload, parts: &[CompletedPart], etag: Option<&str>) -> Result<()> {
    let Some((digest, count)) = etag.map(|e| e.trim_matches('"')).and_then(|e| e.split_once('-')) else {
        return Ok(());
    };
    let mut sorted: Vec<&CompletedPart> = parts.iter().collect();
    sorted.sort_by_key(|p| p.part_number);
    let md5s: Option<Vec<&str>> = sorted
        .iter()
        .map(|p| p.checksum.as_ref().filter(|c| c.algorithm == HashAlgorithm::Md5).map(|c| c.value.as_str()))
        .collect();
    let Some(md5s) = md5s else { return Ok(()) };
    if !is_md5_hex(digest) || count.parse::<usize>().ok() != Some(md5s.len()) {
        return Ok(());
    }
    let want = multipart_etag(&md5s);
    if want.eq_ignore_ascii_case(&format!("{digest}-{count}")) {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::ObjectHashMismatch,
        format!("the completed object's multipart ETag is {digest}-{count} but the parts sent make {want}"),
    )
    .with_driver(NAME)
    .with_object(&upload.container, &upload.key))
}

/// AbortMultipartUpload.
pub(crate) async fn abort(d: &S3Driver, upload: &MultipartUpload) -> Result<()> {
    let call = Call::new("AbortMultipartUpload", Method::DELETE, Some(&upload.container), Some(&upload.key))
        .query("uploadId", upload.upload_id.clone());
    d.client.send(call).await?;
    Ok(())
}

/// ListMultipartUploads, every page.
pub(crate) async fn list_uploads(d: &S3Driver, container: &str, prefix: Option<&str>) -> Result<Vec<MultipartUpload>> {
    d.check_bucket(container)?;
    let mut out = Vec::new();
    let mut marker: Option<(String, String)> = None;
    loop {
        let mut call = Call::new("ListMultipartUploads", Method::GET, Some(container), None).query("uploads", "");
        if let Some(p) = prefix {
            call = call.query("prefix", p);
        }
        if let Some((k, u)) = &marker {
            call = call.query("key-marker", k.clone()).query("upload-id-marker", u.clone());
        }
        let body = d.client.send(call).await?.bytes().await?;
        let page = ListMultipartUploadsResult::parse(&body)?;
        let next = page.next_markers();
        out.extend(page.uploads.into_iter().map(|u| MultipartUpload {
            container: container.to_owned(),
            key: u.key,
            upload_id: u.upload_id,
            initiated: u.initiated,
            checksum: listed_checksum(d, u.checksum_algorithm.as_deref()),
        }));
        match next {
            Some(m) if Some(&m) != marker.as_ref() => marker = Some(m),
            _ => return Ok(out),
        }
    }
}

/// The algorithm a listed upload's parts carry: the one the listing names (AWS's
/// `ChecksumAlgorithm`), else, as at creation without an acknowledgement, MD5.
fn listed_checksum(d: &S3Driver, listed: Option<&str>) -> Option<HashAlgorithm> {
    match (d.client.config.checksum, listed) {
        (_, Some(a)) if a.eq_ignore_ascii_case("CRC32C") => Some(HashAlgorithm::Crc32c),
        (Checksum::None, None) => None,
        _ => Some(HashAlgorithm::Md5),
    }
}
