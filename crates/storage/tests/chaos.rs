//! `ChaosLayer` and `RetryLayer` over the in-memory and local drivers: each fault reaches a
//! bare caller as a typed error (or is caught by verification), and the retry layer turns
//! the recoverable ones back into right answers.
#![cfg(feature = "local")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use storage::layers::{CHAOS_MARKER, ChaosConfig, ChaosLayer, RetryLayer};
use storage::local::LocalDriver;
use storage::{
    Bytes, DownloadOptions, Driver, DriverExt, ErrorKind, MemoryDriver, Payload, PutMode, PutOptions, StreamExt,
};
use tempfile::TempDir;

/// The in-memory driver and a local driver, each with container `c` holding `k`.
async fn backends(data: &Bytes) -> Vec<(&'static str, Arc<dyn Driver>, Option<TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let local: Arc<dyn Driver> = Arc::new(LocalDriver::new(dir.path()).unwrap());
    let memory: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
    let all = vec![("memory", memory, None), ("local", local, Some(dir))];
    for (_, d, _) in &all {
        d.create_container("c").await.unwrap();
        d.put_object("c", "k", data.clone().into(), &PutOptions::default()).await.unwrap();
    }
    all
}

fn data() -> Bytes {
    Bytes::from((0..300_000u32).map(|i| (i % 251) as u8).collect::<Vec<u8>>())
}

#[tokio::test]
async fn the_same_seed_injects_the_same_faults() {
    let run = |seed| async move {
        let chaos = ChaosLayer::new(Arc::new(MemoryDriver::new()), ChaosConfig::new(seed).error(0.3));
        let mut outcomes = Vec::new();
        for i in 0..50 {
            outcomes.push(chaos.create_container(&format!("c{i}")).await.is_ok());
        }
        (outcomes, chaos.counts())
    };
    let (a, counts) = run(42).await;
    assert_eq!(run(42).await.0, a, "a seed replays");
    assert_ne!(run(43).await.0, a, "another seed differs");
    assert_eq!(counts.calls, 50);
    assert_eq!(counts.errors as usize, a.iter().filter(|ok| !**ok).count());
    assert!(counts.errors > 5 && counts.errors < 30, "{counts}");
}

#[tokio::test]
async fn injected_errors_are_typed_retryable_and_marked() {
    let chaos = ChaosLayer::new(Arc::new(MemoryDriver::new()), ChaosConfig::new(1).error(1.0));
    let e = chaos.create_container("c").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(e.is_retryable());
    assert!(e.to_string().contains(CHAOS_MARKER), "{e}");
    assert!(MemoryDriver::new().get_container("c").await.is_err());
}

#[tokio::test]
async fn a_committed_error_means_the_write_happened() {
    let memory: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
    memory.create_container("c").await.unwrap();
    let chaos = ChaosLayer::new(memory.clone(), ChaosConfig::new(1).committed_error(1.0));
    let e = chaos.put_object("c", "k", "new".into(), &PutOptions::default()).await.unwrap_err();
    assert!(e.to_string().contains(CHAOS_MARKER), "{e}");
    assert_eq!(memory.get_bytes("c", "k").await.unwrap(), "new");
    assert_eq!(chaos.counts().committed_errors, 1);
}

#[tokio::test]
async fn bare_callers_see_broken_bodies_as_errors_and_verified_downloads_catch_corruption() {
    let data = data();
    for (name, inner, _dir) in backends(&data).await {
        // Part-way errors and early ends: typed errors for a bare caller.
        let failing = ChaosLayer::new(inner.clone(), ChaosConfig::new(3).body_error(1.0));
        let e = failing.get_bytes("c", "k").await.unwrap_err();
        assert!(e.to_string().contains(CHAOS_MARKER), "{name}: {e}");
        let short = ChaosLayer::new(inner.clone(), ChaosConfig::new(3).body_truncate(1.0));
        let e = short.get_bytes("c", "k").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io, "{name}: a short body is an I/O error: {e}");

        // A flipped byte: the download engine checks the object's hash and keeps nothing.
        let corrupt = ChaosLayer::new(inner.clone(), ChaosConfig::new(3).body_corrupt(1.0));
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out");
        let e = corrupt.download_object("c", "k", &dest, &DownloadOptions::default()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{name}: {e}");
        assert!(!dest.exists(), "{name}: nothing left at the destination");
        assert!(corrupt.counts().corruptions >= 1);
    }
}

