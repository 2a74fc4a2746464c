//! Running one bench binary (`bench-client`, `bench-large`): pinned to CPU 0, optionally
//! under callgrind, its stdout read as one JSON object per line.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use super::records::{Count, Line, Record, parse_line};
use super::server::Pinning;

/// How to run one of the bench binaries: the program and the arguments every call shares.
pub(crate) struct ClientBase<'a> {
    pub(crate) bin: &'a Path,
    pub(crate) common: Vec<String>,
    pub(crate) pinning: &'a Pinning,
    /// Prefix of the callgrind output names.
    pub(crate) tag: &'static str,
}

impl ClientBase<'_> {
    /// Runs the binary (pinned to CPU 0) with `args`, optionally under valgrind, and
    /// returns the JSON objects it printed.
    pub(crate) fn run_with(&self, valgrind: Option<&Path>, args: &[&str]) -> Result<Vec<Line>, String> {
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
                out.push(parse_line(&line).map_err(|e| format!("{name} printed bad JSON ({e}): {line}"))?);
            }
        }
        Ok(out)
    }

    /// Runs the binary (pinned to CPU 0) with `args`, not under valgrind.
    pub(crate) fn run_json(&self, args: &[&str]) -> Result<Vec<Line>, String> {
        self.run_with(None, args)
    }

    /// One timed phase of `client`: `n` operations `op`, `concurrency` in flight.
    pub(crate) fn phase(&self, client: &str, op: &str, concurrency: usize, n: usize) -> Result<Record, String> {
        let (n, c) = (n.to_string(), concurrency.to_string());
        let lines = self.run_json(&["--client", client, "--op", op, "--n", &n, "--concurrency", &c])?;
        let line = lines.into_iter().next().ok_or("bench-client printed no result")?;
        Record::from_line(line)
    }

    /// Instructions per operation from a small and a large callgrind run.
    pub(crate) fn count(
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
            let ops = lines
                .first()
                .and_then(|l| l.get("n"))
                .and_then(|n| n.as_f64())
                .ok_or("bench-client printed no result")? as u64;
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
