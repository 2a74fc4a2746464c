//! `cargo xtask bench`: our drivers beside Apache `object_store` and OpenDAL (and a bare
//! client as the floor), in one run: small S3 operations and large S3 transfers against
//! one s3s-fs server, small operations on the local filesystem, and the transfer engine's
//! memory bound.
//!
//! ```text
//! cargo xtask bench [--quick] [--no-callgrind] [--repeat R] [--port P] [--clients a,b,...]
//!                   [--only s3-small,s3-large,local,memory] [--large-repeat R]
//! ```
//!
//! 1. Builds the separate `bench/` workspace in release (`bench-server`, `bench-client`,
//!    `bench-large`).
//! 2. Starts `bench-server` (s3s-fs 0.14.1 with TCP_NODELAY, SigV4 auth on) on a free
//!    loopback port from 9101, its store in tmpfs (`/dev/shm`) when there is one, pinned to
//!    CPU 1 with `taskset` (only when an S3 section runs).
//! 3. `s3-small`: writes the objects once with our driver (`bench-client --op setup`); for
//!    each repetition, phase (4 KiB PUT and GET, sequential and 32 in flight; LIST of 10,000
//!    keys in pages of 1,000) and client, runs one `bench-client` process pinned to CPU 0,
//!    so CPU time (getrusage user+sys around the timed loop) and peak RSS are that client's
//!    alone. The median of the repetitions is reported. Then counts client instructions per
//!    operation under `valgrind --tool=callgrind`: two runs of the same phase with a small
//!    and a large N, `(I_large - I_small) / (N_large - N_small)`, which removes start-up and
//!    warm-up cost. The outputs stay in `bench/target/callgrind/` for `callgrind_annotate`.
//! 4. `s3-large`: a 512 MiB file on tmpfs, PUT and GET once per client and API (or
//!    `--large-repeat` times, reporting medians; `bench-large`, one process each, pinned to
//!    CPU 0): MiB/s, client CPU seconds, peak RSS, each GET checked byte for byte against
//!    the source (untimed).
//! 5. `memory`: a 2 GiB file uploaded and downloaded (to a file, and as a stream) by our
//!    engine with its default settings, to `LocalDriver` and to the S3 server; each
//!    process's peak RSS against `part_size x (concurrency + 1)` plus a fixed overhead.
//! 6. `local`: the small phases of step 3 on a tmpfs directory, with `LocalDriver`,
//!    object_store's `LocalFileSystem`, OpenDAL's `services-fs` and bare `tokio::fs` (the
//!    floor), each on its own directory it set up itself; timed, then under callgrind.
//! 7. Stops the server, prints Markdown tables with ratios of ours to the best peer and the
//!    targets (PASS / MISS, never a failure), writes `bench/results/latest.{json,md}`.
//!    Large files are deleted as soon as their section ends.
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

const USAGE: &str = "usage: cargo xtask bench [--quick] [--no-callgrind] [--repeat R] [--port P] [--clients a,b,...] \
                     [--only s3-small,s3-large,local,memory] [--large-repeat R]";

/// Every S3 client, the floor first.
const CLIENTS: &[&str] = &["hyper", "ours", "object_store", "opendal"];
/// Every local filesystem client, the floor first.
/// `ours_nofsync` is our driver with `LocalOptions::fsync(false)`: the like-for-like
/// comparison with object_store, which does not fsync.
const LOCAL_CLIENTS: &[&str] = &["tokio", "ours", "ours_nofsync", "object_store", "opendal"];
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
const MIB: u64 = 1 << 20;

/// The sections `--only` selects.
const SECTIONS: &[&str] = &["s3-small", "s3-large", "local", "memory"];

/// Large transfers: (operation, client, mode), in the order of the table.
const LARGE: &[(&str, &str, &str)] = &[
    ("put", "hyper", "single"),
    ("put", "ours", "multipart"),
    ("put", "object_store", "multipart"),
    ("put", "opendal", "multipart"),
    ("get", "hyper", "single"),
    ("get", "ours", "single"),
    ("get", "object_store", "single"),
    ("get", "opendal", "single"),
    ("get", "ours", "parallel"),
    ("get", "ours", "stream"),
    ("get", "object_store", "parallel"),
    ("get", "opendal", "parallel"),
];
/// Part (chunk) size and parts / ranges in flight of every client in the large transfers.
const LARGE_PART: u64 = 8 * MIB;
const LARGE_CONCURRENCY: usize = 8;
/// Memory bound: (backend, operation, mode), our engine with `TransferOptions::default()`.
const MEMORY: &[(&str, &str, &str)] = &[
    ("local", "put", "multipart"),
    ("local", "get", "parallel"),
    ("local", "get", "stream"),
    ("s3", "put", "multipart"),
    ("s3", "get", "parallel"),
    ("s3", "get", "stream"),
    ("local", "put", "tree"),
    ("s3", "put", "tree"),
];
/// The tree case: the memory-bound size split into this many files, uploaded this many at a
/// time (`cp -r -j 8` of eight large files).
const TREE_FILES: u64 = 8;
/// What a client process holds besides the transfer's buffers: runtime, allocator,
/// binary, HTTP buffers.
const MEMORY_OVERHEAD: u64 = 64 * MIB;

/// Targets (reported, never enforced).
const TARGET_INSTR_RATIO: f64 = 0.5;
const TARGET_CPU_RATIO: f64 = 0.75;
const TARGET_LIST_US_PER_KEY: f64 = 0.8;
/// Large transfers: ours' MiB/s at least the best peer's, and at least 0.95x the floor's.
const TARGET_LARGE_PEER: f64 = 1.0;
const TARGET_LARGE_FLOOR: f64 = 0.95;
/// Local filesystem: ours' ops/s at least 1.15x object_store's (small operations) and 3x
/// (LIST, keys per second).
const TARGET_LOCAL_SMALL: f64 = 1.15;
const TARGET_LOCAL_LIST: f64 = 3.0;

/// Which parts of the benchmark run.
#[derive(Clone, Copy, Debug)]
struct Sections {
    s3_small: bool,
    s3_large: bool,
    local: bool,
    memory: bool,
}

impl Sections {
    fn all() -> Sections {
        Sections { s3_small: true, s3_large: true, local: true, memory: true }
    }

    fn parse(list: &str) -> Result<Sections, String> {
        let mut s = Sections { s3_small: false, s3_large: false, local: false, memory: false };
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "s3-small" => s.s3_small = true,
                "s3-large" => s.s3_large = true,
                "local" => s.local = true,
                "memory" => s.memory = true,
                other => return Err(format!("unknown section {other:?}; known: {}", SECTIONS.join(", "))),
            }
        }
        if !(s.s3_small || s.s3_large || s.local || s.memory) {
            return Err(format!("--only needs at least one of {}", SECTIONS.join(", ")));
        }
        Ok(s)
    }

    fn names(&self) -> Vec<&'static str> {
        let on = [self.s3_small, self.s3_large, self.local, self.memory];
        SECTIONS.iter().zip(on).filter(|(_, on)| *on).map(|(n, _)| *n).collect()
    }

    fn needs_server(&self) -> bool {
        self.s3_small || self.s3_large || self.memory
    }
}

