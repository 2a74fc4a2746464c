//! [`S3Driver`]: the `Driver` implementation.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use http::Method;
use storage_core::validate::{self, ContainerNameRules};
use storage_core::{
    Capabilities, CompletedPart, Container, CopyOptions, DeleteOutcome, Driver, DriverInfo, Error, ErrorKind,
    GetOptions, GetResult, Limits, ListEntry, ListOptions, MultipartUpload, Object, ObjectHash, Page, PartOptions,
    Payload, PutMode, PutOptions, Result, SignedMethod, SignedUrlOptions,
};
use storage_http::{RequestBody, Resumable, http, resumable_body};

use crate::client::{Call, Client};
use crate::config::{Checksum, S3Config};
use crate::headers::{
    content_headers, crc32c_header, hash_from_etag, md5_b64, md5_header, mode_headers, object_from_headers, quote,
};
use crate::xml;

const NAME: &str = "s3";
/// Longest presigned URL lifetime S3 accepts.
const MAX_PRESIGN_SECS: u64 = 7 * 24 * 3600;
/// Largest object CopyObject copies in one request.
const MAX_SINGLE_COPY: u64 = 5 * 1024 * 1024 * 1024;
/// Part size of a multipart copy.
const COPY_PART: u64 = 512 * 1024 * 1024;

/// Amazon S3 or an S3-compatible store.
#[derive(Clone)]
pub struct S3Driver {
    client: Arc<Client>,
    info: DriverInfo,
}

impl std::fmt::Debug for S3Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Driver").field("config", &self.client.config).finish()
    }
}

impl S3Driver {
    /// A driver with `config`.
    pub fn new(config: S3Config) -> Result<Self> {
        // Not claimed: cdn (enabling a CDN is not an S3 call), versions (not implemented),
        // copy_if_absent (no S3 server here enforces a conditional copy), multipart_md5 (a
        // multipart object's ETag is S3's opaque `md5-of-part-md5s-N`, not its MD5).
        let mut capabilities = Capabilities::NONE;
        capabilities.list_containers = true;
        capabilities.manage_containers = true;
        capabilities.any_delimiter = true;
        capabilities.start_after = true;
        capabilities.ranges = true;
        capabilities.suffix_ranges = true;
        capabilities.conditional_get_etag = true;
        capabilities.conditional_get_time = true;
        capabilities.put_if_absent = true;
        capabilities.put_if_match = true;
        capabilities.put_content_md5 = true;
        capabilities.copy = true;
        capabilities.batch_delete = true;
        capabilities.multipart = true;
        capabilities.list_multipart = true;
        capabilities.signed_urls = true;
        // The object CDN URL is a presigned GET.
        capabilities.object_cdn_url = true;
        capabilities.user_metadata = true;
        capabilities.content_headers = true;
        capabilities.md5_hash = true;
        capabilities.refuses_nonempty_delete = true;
        capabilities.key_and_prefix = true;
        capabilities.verbatim_keys = true;
        capabilities.container_checked = true;
        capabilities.atomic_conditional_put = true;
        capabilities.parallel_upload = true;
        let info = DriverInfo {
            name: NAME.to_owned(),
            capabilities,
            limits: Limits::default(),
            container_rules: ContainerNameRules::S3,
        };
        Ok(S3Driver { client: Arc::new(Client::new(config)?), info })
    }

    /// A driver configured from the environment ([`S3Config::from_env`]).
    pub fn from_env() -> Result<Self> {
        Self::new(S3Config::from_env())
    }

    /// The configuration.
    pub fn config(&self) -> &S3Config {
        &self.client.config
    }

    /// The HTTP client, for requests this driver does not wrap.
    pub fn http_client(&self) -> &storage_http::HttpClient {
        &self.client.http
    }

    fn check_bucket(&self, bucket: &str) -> Result<()> {
        validate::container_name(bucket, self.info.container_rules).map_err(|e| e.with_driver(NAME))
    }

