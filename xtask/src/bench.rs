//! `cargo xtask bench`: our S3 driver beside Apache `object_store` and OpenDAL (and a bare
//! hyper client as the floor) against one s3s-fs server, in one run.
//!
//! ```text
//! cargo xtask bench [--quick] [--no-callgrind] [--repeat R] [--port P] [--clients a,b,...]
//! ```
//!
//! 1. Builds the separate `bench/` workspace in release (`bench-server`, `bench-client`).
//! 2. Starts `bench-server` (s3s-fs 0.14.1 with TCP_NODELAY, SigV4 auth on) on a free
//!    loopback port from 9101, its store in tmpfs (`/dev/shm`) when there is one, pinned to
//!    CPU 1 with `taskset`.
//! 3. Writes the objects once with our driver (`bench-client --op setup`).
//! 4. For each repetition, phase (4 KiB PUT and GET, sequential and 32 in flight; LIST of
//!    10,000 keys in pages of 1,000) and client, runs one `bench-client` process pinned to
//!    CPU 0, so CPU time (getrusage user+sys around the timed loop) and peak RSS are that
//!    client's alone. The median of the repetitions is reported.
//! 5. Counts client instructions per operation under `valgrind --tool=callgrind`: two runs
//!    of the same phase with a small and a large N, `(I_large - I_small) / (N_large - N_small)`,
//!    which removes start-up and warm-up cost. The outputs stay in `bench/target/callgrind/`
//!    for `callgrind_annotate`.
//! 6. Stops the server, prints a Markdown table with ratios of ours to the best peer and
//!    the targets (PASS / MISS, never a failure), writes `bench/results/latest.{json,md}`.
//!
//! Exits non-zero only when something crashed (a build, the server, a client process).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::paths;
use crate::process::{exists, kill_group, run};

const USAGE: &str = "usage: cargo xtask bench [--quick] [--no-callgrind] [--repeat R] [--port P] [--clients a,b,...]";

/// Every client, the floor first.
const CLIENTS: &[&str] = &["hyper", "ours", "object_store", "opendal"];
/// The peers we compare ourselves with.
const PEERS: &[&str] = &["object_store", "opendal"];
/// (operation, requests in flight), in the order of the table.
const PHASES: &[(&str, usize)] = &[("put", 1), ("put", 32), ("get", 1), ("get", 32), ("list", 1)];
/// Keys the LIST phase lists.
const LIST_KEYS: usize = 10_000;
/// 4 KiB objects PUT overwrites and GET reads.
const OBJECTS: usize = 5_000;
const ACCESS_KEY: &str = "AKIDBENCH";
const SECRET_KEY: &str = "bench-secret-key";

/// Targets (reported, never enforced).
const TARGET_INSTR_RATIO: f64 = 0.5;
const TARGET_CPU_RATIO: f64 = 0.75;
const TARGET_LIST_US_PER_KEY: f64 = 0.8;

struct Plan {
    quick: bool,
    callgrind: bool,
    repeat: usize,
    port: Option<u16>,
    clients: Vec<String>,
    /// Operations per timed sequential / concurrent PUT or GET phase.
    n_seq: usize,
    n_par: usize,
    /// Complete listings per timed LIST phase.
    listings: usize,
    /// Callgrind: operations in the small and the large run (listings for LIST).
    cg_ops: (usize, usize),
    cg_listings: (usize, usize),
}

impl Plan {
    fn parse(args: &[String]) -> Result<Plan, String> {
        let mut quick = false;
        let mut callgrind = true;
        let mut repeat = None;
        let mut port = None;
        let mut clients: Vec<String> = CLIENTS.iter().map(|c| (*c).to_owned()).collect();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |flag: &str| it.next().cloned().ok_or_else(|| format!("{flag} needs a value; {USAGE}"));
            match a.as_str() {
                "--quick" => quick = true,
                "--no-callgrind" => callgrind = false,
                "--repeat" => repeat = Some(value(a)?.parse().map_err(|_| "--repeat takes a number".to_owned())?),
                "--port" => port = Some(value(a)?.parse().map_err(|_| "--port takes a port number".to_owned())?),
                "--clients" => clients = value(a)?.split(',').map(|s| s.trim().to_owned()).collect(),
                other => return Err(format!("unknown argument {other:?}; {USAGE}")),
            }
        }
        if let Some(bad) = clients.iter().find(|c| !CLIENTS.contains(&c.as_str())) {
            return Err(format!("unknown client {bad:?}; known: {}", CLIENTS.join(", ")));
        }
        Ok(if quick {
            Plan {
                quick,
                callgrind,
                repeat: repeat.unwrap_or(1),
                port,
                clients,
                n_seq: 1_000,
                n_par: 2_000,
                listings: 1,
                cg_ops: (100, 600),
                cg_listings: (1, 2),
            }
        } else {
            Plan {
                quick,
                callgrind,
                repeat: repeat.unwrap_or(3),
                port,
                clients,
                n_seq: 5_000,
                n_par: 10_000,
                listings: 5,
                cg_ops: (200, 2_200),
                cg_listings: (1, 3),
            }
        })
    }

    fn n_for(&self, op: &str, concurrency: usize) -> usize {
        match (op, concurrency) {
            ("list", _) => self.listings,
            (_, 1) => self.n_seq,
            _ => self.n_par,
        }
    }
}

