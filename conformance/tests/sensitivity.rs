//! The suite must catch broken drivers: a wrapper around `MemoryDriver` injects one bug
//! at a time and the cases that should notice it must fail (with a detail), while a
//! panic or a hang fails only the case concerned.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use storage_conformance::{RunConfig, Status, run_case};
use storage_core::{
    CompleteOptions, CompletedPart, Driver, ErrorKind, GetOptions, GetResult, HashAlgorithm, ListEntry, ListOptions,
    MemoryDriver, MultipartUpload, Object, ObjectHash, Page, PartOptions, Payload, PutMode, PutOptions, Result,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bug {
    IgnorePutMode,
    IgnoreRange,
    IgnoreDelimiter,
    ReverseListing,
    NoLengthCheck,
    PartialWriteOnStreamError,
    PanicOnHead,
    HangOnGet,
    OpaqueEtagClaimedAsMd5,
    DropContentType,
    IgnoreIfNoneMatch,
    NotFoundAsBackend,
    /// Reads ignore `If-Match` and report no ETag: a reader cannot pin them.
    UnpinnedReads,
    /// Each part is also written under the key: visible before completion.
    PartsVisible,
    /// `abort_multipart` answers Ok and aborts nothing.
    AbortIgnored,
}

#[derive(Debug)]
struct Buggy {
    inner: MemoryDriver,
    bug: Bug,
}

#[storage_core::async_trait]
impl storage_core::layer::Layer for Buggy {
    fn inner(&self) -> &dyn Driver {
        &self.inner
    }
    async fn list_page(
        &self,
        container: &str,
        options: &ListOptions,
        token: Option<String>,
    ) -> Result<Page<ListEntry>> {
        let mut options = options.clone();
        if self.bug == Bug::IgnoreDelimiter {
            options.delimiter = None;
        }
        let mut page = self.inner.list_page(container, &options, token).await?;
        if self.bug == Bug::ReverseListing {
            page.items.reverse();
        }
        Ok(page)
    }
    async fn head_object(&self, container: &str, key: &str) -> Result<Object> {
        if self.bug == Bug::PanicOnHead {
            panic!("injected panic in head_object");
        }
        let r = self.inner.head_object(container, key).await;
        match r {
            Err(e) if self.bug == Bug::NotFoundAsBackend && e.kind() == ErrorKind::ObjectDoesNotExist => {
                Err(storage_core::Error::new(ErrorKind::Backend, "404"))
            }
            Ok(mut o) if self.bug == Bug::DropContentType => {
                o.content_type = None;
                Ok(o)
            }
            r => r,
        }
    }
    async fn get_object(&self, container: &str, key: &str, options: &GetOptions) -> Result<GetResult> {
        let mut options = options.clone();
        match self.bug {
            Bug::HangOnGet => futures::future::pending::<()>().await,
            Bug::IgnoreRange => options.range = None,
            Bug::IgnoreIfNoneMatch => options.if_none_match = None,
            Bug::UnpinnedReads => options.if_match = None,
            _ => {}
        }
        let mut res = self.inner.get_object(container, key, &options).await?;
        if self.bug == Bug::UnpinnedReads {
            res.object.etag = None;
        }
        Ok(res)
    }
    async fn put_part(
        &self,
        upload: &MultipartUpload,
        part_number: u32,
        payload: Payload,
        options: &PartOptions,
    ) -> Result<CompletedPart> {
        if self.bug != Bug::PartsVisible {
            return self.inner.put_part(upload, part_number, payload, options).await;
        }
        let data = payload.into_bytes().await?;
        let key = upload.key.clone();
        self.inner.put_object(&upload.container, &key, Payload::Bytes(data.clone()), &PutOptions::default()).await?;
        self.inner.put_part(upload, part_number, Payload::Bytes(data), options).await
    }
    async fn abort_multipart(&self, upload: &MultipartUpload) -> Result<()> {
        match self.bug {
            Bug::AbortIgnored => Ok(()),
            _ => self.inner.abort_multipart(upload).await,
        }
    }
    async fn put_object(&self, container: &str, key: &str, payload: Payload, options: &PutOptions) -> Result<Object> {
        let mut options = options.clone();
        let payload = match (self.bug, payload) {
            (Bug::IgnorePutMode, p) => {
                options.mode = PutMode::Overwrite;
                p
            }
            (Bug::NoLengthCheck, Payload::Stream { mut stream, .. }) => {
                let mut buf = Vec::new();
                while let Some(c) = stream.next().await {
                    buf.extend_from_slice(&c?);
                }
                Payload::Bytes(Bytes::from(buf))
            }
            (Bug::PartialWriteOnStreamError, Payload::Stream { mut stream, .. }) => {
                let mut buf = Vec::new();
                while let Some(c) = stream.next().await {
                    match c {
                        Ok(c) => buf.extend_from_slice(&c),
                        Err(e) => {
                            self.inner.put_object(container, key, Payload::Bytes(Bytes::from(buf)), &options).await?;
                            return Err(e);
                        }
                    }
                }
                Payload::Bytes(Bytes::from(buf))
            }
            (_, p) => p,
        };
        self.inner.put_object(container, key, payload, &options).await
    }
    async fn complete_multipart(
        &self,
        upload: &MultipartUpload,
        parts: &[CompletedPart],
        options: &CompleteOptions,
    ) -> Result<Object> {
        let mut o = self.inner.complete_multipart(upload, parts, options).await?;
        if self.bug == Bug::OpaqueEtagClaimedAsMd5 {
            o.hash = o.etag.clone().map(|e| ObjectHash { algorithm: HashAlgorithm::Md5, value: e });
        }
        Ok(o)
    }
}

async fn outcome(bug: Bug, case: &str, config: &RunConfig) -> storage_conformance::CaseReport {
    let driver: Arc<dyn Driver> = Arc::new(Buggy { inner: MemoryDriver::new(), bug });
    run_case(driver, case, config).await
}

async fn must_fail(bug: Bug, cases: &[&str]) {
    for case in cases {
        let r = outcome(bug, case, &RunConfig::default()).await;
        assert_eq!(r.status, Status::Failed, "{bug:?} went unnoticed by {case}");
        assert!(!r.detail.is_empty(), "{case} failed without a detail");
        println!("{bug:?} / {case}: {}", r.detail);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_drivers_fail_the_right_cases() {
    must_fail(
        Bug::IgnorePutMode,
        &[
            "cond_put_if_absent_existing",
            "cond_put_if_absent_race",
            "cond_put_if_match_stale",
            "cond_put_if_match_missing",
        ],
    )
    .await;
    must_fail(Bug::IgnoreRange, &["range_bounded", "range_from", "range_helper_get_range", "range_helper_get_ranges"])
        .await;
    must_fail(Bug::IgnoreDelimiter, &["list_delimiter_top_level", "list_helper_with_delimiter", "list_any_delimiter"])
        .await;
    must_fail(Bug::ReverseListing, &["list_sorted_bytewise", "list_pagination", "list_page_tokens"]).await;
    must_fail(Bug::NoLengthCheck, &["object_stream_too_short", "object_stream_too_long"]).await;
    must_fail(Bug::PartialWriteOnStreamError, &["object_stream_error_midway", "object_stream_error_unknown_length"])
        .await;
    must_fail(Bug::OpaqueEtagClaimedAsMd5, &["multipart_hash_truthful"]).await;
    must_fail(Bug::DropContentType, &["object_content_type", "copy_preserves_content_type", "multipart_content_type"])
        .await;
    must_fail(Bug::IgnoreIfNoneMatch, &["cond_get_if_none_match_same"]).await;
    must_fail(Bug::NotFoundAsBackend, &["object_head_missing", "helper_object_exists", "object_delete_then_get"]).await;
    must_fail(Bug::UnpinnedReads, &["reader_object_replaced_fails"]).await;
    must_fail(Bug::PartsVisible, &["writer_invisible_until_shutdown"]).await;
    must_fail(Bug::AbortIgnored, &["writer_dropped_leaves_nothing"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_fails_only_its_case() {
    let r = outcome(Bug::PanicOnHead, "object_head_missing", &RunConfig::default()).await;
    assert_eq!(r.status, Status::Failed);
    assert!(r.detail.contains("panicked") && r.detail.contains("injected panic"), "{}", r.detail);
    let r = outcome(Bug::PanicOnHead, "list_pagination", &RunConfig::default()).await;
    assert_eq!(r.status, Status::Passed, "{}", r.detail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hang_is_cut_by_the_case_timeout() {
    let config = RunConfig { case_timeout: Duration::from_millis(300), ..RunConfig::default() };
    let r = outcome(Bug::HangOnGet, "object_round_trip_small", &config).await;
    assert_eq!(r.status, Status::Failed);
    assert!(r.detail.contains("did not finish"), "{}", r.detail);
}
