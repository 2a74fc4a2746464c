//! Command line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Shown after `storage --help`: URL forms, configuration, an example, exit codes.
const AFTER_HELP: &str = "\
Locations:
  ./path, /abs/path, file:///abs/path   a local file or directory
  -                                     stdin or stdout (cp, mv)
  SCHEME://CONTAINER/KEY                an object (a key ending in / is a prefix)
  SCHEME://CONTAINER                    a whole container
  SCHEME is a driver (local, s3, az, gs, redis, memory) or a [section] of the configuration file.

Configuration (the first found): --config PATH, $STORAGE_CONFIG, ./storage.toml,
~/.config/storage/config.toml. Example:
  default = \"local\"
  [local]
  root = \"~/storage\"          # ~ and paths relative to this file are resolved
  [prod]
  driver = \"s3\"
  endpoint = \"https://s3.eu-west-1.amazonaws.com\"
  region = \"eu-west-1\"
Values may be overridden by STORAGE_<SECTION>_<KEY> (e.g. STORAGE_PROD_REGION).

Examples:
  storage mb local://photos
  storage cp -r ./pictures local://photos/2026/
  storage sync --delete ./site prod://www-bucket/
  storage check ./site prod://www-bucket/

Logs go to stderr (stdout carries data only): -v warnings, -vv retries, -vvv each
driver call and HTTP request, -vvvv trace; or a filter in STORAGE_LOG (e.g.
STORAGE_LOG=debug, STORAGE_LOG=storage_http=trace,warn). Secrets, signatures and
session tokens never appear in them.

Exit codes: 0 success; 1 failure (or differences found by check); 2 usage or
configuration error; 3 not found (object, container or local file); 130 interrupted.
Shell completions: storage completions bash|zsh|fish|elvish|powershell";

/// One command line tool for every object store.
#[derive(Debug, Parser)]
#[command(name = "storage", version, about, max_term_width = 100, after_help = AFTER_HELP)]
pub struct Cli {
    /// Show progress on stderr for transfers (a bar on a terminal, a line every few
    /// seconds otherwise).
    #[arg(short = 'P', long, global = true)]
    pub progress: bool,
    /// Transfers in flight at once: objects of a tree, or parts and ranges of one large
    /// object. Memory is bounded by one budget shared by all of them.
    #[arg(short = 'j', long, visible_alias = "concurrency", global = true, default_value_t = 8, value_name = "N")]
    pub transfers: usize,
    /// Part size of multipart uploads and of ranged downloads (e.g. 64MiB, 5M, 1048576;
    /// K, M, G are powers of 1024): an object larger than one part is sent in parts.
    /// Raised to the destination's minimum (5 MiB on S3). Default 8 MiB, one request up
    /// to 16 MiB.
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_size)]
    pub part_size: Option<u64>,
    /// Write settings of uploads (cp, mv, sync to a remote).
    #[command(flatten)]
    pub write: WriteFlags,
    /// Print nothing but errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Say more: name each file a tree command copies or deletes, and log on stderr:
    /// -v warnings, -vv retries, -vvv every driver call and HTTP request (method, URL
    /// without signatures, status, time), -vvvv trace. STORAGE_LOG=FILTER replaces the
    /// log level (e.g. debug, storage_http=trace).
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

/// Settings of the objects an upload writes (Libcloud's `extra`): applied where the
/// destination backend supports them, refused otherwise (never dropped).
#[derive(Debug, Clone, Default, Args)]
pub struct WriteFlags {
    /// Content type of uploaded objects (default: guessed from the file name).
    #[arg(long, global = true, value_name = "TYPE")]
    pub content_type: Option<String>,
    /// Canned ACL (`private`, `public-read`, ...; S3 and GCS).
    #[arg(long, global = true, value_name = "ACL")]
    pub acl: Option<String>,
    /// Storage class or access tier (`STANDARD_IA`, `Cool`, `NEARLINE`, ...).
    #[arg(long, global = true, value_name = "CLASS")]
    pub storage_class: Option<String>,
    /// Server-side encryption: `managed`, `kms`, `kms:KEY` or `scope:NAME` (Azure).
    #[arg(long, global = true, value_name = "SSE", value_parser = parse_sse)]
    pub sse: Option<storage::Encryption>,
    /// An object tag (repeatable; S3 tagging, Azure index tags).
    #[arg(long = "tag", global = true, value_name = "KEY=VALUE", value_parser = parse_tag)]
    pub tags: Vec<(String, String)>,
    /// A provider header sent with each write (repeatable).
    #[arg(long = "header", global = true, value_name = "NAME:VALUE", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
}

