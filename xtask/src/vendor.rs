//! `cargo xtask conformance --crate PATH`: the conformance suite of any driver crate, ours
//! or a vendor's, anywhere on disk.
//!
//! The crate proves its driver with `storage_conformance::conformance_tests!` (one
//! ordinary test per case). This command starts the emulators the crate asks for in its
//! `Cargo.toml`,
//!
//! ```toml
//! [package.metadata.storage-conformance]
//! emulators = ["apache-dav", "rclone-dav"]
//! ```
//!
//! runs `cargo test --tests` in the crate with their environment and with
//! `STORAGE_CONFORMANCE_RECORD` naming a record file, and builds the report (capability
//! table, every case, every skip reason) from the records the generated tests wrote,
//! rendered as text, JSON or JUnit like the built-in drivers' report. It fails when a case
//! failed, when the crate's tests failed outside the suite, or when no case ran.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::ci::{Metadata, Package};
use crate::emulators;

/// The `Cargo.toml` of the crate at `path` (a directory or the manifest itself).
fn manifest_of(path: &Path) -> Result<PathBuf, String> {
    let manifest = if path.is_dir() { path.join("Cargo.toml") } else { path.to_path_buf() };
    if !manifest.is_file() {
        return Err(format!("{} is not a crate: no Cargo.toml there", path.display()));
    }
    manifest.canonicalize().map_err(|e| format!("cannot resolve {}: {e}", manifest.display()))
}

/// The emulators the crate's metadata asks for, checked against the ones xtask knows.
fn wanted_emulators(package: &Package) -> Result<Vec<&'static str>, String> {
    let Some(list) =
        package.metadata.as_ref().and_then(|m| m.get("storage-conformance")).and_then(|m| m.get("emulators"))
    else {
        return Ok(Vec::new());
    };
    let names = list
        .as_array()
        .ok_or("[package.metadata.storage-conformance] emulators must be an array of names")?
        .iter()
        .map(|v| v.as_str().ok_or("[package.metadata.storage-conformance] emulators must be strings"))
        .collect::<Result<Vec<_>, _>>()?;
    names
        .into_iter()
        .map(|n| {
            emulators::ALL.iter().find(|e| e.name == n).map(|e| e.name).ok_or_else(|| {
                let known: Vec<&str> = emulators::ALL.iter().map(|e| e.name).collect();
                format!("{}: unknown emulator {n:?} in its metadata; xtask knows {}", package.name, known.join(", "))
            })
        })
        .collect()
}

/// Runs the crate's conformance tests and prints the report in `format`; an error when a
/// case failed, the crate's other tests failed, or no case ran.
pub fn run_crate(path: &Path, format: &str) -> Result<(), String> {
    let manifest = manifest_of(path)?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(&cargo)
        .args(["metadata", "--no-deps", "--format-version", "1", "--manifest-path"])
        .arg(&manifest)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo metadata failed for {} with {}", manifest.display(), out.status));
    }
    let meta: Metadata =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("cannot read cargo metadata's output: {e}"))?;
    let package = meta
        .packages
        .iter()
        .find(|p| p.manifest_path == manifest)
        .or(meta.packages.first())
        .ok_or_else(|| format!("{} holds no package", manifest.display()))?;
    let wanted = wanted_emulators(package)?;
    eprintln!(
        "xtask: conformance of crate {} ({}); emulators: {}",
        package.name,
        manifest.display(),
        if wanted.is_empty() { "none".to_owned() } else { wanted.join(", ") }
    );

    let records = tempfile::NamedTempFile::new().map_err(|e| format!("cannot create a record file: {e}"))?;
    let started = emulators::start_all(&wanted)?;
    let env = emulators::env_for(&wanted);
    let mut cmd = Command::new(&cargo);
    cmd.args(["test", "--tests", "--manifest-path"])
        .arg(&manifest)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env(storage_conformance::RECORD_ENV, records.path())
        // The test harness's own output goes to stderr: stdout carries the report only.
        .stdout(Stdio::from(std::io::stderr()));
    // A crate outside this workspace builds into its own target directory unless told
    // otherwise; reuse ours so the shared dependencies compile once.
    if std::env::var_os("CARGO_TARGET_DIR").is_none() {
        cmd.env("CARGO_TARGET_DIR", crate::paths::workspace_root().join("target"));
    }
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.status().map_err(|e| format!("cannot run cargo test: {e}"));
    for e in started {
        emulators::stop(e);
    }
    let status = status?;

    let text = std::fs::read_to_string(records.path()).map_err(|e| format!("cannot read the record file: {e}"))?;
    let report = storage_conformance::report_from_records(&text)?;
    if report.drivers.is_empty() {
        return Err(format!(
            "{}: no conformance case ran (cargo test {}). Does a test file invoke \
             storage_conformance::conformance_tests!, and does the crate depend on storage-conformance >= 1.1?",
            package.name, status
        ));
    }
    println!("{}", crate::conformance::render(&report, format));
    match (report.failed(), status.success()) {
        (0, true) => Ok(()),
        (0, false) => Err(format!(
            "{}: every conformance case passed or was skipped, but cargo test failed ({status}): see its output above",
            package.name
        )),
        (n, _) => Err(format!("{}: {n} conformance case(s) failed", package.name)),
    }
}

