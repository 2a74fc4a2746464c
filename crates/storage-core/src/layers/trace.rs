//! [`TracingLayer`]: one `tracing` span and event per call, and a [`CallRecord`] for an
//! optional observer, so callers can log, count and time what a driver does.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use tracing::Instrument;

use crate::capabilities::DriverInfo;
use crate::driver::Driver;
use crate::error::{ErrorKind, Result};
use crate::leftover::Leftover;
use crate::multipart::{CompleteOptions, CompletedPart, MultipartUpload, PartOptions};
use crate::object::{Container, DeleteOutcome, ListEntry, Object, Page};
use crate::options::{CopyOptions, GetOptions, ListOptions, PutOptions, SignedUrlOptions};
use crate::payload::{GetResult, Payload};

/// What one call through a [`TracingLayer`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallRecord {
    /// The [`Driver`] method's name: `get_object`, `put_part`, `list_page`...
    pub operation: &'static str,
    /// The container, when the call names one (the destination's for a copy).
    pub container: Option<String>,
    /// The key, when the call names one (the destination's for a copy, the upload's for
    /// the multipart calls); for a listing, its prefix.
    pub key: Option<String>,
    /// How long the call took. For `get_object`, until the metadata arrived: the body is
    /// read afterwards, at the caller's pace.
    pub duration: Duration,
    /// `None` when the call succeeded, else the error's kind.
    pub error: Option<ErrorKind>,
    /// Bytes of object data the call moves through the client, when known: a
    /// `put_object` or `put_part` payload of known length, the body of a `get_object`.
    pub bytes: Option<u64>,
}

impl CallRecord {
    /// Whether the call succeeded.
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }
}

/// A function a [`TracingLayer`] calls with the record of every call, after the call.
pub type Observer = Arc<dyn Fn(&CallRecord) + Send + Sync>;

/// Emits, for every call into the wrapped driver, a `tracing` span (target
/// `storage_core::layers::trace`, named `storage`, with the operation, container and key;
/// the driver's own events nest inside it) and, when the call returns, an event with the
/// duration, the outcome (the error's kind and message) and the bytes where known; then
/// hands a [`CallRecord`] to the observer, if one is set.
///
/// - Levels: `DEBUG` for successes and for the answers of normal control flow
///   (`ObjectDoesNotExist`, `NotModified`, `PreconditionFailed`), `WARN` for other errors.
/// - Nothing secret is recorded: signed URLs and CDN URLs are never logged (only that one
///   was made, for which key), nor payloads, metadata or options.
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// use storage_core::layers::{CallRecord, TracingLayer};
/// use storage_core::{Driver, DriverExt, ErrorKind, MemoryDriver, PutOptions};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let seen = Arc::new(Mutex::new(Vec::<CallRecord>::new()));
/// let sink = seen.clone();
/// let store = TracingLayer::new(Arc::new(MemoryDriver::new()))
///     .with_observer(Arc::new(move |r: &CallRecord| sink.lock().unwrap().push(r.clone())));
/// store.create_container("c").await?;
/// store.put_object("c", "k", "four".into(), &PutOptions::default()).await?;
/// assert!(store.head_object("c", "missing").await.is_err());
/// let seen = seen.lock().unwrap();
/// let ops: Vec<_> = seen.iter().map(|r| r.operation).collect();
/// assert_eq!(ops, ["create_container", "put_object", "head_object"]);
/// assert_eq!(seen[1].bytes, Some(4));
/// assert_eq!(seen[2].error, Some(ErrorKind::ObjectDoesNotExist));
/// # Ok::<(), storage_core::Error>(())
/// # }).unwrap();
/// ```
pub struct TracingLayer {
    inner: Arc<dyn Driver>,
    observer: Option<Observer>,
}

impl std::fmt::Debug for TracingLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracingLayer")
            .field("inner", &self.inner)
            .field("observer", &self.observer.as_ref().map(|_| "..."))
            .finish()
    }
}

impl TracingLayer {
    /// Wraps `inner`, tracing every call.
    pub fn new(inner: Arc<dyn Driver>) -> Self {
        TracingLayer { inner, observer: None }
    }

