//! Libcloud's bound objects: a [`BoundContainer`] and a [`BoundObject`] carry their driver,
//! so calls read as they do in Libcloud (`container.upload_object(..)`,
//! `object.download(..)`, `object.delete()`), on any driver.
//!
//! They are thin: each method is one call of [`Driver`] or [`DriverExt`] with the
//! handle's names filled in, so behaviour (verification, atomic downloads, errors) is
//! exactly the driver's. A handle's [`Container`] / [`Object`] data is what the backend
//! answered when the handle was made; it is not refreshed behind your back
//! ([`BoundObject::refresh`] asks again).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use futures::TryStreamExt;
//! use storage_core::{BoundContainer, Driver, MemoryDriver, PutOptions};
//!
//! let driver: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
//! let container = BoundContainer::create(driver, "photos").await?;
//! let object = container.upload_bytes("cat.txt", "meow".into(), &PutOptions::default()).await?;
//! assert_eq!(object.size, 4);
//! assert_eq!(object.bytes().await?, "meow");
//! let names: Vec<String> = container.iterate_objects(None).map_ok(|o| o.name.clone()).try_collect().await?;
//! assert_eq!(names, ["cat.txt"]);
//! object.delete().await?;
//! container.delete().await?;
//! # Ok::<(), storage_core::Error>(())
//! # }).unwrap();
//! ```

use std::ops::{Deref, Range};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};

use crate::driver::{Driver, paginate};
use crate::error::Result;
use crate::object::{Container, ListEntry, Object};
use crate::ops::{DownloadOptions, DriverExt, TransferOptions, UploadOptions};
use crate::options::{GetOptions, ListOptions, PutOptions, SignedUrlOptions};
use crate::payload::{ByteStream, GetResult, Payload};

/// A container with its driver (Libcloud's `Container`, whose methods call
/// `container.driver`). Dereferences to the [`Container`] data.
#[derive(Debug, Clone)]
pub struct BoundContainer {
    driver: Arc<dyn Driver>,
    container: Container,
}

impl BoundContainer {
    /// Wraps container data the caller already has, without a request.
    pub fn new(driver: Arc<dyn Driver>, container: Container) -> Self {
        BoundContainer { driver, container }
    }

    /// A handle on `name` without a request (the container may not exist; calls will
    /// say so with `ContainerDoesNotExist`).
    pub fn named(driver: Arc<dyn Driver>, name: impl Into<String>) -> Self {
        let container = Container { name: name.into(), created: None, extra: Default::default() };
        BoundContainer { driver, container }
    }

    /// Libcloud `driver.get_container(name)`: the container, or `ContainerDoesNotExist`.
    pub async fn get(driver: Arc<dyn Driver>, name: &str) -> Result<Self> {
        let container = driver.get_container(name).await?;
        Ok(BoundContainer { driver, container })
    }

    /// Libcloud `driver.create_container(name)`.
    pub async fn create(driver: Arc<dyn Driver>, name: &str) -> Result<Self> {
        let container = driver.create_container(name).await?;
        Ok(BoundContainer { driver, container })
    }

