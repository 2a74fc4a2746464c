//! Logs on stderr: `-v` (warnings), `-vv` (information), `-vvv` (debug: every request),
//! `-vvvv` (trace), or any filter in `STORAGE_LOG`. Stdout carries data only.

use tracing_subscriber::EnvFilter;

/// The environment variable holding a log filter (`debug`, `storage_http=trace,warn`...).
pub const ENV: &str = "STORAGE_LOG";

/// The filter for `-v` repeated `verbose` times: the storage crates (every target
/// starting with `storage`: the CLI, the facade, the drivers, the HTTP engine, drivers of
/// other vendors named `storage_*`) at warn, info, debug, then trace; errors only
/// without `-v`. Other crates stay silent (use `STORAGE_LOG` for them).
pub fn directive(verbose: u8) -> &'static str {
    match verbose {
        0 => "storage=error",
        1 => "storage=warn",
        2 => "storage=info",
        3 => "storage=debug",
        _ => "storage=trace",
    }
}

/// Installs the subscriber writing to stderr: `STORAGE_LOG` when set and not empty
/// (it replaces `-v`), else the filter of `-v`. A `STORAGE_LOG` that does not parse is
/// returned as a usage error.
pub fn init(verbose: u8) -> Result<(), String> {
    let filter = match std::env::var(ENV) {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::builder().parse(spec.trim()).map_err(|e| {
            format!("{ENV}={spec:?} is not a log filter ({e}); e.g. {ENV}=debug or {ENV}=storage_http=trace")
        })?,
        _ => EnvFilter::new(directive(verbose)),
    };
    // Another subscriber (a program embedding main_with) keeps its own.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    Ok(())
}
