//! One benchmark client process: runs N operations of one kind with one S3 client
//! library against the bench server (or one Azure Blob client against Azurite, one GCS
//! client against fake-gcs-server, or one local filesystem library on a directory) and
//! prints one JSON line per phase.
//!
//! ```text
//! bench-client --client ours|object_store|opendal|hyper --op put|get|list|all
//!              [--n N] [--concurrency C] [--endpoint URL] [--bucket B]
//!              [--access-key AK --secret-key SK] [--no-warmup]
//!              [--payload-signing auto|signed|unsigned] [--checksum crc32c|md5|none]   (ours only;
//!              diagnostics: xtask always runs the defaults)
//! bench-client --op setup [--n N] [--list-keys K]    create the bucket, write the objects GET and LIST read
//! bench-client --backend local ... --op get-stream|get-range   (local clients ours, object_store, opendal:
//!              the whole object read as a stream of chunks; bytes 1024..3072 of it; xtask runs neither)
//!
//! bench-client --backend local --root DIR --client ours|ours_nofsync|object_store|opendal|tokio --op ...
//!              the same phases on the local filesystem: ours = `LocalDriver::new(DIR)`, container
//!              `bench`; ours_nofsync = the same with `LocalOptions::fsync(false)`; object_store = `LocalFileSystem::new_with_prefix(DIR/bench)`; opendal =
//!              `services::Fs` rooted at DIR/bench; tokio = the floor (`tokio::fs::write` / `read`,
//!              `read_dir` counting file entries). `--op setup` writes with the client given.
//!
//! bench-client --backend azure --endpoint http://127.0.0.1:PORT/ACCOUNT [--account A --account-key K]
//!              --client ours|object_store|opendal|hyper --op ...
//!              the same phases on Azure Blob (Azurite; Azurite's account and key by default): ours =
//!              `AzureDriver` (SharedKey); object_store = `MicrosoftAzure`; opendal = `services::Azblob`;
//!              hyper = the floor (SharedKey by `storage_azure::signing`). `--op setup` creates the
//!              container and writes with the client given (xtask: ours).
//!
//! bench-client --backend gcs --endpoint http://127.0.0.1:PORT --client ours|object_store|opendal|hyper --op ...
//!              the same phases on GCS (fake-gcs-server, no authorization): ours = `GcsDriver` with
//!              `GcsConfig::emulator`; object_store = `GoogleCloudStorage` (XML API for objects);
//!              opendal = `services::Gcs`; hyper = the floor (JSON API media upload, `alt=media`
//!              download, `objects.list`). `--op setup` creates the bucket and writes with the
//!              client given (xtask: ours).
//! ```
//!
//! Layout (the same for every client): `obj/NNNNNN` are 4 KiB objects (PUT overwrites
//! them, GET reads them, key `i % objects`); `list/NNNNN` are the LIST keys (10,000 by
//! default), listed in pages of 1,000. For `list`, `--n` is the number of complete
//! listings and every count (ops/s, CPU per op) is per key listed.
//!
//! Each process runs on a current-thread tokio runtime, so every client gets the same
//! single thread (xtask pins the process to one core). CPU time is `getrusage(RUSAGE_SELF)`
//! user+sys measured around the timed loop only; a short warm-up at the same concurrency
//! opens the connections first. Peak RSS is the process's `ru_maxrss` at the end.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use storage_bench::{Args, DEFAULT_ACCESS_KEY, DEFAULT_AZURE_ACCOUNT, DEFAULT_AZURE_KEY, DEFAULT_SECRET_KEY, Usage};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;

/// Size of the PUT / GET objects.
/// The bytes a `get-range` reads: 2 KiB from the middle of a 4 KiB object.
const RANGE: std::ops::Range<u64> = 1024..3072;
const OBJECT_SIZE: usize = 4096;
/// Page size of LIST.
const PAGE: usize = 1000;
/// Prefix of the PUT / GET objects.
const OBJ_PREFIX: &str = "obj/";
/// Prefix of the LIST keys.
const LIST_PREFIX: &str = "list/";

fn obj_key(i: usize) -> String {
    format!("{OBJ_PREFIX}{i:06}")
}

fn list_key(i: usize) -> String {
    format!("{LIST_PREFIX}{i:05}")
}

struct Settings {
    endpoint: String,
    bucket: String,
    access_key: String,
    secret_key: String,
    /// Our driver's payload signing and checksum (defaults unless asked).
    payload_signing: Option<storage_s3::PayloadSigning>,
    checksum: Option<storage_s3::Checksum>,
    /// `s3` (the bench server), `azure` (Azurite), `gcs` (fake-gcs-server) or `local` (a
    /// directory).
    backend: String,
    /// The Azure account and its key (base64).
    account: String,
    account_key: String,
    /// The local backend's root directory.
    root: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    storage_bench::run_main("bench-client", run)
}

