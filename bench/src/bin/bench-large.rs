//! One large transfer per process: a file on tmpfs PUT to (or GET from) the bench server,
//! Azurite, fake-gcs-server or our local driver by one client, timed, with the process's
//! CPU time and peak RSS.
//!
//! ```text
//! bench-large --op make-file --file PATH --size BYTES
//! bench-large --op setup  --file SRC --key KEY [--backend s3|azure|gcs|local] [--root DIR]     untimed upload with our engine
//! bench-large --op delete --keys K1,K2,...     [--backend s3|azure|gcs|local] [--root DIR]
//! bench-large --op put --client hyper|ours|object_store|opendal --file SRC --key KEY
//! bench-large --op get --client hyper|ours|object_store|opendal --mode single|parallel|stream
//!             --key KEY --file DST [--verify-against SRC]
//!   common: [--endpoint URL] [--bucket B] [--access-key AK --secret-key SK]
//!           [--account A --account-key K]   (--backend azure; Azurite's by default)
//!           [--part-size BYTES (8 MiB)] [--concurrency N (8)] [--read-ahead N (8)]
//!           [--engine-defaults]   (ours: `TransferOptions::default()`, ignoring the three above)
//!           [--no-verify] [--no-checksum] [--single-put-threshold BYTES]   (ours; diagnostics: xtask runs none)
//! ```
//!
//! Clients and modes:
//! - `hyper` (the floor): one GET or one PUT of the whole object, hyper-util's client,
//!   signed with `storage_s3::sigv4` and `UNSIGNED-PAYLOAD`, body streamed from/to the file.
//! - `ours`: PUT = `Transfer::upload_file` (multipart, `concurrency` parts in flight);
//!   GET single = `Driver::get_object` body; parallel = `Transfer::download_file`;
//!   stream = `Transfer::download_stream` (ordered, `read_ahead` ranges ahead).
//! - `object_store`: PUT = `put_multipart` + `WriteMultipart` (chunk = part size,
//!   `wait_for_capacity(concurrency)`); GET single = `get().into_stream()`; parallel =
//!   `get_range` per part, `buffered(concurrency)`, written in order.
//! - `opendal`: PUT = `writer_with(..).concurrent(N).chunk(part)`; GET single =
//!   `reader(..).into_bytes_stream(..)`; parallel = `reader_with(..).concurrent(N).chunk(part)`.
//!
//! `--backend azure` runs the same clients and modes against Azurite: `hyper` = one Put
//! Blob / Get Blob signed with SharedKey; ours = `AzureDriver` (Put Block / Put Block List);
//! object_store = `MicrosoftAzure`; opendal = `services::Azblob`.
//!
//! `--backend local` runs ours (`LocalDriver` under `--root`), object_store
//! (`LocalFileSystem` rooted at `ROOT/BUCKET`) and opendal (`services::Fs` there) with the
//! same modes (no hyper floor).
//!
//! `--backend gcs` runs them against fake-gcs-server without authorization: `hyper` = one
//! JSON API media upload / `alt=media` download; ours = `GcsDriver` (a parallel composite
//! upload: parts staged as objects, then composed); object_store = `GoogleCloudStorage`
//! (XML API: its multipart upload is the XML one); opendal = `services::Gcs` (its chunked
//! writer is the XML API multipart upload too).
//!
//! Every client reads the source in 1 MiB chunks (ours reads it itself) and writes a GET
//! to the destination with `std::fs::File::write_all` on the runtime thread (ours'
//! `download_file` writes itself). The runtime is current-thread (its blocking pool is
//! used by the libraries that need it); xtask pins the process to one core.
//! Prints one JSON line; CPU is getrusage user+sys around the transfer only, peak RSS the
//! process's `ru_maxrss` right after it (before the untimed verification).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt, TryStreamExt};
use storage_bench::{Args, DEFAULT_ACCESS_KEY, DEFAULT_AZURE_ACCOUNT, DEFAULT_AZURE_KEY, DEFAULT_SECRET_KEY, Usage};
use storage_core::{DownloadOptions, Driver, GetOptions, PutOptions, Transfer, TransferOptions};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;

