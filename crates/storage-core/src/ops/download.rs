//! Downloads: parallel ranged GETs pinned to the first response's ETag, written at their
//! offsets into a temporary file that is verified, synced and renamed into place (one
//! range, a small object or a whole GET where the driver reads fastest in one stream,
//! `sequential_download`, is written in order and hashed as it is written); or an
//! ordered stream with bounded read-ahead. A range whose body breaks (or stalls) resumes
//! from its last received byte.

use std::collections::BTreeMap;
use std::future::poll_fn;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::stream::{self, StreamExt};
use tokio::task::JoinHandle;

use super::TransferOptions;
use super::checksum::{ContentHasher, check_download};
use super::progress::Progress;
use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};
use crate::fsio::{sync_dir, temp_path_beside};
use crate::object::{Object, etag_matches};
use crate::options::GetOptions;
use crate::payload::{ByteStream, GetResult};

/// Data received for a range is written to the file in batches of about this size.
const WRITE_BATCH: usize = 1 << 20;
/// Reads of the finished part of the file, for the checksum.
const HASH_READ: usize = 1 << 20;

/// Where a download to a path goes.
pub(crate) struct FileTarget<'a> {
    pub dest: &'a Path,
    pub overwrite_existing: bool,
    pub delete_on_failure: bool,
    /// A directory `dest` receives the object's base name (Libcloud's `download_object`);
    /// otherwise a directory in the way is refused.
    pub into_directory: bool,
    /// The version to fetch (`None`: the live object).
    pub version: Option<&'a str>,
}

/// What every range request of one download (or of one [`super::ObjectReader`]) shares:
/// the object's identity as the first response (or the head) gave it, and the retry
/// settings.
#[derive(Debug)]
pub(super) struct Pinned {
    container: String,
    key: String,
    size: u64,
    etag: Option<String>,
    /// The version every range asks for and every answer must be of (`None`: the live
    /// object, held to its ETag).
    version: Option<String>,
    send_if_match: bool,
    resumable: bool,
    retries: u32,
    stall: Option<Duration>,
    /// What the caller should do when the object changed (the end of the error message).
    on_change: &'static str,
}

impl Pinned {
    /// Ranges of `object` (as `container`/`key`), pinned to its ETag: sent as `If-Match`
    /// where the driver honours it, and compared with every response's.
    pub(super) fn new(
        driver: &(impl Driver + ?Sized),
        container: &str,
        key: &str,
        object: &Object,
        retries: u32,
        stall: Option<Duration>,
        on_change: &'static str,
    ) -> Self {
        let caps = driver.info().capabilities;
        Pinned {
            container: container.to_owned(),
            key: key.to_owned(),
            size: object.size,
            etag: object.etag.clone(),
            version: None,
            send_if_match: caps.conditional_get_etag && object.etag.is_some(),
            resumable: caps.ranges,
            retries,
            stall,
            on_change,
        }
    }

    fn changed(&self, detail: &str) -> Error {
        Error::new(
            ErrorKind::PreconditionFailed,
            format!("the object changed during the download ({detail}); {}", self.on_change),
        )
        .with_object(&self.container, &self.key)
    }

    fn options(&self, range: Range<u64>) -> GetOptions {
        GetOptions {
            range: Some(range.into()),
            if_match: if self.send_if_match { self.etag.clone() } else { None },
            version: self.version.clone(),
            ..GetOptions::default()
        }
    }
}

/// Whether a failure of a range is worth resuming.
fn resumable(e: &Error) -> bool {
    e.is_retryable() || matches!(e.kind(), ErrorKind::Io | ErrorKind::Timeout)
}

/// Reads one range, resuming from the last received byte when its body breaks.
pub(super) struct RangeReader {
    pinned: Arc<Pinned>,
    start: u64,
    pos: u64,
    end: u64,
    body: Option<ByteStream>,
    failures: u32,
}

impl RangeReader {
    pub(super) fn new(pinned: Arc<Pinned>, range: Range<u64>) -> Self {
        RangeReader { pinned, start: range.start, pos: range.start, end: range.end, body: None, failures: 0 }
    }

    fn with_body(pinned: Arc<Pinned>, range: Range<u64>, body: ByteStream) -> Self {
        RangeReader { body: Some(body), ..RangeReader::new(pinned, range) }
    }

