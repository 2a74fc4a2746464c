//! Downloading an object into a local directory, extracting it on the way down when its
//! name says it is an archive (Inductiva's `download(remote_path, local_dir,
//! decompress=True)`): [`download`], configured by [`DecompressOptions`].
//!
//! | the key ends in | what lands in `local_dir` |
//! | --- | --- |
//! | `.tar.gz`, `.tgz` | the members of the gzip-compressed tar archive |
//! | `.tar` | the members of the tar archive |
//! | `.gz` (not `.tar.gz`) | one file, the key's base name without `.gz` |
//! | `.zip` | the members of the ZIP archive, read by ranges ([`crate::zip`]) |
//! | anything else, or `decompress` off | the object as it is, under its base name |
//!
//! Suffixes are matched without regard to case. The archive's members keep their paths
//! under `local_dir` (`tar xf` / `unzip -d` semantics).
//!
//! # Streaming, bounded memory
//!
//! A gzip or tar object is read once, front to back, by one ranged GET pinned to the
//! object's ETag (resumed from the last byte received if the body breaks, like every
//! download of the transfer engine), and fed through a small bounded channel to a blocking
//! task that inflates it (flate2; concatenated gzip members are read in turn) and reads
//! the tar stream (the `tar` crate), writing each member as it arrives. Memory stays at
//! a few chunks of the body plus the inflater's window, whatever the archive's size. The
//! whole object's size and hash (MD5 or CRC32C, when the backend reports one) are
//! checked once its last byte has gone through. A ZIP archive is read by range requests
//! instead: its central directory first, then each member's data.
//!
//! # All or nothing
//!
//! Everything is extracted first into a scratch directory inside `local_dir`
//! (`.storage-extract-*`), and moved into place only when the whole archive was read,
//! checked and verified: each file by one `rename` (atomic), after every destination was
//! checked (no existing file without [`DecompressOptions::overwrite`], no directory in a
//! file's way, no symbolic link on the way). A failure at any point before the moves
//! removes the scratch directory and leaves `local_dir` as it was. If the process is
//! killed, the scratch directory may remain (`storage cleanup DIR` removes it); if it is
//! killed during the moves, some files are in place and the rest are in the scratch
//! directory. A plain (not extracted) download goes through the transfer engine's
//! temporary file beside its destination, renamed into place.
//!
//! # Hostile archives
//!
//! Nothing in an archive is trusted. For ZIP archives the rules and errors of
//! [`crate::zip`] apply (provider codes `Zip*`). For tar and gzip:
//!
//! | problem | [`ErrorKind`] | [`Error::provider_code`] |
//! | --- | --- | --- |
//! | a member name with `..`, absolute, with a drive letter, a backslash or NUL, not UTF-8, or written through a symbolic link already in `local_dir` | `InvalidObjectName` | |
//! | symbolic links, hard links, device files, FIFOs, sparse files | `Backend` | `"ArchiveUnsupported"` ([`CODE_ARCHIVE_UNSUPPORTED`]) |
//! | truncated or invalid gzip or tar data, a gzip CRC-32 or length mismatch | `Backend` | `"ArchiveCorrupt"` ([`CODE_ARCHIVE_CORRUPT`]) |
//! | more data, members or ratio than the [`ZipLimits`] allow (counted on the bytes actually written, not on what headers declare) | `Backend` | `"ArchiveBomb"` ([`CODE_ARCHIVE_BOMB`]) |
//! | a file in the way without `overwrite` | `DestinationExists` | |
//!
//! Links are never extracted (their targets could point out of `local_dir`, and a later
//! member could be written through them); an archive holding one is refused whole.
//! `pax` global headers are skipped; `pax` and GNU long names are honoured.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Buf, Bytes};
use tokio::sync::mpsc;

use super::TransferOptions;
use super::checksum::{ContentHasher, check_download};
use super::download::{FileTarget, Pinned, RangeReader, base_name, download_to_path};
use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};
use crate::fsio::unique_tag;
use crate::object::Object;
use crate::zip::{ZipLimits, member_path};

