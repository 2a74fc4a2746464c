//! The Linux fast path of a PUT: an in-memory payload hashed (CRC32C; MD5 when kept), written, described and
//! committed in one blocking task (a handful of system calls, no hop back to the async
//! runtime between the steps).
//!
//! Containment is the same as every write's (`dirfd.rs`): the key's directory is opened
//! with one `openat2(RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH)` from the container's
//! descriptor, and the temporary file, its metadata attribute, the mode check and the
//! rename all happen relative to that descriptor. Reads have their own one-call open
//! (`DirFd::open_beneath`).
//!
//! Separate (and Linux only) because it is an optimisation: removing this module leaves
//! a driver with the same behaviour (the streaming put of `write.rs`).

use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use storage_core::kit::Result;
use storage_core::{Object, PutMode};

use crate::core::Shared;
use crate::digest::{Digest, wants_md5};
use crate::errors;
use crate::paths::ObjectPath;
use crate::sidecar::{FileStamp, Headers, Sidecar, describe};
use crate::write::{Staged, commit_now, temp_beside};

/// An in-memory payload to store as `key`: the whole PUT, on a blocking thread.
pub struct PutBytes {
    /// The driver's shared state.
    pub shared: Arc<Shared>,
    /// Where the object goes.
    pub op: ObjectPath,
    /// Its container.
    pub container: String,
    /// Its key.
    pub key: String,
    /// The content.
    pub data: Bytes,
    /// Headers to store (default content type already applied).
    pub headers: Headers,
    /// `PutOptions::content_md5`.
    pub content_md5: Option<String>,
    /// The put mode.
    pub mode: PutMode,
}

impl PutBytes {
    /// Runs the PUT (blocking).
    pub fn run(self) -> Result<Object> {
        let content_md5 = self.content_md5.as_deref();
        let digest = Digest::of(&self.data, wants_md5(self.shared.options.md5, content_md5));
        digest.verify(content_md5)?;
        let op = &self.op;
        let (mut file, temp) = temp_beside(&self.shared, op, &self.container, false)?;
        let stamp = match file.write_all(&self.data).and_then(|()| file.metadata()) {
            Ok(m) => FileStamp::of(&m),
            Err(e) => {
                temp.discard_now();
                return Err(errors::io(format!("writing a temporary file in {}", op.parent().display()), e));
            }
        };
        let sidecar = Sidecar::of_digest(stamp, &digest, None, self.headers);
        let staged = Staged { file, temp, sidecar };
        let sidecar = commit_now(&self.shared, op, (&self.container, &self.key), staged, &self.mode, None)?;
        Ok(describe(self.container, self.key, &stamp, Some(sidecar)))
    }
}
