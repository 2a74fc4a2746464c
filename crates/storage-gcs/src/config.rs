//! Configuration of the GCS driver: builder, environment, string map.

use std::sync::Arc;

use storage_core::{DriverConfig, Error, ErrorKind, Result};
use storage_http::HttpConfig;

use crate::credentials::{GcsCredentials, TokenProvider};

/// Google's endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";

/// Settings of a [`crate::GcsDriver`].
#[derive(Clone, Default)]
pub struct GcsConfig {
    /// The endpoint (`https://storage.googleapis.com` when `None`), scheme and host only.
    pub endpoint: Option<String>,
    /// The project new buckets are created in (else the credentials' project).
    pub project_id: Option<String>,
    /// Where tokens come from; `None` means Application Default Credentials.
    pub credentials: Option<GcsCredentials>,
    /// HTTP settings (`allow_http` is set automatically for an explicit `http://` endpoint).
    pub http: HttpConfig,
}

impl std::fmt::Debug for GcsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcsConfig")
            .field("endpoint", &self.endpoint.as_deref().map(storage_core::kit::redact_url))
            .field("project_id", &self.project_id)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl GcsConfig {
    /// Google's endpoint, Application Default Credentials.
    pub fn new() -> Self {
        Self::default()
    }

    /// An emulator (fake-gcs-server) at `endpoint`, without authorization.
    pub fn emulator(endpoint: impl Into<String>) -> Self {
        GcsConfig::new().endpoint(endpoint).credentials(GcsCredentials::anonymous())
    }

    /// Sets the endpoint (`host:port` gets `http://`, as Google's SDKs read
    /// `STORAGE_EMULATOR_HOST`); an `http://` endpoint also allows plain HTTP.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        let mut e: String = endpoint.into().trim().trim_end_matches('/').to_owned();
        if !e.contains("://") {
            e = format!("http://{e}");
        }
        if e.starts_with("http://") {
            self.http.allow_http = true;
        }
        self.endpoint = Some(e);
        self
    }

    /// Sets the project.
    pub fn project_id(mut self, project: impl Into<String>) -> Self {
        self.project_id = Some(project.into());
        self
    }

    /// Sets the credentials.
    pub fn credentials(mut self, credentials: GcsCredentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Authorizes with tokens from `provider` (no signing key: signed URLs need a
    /// service account).
    pub fn token_provider(mut self, provider: Arc<dyn TokenProvider>) -> Self {
        self.credentials = Some(GcsCredentials { tokens: Some(provider), signer: None, project_id: None });
        self
    }

    /// Sends requests without authorization (public buckets, emulators).
    pub fn anonymous(self) -> Self {
        self.credentials(GcsCredentials::anonymous())
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

    /// From the environment, as Google's libraries read it: `STORAGE_EMULATOR_HOST` (an
    /// emulator without authorization, with or without a scheme), `GOOGLE_CLOUD_PROJECT`
    /// / `GCLOUD_PROJECT` / `CLOUDSDK_CORE_PROJECT`, and Application Default Credentials
    /// (resolved when the driver is built).
    pub fn from_env() -> Result<Self> {
        Self::from_vars(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
    }

    /// [`GcsConfig::from_env`] reading variables through `get`.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut c = match get("STORAGE_EMULATOR_HOST") {
            Some(host) => GcsConfig::emulator(host),
            None => GcsConfig::new(),
        };
        c.project_id =
            get("GOOGLE_CLOUD_PROJECT").or_else(|| get("GCLOUD_PROJECT")).or_else(|| get("CLOUDSDK_CORE_PROJECT"));
        c.http.apply_vars(&get)?;
        Ok(c)
    }

    /// From a string map (config file section or URL options): `endpoint`, `project_id`,
    /// `credentials_file` (a service account, authorized user or external account JSON
    /// file), `credentials_json` (the same inline), `bearer_token`, `anonymous`,
    /// `allow_http`, `ca_bundle`, and the HTTP settings of
    /// [`storage_http::HTTP_OPTIONS`] (timeouts, pool, retries, proxy, user agent). Unset
    /// values come from the environment.
    pub fn from_config(config: &DriverConfig) -> Result<Self> {
        let mut c = Self::from_env()?;
        if let Some(e) = config.get("endpoint") {
            c = c.endpoint(e);
        }
        if let Some(p) = config.get("project_id") {
            c.project_id = Some(p.to_owned());
        }
        let given =
            ["credentials_file", "credentials_json", "bearer_token"].iter().filter(|k| config.get(k).is_some()).count()
                + usize::from(config.flag("anonymous")? == Some(true));
        if given > 1 {
            return Err(Error::new(
                ErrorKind::Config,
                "give only one of credentials_file, credentials_json, bearer_token and anonymous",
            ));
        }
        if let Some(path) = config.get("credentials_file") {
            c.credentials = Some(crate::credentials::from_file(path)?);
        }
        if let Some(json) = config.get("credentials_json") {
            c.credentials = Some(crate::credentials::from_json(json)?);
        }
        if let Some(t) = config.get("bearer_token") {
            c.credentials = Some(GcsCredentials::bearer(t));
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
        c.http.apply_options(config)?;
        Ok(c)
    }
}

/// Every option [`GcsConfig::from_config`] reads (what [`crate::GcsFactory`] accepts).
pub(crate) const OPTIONS: &[&str] = storage_http::with_http_options![
    "endpoint",
    "project_id",
    "credentials_file",
    "credentials_json",
    "bearer_token",
    "anonymous",
    "allow_http",
    "ca_bundle",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_emulator_host_is_taken_with_or_without_a_scheme() {
        for host in ["127.0.0.1:4443", "http://127.0.0.1:4443", "http://127.0.0.1:4443/"] {
            let c = GcsConfig::from_vars(|k| (k == "STORAGE_EMULATOR_HOST").then(|| host.to_owned())).unwrap();
            assert_eq!(c.endpoint.as_deref(), Some("http://127.0.0.1:4443"), "{host}");
            assert!(c.http.allow_http);
            assert!(c.credentials.as_ref().is_some_and(|c| c.tokens.is_none()));
        }
        let c = GcsConfig::from_vars(|k| (k == "GCLOUD_PROJECT").then(|| "p".to_owned())).unwrap();
        assert_eq!((c.endpoint, c.project_id.as_deref()), (None, Some("p")));
    }

    #[test]
    fn bearer_tokens_stay_out_of_debug() {
        let c = GcsConfig::new().credentials(GcsCredentials::bearer("ya29.hunter2"));
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
