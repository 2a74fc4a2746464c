//! `cargo xtask conformance`: runs the shared suite against the built-in drivers.

use std::sync::Arc;

use std::collections::HashMap;

use storage_conformance::{DriverReport, Report, RunConfig, profiles};
use storage_core::{Driver, MemoryDriver};
use storage_local::LocalOptions;
use storage_redis::RedisDriver;
use storage_s3::{S3Config, S3Driver};

/// The built-in drivers, by the names `--driver` takes.
pub const DRIVERS: &[&str] = &["memory", "local", "s3", "redis", "azure", "gcs"];

/// Parses `[--driver NAME[,NAME]] [--format text|json|junit]` and runs the suite.
pub fn command(args: &[String]) -> Result<(), String> {
    let mut drivers: Vec<String> = DRIVERS.iter().map(|s| (*s).to_owned()).collect();
    let mut format = "text".to_owned();
    let mut krate: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| it.next().cloned().ok_or_else(|| format!("{flag} needs a value"));
        match a.as_str() {
            "--driver" | "--drivers" => drivers = value(a)?.split(',').map(|s| s.trim().to_owned()).collect(),
            "--format" => format = value(a)?,
            "--crate" => krate = Some(value(a)?),
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: conformance [--driver NAME[,NAME] | --crate PATH] \
                     [--format text|json|junit]"
                ));
            }
        }
    }
    if !["text", "json", "junit"].contains(&format.as_str()) {
        return Err(format!("unknown format {format:?}; use text, json or junit"));
    }
    if let Some(path) = krate {
        return crate::vendor::run_crate(std::path::Path::new(&path), &format);
    }
    if let Some(bad) = drivers.iter().find(|d| !DRIVERS.contains(&d.as_str())) {
        return Err(format!("unknown driver {bad:?}; known: {}", DRIVERS.join(", ")));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let needed: Vec<&str> = drivers.iter().flat_map(|d| crate::emulators::for_driver(d).iter().copied()).collect();
    let started = crate::emulators::start_all(&needed)?;
    let env: std::collections::HashMap<String, String> = crate::emulators::env_for(&needed).into_iter().collect();
    let reports = rt.block_on(async {
        let mut reports = Vec::new();
        for name in &drivers {
            reports.extend(run_driver(name, &env).await?);
        }
        Ok::<_, String>(reports)
    });
    for e in started {
        crate::emulators::stop(e);
    }
    let reports = reports?;
    let report = Report::new(reports);
    println!("{}", render(&report, &format));
    match report.failed() {
        0 => Ok(()),
        n => Err(format!("{n} conformance case(s) failed")),
    }
}

/// The report in `format` (`text`, `json` or `junit`).
pub fn render(report: &Report, format: &str) -> String {
    match format {
        "json" => report.to_json(),
        "junit" => report.to_junit(),
        _ => report.to_text(),
    }
}

/// One driver to run the suite against: the driver, the run's label and overrides, and
/// the temporary directory it lives in (kept until the run ends).
pub struct Target {
    /// The driver.
    pub driver: Arc<dyn Driver>,
    /// Its label and server overrides.
    pub config: RunConfig,
    /// The local driver's root.
    pub _dir: Option<tempfile::TempDir>,
}

impl Target {
    fn new(driver: Arc<dyn Driver>, label: Option<&str>, overrides: Vec<storage_conformance::Override>) -> Self {
        Target {
            driver,
            config: RunConfig { label: label.map(str::to_owned), overrides, ..RunConfig::default() },
            _dir: None,
        }
    }
}

/// Runs the suite for one driver; a driver tested against several servers gives one
/// report per server, each with that server's declared overrides.
async fn run_driver(name: &str, env: &HashMap<String, String>) -> Result<Vec<DriverReport>, String> {
    let mut out = Vec::new();
    for target in targets(name, env)? {
        out.push(storage_conformance::run(target.driver.clone(), &target.config).await);
    }
    Ok(out)
}