struct Plan {
    callgrind: bool,
    repeat: usize,
    port: Option<u16>,
    /// The clients asked for (S3 and local names; each section takes the ones it knows).
    clients: Vec<String>,
    sections: Sections,
    /// The arguments, for the report.
    args: Vec<String>,
    /// Operations per timed sequential / concurrent PUT or GET phase.
    n_seq: usize,
    n_par: usize,
    /// Complete listings per timed LIST phase.
    listings: usize,
    /// Callgrind: operations in the small and the large run (listings for LIST).
    cg_ops: (usize, usize),
    cg_listings: (usize, usize),
    /// Size of the large transfers and of the memory-bound transfers.
    large_bytes: u64,
    memory_bytes: u64,
    /// Repetitions of each large transfer (medians reported).
    large_repeat: usize,
}

impl Plan {
    fn parse(args: &[String]) -> Result<Plan, String> {
        let mut quick = false;
        let mut callgrind = true;
        let mut repeat = None;
        let mut large_repeat = 1;
        let mut port = None;
        let mut sections = Sections::all();
        let mut clients: Vec<String> = Vec::new();
        for c in CLIENTS.iter().chain(LOCAL_CLIENTS) {
            if !clients.iter().any(|x| x == c) {
                clients.push((*c).to_owned());
            }
        }
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |flag: &str| it.next().cloned().ok_or_else(|| format!("{flag} needs a value; {USAGE}"));
            match a.as_str() {
                "--quick" => quick = true,
                "--no-callgrind" => callgrind = false,
                "--repeat" => repeat = Some(value(a)?.parse().map_err(|_| "--repeat takes a number".to_owned())?),
                "--port" => port = Some(value(a)?.parse().map_err(|_| "--port takes a port number".to_owned())?),
                "--clients" => clients = value(a)?.split(',').map(|s| s.trim().to_owned()).collect(),
                "--only" => sections = Sections::parse(&value(a)?)?,
                "--large-repeat" => {
                    large_repeat = value(a)?.parse().map_err(|_| "--large-repeat takes a number".to_owned())?;
                }
                other => return Err(format!("unknown argument {other:?}; {USAGE}")),
            }
        }
        if let Some(bad) =
            clients.iter().find(|c| !CLIENTS.contains(&c.as_str()) && !LOCAL_CLIENTS.contains(&c.as_str()))
        {
            return Err(format!("unknown client {bad:?}; known: {}, tokio", CLIENTS.join(", ")));
        }
        let mut plan = Plan {
            callgrind,
            repeat: repeat.unwrap_or(3),
            port,
            clients,
            sections,
            args: args.to_vec(),
            n_seq: 5_000,
            n_par: 10_000,
            listings: 5,
            cg_ops: (200, 2_200),
            cg_listings: (1, 3),
            large_bytes: 512 * MIB,
            memory_bytes: 2048 * MIB,
            large_repeat: large_repeat.max(1),
        };
        if quick {
            plan.repeat = repeat.unwrap_or(1);
            plan.n_seq = 1_000;
            plan.n_par = 2_000;
            plan.listings = 1;
            plan.cg_ops = (100, 600);
            plan.cg_listings = (1, 2);
            plan.large_bytes = 128 * MIB;
            plan.memory_bytes = 512 * MIB;
        }
        Ok(plan)
    }

    fn n_for(&self, op: &str, concurrency: usize) -> usize {
        match (op, concurrency) {
            ("list", _) => self.listings,
            (_, 1) => self.n_seq,
            _ => self.n_par,
        }
    }

    /// The S3 clients asked for, in table order.
    fn s3_clients(&self) -> Vec<String> {
        CLIENTS.iter().filter(|c| self.clients.iter().any(|x| x == *c)).map(|c| (*c).to_owned()).collect()
    }

    /// The local filesystem clients asked for, in table order.
    fn local_clients(&self) -> Vec<String> {
        LOCAL_CLIENTS.iter().filter(|c| self.clients.iter().any(|x| x == *c)).map(|c| (*c).to_owned()).collect()
    }
}

/// Everything measured.
#[derive(Default)]
struct Results {
    runs: Vec<Record>,
    counts: Vec<Count>,
    local_runs: Vec<Record>,
    local_counts: Vec<Count>,
    large: Vec<LargeRecord>,
    memory: Vec<LargeRecord>,
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
    let large_bin = bins.join("bench-large");

