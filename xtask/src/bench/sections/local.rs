//! Section `local`: the small phases of `s3-small` (and GETs as a stream and of a range) on
//! a tmpfs directory, one directory per
//! client (`LocalDriver`, object_store's `LocalFileSystem`, OpenDAL's `services-fs`, bare
//! `tokio::fs`), timed, then under callgrind.

use std::path::Path;

use crate::bench::client::ClientBase;
use crate::bench::plan::Plan;
use crate::bench::records::Results;
use crate::bench::server::Pinning;
use crate::bench::{LIST_KEYS, LOCAL_PHASES, OBJECTS, PHASES};

/// Section `local`: each client sets up its own directory, then the timed phases, then
/// callgrind (when `cg_dir` is given).
pub(crate) fn local(
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
        for &(op, conc) in LOCAL_PHASES {
            for client in &ready {
                if op.starts_with("get-") && client == "tokio" {
                    continue;
                }
                let n = plan.n_for(op, conc);
                eprintln!("xtask: bench: local [{}/{}] {client} {op} n={n} concurrency={conc}", rep + 1, plan.repeat);
                match base_for(client).phase(client, op, conc, n) {
                    Ok(r) => res.local_runs.push(r),
                    Err(e) => crashes.push(format!("local {client} {op} c={conc}: {e}")),
                }
            }
        }
    }
    let floor_bin = bin.with_file_name("bench-floor");
    let list_dir = root.join("ours").join("bench").join("list");
    let counts = (plan.n_for("put", 1), plan.n_for("list", 1));
    let dirs = (root.as_path(), list_dir.as_path());
    let repeat = plan.repeat;
    res.local_floor = crate::bench::floor::run(&floor_bin, pinning, dirs, repeat, counts, crashes);
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
