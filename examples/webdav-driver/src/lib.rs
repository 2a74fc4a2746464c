//! WebDAV servers, and read-only plain HTTP(S) stores, behind the storage workspace's
//! [`Driver`](storage_core::Driver) API: a third party's driver, built only on the
//! public APIs of `storage-core` and `storage-http`, and proven by the shared
//! conformance suite against Apache httpd's mod_dav and `rclone serve webdav`.
//!
//! ```no_run
//! use storage_core::{Driver, DriverExt, PutOptions};
//! use storage_webdav::{WebDavConfig, WebDavDriver};
//! # async fn demo() -> storage_core::Result<()> {
//! let dav = WebDavDriver::new(WebDavConfig::from_url("webdavs://alice:secret@files.example.com/dav")?)?;
//! dav.create_container("photos").await?;
//! dav.put_object("photos", "2024/cat.jpg", "meow".into(), &PutOptions::default()).await?;
//! assert_eq!(dav.get_bytes("photos", "2024/cat.jpg").await?, "meow");
//! assert_eq!(dav.list_keys("photos", Some("2024/")).await?, vec!["2024/cat.jpg"]);
//! # Ok(()) }
//! ```
//!
//! # The model on a WebDAV server
//!
//! - A **container** is a top-level collection under the endpoint: listed by PROPFIND
//!   (depth 1) of the endpoint, read by PROPFIND (depth 0), created by MKCOL (a server
//!   that answers 201 to a MKCOL of an existing collection, as rclone does, is asked
//!   first), and deleted only when it holds no object (`ContainerIsNotEmpty`): WebDAV's
//!   DELETE is recursive, so the driver looks first. The DELETE carries the
//!   collection's ETag where it has one, so a change directly in the container since
//!   the look makes it fail; an object written deeper in the tree in that instant is
//!   deleted with the container (no WebDAV request can exclude it).
//! - An **object** is a file; a key's `/`-separated segments are collections, created
//!   as needed (MKCOL from the shallowest missing one when a PUT answers 409) and
//!   removed when a delete leaves them empty (by a DELETE conditional on the
//!   collection's ETag; where collections have no ETag, as on rclone, they stay, and
//!   listings skip collections holding no object). Keys a path cannot hold (`a//b`,
//!   `dir/`, `a/./b`, `..`) are refused with `InvalidObjectName` before any request,
//!   and a key cannot sit beside keys under it (`a` and `a/b`): capabilities
//!   `verbatim_keys` and `key_and_prefix` are off.
//! - **Listings** walk the collections lazily (one PROPFIND, depth 1, per collection,
//!   as the stream is read), in bytewise order of whole keys: each collection's
//!   children are sorted by `name` for files and `name/` for collections, which orders
//!   whole subtrees (`a-b` < `a/x` < `a0`, since `-` < `/` < `0`). The walk starts at
//!   the deepest collection the prefix names; with the delimiter `/` collections
//!   become common prefixes without being read through. Any delimiter, start-after and
//!   page sizes are supported.
//! - **Writes** are staged by default: the data goes to `.~upload.<tag>` beside the key
//!   and a MOVE puts it in place, so a failed or interrupted upload never touches the
//!   key on any server ([`WriteMode::Staged`]); [`WriteMode::Direct`] PUTs straight to
//!   the key, for servers that commit a PUT atomically. Create-if-absent is
//!   `Overwrite: F` (or `If-None-Match: *`), if-match the WebDAV `If` header with the
//!   ETag, both checked by the server before it writes (not atomically with the write).
//!   Staged uploads a killed process left are found by `list_leftovers`.
//! - **Reads**: GET with ranges (bounded, open, suffix), HEAD, conditional reads checked
//!   against the answer's own ETag and date (so they hold even where a server ignores
//!   them), and bodies that resume after a broken connection.
//! - **Copies**: COPY to a staged name, then the same MOVE as a write; `source_if_match`
//!   is checked before and after. Renames are the core's copy + delete.
//! - **Not supported** (declared through capabilities, never faked): user metadata and
//!   stored content headers (a PUT and a PROPPATCH are two requests, so data and
//!   metadata could not be replaced together, and many servers refuse or drop dead
//!   properties; rclone even answers a PROPPATCH with 200 and keeps nothing), MD5
//!   hashes (an ETag is not a content hash in general; a caller's `content_md5` is
//!   still checked before the data is committed), versions, multipart uploads (a PUT
//!   streams any size), signed URLs, CDN.
//!
//! Streams of unknown length are gathered in memory before they are sent (at most
//! [`MAX_BUFFERED`] bytes): a PUT through storage-http needs its length up front.
//!
//! The plain HTTP store ([`Flavor::Http`], schemes `http` / `https`) is the same driver
//! reading only: GET, HEAD, ranges and conditional reads; listings only where the server
//! also answers PROPFIND; every write is `NotSupported`.
//!
//! # Credentials
//!
//! HTTP Basic (from the URL's user information or the `username` / `password` options)
//! or a bearer token (`bearer_token`); both are sent on every request, marked
//! sensitive, and never appear in `Debug` output or errors. A wrong password is
//! `Unauthenticated` (401), a refusal `PermissionDenied` (403).
//!
//! # Server quirks handled
//!
//! Apache gives a file written within the last second a weak ETag that If-Match never
//! matches (so conditions use the WebDAV `If` header, compared weakly, or are checked
//! on the answer), never sends an ETag with a PUT's answer (a HEAD asks), answers 403
//! to a MKCOL racing another, and 404 to a MOVE whose destination a concurrent MOVE
//! removed (tried again). rclone answers 201 to a MKCOL of an existing collection,
//! ignores If-Match, If-None-Match and `Depth: 0` on DELETE, evaluates no ETag in an
//! `If` header, answers 423 to concurrent writes of one resource (waited out), writes
//! a PUT in place (hence staged writes), and has answered a PROPFIND of a busy
//! collection with no members (hence no pruning of collections without an ETag, and the
//! caveat on deleting a container while others write to it).
//!
//! # Layout
//!
//! The files every driver crate has: `config` ([`WebDavConfig`]), `factory`
//! ([`WebDavFactory`], [`HttpFactory`]), `driver` (a thin `impl Driver`), `errors`
//! (statuses to kinds), one module per operation family (`containers`, `list`, `read`,
//! `write`), and the wire: `client` (URLs, authentication, PROPFIND on storage-http),
//! [`xml`] (the multistatus parser), [`paths`] (keys to URL paths and back).

mod client;
mod config;
mod containers;
mod driver;
pub mod errors;
mod factory;
mod list;
pub mod paths;
mod read;
mod write;
pub mod xml;

pub use config::{Credentials, Flavor, Secret, WebDavConfig, WriteMode};
pub use driver::{HTTP_NAME, NAME, WebDavDriver};
pub use factory::{HttpFactory, WebDavFactory};
pub use write::MAX_BUFFERED;