    let pinning = Pinning::detect();
    let callgrind = plan.callgrind && (plan.sections.s3_small || plan.sections.local) && valgrind_available();
    let data_dir = data_dir();
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&data_dir).map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let port = match plan.port {
        Some(p) => p,
        None => free_port(9101).ok_or("no free loopback port in 9101-9199")?,
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let cg_dir = target_dir.join("callgrind");
    if callgrind {
        let _ = std::fs::remove_dir_all(&cg_dir);
        std::fs::create_dir_all(&cg_dir).map_err(|e| format!("cannot create {}: {e}", cg_dir.display()))?;
    }

    let mut crashes: Vec<String> = Vec::new();
    let mut res = Results::default();
    let outcome = (|| -> Result<(), String> {
        let s3_args: Vec<String> = ["--endpoint", &endpoint, "--bucket", "bench", "--access-key", ACCESS_KEY]
            .iter()
            .chain(&["--secret-key", SECRET_KEY])
            .map(|s| (*s).to_owned())
            .collect();
        let mut server = match plan.sections.needs_server() {
            true => Some(Server::start(&server_bin, &data_dir, port, &pinning)?),
            false => None,
        };
        if let Some(server) = server.as_mut() {
            let mut small_args = s3_args.clone();
            small_args.extend(["--objects".to_owned(), OBJECTS.to_string()]);
            let small = ClientBase { bin: &client_bin, common: small_args, pinning: &pinning, tag: "" };
            let large = ClientBase { bin: &large_bin, common: s3_args.clone(), pinning: &pinning, tag: "" };
            if plan.sections.s3_small {
                let cg = callgrind.then_some(cg_dir.as_path());
                s3_small(&plan, &small, server, cg, &mut res, &mut crashes)?;
            }
            if plan.sections.s3_large {
                s3_large(&plan, &large, server, &data_dir, &mut res, &mut crashes)?;
            }
            if plan.sections.memory {
                memory(&plan, &large, Some(server), &data_dir, &mut res, &mut crashes)?;
            }
            server.stop();
        }
        if plan.sections.local {
            let cg = callgrind.then_some(cg_dir.as_path());
            local(&plan, &client_bin, &pinning, &data_dir, cg, &mut res, &mut crashes)?;
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&data_dir);
    if let Err(e) = outcome {
        crashes.push(e);
    }

    let report = Report::build(&plan, &res, callgrind, &pinning, port, started.elapsed());
    let md = report.markdown(&crashes);
    println!("\n{md}");
    let results = bench_dir.join("results");
    std::fs::create_dir_all(&results).map_err(|e| format!("cannot create {}: {e}", results.display()))?;
    let json = report.json(&res, &crashes);
    std::fs::write(results.join("latest.json"), json).map_err(|e| format!("cannot write latest.json: {e}"))?;
    std::fs::write(results.join("latest.md"), &md).map_err(|e| format!("cannot write latest.md: {e}"))?;
    eprintln!("xtask: bench: wrote {} and latest.md", results.join("latest.json").display());
    if crashes.is_empty() {
        Ok(())
    } else {
        Err(format!("{} part(s) of the benchmark crashed:\n  {}", crashes.len(), crashes.join("\n  ")))
    }
}

/// Section `s3-small`: setup, timed phases, then callgrind (when `cg_dir` is given).
fn s3_small(
    plan: &Plan,
    base: &ClientBase<'_>,
    server: &mut Server,
    cg_dir: Option<&Path>,
    res: &mut Results,
    crashes: &mut Vec<String>,
) -> Result<(), String> {
    let clients = plan.s3_clients();
    eprintln!("xtask: bench: writing {OBJECTS} objects of 4 KiB and {LIST_KEYS} LIST keys with our driver");
    base.run_json(&["--op", "setup", "--objects", &OBJECTS.to_string(), "--list-keys", &LIST_KEYS.to_string()])?;
    for rep in 0..plan.repeat {
        for &(op, conc) in PHASES {
            for client in &clients {
                let n = plan.n_for(op, conc);
                eprintln!("xtask: bench: [{}/{}] {client} {op} n={n} concurrency={conc}", rep + 1, plan.repeat);
                match base.phase(client, op, conc, n) {
                    Ok(r) => res.runs.push(r),
                    Err(e) => crashes.push(format!("{client} {op} c={conc}: {e}")),
                }
                server.check()?;
            }
        }
    }
    if let Some(out_dir) = cg_dir {
        for &(op, conc) in PHASES {
            for client in &clients {
                let (small, large) = if op == "list" { plan.cg_listings } else { plan.cg_ops };
                eprintln!("xtask: bench: callgrind {client} {op} concurrency={conc} n={small} and n={large}");
                match base.count(out_dir, client, op, conc, small, large) {
                    Ok(c) => res.counts.push(c),
                    Err(e) => crashes.push(format!("callgrind {client} {op} c={conc}: {e}")),
                }
                server.check()?;
            }
        }
    }
    Ok(())
}

/// Removes a file, logging (not failing) when it cannot.
fn remove_quietly(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        eprintln!("xtask: bench: cannot remove {}: {e}", path.display());
    }
}

/// Section `s3-large`: one 512 MiB file, PUT and GET once per client and API.
fn s3_large(
    plan: &Plan,
    base: &ClientBase<'_>,
    server: &mut Server,
    data_dir: &Path,
    res: &mut Results,
    crashes: &mut Vec<String>,
) -> Result<(), String> {
    let src = data_dir.join("large-src.bin");
    let dst = data_dir.join("large-dst.bin");
    let (src_s, dst_s) = (src.display().to_string(), dst.display().to_string());
    let size = plan.large_bytes.to_string();
    let (part, conc) = (LARGE_PART.to_string(), LARGE_CONCURRENCY.to_string());
    let tuning = ["--part-size", part.as_str(), "--concurrency", conc.as_str(), "--read-ahead", conc.as_str()];
    let clients = plan.s3_clients();
    let result = (|| -> Result<(), String> {
        eprintln!("xtask: bench: large: writing {} MiB of noise to {src_s}", plan.large_bytes / MIB);
        base.run_json(&["--op", "make-file", "--file", &src_s, "--size", &size])?;
        eprintln!("xtask: bench: large: uploading large/get with our engine (untimed)");
        let mut setup = vec!["--op", "setup", "--file", &src_s, "--key", "large/get"];
        setup.extend(tuning);
        base.run_json(&setup)?;
        for (rep, &(op, client, mode)) in (0..plan.large_repeat).flat_map(|r| LARGE.iter().map(move |v| (r, v))) {
            if !clients.iter().any(|c| c == client) {
                continue;
            }
            eprintln!("xtask: bench: large [{}/{}]: {client} {op} {mode}", rep + 1, plan.large_repeat);
            let mut args = vec!["--op", op, "--client", client, "--mode", mode];
            args.extend(tuning);
            match op {
                "put" => args.extend(["--file", &src_s, "--key", "large/put"]),
                _ => args.extend(["--file", &dst_s, "--key", "large/get", "--verify-against", &src_s]),
            }
            match base.run_json(&args).and_then(LargeRecord::from_lines) {
                Ok(r) => res.large.push(r),
                Err(e) => crashes.push(format!("large {client} {op} {mode}: {e}")),
            }
            remove_quietly(&dst);
            server.check()?;
        }
        Ok(())
    })();
    remove_quietly(&src);
    remove_quietly(&dst);
    if let Err(e) = base.run_json(&["--op", "delete", "--keys", "large/get,large/put"]) {
        crashes.push(format!("large: deleting the objects: {e}"));
    }
    result
}

/// Section `memory`: a 2 GiB file through our engine (defaults) to `LocalDriver` and to
/// the S3 server (when `server` is given), one process per transfer.
fn memory(
    plan: &Plan,
    s3: &ClientBase<'_>,
    mut server: Option<&mut Server>,
    data_dir: &Path,
    res: &mut Results,
    crashes: &mut Vec<String>,
) -> Result<(), String> {
    let src = data_dir.join("memory-src.bin");
    let dst = data_dir.join("memory-dst.bin");
    let local_root = data_dir.join("memory-local");
    let tree_dir = data_dir.join("memory-tree");
    let tree_s = tree_dir.display().to_string();
    let tree_keys: Vec<String> = (0..TREE_FILES).map(|i| format!("memory/tree/f{i}.bin")).collect();
    let tree_keys = tree_keys.join(",");
    let (src_s, dst_s) = (src.display().to_string(), dst.display().to_string());
    let root_s = local_root.display().to_string();
    let size = plan.memory_bytes.to_string();
    let local = ClientBase {
        bin: s3.bin,
        common: vec!["--backend".into(), "local".into(), "--root".into(), root_s, "--bucket".into(), "bench".into()],
        pinning: s3.pinning,
        tag: "",
    };
    let result = (|| -> Result<(), String> {
        eprintln!("xtask: bench: memory: writing {} MiB of noise to {src_s}", plan.memory_bytes / MIB);
        s3.run_json(&["--op", "make-file", "--file", &src_s, "--size", &size])?;
        std::fs::create_dir_all(&tree_dir).map_err(|e| format!("creating {tree_s}: {e}"))?;
        let piece = (plan.memory_bytes / TREE_FILES).to_string();
        for i in 0..TREE_FILES {
            let f = tree_dir.join(format!("f{i}.bin")).display().to_string();
            s3.run_json(&["--op", "make-file", "--file", &f, "--size", &piece])?;
        }
        for backend in ["local", "s3"] {
            if backend == "s3" && server.is_none() {
                continue;
            }
            let base = if backend == "local" { &local } else { s3 };
            for &(b, op, mode) in MEMORY {
                if b != backend {
                    continue;
                }
                eprintln!("xtask: bench: memory: {backend} {op} {mode}");
                let mut args = vec!["--op", op, "--client", "ours", "--mode", mode, "--engine-defaults"];
                match (op, mode) {
                    ("put", "tree") => args.extend(["--file", &tree_s, "--key", "memory/tree"]),
                    ("put", _) => args.extend(["--file", &src_s, "--key", "memory/2g"]),
                    _ => args.extend(["--file", &dst_s, "--key", "memory/2g", "--verify-against", &src_s]),
                }
                match base.run_json(&args).and_then(LargeRecord::from_lines) {
                    Ok(r) => res.memory.push(r),
                    Err(e) => crashes.push(format!("memory {backend} {op} {mode}: {e}")),
                }
                remove_quietly(&dst);
                if let Some(s) = server.as_deref_mut() {
                    s.check()?;
                }
            }
            if let Err(e) = base.run_json(&["--op", "delete", "--keys", &tree_keys]) {
                crashes.push(format!("memory {backend}: deleting the tree: {e}"));
            }
            if let Err(e) = base.run_json(&["--op", "delete", "--keys", "memory/2g"]) {
                crashes.push(format!("memory {backend}: deleting the object: {e}"));
            }
            if backend == "local" {
                let _ = std::fs::remove_dir_all(&local_root);
            }
        }
        Ok(())
    })();
    remove_quietly(&src);
    remove_quietly(&dst);
    let _ = std::fs::remove_dir_all(&local_root);
    let _ = std::fs::remove_dir_all(&tree_dir);
    result
}

/// Section `local`: each client sets up its own directory, then the timed phases, then
/// callgrind (when `cg_dir` is given).
fn local(
    plan: &Plan,
    bin: &Path,
    pinning: &Pinning,
    data_dir: &Path,
    cg_dir: Option<&Path>,
    res: &mut Results,
    crashes: &mut Vec<String>,
) -> Result<(), String> {
    let clients = plan.local_clients();
    let root = data_dir.join("local");
    let base_for = |client: &str| ClientBase {
        bin,
        common: vec![
            "--backend".into(),
            "local".into(),
            "--root".into(),
            root.join(client).display().to_string(),
            "--bucket".into(),
            "bench".into(),
            "--objects".into(),
            OBJECTS.to_string(),
        ],
        pinning,
        tag: "local-",
    };
    let mut ready: Vec<String> = Vec::new();
    for client in &clients {
        eprintln!("xtask: bench: local: {client} writes {OBJECTS} objects of 4 KiB and {LIST_KEYS} LIST keys");
        match base_for(client).run_json(&["--client", client, "--op", "setup", "--list-keys", &LIST_KEYS.to_string()]) {
            Ok(_) => ready.push(client.clone()),
            Err(e) => crashes.push(format!("local setup {client}: {e}")),
        }
    }
    for rep in 0..plan.repeat {
        for &(op, conc) in PHASES {
            for client in &ready {
                let n = plan.n_for(op, conc);
                eprintln!("xtask: bench: local [{}/{}] {client} {op} n={n} concurrency={conc}", rep + 1, plan.repeat);
                match base_for(client).phase(client, op, conc, n) {
                    Ok(r) => res.local_runs.push(r),
                    Err(e) => crashes.push(format!("local {client} {op} c={conc}: {e}")),
                }
            }
        }
    }
    if let Some(out_dir) = cg_dir {
        for &(op, conc) in PHASES {
            for client in &ready {
                let (small, large) = if op == "list" { plan.cg_listings } else { plan.cg_ops };
                eprintln!("xtask: bench: local callgrind {client} {op} concurrency={conc} n={small} and n={large}");
                match base_for(client).count(out_dir, client, op, conc, small, large) {
                    Ok(c) => res.local_counts.push(c),
                    Err(e) => crashes.push(format!("local callgrind {client} {op} c={conc}: {e}")),
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
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

/// How to run one of the bench binaries: the program and the arguments every call shares.
struct ClientBase<'a> {
    bin: &'a Path,
    common: Vec<String>,
    pinning: &'a Pinning,
    /// Prefix of the callgrind output names.
    tag: &'static str,
}

impl ClientBase<'_> {
    /// Runs the binary (pinned to CPU 0) with `args`, optionally under valgrind, and
    /// returns the JSON objects it printed.
    fn run_with(&self, valgrind: Option<&Path>, args: &[&str]) -> Result<Vec<Json>, String> {
        let mut cmd = match valgrind {
            Some(out) => {
                let mut c = self.pinning.command(0, Path::new("valgrind"));
                c.arg("--tool=callgrind").arg(format!("--callgrind-out-file={}", out.display())).arg(self.bin);
                c
            }
            None => self.pinning.command(0, self.bin),
        };
        cmd.args(&self.common).args(args);
        let output =
            cmd.stdin(Stdio::null()).output().map_err(|e| format!("cannot start {}: {e}", self.bin.display()))?;
        let name = self.bin.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if !output.status.success() {
            let err = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = err.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(format!("{name} {} exited with {}: {}", args.join(" "), output.status, tail.join("\n")));
        }
        let mut out = Vec::new();
        for line in BufReader::new(output.stdout.as_slice()).lines() {
            let line = line.map_err(|e| e.to_string())?;
            if line.trim_start().starts_with('{') {
                out.push(Json::parse(&line).map_err(|e| format!("{name} printed bad JSON ({e}): {line}"))?);
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
            let file = out_dir.join(format!("{}{client}-{op}-c{concurrency}-n{n}.out", self.tag));
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

/// One large transfer, as `bench-large` printed it.
#[derive(Clone)]
struct LargeRecord {
    client: String,
    op: String,
    mode: String,
    backend: String,
    bytes: f64,
    mib_per_s: f64,
    cpu_s: f64,
    peak_rss_kb: f64,
    part_size: f64,
    concurrency: f64,
    download_part_size: f64,
    read_ahead: f64,
    raw: Json,
}

impl LargeRecord {
    fn from_lines(lines: Vec<Json>) -> Result<LargeRecord, String> {
        let j = lines.into_iter().next().ok_or("bench-large printed no result")?;
        let missing = |k: &str| format!("bench-large result has no {k:?}");
        let num = |k: &str| j.num(k).ok_or_else(|| missing(k));
        let text = |k: &str| j.str(k).map(str::to_owned).ok_or_else(|| missing(k));
        Ok(LargeRecord {
            client: text("client")?,
            op: text("op")?,
            mode: text("mode")?,
            backend: text("backend")?,
            bytes: num("bytes")?,
            mib_per_s: num("mib_per_s")?,
            cpu_s: num("cpu_s")?,
            peak_rss_kb: num("peak_rss_kb")?,
            part_size: num("part_size")?,
            concurrency: num("concurrency")?,
            download_part_size: num("download_part_size")?,
            read_ahead: num("read_ahead")?,
            raw: j.clone(),
        })
    }

    /// The engine's memory bound for these settings: `part_size x (concurrency + 1)`.
    fn bound(&self) -> f64 {
        self.part_size * (self.concurrency + 1.0)
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
    /// The value must be at least the limit (else at most).
    at_least: bool,
}

impl Target {
    fn at_most(name: String, value: Option<f64>, limit: f64, unit: &'static str) -> Target {
        Target { name, value, limit, unit, at_least: false }
    }

    fn at_least(name: String, value: Option<f64>, limit: f64, unit: &'static str) -> Target {
        Target { name, value, limit, unit, at_least: true }
    }

    fn verdict(&self) -> &'static str {
        match self.value {
            Some(v) if (self.at_least && v >= self.limit) || (!self.at_least && v <= self.limit) => "PASS",
            Some(_) => "MISS",
            None => "n/a",
        }
    }

    fn markdown(&self) -> String {
        let value = fmt_opt(self.value, |v| format!("{v:.2}{}", self.unit));
        let cmp = if self.at_least { "≥" } else { "≤" };
        format!("- {}: {value} (target {cmp} {}{}) **{}**", self.name, self.limit, self.unit, self.verdict())
    }
}

struct Row {
    op: &'static str,
    concurrency: usize,
    cells: BTreeMap<String, Cell>,
    cpu_ratio: Option<f64>,
    instr_ratio: Option<f64>,
    /// Local filesystem: ours' ops/s over object_store's.
    tput_ratio: Option<f64>,
    /// Local filesystem: ours with fsync off, ops/s and CPU/op over object_store's.
    nofsync_tput_ratio: Option<f64>,
    nofsync_cpu_ratio: Option<f64>,
}

/// One large transfer in the report, with its ratios.
struct LargeRow {
    group: &'static str,
    client: String,
    mode: String,
    mib_per_s: f64,
    cpu_s: f64,
    rss_kb: f64,
    /// ours / the best peer of the group (ours' rows only).
    vs_peer: Option<f64>,
    /// this / the floor of the operation.
    vs_floor: Option<f64>,
}

struct Report {
    rows: Vec<Row>,
    local_rows: Vec<Row>,
    large: Vec<LargeRow>,
    large_mib: u64,
    large_repeat: usize,
    memory: Vec<(LargeRecord, f64)>,
    memory_mib: u64,
    clients: Vec<String>,
    local_clients: Vec<String>,
    sections: Sections,
    targets: Vec<Target>,
    notes: Vec<String>,
    meta: Vec<(&'static str, String)>,
}

fn best_peer(cells: &BTreeMap<String, Cell>, metric: fn(&Cell) -> Option<f64>) -> Option<f64> {
    PEERS.iter().filter_map(|p| cells.get(*p).and_then(metric)).min_by(f64::total_cmp)
}

/// The medians of each client in one phase.
fn cells_of(
    clients: &[String],
    runs: &[Record],
    counts: &[Count],
    op: &str,
    concurrency: usize,
) -> BTreeMap<String, Cell> {
    let mut cells = BTreeMap::new();
    for client in clients {
        let mine: Vec<&Record> =
            runs.iter().filter(|r| &r.client == client && r.op == op && r.concurrency == concurrency).collect();
        let instr =
            counts.iter().find(|c| &c.client == client && c.op == op && c.concurrency == concurrency).map(|c| c.per_op);
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
    cells
}

fn ratio(mine: Option<f64>, base: Option<f64>) -> Option<f64> {
    match (mine, base) {
        (Some(m), Some(b)) if b > 0.0 => Some(m / b),
        _ => None,
    }
}

/// The group a large transfer is compared within.
fn large_group(op: &str, mode: &str) -> &'static str {
    match (op, mode) {
        ("put", _) => "PUT",
        (_, "single") => "GET, one stream",
        _ => "GET, parallel ranges",
    }
}

/// What a large transfer calls.
fn large_api(client: &str, op: &str, mode: &str) -> &'static str {
    match (client, op, mode) {
        ("hyper", "put", _) => "one PUT, body streamed (floor)",
        ("hyper", _, _) => "one GET, body streamed (floor)",
        ("ours", "put", "tree") => "`tree::upload_dir`, 8 files 8 at a time",
        ("ours", "put", _) => "`Transfer::upload_file`",
        ("ours", _, "single") => "`Driver::get_object` body",
        ("ours", _, "parallel") => "`Transfer::download_file`",
        ("ours", _, "stream") => "`Transfer::download_stream`",
        ("object_store", "put", _) => "`put_multipart` + `WriteMultipart`",
        ("object_store", _, "single") => "`get().into_stream()`",
        ("object_store", _, _) => "`get_range` x `buffered(8)`",
        ("opendal", "put", _) => "`writer_with().concurrent(8).chunk(8 MiB)`",
        ("opendal", _, "single") => "`reader().into_bytes_stream(..)`",
        ("opendal", _, _) => "`reader_with().concurrent(8).chunk(8 MiB)`",
        _ => "?",
    }
}

impl Report {
    fn build(plan: &Plan, res: &Results, callgrind: bool, pinning: &Pinning, port: u16, elapsed: Duration) -> Report {
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        let clients = plan.s3_clients();
        let local_clients = plan.local_clients();
        if plan.sections.s3_small {
            for &(op, concurrency) in PHASES {
                let cells = cells_of(&clients, &res.runs, &res.counts, op, concurrency);
                let ours = cells.get("ours").copied().unwrap_or_default();
                let cpu_ratio = ratio(ours.cpu_us, best_peer(&cells, |c| c.cpu_us));
                let instr_ratio = ratio(ours.instr, best_peer(&cells, |c| c.instr));
                let label = format!("S3 {}", phase_label(op, concurrency));
                if op != "list" && callgrind {
                    targets.push(Target::at_most(
                        format!("{label}: instructions/op, ours / best peer"),
                        instr_ratio,
                        TARGET_INSTR_RATIO,
                        "x",
                    ));
                }
                targets.push(Target::at_most(
                    format!("{label}: client CPU/op, ours / best peer"),
                    cpu_ratio,
                    TARGET_CPU_RATIO,
                    "x",
                ));
                if op == "list" {
                    targets.push(Target::at_most(
                        format!("{label}: client CPU per key listed, ours"),
                        ours.cpu_us,
                        TARGET_LIST_US_PER_KEY,
                        " µs",
                    ));
                }
                rows.push(Row {
                    op,
                    concurrency,
                    cells,
                    cpu_ratio,
                    instr_ratio,
                    tput_ratio: None,
                    nofsync_tput_ratio: None,
                    nofsync_cpu_ratio: None,
                });
            }
        }

        let mut large = Vec::new();
        if plan.sections.s3_large {
            // Medians over the repetitions of one (client, operation, mode).
            let med = |client: &str, op: &str, mode: &str, f: fn(&LargeRecord) -> f64| {
                median(res.large.iter().filter(|r| r.client == client && r.op == op && r.mode == mode).map(f).collect())
            };
            for &(op, client, mode) in LARGE {
                let Some(mib_per_s) = med(client, op, mode, |r| r.mib_per_s) else { continue };
                let group = large_group(op, mode);
                let floor = med("hyper", op, "single", |r| r.mib_per_s);
                let best = LARGE
                    .iter()
                    .filter(|(o, c, m)| PEERS.contains(c) && large_group(o, m) == group)
                    .filter_map(|(o, c, m)| med(c, o, m, |r| r.mib_per_s))
                    .max_by(f64::total_cmp);
                let vs_peer = if client == "ours" { ratio(Some(mib_per_s), best) } else { None };
                let vs_floor = if client == "hyper" { None } else { ratio(Some(mib_per_s), floor) };
                if client == "ours" {
                    let what = format!(
                        "S3 {group} {} MiB, `{}`",
                        plan.large_bytes / MIB,
                        large_api(client, op, mode).replace('`', "")
                    );
                    targets.push(Target::at_least(
                        format!("{what}: MiB/s, ours / best peer"),
                        vs_peer,
                        TARGET_LARGE_PEER,
                        "x",
                    ));
                    targets.push(Target::at_least(
                        format!("{what}: MiB/s, ours / floor"),
                        vs_floor,
                        TARGET_LARGE_FLOOR,
                        "x",
                    ));
                }
                large.push(LargeRow {
                    group,
                    client: client.to_owned(),
                    mode: mode.to_owned(),
                    mib_per_s,
                    cpu_s: med(client, op, mode, |r| r.cpu_s).unwrap_or(f64::NAN),
                    rss_kb: med(client, op, mode, |r| r.peak_rss_kb).unwrap_or(f64::NAN),
                    vs_peer,
                    vs_floor,
                });
            }
        }

        let mut local_rows = Vec::new();
        if plan.sections.local {
            for &(op, concurrency) in PHASES {
                let cells = cells_of(&local_clients, &res.local_runs, &res.local_counts, op, concurrency);
                let ours = cells.get("ours").copied().unwrap_or_default();
                let nofsync = cells.get("ours_nofsync").copied().unwrap_or_default();
                let os = cells.get("object_store").copied().unwrap_or_default();
                let tput_ratio = ratio(ours.ops_per_sec, os.ops_per_sec);
                let cpu_ratio = ratio(ours.cpu_us, os.cpu_us);
                let nofsync_tput_ratio = ratio(nofsync.ops_per_sec, os.ops_per_sec);
                let nofsync_cpu_ratio = ratio(nofsync.cpu_us, os.cpu_us);
                let instr_ratio = ratio(ours.instr, best_peer(&cells, |c| c.instr));
                let label = format!("local {}", phase_label(op, concurrency));
                for (who, tput, mine) in [("ours", tput_ratio, ours), ("ours_nofsync", nofsync_tput_ratio, nofsync)] {
                    if !local_clients.iter().any(|c| c == who) {
                        continue;
                    }
                    if op == "list" {
                        targets.push(Target::at_least(
                            format!("{label}: keys/s, {who} / object_store"),
                            tput,
                            TARGET_LOCAL_LIST,
                            "x",
                        ));
                        targets.push(Target::at_most(
                            format!("{label}: client CPU per key listed, {who}"),
                            mine.cpu_us,
                            TARGET_LIST_US_PER_KEY,
                            " µs",
                        ));
                    } else {
                        targets.push(Target::at_least(
                            format!("{label}: ops/s, {who} / object_store"),
                            tput,
                            TARGET_LOCAL_SMALL,
                            "x",
                        ));
                    }
                }
                local_rows.push(Row {
                    op,
                    concurrency,
                    cells,
                    cpu_ratio,
                    instr_ratio,
                    tput_ratio,
                    nofsync_tput_ratio,
                    nofsync_cpu_ratio,
                });
            }
        }

        let mut memory = Vec::new();
        if plan.sections.memory {
            for &(backend, op, mode) in MEMORY {
                let Some(r) = res.memory.iter().find(|r| r.backend == backend && r.op == op && r.mode == mode) else {
                    continue;
                };
                let limit = r.bound() + MEMORY_OVERHEAD as f64;
                let rss = r.peak_rss_kb * 1024.0;
                targets.push(Target::at_most(
                    format!(
                        "memory, {backend} {}: peak RSS, MiB (bound {} MiB + {} MiB)",
                        large_api("ours", op, mode).replace('`', ""),
                        r.bound() as u64 / MIB,
                        MEMORY_OVERHEAD / MIB
                    ),
                    Some(rss / MIB as f64),
                    limit / MIB as f64,
                    "",
                ));
                memory.push((r.clone(), limit));
            }
        }

        let mut notes = vec![format!(
            "Each timed phase runs in its own client process on a current-thread tokio runtime (plus its \
             blocking pool); CPU is getrusage(RUSAGE_SELF) user+sys (all threads) around the timed part; peak \
             RSS is the process's ru_maxrss. Pinning: {}.",
            pinning.note
        )];
        if plan.sections.s3_small || plan.sections.local {
            notes.push(format!(
                "Small phases (S3 and local): medians of {} repetition(s); N per phase: {} sequential, {} with 32 \
                 in flight (after a warm-up at the same concurrency); LIST: {} listing(s) of {LIST_KEYS} keys \
                 (pages of 1,000), counted per key.",
                plan.repeat, plan.n_seq, plan.n_par, plan.listings
            ));
        }
        if plan.sections.needs_server() {
            notes.push(
                "Server: `bench-server` = s3s-fs 0.14.1 behind our own hyper http1 listener with TCP_NODELAY, \
                 SigV4 auth on, store in tmpfs, pinned to its own core; it saturates that core for all but \
                 sequential small requests, so compare CPU/op, instructions/op and RSS rather than ops/s. Large \
                 transfers are bounded by the server too (s3s-fs reads a GET's file in 4 KiB pieces, and \
                 concatenates and re-hashes the parts of a multipart upload on completion), so read their MiB/s \
                 beside the client CPU seconds."
                    .to_owned(),
            );
        }
        if plan.sections.s3_small {
            notes.push(
                "S3 clients as configured: ours = `S3Driver` defaults (over plain http: SHA-256 payload hash + \
                 x-amz-checksum-crc32c on PUT); object_store = `AmazonS3Builder` defaults (SHA-256 payload hash, \
                 no checksum; LIST sends no max-keys, the server pages by 1,000); opendal = `services::S3` \
                 defaults (UNSIGNED-PAYLOAD, no checksum); hyper = the floor: hyper-util pooled client, signed \
                 with `storage_s3::sigv4::sign_headers` and UNSIGNED-PAYLOAD, no XML parsing beyond counting \
                 `<Key>` and reading the continuation token."
                    .to_owned(),
            );
        }
        if plan.sections.s3_large {
            notes.push(format!(
                "Large transfers: one {} MiB file of noise on tmpfs, {} repetition(s) per client and API \
                 (--large-repeat; medians when more than one; single runs of the parallel GETs varied by \
                 about +-10% from run to run here), each in its own `bench-large` process; every GET is written to a tmpfs file and \
                 compared byte for byte with the source afterwards (untimed). Part / chunk / range size 8 MiB \
                 and 8 in flight for every parallel client: ours = `Transfer::with_options(S3Driver defaults, \
                 TransferOptions {{ part_size: 8 MiB, concurrency: 8, download_part_size: 8 MiB, read_ahead: 8, \
                 verify: true (default), .. }})` (PUT: one MD5 per part, sent as Content-MD5 and checked \
                 against the part ETag, then the multipart ETag checked), the GET object written by our engine as a multipart upload (its ETag is not an MD5, so \
                 downloads check the size only); object_store = `AmazonS3Builder` defaults (SHA-256 payload hash \
                 per part); opendal = `services::S3` defaults + `executors-tokio` (UNSIGNED-PAYLOAD); hyper = \
                 the floor, one request each way, UNSIGNED-PAYLOAD. The peers' file reads are 1 MiB tokio::fs \
                 reads; single-stream GETs and ordered streams are written with std `write_all` on the runtime \
                 thread. Ratios: MiB/s of ours over the best peer of the same group (PUT; GET one stream; GET \
                 parallel) and over the floor of the same operation (the parallel GETs against the one-stream \
                 floor).",
                plan.large_bytes / MIB,
                plan.large_repeat
            ));
        }
        if plan.sections.local {
            notes.push(
                "Local filesystem (tmpfs): each client on its own directory, which it wrote itself: ours = \
                 `LocalDriver::new(root)` defaults, container `bench` (one blocking task per PUT: temporary \
                 file + MD5 + metadata in a user xattr + fsync + rename + directory fsync; GET and LIST read the \
                 xattr back); ours_nofsync = the same with `LocalOptions::default().fsync(false)` (still \
                 temporary file + rename, so atomic, but not durable): object_store does not fsync either, so \
                 ours_nofsync is the like-for-like comparison and both rows get ratios; \
                 object_store = `LocalFileSystem::new_with_prefix(root/bench)` (temporary file + rename, no \
                 fsync); opendal = `services::Fs` rooted at root/bench (no atomic_write_dir: writes in place); \
                 tokio = the floor, `tokio::fs::write` / `read`, LIST = `read_dir` counting file entries (no \
                 stat). ours lists with the driver's default page (1,000 keys); object_store and opendal list \
                 recursively in one stream. Throughput targets compare ops/s (keys/s for LIST) of ours and \
                 object_store; the client is the whole system here, so ops/s and CPU/op say nearly the same \
                 thing (CPU ratio shown beside)."
                    .to_owned(),
            );
        }
        if plan.sections.memory {
            notes.push(format!(
                "Memory bound: one {} MiB file through our engine with `TransferOptions::default()` (part_size \
                 8 MiB, concurrency 8, download_part_size 8 MiB, read_ahead 4, verify on), one process per \
                 transfer, to `LocalDriver` (tmpfs) and to the S3 server. Bound = part_size x (concurrency + 1) \
                 = 72 MiB, plus an assumed fixed overhead of {} MiB for the runtime, allocator, binary and HTTP / \
                 file buffers (an idle client process peaks near 10 MiB). The ordered stream's own documented \
                 bound, download_part_size x (read_ahead + 1) = 40 MiB, is below it. Files are deleted as soon as \
                 each transfer ends.",
                plan.memory_bytes / MIB,
                MEMORY_OVERHEAD / MIB
            ));
        }
        if callgrind {
            let (s, l) = plan.cg_ops;
            let (ls, ll) = plan.cg_listings;
            notes.push(format!(
                "Instructions/op: valgrind --tool=callgrind on the client process (all threads), (I(N={l}) - \
                 I(N={s})) / {}; LIST: ({ll} - {ls} listings) x {LIST_KEYS} keys. Valgrind hides SHA-NI, so \
                 SHA-256 runs its software path there (native runs use SHA-NI where the CPU has it). Outputs: \
                 bench/target/callgrind/*.out, local-*.out for the local filesystem (`callgrind_annotate \
                 --inclusive=yes FILE`).",
                l - s
            ));
        } else {
            notes.push("Instruction counts skipped (--no-callgrind or no valgrind).".to_owned());
        }
        let command = if plan.args.is_empty() {
            "cargo xtask bench".to_owned()
        } else {
            format!("cargo xtask bench {}", plan.args.join(" "))
        };
        let meta = vec![
            ("command", command),
            ("sections", plan.sections.names().join(", ")),
            ("date", utc_now()),
            ("git", git_describe()),
            ("cpu", cpu_model()),
            ("cpus", std::thread::available_parallelism().map(|n| n.get().to_string()).unwrap_or_default()),
            ("port", port.to_string()),
            ("elapsed_s", format!("{:.0}", elapsed.as_secs_f64())),
            ("versions", pinned_versions()),
        ];
        Report {
            rows,
            local_rows,
            large,
            large_mib: plan.large_bytes / MIB,
            large_repeat: plan.large_repeat,
            memory,
            memory_mib: plan.memory_bytes / MIB,
            clients,
            local_clients,
            sections: plan.sections,
            targets,
            notes,
            meta,
        }
    }

    /// A table of small phases: per client ops/s, CPU/op, instructions/op, peak RSS.
    fn small_table(s: &mut String, rows: &[Row], clients: &[String], local: bool) {
        let mut header = String::from("| op | in flight |");
        let mut rule = String::from("|---|---:|");
        for c in clients {
            let _ = write!(header, " {c} ops/s | {c} CPU µs/op | {c} instr/op | {c} peak RSS |");
            rule.push_str("---:|---:|---:|---:|");
        }
        if local {
            header.push_str(
                " ops/s ours/object_store | CPU ours/object_store | ops/s ours_nofsync/object_store | CPU \
                 ours_nofsync/object_store | instr ours/best peer |",
            );
            rule.push_str("---|---|---|---|---|");
        } else {
            header.push_str(" CPU ours/best peer | instr ours/best peer |");
            rule.push_str("---|---|");
        }
        let _ = writeln!(s, "{header}\n{rule}");
        for row in rows {
            let op = match row.op {
                "list" => "LIST 10k keys (per key)",
                "put" => "PUT 4 KiB",
                _ => "GET 4 KiB",
            };
            let _ = write!(s, "| {op} | {} |", row.concurrency);
            for c in clients {
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
            if local {
                let limit = if row.op == "list" { TARGET_LOCAL_LIST } else { TARGET_LOCAL_SMALL };
                let tput = fmt_opt(row.tput_ratio, |v| format!("{v:.2} {}", if v >= limit { "PASS" } else { "MISS" }));
                let cpu = fmt_opt(row.cpu_ratio, |v| format!("{v:.2}"));
                let nf_tput =
                    fmt_opt(row.nofsync_tput_ratio, |v| format!("{v:.2} {}", if v >= limit { "PASS" } else { "MISS" }));
                let nf_cpu = fmt_opt(row.nofsync_cpu_ratio, |v| format!("{v:.2}"));
                let instr = fmt_opt(row.instr_ratio, |v| format!("{v:.2}"));
                let _ = writeln!(s, " {tput} | {cpu} | {nf_tput} | {nf_cpu} | {instr} |");
            } else {
                let cpu = fmt_opt(row.cpu_ratio, |v| format!("{v:.2} {}", verdict(v, TARGET_CPU_RATIO)));
                let instr = fmt_opt(row.instr_ratio, |v| {
                    if row.op == "list" {
                        format!("{v:.2}")
                    } else {
                        format!("{v:.2} {}", verdict(v, TARGET_INSTR_RATIO))
                    }
                });
                let _ = writeln!(s, " {cpu} | {instr} |");
            }
        }
    }

    fn markdown(&self, crashes: &[String]) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "## cargo xtask bench\n");
        for (k, v) in &self.meta {
            let _ = writeln!(s, "- {k}: {v}");
        }
        if self.sections.s3_small {
            let _ = writeln!(s, "\n### S3, small operations (bench-server)\n");
            Report::small_table(&mut s, &self.rows, &self.clients, false);
        }
        if self.sections.s3_large {
            let reps = match self.large_repeat {
                1 => "one repetition".to_owned(),
                n => format!("medians of {n} repetitions"),
            };
            let _ = writeln!(s, "\n### S3, large transfers ({} MiB, bench-server, {reps})\n", self.large_mib);
            let _ = writeln!(
                s,
                "| transfer | client | API | MiB/s | client CPU s | CPU s per GiB | peak RSS | MiB/s ours/best peer | MiB/s / floor |"
            );
            let _ = writeln!(s, "|---|---|---|---:|---:|---:|---:|---|---|");
            for r in &self.large {
                let per_gib = r.cpu_s / (self.large_mib as f64 / 1024.0);
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.1} MiB | {} | {} |",
                    r.group,
                    r.client,
                    large_api(&r.client, if r.group == "PUT" { "put" } else { "get" }, &r.mode),
                    r.mib_per_s,
                    r.cpu_s,
                    per_gib,
                    r.rss_kb / 1024.0,
                    fmt_opt(r.vs_peer, |v| format!("{v:.2} {}", if v >= TARGET_LARGE_PEER { "PASS" } else { "MISS" })),
                    fmt_opt(r.vs_floor, |v| if r.client == "ours" {
                        format!("{v:.2} {}", if v >= TARGET_LARGE_FLOOR { "PASS" } else { "MISS" })
                    } else {
                        format!("{v:.2}")
                    }),
                );
            }
        }
        if self.sections.local {
            let _ = writeln!(s, "\n### Local filesystem, small operations (tmpfs)\n");
            Report::small_table(&mut s, &self.local_rows, &self.local_clients, true);
        }
        if self.sections.memory {
            let _ = writeln!(s, "\n### Memory bound ({} MiB through our engine, defaults)\n", self.memory_mib);
            let _ = writeln!(
                s,
                "| backend | transfer | part size | in flight | bound part x (in flight + 1) | bound + {} MiB | peak RSS | MiB/s | client CPU s | within |",
                MEMORY_OVERHEAD / MIB
            );
            let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
            for (r, limit) in &self.memory {
                let rss = r.peak_rss_kb * 1024.0;
                let in_flight = if r.mode == "stream" {
                    format!("{} (read_ahead {})", r.concurrency, r.read_ahead)
                } else {
                    format!("{}", r.concurrency)
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} MiB | {in_flight} | {} MiB | {} MiB | {:.1} MiB | {:.0} | {:.2} | {} |",
                    r.backend,
                    large_api("ours", &r.op, &r.mode),
                    r.part_size as u64 / MIB,
                    r.bound() as u64 / MIB,
                    *limit as u64 / MIB,
                    rss / MIB as f64,
                    r.mib_per_s,
                    r.cpu_s,
                    if rss <= *limit { "PASS" } else { "MISS" },
                );
            }
        }
        let _ = writeln!(s, "\n### Targets (reported, not enforced)\n");
        for t in &self.targets {
            let _ = writeln!(s, "{}", t.markdown());
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

    fn small_summary(rows: &[Row]) -> Json {
        let num = |v: Option<f64>| v.map_or(Json::Null, Json::Num);
        Json::Arr(
            rows.iter()
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
                    let mut fields = vec![
                        ("op".into(), Json::Str(row.op.to_owned())),
                        ("concurrency".into(), Json::Num(row.concurrency as f64)),
                        ("per".into(), Json::Str(if row.op == "list" { "key" } else { "request" }.into())),
                        ("clients".into(), clients),
                    ];
                    if row.tput_ratio.is_some() {
                        fields.push(("ops_ratio_ours_to_object_store".into(), num(row.tput_ratio)));
                        fields.push(("cpu_ratio_ours_to_object_store".into(), num(row.cpu_ratio)));
                    } else {
                        fields.push(("cpu_ratio_ours_to_best_peer".into(), num(row.cpu_ratio)));
                    }
                    fields.push(("instructions_ratio_ours_to_best_peer".into(), num(row.instr_ratio)));
                    Json::Obj(fields)
                })
                .collect(),
        )
    }

    fn counts_json(counts: &[Count]) -> Json {
        Json::Arr(
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
        )
    }

    fn json(&self, res: &Results, crashes: &[String]) -> String {
        let num = |v: Option<f64>| v.map_or(Json::Null, Json::Num);
        let meta = Json::Obj(self.meta.iter().map(|(k, v)| ((*k).to_owned(), Json::Str(v.clone()))).collect());
        let targets = Json::Arr(
            self.targets
                .iter()
                .map(|t| {
                    Json::Obj(vec![
                        ("name".into(), Json::Str(t.name.clone())),
                        ("value".into(), num(t.value)),
                        ("limit".into(), Json::Num(t.limit)),
                        ("at_least".into(), Json::Bool(t.at_least)),
                        ("verdict".into(), Json::Str(t.verdict().into())),
                    ])
                })
                .collect(),
        );
        let large = Json::Arr(
            self.large
                .iter()
                .map(|r| {
                    Json::Obj(vec![
                        ("group".into(), Json::Str(r.group.into())),
                        ("client".into(), Json::Str(r.client.clone())),
                        ("mode".into(), Json::Str(r.mode.clone())),
                        ("mib_per_s".into(), Json::Num(r.mib_per_s)),
                        ("cpu_s".into(), Json::Num(r.cpu_s)),
                        ("peak_rss_kb".into(), Json::Num(r.rss_kb)),
                        ("mib_per_s_ratio_ours_to_best_peer".into(), num(r.vs_peer)),
                        ("mib_per_s_ratio_to_floor".into(), num(r.vs_floor)),
                    ])
                })
                .collect(),
        );
        let memory = Json::Arr(
            self.memory
                .iter()
                .map(|(r, limit)| {
                    let rss = r.peak_rss_kb * 1024.0;
                    Json::Obj(vec![
                        ("backend".into(), Json::Str(r.backend.clone())),
                        ("op".into(), Json::Str(r.op.clone())),
                        ("mode".into(), Json::Str(r.mode.clone())),
                        ("bytes".into(), Json::Num(r.bytes)),
                        ("part_size".into(), Json::Num(r.part_size)),
                        ("concurrency".into(), Json::Num(r.concurrency)),
                        ("download_part_size".into(), Json::Num(r.download_part_size)),
                        ("read_ahead".into(), Json::Num(r.read_ahead)),
                        ("bound_bytes".into(), Json::Num(r.bound())),
                        ("overhead_bytes".into(), Json::Num(MEMORY_OVERHEAD as f64)),
                        ("limit_bytes".into(), Json::Num(*limit)),
                        ("peak_rss_bytes".into(), Json::Num(rss)),
                        ("within".into(), Json::Bool(rss <= *limit)),
                        ("mib_per_s".into(), Json::Num(r.mib_per_s)),
                        ("cpu_s".into(), Json::Num(r.cpu_s)),
                    ])
                })
                .collect(),
        );
        let doc = Json::Obj(vec![
            ("meta".into(), meta),
            ("summary".into(), Report::small_summary(&self.rows)),
            ("large".into(), large),
            ("local".into(), Report::small_summary(&self.local_rows)),
            ("memory".into(), memory),
            ("targets".into(), targets),
            ("callgrind".into(), Report::counts_json(&res.counts)),
            ("local_callgrind".into(), Report::counts_json(&res.local_counts)),
            ("runs".into(), Json::Arr(res.runs.iter().map(|r| r.raw.clone()).collect())),
            ("local_runs".into(), Json::Arr(res.local_runs.iter().map(|r| r.raw.clone()).collect())),
            ("large_runs".into(), Json::Arr(res.large.iter().map(|r| r.raw.clone()).collect())),
            ("memory_runs".into(), Json::Arr(res.memory.iter().map(|r| r.raw.clone()).collect())),
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
    fn sections_and_targets() {
        let s = Sections::parse("local, memory").unwrap();
        assert!(!s.s3_small && !s.s3_large && s.local && s.memory && s.needs_server());
        assert_eq!(s.names(), vec!["local", "memory"]);
        assert!(!Sections::parse("local").unwrap().needs_server());
        assert!(Sections::parse("s3-huge").is_err());
        assert!(Sections::parse("").is_err());
        assert_eq!(Target::at_least("a".into(), Some(1.2), 1.15, "x").verdict(), "PASS");
        assert_eq!(Target::at_least("a".into(), Some(1.1), 1.15, "x").verdict(), "MISS");
        assert_eq!(Target::at_most("a".into(), Some(0.9), 0.8, " µs").verdict(), "MISS");
        assert_eq!(Target::at_most("a".into(), None, 0.8, " µs").verdict(), "n/a");
        assert!(Target::at_least("a".into(), Some(2.0), 3.0, "x").markdown().contains("target ≥ 3x"));
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