impl WriteFlags {
    /// Whether any write setting was given.
    pub fn any(&self) -> bool {
        self.content_type.is_some()
            || self.acl.is_some()
            || self.storage_class.is_some()
            || self.sse.is_some()
            || !self.tags.is_empty()
            || !self.headers.is_empty()
    }

    /// Puts the settings into `put` (a given content type replaces the guessed one).
    pub fn apply(&self, put: &mut storage::PutOptions) {
        if let Some(ct) = &self.content_type {
            put.content_type = Some(ct.clone());
        }
        put.acl.clone_from(&self.acl);
        put.storage_class.clone_from(&self.storage_class);
        put.encryption.clone_from(&self.sse);
        put.tags.extend(self.tags.iter().cloned());
        put.headers.extend(self.headers.iter().cloned());
    }
}

/// `managed`, `kms`, `kms:KEY`, `scope:NAME`.
pub fn parse_sse(s: &str) -> Result<storage::Encryption, String> {
    let (kind, arg) = s.split_once(':').map_or((s, None), |(k, a)| (k, Some(a)));
    match (kind.to_ascii_lowercase().as_str(), arg) {
        ("managed" | "aes256", None) => Ok(storage::Encryption::Managed),
        ("kms" | "aws:kms", key) => {
            Ok(storage::Encryption::Kms { key_id: key.filter(|k| !k.is_empty()).map(str::to_owned) })
        }
        ("scope", Some(name)) if !name.is_empty() => Ok(storage::Encryption::Scope(name.to_owned())),
        _ => Err(format!("{s:?} is not managed, kms, kms:KEY or scope:NAME")),
    }
}

/// `KEY=VALUE`.
pub fn parse_tag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

/// `NAME:VALUE`.
pub fn parse_header(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((n, v)) if !n.trim().is_empty() => Ok((n.trim().to_owned(), v.trim().to_owned())),
        _ => Err(format!("{s:?} is not NAME:VALUE")),
    }
}