/// Reads of the source file.
const READ_CHUNK: usize = 1 << 20;
const MIB: f64 = 1024.0 * 1024.0;

struct Settings {
    endpoint: String,
    bucket: String,
    access_key: String,
    secret_key: String,
    backend: String,
    root: Option<PathBuf>,
    /// The Azure account and its key (base64).
    account: String,
    account_key: String,
    part_size: u64,
    concurrency: usize,
    read_ahead: usize,
    engine_defaults: bool,
    no_verify: bool,
    /// S3 requests without Content-MD5 / CRC32C (`Checksum::None`).
    no_checksum: bool,
    single_put_threshold: Option<u64>,
}

impl Settings {
    fn transfer_options(&self) -> TransferOptions {
        let mut t = if self.engine_defaults {
            TransferOptions::default()
        } else {
            TransferOptions {
                part_size: self.part_size,
                concurrency: self.concurrency,
                download_part_size: self.part_size,
                read_ahead: self.read_ahead,
                ..TransferOptions::default()
            }
        };
        if self.no_verify {
            t.verify = false;
        }
        if let Some(n) = self.single_put_threshold {
            t.single_put_threshold = n;
        }
        t
    }
}

fn main() -> ExitCode {
    storage_bench::run_main("bench-large", run)
}

async fn run(args: Args) -> Res<()> {
    let s = Settings {
        endpoint: args.get("endpoint").unwrap_or("http://127.0.0.1:9101").trim_end_matches('/').to_owned(),
        bucket: args.get("bucket").unwrap_or("bench").to_owned(),
        access_key: args.get("access-key").unwrap_or(DEFAULT_ACCESS_KEY).to_owned(),
        secret_key: args.get("secret-key").unwrap_or(DEFAULT_SECRET_KEY).to_owned(),
        backend: args.get("backend").unwrap_or("s3").to_owned(),
        root: args.get("root").map(PathBuf::from),
        account: args.get("account").unwrap_or(DEFAULT_AZURE_ACCOUNT).to_owned(),
        account_key: args.get("account-key").unwrap_or(DEFAULT_AZURE_KEY).to_owned(),
        part_size: args.parse_or("part-size", 8u64 << 20)?,
        concurrency: args.parse_or("concurrency", 8usize)?.max(1),
        read_ahead: args.parse_or("read-ahead", 8usize)?.max(1),
        engine_defaults: args.flag("engine-defaults"),
        no_verify: args.flag("no-verify"),
        no_checksum: args.flag("no-checksum"),
        single_put_threshold: args.get("single-put-threshold").map(str::parse).transpose()?,
    };
    let op = args.get("op").ok_or("--op make-file|setup|delete|put|get is required")?;
    let file = || args.get("file").map(PathBuf::from).ok_or("--file PATH is required");
    let key = || args.get("key").ok_or("--key KEY is required");
    match op {
        "make-file" => {
            let size: u64 = args.parse_or("size", 0)?;
            make_file(&file()?, size)?;
            println!("{}", serde_json::json!({"made": file()?.display().to_string(), "bytes": size}));
            Ok(())
        }
        "setup" => {
            let driver = ours_driver(&s).await?;
            let transfer = Transfer::with_options(driver, s.transfer_options());
            let o = transfer.upload_file(&file()?, &s.bucket, key()?, PutOptions::default()).await?;
            println!("{}", serde_json::json!({"setup": true, "key": key()?, "bytes": o.size}));
            Ok(())
        }
        "delete" => {
            let driver = ours_driver(&s).await?;
            for k in args.get("keys").unwrap_or_default().split(',').filter(|k| !k.is_empty()) {
                match driver.delete_object(&s.bucket, k).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == storage_core::ErrorKind::ObjectDoesNotExist => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(())
        }
        "put" | "get" => {
            let client = args.get("client").ok_or("--client hyper|ours|object_store|opendal is required")?;
            let mode = args.get("mode").unwrap_or(if op == "put" { "multipart" } else { "single" });
            timed(&s, op, client, mode, &file()?, key()?, args.get("verify-against").map(Path::new)).await
        }
        other => Err(format!("unknown --op {other:?}").into()),
    }
}

/// `size` bytes of xorshift noise (incompressible, deterministic), written 1 MiB at a time.
fn make_file(path: &Path, size: u64) -> Res<()> {
    let mut out = std::io::BufWriter::with_capacity(READ_CHUNK, std::fs::File::create(path)?);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut buf = vec![0u8; READ_CHUNK];
    let mut left = size;
    while left > 0 {
        for w in buf.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(buf.len() as u64) as usize;
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    out.flush()?;
    Ok(())
}

/// Our driver for `--backend`: `S3Driver` defaults, `AzureDriver` defaults with the
/// account key, `GcsDriver` for the emulator, or `LocalDriver` under `--root` (its
/// container created if missing).
async fn ours_driver(s: &Settings) -> Res<Arc<dyn Driver>> {
    let driver: Arc<dyn Driver> = match s.backend.as_str() {
        "s3" => Arc::new(storage_s3::S3Driver::new(
            storage_s3::S3Config::new()
                .endpoint(&s.endpoint)
                .region("us-east-1")
                .static_credentials(&s.access_key, &s.secret_key)
                .checksum(if s.no_checksum { storage_s3::Checksum::None } else { storage_s3::Checksum::default() }),
        )?),
        "azure" => Arc::new(storage_bench::ours_azure(&s.endpoint, &s.account, &s.account_key)?),
        "gcs" => Arc::new(storage_bench::ours_gcs(&s.endpoint)?),
        "local" => {
            let root = s.root.as_ref().ok_or("--backend local needs --root DIR")?;
            Arc::new(storage_local::LocalDriver::new(root)?)
        }
        other => return Err(format!("unknown --backend {other:?}; expected s3, azure, gcs or local").into()),
    };
    match driver.create_container(&s.bucket).await {
        Ok(_) => {}
        Err(e) if e.kind() == storage_core::ErrorKind::ContainerAlreadyExists => {}
        Err(e) => return Err(e.into()),
    }
    Ok(driver)
}

/// The source file as a stream of 1 MiB chunks (tokio::fs, like our engine's own reads).
fn file_chunks(file: tokio::fs::File) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    futures::stream::try_unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        while buf.len() < READ_CHUNK {
            if file.read_buf(&mut buf).await? == 0 {
                break;
            }
        }
        Ok(if buf.is_empty() { None } else { Some((buf.freeze(), file)) })
    })
}

