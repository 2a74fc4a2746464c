//! AWS credentials: where they come from and how they are kept fresh.
//!
//! The providers follow the order the AWS tools use (see [`default_chain`]):
//!
//! 1. [`EnvProvider`]: `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`.
//! 2. [`ProfileProvider`]: `~/.aws/credentials` and `~/.aws/config`, profile `AWS_PROFILE`:
//!    static keys, `credential_process`, roles ([`AssumeRoleProvider`], chained through
//!    `source_profile` or from a `credential_source`), web identity, and SSO profiles (the
//!    token `aws sso login` cached, exchanged at the SSO portal).
//! 3. [`WebIdentityProvider`]: `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN` exchanged
//!    with STS `AssumeRoleWithWebIdentity` (EKS IRSA and other OIDC federations).
//! 4. [`EcsProvider`]: the ECS / EKS Pod Identity container credentials endpoint.
//! 5. [`ImdsProvider`]: the EC2 instance metadata service (IMDSv2, IMDSv1 as a fallback).
//!
//! [`ChainProvider`] tries providers in order and [`CachingProvider`] keeps the answer until
//! it is about to expire. Secrets never appear in `Debug` output, logs or error messages.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

mod assume_role;
mod cache;
mod chain;
mod ecs;
mod env;
mod imds;
mod process;
mod profile;
mod sso;
mod sts;
mod support;
mod web_identity;

pub use assume_role::AssumeRoleProvider;
pub use cache::CachingProvider;
pub use chain::ChainProvider;
pub use ecs::{EcsAuth, EcsProvider};
pub use env::EnvProvider;
pub use imds::ImdsProvider;
pub use profile::ProfileProvider;
pub use web_identity::WebIdentityProvider;

// The private parsers, for `crate::fuzzing`.
pub(crate) use process::parse as parse_process_output;
pub(crate) use profile::plan_texts as profile_plan_texts;
pub(crate) use sso::parse_cache_time;
pub(crate) use sts::{parse_sts_credentials, sts_error};
pub(crate) use support::parse_json_credentials;

/// A set of AWS credentials: an access key pair, an optional session token and, for
/// temporary credentials, the moment they stop working.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The access key id (`AKIA...`, `ASIA...`); not a secret, shown in `Debug`.
    pub access_key_id: String,
    /// The secret access key; never printed.
    pub secret_access_key: String,
    /// The session token of temporary credentials; never printed.
    pub session_token: Option<String>,
    /// When temporary credentials expire; `None` for long-lived keys.
    pub expires_at: Option<DateTime<Utc>>,
}

impl Credentials {
    /// Long-lived (or not yet dated) credentials; set [`Credentials::expires_at`] for
    /// temporary ones.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token,
            expires_at: None,
        }
    }

    /// The same credentials with an expiry time.
    pub fn with_expiry(mut self, expires_at: DateTime<Utc>) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// Whether the credentials expire within `d` from now (or have already expired).
    /// Credentials without an expiry never do.
    pub fn expires_within(&self, d: Duration) -> bool {
        let Some(expires_at) = self.expires_at else {
            return false;
        };
        match TimeDelta::from_std(d).ok().and_then(|d| Utc::now().checked_add_signed(d)) {
            Some(limit) => expires_at <= limit,
            // A window too large to represent reaches past any expiry.
            None => true,
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &REDACTED)
            .field("session_token", &self.session_token.as_ref().map(|_| REDACTED))
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Stands in for a secret in `Debug` output.
const REDACTED: Redacted = Redacted;

#[derive(Clone, Copy)]
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A source of AWS credentials.
#[async_trait]
pub trait CredentialsProvider: Send + Sync + fmt::Debug {
    /// Fetches (or returns cached) credentials. Missing or rejected credentials are an
    /// `Unauthenticated` error, malformed configuration a `Config` error, transport
    /// failures `Io` / `Timeout`. Messages never contain secrets.
    async fn credentials(&self) -> storage_core::Result<Credentials>;

    /// A short name for logs and for the error of a [`ChainProvider`] (`environment`,
    /// `profile`...). Defaults to the type's name.
    fn name(&self) -> &'static str {
        let full = std::any::type_name::<Self>();
        full.rsplit("::").next().unwrap_or(full)
    }
}

