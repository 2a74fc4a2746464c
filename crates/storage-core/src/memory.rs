//! [`MemoryDriver`]: every primitive, held in process memory. For tests, caches and as
//! the reference implementation the conformance suite is checked against.

use std::any::Any;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::capabilities::{Capabilities, DriverInfo, Limits};
use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};
use crate::hash::{md5_hex, multipart_etag};
use crate::kit::{chunked_stream, normalize_metadata, verify_content_md5};
use crate::listing::{ListCursor, PageBuilder};
use crate::multipart::{CompleteOptions, CompletedPart, MultipartUpload, PartOptions};
use crate::object::{Container, ListEntry, Object, ObjectHash, Page};
use crate::options::{CopyOptions, GetOptions, ListOptions, PutMode, PutOptions};
use crate::payload::{GetResult, Payload};
use crate::validate::{self, ContainerNameRules};

const NAME: &str = "memory";
/// Chunk size of the streams returned by `get_object`.
const READ_CHUNK: usize = 1 << 20;

#[derive(Debug, Clone)]
struct Stored {
    data: Bytes,
    object: Object,
}

#[derive(Debug)]
struct Upload {
    key: String,
    options: PutOptions,
    initiated: DateTime<Utc>,
    parts: BTreeMap<u32, (Bytes, String)>,
}

#[derive(Debug)]
struct Bucket {
    created: DateTime<Utc>,
    objects: BTreeMap<String, Stored>,
    uploads: BTreeMap<String, Upload>,
}

/// A driver that keeps everything in memory. Cloning the `Arc` shares the store.
#[derive(Debug)]
pub struct MemoryDriver {
    info: DriverInfo,
    state: RwLock<BTreeMap<String, Bucket>>,
    counter: AtomicU64,
}

