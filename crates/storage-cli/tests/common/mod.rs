//! What the end-to-end tests share: a scratch directory with a configuration naming every
//! backend `cargo xtask test` starts, and a runner for the built `storage` binary.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

pub use storage_testkit::{env, read_tree, write_file as write};

/// A scratch directory with a config naming every backend.
pub struct World {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl World {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        let config = dir.path().join("storage.toml");
        let text = storage_testkit::backends_toml(&root, &format!("cli-e2e-{}", std::process::id()));
        std::fs::write(&config, text).unwrap();
        World { dir, config }
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, None)
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_storage"));
        c.arg("--config").arg(&self.config).args(args).current_dir(self.dir.path());
        c.env_remove("STORAGE_LOCAL_ROOT").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        if let Some(input) = stdin {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(input).unwrap();
        } else {
            drop(child.stdin.take());
        }
        child.wait_with_output().unwrap()
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "storage {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
}

/// Every backend of the configuration.
pub const REMOTES: &[&str] = &["local", "moto", "s3sfs", "redis", "cluster", "azure", "gcs"];

/// A container name unique to this test process.
pub fn bucket(remote: &str) -> String {
    format!("cli-{remote}-{}", std::process::id())
}

impl World {
    /// Runs and asserts the exit code; returns (stdout, stderr).
    pub fn code(&self, args: &[&str], code: i32) -> (String, String) {
        let out = self.run(args);
        let (stdout, stderr) =
            (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
        assert_eq!(out.status.code(), Some(code), "storage {args:?}: stdout {stdout} stderr {stderr}");
        (stdout, stderr)
    }

    /// The path as a string.
    pub fn p(&self, rel: &str) -> String {
        self.path(rel).to_str().unwrap().to_owned()
    }

    /// A command for the binary with this world's config, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_storage"));
        c.arg("--config").arg(&self.config).args(args).current_dir(self.dir.path());
        c.env_remove("STORAGE_LOCAL_ROOT");
        c
    }
}
