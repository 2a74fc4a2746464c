//! What the report says about the run itself: the command, the sections, the date, the git
//! commit, the CPU, the port, the time taken and the versions of the measured libraries
//! (from `bench/Cargo.lock`). The `meta` object of the results file and the list at the top
//! of the Markdown.

use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::paths;

/// The run and the machine, every value a string (in this order in both outputs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Meta {
    pub(crate) command: String,
    pub(crate) sections: String,
    pub(crate) date: String,
    pub(crate) git: String,
    pub(crate) cpu: String,
    pub(crate) cpus: String,
    pub(crate) port: String,
    pub(crate) elapsed_s: String,
    pub(crate) versions: String,
}

impl Meta {
    /// (name, value), in the order of the outputs.
    pub(crate) fn pairs(&self) -> [(&'static str, &str); 9] {
        [
            ("command", &self.command),
            ("sections", &self.sections),
            ("date", &self.date),
            ("git", &self.git),
            ("cpu", &self.cpu),
            ("cpus", &self.cpus),
            ("port", &self.port),
            ("elapsed_s", &self.elapsed_s),
            ("versions", &self.versions),
        ]
    }
}

/// The trimmed stdout of a command that succeeded.
fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).stderr(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Now, UTC, as `date -u` prints it.
pub(crate) fn utc_now() -> String {
    command_output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]).unwrap_or_default()
}

/// The short commit, and whether the tree has uncommitted changes.
pub(crate) fn git_describe() -> String {
    let root = paths::workspace_root();
    let root = root.to_string_lossy();
    let head = command_output("git", &["-C", &root, "rev-parse", "--short", "HEAD"]).unwrap_or_default();
    let dirty = command_output("git", &["-C", &root, "status", "--porcelain"]).is_some_and(|s| !s.is_empty());
    if dirty { format!("{head} (with uncommitted changes)") } else { head }
}

/// The CPU model name from /proc/cpuinfo.
pub(crate) fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned()))
        })
        .unwrap_or_default()
}

/// Versions of the measured libraries, from bench/Cargo.lock.
pub(crate) fn pinned_versions() -> String {
    let lock = std::fs::read_to_string(paths::workspace_root().join("bench").join("Cargo.lock")).unwrap_or_default();
    let wanted = ["object_store", "opendal", "reqwest", "s3s", "s3s-fs", "hyper", "hyper-util", "tokio"];
    let mut found: Vec<String> = Vec::new();
    let mut name: Option<&str> = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"'));
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take())
            && wanted.contains(&n)
        {
            found.push(format!("{n} {}", v.trim_matches('"')));
        }
    }
    found.sort();
    found.join(", ")
}