impl Default for MemoryDriver {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryDriver {
    /// An empty store.
    pub fn new() -> Self {
        // Everything but what needs a server to hand out URLs (signed URLs, CDN).
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
        capabilities.copy_if_absent = true;
        capabilities.batch_delete = true;
        capabilities.multipart = true;
        capabilities.list_multipart = true;
        capabilities.user_metadata = true;
        capabilities.content_headers = true;
        capabilities.md5_hash = true;
        capabilities.versions = true;
        capabilities.refuses_nonempty_delete = true;
        capabilities.key_and_prefix = true;
        capabilities.verbatim_keys = true;
        capabilities.container_checked = true;
        capabilities.atomic_conditional_put = true;
        capabilities.atomic_overwrite = true;
        capabilities.multipart_md5 = true;
        capabilities.parallel_upload = true;
        capabilities.stable_etag = true;
        capabilities.atomic_multipart = true;
        let limits = Limits { min_part_size: 1, ..Limits::default() };
        MemoryDriver {
            info: DriverInfo { name: NAME.to_owned(), capabilities, limits, container_rules: ContainerNameRules::Any },
            state: RwLock::new(BTreeMap::new()),
            counter: AtomicU64::new(1),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<String, Bucket>> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<String, Bucket>> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn next_id(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    fn check_container(&self, name: &str) -> Result<()> {
        validate::container_name(name, self.info.container_rules).map_err(|e| e.with_driver(NAME))
    }

    fn check_key(&self, container: &str, key: &str) -> Result<()> {
        self.check_container(container)?;
        validate::object_key(key, self.info.limits.max_key_length)
            .map_err(|e| e.with_driver(NAME).with_container(container))
    }

    fn build_object(&self, container: &str, key: &str, data: &Bytes, options: &PutOptions, etag: String) -> Object {
        let mut o = Object::new(container, key, data.len() as u64);
        o.hash = Some(ObjectHash::md5(md5_hex(data)));
        o.etag = Some(etag);
        o.last_modified = Some(Utc::now());
        o.content_type = Some(options.content_type.clone().unwrap_or_else(|| "application/octet-stream".to_owned()));
        o.content_encoding = options.content_encoding.clone();
        o.cache_control = options.cache_control.clone();
        o.content_disposition = options.content_disposition.clone();
        o.metadata = normalize_metadata(&options.metadata);
        o.version = Some(self.next_id().to_string());
        o
    }

    /// Inserts under the write lock after checking the put mode: atomic conditional put.
    fn commit(&self, container: &str, key: &str, mode: &PutMode, data: Bytes, object: Object) -> Result<Object> {
        let mut state = self.write();
        let bucket = state.get_mut(container).ok_or_else(|| no_container(container))?;
        let current = bucket.objects.get(key).and_then(|s| s.object.etag.as_deref());
        mode.check(current).map_err(|e| e.or_context(NAME, Some(container), Some(key)))?;
        bucket.objects.insert(key.to_owned(), Stored { data, object: object.clone() });
        Ok(object)
    }

    fn find(&self, container: &str, key: &str) -> Result<Stored> {
        let state = self.read();
        let bucket = state.get(container).ok_or_else(|| no_container(container))?;
        bucket.objects.get(key).cloned().ok_or_else(|| no_object(container, key))
    }
}

fn no_container(name: &str) -> Error {
    Error::container_not_found(NAME, name)
}

fn no_object(container: &str, key: &str) -> Error {
    Error::object_not_found(NAME, container, key)
}

fn no_upload(upload: &MultipartUpload) -> Error {
    Error::new(ErrorKind::ObjectDoesNotExist, format!("multipart upload {:?} does not exist", upload.upload_id))
        .with_driver(NAME)
        .with_object(&upload.container, &upload.key)
        .with_provider_code("NoSuchUpload")
}

#[async_trait]
impl Driver for MemoryDriver {
    fn info(&self) -> &DriverInfo {
        &self.info
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    async fn list_containers_page(&self, _token: Option<String>) -> Result<Page<Container>> {
        let state = self.read();
        let items = state
            .iter()
            .map(|(name, b)| Container { name: name.clone(), created: Some(b.created), extra: BTreeMap::new() })
            .collect();
        Ok(Page::last(items))
    }

    async fn get_container(&self, name: &str) -> Result<Container> {
        self.check_container(name)?;
        let state = self.read();
        let b = state.get(name).ok_or_else(|| no_container(name))?;
        Ok(Container { name: name.to_owned(), created: Some(b.created), extra: BTreeMap::new() })
    }

    async fn create_container(&self, name: &str) -> Result<Container> {
        self.check_container(name)?;
        let mut state = self.write();
        if state.contains_key(name) {
            return Err(Error::new(ErrorKind::ContainerAlreadyExists, format!("container {name:?} already exists"))
                .with_driver(NAME)
                .with_container(name));
        }
        let created = Utc::now();
        state.insert(name.to_owned(), Bucket { created, objects: BTreeMap::new(), uploads: BTreeMap::new() });
        Ok(Container { name: name.to_owned(), created: Some(created), extra: BTreeMap::new() })
    }

    async fn delete_container(&self, name: &str) -> Result<()> {
        self.check_container(name)?;
        let mut state = self.write();
        let b = state.get(name).ok_or_else(|| no_container(name))?;
        if !b.objects.is_empty() {
            return Err(Error::new(
                ErrorKind::ContainerIsNotEmpty,
                format!("container {name:?} holds {} objects", b.objects.len()),
            )
            .with_driver(NAME)
            .with_container(name));
        }
        state.remove(name);
        Ok(())
    }

    async fn list_page(
        &self,
        container: &str,
        options: &ListOptions,
        token: Option<String>,
    ) -> Result<Page<ListEntry>> {
        self.check_container(container)?;
        let cursor = ListCursor::new(options, token.as_deref()).map_err(|e| e.with_driver(NAME))?;
        let mut page = PageBuilder::new(options, self.info.limits.max_page_size);
        let state = self.read();
        let bucket = state.get(container).ok_or_else(|| no_container(container))?;
        let lower = cursor.lower_bound();
        let start =
            if cursor.after.as_deref() == Some(lower) { Bound::Excluded(lower) } else { Bound::Included(lower) };
        for (key, stored) in bucket.objects.range::<str, _>((start, Bound::Unbounded)) {
            if cursor.past_prefix(key) {
                break;
            }
            if !cursor.admits(key) || page.absorbs(key) {
                continue;
            }
            if !page.push(stored.object.clone()) {
                break;
            }
        }
        Ok(page.finish())
    }

    async fn head_object(&self, container: &str, key: &str) -> Result<Object> {
        self.check_key(container, key)?;
        Ok(self.find(container, key)?.object)
    }

    async fn get_object(&self, container: &str, key: &str, options: &GetOptions) -> Result<GetResult> {
        self.check_key(container, key)?;
        let stored = self.find(container, key)?;
        if let Some(v) = &options.version
            && stored.object.version.as_deref() != Some(v.as_str())
        {
            return Err(no_object(container, key).with_provider_code("NoSuchVersion"));
        }
        options
            .check_conditions(stored.object.etag.as_deref(), stored.object.last_modified)
            .map_err(|e| e.or_context(NAME, Some(container), Some(key)))?;
        let range = match &options.range {
            Some(r) => r.resolve(stored.object.size).map_err(|e| e.or_context(NAME, Some(container), Some(key)))?,
            None => 0..stored.object.size,
        };
        let body = chunked_stream(stored.data.slice(range.start as usize..range.end as usize), READ_CHUNK);
        Ok(GetResult { object: stored.object, range, body })
    }

    async fn put_object(&self, container: &str, key: &str, payload: Payload, options: &PutOptions) -> Result<Object> {
        options.check_extras(self.info())?;
        self.check_key(container, key)?;
        if !self.read().contains_key(container) {
            return Err(no_container(container));
        }
        let data = payload.into_bytes().await.map_err(|e| e.or_context(NAME, Some(container), Some(key)))?;
        verify_content_md5(options.content_md5.as_deref(), &data)
            .map_err(|e| e.or_context(NAME, Some(container), Some(key)))?;
        let etag = md5_hex(&data);
        let object = self.build_object(container, key, &data, options, etag);
        self.commit(container, key, &options.mode, data, object)
    }

    async fn delete_object(&self, container: &str, key: &str) -> Result<()> {
        self.check_key(container, key)?;
        let mut state = self.write();
        let bucket = state.get_mut(container).ok_or_else(|| no_container(container))?;
        bucket.objects.remove(key);
        Ok(())
    }

    async fn copy_object(
        &self,
        src_container: &str,
        src_key: &str,
        dst_container: &str,
        dst_key: &str,
        options: &CopyOptions,
    ) -> Result<Object> {
        if let Some(replace) = &options.replace {
            replace.check_extras(self.info())?;
        }
        self.check_key(src_container, src_key)?;
        self.check_key(dst_container, dst_key)?;
        let src = self.find(src_container, src_key)?;
        if let Some(want) = &options.source_if_match
            && !src.object.etag.as_deref().is_some_and(|e| crate::object::etag_matches(want, e))
        {
            return Err(Error::new(ErrorKind::PreconditionFailed, "the source's ETag differs from source_if_match")
                .with_driver(NAME)
                .with_object(src_container, src_key));
        }
        let put = options.destination_options(&src.object);
        let etag = src.object.etag.clone().unwrap_or_else(|| md5_hex(&src.data));
        let mut object = self.build_object(dst_container, dst_key, &src.data, &put, etag);
        object.hash = src.object.hash.clone();
        self.commit(dst_container, dst_key, &options.mode, src.data, object)
    }

    async fn create_multipart(&self, container: &str, key: &str, options: &PutOptions) -> Result<MultipartUpload> {
        options.check_extras(self.info())?;
        self.check_key(container, key)?;
        let mut state = self.write();
        let bucket = state.get_mut(container).ok_or_else(|| no_container(container))?;
        let upload_id = format!("mpu-{}", self.next_id());
        let initiated = Utc::now();
        bucket.uploads.insert(
            upload_id.clone(),
            Upload { key: key.to_owned(), options: options.clone(), initiated, parts: BTreeMap::new() },
        );
        Ok(MultipartUpload {
            container: container.to_owned(),
            key: key.to_owned(),
            upload_id,
            initiated: Some(initiated),
            checksum: None,
        })
    }

    async fn put_part(
        &self,
        upload: &MultipartUpload,
        part_number: u32,
        payload: Payload,
        options: &PartOptions,
    ) -> Result<CompletedPart> {
        let _ = options;
        if part_number == 0 || part_number > self.info.limits.max_parts {
            return Err(Error::new(
                ErrorKind::InvalidRange,
                format!("part number {part_number} is outside 1..={}", self.info.limits.max_parts),
            )
            .with_driver(NAME)
            .with_object(&upload.container, &upload.key));
        }
        let data = payload.into_bytes().await?;
        let etag = md5_hex(&data);
        let size = data.len() as u64;
        let mut state = self.write();
        let bucket = state.get_mut(&upload.container).ok_or_else(|| no_container(&upload.container))?;
        let up = bucket.uploads.get_mut(&upload.upload_id).ok_or_else(|| no_upload(upload))?;
        up.parts.insert(part_number, (data, etag.clone()));
        Ok(CompletedPart::new(part_number, etag, size))
    }

    async fn complete_multipart(
        &self,
        upload: &MultipartUpload,
        parts: &[CompletedPart],
        options: &CompleteOptions,
    ) -> Result<Object> {
        // The whole MD5 is computed here from the parts.
        let _ = options;
        let invalid = |msg: String| {
            Error::new(ErrorKind::Backend, msg)
                .with_driver(NAME)
                .with_object(&upload.container, &upload.key)
                .with_provider_code("InvalidPart")
        };
        let (data, options, etag) = {
            let state = self.read();
            let bucket = state.get(&upload.container).ok_or_else(|| no_container(&upload.container))?;
            let up = bucket.uploads.get(&upload.upload_id).ok_or_else(|| no_upload(upload))?;
            if parts.is_empty() {
                return Err(invalid("a multipart upload needs at least one part".into()));
            }
            let mut buf = Vec::new();
            let mut md5s = Vec::new();
            let mut last = 0;
            for (i, p) in parts.iter().enumerate() {
                if p.part_number <= last {
                    return Err(invalid("parts must be listed in ascending order without repeats".into()));
                }
                last = p.part_number;
                let (data, etag) = up
                    .parts
                    .get(&p.part_number)
                    .ok_or_else(|| invalid(format!("part {} was never uploaded", p.part_number)))?;
                if !crate::object::etag_matches(&p.etag, etag) {
                    return Err(invalid(format!("part {} has a different ETag", p.part_number)));
                }
                if i + 1 < parts.len() && (data.len() as u64) < self.info.limits.min_part_size {
                    return Err(invalid(format!("part {} is smaller than the minimum part size", p.part_number)));
                }
                buf.extend_from_slice(data);
                md5s.push(etag.as_str());
            }
            (Bytes::from(buf), up.options.clone(), multipart_etag(&md5s))
        };
        let object = self.build_object(&upload.container, &upload.key, &data, &options, etag);
        let mut state = self.write();
        let bucket = state.get_mut(&upload.container).ok_or_else(|| no_container(&upload.container))?;
        if bucket.uploads.remove(&upload.upload_id).is_none() {
            return Err(no_upload(upload));
        }
        let current = bucket.objects.get(&upload.key).and_then(|s| s.object.etag.as_deref());
        options.mode.check(current).map_err(|e| e.or_context(NAME, Some(&upload.container), Some(&upload.key)))?;
        bucket.objects.insert(upload.key.clone(), Stored { data, object: object.clone() });
        Ok(object)
    }

    async fn abort_multipart(&self, upload: &MultipartUpload) -> Result<()> {
        let mut state = self.write();
        let bucket = state.get_mut(&upload.container).ok_or_else(|| no_container(&upload.container))?;
        bucket.uploads.remove(&upload.upload_id).ok_or_else(|| no_upload(upload))?;
        Ok(())
    }

    async fn list_multipart_uploads(&self, container: &str, prefix: Option<&str>) -> Result<Vec<MultipartUpload>> {
        self.check_container(container)?;
        let state = self.read();
        let bucket = state.get(container).ok_or_else(|| no_container(container))?;
        Ok(bucket
            .uploads
            .iter()
            .filter(|(_, u)| prefix.is_none_or(|p| u.key.starts_with(p)))
            .map(|(id, u)| MultipartUpload {
                container: container.to_owned(),
                key: u.key.clone(),
                upload_id: id.clone(),
                initiated: Some(u.initiated),
                checksum: None,
            })
            .collect())
    }
}
