//! The layers of `storage::layers`, each over the two drivers that need no server: the
//! in-memory reference driver and the local filesystem. Time-dependent tests run on
//! tokio's paused clock, so delays are exact and nothing depends on the machine's speed.
#![cfg(feature = "local")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use storage::layers::{
    BandwidthLimitLayer, CallRecord, ConcurrencyLimitLayer, PrefixLayer, ReadOnlyLayer, TracingLayer,
};
use storage::local::LocalDriver;
use storage::{
    Bytes, CopyOptions, Driver, DriverExt, ErrorKind, GetOptions, GetResult, ListEntry, ListOptions, MemoryDriver,
    Object, PartOptions, Payload, PutOptions, Result, SignedUrlOptions, StreamExt,
};
use tempfile::TempDir;
use tokio::time::Instant;

/// The in-memory driver and a local driver in a fresh directory (kept alive by the
/// returned `TempDir`), each with container `c`.
async fn backends() -> Vec<(&'static str, Arc<dyn Driver>, Option<TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let local: Arc<dyn Driver> = Arc::new(LocalDriver::new(dir.path()).unwrap());
    let memory: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
    let all = vec![("memory", memory, None), ("local", local, Some(dir))];
    for (_, d, _) in &all {
        d.create_container("c").await.unwrap();
    }
    all
}

fn put() -> PutOptions {
    PutOptions::default()
}

fn names(entries: &[ListEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| match e {
            ListEntry::Object(o) => o.name.clone(),
            ListEntry::Prefix(p) => format!("{p} (prefix)"),
        })
        .collect()
}

async fn list(d: &dyn Driver, options: ListOptions) -> Vec<String> {
    let entries: Vec<ListEntry> = d.list_objects("c", options).map(|e| e.unwrap()).collect().await;
    names(&entries)
}

// ---- PrefixLayer ----------------------------------------------------------------------

#[tokio::test]
async fn prefix_stores_every_key_under_the_prefix_and_hides_it() {
    for (name, inner, _dir) in backends().await {
        let p = PrefixLayer::new(inner.clone(), "tenant/a").unwrap();
        for key in ["a.txt", "dir/b.txt", "dir/sub/c.txt"] {
            let o = p.put_object("c", key, key.to_owned().into(), &put()).await.unwrap();
            assert_eq!(o.name, key, "{name}: put returns the caller's key");
        }
        inner.put_object("c", "outside.txt", "x".into(), &put()).await.unwrap();

        assert_eq!(
            inner.list_keys("c", None).await.unwrap(),
            ["outside.txt", "tenant/a/a.txt", "tenant/a/dir/b.txt", "tenant/a/dir/sub/c.txt"],
            "{name}: stored under the prefix"
        );
        assert_eq!(p.list_keys("c", None).await.unwrap(), ["a.txt", "dir/b.txt", "dir/sub/c.txt"], "{name}");
        assert_eq!(
            list(&p, ListOptions::default().with_delimiter("/")).await,
            ["a.txt", "dir/ (prefix)"],
            "{name}: common prefixes lose the prefix too"
        );
        assert_eq!(
            list(&p, ListOptions::prefix("dir/").with_delimiter("/")).await,
            ["dir/b.txt", "dir/sub/ (prefix)"],
            "{name}"
        );
        assert_eq!(
            list(&p, ListOptions::default().with_start_after("a.txt")).await,
            ["dir/b.txt", "dir/sub/c.txt"],
            "{name}: start_after is the caller's key"
        );
        assert_eq!(list(&p, ListOptions::default().with_page_size(1)).await.len(), 3, "{name}: pages follow");

        assert_eq!(p.head_object("c", "a.txt").await.unwrap().name, "a.txt", "{name}");
        let got = p.get_object("c", "dir/b.txt", &GetOptions::default()).await.unwrap();
        assert_eq!(got.object.name, "dir/b.txt", "{name}");
        assert_eq!(got.bytes().await.unwrap(), "dir/b.txt", "{name}");

        let missing = p.head_object("c", "outside.txt").await.unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::ObjectDoesNotExist, "{name}: nothing outside is reachable");
        assert_eq!(missing.key(), Some("outside.txt"), "{name}: the error names the caller's key");
        let empty = p.put_object("c", "", "x".into(), &put()).await.unwrap_err();
        assert_eq!(empty.kind(), ErrorKind::InvalidObjectName, "{name}: an empty key would name the prefix itself");

        let copied = p.copy_object("c", "a.txt", "c", "copy.txt", &CopyOptions::default()).await.unwrap();
        assert_eq!(copied.name, "copy.txt", "{name}");
        assert_eq!(inner.get_bytes("c", "tenant/a/copy.txt").await.unwrap(), "a.txt", "{name}: both sides mapped");

        let outcomes = p.delete_batch("c", &["a.txt".to_owned(), "never.txt".to_owned()]).await.unwrap();
        let keys: Vec<_> = outcomes.iter().map(|o| (o.key.as_str(), o.result.is_ok())).collect();
        assert_eq!(keys, [("a.txt", true), ("never.txt", true)], "{name}: outcomes name the caller's keys");
        assert!(inner.head_object("c", "tenant/a/a.txt").await.is_err(), "{name}: deleted under the prefix");
        assert!(inner.head_object("c", "outside.txt").await.is_ok(), "{name}");

        let cdn = p.get_object_cdn_url("c", "copy.txt").await;
        if let Ok(url) = cdn {
            assert!(url.contains("tenant/a/copy.txt"), "{name}: {url}");
        }
    }
}