    fn check_key(&self, bucket: &str, key: &str) -> Result<()> {
        self.check_bucket(bucket)?;
        validate::object_key(key, self.info.limits.max_key_length)
            .map_err(|e| e.with_driver(NAME).with_container(bucket))
    }

    /// A 404 on HEAD carries no body: tell a missing bucket from a missing key.
    async fn refine_not_found(&self, e: Error, bucket: &str) -> Error {
        if e.kind() == ErrorKind::ObjectDoesNotExist
            && e.provider_code().is_none()
            && let Err(b) = self.get_container(bucket).await
            && b.kind() == ErrorKind::ContainerDoesNotExist
        {
            return b;
        }
        e
    }

    fn checksum_headers<'a>(&self, call: Call<'a>, data: &Bytes, options: &PutOptions) -> Result<Call<'a>> {
        if let Some(md5) = &options.content_md5 {
            // Checked here too: not every S3-compatible server verifies Content-MD5.
            storage_core::kit::verify_content_md5(Some(md5), data)?;
            return call.header("content-md5", &md5_header(md5)?);
        }
        match self.client.config.checksum {
            Checksum::Crc32c => call.header("x-amz-checksum-crc32c", &crc32c_header(data)),
            Checksum::Md5 => call.header("content-md5", &md5_b64(data)),
            Checksum::None => Ok(call),
        }
    }

    async fn copy_multipart(&self, src: &Object, dst_bucket: &str, dst_key: &str, put: &PutOptions) -> Result<Object> {
        let upload = self.create_multipart(dst_bucket, dst_key, put).await?;
        let source = copy_source(&src.container, &src.name);
        let result = async {
            let mut parts = Vec::new();
            let mut start = 0u64;
            let mut n = 1u32;
            while start < src.size {
                let end = (start + COPY_PART).min(src.size);
                let call = Call::new("UploadPartCopy", Method::PUT, Some(dst_bucket), Some(dst_key))
                    .query("partNumber", n.to_string())
                    .query("uploadId", upload.upload_id.clone())
                    .header("x-amz-copy-source", &source)?
                    .header("x-amz-copy-source-range", &format!("bytes={start}-{}", end - 1))?;
                let call = match &src.etag {
                    Some(e) => call.header("x-amz-copy-source-if-match", &quote(e))?,
                    None => call,
                };
                let body = self.client.send(call).await?.bytes().await?;
                let etag = xml::find_text(&body, "/CopyPartResult/ETag")?
                    .ok_or_else(|| Error::new(ErrorKind::Backend, "UploadPartCopy returned no ETag"))?;
                parts.push(CompletedPart {
                    part_number: n,
                    etag: etag.trim_matches('"').to_owned(),
                    size: end - start,
                });
                start = end;
                n += 1;
            }
            self.complete_multipart(&upload, &parts).await
        }
        .await;
        if result.is_err() {
            let _ = self.abort_multipart(&upload).await;
        }
        result
    }
}

fn copy_source(bucket: &str, key: &str) -> String {
    let mut s = String::with_capacity(bucket.len() + key.len() + 2);
    s.push('/');
    s.push_str(bucket);
    s.push('/');
    crate::sigv4::uri_encode_into(&mut s, key, true);
    s
}

fn http_date(t: chrono::DateTime<chrono::Utc>) -> String {
    httpdate::fmt_http_date(std::time::SystemTime::from(t))
}

/// Parses `bytes START-END/TOTAL`.
fn content_range(v: &str) -> Option<(u64, u64, u64)> {
    let rest = v.strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (s, e) = range.split_once('-')?;
    Some((s.parse().ok()?, e.parse().ok()?, total.parse().ok()?))
}

