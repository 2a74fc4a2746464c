//! Configuration of the Azure driver: builder, environment, connection strings, string map.

use std::sync::Arc;

use storage_core::{DriverConfig, Error, ErrorKind, Result};
use storage_http::HttpConfig;

use crate::credentials::{
    AccountKey, AzureCliProvider, AzureCredential, ClientSecretProvider, SasToken, StaticTokenProvider, TokenCache,
    TokenProvider,
};

/// The account Azurite and the storage emulator serve.
pub const EMULATOR_ACCOUNT: &str = "devstoreaccount1";
/// The emulator's well-known account key (public, documented by Microsoft).
pub const EMULATOR_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// Azurite's default Blob endpoint.
pub const EMULATOR_ENDPOINT: &str = "http://127.0.0.1:10000/devstoreaccount1";

/// Settings of an [`crate::AzureDriver`].
#[derive(Clone, Default)]
pub struct AzureConfig {
    /// The storage account name.
    pub account: String,
    /// The Blob endpoint, up to where container names follow
    /// (`https://{account}.blob.core.windows.net` when `None`; Azurite's is
    /// `http://127.0.0.1:10000/devstoreaccount1`).
    pub endpoint: Option<String>,
    /// How requests are authorized; `None` means: an account key or SAS token from the
    /// environment, else Entra ID through the default token chain.
    pub credential: Option<AzureCredential>,
    /// HTTP settings (`allow_http` is set automatically for an explicit `http://` endpoint).
    pub http: HttpConfig,
}

impl std::fmt::Debug for AzureConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureConfig")
            .field("account", &self.account)
            .field("endpoint", &self.endpoint.as_deref().map(storage_core::kit::redact_url))
            .field("credential", &self.credential)
            .finish_non_exhaustive()
    }
}

impl AzureConfig {
    /// A configuration for `account`, credentials from the environment.
    pub fn new(account: impl Into<String>) -> Self {
        AzureConfig { account: account.into(), ..Default::default() }
    }

    /// Azurite (or the storage emulator) on its default port with its well-known key.
    pub fn emulator() -> Self {
        let key = AccountKey::from_base64(EMULATOR_KEY).ok().map(AzureCredential::SharedKey);
        AzureConfig { credential: key, ..AzureConfig::new(EMULATOR_ACCOUNT) }.endpoint(EMULATOR_ENDPOINT)
    }

