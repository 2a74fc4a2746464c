//! What a case body works with: the driver, its container, a key prefix, and helpers
//! that turn storage errors into readable failure details.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures::stream::{self, StreamExt};
use storage_core::{
    ByteStream, Capabilities, Driver, Error, ErrorKind, GetOptions, Limits, ListEntry, ListOptions, MultipartUpload,
    Object, Payload, PutOptions,
};

use crate::case::CaseResult;

/// Most entries a helper listing collects before it gives up (a pagination loop guard).
const LIST_GUARD: usize = 100_000;

/// A tag unique across processes and machines for practical purposes: 16 lowercase hex
/// digits from a randomly seeded hasher, a per-process counter and the clock.
pub(crate) fn unique_tag() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    h.write_u128(nanos);
    format!("{:016x}", h.finish())
}

/// A container name valid under the S3, GCS, Azure and filesystem rules alike:
/// `conf-` and 16 lowercase hex digits.
pub(crate) fn fresh_container_name() -> String {
    format!("conf-{}", unique_tag())
}

#[derive(Debug, Default)]
struct Created {
    containers: Vec<String>,
    uploads: Vec<MultipartUpload>,
}

/// The context of one case run.
#[derive(Clone)]
pub(crate) struct Ctx {
    /// The driver under test.
    pub driver: Arc<dyn Driver>,
    /// The case's container.
    pub container: String,
    /// A unique key prefix ending in `/`; every key a case writes starts with it.
    pub prefix: String,
    /// The capabilities after overrides.
    pub caps: Capabilities,
    /// The driver's limits.
    pub limits: Limits,
    /// The driver's name.
    pub driver_name: String,
    created: Arc<Mutex<Created>>,
}

impl Ctx {
    pub(crate) fn new(driver: Arc<dyn Driver>, container: String, caps: Capabilities) -> Self {
        let info = driver.info();
        let limits = info.limits;
        let driver_name = info.name.clone();
        Ctx {
            driver,
            container,
            prefix: format!("t-{}/", unique_tag()),
            caps,
            limits,
            driver_name,
            created: Arc::new(Mutex::new(Created::default())),
        }
    }

    /// The driver.
    pub fn d(&self) -> &dyn Driver {
        self.driver.as_ref()
    }

