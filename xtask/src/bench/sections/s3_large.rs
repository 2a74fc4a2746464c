//! Section `s3-large`: one large file of noise PUT and GET once per client and API (or
//! `--large-repeat` times), each GET checked byte for byte against the source.

use std::path::Path;

use super::remove_quietly;
use crate::bench::client::ClientBase;
use crate::bench::plan::Plan;
use crate::bench::records::{LargeRecord, Results};
use crate::bench::server::Server;
use crate::bench::{LARGE, LARGE_CONCURRENCY, LARGE_PART, MIB};

/// Section `s3-large`: one 512 MiB file, PUT and GET once per client and API.
pub(crate) fn s3_large(
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
