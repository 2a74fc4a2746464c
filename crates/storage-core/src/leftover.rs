//! What an interrupted write leaves behind in a backend: unfinished multipart uploads and
//! data a writer staged but never committed (see [`crate::Driver::list_leftovers`]).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::multipart::MultipartUpload;

/// What kind of leftover it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LeftoverKind {
    /// An unfinished multipart upload (with whatever parts it holds). Removing it aborts
    /// the upload.
    MultipartUpload,
    /// Data a writer staged for a key and never committed: a temporary file of the local
    /// driver, a run of Redis chunks no object or upload references.
    StagedData,
}

impl LeftoverKind {
    /// A short stable name: `multipart-upload`, `staged-data`.
    pub fn as_str(self) -> &'static str {
        match self {
            LeftoverKind::MultipartUpload => "multipart-upload",
            LeftoverKind::StagedData => "staged-data",
        }
    }
}

impl std::fmt::Display for LeftoverKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something an interrupted write left in a container, invisible to listings: found by
/// [`crate::Driver::list_leftovers`], removed by [`crate::Driver::remove_leftover`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// The container.
    pub container: String,
    /// The key the write was for when the backend knows it; otherwise where the leftover
    /// sits (for the local driver's temporary files, the prefix of their directory,
    /// `""` or ending in `/`).
    pub key: String,
    /// What it is.
    pub kind: LeftoverKind,
    /// The driver's handle on it (an upload id, a path inside the container, a chunk
    /// run); only meaningful to the driver that listed it.
    pub id: String,
    /// Bytes it holds when known (where a backend can only tell the space it takes,
    /// that: Redis reports the memory of its chunks).
    pub size: Option<u64>,
    /// When it was created or last written to, when known.
    pub created: Option<DateTime<Utc>>,
}

impl Leftover {
    /// How long ago it was created (or last written to), if known; a time in the future
    /// (clock skew) counts as zero.
    pub fn age(&self, now: DateTime<Utc>) -> Option<Duration> {
        self.created.map(|c| (now - c).to_std().unwrap_or(Duration::ZERO))
    }

    /// Whether it is at least `min_age` old. A leftover of unknown age qualifies only
    /// when `min_age` is zero: it may belong to a writer that is still running.
    pub fn is_older_than(&self, min_age: Duration, now: DateTime<Utc>) -> bool {
        match self.age(now) {
            Some(age) => age >= min_age,
            None => min_age.is_zero(),
        }
    }

    /// The multipart upload this leftover stands for (meaningful for
    /// [`LeftoverKind::MultipartUpload`]).
    pub fn to_upload(&self) -> MultipartUpload {
        MultipartUpload {
            container: self.container.clone(),
            key: self.key.clone(),
            upload_id: self.id.clone(),
            initiated: self.created,
            checksum: None,
        }
    }
}

impl From<MultipartUpload> for Leftover {
    fn from(u: MultipartUpload) -> Self {
        Leftover {
            container: u.container,
            key: u.key,
            kind: LeftoverKind::MultipartUpload,
            id: u.upload_id,
            size: None,
            created: u.initiated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_decides_what_is_old_enough() {
        let now = Utc::now();
        let upload = MultipartUpload {
            container: "c".into(),
            key: "k".into(),
            upload_id: "u1".into(),
            initiated: Some(now - chrono::Duration::hours(2)),
            checksum: None,
        };
        let l = Leftover::from(upload.clone());
        assert_eq!(l.kind, LeftoverKind::MultipartUpload);
        assert_eq!(l.to_upload(), upload);
        assert!(l.is_older_than(Duration::from_secs(3600), now));
        assert!(!l.is_older_than(Duration::from_secs(3 * 3600), now));
        let unknown = Leftover { created: None, ..l.clone() };
        assert!(!unknown.is_older_than(Duration::from_secs(1), now));
        assert!(unknown.is_older_than(Duration::ZERO, now));
        let future = Leftover { created: Some(now + chrono::Duration::hours(1)), ..l };
        assert_eq!(future.age(now), Some(Duration::ZERO));
        assert_eq!(LeftoverKind::StagedData.to_string(), "staged-data");
    }

    #[tokio::test]
    async fn the_default_lists_and_aborts_unfinished_uploads() {
        use crate::{Driver, ErrorKind, MemoryDriver, PartOptions, PutOptions};
        let m = MemoryDriver::new();
        m.create_container("c").await.unwrap();
        m.put_object("c", "live", "data".into(), &PutOptions::default()).await.unwrap();
        let up = m.create_multipart("c", "logs/big", &PutOptions::default()).await.unwrap();
        m.put_part(&up, 1, "part".into(), &PartOptions::default()).await.unwrap();
        m.create_multipart("c", "other", &PutOptions::default()).await.unwrap();
        let found = m.list_leftovers("c", Some("logs/")).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].kind, found[0].key.as_str(), found[0].id.as_str()),
            (LeftoverKind::MultipartUpload, "logs/big", up.upload_id.as_str())
        );
        m.remove_leftover(&found[0]).await.unwrap();
        // Gone already: still a success.
        m.remove_leftover(&found[0]).await.unwrap();
        assert!(m.list_leftovers("c", Some("logs/")).await.unwrap().is_empty());
        assert_eq!(m.list_leftovers("c", None).await.unwrap().len(), 1);
        assert_eq!(m.get_object("c", "live", &Default::default()).await.map(|r| r.object.size).unwrap(), 4);
        let staged = Leftover { kind: LeftoverKind::StagedData, ..found[0].clone() };
        assert_eq!(m.remove_leftover(&staged).await.unwrap_err().kind(), ErrorKind::NotSupported);
    }
}
