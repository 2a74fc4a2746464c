//! Service account keys (the JSON file the console hands out) and the tokens they get:
//! an RS256 JWT exchanged at Google's token endpoint, or used directly as a self-signed
//! JWT.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;
use storage_core::{Error, ErrorKind, Result};

use super::support::{
    DEFAULT_TOKEN_URI, b64url, check_secure_url, deferred_error, form_body, json_error, non_empty, request_token,
    unix_now,
};
use super::{AccessToken, SCOPE, TokenProvider};

/// The grant type of a JWT exchanged for an access token (RFC 7523).
const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The audience of self-signed JWTs for Cloud Storage.
pub(crate) const STORAGE_AUDIENCE: &str = "https://storage.googleapis.com/";
/// How long the JWTs this module makes are valid (the most Google accepts).
const JWT_LIFETIME_SECS: i64 = 3600;

/// The fields of a service account JSON file this crate reads. No `Debug`: it holds the
/// private key.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
    token_uri: Option<String>,
    project_id: Option<String>,
}

/// A service account's RSA key and identity, read from the JSON key file
/// (`"type": "service_account"`). It signs OAuth2 JWT assertions and V4 signed URLs
/// (RSA PKCS#1 v1.5 with SHA-256, with `ring`).
///
/// The private key never appears in `Debug` output, logs or errors.
pub struct ServiceAccountKey {
    /// The service account (`client_email`), e.g. `name@project.iam.gserviceaccount.com`.
    pub client_email: String,
    /// The key's id (`private_key_id`), sent as the JWT `kid`.
    pub private_key_id: String,
    /// Where assertions are exchanged for tokens (`token_uri`, default
    /// `https://oauth2.googleapis.com/token`).
    pub token_uri: String,
    /// The project the service account belongs to (`project_id`).
    pub project_id: Option<String>,
    key: RsaKeyPair,
    rng: SystemRandom,
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("token_uri", &self.token_uri)
            .field("project_id", &self.project_id)
            .field("private_key", &storage_http::auth::REDACTED)
            .finish()
    }
}

impl ServiceAccountKey {
    /// Reads a service account JSON key. Text that is not such a key (bad JSON, another
    /// credential type, a missing field, a private key that is not an RSA key in PEM) is a
    /// `Config` error that never quotes the file.
    pub fn from_json(json: &str) -> Result<Self> {
        let file: KeyFile = serde_json::from_str(json).map_err(|e| json_error("the service account JSON", &e))?;
        if let Some(kind) = non_empty(file.kind).filter(|k| k != "service_account") {
            return Err(Error::new(
                ErrorKind::Config,
                format!("the credentials JSON is of type {kind:?}, not a service account key (\"service_account\")"),
            ));
        }
        let missing = |field: &str| {
            Error::new(ErrorKind::Config, format!("the service account JSON has no {field}"))
                .with_hint("download a new JSON key from the console's IAM > Service accounts > Keys page")
        };
        let client_email = non_empty(file.client_email).ok_or_else(|| missing("client_email"))?;
        let pem = file.private_key.filter(|k| !k.trim().is_empty()).ok_or_else(|| missing("private_key"))?;
        let mut key = Self::from_pem(client_email, &pem, non_empty(file.private_key_id))?;
        key.token_uri = non_empty(file.token_uri).unwrap_or_else(|| DEFAULT_TOKEN_URI.to_owned());
        key.project_id = non_empty(file.project_id);
        Ok(key)
    }

    /// Reads the service account JSON key file at `path`; errors name the file, never
    /// its content.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(ErrorKind::Config, format!("cannot read the service account key file {}: {e}", path.display()))
                .with_source(e)
        })?;
        Self::from_json(&text)
            .map_err(|e| Error::new(e.kind(), format!("{}: {}", path.display(), e.message())).with_source(e))
    }

    /// A key from its parts: the service account `client_email`, its RSA private key in
    /// PEM (`-----BEGIN PRIVATE KEY-----` PKCS#8, or `-----BEGIN RSA PRIVATE KEY-----`
    /// PKCS#1) and its id. The token URI is Google's.
    pub fn from_pem(client_email: impl Into<String>, pem: &str, private_key_id: Option<String>) -> Result<Self> {
        let bad = |why: &str| {
            Error::new(ErrorKind::Config, format!("the service account private key {why}"))
                .with_hint("the private_key of a service account JSON key is an RSA key in PEM (BEGIN PRIVATE KEY)")
        };
        // JSON files hold the PEM with real newlines; pasted values sometimes keep `\n`.
        let pem = if pem.contains("\\n") { pem.replace("\\n", "\n") } else { pem.to_owned() };
        let der = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|_| bad("is not a PEM private key"))?;
        let key = match &der {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            _ => return Err(bad("is not an RSA key")),
        }
        .map_err(|rejected| bad(&format!("is not a usable RSA key ({rejected})")))?;
        Ok(ServiceAccountKey {
            client_email: client_email.into().trim().to_owned(),
            private_key_id: private_key_id.unwrap_or_default(),
            token_uri: DEFAULT_TOKEN_URI.to_owned(),
            project_id: None,
            key,
            rng: SystemRandom::new(),
        })
    }

    /// The RSASSA-PKCS1-v1_5 SHA-256 signature of `data` (what `RS256` JWTs and
    /// `GOOG4-RSA-SHA256` signed URLs use).
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>> {
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &self.rng, data, &mut signature)
            .map_err(|_| Error::new(ErrorKind::Config, "signing with the service account key failed"))?;
        Ok(signature)
    }

    /// The public half of the key: a DER `RSAPublicKey`, as
    /// `ring::signature::UnparsedPublicKey` takes it to verify signatures.
    pub fn public_key_der(&self) -> &[u8] {
        self.key.public().as_ref()
    }

    /// A signed RS256 JWT with these claims, its header naming this key (`kid`).
    pub fn jwt(&self, claims: &serde_json::Value) -> Result<String> {
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if !self.private_key_id.is_empty() {
            header["kid"] = serde_json::Value::String(self.private_key_id.clone());
        }
        let encode = |v: &serde_json::Value| {
            serde_json::to_vec(v)
                .map(b64url)
                .map_err(|e| Error::new(ErrorKind::Config, format!("cannot encode a JWT: {e}")))
        };
        let signing_input = format!("{}.{}", encode(&header)?, encode(claims)?);
        let signature = self.sign(signing_input.as_bytes())?;
        Ok(format!("{signing_input}.{}", b64url(signature)))
    }
}