    /// Also hands the record of every call to `observer` (replacing any earlier one).
    pub fn with_observer(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Runs `call` inside a span, then emits the event and the record. `bytes` tells the
    /// bytes moved from the call's result (or `None`), `bytes_in` those known before.
    async fn traced<T, F>(
        &self,
        operation: &'static str,
        container: Option<&str>,
        key: Option<&str>,
        bytes_in: Option<u64>,
        bytes: impl FnOnce(&T) -> Option<u64>,
        call: F,
    ) -> Result<T>
    where
        F: Future<Output = Result<T>>,
    {
        let span = tracing::debug_span!("storage", operation, container, key);
        let start = Instant::now();
        let result = call.instrument(span.clone()).await;
        let duration = start.elapsed();
        let record = CallRecord {
            operation,
            container: container.map(str::to_owned),
            key: key.map(str::to_owned),
            duration,
            error: result.as_ref().err().map(|e| e.kind()),
            bytes: result.as_ref().ok().and_then(bytes).or(bytes_in),
        };
        let millis = duration.as_secs_f64() * 1000.0;
        span.in_scope(|| match &result {
            Ok(_) => tracing::debug!(duration_ms = %format_args!("{millis:.3}"), bytes = record.bytes, "storage call succeeded"),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ObjectDoesNotExist | ErrorKind::NotModified | ErrorKind::PreconditionFailed
                ) =>
            {
                tracing::debug!(
                    duration_ms = %format_args!("{millis:.3}"),
                    error = e.kind().as_str(),
                    detail = e.message(),
                    "storage call failed"
                )
            }
            Err(e) => {
                tracing::warn!(
                    duration_ms = %format_args!("{millis:.3}"),
                    error = e.kind().as_str(),
                    detail = e.message(),
                    "storage call failed"
                )
            }
        });
        if let Some(observer) = &self.observer {
            observer(&record);
        }
        result
    }
}

fn none<T>(_: &T) -> Option<u64> {
    None
}

