//! The HTTP engine shared by the cloud drivers (S3, GCS, Azure).
//!
//! - [`HttpClient`]: hyper 1 + hyper-util pooled HTTP/1.1 client over rustls (webpki
//!   roots, or the OS store with the `native-roots` feature), `allow_http` for local
//!   servers, proxies from `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY`.
//! - Timeouts that spare slow transfers: connect timeout, an idle timeout that fires only
//!   when nothing moves, and an optional total deadline.
//! - Retries with full-jitter exponential backoff for connect errors, timeouts, 408, 429
//!   and 5xx on idempotent requests with replayable bodies; `Retry-After` honoured.
//! - [`resumable_body`]: a GET whose body breaks resumes from the last byte received,
//!   pinned to the ETag.
//! - [`kind_for_status`] / [`status_error`]: HTTP answers -> `storage_core::ErrorKind`.
//! - [`redact_url`]: what may be logged of a URL. Signatures never reach logs or errors.
//! - [`upload_from_url`]: stream any `http(s)://` resource into any driver.
//! - [`auth`]: OAuth2 access tokens, their cache and chain, and the helpers the drivers'
//!   credentials providers share.
//!
//! ```no_run
//! # async fn demo() -> storage_core::Result<()> {
//! use storage_http::{HttpClient, HttpConfig, HttpRequest, Unsigned};
//! let client = HttpClient::new(HttpConfig { allow_http: true, ..Default::default() })?;
//! let req = HttpRequest::parse(http::Method::GET, "http://127.0.0.1:9000/bucket/key", "GetObject")?;
//! let resp = client.execute(&req, &Unsigned).await?;
//! let status = resp.status;
//! println!("{status} {} bytes", resp.bytes().await?.len());
//! # Ok(()) }
//! ```

mod activity;
pub mod auth;
pub mod batch;
mod client;
mod config;
mod connector;
mod errors;
mod fetch;
mod ranges;
mod request;
mod response;
mod resume;
mod retry;
#[cfg(feature = "xml")]
pub mod xml;

pub use activity::Activity;
pub use client::HttpClient;
pub use config::{HTTP_OPTIONS, HttpConfig, RetryConfig, TlsRoots, parse_duration};
pub use errors::{kind_for_status, status_error};
pub use fetch::{upload_from_url, upload_from_url_into};
pub use ranges::{body_range, content_range};
pub use request::{HttpRequest, HyperBody, RequestBody, Signer, Unsigned};
pub use response::HttpResponse;
pub use resume::{Resumable, resumable_body};
pub use retry::{backoff, is_retryable_status, retry_after};
pub use storage_core::kit::redact_url;

pub use http;
