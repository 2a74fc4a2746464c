//! [`BandwidthLimitLayer`]: bytes per second up and down, each limited on its own by a
//! token bucket shared by every transfer through the layer.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use tokio::time::Instant;

use crate::driver::Driver;
use crate::error::Result;
use crate::multipart::{CompletedPart, MultipartUpload, PartOptions};
use crate::object::Object;
use crate::options::{GetOptions, PutOptions};
use crate::payload::{ByteStream, GetResult, Payload};

/// Limits the data rate through the wrapped driver: uploads (the payloads of
/// `put_object` and `put_part`) and downloads (GET bodies), each with its own optional
/// rate in bytes per second.
///
/// - One token bucket per direction, shared by every call through the layer: eight
///   parallel part uploads share the upload rate. A bucket starts full and holds at most
///   the burst (by default one second's worth), so short bursts pass at once and the
///   average never exceeds the rate.
/// - A streamed payload or body is paced chunk by chunk: each chunk waits for its tokens
///   before the driver (upload) or the caller (download) gets it. A payload held in
///   memory waits for all its tokens before the request, so it stays replayable for
///   the driver's retries.
/// - A chunk or payload dropped while it waits (a download abandoned, a transfer
///   cancelled) gives its tokens back: the others never wait for bytes that did not move.
/// - Everything else (listings, HEAD, server-side copies, which move no data through
///   the client) passes unthrottled.
///
/// ```
/// use std::sync::Arc;
///
/// use storage_core::layers::BandwidthLimitLayer;
/// use storage_core::{Driver, DriverExt, MemoryDriver, PutOptions};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let store = BandwidthLimitLayer::new(Arc::new(MemoryDriver::new()))
///     .with_upload_limit(8 * 1024 * 1024) // 8 MiB/s up
///     .with_download_limit(32 * 1024 * 1024); // 32 MiB/s down
/// store.create_container("c").await?;
/// store.put_object("c", "k", "small enough to pass at once".into(), &PutOptions::default()).await?;
/// assert_eq!(store.get_bytes("c", "k").await?.len(), 28);
/// # Ok::<(), storage_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct BandwidthLimitLayer {
    inner: Arc<dyn Driver>,
    up: Option<Arc<Bucket>>,
    down: Option<Arc<Bucket>>,
    burst: Option<u64>,
}

impl BandwidthLimitLayer {
    /// Wraps `inner` with no limit yet: add them with [`Self::with_upload_limit`] and
    /// [`Self::with_download_limit`].
    pub fn new(inner: Arc<dyn Driver>) -> Self {
        BandwidthLimitLayer { inner, up: None, down: None, burst: None }
    }

    /// Limits uploads to `bytes_per_second` (`0` lifts the limit).
    pub fn with_upload_limit(mut self, bytes_per_second: u64) -> Self {
        self.up = Bucket::new(bytes_per_second, self.burst);
        self
    }

    /// Limits downloads to `bytes_per_second` (`0` lifts the limit).
    pub fn with_download_limit(mut self, bytes_per_second: u64) -> Self {
        self.down = Bucket::new(bytes_per_second, self.burst);
        self
    }

    /// The most bytes that pass at once after a pause, in each direction (at least 1;
    /// the default is one second's worth of the rate).
    pub fn with_burst(mut self, bytes: u64) -> Self {
        let burst = bytes.max(1);
        self.burst = Some(burst);
        self.up = self.up.take().and_then(|b| Bucket::new(b.rate, Some(burst)));
        self.down = self.down.take().and_then(|b| Bucket::new(b.rate, Some(burst)));
        self
    }

    /// The upload limit in bytes per second, if any.
    pub fn upload_limit(&self) -> Option<u64> {
        self.up.as_ref().map(|b| b.rate)
    }

    /// The download limit in bytes per second, if any.
    pub fn download_limit(&self) -> Option<u64> {
        self.down.as_ref().map(|b| b.rate)
    }

    /// `payload`, paced by the upload bucket.
    async fn pace_up(&self, payload: Payload) -> Payload {
        let Some(bucket) = &self.up else { return payload };
        match payload {
            Payload::Bytes(bytes) => {
                bucket.take(bytes.len() as u64).await;
                Payload::Bytes(bytes)
            }
            Payload::Stream { stream, length } => Payload::Stream { stream: paced(stream, bucket.clone()), length },
        }
    }
}

/// `stream`, each chunk held back until `bucket` has tokens for it.
fn paced(stream: ByteStream, bucket: Arc<Bucket>) -> ByteStream {
    stream
        .then(move |chunk| {
            let bucket = bucket.clone();
            async move {
                if let Ok(bytes) = &chunk {
                    bucket.take(bytes.len() as u64).await;
                }
                chunk
            }
        })
        .boxed()
}

/// A token bucket that may go into debt: a taker removes its tokens at once and sleeps
/// until the bucket would have refilled to zero, so concurrent takers queue up behind
/// each other's debt and the long-run rate is exactly `rate`.
#[derive(Debug)]
struct Bucket {
    rate: u64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    /// A full bucket, or none for a rate of 0.
    fn new(rate: u64, burst: Option<u64>) -> Option<Arc<Self>> {
        if rate == 0 {
            return None;
        }
        let burst = burst.unwrap_or(rate).max(1) as f64;
        Some(Arc::new(Bucket { rate, burst, state: Mutex::new((burst, Instant::now())) }))
    }

