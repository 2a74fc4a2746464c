//! The results file (`bench/results/latest.json`): its shape as serde types
//! ([`Document`]), built from the report and the raw records, and written pretty-printed
//! with numbers as the report has always shown them (whole numbers without a fraction, the
//! others in Rust's shortest form, NaN and infinities as `null`).

use std::collections::BTreeMap;
use std::io;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::ser::{Formatter, PrettyFormatter};

use super::MEMORY_OVERHEAD;
use super::meta::Meta;
use super::records::{Count, Line, Results};
use super::report::{self, Report, Row};

/// The whole results file, its fields in the order written. The Azure and GCS fields are
/// left out when empty (runs without those sections write what they always wrote).
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Document {
    pub(crate) meta: Meta,
    /// S3 small operations, one entry per phase.
    pub(crate) summary: Vec<SmallRow>,
    pub(crate) large: Vec<LargeRow>,
    /// Azure (Azurite) small operations, one entry per phase, and large transfers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) azure_summary: Vec<SmallRow>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) azure_large: Vec<LargeRow>,
    /// GCS (fake-gcs-server) small operations, one entry per phase, and large transfers
    /// (what a peer could not do there is in `gcs_gaps`, not in these).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) gcs_summary: Vec<SmallRow>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) gcs_large: Vec<LargeRow>,
    /// What a peer could not do against fake-gcs-server, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) gcs_gaps: Vec<GapRow>,
    /// Local filesystem small operations, one entry per phase.
    pub(crate) local: Vec<SmallRow>,
    /// Their system-call floor (medians), when the run measured it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) local_floor: Vec<super::floor::FloorRow>,
    pub(crate) memory: Vec<MemoryRow>,
    /// The `cli` section: one entry per tree, direction and client (medians).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) cli: Vec<CliRow>,
    pub(crate) targets: Vec<TargetRow>,
    pub(crate) callgrind: Vec<CountRow>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) azure_callgrind: Vec<CountRow>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) gcs_callgrind: Vec<CountRow>,
    pub(crate) local_callgrind: Vec<CountRow>,
    /// The lines the bench binaries printed, as printed.
    pub(crate) runs: Vec<Line>,
    pub(crate) local_runs: Vec<Line>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) local_floor_runs: Vec<Line>,
    pub(crate) large_runs: Vec<Line>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) azure_runs: Vec<Line>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) azure_large_runs: Vec<Line>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) gcs_runs: Vec<Line>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) gcs_large_runs: Vec<Line>,
    pub(crate) memory_runs: Vec<Line>,
    /// Each copy of the `cli` section, as xtask measured it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) cli_runs: Vec<Line>,
    pub(crate) notes: Vec<String>,
    pub(crate) crashes: Vec<String>,
}

/// One phase of a small-operations table. The S3 table has `cpu_ratio_ours_to_best_peer`;
/// the local one `ops_ratio_ours_to_object_store` and `cpu_ratio_ours_to_object_store`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SmallRow {
    pub(crate) op: String,
    pub(crate) concurrency: usize,
    /// `key` for LIST, else `request`.
    pub(crate) per: String,
    pub(crate) clients: BTreeMap<String, SmallCell>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub(crate) ops_ratio_ours_to_object_store: Option<Option<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub(crate) cpu_ratio_ours_to_object_store: Option<Option<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub(crate) cpu_ratio_ours_to_best_peer: Option<Option<f64>>,
    pub(crate) instructions_ratio_ours_to_best_peer: Option<f64>,
}

/// The medians of one client in one phase.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SmallCell {
    pub(crate) ops_per_sec: Option<f64>,
    pub(crate) cpu_us_per_op: Option<f64>,
    pub(crate) instructions_per_op: Option<f64>,
    pub(crate) peak_rss_kb: Option<f64>,
}

