//! Sidecars: what they keep, that they stay hidden, and that stale ones are ignored.

mod common;

use common::{Fixture, tree};
use storage_core::{Driver, DriverExt, HashAlgorithm, ListOptions, PutOptions};

#[tokio::test]
async fn metadata_and_headers_persist_across_driver_instances() {
    let f = Fixture::new().await;
    let opts = PutOptions {
        content_type: Some("text/html".into()),
        content_encoding: Some("gzip".into()),
        cache_control: Some("max-age=60".into()),
        content_disposition: Some("attachment; filename=\"a.html\"".into()),
        ..Default::default()
    }
    .with_metadata("X-Mixed-Case", "Value Kept");
    let put = f.store.put_object("c", "page", "<html/>".into(), &opts).await.unwrap();
    assert_eq!(put.metadata.get("x-mixed-case").map(String::as_str), Some("Value Kept"));

    let again = storage_local::LocalDriver::new(f.root()).unwrap();
    let head = again.head_object("c", "page").await.unwrap();
    assert_eq!(head, put);
    assert_eq!(head.content_encoding.as_deref(), Some("gzip"));
    assert_eq!(head.cache_control.as_deref(), Some("max-age=60"));
    assert_eq!(head.content_disposition.as_deref(), Some("attachment; filename=\"a.html\""));
    assert_eq!(
        head.hash.as_ref().map(|h| (h.algorithm, h.matches(b"<html/>"))),
        Some((HashAlgorithm::Crc32c, Some(true)))
    );
    assert_eq!(head.version, None);
    // Listing reports the same object as head.
    let listed = again.list_page("c", &ListOptions::default(), None).await.unwrap();
    assert_eq!(listed.items[0].as_object(), Some(&head));
}