/// Provider code of truncated or invalid gzip or tar data.
pub const CODE_ARCHIVE_CORRUPT: &str = "ArchiveCorrupt";
/// Provider code of a tar member of a kind never extracted (links, devices, FIFOs...).
pub const CODE_ARCHIVE_UNSUPPORTED: &str = "ArchiveUnsupported";
/// Provider code of an archive over a [`ZipLimits`] limit (a decompression bomb).
pub const CODE_ARCHIVE_BOMB: &str = "ArchiveBomb";

/// Prefix of the scratch directories [`download`] extracts into.
pub const SCRATCH_PREFIX: &str = ".storage-extract-";

/// Chunks of the body queued between the download and the extracting task.
const QUEUE: usize = 4;
/// Buffer of the copies from the archive to the files.
const COPY_BUF: usize = 64 * 1024;

fn archive_error(code: &str, message: String) -> Error {
    Error::new(ErrorKind::Backend, message).with_provider_code(code).with_retryable(false)
}
fn corrupt(message: String) -> Error {
    archive_error(CODE_ARCHIVE_CORRUPT, message)
}
fn unsupported(message: String) -> Error {
    archive_error(CODE_ARCHIVE_UNSUPPORTED, message)
}
fn bomb(message: String) -> Error {
    archive_error(CODE_ARCHIVE_BOMB, message)
}

/// The kinds of archive [`download`] extracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArchiveFormat {
    /// A ZIP archive (`.zip`).
    Zip,
    /// One gzip-compressed file (`.gz`).
    Gzip,
    /// A tar archive (`.tar`).
    Tar,
    /// A gzip-compressed tar archive (`.tar.gz`, `.tgz`).
    TarGz,
}

impl ArchiveFormat {
    /// The format a key's name announces, by its suffix (case-insensitive), or `None`.
    ///
    /// ```
    /// use storage_core::ops::ArchiveFormat;
    ///
    /// assert_eq!(ArchiveFormat::from_key("runs/out.tar.gz"), Some(ArchiveFormat::TarGz));
    /// assert_eq!(ArchiveFormat::from_key("LOG.GZ"), Some(ArchiveFormat::Gzip));
    /// assert_eq!(ArchiveFormat::from_key("results.zip"), Some(ArchiveFormat::Zip));
    /// assert_eq!(ArchiveFormat::from_key("notes.txt"), None);
    /// ```
    pub fn from_key(key: &str) -> Option<Self> {
        let name = key.rsplit('/').next().unwrap_or(key).to_ascii_lowercase();
        if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            Some(ArchiveFormat::TarGz)
        } else if name.ends_with(".tar") {
            Some(ArchiveFormat::Tar)
        } else if name.ends_with(".gz") {
            Some(ArchiveFormat::Gzip)
        } else if name.ends_with(".zip") {
            Some(ArchiveFormat::Zip)
        } else {
            None
        }
    }
}

/// How [`download`] treats the object and the local directory.
#[derive(Debug, Clone)]
pub struct DecompressOptions {
    /// Extract archives whose name says so (the default). Off: the object is saved as it
    /// is, under its base name.
    pub decompress: bool,
    /// Replace files that exist in `local_dir`. Off (the default): if any file the
    /// download would write exists, the call fails with `DestinationExists` before
    /// anything is moved into `local_dir`.
    pub overwrite: bool,
    /// Limits against decompression bombs and absurd archives. For tar and gzip:
    /// `max_entries` (members), `max_entry_size` (bytes written for one member),
    /// `max_total_size` (bytes written in all) and `max_ratio` (bytes written per byte
    /// downloaded, once more than `ratio_threshold` bytes were written), all counted on
    /// the data as it is written. For ZIP archives, as [`crate::zip`] applies them.
    pub limits: ZipLimits,
    /// Progress, retries and range size of the download (part size and concurrency of
    /// the parallel download of an object saved as is).
    pub transfer: TransferOptions,
}

impl Default for DecompressOptions {
    /// Decompress, no overwrite, the default limits and transfer settings.
    fn default() -> Self {
        DecompressOptions {
            decompress: true,
            overwrite: false,
            limits: ZipLimits::default(),
            transfer: TransferOptions::default(),
        }
    }
}