/// `cargo xtask bench [...]`.
pub fn command(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return Ok(());
    }
    let plan = Plan::parse(args)?;
    let root = paths::workspace_root();
    let bench_dir = root.join("bench");
    let target_dir = bench_dir.join("target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // Not `--locked`: the root crates are path dependencies, so a dependency added to one
    // of them must be able to enter bench/Cargo.lock; the peers are pinned with `=` in
    // bench/Cargo.toml, and entries already locked stay as they are.
    run(Command::new(cargo)
        .current_dir(&root)
        .args(["build", "--release", "--manifest-path"])
        .arg(bench_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir))?;
    let bins = target_dir.join("release");
    let server_bin = bins.join("bench-server");
    let client_bin = bins.join("bench-client");

    let pinning = Pinning::detect();
    let callgrind = plan.callgrind && valgrind_available();
    let data_dir = data_dir();
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&data_dir).map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let port = match plan.port {
        Some(p) => p,
        None => free_port(9101).ok_or("no free loopback port in 9101-9199")?,
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    let started = Instant::now();

    let mut crashes: Vec<String> = Vec::new();
    let mut runs: Vec<Record> = Vec::new();
    let mut counts: Vec<Count> = Vec::new();
    let outcome = (|| -> Result<(), String> {
        let mut server = Server::start(&server_bin, &data_dir, port, &pinning)?;
        let base = ClientBase { bin: &client_bin, endpoint: &endpoint, pinning: &pinning };
        eprintln!("xtask: bench: writing {OBJECTS} objects of 4 KiB and {LIST_KEYS} LIST keys with our driver");
        base.run_json(&["--op", "setup", "--objects", &OBJECTS.to_string(), "--list-keys", &LIST_KEYS.to_string()])?;
        for rep in 0..plan.repeat {
            for &(op, conc) in PHASES {
                for client in &plan.clients {
                    let n = plan.n_for(op, conc);
                    eprintln!("xtask: bench: [{}/{}] {client} {op} n={n} concurrency={conc}", rep + 1, plan.repeat);
                    match base.phase(client, op, conc, n) {
                        Ok(r) => runs.push(r),
                        Err(e) => crashes.push(format!("{client} {op} c={conc}: {e}")),
                    }
                    server.check()?;
                }
            }
        }
        if callgrind {
            let out_dir = target_dir.join("callgrind");
            let _ = std::fs::remove_dir_all(&out_dir);
            std::fs::create_dir_all(&out_dir).map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
            for &(op, conc) in PHASES {
                for client in &plan.clients {
                    let (small, large) = if op == "list" { plan.cg_listings } else { plan.cg_ops };
                    eprintln!("xtask: bench: callgrind {client} {op} concurrency={conc} n={small} and n={large}");
                    match base.count(&out_dir, client, op, conc, small, large) {
                        Ok(c) => counts.push(c),
                        Err(e) => crashes.push(format!("callgrind {client} {op} c={conc}: {e}")),
                    }
                    server.check()?;
                }
            }
        }
        server.stop();
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&data_dir);
    if let Err(e) = outcome {
        crashes.push(e);
    }

    let report = Report::build(&plan, &runs, &counts, callgrind, &pinning, port, started.elapsed());
    let md = report.markdown(&crashes);
    println!("\n{md}");
    let results = bench_dir.join("results");
    std::fs::create_dir_all(&results).map_err(|e| format!("cannot create {}: {e}", results.display()))?;
    let json = report.json(&runs, &counts, &crashes);
    std::fs::write(results.join("latest.json"), json).map_err(|e| format!("cannot write latest.json: {e}"))?;
    std::fs::write(results.join("latest.md"), &md).map_err(|e| format!("cannot write latest.md: {e}"))?;
    eprintln!("xtask: bench: wrote {} and latest.md", results.join("latest.json").display());
    if crashes.is_empty() {
        Ok(())
    } else {
        Err(format!("{} part(s) of the benchmark crashed:\n  {}", crashes.len(), crashes.join("\n  ")))
    }
}

/// The server's data directory: tmpfs when there is one.
fn data_dir() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
    base.join(format!("storage-bench-{}", std::process::id()))
}

