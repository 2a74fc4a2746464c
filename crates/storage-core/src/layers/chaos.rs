//! [`ChaosLayer`]: seeded fault injection in front of any driver, for testing what a
//! program does when the store misbehaves.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;

use crate::capabilities::DriverInfo;
use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};
use crate::leftover::Leftover;
use crate::multipart::{CompleteOptions, CompletedPart, MultipartUpload, PartOptions};
use crate::object::{Container, DeleteOutcome, ListEntry, Object, Page};
use crate::options::{CopyOptions, GetOptions, ListOptions, PutOptions, SignedUrlOptions};
use crate::payload::{ByteStream, GetResult, Payload};

use super::SplitMix64;

/// The words every error the layer injects starts with, so a test can tell an injected
/// failure that reached the caller from a real one.
pub const CHAOS_MARKER: &str = "chaos: injected";

/// What [`ChaosLayer`] injects, each as a probability per call (0.0 never, 1.0 always),
/// drawn from a generator seeded with [`ChaosConfig::seed`].
///
/// | fault | where | what the caller sees |
/// |---|---|---|
/// | `error` | any call but signing and `info` | a retryable `Io` error; the driver was not called |
/// | `committed_error` | calls that change the store, but `create_multipart` (a lost answer there leaves an upload nobody can name) | the driver applied the call, then a retryable `Io` error (the answer was "lost") |
/// | `delay` | any call | a pause up to `max_delay` before the call |
/// | `stall` | any call | a pause of `stall_for` before the call (a hung connection) |
/// | `body_error` | GET bodies | a retryable `Io` error part-way through the body |
/// | `body_truncate` | GET bodies | the body ends early, without an error |
/// | `body_corrupt` | GET bodies | one byte of the body flipped |
///
/// The same seed gives the same decisions for the same sequence of calls; with calls in
/// flight concurrently the sequence itself depends on scheduling, so a replay is exact
/// only for sequential programs.
#[derive(Clone, Debug, PartialEq)]
pub struct ChaosConfig {
    /// The generator's seed.
    pub seed: u64,
    /// Probability of failing a call before it reaches the driver.
    pub error: f64,
    /// Probability of failing a write after the driver applied it.
    pub committed_error: f64,
    /// Probability of a random pause before a call.
    pub delay: f64,
    /// The longest random pause.
    pub max_delay: Duration,
    /// Probability of a long pause before a call.
    pub stall: f64,
    /// How long a stall lasts.
    pub stall_for: Duration,
    /// Probability of a GET body failing part-way.
    pub body_error: f64,
    /// Probability of a GET body ending early without an error.
    pub body_truncate: f64,
    /// Probability of one byte of a GET body being flipped.
    pub body_corrupt: f64,
}

impl ChaosConfig {
    /// No faults at all (add them with the builder methods), seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        ChaosConfig {
            seed,
            error: 0.0,
            committed_error: 0.0,
            delay: 0.0,
            max_delay: Duration::from_millis(20),
            stall: 0.0,
            stall_for: Duration::from_millis(500),
            body_error: 0.0,
            body_truncate: 0.0,
            body_corrupt: 0.0,
        }
    }

    /// Every fault that a retrying caller can recover from, each at `rate` (delays at
    /// twice that, stalls at half): errors before and after a write, pauses, bodies
    /// failing part-way. Truncated and corrupted bodies stay off: they test verification,
    /// not recovery (turn them on with [`ChaosConfig::body_truncate`] and
    /// [`ChaosConfig::body_corrupt`]).
    pub fn recoverable(seed: u64, rate: f64) -> Self {
        ChaosConfig {
            error: rate,
            committed_error: rate,
            delay: (rate * 2.0).min(1.0),
            stall: rate / 2.0,
            body_error: rate,
            ..ChaosConfig::new(seed)
        }
    }

    /// Sets the probability of failing a call before it reaches the driver.
    pub fn error(mut self, p: f64) -> Self {
        self.error = p;
        self
    }

    /// Sets the probability of failing a write after the driver applied it.
    pub fn committed_error(mut self, p: f64) -> Self {
        self.committed_error = p;
        self
    }

    /// Sets the probability and the longest length of random pauses.
    pub fn delay(mut self, p: f64, max: Duration) -> Self {
        self.delay = p;
        self.max_delay = max;
        self
    }

    /// Sets the probability and the length of stalls.
    pub fn stall(mut self, p: f64, length: Duration) -> Self {
        self.stall = p;
        self.stall_for = length;
        self
    }

    /// Sets the probability of a GET body failing part-way.
    pub fn body_error(mut self, p: f64) -> Self {
        self.body_error = p;
        self
    }

    /// Sets the probability of a GET body ending early without an error.
    pub fn body_truncate(mut self, p: f64) -> Self {
        self.body_truncate = p;
        self
    }

    /// Sets the probability of one byte of a GET body being flipped.
    pub fn body_corrupt(mut self, p: f64) -> Self {
        self.body_corrupt = p;
        self
    }
}

