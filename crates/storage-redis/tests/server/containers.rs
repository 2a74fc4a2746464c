//! Container lifecycle and name/key validation errors.

use storage_core::{Driver, ErrorKind, ListOptions, PutOptions};

use crate::common::{Fixture, Mode, kind};

crate::on_both_servers!(container_errors, name_and_key_errors);

async fn container_errors(mode: Mode) {
    let f = Fixture::new(mode, "cerr").await;
    let d = &*f.driver;
    assert_eq!(kind(d.get_container("c").await), ErrorKind::ContainerDoesNotExist);
    assert_eq!(kind(d.delete_container("c").await), ErrorKind::ContainerDoesNotExist);
    let c = d.create_container("c").await.unwrap();
    assert_eq!(c.name, "c");
    let e = d.create_container("c").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ContainerAlreadyExists);
    assert!(e.is_container_error());
    assert_eq!(d.get_container("c").await.unwrap().created.map(|t| t.timestamp()), c.created.map(|t| t.timestamp()));

    d.put_object("c", "k", "x".into(), &PutOptions::default()).await.unwrap();
    assert_eq!(kind(d.delete_container("c").await), ErrorKind::ContainerIsNotEmpty);
    d.delete_object("c", "k").await.unwrap();
    d.delete_container("c").await.unwrap();
    assert_eq!(kind(d.get_container("c").await), ErrorKind::ContainerDoesNotExist);

    assert_eq!(
        kind(d.put_object("c", "k", "x".into(), &PutOptions::default()).await),
        ErrorKind::ContainerDoesNotExist
    );
    assert_eq!(kind(d.head_object("c", "k").await), ErrorKind::ContainerDoesNotExist);
    assert_eq!(kind(d.delete_object("c", "k").await), ErrorKind::ContainerDoesNotExist);
    assert_eq!(kind(d.list_page("c", &ListOptions::default(), None).await), ErrorKind::ContainerDoesNotExist);
    // Re-creating works, and the container is empty.
    d.create_container("c").await.unwrap();
    assert!(d.list_page("c", &ListOptions::default(), None).await.unwrap().items.is_empty());
    assert_eq!(kind(d.head_object("c", "k").await), ErrorKind::ObjectDoesNotExist);
}

async fn name_and_key_errors(mode: Mode) {
    let f = Fixture::new(mode, "names").await;
    let d = &*f.driver;
    for bad in ["", "a/b", "nul\0"] {
        assert_eq!(kind(d.create_container(bad).await), ErrorKind::InvalidContainerName, "{bad:?}");
    }
    d.create_container("c").await.unwrap();
    for bad in [String::new(), "x".repeat(1025), "a\0b".to_owned()] {
        let r = d.put_object("c", &bad, "x".into(), &PutOptions::default()).await;
        assert_eq!(kind(r), ErrorKind::InvalidObjectName);
        assert_eq!(kind(d.head_object("c", &bad).await), ErrorKind::InvalidObjectName);
    }
    assert_eq!(d.info().name, "redis");
    assert_eq!(d.info().limits.max_page_size, 1000);
    assert_eq!(d.info().limits.min_part_size, 1);
}
