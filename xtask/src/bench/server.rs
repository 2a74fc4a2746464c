//! The machine side of a run: the server processes (`bench-server`, s3s-fs on a loopback
//! port; Azurite's Blob service in memory on another; fake-gcs-server in memory on a
//! third), stopped on drop, the tmpfs data directory, CPU pinning with `taskset`, and
//! valgrind.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{ACCESS_KEY, SECRET_KEY};
use crate::process::{exists, kill_group, run};

/// The server's data directory: tmpfs when there is one.
pub(crate) fn data_dir() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
    base.join(format!("storage-bench-{}", std::process::id()))
}

/// The first port from `start` that 127.0.0.1 can bind.
pub(crate) fn free_port(start: u16) -> Option<u16> {
    (start..start.saturating_add(99)).find(|p| TcpListener::bind((Ipv4Addr::LOCALHOST, *p)).is_ok())
}

/// Runs the server and the clients on different cores when the machine has two.
pub(crate) struct Pinning {
    pub(crate) enabled: bool,
    pub(crate) note: String,
}

impl Pinning {
    pub(crate) fn detect() -> Pinning {
        let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        if !exists("taskset") {
            eprintln!("xtask: bench: taskset not found (util-linux); server and clients are not pinned");
            return Pinning { enabled: false, note: "not pinned (no taskset)".into() };
        }
        if cpus < 2 {
            eprintln!("xtask: bench: fewer than 2 CPUs available; server and clients are not pinned");
            return Pinning { enabled: false, note: format!("not pinned ({cpus} CPU available)") };
        }
        Pinning { enabled: true, note: "server on CPU 1, each client process on CPU 0 (taskset)".into() }
    }

    pub(crate) fn command(&self, cpu: usize, program: &Path) -> Command {
        if self.enabled {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu.to_string()).arg(program);
            c
        } else {
            Command::new(program)
        }
    }
}

/// Whether valgrind can run, installing it with apt-get when it is missing.
pub(crate) fn valgrind_available() -> bool {
    if exists("valgrind") {
        return true;
    }
    eprintln!("xtask: bench: valgrind not found; installing it with apt-get");
    let ok = run(Command::new("apt-get").args(["update", "-qq"])).is_ok()
        && run(Command::new("apt-get")
            .args(["install", "-y", "-qq", "valgrind"])
            .env("DEBIAN_FRONTEND", "noninteractive"))
        .is_ok();
    if !ok || !exists("valgrind") {
        eprintln!("xtask: bench: valgrind is not available; instruction counts are skipped");
        return false;
    }
    true
}

/// A server process the clients run against (stopped on drop).
pub(crate) struct Server {
    name: &'static str,
    child: Option<Child>,
    log: PathBuf,
}

impl Server {
    /// `bench-server` (s3s-fs) on `port`, its store under `dir`, pinned to CPU 1.
    pub(crate) fn start(bin: &Path, dir: &Path, port: u16, pinning: &Pinning) -> Result<Server, String> {
        let mut cmd = pinning.command(1, bin);
        cmd.arg("--dir").arg(dir.join("store")).args(["--host", "127.0.0.1", "--port", &port.to_string()]).args([
            "--access-key",
            ACCESS_KEY,
            "--secret-key",
            SECRET_KEY,
        ]);
        Server::spawn("bench-server", cmd, dir.with_extension("server.log"), port)
    }

    /// Azurite's Blob service (3.37.0, installed by the emulators module) on `port`,
    /// everything in memory, pinned to CPU 1; its log beside `dir`.
    pub(crate) fn azurite(dir: &Path, port: u16, pinning: &Pinning) -> Result<Server, String> {
        crate::emulators::install_azurite()?;
        let mut cmd = pinning.command(1, &crate::emulators::npm_bin("azurite-blob"));
        cmd.args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string(), "--inMemoryPersistence"]).args([
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
            "--silent",
        ]);
        Server::spawn("azurite", cmd, dir.with_extension("azurite.log"), port)
    }

    /// fake-gcs-server (1.54.0, from the PyPI wheel the emulators module installs) on
    /// `port` over plain HTTP, everything in memory, pinned to CPU 1; its log beside `dir`.
    /// Its public host is the address itself, so that path-style XML API requests
    /// (`/{bucket}/{object}`, object_store's) reach the object handlers.
    pub(crate) fn fake_gcs(dir: &Path, port: u16, pinning: &Pinning) -> Result<Server, String> {
        crate::emulators::install_fake_gcs()?;
        let mut cmd = pinning.command(1, &crate::emulators::fake_gcs_bin()?);
        let (port_s, host) = (port.to_string(), format!("127.0.0.1:{port}"));
        cmd.args(["-scheme", "http", "-host", "127.0.0.1", "-port", &port_s, "-backend", "memory"]).args([
            "-external-url",
            &format!("http://{host}"),
            "-public-host",
            &host,
            "-log-level",
            "error",
        ]);
        Server::spawn("fake-gcs-server", cmd, dir.with_extension("fake-gcs.log"), port)
    }

    /// Starts `cmd` in its own process group, its stderr to `log`, and waits until it
    /// accepts connections on `port`.
    fn spawn(name: &'static str, mut cmd: Command, log: PathBuf, port: u16) -> Result<Server, String> {
        let log_file = std::fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log_file).process_group(0);
        let child = cmd.spawn().map_err(|e| format!("cannot start {name}: {e}"))?;
        let mut server = Server { name, child: Some(child), log };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            server.check()?;
            if Instant::now() > deadline {
                return Err(format!("{name} did not listen on {addr} within 15 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("xtask: bench: {name} listening on {addr}");
        Ok(server)
    }

    /// An error if the server has exited.
    pub(crate) fn check(&mut self) -> Result<(), String> {
        let name = self.name;
        let Some(child) = self.child.as_mut() else { return Err(format!("{name} is not running")) };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                self.child = None;
                Err(format!("{name} exited ({status}): {}", log.trim()))
            }
            Err(e) => Err(format!("cannot watch {name}: {e}")),
        }
    }

    /// TERM, then KILL after 5 s.
    pub(crate) fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        kill_group(child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                let _ = std::fs::remove_file(&self.log);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
