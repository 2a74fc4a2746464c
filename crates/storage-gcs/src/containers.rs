//! Buckets: `buckets.list`, `buckets.get`, `buckets.insert` (in the project),
//! `buckets.delete` (a bucket that still holds objects is `ContainerIsNotEmpty`, whatever
//! status the server uses: GCS answers 409, fake-gcs-server 412).

use http::Method;
use serde_json::json;
use storage_core::{Container, Error, ErrorKind, Page, Result};
use storage_http::http;

use crate::client::Call;
use crate::config::DEFAULT_ENDPOINT;
use crate::driver::{GcsDriver, NAME};
use crate::json::{Bucket, Buckets};

fn container(b: Bucket) -> Container {
    let mut c = Container::new(b.name);
    c.created = b.time_created;
    if let Some(l) = b.location {
        c.extra.insert("location".into(), l);
    }
    if let Some(s) = b.storage_class {
        c.extra.insert("storage_class".into(), s);
    }
    c
}

/// The project of bucket listings and creations: configured, else the credentials', else
/// a placeholder for emulators (which ignore it); Google's endpoint needs a real one.
fn project(d: &GcsDriver) -> Result<String> {
    if let Some(p) = d.client.project() {
        return Ok(p.to_owned());
    }
    if d.client.endpoint != DEFAULT_ENDPOINT {
        return Ok("storage-rs".to_owned());
    }
    Err(Error::new(ErrorKind::Config, "listing or creating buckets needs a Google Cloud project")
        .with_driver(NAME)
        .with_hint("set project_id in the [gcs] section, or GOOGLE_CLOUD_PROJECT"))
}

/// One page of `buckets.list`.
pub(crate) async fn list_page(d: &GcsDriver, token: Option<String>) -> Result<Page<Container>> {
    let mut call =
        Call::new("ListBuckets", Method::GET, "/b".into()).query("project", project(d)?).query("maxResults", "1000");
    if let Some(t) = token {
        call = call.query("pageToken", t);
    }
    let page: Buckets = d.client.send_json(call).await?;
    Ok(Page { items: page.items.into_iter().map(container).collect(), next_token: page.next_page_token })
}

/// `buckets.get`.
pub(crate) async fn get(d: &GcsDriver, name: &str) -> Result<Container> {
    d.check_bucket(name)?;
    match d.client.send_json::<Bucket>(Call::bucket("GetBucket", Method::GET, name, "")).await {
        Ok(b) => Ok(container(b)),
        Err(e) if e.status() == Some(404) => Err(Error::container_not_found(NAME, name).with_status(404)),
        Err(e) => Err(e),
    }
}

/// `buckets.insert`; 409 is `ContainerAlreadyExists`.
pub(crate) async fn create(d: &GcsDriver, name: &str) -> Result<Container> {
    d.check_bucket(name)?;
    let call = Call::new("InsertBucket", Method::POST, "/b".into())
        .about(name, None)
        .query("project", project(d)?)
        .json(&json!({ "name": name }))?
        // Creating twice cannot create two buckets.
        .idempotent(true);
    match d.client.send_json::<Bucket>(call).await {
        Ok(b) => Ok(container(b)),
        Err(e) if e.status() == Some(409) => {
            Err(Error::new(ErrorKind::ContainerAlreadyExists, format!("bucket {name:?} already exists"))
                .with_status(409)
                .with_driver(NAME)
                .with_container(name))
        }
        Err(e) => Err(e),
    }
}

/// `buckets.delete`.
pub(crate) async fn delete(d: &GcsDriver, name: &str) -> Result<()> {
    d.check_bucket(name)?;
    match d.client.send(Call::bucket("DeleteBucket", Method::DELETE, name, "")).await {
        Ok(_) => Ok(()),
        Err(e) if e.status() == Some(404) => Err(Error::container_not_found(NAME, name).with_status(404)),
        Err(e) if matches!(e.status(), Some(409 | 412)) => {
            let status = e.status().unwrap_or(409);
            Err(Error::new(ErrorKind::ContainerIsNotEmpty, format!("bucket {name:?} is not empty"))
                .with_status(status)
                .with_driver(NAME)
                .with_container(name)
                .with_hint("delete its objects first (storage rm -r), then the bucket"))
        }
        Err(e) => Err(e),
    }
}

/// A 404 about an object: the bucket's absence when it is the bucket that is missing.
pub(crate) async fn refine_not_found(d: &GcsDriver, e: Error, bucket: &str) -> Error {
    if e.status() == Some(404)
        && let Err(b) = get(d, bucket).await
        && b.kind() == ErrorKind::ContainerDoesNotExist
    {
        return b;
    }
    e
}