fn merge_listing(bucket: &str, r: xml::ListResult) -> Vec<ListEntry> {
    let mut out = Vec::with_capacity(r.objects.len() + r.prefixes.len());
    let mut objects = r.objects.into_iter().peekable();
    let mut prefixes = r.prefixes.into_iter().peekable();
    loop {
        let take_object = match (objects.peek(), prefixes.peek()) {
            (Some(o), Some(p)) => o.key.as_str() < p.as_str(),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return out,
        };
        if take_object {
            if let Some(o) = objects.next() {
                let mut obj = Object::new(bucket, o.key, o.size);
                obj.hash = o.etag.as_deref().map(hash_from_etag);
                obj.etag = o.etag;
                obj.last_modified = o.last_modified;
                out.push(ListEntry::Object(obj));
            }
        } else if let Some(p) = prefixes.next() {
            out.push(ListEntry::Prefix(p));
        }
    }
}

#[async_trait]
impl Driver for S3Driver {
    fn info(&self) -> &DriverInfo {
        &self.info
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    async fn list_containers_page(&self, token: Option<String>) -> Result<Page<Container>> {
        let mut call = Call::new("ListBuckets", Method::GET, None, None);
        if let Some(t) = token {
            call = call.query("continuation-token", t);
        }
        let body = self.client.send(call).await?.bytes().await?;
        let (buckets, next) = xml::parse_buckets(&body)?;
        let items =
            buckets.into_iter().map(|(name, created)| Container { name, created, extra: Default::default() }).collect();
        Ok(Page { items, next_token: next })
    }

    async fn get_container(&self, name: &str) -> Result<Container> {
        self.check_bucket(name)?;
        match self.client.send(Call::new("HeadBucket", Method::HEAD, Some(name), None)).await {
            Ok(resp) => {
                let mut c = Container::new(name);
                if let Some(r) = resp.header("x-amz-bucket-region") {
                    c.extra.insert("region".into(), r.to_owned());
                }
                Ok(c)
            }
            Err(e) if e.status() == Some(404) => {
                Err(Error::new(ErrorKind::ContainerDoesNotExist, format!("bucket {name:?} does not exist"))
                    .with_status(404)
                    .with_driver(NAME)
                    .with_container(name))
            }
            Err(e) => Err(e),
        }
    }

    async fn create_container(&self, name: &str) -> Result<Container> {
        self.check_bucket(name)?;
        // us-east-1 answers 200 to re-creating one's own bucket; Libcloud semantics want an error.
        match self.get_container(name).await {
            Ok(_) => {
                return Err(Error::new(ErrorKind::ContainerAlreadyExists, format!("bucket {name:?} already exists"))
                    .with_driver(NAME)
                    .with_container(name));
            }
            Err(e) if e.kind() == ErrorKind::ContainerDoesNotExist => {}
            Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                return Err(Error::new(
                    ErrorKind::ContainerAlreadyExists,
                    format!("bucket {name:?} exists and belongs to someone else"),
                )
                .with_driver(NAME)
                .with_container(name));
            }
            Err(e) => return Err(e),
        }
        let region = &self.client.config.region;
        let mut call = Call::new("CreateBucket", Method::PUT, Some(name), None);
        if region != "us-east-1" {
            let body = format!(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                xml::escape(region)
            );
            call = call.body(RequestBody::Bytes(Bytes::from(body)));
        }
        self.client.send(call).await?;
        Ok(Container::new(name))
    }

    async fn delete_container(&self, name: &str) -> Result<()> {
        self.check_bucket(name)?;
        self.client.send(Call::new("DeleteBucket", Method::DELETE, Some(name), None)).await?;
        Ok(())
    }