async fn run(args: Args) -> Res<()> {
    let settings = Settings {
        endpoint: args.get("endpoint").unwrap_or("http://127.0.0.1:9101").trim_end_matches('/').to_owned(),
        bucket: args.get("bucket").unwrap_or("bench").to_owned(),
        access_key: args.get("access-key").unwrap_or(DEFAULT_ACCESS_KEY).to_owned(),
        secret_key: args.get("secret-key").unwrap_or(DEFAULT_SECRET_KEY).to_owned(),
        payload_signing: match args.get("payload-signing") {
            None => None,
            Some("auto") => Some(storage_s3::PayloadSigning::Auto),
            Some("signed") => Some(storage_s3::PayloadSigning::Signed),
            Some("unsigned") => Some(storage_s3::PayloadSigning::Unsigned),
            Some(other) => return Err(format!("--payload-signing {other:?}: expected auto, signed or unsigned").into()),
        },
        checksum: match args.get("checksum") {
            None => None,
            Some("crc32c") => Some(storage_s3::Checksum::Crc32c),
            Some("md5") => Some(storage_s3::Checksum::Md5),
            Some("none") => Some(storage_s3::Checksum::None),
            Some(other) => return Err(format!("--checksum {other:?}: expected crc32c, md5 or none").into()),
        },
        backend: args.get("backend").unwrap_or("s3").to_owned(),
        root: args.get("root").map(std::path::PathBuf::from),
        account: args.get("account").unwrap_or(DEFAULT_AZURE_ACCOUNT).to_owned(),
        account_key: args.get("account-key").unwrap_or(DEFAULT_AZURE_KEY).to_owned(),
    };
    if !["s3", "azure", "gcs", "local"].contains(&settings.backend.as_str()) {
        return Err(format!("unknown --backend {:?}; expected s3, azure, gcs or local", settings.backend).into());
    }
    let op = args.get("op").unwrap_or("all");
    let objects: usize = args.parse_or("objects", 5000)?;
    if op == "setup" {
        let list_keys: usize = args.parse_or("list-keys", 10_000)?;
        if settings.backend != "s3" {
            let client = Client::new(args.get("client").unwrap_or("ours"), &settings)?;
            return setup_with(&client, objects, list_keys).await;
        }
        return setup(&settings, objects, list_keys).await;
    }
    let client_name = args.get("client").ok_or("--client ours|object_store|opendal|hyper|tokio is required")?;
    let client = Client::new(client_name, &settings)?;
    let concurrency: usize = args.parse_or("concurrency", 1)?;
    let warmup = !args.flag("no-warmup");
    let ops: Vec<&str> = match op {
        "all" => vec!["put", "get", "list"],
        "put" | "get" | "get-stream" | "get-range" | "list" => vec![op],
        other => {
            return Err(format!(
                "unknown --op {other:?}; expected put, get, get-stream, get-range, list, all or setup"
            )
            .into());
        }
    };
    for op in ops {
        let default_n = if op == "list" { 3 } else { 2000 };
        let n: usize = args.parse_or("n", default_n)?;
        phase(&client, op, n, concurrency.max(1), objects.max(1), warmup).await?;
    }
    Ok(())
}

/// Runs one timed phase and prints its JSON line.
async fn phase(client: &Client, op: &str, n: usize, concurrency: usize, objects: usize, warmup: bool) -> Res<()> {
    let data = Bytes::from(vec![b'x'; OBJECT_SIZE]);
    let run_ops = |count: usize, offset: usize| {
        let data = data.clone();
        async move {
            match op {
                "put" => {
                    futures::stream::iter(0..count)
                        .map(|i| client.put(obj_key((offset + i) % objects), data.clone()))
                        .buffer_unordered(concurrency)
                        .try_for_each(|()| async { Ok(()) })
                        .await?;
                    Ok::<usize, BoxError>(count)
                }
                "get" | "get-stream" | "get-range" => {
                    let want = if op == "get-range" { (RANGE.end - RANGE.start) as usize } else { OBJECT_SIZE };
                    futures::stream::iter(0..count)
                        .map(|i| {
                            let key = obj_key((offset + i) % objects);
                            async move {
                                match op {
                                    "get-stream" => client.get_stream(key).await,
                                    "get-range" => client.get_range(key).await,
                                    _ => client.get(key).await,
                                }
                            }
                        })
                        .buffer_unordered(concurrency)
                        .try_for_each(|len| async move {
                            if len == want {
                                Ok(())
                            } else {
                                Err(format!("GET returned {len} bytes, expected {want}").into())
                            }
                        })
                        .await?;
                    Ok(count)
                }
                _ => {
                    let mut keys = 0;
                    for _ in 0..count {
                        keys += client.list(LIST_PREFIX).await?;
                    }
                    Ok(keys)
                }
            }
        }
    };
    if warmup {
        // Opens the connections (up to `concurrency`) and touches every code path once.
        let w = if op == "list" { 1 } else { (concurrency * 4).clamp(32, 256) };
        run_ops(w, n).await?;
    }
    let before = Usage::now();
    let start = Instant::now();
    let done = run_ops(n, 0).await?;
    let seconds = start.elapsed().as_secs_f64();
    let after = Usage::now();
    if op == "list" && done % n.max(1) != 0 {
        return Err(format!("the listings returned {done} keys in all, not a multiple of {n}").into());
    }
    let user = after.user_s - before.user_s;
    let sys = after.sys_s - before.sys_s;
    let line = serde_json::json!({
        "client": client.name(),
        "op": op,
        "concurrency": concurrency,
        "n": done,
        "requests": if op == "list" { n * (done / n.max(1)).div_ceil(PAGE) } else { done },
        "listings": if op == "list" { n } else { 0 },
        "seconds": seconds,
        "ops_per_sec": done as f64 / seconds,
        "cpu_user_s": user,
        "cpu_sys_s": sys,
        "cpu_us_per_op": (user + sys) * 1e6 / done.max(1) as f64,
        "peak_rss_kb": after.max_rss_kb,
    });
    println!("{line}");
    Ok(())
}

