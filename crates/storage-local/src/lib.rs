//! The local filesystem driver: a [`storage_core::Driver`] over a root directory.
//!
//! A container is a directory directly under the root; an object is a file; keys with
//! `/` become nested directories.
//!
//! ```
//! use storage_core::{Driver, DriverExt, ListOptions, PutOptions};
//! use storage_local::LocalDriver;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let root = tempfile::tempdir()?;
//! let store = LocalDriver::new(root.path())?;
//! store.create_container("photos").await?;
//! let opts = PutOptions::content_type("image/jpeg").with_metadata("Camera", "X100");
//! let obj = store.put_object("photos", "2024/cat 1.jpg", "meow".into(), &opts).await?;
//! assert_eq!(obj.hash, Some(storage_core::ObjectHash::crc32c(storage_core::kit::crc32c(b"meow"))));
//! assert_eq!(store.get_bytes("photos", "2024/cat 1.jpg").await?, "meow");
//! assert!(root.path().join("photos/2024/cat 1.jpg").is_file());
//!
//! let head = store.head_object("photos", "2024/cat 1.jpg").await?;
//! assert_eq!(head.metadata["camera"], "X100");
//! assert_eq!(store.list_keys("photos", Some("2024/")).await?, vec!["2024/cat 1.jpg"]);
//! let (objects, prefixes) = store.list_with_delimiter("photos", None).await?;
//! assert!(objects.is_empty());
//! assert_eq!(prefixes, vec!["2024/"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Layout on disk
//!
//! Each key segment (the parts between `/`) is one path component, encoded so that every
//! key the core accepts maps to a path and back, and nothing leaves the container:
//!
//! | key segment            | path component                                  |
//! |------------------------|-------------------------------------------------|
//! | `%` inside a segment   | `%25`                                           |
//! | `.`                    | `%2E`                                           |
//! | empty (`a//b`, `dir/`) | `%`                                             |
//! | `..`, or a leading `/` | refused with `InvalidObjectName`                |
//! | longer than 200 bytes  | 200-byte pieces: `<piece>%+/<piece>%+/<last>`   |
//!
//! So `dir/` is the file `dir/%`, `a//b` is `a/%/b`, and a 1024-byte key without `/`
//! is five nested *continuation* directories (`...%+`) and a file. Listing decodes
//! names back and returns keys sorted bytewise; a file name that the encoding could not
//! have produced (for example `100%` written by hand) is not listed.
//!
//! An object's metadata (content type, content encoding, cache control, content
//! disposition, user metadata, MD5, ETag) is kept in the extended attribute
//! `user.storage.meta` of its data file: a compact binary record set on the temporary
//! file before it is renamed into place, so data and metadata are replaced together by
//! one rename and read from one descriptor. It applies only while the file's size and
//! modification time match the ones it records. Where the filesystem refuses user
//! extended attributes (or the record is larger than an attribute may be), and with
//! [`LocalOptions::xattrs`] off, the metadata goes to a sidecar file instead. Reads try
//! the attribute first, then the sidecar, so trees written by earlier versions (sidecars
//! only) keep their metadata.
//!
//! Names starting with `%` followed by an ASCII letter are the driver's own:
//!
//! - `%m.<name>`: the JSON metadata sidecar of the data file `<name>` (the fallback
//!   above), which applies only while the data file's inode, size and modification time
//!   match the ones it records;
//! - `%t.<unique>`: temporary files of writes in progress;
//! - `%uploads/<upload id>/`: multipart staging (`upload.json`, `part-<n>.<md5>`).
//!
//! They never appear in listings. What a killed writer leaves of them (temporary files,
//! staging directories) is found by [`Driver::list_leftovers`]: temporary files as
//! staged data aged by their modification time, uploads aged by the last write into
//! their staging directory; [`Driver::remove_leftover`] removes one, refusing a file
//! written to since it was listed.
//!
//! [`Driver::list_leftovers`]: storage_core::Driver::list_leftovers
//! [`Driver::remove_leftover`]: storage_core::Driver::remove_leftover
//!
//! Files written into the tree by hand are objects too:
//! without metadata they have no hash, no content type and an ETag made of their size
//! and modification time.
//!
//! A file and a directory cannot share a name, so the driver cannot hold a key and keys
//! under it as a prefix (`a` and `a/b`) at the same time: the second write fails with
//! `InvalidObjectName` and changes nothing (capability `key_and_prefix` is off).
//!
//! # Safety rules
//!
//! - Symbolic links: nothing the driver reads, writes, lists or deletes is outside its
//!   root. The root may be a symlink (it is resolved once, when the driver is built). A
//!   container directory may be a symlink to a directory inside the root; one leading
//!   anywhere else (outside the root, or to the root itself) is refused with
//!   `PermissionDenied` for every operation and left out of container listings. Below a
//!   container directory the driver never follows a symlink: a key whose path passes
//!   through one (or names one) is refused with `PermissionDenied`, and listings skip
//!   them.
//! - Containment holds against a concurrent attacker too (on Unix): below the
//!   container, every filesystem operation is relative to a descriptor of the directory
//!   it happens in, opened without following a symlink (the container's own
//!   descriptor first, then `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` on Linux,
//!   or one `openat(O_NOFOLLOW | O_DIRECTORY)` per component, making missing ones with
//!   `mkdirat`). Temporary files, sidecars, renames, links, unlinks, reads, listings and
//!   fsyncs then name only entries of that directory, so a directory swapped for a
//!   symlink between a check and its use leads nowhere outside the root.
//! - Writes stream into a temporary file in the destination directory while computing
//!   the MD5, check the announced length and `content_md5`, store the metadata (the
//!   attribute, or a temporary sidecar), fsync, then (under a per-key lock, so
//!   conditional writes are atomic between writers of one process) evaluate the put mode
//!   and rename the data file (and then its sidecar, if any) into place and fsync the
//!   directory. A failed or cancelled write leaves the old object intact.
//!   Create-if-absent commits with a hard link, which also fails atomically against
//!   writers in other processes; if-match is only atomic within one process.
//! - Durability: with [`LocalOptions::fsync`] off (option `fsync = false`) the fsyncs
//!   are skipped; writes stay atomic (temporary file + rename), but the last ones
//!   before a crash or power loss may be lost.
//! - On Linux an in-memory payload is written in one blocking task, and a key's
//!   directory is opened with one `openat2(RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH)`;
//!   reads open the file itself that way. Anything unusual (a directory to create, a
//!   symlink to report, no `openat2` or a seccomp filter refusing it) takes the walk of
//!   one `openat` per component, which says what is in the way;
//!   [`LocalOptions::fast_paths`] off takes it always.
//! - Reads open the file once and read from that descriptor (objects up to 64 KiB in
//!   the same blocking task, larger ones streamed), and its metadata attribute from
//!   the same descriptor, so a concurrent replacement never mixes two versions.
//! - Listing pages resume the previous page's directory walk while every directory it
//!   read is unchanged (same inode and modification time); otherwise, and for tokens
//!   the driver no longer holds, they walk afresh from the token.
//! - Versions are not kept: reading with `GetOptions::version` set fails with
//!   `ObjectDoesNotExist`.
//!
//! # Source layout
//!
//! The same files, with the same roles, as every driver crate: `config.rs` (options,
//! from a string map or the environment), `factory.rs` (registry entry), `core.rs` (the
//! driver struct, its capabilities and shared state), `driver.rs` (the thin `impl
//! Driver`), `errors.rs` (filesystem answers -> `ErrorKind`), one file per operation
//! family (`read.rs`, `write.rs`, `list.rs`, `multipart.rs`, `containers.rs`, `cdn.rs`,
//! `leftovers.rs`), and the driver's own internals: `paths.rs` (key <-> path),
//! `dirfd/` (directory descriptors: containment), `fast.rs` (the Linux one-task PUT), `meta.rs` and `sidecar.rs` (the two
//! metadata stores), `locks.rs` (per-key locks), `io.rs` (blocking tasks, temporary
//! files).

mod ahead;
mod cdn;
mod config;
mod containers;
mod core;
mod digest;
mod dirfd;
mod driver;
mod errors;
mod factory;
#[cfg(target_os = "linux")]
mod fast;
mod index;
mod io;
mod leftovers;
mod list;
mod locks;
mod meta;
mod multipart;
mod paths;
mod read;
mod sidecar;
#[cfg(target_os = "linux")]
mod sweep;
mod write;

pub use crate::config::{LocalOptions, default_io_concurrency};
pub use crate::core::{LocalDriver, NAME};
pub use crate::factory::LocalFactory;
