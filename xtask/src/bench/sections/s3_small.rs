//! Section `s3-small`: 4 KiB PUT and GET (sequential and 32 in flight) and LIST of 10,000
//! keys against the S3 server, timed per client process, then counted under callgrind.

use std::path::Path;

use crate::bench::client::ClientBase;
use crate::bench::plan::Plan;
use crate::bench::records::Results;
use crate::bench::server::Server;
use crate::bench::{LIST_KEYS, OBJECTS, PHASES};

/// Section `s3-small`: setup, timed phases, then callgrind (when `cg_dir` is given).
pub(crate) fn s3_small(
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
