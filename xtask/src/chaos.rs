//! `cargo xtask chaos`: the conformance suite's data-moving groups and a soak, through the
//! chaos and retry layers, on every built-in driver against the real servers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use storage_conformance::soak::{self, SoakConfig};
use storage_core::layers::ChaosConfig;

const USAGE: &str = "usage: chaos [--driver NAME[,NAME]] [--seed N] [--rate P] [--ops N] [--long]";

/// What one run does.
struct Plan {
    drivers: Vec<String>,
    seed: u64,
    rate: f64,
    ops: usize,
    long: bool,
}

fn parse(args: &[String]) -> Result<Plan, String> {
    let mut plan = Plan {
        drivers: crate::conformance::DRIVERS.iter().map(|s| (*s).to_owned()).collect(),
        seed: std::env::var("STORAGE_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(clock_seed),
        rate: 0.05,
        ops: 0,
        long: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| format!("{a} needs a value; {USAGE}"));
        match a.as_str() {
            "--driver" | "--drivers" => plan.drivers = value()?.split(',').map(|s| s.trim().to_owned()).collect(),
            "--seed" => plan.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--rate" => plan.rate = value()?.parse().map_err(|e| format!("--rate: {e}"))?,
            "--ops" => plan.ops = value()?.parse().map_err(|e| format!("--ops: {e}"))?,
            "--long" => plan.long = true,
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    if !(0.0..=0.5).contains(&plan.rate) {
        return Err(format!("--rate {} is out of range: use a probability from 0 to 0.5", plan.rate));
    }
    if let Some(bad) = plan.drivers.iter().find(|d| !crate::conformance::DRIVERS.contains(&d.as_str())) {
        return Err(format!("unknown driver {bad:?}; known: {}", crate::conformance::DRIVERS.join(", ")));
    }
    if plan.ops == 0 {
        plan.ops = if plan.long { 2000 } else { 300 };
    }
    Ok(plan)
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
}

/// Runs the chaos checks; fails on any defect, corruption, loss or orphaned upload.
pub fn command(args: &[String]) -> Result<(), String> {
    let plan = parse(args)?;
    println!(
        "chaos: seed {} (replay with --seed {} or STORAGE_CHAOS_SEED), fault rate {}, {} soak operations per driver{}",
        plan.seed,
        plan.seed,
        plan.rate,
        plan.ops,
        if plan.long { ", long form" } else { "" }
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let needed: Vec<&str> = plan.drivers.iter().flat_map(|d| crate::emulators::for_driver(d).iter().copied()).collect();
    let started = crate::emulators::start_all(&needed)?;
    let env: HashMap<String, String> = crate::emulators::env_for(&needed).into_iter().collect();
    let result = rt.block_on(run(&plan, &env));
    for e in started {
        crate::emulators::stop(e);
    }
    let problems = result?;
    match problems {
        0 => Ok(()),
        n => Err(format!("{n} chaos problem(s); replay with --seed {}", plan.seed)),
    }
}

async fn run(plan: &Plan, env: &HashMap<String, String>) -> Result<usize, String> {
    let mut problems = 0;
    let mut n = 0u64;
    for name in &plan.drivers {
        for target in crate::conformance::targets(name, env)? {
            n += 1;
            let seed = plan.seed.wrapping_add(n);
            let label = target.config.label.clone().unwrap_or_else(|| target.driver.info().name.clone());
            let chaos = ChaosConfig::recoverable(seed, plan.rate)
                .body_truncate(plan.rate)
                .stall(plan.rate / 2.0, Duration::from_millis(if plan.long { 2000 } else { 200 }));

            let started = Instant::now();
            let suite = soak::run_under_chaos(target.driver.clone(), &target.config, chaos.clone(), 8).await;
            println!(
                "{label}: data groups under chaos: {} passed, {} failed ({} by an injected fault reaching the caller \
                 as a typed error), {} skipped in {:.0?}; {}; {} retries",
                suite.report.passed,
                suite.report.failed,
                suite.surfaced.len(),
                suite.report.skipped,
                started.elapsed(),
                suite.chaos,
                suite.retries
            );
            for line in &suite.surfaced {
                println!("  surfaced: {}", first_line(line));
            }
            for line in &suite.defects {
                println!("  DEFECT: {line}");
            }
            problems += suite.defects.len();

            let started = Instant::now();
            let container = format!("chaos-soak-{}-{n}", std::process::id());
            let container = match target.driver.info().capabilities.manage_containers {
                true => {
                    target.driver.create_container(&container).await.map_err(|e| format!("{label}: {e}"))?;
                    container
                }
                false => return Err(format!("{label}: the soak needs a driver that creates containers")),
            };
            let mut config = if plan.long {
                SoakConfig { large: 12 << 20, part_size: 5 << 20, ..SoakConfig::short(seed, plan.rate) }
            } else {
                SoakConfig::short(seed, plan.rate)
            };
            config.operations = plan.ops;
            config.chaos = chaos;
            let report = soak::soak(target.driver.clone(), &label, &container, "soak/", &config).await;
            println!("{report}\n  soak time {:.0?}", started.elapsed());
            if !report.ok() || report.orphans > 0 {
                problems += report.corrupt.len() + report.lost.len() + report.real_errors.len() + report.orphans;
            }
            let _ = target.driver.delete_container(&container).await;
        }
    }
    Ok(problems)
}

fn first_line(s: &str) -> &str {
    let line = s.lines().next().unwrap_or(s);
    match line.char_indices().nth(200) {
        Some((i, _)) => &line[..i],
        None => line,
    }
}
