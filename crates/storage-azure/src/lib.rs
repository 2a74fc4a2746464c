//! Azure Blob Storage (block blobs), on the shared HTTP engine.
//!
//! - SharedKey written here with hmac + sha2 per the Blob service spec ([`signing`]):
//!   canonicalized `x-ms-*` headers and resource, query parameters sorted and grouped, an
//!   empty Content-Length for empty bodies. SAS URLs are service SAS signed with the
//!   account key, or user delegation SAS with a key fetched through an Entra ID token.
//! - Credentials ([`credentials`]): account key, SAS token, Entra ID tokens (client
//!   secret, workload identity, managed identity, Azure CLI; cached and refreshed), or
//!   anonymous. Configuration from the environment and from connection strings,
//!   `UseDevelopmentStorage=true` included ([`AzureConfig`]).
//! - XML answers parsed into named types ([`xml`]), matched by element name under any
//!   root; Azurite's prefixes-first listing pages are merged into key order.
//! - Writes: Put Blob (the service stores the MD5 and checks a caller's `Content-MD5`);
//!   `If-None-Match: *` / `If-Match` for create-if-absent and compare-and-swap; Put
//!   Block / Put Block List for multipart uploads (fixed-width block ids prefixed by the
//!   upload's tag); copies by Copy Blob From URL (synchronous, up to 256 MiB) or Copy
//!   Blob polled to completion; Blob Batch deletes of up to 256 keys.
//! - End-to-end checksums (`upload_checksums`): every Put Blob of data in memory and
//!   every Put Block carries the data's CRC64 (`x-ms-content-crc64`, CRC-64/NVME, computed
//!   with the CPU's carry-less multiply), which the service checks before storing
//!   anything; the answer's CRC64 is compared too. The whole blob's CRC32C is kept in its
//!   metadata (`x-ms-meta-storage_crc32c: {crc}:{size}`, combined from the blocks' at Put
//!   Block List, hidden from `Object::metadata`, refused as user metadata) because Azure
//!   keeps no checksum of a block-list blob: it is the hash of such blobs (others report
//!   the MD5 the service computed) and whole reads are checked against it (else against
//!   the Content-MD5). A stream of known length is hashed with MD5 as it is sent and
//!   compared with the MD5 Put Blob answers (a mismatch deletes that version). Copies carry
//!   the kept CRC32C with the data. No MD5 is computed for uploads unless the caller gives
//!   `content_md5` (sent as `Content-MD5` instead of the CRC64: Azure refuses both).
//! - Reads: ranges (suffix ranges computed from the size, pinned to the ETag),
//!   conditions, versions; bodies resume after a broken connection. A whole blob's body
//!   is checked against the kept CRC32C, else its Content-MD5 (`ObjectHashMismatch` at
//!   its end); a bounded range of up to 4 MiB asks for the range's CRC64
//!   (`x-ms-range-get-content-crc64`) and is checked against it when the service sends one
//!   (Azurite does not: it ignores the header in loose mode and refuses it in strict mode,
//!   after which the driver stops asking); longer ranges are not checked by the driver.
//! - Deleting a container checks it is empty first (Azure would delete its blobs): the
//!   Libcloud contract is `ContainerIsNotEmpty`.
//! - Libcloud's `extra` on writes (`extras`): `storage_class` is the access tier (`Hot`,
//!   `Cool`, `Cold`, `Archive`), `tags` are blob index tags (at most 10, Azure's key and
//!   value rules checked before sending), `encryption` is an encryption scope
//!   (`Encryption::Scope`, sent on Put Blob, every Put Block and Put Block List;
//!   `Managed` is Azure's default and sends nothing; `Kms` is refused: bind the Key Vault
//!   key to a scope), `headers` are `x-ms-*` headers or `Content-Language`. ACLs are
//!   refused (`put_acl` is not claimed: Azure has no per-blob ACL). HEAD and listings
//!   report `extra["storage_class"]` (and `access_tier`), HEAD `extra["tag_count"]` and
//!   `extra["encryption_scope"]`. A copy without replacement options keeps the source's
//!   tags and takes the account's default tier; with them, their tier and tags.
//!
//! # CDN calls
//!
//! Azure serves a blob anonymously only when its container's public access level allows
//! it; there is no per-blob switch and no CDN endpoint to create through the Blob API
//! (Azure Front Door / CDN profiles are managed elsewhere).
//!
//! - `enable_container_cdn(c)`: sets the container's public access level to `blob`
//!   (anonymous reads of blobs, not of listings), keeping its stored access policies.
//!   The account must allow public access; if it does not, the service answers
//!   `PublicAccessNotPermitted` (`PermissionDenied`).
//! - `get_container_cdn_url(c)`: the container's URL, `{endpoint}/{c}`, the base of its
//!   blobs' public URLs; `ContainerDoesNotExist` for a missing container.
//! - `enable_object_cdn(c, k)`: changes nothing. It succeeds when the blob exists and
//!   its container is public; in a private container it is `NotSupported` with a hint
//!   (enable the container, or use `get_object_cdn_url`'s SAS URL).
//! - `get_object_cdn_url(c, k)`: in a public container, the blob's plain URL (never
//!   expires, cacheable); in a private one, a read SAS URL with the default signed-URL
//!   lifetime (needs the account key or an Entra ID token).
//!
//! The crate has the layout every driver crate shares: `config`, `factory`, `driver`
//! (a thin `impl Driver`), `errors` (Azure codes to `ErrorKind`), one module per
//! operation family (`containers`, `list`, `read`, `write`, `batch`, `multipart`,
//! `signed`), `extras` (Libcloud's extra settings as headers), and the wire: `client`
//! (endpoint, authorization, sending), [`signing`], [`xml`], `headers`, [`credentials`].
//!
//! ```no_run
//! use storage_core::{Driver, DriverExt, PutOptions};
//! use storage_azure::{AzureConfig, AzureDriver};
//! # async fn demo() -> storage_core::Result<()> {
//! // Azurite on 127.0.0.1:10000 with its well-known account and key.
//! let az = AzureDriver::new(AzureConfig::emulator())?;
//! az.create_container("my-container").await?;
//! az.put_object("my-container", "hello.txt", "hi".into(), &PutOptions::default()).await?;
//! assert_eq!(az.get_bytes("my-container", "hello.txt").await?, "hi");
//! # Ok(()) }
//! ```

mod batch;
mod checksum;
mod client;
mod config;
mod containers;
pub mod credentials;
mod driver;
mod errors;
mod extras;
mod factory;
#[doc(hidden)]
pub mod fuzzing;
mod headers;
mod list;
mod multipart;
mod read;
mod signed;
pub mod signing;
mod write;
pub mod xml;

pub use config::{AzureConfig, EMULATOR_ACCOUNT, EMULATOR_ENDPOINT, EMULATOR_KEY};
pub use credentials::AzureCredential;
pub use driver::AzureDriver;
pub use errors::kind_for_code;
pub use factory::AzureFactory;