/// The drivers `name` stands for, built against the servers in `env` (one per server).
pub fn targets(name: &str, env: &HashMap<String, String>) -> Result<Vec<Target>, String> {
    match name {
        "memory" => Ok(vec![Target::new(Arc::new(MemoryDriver::new()), None, Vec::new())]),
        "local" => {
            // The defaults (Linux: openat2 fast paths, metadata in xattrs), then the
            // portable code: the checked path-by-path walk and sidecar files, keeping MD5s.
            let mut out = Vec::new();
            for (label, options) in [
                (None, LocalOptions::default()),
                (
                    Some("local (checked paths, sidecars, MD5s)"),
                    LocalOptions::default().fast_paths(false).xattrs(false).md5(true),
                ),
            ] {
                let dir = tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
                let driver: Arc<dyn Driver> =
                    Arc::new(storage_local::LocalDriver::with_options(dir.path(), options).map_err(|e| e.to_string())?);
                out.push(Target { _dir: Some(dir), ..Target::new(driver, label, Vec::new()) });
            }
            Ok(out)
        }
        "s3" => {
            let mut out = Vec::new();
            for (server, prefix, overrides) in [
                ("moto", "MOTO", profiles::moto()),
                ("s3s-fs", "S3SFS", profiles::s3s_fs()),
                ("rclone", "RCLONE", profiles::rclone()),
            ] {
                let var = |k: &str| {
                    let name = format!("EMU_S3_{prefix}_{k}");
                    env.get(&name).cloned().ok_or_else(|| format!("{name} is not set"))
                };
                let mut config = S3Config::new()
                    .endpoint(var("ENDPOINT")?)
                    .static_credentials(var("ACCESS_KEY_ID")?, var("SECRET_ACCESS_KEY")?);
                // s3s-fs 0.14 keeps a checksum apart from the data and leaves a stale one
                // when a multipart upload or a concurrent writer overwrites the object, so
                // CRC32C-checked reads would be refused: its endpoint checks with MD5, as a
                // user of that server would configure it (`checksum = "md5"`).
                if server == "s3s-fs" {
                    config = config.checksum(storage_s3::Checksum::Md5);
                }
                let driver: Arc<dyn Driver> = Arc::new(S3Driver::new(config).map_err(|e| e.to_string())?);
                out.push(Target::new(driver, Some(&format!("s3 ({server})")), overrides));
            }
            Ok(out)
        }
        "redis" => {
            let var = |k: &str| env.get(k).cloned().ok_or_else(|| format!("{k} is not set"));
            let ns = format!("xtask-conformance-{}", std::process::id());
            let standalone = RedisDriver::builder().url(var("REDIS_URL")?).namespace(format!("{ns}-s"));
            let nodes = var("REDIS_CLUSTER_NODES")?;
            let cluster = RedisDriver::builder().cluster_nodes(nodes.split(',')).namespace(format!("{ns}-c"));
            let mut out = Vec::new();
            for (label, builder) in [("redis", standalone), ("redis (cluster)", cluster)] {
                let driver: Arc<dyn Driver> =
                    Arc::new(builder.chunk_size(64 * 1024).build().map_err(|e| e.to_string())?);
                out.push(Target::new(driver, Some(label), Vec::new()));
            }
            Ok(out)
        }
        "azure" => {
            let endpoint = env
                .get("AZURITE_BLOB_ENDPOINT")
                .cloned()
                .ok_or_else(|| "AZURITE_BLOB_ENDPOINT is not set".to_owned())?;
            let config = storage_azure::AzureConfig::emulator().endpoint(endpoint);
            let driver: Arc<dyn Driver> = Arc::new(storage_azure::AzureDriver::new(config).map_err(|e| e.to_string())?);
            Ok(vec![Target::new(driver, Some("azure (azurite)"), profiles::azurite())])
        }
        "gcs" => {
            let endpoint = env
                .get("EMU_GCS_FAKEGCS_ENDPOINT")
                .cloned()
                .ok_or_else(|| "EMU_GCS_FAKEGCS_ENDPOINT is not set".to_owned())?;
            let driver: Arc<dyn Driver> = Arc::new(
                storage_gcs::GcsDriver::new(storage_gcs::GcsConfig::emulator(endpoint)).map_err(|e| e.to_string())?,
            );
            Ok(vec![Target::new(driver, Some("gcs (fake-gcs-server)"), profiles::fake_gcs())])
        }
        other => Err(format!("unknown driver {other:?}")),
    }
}
