//! The chaos soak: many mixed writes and reads through [`ChaosLayer`] and [`RetryLayer`],
//! every byte read back checked against a model of what each key may hold.
//!
//! Each worker owns its own keys, so the model needs no locking: after a call that
//! succeeded a key holds exactly what was written; after one that failed it holds either
//! what it held before or what the call would have made it (the fault may have struck
//! before or after the store applied it). A read must return one of those, and then the
//! key holds exactly that. At the end every key is read once more through the bare driver,
//! unfinished multipart uploads are counted (and aborted), and everything is deleted.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use storage_core::hash::md5_hex;
use storage_core::layers::{CHAOS_MARKER, ChaosConfig, ChaosCounts, ChaosLayer, RetryLayer, SplitMix64};
use storage_core::{CopyOptions, DownloadOptions, Driver, DriverExt, ErrorKind, PutOptions, TransferOptions};

/// What a soak runs.
#[derive(Clone, Debug)]
pub struct SoakConfig {
    /// Operations in all.
    pub operations: usize,
    /// Workers running at once (each with its own keys).
    pub workers: usize,
    /// Keys per worker.
    pub keys_per_worker: usize,
    /// The largest object written by a plain put.
    pub max_small: usize,
    /// The size of the occasional large object, written by the multipart engine (0: none).
    pub large: usize,
    /// The part size for large objects.
    pub part_size: u64,
    /// The faults.
    pub chaos: ChaosConfig,
    /// Attempts per call in the retry layer.
    pub attempts: u32,
}

impl SoakConfig {
    /// A short soak for CI: 300 operations, 4 workers, recoverable faults at `rate`.
    pub fn short(seed: u64, rate: f64) -> Self {
        SoakConfig {
            operations: 300,
            workers: 4,
            keys_per_worker: 6,
            max_small: 64 * 1024,
            large: 0,
            part_size: 5 << 20,
            chaos: ChaosConfig::recoverable(seed, rate).body_truncate(rate),
            attempts: 8,
        }
    }
}

/// What a soak did and found.
#[derive(Clone, Debug, Default)]
pub struct SoakReport {
    /// The driver's label.
    pub label: String,
    /// Operations run, by name.
    pub operations: BTreeMap<&'static str, u64>,
    /// Operations that failed, by error kind (after the retry layer gave up).
    pub errors: BTreeMap<String, u64>,
    /// Failed operations whose error was not an injected one (a real failure).
    pub real_errors: Vec<String>,
    /// Bytes read back and found right (during the run and in the final check).
    pub bytes_verified: u64,
    /// Reads that returned data no write could have left there.
    pub corrupt: Vec<String>,
    /// Keys found missing that must exist, or present that must be gone.
    pub lost: Vec<String>,
    /// Unfinished multipart uploads left at the end (then aborted).
    pub orphans: usize,
    /// Faults injected.
    pub chaos: ChaosCounts,
    /// Retries the retry layer made.
    pub retries: u64,
    /// Writes whose lost answer the retry layer settled by looking.
    pub settled: u64,
}

impl SoakReport {
    /// No corruption, no loss, no real error.
    pub fn ok(&self) -> bool {
        self.corrupt.is_empty() && self.lost.is_empty() && self.real_errors.is_empty()
    }

    /// Operations run in all.
    pub fn total(&self) -> u64 {
        self.operations.values().sum()
    }
}

impl fmt::Display for SoakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ops: Vec<String> = self.operations.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let errors: Vec<String> = self.errors.iter().map(|(k, v)| format!("{k} {v}")).collect();
        writeln!(f, "{}: {} operations ({})", self.label, self.total(), ops.join(", "))?;
        writeln!(f, "  faults: {}", self.chaos)?;
        writeln!(f, "  retries {}, lost answers settled {}", self.retries, self.settled)?;
        writeln!(
            f,
            "  failed operations (typed, injected): {}",
            if errors.is_empty() { "none".to_owned() } else { errors.join(", ") }
        )?;
        write!(
            f,
            "  bytes verified {}, corrupt {}, lost {}, real errors {}, orphaned uploads {}",
            self.bytes_verified,
            self.corrupt.len(),
            self.lost.len(),
            self.real_errors.len(),
            self.orphans
        )?;
        for line in self.corrupt.iter().chain(&self.lost).chain(&self.real_errors).take(20) {
            write!(f, "\n  ! {line}")?;
        }
        Ok(())
    }
}

