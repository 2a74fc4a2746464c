//! The [`Driver`] trait: the primitives a backend implements.

use std::any::Any;
use std::pin::Pin;
use std::task::Poll;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, Stream, StreamExt};

use crate::capabilities::DriverInfo;
use crate::error::{Error, ErrorKind, Result};
use crate::leftover::{Leftover, LeftoverKind};
use crate::multipart::{CompleteOptions, CompletedPart, MultipartUpload, PartOptions};
use crate::object::{Container, DeleteOutcome, ListEntry, Object, Page};
use crate::options::{CopyOptions, GetOptions, ListOptions, PutOptions, SignedUrlOptions};
use crate::payload::{GetResult, Payload};

/// A lazy stream of listing entries.
pub type ListStream<'a> = BoxStream<'a, Result<ListEntry>>;

/// A storage backend. Every method is one request's worth of work; everything built on
/// top (uploads of files, downloads to paths, folder operations...) lives in
/// [`crate::DriverExt`] and works for any implementation, third-party ones included.
///
/// Methods a backend cannot provide keep their default, which returns
/// [`crate::ErrorKind::NotSupported`] naming the driver and the operation.
///
/// Implementations validate container names and keys (see [`crate::validate`]) before
/// any I/O, and map their backend's answers onto [`crate::ErrorKind`].
#[async_trait]
pub trait Driver: Send + Sync + std::fmt::Debug + 'static {
    /// Name, capabilities and limits.
    fn info(&self) -> &DriverInfo;

    /// The concrete driver, to reach its native client.
    fn as_any(&self) -> &dyn Any;

    /// `NotSupported` for `operation` on this driver.
    fn unsupported(&self, operation: &str) -> Error {
        Error::not_supported(&self.info().name, operation)
    }

    // ---- containers -------------------------------------------------------------------

    /// One page of containers.
    ///
    /// - Capability: `list_containers` (the default is `NotSupported`).
    /// - `token` is `None` for the first page, then the previous page's `next`; the last
    ///   page has no `next`.
    /// - Containers come in name order.
    async fn list_containers_page(&self, token: Option<String>) -> Result<Page<Container>> {
        let _ = token;
        Err(self.unsupported("listing containers"))
    }

    /// All containers, fetched one page at a time as the stream is polled (built on
    /// [`Driver::list_containers_page`]; capability `list_containers`).
    fn list_containers(&self) -> BoxStream<'_, Result<Container>> {
        paginate(move |token| self.list_containers_page(token))
    }

    /// A container's details.
    ///
    /// - Every driver implements it (no capability).
    /// - `ContainerDoesNotExist` if absent; `InvalidContainerName` before any request if
    ///   the name breaks the driver's rules.
    async fn get_container(&self, name: &str) -> Result<Container>;

    /// Creates a container.
    ///
    /// - Capability: `manage_containers`.
    /// - `ContainerAlreadyExists` if it exists (whoever owns it);
    ///   `InvalidContainerName` before any request for a name the backend would refuse.
    async fn create_container(&self, name: &str) -> Result<Container> {
        let _ = name;
        Err(self.unsupported("creating containers"))
    }

    /// Deletes an empty container.
    ///
    /// - Capability: `manage_containers`.
    /// - `ContainerIsNotEmpty` if it holds objects (where `refuses_nonempty_delete`; some
    ///   servers delete it anyway); `ContainerDoesNotExist` if absent.
    async fn delete_container(&self, name: &str) -> Result<()> {
        let _ = name;
        Err(self.unsupported("deleting containers"))
    }

    // ---- objects ----------------------------------------------------------------------

    /// One page of a listing, continuing from `token` (from the previous page).
    ///
    /// - Every driver implements it. `options`: prefix, delimiter (`/`; any string with
    ///   `any_delimiter`), start-after (with `start_after`), page size (capped at
    ///   `limits.max_page_size`).
    /// - Keys in bytewise order; with a delimiter, common prefixes are interleaved in
    ///   order, each once. [`crate::listing::ListCursor`] implements these rules for a
    ///   driver that lists from a sorted source.
    /// - `ContainerDoesNotExist` for a missing container.
    async fn list_page(&self, container: &str, options: &ListOptions, token: Option<String>)
    -> Result<Page<ListEntry>>;

    /// A lazy listing: pages are fetched as the stream is polled. Keys come in bytewise
    /// order; with a delimiter, common prefixes are interleaved in order.
    fn list_objects<'a>(&'a self, container: &'a str, options: ListOptions) -> ListStream<'a> {
        paginate(move |token| {
            let options = options.clone();
            async move { self.list_page(container, &options, token).await }
        })
    }

    /// An object's metadata (size, hash, ETag, time, content headers, user metadata).
    ///
    /// - Every driver implements it.
    /// - `ObjectDoesNotExist` if absent; `ContainerDoesNotExist` for a missing container
    ///   (with `container_checked`); `InvalidObjectName` before any request for a key
    ///   that is not valid.
    async fn head_object(&self, container: &str, key: &str) -> Result<Object>;

    /// Reads an object (or a range of it): its metadata and a body stream.
    ///
    /// - Every driver implements it. Ranges: `Bounded`/`From` with `ranges`, `Suffix`
    ///   with `suffix_ranges`; a range starting past the end is `InvalidRange`, one
    ///   reaching past it is clamped.
    /// - Conditions: if-match / if-none-match (`conditional_get_etag`), if-modified /
    ///   if-unmodified-since (`conditional_get_time`): `PreconditionFailed` or
    ///   `NotModified`. A version (with `versions`).
    /// - `ObjectDoesNotExist` if absent. A body error mid-stream is an `Io` item.
    async fn get_object(&self, container: &str, key: &str, options: &GetOptions) -> Result<GetResult>;

    /// Writes an object in one request; readers see the old object or the new one,
    /// never a mix.
    ///
    /// - Every driver implements it, up to `limits.max_single_put` bytes.
    /// - `options.mode`: overwrite; create-if-absent (`put_if_absent`; atomic with
    ///   `atomic_conditional_put`) and if-match (`put_if_match`), else
    ///   `PreconditionFailed`.
    /// - `options.content_md5`: verified before the write commits with `put_content_md5`
    ///   (`ObjectHashMismatch`, nothing written); content headers (`content_headers`)
    ///   and user metadata (`user_metadata`) are stored.
    /// - `ContainerDoesNotExist` for a missing container (with `container_checked`).
    async fn put_object(&self, container: &str, key: &str, payload: Payload, options: &PutOptions) -> Result<Object>;

    /// Deletes an object.
    ///
    /// - Every driver implements it. Deleting a missing object succeeds (as in S3);
    ///   callers that must know check with [`Driver::head_object`] first.
    /// - `ContainerDoesNotExist` for a missing container (with `container_checked`).
    async fn delete_object(&self, container: &str, key: &str) -> Result<()>;

    /// Deletes several objects (at most `limits.max_batch_delete`), one outcome per key.
    ///
    /// - Capability: `batch_delete` for one native request; the default deletes the keys
    ///   one by one, 8 at a time, so it works everywhere.
    /// - A key's failure is in its outcome, not the call's result.
    async fn delete_batch(&self, container: &str, keys: &[String]) -> Result<Vec<DeleteOutcome>> {
        let outcomes = stream::iter(keys.iter().cloned())
            .map(|key| async move {
                let result = self.delete_object(container, &key).await;
                DeleteOutcome { key, result }
            })
            .buffered(8)
            .collect::<Vec<_>>()
            .await;
        Ok(outcomes)
    }

    /// Copies an object inside the backend, without moving the data through the client.
    ///
    /// - Capability: `copy` (create-if-absent at the destination: `copy_if_absent`).
    /// - Metadata and content headers are kept unless `options` replace them.
    /// - `ObjectDoesNotExist` for a missing source. Across drivers, or where this is
    ///   `NotSupported`, use `tree::copy_object_between`, which streams.
    async fn copy_object(
        &self,
        src_container: &str,
        src_key: &str,
        dst_container: &str,
        dst_key: &str,
        options: &CopyOptions,
    ) -> Result<Object> {
        let _ = (src_container, src_key, dst_container, dst_key, options);
        Err(self.unsupported("server-side copy"))
    }

    // ---- multipart --------------------------------------------------------------------

    /// Starts a multipart upload; `options` apply to the final object.
    ///
    /// - Capability: `multipart`. Parts are between `limits.min_part_size` (all but the
    ///   last) and `limits.max_part_size`, at most `limits.max_parts` of them.
    /// - An unfinished upload holds storage until completed or aborted; the transfer
    ///   engine aborts on every failure, and [`Driver::list_leftovers`] finds what a
    ///   killed process left.
    async fn create_multipart(&self, container: &str, key: &str, options: &PutOptions) -> Result<MultipartUpload> {
        let _ = (container, key, options);
        Err(self.unsupported("multipart uploads"))
    }

    /// Uploads one part (1-based). Parts of one upload may be sent concurrently.
    ///
    /// - `options.content_md5`: the part's MD5 when the caller already knows it; a
    ///   driver that sends a digest with the part (S3's `Content-MD5`) sends this one
    ///   instead of hashing the part again, so the backend refuses a part that does not
    ///   match. Drivers without such a check may ignore it.
    /// - A part number outside the driver's `1..=max_parts` is `InvalidRange`.
    async fn put_part(
        &self,
        upload: &MultipartUpload,
        part_number: u32,
        payload: Payload,
        options: &PartOptions,
    ) -> Result<CompletedPart> {
        let _ = (upload, part_number, payload, options);
        Err(self.unsupported("multipart uploads"))
    }

    /// Assembles the parts, in the order given, into the object.
    ///
    /// - Capability: `multipart`. The object's hash is the whole MD5 with
    ///   `multipart_md5`, otherwise an opaque multipart ETag.
    /// - An unknown upload is `ObjectDoesNotExist`; a part whose ETag does not match,
    ///   or parts out of order, are refused by the backend.
    /// - `options.content_md5`: the whole object's MD5 when the caller computed it (the
    ///   transfer engine passes it when it hashed the data); a driver that can store it
    ///   with the object does (Azure: `x-ms-blob-content-md5`, so later reads verify), the
    ///   others ignore it.
    async fn complete_multipart(
        &self,
        upload: &MultipartUpload,
        parts: &[CompletedPart],
        options: &CompleteOptions,
    ) -> Result<Object> {
        let _ = (upload, parts, options);
        Err(self.unsupported("multipart uploads"))
    }

    /// Abandons an upload and frees its parts.
    ///
    /// - Capability: `multipart`. Aborting an upload that is already gone succeeds or is
    ///   `ObjectDoesNotExist`, depending on the backend; callers treat both as done.
    async fn abort_multipart(&self, upload: &MultipartUpload) -> Result<()> {
        let _ = upload;
        Err(self.unsupported("multipart uploads"))
    }

    /// Unfinished uploads in a container, optionally under a key prefix.
    ///
    /// - Capability: `list_multipart`.
    /// - Each says when it was initiated where the backend tells (moto always answers
    ///   2010-11-10).
    async fn list_multipart_uploads(&self, container: &str, prefix: Option<&str>) -> Result<Vec<MultipartUpload>> {
        let _ = (container, prefix);
        Err(self.unsupported("listing multipart uploads"))
    }

    // ---- leftovers of interrupted writes ---------------------------------------------

    /// What interrupted writes (a killed process, a lost connection) left in `container`,
    /// optionally only for keys under `prefix`: data that listings never show and that
    /// still takes space. Nothing committed is ever listed: a live object's data is not
    /// a leftover. Each one says when it was created (or last written to), if the
    /// backend knows, so a caller can leave alone what a writer that is still running
    /// may be using: remove only what is older than any write can take
    /// ([`Leftover::is_older_than`]).
    ///
    /// Needs the capability of listing unfinished multipart uploads. The default lists
    /// them ([`Driver::list_multipart_uploads`], one [`LeftoverKind::MultipartUpload`]
    /// each, aged by their start time), so every driver with multipart uploads gets it
    /// (S3: `ListMultipartUploads`; where the server lacks it, its `NotSupported` error
    /// passes through). Drivers that stage data elsewhere override it and add
    /// [`LeftoverKind::StagedData`]:
    ///
    /// - local: temporary files of writes in progress (`%t.*` beside where the object
    ///   goes, and inside the multipart staging directories), aged by their modification
    ///   time, plus the multipart staging directories themselves;
    /// - Redis: runs of data chunks that neither an object's metadata nor a registered
    ///   part of an unfinished upload names (a writer killed before its commit), aged by
    ///   how long the youngest chunk of the run has been idle, plus unfinished uploads.
    async fn list_leftovers(&self, container: &str, prefix: Option<&str>) -> Result<Vec<Leftover>> {
        let uploads = self.list_multipart_uploads(container, prefix).await?;
        Ok(uploads.into_iter().map(Leftover::from).collect())
    }

    /// Removes one leftover that [`Driver::list_leftovers`] returned (of this driver).
    /// One that is already gone counts as removed. A driver refuses (with
    /// `PreconditionFailed`) to remove staged data that changed since it was listed or
    /// that an object now references; a multipart upload is aborted whatever its age, so
    /// callers check [`Leftover::is_older_than`] first.
    ///
    /// The default aborts a [`LeftoverKind::MultipartUpload`]
    /// ([`Driver::abort_multipart`]) and refuses other kinds with `NotSupported`.
    async fn remove_leftover(&self, leftover: &Leftover) -> Result<()> {
        match leftover.kind {
            LeftoverKind::MultipartUpload => match self.abort_multipart(&leftover.to_upload()).await {
                Err(e) if e.kind() == ErrorKind::ObjectDoesNotExist => Ok(()),
                other => other,
            },
            _ => Err(self.unsupported("removing staged data")),
        }
    }

    // ---- URLs and CDN -----------------------------------------------------------------

    /// A URL that grants `options.method` on the object to whoever holds it, until it
    /// expires.
    ///
    /// - Capability: `signed_urls`.
    /// - `options.expires_in` above the backend's maximum (7 days for S3) is `Config`;
    ///   nothing is sent: the URL is computed locally, so a missing object is only found
    ///   out when the URL is used.
    async fn signed_url(&self, container: &str, key: &str, options: &SignedUrlOptions) -> Result<String> {
        let _ = (container, key, options);
        Err(self.unsupported("signed URLs"))
    }

    /// Libcloud's `enable_container_cdn`. Capability: `cdn`.
    async fn enable_container_cdn(&self, container: &str) -> Result<()> {
        let _ = container;
        Err(self.unsupported("enabling CDN on a container"))
    }

    /// Libcloud's `enable_object_cdn`. Capability: `cdn`.
    async fn enable_object_cdn(&self, container: &str, key: &str) -> Result<()> {
        let _ = (container, key);
        Err(self.unsupported("enabling CDN on an object"))
    }

    /// Libcloud's `get_container_cdn_url`. Capability: `cdn`.
    async fn get_container_cdn_url(&self, container: &str) -> Result<String> {
        let _ = container;
        Err(self.unsupported("container CDN URLs"))
    }

    /// Libcloud's `get_object_cdn_url`. Capability: `object_cdn_url` (a URL even where
    /// enabling a CDN is not supported: S3 answers a presigned GET).
    async fn get_object_cdn_url(&self, container: &str, key: &str) -> Result<String> {
        let _ = (container, key);
        Err(self.unsupported("object CDN URLs"))
    }
}