/// Creates the bucket (if missing) and writes the GET objects and the LIST keys, with
/// our driver, 32 requests in flight.
async fn setup(s: &Settings, objects: usize, list_keys: usize) -> Res<()> {
    use storage_core::{Driver, ErrorKind, Payload, PutOptions};
    let driver = ours(s)?;
    match driver.create_container(&s.bucket).await {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ContainerAlreadyExists => {}
        Err(e) => return Err(e.into()),
    }
    let data = Bytes::from(vec![b'x'; OBJECT_SIZE]);
    let keys = (0..objects).map(|i| (obj_key(i), data.clone()));
    let keys = keys.chain((0..list_keys).map(|i| (list_key(i), Bytes::from_static(b"l"))));
    let driver = &driver;
    futures::stream::iter(keys)
        .map(|(k, d)| async move {
            driver.put_object(&s.bucket, &k, Payload::Bytes(d), &PutOptions::default()).await.map(|_| ())
        })
        .buffer_unordered(32)
        .try_for_each(|()| async { Ok(()) })
        .await?;
    let start = Instant::now();
    let listed = count_ours(driver, &s.bucket, LIST_PREFIX).await?;
    if listed != list_keys {
        return Err(format!("setup wrote {list_keys} LIST keys but {listed} are listed").into());
    }
    println!(
        "{}",
        serde_json::json!({"setup": true, "objects": objects, "list_keys": list_keys,
            "list_seconds": start.elapsed().as_secs_f64()})
    );
    Ok(())
}

/// The local, Azure and GCS backends' setup, with the client given: creates the
/// directories, the container or the bucket (our drivers) and writes the GET objects and
/// the LIST keys, 32 at a time.
async fn setup_with(client: &Client, objects: usize, list_keys: usize) -> Res<()> {
    match client {
        Client::GcsOurs { driver, bucket } => {
            use storage_core::{Driver, ErrorKind};
            match driver.create_container(bucket).await {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::ContainerAlreadyExists => {}
                Err(e) => return Err(e.into()),
            }
        }
        Client::AzOurs { driver, container } => {
            use storage_core::{Driver, ErrorKind};
            match driver.create_container(container).await {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::ContainerAlreadyExists => {}
                Err(e) => return Err(e.into()),
            }
        }
        Client::LocalOurs { driver, container, .. } => {
            use storage_core::{Driver, ErrorKind};
            match driver.create_container(container).await {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::ContainerAlreadyExists => {}
                Err(e) => return Err(e.into()),
            }
        }
        Client::LocalTokio(dir) => {
            std::fs::create_dir_all(dir.join(OBJ_PREFIX))?;
            std::fs::create_dir_all(dir.join(LIST_PREFIX))?;
        }
        _ => {}
    }
    let data = Bytes::from(vec![b'x'; OBJECT_SIZE]);
    let keys = (0..objects).map(|i| (obj_key(i), data.clone()));
    let keys = keys.chain((0..list_keys).map(|i| (list_key(i), Bytes::from_static(b"l"))));
    futures::stream::iter(keys)
        .map(|(k, d)| client.put(k, d))
        .buffer_unordered(32)
        .try_for_each(|()| async { Ok(()) })
        .await?;
    let start = Instant::now();
    let listed = client.list(LIST_PREFIX).await?;
    if listed != list_keys {
        return Err(format!("setup wrote {list_keys} LIST keys but {listed} are listed").into());
    }
    println!(
        "{}",
        serde_json::json!({"setup": true, "client": client.name(), "objects": objects, "list_keys": list_keys,
            "list_seconds": start.elapsed().as_secs_f64()})
    );
    Ok(())
}

fn ours(s: &Settings) -> Res<storage_s3::S3Driver> {
    let mut config = storage_s3::S3Config::new()
        .endpoint(&s.endpoint)
        .region("us-east-1")
        .static_credentials(&s.access_key, &s.secret_key);
    if let Some(p) = s.payload_signing {
        config = config.payload_signing(p);
    }
    if let Some(c) = s.checksum {
        config = config.checksum(c);
    }
    Ok(storage_s3::S3Driver::new(config)?)
}

async fn count_ours(driver: &impl storage_core::Driver, bucket: &str, prefix: &str) -> Res<usize> {
    use storage_core::{ListEntry, ListOptions};
    let mut stream = driver.list_objects(bucket, ListOptions::prefix(prefix).with_page_size(PAGE));
    let mut n = 0;
    while let Some(entry) = stream.next().await {
        if let ListEntry::Object(_) = entry? {
            n += 1;
        }
    }
    Ok(n)
}