#[tokio::test]
async fn prefix_maps_multipart_uploads_and_leftovers() {
    for (name, inner, _dir) in backends().await {
        let p = PrefixLayer::new(inner.clone(), "jobs/").unwrap();
        let up = p.create_multipart("c", "big.bin", &put()).await.unwrap();
        assert_eq!(up.key, "big.bin", "{name}");
        let listed = p.list_multipart_uploads("c", None).await.unwrap();
        assert_eq!(listed.iter().map(|u| u.key.as_str()).collect::<Vec<_>>(), ["big.bin"], "{name}");
        let raw = inner.list_multipart_uploads("c", None).await.unwrap();
        assert_eq!(raw.iter().map(|u| u.key.as_str()).collect::<Vec<_>>(), ["jobs/big.bin"], "{name}");
        let leftovers = p.list_leftovers("c", Some("big")).await.unwrap();
        assert!(leftovers.iter().any(|l| l.key == "big.bin"), "{name}: {leftovers:?}");

        let part = p.put_part(&up, 1, "the data".into(), &PartOptions::default()).await.unwrap();
        let done = p.complete_multipart(&up, &[part], &Default::default()).await.unwrap();
        assert_eq!(done.name, "big.bin", "{name}");
        assert_eq!(inner.get_bytes("c", "jobs/big.bin").await.unwrap(), "the data", "{name}");

        let other = p.create_multipart("c", "dropped.bin", &put()).await.unwrap();
        p.abort_multipart(&other).await.unwrap();
        assert!(inner.list_multipart_uploads("c", None).await.unwrap().is_empty(), "{name}: aborted inside");
    }
}

/// Signs URLs by echoing the key, to see which key reaches the driver.
#[derive(Debug)]
struct EchoSign(Arc<dyn Driver>);

#[storage::async_trait]
impl storage::layer::Layer for EchoSign {
    fn inner(&self) -> &dyn Driver {
        &*self.0
    }
    async fn signed_url(&self, container: &str, key: &str, _: &SignedUrlOptions) -> Result<String> {
        Ok(format!("https://signed.example/{container}/{key}?sig=SECRET"))
    }
}

#[tokio::test]
async fn prefix_signs_the_prefixed_key() {
    for (name, inner, _dir) in backends().await {
        let p = PrefixLayer::new(Arc::new(EchoSign(inner)), "p").unwrap();
        let url = p.signed_url("c", "k", &SignedUrlOptions::default()).await.unwrap();
        assert_eq!(url, "https://signed.example/c/p/k?sig=SECRET", "{name}");
    }
}