/// The concrete driver behind a `dyn Driver` (Lithops' `get_client()`: the S3 driver's
/// raw requests, the Redis driver's connection, the local driver's root...), or a
/// `Config` error naming the driver it is.
///
/// ```
/// use std::sync::Arc;
/// use storage_core::{Driver, MemoryDriver, downcast};
///
/// let driver: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
/// let memory: &MemoryDriver = downcast(driver.as_ref())?;
/// # let _ = memory;
/// # Ok::<(), storage_core::Error>(())
/// ```
pub fn downcast<T: Driver>(driver: &dyn Driver) -> Result<&T> {
    driver.as_any().downcast_ref::<T>().ok_or_else(|| {
        let want = std::any::type_name::<T>().rsplit("::").next().unwrap_or("the requested driver");
        Error::new(ErrorKind::Config, format!("this backend is the {} driver, not {want}", driver.info().name))
            .with_hint("open a backend of that driver, or use the portable Driver calls")
    })
}

/// Turns a page-fetching function into a lazy stream of items: a page is requested only
/// when the items of the previous one have been consumed; an error ends the stream.
pub fn paginate<'a, T, F, Fut>(fetch: F) -> BoxStream<'a, Result<T>>
where
    T: Send + 'a,
    F: Fn(Option<String>) -> Fut + Send + 'a,
    Fut: std::future::Future<Output = Result<Page<T>>> + Send + 'a,
{
    Box::pin(Pages { items: Vec::new().into_iter(), fetch, pending: None, next: Some(None) })
}