    async fn list_page(
        &self,
        container: &str,
        options: &ListOptions,
        token: Option<String>,
    ) -> Result<Page<ListEntry>> {
        self.check_bucket(container)?;
        let page = options.page_size.unwrap_or(1000).clamp(1, 1000);
        let mut call = Call::new("ListObjectsV2", Method::GET, Some(container), None)
            .query("list-type", "2")
            .query("encoding-type", "url")
            .query("max-keys", page.to_string());
        if let Some(p) = options.prefix.as_deref().filter(|p| !p.is_empty()) {
            call = call.query("prefix", p);
        }
        if let Some(d) = options.delimiter.as_deref().filter(|d| !d.is_empty()) {
            call = call.query("delimiter", d);
        }
        if let Some(s) = &options.start_after {
            call = call.query("start-after", s.clone());
        }
        if let Some(t) = token {
            call = call.query("continuation-token", t);
        }
        let body = self.client.send(call).await?.bytes().await?;
        let result = xml::parse_list(&body).map_err(|e| e.or_context(NAME, Some(container), None))?;
        let next_token = if result.truncated { result.next_token.clone() } else { None };
        Ok(Page { items: merge_listing(container, result), next_token })
    }

    async fn head_object(&self, container: &str, key: &str) -> Result<Object> {
        self.check_key(container, key)?;
        match self.client.send(Call::new("HeadObject", Method::HEAD, Some(container), Some(key))).await {
            Ok(resp) => {
                let size = resp.content_length().unwrap_or(0);
                Ok(object_from_headers(container, key, &resp.headers, size))
            }
            Err(e) => Err(self.refine_not_found(e, container).await),
        }
    }

    async fn get_object(&self, container: &str, key: &str, options: &GetOptions) -> Result<GetResult> {
        self.check_key(container, key)?;
        let mut call = Call::new("GetObject", Method::GET, Some(container), Some(key));
        if let Some(r) = &options.range {
            r.validate().map_err(|e| e.or_context(NAME, Some(container), Some(key)))?;
            call = call.header("range", &r.header_value())?;
        }
        if let Some(e) = &options.if_match {
            call = call.header("if-match", &quote(e))?;
        }
        if let Some(e) = &options.if_none_match {
            call = call.header("if-none-match", &quote(e))?;
        }
        if let Some(t) = options.if_modified_since {
            call = call.header("if-modified-since", &http_date(t))?;
        }
        if let Some(t) = options.if_unmodified_since {
            call = call.header("if-unmodified-since", &http_date(t))?;
        }
        if let Some(v) = &options.version {
            call = call.query("versionId", v.clone());
        }
        let request = self.client.request(&call)?;
        let signer = Arc::new(self.client.signer(Some(container)));
        let resp = match self.client.send_built(call, request.clone()).await {
            Ok(r) => r,
            Err(e) => return Err(self.refine_not_found(e, container).await),
        };
        let (start, end, size) = match resp.header("content-range").and_then(content_range) {
            Some((s, e, total)) if resp.status.as_u16() == 206 => (s, e + 1, total),
            _ => {
                let len = resp.content_length().unwrap_or(0);
                (0, len, len)
            }
        };
        let object = object_from_headers(container, key, &resp.headers, size);
        let resumable = Resumable {
            client: self.client.http.clone(),
            request,
            signer,
            start,
            end,
            etag: object.etag.clone(),
            max_resumes: 5,
        };
        let body = if start == end { futures::stream::empty().boxed() } else { resumable_body(resp, resumable) };
        Ok(GetResult { object, range: start..end, body })
    }

    async fn put_object(&self, container: &str, key: &str, payload: Payload, options: &PutOptions) -> Result<Object> {
        self.check_key(container, key)?;
        let mut call = Call::new("PutObject", Method::PUT, Some(container), Some(key));
        content_headers(&mut call.headers, options)?;
        mode_headers(&mut call.headers, &options.mode)?;
        let (body, size) = match payload {
            Payload::Bytes(b) => {
                let len = b.len() as u64;
                call = self.checksum_headers(call, &b, options)?;
                (RequestBody::Bytes(b), len)
            }
            Payload::Stream { stream, length: Some(len) } => {
                if let Some(md5) = &options.content_md5 {
                    call = call.header("content-md5", &md5_header(md5)?)?;
                }
                (RequestBody::stream(stream, len), len)
            }
            p @ Payload::Stream { length: None, .. } => {
                let b = p.into_bytes().await?;
                let len = b.len() as u64;
                call = self.checksum_headers(call, &b, options)?;
                (RequestBody::Bytes(b), len)
            }
        };
        let resp = self.client.send(call.body(body)).await?;
        let mut o = Object::new(container, key, size);
        o.etag = resp.header("etag").map(|e| e.trim_matches('"').to_owned());
        o.hash = o.etag.as_deref().map(hash_from_etag);
        o.version = resp.header("x-amz-version-id").filter(|v| *v != "null").map(str::to_owned);
        o.last_modified = Some(chrono::Utc::now());
        o.content_type = Some(options.content_type.clone().unwrap_or_else(|| "application/octet-stream".into()));
        o.content_encoding = options.content_encoding.clone();
        o.cache_control = options.cache_control.clone();
        o.content_disposition = options.content_disposition.clone();
        o.metadata = storage_core::kit::normalize_metadata(&options.metadata);
        Ok(o)
    }