/// The four clients, each used the way its documentation shows.
enum Client {
    /// Our driver: `S3Driver` through the `Driver` trait.
    Ours { driver: storage_s3::S3Driver, bucket: String },
    /// Apache `object_store` (`AmazonS3`).
    ObjectStore(object_store::aws::AmazonS3),
    /// Apache OpenDAL (`services::S3`).
    OpenDal(opendal::Operator),
    /// hyper-util's pooled client with requests signed by `storage_s3::sigv4`: the floor.
    Hyper(Arc<HyperFloor>),
    /// Our local filesystem driver (`LocalDriver`) through the `Driver` trait.
    LocalOurs { driver: storage_local::LocalDriver, container: String, label: &'static str },
    /// `object_store::local::LocalFileSystem` rooted at the container directory.
    LocalObjectStore(object_store::local::LocalFileSystem),
    /// OpenDAL `services::Fs` rooted at the container directory.
    LocalOpenDal(opendal::Operator),
    /// The local floor: bare `tokio::fs` calls on paths under the container directory.
    LocalTokio(std::path::PathBuf),
    /// Our Azure driver (`AzureDriver`, SharedKey) through the `Driver` trait.
    AzOurs { driver: storage_azure::AzureDriver, container: String },
    /// Apache `object_store` (`MicrosoftAzure`).
    AzObjectStore(object_store::azure::MicrosoftAzure),
    /// hyper-util's pooled client with SharedKey by `storage_azure::signing`: the floor.
    AzHyper(Arc<AzureFloor>),
    /// Our GCS driver (`GcsDriver`, emulator configuration) through the `Driver` trait.
    GcsOurs { driver: storage_gcs::GcsDriver, bucket: String },
    /// Apache `object_store` (`GoogleCloudStorage`).
    GcsObjectStore(object_store::gcp::GoogleCloudStorage),
    /// hyper-util's pooled client on the JSON API, unauthenticated: the floor.
    GcsHyper(Arc<GcsFloor>),
}

impl Client {
    fn new(name: &str, s: &Settings) -> Res<Client> {
        if s.backend == "local" {
            return Client::new_local(name, s);
        }
        if s.backend == "azure" {
            return Client::new_azure(name, s);
        }
        if s.backend == "gcs" {
            return Client::new_gcs(name, s);
        }
        Ok(match name {
            "ours" => Client::Ours { driver: ours(s)?, bucket: s.bucket.clone() },
            "object_store" => Client::ObjectStore(storage_bench::object_store_s3(
                &s.endpoint,
                &s.bucket,
                &s.access_key,
                &s.secret_key,
            )?),
            "opendal" => {
                Client::OpenDal(storage_bench::opendal_s3(&s.endpoint, &s.bucket, &s.access_key, &s.secret_key)?)
            }
            "hyper" => Client::Hyper(Arc::new(HyperFloor::new(s)?)),
            other => {
                return Err(format!("unknown --client {other:?}; expected ours, object_store, opendal or hyper").into());
            }
        })
    }

    /// The Azure clients, each against Azurite's endpoint with the account key (OpenDAL's
    /// `Operator` is the same variant as on S3).
    fn new_azure(name: &str, s: &Settings) -> Res<Client> {
        let (e, c, a, k) = (&s.endpoint, &s.bucket, &s.account, &s.account_key);
        Ok(match name {
            "ours" => Client::AzOurs { driver: storage_bench::ours_azure(e, a, k)?, container: c.clone() },
            "object_store" => Client::AzObjectStore(storage_bench::object_store_azure(e, c, a, k)?),
            "opendal" => Client::OpenDal(storage_bench::opendal_azblob(e, c, a, k)?),
            "hyper" => Client::AzHyper(Arc::new(AzureFloor::new(s)?)),
            other => {
                return Err(
                    format!("unknown Azure --client {other:?}; expected ours, object_store, opendal or hyper").into()
                );
            }
        })
    }

    /// The GCS clients, each against fake-gcs-server's endpoint without authorization
    /// (OpenDAL's `Operator` is the same variant as on S3).
    fn new_gcs(name: &str, s: &Settings) -> Res<Client> {
        let (e, b) = (&s.endpoint, &s.bucket);
        Ok(match name {
            "ours" => Client::GcsOurs { driver: storage_bench::ours_gcs(e)?, bucket: b.clone() },
            "object_store" => Client::GcsObjectStore(storage_bench::object_store_gcs(e, b)?),
            "opendal" => Client::OpenDal(storage_bench::opendal_gcs(e, b)?),
            "hyper" => Client::GcsHyper(Arc::new(GcsFloor::new(s)?)),
            other => {
                return Err(
                    format!("unknown GCS --client {other:?}; expected ours, object_store, opendal or hyper").into()
                );
            }
        })
    }

    /// The local filesystem clients, each on its own directory under `--root`: the same
    /// layout (`bench/obj/...`, `bench/list/...`), as each library writes it.
    fn new_local(name: &str, s: &Settings) -> Res<Client> {
        let root = s.root.as_ref().ok_or("--backend local needs --root DIR")?;
        let dir = root.join(&s.bucket);
        Ok(match name {
            "ours" => {
                let driver = storage_local::LocalDriver::new(root)?;
                Client::LocalOurs { driver, container: s.bucket.clone(), label: "ours" }
            }
            "ours_nofsync" => {
                let options = storage_local::LocalOptions::default().fsync(false);
                let driver = storage_local::LocalDriver::with_options(root, options)?;
                Client::LocalOurs { driver, container: s.bucket.clone(), label: "ours_nofsync" }
            }
            "object_store" => {
                std::fs::create_dir_all(&dir)?;
                Client::LocalObjectStore(object_store::local::LocalFileSystem::new_with_prefix(&dir)?)
            }
            "opendal" => {
                std::fs::create_dir_all(&dir)?;
                let dir = dir.to_str().ok_or("the root must be UTF-8")?;
                Client::LocalOpenDal(opendal::Operator::new(opendal::services::Fs::default().root(dir))?)
            }
            "tokio" => Client::LocalTokio(dir),
            other => {
                return Err(format!(
                    "unknown local --client {other:?}; expected ours, ours_nofsync, object_store, opendal or tokio"
                )
                .into());
            }
        })
    }

    fn name(&self) -> &'static str {
        match self {
            Client::Ours { .. } | Client::AzOurs { .. } | Client::GcsOurs { .. } => "ours",
            Client::LocalOurs { label, .. } => label,
            Client::ObjectStore(_)
            | Client::LocalObjectStore(_)
            | Client::AzObjectStore(_)
            | Client::GcsObjectStore(_) => "object_store",
            Client::OpenDal(_) | Client::LocalOpenDal(_) => "opendal",
            Client::Hyper(_) | Client::AzHyper(_) | Client::GcsHyper(_) => "hyper",
            Client::LocalTokio(_) => "tokio",
        }
    }