#[tokio::test]
async fn the_retry_layer_resumes_broken_bodies_and_refuses_corrupt_ones() {
    let data = data();
    for (name, inner, _dir) in backends(&data).await {
        for config in [ChaosConfig::new(9).body_error(0.5), ChaosConfig::new(9).body_truncate(0.5)] {
            let chaos = Arc::new(ChaosLayer::new(inner.clone(), config));
            let retry = RetryLayer::new(chaos.clone()).with_attempts(30);
            for _ in 0..10 {
                assert_eq!(retry.get_bytes("c", "k").await.unwrap(), data, "{name}");
                assert_eq!(retry.get_range("c", "k", 1000..200_000).await.unwrap(), data.slice(1000..200_000));
            }
            assert!(retry.retries() > 0, "{name}: {}", chaos.counts());
        }
        // A whole read with a flipped byte ends with ObjectHashMismatch, not with data.
        let corrupt = Arc::new(ChaosLayer::new(inner.clone(), ChaosConfig::new(4).body_corrupt(1.0)));
        let retry = RetryLayer::new(corrupt);
        let e = retry.get_bytes("c", "k").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{name}: {e}");
    }
}

#[tokio::test]
async fn the_retry_layer_settles_lost_answers_of_conditional_writes() {
    for (name, inner, _dir) in backends(&data()).await {
        let chaos = Arc::new(ChaosLayer::new(inner.clone(), ChaosConfig::new(5).committed_error(1.0)));
        let retry = RetryLayer::new(chaos.clone());
        let absent = PutOptions { mode: PutMode::CreateIfAbsent, ..PutOptions::default() };
        // Every answer is lost; the retry finds the key taken, and by our own data.
        let o = retry.put_object("c", "new", "mine".into(), &absent).await.unwrap();
        assert_eq!(o.size, 4, "{name}");
        assert_eq!(retry.settled(), 1, "{name}");
        assert_eq!(inner.get_bytes("c", "new").await.unwrap(), "mine");
        // Taken by other data: the condition's failure stands.
        let e = retry.put_object("c", "new", "other".into(), &absent).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PreconditionFailed, "{name}: {e}");
        assert_eq!(inner.get_bytes("c", "new").await.unwrap(), "mine", "{name}: nothing replaced");
        // A delete whose answer is lost half the time: done, whichever attempt did it.
        let chaos = Arc::new(ChaosLayer::new(inner.clone(), ChaosConfig::new(5).committed_error(0.5)));
        let retry = RetryLayer::new(chaos.clone()).with_attempts(30);
        retry.delete_object("c", "new").await.unwrap();
        assert!(chaos.counts().committed_errors > 0 || chaos.counts().calls == 1, "{name}");
        assert!(!inner.object_exists("c", "new").await.unwrap());
    }
}

#[tokio::test]
async fn a_stream_payload_is_never_sent_twice() {
    let memory: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
    memory.create_container("c").await.unwrap();
    let chaos = Arc::new(ChaosLayer::new(memory.clone(), ChaosConfig::new(6).error(1.0)));
    let retry = RetryLayer::new(chaos.clone());
    let stream = futures::stream::iter([Ok(Bytes::from_static(b"once"))]).boxed();
    let e = retry.put_object("c", "k", Payload::stream(stream, Some(4)), &PutOptions::default()).await.unwrap_err();
    assert!(e.to_string().contains(CHAOS_MARKER), "{e}");
    assert_eq!(chaos.counts().calls, 1, "one attempt");
    assert_eq!(retry.retries(), 0);
}