    fn range(&self) -> Range<u64> {
        self.start..self.end
    }

    /// Requests the rest of the range, checking the answer is the same object. (Takes
    /// the parts it needs, not `&self`: the reader holds a body that is not `Sync`.)
    async fn open<D: Driver + ?Sized>(driver: &D, p: &Pinned, pos: u64, end: u64) -> Result<ByteStream> {
        let res = driver
            .get_object(&p.container, &p.key, &p.options(pos..end))
            .await
            .map_err(|e| if e.kind() == ErrorKind::PreconditionFailed { p.changed("If-Match failed") } else { e })?;
        crate::kit::check_version_answered(p.version.as_deref(), res.object.version.as_deref())
            .map_err(|e| e.with_object(&p.container, &p.key))?;
        if let (Some(want), Some(got)) = (p.etag.as_deref(), res.object.etag.as_deref())
            && !etag_matches(want, got)
        {
            return Err(p.changed(&format!("its ETag went from {want} to {got}")));
        }
        if res.object.size != p.size {
            return Err(p.changed(&format!("its size went from {} to {}", p.size, res.object.size)));
        }
        if res.range.start != pos {
            return Err(Error::new(
                ErrorKind::Backend,
                format!("asked for bytes {pos}..{end}, the backend answered bytes {:?}", res.range),
            ));
        }
        Ok(res.body)
    }

    /// Counts a failure; `Err` when it should end the download.
    fn retry_or_fail(&mut self, e: Error) -> Result<()> {
        if self.pinned.resumable && resumable(&e) && self.failures < self.pinned.retries {
            self.failures += 1;
            tracing::debug!(
                range = ?self.range(), at = self.pos, attempt = self.failures, error = %e, "resuming a range"
            );
            return Ok(());
        }
        Err(e.with_retries(self.failures))
    }

    /// The next chunk of the range, `None` at its end.
    pub(super) async fn next_chunk<D: Driver + ?Sized>(&mut self, driver: &D) -> Result<Option<Bytes>> {
        loop {
            if self.pos >= self.end {
                self.body = None;
                return Ok(None);
            }
            if self.body.is_none() {
                match Self::open(driver, &self.pinned, self.pos, self.end).await {
                    Ok(body) => self.body = Some(body),
                    Err(e) => {
                        self.retry_or_fail(e)?;
                        continue;
                    }
                }
            }
            let Some(body) = self.body.as_mut() else { continue };
            let next = match self.pinned.stall {
                Some(limit) => match tokio::time::timeout(limit, body.next()).await {
                    Ok(next) => next,
                    Err(_) => Some(Err(Error::new(ErrorKind::Timeout, format!("no data arrived for {limit:?}")))),
                },
                None => body.next().await,
            };
            match next {
                Some(Ok(chunk)) if chunk.is_empty() => {}
                Some(Ok(mut chunk)) => {
                    let room = self.end - self.pos;
                    if chunk.len() as u64 > room {
                        chunk.truncate(usize::try_from(room).unwrap_or(usize::MAX));
                    }
                    self.pos += chunk.len() as u64;
                    self.failures = 0;
                    return Ok(Some(chunk));
                }
                Some(Err(e)) => {
                    self.body = None;
                    self.retry_or_fail(e)?;
                }
                None => {
                    self.body = None;
                    let e = Error::new(
                        ErrorKind::Io,
                        format!("the body of bytes {}..{} ended at byte {}", self.start, self.end, self.pos),
                    );
                    self.retry_or_fail(e)?;
                }
            }
        }
    }
}

/// The first request: a ranged GET for the first part (an empty object, whose ranges are
/// all unsatisfiable, and a driver without ranges get a plain GET).
async fn first_response<D: Driver + ?Sized>(
    driver: &D,
    container: &str,
    key: &str,
    t: &TransferOptions,
    version: Option<&str>,
) -> Result<GetResult> {
    let caps = driver.info().capabilities;
    let whole = GetOptions { version: version.map(str::to_owned), ..GetOptions::default() };
    let res = 'res: {
        if caps.ranges && !caps.sequential_download {
            let first = t.download_part_size.max(1);
            let options = GetOptions { range: Some((0..first).into()), ..whole.clone() };
            match driver.get_object(container, key, &options).await {
                Ok(res) => break 'res res,
                Err(e) if e.kind() == ErrorKind::InvalidRange => {}
                Err(e) => return Err(e),
            }
        }
        driver.get_object(container, key, &whole).await?
    };
    crate::kit::check_version_answered(version, res.object.version.as_deref())?;
    Ok(res)
}

