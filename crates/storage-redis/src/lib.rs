//! Objects in Redis and Redis Cluster: any object size (data in chunks), ordered listing
//! (sorted-set index), atomic replacement (one Lua script flips the metadata), and
//! conditional puts, multipart uploads and copies, behind [`storage_core::Driver`].
//!
//! ```no_run
//! use storage_core::{Driver, DriverExt, PutOptions};
//! use storage_redis::RedisDriver;
//!
//! # async fn demo() -> storage_core::Result<()> {
//! let store = RedisDriver::builder()
//!     .url("redis://127.0.0.1:6379")
//!     .namespace("myapp")
//!     .build()?;
//! store.create_container("photos").await?;
//! store.put_object("photos", "2024/cat.jpg", "meow".into(), &PutOptions::default()).await?;
//! assert_eq!(store.get_bytes("photos", "2024/cat.jpg").await?, "meow");
//! # Ok(()) }
//! ```
//!
//! A cluster: `.cluster_nodes(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"])`
//! instead of `.url(...)`; from the environment: [`RedisDriver::from_env`] (`REDIS_URL`,
//! or `REDIS_CLUSTER_NODES` with comma-separated URLs); by name through
//! [`storage_core::Registry`]: [`RedisFactory`]. `rediss://` (TLS) needs the `tls`
//! cargo feature. Passwords never appear in `Debug` output, messages or logs.
//!
//! # Data model
//!
//! Let `NS` be the namespace (default `storage`), `C` a container and `K` a key. Every
//! Redis key starts with a hash tag so related keys share one cluster slot, and no
//! command ever spans two slots.
//!
//! Per container, tag `{NS:len(C):C}` (the byte length keeps `C` unambiguous):
//! - `{NS:len(C):C}:info`: hash (`created`); its existence is the container's.
//! - `{NS:len(C):C}:idx`: sorted set of every key, all with score 0, so `ZRANGEBYLEX`
//!   gives bytewise order: a listing page (prefix, start-after, continuation, delimiter)
//!   costs O(log n + page size), never a scan. A run of keys rolled up into a common
//!   prefix is skipped with one jump of the range.
//! - `{NS:len(C):C}:meta`: hash key -> JSON metadata: `size`, `md5` (when computed),
//!   `etag`, `content_type`, `content_encoding`, `cache_control`, `content_disposition`,
//!   `metadata` (user metadata, lowercase keys), `last_modified`, `version`, and
//!   `segments`, the runs of chunks that make up the data
//!   (`[{"stem": "v42", "size": ..., "chunk": ...}]`).
//! - `{NS:len(C):C}:uploads`: hash upload id -> JSON (`key`, `options`, `initiated`);
//!   `{NS:len(C):C}:up:<id>`: hash part number -> JSON (`etag`, `size`, `segment`).
//!
//! Global, tag `{NS}`: `{NS}:containers`, a sorted set of container names (for listing
//! containers), and `{NS}:seq`, the `INCR` counter for versions and upload ids.
//!
//! Object data, in the object's own slot, tag `{NS:len(C):C:K}`:
//! - `{NS:len(C):C:K}:v<version>:<i>`: chunk `i` of a single put (`chunk_size` bytes
//!   each, the last one shorter; an empty object has none).
//! - `{NS:len(C):C:K}:u<id>:p<n>:r<seq>:<i>`: chunk `i` of part `n` of upload `id`
//!   (`r<seq>` is fresh for each attempt, so a re-sent part never overwrites the chunks
//!   of an earlier one). A completed multipart object's metadata lists one segment per
//!   part, pointing at the parts' chunks: completing copies no data.
//!
//! A range read works out which chunks it needs and reads only those (`GETRANGE` for
//! partial ones), a chunk or two ahead of the consumer.
//!
//! **Sizing a cluster:** a container's index and metadata live in one slot, hence on one
//! node, while the data spreads over the cluster. A very large container (say 10 million
//! objects) needs its index and metadata, roughly key length + 200 bytes per object
//! (about 2-3 GB for 10 million), on one node.
//!
//! # Atomicity
//!
//! A put takes a fresh version (`INCR`), writes the chunks with a pending TTL (24 h by
//! default, so a crashed writer's chunks vanish), computing the MD5 and checking the
//! announced length and `content_md5`, then `PERSIST`s them. Then one Lua script on the
//! container's slot checks that the container exists, evaluates the put mode
//! (create-if-absent, if-match on the current ETag), writes the metadata, adds the key to
//! the index and returns the previous metadata. The previous version's chunks then get
//! a short `EXPIRE` (60 s by default) so reads in flight finish before they vanish. If
//! anything fails before the flip, the new chunks are deleted and the old object stays
//! intact. A reader follows the chunks of the one version its metadata names; if one is
//! gone because the grace period ended, it fails with a retryable `Backend` error
//! (provider code `ObjectChanged`), never with mixed data. Deletes, overwrites, copies
//! and multipart completes are the same kind of flip, so conditional puts are atomic.
//! Transient failures (I/O, `CLUSTERDOWN`, `TRYAGAIN`, `MASTERDOWN`, `LOADING`) are
//! retried with jittered exponential backoff for idempotent steps (reads, chunk writes),
//! never for a flip. Redis must run with `maxmemory-policy noeviction`: an evicted chunk
//! is data loss (reported as provider code `ChunkMissing`).
//!
//! Known windows: a writer that dies between `PERSIST` and the flip leaves its (complete
//! but unreferenced) chunks behind; multipart parts are persisted when a complete is
//! attempted and stay until the upload is completed or aborted; parts must be completed
//! within the pending TTL.
//!
//! # Leftovers
//!
//! [`storage_core::Driver::list_leftovers`] finds what those windows and killed writers
//! leave: unfinished multipart uploads (aged by their last part write, sized by their
//! parts) and runs of chunks that neither an object's metadata nor a registered part
//! names (staged data, id `<stem>#<chunks>`, aged by how long the youngest chunk has
//! been idle, sized by the memory its chunks take: `MEMORY USAGE`). Chunks are not indexed, so it SCANs the keyspace (every primary of a
//! cluster): a maintenance operation. Live data is never listed, nor the retired chunks
//! of a replaced object (they expire within the replace grace period).
//! [`storage_core::Driver::remove_leftover`] checks again, before deleting a run, that
//! nothing references it and that it was not written to since it was listed.
//!
//! # Source layout
//!
//! The same files, with the same roles, as every driver crate: `config.rs` (the builder,
//! from a string map or the environment), `factory.rs` (registry entry), `core.rs` (the
//! driver struct, its capabilities and shared state), `driver.rs` (the thin `impl
//! Driver`), `errors.rs` (Redis answers -> `ErrorKind`, retries), one file per operation
//! family (`read.rs`, `write.rs`, `list.rs`, `multipart.rs`, `containers.rs`,
//! `leftovers.rs`), and the driver's own internals: `conn.rs` (standalone or cluster
//! connection), `keys.rs` (key names and hash tags), `scripts.rs` (the Lua flips),
//! `chunks.rs` (data chunks), `meta.rs` (the stored JSON documents).

mod chunks;
pub mod config;
mod conn;
mod containers;
mod core;
mod driver;
mod errors;
mod factory;
mod keys;
mod leftovers;
mod list;
mod meta;
mod multipart;
mod read;
mod scripts;
mod write;

pub use crate::config::RedisBuilder;
pub use crate::conn::RedisConnection;
pub use crate::core::{NAME, RedisDriver};
pub use crate::factory::RedisFactory;
/// The `redis` crate this driver is built with, for commands on
/// [`RedisDriver::connection`] (`redis::cmd("GET")...`) without a second, mismatched copy.
pub use redis;