/// Over the in-memory driver, multipart completion as fake-gcs-server does it: parts carry
/// a CRC32C, the first completion's answer is lost (after a `foreign` writer, if any, put
/// other bytes of the same size at the key), and a second completion fails with HTTP 500
/// because the parts are gone; the object reports only an MD5.
#[derive(Debug)]
struct ComposeLike {
    inner: MemoryDriver,
    completions: std::sync::atomic::AtomicU32,
    foreign: Option<Bytes>,
}

#[storage::async_trait]
impl storage::layer::Layer for ComposeLike {
    fn inner(&self) -> &dyn Driver {
        &self.inner
    }

    async fn put_part(
        &self,
        upload: &storage::MultipartUpload,
        part_number: u32,
        payload: Payload,
        options: &storage::PartOptions,
    ) -> storage::Result<storage::CompletedPart> {
        let Payload::Bytes(bytes) = &payload else { panic!("the test sends bytes") };
        let crc = storage::kit::crc32c(bytes);
        let done = self.inner.put_part(upload, part_number, payload, options).await?;
        Ok(storage::CompletedPart { checksum: Some(storage::ObjectHash::crc32c(crc)), ..done })
    }

    async fn complete_multipart(
        &self,
        upload: &storage::MultipartUpload,
        parts: &[storage::CompletedPart],
        options: &storage::CompleteOptions,
    ) -> storage::Result<storage::Object> {
        let first = self.completions.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
        match self.inner.complete_multipart(upload, parts, options).await {
            Ok(_) if first => {
                if let Some(other) = &self.foreign {
                    self.inner
                        .put_object(&upload.container, &upload.key, other.clone().into(), &PutOptions::default())
                        .await?;
                }
                Err(storage::Error::new(ErrorKind::Io, "answer lost").with_retryable(true))
            }
            Ok(o) => Ok(o),
            Err(_) => Err(storage::Error::new(ErrorKind::Backend, "Error running compose")
                .with_status(500)
                .with_retryable(true)),
        }
    }
}

#[tokio::test]
async fn a_lost_completion_is_settled_only_by_proof_that_the_object_is_the_parts_data() {
    let parts_data = [data().slice(..150_000), data().slice(150_000..)];
    for foreign in [None, Some(Bytes::from(vec![7u8; 300_000]))] {
        let inner = MemoryDriver::new();
        inner.create_container("c").await.unwrap();
        let layer = Arc::new(ComposeLike { inner, completions: 0.into(), foreign: foreign.clone() });
        let retry = RetryLayer::new(layer.clone());
        let upload = retry.create_multipart("c", "mpu", &PutOptions::default()).await.unwrap();
        let mut done = Vec::new();
        for (i, p) in parts_data.iter().enumerate() {
            done.push(retry.put_part(&upload, i as u32 + 1, p.clone().into(), &Default::default()).await.unwrap());
        }
        let result = retry.complete_multipart(&upload, &done, &Default::default()).await;
        let head = layer.inner.head_object("c", "mpu").await.unwrap();
        assert!(head.hash.as_ref().is_some_and(|h| h.crc32c_value().is_none()), "the object reports no CRC32C");
        match foreign {
            // Read back, the object is the parts' data: the completion happened.
            None => {
                let o = result.unwrap();
                assert_eq!(o.size, 300_000);
                assert_eq!(retry.settled(), 1);
                assert_eq!(layer.inner.get_bytes("c", "mpu").await.unwrap(), data());
            }
            // Same size, other bytes: nothing proves the completion, the failure stands.
            Some(_) => {
                let e = result.unwrap_err();
                assert_eq!(e.kind(), ErrorKind::Backend, "{e}");
                assert_eq!(retry.settled(), 0);
            }
        }
    }
}