// ---- ConcurrencyLimitLayer ------------------------------------------------------------

/// Counts the calls in flight (and the most seen at once); each call lasts 10 ms.
#[derive(Debug)]
struct Probe {
    inner: Arc<dyn Driver>,
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Probe {
    fn new(inner: Arc<dyn Driver>) -> Arc<Self> {
        Arc::new(Probe { inner, now: AtomicUsize::new(0), max: AtomicUsize::new(0) })
    }
    async fn during<T>(&self, call: impl std::future::Future<Output = T>) -> T {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let out = call.await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        out
    }
}

#[storage::async_trait]
impl storage::layer::Layer for Probe {
    fn inner(&self) -> &dyn Driver {
        &*self.inner
    }
    async fn head_object(&self, container: &str, key: &str) -> Result<Object> {
        self.during(self.inner.head_object(container, key)).await
    }
    async fn put_object(&self, container: &str, key: &str, payload: Payload, options: &PutOptions) -> Result<Object> {
        self.during(self.inner.put_object(container, key, payload, options)).await
    }
    async fn get_object(&self, container: &str, key: &str, options: &GetOptions) -> Result<GetResult> {
        self.during(self.inner.get_object(container, key, options)).await
    }
}

#[tokio::test(start_paused = true)]
async fn concurrency_never_exceeds_the_limit_and_reaches_it() {
    for (name, inner, _dir) in backends().await {
        inner.put_object("c", "k", "v".into(), &put()).await.unwrap();
        // Without the limit, the probe sees every call at once: it can tell.
        let probe = Probe::new(inner.clone());
        futures_join(20, |_| probe.head_object("c", "k")).await;
        assert_eq!(probe.max.load(Ordering::SeqCst), 20, "{name}: unlimited");

        let probe = Probe::new(inner.clone());
        let limited = ConcurrencyLimitLayer::new(probe.clone(), 3);
        let start = Instant::now();
        let (keys, options) = ((0..20).map(|i| format!("k{i}")).collect::<Vec<_>>(), put());
        futures_join(20, |i| limited.put_object("c", &keys[i], "x".into(), &options)).await;
        futures_join(20, |_| limited.head_object("c", "k")).await;
        assert_eq!(probe.max.load(Ordering::SeqCst), 3, "{name}: at most 3, and 3 reached");
        // 40 calls of 10 ms, 3 at a time: 14 rounds.
        assert!(start.elapsed() >= Duration::from_millis(140), "{name}: {:?}", start.elapsed());
        assert_eq!(limited.available(), 3, "{name}: every slot back");
    }
}

/// Runs `n` calls at once and checks they all succeeded.
async fn futures_join<'a, T, F>(n: usize, call: impl Fn(usize) -> F) -> Vec<T>
where
    F: std::future::Future<Output = Result<T>> + 'a,
{
    futures::future::join_all((0..n).map(call)).await.into_iter().map(|r| r.unwrap()).collect()
}

#[tokio::test(start_paused = true)]
async fn concurrency_a_get_body_holds_its_slot_until_read_or_dropped() {
    for (name, inner, _dir) in backends().await {
        inner.put_object("c", "k", Bytes::from(vec![7u8; 100_000]).into(), &put()).await.unwrap();
        let limited = ConcurrencyLimitLayer::new(inner, 1);

        let got = limited.get_object("c", "k", &GetOptions::default()).await.unwrap();
        assert_eq!(limited.available(), 0, "{name}: the unread body holds the slot");
        let blocked = tokio::time::timeout(Duration::from_secs(5), limited.head_object("c", "k")).await;
        assert!(blocked.is_err(), "{name}: a second call waits for the body");

        let mut body = got.body;
        let mut read = 0;
        while let Some(chunk) = body.next().await {
            read += chunk.unwrap().len();
        }
        assert_eq!(read, 100_000, "{name}");
        assert_eq!(limited.available(), 1, "{name}: read to the end gives the slot back, body still alive");
        drop(body);

        let got = limited.get_object("c", "k", &GetOptions::default()).await.unwrap();
        assert_eq!(limited.available(), 0, "{name}");
        drop(got);
        assert_eq!(limited.available(), 1, "{name}: dropping an unread body gives the slot back");

        assert_eq!(limited.list_keys("c", None).await.unwrap(), ["k"], "{name}: listings pass");
        assert_eq!(limited.available(), 1, "{name}");
    }
}

// ---- BandwidthLimitLayer --------------------------------------------------------------

fn chunks(n: usize, size: usize) -> Payload {
    let items = (0..n).map(move |_| Ok(Bytes::from(vec![1u8; size])));
    Payload::stream(futures::stream::iter(items).boxed(), Some((n * size) as u64))
}

/// Asserts `elapsed` is `expected` within the timer's millisecond granularity.
fn about(elapsed: Duration, expected: Duration, what: &str) {
    let slack = Duration::from_millis(20);
    assert!(elapsed >= expected && elapsed <= expected + slack, "{what}: took {elapsed:?}, expected {expected:?}");
}

#[tokio::test(start_paused = true)]
async fn bandwidth_delays_uploads_and_downloads_at_their_own_rates() {
    for (name, inner, _dir) in backends().await {
        // Up: 1000 B/s, burst 1000. Down: unlimited at first.
        let limited = BandwidthLimitLayer::new(inner.clone()).with_upload_limit(1000).with_burst(1000);
        assert_eq!((limited.upload_limit(), limited.download_limit()), (Some(1000), None));

        let start = Instant::now();
        limited.put_object("c", "streamed", chunks(10, 500), &put()).await.unwrap();
        about(start.elapsed(), Duration::from_secs(4), &format!("{name}: 5000 B streamed, 1000 of them burst"));
        assert_eq!(inner.head_object("c", "streamed").await.unwrap().size, 5000, "{name}: all of it written");

        let start = Instant::now();
        limited.put_object("c", "bytes", Bytes::from(vec![2u8; 2000]).into(), &put()).await.unwrap();
        about(start.elapsed(), Duration::from_secs(2), &format!("{name}: in memory, the bucket still in debt"));

        let start = Instant::now();
        assert_eq!(limited.get_bytes("c", "streamed").await.unwrap().len(), 5000);
        about(start.elapsed(), Duration::ZERO, &format!("{name}: downloads are not limited"));

        // Down: 2000 B/s, burst 1000 (the default burst would be 2000).
        let limited = BandwidthLimitLayer::new(inner.clone()).with_download_limit(2000).with_burst(1000);
        let start = Instant::now();
        assert_eq!(limited.get_bytes("c", "streamed").await.unwrap().len(), 5000);
        about(start.elapsed(), Duration::from_secs(2), &format!("{name}: 4000 B past the burst at 2000 B/s"));
        let start = Instant::now();
        limited.put_object("c", "up", chunks(10, 500), &put()).await.unwrap();
        about(start.elapsed(), Duration::ZERO, &format!("{name}: uploads are not limited"));
    }
}

#[tokio::test(start_paused = true)]
async fn bandwidth_is_shared_by_concurrent_parts() {
    for (name, inner, _dir) in backends().await {
        let limited = BandwidthLimitLayer::new(inner.clone()).with_upload_limit(1000).with_burst(1000);
        let up = limited.create_multipart("c", "parts", &put()).await.unwrap();
        let (start, options) = (Instant::now(), PartOptions::default());
        let (a, b) = tokio::join!(
            limited.put_part(&up, 1, chunks(4, 500), &options),
            limited.put_part(&up, 2, chunks(4, 500), &options),
        );
        about(start.elapsed(), Duration::from_secs(3), &format!("{name}: 4000 B together, one bucket"));
        limited.complete_multipart(&up, &[a.unwrap(), b.unwrap()], &Default::default()).await.unwrap();
        assert_eq!(inner.head_object("c", "parts").await.unwrap().size, 4000, "{name}");
    }
}

// ---- ReadOnlyLayer --------------------------------------------------------------------

#[tokio::test]
async fn read_only_refuses_every_write_and_writes_nothing() {
    for (name, inner, _dir) in backends().await {
        inner.put_object("c", "k", "old".into(), &put()).await.unwrap();
        let ro = ReadOnlyLayer::new(inner.clone());

        assert_eq!(ro.get_bytes("c", "k").await.unwrap(), "old", "{name}: reads pass");
        assert_eq!(ro.list_keys("c", None).await.unwrap(), ["k"], "{name}");
        assert_eq!(ro.head_object("c", "k").await.unwrap().size, 3, "{name}");
        assert!(ro.list_multipart_uploads("c", None).await.unwrap().is_empty(), "{name}");

        let caps = ro.info().capabilities;
        assert!(!caps.manage_containers && !caps.copy && !caps.multipart && !caps.put_if_absent, "{name}");
        assert!(inner.info().capabilities.multipart, "{name}: the inner driver is unchanged");

        let denied = |r: Result<()>, what: &str| {
            let e = r.expect_err(what);
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{name}: {what}");
            assert!(e.message().contains("read-only"), "{name}: {what}: {e}");
        };
        denied(ro.put_object("c", "new", "x".into(), &put()).await.map(drop), "put");
        denied(ro.put_object("c", "k", "new".into(), &put()).await.map(drop), "overwrite");
        denied(ro.delete_object("c", "k").await, "delete");
        denied(ro.delete_batch("c", &["k".to_owned()]).await.map(drop), "batch delete");
        denied(ro.copy_object("c", "k", "c", "copy", &CopyOptions::default()).await.map(drop), "copy");
        denied(ro.create_multipart("c", "mp", &put()).await.map(drop), "multipart");
        denied(ro.create_container("c2").await.map(drop), "create container");
        denied(ro.delete_container("c").await, "delete container");
        let stream = futures::stream::iter([Ok(Bytes::from_static(b"x"))]).boxed();
        let upload = ro.upload_object_via_stream(stream, "c", "helper", put(), &Default::default()).await;
        denied(upload.map(drop), "helper upload");
        denied(ro.rename("c", "k", "renamed").await.map(drop), "rename");
        denied(ro.delete_prefix("c", "").await.map(drop), "delete prefix");

        assert_eq!(inner.list_keys("c", None).await.unwrap(), ["k"], "{name}: nothing written or deleted");
        assert_eq!(inner.get_bytes("c", "k").await.unwrap(), "old", "{name}");
        assert!(inner.list_multipart_uploads("c", None).await.unwrap().is_empty(), "{name}");
        assert!(inner.get_container("c2").await.is_err(), "{name}");
    }
}

// ---- TracingLayer ---------------------------------------------------------------------

fn recorder() -> (Arc<Mutex<Vec<CallRecord>>>, storage::layers::Observer) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    (seen, Arc::new(move |r: &CallRecord| sink.lock().unwrap().push(r.clone())))
}