/// The first port from `start` that 127.0.0.1 can bind.
fn free_port(start: u16) -> Option<u16> {
    (start..start.saturating_add(99)).find(|p| TcpListener::bind((Ipv4Addr::LOCALHOST, *p)).is_ok())
}

/// Runs the server and the clients on different cores when the machine has two.
struct Pinning {
    enabled: bool,
    note: String,
}

impl Pinning {
    fn detect() -> Pinning {
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

    fn command(&self, cpu: usize, program: &Path) -> Command {
        if self.enabled {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu.to_string()).arg(program);
            c
        } else {
            Command::new(program)
        }
    }
}

fn valgrind_available() -> bool {
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

/// The bench server process (stopped on drop).
struct Server {
    child: Option<Child>,
    log: PathBuf,
}

impl Server {
    fn start(bin: &Path, dir: &Path, port: u16, pinning: &Pinning) -> Result<Server, String> {
        let log = dir.with_extension("server.log");
        let log_file = std::fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let mut cmd = pinning.command(1, bin);
        cmd.arg("--dir")
            .arg(dir.join("store"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .process_group(0);
        let child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut server = Server { child: Some(child), log };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            server.check()?;
            if Instant::now() > deadline {
                return Err(format!("bench-server did not listen on {addr} within 15 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("xtask: bench: bench-server listening on {addr}");
        Ok(server)
    }

    /// An error if the server has exited.
    fn check(&mut self) -> Result<(), String> {
        let Some(child) = self.child.as_mut() else { return Err("bench-server is not running".into()) };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                self.child = None;
                Err(format!("bench-server exited ({status}): {}", log.trim()))
            }
            Err(e) => Err(format!("cannot watch bench-server: {e}")),
        }
    }

    /// TERM, then KILL after 5 s.
    fn stop(&mut self) {
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

struct ClientBase<'a> {
    bin: &'a Path,
    endpoint: &'a str,
    pinning: &'a Pinning,
}

impl ClientBase<'_> {
    fn common_args(&self) -> Vec<String> {
        [
            "--endpoint",
            self.endpoint,
            "--bucket",
            "bench",
            "--access-key",
            ACCESS_KEY,
            "--secret-key",
            SECRET_KEY,
            "--objects",
            &OBJECTS.to_string(),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    }

    /// Runs `bench-client` (pinned to CPU 0) with `args`, optionally under valgrind,
    /// and returns the JSON objects it printed.
    fn run_with(&self, valgrind: Option<&Path>, args: &[&str]) -> Result<Vec<Json>, String> {
        let mut cmd = match valgrind {
            Some(out) => {
                let mut c = self.pinning.command(0, Path::new("valgrind"));
                c.arg("--tool=callgrind").arg(format!("--callgrind-out-file={}", out.display())).arg(self.bin);
                c
            }
            None => self.pinning.command(0, self.bin),
        };
        cmd.args(self.common_args()).args(args);
        let output = cmd.stdin(Stdio::null()).output().map_err(|e| format!("cannot start bench-client: {e}"))?;
        if !output.status.success() {
            let err = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = err.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(format!("bench-client {} exited with {}: {}", args.join(" "), output.status, tail.join("\n")));
        }
        let mut out = Vec::new();
        for line in BufReader::new(output.stdout.as_slice()).lines() {
            let line = line.map_err(|e| e.to_string())?;
            if line.trim_start().starts_with('{') {
                out.push(Json::parse(&line).map_err(|e| format!("bench-client printed bad JSON ({e}): {line}"))?);
            }
        }
        Ok(out)
    }

    fn run_json(&self, args: &[&str]) -> Result<Vec<Json>, String> {
        self.run_with(None, args)
    }

    fn phase(&self, client: &str, op: &str, concurrency: usize, n: usize) -> Result<Record, String> {
        let (n, c) = (n.to_string(), concurrency.to_string());
        let lines = self.run_json(&["--client", client, "--op", op, "--n", &n, "--concurrency", &c])?;
        let line = lines.into_iter().next().ok_or("bench-client printed no result")?;
        Record::from_json(line)
    }

    /// Instructions per operation from a small and a large callgrind run.
    fn count(
        &self,
        out_dir: &Path,
        client: &str,
        op: &str,
        concurrency: usize,
        small: usize,
        large: usize,
    ) -> Result<Count, String> {
        let mut totals = Vec::new();
        for n in [small, large] {
            let file = out_dir.join(format!("{client}-{op}-c{concurrency}-n{n}.out"));
            let (ns, c) = (n.to_string(), concurrency.to_string());
            let lines =
                self.run_with(Some(&file), &["--client", client, "--op", op, "--n", &ns, "--concurrency", &c])?;
            let ops = lines.first().and_then(|l| l.num("n")).ok_or("bench-client printed no result")? as u64;
            let text = std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let instr = text
                .lines()
                .find_map(|l| l.strip_prefix("summary:").or_else(|| l.strip_prefix("totals:")))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| format!("no instruction total in {}", file.display()))?;
            totals.push((ops, instr, file));
        }
        let (ops_s, instr_s, _) = &totals[0];
        let (ops_l, instr_l, file_l) = &totals[1];
        if ops_l <= ops_s {
            return Err("the large callgrind run did no more operations than the small one".into());
        }
        Ok(Count {
            client: client.to_owned(),
            op: op.to_owned(),
            concurrency,
            small: (*ops_s, *instr_s),
            large: (*ops_l, *instr_l),
            per_op: instr_l.saturating_sub(*instr_s) as f64 / (ops_l - ops_s) as f64,
            file: file_l.clone(),
        })
    }
}

/// One timed phase of one client, as `bench-client` printed it.
struct Record {
    client: String,
    op: String,
    concurrency: usize,
    ops_per_sec: f64,
    cpu_us_per_op: f64,
    peak_rss_kb: f64,
    raw: Json,
}

impl Record {
    fn from_json(j: Json) -> Result<Record, String> {
        let missing = |k: &str| format!("bench-client result has no {k:?}");
        Ok(Record {
            client: j.str("client").ok_or_else(|| missing("client"))?.to_owned(),
            op: j.str("op").ok_or_else(|| missing("op"))?.to_owned(),
            concurrency: j.num("concurrency").ok_or_else(|| missing("concurrency"))? as usize,
            ops_per_sec: j.num("ops_per_sec").ok_or_else(|| missing("ops_per_sec"))?,
            cpu_us_per_op: j.num("cpu_us_per_op").ok_or_else(|| missing("cpu_us_per_op"))?,
            peak_rss_kb: j.num("peak_rss_kb").ok_or_else(|| missing("peak_rss_kb"))?,
            raw: j,
        })
    }
}

/// Instructions per operation of one client and phase.
struct Count {
    client: String,
    op: String,
    concurrency: usize,
    /// (operations, instructions) of the small and the large run.
    small: (u64, u64),
    large: (u64, u64),
    per_op: f64,
    file: PathBuf,
}

/// Medians of one client in one phase.
#[derive(Clone, Copy, Default)]
struct Cell {
    ops_per_sec: Option<f64>,
    cpu_us: Option<f64>,
    rss_kb: Option<f64>,
    instr: Option<f64>,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 })
}

struct Target {
    name: String,
    value: Option<f64>,
    limit: f64,
    unit: &'static str,
}

impl Target {
    fn verdict(&self) -> &'static str {
        match self.value {
            Some(v) if v <= self.limit => "PASS",
            Some(_) => "MISS",
            None => "n/a",
        }
    }
}

struct Row {
    op: &'static str,
    concurrency: usize,
    cells: BTreeMap<String, Cell>,
    cpu_ratio: Option<f64>,
    instr_ratio: Option<f64>,
}

struct Report {
    rows: Vec<Row>,
    clients: Vec<String>,
    targets: Vec<Target>,
    notes: Vec<String>,
    meta: Vec<(&'static str, String)>,
}

fn best_peer(cells: &BTreeMap<String, Cell>, metric: fn(&Cell) -> Option<f64>) -> Option<f64> {
    PEERS.iter().filter_map(|p| cells.get(*p).and_then(metric)).min_by(f64::total_cmp)
}

impl Report {
    fn build(
        plan: &Plan,
        runs: &[Record],
        counts: &[Count],
        callgrind: bool,
        pinning: &Pinning,
        port: u16,
        elapsed: Duration,
    ) -> Report {
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        for &(op, concurrency) in PHASES {
            let mut cells = BTreeMap::new();
            for client in &plan.clients {
                let mine: Vec<&Record> =
                    runs.iter().filter(|r| &r.client == client && r.op == op && r.concurrency == concurrency).collect();
                let instr = counts
                    .iter()
                    .find(|c| &c.client == client && c.op == op && c.concurrency == concurrency)
                    .map(|c| c.per_op);
                cells.insert(
                    client.clone(),
                    Cell {
                        ops_per_sec: median(mine.iter().map(|r| r.ops_per_sec).collect()),
                        cpu_us: median(mine.iter().map(|r| r.cpu_us_per_op).collect()),
                        rss_kb: median(mine.iter().map(|r| r.peak_rss_kb).collect()),
                        instr,
                    },
                );
            }
            let ours = cells.get("ours").copied().unwrap_or_default();
            let ratio = |mine: Option<f64>, best: Option<f64>| match (mine, best) {
                (Some(m), Some(b)) if b > 0.0 => Some(m / b),
                _ => None,
            };
            let cpu_ratio = ratio(ours.cpu_us, best_peer(&cells, |c| c.cpu_us));
            let instr_ratio = ratio(ours.instr, best_peer(&cells, |c| c.instr));
            let label = phase_label(op, concurrency);
            if op != "list" && callgrind {
                targets.push(Target {
                    name: format!("{label}: instructions/op, ours / best peer"),
                    value: instr_ratio,
                    limit: TARGET_INSTR_RATIO,
                    unit: "x",
                });
            }
            targets.push(Target {
                name: format!("{label}: client CPU/op, ours / best peer"),
                value: cpu_ratio,
                limit: TARGET_CPU_RATIO,
                unit: "x",
            });
            if op == "list" {
                targets.push(Target {
                    name: format!("{label}: client CPU per key listed, ours"),
                    value: ours.cpu_us,
                    limit: TARGET_LIST_US_PER_KEY,
                    unit: " µs",
                });
            }
            rows.push(Row { op, concurrency, cells, cpu_ratio, instr_ratio });
        }
        let mut notes = vec![
            format!(
                "Each timed phase runs in its own `bench-client` process on a current-thread tokio runtime; \
                 CPU is getrusage(RUSAGE_SELF) user+sys around the timed loop, after a warm-up at the same \
                 concurrency; peak RSS is the process's ru_maxrss. Medians of {} repetition(s).",
                plan.repeat
            ),
            format!(
                "N per phase: {} sequential, {} with 32 in flight; LIST: {} listing(s) of {LIST_KEYS} keys \
                 (pages of 1,000), counted per key. Pinning: {}.",
                plan.n_seq, plan.n_par, plan.listings, pinning.note
            ),
            "Server: `bench-server` = s3s-fs 0.14.1 behind our own hyper http1 listener with TCP_NODELAY, \
             SigV4 auth on, store in tmpfs; the server saturates its core for all but sequential small \
             requests, so compare CPU/op, instructions/op and RSS rather than ops/s."
                .to_owned(),
            "Clients as configured: ours = `S3Driver` defaults (over plain http: SHA-256 payload hash + \
             x-amz-checksum-crc32c on PUT); object_store = `AmazonS3Builder` defaults (SHA-256 payload hash, \
             no checksum; LIST sends no max-keys, the server pages by 1,000); opendal = `services::S3` \
             defaults (UNSIGNED-PAYLOAD, no checksum); hyper = the floor: hyper-util pooled client, signed \
             with `storage_s3::sigv4::sign_headers` and UNSIGNED-PAYLOAD, no XML parsing beyond counting \
             `<Key>` and reading the continuation token."
                .to_owned(),
        ];
        if callgrind {
            let (s, l) = plan.cg_ops;
            let (ls, ll) = plan.cg_listings;
            notes.push(format!(
                "Instructions/op: valgrind --tool=callgrind on the client process, (I(N={l}) - I(N={s})) / {}; \
                 LIST: ({ll} - {ls} listings) x {LIST_KEYS} keys. Valgrind hides SHA-NI, so SHA-256 runs its \
                 software path there (native runs use SHA-NI where the CPU has it). Outputs: \
                 bench/target/callgrind/*.out (`callgrind_annotate --inclusive=yes FILE`).",
                l - s
            ));
        } else {
            notes.push("Instruction counts skipped (--no-callgrind or no valgrind).".to_owned());
        }
        let meta = vec![
            ("command", format!("cargo xtask bench{}", if plan.quick { " --quick" } else { "" })),
            ("date", utc_now()),
            ("git", git_describe()),
            ("cpu", cpu_model()),
            ("cpus", std::thread::available_parallelism().map(|n| n.get().to_string()).unwrap_or_default()),
            ("port", port.to_string()),
            ("elapsed_s", format!("{:.0}", elapsed.as_secs_f64())),
            ("versions", pinned_versions()),
        ];
        Report { rows, clients: plan.clients.clone(), targets, notes, meta }
    }

    fn markdown(&self, crashes: &[String]) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "## cargo xtask bench\n");
        for (k, v) in &self.meta {
            let _ = writeln!(s, "- {k}: {v}");
        }
        s.push('\n');
        let mut header = String::from("| op | in flight |");
        let mut rule = String::from("|---|---:|");
        for c in &self.clients {
            let _ = write!(header, " {c} ops/s | {c} CPU µs/op | {c} instr/op | {c} peak RSS |");
            rule.push_str("---:|---:|---:|---:|");
        }
        header.push_str(" CPU ours/best peer | instr ours/best peer |");
        rule.push_str("---|---|");
        let _ = writeln!(s, "{header}\n{rule}");
        for row in &self.rows {
            let op = match row.op {
                "list" => "LIST 10k keys (per key)",
                "put" => "PUT 4 KiB",
                _ => "GET 4 KiB",
            };
            let _ = write!(s, "| {op} | {} |", row.concurrency);
            for c in &self.clients {
                let cell = row.cells.get(c).copied().unwrap_or_default();
                let _ = write!(
                    s,
                    " {} | {} | {} | {} |",
                    fmt_opt(cell.ops_per_sec, |v| group(v.round() as u64)),
                    fmt_opt(cell.cpu_us, |v| if v < 10.0 { format!("{v:.2}") } else { format!("{v:.1}") }),
                    fmt_opt(cell.instr, |v| group(v.round() as u64)),
                    fmt_opt(cell.rss_kb, |v| format!("{:.1} MiB", v / 1024.0)),
                );
            }
            let cpu_limit = TARGET_CPU_RATIO;
            let cpu = fmt_opt(row.cpu_ratio, |v| format!("{v:.2} {}", verdict(v, cpu_limit)));
            let instr = fmt_opt(row.instr_ratio, |v| {
                if row.op == "list" { format!("{v:.2}") } else { format!("{v:.2} {}", verdict(v, TARGET_INSTR_RATIO)) }
            });
            let _ = writeln!(s, " {cpu} | {instr} |");
        }
        let _ = writeln!(s, "\n### Targets (reported, not enforced)\n");
        for t in &self.targets {
            let value = fmt_opt(t.value, |v| format!("{v:.2}{}", t.unit));
            let _ = writeln!(s, "- {}: {value} (target ≤ {}{}) **{}**", t.name, t.limit, t.unit, t.verdict());
        }
        let _ = writeln!(s, "\n### Notes\n");
        for n in &self.notes {
            let _ = writeln!(s, "- {n}");
        }
        if !crashes.is_empty() {
            let _ = writeln!(s, "\n### Crashed\n");
            for c in crashes {
                let _ = writeln!(s, "- {}", c.replace('\n', " "));
            }
        }
        s
    }

    fn json(&self, runs: &[Record], counts: &[Count], crashes: &[String]) -> String {
        let num = |v: Option<f64>| v.map_or(Json::Null, Json::Num);
        let meta = Json::Obj(self.meta.iter().map(|(k, v)| ((*k).to_owned(), Json::Str(v.clone()))).collect());
        let summary = Json::Arr(
            self.rows
                .iter()
                .map(|row| {
                    let clients = Json::Obj(
                        row.cells
                            .iter()
                            .map(|(c, cell)| {
                                (
                                    c.clone(),
                                    Json::Obj(vec![
                                        ("ops_per_sec".into(), num(cell.ops_per_sec)),
                                        ("cpu_us_per_op".into(), num(cell.cpu_us)),
                                        ("instructions_per_op".into(), num(cell.instr)),
                                        ("peak_rss_kb".into(), num(cell.rss_kb)),
                                    ]),
                                )
                            })
                            .collect(),
                    );
                    Json::Obj(vec![
                        ("op".into(), Json::Str(row.op.to_owned())),
                        ("concurrency".into(), Json::Num(row.concurrency as f64)),
                        ("per".into(), Json::Str(if row.op == "list" { "key" } else { "request" }.into())),
                        ("clients".into(), clients),
                        ("cpu_ratio_ours_to_best_peer".into(), num(row.cpu_ratio)),
                        ("instructions_ratio_ours_to_best_peer".into(), num(row.instr_ratio)),
                    ])
                })
                .collect(),
        );
        let targets = Json::Arr(
            self.targets
                .iter()
                .map(|t| {
                    Json::Obj(vec![
                        ("name".into(), Json::Str(t.name.clone())),
                        ("value".into(), num(t.value)),
                        ("limit".into(), Json::Num(t.limit)),
                        ("verdict".into(), Json::Str(t.verdict().into())),
                    ])
                })
                .collect(),
        );
        let callgrind = Json::Arr(
            counts
                .iter()
                .map(|c| {
                    Json::Obj(vec![
                        ("client".into(), Json::Str(c.client.clone())),
                        ("op".into(), Json::Str(c.op.clone())),
                        ("concurrency".into(), Json::Num(c.concurrency as f64)),
                        ("small_ops".into(), Json::Num(c.small.0 as f64)),
                        ("small_instructions".into(), Json::Num(c.small.1 as f64)),
                        ("large_ops".into(), Json::Num(c.large.0 as f64)),
                        ("large_instructions".into(), Json::Num(c.large.1 as f64)),
                        ("instructions_per_op".into(), Json::Num(c.per_op)),
                        ("file".into(), Json::Str(c.file.display().to_string())),
                    ])
                })
                .collect(),
        );
        let doc = Json::Obj(vec![
            ("meta".into(), meta),
            ("summary".into(), summary),
            ("targets".into(), targets),
            ("callgrind".into(), callgrind),
            ("runs".into(), Json::Arr(runs.iter().map(|r| r.raw.clone()).collect())),
            ("notes".into(), Json::Arr(self.notes.iter().cloned().map(Json::Str).collect())),
            ("crashes".into(), Json::Arr(crashes.iter().cloned().map(Json::Str).collect())),
        ]);
        let mut out = String::new();
        doc.write(&mut out, 0);
        out.push('\n');
        out
    }
}