/// One large transfer (medians of its repetitions).
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct LargeRow {
    pub(crate) group: String,
    pub(crate) client: String,
    pub(crate) mode: String,
    pub(crate) mib_per_s: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub(crate) cpu_s: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub(crate) peak_rss_kb: f64,
    pub(crate) mib_per_s_ratio_ours_to_best_peer: Option<f64>,
    pub(crate) mib_per_s_ratio_to_floor: Option<f64>,
}

/// A phase (`mode` null: every concurrency) or a large transfer (`mode` set) a peer could
/// not do against the server: why, and the error its client printed.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct GapRow {
    pub(crate) client: String,
    pub(crate) op: String,
    pub(crate) mode: Option<String>,
    pub(crate) reason: String,
    pub(crate) error: String,
}

/// One transfer of the memory-bound section, against its limit.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct MemoryRow {
    pub(crate) backend: String,
    pub(crate) op: String,
    pub(crate) mode: String,
    pub(crate) bytes: f64,
    pub(crate) part_size: f64,
    pub(crate) concurrency: f64,
    pub(crate) download_part_size: f64,
    pub(crate) read_ahead: f64,
    pub(crate) bound_bytes: f64,
    pub(crate) overhead_bytes: f64,
    pub(crate) limit_bytes: f64,
    pub(crate) peak_rss_bytes: f64,
    pub(crate) within: bool,
    pub(crate) mib_per_s: f64,
    pub(crate) cpu_s: f64,
}

/// One copy of a tree in the `cli` section (medians of its repetitions); the ratios are
/// on ours' entries only.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CliRow {
    /// `small` or `large`.
    pub(crate) tree: String,
    pub(crate) files: u64,
    pub(crate) bytes: u64,
    /// `upload` or `download`.
    pub(crate) op: String,
    /// `ours` or `rclone`.
    pub(crate) client: String,
    pub(crate) seconds: f64,
    pub(crate) files_per_s: f64,
    pub(crate) mib_per_s: f64,
    pub(crate) cpu_s: Option<f64>,
    pub(crate) peak_rss_kb: Option<f64>,
    /// files/s (= MiB/s) of ours over rclone's.
    pub(crate) throughput_ratio_ours_to_rclone: Option<f64>,
    pub(crate) cpu_ratio_ours_to_rclone: Option<f64>,
}

/// One target and its verdict.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct TargetRow {
    pub(crate) name: String,
    pub(crate) value: Option<f64>,
    pub(crate) limit: f64,
    pub(crate) at_least: bool,
    pub(crate) verdict: String,
}

/// Instructions per operation of one client and phase, with the two runs behind it.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CountRow {
    pub(crate) client: String,
    pub(crate) op: String,
    pub(crate) concurrency: usize,
    pub(crate) small_ops: u64,
    pub(crate) small_instructions: u64,
    pub(crate) large_ops: u64,
    pub(crate) large_instructions: u64,
    pub(crate) instructions_per_op: f64,
    pub(crate) file: String,
}

/// A field that may be absent (`None`) or present and `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<f64>>, D::Error> {
    Option::<f64>::deserialize(d).map(Some)
}

/// A number written as `null` because it was NaN.
fn nan_if_null<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Option::<f64>::deserialize(d).map(|v| v.unwrap_or(f64::NAN))
}

impl Document {
    /// Reads a results file.
    #[cfg(test)]
    pub(crate) fn parse(text: &str) -> Result<Document, String> {
        serde_json::from_str(text).map_err(|e| format!("bad results file: {e}"))
    }

    /// The file's text: two-space indentation, a final newline.
    pub(crate) fn to_text(&self) -> Result<String, String> {
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut out, NumberFormatter(PrettyFormatter::new()));
        self.serialize(&mut ser).map_err(|e| format!("cannot write the results: {e}"))?;
        out.push(b'\n');
        String::from_utf8(out).map_err(|e| format!("cannot write the results: {e}"))
    }
}

