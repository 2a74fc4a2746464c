//! Google Cloud Storage (JSON API v1), on the shared HTTP engine.
//!
//! - Credentials ([`credentials`]): Application Default Credentials in Google's order
//!   (`GOOGLE_APPLICATION_CREDENTIALS` service account / authorized user / external
//!   account, gcloud's ADC file, the GCE metadata server), a static bearer token, or
//!   anonymous; cached and refreshed. RS256 JWTs and V4 signed URLs ([`signing`]) use
//!   `ring`, the crypto rustls already brings.
//! - `STORAGE_EMULATOR_HOST` switches to an emulator without authorization, with or
//!   without a scheme, as Google's SDKs accept it.
//! - Writes: one `multipart/related` upload (the server checks the CRC32C sent, and a
//!   caller's MD5); a resumable session for streams of unknown length; create-if-absent
//!   is `ifGenerationMatch=0`, if-match maps the ETag onto the generation. Multipart
//!   uploads are parallel composite uploads through a staging area that listings never
//!   show, verified by CRC32C end to end ([`multipart`](crate) module docs).
//! - End-to-end CRC32C (`upload_checksums`; hardware speed, no MD5 computed unless the
//!   caller gives `content_md5`): data in memory goes with its CRC32C in the object
//!   resource, which GCS checks before storing; the last request of a resumable upload
//!   carries the whole object's (`x-goog-hash: crc32c=...`); a stream of known length,
//!   which can carry none ahead of its bytes, is hashed as it is sent. Every upload, part,
//!   compose and copy then compares the CRC32C (and size) the server reports with the
//!   data's, the parts' combined, or the source's: a server that did not check
//!   (fake-gcs-server checks nothing) is caught, and the damaged generation deleted
//!   (`ObjectHashMismatch`).
//! - Reads: ranges (suffix too), conditions evaluated on the metadata and the download
//!   pinned to that generation, resumes pinned to the generation, and every full download
//!   checked against the `x-goog-hash` the server sent (CRC32C, else MD5). Ranged
//!   downloads are not checked by the driver: GCS sends only the whole object's hashes
//!   (the transfer engine checks a parallel download whole).
//! - Versions: an object's version is its generation (`Object::version`);
//!   `GetOptions::version` reads that generation (conditions evaluated on it), which a
//!   bucket with object versioning keeps after overwrites and deletes; a generation that
//!   is gone, or text that is not a generation, is `ObjectDoesNotExist`.
//! - Copies by `objects.rewrite` looped to completion, pinned to the source's generation.
//! - Libcloud's `extra` on writes (`extras` module): `PutOptions::acl` is the predefined
//!   ACL (S3's canned names or GCS's: `public-read` is `publicRead`; `public-read-write`
//!   is refused), `storage_class` is `STANDARD`, `NEARLINE`, `COLDLINE` or `ARCHIVE`,
//!   `Encryption::Kms` names the Cloud KMS key (`kmsKeyName`; `Managed` is the default and
//!   sends nothing), and the headers `content-language` and `custom-time` become
//!   `contentLanguage` and `customTime`; the same on uploads, on the compose that commits a
//!   multipart upload, and on copies. Anything else (object tags, an encryption scope, a
//!   KMS setting without a key name, another header) is refused before any request. The
//!   object's `storageClass`, `kmsKeyName`, `contentLanguage` and `customTime` are read
//!   back into `Object::extra` (`storage_class`, `kms_key_name`, `content_language`,
//!   `custom_time`).
//!
//! # CDN calls
//!
//! GCS's "CDN" is public reads (Cloud CDN itself is a load balancer in front of a backend
//! bucket, configured outside the storage API):
//!
//! - `enable_object_cdn`: `objectAccessControls.insert` of `allUsers` `READER` on the
//!   object. A bucket with uniform bucket-level access has no object ACLs: `NotSupported`,
//!   with a hint to use the bucket instead.
//! - `enable_container_cdn`: adds `allUsers` to the bucket IAM policy's
//!   `roles/storage.objectViewer` (read, changed and written back with its etag; other
//!   bindings kept). fake-gcs-server has no bucket IAM: `NotSupported` there.
//! - `get_object_cdn_url`: `https://storage.googleapis.com/BUCKET/KEY` (the configured
//!   endpoint for an emulator), no request; it serves anonymous reads once the object or
//!   its bucket is public. For private objects use `signed_url`.
//! - `get_container_cdn_url`: `https://storage.googleapis.com/BUCKET`.
//!
//! Public access prevention on the bucket, project or organization refuses both enable
//! calls (and a public ACL on a write) with `PermissionDenied`.
//!
//! The crate has the layout every driver crate shares: `config`, `factory`, `driver`
//! (a thin `impl Driver`), `errors` (GCS reasons to `ErrorKind`), one module per
//! operation family (`containers`, `list`, `read`, `write`, `multipart`, `signed`, `cdn`),
//! `extras` (write options to GCS parameters), and the wire: `client` (URLs, tokens, sending), [`signing`], [`json`], [`credentials`].
//!
//! ```no_run
//! use storage_core::{Driver, DriverExt, PutOptions};
//! use storage_gcs::{GcsConfig, GcsDriver};
//! # async fn demo() -> storage_core::Result<()> {
//! // fake-gcs-server on 127.0.0.1:4443, no authorization.
//! let gcs = GcsDriver::new(GcsConfig::emulator("http://127.0.0.1:4443"))?;
//! gcs.create_container("my-bucket").await?;
//! gcs.put_object("my-bucket", "hello.txt", "hi".into(), &PutOptions::default()).await?;
//! assert_eq!(gcs.get_bytes("my-bucket", "hello.txt").await?, "hi");
//! # Ok(()) }
//! ```

mod batch;
mod cdn;
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
pub mod json;
mod list;
mod multipart;
mod read;
mod signed;
pub mod signing;
mod write;

pub use config::{DEFAULT_ENDPOINT, GcsConfig};
pub use credentials::GcsCredentials;
pub use driver::GcsDriver;
pub use errors::kind_for_reason;
pub use factory::GcsFactory;
