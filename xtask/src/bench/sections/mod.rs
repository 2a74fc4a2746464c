//! The four sections of the benchmark, one module each, in the order they run:
//! `s3_small` (4 KiB PUT / GET and LIST against the S3 server), `s3_large` (one large file
//! PUT and GET per client and API), `memory` (our engine's peak RSS against its bound) and
//! `local` (the small phases on a tmpfs directory). Each appends to the `Results` and
//! records a crash instead of stopping the run.

mod local;
mod memory;
mod s3_large;
mod s3_small;

use std::path::Path;

pub(crate) use local::local;
pub(crate) use memory::memory;
pub(crate) use s3_large::s3_large;
pub(crate) use s3_small::s3_small;

/// Removes a file, logging (not failing) when it cannot.
pub(crate) fn remove_quietly(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        eprintln!("xtask: bench: cannot remove {}: {e}", path.display());
    }
}
