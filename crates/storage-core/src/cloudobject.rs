//! Lithops' cloud objects: a [`CloudObject`] names data in a backend (backend, container,
//! key) and is serializable, so one process stores a result and hands the reference to
//! another, which reads it through its own configuration. [`CloudObjects`] writes them
//! under unique keys with a configurable prefix, reads and deletes them.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use storage_core::{CloudObject, CloudObjects, Driver, MemoryDriver};
//!
//! let driver: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
//! driver.create_container("jobs").await?;
//! let objects = CloudObjects::new("memory", driver, "jobs").with_prefix("run-7/");
//! let reference = objects.put("partial result".into()).await?;
//! assert!(reference.key.starts_with("run-7/cloudobjects/"));
//! let wire = serde_json::to_string(&reference).unwrap(); // to another process...
//! let back: CloudObject = serde_json::from_str(&wire).unwrap();
//! assert_eq!(objects.get(&back).await?, "partial result");
//! objects.delete(&back).await?;
//! # Ok::<(), storage_core::Error>(())
//! # }).unwrap();
//! ```

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};
use crate::object::DeleteOutcome;
use crate::ops::DriverExt;
use crate::options::{GetOptions, PutMode, PutOptions};
use crate::payload::{ByteStream, Payload};

/// A reference to data in a backend (Lithops' `CloudObject`): which backend (a driver
/// name or a named remote of the configuration), container and key. It holds no
/// credentials and no data; it serializes with serde and prints as a URL
/// (`backend://container/key`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CloudObject {
    /// The backend's name, as the reading process's configuration knows it.
    pub backend: String,
    /// The container.
    pub container: String,
    /// The key.
    pub key: String,
}

impl fmt::Display for CloudObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}/{}", self.backend, self.container, self.key)
    }
}

/// Writes, reads and deletes [`CloudObject`]s in one backend's container (Lithops'
/// `put_cloudobject`, `get_cloudobject`, `delete_cloudobject(s)`).
#[derive(Debug, Clone)]
pub struct CloudObjects {
    backend: String,
    driver: Arc<dyn Driver>,
    container: String,
    prefix: String,
}

/// Distinguishes keys made in the same nanosecond by one process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

impl CloudObjects {
    /// Cloud objects of `driver` (known as `backend` to the processes that will read
    /// them) in `container`, under the default prefix (none: keys are
    /// `cloudobjects/<unique>`).
    pub fn new(backend: impl Into<String>, driver: Arc<dyn Driver>, container: impl Into<String>) -> Self {
        CloudObjects { backend: backend.into(), driver, container: container.into(), prefix: String::new() }
    }

    /// Generated keys start with `prefix` (a job's or executor's id, `lithops.jobs/x/`).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// A new unique key: `<prefix>cloudobjects/<time>-<process>-<counter>-<random>`.
    pub fn unique_key(&self) -> String {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        // std's hasher keys are random per process: a salt against other hosts' clocks.
        let mut salt = std::collections::hash_map::RandomState::new().build_hasher();
        salt.write_u128(nanos);
        salt.write_u64(n);
        format!("{}cloudobjects/{nanos:x}-{:x}-{n:x}-{:016x}", self.prefix, std::process::id(), salt.finish())
    }

    /// Lithops `put_cloudobject(body)`: stores `body` under a new unique key (never
    /// replacing anything: the write is create-if-absent where the driver can) and
    /// returns its reference.
    pub async fn put(&self, body: Payload) -> Result<CloudObject> {
        self.put_at(body, &self.unique_key()).await
    }

    /// Lithops `put_cloudobject(body, key=key)`: stores `body` at `key` (replacing what
    /// is there, as Lithops does) and returns its reference.
    pub async fn put_with_key(&self, body: Payload, key: &str) -> Result<CloudObject> {
        self.driver.put_object(&self.container, key, body, &PutOptions::default()).await?;
        Ok(self.reference(key))
    }

    async fn put_at(&self, body: Payload, key: &str) -> Result<CloudObject> {
        let caps = &self.driver.info().capabilities;
        let mode = if caps.put_if_absent { PutMode::CreateIfAbsent } else { PutMode::Overwrite };
        let options = PutOptions { mode, ..PutOptions::default() };
        self.driver.put_object(&self.container, key, body, &options).await?;
        Ok(self.reference(key))
    }

