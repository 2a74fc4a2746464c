//! Sections `s3-small`, `azure-small` and `gcs-small`: 4 KiB PUT and GET (sequential and
//! 32 in flight) and LIST of 10,000 keys against the S3 server, Azurite or fake-gcs-server,
//! timed per client process, then counted under callgrind.

use std::path::Path;

use super::Remote;
use crate::bench::client::ClientBase;
use crate::bench::plan::Plan;
use crate::bench::records::{Count, Gap, Record};
use crate::bench::server::Server;
use crate::bench::{LIST_KEYS, OBJECTS, PHASES};

/// One small section: setup (our driver), timed phases, then callgrind (when `cg_dir` is
/// given); the records go to `runs` and `counts`. A phase that a peer is known not to be
/// able to do against this remote and that fails goes to `gaps` (once per client and
/// operation), and that client's other runs of the operation are skipped.
#[allow(clippy::too_many_arguments)]
pub(crate) fn small(
    plan: &Plan,
    remote: Remote,
    base: &ClientBase<'_>,
    server: &mut Server,
    cg_dir: Option<&Path>,
    runs: &mut Vec<Record>,
    counts: &mut Vec<Count>,
    gaps: &mut Vec<Gap>,
    crashes: &mut Vec<String>,
) -> Result<(), String> {
    let clients = plan.s3_clients();
    let log = remote.log();
    let is_gap = |gaps: &[Gap], client: &str, op: &str| gaps.iter().any(|g| g.client == client && g.op == op);
    eprintln!("xtask: bench: {log}writing {OBJECTS} objects of 4 KiB and {LIST_KEYS} LIST keys with our driver");
    let (objects, keys) = (OBJECTS.to_string(), LIST_KEYS.to_string());
    base.run_json(&["--client", "ours", "--op", "setup", "--objects", &objects, "--list-keys", &keys])?;
    for rep in 0..plan.repeat {
        for &(op, conc) in PHASES {
            for client in &clients {
                if is_gap(gaps, client, op) {
                    continue;
                }
                let n = remote.n_for(plan, op, conc);
                eprintln!("xtask: bench: {log}[{}/{}] {client} {op} n={n} concurrency={conc}", rep + 1, plan.repeat);
                match (base.phase(client, op, conc, n), remote.gap(client, op, None)) {
                    (Ok(r), known) => {
                        if let Some(k) = known {
                            eprintln!("xtask: bench: {log}{client} {op} worked although {}; measured", k.short);
                        }
                        runs.push(r);
                    }
                    (Err(e), Some(known)) => {
                        eprintln!("xtask: bench: {log}{client} {op}: not answered ({}): {e}", known.short);
                        gaps.push(known.observed(&e));
                    }
                    (Err(e), None) => crashes.push(format!("{log}{client} {op} c={conc}: {e}")),
                }
                server.check()?;
            }
        }
    }
    if let Some(out_dir) = cg_dir {
        for &(op, conc) in PHASES {
            for client in &clients {
                if is_gap(gaps, client, op) {
                    continue;
                }
                let (small, large) = if op == "list" { plan.cg_listings } else { plan.cg_ops };
                eprintln!("xtask: bench: {log}callgrind {client} {op} concurrency={conc} n={small} and n={large}");
                match base.count(out_dir, client, op, conc, small, large) {
                    Ok(c) => counts.push(c),
                    Err(e) => crashes.push(format!("{log}callgrind {client} {op} c={conc}: {e}")),
                }
                server.check()?;
            }
        }
    }
    Ok(())
}