/// `from..to` in ranges of `part` bytes.
fn split(from: u64, to: u64, part: u64) -> impl Iterator<Item = Range<u64>> + Send + 'static {
    let part = part.max(1);
    let n = to.saturating_sub(from).div_ceil(part);
    (0..n).map(move |i| {
        let s = from + i * part;
        s..s.saturating_add(part).min(to)
    })
}

/// The plan of a download from its first response: the object, what the ranges share,
/// the reader of the first range, and the other ranges.
struct Plan {
    object: Object,
    pinned: Arc<Pinned>,
    first: RangeReader,
    rest: Vec<Range<u64>>,
}

fn plan<D: Driver + ?Sized>(
    driver: &D,
    container: &str,
    key: &str,
    first: GetResult,
    t: &TransferOptions,
    version: Option<&str>,
) -> Result<Plan> {
    let object = first.object;
    if first.range.start != 0 || first.range.end > object.size {
        return Err(Error::new(
            ErrorKind::Backend,
            format!("the first response holds bytes {:?} of an object of {} bytes", first.range, object.size),
        ));
    }
    let on_change = "nothing was kept, download it again";
    let mut pinned = Pinned::new(driver, container, key, &object, t.range_retries, t.stall_timeout, on_change);
    pinned.version = version.map(str::to_owned);
    let pinned = Arc::new(pinned);
    let rest = split(first.range.end, object.size, t.download_part_size).collect();
    let first = RangeReader::with_body(pinned.clone(), first.range, first.body);
    Ok(Plan { object, pinned, first, rest })
}

// ---- to a file ----------------------------------------------------------------------

/// Deletes the temporary file when dropped armed (a failure or a cancelled download).
struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The last `/`-separated segment of `key`, as a file name: refused when there is none
/// (`dir/`) or it would name a directory (`.`, `..`).
pub(super) fn base_name(key: &str) -> Result<&str> {
    match key.rsplit('/').next() {
        Some(name) if !name.is_empty() && name != "." && name != ".." => Ok(name),
        _ => Err(Error::new(
            ErrorKind::InvalidObjectName,
            format!("the key {key:?} has no base name to use as a file name inside the destination directory"),
        )
        .with_hint("name the destination file instead of a directory")),
    }
}

fn exists_error(dest: &Path) -> Error {
    Error::new(ErrorKind::DestinationExists, format!("{} already exists; nothing was downloaded", dest.display()))
        .with_retryable(false)
}

fn join_error(e: tokio::task::JoinError) -> Error {
    Error::new(ErrorKind::Io, format!("a blocking file task failed: {e}"))
}

pub(crate) async fn download_to_path<D: Driver + ?Sized>(
    driver: &D,
    container: &str,
    key: &str,
    target: FileTarget<'_>,
    t: &TransferOptions,
) -> Result<Object> {
    let context = |e: Error| e.or_context(&driver.info().name, Some(container), Some(key));
    let inside;
    // Whether `dest` exists, from the one stat that also tells a directory apart.
    let (dest, exists) = match tokio::fs::metadata(target.dest).await {
        // Libcloud's rule: a directory destination receives the object's base name.
        Ok(m) if m.is_dir() && target.into_directory => {
            inside = target.dest.join(base_name(key).map_err(context)?);
            (inside.as_path(), tokio::fs::try_exists(&inside).await.unwrap_or(false))
        }
        Ok(m) if m.is_dir() => {
            return Err(context(
                Error::new(ErrorKind::Io, format!("{} is a directory", target.dest.display()))
                    .with_retryable(false)
                    .with_hint("name the file to write, or use download_object, which writes into a directory"),
            ));
        }
        Ok(_) => (target.dest, true),
        Err(_) => (target.dest, false),
    };
    if !target.overwrite_existing && exists {
        return Err(context(exists_error(dest)));
    }
    let first = first_response(driver, container, key, t, target.version).await.map_err(context)?;
    let plan = plan(driver, container, key, first, t, target.version).map_err(context)?;
    let tmp = temp_path_beside(dest);
    let mut guard = TempFile { path: tmp.clone(), armed: false };
    let result = async {
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .await
            .map_err(|e| Error::io(format!("creating {}", tmp.display()), e))?;
        guard.armed = target.delete_on_failure;
        let object = fill_file(driver, plan, file.into_std().await, &tmp, t).await?;
        place(&tmp, dest, target.overwrite_existing).await?;
        Ok(object)
    }
    .await;
    match result {
        Ok(object) => {
            guard.armed = false;
            t.progress().object_done(key);
            Ok(object)
        }
        Err(e) if guard.armed || !tmp.exists() => Err(context(e)),
        Err(e) => Err(context(keep_partial(e, &tmp, dest, exists).await)),
    }
}