fn phase_label(op: &str, concurrency: usize) -> String {
    match op {
        "list" => "LIST 10k keys".to_owned(),
        _ => format!("{} 4 KiB, {concurrency} in flight", op.to_uppercase()),
    }
}

fn verdict(v: f64, limit: f64) -> &'static str {
    if v <= limit { "PASS" } else { "MISS" }
}

fn fmt_opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "–".to_owned(), f)
}

/// 1234567 -> "1,234,567".
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).stderr(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn utc_now() -> String {
    command_output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]).unwrap_or_default()
}

fn git_describe() -> String {
    let root = paths::workspace_root();
    let root = root.to_string_lossy();
    let head = command_output("git", &["-C", &root, "rev-parse", "--short", "HEAD"]).unwrap_or_default();
    let dirty = command_output("git", &["-C", &root, "status", "--porcelain"]).is_some_and(|s| !s.is_empty());
    if dirty { format!("{head} (with uncommitted changes)") } else { head }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned()))
        })
        .unwrap_or_default()
}

/// Versions of the measured libraries, from bench/Cargo.lock.
fn pinned_versions() -> String {
    let lock = std::fs::read_to_string(paths::workspace_root().join("bench").join("Cargo.lock")).unwrap_or_default();
    let wanted = ["object_store", "opendal", "reqwest", "s3s", "s3s-fs", "hyper", "hyper-util", "tokio"];
    let mut found: Vec<String> = Vec::new();
    let mut name: Option<&str> = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"'));
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take())
            && wanted.contains(&n)
        {
            found.push(format!("{n} {}", v.trim_matches('"')));
        }
    }
    found.sort();
    found.join(", ")
}

