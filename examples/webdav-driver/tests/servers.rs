//! What the conformance suite cannot check on its own, against the real servers
//! `cargo xtask emulators start apache-dav rclone-dav` starts: Basic authentication
//! (Apache's auth host), the read-only plain HTTP store, staged uploads left behind,
//! and the listing order of keys that sort differently from their path components.
//! Each test is skipped, saying so, when its server's variable is not set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::TryStreamExt;
use storage_core::{
    ByteRange, Driver, DriverExt, ErrorKind, GetOptions, LeftoverKind, ListEntry, ListOptions, PutOptions,
};
use storage_webdav::{Flavor, WebDavConfig, WebDavDriver};

fn env(var: &str) -> Option<String> {
    let v = std::env::var(var).ok().filter(|v| !v.trim().is_empty());
    if v.is_none() {
        eprintln!("{var} is not set: skipped (run `cargo xtask emulators start apache-dav rclone-dav`)");
    }
    v
}

/// A container name of its own for each test run.
fn fresh(tag: &str) -> String {
    format!("t-{tag}-{}", storage_core::kit::unique_tag())
}

async fn cleanup(d: &WebDavDriver, container: &str) {
    let keys: Vec<String> = d
        .list_objects(container, ListOptions::default())
        .try_filter_map(|e| async move { Ok(e.as_object().map(|o| o.name.clone())) })
        .try_collect()
        .await
        .unwrap_or_default();
    let _ = d.delete_objects(container, &keys).await;
    let _ = d.delete_container(container).await;
}

#[tokio::test]
async fn basic_auth_right_and_wrong() {
    let (Some(url), Some(user), Some(password)) =
        (env("EMU_WEBDAV_APACHE_AUTH_URL"), env("EMU_WEBDAV_AUTH_USER"), env("EMU_WEBDAV_AUTH_PASSWORD"))
    else {
        return;
    };
    let good = WebDavDriver::new(WebDavConfig::new(&url).basic_auth(&user, &password)).unwrap();
    let c = fresh("auth");
    good.create_container(&c).await.unwrap();
    good.put_object(&c, "k", "secret data".into(), &PutOptions::default()).await.unwrap();
    assert_eq!(good.get_bytes(&c, "k").await.unwrap(), "secret data");

    // The wrong password: a typed error that never shows it.
    let wrong = WebDavDriver::new(WebDavConfig::new(&url).basic_auth(&user, "not-the-password-4711")).unwrap();
    for e in [
        wrong.get_container(&c).await.unwrap_err(),
        wrong.head_object(&c, "k").await.unwrap_err(),
        wrong.get_object(&c, "k", &GetOptions::default()).await.unwrap_err(),
        wrong.put_object(&c, "k2", "x".into(), &PutOptions::default()).await.unwrap_err(),
        wrong.list_keys(&c, None).await.unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e}");
        assert_eq!(e.status(), Some(401), "{e}");
        let shown = format!("{e} {e:?} {wrong:?}");
        assert!(!shown.contains("not-the-password-4711") && !shown.contains(&password), "{shown}");
    }
    // No credentials at all, and credentials in the URL.
    let anonymous = WebDavDriver::new(WebDavConfig::new(&url)).unwrap();
    assert_eq!(anonymous.get_container(&c).await.unwrap_err().kind(), ErrorKind::Unauthenticated);
    let host = url.split_once("://").map(|(_, h)| h).unwrap();
    let in_url = WebDavConfig::from_url(&format!("webdav://{user}:{password}@{host}")).unwrap();
    assert!(!format!("{in_url:?}").contains(&password));
    let in_url = WebDavDriver::new(in_url).unwrap();
    assert_eq!(in_url.get_bytes(&c, "k").await.unwrap(), "secret data");
    assert!(good.put_object(&c, "k2", "x".into(), &PutOptions::default()).await.is_ok());
    assert_eq!(wrong.head_object(&c, "k2").await.unwrap_err().kind(), ErrorKind::Unauthenticated);
    cleanup(&good, &c).await;
}

#[tokio::test]
async fn the_plain_http_store_reads_and_never_writes() {
    let Some(url) = env("EMU_WEBDAV_APACHE_URL") else { return };
    let dav = WebDavDriver::new(WebDavConfig::new(&url)).unwrap();
    let c = fresh("http");
    dav.create_container(&c).await.unwrap();
    let data: Vec<u8> = (0u8..100).collect();
    let put = dav.put_object(&c, "dir/data.bin", data.into(), &PutOptions::default()).await.unwrap();

    let http = WebDavDriver::new(WebDavConfig::new(&url).flavor(Flavor::Http)).unwrap();
    assert_eq!(http.info().name, "http");
    assert!(!http.info().capabilities.manage_containers && http.info().capabilities.ranges);
    assert_eq!(http.get_bytes(&c, "dir/data.bin").await.unwrap().len(), 100);
    let head = http.head_object(&c, "dir/data.bin").await.unwrap();
    assert_eq!((head.size, head.etag.as_deref()), (100, put.etag.as_deref()));
    let part = http.get_object(&c, "dir/data.bin", &GetOptions::range(ByteRange::Suffix(3))).await.unwrap();
    assert_eq!((part.range.clone(), part.bytes().await.unwrap().to_vec()), (97..100, vec![97, 98, 99]));
    let stale = GetOptions { if_match: Some("\"not-the-etag\"".into()), ..Default::default() };
    let e = http.get_object(&c, "dir/data.bin", &stale).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PreconditionFailed);
    let same = GetOptions { if_none_match: head.etag.clone(), ..Default::default() };
    assert_eq!(http.get_object(&c, "dir/data.bin", &same).await.unwrap_err().kind(), ErrorKind::NotModified);
    assert_eq!(http.head_object(&c, "dir/missing").await.unwrap_err().kind(), ErrorKind::ObjectDoesNotExist);
    // Apache also answers PROPFIND, so the plain HTTP store can list it.
    assert_eq!(http.list_keys(&c, None).await.unwrap(), vec!["dir/data.bin"]);
    assert_eq!(http.get_container(&c).await.unwrap().name, c);
    // Every write is refused before any request.
    for e in [
        http.put_object(&c, "x", "x".into(), &PutOptions::default()).await.unwrap_err(),
        http.delete_object(&c, "dir/data.bin").await.unwrap_err(),
        http.create_container("other").await.unwrap_err(),
        http.delete_container(&c).await.unwrap_err(),
        http.copy_object(&c, "dir/data.bin", &c, "y", &Default::default()).await.unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::NotSupported, "{e}");
    }
    assert!(dav.head_object(&c, "dir/data.bin").await.is_ok());
    cleanup(&dav, &c).await;
}

