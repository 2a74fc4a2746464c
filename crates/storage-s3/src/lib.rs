//! Amazon S3 and S3-compatible stores (MinIO, garage, moto, s3s, `rclone serve s3`...).
//!
//! - SigV4 written here with ring's SHA-256 and HMAC ([`signing`]), header and presigned forms, with
//!   the derived signing key cached per day and region; `UNSIGNED-PAYLOAD` over TLS and a
//!   CRC32C checksum instead of hashing every body into the signature.
//! - End-to-end CRC32C checksums ([`Checksum::Crc32c`], the default), computed with the
//!   CPU's CRC instructions: `x-amz-checksum-crc32c` with every PutObject of bytes and
//!   every UploadPart; multipart uploads created with CRC32C / `FULL_OBJECT`, each part's
//!   checksum and the whole object's (combined from the parts') sent at completion and
//!   compared with the one the server keeps; HEAD and GET ask for checksums, a
//!   whole-object GET body is checked against the stored CRC32C (`ObjectHashMismatch`),
//!   ranges are not (no checksum covers them); objects whose ETag is no MD5 (multipart,
//!   SSE-KMS, SSE-C) report the CRC32C as their hash. A server that ignores the
//!   algorithm at CreateMultipartUpload gets MD5-checked parts. The driver then claims
//!   `upload_checksums`, and the transfer engine hashes nothing itself.
//! - XML answers parsed into named types with quick-xml as a stream, no DOM ([`xml`]),
//!   matching elements by name under whatever root element a server uses.
//! - Credentials in the order AWS tools use ([`credentials`]): explicit, environment,
//!   shared profile files (static keys, `credential_process`, roles assumed with STS
//!   `AssumeRole` from a `source_profile` or `credential_source`, SSO from the AWS CLI's
//!   token cache), web identity (STS), ECS, EC2 IMDSv2 (IMDSv1 as a fallback); cached
//!   and refreshed.
//! - IBM Cloud Object Storage ([`ibm`]): IAM API keys exchanged for bearer tokens instead
//!   of SigV4, the `ibm_cos` driver and `cos://` URLs ([`IbmCosFactory`]).
//! - `from_env` honours `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` and `AWS_REGION` /
//!   `AWS_DEFAULT_REGION`; an `http://` endpoint is allowed without a second flag, and
//!   IP / `localhost` endpoints get path-style addressing automatically.
//! - A wrong-region answer is followed to the bucket's region transparently.
//!
//! The crate has the layout every driver crate shares: `config` (options, builder,
//! environment, string map), `factory` (registry entry), `driver` (a thin `impl Driver`),
//! `errors` (S3 codes to `ErrorKind`), one module per operation family (`containers`,
//! `list`, `read`, `write`, `multipart`, `signed`), and the wire: `client` (addressing,
//! sending, region redirects), [`signing`], [`xml`], `headers`, `checksum` (CRC32C header
//! forms and the checked GET body), [`credentials`].
//!
//! ```no_run
//! use storage_core::{Driver, DriverExt, PutOptions};
//! use storage_s3::{S3Config, S3Driver};
//! # async fn demo() -> storage_core::Result<()> {
//! let s3 = S3Driver::new(S3Config::new().endpoint("http://127.0.0.1:9000").static_credentials("test", "test"))?;
//! s3.create_container("my-bucket").await?;
//! s3.put_object("my-bucket", "hello.txt", "hi".into(), &PutOptions::default()).await?;
//! assert_eq!(s3.get_bytes("my-bucket", "hello.txt").await?, "hi");
//! # Ok(()) }
//! ```

mod cdn;
mod checksum;
mod client;
mod config;
mod containers;
pub mod credentials;
mod driver;
mod errors;
mod factory;
#[doc(hidden)]
pub mod fuzzing;
mod headers;
pub mod ibm;
mod list;
mod multipart;
mod raw;
mod read;
mod signed;
pub mod signing;
mod write;
pub mod xml;

pub use config::{Addressing, Checksum, PayloadSigning, S3Config};
pub use driver::S3Driver;
pub use errors::kind_for_code;
pub use factory::S3Factory;
pub use ibm::IbmCosFactory;
pub use raw::{S3Request, S3Response};
/// The former name of [`signing`], kept for the benchmark crate's raw-client baseline.
#[doc(hidden)]
pub use signing as sigv4;
