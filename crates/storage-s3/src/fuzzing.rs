//! Entry points for the fuzz targets (`fuzz/`, run by `cargo xtask fuzz`): the parsers
//! of outside input that are private to this crate, reachable without a file, a process
//! or a network. Not a stable API: hidden from the documentation, and free to change
//! with the targets.

use chrono::{DateTime, Utc};
use storage_core::{Error, Result};

use crate::credentials::Credentials;

/// What a profile of the shared AWS files resolves to, without fetching anything.
#[derive(Debug)]
pub struct ProfilePlan {
    /// Where the first credentials come from: `static`, `process` or the provider's name.
    pub base: &'static str,
    /// The static keys, when `base` is `static`.
    pub static_credentials: Option<Credentials>,
    /// How many roles are assumed on the way.
    pub roles: usize,
}

/// Parses the texts of `~/.aws/credentials` and `~/.aws/config` and plans how
/// `profile`'s credentials would be obtained (source profiles followed, loops refused).
pub fn profile_plan(credentials: &str, config: &str, profile: &str) -> Result<ProfilePlan> {
    crate::credentials::profile_plan_texts(credentials, config, profile)
}

/// Reads a `credential_process` command's standard output.
pub fn credential_process_output(stdout: &[u8]) -> Result<Credentials> {
    crate::credentials::parse_process_output(stdout, "fuzz", "credential-helper")
}

/// Reads the credentials document of the ECS and IMDS endpoints.
pub fn container_credentials(body: &[u8]) -> Result<Credentials> {
    crate::credentials::parse_json_credentials(body, "container credentials")
}

/// Reads an STS `AssumeRole` answer: the credentials of a 2xx answer, else the error.
pub fn sts_answer(status: u16, xml: &str) -> Result<Credentials> {
    if (200..300).contains(&status) {
        crate::credentials::parse_sts_credentials(xml, "AssumeRole")
    } else {
        Err(crate::credentials::sts_error(status, xml, "AssumeRole"))
    }
}

/// Reads the `expiresAt` of the AWS CLI's SSO token cache file.
pub fn sso_cache_time(value: &str) -> Option<DateTime<Utc>> {
    crate::credentials::parse_cache_time(value)
}

/// The error a `200 OK` whose body is an `<Error>` document becomes.
pub fn error_in_ok_body(body: &[u8]) -> Option<Error> {
    crate::errors::error_in_ok_body(body, "CopyObject")
}

/// Reads a ListObjectsV2 answer with the general quick-xml reader, the reference for the
/// hand-written scanner of [`crate::xml::ListBucketResult::parse`].
pub fn list_bucket_result_reference(xml: &[u8]) -> Result<crate::xml::ListBucketResult> {
    crate::xml::ListBucketResult::parse_reference(xml)
}