    async fn put(&self, key: String, data: Bytes) -> Res<()> {
        match self {
            Client::Ours { driver, bucket } => {
                use storage_core::{Driver, Payload, PutOptions};
                driver.put_object(bucket, &key, Payload::Bytes(data), &PutOptions::default()).await?;
            }
            Client::ObjectStore(store) => {
                use object_store::ObjectStoreExt;
                store.put(&object_store::path::Path::from(key), object_store::PutPayload::from_bytes(data)).await?;
            }
            Client::OpenDal(op) => {
                op.write(&key, data).await?;
            }
            Client::Hyper(h) => h.put(&key, data).await?,
            Client::LocalOurs { driver, container, .. } => {
                use storage_core::{Driver, Payload, PutOptions};
                driver.put_object(container, &key, Payload::Bytes(data), &PutOptions::default()).await?;
            }
            Client::LocalObjectStore(store) => {
                use object_store::ObjectStoreExt;
                store.put(&object_store::path::Path::from(key), object_store::PutPayload::from_bytes(data)).await?;
            }
            Client::LocalOpenDal(op) => {
                op.write(&key, data).await?;
            }
            Client::LocalTokio(dir) => tokio::fs::write(dir.join(&key), &data).await?,
            Client::AzOurs { driver, container } => {
                use storage_core::{Driver, Payload, PutOptions};
                driver.put_object(container, &key, Payload::Bytes(data), &PutOptions::default()).await?;
            }
            Client::AzObjectStore(store) => {
                use object_store::ObjectStoreExt;
                store.put(&object_store::path::Path::from(key), object_store::PutPayload::from_bytes(data)).await?;
            }
            Client::AzHyper(h) => h.put(&key, data).await?,
            Client::GcsOurs { driver, bucket } => {
                use storage_core::{Driver, Payload, PutOptions};
                driver.put_object(bucket, &key, Payload::Bytes(data), &PutOptions::default()).await?;
            }
            Client::GcsObjectStore(store) => {
                use object_store::ObjectStoreExt;
                store.put(&object_store::path::Path::from(key), object_store::PutPayload::from_bytes(data)).await?;
            }
            Client::GcsHyper(h) => h.put(&key, data).await?,
        }
        Ok(())
    }

    /// A whole object read as a stream of chunks (local clients): bytes counted.
    async fn get_stream(&self, key: String) -> Res<usize> {
        let mut n = 0;
        match self {
            Client::LocalOurs { driver, container, .. } => {
                use storage_core::{Driver, GetOptions};
                let mut body = driver.get_object(container, &key, &GetOptions::default()).await?.body;
                while let Some(chunk) = body.next().await {
                    n += chunk?.len();
                }
            }
            Client::LocalObjectStore(store) => {
                use object_store::ObjectStoreExt;
                let mut body = store.get(&object_store::path::Path::from(key)).await?.into_stream();
                while let Some(chunk) = body.next().await {
                    n += chunk?.len();
                }
            }
            Client::LocalOpenDal(op) => {
                let mut body = op.reader(&key).await?.into_bytes_stream(..).await?;
                while let Some(chunk) = body.next().await {
                    n += chunk?.len();
                }
            }
            _ => return Err("get-stream is measured for the local clients ours, object_store and opendal".into()),
        }
        Ok(n)
    }

    /// Bytes `RANGE` of an object (local clients).
    async fn get_range(&self, key: String) -> Res<usize> {
        Ok(match self {
            Client::LocalOurs { driver, container, .. } => {
                use storage_core::{Driver, GetOptions};
                driver.get_object(container, &key, &GetOptions::range(RANGE)).await?.bytes().await?.len()
            }
            Client::LocalObjectStore(store) => {
                use object_store::ObjectStoreExt;
                let range = RANGE.start..RANGE.end;
                store.get_range(&object_store::path::Path::from(key), range).await?.len()
            }
            Client::LocalOpenDal(op) => op.read_with(&key).range(RANGE).await?.to_bytes().len(),
            _ => return Err("get-range is measured for the local clients ours, object_store and opendal".into()),
        })
    }

    async fn get(&self, key: String) -> Res<usize> {
        Ok(match self {
            Client::Ours { driver, bucket } => {
                use storage_core::{Driver, GetOptions};
                driver.get_object(bucket, &key, &GetOptions::default()).await?.bytes().await?.len()
            }
            Client::ObjectStore(store) => {
                use object_store::ObjectStoreExt;
                store.get(&object_store::path::Path::from(key)).await?.bytes().await?.len()
            }
            Client::OpenDal(op) => op.read(&key).await?.to_bytes().len(),
            Client::Hyper(h) => h.get(&key).await?.len(),
            Client::LocalOurs { driver, container, .. } => {
                use storage_core::{Driver, GetOptions};
                driver.get_object(container, &key, &GetOptions::default()).await?.bytes().await?.len()
            }
            Client::LocalObjectStore(store) => {
                use object_store::ObjectStoreExt;
                store.get(&object_store::path::Path::from(key)).await?.bytes().await?.len()
            }
            Client::LocalOpenDal(op) => op.read(&key).await?.to_bytes().len(),
            Client::LocalTokio(dir) => tokio::fs::read(dir.join(&key)).await?.len(),
            Client::AzOurs { driver, container } => {
                use storage_core::{Driver, GetOptions};
                driver.get_object(container, &key, &GetOptions::default()).await?.bytes().await?.len()
            }
            Client::AzObjectStore(store) => {
                use object_store::ObjectStoreExt;
                store.get(&object_store::path::Path::from(key)).await?.bytes().await?.len()
            }
            Client::AzHyper(h) => h.get(&key).await?.len(),
            Client::GcsOurs { driver, bucket } => {
                use storage_core::{Driver, GetOptions};
                driver.get_object(bucket, &key, &GetOptions::default()).await?.bytes().await?.len()
            }
            Client::GcsObjectStore(store) => {
                use object_store::ObjectStoreExt;
                store.get(&object_store::path::Path::from(key)).await?.bytes().await?.len()
            }
            Client::GcsHyper(h) => h.get(&key).await?.len(),
        })
    }

