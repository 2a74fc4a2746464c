//! What the bench binaries print, one JSON object per line, read with serde: a timed phase
//! of `bench-client` ([`Record`]), a transfer of `bench-large` ([`LargeRecord`]); each keeps
//! the line as printed for the `runs` arrays of the results file. Also the callgrind counts
//! ([`Count`]), what a peer could not do against a server ([`Gap`]) and everything measured
//! in one run ([`Results`]); one copy of a tree by a command-line client, which xtask
//! times itself ([`CliRecord`]).

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Map, Value};

/// One line a bench binary printed: a JSON object (its keys sorted, the order in which the
/// binaries, serde_json users themselves, print them).
pub(crate) type Line = Map<String, Value>;

/// Parses one line a bench binary printed.
pub(crate) fn parse_line(text: &str) -> Result<Line, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// Reads the typed fields of `line`, naming the binary in the error.
fn fields<T: for<'de> Deserialize<'de>>(line: &Line, binary: &str) -> Result<T, String> {
    T::deserialize(&Value::Object(line.clone())).map_err(|e| format!("{binary} result: {e}"))
}

/// Everything measured.
#[derive(Default)]
pub(crate) struct Results {
    pub(crate) runs: Vec<Record>,
    pub(crate) counts: Vec<Count>,
    pub(crate) local_runs: Vec<Record>,
    pub(crate) local_counts: Vec<Count>,
    pub(crate) large: Vec<LargeRecord>,
    pub(crate) memory: Vec<LargeRecord>,
    /// The small phases, their counts and the large transfers against Azurite.
    pub(crate) azure_runs: Vec<Record>,
    pub(crate) azure_counts: Vec<Count>,
    pub(crate) azure_large: Vec<LargeRecord>,
    /// The same against fake-gcs-server, and what the peers could not do there.
    pub(crate) gcs_runs: Vec<Record>,
    pub(crate) gcs_counts: Vec<Count>,
    pub(crate) gcs_large: Vec<LargeRecord>,
    pub(crate) gcs_gaps: Vec<Gap>,
    /// Section `cli`: each copy of a tree by the `storage` CLI or rclone.
    pub(crate) cli: Vec<CliRecord>,
    /// Section `local`: the system-call floor runs (`floor.rs`).
    pub(crate) local_floor: Vec<super::floor::FloorRun>,
}

/// A phase or transfer a peer could not do against a server (a known gap that failed
/// when the bench ran it): no number, the reason and the server's answer.
#[derive(Clone, Debug)]
pub(crate) struct Gap {
    pub(crate) client: String,
    pub(crate) op: String,
    /// The large transfer's mode; `None` for a small phase (every concurrency).
    pub(crate) mode: Option<String>,
    /// For the table cell.
    pub(crate) short: &'static str,
    /// For the notes.
    pub(crate) why: &'static str,
    /// The error the client printed.
    pub(crate) observed: String,
}

/// The fields of a `bench-client` line the report reads.
#[derive(Deserialize)]
struct RecordFields {
    client: String,
    op: String,
    concurrency: usize,
    ops_per_sec: f64,
    cpu_us_per_op: f64,
    peak_rss_kb: f64,
}

/// One timed phase of one client, as `bench-client` printed it.
pub(crate) struct Record {
    pub(crate) client: String,
    pub(crate) op: String,
    pub(crate) concurrency: usize,
    pub(crate) ops_per_sec: f64,
    pub(crate) cpu_us_per_op: f64,
    pub(crate) peak_rss_kb: f64,
    pub(crate) raw: Line,
}

impl Record {
    /// The result line of one `bench-client` phase.
    pub(crate) fn from_line(raw: Line) -> Result<Record, String> {
        let f: RecordFields = fields(&raw, "bench-client")?;
        Ok(Record {
            client: f.client,
            op: f.op,
            concurrency: f.concurrency,
            ops_per_sec: f.ops_per_sec,
            cpu_us_per_op: f.cpu_us_per_op,
            peak_rss_kb: f.peak_rss_kb,
            raw,
        })
    }
}

/// The fields of a `bench-large` line the report reads.
#[derive(Deserialize)]
struct LargeFields {
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
}

/// One large transfer, as `bench-large` printed it.
#[derive(Clone)]
pub(crate) struct LargeRecord {
    pub(crate) client: String,
    pub(crate) op: String,
    pub(crate) mode: String,
    pub(crate) backend: String,
    pub(crate) bytes: f64,
    pub(crate) mib_per_s: f64,
    pub(crate) cpu_s: f64,
    pub(crate) peak_rss_kb: f64,
    pub(crate) part_size: f64,
    pub(crate) concurrency: f64,
    pub(crate) download_part_size: f64,
    pub(crate) read_ahead: f64,
    pub(crate) raw: Line,
}

impl LargeRecord {
    /// The first line `bench-large` printed for one transfer.
    pub(crate) fn from_lines(lines: Vec<Line>) -> Result<LargeRecord, String> {
        let raw = lines.into_iter().next().ok_or("bench-large printed no result")?;
        let f: LargeFields = fields(&raw, "bench-large")?;
        Ok(LargeRecord {
            client: f.client,
            op: f.op,
            mode: f.mode,
            backend: f.backend,
            bytes: f.bytes,
            mib_per_s: f.mib_per_s,
            cpu_s: f.cpu_s,
            peak_rss_kb: f.peak_rss_kb,
            part_size: f.part_size,
            concurrency: f.concurrency,
            download_part_size: f.download_part_size,
            read_ahead: f.read_ahead,
            raw,
        })
    }

