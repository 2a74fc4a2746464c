//! Access tokens and where they come from.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use storage_core::{Error, ErrorKind, Result};

/// An OAuth2 access token (Entra ID, Google) and when it expires.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The bearer token; never printed.
    pub token: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

impl AccessToken {
    /// A token valid until `expires_at`.
    pub fn new(token: impl Into<String>, expires_at: DateTime<Utc>) -> Self {
        AccessToken { token: token.into(), expires_at }
    }

    /// Whether it expires within `d` from now (or has expired).
    pub fn expires_within(&self, d: Duration) -> bool {
        match TimeDelta::from_std(d).ok().and_then(|d| Utc::now().checked_add_signed(d)) {
            Some(limit) => self.expires_at <= limit,
            None => true,
        }
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken").field("token", &REDACTED).field("expires_at", &self.expires_at).finish()
    }
}

/// A source of OAuth2 access tokens for one service (its scope is the provider's business).
#[async_trait]
pub trait TokenProvider: fmt::Debug + Send + Sync {
    /// A token, fresh enough to use now.
    async fn token(&self) -> Result<AccessToken>;

    /// A short name for logs and error messages.
    fn name(&self) -> &'static str {
        let full = std::any::type_name::<Self>();
        full.rsplit("::").next().unwrap_or(full)
    }

    /// The server refused `token` (revoked, or expired before its stated time): forget it
    /// if it is still the one kept, and say whether asking [`TokenProvider::token`] again
    /// may give another. The default keeps nothing and can give nothing else: `false`.
    async fn forget(&self, token: &str) -> bool {
        let _ = token;
        false
    }
}

/// After a 401 to a request that carried `authorization` (`Bearer <token>`): has
/// `provider` forget that token; `true` when the request is worth signing and sending
/// once more (what [`crate::Signer::rejected`] answers for bearer tokens).
pub async fn forget_rejected(provider: &dyn TokenProvider, authorization: Option<&http::HeaderValue>) -> bool {
    match authorization.and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")) {
        Some(token) => provider.forget(token).await,
        None => false,
    }
}

/// A fixed token given by the application (it is never refreshed).
#[derive(Clone, Debug)]
pub struct StaticTokenProvider(AccessToken);

impl StaticTokenProvider {
    /// Answers `token` until `expires_at`, then `Unauthenticated`.
    pub fn new(token: impl Into<String>, expires_at: DateTime<Utc>) -> Self {
        StaticTokenProvider(AccessToken::new(token, expires_at))
    }
}

#[async_trait]
impl TokenProvider for StaticTokenProvider {
    async fn token(&self) -> Result<AccessToken> {
        if self.0.expires_within(Duration::ZERO) {
            return Err(Error::new(
                ErrorKind::Unauthenticated,
                "the bearer token given in the configuration has expired",
            ));
        }
        Ok(self.0.clone())
    }
    fn name(&self) -> &'static str {
        "static token"
    }
}

/// Stands in for a secret in `Debug` output (`<redacted>`).
pub const REDACTED: Redacted = Redacted;

/// What [`REDACTED`] is: prints `<redacted>` in `Debug` output.
#[derive(Clone, Copy)]
pub struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}
