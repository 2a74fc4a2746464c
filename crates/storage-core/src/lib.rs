//! The model shared by every storage driver.
//!
//! - [`Driver`]: the primitives a backend implements (one request's worth of work each).
//! - [`DriverExt`]: everything built on them, for every driver: file uploads and
//!   downloads with verification, streams, ranges, renames, bulk deletes.
//! - [`OpenExt`]: an object as a tokio reader ([`ObjectReader`], seekable, with
//!   read-ahead) or writer ([`ObjectWriter`], visible only after `shutdown`).
//! - [`TreeExt`] ([`tree`]): recursive folder upload, download, copy and removal with
//!   globs, `listdir`, space used, and copies between any two drivers.
//! - [`Error`] / [`ErrorKind`]: Apache Libcloud's error taxonomy.
//! - [`Registry`] / [`DriverFactory`]: pick a driver by name or URL scheme.
//! - [`MemoryDriver`]: a complete in-memory driver.
//!
//! ```
//! use storage_core::{Driver, DriverExt, MemoryDriver, PutOptions};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = MemoryDriver::new();
//! store.create_container("photos").await?;
//! store.put_object("photos", "2024/cat.jpg", "meow".into(), &PutOptions::default()).await?;
//! assert_eq!(store.get_bytes("photos", "2024/cat.jpg").await?, "meow");
//! assert_eq!(store.list_keys("photos", Some("2024/")).await?, vec!["2024/cat.jpg"]);
//! # Ok::<(), storage_core::Error>(())
//! # }).unwrap();
//! ```

pub mod capabilities;
pub mod cloudobject;
pub mod driver;
pub mod error;
pub mod fsio;
pub mod handles;
pub mod hash;
pub mod kit;
pub mod layer;
#[cfg(feature = "layers")]
pub mod layers;
pub mod leftover;
pub mod listing;
pub mod memory;
pub mod mime;
pub mod multipart;
pub mod object;
pub mod ops;
pub mod options;
pub mod payload;
pub mod registry;
#[cfg(feature = "tree")]
pub mod tree;
pub mod validate;
#[cfg(feature = "zip")]
pub mod zip;

pub use capabilities::{Capabilities, DriverInfo, Limits};
pub use cloudobject::{CloudObject, CloudObjects};
pub use driver::{Driver, ListStream, downcast, paginate};
pub use error::{Error, ErrorKind, Result};
pub use handles::{BoundContainer, BoundObject};
pub use leftover::{Leftover, LeftoverKind};
pub use memory::MemoryDriver;
pub use multipart::{CompleteOptions, CompletedPart, MultipartUpload, PartOptions};
pub use object::{Container, DeleteOutcome, HashAlgorithm, ListEntry, Object, ObjectHash, Page};
#[cfg(feature = "decompress")]
pub use ops::{ArchiveFormat, DecompressOptions, Downloaded};
pub use ops::{
    CancelledAborts, DownloadOptions, DriverExt, MemoryBudget, Nested, NoProgress, ObjectReader, ObjectWriter, OpenExt,
    Progress, ReaderOptions, Transfer, TransferOptions, UploadOptions, WriterOptions, cancelled_aborts,
    finish_cancelled_aborts, storage_error,
};
pub use options::{
    ByteRange, CopyOptions, Encryption, GetOptions, ListOptions, PutMode, PutOptions, SignedMethod, SignedUrlOptions,
};
pub use payload::{ByteStream, GetResult, Payload};
pub use registry::{DriverConfig, DriverFactory, Location, MemoryFactory, Registry, StorageUrl};
#[cfg(feature = "tree")]
pub use tree::ExportOptions;
#[cfg(feature = "tree")]
pub use tree::{
    BackendUsage, ContainerUsage, DirEntry, Filter, ListdirOptions, Order, TreeExt, TreeOptions, TreeReport, Usage,
};
pub use validate::ContainerNameRules;

/// Re-exported so drivers implement [`Driver`] with the same macro version.
pub use async_trait::async_trait;
/// Re-exported for drivers and users building payloads.
pub use bytes::Bytes;
