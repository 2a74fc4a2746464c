//! Command implementations.

mod archive;
mod basic;
mod cleanup;
mod copy;
mod tree;
mod zip;

use storage::{Config, Registry, Storage};

use crate::args::{Cli, Command, Shell, TreeFlags};
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
    /// `--part-size`.
    pub part_size: Option<u64>,
    /// `--acl`, `--storage-class`, `--sse`, `--tag`, `--header`, `--content-type`.
    pub write: crate::args::WriteFlags,
    /// `-v` count.
    pub verbose: u8,
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
    /// Warns on stderr (unless `-q`), or as a JSON line with `--json`.
    pub fn warn(&self, what: &str, path: &str, message: &str) {
        if self.json {
            self.json_line(&serde_json::json!({"warning": what, "path": path, "message": message}));
        } else if !self.quiet {
            eprintln!("storage: warning: {message}");
        }
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

/// Runs the parsed command line with the drivers of `registry`.
pub async fn run(cli: Cli, registry: Registry) -> CmdResult {
    if let Command::Completions { shell } = cli.command {
        return completions(shell);
    }
    let config = Config::discover(cli.config.as_deref()).map_err(Failure::Config)?;
    if cli.transfers == 0 {
        return Err(Failure::Usage("--transfers must be at least 1".into()));
    }
    let ctx = Ctx {
        storage: Storage::with_registry(config, registry),
        json: cli.json,
        quiet: cli.quiet,
        progress: cli.progress && !cli.quiet,
        transfers: cli.transfers,
        part_size: cli.part_size,
        write: cli.write.clone(),
        verbose: cli.verbose,
    };
    if ctx.write.any() {
        write_flags_apply(&cli.command)?;
    }
    match cli.command {
        Command::Ls { url, long, recursive, human, .. } => {
            basic::ls(&ctx, url.as_deref(), long, recursive, human).await
        }
        Command::Cp { src, dst, recursive: true, create_container, tree, .. } => {
            tree::cp_recursive(&ctx, &src, &dst, false, create_container, &tree).await
        }
        Command::Mv { src, dst, recursive: true, create_container, tree } => {
            tree::cp_recursive(&ctx, &src, &dst, true, create_container, &tree).await
        }
        Command::Cp { src, dst, decompress: true, tree, .. } => {
            no_tree_flags(&tree, "cp --decompress")?;
            copy::cp_decompress(&ctx, &src, &dst).await
        }
        Command::Cp { src, dst, create_container, tree, version_id: Some(version), .. } => {
            no_tree_flags(&tree, "cp --version-id")?;
            copy::cp_version(&ctx, &src, &dst, &version, create_container).await
        }
        Command::Cp { src, dst, create_container, tree, .. } => {
            no_tree_flags(&tree, "cp")?;
            copy::cp(&ctx, &src, &dst, false, create_container).await
        }
        Command::Mv { src, dst, create_container, tree, .. } => {
            no_tree_flags(&tree, "mv")?;
            copy::cp(&ctx, &src, &dst, true, create_container).await
        }
        Command::Rm { url, recursive: true, include, exclude } => {
            tree::rm_recursive(&ctx, &url, &include, &exclude).await
        }
        Command::Rm { url, include, exclude, .. } => {
            if !include.is_empty() || !exclude.is_empty() {
                return Err(Failure::Usage("--include/--exclude select files of a tree: use them with rm -r".into()));
            }
            basic::rm(&ctx, &url).await
        }
        Command::Cat { url, offset, count, tail, version_id } => {
            basic::cat(&ctx, &url, offset, count, tail, version_id).await
        }
        Command::Stat { url } => basic::stat(&ctx, &url).await,
        Command::Mb { url } => basic::mb(&ctx, &url).await,
        Command::Rb { url, force } => basic::rb(&ctx, &url, force).await,
        Command::Presign { url, expires_in, method } => basic::presign(&ctx, &url, &expires_in, method).await,
        Command::Sync { src, dst, delete, allow_empty_source, dry_run, create_container, compare, tree } => {
            let options = tree::SyncOptions { delete, allow_empty_source, dry_run, create_container, compare };
            tree::sync(&ctx, &src, &dst, &options, &tree).await
        }
        Command::Du { url, summarize, human, .. } => tree::du(&ctx, url.as_deref(), summarize, human).await,
        Command::Check { src, dst, size_only, tree } => tree::check(&ctx, &src, &dst, size_only, &tree).await,
        Command::Listdir { url, order_by, desc, max, no_sizes } => {
            tree::listdir(&ctx, url.as_deref(), order_by, desc, max, !no_sizes).await
        }
        Command::Zip { command } => zip::run(&ctx, command).await,
        Command::Cleanup { url, older_than, dry_run } => cleanup::cleanup(&ctx, &url, &older_than, dry_run).await,
        Command::Completions { .. } => Ok(()),
    }
}

/// Write settings (`--acl`, `--tag`...) shape the objects an upload writes: refused for
/// any other command or direction, where they would be ignored.
fn write_flags_apply(command: &Command) -> CmdResult {
    let backend = |u: &str| {
        u.contains("://") && !["file://", "http://", "https://"].iter().any(|p| u.to_ascii_lowercase().starts_with(p))
    };
    let (src, dst) = match command {
        Command::Cp { src, dst, decompress: false, .. } | Command::Mv { src, dst, .. } => (src, dst),
        Command::Sync { src, dst, .. } => (src, dst),
        _ => return Err(Failure::Usage("--acl, --storage-class, --sse, --tag, --header and --content-type shape uploads: use them with cp, mv or sync".into())),
    };
    if !backend(dst) {
        return Err(Failure::Usage(format!(
            "write settings apply to objects written to a backend; {dst} is not a storage URL"
        )));
    }
    if backend(src) {
        return Err(Failure::Usage(format!(
            "write settings apply to uploads (a file, stdin or an http(s) URL); a copy from {src} keeps the source's settings"
        )));
    }
    Ok(())
}

/// Tree flags given to a single-file copy: they would be ignored, so they are refused.
fn no_tree_flags(tree: &TreeFlags, command: &str) -> CmdResult {
    if !tree.include.is_empty() || !tree.exclude.is_empty() || tree.follow_symlinks {
        return Err(Failure::Usage(format!("--include, --exclude and -L apply to trees: use them with {command} -r")));
    }
    Ok(())
}

/// `storage completions SHELL`: the completion script on stdout.
fn completions(shell: Shell) -> CmdResult {
    use clap::CommandFactory;
    use clap_complete::Shell as S;
    let shell = match shell {
        Shell::Bash => S::Bash,
        Shell::Zsh => S::Zsh,
        Shell::Fish => S::Fish,
        Shell::Elvish => S::Elvish,
        Shell::Powershell => S::PowerShell,
    };
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "storage", &mut std::io::stdout());
    Ok(())
}