    /// Sets the Blob endpoint; an `http://` endpoint also allows plain HTTP.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        let e: String = endpoint.into();
        if e.starts_with("http://") {
            self.http.allow_http = true;
        }
        self.endpoint = Some(e.trim_end_matches('/').to_owned());
        self
    }

    /// Authorizes with the account key (base64, as the portal shows it).
    pub fn account_key(mut self, key: &str) -> Result<Self> {
        self.credential = Some(AzureCredential::SharedKey(AccountKey::from_base64(key)?));
        Ok(self)
    }

    /// Authorizes with a SAS token (the query string, with or without `?`).
    pub fn sas_token(mut self, token: &str) -> Result<Self> {
        self.credential = Some(AzureCredential::Sas(SasToken::parse(token)?));
        Ok(self)
    }

    /// Authorizes with Entra ID tokens from `provider`.
    pub fn token_provider(mut self, provider: Arc<dyn TokenProvider>) -> Self {
        self.credential = Some(AzureCredential::Token(provider));
        self
    }

    /// Sends requests unauthorized (public containers).
    pub fn anonymous(mut self) -> Self {
        self.credential = Some(AzureCredential::Anonymous);
        self
    }

    /// Allows plain HTTP.
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.http.allow_http = allow;
        self
    }

    /// Sets the HTTP settings (timeouts, retries, TLS roots, CA bundle).
    pub fn http(mut self, http: HttpConfig) -> Self {
        let allow = self.http.allow_http;
        self.http = http;
        self.http.allow_http |= allow;
        self
    }

    /// From the environment, as Azure's tools read it: `AZURE_STORAGE_CONNECTION_STRING`,
    /// else `AZURE_STORAGE_ACCOUNT` (or `AZURE_STORAGE_ACCOUNT_NAME`) with
    /// `AZURE_STORAGE_KEY` (or `AZURE_STORAGE_ACCOUNT_KEY`) or `AZURE_STORAGE_SAS_TOKEN`;
    /// `AZURE_STORAGE_BLOB_ENDPOINT` / `AZURE_STORAGE_ENDPOINT`,
    /// `AZURE_STORAGE_USE_EMULATOR=true`, `AZURE_STORAGE_CA_BUNDLE`. Without a key or SAS,
    /// requests carry Entra ID tokens from the default chain.
    pub fn from_env() -> Result<Self> {
        Self::from_vars(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
    }

    /// [`AzureConfig::from_env`] reading variables through `get`.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let truthy =
            |k: &str| get(k).is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"));
        let mut c = if let Some(cs) = get("AZURE_STORAGE_CONNECTION_STRING") {
            AzureConfig::from_connection_string(&cs)?
        } else if truthy("AZURE_STORAGE_USE_EMULATOR") {
            AzureConfig::emulator()
        } else {
            AzureConfig::default()
        };
        if let Some(a) = get("AZURE_STORAGE_ACCOUNT").or_else(|| get("AZURE_STORAGE_ACCOUNT_NAME")) {
            c.account = a.trim().to_owned();
        }
        if let Some(e) = get("AZURE_STORAGE_BLOB_ENDPOINT").or_else(|| get("AZURE_STORAGE_ENDPOINT")) {
            c = c.endpoint(e.trim());
        }
        if let Some(k) = get("AZURE_STORAGE_KEY").or_else(|| get("AZURE_STORAGE_ACCOUNT_KEY")) {
            c = c.account_key(&k)?;
        } else if let Some(s) = get("AZURE_STORAGE_SAS_TOKEN") {
            c = c.sas_token(&s)?;
        }
        if let Some(b) = get("AZURE_STORAGE_CA_BUNDLE") {
            c.http.ca_bundle = Some(b.into());
        }
        if truthy("AZURE_STORAGE_ALLOW_HTTP") {
            c.http.allow_http = true;
        }
        c.http.apply_vars(&get)?;
        Ok(c)
    }

    /// From a connection string: `AccountName`, `AccountKey`, `SharedAccessSignature`,
    /// `BlobEndpoint`, `DefaultEndpointsProtocol` + `EndpointSuffix`, and
    /// `UseDevelopmentStorage=true` (Azurite; `DevelopmentStorageProxyUri` moves it).
    /// Errors never repeat the string (it holds the key).
    pub fn from_connection_string(s: &str) -> Result<Self> {
        let mut fields = std::collections::HashMap::new();
        for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                return Err(Error::new(
                    ErrorKind::Config,
                    "the Azure connection string has a part without `=`; expected Key=Value pairs separated by `;`",
                ));
            };
            fields.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
        let get = |k: &str| fields.get(k).filter(|v| !v.is_empty()).cloned();
        if get("usedevelopmentstorage").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            let mut c = AzureConfig::emulator();
            if let Some(proxy) = get("developmentstorageproxyuri") {
                let base = proxy.trim_end_matches('/');
                c = c.endpoint(format!("{base}/{EMULATOR_ACCOUNT}"));
            }
            return Ok(c);
        }
        let mut c = AzureConfig::default();
        if let Some(a) = get("accountname") {
            c.account = a;
        }
        if let Some(e) = get("blobendpoint") {
            c = c.endpoint(e);
        } else if let Some(suffix) = get("endpointsuffix") {
            if c.account.is_empty() {
                return Err(Error::new(
                    ErrorKind::Config,
                    "the Azure connection string has EndpointSuffix but no AccountName",
                ));
            }
            let scheme = get("defaultendpointsprotocol").unwrap_or_else(|| "https".into());
            let url = format!("{scheme}://{}.blob.{suffix}", c.account);
            c = c.endpoint(url);
        } else if get("defaultendpointsprotocol").is_some_and(|p| p.eq_ignore_ascii_case("http"))
            && !c.account.is_empty()
        {
            let url = format!("http://{}.blob.core.windows.net", c.account);
            c = c.endpoint(url);
        }
        if let Some(k) = get("accountkey") {
            c = c.account_key(&k)?;
        } else if let Some(sas) = get("sharedaccesssignature") {
            c = c.sas_token(&sas)?;
        }
        if c.account.is_empty() && c.endpoint.is_none() {
            return Err(Error::new(
                ErrorKind::Config,
                "the Azure connection string names neither AccountName nor BlobEndpoint",
            ));
        }
        Ok(c)
    }

    /// From a string map (config file section or URL options): `account`, `endpoint`,
    /// `account_key`, `sas_token`, `bearer_token`, `connection_string`, `use_emulator`,
    /// `anonymous`, `allow_http`, `ca_bundle`; a service principal with `tenant_id`,
    /// `client_id`, `client_secret` (and `authority_host` for other clouds); or
    /// `use_azure_cli = true` for the signed-in Azure CLI's tokens; the HTTP settings of
    /// [`storage_http::HTTP_OPTIONS`] (timeouts, pool, retries, proxy, user agent). Unset
    /// values come from the environment.
    pub fn from_config(config: &DriverConfig) -> Result<Self> {
        let mut c = match config.get("connection_string") {
            Some(cs) => AzureConfig::from_connection_string(cs)?,
            None if config.flag("use_emulator")? == Some(true) => AzureConfig::emulator(),
            None => Self::from_env()?,
        };
        if let Some(a) = config.get("account") {
            c.account = a.to_owned();
        }
        if let Some(e) = config.get("endpoint") {
            c = c.endpoint(e);
        }
        let cli = config.flag("use_azure_cli")? == Some(true);
        let explicit = [
            config.get("account_key").is_some(),
            config.get("sas_token").is_some(),
            config.get("bearer_token").is_some(),
            config.get("client_secret").is_some(),
            cli,
        ];
        if explicit.iter().filter(|b| **b).count() > 1 {
            return Err(Error::new(
                ErrorKind::Config,
                "give only one of account_key, sas_token, bearer_token, client_secret and use_azure_cli",
            ));
        }
        if let Some(secret) = config.get("client_secret") {
            let (Some(tenant), Some(client)) = (config.get("tenant_id"), config.get("client_id")) else {
                return Err(Error::new(ErrorKind::Config, "client_secret needs tenant_id and client_id"));
            };
            let provider =
                ClientSecretProvider::new(tenant, client, secret, config.get("authority_host").map(str::to_owned));
            c = c.token_provider(Arc::new(TokenCache::new(Arc::new(provider))));
        }
        if cli {
            c = c.token_provider(Arc::new(TokenCache::new(Arc::new(AzureCliProvider::new()))));
        }
        if let Some(k) = config.get("account_key") {
            c = c.account_key(k)?;
        }
        if let Some(s) = config.get("sas_token") {
            c = c.sas_token(s)?;
        }
        if let Some(t) = config.get("bearer_token") {
            let far = chrono::Utc::now() + chrono::TimeDelta::days(3650);
            c = c.token_provider(Arc::new(StaticTokenProvider::new(t, far)));
        }
        if config.flag("anonymous")? == Some(true) {
            c = c.anonymous();
        }
        if let Some(a) = config.flag("allow_http")? {
            c.http.allow_http = a;
        }
        if let Some(b) = config.get("ca_bundle").filter(|b| !b.trim().is_empty()) {
            c.http.ca_bundle = Some(b.into());
        }
        // The environment's HTTP settings (a connection string skips `from_env`), then
        // the section's, which win.
        c.http.apply_env()?;
        c.http.apply_options(config)?;
        Ok(c)
    }
}

