//! The sections of the benchmark, in the order they run: `small` (sections `s3-small` and
//! `azure-small`: 4 KiB PUT / GET and LIST against the S3 server or Azurite), `large`
//! (`s3-large` and `azure-large`: one large file PUT and GET per client and API), `memory`
//! (our engine's peak RSS against its bound) and `local` (the small phases on a tmpfs
//! directory). The S3 sections and `memory` run against `bench-server`, then the Azure
//! ones against Azurite, then `local`. Each appends to the `Results` and records a crash
//! instead of stopping the run.

mod large;
mod local;
mod memory;
mod small;

use std::path::Path;

pub(crate) use large::large;
pub(crate) use local::local;
pub(crate) use memory::memory;
pub(crate) use small::small;

use super::plan::Plan;

/// The servers the small and large sections run against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Remote {
    /// `bench-server` (s3s-fs).
    S3,
    /// Azurite's Blob service.
    Azure,
}

impl Remote {
    /// The prefix of this remote's progress lines and crash messages.
    pub(crate) fn log(self) -> &'static str {
        match self {
            Remote::S3 => "",
            Remote::Azure => "azure: ",
        }
    }

    /// Operations (listings for LIST) per timed phase.
    pub(crate) fn n_for(self, plan: &Plan, op: &str, concurrency: usize) -> usize {
        match self {
            Remote::S3 => plan.n_for(op, concurrency),
            Remote::Azure => plan.az_n_for(op, concurrency),
        }
    }
}

/// Removes a file, logging (not failing) when it cannot.
pub(crate) fn remove_quietly(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        eprintln!("xtask: bench: cannot remove {}: {e}", path.display());
    }
}
