//! Containers: List Containers, Get Container Properties, Create Container, Delete
//! Container (refused while blobs remain), and the public access level the Libcloud CDN
//! calls set.

use http::Method;
use storage_core::{Container, Error, ErrorKind, Page, Result};
use storage_http::{RequestBody, http};

use crate::client::Call;
use crate::driver::{AzureDriver, NAME};
use crate::xml::ContainerList;

/// One page of List Containers (marker pagination).
pub(crate) async fn list_page(d: &AzureDriver, token: Option<String>) -> Result<Page<Container>> {
    let mut call =
        Call::new("ListContainers", Method::GET, None, None).query("comp", "list").query("maxresults", "5000");
    if let Some(t) = token {
        call = call.query("marker", t);
    }
    let body = d.client.send(call).await?.bytes().await?;
    let list = ContainerList::parse(&body)?;
    let items = list
        .containers
        .into_iter()
        .map(|c| {
            let mut out = Container::new(c.name);
            out.created = c.last_modified;
            if let Some(p) = c.public_access {
                out.extra.insert("public_access".into(), p);
            }
            out
        })
        .collect();
    Ok(Page { items, next_token: list.next_marker })
}

/// Get Container Properties.
pub(crate) async fn get(d: &AzureDriver, name: &str) -> Result<Container> {
    d.check_container(name)?;
    let call = Call::new("GetContainerProperties", Method::HEAD, Some(name), None).query("restype", "container");
    match d.client.send(call).await {
        Ok(resp) => {
            let mut c = Container::new(name);
            c.created = resp
                .header("last-modified")
                .and_then(|v| httpdate::parse_http_date(v).ok())
                .map(chrono::DateTime::<chrono::Utc>::from);
            if let Some(p) = resp.header("x-ms-blob-public-access") {
                c.extra.insert("public_access".into(), p.to_owned());
            }
            Ok(c)
        }
        Err(e) if e.status() == Some(404) => Err(Error::container_not_found(NAME, name).with_status(404)),
        Err(e) => Err(e),
    }
}

/// Create Container (private); 409 ContainerAlreadyExists is `ContainerAlreadyExists`.
pub(crate) async fn create(d: &AzureDriver, name: &str) -> Result<Container> {
    d.check_container(name)?;
    let call = Call::new("CreateContainer", Method::PUT, Some(name), None).query("restype", "container");
    d.client.send(call).await?;
    Ok(Container::new(name))
}

/// Delete Container, after checking it holds no blob: Azure deletes a container with
/// everything in it, but the Libcloud contract is `ContainerIsNotEmpty`. A blob written
/// between the check and the delete is deleted with the container (the service offers
/// no conditional delete on emptiness); a lease on the container is the way to exclude
/// writers that matters that much.
pub(crate) async fn delete(d: &AzureDriver, name: &str) -> Result<()> {
    d.check_container(name)?;
    let probe = storage_core::ListOptions { page_size: Some(1), ..Default::default() };
    let page = crate::list::page(d, name, &probe, None).await?;
    if !page.items.is_empty() {
        return Err(Error::new(
            ErrorKind::ContainerIsNotEmpty,
            format!("container {name:?} is not empty: it still holds blobs"),
        )
        .with_driver(NAME)
        .with_container(name)
        .with_hint("delete its blobs first (storage rm -r), then the container"));
    }
    let call = Call::new("DeleteContainer", Method::DELETE, Some(name), None).query("restype", "container");
    d.client.send(call).await?;
    Ok(())
}

/// Sets the container's public access level to `blob` (anonymous reads of blobs, not of
/// listings), keeping its stored access policies: Set Container ACL replaces both, so
/// the current ACL is read first and sent back.
pub(crate) async fn make_public(d: &AzureDriver, name: &str) -> Result<()> {
    d.check_container(name)?;
    let get =
        Call::new("GetContainerACL", Method::GET, Some(name), None).query("restype", "container").query("comp", "acl");
    let acl = d.client.send(get).await?.bytes().await?;
    let call = Call::new("SetContainerACL", Method::PUT, Some(name), None)
        .query("restype", "container")
        .query("comp", "acl")
        .header("x-ms-blob-public-access", "blob")?;
    let call = if acl.iter().any(|b| !b.is_ascii_whitespace()) {
        call.header("content-type", "application/xml")?.body(RequestBody::Bytes(acl))
    } else {
        call
    };
    d.client.send(call).await?;
    Ok(())
}

/// Whether the container's public access level lets anyone read its blobs (`blob` or
/// `container`).
pub(crate) async fn is_public(d: &AzureDriver, container: &str) -> Result<bool> {
    let c = get(d, container).await?;
    Ok(matches!(c.extra.get("public_access").map(String::as_str), Some("blob" | "container")))
}

/// Libcloud's `enable_object_cdn` on Azure, where public access is per container: the
/// blob must exist and its container be public (`enable_container_cdn`), and then there
/// is nothing to change. In a private container it is `NotSupported`: Azure cannot make
/// one blob public, and making the whole container public is left to the caller.
pub(crate) async fn check_object_public(d: &AzureDriver, container: &str, key: &str) -> Result<()> {
    crate::read::head(d, container, key).await?;
    if is_public(d, container).await? {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::NotSupported,
        "Azure has no public access per blob, and this blob's container is private; nothing was changed",
    )
    .with_driver(NAME)
    .with_object(container, key)
    .with_hint(
        "enable_container_cdn makes every blob of the container publicly readable; get_object_cdn_url gives a read SAS URL for one blob of a private container",
    ))
}
