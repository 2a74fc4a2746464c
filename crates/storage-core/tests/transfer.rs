#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The transfer engine against `MemoryDriver` and a fault-injecting wrapper around it:
//! round trips, concurrency and memory bounds, aborts (on errors and on cancellation),
//! checksums, resumed and pinned ranged downloads, ordered streams, progress.

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::{self, StreamExt};
use storage_core::DownloadOptions;
use storage_core::UploadOptions;
use storage_core::hash::md5_hex;
use storage_core::{
    ByteRange, ByteStream, Bytes, CompletedPart, Driver, DriverExt, DriverInfo, Error, ErrorKind, GetOptions,
    GetResult, HashAlgorithm, MemoryDriver, MultipartUpload, Object, ObjectHash, PartOptions, Payload, Progress,
    PutOptions, Transfer, TransferOptions, async_trait,
};

const C: &str = "bucket";
const PART: u64 = 4096;

fn data(len: usize, seed: u8) -> Bytes {
    let mut x: u32 = 0x9E37_79B9 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 7) as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

fn small(concurrency: usize) -> TransferOptions {
    TransferOptions {
        single_put_threshold: PART,
        part_size: PART,
        concurrency,
        download_part_size: PART,
        read_ahead: 2,
        ..TransferOptions::default()
    }
}

// ---- the fault-injecting wrapper ---------------------------------------------------

/// How a GET body misbehaves after `after` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyFault {
    /// Fails with an `Io` error.
    Break,
    /// Ends cleanly, short.
    Truncate,
    /// Never yields again.
    Stall,
    /// Yields its bytes with one flipped.
    Corrupt,
}

#[derive(Debug, Clone, Default)]
struct Faults {
    /// GET number `n` (1-based) misbehaves after `k` bytes.
    get_once: Option<(usize, u64, Option<BodyFault>)>,
    /// Every GET from number `n` on misbehaves after `k` bytes.
    get_from: Option<(usize, u64, Option<BodyFault>)>,
    /// Before GET number `n`, the object is overwritten (same size, other bytes).
    change_before_get: Option<usize>,
    /// GETs ignore If-Match (as a backend without conditional reads would).
    ignore_if_match: bool,
    /// Objects read report this hash instead of their own.
    hash: Option<ObjectHash>,
    /// `put_part` for this part never completes.
    hang_part: Option<u32>,
    /// `put_part` for this part fails.
    fail_part: Option<u32>,
    /// `put_part` for this part returns an MD5-looking ETag of other data.
    wrong_part_etag: Option<u32>,
    /// `complete_multipart` reports an MD5 of other data.
    wrong_whole_md5: bool,
    /// `complete_multipart` reports a multipart ETag made of other parts.
    wrong_multipart_etag: bool,
    /// `put_part` yields this many times before doing its work.
    part_yields: usize,
    /// Parts 1..=n of `put_part` wait (at most 5 s) until n parts are in flight, so the
    /// engine's concurrency shows whatever the timing of its hashing.
    hold_until_in_flight: Option<usize>,
}

#[derive(Debug)]
struct Faulty {
    inner: Arc<MemoryDriver>,
    info: DriverInfo,
    faults: Mutex<Faults>,
    gets: AtomicUsize,
    get_log: Mutex<Vec<Option<ByteRange>>>,
    puts: AtomicUsize,
    put_parts: AtomicUsize,
    parts_in_flight: AtomicUsize,
    max_parts_in_flight: AtomicUsize,
    bytes_in_flight: AtomicU64,
    max_bytes_in_flight: AtomicU64,
    part_bytes_done: Arc<AtomicU64>,
    /// The MD5 handed to `put_part_with`, per part number.
    part_md5s_given: Mutex<Vec<(u32, Option<String>)>>,
}

impl Faulty {
    fn new(inner: Arc<MemoryDriver>, faults: Faults) -> Arc<Self> {
        Self::with_info(inner.clone(), faults, inner.info().clone())
    }

    fn with_info(inner: Arc<MemoryDriver>, faults: Faults, info: DriverInfo) -> Arc<Self> {
        Arc::new(Faulty {
            inner,
            info,
            faults: Mutex::new(faults),
            gets: AtomicUsize::new(0),
            get_log: Mutex::new(Vec::new()),
            puts: AtomicUsize::new(0),
            put_parts: AtomicUsize::new(0),
            parts_in_flight: AtomicUsize::new(0),
            max_parts_in_flight: AtomicUsize::new(0),
            bytes_in_flight: AtomicU64::new(0),
            max_bytes_in_flight: AtomicU64::new(0),
            part_bytes_done: Arc::new(AtomicU64::new(0)),
            part_md5s_given: Mutex::new(Vec::new()),
        })
    }

    fn faults(&self) -> Faults {
        self.faults.lock().unwrap().clone()
    }

    fn part_md5s_given(&self) -> Vec<(u32, Option<String>)> {
        let mut given = self.part_md5s_given.lock().unwrap().clone();
        given.sort();
        given
    }

    fn ranges_requested(&self) -> Vec<Option<ByteRange>> {
        self.get_log.lock().unwrap().clone()
    }
}

fn faulty_body(body: ByteStream, after: u64, fault: BodyFault) -> ByteStream {
    stream::unfold((body, after, false), move |(mut body, mut left, done)| async move {
        if done {
            return None;
        }
        if left == 0 && fault != BodyFault::Corrupt {
            return match fault {
                BodyFault::Break => {
                    Some((Err(Error::new(ErrorKind::Io, "injected: connection reset")), (body, 0, true)))
                }
                BodyFault::Truncate => None,
                BodyFault::Stall => futures::future::pending().await,
                BodyFault::Corrupt => unreachable!(),
            };
        }
        match body.next().await {
            Some(Ok(chunk)) if fault == BodyFault::Corrupt => {
                let mut v = chunk.to_vec();
                if left < v.len() as u64 && left != u64::MAX {
                    v[left as usize] ^= 0xff;
                    left = u64::MAX;
                } else if left != u64::MAX {
                    left -= v.len() as u64;
                }
                Some((Ok(Bytes::from(v)), (body, left, false)))
            }
            Some(Ok(mut chunk)) => {
                if chunk.len() as u64 > left {
                    chunk.truncate(left as usize);
                }
                left -= chunk.len() as u64;
                Some((Ok(chunk), (body, left, false)))
            }
            other => other.map(|item| (item, (body, left, true))),
        }
    })
    .boxed()
}

