//! The driver author's kit: everything a driver needs besides the [`Driver`] trait, in
//! one import (`use storage_core::kit::*` or item by item). Our drivers and a vendor's use
//! the same pieces, so each exists once:
//!
//! - metadata: [`normalize_metadata`] (lowercased keys, as HTTP backends store them) and
//!   [`verify_content_md5`] / [`verify_md5_hex`] (refuse data whose MD5 is not the
//!   caller's `content_md5`);
//! - hashes: [`md5_hex`], [`is_md5_hex`], [`Md5Hasher`], [`multipart_etag`] (S3's
//!   `md5-of-part-md5s-N`), [`crc32c`] and [`crc32c_update`] (Castagnoli, as GCS and
//!   Azure report it);
//! - bodies: [`chunked_stream`] (a buffer as a zero-copy stream of chunks),
//!   [`check_length`] (a payload's declared length against what arrived);
//! - versions: [`check_version_answered`] (a versioned read refused when the server
//!   answered another version, as some do for an id they do not keep);
//! - conditions: [`etag_matches`] (ETags compared as backends do, quotes and weak
//!   prefixes aside);
//! - names: [`container_name`] and [`object_key`] checks with [`ContainerNameRules`];
//! - listings: [`ListCursor`] and [`PageBuilder`] (prefix, delimiter, start-after and page
//!   semantics every driver shares), [`paginate`];
//! - errors: [`Error`] and [`ErrorKind`], with [`Error::container_not_found`] and
//!   [`Error::object_not_found`] for the answers every driver gives;
//! - retries: [`full_jitter`], the one backoff (uniform in `[0, min(max, initial x 2^n)]`);
//! - logs: [`redact_url`], what may be shown of a URL (passwords and signatures never);
//! - registry: [`DriverFactory`], [`DriverConfig`], [`is_secret_key`];
//! - files: [`temp_path_beside`], [`unique_tag`], [`sync_dir`];
//! - uploads without an upload object on the backend: [`new_upload_id`] /
//!   [`parse_upload_id`] (a tag plus what the commit needs), [`mark_aborted`] /
//!   [`was_aborted`].
//!
//! The conformance suite (`storage-conformance`) then proves the driver.
//!
//! [`Driver`]: crate::Driver
//! [`paginate`]: crate::paginate

mod backoff;
mod crc32c;
mod metadata;
mod redact;
mod streams;
mod upload_id;
mod versions;

pub use backoff::full_jitter;
pub use crc32c::{crc32c, crc32c_combine, crc32c_update};
pub use metadata::{normalize_metadata, verify_content_md5, verify_md5_hex};
pub use redact::redact_url;
pub use streams::{BodyCheck, HashCheck, checked_body, chunked_stream, crc32c_mismatch, crc32c_verified};
pub use upload_id::{mark_aborted, new_upload_id, parse_upload_id, was_aborted};
pub use versions::check_version_answered;

pub use crate::driver::paginate;
pub use crate::error::{Error, ErrorKind, Result};
pub use crate::fsio::{sync_dir, temp_path_beside, unique_tag};
pub use crate::hash::{Md5Hasher, is_md5_hex, md5_hex, multipart_etag};
pub use crate::listing::{ListCursor, PageBuilder};
pub use crate::object::etag_matches;
pub use crate::ops::checksum::StreamTap;
pub use crate::payload::check_length;
pub use crate::registry::{DriverConfig, DriverFactory, is_secret_key};
pub use crate::validate::{ContainerNameRules, container_name, object_key};
