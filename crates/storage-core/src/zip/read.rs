//! Reading an archive through a driver: bounded range reads, and the streaming extraction
//! of one member (stored or deflate) with size, CRC-32 and zip-bomb checks.

use bytes::Bytes;
use flate2::{Decompress, FlushDecompress, Status};
use futures::stream::StreamExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::format::{FLAG_ENCRYPTED, FLAG_STRONG_ENCRYPTION, LOCAL_LEN, parse_local_header};
use super::{ZipEntry, ZipLimits, ZipMethod, bomb, corrupt, unsupported};
use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};
use crate::options::{ByteRange, GetOptions};

/// Size of the inflater's output buffer.
const OUT_BUF: usize = 64 * 1024;

/// The archive being read: where it is, and the ETag its reads are pinned to (so an
/// archive replaced between two reads fails instead of mixing two versions).
pub(super) struct Archive<'a> {
    pub container: &'a str,
    pub key: &'a str,
    pub etag: Option<String>,
}

impl Archive<'_> {
    fn options(&self, start: u64, end: u64) -> GetOptions {
        GetOptions {
            range: Some(ByteRange::Bounded { start, end }),
            if_match: self.etag.clone(),
            ..GetOptions::default()
        }
    }
}

/// Starts a read of exactly `start..start + len` (len > 0) and checks the driver answered
/// with exactly that range: an archive ending earlier than its headers say is corrupt.
async fn open_range<D: Driver + ?Sized>(
    driver: &D,
    archive: &Archive<'_>,
    start: u64,
    len: u64,
    what: &str,
) -> Result<crate::GetResult> {
    let end = start.checked_add(len).ok_or_else(|| corrupt(format!("{what}: offset {start} + {len} overflows")))?;
    let res = match driver.get_object(archive.container, archive.key, &archive.options(start, end)).await {
        Ok(res) => res,
        Err(e) if e.kind() == ErrorKind::InvalidRange => {
            return Err(corrupt(format!("{what}: offset {start} lies past the end of the archive")).with_source(e));
        }
        Err(e) => return Err(e),
    };
    if res.range.start == start && res.range.end < end {
        return Err(corrupt(format!(
            "{what}: bytes {start}..{end} are needed but the archive is {} bytes long",
            res.object.size
        )));
    }
    if res.range != (start..end) {
        return Err(Error::new(
            ErrorKind::Backend,
            format!(
                "{what}: a read of bytes {start}..{end} returned bytes {}..{}; the driver does not honour range reads",
                res.range.start, res.range.end
            ),
        ));
    }
    Ok(res)
}

/// Reads exactly `start..start + len` into memory.
pub(super) async fn read_range<D: Driver + ?Sized>(
    driver: &D,
    archive: &Archive<'_>,
    start: u64,
    len: u64,
    what: &str,
) -> Result<Bytes> {
    if len == 0 {
        return Ok(Bytes::new());
    }
    open_range(driver, archive, start, len, what).await?.bytes().await
}

/// Checks, before any data is read, that a member can be extracted within `limits`: a
/// supported method, consistent sizes for stored data, a declared size and compression
/// ratio that are not a zip bomb.
pub(super) fn check_entry(entry: &ZipEntry, limits: &ZipLimits) -> Result<()> {
    let name = &entry.name;
    match entry.method {
        ZipMethod::Stored if entry.compressed_size != entry.uncompressed_size => {
            return Err(corrupt(format!(
                "member {name:?} is stored (not compressed) but declares {} bytes stored and {} bytes of content",
                entry.compressed_size, entry.uncompressed_size
            )));
        }
        ZipMethod::Stored | ZipMethod::Deflate => {}
        ZipMethod::Other(code) => {
            return Err(unsupported(format!(
                "member {name:?} uses compression method {code} ({}); only stored (0) and deflate (8) are supported",
                method_name(code)
            )));
        }
    }
    if entry.uncompressed_size > limits.max_entry_size {
        return Err(bomb(format!(
            "member {name:?} declares {} bytes, over the limit of {} (ZipLimits::max_entry_size)",
            entry.uncompressed_size, limits.max_entry_size
        )));
    }
    if entry.uncompressed_size > limits.ratio_threshold
        && entry.uncompressed_size > entry.compressed_size.saturating_mul(limits.max_ratio)
    {
        return Err(bomb(format!(
            "member {name:?} declares {} bytes from {} compressed bytes, a ratio over {}:1 \
             (ZipLimits::max_ratio, for members over ZipLimits::ratio_threshold = {} bytes)",
            entry.uncompressed_size, entry.compressed_size, limits.max_ratio, limits.ratio_threshold
        )));
    }
    Ok(())
}