    fn reference(&self, key: &str) -> CloudObject {
        CloudObject { backend: self.backend.clone(), container: self.container.clone(), key: key.to_owned() }
    }

    /// Refuses a reference to another backend: reading it here would read another
    /// store's object of the same name.
    fn check(&self, object: &CloudObject) -> Result<()> {
        if object.backend == self.backend {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Config,
            format!("the cloud object {object} belongs to backend {:?}, not {:?}", object.backend, self.backend),
        )
        .with_hint("open its backend by name (Storage::cloudobjects) to read it"))
    }

    /// Lithops `get_cloudobject(cloudobject)`: the whole data.
    pub async fn get(&self, object: &CloudObject) -> Result<Bytes> {
        self.check(object)?;
        self.driver.get_bytes(&object.container, &object.key).await
    }

    /// Lithops `get_cloudobject(cloudobject, stream=True)`: the data as a stream.
    pub async fn get_stream(&self, object: &CloudObject) -> Result<ByteStream> {
        self.check(object)?;
        Ok(self.driver.get_object(&object.container, &object.key, &GetOptions::default()).await?.body)
    }

    /// Lithops `delete_cloudobject(cloudobject)`.
    pub async fn delete(&self, object: &CloudObject) -> Result<()> {
        self.check(object)?;
        self.driver.delete_object(&object.container, &object.key).await
    }

    /// Lithops `delete_cloudobjects(cloudobjects)`: batched per container; an outcome per
    /// reference, in order. References to another backend are refused before anything
    /// is deleted.
    pub async fn delete_many(&self, objects: &[CloudObject]) -> Result<Vec<DeleteOutcome>> {
        objects.iter().try_for_each(|o| self.check(o))?;
        let mut out = Vec::with_capacity(objects.len());
        for run in objects.chunk_by(|a, b| a.container == b.container) {
            let keys: Vec<String> = run.iter().map(|o| o.key.clone()).collect();
            out.extend(self.driver.delete_objects(&run[0].container, &keys).await?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryDriver;

    #[test]
    fn keys_are_unique_and_prefixed() {
        let c = CloudObjects::new("memory", Arc::new(MemoryDriver::new()), "c").with_prefix("job/");
        let keys: std::collections::BTreeSet<String> = (0..1000).map(|_| c.unique_key()).collect();
        assert_eq!(keys.len(), 1000);
        assert!(keys.iter().all(|k| k.starts_with("job/cloudobjects/")));
    }

    #[tokio::test]
    async fn references_round_trip_and_other_backends_are_refused() {
        let driver: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
        driver.create_container("c").await.unwrap();
        driver.create_container("d").await.unwrap();
        let c = CloudObjects::new("memory", driver.clone(), "c");
        let a = c.put("a".into()).await.unwrap();
        let b = c.put_with_key("b".into(), "fixed").await.unwrap();
        let other = CloudObjects::new("memory", driver.clone(), "d").put("d".into()).await.unwrap();
        assert_eq!(b.to_string(), "memory://c/fixed");
        let json = serde_json::to_string(&a).unwrap();
        let back: CloudObject = serde_json::from_str(&json).unwrap();
        assert_eq!(c.get(&back).await.unwrap(), "a");
        let foreign = CloudObject { backend: "s3".into(), ..a.clone() };
        assert_eq!(c.get(&foreign).await.unwrap_err().kind(), ErrorKind::Config);
        assert_eq!(c.delete_many(&[a.clone(), foreign]).await.unwrap_err().kind(), ErrorKind::Config);
        assert_eq!(c.get(&a).await.unwrap(), "a", "nothing was deleted");
        let outcomes = c.delete_many(&[a.clone(), b.clone(), other.clone()]).await.unwrap();
        assert_eq!(outcomes.len(), 3);
        assert!(outcomes.iter().all(|o| o.result.is_ok()));
        for r in [a, b, other] {
            assert_eq!(
                driver.head_object(&r.container, &r.key).await.unwrap_err().kind(),
                ErrorKind::ObjectDoesNotExist
            );
        }
    }
}
