//! Command implementations.

mod basic;
mod copy;
mod tree;
mod zip;

use storage::{Config, Storage};

use crate::args::{Cli, Command};
use crate::{CmdResult, Failure};

/// Global settings every command sees.
pub struct Ctx {
    /// Opens backends.
    pub storage: Storage,
    /// `--json`.
    pub json: bool,
    /// `-q`.
    pub quiet: bool,
    /// `-P`.
    pub progress: bool,
    /// `-j`.
    pub transfers: usize,
    /// `-v` count.
    pub verbose: u8,
    /// `--include`.
    pub include: Vec<String>,
    /// `--exclude`.
    pub exclude: Vec<String>,
}

impl Ctx {
    /// Prints a line to stdout unless `-q`.
    pub fn say(&self, line: impl AsRef<str>) {
        if !self.quiet {
            out(line.as_ref());
        }
    }
    /// Prints one JSON value as a line.
    pub fn json_line(&self, v: &serde_json::Value) {
        out(&v.to_string());
    }
}

/// Writes a line to stdout. A closed pipe (`storage ls | head`) ends the program quietly
/// with success, as Unix tools do, instead of panicking.
pub fn out(line: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{line}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("storage: error: Io: writing to stdout failed: {e}");
        std::process::exit(1);
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> CmdResult {
    let config = Config::discover(cli.config.as_deref())?;
    if cli.transfers == 0 {
        return Err(Failure::Usage("--transfers must be at least 1".into()));
    }
    let ctx = Ctx {
        storage: Storage::new(config),
        json: cli.json,
        quiet: cli.quiet,
        progress: cli.progress && !cli.quiet,
        transfers: cli.transfers,
        verbose: cli.verbose,
        include: cli.include,
        exclude: cli.exclude,
    };
    match cli.command {
        Command::Ls { url, long, recursive, human, .. } => {
            basic::ls(&ctx, url.as_deref(), long, recursive, human).await
        }
        Command::Cp { src, dst, recursive: true } => tree::cp_recursive(&ctx, &src, &dst, false).await,
        Command::Mv { src, dst, recursive: true } => tree::cp_recursive(&ctx, &src, &dst, true).await,
        Command::Cp { src, dst, .. } => copy::cp(&ctx, &src, &dst, false).await,
        Command::Mv { src, dst, .. } => copy::cp(&ctx, &src, &dst, true).await,
        Command::Rm { url, recursive: true } => tree::rm_recursive(&ctx, &url).await,
        Command::Rm { url, .. } => basic::rm(&ctx, &url).await,
        Command::Cat { url, offset, count } => basic::cat(&ctx, &url, offset, count).await,
        Command::Stat { url } => basic::stat(&ctx, &url).await,
        Command::Mb { url } => basic::mb(&ctx, &url).await,
        Command::Rb { url, force } => basic::rb(&ctx, &url, force).await,
        Command::Presign { url, expires_in, method } => basic::presign(&ctx, &url, &expires_in, method).await,
        Command::Sync { src, dst, delete, dry_run } => tree::sync(&ctx, &src, &dst, delete, dry_run).await,
        Command::Du { url, summarize, human, .. } => tree::du(&ctx, &url, summarize, human).await,
        Command::Check { src, dst } => tree::check(&ctx, &src, &dst).await,
        Command::Listdir { url, order_by, desc, max } => tree::listdir(&ctx, &url, order_by, desc, max).await,
        Command::Zip { command } => zip::run(&ctx, command).await,
    }
}