/// serde_json's pretty printer, with numbers as the report writes them: a whole number
/// below 10^15 without a fraction (`10880`, not `10880.0`), others as Rust prints an `f64`
/// (serde_json writes non-finite numbers as `null` before they get here).
struct NumberFormatter(PrettyFormatter<'static>);

impl Formatter for NumberFormatter {
    fn write_f64<W: ?Sized + io::Write>(&mut self, w: &mut W, v: f64) -> io::Result<()> {
        if v.fract() == 0.0 && v.abs() < 1e15 { write!(w, "{}", v as i64) } else { write!(w, "{v}") }
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }

    fn begin_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }

    fn begin_object_key<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

fn small_rows(rows: &[Row]) -> Vec<SmallRow> {
    rows.iter()
        .map(|row| {
            let local = row.tput_ratio.is_some();
            SmallRow {
                op: row.op.to_owned(),
                concurrency: row.concurrency,
                per: if row.op == "list" { "key" } else { "request" }.to_owned(),
                clients: row
                    .cells
                    .iter()
                    .map(|(c, cell)| {
                        let cell = SmallCell {
                            ops_per_sec: cell.ops_per_sec,
                            cpu_us_per_op: cell.cpu_us,
                            instructions_per_op: cell.instr,
                            peak_rss_kb: cell.rss_kb,
                        };
                        (c.clone(), cell)
                    })
                    .collect(),
                ops_ratio_ours_to_object_store: local.then_some(row.tput_ratio),
                cpu_ratio_ours_to_object_store: local.then_some(row.cpu_ratio),
                cpu_ratio_ours_to_best_peer: (!local).then_some(row.cpu_ratio),
                instructions_ratio_ours_to_best_peer: row.instr_ratio,
            }
        })
        .collect()
}

fn large_rows(rows: &[report::LargeRow]) -> Vec<LargeRow> {
    rows.iter()
        .filter(|r| r.gap.is_none())
        .map(|r| LargeRow {
            group: r.group.to_owned(),
            client: r.client.clone(),
            mode: r.mode.clone(),
            mib_per_s: r.mib_per_s,
            cpu_s: r.cpu_s,
            peak_rss_kb: r.rss_kb,
            mib_per_s_ratio_ours_to_best_peer: r.vs_peer,
            mib_per_s_ratio_to_floor: r.vs_floor,
        })
        .collect()
}

fn count_rows(counts: &[Count]) -> Vec<CountRow> {
    counts
        .iter()
        .map(|c| CountRow {
            client: c.client.clone(),
            op: c.op.clone(),
            concurrency: c.concurrency,
            small_ops: c.small.0,
            small_instructions: c.small.1,
            large_ops: c.large.0,
            large_instructions: c.large.1,
            instructions_per_op: c.per_op,
            file: c.file.display().to_string(),
        })
        .collect()
}

impl Report {
    /// The results file's content: this report, the raw records and what crashed.
    pub(crate) fn document(&self, res: &Results, crashes: &[String]) -> Document {
        Document {
            meta: self.meta.clone(),
            summary: small_rows(&self.rows),
            large: large_rows(&self.large),
            azure_summary: small_rows(&self.azure_rows),
            azure_large: large_rows(&self.azure_large),
            gcs_summary: small_rows(&self.gcs_rows),
            gcs_large: large_rows(&self.gcs_large),
            gcs_gaps: self
                .gcs_gaps
                .iter()
                .map(|g| GapRow {
                    client: g.client.clone(),
                    op: g.op.clone(),
                    mode: g.mode.clone(),
                    reason: g.why.to_owned(),
                    error: g.observed.clone(),
                })
                .collect(),
            local: small_rows(&self.local_rows),
            local_floor: self.local_floor.clone(),
            memory: self
                .memory
                .iter()
                .map(|(r, limit)| {
                    let rss = r.peak_rss_kb * 1024.0;
                    MemoryRow {
                        backend: r.backend.clone(),
                        op: r.op.clone(),
                        mode: r.mode.clone(),
                        bytes: r.bytes,
                        part_size: r.part_size,
                        concurrency: r.concurrency,
                        download_part_size: r.download_part_size,
                        read_ahead: r.read_ahead,
                        bound_bytes: r.bound(),
                        overhead_bytes: MEMORY_OVERHEAD as f64,
                        limit_bytes: *limit,
                        peak_rss_bytes: rss,
                        within: rss <= *limit,
                        mib_per_s: r.mib_per_s,
                        cpu_s: r.cpu_s,
                    }
                })
                .collect(),
            cli: self
                .cli
                .iter()
                .map(|r| CliRow {
                    tree: r.tree.name.to_owned(),
                    files: r.tree.files as u64,
                    bytes: r.tree.bytes(),
                    op: r.op.to_owned(),
                    client: r.client.to_owned(),
                    seconds: r.seconds,
                    files_per_s: r.files_per_s(),
                    mib_per_s: r.mib_per_s(),
                    cpu_s: r.cpu_s,
                    peak_rss_kb: r.rss_kb,
                    throughput_ratio_ours_to_rclone: r.tput_ratio,
                    cpu_ratio_ours_to_rclone: r.cpu_ratio,
                })
                .collect(),
            targets: self
                .targets
                .iter()
                .map(|t| TargetRow {
                    name: t.name.clone(),
                    value: t.value,
                    limit: t.limit,
                    at_least: t.at_least,
                    verdict: t.verdict().to_owned(),
                })
                .collect(),
            callgrind: count_rows(&res.counts),
            azure_callgrind: count_rows(&res.azure_counts),
            gcs_callgrind: count_rows(&res.gcs_counts),
            local_callgrind: count_rows(&res.local_counts),
            runs: res.runs.iter().map(|r| r.raw.clone()).collect(),
            local_runs: res.local_runs.iter().map(|r| r.raw.clone()).collect(),
            local_floor_runs: res.local_floor.iter().map(|r| r.raw.clone()).collect(),
            large_runs: res.large.iter().map(|r| r.raw.clone()).collect(),
            azure_runs: res.azure_runs.iter().map(|r| r.raw.clone()).collect(),
            azure_large_runs: res.azure_large.iter().map(|r| r.raw.clone()).collect(),
            gcs_runs: res.gcs_runs.iter().map(|r| r.raw.clone()).collect(),
            gcs_large_runs: res.gcs_large.iter().map(|r| r.raw.clone()).collect(),
            memory_runs: res.memory.iter().map(|r| r.raw.clone()).collect(),
            cli_runs: res.cli.iter().map(|r| r.raw.clone()).collect(),
            notes: self.notes.clone(),
            crashes: crashes.to_vec(),
        }
    }

    /// The results file's text.
    pub(crate) fn json(&self, res: &Results, crashes: &[String]) -> Result<String, String> {
        self.document(res, crashes).to_text()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::paths;

    /// Reads a committed results file, checks it parses into the typed shape and that
    /// writing it again gives the same bytes.
    fn round_trip(name: &str) -> Document {
        let path = paths::workspace_root().join("bench").join("results").join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let doc = Document::parse(&text).unwrap();
        let again = doc.to_text().unwrap();
        assert!(again == text, "{name} does not round-trip:\n{}", first_difference(&text, &again));
        // Independently of the types: the same values as a plain JSON tree.
        let plain: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(same(&serde_json::to_value(&doc).unwrap(), &plain), "{name}: the typed values differ");
        doc
    }

    /// Equal JSON trees, numbers compared by value (`10880` and `10880.0` are one number).
    fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
        use serde_json::Value::{Array, Number, Object};
        match (a, b) {
            (Number(x), Number(y)) => x.as_f64() == y.as_f64(),
            (Array(x), Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
            (Object(x), Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w))),
            _ => a == b,
        }
    }

    /// The first line where `a` and `b` differ.
    pub(crate) fn first_difference(a: &str, b: &str) -> String {
        let at = a.lines().zip(b.lines()).position(|(x, y)| x != y).unwrap_or(a.lines().count().min(b.lines().count()));
        format!("line {}: {:?} vs {:?}", at + 1, a.lines().nth(at), b.lines().nth(at))
    }

    #[test]
    fn latest_results_round_trip() {
        let doc = round_trip("latest.json");
        assert!(doc.meta.command.starts_with("cargo xtask bench"));
        let rows = doc.summary.iter().chain(&doc.local);
        for row in rows {
            assert!(crate::bench::LOCAL_PHASES.iter().any(|(op, _)| *op == row.op), "{}", row.op);
            assert_eq!(row.per, if row.op == "list" { "key" } else { "request" });
        }
        for t in &doc.targets {
            assert!(["PASS", "MISS", "n/a"].contains(&t.verdict.as_str()), "{}", t.verdict);
        }
    }

    #[test]
    fn memory_rerun_round_trips_with_its_values() {
        let doc = round_trip("memory-rerun.json");
        assert_eq!(doc.meta.sections, "memory");
        assert!(doc.summary.is_empty() && doc.large.is_empty() && doc.local.is_empty());
        assert_eq!(doc.memory.len(), 6);
        assert_eq!(doc.memory_runs.len(), 6);
        for (row, run) in doc.memory.iter().zip(&doc.memory_runs) {
            let num = |k: &str| run.get(k).and_then(serde_json::Value::as_f64).unwrap();
            let text = |k: &str| run.get(k).and_then(serde_json::Value::as_str).unwrap();
            assert_eq!(
                (row.backend.as_str(), row.op.as_str(), row.mode.as_str()),
                (text("backend"), text("op"), text("mode"))
            );
            assert_eq!(row.bytes, num("bytes"));
            assert_eq!(row.bytes, 2048.0 * 1024.0 * 1024.0);
            assert_eq!(row.peak_rss_bytes, num("peak_rss_kb") * 1024.0);
            assert_eq!(row.bound_bytes, row.part_size * (row.concurrency + 1.0));
            assert_eq!(row.overhead_bytes, MEMORY_OVERHEAD as f64);
            assert_eq!(row.limit_bytes, row.bound_bytes + row.overhead_bytes);
            assert_eq!(row.within, row.peak_rss_bytes <= row.limit_bytes);
            assert_eq!((row.mib_per_s, row.cpu_s), (num("mib_per_s"), num("cpu_s")));
        }
        assert_eq!(doc.targets.len(), 6);
    }

    #[test]
    fn s3_large_rerun_round_trips() {
        let doc = round_trip("s3-large-rerun.json");
        assert_eq!(doc.large.len(), 12);
        let ours: Vec<&LargeRow> = doc.large.iter().filter(|r| r.client == "ours").collect();
        assert!(ours.iter().all(|r| r.mib_per_s_ratio_ours_to_best_peer.is_some()));
        assert!(doc.large.iter().filter(|r| r.client == "hyper").all(|r| r.mib_per_s_ratio_to_floor.is_none()));
    }

    #[test]
    fn gcs_small_round_trips_with_its_gap() {
        let doc = round_trip("gcs-small-2026-12-03.json");
        assert_eq!(doc.meta.sections, "gcs-small");
        assert_eq!((doc.gcs_summary.len(), doc.gcs_gaps.len()), (5, 1));
        assert!(doc.summary.is_empty() && doc.azure_summary.is_empty());
        let gap = &doc.gcs_gaps[0];
        assert_eq!((gap.client.as_str(), gap.op.as_str(), gap.mode.as_deref()), ("object_store", "put", None));
        assert!(gap.error.contains("400") && gap.error.contains("invalid uploadType"), "{}", gap.error);
        for row in &doc.gcs_summary {
            let os = &row.clients["object_store"];
            assert_eq!(os.ops_per_sec.is_none(), row.op == "put", "{}", row.op);
            assert!(row.clients["ours"].instructions_per_op.is_some());
        }
    }

    #[test]
    fn gcs_large_round_trips_with_its_gaps() {
        for name in ["gcs-large-2026-12-03.json", "gcs-large-512-2026-12-03.json"] {
            let doc = round_trip(name);
            assert_eq!(doc.meta.sections, "gcs-large");
            // The two multipart PUTs fake-gcs-server cannot take are gaps, not rows.
            assert_eq!((doc.gcs_large.len(), doc.gcs_gaps.len()), (10, 2), "{name}");
            assert!(doc.gcs_gaps.iter().all(|g| g.op == "put" && g.mode.as_deref() == Some("multipart")));
            assert!(
                doc.gcs_large
                    .iter()
                    .all(|r| r.mib_per_s > 0.0 && !(r.group == "PUT" && r.client != "ours" && r.client != "hyper"))
            );
        }
    }

    #[test]
    fn cli_round_trips_with_its_runs() {
        let doc = round_trip("cli-2026-12-03.json");
        assert_eq!(doc.meta.sections, "cli");
        assert!(doc.summary.is_empty() && doc.large.is_empty() && doc.memory.is_empty());
        // Two trees x two directions x two clients, each run the same number of times.
        assert_eq!(doc.cli.len(), 8);
        assert_eq!(doc.cli_runs.len() % 8, 0);
        for row in &doc.cli {
            let runs: Vec<f64> = doc
                .cli_runs
                .iter()
                .filter(|r| {
                    let text = |k: &str| r.get(k).and_then(serde_json::Value::as_str);
                    (text("tree"), text("op"), text("client"))
                        == (Some(row.tree.as_str()), Some(row.op.as_str()), Some(row.client.as_str()))
                })
                .filter_map(|r| r.get("seconds").and_then(serde_json::Value::as_f64))
                .collect();
            assert_eq!(Some(row.seconds), report::median(runs), "{} {} {}", row.tree, row.op, row.client);
            assert_eq!(row.files_per_s, row.files as f64 / row.seconds);
            let ours = row.client == "ours";
            assert_eq!(row.throughput_ratio_ours_to_rclone.is_some(), ours);
            assert_eq!(row.cpu_ratio_ours_to_rclone.is_some(), ours);
        }
        assert!(doc.cli_runs.iter().all(|r| r.get("op").and_then(serde_json::Value::as_str) == Some("upload")
            || r.get("verified").and_then(serde_json::Value::as_bool) == Some(true)));
        assert_eq!(doc.targets.len(), 8);
    }

    #[test]
    fn numbers_are_written_as_before() {
        let doc = Document::parse(&round_trip_sample()).unwrap();
        let text = doc.to_text().unwrap();
        assert!(text.contains("\"peak_rss_kb\": 10880,\n"), "{text}");
        assert!(text.contains("\"cpu_s\": null,"), "{text}");
        assert!(text.contains("\"mib_per_s\": 0.1,"), "{text}");
        assert!(text.contains("\"crashes\": []\n"), "{text}");
        assert!(Document::parse("{}").is_err());
    }

    fn round_trip_sample() -> String {
        let meta = r#"{"command":"c","sections":"s3-large","date":"d","git":"g","cpu":"c","cpus":"2","port":"1","elapsed_s":"3","versions":"v"}"#;
        let large = r#"{"group":"PUT","client":"ours","mode":"multipart","mib_per_s":0.1,"cpu_s":null,"peak_rss_kb":10880.0,"mib_per_s_ratio_ours_to_best_peer":null,"mib_per_s_ratio_to_floor":1.5}"#;
        format!(
            r#"{{"meta":{meta},"summary":[],"large":[{large}],"local":[],"memory":[],"targets":[],"callgrind":[],"local_callgrind":[],"runs":[],"local_runs":[],"large_runs":[],"memory_runs":[],"notes":[],"crashes":[]}}"#
        )
    }
}
