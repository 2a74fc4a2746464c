//! Containers are the top-level collections under the endpoint: listed by PROPFIND
//! (depth 1) of the root, read by PROPFIND (depth 0), created by MKCOL, deleted by
//! DELETE once they hold no object.

use storage_core::{Container, Error, ErrorKind, Page, Result};
use storage_http::http;

use crate::client::{Call, Client, Depth, method};
use crate::driver::WebDavDriver;
use crate::xml::Resource;

fn container_of(name: &str, r: &Resource) -> Container {
    let mut c = Container::new(name);
    c.created = r.created.or(r.last_modified);
    c
}

/// Every container, in one page: the collections directly under the root whose names are
/// valid container names (others, such as Apache's `.DAV`, are not containers).
pub(crate) async fn list_page(d: &WebDavDriver, token: Option<String>) -> Result<Page<Container>> {
    d.writable("listing containers")?;
    let _ = token;
    let ep = &d.client.endpoint;
    let Some(found) = d.client.propfind(&ep.root_url(), Depth::One).await? else {
        return Err(Error::new(ErrorKind::Config, "the endpoint's collection does not exist (PROPFIND answered 404)")
            .with_driver(d.name())
            .with_hint("check the endpoint's path"));
    };
    let mut items: Vec<Container> = Client::children(&ep.root_path(), found)
        .into_iter()
        .filter(|(name, collection, _)| *collection && d.check_container(name).is_ok())
        .map(|(name, _, r)| container_of(&name, &r))
        .collect();
    items.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    Ok(Page::last(items))
}

/// The container's collection, or `None` when there is none (or a file stands there).
pub(crate) async fn find(d: &WebDavDriver, name: &str) -> Result<Option<Resource>> {
    let ep = &d.client.endpoint;
    let found = d.client.stat(&ep.container_url(name), &ep.container_path(name)).await?;
    Ok(found.filter(|r| r.collection))
}

/// `ContainerDoesNotExist` unless the container's collection exists.
pub(crate) async fn require(d: &WebDavDriver, name: &str) -> Result<Resource> {
    find(d, name).await?.ok_or_else(|| Error::container_not_found(d.name(), name))
}

/// PROPFIND (depth 0) of the container's collection. On a plain HTTP server, which does
/// not answer PROPFIND, a container exists if its URL answers anything but 404.
pub(crate) async fn get(d: &WebDavDriver, name: &str) -> Result<Container> {
    d.check_container(name)?;
    match find(d, name).await {
        Ok(Some(r)) => Ok(container_of(name, &r)),
        Ok(None) => Err(Error::container_not_found(d.name(), name)),
        Err(e) if d.is_http() && matches!(e.status(), Some(400 | 403 | 405 | 501)) => {
            let url = format!("{}/", d.client.endpoint.container_url(name));
            let resp = d.client.execute(&Call::new("HEAD", http::Method::HEAD, url)).await?;
            match resp.status.as_u16() {
                404 | 410 => Err(Error::container_not_found(d.name(), name)),
                401 => Err(crate::errors::from_response(resp, "HEAD").await),
                _ => Ok(Container::new(name)),
            }
        }
        Err(e) => Err(e.or_context(d.name(), Some(name), None)),
    }
}

/// MKCOL. Some servers answer MKCOL of an existing collection with 201 (rclone), so the
/// collection is looked for first; a 405 (Apache: it exists) is `ContainerAlreadyExists`
/// too. A container created by someone else between the look and the MKCOL may be
/// reported as created by a server of the first kind.
pub(crate) async fn create(d: &WebDavDriver, name: &str) -> Result<Container> {
    d.writable("creating containers")?;
    d.check_container(name)?;
    let ep = &d.client.endpoint;
    if d.client.stat(&ep.container_url(name), &ep.container_path(name)).await?.is_some() {
        return Err(already_exists(d, name));
    }
    let call = Call::new("MKCOL", method("MKCOL"), format!("{}/", ep.container_url(name)));
    let resp = d.client.execute(&call).await?;
    match resp.status.as_u16() {
        200..=299 => Ok(Container::new(name)),
        405 => Err(already_exists(d, name)),
        409 => Err(Error::new(ErrorKind::Config, "the endpoint's collection does not exist (MKCOL answered 409)")
            .with_driver(d.name())
            .with_container(name)
            .with_hint("check the endpoint's path")),
        _ => Err(crate::errors::from_response(resp, "MKCOL").await.or_context(d.name(), Some(name), None)),
    }
}

fn already_exists(d: &WebDavDriver, name: &str) -> Error {
    Error::new(ErrorKind::ContainerAlreadyExists, format!("container {name:?} already exists"))
        .with_driver(d.name())
        .with_container(name)
}

/// DELETE of the container's collection, after checking it holds no object: WebDAV
/// deletes a collection with everything in it, but the contract is
/// `ContainerIsNotEmpty`. Collections without objects (and staged uploads) go with it.
/// Where the server gives the collection an ETag, the DELETE carries it in an `If`
/// header, so a change directly in the container since the check makes it fail (and the
/// check runs again); an object written deeper in the tree in that instant is deleted
/// with the container, which no WebDAV request can exclude. Where collections have no
/// ETag (rclone) the DELETE is unconditional, and rclone 1.75 has been seen answering a
/// PROPFIND of a collection that other requests were changing with no members: delete
/// a container there only once its writers are done.
pub(crate) async fn delete(d: &WebDavDriver, name: &str) -> Result<()> {
    d.writable("deleting containers")?;
    d.check_container(name)?;
    for _ in 0..3 {
        let r = require(d, name).await?;
        if crate::list::holds_object(d, name, "").await? {
            return Err(Error::new(
                ErrorKind::ContainerIsNotEmpty,
                format!("container {name:?} is not empty: it still holds objects"),
            )
            .with_driver(d.name())
            .with_container(name)
            .with_hint("delete its objects first (storage rm -r), then the container"));
        }
        let url = format!("{}/", d.client.endpoint.container_url(name));
        let mut call = Call::new("DELETE", http::Method::DELETE, url.clone());
        if let Some(etag) = &r.etag {
            // Tagged with the collection's URL: Apache checks untagged lists against the
            // parent too.
            call = call.header("if", &format!("<{url}> ([{}])", etag.trim()))?;
        }
        let resp = d.client.execute(&call).await?;
        match resp.status.as_u16() {
            200..=299 => return Ok(()),
            404 | 410 => return Err(Error::container_not_found(d.name(), name)),
            // Changed since the check (or the server does not compare ETags in `If`).
            412 if r.etag.is_some() => {
                if changed_since(d, name, &r).await? {
                    continue;
                }
                let url = format!("{}/", d.client.endpoint.container_url(name));
                let resp = d.client.execute(&Call::new("DELETE", http::Method::DELETE, url)).await?;
                if resp.status.is_success() {
                    return Ok(());
                }
                return Err(crate::errors::from_response(resp, "DELETE").await.or_context(d.name(), Some(name), None));
            }
            _ => {
                return Err(crate::errors::from_response(resp, "DELETE").await.or_context(d.name(), Some(name), None));
            }
        }
    }
    Err(Error::new(ErrorKind::Backend, format!("container {name:?} kept changing while it was being deleted"))
        .with_driver(d.name())
        .with_container(name)
        .with_retryable(true))
}

/// Whether the container's collection changed since `before` was read.
async fn changed_since(d: &WebDavDriver, name: &str, before: &Resource) -> Result<bool> {
    Ok(find(d, name).await?.is_none_or(|now| now.etag != before.etag))
}
