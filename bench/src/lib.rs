//! Shared bits of the benchmark binaries: argument parsing, resource usage, defaults.

use std::collections::HashMap;

/// Access key the bench server accepts unless told otherwise.
pub const DEFAULT_ACCESS_KEY: &str = "AKIDBENCH";
/// Secret key the bench server accepts unless told otherwise.
pub const DEFAULT_SECRET_KEY: &str = "bench-secret-key";

/// `--name value` options and `--flag` switches.
#[derive(Debug, Default)]
pub struct Args {
    values: HashMap<String, String>,
    flags: Vec<String>,
}

/// Options that take no value.
const FLAGS: &[&str] = &["no-auth", "no-warmup", "help"];

impl Args {
    /// Parses `--name value` pairs and the known flags.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut out = Args::default();
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            let name = a.strip_prefix("--").ok_or_else(|| format!("unexpected argument {a:?}"))?;
            if let Some((k, v)) = name.split_once('=') {
                out.values.insert(k.to_owned(), v.to_owned());
            } else if FLAGS.contains(&name) {
                out.flags.push(name.to_owned());
            } else {
                let v = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
                out.values.insert(name.to_owned(), v);
            }
        }
        Ok(out)
    }

    /// The value of `--name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Whether `--name` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    /// `--name` parsed, or `default` when absent.
    pub fn parse_or<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("--{name} {v:?} is not valid")),
        }
    }
}

/// CPU time and peak memory of this process, from `getrusage(RUSAGE_SELF)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// User CPU seconds.
    pub user_s: f64,
    /// System CPU seconds.
    pub sys_s: f64,
    /// Peak resident set size in KiB.
    pub max_rss_kb: i64,
}

impl Usage {
    /// The process's usage so far.
    pub fn now() -> Usage {
        // SAFETY: getrusage writes into the zeroed struct we hand it and nothing else.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: RUSAGE_SELF with a valid pointer; it cannot fail on Linux.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
        if rc != 0 {
            return Usage::default();
        }
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Usage { user_s: secs(ru.ru_utime), sys_s: secs(ru.ru_stime), max_rss_kb: ru.ru_maxrss }
    }
}
