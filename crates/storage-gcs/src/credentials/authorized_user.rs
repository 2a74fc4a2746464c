//! Tokens of a user account: the refresh token `gcloud auth application-default login`
//! stores (`"type": "authorized_user"`).

use std::fmt;

use async_trait::async_trait;
use serde::Deserialize;
use storage_core::{Error, ErrorKind, Result};

use super::support::{
    DEFAULT_TOKEN_URI, check_secure_url, deferred_error, form_body, json_error, non_empty, request_token,
};
use super::{AccessToken, REDACTED, TokenProvider};

/// The fields of an `authorized_user` JSON file. No `Debug`: it holds secrets.
#[derive(Deserialize)]
struct UserFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
    token_uri: Option<String>,
    quota_project_id: Option<String>,
}

/// Tokens of a user: `POST https://oauth2.googleapis.com/token` with
/// `grant_type=refresh_token`, the OAuth client id and secret and the refresh token.
/// The secret and the refresh token go only into the request body; they never appear in
/// `Debug` output, logs or errors.
#[derive(Clone)]
pub struct AuthorizedUserProvider {
    client_id: String,
    client_secret: String,
    refresh_token: String,
    token_uri: String,
    quota_project_id: Option<String>,
}

impl fmt::Debug for AuthorizedUserProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizedUserProvider")
            .field("client_id", &self.client_id)
            .field("client_secret", &REDACTED)
            .field("refresh_token", &REDACTED)
            .field("token_uri", &self.token_uri)
            .field("quota_project_id", &self.quota_project_id)
            .finish()
    }
}

impl AuthorizedUserProvider {
    /// The user behind `refresh_token`, issued to the OAuth client `client_id` /
    /// `client_secret`.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        refresh_token: impl Into<String>,
    ) -> Self {
        AuthorizedUserProvider {
            client_id: client_id.into().trim().to_owned(),
            client_secret: client_secret.into(),
            refresh_token: refresh_token.into(),
            token_uri: DEFAULT_TOKEN_URI.to_owned(),
            quota_project_id: None,
        }
    }

    /// Reads an `authorized_user` JSON document (gcloud's
    /// `application_default_credentials.json`). Anything else is a `Config` error that
    /// never quotes it.
    pub fn from_json(json: &str) -> Result<Self> {
        let file: UserFile = serde_json::from_str(json).map_err(|e| json_error("the authorized user JSON", &e))?;
        if let Some(kind) = non_empty(file.kind).filter(|k| k != "authorized_user") {
            return Err(Error::new(
                ErrorKind::Config,
                format!("the credentials JSON is of type {kind:?}, not a user account (\"authorized_user\")"),
            ));
        }
        let missing = |field: &str| {
            Error::new(ErrorKind::Config, format!("the authorized user JSON has no {field}"))
                .with_hint("sign in again with `gcloud auth application-default login`")
        };
        let client_id = non_empty(file.client_id).ok_or_else(|| missing("client_id"))?;
        let client_secret = non_empty(file.client_secret).ok_or_else(|| missing("client_secret"))?;
        let refresh_token = non_empty(file.refresh_token).ok_or_else(|| missing("refresh_token"))?;
        let mut provider = Self::new(client_id, client_secret, refresh_token);
        if let Some(uri) = non_empty(file.token_uri) {
            provider.token_uri = uri;
        }
        provider.quota_project_id = non_empty(file.quota_project_id);
        Ok(provider)
    }

    /// Refreshes at `token_uri` instead of `https://oauth2.googleapis.com/token`. It must
    /// be `https://` (plain http only to a loopback host).
    pub fn with_token_uri(mut self, token_uri: impl Into<String>) -> Self {
        self.token_uri = token_uri.into();
        self
    }

    /// The token endpoint asked.
    pub fn token_uri(&self) -> &str {
        &self.token_uri
    }

    /// The OAuth client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The project billed for the user's requests (`quota_project_id`), if the file says.
    pub fn quota_project_id(&self) -> Option<&str> {
        self.quota_project_id.as_deref()
    }
}

#[async_trait]
impl TokenProvider for AuthorizedUserProvider {
    async fn token(&self) -> Result<AccessToken> {
        let url = check_secure_url(&self.token_uri, "authorized user token URI").map_err(|e| deferred_error(&e))?;
        let form = form_body(&[
            ("grant_type", "refresh_token"),
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
            ("refresh_token", &self.refresh_token),
        ]);
        let token = request_token(&url, form, None, "authorized user token refresh").await.map_err(|e| {
            if e.provider_code() == Some("invalid_grant") {
                e.with_hint("the refresh token was revoked or expired: run `gcloud auth application-default login`")
            } else {
                e
            }
        })?;
        tracing::debug!(client_id = %self.client_id, "Google refreshed the user's token");
        Ok(token)
    }

    fn name(&self) -> &'static str {
        "authorized user"
    }
}