    /// The full key for `name` (the case prefix + `name`).
    pub fn k(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// `key` without the case prefix, for readable details.
    pub fn rel<'a>(&self, key: &'a str) -> &'a str {
        key.strip_prefix(self.prefix.as_str()).unwrap_or(key)
    }

    /// Part size for multipart cases: at least the driver's minimum and 64 KiB, at most
    /// its maximum.
    pub fn part_size(&self) -> usize {
        let size = self.limits.min_part_size.max(64 * 1024).min(self.limits.max_part_size.max(1));
        usize::try_from(size).unwrap_or(usize::MAX)
    }

    // ---- writes and reads -------------------------------------------------------------

    /// Writes `data` at `name` with default options.
    pub async fn put(&self, name: &str, data: impl Into<Bytes>) -> Result<Object, String> {
        self.put_opts(name, data, &PutOptions::default()).await
    }

    /// Writes `data` at `name` with `options`.
    pub async fn put_opts(&self, name: &str, data: impl Into<Bytes>, options: &PutOptions) -> Result<Object, String> {
        let key = self.k(name);
        self.d()
            .put_object(&self.container, &key, Payload::Bytes(data.into()), options)
            .await
            .or_fail(&format!("put_object {name:?}"))
    }

    /// The raw result of a write (to inspect its error).
    pub async fn try_put(&self, name: &str, payload: Payload, options: &PutOptions) -> storage_core::Result<Object> {
        self.d().put_object(&self.container, &self.k(name), payload, options).await
    }

    /// The whole object at `name`.
    pub async fn get(&self, name: &str) -> Result<Bytes, String> {
        let res = self
            .d()
            .get_object(&self.container, &self.k(name), &GetOptions::default())
            .await
            .or_fail(&format!("get_object {name:?}"))?;
        res.bytes().await.or_fail(&format!("reading the body of {name:?}"))
    }

    /// Reads `name` with `options`; returns the metadata, the range and the data.
    pub async fn get_with(
        &self,
        name: &str,
        options: &GetOptions,
    ) -> storage_core::Result<(Object, std::ops::Range<u64>, Bytes)> {
        let res = self.d().get_object(&self.container, &self.k(name), options).await?;
        let object = res.object.clone();
        let range = res.range.clone();
        let data = res.bytes().await?;
        Ok((object, range, data))
    }

    /// The metadata of `name`.
    pub async fn head(&self, name: &str) -> Result<Object, String> {
        self.d().head_object(&self.container, &self.k(name)).await.or_fail(&format!("head_object {name:?}"))
    }

    /// Deletes `name`.
    pub async fn delete(&self, name: &str) -> Result<(), String> {
        self.d().delete_object(&self.container, &self.k(name)).await.or_fail(&format!("delete_object {name:?}"))
    }

    /// Checks that `name` holds exactly `expected`.
    pub async fn expect_data(&self, name: &str, expected: &[u8]) -> CaseResult {
        let got = self.get(name).await?;
        same_bytes(&format!("the data of {name:?}"), &got, expected)
    }

    /// Checks that `name` does not exist (head and get answer `ObjectDoesNotExist`).
    pub async fn expect_absent(&self, name: &str) -> CaseResult {
        let key = self.k(name);
        expect_kind(
            self.d().head_object(&self.container, &key).await,
            ErrorKind::ObjectDoesNotExist,
            &format!("head_object {name:?} (expected absent)"),
        )?;
        expect_kind(
            self.d().get_object(&self.container, &key, &GetOptions::default()).await,
            ErrorKind::ObjectDoesNotExist,
            &format!("get_object {name:?} (expected absent)"),
        )?;
        Ok(())
    }

    // ---- listing ----------------------------------------------------------------------

    /// Every entry of a lazy listing with `options`.
    pub async fn list(&self, options: ListOptions) -> Result<Vec<ListEntry>, String> {
        let what = format!("list_objects {}", self.describe(&options));
        let mut s = self.d().list_objects(&self.container, options);
        let mut out = Vec::new();
        while let Some(e) = s.next().await {
            out.push(e.or_fail(&what)?);
            if out.len() > LIST_GUARD {
                return Err(format!("{what}: more than {LIST_GUARD} entries; the pagination never ends"));
            }
        }
        Ok(out)
    }

    /// Listing options under the case prefix (+ `sub`).
    pub fn under(&self, sub: &str) -> ListOptions {
        ListOptions::prefix(self.k(sub))
    }

    /// Entries rendered relative to the case prefix: `name` for objects, `name (prefix)`
    /// for common prefixes.
    pub fn render(&self, entries: &[ListEntry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| match e {
                ListEntry::Object(o) => self.rel(&o.name).to_owned(),
                ListEntry::Prefix(p) => format!("{} (prefix)", self.rel(p)),
            })
            .collect()
    }

    /// Lists with `options` and compares the rendered entries with `expected`.
    pub async fn expect_listing(&self, options: ListOptions, expected: &[&str]) -> CaseResult {
        let what = self.describe(&options);
        let got = self.render(&self.list(options).await?);
        ensure_eq(
            &format!("listing {what} (names relative to the case prefix {:?})", self.prefix),
            &got,
            &expected.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
        )
    }

    /// Listing options in words, with keys relative to the case prefix.
    pub fn describe(&self, o: &ListOptions) -> String {
        let mut parts = Vec::new();
        if let Some(p) = &o.prefix {
            parts.push(format!("prefix {:?}", self.rel(p)));
        }
        if let Some(d) = &o.delimiter {
            parts.push(format!("delimiter {d:?}"));
        }
        if let Some(s) = &o.start_after {
            parts.push(format!("start_after {:?}", self.rel(s)));
        }
        if let Some(n) = o.page_size {
            parts.push(format!("page_size {n}"));
        }
        format!("with {}", if parts.is_empty() { "no options".to_owned() } else { parts.join(", ") })
    }

    /// Writes each `name` with a small distinct body.
    pub async fn put_all(&self, names: &[&str]) -> CaseResult {
        for name in names {
            self.put(name, Bytes::from(format!("data of {name}"))).await?;
        }
        Ok(())
    }

    // ---- resources the runner cleans up -----------------------------------------------

    /// Creates another container (cleaned up after the case).
    pub async fn new_container(&self) -> Result<String, String> {
        let name = fresh_container_name();
        self.d().create_container(&name).await.or_fail(&format!("create_container {name:?}"))?;
        self.track_container(&name);
        Ok(name)
    }

    /// Registers a container the case created, so the runner deletes it afterwards.
    pub fn track_container(&self, name: &str) {
        self.created.lock().unwrap_or_else(PoisonError::into_inner).containers.push(name.to_owned());
    }

    /// Starts a multipart upload at `name` (aborted by the runner if left unfinished).
    pub async fn create_upload(&self, name: &str, options: &PutOptions) -> Result<MultipartUpload, String> {
        let upload = self
            .d()
            .create_multipart(&self.container, &self.k(name), options)
            .await
            .or_fail(&format!("create_multipart {name:?}"))?;
        self.created.lock().unwrap_or_else(PoisonError::into_inner).uploads.push(upload.clone());
        Ok(upload)
    }

    /// The containers and uploads to clean up.
    pub(crate) fn take_created(&self) -> (Vec<String>, Vec<MultipartUpload>) {
        let mut c = self.created.lock().unwrap_or_else(PoisonError::into_inner);
        (std::mem::take(&mut c.containers), std::mem::take(&mut c.uploads))
    }
}