/// A small JSON value: enough to read `bench-client`'s flat lines and write the results.
#[derive(Debug, Clone)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn parse(s: &str) -> Result<Json, String> {
        let mut p = Parser { s: s.as_bytes(), i: 0 };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing text at byte {}", p.i));
        }
        Ok(v)
    }

    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn num(&self, key: &str) -> Option<f64> {
        match self.get(key)? {
            Json::Num(n) => Some(*n),
            _ => None,
        }
    }

    fn str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    fn write(&self, out: &mut String, indent: usize) {
        let pad = |out: &mut String, n: usize| out.extend(std::iter::repeat_n(' ', n));
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(n) if n.is_finite() => {
                if n.fract() == 0.0 && n.abs() < 1e15 {
                    let _ = write!(out, "{}", *n as i64);
                } else {
                    let _ = write!(out, "{n}");
                }
            }
            Json::Num(_) => out.push_str("null"),
            Json::Str(s) => {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        '\t' => out.push_str("\\t"),
                        '\r' => out.push_str("\\r"),
                        c if (c as u32) < 0x20 => {
                            let _ = write!(out, "\\u{:04x}", c as u32);
                        }
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            Json::Arr(items) => {
                if items.is_empty() {
                    out.push_str("[]");
                    return;
                }
                out.push_str("[\n");
                for (i, v) in items.iter().enumerate() {
                    pad(out, indent + 2);
                    v.write(out, indent + 2);
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                pad(out, indent);
                out.push(']');
            }
            Json::Obj(fields) => {
                if fields.is_empty() {
                    out.push_str("{}");
                    return;
                }
                out.push_str("{\n");
                for (i, (k, v)) in fields.iter().enumerate() {
                    pad(out, indent + 2);
                    Json::Str(k.clone()).write(out, 0);
                    out.push_str(": ");
                    v.write(out, indent + 2);
                    out.push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
                }
                pad(out, indent);
                out.push('}');
            }
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Result<(), String> {
        self.ws();
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at byte {}", b as char, self.i))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(fields));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    self.eat(b':')?;
                    fields.push((key, self.value()?));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(fields));
                        }
                        _ => return Err(format!("expected , or }} at byte {}", self.i)),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(items));
                        }
                        _ => return Err(format!("expected , or ] at byte {}", self.i)),
                    }
                }
            }
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') if self.s[self.i..].starts_with(b"true") => {
                self.i += 4;
                Ok(Json::Bool(true))
            }
            Some(b'f') if self.s[self.i..].starts_with(b"false") => {
                self.i += 5;
                Ok(Json::Bool(false))
            }
            Some(b'n') if self.s[self.i..].starts_with(b"null") => {
                self.i += 4;
                Ok(Json::Null)
            }
            Some(_) => {
                let start = self.i;
                while self.s.get(self.i).is_some_and(|b| b"+-.eE0123456789".contains(b)) {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
                text.parse().map(Json::Num).map_err(|_| format!("bad number {text:?} at byte {start}"))
            }
            None => Err("unexpected end".into()),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        if self.s.get(self.i) != Some(&b'"') {
            return Err(format!("expected a string at byte {}", self.i));
        }
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.s.get(self.i) {
                None => return Err("unterminated string".into()),
                Some(b'"') => {
                    self.i += 1;
                    return String::from_utf8(out).map_err(|e| e.to_string());
                }
                Some(b'\\') => {
                    let esc = self.s.get(self.i + 1).copied().ok_or("unterminated escape")?;
                    self.i += 2;
                    match esc {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'u' => {
                            let hex = self.s.get(self.i..self.i + 4).ok_or("short \\u escape")?;
                            let code = u32::from_str_radix(std::str::from_utf8(hex).map_err(|e| e.to_string())?, 16)
                                .map_err(|e| e.to_string())?;
                            self.i += 4;
                            let c = char::from_u32(code).unwrap_or('\u{fffd}');
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                        other => out.push(other),
                    }
                }
                Some(&b) => {
                    out.push(b);
                    self.i += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_lines_parse_and_results_round_trip() {
        let line = r#"{"client":"ours","concurrency":32,"cpu_us_per_op":61.3,"n":2000,"op":"put","ok":true,"x":null,"s":"a\"b\u00e9"}"#;
        let j = Json::parse(line).unwrap();
        assert_eq!(j.str("client"), Some("ours"));
        assert_eq!(j.num("concurrency"), Some(32.0));
        assert_eq!(j.num("cpu_us_per_op"), Some(61.3));
        assert_eq!(j.str("s"), Some("a\"bé"));
        let mut out = String::new();
        j.write(&mut out, 0);
        let again = Json::parse(&out).unwrap();
        assert_eq!(again.num("n"), Some(2000.0));
        assert_eq!(again.str("s"), Some("a\"bé"));
        assert!(Json::parse("{\"a\":1} x").is_err());
    }

    #[test]
    fn helpers() {
        assert_eq!(group(1234567), "1,234,567");
        assert_eq!(group(12), "12");
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }
}
