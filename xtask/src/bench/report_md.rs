//! The Markdown report (`bench/results/latest.md`, also printed): the run, one table per
//! section, the targets, the notes and what crashed.

use std::fmt::Write as _;

use super::records::Gap;
use super::report::{LargeRow, Report, Row, large_api};
use super::targets::{
    TARGET_CLI_CPU, TARGET_CLI_TPUT, TARGET_CPU_RATIO, TARGET_INSTR_RATIO, TARGET_LARGE_FLOOR, TARGET_LARGE_PEER,
    TARGET_LOCAL_LIST, TARGET_LOCAL_SMALL,
};
use super::{MEMORY_OVERHEAD, MIB};

impl Report {
    /// A table of small phases: per client ops/s, CPU/op, instructions/op, peak RSS; a
    /// client's phase in `gaps` says why it has no numbers.
    fn small_table(s: &mut String, rows: &[Row], clients: &[String], gaps: &[Gap], local: bool) {
        let mut header = String::from("| op | in flight |");
        let mut rule = String::from("|---|---:|");
        for c in clients {
            let _ = write!(header, " {c} ops/s | {c} CPU µs/op | {c} instr/op | {c} peak RSS |");
            rule.push_str("---:|---:|---:|---:|");
        }
        if local {
            header.push_str(
                " ops/s ours/object_store | CPU ours/object_store | ops/s ours_nofsync/object_store | CPU \
                 ours_nofsync/object_store | instr ours/best peer |",
            );
            rule.push_str("---|---|---|---|---|");
        } else {
            header.push_str(" CPU ours/best peer | instr ours/best peer |");
            rule.push_str("---|---|");
        }
        let _ = writeln!(s, "{header}\n{rule}");
        for row in rows {
            let op = match row.op {
                "list" => "LIST 10k keys (per key)",
                "put" => "PUT 4 KiB",
                "get-stream" => "GET 4 KiB as a stream",
                "get-range" => "GET 2 KiB range of 4 KiB",
                _ => "GET 4 KiB",
            };
            let _ = write!(s, "| {op} | {} |", row.concurrency);
            for c in clients {
                if let Some(g) = gaps.iter().find(|g| &g.client == c && g.op == row.op && g.mode.is_none()) {
                    let _ = write!(s, " not answered: {} (see notes) | – | – | – |", g.short);
                    continue;
                }
                let cell = row.cells.get(c).copied().unwrap_or_default();
                let _ = write!(
                    s,
                    " {} | {} | {} | {} |",
                    fmt_opt(cell.ops_per_sec, |v| group(v.round() as u64)),
                    fmt_opt(cell.cpu_us, |v| if v < 10.0 { format!("{v:.2}") } else { format!("{v:.1}") }),
                    fmt_opt(cell.instr, |v| group(v.round() as u64)),
                    fmt_opt(cell.rss_kb, |v| format!("{:.1} MiB", v / 1024.0)),
                );
            }
            if local {
                let limit = if row.op == "list" { TARGET_LOCAL_LIST } else { TARGET_LOCAL_SMALL };
                let tput = fmt_opt(row.tput_ratio, |v| format!("{v:.2} {}", if v >= limit { "PASS" } else { "MISS" }));
                let cpu = fmt_opt(row.cpu_ratio, |v| format!("{v:.2}"));
                let nf_tput =
                    fmt_opt(row.nofsync_tput_ratio, |v| format!("{v:.2} {}", if v >= limit { "PASS" } else { "MISS" }));
                let nf_cpu = fmt_opt(row.nofsync_cpu_ratio, |v| format!("{v:.2}"));
                let instr = fmt_opt(row.instr_ratio, |v| format!("{v:.2}"));
                let _ = writeln!(s, " {tput} | {cpu} | {nf_tput} | {nf_cpu} | {instr} |");
            } else {
                let cpu = fmt_opt(row.cpu_ratio, |v| format!("{v:.2} {}", verdict(v, TARGET_CPU_RATIO)));
                let instr = fmt_opt(row.instr_ratio, |v| {
                    if row.op == "list" {
                        format!("{v:.2}")
                    } else {
                        format!("{v:.2} {}", verdict(v, TARGET_INSTR_RATIO))
                    }
                });
                let _ = writeln!(s, " {cpu} | {instr} |");
            }
        }
    }