/// Turns a storage result into a case result with a detail naming the operation.
pub(crate) trait OrFail<T> {
    /// `Err("<what>: unexpected error: <error>")` on failure.
    fn or_fail(self, what: &str) -> Result<T, String>;
}

impl<T> OrFail<T> for storage_core::Result<T> {
    fn or_fail(self, what: &str) -> Result<T, String> {
        self.map_err(|e| format!("{what}: unexpected error: {e}"))
    }
}

/// Expects an error of `kind`; returns it for further checks.
pub(crate) fn expect_kind<T>(result: storage_core::Result<T>, kind: ErrorKind, what: &str) -> Result<Error, String> {
    expect_kinds(result, &[kind], what)
}

/// Expects an error of one of `kinds`.
pub(crate) fn expect_kinds<T>(
    result: storage_core::Result<T>,
    kinds: &[ErrorKind],
    what: &str,
) -> Result<Error, String> {
    let want = kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(" or ");
    match result {
        Ok(_) => Err(format!("{what}: expected {want}, but the call succeeded")),
        Err(e) if kinds.contains(&e.kind()) => Ok(e),
        Err(e) => Err(format!("{what}: expected {want}, got {e}")),
    }
}

/// Expects any error.
pub(crate) fn expect_err<T>(result: storage_core::Result<T>, what: &str) -> Result<Error, String> {
    match result {
        Ok(_) => Err(format!("{what}: expected an error, but the call succeeded")),
        Err(e) => Ok(e),
    }
}

/// Compares two byte strings; the detail gives both lengths and the first difference.
pub(crate) fn same_bytes(what: &str, got: &[u8], expected: &[u8]) -> CaseResult {
    if got == expected {
        return Ok(());
    }
    let first = got.iter().zip(expected).position(|(a, b)| a != b).unwrap_or(got.len().min(expected.len()));
    Err(format!(
        "{what}: expected {} bytes, got {} bytes; first difference at offset {first}{}",
        expected.len(),
        got.len(),
        if got.len() <= 64 && expected.len() <= 64 {
            format!(" (expected {:?}, got {:?})", String::from_utf8_lossy(expected), String::from_utf8_lossy(got))
        } else {
            String::new()
        }
    ))
}

/// Compares two values with `Debug` output in the detail.
pub(crate) fn ensure_eq<T: PartialEq + std::fmt::Debug + ?Sized>(what: &str, got: &T, expected: &T) -> CaseResult {
    if got == expected { Ok(()) } else { Err(format!("{what}: expected {expected:?}, got {got:?}")) }
}

/// `len` deterministic pseudo-random bytes; different seeds give different data.
pub(crate) fn data(len: usize, seed: u64) -> Bytes {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    if x == 0 {
        x = 1;
    }
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    Bytes::from(v)
}

/// A stream yielding `chunks` in order.
pub(crate) fn stream_of(chunks: Vec<Bytes>) -> ByteStream {
    stream::iter(chunks.into_iter().map(Ok)).boxed()
}

/// `data` cut into chunks of varying sizes (1, 7, 4096, 65 537... bytes, repeating).
pub(crate) fn irregular_chunks(data: &Bytes) -> Vec<Bytes> {
    const SIZES: [usize; 5] = [1, 7, 4096, 65_537, 300_001];
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < data.len() {
        let end = (at + SIZES[i % SIZES.len()]).min(data.len());
        out.push(data.slice(at..end));
        at = end;
        i += 1;
    }
    out
}

/// A stream that yields `good` and then fails with an `Io` error.
pub(crate) fn failing_stream(good: Bytes) -> ByteStream {
    let items: Vec<storage_core::Result<Bytes>> =
        vec![Ok(good), Err(Error::new(ErrorKind::Io, "injected failure: the source stream broke"))];
    stream::iter(items).boxed()
}

/// MD5 of `data`, lowercase hex.
pub(crate) fn md5(data: &[u8]) -> String {
    storage_core::hash::md5_hex(data)
}
