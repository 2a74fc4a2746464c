//! Credentials from environment variables.

use async_trait::async_trait;
use storage_core::{Error, ErrorKind, Result};

use super::support::{env_var, non_empty, parse_expiry, unauthenticated};
use super::{Credentials, CredentialsProvider};

/// Credentials from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`
/// (with the legacy `AWS_ACCESS_KEY` / `AWS_SECRET_KEY` / `AWS_SECURITY_TOKEN` as
/// fallbacks, and `AWS_CREDENTIAL_EXPIRATION` for temporary keys), read from the process
/// environment on every call.
#[derive(Clone, Copy, Debug, Default)]
pub struct EnvProvider;

impl EnvProvider {
    /// A provider reading the process environment.
    pub fn new() -> Self {
        EnvProvider
    }

    /// The credentials `get` describes, `get` standing for the environment (tests pass
    /// a map instead of touching the process environment). Missing keys are an
    /// `Unauthenticated` error saying what is not set; an access key without its secret
    /// (or the reverse) is a `Config` error.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Credentials> {
        let first = |names: &[&str]| names.iter().find_map(|n| non_empty(get(n)));
        let access_key_id = first(&["AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"]);
        let secret_access_key = first(&["AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY"]);
        let (access_key_id, secret_access_key) = match (access_key_id, secret_access_key) {
            (Some(a), Some(s)) => (a, s),
            (None, None) => return Err(unauthenticated("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set")),
            (Some(_), None) => {
                return Err(Error::new(ErrorKind::Config, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"));
            }
            (None, Some(_)) => {
                return Err(Error::new(ErrorKind::Config, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"));
            }
        };
        let token = first(&["AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"]);
        let mut credentials = Credentials::new(access_key_id, secret_access_key, token);
        if let Some(expiration) = first(&["AWS_CREDENTIAL_EXPIRATION"]) {
            credentials.expires_at = Some(
                parse_expiry(&expiration, "AWS_CREDENTIAL_EXPIRATION")
                    .map_err(|e| Error::new(ErrorKind::Config, e.message()))?,
            );
        }
        Ok(credentials)
    }
}

#[async_trait]
impl CredentialsProvider for EnvProvider {
    async fn credentials(&self) -> Result<Credentials> {
        EnvProvider::from_vars(env_var)
    }

    fn name(&self) -> &'static str {
        "environment"
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn env_credentials_standard_names() {
        let c = EnvProvider::from_vars(vars(&[
            ("AWS_ACCESS_KEY_ID", "AKIDENV"),
            ("AWS_SECRET_ACCESS_KEY", "secretenv"),
            ("AWS_SESSION_TOKEN", "tokenenv"),
        ]))
        .unwrap();
        assert_eq!(c.access_key_id, "AKIDENV");
        assert_eq!(c.secret_access_key, "secretenv");
        assert_eq!(c.session_token.as_deref(), Some("tokenenv"));
        assert!(c.expires_at.is_none());
    }

    #[test]
    fn env_credentials_legacy_names_and_expiry() {
        let c = EnvProvider::from_vars(vars(&[
            ("AWS_ACCESS_KEY", "AKIDOLD"),
            ("AWS_SECRET_KEY", "secretold"),
            ("AWS_CREDENTIAL_EXPIRATION", "2031-05-06T07:08:09Z"),
        ]))
        .unwrap();
        assert_eq!(c.access_key_id, "AKIDOLD");
        assert_eq!(c.secret_access_key, "secretold");
        assert_eq!(c.session_token, None);
        assert!(c.expires_at.is_some());
        // The standard names win over the legacy ones; blank values count as unset.
        let c = EnvProvider::from_vars(vars(&[
            ("AWS_ACCESS_KEY_ID", "NEW"),
            ("AWS_ACCESS_KEY", "OLD"),
            ("AWS_SECRET_ACCESS_KEY", "  "),
            ("AWS_SECRET_KEY", "s"),
        ]))
        .unwrap();
        assert_eq!(c.access_key_id, "NEW");
        assert_eq!(c.secret_access_key, "s");
    }

    #[test]
    fn env_credentials_missing_or_partial() {
        let e = EnvProvider::from_vars(vars(&[])).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert!(e.message().contains("not set"), "{e}");
        let e = EnvProvider::from_vars(vars(&[("AWS_ACCESS_KEY_ID", "AKID")])).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        let e = EnvProvider::from_vars(vars(&[("AWS_SECRET_ACCESS_KEY", "topsecret")])).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(!e.to_string().contains("topsecret"));
        let e = EnvProvider::from_vars(vars(&[
            ("AWS_ACCESS_KEY_ID", "a"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_CREDENTIAL_EXPIRATION", "tomorrow"),
        ]))
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert_eq!(EnvProvider.name(), "environment");
    }
}