/// Writes a stream of chunks to `dest`; returns the bytes written.
async fn sink<E: Into<BoxError>>(dest: &Path, mut stream: impl Stream<Item = Result<Bytes, E>> + Unpin) -> Res<u64> {
    let mut out = std::fs::File::create(dest)?;
    let mut n = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(Into::into)?;
        out.write_all(&chunk)?;
        n += chunk.len() as u64;
    }
    Ok(n)
}

async fn timed(
    s: &Settings,
    op: &str,
    client: &str,
    mode: &str,
    file: &Path,
    key: &str,
    verify_against: Option<&Path>,
) -> Res<()> {
    let local = s.backend == "local";
    if local && client == "hyper" {
        return Err("--backend local has no --client hyper (tokio::fs is the local floor)".into());
    }
    // The peers on the local filesystem: rooted at the container directory our driver
    // uses (`ROOT/BUCKET`), made if missing.
    let local_dir = || -> Res<PathBuf> {
        let root = s.root.as_ref().ok_or("--backend local needs --root DIR")?;
        let dir = root.join(&s.bucket);
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    };
    let path = object_store::path::Path::from(key);
    // Clients are built before the clock starts.
    enum C {
        Hyper(Box<storage_bench::LargeFloor>),
        Ours(Arc<dyn Driver>, Transfer),
        ObjectStore(Box<dyn object_store::ObjectStore>),
        OpenDal(opendal::Operator),
    }
    let azure = s.backend == "azure";
    let gcs = s.backend == "gcs";
    let (e, b) = (s.endpoint.as_str(), s.bucket.as_str());
    let c = match client {
        "hyper" if azure => C::Hyper(Box::new(storage_bench::LargeFloor::azure(e, b, &s.account, &s.account_key)?)),
        "hyper" if gcs => C::Hyper(Box::new(storage_bench::LargeFloor::gcs(e, b)?)),
        "hyper" => C::Hyper(Box::new(storage_bench::LargeFloor::new(e, b, &s.access_key, &s.secret_key)?)),
        "ours" => {
            let d = ours_driver(s).await?;
            C::Ours(d.clone(), Transfer::with_options(d, s.transfer_options()))
        }
        "object_store" if local => {
            C::ObjectStore(Box::new(object_store::local::LocalFileSystem::new_with_prefix(local_dir()?)?))
        }
        "opendal" if local => {
            C::OpenDal(opendal::Operator::new(opendal::services::Fs::default().root(&local_dir()?.to_string_lossy()))?)
        }
        "object_store" if azure => {
            C::ObjectStore(Box::new(storage_bench::object_store_azure(e, b, &s.account, &s.account_key)?))
        }
        "object_store" if gcs => C::ObjectStore(Box::new(storage_bench::object_store_gcs(e, b)?)),
        "object_store" => C::ObjectStore(Box::new(storage_bench::object_store_s3(e, b, &s.access_key, &s.secret_key)?)),
        "opendal" if azure => C::OpenDal(storage_bench::opendal_azblob(e, b, &s.account, &s.account_key)?),
        "opendal" if gcs => C::OpenDal(storage_bench::opendal_gcs(e, b)?),
        "opendal" => C::OpenDal(storage_bench::opendal_s3(e, b, &s.access_key, &s.secret_key)?),
        other => return Err(format!("unknown --client {other:?}").into()),
    };
    let part = usize::try_from(s.part_size)?;
    let conc = s.concurrency;
    let before = Usage::now();
    let start = Instant::now();
    let bytes: u64 = match (op, &c, mode) {
        ("put", C::Hyper(h), "single") => {
            let f = tokio::fs::File::open(file).await?;
            let len = f.metadata().await?.len();
            h.put(key, len, file_chunks(f)).await?;
            len
        }
        ("put", C::Ours(_, t), "multipart") => t.upload_file(file, &s.bucket, key, PutOptions::default()).await?.size,
        ("put", C::Ours(d, _), "tree") => {
            // `file` is a directory: every file under it, `--concurrency` at a time, sharing
            // one memory budget.
            let options = storage_core::TreeOptions { concurrency: conc, ..Default::default() };
            let report = storage_core::tree::upload_dir(d.as_ref(), file, &s.bucket, key, &options).await?;
            if let Some((path, e)) = report.failed.first() {
                return Err(format!("uploading {path} failed: {e}").into());
            }
            report.bytes
        }
        ("put", C::ObjectStore(store), "multipart") => {
            use object_store::ObjectStoreExt;
            let upload = store.put_multipart(&path).await?;
            let mut w = object_store::WriteMultipart::new_with_chunk_size(upload, part);
            let mut chunks = std::pin::pin!(file_chunks(tokio::fs::File::open(file).await?));
            let mut n = 0u64;
            while let Some(chunk) = chunks.try_next().await? {
                w.wait_for_capacity(conc).await?;
                n += chunk.len() as u64;
                w.put(chunk);
            }
            w.finish().await?;
            n
        }
        ("put", C::OpenDal(op), "multipart") => {
            let mut w = op.writer_with(key).concurrent(conc).chunk(part).await?;
            let mut chunks = std::pin::pin!(file_chunks(tokio::fs::File::open(file).await?));
            let mut n = 0u64;
            while let Some(chunk) = chunks.try_next().await? {
                n += chunk.len() as u64;
                w.write(chunk).await?;
            }
            w.close().await?;
            n
        }
        ("get", C::Hyper(h), "single") => h.get(key, file).await?,
        ("get", C::Ours(d, _), "single") => {
            let res = d.get_object(&s.bucket, key, &GetOptions::default()).await?;
            sink(file, res.body).await?
        }
        ("get", C::Ours(_, t), "parallel") => {
            t.download_file(&s.bucket, key, file, &DownloadOptions::overwrite()).await?.size
        }
        ("get", C::Ours(_, t), "stream") => sink(file, t.download_stream(&s.bucket, key).await?).await?,
        ("get", C::ObjectStore(store), "single") => {
            use object_store::ObjectStoreExt;
            sink(file, store.get(&path).await?.into_stream()).await?
        }
        ("get", C::ObjectStore(store), "parallel") => {
            use object_store::ObjectStoreExt;
            let size = store.head(&path).await?.size;
            let step = s.part_size.max(1);
            let ranges = (0..size.div_ceil(step)).map(|i| i * step..((i + 1) * step).min(size));
            let parts = futures::stream::iter(ranges).map(|r| store.get_range(&path, r)).buffered(conc);
            sink(file, parts).await?
        }
        ("get", C::OpenDal(op), "single") => sink(file, op.reader(key).await?.into_bytes_stream(..).await?).await?,
        ("get", C::OpenDal(op), "parallel") => {
            let reader = op.reader_with(key).concurrent(conc).chunk(part).await?;
            sink(file, reader.into_bytes_stream(..).await?).await?
        }
        (op, _, mode) => return Err(format!("--client {client} has no --op {op} --mode {mode}").into()),
    };
    let seconds = start.elapsed().as_secs_f64();
    let after = Usage::now();
    let mut verified = serde_json::Value::Null;
    if let Some(src) = verify_against {
        same_content(src, file)?;
        verified = true.into();
    }
    let (user, sys) = (after.user_s - before.user_s, after.sys_s - before.sys_s);
    let t = s.transfer_options();
    let line = serde_json::json!({
        "client": client,
        "op": op,
        "mode": mode,
        "backend": s.backend,
        "bytes": bytes,
        "seconds": seconds,
        "mib_per_s": bytes as f64 / MIB / seconds,
        "cpu_user_s": user,
        "cpu_sys_s": sys,
        "cpu_s": user + sys,
        "peak_rss_kb": after.max_rss_kb,
        "part_size": if client == "ours" { t.part_size } else { s.part_size },
        "concurrency": if client == "ours" { t.concurrency } else { conc },
        "download_part_size": t.download_part_size,
        "read_ahead": t.read_ahead,
        "verified": verified,
    });
    println!("{line}");
    Ok(())
}

/// Fails unless the two files hold the same bytes.
fn same_content(a: &Path, b: &Path) -> Res<()> {
    let (mut fa, mut fb) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    let (la, lb) = (fa.metadata()?.len(), fb.metadata()?.len());
    if la != lb {
        return Err(format!("{} has {lb} bytes, {} has {la}", b.display(), a.display()).into());
    }
    let (mut ba, mut bb) = (vec![0u8; READ_CHUNK], vec![0u8; READ_CHUNK]);
    let mut at = 0u64;
    loop {
        let n = fa.read(&mut ba)?;
        if n == 0 {
            return Ok(());
        }
        fb.read_exact(&mut bb[..n])?;
        if ba[..n] != bb[..n] {
            return Err(
                format!("{} differs from {} within bytes {at}..{}", b.display(), a.display(), at + n as u64).into()
            );
        }
        at += n as u64;
    }
}