impl DecompressOptions {
    /// Sets whether archives are extracted.
    pub fn with_decompress(mut self, decompress: bool) -> Self {
        self.decompress = decompress;
        self
    }
    /// Sets whether existing files are replaced.
    pub fn with_overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }
    /// Sets the limits.
    pub fn with_limits(mut self, limits: ZipLimits) -> Self {
        self.limits = limits;
        self
    }
}

/// What [`download`] did.
#[derive(Debug, Clone)]
pub struct Downloaded {
    /// The object downloaded, as the backend described it.
    pub object: Object,
    /// The archive format extracted; `None` when the object was saved as it is.
    pub format: Option<ArchiveFormat>,
    /// The files written (not the directories), sorted.
    pub files: Vec<PathBuf>,
    /// Bytes written to those files.
    pub bytes: u64,
}

/// Downloads `container`/`key` into the directory `local_dir` (created if missing),
/// extracting it when its name says it is an archive and `options.decompress` is on;
/// see the [module documentation](crate::ops::decompress) for the formats, the streaming, the
/// all-or-nothing placement and the refusal of hostile archives.
pub async fn download<D: Driver + ?Sized>(
    driver: &D,
    container: &str,
    key: &str,
    local_dir: &Path,
    options: &DecompressOptions,
) -> Result<Downloaded> {
    let context = |e: Error| e.or_context(&driver.info().name, Some(container), Some(key));
    let name = base_name(key).map_err(context)?;
    match tokio::fs::symlink_metadata(local_dir).await {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::new(ErrorKind::Io, format!("{} exists and is not a directory", local_dir.display()))
                .with_retryable(false));
        }
        Err(_) => tokio::fs::create_dir_all(local_dir)
            .await
            .map_err(|e| Error::io(format!("creating {}", local_dir.display()), e))?,
    }
    let format = if options.decompress { ArchiveFormat::from_key(key) } else { None };
    let Some(format) = format else {
        let dest = local_dir.join(name);
        let target = FileTarget {
            dest: &dest,
            overwrite_existing: options.overwrite,
            delete_on_failure: true,
            into_directory: false,
            version: None,
        };
        let object = download_to_path(driver, container, key, target, &options.transfer).await?;
        let bytes = object.size;
        return Ok(Downloaded { object, format: None, files: vec![dest], bytes });
    };
    let gunzipped = match format {
        ArchiveFormat::Gzip => {
            let stem = &name[..name.len() - 3];
            if stem.is_empty() || stem == "." || stem == ".." {
                return Err(context(
                    Error::new(
                        ErrorKind::InvalidObjectName,
                        format!("{name:?} leaves no file name once `.gz` is taken off"),
                    )
                    .with_hint("download it with decompression off"),
                ));
            }
            Some(stem.to_owned())
        }
        _ => None,
    };
    let scratch = Scratch::new(local_dir).await?;
    let extracted = async {
        let object = match format {
            ArchiveFormat::Zip => {
                let object = driver.head_object(container, key).await?;
                options.transfer.progress().start(Some(object.size), Some(1));
                crate::zip::extract_to_dir_with(driver, container, key, "", &scratch.path, &options.limits).await?;
                options.transfer.progress().bytes(object.size);
                object
            }
            _ => stream_extract(driver, container, key, format, gunzipped, &scratch.path, options).await?,
        };
        let (from, to, overwrite) = (scratch.path.clone(), local_dir.to_owned(), options.overwrite);
        let (files, bytes) = tokio::task::spawn_blocking(move || place_all(&from, &to, overwrite))
            .await
            .map_err(|e| Error::new(ErrorKind::Io, format!("a blocking file task failed: {e}")))??;
        options.transfer.progress().object_done(key);
        Ok::<_, Error>(Downloaded { object, format: Some(format), files, bytes })
    }
    .await;
    drop(scratch);
    extracted.map_err(context)
}