/// How many calls [`ChaosLayer`] saw and how many faults of each kind it injected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChaosCounts {
    /// Calls that reached the layer.
    pub calls: u64,
    /// Calls failed before reaching the driver.
    pub errors: u64,
    /// Writes failed after the driver applied them.
    pub committed_errors: u64,
    /// Random pauses.
    pub delays: u64,
    /// Stalls.
    pub stalls: u64,
    /// GET bodies failed part-way.
    pub body_errors: u64,
    /// GET bodies ended early.
    pub truncations: u64,
    /// GET bodies with a flipped byte.
    pub corruptions: u64,
}

impl ChaosCounts {
    /// Every injected fault (pauses included).
    pub fn faults(&self) -> u64 {
        self.errors
            + self.committed_errors
            + self.delays
            + self.stalls
            + self.body_errors
            + self.truncations
            + self.corruptions
    }
}

impl fmt::Display for ChaosCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} calls, {} faults: {} errors before, {} after commit, {} delays, {} stalls, {} body errors, \
             {} truncated, {} corrupted",
            self.calls,
            self.faults(),
            self.errors,
            self.committed_errors,
            self.delays,
            self.stalls,
            self.body_errors,
            self.truncations,
            self.corruptions
        )
    }
}

#[derive(Debug, Default)]
struct Counters([AtomicU64; 8]);

const CALLS: usize = 0;
const ERRORS: usize = 1;
const COMMITTED: usize = 2;
const DELAYS: usize = 3;
const STALLS: usize = 4;
const BODY_ERRORS: usize = 5;
const TRUNCATIONS: usize = 6;
const CORRUPTIONS: usize = 7;

impl Counters {
    fn bump(&self, which: usize) {
        self.0[which].fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> ChaosCounts {
        let get = |i: usize| self.0[i].load(Ordering::Relaxed);
        ChaosCounts {
            calls: get(CALLS),
            errors: get(ERRORS),
            committed_errors: get(COMMITTED),
            delays: get(DELAYS),
            stalls: get(STALLS),
            body_errors: get(BODY_ERRORS),
            truncations: get(TRUNCATIONS),
            corruptions: get(CORRUPTIONS),
        }
    }
}

/// A driver wrapper that injects faults: errors before a call, errors after a write was
/// applied, pauses and stalls, and GET bodies that fail part-way, end early or carry a
/// flipped byte ([`ChaosConfig`]), from a seeded generator so a failing run can be
/// replayed. [`ChaosLayer::counts`] tells how many of each were injected.
///
/// Use it to test a program's error handling without a flaky network: stack a retrying
/// layer on top ([`crate::layers::RetryLayer`]) to check that the program's results stay
/// right, or none to check that every failure reaches the user as a typed error. Every
/// injected error's message starts with [`CHAOS_MARKER`].
///
/// ```
/// use std::sync::Arc;
///
/// use storage_core::layers::{ChaosConfig, ChaosLayer, RetryLayer};
/// use storage_core::{Driver, DriverExt, MemoryDriver, PutOptions};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let chaos = Arc::new(ChaosLayer::new(Arc::new(MemoryDriver::new()), ChaosConfig::new(7).error(0.5)));
/// let store = RetryLayer::new(chaos.clone()).with_attempts(20);
/// store.create_container("c").await?;
/// for i in 0..20 {
///     store.put_object("c", &format!("k{i}"), "v".into(), &PutOptions::default()).await?;
/// }
/// assert_eq!(store.list_keys("c", None).await?.len(), 20);
/// assert!(chaos.counts().errors > 0);
/// # Ok::<(), storage_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct ChaosLayer {
    inner: Arc<dyn Driver>,
    config: ChaosConfig,
    sequence: AtomicU64,
    counters: Counters,
}