#[tokio::test]
async fn tracing_records_every_call_with_its_outcome() {
    for (name, inner, _dir) in backends().await {
        let (seen, observer) = recorder();
        let t = TracingLayer::new(inner.clone()).with_observer(observer);
        t.put_object("c", "k", "hello".into(), &put()).await.unwrap();
        assert_eq!(t.get_bytes("c", "k").await.unwrap(), "hello");
        assert!(t.head_object("c", "missing").await.is_err());
        t.list_keys("c", Some("k")).await.unwrap();
        t.delete_object("c", "k").await.unwrap();
        assert!(t.create_container("c").await.is_err());

        let seen = seen.lock().unwrap();
        let ops: Vec<_> = seen.iter().map(|r| r.operation).collect();
        assert_eq!(
            ops,
            ["put_object", "get_object", "head_object", "list_page", "delete_object", "create_container"],
            "{name}"
        );
        assert_eq!(seen[0].bytes, Some(5), "{name}: payload length");
        assert_eq!(seen[1].bytes, Some(5), "{name}: body length");
        assert_eq!((seen[2].key.as_deref(), seen[2].error), (Some("missing"), Some(ErrorKind::ObjectDoesNotExist)));
        assert_eq!(seen[3].key.as_deref(), Some("k"), "{name}: a listing's prefix");
        assert!(seen[4].is_ok(), "{name}");
        assert_eq!(seen[5].error, Some(ErrorKind::ContainerAlreadyExists), "{name}");
        assert!(seen.iter().all(|r| r.container.as_deref() == Some("c")), "{name}");
    }
}