/// What one key may hold: each entry a possible content (`None`: absent).
type Possible = Vec<Option<Bytes>>;

/// Runs a soak on `container` (which must exist) of `driver`, through a fresh chaos layer
/// and a retry layer; keys live under `prefix`.
pub async fn soak(
    driver: Arc<dyn Driver>,
    label: &str,
    container: &str,
    prefix: &str,
    config: &SoakConfig,
) -> SoakReport {
    let chaos = Arc::new(ChaosLayer::new(driver.clone(), config.chaos.clone()));
    let store = Arc::new(RetryLayer::new(chaos.clone()).with_attempts(config.attempts));
    let per_worker = config.operations.div_ceil(config.workers.max(1));
    let mut handles = Vec::new();
    for w in 0..config.workers.max(1) {
        let store: Arc<dyn Driver> = store.clone();
        let config = config.clone();
        let container = container.to_owned();
        let prefix = format!("{prefix}w{w}/");
        handles
            .push(tokio::spawn(async move { worker(store, &container, &prefix, w as u64, per_worker, &config).await }));
    }
    let mut report = SoakReport { label: label.to_owned(), ..SoakReport::default() };
    let mut models = Vec::new();
    for h in handles {
        match h.await {
            Ok((part, model)) => {
                merge(&mut report, part);
                models.push(model);
            }
            Err(e) => report.real_errors.push(format!("a worker panicked: {e}")),
        }
    }
    report.chaos = chaos.counts();
    report.retries = store.retries();
    report.settled = store.settled();
    // The final check, through the bare driver.
    for model in &models {
        for (key, possible) in model {
            match driver.get_bytes(container, key).await {
                Ok(data) => match possible.iter().any(|p| p.as_ref() == Some(&data)) {
                    true => report.bytes_verified += data.len() as u64,
                    false if possible.iter().all(Option::is_none) => {
                        report.lost.push(format!("{key}: present ({} bytes) though deleted", data.len()))
                    }
                    false => report.corrupt.push(format!(
                        "{key}: final read of {} bytes (md5 {}) matches no write",
                        data.len(),
                        md5_hex(&data)
                    )),
                },
                Err(e) if e.kind() == ErrorKind::ObjectDoesNotExist => {
                    if !possible.iter().any(Option::is_none) {
                        report.lost.push(format!("{key}: missing at the end"));
                    }
                }
                Err(e) => report.real_errors.push(format!("{key}: final read: {e}")),
            }
        }
    }
    if driver.info().capabilities.multipart
        && let Ok(uploads) = driver.list_multipart_uploads(container, Some(prefix)).await
    {
        report.orphans = uploads.len();
        for u in uploads {
            let _ = driver.abort_multipart(&u).await;
        }
    }
    let _ = driver.delete_prefix(container, prefix).await;
    report
}

fn merge(into: &mut SoakReport, part: SoakReport) {
    for (k, v) in part.operations {
        *into.operations.entry(k).or_default() += v;
    }
    for (k, v) in part.errors {
        *into.errors.entry(k).or_default() += v;
    }
    into.real_errors.extend(part.real_errors);
    into.corrupt.extend(part.corrupt);
    into.lost.extend(part.lost);
    into.bytes_verified += part.bytes_verified;
}

