//! Sections `s3-large`, `azure-large` and `gcs-large`: one large file of noise PUT and GET
//! once per client and API (or `--large-repeat` times) against the S3 server, Azurite or
//! fake-gcs-server, each GET checked byte for byte against the source.
//!
//! Each repetition starts every group of the table (PUT; GET one stream; GET parallel)
//! one client later than the one before: the first transfer after the PUTs ran slower
//! than the same one later (Azurite's Node.js process collecting the PUTs' buffers, the
//! kernel finding pages for the tmpfs copy), so with three repetitions no client takes
//! that place twice and the medians do not carry it.

use std::path::Path;

use super::{Remote, remove_quietly};
use crate::bench::client::ClientBase;
use crate::bench::plan::Plan;
use crate::bench::records::{Gap, LargeRecord};
use crate::bench::report::large_group;
use crate::bench::server::Server;
use crate::bench::{LARGE, LARGE_CONCURRENCY, LARGE_PART, MIB};

/// One large section: one 512 MiB file, PUT and GET once per client and API; the records
/// go to `out`. A transfer that a peer is known not to be able to do against this remote
/// and that fails goes to `gaps` (once), and is not tried again.
#[allow(clippy::too_many_arguments)]
pub(crate) fn large(
    plan: &Plan,
    remote: Remote,
    base: &ClientBase<'_>,
    server: &mut Server,
    data_dir: &Path,
    out: &mut Vec<LargeRecord>,
    gaps: &mut Vec<Gap>,
    crashes: &mut Vec<String>,
) -> Result<(), String> {
    let log = remote.log();
    let src = data_dir.join("large-src.bin");
    let dst = data_dir.join("large-dst.bin");
    let (src_s, dst_s) = (src.display().to_string(), dst.display().to_string());
    let size = plan.large_bytes.to_string();
    let (part, conc) = (LARGE_PART.to_string(), LARGE_CONCURRENCY.to_string());
    let tuning = ["--part-size", part.as_str(), "--concurrency", conc.as_str(), "--read-ahead", conc.as_str()];
    let clients = plan.s3_clients();
    let result = (|| -> Result<(), String> {
        eprintln!("xtask: bench: {log}large: writing {} MiB of noise to {src_s}", plan.large_bytes / MIB);
        base.run_json(&["--op", "make-file", "--file", &src_s, "--size", &size])?;
        eprintln!("xtask: bench: {log}large: uploading large/get with our engine (untimed)");
        let mut setup = vec!["--op", "setup", "--file", &src_s, "--key", "large/get"];
        setup.extend(tuning);
        base.run_json(&setup)?;
        for (rep, &(op, client, mode)) in
            (0..plan.large_repeat).flat_map(|r| rotated(r).into_iter().map(move |v| (r, v)))
        {
            if !clients.iter().any(|c| c == client)
                || gaps.iter().any(|g| g.client == client && g.op == op && g.mode.as_deref() == Some(mode))
            {
                continue;
            }
            eprintln!("xtask: bench: {log}large [{}/{}]: {client} {op} {mode}", rep + 1, plan.large_repeat);
            let mut args = vec!["--op", op, "--client", client, "--mode", mode];
            args.extend(tuning);
            match op {
                "put" => args.extend(["--file", &src_s, "--key", "large/put"]),
                _ => args.extend(["--file", &dst_s, "--key", "large/get", "--verify-against", &src_s]),
            }
            match (base.run_json(&args).and_then(LargeRecord::from_lines), remote.gap(client, op, Some(mode))) {
                (Ok(r), known) => {
                    if let Some(k) = known {
                        eprintln!(
                            "xtask: bench: {log}large {client} {op} {mode} worked although {}; measured",
                            k.short
                        );
                    }
                    out.push(r);
                }
                (Err(e), Some(known)) => {
                    eprintln!("xtask: bench: {log}large {client} {op} {mode}: not answered ({}): {e}", known.short);
                    gaps.push(known.observed(&e));
                }
                (Err(e), None) => crashes.push(format!("{log}large {client} {op} {mode}: {e}")),
            }
            remove_quietly(&dst);
            server.check()?;
        }
        Ok(())
    })();
    remove_quietly(&src);
    remove_quietly(&dst);
    if let Err(e) = base.run_json(&["--op", "delete", "--keys", "large/get,large/put"]) {
        crashes.push(format!("{log}large: deleting the objects: {e}"));
    }
    result
}

/// The transfers of `LARGE` in the order of repetition `rep`: each run of rows of one
/// group rotated left by `rep`.
fn rotated(rep: usize) -> Vec<&'static (&'static str, &'static str, &'static str)> {
    let mut out = Vec::with_capacity(LARGE.len());
    let mut start = 0;
    while start < LARGE.len() {
        let group = large_group(LARGE[start].0, LARGE[start].2);
        let len = LARGE[start..].iter().take_while(|(o, _, m)| large_group(o, m) == group).count();
        let rows = &LARGE[start..start + len];
        out.extend(rows.iter().cycle().skip(rep % len).take(len));
        start += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_repetition_starts_each_group_one_client_later() {
        assert_eq!(rotated(0), LARGE.iter().collect::<Vec<_>>());
        let r1: Vec<_> = rotated(1).iter().map(|(o, c, m)| format!("{o} {c} {m}")).collect();
        assert_eq!(
            &r1[..5],
            [
                "put ours multipart",
                "put object_store multipart",
                "put opendal multipart",
                "put hyper single",
                "get ours single"
            ]
        );
        assert_eq!(r1[8], "get ours stream");
        for rep in 0..5 {
            let mut all = rotated(rep);
            all.sort();
            let mut want: Vec<_> = LARGE.iter().collect();
            want.sort();
            assert_eq!(all, want);
        }
    }
}
