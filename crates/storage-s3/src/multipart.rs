//! Multipart uploads: CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
//! AbortMultipartUpload, ListMultipartUploads.

use bytes::Bytes;
use http::Method;
use storage_core::kit::is_md5_hex;
use storage_core::{
    CompletedPart, Error, ErrorKind, HashAlgorithm, MultipartUpload, Object, ObjectHash, PartOptions, Payload,
    PutOptions, Result,
};
use storage_http::{RequestBody, http};

use crate::client::Call;
use crate::config::Checksum;
use crate::driver::{NAME, S3Driver};
use crate::errors::error_in_ok_body;
use crate::headers::{content_headers, md5_b64, md5_header, quote};
use crate::read;
use crate::xml::{self, CompleteMultipartUploadResult, InitiateMultipartUploadResult, ListMultipartUploadsResult};

/// CreateMultipartUpload, with the object's content headers and metadata.
pub(crate) async fn create(d: &S3Driver, container: &str, key: &str, options: &PutOptions) -> Result<MultipartUpload> {
    d.check_key(container, key)?;
    let mut call = Call::new("CreateMultipartUpload", Method::POST, Some(container), Some(key)).query("uploads", "");
    content_headers(&mut call.headers, options)?;
    let body = d.client.send(call).await?.bytes().await?;
    let upload_id = InitiateMultipartUploadResult::parse(&body)?.upload_id.ok_or_else(|| {
        Error::new(ErrorKind::Backend, "CreateMultipartUpload returned no UploadId")
            .with_driver(NAME)
            .with_object(container, key)
    })?;
    Ok(MultipartUpload {
        container: container.to_owned(),
        key: key.to_owned(),
        upload_id,
        initiated: Some(chrono::Utc::now()),
    })
}

/// UploadPart; the part's MD5 is sent (the caller's, or computed unless checksums are
/// off) and checked against the part ETag the server answers.
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
    // The caller's MD5 is sent as is: the server refuses the part if it does not match.
    if let Some(md5) = &options.content_md5 {
        call = call.header("content-md5", &md5_header(md5)?)?;
    } else if d.client.config.checksum != Checksum::None {
        call = call.header("content-md5", &md5_b64(&data))?;
    }
    let resp = d.client.send(call.body(RequestBody::Bytes(data))).await?;
    let etag = resp
        .header("etag")
        .map(|e| e.trim_matches('"').to_owned())
        .ok_or_else(|| Error::new(ErrorKind::Backend, "UploadPart returned no ETag"))?;
    // Not every S3-compatible server checks Content-MD5 on parts; a part ETag that is
    // an MD5 (it is, without SSE-KMS/SSE-C) is the server's digest of what it stored.
    if let Some(want) = &options.content_md5
        && is_md5_hex(&etag)
        && !etag.eq_ignore_ascii_case(want)
    {
        return Err(Error::new(
            ErrorKind::ObjectHashMismatch,
            format!("part {part_number}: the server stored data with MD5 {etag}, but the part's MD5 is {want}"),
        )
        .with_driver(NAME)
        .with_object(&upload.container, &upload.key));
    }
    Ok(CompletedPart { part_number, etag, size })
}

/// CompleteMultipartUpload. The object's ETag comes from the answer, whatever its root
/// element (moto's `<CompleteMultipartUploadResponse>` included); a server that leaves
/// it out gets a HEAD, so the caller always has the ETag.
pub(crate) async fn complete(d: &S3Driver, upload: &MultipartUpload, parts: &[CompletedPart]) -> Result<Object> {
    let mut body = String::with_capacity(64 + parts.len() * 96);
    body.push_str("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for p in parts {
        body.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
            p.part_number,
            xml::escape(&quote(&p.etag))
        ));
    }
    body.push_str("</CompleteMultipartUpload>");
    let call = Call::new("CompleteMultipartUpload", Method::POST, Some(&upload.container), Some(&upload.key))
        .query("uploadId", upload.upload_id.clone())
        .header("content-type", "application/xml")?
        .body(RequestBody::Bytes(Bytes::from(body)))
        .idempotent(true);
    let resp = d.client.send(call).await?.bytes().await?;
    if let Some(e) = error_in_ok_body(&resp, "CompleteMultipartUpload") {
        return Err(e.with_object(&upload.container, &upload.key));
    }
    let result = CompleteMultipartUploadResult::parse(&resp)?;
    let mut o = Object::new(&upload.container, &upload.key, parts.iter().map(|p| p.size).sum());
    o.last_modified = Some(chrono::Utc::now());
    o.etag = match result.etag {
        Some(e) => Some(e),
        None => {
            let done = read::head(d, &upload.container, &upload.key).await.map_err(|e| {
                e.with_hint("CompleteMultipartUpload answered without an ETag, and the HEAD that asks for it failed")
            })?;
            o.size = done.size;
            o.last_modified = done.last_modified.or(o.last_modified);
            Some(done.etag.ok_or_else(|| {
                Error::new(
                    ErrorKind::Backend,
                    "the server gave no ETag for the completed multipart upload, in its answer or on HEAD",
                )
                .with_driver(NAME)
                .with_object(&upload.container, &upload.key)
            })?)
        }
    };
    // A multipart ETag is S3's `md5-of-part-md5s-N`, not the object's MD5.
    o.hash = o.etag.as_deref().map(|e| ObjectHash { algorithm: HashAlgorithm::Opaque, value: e.to_owned() });
    Ok(o)
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
        }));
        match next {
            Some(m) if Some(&m) != marker.as_ref() => marker = Some(m),
            _ => return Ok(out),
        }
    }
}