    /// Lists every key under `prefix` (no delimiter), `PAGE` keys per request; returns
    /// how many objects were listed.
    async fn list(&self, prefix: &str) -> Res<usize> {
        Ok(match self {
            Client::Ours { driver, bucket } => count_ours(driver, bucket, prefix).await?,
            Client::ObjectStore(store) => {
                // object_store sends no max-keys: the server's default page is 1,000.
                use object_store::ObjectStore;
                let prefix = object_store::path::Path::from(prefix);
                let mut stream = store.list(Some(&prefix));
                let mut n = 0;
                while let Some(meta) = stream.next().await {
                    meta?;
                    n += 1;
                }
                n
            }
            Client::OpenDal(op) => {
                let mut lister = op.lister_with(prefix).recursive(true).limit(PAGE).await?;
                let mut n = 0;
                while let Some(entry) = lister.try_next().await? {
                    if entry.metadata().is_file() {
                        n += 1;
                    }
                }
                n
            }
            Client::Hyper(h) => h.list(prefix).await?,
            Client::LocalOurs { driver, container, .. } => {
                use storage_core::{Driver, ListEntry, ListOptions};
                // The driver's default page (1,000 keys).
                let mut stream = driver.list_objects(container, ListOptions::prefix(prefix));
                let mut n = 0;
                while let Some(entry) = stream.next().await {
                    if let ListEntry::Object(_) = entry? {
                        n += 1;
                    }
                }
                n
            }
            Client::LocalObjectStore(store) => {
                use object_store::ObjectStore;
                let prefix = object_store::path::Path::from(prefix.trim_end_matches('/'));
                let mut stream = store.list(Some(&prefix));
                let mut n = 0;
                while let Some(meta) = stream.next().await {
                    meta?;
                    n += 1;
                }
                n
            }
            Client::LocalOpenDal(op) => {
                let mut lister = op.lister_with(prefix).recursive(true).await?;
                let mut n = 0;
                while let Some(entry) = lister.try_next().await? {
                    if entry.metadata().is_file() {
                        n += 1;
                    }
                }
                n
            }
            Client::LocalTokio(dir) => {
                // The floor: the directory's entries, file types from readdir (no stat).
                let mut rd = tokio::fs::read_dir(dir.join(prefix)).await?;
                let mut n = 0;
                while let Some(entry) = rd.next_entry().await? {
                    if entry.file_type().await?.is_file() {
                        n += 1;
                    }
                }
                n
            }
            Client::AzOurs { driver, container } => count_ours(driver, container, prefix).await?,
            Client::AzObjectStore(store) => {
                // object_store sends no maxresults: Azure's default page is 5,000.
                use object_store::ObjectStore;
                let prefix = object_store::path::Path::from(prefix);
                let mut stream = store.list(Some(&prefix));
                let mut n = 0;
                while let Some(meta) = stream.next().await {
                    meta?;
                    n += 1;
                }
                n
            }
            Client::AzHyper(h) => h.list(prefix).await?,
            Client::GcsOurs { driver, bucket } => count_ours(driver, bucket, prefix).await?,
            Client::GcsObjectStore(store) => {
                // object_store lists through the XML API and sends no max-keys (GCS pages by
                // 1,000; fake-gcs-server answers every key in one page, max-keys or not).
                use object_store::ObjectStore;
                let prefix = object_store::path::Path::from(prefix);
                let mut stream = store.list(Some(&prefix));
                let mut n = 0;
                while let Some(meta) = stream.next().await {
                    meta?;
                    n += 1;
                }
                n
            }
            Client::GcsHyper(h) => h.list(prefix).await?,
        })
    }
}

/// The floor: hyper-util's pooled HTTP/1.1 client (TCP_NODELAY), each request signed
/// with `storage_s3::sigv4::sign_headers` with `UNSIGNED-PAYLOAD` (no body hashing,
/// no checksum), path-style URLs, the response body collected and nothing else
/// parsed but what the next request needs.
struct HyperFloor {
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<Bytes>,
    >,
    scheme_host: String,
    host: http::HeaderValue,
    bucket: String,
    access_key: String,
    secret_key: String,
    cache: storage_s3::sigv4::KeyCache,
}

impl HyperFloor {
    fn new(s: &Settings) -> Res<Self> {
        let host = s.endpoint.strip_prefix("http://").ok_or("the hyper floor client speaks plain http:// only")?;
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(64)
            .build(connector);
        Ok(HyperFloor {
            client,
            scheme_host: s.endpoint.clone(),
            host: http::HeaderValue::from_str(host)?,
            bucket: s.bucket.clone(),
            access_key: s.access_key.clone(),
            secret_key: s.secret_key.clone(),
            cache: storage_s3::sigv4::KeyCache::default(),
        })
    }

