//! How Azure requests are authorized, and where Entra ID tokens come from.
//!
//! [`AzureCredential`] is what a driver signs with: an account key (SharedKey, see
//! [`crate::signing`]), a SAS token appended to every URL, an Entra ID bearer token from a
//! [`TokenProvider`], or nothing (public containers).
//!
//! Token providers follow the order Azure's own tools try them (see [`default_chain`]):
//!
//! 1. [`ClientSecretProvider`]: `AZURE_CLIENT_ID` / `AZURE_CLIENT_SECRET` /
//!    `AZURE_TENANT_ID` (authority `AZURE_AUTHORITY_HOST`).
//! 2. [`WorkloadIdentityProvider`]: `AZURE_FEDERATED_TOKEN_FILE` exchanged as a client
//!    assertion (AKS workload identity, GitHub OIDC).
//! 3. [`ManagedIdentityProvider`]: App Service / Functions `IDENTITY_ENDPOINT` +
//!    `IDENTITY_HEADER`, else the VM's IMDS.
//! 4. [`AzureCliProvider`]: `az account get-access-token`, run without a shell.
//!
//! [`TokenChain`] tries them in order, [`TokenCache`] keeps a token until shortly
//! before it expires. Keys, SAS signatures and tokens never appear in `Debug` output,
//! logs or error messages.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use storage_core::{Error, ErrorKind, Result};

mod azure_cli;
mod client_secret;
mod managed_identity;
mod support;
mod workload_identity;

pub use azure_cli::AzureCliProvider;
pub use client_secret::ClientSecretProvider;
pub use managed_identity::ManagedIdentityProvider;
pub(crate) use storage_http::auth::REDACTED;
pub use storage_http::auth::{AccessToken, StaticTokenProvider, TokenCache, TokenChain, TokenProvider};
pub use workload_identity::WorkloadIdentityProvider;

// The private parsers, for `crate::fuzzing`.
pub(crate) use azure_cli::parse_cli_token;
pub(crate) use support::{parse_expires_on, parse_token_answer};

/// The OAuth2 scope of Azure Storage.
pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

/// A storage account key (the base64 text Azure shows), decoded once.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountKey(Arc<[u8]>);

impl AccountKey {
    /// Decodes the base64 key; text that is not base64 is a `Config` error that does not
    /// repeat it.
    pub fn from_base64(key: &str) -> Result<Self> {
        let bytes = B64.decode(key.trim()).map_err(|_| {
            Error::new(ErrorKind::Config, "the Azure account key is not valid base64")
                .with_hint("copy the key from the portal's Access keys page or `az storage account keys list`")
        })?;
        if bytes.is_empty() {
            return Err(Error::new(ErrorKind::Config, "the Azure account key is empty"));
        }
        Ok(AccountKey(bytes.into()))
    }

    /// The key's bytes, for signing.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccountKey(<redacted>)")
    }
}

/// A shared access signature: the query string Azure hands out (`sv=...&sig=...`).
#[derive(Clone, PartialEq, Eq)]
pub struct SasToken {
    query: String,
}

impl SasToken {
    /// Parses a SAS token, with or without its leading `?`. It must carry a signature
    /// (`sig=`); anything else is a `Config` error that does not echo the token.
    pub fn parse(token: &str) -> Result<Self> {
        let query = token.trim().trim_start_matches('?').to_owned();
        let has_sig = query.split('&').any(|p| p.starts_with("sig=") && p.len() > 4);
        if !has_sig {
            return Err(Error::new(ErrorKind::Config, "the Azure SAS token has no signature (sig=)")
                .with_hint("give the whole query string of the SAS, e.g. sv=...&se=...&sp=...&sig=..."));
        }
        Ok(SasToken { query })
    }

    /// The query string (secret: it grants access).
    pub fn query(&self) -> &str {
        &self.query
    }
}

impl fmt::Debug for SasToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SasToken(<redacted>)")
    }
}

/// How a driver authorizes its requests.
#[derive(Clone)]
pub enum AzureCredential {
    /// SharedKey with the account key (also signs service SAS URLs).
    SharedKey(AccountKey),
    /// A SAS token added to every request URL.
    Sas(SasToken),
    /// An Entra ID bearer token (signed URLs are user delegation SAS).
    Token(Arc<dyn TokenProvider>),
    /// No authorization (public containers, emulators without auth).
    Anonymous,
}

impl fmt::Debug for AzureCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AzureCredential::SharedKey(k) => f.debug_tuple("SharedKey").field(k).finish(),
            AzureCredential::Sas(s) => f.debug_tuple("Sas").field(s).finish(),
            AzureCredential::Token(p) => f.debug_tuple("Token").field(p).finish(),
            AzureCredential::Anonymous => f.write_str("Anonymous"),
        }
    }
}

/// The token chain Azure's tools use, reading the process environment, cached:
/// `TokenCache(TokenChain[ClientSecret, WorkloadIdentity, ManagedIdentity, AzureCli])`.
pub fn default_chain() -> Arc<dyn TokenProvider> {
    let chain = TokenChain::new(vec![
        Arc::new(ClientSecretProvider::from_env()),
        Arc::new(WorkloadIdentityProvider::from_env()),
        Arc::new(ManagedIdentityProvider::from_env()),
        Arc::new(AzureCliProvider::new()),
    ])
    .for_service(
        "Azure",
        "set account_key or sas_token (or AZURE_STORAGE_KEY / AZURE_STORAGE_SAS_TOKEN / \
         AZURE_STORAGE_CONNECTION_STRING), sign in with `az login`, or set AZURE_CLIENT_ID, \
         AZURE_TENANT_ID and AZURE_CLIENT_SECRET",
    );
    Arc::new(TokenCache::new(Arc::new(chain)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_reach_debug() {
        let key = AccountKey::from_base64("aHVudGVyMmh1bnRlcjI=").unwrap();
        let sas = SasToken::parse("?sv=2021-08-06&sp=r&sig=hunter2sig").unwrap();
        let tok = AccessToken::new("eyJhunter2", chrono::Utc::now());
        for shown in [
            format!("{:?}", AzureCredential::SharedKey(key)),
            format!("{:?}", AzureCredential::Sas(sas)),
            format!("{tok:?}"),
        ] {
            assert!(!shown.contains("hunter2") && !shown.contains("aHVud"), "{shown}");
        }
    }

    #[test]
    fn bad_keys_and_sas_are_config_errors_that_do_not_echo() {
        let e = AccountKey::from_base64("not base64 hunter2!").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(!e.to_string().contains("hunter2"));
        let e = SasToken::parse("sv=2021&sp=r&hunter2").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(!e.to_string().contains("hunter2"));
        assert_eq!(SasToken::parse("?a=b&sig=x").unwrap().query(), "a=b&sig=x");
    }
}