fn method_name(code: u16) -> &'static str {
    match code {
        1 => "shrink",
        2..=5 => "reduce",
        6 => "implode",
        9 => "deflate64",
        12 => "bzip2",
        14 => "LZMA",
        93 => "zstd",
        95 => "xz",
        98 => "PPMd",
        99 => "AES encryption",
        _ => "unknown",
    }
}

/// Where the decompressed bytes go: counts them against the declared size (never writing
/// past it), and hashes them.
struct Sink<'a, W> {
    out: &'a mut W,
    name: &'a str,
    declared: u64,
    written: u64,
    crc: crc32fast::Hasher,
}

impl<W: AsyncWrite + Unpin> Sink<'_, W> {
    /// Bytes that may still be written.
    fn room(&self) -> u64 {
        self.declared.saturating_sub(self.written)
    }

    async fn write(&mut self, data: &[u8]) -> Result<()> {
        let len = data.len() as u64;
        if len > self.room() {
            return Err(bomb(format!(
                "member {:?} decompresses to more than its declared {} bytes; extraction stopped there",
                self.name, self.declared
            )));
        }
        self.crc.update(data);
        self.out.write_all(data).await.map_err(|e| Error::io(format!("writing member {:?}", self.name), e))?;
        self.written += len;
        Ok(())
    }
}

/// An incremental raw-deflate decoder that produces at most one byte more than the sink
/// has room for (that byte is the evidence of a bomb, and is never written).
struct Inflater {
    state: Decompress,
    buf: Vec<u8>,
    done: bool,
}

impl Inflater {
    fn new() -> Self {
        Inflater { state: Decompress::new(false), buf: vec![0; OUT_BUF], done: false }
    }

    /// One call to the decoder; returns (input consumed, output produced, status).
    fn step(&mut self, input: &[u8], cap: usize, flush: FlushDecompress, name: &str) -> Result<(usize, usize, Status)> {
        let (in0, out0) = (self.state.total_in(), self.state.total_out());
        let cap = cap.clamp(1, self.buf.len());
        let out = self.buf.get_mut(..cap).unwrap_or_default();
        let status = self
            .state
            .decompress(input, out, flush)
            .map_err(|e| corrupt(format!("member {name:?}: invalid deflate data: {e}")))?;
        let consumed = usize::try_from(self.state.total_in() - in0).unwrap_or(usize::MAX).min(input.len());
        let produced = usize::try_from(self.state.total_out() - out0).unwrap_or(usize::MAX).min(cap);
        Ok((consumed, produced, status))
    }

    /// Feeds one chunk of compressed data, writing what it decodes to `sink`.
    async fn feed<W: AsyncWrite + Unpin>(&mut self, mut input: &[u8], sink: &mut Sink<'_, W>) -> Result<()> {
        while !self.done {
            let cap = usize::try_from(sink.room().saturating_add(1)).unwrap_or(usize::MAX);
            let (consumed, produced, status) = self.step(input, cap, FlushDecompress::None, sink.name)?;
            input = input.get(consumed..).unwrap_or_default();
            if produced > 0 {
                sink.write(self.buf.get(..produced).unwrap_or_default()).await?;
            }
            if status == Status::StreamEnd {
                self.done = true;
            } else if consumed == 0 && produced == 0 {
                break; // needs more input
            }
        }
        Ok(())
    }

