//! Amazon S3 and S3-compatible stores (MinIO, garage, moto, s3s...).
//!
//! - SigV4 written here with hmac + sha2 ([`sigv4`]), header and presigned forms, with the
//!   derived signing key cached per day and region; `UNSIGNED-PAYLOAD` over TLS and a
//!   CRC32C checksum instead of hashing every body into the signature.
//! - XML read with quick-xml as a stream, no DOM ([`xml`]).
//! - Credentials in the order AWS tools use ([`credentials`]): explicit, environment,
//!   shared profile files, web identity (STS), ECS, EC2 IMDSv2; cached and refreshed.
//! - `from_env` honours `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` and `AWS_REGION` /
//!   `AWS_DEFAULT_REGION`; an `http://` endpoint is allowed without a second flag, and
//!   IP / `localhost` endpoints get path-style addressing automatically.
//! - A wrong-region answer is followed to the bucket's region transparently.
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

mod client;
mod config;
pub mod credentials;
mod driver;
mod errors;
mod factory;
mod headers;
pub mod sigv4;
pub mod xml;

pub use config::{Addressing, Checksum, PayloadSigning, S3Config};
pub use driver::S3Driver;
pub use errors::kind_for_code;
pub use factory::S3Factory;