/// `delete_on_failure = false`: the partial data goes where the caller asked for it
/// (Libcloud's meaning), unless a file is there (the one an overwrite would have
/// replaced, never swapped for partial data): then it stays beside, named in the error.
async fn keep_partial(e: Error, tmp: &Path, dest: &Path, dest_existed: bool) -> Error {
    if !dest_existed && place(tmp, dest, false).await.is_ok() {
        return e.with_note(format!("the partial data was kept in {}", dest.display()));
    }
    e.with_note(format!("the partial data was kept in {}", tmp.display()))
}

/// The contiguous prefix of the file that is fully written.
#[derive(Debug, Default)]
struct Frontier {
    end: u64,
    waiting: BTreeMap<u64, u64>,
}

impl Frontier {
    fn add(&mut self, r: Range<u64>) {
        if r.start < r.end {
            self.waiting.insert(r.start, r.end);
        }
        while let Some(end) = self.waiting.remove(&self.end) {
            self.end = end;
        }
    }
}

/// The checksum of the written prefix, computed on the blocking pool while the other
/// ranges are still arriving.
enum Hashing {
    Off,
    Idle(ContentHasher, std::fs::File),
    Running(JoinHandle<std::io::Result<(ContentHasher, std::fs::File)>>),
}

enum Event {
    Written(Option<Result<Range<u64>>>),
    Hashed(std::result::Result<std::io::Result<(ContentHasher, std::fs::File)>, tokio::task::JoinError>),
}

/// Fetches every range into `file` (`concurrency` at a time), hashes the finished prefix
/// as it grows, then checks size and hash and syncs the file. A download of one range
/// (a small object, or a driver that reads fastest in one stream) is written in order
/// and hashed as it is written instead ([`fill_in_order`]).
async fn fill_file<D: Driver + ?Sized>(
    driver: &D,
    plan: Plan,
    file: std::fs::File,
    tmp: &Path,
    t: &TransferOptions,
) -> Result<Object> {
    let Plan { object, pinned, first, rest } = plan;
    let size = object.size;
    let progress = t.progress();
    progress.start(Some(size), Some(1));
    let hasher = if t.verify { ContentHasher::for_object(&object) } else { None };
    let (written, file, hasher) = if rest.is_empty() {
        fill_in_order(driver, first, file, hasher, progress).await?
    } else {
        let file = Arc::new(SharedFile { file, writing: std::sync::Mutex::new(()) });
        let readers = std::iter::once(first).chain(rest.into_iter().map(|r| RangeReader::new(pinned.clone(), r)));
        let (written, hasher) = fill_ranges(driver, readers, file.clone(), hasher, tmp, t).await?;
        (written, file, hasher)
    };
    if written != size {
        return Err(Error::new(ErrorKind::Io, format!("only {written} of {size} bytes were written")));
    }
    let len =
        tokio::task::spawn_blocking(move || file.file.sync_all().and_then(|()| file.file.metadata()).map(|m| m.len()))
            .await
            .map_err(join_error)?
            .map_err(|e| Error::io(format!("syncing {}", tmp.display()), e))?;
    if len != size {
        return Err(Error::new(ErrorKind::Io, format!("the download holds {len} bytes but the object has {size}")));
    }
    if let Some(hasher) = hasher {
        check_download(&object, hasher)?;
    }
    Ok(object)
}

