//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use storage_core::{Bytes, Driver, Error, ErrorKind, Payload, PutOptions};
use storage_local::LocalDriver;

/// A driver over a fresh root inside a temporary directory, with container "c".
pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub store: Arc<LocalDriver>,
}

impl Fixture {
    pub async fn new() -> Self {
        Self::with_options(storage_local::LocalOptions::default()).await
    }

    /// Metadata in sidecar files only (the fallback where extended attributes fail).
    pub async fn sidecars() -> Self {
        Self::with_options(storage_local::LocalOptions::default().xattrs(false)).await
    }

    pub async fn with_options(options: storage_local::LocalOptions) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let store = Arc::new(LocalDriver::with_options(tmp.path().join("root"), options).unwrap());
        store.create_container("c").await.unwrap();
        Fixture { tmp, store }
    }

    pub fn root(&self) -> &Path {
        self.store.root()
    }

    pub fn container_dir(&self) -> PathBuf {
        self.store.root().join("c")
    }

    /// A directory next to the root, outside it.
    pub fn outside(&self) -> PathBuf {
        let p = self.tmp.path().join("outside");
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    pub async fn put(&self, key: &str, data: &str) -> storage_core::Object {
        self.store.put_object("c", key, Bytes::from(data.to_owned()).into(), &PutOptions::default()).await.unwrap()
    }
}

/// Every path under `dir` (files and directories), relative, sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd {
            let e = e.unwrap();
            let p = e.path();
            out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Temporary files left anywhere under `dir`.
pub fn temp_files(dir: &Path) -> Vec<String> {
    tree(dir).into_iter().filter(|p| p.rsplit('/').next().is_some_and(|n| n.starts_with("%t."))).collect()
}

/// A payload stream that yields `chunks` and then fails.
pub fn failing_stream(chunks: Vec<&'static str>, length: Option<u64>) -> Payload {
    let mut items: Vec<storage_core::Result<Bytes>> = chunks.into_iter().map(|c| Ok(Bytes::from(c))).collect();
    items.push(Err(Error::new(ErrorKind::Io, "the network went away")));
    Payload::stream(Box::pin(futures::stream::iter(items)), length)
}

pub fn kind<T: std::fmt::Debug>(r: storage_core::Result<T>) -> ErrorKind {
    r.unwrap_err().kind()
}