impl ChaosLayer {
    /// Wraps `inner`, injecting the faults of `config`.
    pub fn new(inner: Arc<dyn Driver>, config: ChaosConfig) -> Self {
        ChaosLayer { inner, config, sequence: AtomicU64::new(0), counters: Counters::default() }
    }

    /// The configuration.
    pub fn config(&self) -> &ChaosConfig {
        &self.config
    }

    /// Calls seen and faults injected so far.
    pub fn counts(&self) -> ChaosCounts {
        self.counters.snapshot()
    }

    /// The next draw of the generator: SplitMix64 over (seed, draw number).
    fn draw(&self) -> u64 {
        SplitMix64::draw_at(self.config.seed, self.sequence.fetch_add(1, Ordering::Relaxed))
    }

    /// True with probability `p`.
    fn chance(&self, p: f64) -> bool {
        p > 0.0 && super::rng::unit(self.draw()) < p
    }

    fn injected(&self, what: &str, operation: &str) -> Error {
        Error::new(ErrorKind::Io, format!("{CHAOS_MARKER} {what} {operation}"))
            .with_driver(&self.inner.info().name)
            .with_retryable(true)
            .with_hint(format!("injected by ChaosLayer (seed {})", self.config.seed))
    }

    /// Pauses and errors before a call.
    async fn before(&self, operation: &str) -> Result<()> {
        self.counters.bump(CALLS);
        if self.chance(self.config.stall) {
            self.counters.bump(STALLS);
            tokio::time::sleep(self.config.stall_for).await;
        } else if self.chance(self.config.delay) {
            self.counters.bump(DELAYS);
            let max = u64::try_from(self.config.max_delay.as_micros()).unwrap_or(u64::MAX).max(1);
            tokio::time::sleep(Duration::from_micros(self.draw() % max)).await;
        }
        if self.chance(self.config.error) {
            self.counters.bump(ERRORS);
            return Err(self.injected("failure before", operation));
        }
        Ok(())
    }

    /// A write's result, replaced (when it succeeded) by an error saying the answer was
    /// lost.
    fn after_write<T>(&self, operation: &str, result: Result<T>) -> Result<T> {
        match result {
            Ok(_) if self.chance(self.config.committed_error) => {
                self.counters.bump(COMMITTED);
                Err(self.injected("failure after the driver applied", operation))
            }
            other => other,
        }
    }

    /// The body with at most one fault injected at a random offset.
    fn body(&self, body: ByteStream, length: u64) -> ByteStream {
        if length == 0 {
            return body;
        }
        let fault = if self.chance(self.config.body_error) {
            self.counters.bump(BODY_ERRORS);
            BodyFault::Error(self.injected("failure part-way through", "a GET body"))
        } else if self.chance(self.config.body_truncate) {
            self.counters.bump(TRUNCATIONS);
            BodyFault::Truncate
        } else if self.chance(self.config.body_corrupt) {
            self.counters.bump(CORRUPTIONS);
            BodyFault::Corrupt
        } else {
            return body;
        };
        let at = self.draw() % length;
        faulty_body(body, fault, at)
    }
}