/// The scratch directory of one extraction, removed (with what it still holds) when
/// dropped, on success, failure or cancellation alike.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    async fn new(local_dir: &Path) -> Result<Self> {
        let path = local_dir.join(format!("{SCRATCH_PREFIX}{}", unique_tag()));
        tokio::fs::create_dir(&path).await.map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        Ok(Scratch { path })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %e, "removing an extraction's scratch directory failed");
        }
    }
}

// ---- streaming gzip and tar ---------------------------------------------------------

/// What the download sends the extracting task.
enum Msg {
    /// More of the body.
    Data(Bytes),
    /// The body is complete and verified.
    End,
}

/// The body as a blocking [`Read`], counting the bytes taken (the compressed side of the
/// ratio). A channel closed without [`Msg::End`] is an interrupted download.
struct ChannelReader {
    rx: mpsc::Receiver<Msg>,
    current: Bytes,
    ended: bool,
    taken: Arc<AtomicU64>,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Msg::Data(b)) => self.current = b,
                Some(Msg::End) => self.ended = true,
                // Not `ErrorKind::Interrupted`: readers retry that kind forever.
                None => return Err(std::io::Error::other(Interrupted)),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        self.taken.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The marker of a read that stopped because the download did.
#[derive(Debug)]
struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the download stopped")
    }
}

impl std::error::Error for Interrupted {}

/// Reads the object front to back into the extracting task; returns the object once
/// both the download (size, hash) and the extraction succeeded.
async fn stream_extract<D: Driver + ?Sized>(
    driver: &D,
    container: &str,
    key: &str,
    format: ArchiveFormat,
    gunzipped: Option<String>,
    scratch: &Path,
    options: &DecompressOptions,
) -> Result<Object> {
    let t = &options.transfer;
    let head = driver.head_object(container, key).await?;
    let on_change = "nothing was extracted, download it again";
    let pinned = Arc::new(Pinned::new(driver, container, key, &head, t.range_retries, t.stall_timeout, on_change));
    let mut reader = RangeReader::new(pinned, 0..head.size);
    let mut hasher = ContentHasher::for_object(&head);
    t.progress().start(Some(head.size), Some(1));

    let (tx, rx) = mpsc::channel(QUEUE);
    let taken = Arc::new(AtomicU64::new(0));
    let input = ChannelReader { rx, current: Bytes::new(), ended: false, taken: taken.clone() };
    let (dir, limits) = (scratch.to_owned(), options.limits);
    let worker = tokio::task::spawn_blocking(move || {
        let mut meter = Meter { written: 0, entries: 0, taken, limits };
        let result = extract_stream(format, gunzipped.as_deref(), input, &dir, &mut meter);
        if result.is_err() {
            // Also here: when the download's future was dropped (cancelled), this task
            // may still have been writing after the scratch guard removed the directory.
            let _ = std::fs::remove_dir_all(&dir);
        }
        result
    });

    let mut worker_stopped = false;
    let fed = async {
        let mut count = 0u64;
        while let Some(chunk) = reader.next_chunk(driver).await? {
            count += chunk.len() as u64;
            if let Some(h) = hasher.as_mut() {
                h.update(&chunk);
            }
            t.progress().bytes(chunk.len() as u64);
            if tx.send(Msg::Data(chunk)).await.is_err() {
                worker_stopped = true;
                return Ok(());
            }
        }
        if count != head.size {
            return Err(Error::new(
                ErrorKind::Io,
                format!("{count} bytes were received but the object holds {}", head.size),
            ));
        }
        if let Some(h) = hasher.take() {
            check_download(&head, h)?;
        }
        if tx.send(Msg::End).await.is_err() {
            worker_stopped = true;
        }
        Ok(())
    }
    .await;
    drop(tx);
    let extracted = worker.await.map_err(|e| Error::new(ErrorKind::Io, format!("the extracting task failed: {e}")))?;
    match (fed, extracted) {
        // The extraction stopped first (a hostile or corrupt archive): its error says why.
        (_, Err(e)) if worker_stopped => Err(e),
        (Err(e), _) => Err(e),
        (Ok(()), Err(e)) => Err(e),
        (Ok(()), Ok(())) if worker_stopped => {
            Err(Error::new(ErrorKind::Io, "the extraction ended before the download; nothing was kept"))
        }
        (Ok(()), Ok(())) => Ok(head),
    }
}