    /// Libcloud `driver.iterate_containers()`: every container, bound, page by page.
    pub fn iterate(driver: Arc<dyn Driver>) -> BoxStream<'static, Result<BoundContainer>> {
        let pages = driver.clone();
        paginate(move |token| {
            let driver = pages.clone();
            async move { driver.list_containers_page(token).await }
        })
        .map(move |c| c.map(|container| BoundContainer { driver: driver.clone(), container }))
        .boxed()
    }

    /// The driver this container belongs to.
    pub fn driver(&self) -> &Arc<dyn Driver> {
        &self.driver
    }

    /// The container's data.
    pub fn container(&self) -> &Container {
        &self.container
    }

    /// A handle on `key` in this container without a request (its data holds only the
    /// names; [`BoundObject::refresh`] fetches the rest).
    pub fn object(&self, key: impl Into<String>) -> BoundObject {
        let object = Object::new(self.container.name.clone(), key, 0);
        BoundObject { driver: self.driver.clone(), object }
    }

    /// Libcloud `container.get_object(name)`: the object's metadata, or
    /// `ObjectDoesNotExist`.
    pub async fn get_object(&self, key: &str) -> Result<BoundObject> {
        let object = self.driver.head_object(&self.container.name, key).await?;
        Ok(self.bind(object))
    }

    /// Libcloud `container.iterate_objects(prefix=..)`: every object (no common prefixes),
    /// bound, page by page.
    pub fn iterate_objects(&self, prefix: Option<&str>) -> BoxStream<'_, Result<BoundObject>> {
        let options = ListOptions { prefix: prefix.map(str::to_owned), ..ListOptions::default() };
        self.driver
            .list_objects(&self.container.name, options)
            .filter_map(move |entry| async move {
                match entry {
                    Ok(ListEntry::Object(o)) => Some(Ok(self.bind(o))),
                    Ok(ListEntry::Prefix(_)) => None,
                    Err(e) => Some(Err(e)),
                }
            })
            .boxed()
    }

    /// Libcloud `container.list_objects(prefix=..)`: every object, collected.
    pub async fn list_objects(&self, prefix: Option<&str>) -> Result<Vec<BoundObject>> {
        futures::TryStreamExt::try_collect(self.iterate_objects(prefix)).await
    }

    /// Libcloud `container.upload_object(file_path, object_name, extra, verify_hash)`:
    /// [`DriverExt::upload_object`] into this container.
    pub async fn upload_object(&self, path: &Path, key: &str, options: &UploadOptions) -> Result<BoundObject> {
        let object = self.driver.upload_object(path, &self.container.name, key, options).await?;
        Ok(self.bind(object))
    }

    /// Libcloud `container.upload_object_via_stream(iterator, object_name, extra)`:
    /// [`DriverExt::upload_object_via_stream`] into this container.
    pub async fn upload_object_via_stream(
        &self,
        stream: ByteStream,
        key: &str,
        options: PutOptions,
        transfer: &TransferOptions,
    ) -> Result<BoundObject> {
        let object = self.driver.upload_object_via_stream(stream, &self.container.name, key, options, transfer).await?;
        Ok(self.bind(object))
    }

    /// Writes `data` to `key` in one request ([`Driver::put_object`]).
    pub async fn upload_bytes(&self, key: &str, data: Bytes, options: &PutOptions) -> Result<BoundObject> {
        let object = self.driver.put_object(&self.container.name, key, Payload::from(data), options).await?;
        Ok(self.bind(object))
    }

    /// Libcloud `container.download_object(obj, destination_path, overwrite_existing,
    /// delete_on_failure)`, by key.
    pub async fn download_object(&self, key: &str, dest: &Path, options: &DownloadOptions) -> Result<Object> {
        self.driver.download_object(&self.container.name, key, dest, options).await
    }

    /// Libcloud `container.download_object_as_stream(obj, chunk_size)`, by key.
    pub async fn download_object_as_stream(&self, key: &str, chunk_size: Option<usize>) -> Result<ByteStream> {
        self.driver.download_object_as_stream(&self.container.name, key, chunk_size).await
    }

    /// Libcloud `container.delete_object(obj)`, by key.
    pub async fn delete_object(&self, key: &str) -> Result<()> {
        self.driver.delete_object(&self.container.name, key).await
    }

    /// Libcloud `container.delete()`: deletes the (empty) container;
    /// `ContainerIsNotEmpty` otherwise.
    pub async fn delete(&self) -> Result<()> {
        self.driver.delete_container(&self.container.name).await
    }

    /// Libcloud `container.enable_cdn()` ([`Driver::enable_container_cdn`]).
    pub async fn enable_cdn(&self) -> Result<()> {
        self.driver.enable_container_cdn(&self.container.name).await
    }

    /// Libcloud `container.get_cdn_url()` ([`Driver::get_container_cdn_url`]).
    pub async fn get_cdn_url(&self) -> Result<String> {
        self.driver.get_container_cdn_url(&self.container.name).await
    }

    fn bind(&self, object: Object) -> BoundObject {
        BoundObject { driver: self.driver.clone(), object }
    }
}