enum BodyFault {
    Error(Error),
    Truncate,
    Corrupt,
}

/// `body` with `fault` at byte `at`: an error or the end of the stream instead of the
/// byte at `at` and everything after it, or that byte flipped.
fn faulty_body(body: ByteStream, fault: BodyFault, at: u64) -> ByteStream {
    struct State {
        body: ByteStream,
        fault: Option<BodyFault>,
        pos: u64,
        at: u64,
        pending: Option<Result<Bytes>>,
        done: bool,
    }
    let state = State { body, fault: Some(fault), pos: 0, at, pending: None, done: false };
    futures::stream::unfold(state, |mut s| async move {
        if let Some(item) = s.pending.take() {
            return Some((item, s));
        }
        if s.done {
            return None;
        }
        let chunk = match s.body.next().await? {
            Ok(chunk) => chunk,
            Err(e) => return Some((Err(e), s)),
        };
        let start = s.pos;
        s.pos += chunk.len() as u64;
        if s.pos <= s.at || s.fault.is_none() {
            return Some((Ok(chunk), s));
        }
        let offset = usize::try_from(s.at - start).unwrap_or(0);
        match s.fault.take() {
            Some(BodyFault::Corrupt) => {
                let mut bytes = BytesMut::from(&chunk[..]);
                bytes[offset] ^= 0x20;
                Some((Ok(bytes.freeze()), s))
            }
            Some(BodyFault::Error(e)) => {
                s.done = true;
                if offset == 0 {
                    return Some((Err(e), s));
                }
                s.pending = Some(Err(e));
                Some((Ok(chunk.slice(..offset)), s))
            }
            Some(BodyFault::Truncate) | None => {
                s.done = true;
                if offset == 0 { None } else { Some((Ok(chunk.slice(..offset)), s)) }
            }
        }
    })
    .boxed()
}