#[tokio::test]
async fn sidecars_temp_files_and_staging_never_show_in_listings() {
    let f = Fixture::sidecars().await;
    f.put("a", "1").await;
    f.put("d/b", "2").await;
    f.store.create_multipart("c", "d/pending", &PutOptions::default()).await.unwrap();
    std::fs::write(f.container_dir().join("%t.leftover"), "crash debris").unwrap();
    std::fs::write(f.container_dir().join("d/%t.leftover"), "crash debris").unwrap();
    std::fs::create_dir(f.container_dir().join("only-internal")).unwrap();
    std::fs::write(f.container_dir().join("only-internal/%m.gone"), "{}").unwrap();
    let files = tree(&f.container_dir());
    assert!(files.contains(&"%m.a".to_owned()) && files.contains(&"d/%m.b".to_owned()), "{files:?}");
    assert!(files.iter().any(|p| p.starts_with("%uploads/")), "{files:?}");

    assert_eq!(f.store.list_keys("c", None).await.unwrap(), vec!["a", "d/b"]);
    let (objects, prefixes) = f.store.list_with_delimiter("c", None).await.unwrap();
    assert_eq!(objects.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), vec!["a"]);
    // "only-internal/" holds no object, so it is not a prefix.
    assert_eq!(prefixes, vec!["d/"]);
    assert_eq!(f.store.list_keys("c", Some("%")).await.unwrap(), Vec::<String>::new());
    assert_eq!(f.store.list_keys("c", Some("d/%")).await.unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn a_stale_sidecar_is_ignored() {
    stale_metadata_is_ignored(Fixture::sidecars().await).await;
}

#[tokio::test]
async fn a_stale_attribute_is_ignored() {
    stale_metadata_is_ignored(Fixture::new().await).await;
}

#[allow(clippy::unwrap_used)]
async fn stale_metadata_is_ignored(f: Fixture) {
    let sidecars = !f.store.options().xattrs;
    let opts = PutOptions::content_type("text/plain").with_metadata("k", "v");
    let put = f.store.put_object("c", "dir/obj", "original".into(), &opts).await.unwrap();
    let data = f.container_dir().join("dir/obj");

    // Replaced by a file of the same size (another inode), as a crash between the two
    // renames of a write would leave it.
    let tmp = f.container_dir().join("dir/replacement");
    std::fs::write(&tmp, "ORIGINAL").unwrap();
    std::fs::rename(&tmp, &data).unwrap();
    let head = f.store.head_object("c", "dir/obj").await.unwrap();
    assert_eq!(head.size, 8);
    assert_eq!(head.hash, None);
    assert_eq!(head.content_type, None);
    assert!(head.metadata.is_empty());
    assert_ne!(head.etag, put.etag);
    assert_eq!(f.store.get_bytes("c", "dir/obj").await.unwrap(), "ORIGINAL");
    // The derived ETag is stable and usable in conditions.
    assert_eq!(f.store.head_object("c", "dir/obj").await.unwrap().etag, head.etag);

    // Rewritten in place with another size.
    std::fs::write(&data, "longer content").unwrap();
    let head2 = f.store.head_object("c", "dir/obj").await.unwrap();
    assert_eq!((head2.size, head2.hash.clone()), (14, None));
    assert_ne!(head2.etag, head.etag);
    let listed = f.store.list_page("c", &ListOptions::default(), None).await.unwrap();
    assert_eq!(listed.items[0].as_object(), Some(&head2));

    // A corrupt sidecar is ignored too; with attributes, the attribute wins over it.
    f.put("other", "x").await;
    std::fs::write(f.container_dir().join("%m.other"), "not json").unwrap();
    let hash = f.store.head_object("c", "other").await.unwrap().hash;
    if sidecars {
        assert_eq!(hash, None);
    } else {
        assert_eq!(hash.and_then(|h| h.matches(b"x")), Some(true));
    }
    // Writing again brings the metadata back.
    let o = f.store.put_object("c", "dir/obj", "fresh".into(), &opts).await.unwrap();
    assert_eq!(f.store.head_object("c", "dir/obj").await.unwrap(), o);
}

#[tokio::test]
async fn files_written_by_hand_are_objects() {
    let f = Fixture::new().await;
    let dir = f.container_dir();
    std::fs::create_dir_all(dir.join("docs/2024")).unwrap();
    std::fs::write(dir.join("docs/2024/report.txt"), "by hand").unwrap();
    std::fs::write(dir.join("readme"), "hello").unwrap();
    // Names the encoding cannot produce are not listed (they could not be read back).
    std::fs::write(dir.join("100%"), "x").unwrap();
    std::fs::write(dir.join("a%20b"), "x").unwrap();
    std::fs::write(dir.join("%zinternal"), "x").unwrap();

    assert_eq!(f.store.list_keys("c", None).await.unwrap(), vec!["docs/2024/report.txt", "readme"]);
    let head = f.store.head_object("c", "docs/2024/report.txt").await.unwrap();
    assert_eq!((head.size, head.hash.clone(), head.content_type.clone()), (7, None, None));
    assert!(head.etag.is_some() && head.last_modified.is_some());
    assert_eq!(f.store.get_bytes("c", "docs/2024/report.txt").await.unwrap(), "by hand");
    assert_eq!(f.store.get_bytes("c", "readme").await.unwrap(), "hello");
    // They can be deleted through the driver, which prunes the directories.
    f.store.delete_object("c", "docs/2024/report.txt").await.unwrap();
    assert!(!dir.join("docs").exists());
}

#[tokio::test]
async fn metadata_lives_in_an_attribute_or_in_a_sidecar_and_both_are_read() {
    let opts = PutOptions::content_type("text/plain").with_metadata("k", "v");
    for sidecars in [false, true] {
        let f = if sidecars { Fixture::sidecars().await } else { Fixture::new().await };
        let put = f.store.put_object("c", "d/obj", "data".into(), &opts).await.unwrap();
        assert_eq!(put.hash.as_ref().and_then(|h| h.matches(b"data")), Some(true));
        let has_sidecar = tree(&f.container_dir()).contains(&"d/%m.obj".to_owned());
        assert_eq!(has_sidecar, sidecars, "{:?}", tree(&f.container_dir()));
        for store in [
            storage_local::LocalDriver::new(f.root()).unwrap(),
            storage_local::LocalDriver::with_options(f.root(), storage_local::LocalOptions::default().xattrs(false))
                .unwrap(),
        ] {
            assert_eq!(store.head_object("c", "d/obj").await.unwrap(), put);
            let listed = store.list_page("c", &ListOptions::default(), None).await.unwrap();
            assert_eq!(listed.items[0].as_object(), Some(&put));
            let got = store.get_object("c", "d/obj", &Default::default()).await.unwrap();
            assert_eq!(got.object, put);
        }
        // Rewritten by the other kind of driver: the new metadata applies.
        let other = if sidecars {
            storage_local::LocalDriver::new(f.root()).unwrap()
        } else {
            storage_local::LocalDriver::with_options(f.root(), storage_local::LocalOptions::default().xattrs(false))
                .unwrap()
        };
        let opts2 = PutOptions::content_type("text/csv");
        let put2 = other.put_object("c", "d/obj", "other data".into(), &opts2).await.unwrap();
        assert_eq!(f.store.head_object("c", "d/obj").await.unwrap(), put2);
        assert_eq!(put2.content_type.as_deref(), Some("text/csv"));
        assert!(put2.metadata.is_empty());
        assert_eq!(
            f.store.list_page("c", &ListOptions::default(), None).await.unwrap().items[0].as_object(),
            Some(&put2)
        );
        // Deleting removes the sidecar, if any.
        f.store.delete_object("c", "d/obj").await.unwrap();
        assert!(tree(&f.container_dir()).is_empty(), "{:?}", tree(&f.container_dir()));
    }
}

#[tokio::test]
async fn metadata_too_large_for_an_attribute_goes_to_a_sidecar() {
    let f = Fixture::new().await;
    // Larger than any extended attribute value may be (64 KiB).
    let opts = PutOptions::default().with_metadata("big", "x".repeat(70_000));
    let put = f.store.put_object("c", "big", "data".into(), &opts).await.unwrap();
    assert!(tree(&f.container_dir()).contains(&"%m.big".to_owned()));
    assert_eq!(f.store.head_object("c", "big").await.unwrap(), put);
    assert_eq!(put.metadata["big"].len(), 70_000);
    // A small rewrite goes back to the attribute and the old sidecar no longer applies.
    let small = f.put("big", "new").await;
    assert_eq!(f.store.head_object("c", "big").await.unwrap(), small);
}
