//! `cargo xtask fuzz [TARGET|all] [--seconds N]`: the coverage-guided fuzz targets of
//! `fuzz/` (libFuzzer through libfuzzer-sys), built and run on the pinned stable
//! toolchain.
//!
//! No nightly and no `-Z` flag: the instrumentation is LLVM's SanitizerCoverage pass,
//! asked for with stable codegen options (`-Cpasses=sancov-module` and its
//! `-Cllvm-args`), plus `--cfg fuzzing`, debug assertions and overflow checks. The crate is
//! its own workspace (so normal builds never compile libFuzzer) built into `target/fuzz`
//! (so instrumented builds never invalidate normal ones), for the host triple given
//! explicitly (so build scripts and proc macros are built without instrumentation).
//!
//! Each target starts from its committed seeds (`fuzz/corpus/TARGET/`, read only; crash
//! inputs found earlier are kept there as regressions) plus what earlier local runs found
//! (`target/fuzz/corpus/TARGET/`, where new inputs go), runs for the given time, and
//! reports executions, coverage (`cov`: edges, `ft`: features) and corpus size. A crash,
//! a timeout or an out-of-memory stops the target; its input is saved under
//! `target/fuzz/artifacts/TARGET/` and the command fails after the other targets ran.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::paths;

/// The sanitizer-coverage instrumentation libFuzzer needs, with stable options only.
const RUSTFLAGS: &[&str] = &[
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "--cfg",
    "fuzzing",
    "-Cdebug-assertions",
    "-Coverflow-checks",
];

/// Seconds per target when `--seconds` is not given.
const DEFAULT_SECONDS: u64 = 60;

/// Seconds per target in `cargo xtask ci`.
pub const CI_SECONDS: u64 = 10;

const USAGE: &str = "usage: cargo xtask fuzz [TARGET|all] [--seconds N]";

/// `cargo xtask fuzz [TARGET|all] [--seconds N]`.
pub fn command(args: &[String]) -> Result<(), String> {
    let mut which: Option<String> = None;
    let mut seconds = DEFAULT_SECONDS;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                let v = it.next().ok_or(format!("--seconds needs a number\n{USAGE}"))?;
                seconds = v.parse().map_err(|_| format!("--seconds {v:?} is not a number of seconds\n{USAGE}"))?;
            }
            "-h" | "--help" => {
                println!("{USAGE}\ntargets: {}", targets()?.join(", "));
                return Ok(());
            }
            t if !t.starts_with('-') && which.is_none() => which = Some(t.to_owned()),
            other => return Err(format!("unexpected argument {other:?}\n{USAGE}")),
        }
    }
    let all = targets()?;
    let chosen = match which.as_deref() {
        None | Some("all") => all,
        Some(t) if all.iter().any(|a| a == t) => vec![t.to_owned()],
        Some(t) => return Err(format!("no fuzz target {t:?}; targets: {}", all.join(", "))),
    };
    run(&chosen, seconds)
}

/// The fuzz crate's formatting and clippy, then every target briefly: the step
/// `cargo xtask ci` runs.
pub fn ci() -> Result<(), String> {
    let manifest = fuzz_dir().join("Cargo.toml");
    let cargo = || Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    crate::process::run(cargo().arg("fmt").arg("--manifest-path").arg(&manifest).args(["--", "--check"]))?;
    // Checked into the workspace's own target directory: the targets' dependencies are the
    // workspace's crates, whose check results clippy of the workspace already left there.
    crate::process::run(
        cargo()
            .arg("clippy")
            .arg("--manifest-path")
            .arg(&manifest)
            .arg("--target-dir")
            .arg(paths::workspace_root().join("target"))
            .args(["--all-targets", "--", "-D", "warnings"]),
    )?;
    run(&targets()?, CI_SECONDS)
}

fn fuzz_dir() -> PathBuf {
    paths::workspace_root().join("fuzz")
}

fn target_dir() -> PathBuf {
    paths::workspace_root().join("target").join("fuzz")
}

/// The targets: the files of `fuzz/fuzz_targets/`, sorted.
fn targets() -> Result<Vec<String>, String> {
    let dir = fuzz_dir().join("fuzz_targets");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".rs")).map(str::to_owned))
        .collect();
    names.sort();
    Ok(names)
}