/// One range written in order from its start: each batch is written and hashed on the
/// blocking pool while the next one arrives (one batch in the pool at a time), so
/// nothing is read back. Returns the bytes written, the file and the hasher.
async fn fill_in_order<D: Driver + ?Sized>(
    driver: &D,
    mut reader: RangeReader,
    file: std::fs::File,
    hasher: Option<ContentHasher>,
    progress: &dyn Progress,
) -> Result<(u64, Arc<SharedFile>, Option<ContentHasher>)> {
    type Written = std::io::Result<(std::fs::File, Option<ContentHasher>)>;
    async fn settled(job: JoinHandle<Written>) -> Result<(std::fs::File, Option<ContentHasher>)> {
        job.await.map_err(join_error)?.map_err(|e| Error::io("writing the temporary file", e))
    }
    // The file and hasher are always with the last write job: the first one hands them over.
    let mut writing: JoinHandle<Written> = tokio::task::spawn_blocking(move || Ok((file, hasher)));
    let (mut batch, mut batch_len, mut written) = (Vec::new(), 0usize, 0u64);
    loop {
        let chunk = reader.next_chunk(driver).await?;
        let end = chunk.is_none();
        if let Some(chunk) = chunk {
            progress.bytes(chunk.len() as u64);
            batch_len += chunk.len();
            batch.push(chunk);
        }
        if batch_len >= WRITE_BATCH || (end && batch_len > 0) {
            let (mut file, mut hasher) = settled(writing).await?;
            let chunks = std::mem::take(&mut batch);
            written += batch_len as u64;
            batch_len = 0;
            writing = tokio::task::spawn_blocking(move || {
                for chunk in &chunks {
                    std::io::Write::write_all(&mut file, chunk)?;
                    if let Some(h) = hasher.as_mut() {
                        h.update(chunk);
                    }
                }
                Ok((file, hasher))
            });
        }
        if end {
            break;
        }
    }
    let (file, hasher) = settled(writing).await?;
    Ok((written, Arc::new(SharedFile { file, writing: std::sync::Mutex::new(()) }), hasher))
}

/// Ranges fetched `concurrency` at a time and written at their offsets, the finished
/// prefix hashed (read back) as it grows. Returns the length of the finished prefix and
/// the hasher.
async fn fill_ranges<D: Driver + ?Sized>(
    driver: &D,
    readers: impl Iterator<Item = RangeReader>,
    file: Arc<SharedFile>,
    hasher: Option<ContentHasher>,
    tmp: &Path,
    t: &TransferOptions,
) -> Result<(u64, Option<ContentHasher>)> {
    let progress = t.progress();
    let mut hashing = match hasher {
        Some(hasher) => {
            let reader = std::fs::File::open(tmp).map_err(|e| Error::io(format!("opening {}", tmp.display()), e))?;
            Hashing::Idle(hasher, reader)
        }
        None => Hashing::Off,
    };
    let mut writes = stream::iter(readers)
        .map(|reader| fetch_to_file(driver, reader, file.clone(), progress))
        .buffer_unordered(t.parts_in_flight());
    let mut frontier = Frontier::default();
    let mut hashed = 0u64;
    let mut writes_done = false;
    loop {
        if frontier.end > hashed && matches!(hashing, Hashing::Idle(..)) {
            if let Hashing::Idle(hasher, reader) = std::mem::replace(&mut hashing, Hashing::Off) {
                let n = frontier.end - hashed;
                hashing = Hashing::Running(tokio::task::spawn_blocking(move || hash_more(hasher, reader, n)));
            }
            hashed = frontier.end;
        }
        if writes_done && !matches!(hashing, Hashing::Running(_)) {
            break;
        }
        let event = poll_fn(|cx| {
            if !writes_done && let Poll::Ready(item) = writes.poll_next_unpin(cx) {
                return Poll::Ready(Event::Written(item));
            }
            if let Hashing::Running(job) = &mut hashing
                && let Poll::Ready(r) = Pin::new(job).poll(cx)
            {
                return Poll::Ready(Event::Hashed(r));
            }
            Poll::Pending
        })
        .await;
        match event {
            Event::Written(Some(range)) => frontier.add(range?),
            Event::Written(None) => writes_done = true,
            Event::Hashed(r) => {
                let (hasher, reader) =
                    r.map_err(join_error)?.map_err(|e| Error::io(format!("reading back {}", tmp.display()), e))?;
                hashing = Hashing::Idle(hasher, reader);
            }
        }
    }
    let hasher = match hashing {
        Hashing::Idle(hasher, _) => Some(hasher),
        _ => None,
    };
    Ok((frontier.end, hasher))
}

