//! Leftovers of killed writers: temporary files and multipart staging directories are
//! found by `list_leftovers` and removed by `remove_leftover`; live objects stay.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime};

use chrono::Utc;
use common::{Fixture, kind};
use storage_core::PartOptions;
use storage_core::{Driver, DriverExt, ErrorKind, Leftover, LeftoverKind, PutOptions};

/// Leaves a temporary file as a put killed mid-write would: `%t.<unique>` beside where
/// the object goes, holding part of the data, last written `age` ago.
fn crashed_put(f: &Fixture, dir: &str, name: &str, len: usize, age: Duration) -> std::path::PathBuf {
    let d = f.container_dir().join(dir);
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join(name);
    std::fs::write(&p, vec![7u8; len]).unwrap();
    let file = std::fs::File::options().write(true).open(&p).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
    p
}

const DAY: Duration = Duration::from_secs(24 * 3600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temp_files_and_uploads_are_listed_and_removed() {
    let f = Fixture::new().await;
    f.put("dir/live", "live data").await;
    f.put("top", "top data").await;
    let old = crashed_put(&f, "dir", "%t.dead-1", 5000, 2 * DAY);
    let fresh = crashed_put(&f, "dir/sub", "%t.dead-2", 10, Duration::ZERO);
    let up = f.store.create_multipart("c", "dir/big", &PutOptions::default()).await.unwrap();
    f.store.put_part(&up, 1, vec![1u8; 300].into(), &PartOptions::default()).await.unwrap();

    // Listings, du and rm -r never see them.
    assert_eq!(f.store.list_keys("c", None).await.unwrap(), vec!["dir/live", "top"]);

    let found = f.store.list_leftovers("c", None).await.unwrap();
    let summary: Vec<(&str, LeftoverKind, &str, Option<u64>)> =
        found.iter().map(|l| (l.key.as_str(), l.kind, l.id.as_str(), l.size)).collect();
    assert_eq!(
        summary,
        vec![
            ("dir/", LeftoverKind::StagedData, "dir/%t.dead-1", Some(5000)),
            ("dir/big", LeftoverKind::MultipartUpload, up.upload_id.as_str(), Some(300)),
            ("dir/sub/", LeftoverKind::StagedData, "dir/sub/%t.dead-2", Some(10)),
        ]
    );
    let now = Utc::now();
    assert!(found[0].is_older_than(DAY, now), "aged by its modification time");
    assert!(!found[2].is_older_than(Duration::from_secs(60), now));
    assert!(!found[1].is_older_than(Duration::from_secs(60), now), "an upload is aged by its last part");

    // A prefix keeps what may belong to keys under it.
    let under: Vec<String> =
        f.store.list_leftovers("c", Some("dir/sub/")).await.unwrap().into_iter().map(|l| l.id).collect();
    assert_eq!(under, vec!["dir/sub/%t.dead-2"]);
    assert!(f.store.list_leftovers("c", Some("top")).await.unwrap().is_empty());

    for l in &found {
        f.store.remove_leftover(l).await.unwrap();
    }
    assert!(!old.exists() && !fresh.exists());
    assert!(!f.container_dir().join("dir/sub").exists(), "the directory the write made is pruned");
    assert!(f.store.list_leftovers("c", None).await.unwrap().is_empty());
    assert!(f.store.list_multipart_uploads("c", None).await.unwrap().is_empty());
    // Removing again: already gone is fine.
    for l in &found {
        f.store.remove_leftover(l).await.unwrap();
    }
    assert_eq!(f.store.get_bytes("c", "dir/live").await.unwrap(), "live data");
    assert_eq!(f.store.get_bytes("c", "top").await.unwrap(), "top data");
}

#[tokio::test]
async fn a_file_written_after_the_listing_is_kept() {
    let f = Fixture::new().await;
    let p = crashed_put(&f, "d", "%t.slow-1", 10, 2 * DAY);
    let found = f.store.list_leftovers("c", None).await.unwrap();
    assert_eq!(found.len(), 1);
    // The writer was alive after all and wrote more.
    std::fs::write(&p, vec![1u8; 20]).unwrap();
    assert_eq!(kind(f.store.remove_leftover(&found[0]).await), ErrorKind::PreconditionFailed);
    assert!(p.exists());
}

#[tokio::test]
async fn only_the_drivers_own_temporary_names_can_be_removed() {
    let f = Fixture::new().await;
    f.put("keep", "data").await;
    let outside = f.outside().join("%t.x");
    std::fs::write(&outside, "outside").unwrap();
    let base = Leftover {
        container: "c".into(),
        key: String::new(),
        kind: LeftoverKind::StagedData,
        id: String::new(),
        size: None,
        created: None,
    };
    for id in ["keep", "../../outside/%t.x", "/etc/%t.x", "./%t.x", "", "%m.keep", "%uploads"] {
        let l = Leftover { id: id.into(), ..base.clone() };
        assert_eq!(kind(f.store.remove_leftover(&l).await), ErrorKind::PreconditionFailed, "{id}");
    }
    assert!(outside.exists());
    assert_eq!(f.store.get_bytes("c", "keep").await.unwrap(), "data");
    // A temporary name reached through a symlink is refused.
    std::os::unix::fs::symlink(f.outside(), f.container_dir().join("link")).unwrap();
    let l = Leftover { id: "link/%t.x".into(), ..base };
    assert_eq!(kind(f.store.remove_leftover(&l).await), ErrorKind::PreconditionFailed);
    assert!(outside.exists());
    assert_eq!(kind(f.store.list_leftovers("nope", None).await), ErrorKind::ContainerDoesNotExist);
}
