//! `storage`: one command line tool for every object store.
//!
//! Exit codes: 0 success, 1 the operation failed (or `check` found differences),
//! 2 usage error. Errors print one line: the error kind, what happened and what to do.

mod args;
mod commands;
mod location;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;

/// Why a command failed, and with which exit code.
#[derive(Debug)]
pub enum Failure {
    /// The operation failed (exit 1).
    Storage(storage::Error),
    /// The command line is wrong in a way clap cannot see (exit 2).
    Usage(String),
    /// A check found differences, already reported (exit 1).
    Differs,
}

impl From<storage::Error> for Failure {
    fn from(e: storage::Error) -> Self {
        Failure::Storage(e)
    }
}

/// Result of a command.
pub type CmdResult = Result<(), Failure>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("storage: error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Storage(e)) => {
            eprintln!("storage: error: {e}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(msg)) => {
            eprintln!("storage: usage error: {msg}; see `storage --help`");
            ExitCode::from(2)
        }
        Err(Failure::Differs) => ExitCode::from(1),
    }
}