/// Staged uploads a killed writer left behind: invisible to listings, found by
/// `list_leftovers`, removed by `remove_leftover`.
async fn leftovers_on(url: &str) {
    let d = WebDavDriver::new(WebDavConfig::new(url)).unwrap();
    let c = fresh("left");
    d.create_container(&c).await.unwrap();
    d.put_object(&c, "logs/kept", "live".into(), &PutOptions::default()).await.unwrap();
    // What a writer killed between its PUT and its MOVE leaves.
    let staged = format!("{url}/{c}/logs/.~upload.killed-writer");
    let req = storage_http::HttpRequest::parse(storage_http::http::Method::PUT, &staged, "PUT")
        .unwrap()
        .body(storage_http::RequestBody::Bytes("half".into()));
    let resp = d.http_client().execute(&req, &storage_http::Unsigned).await.unwrap();
    assert!(resp.status.is_success(), "{}", resp.status);

    assert_eq!(d.list_keys(&c, None).await.unwrap(), vec!["logs/kept"]);
    let found = d.list_leftovers(&c, Some("logs/")).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let l = &found[0];
    assert_eq!(
        (l.kind, l.key.as_str(), l.id.as_str(), l.size),
        (LeftoverKind::StagedData, "logs/", "logs/.~upload.killed-writer", Some(4))
    );
    assert!(l.created.is_some());
    assert!(d.list_leftovers(&c, Some("other/")).await.unwrap().is_empty());
    // Keys with the staging prefix are refused, so no object can be mistaken for one.
    let e = d.put_object(&c, "logs/.~upload.mine", "x".into(), &PutOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidObjectName);
    d.remove_leftover(l).await.unwrap();
    d.remove_leftover(l).await.unwrap();
    assert!(d.list_leftovers(&c, None).await.unwrap().is_empty());
    assert_eq!(d.get_bytes(&c, "logs/kept").await.unwrap(), "live");
    cleanup(&d, &c).await;
}

#[tokio::test]
async fn leftovers_apache() {
    if let Some(url) = env("EMU_WEBDAV_APACHE_URL") {
        leftovers_on(&url).await;
    }
}

#[tokio::test]
async fn leftovers_rclone() {
    if let Some(url) = env("EMU_WEBDAV_RCLONE_URL") {
        leftovers_on(&url).await;
    }
}

/// Keys whose order differs from their path components' order, listed whole, by
/// pages, with a delimiter and from a start-after key.
async fn key_order_on(url: &str) {
    let d = WebDavDriver::new(WebDavConfig::new(url)).unwrap();
    let c = fresh("order");
    d.create_container(&c).await.unwrap();
    let keys = ["a/b/c", "a-b", "a/b-c", "a.txt", "a0", "a~", "Z", "é", "a/b.d", "a/ b", "b!", "b/c"];
    for k in keys {
        d.put_object(&c, k, k.to_owned().into(), &PutOptions::default()).await.unwrap();
    }
    let mut sorted: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    sorted.sort();
    assert_eq!(d.list_keys(&c, None).await.unwrap(), sorted);
    let paged: Vec<String> = d
        .list_objects(&c, ListOptions::default().with_page_size(2))
        .map_ok(|e| e.name().to_owned())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(paged, sorted);
    let names = |entries: Vec<ListEntry>| entries.iter().map(|e| e.name().to_owned()).collect::<Vec<_>>();
    let top: Vec<ListEntry> =
        d.list_objects(&c, ListOptions::default().with_delimiter("/").with_page_size(3)).try_collect().await.unwrap();
    assert_eq!(names(top), ["Z", "a-b", "a.txt", "a/", "a0", "a~", "b!", "b/", "é"]);
    let after: Vec<ListEntry> =
        d.list_objects(&c, ListOptions::prefix("a").with_start_after("a/b-c")).try_collect().await.unwrap();
    assert_eq!(names(after), ["a/b.d", "a/b/c", "a0", "a~"]);
    let dashes: Vec<ListEntry> =
        d.list_objects(&c, ListOptions::default().with_delimiter("-")).try_collect().await.unwrap();
    assert_eq!(dashes.first().map(ListEntry::name), Some("Z"));
    assert!(dashes.iter().any(|e| matches!(e, ListEntry::Prefix(p) if p == "a-")), "{dashes:?}");
    for k in keys {
        d.delete_object(&c, k).await.unwrap();
    }
    assert!(d.list_keys(&c, None).await.unwrap().is_empty());
    d.delete_container(&c).await.unwrap();
}

#[tokio::test]
async fn key_order_apache() {
    if let Some(url) = env("EMU_WEBDAV_APACHE_URL") {
        key_order_on(&url).await;
    }
}

#[tokio::test]
async fn key_order_rclone() {
    if let Some(url) = env("EMU_WEBDAV_RCLONE_URL") {
        key_order_on(&url).await;
    }
}