/// Copies the crate at `src` (without `target/`) into a fresh temporary directory outside
/// the repository, its relative path dependencies rewritten to absolute paths, as a
/// vendor's checkout elsewhere would depend on published crates. The directory is
/// removed when the returned guard drops.
pub fn copy_outside(src: &Path) -> Result<tempfile::TempDir, String> {
    let src = src.canonicalize().map_err(|e| format!("cannot resolve {}: {e}", src.display()))?;
    let dir = tempfile::Builder::new()
        .prefix("storage-vendor-crate-")
        .tempdir_in(std::env::temp_dir())
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    copy_tree(&src, dir.path())?;
    let manifest = dir.path().join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    std::fs::write(&manifest, absolute_path_dependencies(&text, &src)?)
        .map_err(|e| format!("cannot write {}: {e}", manifest.display()))?;
    Ok(dir)
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    for entry in std::fs::read_dir(from).map_err(|e| format!("cannot read {}: {e}", from.display()))? {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", from.display()))?;
        let (path, name) = (entry.path(), entry.file_name());
        let kind = entry.file_type().map_err(|e| format!("cannot stat {}: {e}", path.display()))?;
        if kind.is_dir() {
            if name != "target" {
                copy_tree(&path, &to.join(&name))?;
            }
        } else if kind.is_file() {
            std::fs::copy(&path, to.join(&name)).map_err(|e| format!("cannot copy {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// `text` (a Cargo.toml) with every relative `path = "..."` made absolute against `base`.
fn absolute_path_dependencies(text: &str, base: &Path) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    const KEY: &str = "path = \"";
    while let Some(at) = rest.find(KEY) {
        let (head, tail) = rest.split_at(at + KEY.len());
        out.push_str(head);
        let end = tail.find('"').ok_or("an unterminated path string in Cargo.toml")?;
        let value = &tail[..end];
        if Path::new(value).is_absolute() {
            out.push_str(value);
        } else {
            let abs = base.join(value);
            let abs = abs.canonicalize().map_err(|e| format!("path dependency {value:?}: {e}"))?;
            out.push_str(&abs.display().to_string());
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_path_dependencies_become_absolute() {
        let root = crate::paths::workspace_root();
        let base = root.join("xtask");
        let text = "[dependencies]\nstorage-core = { path = \"../crates/storage-core\", default-features = false }\n\
                    x = { path = \"/abs/x\" }\ny = \"1\"\n";
        let got = absolute_path_dependencies(text, &base).unwrap();
        let core = root.join("crates/storage-core").canonicalize().unwrap();
        assert!(got.contains(&format!("path = \"{}\", default-features", core.display())), "{got}");
        assert!(got.contains("path = \"/abs/x\"") && got.ends_with("y = \"1\"\n"), "{got}");
        assert!(absolute_path_dependencies("a = { path = \"../no/such/dir\" }", &base).is_err());
    }

    #[test]
    fn a_copy_outside_keeps_the_crate_without_its_target() {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("src")).unwrap();
        std::fs::create_dir_all(src.path().join("target/debug")).unwrap();
        std::fs::write(src.path().join("src/lib.rs"), "//! x\n").unwrap();
        std::fs::write(src.path().join("target/debug/junk"), "junk").unwrap();
        let dep = crate::paths::workspace_root().join("conformance");
        let manifest = format!("[package]\nname = \"v\"\n[dependencies]\nc = {{ path = \"{}\" }}\n", dep.display());
        std::fs::write(src.path().join("Cargo.toml"), manifest).unwrap();
        let copy = copy_outside(src.path()).unwrap();
        assert!(copy.path().join("src/lib.rs").is_file());
        assert!(!copy.path().join("target").exists());
        assert!(!copy.path().starts_with(crate::paths::workspace_root()));
    }
}
