//! Containers, CDN URLs, the factory and the driver's description.

mod common;

use std::sync::Arc;

use common::{Fixture, kind};
use storage_core::{Driver, DriverConfig, ErrorKind, PutOptions, Registry};
use storage_local::{LocalDriver, LocalFactory};

#[tokio::test]
async fn container_lifecycle() {
    let f = Fixture::new().await;
    assert_eq!(kind(f.store.create_container("c").await), ErrorKind::ContainerAlreadyExists);
    let made = f.store.create_container("Photos 2024").await.unwrap();
    assert!(made.created.is_some());
    assert!(f.root().join("Photos 2024").is_dir());
    assert_eq!(f.store.get_container("Photos 2024").await.unwrap().name, "Photos 2024");
    assert_eq!(kind(f.store.get_container("nope").await), ErrorKind::ContainerDoesNotExist);
    // Stray files and hidden directories in the root are not containers.
    std::fs::write(f.root().join("stray-file"), "x").unwrap();
    std::fs::create_dir(f.root().join(".hidden")).unwrap();
    let page = f.store.list_containers_page(None).await.unwrap();
    let names: Vec<_> = page.items.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["Photos 2024", "c"]);
    assert_eq!(kind(f.store.get_container("stray-file").await), ErrorKind::ContainerDoesNotExist);

    f.store.put_object("c", "a/b", "x".into(), &PutOptions::default()).await.unwrap();
    let e = f.store.delete_container("c").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ContainerIsNotEmpty);
    assert_eq!(e.container(), Some("c"));
    f.store.delete_object("c", "a/b").await.unwrap();
    f.store.delete_container("c").await.unwrap();
    assert_eq!(kind(f.store.delete_container("c").await), ErrorKind::ContainerDoesNotExist);
    assert_eq!(kind(f.store.delete_container(".x").await), ErrorKind::InvalidContainerName);

    // A file written by hand keeps a container from being deleted, even if unlisted.
    std::fs::write(f.root().join("Photos 2024").join("100%"), "x").unwrap();
    assert_eq!(kind(f.store.delete_container("Photos 2024").await), ErrorKind::ContainerIsNotEmpty);
}

#[tokio::test]
async fn cdn_urls_are_file_urls() {
    let f = Fixture::new().await;
    f.store.put_object("c", "a b/c%d", "x".into(), &PutOptions::default()).await.unwrap();
    let root = f.root().to_str().unwrap().to_owned();
    assert_eq!(f.store.get_container_cdn_url("c").await.unwrap(), format!("file://{root}/c"));
    let url = f.store.get_object_cdn_url("c", "a b/c%d").await.unwrap();
    assert_eq!(url, format!("file://{root}/c/a%20b/c%2525d"));
    assert!(std::path::Path::new(&format!("{root}/c/a b/c%25d")).is_file());
    f.store.enable_container_cdn("c").await.unwrap();
    f.store.enable_object_cdn("c", "a b/c%d").await.unwrap();
    assert_eq!(kind(f.store.get_container_cdn_url("nope").await), ErrorKind::ContainerDoesNotExist);
    assert_eq!(kind(f.store.get_object_cdn_url("c", "missing").await), ErrorKind::ObjectDoesNotExist);
    assert_eq!(kind(f.store.enable_container_cdn("nope").await), ErrorKind::ContainerDoesNotExist);
}

#[tokio::test]
async fn info_and_unsupported_operations() {
    let f = Fixture::new().await;
    let info = f.store.info();
    assert_eq!(info.name, "local");
    assert!(info.capabilities.cdn && info.capabilities.multipart && info.capabilities.put_if_absent);
    assert!(!info.capabilities.signed_urls && !info.capabilities.versions && !info.capabilities.batch_delete);
    assert!(!info.capabilities.key_and_prefix);
    assert_eq!(info.limits.min_part_size, 1);
    assert_eq!(info.container_rules, storage_core::ContainerNameRules::Filesystem);
    assert_eq!(kind(f.store.signed_url("c", "k", &Default::default()).await), ErrorKind::NotSupported);
    let d: &dyn Driver = f.store.as_ref();
    assert_eq!(d.as_any().downcast_ref::<LocalDriver>().unwrap().root(), f.root());
    // Batch delete uses the trait's default.
    f.store.put_object("c", "a", "x".into(), &PutOptions::default()).await.unwrap();
    let out = f.store.delete_batch("c", &["a".into(), "missing".into(), "../x".into()]).await.unwrap();
    assert!(out[0].result.is_ok() && out[1].result.is_ok());
    assert_eq!(out[2].result.as_ref().unwrap_err().kind(), ErrorKind::InvalidObjectName);
}

#[tokio::test]
async fn factory_and_constructor() {
    let tmp = tempfile::tempdir().unwrap();
    let mut registry = Registry::new();
    registry.register(Arc::new(LocalFactory));
    let e = registry.build("local", &DriverConfig::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().contains("root"), "{e}");
    let root = tmp.path().join("made/on/demand");
    let config = DriverConfig::new().set("root", root.to_str().unwrap());
    let loc = registry.open("file://bucket/some/key", &config).unwrap();
    assert_eq!(loc.driver.info().name, "local");
    assert_eq!((loc.container.as_deref(), loc.key.as_deref()), (Some("bucket"), Some("some/key")));
    assert!(root.is_dir());
    assert!(registry.build("local", &config).is_ok());

    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    assert_eq!(LocalDriver::new(&file).unwrap_err().kind(), ErrorKind::Config);
    assert_eq!(LocalDriver::new("").unwrap_err().kind(), ErrorKind::Config);
    assert_eq!(LocalDriver::new(file.join("below")).unwrap_err().kind(), ErrorKind::Io);
}