    /// The engine's memory bound for these settings: `part_size x (concurrency + 1)`.
    pub(crate) fn bound(&self) -> f64 {
        self.part_size * (self.concurrency + 1.0)
    }
}

/// One copy of a tree by a command-line client (section `cli`), measured by xtask around
/// the child process: wall seconds, and the child's user + system CPU and peak RSS as
/// `wait4` reports them (through GNU time; `None` without it).
#[derive(Clone, Debug)]
pub(crate) struct CliRecord {
    /// `small` or `large`.
    pub(crate) tree: String,
    /// `upload` or `download`.
    pub(crate) op: String,
    /// `ours` (the `storage` CLI) or `rclone`.
    pub(crate) client: String,
    pub(crate) seconds: f64,
    pub(crate) cpu_s: Option<f64>,
    pub(crate) peak_rss_kb: Option<f64>,
    /// The record as written to the results file's `cli_runs`.
    pub(crate) raw: Line,
}

impl CliRecord {
    /// A record and its `raw` line (which also carries the user and system CPU apart, the
    /// rates, the repetition and the command line, never a secret: those go by environment).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        tree: &str,
        op: &str,
        client: &str,
        (files, bytes): (u64, u64),
        seconds: f64,
        cpu: Option<(f64, f64)>,
        peak_rss_kb: Option<f64>,
        rep: usize,
        command: &str,
    ) -> CliRecord {
        // GNU time prints hundredths: the sum without binary noise (0.43, not 0.43000000000000005).
        let cpu_s = cpu.map(|(u, s)| ((u + s) * 100.0).round() / 100.0);
        let value = serde_json::json!({
            "tree": tree, "op": op, "client": client, "files": files, "bytes": bytes,
            "seconds": seconds,
            "files_per_s": files as f64 / seconds,
            "mib_per_s": bytes as f64 / (1024.0 * 1024.0) / seconds,
            "cpu_user_s": cpu.map(|c| c.0), "cpu_sys_s": cpu.map(|c| c.1), "cpu_s": cpu_s,
            "peak_rss_kb": peak_rss_kb, "verified": op == "download", "repetition": rep + 1,
            "command": command,
        });
        let raw = match value {
            Value::Object(m) => m,
            _ => Line::new(),
        };
        CliRecord {
            tree: tree.to_owned(),
            op: op.to_owned(),
            client: client.to_owned(),
            seconds,
            cpu_s,
            peak_rss_kb,
            raw,
        }
    }
}

/// Instructions per operation of one client and phase.
pub(crate) struct Count {
    pub(crate) client: String,
    pub(crate) op: String,
    pub(crate) concurrency: usize,
    /// (operations, instructions) of the small and the large run.
    pub(crate) small: (u64, u64),
    pub(crate) large: (u64, u64),
    pub(crate) per_op: f64,
    pub(crate) file: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_lines_parse() {
        let line = r#"{"client":"ours","concurrency":32,"cpu_us_per_op":61.3,"n":2000,"op":"put","ok":true,"ops_per_sec":5000.5,"peak_rss_kb":10880,"x":null,"s":"a\"b\u00e9"}"#;
        let raw = parse_line(line).unwrap();
        assert_eq!(raw.get("s").and_then(Value::as_str), Some("a\"bé"));
        let r = Record::from_line(raw).unwrap();
        assert_eq!((r.client.as_str(), r.op.as_str(), r.concurrency), ("ours", "put", 32));
        assert_eq!((r.ops_per_sec, r.cpu_us_per_op, r.peak_rss_kb), (5000.5, 61.3, 10880.0));
        assert_eq!(r.raw.get("n").and_then(Value::as_u64), Some(2000));
        assert!(parse_line("{\"a\":1} x").is_err());
        let e = Record::from_line(parse_line(r#"{"client":"ours"}"#).unwrap()).err().unwrap();
        assert!(e.starts_with("bench-client result: missing field"), "{e}");
    }

    #[test]
    fn large_lines_parse() {
        let line = r#"{"backend":"s3","bytes":536870912,"client":"ours","concurrency":8,"cpu_s":1.25,"download_part_size":8388608,"mib_per_s":341.5,"mode":"parallel","op":"get","part_size":8388608,"peak_rss_kb":81920,"read_ahead":4,"verified":true}"#;
        let r = LargeRecord::from_lines(vec![parse_line(line).unwrap()]).unwrap();
        assert_eq!(
            (r.client.as_str(), r.op.as_str(), r.mode.as_str(), r.backend.as_str()),
            ("ours", "get", "parallel", "s3")
        );
        assert_eq!(r.bound(), 72.0 * 1024.0 * 1024.0);
        assert_eq!((r.mib_per_s, r.cpu_s, r.read_ahead), (341.5, 1.25, 4.0));
        assert!(LargeRecord::from_lines(Vec::new()).is_err());
    }
}