/// The stream [`paginate`] returns. Written out rather than `unfold(..).flatten()`: an
/// item is moved once from its page to the caller instead of through four adapters
/// (listed objects are a few hundred bytes each, and a listing moves thousands).
struct Pages<T, F, Fut> {
    /// The rest of the current page.
    items: std::vec::IntoIter<T>,
    /// Fetches a page.
    fetch: F,
    /// The page being fetched.
    pending: Option<Pin<Box<Fut>>>,
    /// The token of the next page to fetch (`Some(None)`: the first page); `None` once
    /// the last page was fetched or a fetch failed.
    next: Option<Option<String>>,
}

// Nothing of a `Pages` is ever pinned in place (no field is pin-projected): the future is
// boxed and pinned on its own, the closure only called, the items only moved out.
impl<T, F, Fut> Unpin for Pages<T, F, Fut> {}

impl<T, F, Fut> Stream for Pages<T, F, Fut>
where
    F: Fn(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>>>,
{
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Option<Result<T>>> {
        let this = self.get_mut();
        loop {
            if let Some(item) = this.items.next() {
                return Poll::Ready(Some(Ok(item)));
            }
            let fetching = match &mut this.pending {
                Some(f) => f,
                None => match this.next.take() {
                    Some(token) => this.pending.insert(Box::pin((this.fetch)(token))),
                    None => return Poll::Ready(None),
                },
            };
            let page = std::task::ready!(fetching.as_mut().poll(cx));
            this.pending = None;
            match page {
                Ok(page) => {
                    this.next = page.next_token.map(Some);
                    this.items = page.items.into_iter();
                }
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let more = self.pending.is_some() || self.next.is_some();
        (self.items.len(), if more { None } else { Some(self.items.len()) })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[tokio::test]
    async fn pages_are_fetched_one_at_a_time_and_an_error_ends_the_stream() {
        // Pages: [1, 2], [] (an empty page that still continues), [3], then an error.
        let asked = Mutex::new(Vec::new());
        let mut s = paginate(|token: Option<String>| {
            asked.lock().unwrap().push(token.clone());
            async move {
                Ok(match token.as_deref() {
                    None => Page { items: vec![1, 2], next_token: Some("b".into()) },
                    Some("b") => Page { items: vec![], next_token: Some("c".into()) },
                    Some("c") => Page { items: vec![3], next_token: Some("d".into()) },
                    _ => return Err(Error::new(ErrorKind::Io, "boom")),
                })
            }
        });
        assert_eq!(s.next().await.unwrap().unwrap(), 1);
        assert_eq!(s.size_hint(), (1, None));
        assert_eq!(*asked.lock().unwrap(), [None]);
        assert_eq!(s.next().await.unwrap().unwrap(), 2);
        assert_eq!(*asked.lock().unwrap(), [None], "the next page waits until the items are consumed");
        assert_eq!(s.next().await.unwrap().unwrap(), 3);
        assert!(s.next().await.unwrap().is_err());
        assert!(s.next().await.is_none());
        let asked: Vec<Option<String>> = asked.lock().unwrap().clone();
        assert_eq!(asked, [None, Some("b".into()), Some("c".into()), Some("d".into())]);
    }

    #[tokio::test]
    async fn the_last_page_ends_the_stream() {
        let s = paginate(|token: Option<String>| async move {
            Ok(match token {
                None => Page { items: vec!["a"], next_token: Some("x".into()) },
                Some(_) => Page::last(vec!["b", "c"]),
            })
        });
        let all: Vec<&str> = s.map(|r| r.unwrap()).collect().await;
        assert_eq!(all, ["a", "b", "c"]);
    }
}