#[async_trait]
impl storage_core::layer::Layer for Faulty {
    fn inner(&self) -> &dyn Driver {
        self.inner.as_ref()
    }
    fn info(&self) -> &DriverInfo {
        &self.info
    }
    async fn get_object(&self, container: &str, key: &str, options: &GetOptions) -> storage_core::Result<GetResult> {
        let n = self.gets.fetch_add(1, Ordering::SeqCst) + 1;
        self.get_log.lock().unwrap().push(options.range);
        let f = self.faults();
        if f.change_before_get == Some(n) {
            let old = self.inner.get_bytes(container, key).await?;
            let new: Vec<u8> = old.iter().map(|b| b ^ 0x5a).collect();
            self.inner.put_object(container, key, new.into(), &PutOptions::default()).await?;
        }
        let mut options = options.clone();
        if f.ignore_if_match {
            options.if_match = None;
        }
        let mut res = self.inner.get_object(container, key, &options).await?;
        if let Some(h) = f.hash {
            res.object.hash = Some(h);
        }
        let fault = match (f.get_once, f.get_from) {
            (Some((m, after, fault)), _) if m == n => fault.map(|x| (after, x)),
            (_, Some((m, after, fault))) if n >= m => fault.map(|x| (after, x)),
            _ => None,
        };
        if let Some((after, fault)) = fault {
            res.body = faulty_body(res.body, after, fault);
        }
        Ok(res)
    }
    async fn put_object(
        &self,
        container: &str,
        key: &str,
        payload: Payload,
        options: &PutOptions,
    ) -> storage_core::Result<Object> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.inner.put_object(container, key, payload, options).await
    }
    async fn put_part(
        &self,
        upload: &MultipartUpload,
        part_number: u32,
        payload: Payload,
        options: &PartOptions,
    ) -> storage_core::Result<CompletedPart> {
        self.part_md5s_given.lock().unwrap().push((part_number, options.content_md5.clone()));
        let f = self.faults();
        self.put_parts.fetch_add(1, Ordering::SeqCst);
        let len = payload.length().unwrap_or(0);
        let now = self.parts_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_parts_in_flight.fetch_max(now, Ordering::SeqCst);
        let bytes = self.bytes_in_flight.fetch_add(len, Ordering::SeqCst) + len;
        self.max_bytes_in_flight.fetch_max(bytes, Ordering::SeqCst);
        for _ in 0..f.part_yields {
            tokio::task::yield_now().await;
        }
        if let Some(n) = f.hold_until_in_flight.filter(|&n| part_number as usize <= n) {
            // The first n parts wait until n were in flight at once (at most 5 s, so a
            // broken engine fails the test instead of hanging it).
            for _ in 0..5_000 {
                if self.max_parts_in_flight.load(Ordering::SeqCst) >= n {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        if f.hang_part == Some(part_number) {
            futures::future::pending::<()>().await;
        }
        let result = if f.fail_part == Some(part_number) {
            Err(Error::new(ErrorKind::Backend, "injected: part rejected"))
        } else {
            self.inner.put_part(upload, part_number, payload, options).await
        };
        self.parts_in_flight.fetch_sub(1, Ordering::SeqCst);
        self.bytes_in_flight.fetch_sub(len, Ordering::SeqCst);
        let mut part = result?;
        self.part_bytes_done.fetch_add(len, Ordering::SeqCst);
        if f.wrong_part_etag == Some(part_number) {
            part.etag = md5_hex(b"some other data");
        }
        Ok(part)
    }
    async fn complete_multipart(
        &self,
        upload: &MultipartUpload,
        parts: &[CompletedPart],
        options: &storage_core::CompleteOptions,
    ) -> storage_core::Result<Object> {
        let mut o = self.inner.complete_multipart(upload, parts, options).await?;
        if self.faults().wrong_whole_md5 {
            o.hash = Some(ObjectHash::md5(md5_hex(b"not it")));
        }
        if self.faults().wrong_multipart_etag {
            o.etag = Some(format!("{}-{}", md5_hex(b"not it"), parts.len()));
        }
        Ok(o)
    }
}

async fn store() -> Arc<MemoryDriver> {
    let m = Arc::new(MemoryDriver::new());
    m.create_container(C).await.unwrap();
    m
}

async fn faulty(faults: Faults) -> (Arc<MemoryDriver>, Arc<Faulty>) {
    let m = store().await;
    let f = Faulty::new(m.clone(), faults);
    (m, f)
}

async fn no_uploads(m: &MemoryDriver) {
    assert!(m.list_multipart_uploads(C, None).await.unwrap().is_empty(), "an unfinished multipart upload remains");
}

fn irregular(body: &Bytes, sizes: &[usize]) -> ByteStream {
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < body.len() {
        let end = (at + sizes[i % sizes.len()]).min(body.len());
        out.push(Ok(body.slice(at..end)));
        at = end;
        i += 1;
    }
    stream::iter(out).boxed()
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[derive(Default)]
struct Counting {
    starts: Mutex<Vec<(Option<u64>, Option<u64>)>>,
    bytes: AtomicU64,
    reports: AtomicU64,
    done: Mutex<Vec<String>>,
}

impl Progress for Counting {
    fn start(&self, total_bytes: Option<u64>, total_objects: Option<u64>) {
        self.starts.lock().unwrap().push((total_bytes, total_objects));
    }
    fn bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::SeqCst);
        self.reports.fetch_add(1, Ordering::SeqCst);
    }
    fn object_done(&self, key: &str) {
        self.done.lock().unwrap().push(key.to_owned());
    }
}

// ---- uploads -------------------------------------------------------------------------

const SIZES: [usize; 9] = [0, 1, 4095, 4096, 4097, 8192, 3 * 4096, 3 * 4096 + 5, 50_001];

#[tokio::test]
async fn uploads_round_trip_every_source_and_size() {
    let m = store().await;
    let t = Transfer::with_options(m.clone(), small(3));
    let dir = tempfile::tempdir().unwrap();
    for (i, &len) in SIZES.iter().enumerate() {
        let body = data(len, i as u8);
        let o = t.upload_bytes(body.clone(), C, "bytes", PutOptions::default()).await.unwrap();
        assert_eq!(o.size, len as u64);
        assert_eq!(m.get_bytes(C, "bytes").await.unwrap(), body, "bytes, {len}");

        let o =
            t.upload_stream(irregular(&body, &[1, 1000, 7, 5000]), C, "stream", PutOptions::default()).await.unwrap();
        assert_eq!(o.size, len as u64);
        assert_eq!(m.get_bytes(C, "stream").await.unwrap(), body, "stream, {len}");

        let path = dir.path().join(format!("f{i}"));
        std::fs::write(&path, &body).unwrap();
        let o = t.upload_file(&path, C, "file", PutOptions::content_type("x/y")).await.unwrap();
        assert_eq!(o.size, len as u64);
        assert_eq!(m.get_bytes(C, "file").await.unwrap(), body, "file, {len}");
        assert_eq!(m.head_object(C, "file").await.unwrap().content_type.as_deref(), Some("x/y"));
        no_uploads(&m).await;
    }
}

#[tokio::test]
async fn single_request_below_the_threshold_multipart_above() {
    let (m, f) = faulty(Faults::default()).await;
    let t = Transfer::with_options(f.clone(), small(2));
    t.upload_bytes(data(PART as usize, 1), C, "k", PutOptions::default()).await.unwrap();
    assert_eq!((f.puts.load(Ordering::SeqCst), f.put_parts.load(Ordering::SeqCst)), (1, 0));
    t.upload_bytes(data(PART as usize * 3 + 1, 2), C, "k", PutOptions::default()).await.unwrap();
    assert_eq!((f.puts.load(Ordering::SeqCst), f.put_parts.load(Ordering::SeqCst)), (1, 4));
    // A stream that ends within its first part: one request even above the threshold.
    let t = Transfer::with_options(f.clone(), TransferOptions { single_put_threshold: 10, ..small(2) });
    t.upload_stream(irregular(&data(100, 3), &[9]), C, "s", PutOptions::default()).await.unwrap();
    assert_eq!((f.puts.load(Ordering::SeqCst), f.put_parts.load(Ordering::SeqCst)), (2, 4));
    no_uploads(&m).await;
}

#[tokio::test]
async fn without_parallel_upload_objects_go_in_one_request_up_to_the_driver_limit() {
    let m = store().await;
    let mut info = m.info().clone();
    info.capabilities.parallel_upload = false;
    info.limits.max_single_put = PART * 5;
    let f = Faulty::with_info(m.clone(), Faults::default(), info);
    let t = Transfer::with_options(f.clone(), small(2));
    let counts = || (f.puts.load(Ordering::SeqCst), f.put_parts.load(Ordering::SeqCst));
    let body = data(PART as usize * 3 + 1, 4);
    t.upload_bytes(body.clone(), C, "b", PutOptions::default()).await.unwrap();
    assert_eq!(counts(), (1, 0));
    t.upload_stream(irregular(&body, &[1000]), C, "s", PutOptions::default()).await.unwrap();
    assert_eq!(counts(), (2, 0));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.bin");
    std::fs::write(&path, &body).unwrap();
    t.upload_file(&path, C, "f", PutOptions::default()).await.unwrap();
    assert_eq!(counts(), (3, 0));
    for key in ["b", "s", "f"] {
        assert_eq!(m.get_bytes(C, key).await.unwrap(), body, "{key}");
    }
    // Above what one request may carry, parts all the same.
    let big = data(PART as usize * 5 + 1, 5);
    std::fs::write(&path, &big).unwrap();
    t.upload_file(&path, C, "f", PutOptions::default()).await.unwrap();
    assert_eq!(counts(), (3, 6));
    assert_eq!(m.get_bytes(C, "f").await.unwrap(), big);
    no_uploads(&m).await;
}

/// Progress that, at its first bytes, gives the file another modification time (as an
/// editor saving it during the upload would).
struct TouchOnFirstBytes {
    path: std::path::PathBuf,
    touched: std::sync::atomic::AtomicBool,
}

impl Progress for TouchOnFirstBytes {
    fn bytes(&self, _n: u64) {
        if !self.touched.swap(true, Ordering::SeqCst) {
            let later = std::time::SystemTime::now() + Duration::from_secs(3600);
            std::fs::File::options().write(true).open(&self.path).unwrap().set_modified(later).unwrap();
        }
    }
}

#[tokio::test]
async fn a_file_changed_during_its_upload_is_never_committed() {
    // In parts (the last one short, or full: the change is seen at the end of the file
    // either way), and in one streamed request (no parallel_upload; larger than the
    // engine holds in memory).
    for (parallel, len) in [(true, PART as usize * 12 + 5), (true, PART as usize * 12), (false, (3 << 20) + 3)] {
        let m = store().await;
        m.put_object(C, "f", "old".into(), &PutOptions::default()).await.unwrap();
        let mut info = m.info().clone();
        info.capabilities.parallel_upload = parallel;
        let f = Faulty::with_info(m.clone(), Faults::default(), info);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        std::fs::write(&path, data(len, 6)).unwrap();
        let touch = Arc::new(TouchOnFirstBytes { path: path.clone(), touched: false.into() });
        let t = Transfer::with_options(f.clone(), small(1).with_progress(touch.clone()));
        let e = t.upload_file(&path, C, "f", PutOptions::default()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io, "{len}: {e}");
        assert!(e.message().contains("changed during the upload"), "{e}");
        assert!(!e.is_retryable());
        assert_eq!(m.get_bytes(C, "f").await.unwrap(), "old", "{len}: the old object stays");
        no_uploads(&m).await;
    }
}

#[tokio::test]
async fn one_streamed_request_reports_progress_as_it_is_read() {
    let m = store().await;
    let mut info = m.info().clone();
    info.capabilities.parallel_upload = false;
    let f = Faulty::with_info(m.clone(), Faults::default(), info);
    let p = Arc::new(Counting::default());
    let t = Transfer::with_options(f.clone(), small(2).with_progress(p.clone()));
    // Larger than the engine holds in memory and than one read: streamed from the file in one request.
    let body = data((3 << 20) + 3, 9);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    std::fs::write(&path, &body).unwrap();
    t.upload_file(&path, C, "big", PutOptions::default()).await.unwrap();
    assert_eq!(p.bytes.load(Ordering::SeqCst), body.len() as u64);
    assert!(p.reports.load(Ordering::SeqCst) > 1, "progress came in one report at the end");
    let before = p.reports.load(Ordering::SeqCst);
    t.upload_stream(irregular(&body, &[4096]), C, "s", PutOptions::default()).await.unwrap();
    assert_eq!(p.bytes.load(Ordering::SeqCst), 2 * body.len() as u64);
    assert!(p.reports.load(Ordering::SeqCst) - before > 1, "a stream's progress came in one report");
}

#[tokio::test]
async fn part_size_grows_to_fit_max_parts() {
    let m = store().await;
    let mut info = m.info().clone();
    info.limits.max_parts = 3;
    let f = Faulty::with_info(m.clone(), Faults::default(), info);
    let t = Transfer::with_options(f.clone(), small(2));
    let body = data(PART as usize * 5, 4);
    t.upload_bytes(body.clone(), C, "k", PutOptions::default()).await.unwrap();
    assert_eq!(f.put_parts.load(Ordering::SeqCst), 3);
    assert_eq!(m.get_bytes(C, "k").await.unwrap(), body);
    // A stream cannot know: it fails once it needs a fourth part, and is aborted.
    m.put_object(C, "s", "old".into(), &PutOptions::default()).await.unwrap();
    let e = t.upload_stream(irregular(&body, &[1000]), C, "s", PutOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotSupported, "{e}");
    assert!(e.message().contains("part_size"), "{e}");
    assert_eq!(m.get_bytes(C, "s").await.unwrap(), "old");
    no_uploads(&m).await;
}

#[tokio::test]
async fn concurrency_and_memory_are_bounded() {
    for concurrency in [1usize, 3, 5] {
        let faults = Faults { part_yields: 25, hold_until_in_flight: Some(concurrency), ..Faults::default() };
        let (m, f) = faulty(faults).await;
        let t = Transfer::with_options(f.clone(), small(concurrency));
        let body = data(PART as usize * 12 + 100, 5);
        let chunk = 1000usize;
        // The source counts what was pulled; the driver counts what was stored.
        let pulled = Arc::new(AtomicU64::new(0));
        let max_held = Arc::new(AtomicU64::new(0));
        let done = f.part_bytes_done.clone();
        let (p, h) = (pulled.clone(), max_held.clone());
        let source = irregular(&body, &[chunk])
            .inspect(move |c| {
                let now =
                    p.fetch_add(c.as_ref().unwrap().len() as u64, Ordering::SeqCst) + c.as_ref().unwrap().len() as u64;
                h.fetch_max(now - done.load(Ordering::SeqCst), Ordering::SeqCst);
            })
            .boxed();
        t.upload_stream(source, C, "k", PutOptions::default()).await.unwrap();
        assert_eq!(m.get_bytes(C, "k").await.unwrap(), body);
        let in_flight = f.max_parts_in_flight.load(Ordering::SeqCst);
        assert_eq!(in_flight, concurrency, "parts in flight at once");
        assert!(f.max_bytes_in_flight.load(Ordering::SeqCst) <= PART * concurrency as u64);
        let held = max_held.load(Ordering::SeqCst);
        let bound = PART * (concurrency as u64 + 1) + chunk as u64;
        assert!(held <= bound, "held {held} bytes of the source, bound {bound} (concurrency {concurrency})");
    }
}

#[tokio::test]
async fn a_failed_part_aborts_and_keeps_the_old_object() {
    let (m, f) = faulty(Faults { fail_part: Some(2), ..Faults::default() }).await;
    m.put_object(C, "k", "old".into(), &PutOptions::default()).await.unwrap();
    let t = Transfer::with_options(f.clone(), small(2));
    let e = t.upload_bytes(data(PART as usize * 4, 6), C, "k", PutOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Backend);
    assert_eq!((e.container(), e.key()), (Some(C), Some("k")));
    assert_eq!(m.get_bytes(C, "k").await.unwrap(), "old");
    no_uploads(&m).await;
    // Through the borrowed helpers too.
    let body = data(PART as usize * 4, 6);
    let e = f
        .upload_object_via_stream(irregular(&body, &[1000]), C, "k", PutOptions::default(), &small(2))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Backend);
    assert_eq!(m.get_bytes(C, "k").await.unwrap(), "old");
    no_uploads(&m).await;
}