/// Counts what is written against the limits.
struct Meter {
    written: u64,
    entries: u64,
    taken: Arc<AtomicU64>,
    limits: ZipLimits,
}

impl Meter {
    /// One more member.
    fn entry(&mut self, name: &str) -> Result<()> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(bomb(format!(
                "the archive has more than {} members (at {name:?}; ZipLimits::max_entries); nothing was extracted",
                self.limits.max_entries
            )));
        }
        Ok(())
    }

    /// `n` more bytes written, `member_total` of them for the current member.
    fn wrote(&mut self, n: u64, member_total: u64, name: &str) -> Result<()> {
        self.written = self.written.saturating_add(n);
        let l = &self.limits;
        if member_total > l.max_entry_size {
            return Err(bomb(format!(
                "member {name:?} holds more than {} bytes (ZipLimits::max_entry_size); nothing was extracted",
                l.max_entry_size
            )));
        }
        if self.written > l.max_total_size {
            return Err(bomb(format!(
                "the archive holds more than {} bytes (ZipLimits::max_total_size); nothing was extracted",
                l.max_total_size
            )));
        }
        let taken = self.taken.load(Ordering::Relaxed).max(1);
        if self.written > l.ratio_threshold && self.written > taken.saturating_mul(l.max_ratio) {
            return Err(bomb(format!(
                "{} bytes came out of {taken} downloaded, a ratio over {}:1 (ZipLimits::max_ratio, past \
                 ZipLimits::ratio_threshold = {} bytes): a decompression bomb; nothing was extracted",
                self.written, l.max_ratio, l.ratio_threshold
            )));
        }
        Ok(())
    }
}

/// An I/O error while reading the archive: the download's own failure (reported by the
/// download side), or corrupt data.
fn read_error(e: std::io::Error, what: &str) -> Error {
    if e.get_ref().is_some_and(|inner| inner.is::<Interrupted>()) {
        return Error::new(ErrorKind::Io, "the download stopped; nothing was extracted");
    }
    corrupt(format!("{what}: {e}; nothing was extracted")).with_source(e)
}

/// The blocking side: inflates and unpacks `input` into `dir`.
fn extract_stream(
    format: ArchiveFormat,
    gunzipped: Option<&str>,
    input: ChannelReader,
    dir: &Path,
    meter: &mut Meter,
) -> Result<()> {
    match format {
        ArchiveFormat::Gzip => {
            let name = gunzipped.unwrap_or("data");
            meter.entry(name)?;
            let mut data = flate2::read::MultiGzDecoder::new(input);
            write_member(dir, Path::new(name), name, &mut data, meter, "the gzip data")?;
            Ok(())
        }
        ArchiveFormat::Tar => unpack_tar(input, dir, meter),
        ArchiveFormat::TarGz => unpack_tar(flate2::read::MultiGzDecoder::new(input), dir, meter),
        ArchiveFormat::Zip => Err(Error::new(ErrorKind::Backend, "ZIP archives are not read as a stream")),
    }
}