/// Feeds the next `n` bytes of `reader` to `hasher`.
fn hash_more(
    mut hasher: ContentHasher,
    mut reader: std::fs::File,
    mut n: u64,
) -> std::io::Result<(ContentHasher, std::fs::File)> {
    let mut buf = vec![0u8; HASH_READ.min(usize::try_from(n).unwrap_or(HASH_READ))];
    while n > 0 {
        let want = buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
        let got = reader.read(&mut buf[..want])?;
        if got == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the file is shorter than written"));
        }
        hasher.update(&buf[..got]);
        n -= got as u64;
    }
    Ok((hasher, reader))
}

/// Fetches one range and writes it at its offset, in batches; returns the range.
async fn fetch_to_file<D: Driver + ?Sized>(
    driver: &D,
    mut reader: RangeReader,
    file: Arc<SharedFile>,
    progress: &dyn Progress,
) -> Result<Range<u64>> {
    let range = reader.range();
    let mut batch: Vec<Bytes> = Vec::new();
    let mut batch_len = 0usize;
    let mut at = range.start;
    while let Some(chunk) = reader.next_chunk(driver).await? {
        progress.bytes(chunk.len() as u64);
        batch_len += chunk.len();
        batch.push(chunk);
        if batch_len >= WRITE_BATCH {
            write_at(file.clone(), std::mem::take(&mut batch), at).await?;
            at += batch_len as u64;
            batch_len = 0;
        }
    }
    if !batch.is_empty() {
        write_at(file, batch, at).await?;
    }
    Ok(range)
}

/// The temporary file of a download, written by every range.
struct SharedFile {
    file: std::fs::File,
    /// Held while writing: one write at a time (concurrent writes to one file only queue
    /// on the file's lock in the kernel, and cost far more CPU there than they save).
    writing: std::sync::Mutex<()>,
}

/// Writes `chunks` one after another at `offset` with one write call, on the blocking
/// pool.
async fn write_at(file: Arc<SharedFile>, chunks: Vec<Bytes>, offset: u64) -> Result<()> {
    tokio::task::spawn_blocking(move || {
        let joined;
        let data: &[u8] = match chunks.as_slice() {
            [one] => one,
            many => {
                joined = many.concat();
                &joined
            }
        };
        let _one_at_a_time = file.writing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        write_all_at(&file.file, data, offset)
    })
    .await
    .map_err(join_error)?
    .map_err(|e| Error::io("writing the temporary file", e))
}

#[cfg(unix)]
fn write_all_at(file: &std::fs::File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}

#[cfg(windows)]
fn write_all_at(file: &std::fs::File, mut buf: &[u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_write(buf, offset) {
            Ok(0) => return Err(std::io::Error::new(std::io::ErrorKind::WriteZero, "failed to write the buffer")),
            Ok(n) => {
                buf = &buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(not(any(unix, windows)))]
fn write_all_at(_file: &std::fs::File, _buf: &[u8], _offset: u64) -> std::io::Result<()> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "positioned writes are not supported here"))
}

/// Moves the finished temporary file to `dest`. Without `overwrite`, a hard link refuses
/// atomically to replace a file that appeared meanwhile (where links are not supported,
/// an existence check and a rename).
async fn place(tmp: &Path, dest: &Path, overwrite: bool) -> Result<()> {
    let (from, to) = (tmp.to_owned(), dest.to_owned());
    tokio::task::spawn_blocking(move || {
        if overwrite {
            return std::fs::rename(&from, &to);
        }
        match std::fs::hard_link(&from, &to) {
            Ok(()) => {
                let _ = std::fs::remove_file(&from);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
            Err(_) if to.exists() => Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists)),
            Err(_) => std::fs::rename(&from, &to),
        }
    })
    .await
    .map_err(join_error)?
    .map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => exists_error(dest),
        _ => Error::io(format!("moving the download into {}", dest.display()), e),
    })?;
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        sync_dir(dir).await?;
    }
    Ok(())
}