#[async_trait]
impl<P: CredentialsProvider + ?Sized> CredentialsProvider for Arc<P> {
    async fn credentials(&self) -> storage_core::Result<Credentials> {
        (**self).credentials().await
    }

    fn name(&self) -> &'static str {
        (**self).name()
    }
}

/// Explicit credentials given by the application.
#[derive(Clone, Debug)]
pub struct StaticProvider(Credentials);

impl StaticProvider {
    /// A provider that always answers these keys.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        StaticProvider(Credentials::new(access_key_id, secret_access_key, session_token))
    }

    /// A provider that always answers `credentials`.
    pub fn from_credentials(credentials: Credentials) -> Self {
        StaticProvider(credentials)
    }
}

impl From<Credentials> for StaticProvider {
    fn from(credentials: Credentials) -> Self {
        StaticProvider(credentials)
    }
}

#[async_trait]
impl CredentialsProvider for StaticProvider {
    async fn credentials(&self) -> storage_core::Result<Credentials> {
        Ok(self.0.clone())
    }

    fn name(&self) -> &'static str {
        "static"
    }
}

/// The chain the AWS tools use, reading the process environment, cached:
/// `Caching(Chain[Env, Profile, WebIdentity, Ecs, Imds])`.
pub fn default_chain() -> Arc<dyn CredentialsProvider> {
    let chain = ChainProvider::new(vec![
        Arc::new(EnvProvider),
        Arc::new(ProfileProvider::from_env()),
        Arc::new(WebIdentityProvider::from_env()),
        Arc::new(EcsProvider::from_env()),
        Arc::new(ImdsProvider::from_env()),
    ]);
    Arc::new(CachingProvider::new(Arc::new(chain)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_debug_hides_secrets() {
        let c = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", Some("FwoGZXIvYXdzEXAMPLETOKEN".into()));
        let s = format!("{c:?}");
        assert!(s.contains("AKIDEXAMPLE"), "{s}");
        assert!(!s.contains("wJalr") && !s.contains("FwoGZ"), "{s}");
        assert!(s.contains("<redacted>"), "{s}");
        let p = format!("{:?}", StaticProvider::from_credentials(c));
        assert!(!p.contains("wJalr") && !p.contains("FwoGZ"), "{p}");
        let no_token = format!("{:?}", Credentials::new("A", "S", None));
        assert!(no_token.contains("session_token: None"), "{no_token}");
    }

    #[test]
    fn credentials_expiry_window() {
        let c = Credentials::new("a", "s", None);
        assert!(!c.expires_within(Duration::from_secs(3600)));
        assert!(!c.expires_within(Duration::MAX));
        let soon = c.clone().with_expiry(Utc::now() + TimeDelta::minutes(2));
        assert!(soon.expires_within(Duration::from_secs(300)));
        assert!(!soon.expires_within(Duration::ZERO));
        assert!(soon.expires_within(Duration::MAX));
        let later = c.clone().with_expiry(Utc::now() + TimeDelta::hours(1));
        assert!(!later.expires_within(Duration::from_secs(300)));
        let past = c.with_expiry(Utc::now() - TimeDelta::seconds(1));
        assert!(past.expires_within(Duration::ZERO));
    }

    #[tokio::test]
    async fn static_provider_answers_its_keys() {
        let p = StaticProvider::new("AK", "SK", None);
        let c = p.credentials().await.unwrap();
        assert_eq!(c.access_key_id, "AK");
        assert_eq!(c.secret_access_key, "SK");
        assert_eq!(p.name(), "static");
    }

    #[test]
    fn default_name_is_the_type_name() {
        #[derive(Debug)]
        struct Custom;
        #[async_trait]
        impl CredentialsProvider for Custom {
            async fn credentials(&self) -> storage_core::Result<Credentials> {
                Ok(Credentials::new("a", "b", None))
            }
        }
        assert_eq!(Custom.name(), "Custom");
    }
}