    /// After the last chunk: drains what the decoder still holds; the stream must end.
    async fn finish<W: AsyncWrite + Unpin>(&mut self, sink: &mut Sink<'_, W>) -> Result<()> {
        while !self.done {
            let cap = usize::try_from(sink.room().saturating_add(1)).unwrap_or(usize::MAX);
            let (_, produced, status) = self.step(&[], cap, FlushDecompress::Finish, sink.name)?;
            if produced > 0 {
                sink.write(self.buf.get(..produced).unwrap_or_default()).await?;
            }
            if status == Status::StreamEnd {
                self.done = true;
            } else if produced == 0 {
                return Err(corrupt(format!(
                    "member {:?}: its deflate data ends before the end of the compressed stream (the data is \
                     truncated or its compressed size is wrong)",
                    sink.name
                )));
            }
        }
        Ok(())
    }
}

/// Extracts one member to `out`: one range read for the local header, one streamed range
/// read for exactly `compressed_size` bytes of data.
pub(super) async fn extract_entry<D, W>(
    driver: &D,
    archive: &Archive<'_>,
    entry: &ZipEntry,
    limits: &ZipLimits,
    out: &mut W,
) -> Result<u64>
where
    D: Driver + ?Sized,
    W: AsyncWrite + Unpin,
{
    check_entry(entry, limits)?;
    if entry.is_dir && entry.uncompressed_size == 0 {
        return Ok(0);
    }
    let name = entry.name.as_str();
    let header_what = format!("member {name:?}: its local header");
    let header = read_range(driver, archive, entry.local_header_offset, LOCAL_LEN as u64, &header_what).await?;
    let local = parse_local_header(&header, name)?;
    if local.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION) != 0 {
        return Err(unsupported(format!("member {name:?} is encrypted; encrypted members are not supported")));
    }
    let data_start = entry
        .local_header_offset
        .checked_add(local.data_offset())
        .ok_or_else(|| corrupt(format!("member {name:?}: its data offset overflows")))?;

    let mut sink = Sink { out, name, declared: entry.uncompressed_size, written: 0, crc: crc32fast::Hasher::new() };
    if entry.compressed_size > 0 {
        let what = format!("member {name:?}: its {} bytes of data", entry.compressed_size);
        let res = open_range(driver, archive, data_start, entry.compressed_size, &what).await?;
        let mut body = res.body;
        let mut received = 0u64;
        let mut inflater = (entry.method == ZipMethod::Deflate).then(Inflater::new);
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            received = received.saturating_add(chunk.len() as u64);
            if received > entry.compressed_size {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!("member {name:?}: the driver sent more than the {} bytes asked for", entry.compressed_size),
                ));
            }
            match inflater.as_mut() {
                Some(inf) => inf.feed(&chunk, &mut sink).await?,
                None => sink.write(&chunk).await?,
            }
        }
        if received != entry.compressed_size {
            return Err(Error::new(
                ErrorKind::Io,
                format!("member {name:?}: the data stream ended after {received} of {} bytes", entry.compressed_size),
            ));
        }
        if let Some(inf) = inflater.as_mut() {
            inf.finish(&mut sink).await?;
        }
    } else if entry.uncompressed_size > 0 {
        return Err(corrupt(format!(
            "member {name:?} declares {} bytes of content but no compressed data",
            entry.uncompressed_size
        )));
    }
    if sink.written != entry.uncompressed_size {
        return Err(corrupt(format!(
            "member {name:?} declares {} bytes but its data holds {}",
            entry.uncompressed_size, sink.written
        )));
    }
    let crc = sink.crc.clone().finalize();
    if crc != entry.crc32 {
        return Err(Error::new(
            ErrorKind::ObjectHashMismatch,
            format!("member {name:?}: its data's CRC-32 is {crc:08x} but the archive says {:08x}", entry.crc32),
        ));
    }
    let written = sink.written;
    sink.out.flush().await.map_err(|e| Error::io(format!("writing member {name:?}"), e))?;
    Ok(written)
}