#[tokio::test(start_paused = true)]
async fn tracing_times_calls() {
    for (name, inner, _dir) in backends().await {
        let (seen, observer) = recorder();
        let slow = BandwidthLimitLayer::new(inner.clone()).with_upload_limit(1000).with_burst(1000);
        let t = TracingLayer::new(Arc::new(slow)).with_observer(observer);
        t.put_object("c", "fast", "x".into(), &put()).await.unwrap();
        t.put_object("c", "slow", Bytes::from(vec![0u8; 3000]).into(), &put()).await.unwrap();
        let seen = seen.lock().unwrap();
        about(seen[0].duration, Duration::ZERO, name);
        about(seen[1].duration, Duration::from_secs(2), name);
        assert_eq!(seen[1].bytes, Some(3000), "{name}");
    }
}

// ---- together -------------------------------------------------------------------------

#[tokio::test]
async fn layers_stack() {
    for (name, inner, _dir) in backends().await {
        let (seen, observer) = recorder();
        let prefixed = PrefixLayer::new(inner.clone(), "app").unwrap();
        let stack = ReadOnlyLayer::new(Arc::new(
            TracingLayer::new(Arc::new(ConcurrencyLimitLayer::new(Arc::new(prefixed), 4))).with_observer(observer),
        ));
        inner.put_object("c", "app/x", "data".into(), &put()).await.unwrap();
        assert_eq!(stack.get_bytes("c", "x").await.unwrap(), "data", "{name}");
        assert_eq!(
            stack.put_object("c", "y", "no".into(), &put()).await.unwrap_err().kind(),
            ErrorKind::PermissionDenied
        );
        let ops: Vec<_> = seen.lock().unwrap().iter().map(|r| (r.operation, r.key.clone())).collect();
        assert_eq!(ops, [("get_object", Some("x".to_owned()))], "{name}: the refused write never got that far");
    }
}

/// The transfer engine's parallel ranged reads and part uploads, through a limit lower
/// than their own concurrency: they queue, they do not deadlock.
#[tokio::test]
async fn concurrency_below_the_transfer_engines_own_does_not_deadlock() {
    for (name, inner, _dir) in backends().await {
        let limited: Arc<dyn Driver> = Arc::new(ConcurrencyLimitLayer::new(inner.clone(), 1));
        let options = storage::TransferOptions {
            single_put_threshold: 1024,
            part_size: 64 * 1024,
            download_part_size: 64 * 1024,
            concurrency: 4,
            read_ahead: 4,
            ..Default::default()
        };
        let transfer = storage::Transfer::with_options(limited, options);
        let data = Bytes::from((0..1_000_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>());
        let work = async {
            transfer.upload_bytes(data.clone(), "c", "big", put()).await.unwrap();
            let mut body = transfer.download_stream("c", "big").await.unwrap();
            let mut got = Vec::new();
            while let Some(chunk) = body.next().await {
                got.extend_from_slice(&chunk.unwrap());
            }
            got
        };
        let got = tokio::time::timeout(Duration::from_secs(60), work).await.expect("no deadlock");
        assert!(got == data, "{name}: the data comes back whole");
    }
}
