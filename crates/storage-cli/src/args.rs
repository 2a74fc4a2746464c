//! Command line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// One command line tool for every object store.
#[derive(Debug, Parser)]
#[command(name = "storage", version, about, max_term_width = 100)]
pub struct Cli {
    /// Show progress bars (bytes, rate, ETA) on stderr for transfers.
    #[arg(short = 'P', long, global = true)]
    pub progress: bool,
    /// Transfers (objects or parts) in flight at once.
    #[arg(short = 'j', long, global = true, default_value_t = 8, value_name = "N")]
    pub transfers: usize,
    /// Only paths matching this glob (repeatable; relative to the tree root).
    #[arg(long, global = true, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Skip paths matching this glob (repeatable; wins over --include).
    #[arg(long, global = true, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Print nothing but errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Say more (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Configuration file (default: $STORAGE_CONFIG, ./storage.toml, ~/.config/storage/config.toml).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Machine-readable output: one JSON object per line.
    #[arg(long, global = true)]
    pub json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List containers (no URL, or `scheme://`), or the objects under a URL.
    #[command(disable_help_flag = true)]
    Ls {
        /// `scheme://container/prefix`; omitted: the default backend's containers.
        url: Option<String>,
        /// Long listing: size, modification time, content type.
        #[arg(short, long)]
        long: bool,
        /// Recursive: every key under the prefix, not just one level.
        #[arg(short, long)]
        recursive: bool,
        /// Human-readable sizes (as in `ls -h`; help is `--help`).
        #[arg(short = 'h', long)]
        human: bool,
        /// Print help.
        #[arg(long, action = clap::ArgAction::Help)]
        help: Option<bool>,
    },
    /// Copy files and objects: local <-> remote, remote <-> remote, `-` for stdin/stdout.
    Cp {
        /// Source: a path, `-`, or a URL.
        src: String,
        /// Destination: a path, `-`, or a URL (ending in `/` means "into").
        dst: String,
        /// Copy a whole tree.
        #[arg(short, long)]
        recursive: bool,
    },
    /// Move: copy, then delete the source.
    Mv {
        /// Source.
        src: String,
        /// Destination.
        dst: String,
        /// Move a whole tree.
        #[arg(short, long)]
        recursive: bool,
    },
    /// Delete an object, or everything under a prefix with -r.
    Rm {
        /// `scheme://container/key`.
        url: String,
        /// Delete everything under the prefix.
        #[arg(short, long)]
        recursive: bool,
    },
    /// Write an object (or a byte range of it) to stdout.
    Cat {
        /// `scheme://container/key`.
        url: String,
        /// First byte.
        #[arg(long, value_name = "N")]
        offset: Option<u64>,
        /// Number of bytes.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
    },
    /// Show an object's metadata.
    Stat {
        /// `scheme://container/key`.
        url: String,
    },
    /// Make a container.
    Mb {
        /// `scheme://container`.
        url: String,
    },
    /// Remove a container (must be empty unless --force).
    Rb {
        /// `scheme://container`.
        url: String,
        /// Delete its objects first.
        #[arg(long)]
        force: bool,
    },
    /// Make DST hold what SRC holds (new or changed files copied).
    Sync {
        /// Source tree.
        src: String,
        /// Destination tree.
        dst: String,
        /// Also delete destination files that SRC does not have.
        #[arg(long)]
        delete: bool,
        /// Say what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print a presigned URL.
    Presign {
        /// `scheme://container/key`.
        url: String,
        /// Lifetime in seconds (or with a unit: 30m, 12h, 7d).
        #[arg(long, default_value = "3600", value_name = "DURATION")]
        expires_in: String,
        /// What the URL allows.
        #[arg(long, value_enum, default_value_t = Method::Get)]
        method: Method,
    },
    /// Space used under a URL.
    #[command(disable_help_flag = true)]
    Du {
        /// `scheme://container/prefix`.
        url: String,
        /// Only the total.
        #[arg(short, long)]
        summarize: bool,
        /// Human-readable sizes (as in `du -h`; help is `--help`).
        #[arg(short = 'h', long)]
        human: bool,
        /// Print help.
        #[arg(long, action = clap::ArgAction::Help)]
        help: Option<bool>,
    },
    /// Compare two trees by size and hash; exit 1 if they differ.
    Check {
        /// One tree.
        src: String,
        /// The other.
        dst: String,
    },
    /// Read ZIP archives in place (only the bytes needed are fetched).
    Zip {
        /// What to do.
        #[command(subcommand)]
        command: ZipCommand,
    },
    /// One level under a URL, ordered, with per-prefix sizes.
    Listdir {
        /// `scheme://container/prefix`.
        url: String,
        /// Sort key.
        #[arg(long, value_enum, default_value_t = Order::Name)]
        order_by: Order,
        /// Descending order.
        #[arg(long)]
        desc: bool,
        /// At most N entries.
        #[arg(long, value_name = "N")]
        max: Option<usize>,
    },
}

/// `storage zip ...`.
#[derive(Debug, Subcommand)]
pub enum ZipCommand {
    /// List an archive's members.
    Ls {
        /// The archive's URL.
        url: String,
    },
    /// Extract a member (a folder extracts recursively).
    Get {
        /// The archive's URL.
        url: String,
        /// Member name (or folder).
        member: String,
        /// Where to write (a file, or a directory for folders; `-` for stdout).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

/// Presigned URL methods.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Method {
    /// Download.
    Get,
    /// Upload.
    Put,
    /// Delete.
    Delete,
}

/// listdir sort keys.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Order {
    /// By name.
    Name,
    /// By size.
    Size,
    /// By modification time.
    Time,
}