    async fn send(&self, method: http::Method, path: &str, query: &str, body: Bytes) -> Res<Bytes> {
        use http_body_util::BodyExt;
        use storage_s3::sigv4::{SigningInput, UNSIGNED_PAYLOAD, sign_headers};
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::HOST, self.host.clone());
        let input = SigningInput {
            access_key_id: &self.access_key,
            secret: &self.secret_key,
            session_token: None,
            region: "us-east-1",
            service: "s3",
            time: chrono::Utc::now(),
        };
        sign_headers(&input, &self.cache, method.as_str(), path, query, &mut headers, UNSIGNED_PAYLOAD)?;
        let uri = if query.is_empty() {
            format!("{}{path}", self.scheme_host)
        } else {
            format!("{}{path}?{query}", self.scheme_host)
        };
        let mut req = http::Request::new(http_body_util::Full::new(body));
        *req.method_mut() = method;
        *req.uri_mut() = uri.parse()?;
        *req.headers_mut() = headers;
        let resp = self.client.request(req).await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)).into());
        }
        Ok(bytes)
    }

    fn object_path(&self, key: &str) -> String {
        let mut path = String::with_capacity(self.bucket.len() + key.len() + 2);
        path.push('/');
        path.push_str(&self.bucket);
        path.push('/');
        storage_s3::sigv4::uri_encode_into(&mut path, key, true);
        path
    }

    async fn put(&self, key: &str, data: Bytes) -> Res<()> {
        self.send(http::Method::PUT, &self.object_path(key), "", data).await.map(|_| ())
    }

    async fn get(&self, key: &str) -> Res<Bytes> {
        self.send(http::Method::GET, &self.object_path(key), "", Bytes::new()).await
    }

    async fn list(&self, prefix: &str) -> Res<usize> {
        let path = format!("/{}", self.bucket);
        let page = PAGE.to_string();
        let mut token: Option<String> = None;
        let mut n = 0;
        loop {
            let mut pairs = vec![("list-type", "2"), ("max-keys", page.as_str()), ("prefix", prefix)];
            if let Some(t) = &token {
                pairs.push(("continuation-token", t.as_str()));
            }
            let query = storage_s3::sigv4::canonical_query(&pairs);
            let body = self.send(http::Method::GET, &path, &query, Bytes::new()).await?;
            n += count(&body, b"<Key>");
            token = between(&body, b"<NextContinuationToken>", b"</NextContinuationToken>").map(unescape);
            if token.is_none() {
                return Ok(n);
            }
        }
    }
}

/// The Azure floor: hyper-util's pooled HTTP/1.1 client (TCP_NODELAY), each request
/// signed with SharedKey by `storage_azure::signing` (no Content-MD5), the response body
/// collected and nothing else parsed but what the next request needs.
struct AzureFloor {
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<Bytes>,
    >,
    scheme_host: String,
    host: http::HeaderValue,
    /// `/{account}/{container}`.
    prefix: String,
    key: storage_bench::AzureKey,
}

impl AzureFloor {
    fn new(s: &Settings) -> Res<Self> {
        let (scheme_host, host, path) = storage_bench::split_endpoint(&s.endpoint)?;
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(64)
            .build(connector);
        Ok(AzureFloor {
            client,
            scheme_host,
            host: http::HeaderValue::from_str(&host)?,
            prefix: format!("{path}/{}", s.bucket),
            key: storage_bench::AzureKey::new(&s.account, &s.account_key)?,
        })
    }

    async fn send(&self, method: http::Method, path: &str, query: &str, body: Bytes) -> Res<Bytes> {
        use http_body_util::BodyExt;
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::HOST, self.host.clone());
        if method == http::Method::PUT {
            headers.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(body.len()));
            headers.insert("x-ms-blob-type", http::HeaderValue::from_static("BlockBlob"));
        }
        self.key.sign(&method, path, query, &mut headers)?;
        let uri = if query.is_empty() {
            format!("{}{path}", self.scheme_host)
        } else {
            format!("{}{path}?{query}", self.scheme_host)
        };
        let mut req = http::Request::new(http_body_util::Full::new(body));
        *req.method_mut() = method;
        *req.uri_mut() = uri.parse()?;
        *req.headers_mut() = headers;
        let resp = self.client.request(req).await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)).into());
        }
        Ok(bytes)
    }

    fn blob_path(&self, key: &str) -> String {
        let mut path = String::with_capacity(self.prefix.len() + key.len() + 1);
        path.push_str(&self.prefix);
        path.push('/');
        path.push_str(&storage_azure::signing::encode_path(key));
        path
    }

    async fn put(&self, key: &str, data: Bytes) -> Res<()> {
        self.send(http::Method::PUT, &self.blob_path(key), "", data).await.map(|_| ())
    }

    async fn get(&self, key: &str) -> Res<Bytes> {
        self.send(http::Method::GET, &self.blob_path(key), "", Bytes::new()).await
    }

    /// List Blobs, `PAGE` per request, counting `<Blob>` elements and following `<NextMarker>`.
    async fn list(&self, prefix: &str) -> Res<usize> {
        use storage_azure::signing::encode_query;
        let base = format!("restype=container&comp=list&maxresults={PAGE}&prefix={}", encode_query(prefix));
        let mut marker: Option<String> = None;
        let mut n = 0;
        loop {
            let query = match &marker {
                Some(m) => format!("{base}&marker={}", encode_query(m)),
                None => base.clone(),
            };
            let body = self.send(http::Method::GET, &self.prefix, &query, Bytes::new()).await?;
            // Azure's entries are ~640 bytes (every property): scan for `<` first, not with
            // a comparison at every byte (`count` / `between`, which the S3 floor keeps).
            let (mut at, mut next) = (0, None);
            while let Some(p) = find_tag(&body, b"<Blob>", at) {
                n += 1;
                at = p + 6;
            }
            if let Some(p) = find_tag(&body, b"<NextMarker>", at) {
                let start = p + b"<NextMarker>".len();
                let end = find_tag(&body, b"</NextMarker>", start).ok_or("unterminated NextMarker")?;
                next = std::str::from_utf8(&body[start..end]).ok().filter(|m| !m.is_empty()).map(unescape);
            }
            marker = next;
            if marker.is_none() {
                return Ok(n);
            }
        }
    }
}