/// Unpacks a tar stream into `dir`, then reads what follows its end (padding, and the
/// rest of a gzip stream, whose checksum is checked at its end).
fn unpack_tar<R: Read>(input: R, dir: &Path, meter: &mut Meter) -> Result<()> {
    use tar::EntryType;
    let mut archive = tar::Archive::new(input);
    let entries = archive.entries().map_err(|e| read_error(e, "the tar stream"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| read_error(e, "a tar header"))?;
        let raw = entry.path_bytes().into_owned();
        let kind = entry.header().entry_type();
        if kind == EntryType::XGlobalHeader {
            continue;
        }
        let name = String::from_utf8(raw).map_err(|e| {
            Error::new(
                ErrorKind::InvalidObjectName,
                format!(
                    "member {:?} cannot be extracted: its name is not UTF-8; nothing was extracted",
                    String::from_utf8_lossy(e.as_bytes())
                ),
            )
        })?;
        meter.entry(&name)?;
        let rel = member_path(&name)?;
        match kind {
            EntryType::Regular | EntryType::Continuous => {
                if rel.as_os_str().is_empty() {
                    return Err(Error::new(
                        ErrorKind::InvalidObjectName,
                        format!("member {name:?} cannot be extracted: its name has no file name"),
                    ));
                }
                write_member(dir, &rel, &name, &mut entry, meter, "a tar member's data")?;
            }
            EntryType::Directory => {
                ensure_dir(dir, &rel, &name)?;
            }
            EntryType::Symlink | EntryType::Link => {
                let what = if kind == EntryType::Symlink { "a symbolic link" } else { "a hard link" };
                let target = entry.link_name_bytes().map(|t| String::from_utf8_lossy(&t).into_owned());
                return Err(unsupported(format!(
                    "member {name:?} is {what} (to {:?}); links are never extracted (they could point out of the \
                     destination); nothing was extracted",
                    target.unwrap_or_default()
                )));
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                return Err(unsupported(format!(
                    "member {name:?} is a device file or FIFO; only files and directories are extracted; nothing \
                     was extracted"
                )));
            }
            other => {
                return Err(unsupported(format!(
                    "member {name:?} is a tar entry of type {:?} ({:?}); only files and directories are extracted; \
                     nothing was extracted",
                    other.as_byte() as char,
                    other
                )));
            }
        }
    }
    // Whatever follows the end of the archive is read (and counted: a bomb hidden after
    // it is still one), so the download is verified and a gzip trailer checked.
    let mut rest = archive.into_inner();
    let mut buf = vec![0u8; COPY_BUF];
    let mut after = 0u64;
    loop {
        let n = match rest.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted && e.get_ref().is_none() => continue,
            Err(e) => return Err(read_error(e, "the data after the tar archive")),
        };
        after += n as u64;
        meter.wrote(n as u64, after, "(after the end of the archive)")?;
    }
}

/// Writes one member's data to `dir/rel`, through a temporary file renamed into place.
fn write_member(dir: &Path, rel: &Path, name: &str, data: &mut dyn Read, meter: &mut Meter, what: &str) -> Result<u64> {
    let parent = ensure_dir(dir, rel.parent().unwrap_or_else(|| Path::new("")), name)?;
    let Some(file_name) = rel.file_name() else {
        return Err(Error::new(ErrorKind::InvalidObjectName, format!("member {name:?} has no file name")));
    };
    let target = parent.join(file_name);
    if std::fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
        return Err(Error::new(
            ErrorKind::InvalidObjectName,
            format!("member {name:?} is a file but the archive also has a directory of that name"),
        ));
    }
    let tmp = crate::fsio::temp_path_beside(&target);
    let io = |verb: &str, p: &Path, e| Error::io(format!("{verb} {}", p.display()), e);
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(|e| io("creating", &tmp, e))?;
    let result = (|| {
        let mut buf = vec![0u8; COPY_BUF];
        let mut total = 0u64;
        loop {
            let n = match data.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted && e.get_ref().is_none() => continue,
                Err(e) => return Err(read_error(e, what)),
            };
            total += n as u64;
            meter.wrote(n as u64, total, name)?;
            file.write_all(&buf[..n]).map_err(|e| io("writing", &tmp, e))?;
        }
        file.sync_all().map_err(|e| io("syncing", &tmp, e))?;
        std::fs::rename(&tmp, &target).map_err(|e| io("renaming into", &target, e))?;
        Ok(total)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Creates `dir/rel` one component at a time, refusing to go through a symbolic link or
/// anything that is not a directory; returns it.
fn ensure_dir(dir: &Path, rel: &Path, name: &str) -> Result<PathBuf> {
    let mut cur = dir.to_path_buf();
    for comp in rel.components() {
        let Component::Normal(part) = comp else {
            return Err(Error::new(ErrorKind::InvalidObjectName, format!("{name:?}: unexpected path component")));
        };
        cur.push(part);
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::new(
                    ErrorKind::InvalidObjectName,
                    format!("{name:?} would be written through the symbolic link {}", cur.display()),
                ));
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::new(
                    ErrorKind::InvalidObjectName,
                    format!("{name:?}: {} exists and is not a directory", cur.display()),
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&cur).map_err(|e| Error::io(format!("creating {}", cur.display()), e))?;
            }
            Err(e) => return Err(Error::io(format!("checking {}", cur.display()), e)),
        }
    }
    Ok(cur)
}

