//! Credentials of an IAM role assumed with STS `AssumeRole`, signed with the credentials
//! of another provider (a profile's `role_arn` + `source_profile` / `credential_source`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use storage_core::{Error, ErrorKind, Result};

use super::sts::{StsSigner, call, default_session_name, sts_endpoint};
use super::{Credentials, CredentialsProvider, REDACTED};
use crate::signing::KeyCache;

/// Shortest and longest role session STS grants, in seconds.
const DURATION_RANGE: std::ops::RangeInclusive<u64> = 900..=43_200;

/// Credentials from STS `AssumeRole` (Query API, `Version=2011-06-15`), the POST signed
/// with SigV4 (service `sts`) by the credentials of `source`. `RoleSessionName` defaults
/// to `storage-rs-<unix time>`; `ExternalId` and `DurationSeconds` are sent when set.
/// Each call asks STS again: wrap the provider in a [`super::CachingProvider`] to keep the
/// temporary credentials until shortly before they expire.
#[derive(Clone)]
pub struct AssumeRoleProvider {
    source: Arc<dyn CredentialsProvider>,
    role_arn: String,
    session_name: Option<String>,
    external_id: Option<String>,
    duration: Option<Duration>,
    endpoint: String,
    region: String,
}

impl AssumeRoleProvider {
    /// Assumes `role_arn` with the credentials of `source`, calling the global STS
    /// endpoint (`https://sts.amazonaws.com`, signed for `us-east-1`) until
    /// [`AssumeRoleProvider::region`] or [`AssumeRoleProvider::endpoint`] say otherwise.
    pub fn new(source: Arc<dyn CredentialsProvider>, role_arn: impl Into<String>) -> Self {
        AssumeRoleProvider {
            source,
            role_arn: role_arn.into(),
            session_name: None,
            external_id: None,
            duration: None,
            endpoint: sts_endpoint(None),
            region: "us-east-1".to_owned(),
        }
    }

    /// The `RoleSessionName` (shown in CloudTrail).
    pub fn session_name(mut self, name: impl Into<String>) -> Self {
        self.session_name = Some(name.into());
        self
    }

    /// The `ExternalId` the role's trust policy asks for.
    pub fn external_id(mut self, id: impl Into<String>) -> Self {
        self.external_id = Some(id.into());
        self
    }

    /// The lifetime asked for (`DurationSeconds`, 15 minutes to 12 hours; STS's default
    /// is one hour).
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }

    /// Calls the regional STS endpoint of `region` and signs for it.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        let region = region.into();
        self.endpoint = sts_endpoint(Some(&region));
        self.region = region;
        self
    }

    /// Calls STS at `url` instead (a VPC endpoint, or a local server in tests); the
    /// signing region stays the one set by [`AssumeRoleProvider::region`].
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = url.into();
        self
    }

    /// The role assumed.
    pub fn role_arn(&self) -> &str {
        &self.role_arn
    }
}

impl fmt::Debug for AssumeRoleProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssumeRoleProvider")
            .field("source", &self.source)
            .field("role_arn", &self.role_arn)
            .field("session_name", &self.session_name)
            .field("external_id", &self.external_id.as_ref().map(|_| REDACTED))
            .field("duration", &self.duration)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .finish()
    }
}

#[async_trait]
impl CredentialsProvider for AssumeRoleProvider {
    async fn credentials(&self) -> Result<Credentials> {
        let duration = match self.duration.map(|d| d.as_secs()) {
            Some(secs) if !DURATION_RANGE.contains(&secs) => {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!(
                        "the role session duration is {secs} s; STS grants 900 s (15 minutes) to 43200 s (12 hours)"
                    ),
                ));
            }
            other => other.map(|s| s.to_string()),
        };
        let source = self.source.credentials().await.map_err(|e| {
            let text = format!("assuming role {}: its source credentials: {}", self.role_arn, e.message());
            Error::new(e.kind(), text).with_hint(e.hint().to_owned()).with_source(e)
        })?;
        let session_name = self.session_name.clone().unwrap_or_else(default_session_name);
        let mut params = vec![("RoleArn", self.role_arn.as_str()), ("RoleSessionName", session_name.as_str())];
        if let Some(id) = &self.external_id {
            params.push(("ExternalId", id));
        }
        if let Some(secs) = &duration {
            params.push(("DurationSeconds", secs));
        }
        let signer = StsSigner { credentials: source, region: self.region.clone(), cache: KeyCache::default() };
        let credentials = call(&self.endpoint, "AssumeRole", &params, &signer).await?;
        tracing::debug!(role_arn = %self.role_arn, expires_at = ?credentials.expires_at, "STS issued role credentials");
        Ok(credentials)
    }

    fn name(&self) -> &'static str {
        "assume role"
    }
}