/// How the provider turns the key into a token.
#[derive(Clone, Debug)]
enum Mode {
    /// An assertion exchanged at the token URI.
    Exchange { token_uri: String },
    /// The JWT itself, audience `audience`.
    SelfSigned { audience: String },
}

/// Tokens of a service account key.
///
/// By default ([`ServiceAccountProvider::new`]) an RS256 JWT
/// (`{"alg":"RS256","typ":"JWT","kid":private_key_id}`; claims `iss` = the service
/// account, `scope` = [`SCOPE`], `aud` = the token URI, `iat`, `exp` = `iat` + 1 h) is
/// POSTed to the token URI as `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`
/// and the access token it answers is used.
///
/// [`ServiceAccountProvider::self_signed`] skips the exchange: the JWT (audience
/// `https://storage.googleapis.com/`) is the bearer token, as Google's libraries do for
/// self-signed JWTs (AIP-4111). No network, but only for the JSON and XML APIs of
/// `storage.googleapis.com`.
#[derive(Clone, Debug)]
pub struct ServiceAccountProvider {
    key: Arc<ServiceAccountKey>,
    mode: Mode,
    scope: String,
}

impl ServiceAccountProvider {
    /// Exchanges JWTs signed with `key` at the key's token URI.
    pub fn new(key: Arc<ServiceAccountKey>) -> Self {
        let token_uri = key.token_uri.clone();
        ServiceAccountProvider { key, mode: Mode::Exchange { token_uri }, scope: SCOPE.to_owned() }
    }

    /// Uses self-signed JWTs (audience `https://storage.googleapis.com/`) as tokens,
    /// without asking any server.
    pub fn self_signed(key: Arc<ServiceAccountKey>) -> Self {
        ServiceAccountProvider {
            key,
            mode: Mode::SelfSigned { audience: STORAGE_AUDIENCE.to_owned() },
            scope: SCOPE.to_owned(),
        }
    }

    /// Exchanges assertions at `token_uri` instead of the key's (test servers, private
    /// endpoints). It must be `https://` (plain http only to a loopback host).
    pub fn with_token_uri(mut self, token_uri: impl Into<String>) -> Self {
        if let Mode::Exchange { token_uri: uri } = &mut self.mode {
            *uri = token_uri.into();
        }
        self
    }

    /// Asks for `scope` (space-separated scopes) instead of [`SCOPE`].
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = scope.into();
        self
    }

    /// The key.
    pub fn key(&self) -> &Arc<ServiceAccountKey> {
        &self.key
    }

    /// Whether tokens are self-signed JWTs (no exchange).
    pub fn is_self_signed(&self) -> bool {
        matches!(self.mode, Mode::SelfSigned { .. })
    }

    /// The signed JWT the provider would send (exchange) or use (self-signed) if issued
    /// at `iat` (Unix seconds).
    pub fn assertion(&self, iat: i64) -> Result<String> {
        let exp = iat + JWT_LIFETIME_SECS;
        let email = &self.key.client_email;
        let claims = match &self.mode {
            Mode::Exchange { token_uri } => {
                serde_json::json!({"iss": email, "scope": self.scope, "aud": token_uri, "iat": iat, "exp": exp})
            }
            Mode::SelfSigned { audience } => {
                serde_json::json!({"iss": email, "sub": email, "aud": audience, "iat": iat, "exp": exp})
            }
        };
        self.key.jwt(&claims)
    }
}

#[async_trait]
impl TokenProvider for ServiceAccountProvider {
    async fn token(&self) -> Result<AccessToken> {
        let iat = unix_now();
        match &self.mode {
            Mode::SelfSigned { .. } => {
                let jwt = self.assertion(iat)?;
                let expires_at = DateTime::<Utc>::from_timestamp(iat + JWT_LIFETIME_SECS, 0).unwrap_or_else(Utc::now);
                Ok(AccessToken::new(jwt, expires_at))
            }
            Mode::Exchange { token_uri } => {
                let url = check_secure_url(token_uri, "service account token URI").map_err(|e| deferred_error(&e))?;
                let assertion = self.assertion(iat)?;
                let form = form_body(&[("grant_type", JWT_BEARER_GRANT), ("assertion", &assertion)]);
                let token = request_token(&url, form, None, "service account token request").await?;
                tracing::debug!(client_email = %self.key.client_email, "Google issued a token for the service account");
                Ok(token)
            }
        }
    }

    fn name(&self) -> &'static str {
        "service account"
    }
}
