//! `storage`: one command line tool for every object store, as a library.
//!
//! The `storage` binary is [`main_with`] over the facade's built-in drivers. A vendor
//! who publishes a driver ships the same command line with its driver added, in a few
//! lines:
//!
//! ```no_run
//! use std::process::ExitCode;
//!
//! fn main() -> ExitCode {
//!     let mut registry = storage::registry(); // every built-in backend enabled here
//!     // registry.register(std::sync::Arc::new(my_driver::MyFactory)); // plus yours
//!     storage_cli::main_with(registry)
//! }
//! ```
//!
//! Exit codes (also in `storage --help`): 0 success; 1 the operation failed (or `check`
//! found differences); 2 usage or configuration error (a bad flag, URL, scheme, duration
//! or config file); 3 what was named does not exist (object, container, local file);
//! 130 interrupted (Ctrl-C, SIGTERM), after aborting what was in flight. Errors print one
//! line: the error kind, what happened and what to do.

mod args;
mod commands;
mod location;
mod logging;
mod output;
mod progress;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use crate::args::Cli;

/// Why a command failed, and with which exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The operation failed (exit 1, or 3 when something named does not exist).
    Storage(storage::Error),
    /// A configuration or URL mistake (exit 2).
    Config(storage::Error),
    /// The command line is wrong in a way clap cannot see (exit 2).
    Usage(String),
    /// A check found differences, or some items failed; already reported (exit 1).
    Differs,
}

impl From<storage::Error> for Failure {
    fn from(e: storage::Error) -> Self {
        Failure::Storage(e)
    }
}

/// Result of a command.
pub(crate) type CmdResult = Result<(), Failure>;

/// Exit code: something named does not exist.
const EXIT_NOT_FOUND: u8 = 3;
/// Exit code: interrupted by a signal (128 + SIGINT, as shells report it).
const EXIT_INTERRUPTED: u8 = 130;

/// Resolves on SIGINT or SIGTERM (Ctrl-C alone where there are no Unix signals).
async fn interrupted() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
            (Ok(mut int), Ok(mut term)) => tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "Ctrl-C",
            Err(_) => std::future::pending().await,
        }
    }
}

/// The whole `storage` program (arguments from the process, output to stdout / stderr)
/// with the drivers of `registry`: URLs with any scheme a registered factory claims work
/// in every command. Returns the exit code documented above.
pub fn main_with(mut registry: storage::Registry) -> ExitCode {
    let cli = Cli::parse();
    if let Err(msg) = logging::init(cli.verbose) {
        eprintln!("storage: usage error: {msg}");
        return ExitCode::from(2);
    }
    // One span and event per driver call (operation, container, key, duration, outcome)
    // under the HTTP requests it makes; silent unless logs are on.
    registry.wrap_drivers(Arc::new(|driver| Arc::new(storage::layers::TracingLayer::new(driver))));
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("storage: error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(async {
        tokio::select! {
            result = commands::run(cli, registry) => Ok(result),
            signal = interrupted() => Err(signal),
        }
    });
    let result = match outcome {
        Ok(result) => result,
        Err(signal) => {
            // The command's future is dropped by now: downloads removed their temporary
            // files, local copies theirs, and each unfinished multipart upload has an
            // abort running. Wait for those (a second signal stops waiting).
            let cleanup = runtime.block_on(async {
                tokio::select! {
                    c = storage::finish_cancelled_aborts(Duration::from_secs(30)) => c,
                    _ = interrupted() => storage::cancelled_aborts(),
                }
            });
            let mut line = format!("storage: interrupted by {signal}");
            if cleanup.aborted > 0 {
                line.push_str(&format!("; aborted {} unfinished upload(s)", cleanup.aborted));
            }
            if cleanup.failed + cleanup.running as u64 > 0 {
                line.push_str(&format!(
                    "; {} upload(s) could not be aborted: remove them with `storage cleanup URL`",
                    cleanup.failed + cleanup.running as u64
                ));
            }
            eprintln!("{line}");
            // Blocking file tasks were told to stop; do not wait long for them.
            runtime.shutdown_timeout(Duration::from_secs(2));
            return ExitCode::from(EXIT_INTERRUPTED);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Storage(e)) => {
            eprintln!("storage: error: {e}");
            let not_found =
                matches!(e.kind(), storage::ErrorKind::ObjectDoesNotExist | storage::ErrorKind::ContainerDoesNotExist);
            ExitCode::from(if not_found { EXIT_NOT_FOUND } else { 1 })
        }
        Err(Failure::Config(e)) => {
            eprintln!("storage: error: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Usage(msg)) => {
            eprintln!("storage: usage error: {msg}; see `storage --help`");
            ExitCode::from(2)
        }
        Err(Failure::Differs) => ExitCode::from(1),
    }
}