// ---- as an ordered stream -----------------------------------------------------------

pub(crate) async fn download_stream(
    driver: Arc<dyn Driver>,
    container: &str,
    key: &str,
    t: &TransferOptions,
    version: Option<&str>,
) -> Result<ByteStream> {
    let context = |e: Error| e.or_context(&driver.info().name, Some(container), Some(key));
    let first = first_response(driver.as_ref(), container, key, t, version).await.map_err(context)?;
    let Plan { object, pinned, first, rest } =
        plan(driver.as_ref(), container, key, first, t, version).map_err(context)?;
    t.progress().start(Some(object.size), Some(1));
    let data: ByteStream = if rest.is_empty() {
        // One range (a small object, or a backend that sent everything): pass it through.
        stream::unfold(Some((driver.clone(), first)), |state| async move {
            let (driver, mut reader) = state?;
            match reader.next_chunk(driver.as_ref()).await {
                Ok(Some(chunk)) => Some((Ok(chunk), Some((driver, reader)))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        })
        .boxed()
    } else {
        // Each range is fetched by a tokio task: say so rather than panic elsewhere.
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(context(Error::new(
                ErrorKind::Config,
                "an ordered download stream of several ranges needs a tokio runtime (call it inside one)",
            )));
        }
        let readers = std::iter::once(first).chain(rest.into_iter().map(move |r| RangeReader::new(pinned.clone(), r)));
        ordered_ranges(driver.clone(), Box::new(readers), t.read_ahead.max(1) + 1)
    };
    let hasher = if t.verify { ContentHasher::for_object(&object) } else { None };
    let tail = Tail {
        hasher,
        seen: 0,
        object,
        progress: t.progress.clone(),
        driver: driver.info().name.clone(),
        finished: false,
    };
    Ok(stream::unfold((data, tail), |(mut data, mut tail)| async move {
        if tail.finished {
            return None;
        }
        match data.next().await {
            Some(Ok(chunk)) => {
                tail.seen += chunk.len() as u64;
                if let Some(h) = tail.hasher.as_mut() {
                    h.update(&chunk);
                }
                if let Some(p) = &tail.progress {
                    p.bytes(chunk.len() as u64);
                }
                Some((Ok(chunk), (data, tail)))
            }
            Some(Err(e)) => {
                tail.finished = true;
                let e = tail.context(e);
                Some((Err(e), (data, tail)))
            }
            None => {
                tail.finished = true;
                match tail.check() {
                    Ok(()) => {
                        if let Some(p) = &tail.progress {
                            p.object_done(&tail.object.name);
                        }
                        None
                    }
                    Err(e) => {
                        let e = tail.context(e);
                        Some((Err(e), (data, tail)))
                    }
                }
            }
        }
    })
    .boxed())
}

/// What a range task sends: chunks, then `None` once the range is complete.
type RangeMessage = Result<Option<Bytes>>;

/// One range of an ordered stream, fetched by its own task: its chunks wait in the
/// channel (at most the range's size) until the reader gets to them. Dropping it stops
/// the task.
struct RangeTask {
    chunks: tokio::sync::mpsc::UnboundedReceiver<RangeMessage>,
    handle: JoinHandle<()>,
}

impl Drop for RangeTask {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Chunks of a range smaller than this are gathered into one (up to about this size)
/// while more data is already waiting, so the reader gets few large chunks rather than
/// many small network reads; a chunk is passed on as soon as nothing more is ready.
const STREAM_BATCH: usize = 1 << 20;

fn spawn_range(driver: Arc<dyn Driver>, mut reader: RangeReader) -> RangeTask {
    let (tx, chunks) = tokio::sync::mpsc::unbounded_channel();
    let handle = tokio::spawn(async move {
        let mut batch = BytesMut::new();
        loop {
            let next = {
                let mut fut = std::pin::pin!(reader.next_chunk(driver.as_ref()));
                match futures::poll!(fut.as_mut()) {
                    Poll::Ready(next) => next,
                    Poll::Pending => {
                        // Nothing more is ready: what was gathered goes to the reader now.
                        if !batch.is_empty() && tx.send(Ok(Some(batch.split().freeze()))).is_err() {
                            return;
                        }
                        fut.await
                    }
                }
            };
            match next {
                Ok(Some(chunk)) if batch.is_empty() && chunk.len() >= STREAM_BATCH => {
                    if tx.send(Ok(Some(chunk))).is_err() {
                        return;
                    }
                }
                Ok(Some(chunk)) => {
                    batch.extend_from_slice(&chunk);
                    if batch.len() >= STREAM_BATCH && tx.send(Ok(Some(batch.split().freeze()))).is_err() {
                        return;
                    }
                }
                Ok(None) => {
                    if !batch.is_empty() && tx.send(Ok(Some(batch.split().freeze()))).is_err() {
                        return;
                    }
                    let _ = tx.send(Ok(None));
                    return;
                }
                Err(e) => {
                    // The data before the failure is the range's, in order: pass it on.
                    if !batch.is_empty() {
                        let _ = tx.send(Ok(Some(batch.split().freeze())));
                    }
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
    });
    RangeTask { chunks, handle }
}

/// The ranges' data in order, with `window` ranges in flight (the one being read and the
/// ones ahead): the head range streams out as it arrives, so the stream holds at most
/// `window` ranges' data whatever the object's size.
fn ordered_ranges(
    driver: Arc<dyn Driver>,
    readers: Box<dyn Iterator<Item = RangeReader> + Send>,
    window: usize,
) -> ByteStream {
    struct State {
        driver: Arc<dyn Driver>,
        readers: Box<dyn Iterator<Item = RangeReader> + Send>,
        running: std::collections::VecDeque<RangeTask>,
        window: usize,
        failed: bool,
    }
    let state = State { driver, readers, running: std::collections::VecDeque::new(), window, failed: false };
    stream::unfold(state, |mut s| async move {
        if s.failed {
            return None;
        }
        loop {
            while s.running.len() < s.window {
                let Some(reader) = s.readers.next() else { break };
                s.running.push_back(spawn_range(s.driver.clone(), reader));
            }
            let head = s.running.front_mut()?;
            let fail = match head.chunks.recv().await {
                Some(Ok(Some(chunk))) => return Some((Ok(chunk), s)),
                Some(Ok(None)) => {
                    s.running.pop_front();
                    continue;
                }
                Some(Err(e)) => e,
                None => Error::new(ErrorKind::Io, "a range of the download stopped before its end (its task ended)"),
            };
            s.failed = true;
            s.running.clear();
            return Some((Err(fail), s));
        }
    })
    .boxed()
}

/// The end-of-stream checks of an ordered download.
struct Tail {
    hasher: Option<ContentHasher>,
    seen: u64,
    object: Object,
    progress: Option<Arc<dyn Progress>>,
    driver: String,
    finished: bool,
}

impl Tail {
    fn check(&mut self) -> Result<()> {
        if self.seen != self.object.size {
            return Err(Error::new(
                ErrorKind::Io,
                format!("the download ended after {} of {} bytes", self.seen, self.object.size),
            ));
        }
        match self.hasher.take() {
            Some(h) => check_download(&self.object, h),
            None => Ok(()),
        }
    }

    fn context(&self, e: Error) -> Error {
        e.or_context(&self.driver, Some(&self.object.container), Some(&self.object.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_ranges() {
        assert_eq!(split(0, 10, 4).collect::<Vec<_>>(), vec![0..4, 4..8, 8..10]);
        assert_eq!(split(4, 8, 4).collect::<Vec<_>>(), vec![4..8]);
        assert_eq!(split(8, 8, 4).count(), 0);
        assert_eq!(split(0, 3, 0).count(), 3);
    }

    #[test]
    fn frontier_advances_over_contiguous_ranges() {
        let mut f = Frontier::default();
        f.add(4..8);
        assert_eq!(f.end, 0);
        f.add(8..10);
        f.add(0..4);
        assert_eq!(f.end, 10);
        f.add(10..10);
        assert_eq!(f.end, 10);
    }
}