impl Deref for BoundContainer {
    type Target = Container;
    fn deref(&self) -> &Container {
        &self.container
    }
}

/// An object with its driver (Libcloud's `Object`, whose methods call
/// `object.driver`). Dereferences to the [`Object`] data (`name`, `size`, `hash`,
/// `metadata`...).
#[derive(Debug, Clone)]
pub struct BoundObject {
    driver: Arc<dyn Driver>,
    object: Object,
}

impl BoundObject {
    /// Wraps object data the caller already has, without a request.
    pub fn new(driver: Arc<dyn Driver>, object: Object) -> Self {
        BoundObject { driver, object }
    }

    /// Libcloud `driver.get_object(container_name, object_name)`.
    pub async fn get(driver: Arc<dyn Driver>, container: &str, key: &str) -> Result<Self> {
        let object = driver.head_object(container, key).await?;
        Ok(BoundObject { driver, object })
    }

    /// The driver this object belongs to.
    pub fn driver(&self) -> &Arc<dyn Driver> {
        &self.driver
    }

    /// The object's data as the backend last answered it.
    pub fn object(&self) -> &Object {
        &self.object
    }

    /// The object's data, unbound.
    pub fn into_object(self) -> Object {
        self.object
    }

    /// The container holding this object, as a handle (no request).
    pub fn container(&self) -> BoundContainer {
        BoundContainer::named(self.driver.clone(), self.object.container.clone())
    }

    /// Asks the backend for the object's current metadata.
    pub async fn refresh(&mut self) -> Result<&Object> {
        self.object = self.driver.head_object(&self.object.container, &self.object.name).await?;
        Ok(&self.object)
    }

    /// Libcloud `obj.download(destination_path, overwrite_existing, delete_on_failure)`.
    pub async fn download(&self, dest: &Path, options: &DownloadOptions) -> Result<Object> {
        self.driver.download_object(&self.object.container, &self.object.name, dest, options).await
    }

    /// Libcloud `obj.as_stream(chunk_size)`.
    pub async fn as_stream(&self, chunk_size: Option<usize>) -> Result<ByteStream> {
        self.driver.download_object_as_stream(&self.object.container, &self.object.name, chunk_size).await
    }

    /// Libcloud `obj.download_object_range(..)` / `as_stream` of a range: bytes `range`.
    pub async fn range(&self, range: Range<u64>) -> Result<Bytes> {
        self.driver.get_range(&self.object.container, &self.object.name, range).await
    }

    /// The whole object in memory.
    pub async fn bytes(&self) -> Result<Bytes> {
        self.driver.get_bytes(&self.object.container, &self.object.name).await
    }

    /// A read with options (ranges, conditions, version) and its streamed body.
    pub async fn read(&self, options: &GetOptions) -> Result<GetResult> {
        self.driver.get_object(&self.object.container, &self.object.name, options).await
    }

    /// Libcloud `obj.delete()`.
    pub async fn delete(&self) -> Result<()> {
        self.driver.delete_object(&self.object.container, &self.object.name).await
    }

    /// Libcloud `obj.enable_cdn()` ([`Driver::enable_object_cdn`]).
    pub async fn enable_cdn(&self) -> Result<()> {
        self.driver.enable_object_cdn(&self.object.container, &self.object.name).await
    }

    /// Libcloud `obj.get_cdn_url()` ([`Driver::get_object_cdn_url`]).
    pub async fn get_cdn_url(&self) -> Result<String> {
        self.driver.get_object_cdn_url(&self.object.container, &self.object.name).await
    }

    /// A presigned URL for this object ([`Driver::signed_url`]).
    pub async fn signed_url(&self, options: &SignedUrlOptions) -> Result<String> {
        self.driver.signed_url(&self.object.container, &self.object.name, options).await
    }
}

impl Deref for BoundObject {
    type Target = Object;
    fn deref(&self) -> &Object {
        &self.object
    }
}