/// Options of the commands that walk trees.
#[derive(Debug, Clone, Default, Args)]
pub struct TreeFlags {
    /// Only paths matching this glob (repeatable; relative to the tree root; gitignore
    /// style: `*.txt`, `logs/**`, `build/`).
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Skip paths matching this glob (repeatable; wins over --include; a pattern ending
    /// in `/` matches directories: `--exclude '*/'` keeps only the top level).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Follow symbolic links in local trees (without it each one is skipped with a
    /// warning, and `check` counts it as a difference).
    #[arg(short = 'L', long)]
    pub follow_symlinks: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List containers (no URL, or `scheme://`), or the objects under a URL.
    #[command(disable_help_flag = true)]
    Ls {
        /// `scheme://container/prefix`; omitted: the default backend's containers.
        url: Option<String>,
        /// Long listing: size, modification time, key (content type with --json or stat).
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
    /// Refuses to copy a file or tree onto itself.
    Cp {
        /// Source: a path, `-`, or a URL.
        src: String,
        /// Destination: a path, `-`, or a URL (ending in `/` means "into").
        dst: String,
        /// Copy a whole tree.
        #[arg(short, long)]
        recursive: bool,
        /// Create the destination container if it does not exist (otherwise a missing
        /// container is an error).
        #[arg(long)]
        create_container: bool,
        /// Download one object into the local directory DST (created if missing),
        /// extracting `.zip`, `.gz`, `.tar` and `.tar.gz`/`.tgz` archives on the way down:
        /// all or nothing, hostile archives (`..` or absolute names, links, devices,
        /// bombs) refused. Another object is saved as it is.
        #[arg(long, conflicts_with = "recursive")]
        decompress: bool,
        /// Copy this version of the source object (`stat` shows an object's version: an S3
        /// version id, a GCS generation...) to a file, `-` or any storage URL, its own key
        /// included (restoring it); refused where the backend does not read it.
        #[arg(long = "version-id", value_name = "ID", conflicts_with_all = ["recursive", "decompress"])]
        version_id: Option<String>,
        /// Tree options (with -r).
        #[command(flatten)]
        tree: TreeFlags,
    },
    /// Move: copy, verify, then delete the source. Refuses to move a file or tree onto itself.
    Mv {
        /// Source.
        src: String,
        /// Destination.
        dst: String,
        /// Move a whole tree.
        #[arg(short, long)]
        recursive: bool,
        /// Create the destination container if it does not exist.
        #[arg(long)]
        create_container: bool,
        /// Tree options (with -r).
        #[command(flatten)]
        tree: TreeFlags,
    },
    /// Delete an object, or everything under a prefix with -r.
    Rm {
        /// `scheme://container/key`.
        url: String,
        /// Delete everything under the prefix.
        #[arg(short, long)]
        recursive: bool,
        /// Only paths matching this glob (with -r; repeatable).
        #[arg(long, value_name = "GLOB")]
        include: Vec<String>,
        /// Skip paths matching this glob (with -r; repeatable).
        #[arg(long, value_name = "GLOB")]
        exclude: Vec<String>,
    },
    /// Write an object (or a byte range of it) to stdout.
    Cat {
        /// `scheme://container/key`, or a file inside a ZIP archive
        /// (`scheme://container/out.zip/logs/a.txt`; an object with that exact key wins).
        url: String,
        /// First byte (the object's size gives nothing).
        #[arg(long, value_name = "N", conflicts_with = "tail")]
        offset: Option<u64>,
        /// Number of bytes.
        #[arg(long, value_name = "N", conflicts_with = "tail")]
        count: Option<u64>,
        /// The last N bytes.
        #[arg(long, value_name = "N")]
        tail: Option<u64>,
        /// Read this version of the object (`stat` shows an object's version: an S3
        /// version id, a GCS generation...); refused where the backend does not read it.
        #[arg(long = "version-id", value_name = "ID")]
        version_id: Option<String>,
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
        /// `scheme://container` (no key: to delete a prefix use `rm -r`).
        url: String,
        /// Delete its objects first.
        #[arg(long)]
        force: bool,
    },
    /// Make DST hold what SRC holds (new or changed files copied). SRC must exist; with
    /// --delete, nothing is deleted if any copy failed, and an empty SRC needs
    /// --allow-empty-source.
    Sync {
        /// Source tree.
        src: String,
        /// Destination tree.
        dst: String,
        /// Also delete destination files that SRC does not have.
        #[arg(long)]
        delete: bool,
        /// With --delete: accept an empty source, deleting everything under DST.
        #[arg(long)]
        allow_empty_source: bool,
        /// Say what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Create the destination container if it does not exist.
        #[arg(long)]
        create_container: bool,
        /// How files are compared.
        #[command(flatten)]
        compare: CompareFlags,
        /// Tree options.
        #[command(flatten)]
        tree: TreeFlags,
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
    /// Space used under a URL, or in every container of a backend (no URL, or `scheme://`).
    #[command(disable_help_flag = true)]
    Du {
        /// `scheme://container/prefix`; `scheme://`: every container of that backend;
        /// omitted: every container of the default backend.
        url: Option<String>,
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
        /// Compare sizes only (no hashes).
        #[arg(long)]
        size_only: bool,
        /// Tree options.
        #[command(flatten)]
        tree: TreeFlags,
    },
    /// Find and remove what interrupted uploads left behind (unfinished multipart uploads,
    /// staged data of killed writers), which ls, du and rm -r never see.
    Cleanup {
        /// `scheme://container[/prefix]`, or a local directory (for the temporary files
        /// of killed downloads and copies).
        url: String,
        /// Only remove leftovers at least this old (seconds, or 30m, 12h, 7d; 0: all,
        /// including those of unknown age). Younger ones may belong to uploads still running.
        #[arg(long, default_value = "24h", value_name = "DURATION")]
        older_than: String,
        /// List what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print a shell completion script (e.g. `storage completions bash > ~/.local/share/bash-completion/completions/storage`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Read ZIP archives in place (only the bytes needed are fetched).
    Zip {
        /// What to do.
        #[command(subcommand)]
        command: ZipCommand,
    },
    /// One level under a URL, ordered, as a table with a header row, human sizes and UTC
    /// times (one JSON object per entry with --json); a backend's containers with no URL
    /// or `scheme://`.
    Listdir {
        /// `scheme://container/prefix`; `scheme://`: the backend's containers; omitted: the
        /// default backend's containers.
        url: Option<String>,
        /// Sort key.
        #[arg(long, value_enum, default_value_t = Order::Name)]
        order_by: Order,
        /// Descending order.
        #[arg(long)]
        desc: bool,
        /// At most N entries.
        #[arg(long, value_name = "N")]
        max: Option<usize>,
        /// Leave sub-folders and containers unsized (sizing lists every object under each
        /// one); they show `-`.
        #[arg(long)]
        no_sizes: bool,
    },
}

/// How `sync` decides a file needs copying.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct CompareFlags {
    /// Same size means unchanged (fastest; misses same-size edits).
    #[arg(long, conflicts_with = "checksum")]
    pub size_only: bool,
    /// Compare sizes and content hashes, reading files whose hash is not known (slowest, surest).
    #[arg(long)]
    pub checksum: bool,
}

/// A size in bytes: digits, then optionally K, M, G, T (powers of 1024, with or without
/// `iB`/`B`; `kB`, `MB`... are powers of 1000).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("{s:?} is not a size (e.g. 64MiB, 5M, 1048576)"))?;
    let factor: u64 = match unit.trim() {
        "" | "B" | "b" => 1,
        "K" | "k" | "KiB" | "Ki" => 1 << 10,
        "M" | "m" | "MiB" | "Mi" => 1 << 20,
        "G" | "g" | "GiB" | "Gi" => 1 << 30,
        "T" | "t" | "TiB" | "Ti" => 1 << 40,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        other => return Err(format!("{other:?} is not a size unit (use K, M, G, T, KiB, MiB, GiB, MB...)")),
    };
    match n.checked_mul(factor) {
        Some(0) => Err("the size must be at least 1 byte".into()),
        Some(v) => Ok(v),
        None => Err(format!("{s:?} is too large")),
    }
}

/// Shells for `storage completions`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    /// Bash.
    Bash,
    /// Zsh.
    Zsh,
    /// Fish.
    Fish,
    /// Elvish.
    Elvish,
    /// PowerShell.
    Powershell,
}

/// `storage zip ...`.
#[derive(Debug, Subcommand)]
pub enum ZipCommand {
    /// List an archive's members: the top level of the archive (or of `--path`), or every
    /// member under it with `-r`; with --json one object per member carrying
    /// `range_start`/`range_end` (its compressed bytes, end exclusive).
    Ls {
        /// The archive's URL, or a folder inside it (`s3://b/out.zip/logs/`).
        url: String,
        /// A folder (or one file) inside the archive to list.
        #[arg(long, value_name = "INSIDE")]
        path: Option<String>,
        /// Every member under the folder, at any depth.
        #[arg(short, long)]
        recursive: bool,
    },
    /// Print where a member's compressed bytes lie in the archive: `START END` (END
    /// exclusive; HTTP `Range: bytes=START-(END-1)`), the method and sizes.
    Range {
        /// The archive's URL, or the member's path through it (`s3://b/out.zip/logs/a.txt`).
        url: String,
        /// The member's name (when the URL names the archive).
        member: Option<String>,
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