/// One worker's operations on its own keys; returns its report and final model.
async fn worker(
    store: Arc<dyn Driver>,
    container: &str,
    prefix: &str,
    w: u64,
    operations: usize,
    config: &SoakConfig,
) -> (SoakReport, BTreeMap<String, Possible>) {
    let mut rng = SplitMix64::new(config.chaos.seed ^ (w + 1).wrapping_mul(0xA076_1D64_78BD_642F));
    let keys: Vec<String> = (0..config.keys_per_worker.max(2)).map(|i| format!("{prefix}k{i}")).collect();
    let mut model: BTreeMap<String, Possible> = keys.iter().map(|k| (k.clone(), vec![None])).collect();
    let mut r = SoakReport::default();
    let dir = tempfile::tempdir().ok();
    for n in 0..operations {
        let key = keys[rng.index(keys.len())].clone();
        let roll = rng.index(100);
        let op: &'static str = match roll {
            0..=29 => "put",
            30..=34 if config.large > 0 => "upload (multipart)",
            30..=54 => "get",
            55..=64 => "download",
            65..=74 => "range",
            75..=84 => "copy",
            85..=94 => "delete",
            _ => "head",
        };
        *r.operations.entry(op).or_default() += 1;
        let failed = |r: &mut SoakReport, e: storage_core::Error| {
            *r.errors.entry(e.kind().to_string()).or_default() += 1;
            if !e.to_string().contains(CHAOS_MARKER) && e.kind() != ErrorKind::ObjectDoesNotExist {
                r.real_errors.push(format!("{op} {key}: {e}"));
            }
        };
        match op {
            "put" => {
                let size = if rng.index(8) == 0 { 0 } else { rng.index(config.max_small + 1) };
                let data = Bytes::from(rng.bytes(size));
                match store.put_object(container, &key, data.clone().into(), &PutOptions::default()).await {
                    Ok(_) => set(&mut model, &key, Some(data)),
                    Err(e) => {
                        add(&mut model, &key, Some(data));
                        failed(&mut r, e);
                    }
                }
            }
            "upload (multipart)" => {
                let data = Bytes::from(rng.bytes(config.large));
                let transfer = TransferOptions {
                    single_put_threshold: config.part_size,
                    part_size: config.part_size,
                    ..TransferOptions::default()
                };
                let stream = futures::stream::iter(
                    data.chunks(256 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect::<Vec<_>>(),
                )
                .boxed();
                match store.upload_object_via_stream(stream, container, &key, PutOptions::default(), &transfer).await {
                    Ok(_) => set(&mut model, &key, Some(data)),
                    Err(e) => {
                        add(&mut model, &key, Some(data));
                        failed(&mut r, e);
                    }
                }
            }
            "get" | "range" | "download" => {
                let got = match op {
                    "get" => store.get_bytes(container, &key).await.map(|d| (d, None)),
                    "range" => {
                        let start = rng.index(config.max_small / 2) as u64;
                        let end = start + 1 + rng.index(config.max_small / 2) as u64;
                        store.get_range(container, &key, start..end).await.map(|d| (d, Some(start..end)))
                    }
                    _ => match &dir {
                        Some(dir) => {
                            let path = dir.path().join(format!("d{n}"));
                            let result =
                                store.download_object(container, &key, &path, &DownloadOptions::default()).await;
                            let read = match result {
                                Ok(_) => tokio::fs::read(&path)
                                    .await
                                    .map(|d| (Bytes::from(d), None))
                                    .map_err(|e| storage_core::Error::new(ErrorKind::Io, e.to_string())),
                                Err(e) => Err(e),
                            };
                            let _ = tokio::fs::remove_file(&path).await;
                            read
                        }
                        None => continue,
                    },
                };
                check_read(&mut r, &mut model, &key, op, got, &failed);
            }
            "copy" => {
                let dst = keys[rng.index(keys.len())].clone();
                if dst == key {
                    continue;
                }
                let source = model[&key].clone();
                match store.copy_object(container, &key, container, &dst, &CopyOptions::default()).await {
                    Ok(_) => {
                        let present: Possible = source.into_iter().filter(Option::is_some).collect();
                        model.insert(dst, present);
                    }
                    Err(e) if e.kind() == ErrorKind::ObjectDoesNotExist && source.iter().any(Option::is_none) => {
                        set(&mut model, &key, None);
                    }
                    Err(e) => {
                        if let Some(p) = model.get_mut(&dst) {
                            p.extend(source.into_iter().filter(Option::is_some));
                        }
                        failed(&mut r, e);
                    }
                }
            }
            "delete" => match store.delete_object(container, &key).await {
                Ok(()) => set(&mut model, &key, None),
                Err(e) => {
                    add(&mut model, &key, None);
                    failed(&mut r, e);
                }
            },
            _ => match store.head_object(container, &key).await {
                Ok(o) => {
                    let sizes: Vec<u64> = model[&key].iter().flatten().map(|b| b.len() as u64).collect();
                    if !sizes.contains(&o.size) {
                        r.corrupt.push(format!("head {key}: size {} matches no write ({sizes:?})", o.size));
                    }
                }
                Err(e) if e.kind() == ErrorKind::ObjectDoesNotExist => {
                    if !model[&key].iter().any(Option::is_none) {
                        r.lost.push(format!("head {key}: missing though written"));
                    }
                }
                Err(e) => failed(&mut r, e),
            },
        }
    }
    (r, model)
}