#[tokio::test]
async fn parts_in_flight_land_before_a_failed_upload_is_aborted() {
    // Part 1 fails at once while parts 2 and 3 are still on their way: the engine waits
    // for them before it aborts, so an abort never races a part (a backend that stages
    // parts as objects would keep one that lands after the abort).
    let (m, f) = faulty(Faults { fail_part: Some(1), part_yields: 50, ..Faults::default() }).await;
    let t = Transfer::with_options(f.clone(), small(3));
    let e = t.upload_bytes(data(PART as usize * 3, 8), C, "k", PutOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Backend);
    assert_eq!(f.parts_in_flight.load(Ordering::SeqCst), 0, "a part was dropped mid-flight instead of landing");
    assert!(f.put_parts.load(Ordering::SeqCst) >= 2, "the parts ran concurrently");
    no_uploads(&m).await;
}

#[tokio::test]
async fn a_failing_source_aborts_and_keeps_the_old_object() {
    let m = store().await;
    m.put_object(C, "k", "old".into(), &PutOptions::default()).await.unwrap();
    let good = data(PART as usize * 5 / 2, 7);
    let items: Vec<storage_core::Result<Bytes>> = vec![Ok(good), Err(Error::new(ErrorKind::Io, "injected: disk"))];
    let e = Transfer::with_options(m.clone(), small(2))
        .upload_stream(stream::iter(items).boxed(), C, "k", PutOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert_eq!(m.get_bytes(C, "k").await.unwrap(), "old");
    no_uploads(&m).await;
}

#[tokio::test]
async fn a_dropped_upload_is_still_aborted() {
    let (m, f) = faulty(Faults { hang_part: Some(3), ..Faults::default() }).await;
    m.put_object(C, "k", "old".into(), &PutOptions::default()).await.unwrap();
    let t = Transfer::with_options(f.clone(), small(2));
    let upload = t.upload_bytes(data(PART as usize * 6, 8), C, "k", PutOptions::default());
    assert!(tokio::time::timeout(Duration::from_millis(200), upload).await.is_err(), "the upload should hang");
    // The abort runs on a spawned task: give it a moment.
    for _ in 0..500 {
        if m.list_multipart_uploads(C, None).await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    no_uploads(&m).await;
    assert_eq!(m.get_bytes(C, "k").await.unwrap(), "old");
}

#[tokio::test]
async fn a_part_etag_that_is_not_its_md5_fails_the_upload() {
    let (m, f) = faulty(Faults { wrong_part_etag: Some(2), ..Faults::default() }).await;
    m.put_object(C, "k", "old".into(), &PutOptions::default()).await.unwrap();
    let t = Transfer::with_options(f.clone(), small(2));
    let e = t.upload_bytes(data(PART as usize * 3, 9), C, "k", PutOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
    assert!(e.message().contains("part 2"), "{e}");
    assert_eq!(m.get_bytes(C, "k").await.unwrap(), "old");
    no_uploads(&m).await;
    // Without verification the ETag is not checked (the memory driver then refuses the
    // ETag at completion, which aborts the upload all the same).
    let t = Transfer::with_options(f.clone(), TransferOptions { verify: false, ..small(2) });
    assert!(t.upload_bytes(data(PART as usize * 3, 9), C, "k", PutOptions::default()).await.is_err());
    no_uploads(&m).await;
}

#[tokio::test]
async fn the_whole_object_hash_is_checked() {
    let (m, f) = faulty(Faults { wrong_whole_md5: true, ..Faults::default() }).await;
    let t = Transfer::with_options(f.clone(), small(2));
    let e = t.upload_bytes(data(PART as usize * 3, 10), C, "k", PutOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
    no_uploads(&m).await;
    let t = Transfer::with_options(f.clone(), TransferOptions { verify: false, ..small(2) });
    t.upload_bytes(data(PART as usize * 3, 10), C, "k", PutOptions::default()).await.unwrap();
}

/// A driver whose multipart objects carry an opaque ETag (S3) instead of their MD5.
async fn opaque_multipart(faults: Faults) -> (Arc<MemoryDriver>, Arc<Faulty>) {
    let m = store().await;
    let mut info = m.info().clone();
    info.capabilities.multipart_md5 = false;
    let f = Faulty::with_info(m.clone(), faults, info);
    (m, f)
}

#[tokio::test]
async fn each_part_md5_is_computed_once_and_handed_to_the_driver() {
    let (m, f) = opaque_multipart(Faults::default()).await;
    let body = data(PART as usize * 3 + 5, 12);
    let t = Transfer::with_options(f.clone(), small(2));
    t.upload_bytes(body.clone(), C, "k", PutOptions::default()).await.unwrap();
    let want: Vec<(u32, Option<String>)> =
        body.chunks(PART as usize).enumerate().map(|(i, c)| (i as u32 + 1, Some(md5_hex(c)))).collect();
    assert_eq!(f.part_md5s_given(), want);
    assert_eq!(m.get_bytes(C, "k").await.unwrap(), body);
    // A file's parts are hashed as they are read; the same MD5s reach the driver.
    let (m, f) = opaque_multipart(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("src.bin");
    std::fs::write(&path, &body).unwrap();
    let t = Transfer::with_options(f.clone(), small(2));
    t.upload_file(&path, C, "k", PutOptions::default()).await.unwrap();
    assert_eq!(f.part_md5s_given(), want);
    assert_eq!(m.get_bytes(C, "k").await.unwrap(), body);
    // Without verification no MD5 is computed or given.
    let (_, f) = opaque_multipart(Faults::default()).await;
    let t = Transfer::with_options(f.clone(), TransferOptions { verify: false, ..small(2) });
    t.upload_bytes(body.clone(), C, "k", PutOptions::default()).await.unwrap();
    assert!(f.part_md5s_given().iter().all(|(_, md5)| md5.is_none()));
    assert_eq!(f.part_md5s_given().len(), 4);
}

#[tokio::test]
async fn without_a_whole_md5_the_multipart_etag_is_checked() {
    let (m, f) = opaque_multipart(Faults { wrong_multipart_etag: true, ..Faults::default() }).await;
    let t = Transfer::with_options(f.clone(), small(2));
    let e = t.upload_bytes(data(PART as usize * 3, 13), C, "k", PutOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
    assert!(e.message().contains("multipart ETag"), "{e}");
    no_uploads(&m).await;
    // A caller's content_md5 is still checked against the whole data.
    let (m, f) = opaque_multipart(Faults::default()).await;
    let t = Transfer::with_options(f.clone(), small(2));
    let opts = PutOptions { content_md5: Some(md5_hex(b"other")), ..PutOptions::default() };
    let e = t.upload_bytes(data(PART as usize * 3, 13), C, "k", opts).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
    assert!(m.get_bytes(C, "k").await.is_err());
    no_uploads(&m).await;
}

#[tokio::test]
async fn content_md5_is_checked_before_anything_commits() {
    let m = store().await;
    m.put_object(C, "k", "old".into(), &PutOptions::default()).await.unwrap();
    let t = Transfer::with_options(m.clone(), small(2));
    for len in [100usize, PART as usize * 3] {
        let body = data(len, 11);
        let wrong = PutOptions { content_md5: Some(md5_hex(b"other")), ..PutOptions::default() };
        let e = t.upload_bytes(body.clone(), C, "k", wrong.clone()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{len}: {e}");
        let e = t.upload_stream(irregular(&body, &[999]), C, "k", wrong).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{len}: {e}");
        assert_eq!(m.get_bytes(C, "k").await.unwrap(), "old");
        no_uploads(&m).await;
        let right = PutOptions { content_md5: Some(md5_hex(&body)), ..PutOptions::default() };
        t.upload_bytes(body.clone(), C, "k2", right).await.unwrap();
        assert_eq!(m.get_bytes(C, "k2").await.unwrap(), body);
    }
}

#[tokio::test]
async fn upload_progress_adds_up() {
    let m = store().await;
    let p = Arc::new(Counting::default());
    let t = Transfer::with_options(m.clone(), small(3).with_progress(p.clone()));
    let body = data(PART as usize * 4 + 17, 12);
    t.upload_bytes(body.clone(), C, "k", PutOptions::default()).await.unwrap();
    assert_eq!(*p.starts.lock().unwrap(), vec![(Some(body.len() as u64), Some(1))]);
    assert_eq!(p.bytes.load(Ordering::SeqCst), body.len() as u64);
    assert_eq!(*p.done.lock().unwrap(), vec!["k".to_owned()]);
    t.upload_stream(irregular(&body, &[333]), C, "s", PutOptions::default()).await.unwrap();
    assert_eq!(p.starts.lock().unwrap()[1], (None, Some(1)));
    assert_eq!(p.bytes.load(Ordering::SeqCst), 2 * body.len() as u64);
    assert_eq!(p.done.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_driver_without_multipart_gets_one_request() {
    let m = store().await;
    let mut info = m.info().clone();
    info.capabilities.multipart = false;
    let f = Faulty::with_info(m.clone(), Faults::default(), info);
    let t = Transfer::with_options(f.clone(), small(2));
    let body = data(PART as usize * 3, 13);
    t.upload_stream(irregular(&body, &[1000]), C, "s", PutOptions::default()).await.unwrap();
    t.upload_bytes(body.clone(), C, "b", PutOptions::default()).await.unwrap();
    assert_eq!(f.put_parts.load(Ordering::SeqCst), 0);
    assert_eq!(m.get_bytes(C, "s").await.unwrap(), body);
    assert_eq!(m.get_bytes(C, "b").await.unwrap(), body);
}

// ---- downloads to a file -----------------------------------------------------------

#[tokio::test]
async fn downloads_round_trip_and_leave_no_temporary_file() {
    let m = store().await;
    let p = Arc::new(Counting::default());
    let t = Transfer::with_options(m.clone(), small(3).with_progress(p.clone()));
    let dir = tempfile::tempdir().unwrap();
    let mut total = 0;
    for (i, &len) in SIZES.iter().enumerate() {
        let body = data(len, 20 + i as u8);
        m.put_object(C, "k", body.clone().into(), &PutOptions::default()).await.unwrap();
        let dest = dir.path().join(format!("out{i}"));
        let o = t.download_file(C, "k", &dest, &DownloadOptions::default()).await.unwrap();
        assert_eq!(o.size, len as u64);
        assert_eq!(std::fs::read(&dest).unwrap(), body, "{len} bytes");
        total += len as u64;
    }
    let want: Vec<String> = (0..SIZES.len()).map(|i| format!("out{i}")).collect::<Vec<_>>();
    let mut want = want;
    want.sort();
    assert_eq!(dir_entries(dir.path()), want);
    assert_eq!(p.bytes.load(Ordering::SeqCst), total);
    assert_eq!(p.done.lock().unwrap().len(), SIZES.len());
    assert_eq!(p.starts.lock().unwrap()[8], (Some(50_001), Some(1)));
}

#[tokio::test]
async fn ranges_are_fetched_concurrently_and_pinned() {
    let (m, f) = faulty(Faults::default()).await;
    let body = data(PART as usize * 5 + 3, 30);
    m.put_object(C, "k", body.clone().into(), &PutOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    Transfer::with_options(f.clone(), small(3))
        .download_file(C, "k", &dest, &DownloadOptions::default())
        .await
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    let ranges = f.ranges_requested();
    assert_eq!(ranges.len(), 6);
    assert_eq!(ranges[0], Some(ByteRange::Bounded { start: 0, end: PART }));
    let mut starts: Vec<u64> = ranges
        .iter()
        .map(|r| match r {
            Some(ByteRange::Bounded { start, .. }) => *start,
            other => panic!("unexpected range {other:?}"),
        })
        .collect();
    starts.sort_unstable();
    assert_eq!(starts, (0..6).map(|i| i * PART).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_broken_range_is_resumed_not_restarted() {
    for fault in [BodyFault::Break, BodyFault::Truncate] {
        let (m, f) = faulty(Faults { get_once: Some((2, 1000, Some(fault))), ..Faults::default() }).await;
        let body = data(PART as usize * 4, 31);
        m.put_object(C, "k", body.clone().into(), &PutOptions::default()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out");
        let p = Arc::new(Counting::default());
        let t = Transfer::with_options(f.clone(), small(2).with_progress(p.clone()));
        t.download_file(C, "k", &dest, &DownloadOptions::default()).await.unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), body, "{fault:?}");
        let ranges = f.ranges_requested();
        assert_eq!(ranges[1], Some(ByteRange::Bounded { start: PART, end: 2 * PART }));
        assert!(
            ranges.contains(&Some(ByteRange::Bounded { start: PART + 1000, end: 2 * PART })),
            "{fault:?}: no request resumed at byte {}: {ranges:?}",
            PART + 1000
        );
        assert_eq!(
            ranges.iter().filter(|r| matches!(r, Some(ByteRange::Bounded { start, .. }) if *start == PART)).count(),
            1
        );
        assert_eq!(p.bytes.load(Ordering::SeqCst), body.len() as u64, "bytes resumed are not counted twice");
        assert_eq!(dir_entries(dir.path()), vec!["out".to_owned()]);
    }
}

#[tokio::test]
async fn a_stalled_range_is_resumed() {
    let (m, f) = faulty(Faults { get_once: Some((2, 1000, Some(BodyFault::Stall))), ..Faults::default() }).await;
    let body = data(PART as usize * 3, 32);
    m.put_object(C, "k", body.clone().into(), &PutOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    let t = Transfer::with_options(
        f.clone(),
        TransferOptions { stall_timeout: Some(Duration::from_millis(100)), ..small(2) },
    );
    t.download_file(C, "k", &dest, &DownloadOptions::default()).await.unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert!(f.ranges_requested().contains(&Some(ByteRange::Bounded { start: PART + 1000, end: 2 * PART })));
    // And in an ordered stream.
    let f2 = Faulty::new(m.clone(), Faults { get_once: Some((3, 10, Some(BodyFault::Stall))), ..Faults::default() });
    let t = Transfer::with_options(f2, TransferOptions { stall_timeout: Some(Duration::from_millis(100)), ..small(2) });
    assert_eq!(collect(t.download_stream(C, "k").await.unwrap()).await.unwrap(), body);
}

#[tokio::test]
async fn a_range_that_keeps_failing_fails_the_download_cleanly() {
    let (m, f) = faulty(Faults { get_from: Some((2, 0, Some(BodyFault::Break))), ..Faults::default() }).await;
    m.put_object(C, "k", data(PART as usize * 3, 33).into(), &PutOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    let t = Transfer::with_options(f.clone(), TransferOptions { range_retries: 2, ..small(1) });
    let e = t.download_file(C, "k", &dest, &DownloadOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert_eq!(e.retries(), 2);
    assert_eq!((e.container(), e.key()), (Some(C), Some("k")));
    assert!(dir_entries(dir.path()).is_empty(), "left {:?}", dir_entries(dir.path()));
    // 1 first + 1 + 2 retries for the second range; the third range is never started.
    assert_eq!(f.gets.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn an_object_changed_midway_fails_with_precondition_failed() {
    for ignore_if_match in [false, true] {
        let (m, f) = faulty(Faults { change_before_get: Some(3), ignore_if_match, ..Faults::default() }).await;
        m.put_object(C, "k", data(PART as usize * 4, 34).into(), &PutOptions::default()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out");
        let t = Transfer::with_options(f.clone(), small(1));
        let e = t.download_file(C, "k", &dest, &DownloadOptions::default()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PreconditionFailed, "{e}");
        assert!(e.message().contains("changed during the download"), "{e}");
        // Pinned by If-Match; where the backend ignores it, by comparing ETags.
        let why = if ignore_if_match { "ETag went from" } else { "If-Match failed" };
        assert!(e.message().contains(why), "{e}");
        assert!(dir_entries(dir.path()).is_empty(), "left {:?}", dir_entries(dir.path()));

        let f = Faulty::new(m.clone(), Faults { change_before_get: Some(3), ignore_if_match, ..Faults::default() });
        let t = Transfer::with_options(f, small(1));
        let items: Vec<_> = t.download_stream(C, "k").await.unwrap().collect().await;
        let e = items.into_iter().find_map(Result::err).expect("an error item");
        assert_eq!(e.kind(), ErrorKind::PreconditionFailed, "{e}");
    }
}

#[tokio::test]
async fn corrupt_data_is_caught_and_not_kept() {
    let (m, f) = faulty(Faults { get_once: Some((2, 10, Some(BodyFault::Corrupt))), ..Faults::default() }).await;
    m.put_object(C, "k", data(PART as usize * 3, 35).into(), &PutOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    let t = Transfer::with_options(f.clone(), small(2));
    let e = t.download_file(C, "k", &dest, &DownloadOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
    assert!(dir_entries(dir.path()).is_empty());
    // delete_on_failure = false keeps the temporary file (not dest) for inspection.
    f.faults.lock().unwrap().get_once = Some((f.gets.load(Ordering::SeqCst) + 2, 10, Some(BodyFault::Corrupt)));
    let e = t
        .download_file(
            C,
            "k",
            &dest,
            &DownloadOptions { overwrite_existing: false, delete_on_failure: false, version: None },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
    // delete_on_failure = false (Libcloud's meaning): the partial data is kept where the
    // caller asked for it, and the error says so.
    assert_eq!(dir_entries(dir.path()), vec!["out".to_owned()]);
    assert_eq!(std::fs::metadata(&dest).unwrap().len(), PART * 3);
    assert!(e.message().contains("kept") && e.message().contains("out"), "{e}");
    // An existing destination being replaced is never swapped for partial data: the
    // partial file stays beside it, named in the error.
    std::fs::write(&dest, b"good").unwrap();
    f.faults.lock().unwrap().get_once = Some((f.gets.load(Ordering::SeqCst) + 2, 10, Some(BodyFault::Corrupt)));
    let e = t
        .download_file(
            C,
            "k",
            &dest,
            &DownloadOptions { overwrite_existing: true, delete_on_failure: false, version: None },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
    assert_eq!(std::fs::read(&dest).unwrap(), b"good");
    let left = dir_entries(dir.path());
    assert_eq!(left.len(), 2, "{left:?}");
    let partial = left.iter().find(|n| n.starts_with(".out.storage-tmp-")).expect("the partial file beside");
    assert!(e.message().contains(partial.as_str()), "{e}");
    // Without verification the corruption goes unnoticed: verify is what catches it.
    let dir = tempfile::tempdir().unwrap();
    f.faults.lock().unwrap().get_once = Some((f.gets.load(Ordering::SeqCst) + 2, 10, Some(BodyFault::Corrupt)));
    let t = Transfer::with_options(f.clone(), TransferOptions { verify: false, ..small(2) });
    t.download_file(C, "k", &dir.path().join("out"), &DownloadOptions::default()).await.unwrap();
}

#[tokio::test]
async fn crc32c_hashes_are_verified() {
    let m = store().await;
    m.put_object(C, "k", "123456789".into(), &PutOptions::default()).await.unwrap();
    let crc = |v: &str| ObjectHash { algorithm: HashAlgorithm::Crc32c, value: v.to_owned() };
    let dir = tempfile::tempdir().unwrap();
    let good = Faulty::new(m.clone(), Faults { hash: Some(crc("e3069283")), ..Faults::default() });
    let t = Transfer::with_options(good, TransferOptions { download_part_size: 4, ..small(2) });
    t.download_file(C, "k", &dir.path().join("a"), &DownloadOptions::default()).await.unwrap();
    assert_eq!(collect(t.download_stream(C, "k").await.unwrap()).await.unwrap(), "123456789");
    let bad = Faulty::new(m.clone(), Faults { hash: Some(crc("00000000")), ..Faults::default() });
    let t = Transfer::with_options(bad, TransferOptions { download_part_size: 4, ..small(2) });
    let e = t.download_file(C, "k", &dir.path().join("b"), &DownloadOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch);
    assert!(e.message().contains("CRC32C"), "{e}");
    let e = collect(t.download_stream(C, "k").await.unwrap()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch);
    assert_eq!(dir_entries(dir.path()), vec!["a".to_owned()]);
}

#[tokio::test]
async fn existing_destinations_follow_overwrite_existing() {
    let m = store().await;
    m.put_object(C, "k", data(PART as usize * 2 + 1, 36).into(), &PutOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    std::fs::write(&dest, b"mine").unwrap();
    let t = Transfer::with_options(m.clone(), small(2));
    let e = t.download_file(C, "k", &dest, &DownloadOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DestinationExists, "{e}");
    assert!(e.is_already_exists() && e.message().contains("already exists"), "{e}");
    assert_eq!(std::fs::read(&dest).unwrap(), b"mine");
    t.download_file(C, "k", &dest, &DownloadOptions::overwrite()).await.unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), m.get_bytes(C, "k").await.unwrap());
    assert_eq!(dir_entries(dir.path()), vec!["out".to_owned()]);
    let e = t.download_file(C, "missing", &dir.path().join("m"), &DownloadOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectDoesNotExist);
    assert_eq!(dir_entries(dir.path()), vec!["out".to_owned()]);
}

/// Uploads without a content type get one guessed from the file name (else the key), as
/// Libcloud's `upload_object` does; a given one is kept.
#[tokio::test]
async fn uploads_guess_the_content_type_from_the_name() {
    let m = store().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.json");
    std::fs::write(&file, b"{}").unwrap();
    m.upload_object(&file, C, "no-extension", &UploadOptions::default()).await.unwrap();
    assert_eq!(m.head_object(C, "no-extension").await.unwrap().content_type.as_deref(), Some("application/json"));
    let stream: ByteStream = Box::pin(stream::iter([Ok(Bytes::from_static(b"<p>"))]));
    m.upload_object_via_stream(stream, C, "page.html", PutOptions::default(), &TransferOptions::default())
        .await
        .unwrap();
    assert_eq!(m.head_object(C, "page.html").await.unwrap().content_type.as_deref(), Some("text/html"));
    let given = UploadOptions { put: PutOptions::content_type("text/plain"), ..UploadOptions::default() };
    m.upload_object(&file, C, "kept.json", &given).await.unwrap();
    assert_eq!(m.head_object(C, "kept.json").await.unwrap().content_type.as_deref(), Some("text/plain"));
}

/// Libcloud's `download_object` documents a directory destination: the object's base name
/// inside it. A key without a base name (`dir/`) is refused and nothing is written.
#[tokio::test]
async fn a_directory_destination_takes_the_objects_base_name() {
    let m = store().await;
    let body = data(PART as usize + 5, 38);
    m.put_object(C, "runs/7/out.csv", body.clone().into(), &PutOptions::default()).await.unwrap();
    m.put_object(C, "runs/7/", "marker".into(), &PutOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    m.download_object(C, "runs/7/out.csv", dir.path(), &DownloadOptions::default()).await.unwrap();
    assert_eq!(std::fs::read(dir.path().join("out.csv")).unwrap(), body);
    // The existing file inside the directory is protected like any destination.
    let e = m.download_object(C, "runs/7/out.csv", dir.path(), &DownloadOptions::default()).await.unwrap_err();
    assert!(e.message().contains("already exists"), "{e}");
    // The engine's download_file (what tree copies use) never guesses a file name: a
    // directory where the file should go is refused, and nothing is written into it.
    let t = Transfer::with_options(m.clone(), small(2));
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let e = t.download_file(C, "runs/7/out.csv", &sub, &DownloadOptions::overwrite()).await.unwrap_err();
    assert!(e.message().contains("is a directory"), "{e}");
    assert!(dir_entries(&sub).is_empty());
    let e = m.download_object(C, "runs/7/", dir.path(), &DownloadOptions::overwrite()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidObjectName, "{e}");
    assert!(e.message().contains("base name"), "{e}");
    assert_eq!(dir_entries(dir.path()), vec!["out.csv".to_owned(), "sub".to_owned()]);
}

#[tokio::test]
async fn a_dropped_download_leaves_no_file() {
    let (m, f) = faulty(Faults { get_once: Some((2, 10, Some(BodyFault::Stall))), ..Faults::default() }).await;
    m.put_object(C, "k", data(PART as usize * 3, 37).into(), &PutOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    let t = Transfer::with_options(f, small(2));
    assert!(
        tokio::time::timeout(Duration::from_millis(100), t.download_file(C, "k", &dest, &DownloadOptions::default()))
            .await
            .is_err()
    );
    assert!(dir_entries(dir.path()).is_empty(), "left {:?}", dir_entries(dir.path()));
}

#[tokio::test]
async fn a_driver_without_ranges_downloads_in_one_request() {
    let m = store().await;
    let mut info = m.info().clone();
    info.capabilities.ranges = false;
    let f = Faulty::with_info(m.clone(), Faults::default(), info);
    let body = data(PART as usize * 3 + 1, 38);
    m.put_object(C, "k", body.clone().into(), &PutOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let t = Transfer::with_options(f.clone(), small(2));
    t.download_file(C, "k", &dir.path().join("out"), &DownloadOptions::default()).await.unwrap();
    assert_eq!(std::fs::read(dir.path().join("out")).unwrap(), body);
    assert_eq!(collect(t.download_stream(C, "k").await.unwrap()).await.unwrap(), body);
    assert_eq!(f.ranges_requested(), vec![None, None]);
}

#[tokio::test]
async fn a_sequential_download_driver_is_read_whole_in_order_checked_and_resumed() {
    let m = store().await;
    let mut info = m.info().clone();
    info.capabilities.sequential_download = true;
    let f = Faulty::with_info(m.clone(), Faults::default(), info);
    // Large enough for several write batches (1 MiB each), in an odd size.
    let body = data((3 << 20) + 17, 39);
    m.put_object(C, "k", body.clone().into(), &PutOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    let p = Arc::new(Counting::default());
    let t = Transfer::with_options(f.clone(), small(4).with_progress(p.clone()));
    t.download_file(C, "k", &dest, &DownloadOptions::default()).await.unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(f.ranges_requested(), vec![None], "one whole GET, no ranges");
    assert_eq!(p.bytes.load(Ordering::SeqCst), body.len() as u64);
    // A body that breaks is resumed from the byte it stopped at, pinned.
    let gets = f.gets.load(Ordering::SeqCst);
    f.faults.lock().unwrap().get_once = Some((gets + 1, 1_500_000, Some(BodyFault::Break)));
    t.download_file(C, "k", &dest, &DownloadOptions { overwrite_existing: true, ..DownloadOptions::default() })
        .await
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    let ranges = f.ranges_requested();
    assert_eq!(ranges[gets..], [None, Some(ByteRange::Bounded { start: 1_500_000, end: body.len() as u64 })]);
    // A flipped byte, in the second write batch, is caught by the hash computed as the
    // batches are written: nothing is kept.
    std::fs::remove_file(&dest).unwrap();
    f.faults.lock().unwrap().get_once = Some((f.gets.load(Ordering::SeqCst) + 1, 1_200_000, Some(BodyFault::Corrupt)));
    let e = t.download_file(C, "k", &dest, &DownloadOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
    assert!(dir_entries(dir.path()).is_empty(), "left {:?}", dir_entries(dir.path()));
    // The ordered stream reads it whole too.
    let gets = f.gets.load(Ordering::SeqCst);
    assert_eq!(collect(t.download_stream(C, "k").await.unwrap()).await.unwrap(), body);
    assert_eq!(f.ranges_requested()[gets..], [None]);
}

// ---- ordered streams -----------------------------------------------------------------

async fn collect(mut s: ByteStream) -> storage_core::Result<Bytes> {
    let mut out = Vec::new();
    while let Some(c) = s.next().await {
        out.extend_from_slice(&c?);
    }
    Ok(out.into())
}

#[tokio::test]
async fn streams_are_ordered_and_verified() {
    let m = store().await;
    let p = Arc::new(Counting::default());
    let t = Transfer::with_options(m.clone(), small(2).with_progress(p.clone()));
    for (i, &len) in SIZES.iter().enumerate() {
        let body = data(len, 40 + i as u8);
        m.put_object(C, "k", body.clone().into(), &PutOptions::default()).await.unwrap();
        assert_eq!(collect(t.download_stream(C, "k").await.unwrap()).await.unwrap(), body, "{len}");
    }
    assert_eq!(p.bytes.load(Ordering::SeqCst), SIZES.iter().sum::<usize>() as u64);
    assert_eq!(p.done.lock().unwrap().len(), SIZES.len());
    let e = t.download_stream(C, "missing").await.err().unwrap();
    assert_eq!(e.kind(), ErrorKind::ObjectDoesNotExist);
}

#[tokio::test]
async fn streams_resume_broken_ranges() {
    let (m, f) = faulty(Faults { get_once: Some((3, 100, Some(BodyFault::Break))), ..Faults::default() }).await;
    let body = data(PART as usize * 6 + 9, 50);
    m.put_object(C, "k", body.clone().into(), &PutOptions::default()).await.unwrap();
    let t = Transfer::with_options(f.clone(), small(2));
    assert_eq!(collect(t.download_stream(C, "k").await.unwrap()).await.unwrap(), body);
    assert!(f.ranges_requested().contains(&Some(ByteRange::Bounded { start: 2 * PART + 100, end: 3 * PART })));
    // A corrupt range ends the stream with an error item.
    let f = Faulty::new(m.clone(), Faults { get_once: Some((2, 5, Some(BodyFault::Corrupt))), ..Faults::default() });
    let e = collect(Transfer::with_options(f, small(2)).download_stream(C, "k").await.unwrap()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch);
}

#[tokio::test]
async fn stream_read_ahead_is_bounded() {
    let (m, f) = faulty(Faults::default()).await;
    let ranges = 12u64;
    let body = data((PART * ranges) as usize, 51);
    m.put_object(C, "k", body.clone().into(), &PutOptions::default()).await.unwrap();
    for read_ahead in [1usize, 3] {
        let before = f.gets.load(Ordering::SeqCst);
        let t = Transfer::with_options(f.clone(), TransferOptions { read_ahead, ..small(8) });
        let mut s = t.download_stream(C, "k").await.unwrap();
        let mut consumed = 0u64;
        while let Some(c) = s.next().await {
            consumed += c.unwrap().len() as u64;
            // Let any fetch that could run, run.
            for _ in 0..20 {
                tokio::task::yield_now().await;
            }
            let requested = (f.gets.load(Ordering::SeqCst) - before) as u64;
            let reached = consumed.div_ceil(PART);
            assert!(
                requested <= reached + read_ahead as u64,
                "read_ahead {read_ahead}: {requested} ranges requested with {consumed} bytes consumed"
            );
        }
        assert_eq!(consumed, body.len() as u64);
    }
}

#[tokio::test]
async fn a_stream_yields_the_head_range_as_it_arrives() {
    // The first range's body stops for good halfway: what came before must reach the
    // reader (a stream that waited for whole ranges would yield nothing).
    let half = PART / 2;
    let (m, f) = faulty(Faults { get_once: Some((1, half, Some(BodyFault::Stall))), ..Faults::default() }).await;
    let body = data((PART * 4) as usize, 52);
    m.put_object(C, "k", body.clone().into(), &PutOptions::default()).await.unwrap();
    let t = Transfer::with_options(f.clone(), small(4));
    let mut s = t.download_stream(C, "k").await.unwrap();
    let mut got = Vec::new();
    let read = async {
        while (got.len() as u64) < half {
            got.extend_from_slice(&s.next().await.unwrap().unwrap());
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read).await.expect("the head range's data never came");
    assert_eq!(&got[..], &body[..got.len()]);
    drop(s);
}

/// Runs a future outside any runtime (the memory driver never waits on I/O).
fn run_without_runtime<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

#[test]
fn a_stream_of_several_ranges_outside_tokio_is_a_clear_error() {
    run_without_runtime(async {
        let m = Arc::new(MemoryDriver::new());
        m.create_container(C).await.unwrap();
        m.put_object(C, "k", data((PART * 3) as usize, 53).into(), &PutOptions::default()).await.unwrap();
        let t = Transfer::with_options(m.clone(), small(2));
        let e = t.download_stream(C, "k").await.err().expect("no tokio runtime here");
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        assert!(e.message().contains("tokio runtime"), "{e}");
    });
}

// ---- the borrowed helpers and types --------------------------------------------------

#[tokio::test]
async fn driver_ext_helpers_use_the_engine() {
    let (m, f) = faulty(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in");
    let body = data(PART as usize * 3 + 2, 60);
    std::fs::write(&path, &body).unwrap();
    // Default transfer settings: this small file goes in one verified request.
    f.upload_object(&path, C, "k", &UploadOptions::default()).await.unwrap();
    assert_eq!((f.puts.load(Ordering::SeqCst), f.put_parts.load(Ordering::SeqCst)), (1, 0));
    assert_eq!(m.get_bytes(C, "k").await.unwrap(), body);
    f.upload_object_via_stream(irregular(&body, &[1000]), C, "s", PutOptions::default(), &small(2)).await.unwrap();
    assert_eq!(f.put_parts.load(Ordering::SeqCst), 4);
    assert_eq!(m.get_bytes(C, "s").await.unwrap(), body);
    let dest = dir.path().join("out");
    f.download_object(C, "k", &dest, &DownloadOptions::default()).await.unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    let e = f.download_object(C, "s", &dest, &DownloadOptions::default()).await.unwrap_err();
    assert!(e.message().contains("already exists"), "{e}");
    f.download_object(C, "s", &dest, &DownloadOptions::overwrite()).await.unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    f.upload_object(&path, C, "plain", &UploadOptions::put(PutOptions::default())).await.unwrap();
    assert_eq!(m.get_bytes(C, "plain").await.unwrap(), body);
}

#[test]
fn futures_are_send_and_options_debug() {
    fn send<T: Send>(_: &T) {}
    let m: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
    let t = Transfer::new(m.clone());
    let p = Path::new("x");
    send(&t.upload_file(p, C, "k", PutOptions::default()));
    send(&t.upload_bytes(Bytes::new(), C, "k", PutOptions::default()));
    send(&t.upload_stream(stream::empty().boxed(), C, "k", PutOptions::default()));
    send(&t.download_file(C, "k", p, &DownloadOptions::default()));
    send(&t.download_stream(C, "k"));
    let o = TransferOptions::default().with_progress(Arc::new(Counting::default()));
    let s = format!("{o:?}");
    assert!(s.contains("part_size: 8388608") && s.contains("progress: Some"), "{s}");
    assert!(t.options().progress.is_none());
}
