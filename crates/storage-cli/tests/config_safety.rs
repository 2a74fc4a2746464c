//! End-to-end: the built `storage` binary refuses configurations and URLs that would
//! otherwise surprise (a misspelt option silently ignored, `~` taken literally, a
//! relative root following the working directory, a server taken for a container, a
//! symlink leading out of the local root). No server is needed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Runs the binary with `--config config` from `cwd`, with `HOME` set to `home` and no
/// `STORAGE_*`, `REDIS_*` or `AWS_*` variable that could change what it does.
fn run(config: &Path, cwd: &Path, home: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_storage"));
    c.arg("--config").arg(config).args(args).current_dir(cwd).env("HOME", home);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("STORAGE_") || k.starts_with("REDIS_") || k.starts_with("AWS_") {
            c.env_remove(k);
        }
    }
    c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    c.output().unwrap()
}

fn ok(out: &Output, what: &str) {
    assert!(out.status.success(), "{what} failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn failed(out: &Output, what: &str) -> String {
    assert!(!out.status.success(), "{what} succeeded: {}", String::from_utf8_lossy(&out.stdout));
    assert_ne!(out.status.code(), Some(0), "{what}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every path under `dir`, relative, sorted (symlinks not followed).
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            if p.is_dir() && !p.is_symlink() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Self {
        let s = Scratch { dir: tempfile::tempdir().unwrap() };
        std::fs::create_dir_all(s.home()).unwrap();
        std::fs::create_dir_all(s.path("cwd")).unwrap();
        std::fs::write(s.input(), "payload").unwrap();
        s
    }
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    fn home(&self) -> PathBuf {
        self.path("home")
    }
    fn input(&self) -> PathBuf {
        self.path("in.txt")
    }
    fn config(&self, at: &str, text: &str) -> PathBuf {
        let p = self.path(at);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
    fn run(&self, config: &Path, args: &[&str]) -> Output {
        run(config, &self.path("cwd"), &self.home(), args)
    }
}

#[test]
fn a_misspelt_option_fails_naming_it_and_the_closest_one_and_writes_nothing() {
    let s = Scratch::new();
    let store = s.path("store");
    let text = format!(
        "default = \"local\"\n[local]\nroot = \"{}\"\nfsnyc = false\n[moto]\ndriver = \"s3\"\nendpiont = \
         \"http://127.0.0.1:1\"\naccess_key_id = \"AKID\"\nsecret_access_key = \"hunter2\"\n",
        store.display()
    );
    let config = s.config("storage.toml", &text);
    let before = tree(s.dir.path());
    let input = s.input();
    let input = input.to_str().unwrap();

    let err = failed(&s.run(&config, &["cp", input, "moto://bucket/k"]), "cp to moto");
    assert!(err.contains("unknown option \"endpiont\" for driver s3"), "{err}");
    assert!(err.contains("did you mean \"endpoint\"?"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let err = failed(&s.run(&config, &["ls", "moto://bucket"]), "ls moto");
    assert!(err.contains("endpiont"), "{err}");

    for args in [&["mb", "local://c"][..], &["cp", input, "local://c/k"], &["ls"]] {
        let err = failed(&s.run(&config, args), &format!("{args:?}"));
        assert!(err.contains("unknown option \"fsnyc\" for driver local; did you mean \"fsync\"?"), "{err}");
    }
    assert!(!store.exists(), "the local root was not created");
    assert_eq!(tree(s.dir.path()), before, "nothing was written anywhere");
}

#[test]
fn a_root_starting_with_a_tilde_is_under_home() {
    let s = Scratch::new();
    let config = s.config("storage.toml", "[local]\nroot = \"~/x\"\n");
    ok(&s.run(&config, &["mb", "local://c"]), "mb");
    ok(&s.run(&config, &["cp", s.input().to_str().unwrap(), "local://c/k"]), "cp");
    assert_eq!(std::fs::read_to_string(s.home().join("x").join("c").join("k")).unwrap(), "payload");
    let out = s.run(&config, &["cat", "local://c/k"]);
    ok(&out, "cat");
    assert_eq!(out.stdout, b"payload");
    assert!(!s.path("cwd/~").exists() && !s.path("~").exists(), "no literal ~ directory");
}

#[test]
fn a_relative_root_is_beside_the_config_file_whatever_the_working_directory() {
    let s = Scratch::new();
    let config = s.config("conf/storage.toml", "[local]\nroot = \"data\"\n");
    ok(&s.run(&config, &["mb", "local://c"]), "mb");
    ok(&s.run(&config, &["cp", s.input().to_str().unwrap(), "local://c/k"]), "cp");
    assert_eq!(std::fs::read_to_string(s.path("conf/data/c/k")).unwrap(), "payload");
    assert!(!s.path("cwd/data").exists(), "nothing under the working directory");
    // A config named relative to the working directory resolves the same way.
    let out = run(Path::new("conf/storage.toml"), s.dir.path(), &s.home(), &["cat", "local://c/k"]);
    ok(&out, "cat");
    assert_eq!(out.stdout, b"payload");
}

#[test]
fn a_server_address_is_never_taken_for_a_container() {
    let s = Scratch::new();
    let store = s.path("store");
    let config = s.config("storage.toml", &format!("[local]\nroot = \"{}\"\n", store.display()));
    let input = s.input();
    for args in [
        &["cp", input.to_str().unwrap(), "redis://localhost:6379/k"][..],
        &["cat", "redis://localhost:6379/k"],
        &["ls", "redis://127.0.0.1:6379/"],
        &["cp", input.to_str().unwrap(), "redis://user:hunter2@localhost:6379/k"],
    ] {
        let err = failed(&s.run(&config, args), &format!("{args:?}"));
        assert!(err.contains("server address"), "{args:?}: {err}");
        assert!(err.contains("REDIS_URL") && err.contains("redis://CONTAINER/KEY"), "{args:?}: {err}");
        assert!(!err.contains("hunter2"), "{args:?}: {err}");
    }
    assert!(!store.exists());
}

#[cfg(unix)]
#[test]
fn a_container_symlinked_out_of_the_root_is_refused() {
    let s = Scratch::new();
    let store = s.path("store");
    let outside = s.path("outside");
    std::fs::create_dir_all(&store).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret"), "secret").unwrap();
    std::os::unix::fs::symlink(&outside, store.join("evil")).unwrap();
    let config = s.config("storage.toml", &format!("[local]\nroot = \"{}\"\n", store.display()));
    let before = tree(&outside);
    let input = s.input();
    let input = input.to_str().unwrap();

    for dest in ["local://evil/secret", "local://evil/new", "local://evil/"] {
        let err = failed(&s.run(&config, &["cp", input, dest]), &format!("cp to {dest}"));
        assert!(err.contains("PermissionDenied") && err.contains("symbolic link"), "{dest}: {err}");
        assert!(!err.contains("grant the credentials"), "{dest}: {err}");
    }
    let out = s.run(&config, &["cat", "local://evil/secret"]);
    let err = failed(&out, "cat");
    assert!(err.contains("symbolic link") && out.stdout.is_empty(), "{err}");
    let err = failed(&s.run(&config, &["rm", "local://evil/secret"]), "rm");
    assert!(err.contains("symbolic link"), "{err}");
    let err = failed(&s.run(&config, &["ls", "local://evil/"]), "ls");
    assert!(err.contains("symbolic link"), "{err}");

    assert_eq!(tree(&outside), before, "the outside directory is untouched");
    assert_eq!(std::fs::read_to_string(outside.join("secret")).unwrap(), "secret");
}