    /// "one repetition" or "medians of N repetitions".
    fn reps(&self) -> String {
        match self.large_repeat {
            1 => "one repetition".to_owned(),
            n => format!("medians of {n} repetitions"),
        }
    }

    /// A table of large transfers: MiB/s, client CPU, peak RSS, ratios to the best peer and
    /// to the floor.
    fn large_table(&self, s: &mut String, rows: &[LargeRow]) {
        let _ = writeln!(
            s,
            "| transfer | client | API | MiB/s | client CPU s | CPU s per GiB | peak RSS | MiB/s ours/best peer | MiB/s / floor |"
        );
        let _ = writeln!(s, "|---|---|---|---:|---:|---:|---:|---|---|");
        for r in rows {
            let api = large_api(&r.client, if r.group == "PUT" { "put" } else { "get" }, &r.mode);
            if let Some(gap) = r.gap {
                let _ = writeln!(
                    s,
                    "| {} | {} | {api} | not answered: {gap} (see notes) | – | – | – | – | – |",
                    r.group, r.client
                );
                continue;
            }
            let per_gib = r.cpu_s / (self.large_mib as f64 / 1024.0);
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.1} MiB | {} | {} |",
                r.group,
                r.client,
                api,
                r.mib_per_s,
                r.cpu_s,
                per_gib,
                r.rss_kb / 1024.0,
                fmt_opt(r.vs_peer, |v| format!("{v:.2} {}", if v >= TARGET_LARGE_PEER { "PASS" } else { "MISS" })),
                fmt_opt(r.vs_floor, |v| if r.client == "ours" {
                    format!("{v:.2} {}", if v >= TARGET_LARGE_FLOOR { "PASS" } else { "MISS" })
                } else {
                    format!("{v:.2}")
                }),
            );
        }
    }

    /// The `cli` table: per tree, direction and client the wall seconds, files/s, MiB/s,
    /// client CPU, peak RSS, and on ours' rows the ratios to rclone.
    fn cli_table(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "| tree | direction | client | seconds | files/s | MiB/s | client CPU s | peak RSS | files/s & MiB/s ours/rclone | CPU ours/rclone |"
        );
        let _ = writeln!(s, "|---|---|---|---:|---:|---:|---:|---:|---|---|");
        for r in &self.cli {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.2} | {} | {:.1} | {} | {} | {} | {} |",
                r.tree.label(),
                r.op,
                if r.client == "ours" { "ours (`storage cp -r`)" } else { "rclone (`rclone copy`)" },
                r.seconds,
                match r.files_per_s() {
                    v if v < 10.0 => format!("{v:.2}"),
                    v => group(v.round() as u64),
                },
                r.mib_per_s(),
                fmt_opt(r.cpu_s, |v| format!("{v:.2}")),
                fmt_opt(r.rss_kb, |v| format!("{:.1} MiB", v / 1024.0)),
                fmt_opt(r.tput_ratio, |v| format!("{v:.2} {}", if v >= TARGET_CLI_TPUT { "PASS" } else { "MISS" })),
                fmt_opt(r.cpu_ratio, |v| format!("{v:.2} {}", verdict(v, TARGET_CLI_CPU))),
            );
        }
    }

    /// The whole report, ending with what crashed (when anything did).
    pub(crate) fn markdown(&self, crashes: &[String]) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "## cargo xtask bench\n");
        for (k, v) in self.meta.pairs() {
            let _ = writeln!(s, "- {k}: {v}");
        }
        if self.sections.s3_small {
            let _ = writeln!(s, "\n### S3, small operations (bench-server)\n");
            Report::small_table(&mut s, &self.rows, &self.clients, &[], false);
        }
        if self.sections.s3_large {
            let _ = writeln!(s, "\n### S3, large transfers ({} MiB, bench-server, {})\n", self.large_mib, self.reps());
            self.large_table(&mut s, &self.large);
        }
        if self.sections.azure_small {
            let _ = writeln!(s, "\n### Azure, small operations (Azurite)\n");
            Report::small_table(&mut s, &self.azure_rows, &self.clients, &[], false);
        }
        if self.sections.azure_large {
            let _ = writeln!(s, "\n### Azure, large transfers ({} MiB, Azurite, {})\n", self.large_mib, self.reps());
            self.large_table(&mut s, &self.azure_large);
        }
        if self.sections.gcs_small {
            let _ = writeln!(s, "\n### GCS, small operations (fake-gcs-server)\n");
            Report::small_table(&mut s, &self.gcs_rows, &self.clients, &self.gcs_gaps, false);
        }
        if self.sections.gcs_large {
            let _ =
                writeln!(s, "\n### GCS, large transfers ({} MiB, fake-gcs-server, {})\n", self.large_mib, self.reps());
            self.large_table(&mut s, &self.gcs_large);
        }
        if self.sections.local {
            let _ = writeln!(s, "\n### Local filesystem, small operations (tmpfs)\n");
            Report::small_table(&mut s, &self.local_rows, &self.local_clients, &[], true);
            super::floor::markdown(&mut s, &self.local_floor);
        }
        if self.sections.memory {
            let _ = writeln!(s, "\n### Memory bound ({} MiB through our engine, defaults)\n", self.memory_mib);
            let _ = writeln!(
                s,
                "| backend | transfer | part size | in flight | bound part x (in flight + 1) | bound + {} MiB | peak RSS | MiB/s | client CPU s | within |",
                MEMORY_OVERHEAD / MIB
            );
            let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
            for (r, limit) in &self.memory {
                let rss = r.peak_rss_kb * 1024.0;
                let in_flight = if r.mode == "stream" {
                    format!("{} (read_ahead {})", r.concurrency, r.read_ahead)
                } else {
                    format!("{}", r.concurrency)
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} MiB | {in_flight} | {} MiB | {} MiB | {:.1} MiB | {:.0} | {:.2} | {} |",
                    r.backend,
                    large_api("ours", &r.op, &r.mode),
                    r.part_size as u64 / MIB,
                    r.bound() as u64 / MIB,
                    *limit as u64 / MIB,
                    rss / MIB as f64,
                    r.mib_per_s,
                    r.cpu_s,
                    if rss <= *limit { "PASS" } else { "MISS" },
                );
            }
        }
        if self.sections.cli {
            let reps = match self.cli_repeat {
                1 => "one repetition".to_owned(),
                n => format!("medians of {n} repetitions"),
            };
            let _ =
                writeln!(s, "\n### CLI, recursive copy (`storage cp -r` and `rclone copy`, bench-server, {reps})\n");
            self.cli_table(&mut s);
        }
        let _ = writeln!(s, "\n### Targets (reported, not enforced)\n");
        for t in &self.targets {
            let _ = writeln!(s, "{}", t.markdown());
        }
        let _ = writeln!(s, "\n### Notes\n");
        for n in &self.notes {
            let _ = writeln!(s, "- {n}");
        }
        if !crashes.is_empty() {
            let _ = writeln!(s, "\n### Crashed\n");
            for c in crashes {
                let _ = writeln!(s, "- {}", c.replace('\n', " "));
            }
        }
        s
    }
}

/// PASS when `v` is at most `limit`.
fn verdict(v: f64, limit: f64) -> &'static str {
    if v <= limit { "PASS" } else { "MISS" }
}

/// `f(v)`, or an en dash when there is no value.
pub(crate) fn fmt_opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "–".to_owned(), f)
}

/// 1234567 -> "1,234,567".
pub(crate) fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::report::median;

    #[test]
    fn helpers() {
        assert_eq!(group(1234567), "1,234,567");
        assert_eq!(group(12), "12");
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
        assert_eq!(fmt_opt(None, |v| v.to_string()), "–");
        assert_eq!(verdict(0.5, 0.75), "PASS");
    }
}