/// The host triple (`rustc -vV`), given to cargo explicitly so that RUSTFLAGS reach only
/// the target's crates, not build scripts and proc macros.
fn host_triple() -> Result<String, String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc).arg("-vV").output().map_err(|e| format!("cannot run rustc -vV: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| "rustc -vV names no host triple".to_owned())
}

/// Builds the chosen targets with instrumentation.
fn build(targets: &[String], triple: &str) -> Result<PathBuf, String> {
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .current_dir(fuzz_dir())
        // Not `--locked`: fuzz/Cargo.lock pins what it lists, and a dependency a workspace
        // crate gained since is added to it rather than failing the run.
        .args(["build", "--release", "--target", triple])
        .args(targets.iter().flat_map(|t| ["--bin", t.as_str()]))
        .env("CARGO_TARGET_DIR", target_dir())
        .env("RUSTFLAGS", RUSTFLAGS.join(" "))
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS");
    crate::process::run(&mut cargo)?;
    Ok(target_dir().join(triple).join("release"))
}

/// What one run of a target showed.
struct Outcome {
    target: String,
    executions: Option<u64>,
    /// The last `cov: ... ft: ... corp: ...` figures.
    coverage: Option<String>,
    seeds: usize,
    seconds: f64,
    failure: Option<String>,
}

fn run(targets: &[String], seconds: u64) -> Result<(), String> {
    let started = Instant::now();
    let triple = host_triple()?;
    let bin_dir = build(targets, &triple)?;
    eprintln!("xtask: fuzz build took {:.0} s", started.elapsed().as_secs_f64());
    let mut outcomes = Vec::new();
    for t in targets {
        outcomes.push(run_target(&bin_dir.join(t), t, seconds)?);
    }
    println!("\nfuzz results ({seconds} s per target; cov = edges covered, ft = features, corp = corpus):");
    println!("{:<18} {:>12} {:>7} {:>6}  coverage", "target", "executions", "exec/s", "seeds");
    for o in &outcomes {
        let execs = o.executions.map_or("?".to_owned(), |n| n.to_string());
        let rate = o.executions.map_or("?".to_owned(), |n| format!("{:.0}", n as f64 / o.seconds.max(0.001)));
        let status = match &o.failure {
            Some(f) => format!("  FAILED: {f}"),
            None => String::new(),
        };
        println!(
            "{:<18} {:>12} {:>7} {:>6}  {}{status}",
            o.target,
            execs,
            rate,
            o.seeds,
            o.coverage.as_deref().unwrap_or("?")
        );
    }
    println!("fuzzing took {:.0} s in all, build included", started.elapsed().as_secs_f64());
    let failed: Vec<&str> = outcomes.iter().filter(|o| o.failure.is_some()).map(|o| o.target.as_str()).collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "fuzz targets failed: {}. Each crash input is under {} and reproduces with \
             {}/TARGET FILE; fix the bug, add the input as a regression test in the owning crate and copy \
             it to fuzz/corpus/TARGET/",
            failed.join(", "),
            target_dir().join("artifacts").display(),
            bin_dir.display()
        ))
    }
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.flatten().count()).unwrap_or(0)
}

fn run_target(binary: &Path, target: &str, seconds: u64) -> Result<Outcome, String> {
    let seeds = fuzz_dir().join("corpus").join(target);
    let work = target_dir().join("corpus").join(target);
    let artifacts = target_dir().join("artifacts").join(target);
    // The targets' scratch files, and the HOME and TMPDIR they see: nothing outside.
    let scratch = target_dir().join("scratch").join(target);
    let _ = std::fs::remove_dir_all(&scratch);
    for d in [&work, &artifacts, &scratch] {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    let crashes_before = count_files(&artifacts);
    let log = target_dir().join("logs").join(format!("{target}.log"));
    if let Some(parent) = log.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let log_file = std::fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let mut cmd = Command::new(binary);
    cmd.current_dir(&scratch)
        .arg(format!("-max_total_time={seconds}"))
        .arg("-print_final_stats=1")
        .arg("-timeout=20")
        .arg("-rss_limit_mb=2048")
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg(&work)
        .arg(&seeds)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &scratch)
        .env("TMPDIR", &scratch)
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::null())
        .stderr(log_file);
    eprintln!("xtask: fuzzing {target} for {seconds} s (log: {})", log.display());
    let started = Instant::now();
    let status = cmd.status().map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let elapsed = started.elapsed().as_secs_f64();
    let text = std::fs::read(&log).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    let executions = text
        .lines()
        .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
        .and_then(|n| n.trim().parse().ok());
    let coverage = text.lines().rev().find_map(|l| {
        let at = l.find("cov: ")?;
        let figures: Vec<&str> = l[at..].split_whitespace().take(6).collect();
        Some(figures.join(" "))
    });
    let crashes = count_files(&artifacts).saturating_sub(crashes_before);
    let failure = if !status.success() || crashes > 0 {
        // The panic message or libFuzzer's verdict, for the summary.
        let lines: Vec<&str> = text.lines().collect();
        let why = match lines.iter().position(|l| l.contains("panicked at")) {
            Some(i) => lines[i..lines.len().min(i + 2)].join(" "),
            None => lines
                .iter()
                .find(|l| l.starts_with("==") && l.contains("ERROR"))
                .map_or_else(|| "see the log".to_owned(), |l| l.trim().to_owned()),
        };
        let tail: Vec<&str> = text.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
        eprintln!("xtask: {target} failed ({status}); the end of {}:\n{}", log.display(), tail.join("\n"));
        Some(format!("{why} ({crashes} new input(s) in {})", artifacts.display()))
    } else {
        None
    };
    Ok(Outcome {
        target: target.to_owned(),
        executions,
        coverage,
        seeds: count_files(&seeds),
        seconds: elapsed,
        failure,
    })
}