    async fn delete_object(&self, container: &str, key: &str) -> Result<()> {
        self.check_key(container, key)?;
        self.client.send(Call::new("DeleteObject", Method::DELETE, Some(container), Some(key))).await?;
        Ok(())
    }

    async fn delete_batch(&self, container: &str, keys: &[String]) -> Result<Vec<DeleteOutcome>> {
        self.check_bucket(container)?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut outcomes: Vec<DeleteOutcome> = Vec::with_capacity(keys.len());
        let mut sendable = Vec::with_capacity(keys.len());
        for k in keys {
            match validate::object_key(k, self.info.limits.max_key_length) {
                Ok(()) if !k.chars().any(|c| c.is_control() && c != '\t' && c != '\n' && c != '\r') => sendable.push(k),
                Ok(()) => outcomes.push(DeleteOutcome {
                    key: k.clone(),
                    result: Err(Error::new(
                        ErrorKind::InvalidObjectName,
                        "the key cannot be sent in XML; delete it alone",
                    )
                    .with_object(container, k)),
                }),
                Err(e) => outcomes.push(DeleteOutcome { key: k.clone(), result: Err(e.with_container(container)) }),
            }
        }
        if sendable.is_empty() {
            return Ok(outcomes);
        }
        let mut body = String::with_capacity(64 + sendable.len() * 48);
        body.push_str("<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>");
        for k in &sendable {
            body.push_str("<Object><Key>");
            body.push_str(&xml::escape(k));
            body.push_str("</Key></Object>");
        }
        body.push_str("</Delete>");
        let body = Bytes::from(body);
        let call = Call::new("DeleteObjects", Method::POST, Some(container), None)
            .query("delete", "")
            .header("content-md5", &md5_b64(&body))?
            .header("content-type", "application/xml")?
            .body(RequestBody::Bytes(body))
            .idempotent(true);
        let resp = self.client.send(call).await?.bytes().await?;
        let failed = xml::parse_delete_errors(&resp)?;
        for k in sendable {
            let result = match failed.iter().find(|(fk, _, _)| fk == k) {
                Some((_, code, msg)) if code == "NoSuchKey" => {
                    let _ = msg;
                    Ok(())
                }
                Some((_, code, msg)) => {
                    let kind = crate::errors::kind_for_code(code).unwrap_or(ErrorKind::Backend);
                    Err(Error::new(kind, format!("DeleteObjects failed for this key: {code}: {msg}"))
                        .with_provider_code(code.as_str())
                        .with_driver(NAME)
                        .with_object(container, k.as_str()))
                }
                None => Ok(()),
            };
            outcomes.push(DeleteOutcome { key: k.clone(), result });
        }
        Ok(outcomes)
    }

