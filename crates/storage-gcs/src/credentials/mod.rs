//! Where Google Cloud Storage requests get their OAuth2 access tokens, and the key that
//! signs V4 signed URLs.
//!
//! Application Default Credentials, in the order Google's libraries use them
//! ([`application_default`]):
//!
//! 1. `GOOGLE_APPLICATION_CREDENTIALS`: a JSON file of type `service_account`
//!    ([`ServiceAccountProvider`]: an RS256 JWT exchanged for a token),
//!    `authorized_user` ([`AuthorizedUserProvider`]: a refresh token) or
//!    `external_account` ([`ExternalAccountProvider`]: workload identity federation).
//! 2. gcloud's `application_default_credentials.json` (`gcloud auth application-default
//!    login`), in `$CLOUDSDK_CONFIG` or `~/.config/gcloud`.
//! 3. The GCE metadata server ([`MetadataProvider`]).
//!
//! Tokens are cached and refreshed before they expire ([`TokenCache`]). Private keys,
//! refresh tokens and access tokens never appear in `Debug` output, logs or errors.

use std::sync::Arc;

pub(crate) use storage_http::auth::REDACTED;
pub use storage_http::auth::{AccessToken, StaticTokenProvider, TokenCache, TokenChain, TokenProvider};

mod adc;
mod authorized_user;
mod external_account;
mod metadata;
mod service_account;
mod support;

// The private parsers, for `crate::fuzzing`.
pub(crate) use support::{parse_iam_token_answer, parse_token_answer};

pub use adc::{application_default, application_default_from_vars, from_file, from_json, well_known_file};
pub use authorized_user::AuthorizedUserProvider;
pub use external_account::ExternalAccountProvider;
pub use metadata::MetadataProvider;
pub use service_account::{ServiceAccountKey, ServiceAccountProvider};

/// The OAuth2 scope requested for Cloud Storage.
pub const SCOPE: &str = "https://www.googleapis.com/auth/devstorage.full_control";

/// What a credentials source gives a driver.
#[derive(Clone, Debug)]
pub struct GcsCredentials {
    /// Where tokens come from; `None` sends requests without authorization (emulators,
    /// public buckets).
    pub tokens: Option<Arc<dyn TokenProvider>>,
    /// The service account key that signs V4 signed URLs, when the credentials have one.
    pub signer: Option<Arc<ServiceAccountKey>>,
    /// The project the credentials belong to, when they say (used to create buckets).
    pub project_id: Option<String>,
}

impl GcsCredentials {
    /// No authorization at all.
    pub fn anonymous() -> Self {
        GcsCredentials { tokens: None, signer: None, project_id: None }
    }

    /// A fixed bearer token (never refreshed).
    pub fn bearer(token: impl Into<String>) -> Self {
        let far = chrono::Utc::now() + chrono::TimeDelta::days(3650);
        GcsCredentials { tokens: Some(Arc::new(StaticTokenProvider::new(token, far))), signer: None, project_id: None }
    }
}