/// Every option [`AzureConfig::from_config`] reads (what [`crate::AzureFactory`] accepts).
pub(crate) const OPTIONS: &[&str] = storage_http::with_http_options![
    "account",
    "endpoint",
    "account_key",
    "sas_token",
    "bearer_token",
    "connection_string",
    "use_emulator",
    "anonymous",
    "allow_http",
    "ca_bundle",
    "tenant_id",
    "client_id",
    "client_secret",
    "authority_host",
    "use_azure_cli",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings_of_every_form() {
        let c = AzureConfig::from_connection_string("UseDevelopmentStorage=true").unwrap();
        assert_eq!(c.account, EMULATOR_ACCOUNT);
        assert_eq!(c.endpoint.as_deref(), Some(EMULATOR_ENDPOINT));
        assert!(c.http.allow_http);
        assert!(matches!(c.credential, Some(AzureCredential::SharedKey(_))));
        let c = AzureConfig::from_connection_string(
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=aHVudGVyMg==;EndpointSuffix=core.chinacloudapi.cn",
        )
        .unwrap();
        assert_eq!(c.endpoint.as_deref(), Some("https://acct.blob.core.chinacloudapi.cn"));
        let c = AzureConfig::from_connection_string(
            "BlobEndpoint=https://priv.example.com/;SharedAccessSignature=sv=2021-08-06&sp=rl&sig=abc",
        )
        .unwrap();
        assert_eq!(c.endpoint.as_deref(), Some("https://priv.example.com"));
        assert!(matches!(c.credential, Some(AzureCredential::Sas(_))));
        let c = AzureConfig::from_connection_string(&format!(
            "DefaultEndpointsProtocol=http;AccountName={EMULATOR_ACCOUNT};AccountKey={EMULATOR_KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
        ))
        .unwrap();
        assert_eq!(c.account, EMULATOR_ACCOUNT);
        assert!(c.http.allow_http);
    }

    #[test]
    fn bad_connection_strings_are_config_errors_without_the_key() {
        for s in ["AccountName=a;AccountKey=hunter2!!", "garbage-hunter2", "AccountKey=aHVudGVyMg=="] {
            let e = AzureConfig::from_connection_string(s).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{s}");
            assert!(!format!("{e} {e:?}").contains("hunter2") && !e.to_string().contains("aHVud"), "{e}");
        }
    }

    #[test]
    fn environment_is_read_as_azure_tools_read_it() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
        };
        let c =
            AzureConfig::from_vars(vars(&[("AZURE_STORAGE_ACCOUNT", "acct"), ("AZURE_STORAGE_KEY", "aHVudGVyMg==")]))
                .unwrap();
        assert_eq!(c.account, "acct");
        assert!(matches!(c.credential, Some(AzureCredential::SharedKey(_))));
        let c = AzureConfig::from_vars(vars(&[("AZURE_STORAGE_USE_EMULATOR", "true")])).unwrap();
        assert_eq!(c.endpoint.as_deref(), Some(EMULATOR_ENDPOINT));
        let c = AzureConfig::from_vars(vars(&[("AZURE_STORAGE_ACCOUNT", "acct")])).unwrap();
        assert!(c.credential.is_none());
        assert!(!format!("{:?}", AzureConfig::emulator()).contains("Eby8"));
    }
}
