//! The sections of the benchmark, in the order they run: `small` (sections `s3-small`,
//! `azure-small` and `gcs-small`: 4 KiB PUT / GET and LIST against the S3 server, Azurite
//! or fake-gcs-server), `large` (`s3-large`, `azure-large` and `gcs-large`: one large file
//! PUT and GET per client and API), `memory` (our engine's peak RSS against its bound),
//! `cli` (the `storage` CLI's `cp -r` of two trees, up and down, beside `rclone copy`) and
//! `local` (the small phases on a tmpfs directory). The S3 sections, `memory` and `cli` run
//! against `bench-server`, then the Azure ones against Azurite, the GCS ones against
//! fake-gcs-server, then `local`. Each appends to the `Results` and records a crash
//! instead of stopping the run; a phase or transfer that a peer is known not to be able
//! to do against a server ([`KnownGap`]) and fails is recorded as a [`Gap`] instead.

mod cli;
mod large;
mod local;
mod memory;
mod small;

use std::path::Path;

pub(crate) use cli::{CLI_CLIENTS, CLI_OPS, CliTree, RCLONE_FLAGS, build_cli, cli, cli_trees, rclone_version};
pub(crate) use large::large;
pub(crate) use local::local;
pub(crate) use memory::memory;
pub(crate) use small::small;

use super::plan::Plan;
use super::records::Gap;

/// The servers the small and large sections run against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Remote {
    /// `bench-server` (s3s-fs).
    S3,
    /// Azurite's Blob service.
    Azure,
    /// fake-gcs-server (the GCS JSON API, and part of the XML API).
    Gcs,
}

/// Something a peer cannot do against a server (its client speaks an API the server does
/// not implement). When the bench runs it and it fails, the report shows `short` in the
/// table and `why` with the error in the notes, never a number; when it works after all,
/// it is measured like any other.
pub(crate) struct KnownGap {
    pub(crate) client: &'static str,
    pub(crate) op: &'static str,
    /// The large transfer's mode; `None` for a small phase (every concurrency).
    pub(crate) mode: Option<&'static str>,
    /// For the table cell.
    pub(crate) short: &'static str,
    /// For the notes: what the client sends and what the server does with it.
    pub(crate) why: &'static str,
}

/// fake-gcs-server 1.54.0 against the peers' GCS clients (checked by hand with each
/// client and with curl; the run checks it again).
const GCS_GAPS: &[KnownGap] = &[
    KnownGap {
        client: "object_store",
        op: "put",
        mode: None,
        short: "no XML API upload in fake-gcs-server",
        why: "object_store's GCS client writes objects through the XML API (`PUT /{bucket}/{object}`); \
              fake-gcs-server 1.54.0 routes that path to its upload handler only for signed URLs \
              (`X-Goog-Algorithm` in the query) and otherwise answers `400 invalid uploadType`",
    },
    KnownGap {
        client: "object_store",
        op: "put",
        mode: Some("multipart"),
        short: "no XML API multipart upload in fake-gcs-server",
        why: "object_store's `put_multipart` starts an XML API multipart upload \
              (`POST /{bucket}/{object}?uploads`), which fake-gcs-server 1.54.0 does not implement: \
              `400 invalid uploadType`",
    },
    KnownGap {
        client: "opendal",
        op: "put",
        mode: Some("multipart"),
        short: "no XML API multipart upload in fake-gcs-server",
        why: "OpenDAL's GCS writer sends a file written in more than one chunk as an XML API \
              multipart upload (`POST /{bucket}/{object}?uploads`), which fake-gcs-server 1.54.0 does \
              not implement: `400 invalid uploadType` (a single `write` of the whole file would be one \
              JSON API upload, with the whole file in memory: another API, not measured)",
    },
];

impl KnownGap {
    /// The gap, with the error the client printed when it was tried (its last line, at
    /// most 300 characters, without the binary's name).
    pub(crate) fn observed(&self, error: &str) -> Gap {
        let last = error.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default().trim();
        // `ClientBase::run_with` puts the command before the binary's stderr on one line
        // when that is a single line: keep what follows the binary's name.
        let last = ["bench-client: ", "bench-large: "]
            .iter()
            .filter_map(|p| last.rfind(p).map(|at| &last[at + p.len()..]))
            .next()
            .unwrap_or(last);
        let observed: String = last.chars().take(300).collect();
        Gap {
            client: self.client.to_owned(),
            op: self.op.to_owned(),
            mode: self.mode.map(str::to_owned),
            short: self.short,
            why: self.why,
            observed,
        }
    }
}

impl Remote {
    /// The prefix of this remote's progress lines and crash messages.
    pub(crate) fn log(self) -> &'static str {
        match self {
            Remote::S3 => "",
            Remote::Azure => "azure: ",
            Remote::Gcs => "gcs: ",
        }
    }

    /// What the peers are known not to be able to do against this remote.
    pub(crate) fn known_gaps(self) -> &'static [KnownGap] {
        match self {
            Remote::S3 | Remote::Azure => &[],
            Remote::Gcs => GCS_GAPS,
        }
    }

    /// The known gap of `client` doing `op` (`mode` for a large transfer, `None` for a
    /// small phase).
    pub(crate) fn gap(self, client: &str, op: &str, mode: Option<&str>) -> Option<&'static KnownGap> {
        self.known_gaps().iter().find(|g| g.client == client && g.op == op && g.mode == mode)
    }

    /// Operations (listings for LIST) per timed phase.
    pub(crate) fn n_for(self, plan: &Plan, op: &str, concurrency: usize) -> usize {
        match self {
            Remote::S3 => plan.n_for(op, concurrency),
            Remote::Azure | Remote::Gcs => plan.az_n_for(op, concurrency),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps() {
        assert!(Remote::S3.gap("object_store", "put", None).is_none());
        let g = Remote::Gcs.gap("object_store", "put", None).unwrap();
        assert!(Remote::Gcs.gap("object_store", "get", None).is_none());
        assert!(Remote::Gcs.gap("opendal", "put", None).is_none());
        assert!(Remote::Gcs.gap("opendal", "put", Some("multipart")).is_some());
        let err = "bench-client --client object_store exited with exit status: 1: bench-client: Generic GCS error: 400 \
                   invalid uploadType\n";
        assert_eq!(g.observed(err).observed, "Generic GCS error: 400 invalid uploadType");
        let gap = g.observed("line one\nbench-large: HTTP 400: invalid uploadType\n\n");
        assert_eq!((gap.observed.as_str(), gap.mode), ("HTTP 400: invalid uploadType", None));
        assert_eq!(g.observed(&"x".repeat(1000)).observed.len(), 300);
    }
}