/// The GCS floor: hyper-util's pooled HTTP/1.1 client (TCP_NODELAY) on the JSON API
/// without authorization (fake-gcs-server): a media upload (`uploadType=media`, no
/// checksum), an `alt=media` download, `objects.list` pages of `PAGE`; the response body
/// collected and nothing parsed but what the next request needs.
struct GcsFloor {
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<Bytes>,
    >,
    scheme_host: String,
    host: http::HeaderValue,
    bucket: String,
}

impl GcsFloor {
    fn new(s: &Settings) -> Res<Self> {
        let (scheme_host, host, _) = storage_bench::split_endpoint(&s.endpoint)?;
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(64)
            .build(connector);
        Ok(GcsFloor { client, scheme_host, host: http::HeaderValue::from_str(&host)?, bucket: s.bucket.clone() })
    }

    /// Sends `method` to `path_query` (path and query, already encoded).
    async fn send(&self, method: http::Method, path_query: &str, body: Option<Bytes>) -> Res<Bytes> {
        use http_body_util::BodyExt;
        let mut req = http::Request::new(http_body_util::Full::new(body.clone().unwrap_or_default()));
        let headers = req.headers_mut();
        headers.insert(http::header::HOST, self.host.clone());
        if let Some(b) = &body {
            headers.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(b.len()));
            headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/octet-stream"));
        }
        *req.method_mut() = method;
        *req.uri_mut() = format!("{}{path_query}", self.scheme_host).parse()?;
        let resp = self.client.request(req).await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)).into());
        }
        Ok(bytes)
    }

    /// `/{api}/b/{bucket}/o` followed by `rest`.
    fn bucket_path(&self, api: &str, rest: &str) -> String {
        let mut p = String::with_capacity(api.len() + self.bucket.len() + rest.len() + 8);
        p.push_str(api);
        p.push_str("/b/");
        p.push_str(&self.bucket);
        p.push_str("/o");
        p.push_str(rest);
        p
    }

    async fn put(&self, key: &str, data: Bytes) -> Res<()> {
        let mut pq = self.bucket_path("/upload/storage/v1", "?uploadType=media&name=");
        storage_s3::sigv4::uri_encode_into(&mut pq, key, false);
        self.send(http::Method::POST, &pq, Some(data)).await.map(|_| ())
    }

    async fn get(&self, key: &str) -> Res<Bytes> {
        let mut pq = self.bucket_path("/storage/v1", "/");
        storage_s3::sigv4::uri_encode_into(&mut pq, key, false);
        pq.push_str("?alt=media");
        self.send(http::Method::GET, &pq, None).await
    }

    /// `objects.list`, `PAGE` per request, counting the items (`"storage#object"`) and
    /// following `nextPageToken`.
    async fn list(&self, prefix: &str) -> Res<usize> {
        let mut base = self.bucket_path("/storage/v1", &format!("?maxResults={PAGE}&prefix="));
        storage_s3::sigv4::uri_encode_into(&mut base, prefix, false);
        let mut token: Option<String> = None;
        let mut n = 0;
        loop {
            let mut pq = base.clone();
            if let Some(t) = &token {
                pq.push_str("&pageToken=");
                storage_s3::sigv4::uri_encode_into(&mut pq, t, false);
            }
            let body = self.send(http::Method::GET, &pq, None).await?;
            n += count_gcs_objects(&body);
            token = next_page_token(&body);
            if token.is_none() {
                return Ok(n);
            }
        }
    }
}

/// How many `"kind":"storage#object"` items a JSON page holds: a scan for `#`, then one
/// comparison on either side (the ACL entries' `storage#objectAccessControl` and the
/// page's own `storage#objects` do not match).
fn count_gcs_objects(body: &[u8]) -> usize {
    let mut n = 0;
    let mut at = 0;
    while let Some(p) = body.get(at..).and_then(|rest| rest.iter().position(|&b| b == b'#')) {
        let p = at + p;
        if p >= 8 && &body[p - 8..p] == b"\"storage" && body.get(p + 1..p + 8) == Some(&b"object\""[..]) {
            n += 1;
        }
        at = p + 1;
    }
    n
}

/// The page's `nextPageToken` (the last member of fake-gcs-server's answer, so searched
/// from the end); JSON escapes other than `\/` are not expected in the bench's keys.
fn next_page_token(body: &[u8]) -> Option<String> {
    const OPEN: &[u8] = b"\"nextPageToken\":\"";
    let start = body.windows(OPEN.len()).rposition(|w| w == OPEN)? + OPEN.len();
    let len = body[start..].iter().position(|&b| b == b'"')?;
    let token = std::str::from_utf8(&body[start..start + len]).ok()?;
    (!token.is_empty()).then(|| token.replace("\\/", "/"))
}

/// Where `needle` (which starts with `<`) occurs in `hay` from `from`: a scan for `<`,
/// then one comparison per tag.
fn find_tag(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        let at = i + hay.get(i..)?.iter().position(|&b| b == b'<')?;
        if hay.get(at..at + needle.len()) == Some(needle) {
            return Some(at);
        }
        i = at + 1;
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    let mut n = 0;
    let mut at = 0;
    while let Some(p) = find(hay, needle, at) {
        n += 1;
        at = p + needle.len();
    }
    n
}

fn between<'a>(hay: &'a [u8], open: &[u8], close: &[u8]) -> Option<&'a str> {
    let start = find(hay, open, 0)? + open.len();
    let end = find(hay, close, start)?;
    std::str::from_utf8(&hay[start..end]).ok()
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}