// Every method written out, so a method added to `Driver` cannot bypass the layer.
#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl crate::layer::Layer for ChaosLayer {
    fn inner(&self) -> &dyn Driver {
        &*self.inner
    }

    fn info(&self) -> &DriverInfo {
        self.inner.info()
    }

    async fn list_containers_page(&self, token: Option<String>) -> Result<Page<Container>> {
        self.before("list_containers").await?;
        self.inner.list_containers_page(token).await
    }

    async fn get_container(&self, name: &str) -> Result<Container> {
        self.before("get_container").await?;
        self.inner.get_container(name).await
    }

    async fn create_container(&self, name: &str) -> Result<Container> {
        self.before("create_container").await?;
        self.after_write("create_container", self.inner.create_container(name).await)
    }

    async fn delete_container(&self, name: &str) -> Result<()> {
        self.before("delete_container").await?;
        self.after_write("delete_container", self.inner.delete_container(name).await)
    }

    async fn list_page(
        &self,
        container: &str,
        options: &ListOptions,
        token: Option<String>,
    ) -> Result<Page<ListEntry>> {
        self.before("list").await?;
        self.inner.list_page(container, options, token).await
    }

    async fn head_object(&self, container: &str, key: &str) -> Result<Object> {
        self.before("head_object").await?;
        self.inner.head_object(container, key).await
    }

    async fn get_object(&self, container: &str, key: &str, options: &GetOptions) -> Result<GetResult> {
        self.before("get_object").await?;
        let mut got = self.inner.get_object(container, key, options).await?;
        let length = got.range.end.saturating_sub(got.range.start);
        let body = std::mem::replace(&mut got.body, futures::stream::empty().boxed());
        got.body = self.body(body, length);
        Ok(got)
    }

    async fn put_object(&self, container: &str, key: &str, payload: Payload, options: &PutOptions) -> Result<Object> {
        self.before("put_object").await?;
        self.after_write("put_object", self.inner.put_object(container, key, payload, options).await)
    }

    async fn delete_object(&self, container: &str, key: &str) -> Result<()> {
        self.before("delete_object").await?;
        self.after_write("delete_object", self.inner.delete_object(container, key).await)
    }

    async fn delete_batch(&self, container: &str, keys: &[String]) -> Result<Vec<DeleteOutcome>> {
        self.before("delete_batch").await?;
        self.after_write("delete_batch", self.inner.delete_batch(container, keys).await)
    }

    async fn copy_object(
        &self,
        src_container: &str,
        src_key: &str,
        dst_container: &str,
        dst_key: &str,
        options: &CopyOptions,
    ) -> Result<Object> {
        self.before("copy_object").await?;
        let result = self.inner.copy_object(src_container, src_key, dst_container, dst_key, options).await;
        self.after_write("copy_object", result)
    }

    async fn create_multipart(&self, container: &str, key: &str, options: &PutOptions) -> Result<MultipartUpload> {
        self.before("create_multipart").await?;
        // A lost answer here would leave an upload nobody knows the id of: the fault is
        // injected only before the call, as a lost request.
        self.inner.create_multipart(container, key, options).await
    }

    async fn put_part(
        &self,
        upload: &MultipartUpload,
        part_number: u32,
        payload: Payload,
        options: &PartOptions,
    ) -> Result<CompletedPart> {
        self.before("put_part").await?;
        self.after_write("put_part", self.inner.put_part(upload, part_number, payload, options).await)
    }

    async fn complete_multipart(
        &self,
        upload: &MultipartUpload,
        parts: &[CompletedPart],
        options: &CompleteOptions,
    ) -> Result<Object> {
        self.before("complete_multipart").await?;
        self.after_write("complete_multipart", self.inner.complete_multipart(upload, parts, options).await)
    }

    async fn abort_multipart(&self, upload: &MultipartUpload) -> Result<()> {
        self.before("abort_multipart").await?;
        self.after_write("abort_multipart", self.inner.abort_multipart(upload).await)
    }

    async fn list_multipart_uploads(&self, container: &str, prefix: Option<&str>) -> Result<Vec<MultipartUpload>> {
        self.before("list_multipart_uploads").await?;
        self.inner.list_multipart_uploads(container, prefix).await
    }

    async fn list_leftovers(&self, container: &str, prefix: Option<&str>) -> Result<Vec<Leftover>> {
        self.before("list_leftovers").await?;
        self.inner.list_leftovers(container, prefix).await
    }

    async fn remove_leftover(&self, leftover: &Leftover) -> Result<()> {
        self.before("remove_leftover").await?;
        self.after_write("remove_leftover", self.inner.remove_leftover(leftover).await)
    }

    async fn signed_url(&self, container: &str, key: &str, options: &SignedUrlOptions) -> Result<String> {
        self.inner.signed_url(container, key, options).await
    }

    async fn enable_container_cdn(&self, container: &str) -> Result<()> {
        self.before("enable_container_cdn").await?;
        self.after_write("enable_container_cdn", self.inner.enable_container_cdn(container).await)
    }

    async fn enable_object_cdn(&self, container: &str, key: &str) -> Result<()> {
        self.before("enable_object_cdn").await?;
        self.after_write("enable_object_cdn", self.inner.enable_object_cdn(container, key).await)
    }

    async fn get_container_cdn_url(&self, container: &str) -> Result<String> {
        self.before("get_container_cdn_url").await?;
        self.inner.get_container_cdn_url(container).await
    }

    async fn get_object_cdn_url(&self, container: &str, key: &str) -> Result<String> {
        self.before("get_object_cdn_url").await?;
        self.inner.get_object_cdn_url(container, key).await
    }
}