/// Checks a read against the model: the data must be one of the key's possible contents
/// (or that content's slice for a range), and the key then holds it.
fn check_read(
    r: &mut SoakReport,
    model: &mut BTreeMap<String, Possible>,
    key: &str,
    op: &str,
    got: storage_core::Result<(Bytes, Option<std::ops::Range<u64>>)>,
    failed: &dyn Fn(&mut SoakReport, storage_core::Error),
) {
    let possible = model[key].clone();
    match got {
        Ok((data, None)) => match possible.iter().find(|p| p.as_ref() == Some(&data)) {
            Some(found) => {
                r.bytes_verified += data.len() as u64;
                let found = found.clone();
                set(model, key, found);
            }
            None => r.corrupt.push(format!(
                "{op} {key}: {} bytes (md5 {}) match no write ({} possible)",
                data.len(),
                md5_hex(&data),
                possible.len()
            )),
        },
        Ok((data, Some(range))) => {
            let fits = |b: &Bytes| {
                let start = (range.start as usize).min(b.len());
                let end = (range.end as usize).min(b.len());
                b.slice(start..end) == data
            };
            if possible.iter().flatten().any(fits) {
                r.bytes_verified += data.len() as u64;
            } else {
                r.corrupt.push(format!("{op} {key} {range:?}: {} bytes match no write", data.len()));
            }
        }
        Err(e) if matches!(e.kind(), ErrorKind::ObjectDoesNotExist | ErrorKind::InvalidRange) => {
            if e.kind() == ErrorKind::ObjectDoesNotExist && !possible.iter().any(Option::is_none) {
                r.lost.push(format!("{op} {key}: missing though written"));
            } else if e.kind() == ErrorKind::ObjectDoesNotExist {
                set(model, key, None);
            }
        }
        Err(e) => failed(r, e),
    }
}

fn set(model: &mut BTreeMap<String, Possible>, key: &str, value: Option<Bytes>) {
    model.insert(key.to_owned(), vec![value]);
}

fn add(model: &mut BTreeMap<String, Possible>, key: &str, value: Option<Bytes>) {
    if let Some(p) = model.get_mut(key)
        && !p.contains(&value)
    {
        p.push(value);
    }
}

/// The conformance groups that move data, run under chaos.
pub const DATA_GROUPS: &[&str] = &["objects", "multipart", "transfer", "tree", "copy", "helpers"];

/// The data-moving groups ([`DATA_GROUPS`]) of the suite, run against `driver` through a
/// [`ChaosLayer`] with `chaos` and a [`RetryLayer`] on top.
#[derive(Clone, Debug)]
pub struct ChaosSuiteReport {
    /// The suite's report (cases failed by an injected fault included).
    pub report: crate::DriverReport,
    /// Failed cases whose failure was an injected fault reaching the caller as a typed
    /// error (a stream payload, which no one can send twice, say): not a defect.
    pub surfaced: Vec<String>,
    /// Failed cases with any other failure: defects.
    pub defects: Vec<String>,
    /// Faults injected.
    pub chaos: ChaosCounts,
    /// Retries the retry layer made.
    pub retries: u64,
}

/// Runs [`DATA_GROUPS`] under chaos; see [`ChaosSuiteReport`].
pub async fn run_under_chaos(
    driver: Arc<dyn Driver>,
    config: &crate::RunConfig,
    chaos: ChaosConfig,
    attempts: u32,
) -> ChaosSuiteReport {
    let layer = Arc::new(ChaosLayer::new(driver, chaos));
    let retry = Arc::new(RetryLayer::new(layer.clone()).with_attempts(attempts));
    let only: Vec<String> =
        crate::cases().iter().filter(|c| DATA_GROUPS.contains(&c.group)).map(|c| c.name.to_owned()).collect();
    let config = crate::RunConfig { only: Some(only), ..config.clone() };
    let report = crate::run(retry.clone(), &config).await;
    let (mut surfaced, mut defects) = (Vec::new(), Vec::new());
    for case in report.cases.iter().filter(|c| c.status == crate::Status::Failed) {
        let line = format!("{}: {}", case.name, case.detail);
        if case.detail.contains(CHAOS_MARKER) { surfaced.push(line) } else { defects.push(line) }
    }
    ChaosSuiteReport { report, surfaced, defects, chaos: layer.counts(), retries: retry.retries() }
}