    async fn take(&self, bytes: u64) {
        let wait = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let (tokens, last) = &mut *state;
            let now = Instant::now();
            let refill = now.saturating_duration_since(*last).as_secs_f64() * self.rate as f64;
            *tokens = (*tokens + refill).min(self.burst) - bytes as f64;
            *last = now;
            if *tokens < 0.0 {
                Duration::try_from_secs_f64(-*tokens / self.rate as f64).unwrap_or(Duration::MAX)
            } else {
                Duration::ZERO
            }
        };
        if !wait.is_zero() {
            // A taker dropped while it waits (a download abandoned, a transfer cancelled)
            // moved none of its bytes: they go back, so the others do not wait for them.
            let mut refund = Refund { bucket: self, bytes, armed: true };
            tokio::time::sleep(wait).await;
            refund.armed = false;
        }
    }

    fn give_back(&self, bytes: u64) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.0 = (state.0 + bytes as f64).min(self.burst);
    }
}

/// Gives a waiting taker's tokens back to its bucket if it is dropped before its wait
/// ends.
struct Refund<'a> {
    bucket: &'a Bucket,
    bytes: u64,
    armed: bool,
}

impl Drop for Refund<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.bucket.give_back(self.bytes);
        }
    }
}

#[async_trait]
impl crate::layer::Layer for BandwidthLimitLayer {
    fn inner(&self) -> &dyn Driver {
        &*self.inner
    }

    async fn get_object(&self, container: &str, key: &str, options: &GetOptions) -> Result<GetResult> {
        let mut got = self.inner.get_object(container, key, options).await?;
        if let Some(bucket) = &self.down {
            got.body = paced(got.body, bucket.clone());
        }
        Ok(got)
    }

    async fn put_object(&self, container: &str, key: &str, payload: Payload, options: &PutOptions) -> Result<Object> {
        let payload = self.pace_up(payload).await;
        self.inner.put_object(container, key, payload, options).await
    }

    async fn put_part(
        &self,
        upload: &MultipartUpload,
        part_number: u32,
        payload: Payload,
        options: &PartOptions,
    ) -> Result<CompletedPart> {
        let payload = self.pace_up(payload).await;
        self.inner.put_part(upload, part_number, payload, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_bucket_lets_a_burst_pass_then_holds_the_rate() {
        let Some(bucket) = Bucket::new(1000, Some(500)) else { panic!("a rate of 1000 makes a bucket") };
        let start = Instant::now();
        bucket.take(500).await;
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst passes at once");
        bucket.take(1000).await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        bucket.take(250).await;
        assert_eq!(start.elapsed(), Duration::from_millis(1250));
        tokio::time::sleep(Duration::from_secs(10)).await;
        let again = Instant::now();
        bucket.take(500).await;
        assert_eq!(again.elapsed(), Duration::ZERO, "a pause refills up to the burst, no more");
        bucket.take(100).await;
        assert_eq!(again.elapsed(), Duration::from_millis(100));
        assert!(Bucket::new(0, None).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_taker_dropped_while_it_waits_gives_its_tokens_back() {
        let Some(bucket) = Bucket::new(1000, Some(500)) else { panic!("a rate of 1000 makes a bucket") };
        let start = Instant::now();
        // 1500 bytes against a full bucket of 500: a second's wait, abandoned after 100 ms.
        let abandoned = tokio::time::timeout(Duration::from_millis(100), bucket.take(1500)).await;
        assert!(abandoned.is_err());
        // As if it never took: 100 ms of refill on a full bucket is still 500.
        bucket.take(400).await;
        assert_eq!(start.elapsed(), Duration::from_millis(100), "no wait for the abandoned bytes");
        bucket.take(600).await;
        assert_eq!(start.elapsed(), Duration::from_millis(600));
        // A taker that waits its turn out keeps its tokens taken.
        bucket.take(1000).await;
        assert_eq!(start.elapsed(), Duration::from_millis(1600));
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_download_does_not_slow_the_next() {
        let memory = Arc::new(crate::MemoryDriver::new());
        memory.create_container("c").await.unwrap();
        let data = bytes::Bytes::from(vec![7u8; 4000]);
        memory.put_object("c", "k", data.clone().into(), &PutOptions::default()).await.unwrap();
        let store = BandwidthLimitLayer::new(memory).with_download_limit(1000).with_burst(1000);
        let start = Instant::now();
        // 4000 bytes at 1000 B/s: read for 0.5 s, then dropped.
        let got = crate::layer::Layer::get_object(&store, "c", "k", &GetOptions::default()).await.unwrap();
        assert!(tokio::time::timeout(Duration::from_millis(500), got.bytes()).await.is_err());
        tokio::time::sleep(Duration::from_millis(500)).await;
        // One second later the bucket is full again: 1000 bytes pass at once.
        let got = crate::layer::Layer::get_object(&store, "c", "k", &GetOptions::range(0..1000)).await.unwrap();
        assert_eq!(got.bytes().await.unwrap().len(), 1000);
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }
}