    async fn copy_object(
        &self,
        src_container: &str,
        src_key: &str,
        dst_container: &str,
        dst_key: &str,
        options: &CopyOptions,
    ) -> Result<Object> {
        self.check_key(src_container, src_key)?;
        self.check_key(dst_container, dst_key)?;
        if options.mode != PutMode::Overwrite {
            return Err(self.unsupported("conditional server-side copy").with_object(dst_container, dst_key));
        }
        let src = self.head_object(src_container, src_key).await?;
        if let Some(want) = &options.source_if_match
            && !src.etag.as_deref().is_some_and(|e| storage_core::object::etag_matches(want, e))
        {
            return Err(Error::new(ErrorKind::PreconditionFailed, "the source's ETag differs from source_if_match")
                .with_driver(NAME)
                .with_object(src_container, src_key));
        }
        let put = options.destination_options(&src);
        if src.size > MAX_SINGLE_COPY {
            return self.copy_multipart(&src, dst_container, dst_key, &put).await;
        }
        let mut call = Call::new("CopyObject", Method::PUT, Some(dst_container), Some(dst_key))
            .header("x-amz-copy-source", &copy_source(src_container, src_key))?;
        if let Some(e) = options.source_if_match.as_ref().or(src.etag.as_ref()) {
            call = call.header("x-amz-copy-source-if-match", &quote(e))?;
        }
        if options.replace.is_some() {
            call = call.header("x-amz-metadata-directive", "REPLACE")?;
            content_headers(&mut call.headers, &put)?;
        }
        let body = self.client.send(call).await?.bytes().await?;
        if let Some(err) = xml::parse_error(&body) {
            let code = err.code.unwrap_or_default();
            let kind = crate::errors::kind_for_code(&code).unwrap_or(ErrorKind::Backend);
            return Err(Error::new(kind, format!("CopyObject failed: {code}: {}", err.message.unwrap_or_default()))
                .with_provider_code(code)
                .with_driver(NAME)
                .with_object(dst_container, dst_key));
        }
        let mut o = Object::new(dst_container, dst_key, src.size);
        o.etag = xml::find_text(&body, "/CopyObjectResult/ETag")?.map(|e| e.trim_matches('"').to_owned());
        o.hash = o.etag.as_deref().map(hash_from_etag);
        o.last_modified = xml::find_text(&body, "/CopyObjectResult/LastModified")?.as_deref().and_then(xml::parse_time);
        o.content_type = put.content_type;
        o.content_encoding = put.content_encoding;
        o.cache_control = put.cache_control;
        o.content_disposition = put.content_disposition;
        o.metadata = storage_core::kit::normalize_metadata(&put.metadata);
        Ok(o)
    }

    async fn create_multipart(&self, container: &str, key: &str, options: &PutOptions) -> Result<MultipartUpload> {
        self.check_key(container, key)?;
        let mut call =
            Call::new("CreateMultipartUpload", Method::POST, Some(container), Some(key)).query("uploads", "");
        content_headers(&mut call.headers, options)?;
        let body = self.client.send(call).await?.bytes().await?;
        let upload_id = xml::find_text(&body, "/InitiateMultipartUploadResult/UploadId")?.ok_or_else(|| {
            Error::new(ErrorKind::Backend, "CreateMultipartUpload returned no UploadId").with_object(container, key)
        })?;
        Ok(MultipartUpload {
            container: container.to_owned(),
            key: key.to_owned(),
            upload_id,
            initiated: Some(chrono::Utc::now()),
        })
    }