// Every method written out, so a method added to `Driver` cannot bypass the layer.
#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl crate::layer::Layer for TracingLayer {
    fn inner(&self) -> &dyn Driver {
        &*self.inner
    }

    fn info(&self) -> &DriverInfo {
        self.inner.info()
    }

    async fn list_containers_page(&self, token: Option<String>) -> Result<Page<Container>> {
        self.traced("list_containers_page", None, None, None, none, self.inner.list_containers_page(token)).await
    }

    async fn get_container(&self, name: &str) -> Result<Container> {
        self.traced("get_container", Some(name), None, None, none, self.inner.get_container(name)).await
    }

    async fn create_container(&self, name: &str) -> Result<Container> {
        self.traced("create_container", Some(name), None, None, none, self.inner.create_container(name)).await
    }

    async fn delete_container(&self, name: &str) -> Result<()> {
        self.traced("delete_container", Some(name), None, None, none, self.inner.delete_container(name)).await
    }

    async fn list_page(
        &self,
        container: &str,
        options: &ListOptions,
        token: Option<String>,
    ) -> Result<Page<ListEntry>> {
        let call = self.inner.list_page(container, options, token);
        self.traced("list_page", Some(container), options.prefix.as_deref(), None, none, call).await
    }

    async fn head_object(&self, container: &str, key: &str) -> Result<Object> {
        self.traced("head_object", Some(container), Some(key), None, none, self.inner.head_object(container, key)).await
    }

    async fn get_object(&self, container: &str, key: &str, options: &GetOptions) -> Result<GetResult> {
        let call = self.inner.get_object(container, key, options);
        let body = |g: &GetResult| Some(g.range.end.saturating_sub(g.range.start));
        self.traced("get_object", Some(container), Some(key), None, body, call).await
    }

    async fn put_object(&self, container: &str, key: &str, payload: Payload, options: &PutOptions) -> Result<Object> {
        let length = payload.length();
        let call = self.inner.put_object(container, key, payload, options);
        self.traced("put_object", Some(container), Some(key), length, none, call).await
    }

    async fn delete_object(&self, container: &str, key: &str) -> Result<()> {
        let call = self.inner.delete_object(container, key);
        self.traced("delete_object", Some(container), Some(key), None, none, call).await
    }

    async fn delete_batch(&self, container: &str, keys: &[String]) -> Result<Vec<DeleteOutcome>> {
        let call = self.inner.delete_batch(container, keys);
        self.traced("delete_batch", Some(container), None, None, none, call).await
    }

    async fn copy_object(
        &self,
        src_container: &str,
        src_key: &str,
        dst_container: &str,
        dst_key: &str,
        options: &CopyOptions,
    ) -> Result<Object> {
        let call = self.inner.copy_object(src_container, src_key, dst_container, dst_key, options);
        let call = call.instrument(tracing::debug_span!("copy_source", src_container, src_key));
        self.traced("copy_object", Some(dst_container), Some(dst_key), None, none, call).await
    }

    async fn create_multipart(&self, container: &str, key: &str, options: &PutOptions) -> Result<MultipartUpload> {
        let call = self.inner.create_multipart(container, key, options);
        self.traced("create_multipart", Some(container), Some(key), None, none, call).await
    }

    async fn put_part(
        &self,
        upload: &MultipartUpload,
        part_number: u32,
        payload: Payload,
        options: &PartOptions,
    ) -> Result<CompletedPart> {
        let length = payload.length();
        let call = self.inner.put_part(upload, part_number, payload, options);
        let call = call.instrument(tracing::debug_span!("part", part_number));
        self.traced("put_part", Some(&upload.container), Some(&upload.key), length, none, call).await
    }

    async fn complete_multipart(
        &self,
        upload: &MultipartUpload,
        parts: &[CompletedPart],
        options: &CompleteOptions,
    ) -> Result<Object> {
        let call = self.inner.complete_multipart(upload, parts, options);
        self.traced("complete_multipart", Some(&upload.container), Some(&upload.key), None, none, call).await
    }

    async fn abort_multipart(&self, upload: &MultipartUpload) -> Result<()> {
        let call = self.inner.abort_multipart(upload);
        self.traced("abort_multipart", Some(&upload.container), Some(&upload.key), None, none, call).await
    }

    async fn list_multipart_uploads(&self, container: &str, prefix: Option<&str>) -> Result<Vec<MultipartUpload>> {
        let call = self.inner.list_multipart_uploads(container, prefix);
        self.traced("list_multipart_uploads", Some(container), prefix, None, none, call).await
    }

    async fn list_leftovers(&self, container: &str, prefix: Option<&str>) -> Result<Vec<Leftover>> {
        let call = self.inner.list_leftovers(container, prefix);
        self.traced("list_leftovers", Some(container), prefix, None, none, call).await
    }

    async fn remove_leftover(&self, leftover: &Leftover) -> Result<()> {
        let call = self.inner.remove_leftover(leftover);
        self.traced("remove_leftover", Some(&leftover.container), Some(&leftover.key), None, none, call).await
    }

    async fn signed_url(&self, container: &str, key: &str, options: &SignedUrlOptions) -> Result<String> {
        // The URL is a credential: the record says one was made, never what it is.
        let call = self.inner.signed_url(container, key, options);
        self.traced("signed_url", Some(container), Some(key), None, none, call).await
    }

    async fn enable_container_cdn(&self, container: &str) -> Result<()> {
        let call = self.inner.enable_container_cdn(container);
        self.traced("enable_container_cdn", Some(container), None, None, none, call).await
    }

    async fn enable_object_cdn(&self, container: &str, key: &str) -> Result<()> {
        let call = self.inner.enable_object_cdn(container, key);
        self.traced("enable_object_cdn", Some(container), Some(key), None, none, call).await
    }

    async fn get_container_cdn_url(&self, container: &str) -> Result<String> {
        let call = self.inner.get_container_cdn_url(container);
        self.traced("get_container_cdn_url", Some(container), None, None, none, call).await
    }

    async fn get_object_cdn_url(&self, container: &str, key: &str) -> Result<String> {
        // May be a presigned URL (S3): never logged.
        let call = self.inner.get_object_cdn_url(container, key);
        self.traced("get_object_cdn_url", Some(container), Some(key), None, none, call).await
    }
}
