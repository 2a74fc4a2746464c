//! Section `local`'s system-call floor: `bench-floor` runs only the system calls of a
//! 4 KiB PUT (object_store's sequence, ours without and with fsync) and of a LIST (one
//! `getdents64` pass and one `fstatat` per key, in the directory's order and in key
//! order), in a loop with no runtime and no library. The table says how much of each row
//! the kernel's work for the chosen guarantees costs, so how far any library making those
//! calls could go.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::client::ClientBase;
use super::records::Line;
use super::report::median;
use super::server::Pinning;

/// One `bench-floor` run.
#[derive(Clone, Debug)]
pub(crate) struct FloorRun {
    pub(crate) floor: String,
    pub(crate) sequence: String,
    pub(crate) cpu_us: f64,
    pub(crate) wall_us: f64,
    /// The line as printed.
    pub(crate) raw: Line,
}

impl FloorRun {
    fn from_line(line: Line) -> Result<FloorRun, String> {
        let text = |k: &str| line.get(k).and_then(|v| v.as_str()).map(str::to_owned).ok_or(format!("no {k}"));
        let num = |k: &str| line.get(k).and_then(|v| v.as_f64()).ok_or(format!("no {k}"));
        Ok(FloorRun {
            floor: text("floor")?,
            sequence: text("sequence")?,
            cpu_us: num("cpu_us_per_op")?,
            wall_us: num("us_per_op")?,
            raw: line,
        })
    }
}

/// The medians of one floor and sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FloorRow {
    pub(crate) floor: String,
    pub(crate) sequence: String,
    /// CPU microseconds per PUT, or per key listed.
    pub(crate) cpu_us: f64,
    pub(crate) wall_us: f64,
    pub(crate) runs: usize,
}

/// The PUT sequences, and the LIST orders (the arguments after `--dir DIR --n N`).
const PUTS: &[&str] = &["object_store", "ours", "ours_fsync"];
const LISTS: &[&[&str]] = &[&[], &["--sorted"]];

/// Runs every floor `repeat` times, pinned like the clients: the PUTs `puts` times each in
/// their own directory under `root`, the LISTs `listings` times over `list_dir` (the keys
/// a client's setup wrote). A floor that fails is reported in `crashes`.
pub(crate) fn run(
    bin: &Path,
    pinning: &Pinning,
    (root, list_dir): (&Path, &Path),
    repeat: usize,
    (puts, listings): (usize, usize),
    crashes: &mut Vec<String>,
) -> Vec<FloorRun> {
    let base = ClientBase { bin, common: Vec::new(), pinning, tag: "" };
    let mut out = Vec::new();
    let mut one = |args: Vec<String>| {
        eprintln!("xtask: bench: local floor {}", args.join(" "));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match base.run_json(&args).and_then(|lines| {
            lines
                .into_iter()
                .next()
                .ok_or_else(|| "bench-floor printed no result".to_owned())
                .and_then(FloorRun::from_line)
        }) {
            Ok(r) => out.push(r),
            Err(e) => crashes.push(format!("local floor {}: {e}", args.join(" "))),
        }
    };
    for _ in 0..repeat {
        for seq in PUTS {
            let dir = root.join(format!("floor-{seq}"));
            let dir = dir.display().to_string();
            one(["put", "--dir", &dir, "--sequence", seq, "--n", &puts.to_string()].map(str::to_owned).to_vec());
            let _ = std::fs::remove_dir_all(&dir);
        }
        for extra in LISTS {
            let dir = list_dir.display().to_string();
            let mut args: Vec<String> =
                ["list", "--dir", &dir, "--n", &listings.to_string()].map(str::to_owned).to_vec();
            args.extend(extra.iter().map(|s| (*s).to_owned()));
            one(args);
        }
    }
    out
}

/// The medians of each floor and sequence, in the order first run.
pub(crate) fn rows(runs: &[FloorRun]) -> Vec<FloorRow> {
    let mut rows: Vec<FloorRow> = Vec::new();
    for r in runs {
        if rows.iter().any(|x| x.floor == r.floor && x.sequence == r.sequence) {
            continue;
        }
        let same: Vec<&FloorRun> = runs.iter().filter(|x| x.floor == r.floor && x.sequence == r.sequence).collect();
        rows.push(FloorRow {
            floor: r.floor.clone(),
            sequence: r.sequence.clone(),
            cpu_us: median(same.iter().map(|x| x.cpu_us).collect()).unwrap_or_default(),
            wall_us: median(same.iter().map(|x| x.wall_us).collect()).unwrap_or_default(),
            runs: same.len(),
        });
    }
    rows
}

/// The floor table, with each sequence's ratio to object_store's PUT sequence.
pub(crate) fn markdown(s: &mut String, rows: &[FloorRow]) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n#### System-call floor (`bench-floor`: the calls alone, no runtime, no library)\n");
    let _ =
        writeln!(s, "| floor | sequence | CPU µs per op (per key for LIST) | wall µs | / object_store's PUT calls |");
    let _ = writeln!(s, "|---|---|---:|---:|---:|");
    let base = rows.iter().find(|r| r.floor == "put" && r.sequence == "object_store").map(|r| r.cpu_us);
    for r in rows {
        let ratio = match (r.floor.as_str(), base) {
            ("put", Some(b)) if b > 0.0 => format!("{:.2}x", r.cpu_us / b),
            _ => "–".to_owned(),
        };
        let _ = writeln!(s, "| {} | {} | {:.2} | {:.2} | {ratio} |", r.floor, r.sequence, r.cpu_us, r.wall_us);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(floor: &str, sequence: &str, cpu: f64) -> FloorRun {
        let text = format!(
            r#"{{"floor":"{floor}","sequence":"{sequence}","n":10,"us_per_op":{cpu},"cpu_us_per_op":{cpu},"sys_us_per_op":1.0}}"#
        );
        FloorRun::from_line(super::super::records::parse_line(&text).unwrap()).unwrap()
    }

    #[test]
    fn medians_and_ratios_to_object_stores_calls() {
        let runs = [
            run("put", "object_store", 18.0),
            run("put", "ours", 22.0),
            run("put", "object_store", 20.0),
            run("put", "ours", 24.0),
            run("put", "object_store", 19.0),
            run("put", "ours", 23.0),
            run("list", "getdents+fstatat", 1.1),
        ];
        let rows = rows(&runs);
        assert_eq!(rows.len(), 3);
        assert_eq!((rows[0].cpu_us, rows[0].runs), (19.0, 3));
        assert_eq!(rows[1].cpu_us, 23.0);
        let mut s = String::new();
        markdown(&mut s, &rows);
        assert!(s.contains("| put | ours | 23.00 | 23.00 | 1.21x |"), "{s}");
        assert!(s.contains("| list | getdents+fstatat | 1.10 | 1.10 | – |"), "{s}");
        assert!(FloorRun::from_line(super::super::records::parse_line(r#"{"floor":"put"}"#).unwrap()).is_err());
    }
}