    async fn put_part(
        &self,
        upload: &MultipartUpload,
        part_number: u32,
        payload: Payload,
        options: &PartOptions,
    ) -> Result<CompletedPart> {
        if part_number == 0 || part_number > self.info.limits.max_parts {
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
        } else if self.client.config.checksum != Checksum::None {
            call = call.header("content-md5", &md5_b64(&data))?;
        }
        let resp = self.client.send(call.body(RequestBody::Bytes(data))).await?;
        let etag = resp
            .header("etag")
            .map(|e| e.trim_matches('"').to_owned())
            .ok_or_else(|| Error::new(ErrorKind::Backend, "UploadPart returned no ETag"))?;
        // Not every S3-compatible server checks Content-MD5 on parts; a part ETag that is
        // an MD5 (it is, without SSE-KMS/SSE-C) is the server's digest of what it stored.
        if let Some(want) = &options.content_md5
            && storage_core::hash::is_md5_hex(&etag)
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

    async fn complete_multipart(&self, upload: &MultipartUpload, parts: &[CompletedPart]) -> Result<Object> {
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
        let resp = self.client.send(call).await?.bytes().await?;
        if let Some(err) = xml::parse_error(&resp) {
            let code = err.code.unwrap_or_default();
            let kind = crate::errors::kind_for_code(&code).unwrap_or(ErrorKind::Backend);
            return Err(Error::new(
                kind,
                format!("CompleteMultipartUpload failed: {code}: {}", err.message.unwrap_or_default()),
            )
            .with_provider_code(code)
            .with_driver(NAME)
            .with_object(&upload.container, &upload.key));
        }
        let mut o = Object::new(&upload.container, &upload.key, parts.iter().map(|p| p.size).sum());
        o.etag = xml::find_text(&resp, "/CompleteMultipartUploadResult/ETag")?.map(|e| e.trim_matches('"').to_owned());
        o.hash = o
            .etag
            .as_deref()
            .map(|e| ObjectHash { algorithm: storage_core::HashAlgorithm::Opaque, value: e.to_owned() });
        o.last_modified = Some(chrono::Utc::now());
        Ok(o)
    }

    async fn abort_multipart(&self, upload: &MultipartUpload) -> Result<()> {
        let call = Call::new("AbortMultipartUpload", Method::DELETE, Some(&upload.container), Some(&upload.key))
            .query("uploadId", upload.upload_id.clone());
        self.client.send(call).await?;
        Ok(())
    }

    async fn list_multipart_uploads(&self, container: &str, prefix: Option<&str>) -> Result<Vec<MultipartUpload>> {
        self.check_bucket(container)?;
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
            let body = self.client.send(call).await?.bytes().await?;
            let (uploads, next) = xml::parse_uploads(&body)?;
            out.extend(uploads.into_iter().map(|(key, upload_id, initiated)| MultipartUpload {
                container: container.to_owned(),
                key,
                upload_id,
                initiated,
            }));
            match next {
                Some(m) if Some(&m) != marker.as_ref() => marker = Some(m),
                _ => return Ok(out),
            }
        }
    }

    async fn signed_url(&self, container: &str, key: &str, options: &SignedUrlOptions) -> Result<String> {
        self.check_key(container, key)?;
        let secs = options.expires_in.as_secs();
        if secs == 0 || secs > MAX_PRESIGN_SECS {
            return Err(Error::new(
                ErrorKind::Config,
                format!("a presigned URL lives 1 s to 7 days; {secs} s was asked"),
            )
            .with_driver(NAME));
        }
        let Some(provider) = &self.client.core.provider else {
            let (host, path) = self.client.target(Some(container), Some(key));
            return Ok(format!("{}://{host}{path}", self.client.endpoint.scheme));
        };
        let creds = provider.credentials().await?;
        let signer = self.client.signer(Some(container));
        let (host, path) = self.client.target(Some(container), Some(key));
        let input = crate::sigv4::SigningInput {
            access_key_id: &creds.access_key_id,
            secret: &creds.secret_access_key,
            session_token: creds.session_token.as_deref(),
            region: &signer.region,
            service: "s3",
            time: chrono::Utc::now(),
        };
        let method = match options.method {
            SignedMethod::Get => "GET",
            SignedMethod::Put => "PUT",
            SignedMethod::Delete => "DELETE",
        };
        let query = crate::sigv4::presign_query(&input, &self.client.core.cache, method, &host, &path, &[], secs);
        Ok(format!("{}://{host}{path}?{query}", self.client.endpoint.scheme))
    }

    async fn get_object_cdn_url(&self, container: &str, key: &str) -> Result<String> {
        self.signed_url(container, key, &SignedUrlOptions::default()).await
    }
}