// ---- moving the extracted tree into place -------------------------------------------

/// Every file and directory under `root`, relative, parents before children, sorted.
fn walk(root: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let (mut dirs, mut files) = (Vec::new(), Vec::new());
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let here = root.join(&rel);
        let read = std::fs::read_dir(&here).map_err(|e| Error::io(format!("reading {}", here.display()), e))?;
        for item in read {
            let item = item.map_err(|e| Error::io(format!("reading {}", here.display()), e))?;
            let kind = item.file_type().map_err(|e| Error::io(format!("reading {}", here.display()), e))?;
            let child = rel.join(item.file_name());
            if kind.is_dir() {
                dirs.push(child.clone());
                pending.push(child);
            } else if kind.is_file() {
                files.push(child);
            } else {
                return Err(unsupported(format!("the extraction produced {}, not a file", child.display())));
            }
        }
    }
    dirs.sort();
    files.sort();
    Ok((dirs, files))
}

/// Moves what `scratch` holds into `dest`, after checking every destination: no symbolic
/// link or file on the way, no directory where a file goes, no existing file unless
/// `overwrite`. Returns the files placed and their total size.
fn place_all(scratch: &Path, dest: &Path, overwrite: bool) -> Result<(Vec<PathBuf>, u64)> {
    let (dirs, files) = walk(scratch)?;
    let not_dir = |rel: &Path, p: &Path| {
        Error::new(
            ErrorKind::InvalidObjectName,
            format!("{} cannot be extracted: {} is not a directory; nothing was extracted", rel.display(), p.display()),
        )
    };
    for rel in &dirs {
        let p = dest.join(rel);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() && !m.file_type().is_symlink() => {}
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::new(
                    ErrorKind::InvalidObjectName,
                    format!(
                        "{} is a symbolic link; nothing is extracted through one; nothing was extracted",
                        p.display()
                    ),
                ));
            }
            Ok(_) => return Err(not_dir(rel, &p)),
            Err(_) => {}
        }
    }
    let mut existing = Vec::new();
    let mut bytes = 0u64;
    for rel in &files {
        let p = dest.join(rel);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {
                return Err(Error::new(
                    ErrorKind::InvalidObjectName,
                    format!("{} is a directory, where the archive has a file; nothing was extracted", p.display()),
                ));
            }
            Ok(_) => existing.push(p),
            Err(_) => {}
        }
        bytes += std::fs::metadata(scratch.join(rel)).map(|m| m.len()).unwrap_or(0);
    }
    if !overwrite && !existing.is_empty() {
        let shown: Vec<String> = existing.iter().take(3).map(|p| p.display().to_string()).collect();
        let more = if existing.len() > 3 { format!(" and {} more", existing.len() - 3) } else { String::new() };
        return Err(Error::new(
            ErrorKind::DestinationExists,
            format!("{}{more} already exist; nothing was extracted", shown.join(", ")),
        )
        .with_retryable(false)
        .with_hint("pass overwrite to replace them"));
    }
    for rel in &dirs {
        let p = dest.join(rel);
        if !p.is_dir() {
            std::fs::create_dir(&p).map_err(|e| Error::io(format!("creating {}", p.display()), e))?;
        }
    }
    let mut placed = Vec::with_capacity(files.len());
    for rel in &files {
        let (from, to) = (scratch.join(rel), dest.join(rel));
        // A symbolic link planted at the name since the check is replaced, never followed.
        std::fs::rename(&from, &to).map_err(|e| {
            Error::io(format!("moving {} into place ({} files were placed before it)", to.display(), placed.len()), e)
        })?;
        placed.push(to);
    }
    // Best effort: the renames are durable once the directory is synced.
    if let Ok(d) = std::fs::File::open(dest) {
        let _ = d.sync_all();
    }
    Ok((placed, bytes))
}
