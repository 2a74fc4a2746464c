//! `storage`: one command line tool for every object store (see the `storage_cli`
//! library for the exit codes and for shipping it with more drivers).

fn main() -> std::process::ExitCode {
    storage_cli::main_with(storage::registry())
}
