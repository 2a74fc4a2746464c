//! Configuration of the driver: the server, its credentials, how writes are made, and
//! the HTTP engine's timeouts and retries; a builder, a server URL
//! (`webdav[s]://[user:password@]host[:port]/path`), the environment and a string map.

use std::time::Duration;

use storage_core::kit::{DriverConfig, redact_url};
use storage_core::{Error, ErrorKind, Result};
use storage_http::HttpConfig;

use crate::paths::decode;

/// Which protocol the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavor {
    /// A WebDAV server (RFC 4918): reads, writes, listings.
    #[default]
    WebDav,
    /// A plain HTTP(S) file server: read-only (GET, HEAD, ranges, conditional GETs);
    /// listings work only if it also answers PROPFIND.
    Http,
}

/// How an object is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// The data goes to a staging name beside the key (`.~upload.<tag>`), then a MOVE
    /// puts it in place. A failed or interrupted upload never touches the key, on any
    /// server (rclone, like many servers, writes a PUT in place: an interrupted one
    /// leaves a truncated file). WebDAV's MOVE removes the destination before renaming,
    /// so a reader may briefly find no object while it is overwritten
    /// (`atomic_overwrite` is off). The default.
    #[default]
    Staged,
    /// One PUT straight to the key: one request, and an overwrite readers never see
    /// half done, on servers that commit a PUT atomically (Apache mod_dav_fs, nginx,
    /// Nextcloud write a temporary file and rename it). On servers that write in place
    /// an interrupted upload leaves a truncated object: use `Staged` there.
    Direct,
}

impl WriteMode {
    fn parse(v: &str) -> Result<Self> {
        match v.trim().to_ascii_lowercase().as_str() {
            "staged" => Ok(WriteMode::Staged),
            "direct" => Ok(WriteMode::Direct),
            _ => Err(Error::new(
                ErrorKind::Config,
                format!("the option \"write_mode\" is {v:?}; expected \"staged\" or \"direct\""),
            )),
        }
    }
}

/// A secret string: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself, for building a request.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How requests are authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Credentials {
    /// No `Authorization` header.
    #[default]
    Anonymous,
    /// HTTP Basic authentication.
    Basic {
        /// The user name.
        username: String,
        /// The password (never printed).
        password: Secret,
    },
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
}

/// Settings of a [`crate::WebDavDriver`].
#[derive(Clone, Default)]
pub struct WebDavConfig {
    /// The server URL under which containers are the top-level collections:
    /// `https://host[:port][/path]` (no user information, no query). Set it with
    /// [`WebDavConfig::new`], [`WebDavConfig::from_url`] or [`WebDavConfig::endpoint`].
    pub endpoint: String,
    /// WebDAV or read-only plain HTTP.
    pub flavor: Flavor,
    /// How requests are authenticated.
    pub credentials: Credentials,
    /// How objects are written.
    pub write_mode: WriteMode,
    /// HTTP settings: timeouts, retries, TLS roots, CA bundle (`allow_http` is set for an
    /// `http://` or `webdav://` endpoint).
    pub http: HttpConfig,
}

impl std::fmt::Debug for WebDavConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebDavConfig")
            .field("endpoint", &redact_url(&self.endpoint))
            .field("flavor", &self.flavor)
            .field("credentials", &self.credentials)
            .field("write_mode", &self.write_mode)
            .field("http", &self.http)
            .finish()
    }
}

/// A server URL split up: `(flavor, https?, endpoint without userinfo, userinfo)`.
type ParsedUrl = (Option<Flavor>, bool, String, Option<(String, Option<String>)>);

/// Parses `webdav[s]://` or `http[s]://` `[user[:password]@]host[:port][/path]`.
/// Errors show the URL with the user information redacted.
fn parse_server_url(url: &str) -> Result<ParsedUrl> {
    let shown = || redact_url(url);
    let (scheme, rest) = url.trim().split_once("://").ok_or_else(|| {
        Error::new(
            ErrorKind::Config,
            format!("{:?} is not a server URL; expected webdav[s]://host[:port]/path or http[s]://...", shown()),
        )
    })?;
    let (flavor, tls) = match scheme.to_ascii_lowercase().as_str() {
        "webdav" | "dav" => (Some(Flavor::WebDav), false),
        "webdavs" | "davs" => (Some(Flavor::WebDav), true),
        "http" => (None, false),
        "https" => (None, true),
        other => {
            return Err(Error::new(
                ErrorKind::Config,
                format!("the URL scheme {other:?} is not one of webdav, webdavs, http, https"),
            ));
        }
    };
    if rest.contains(['?', '#']) {
        return Err(Error::new(
            ErrorKind::Config,
            format!("the server URL {:?} has a query or fragment; give scheme://host[:port]/path", shown()),
        ));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(Error::new(ErrorKind::Config, format!("the server URL {:?} has no host", shown())));
    }
    let credentials = match userinfo {
        None => None,
        Some(u) => {
            let (user, password) = match u.split_once(':') {
                Some((user, pw)) => (user, Some(pw)),
                None => (u, None),
            };
            let bad = || {
                Error::new(ErrorKind::Config, "the user information of the server URL is not valid UTF-8 once decoded")
            };
            let user = decode(user).ok_or_else(bad)?;
            let password = password.map(|p| decode(p).ok_or_else(bad)).transpose()?;
            Some((user, password))
        }
    };
    let endpoint = format!("{}://{host}{}", if tls { "https" } else { "http" }, path.trim_end_matches('/'));
    Ok((flavor, tls, endpoint, credentials))
}

fn secs(config: &DriverConfig, key: &str) -> Result<Option<Duration>> {
    match config.parse::<f64>(key)? {
        None => Ok(None),
        Some(s) if s.is_finite() && s > 0.0 => Ok(Some(Duration::from_secs_f64(s))),
        Some(_) => {
            Err(Error::new(ErrorKind::Config, format!("the option {key:?} must be a positive number of seconds")))
        }
    }
}

impl WebDavConfig {
    /// A WebDAV server at `endpoint` (`https://host[:port][/path]`, or `http://` which
    /// also allows plain HTTP), without credentials.
    pub fn new(endpoint: impl Into<String>) -> Self {
        WebDavConfig::default().endpoint(endpoint)
    }

    /// From a server URL: `webdav://host[:port]/path` (plain HTTP), `webdavs://...`
    /// (HTTPS), or `http://` / `https://` for a read-only plain HTTP store. User
    /// information in the URL (`user:password@`, percent-encoded) becomes Basic
    /// credentials. Errors never show the password.
    pub fn from_url(url: &str) -> Result<Self> {
        let (flavor, _, endpoint, credentials) = parse_server_url(url)?;
        let mut c = WebDavConfig::default().endpoint(endpoint);
        c.flavor = flavor.unwrap_or(Flavor::Http);
        if let Some((username, password)) = credentials {
            c.credentials = Credentials::Basic { username, password: Secret::new(password.unwrap_or_default()) };
        }
        Ok(c)
    }

    /// Sets the server URL (any of the forms [`WebDavConfig::from_url`] takes, user
    /// information aside); an `http://` or `webdav://` URL also allows plain HTTP.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        let e: String = endpoint.into();
        match parse_server_url(&e) {
            Ok((_, tls, url, _)) => {
                self.http.allow_http |= !tls;
                self.endpoint = url;
            }
            // Kept as given: the driver refuses it with the parse error when built.
            Err(_) => self.endpoint = e,
        }
        self
    }

    /// Authenticates with HTTP Basic.
    pub fn basic_auth(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Credentials::Basic { username: username.into(), password: Secret::new(password) };
        self
    }

    /// Authenticates with `Authorization: Bearer <token>`.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.credentials = Credentials::Bearer(Secret::new(token));
        self
    }

    /// Selects WebDAV or the read-only plain HTTP store.
    pub fn flavor(mut self, flavor: Flavor) -> Self {
        self.flavor = flavor;
        self
    }

    /// Selects how objects are written.
    pub fn write_mode(mut self, mode: WriteMode) -> Self {
        self.write_mode = mode;
        self
    }

    /// Allows plain HTTP.
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.http.allow_http = allow;
        self
    }

    /// Sets the HTTP settings (timeouts, retries, TLS roots, CA bundle); `allow_http`
    /// stays on if the endpoint turned it on.
    pub fn http(mut self, http: HttpConfig) -> Self {
        let allow = self.http.allow_http;
        self.http = http;
        self.http.allow_http |= allow;
        self
    }

    /// The TCP + TLS connect timeout.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.http.connect_timeout = t;
        self
    }

    /// The longest wait for an answer or the next chunk of a body.
    pub fn read_timeout(mut self, t: Duration) -> Self {
        self.http.read_idle_timeout = t;
        self
    }

    /// A deadline for each request, retries included (not for reading the body).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.http.total_timeout = Some(t);
        self
    }

    /// How many times a failed request is retried (0: never).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.http.retry.max_retries = n;
        self
    }

    /// From the environment: `WEBDAV_URL` (any form [`WebDavConfig::from_url`] takes),
    /// `WEBDAV_USERNAME` and `WEBDAV_PASSWORD`, or `WEBDAV_BEARER_TOKEN`,
    /// `WEBDAV_WRITE_MODE`, `WEBDAV_ALLOW_HTTP`, `WEBDAV_CA_BUNDLE`. A `http(s)://` URL
    /// means a WebDAV server here (use [`Flavor::Http`] for a plain HTTP store).
    pub fn from_env() -> Result<Self> {
        Self::from_vars(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
    }

    /// [`WebDavConfig::from_env`] reading variables through `get`.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let map = env_map(get);
        if map.get("endpoint").is_none() {
            return Err(Error::new(ErrorKind::Config, "WEBDAV_URL is not set")
                .with_hint("set WEBDAV_URL=webdavs://host/path (or https://host/path)"));
        }
        Self::build(&map, Flavor::WebDav)
    }

    /// From a string map (a config file section or URL options) for a WebDAV server:
    /// `endpoint` (`webdav[s]://` or `http[s]://`, user information allowed),
    /// `username`, `password`, `bearer_token`, `write_mode` (`staged` or `direct`),
    /// `allow_http`, `ca_bundle`, and the HTTP engine's `connect_timeout`,
    /// `read_timeout`, `timeout` (seconds) and `max_retries`. Without `endpoint`, the
    /// server and its settings come from the environment ([`WebDavConfig::from_env`]),
    /// the map's options on top. Errors never show a password or token.
    pub fn from_config(config: &DriverConfig) -> Result<Self> {
        Self::from_config_as(config, Flavor::WebDav)
    }

    /// [`WebDavConfig::from_config`] for the given flavor (the `http` / `https` factory
    /// builds plain HTTP stores).
    pub fn from_config_as(config: &DriverConfig, flavor: Flavor) -> Result<Self> {
        if config.get("endpoint").is_some() {
            return Self::build(config, flavor);
        }
        let mut merged = env_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()));
        for (k, v) in config.iter() {
            merged = merged.set(k, v);
        }
        Self::build(&merged, flavor)
    }

    fn build(config: &DriverConfig, flavor: Flavor) -> Result<Self> {
        let url = config
            .require("endpoint")
            .map_err(|e| e.with_hint("set endpoint = \"webdavs://host/path\" (or https://...), or WEBDAV_URL"))?;
        let (_, _, endpoint, url_credentials) = parse_server_url(url)?;
        let mut c = WebDavConfig::default().endpoint(endpoint);
        c.flavor = flavor;
        let user =
            config.get("username").map(str::to_owned).or_else(|| url_credentials.as_ref().map(|(u, _)| u.clone()));
        let password = config.get("password").map(str::to_owned).or_else(|| url_credentials.and_then(|(_, p)| p));
        let token = config.get("bearer_token");
        match (user, password, token) {
            (Some(_) | None, Some(_), Some(_)) | (Some(_), None, Some(_)) => {
                return Err(Error::new(
                    ErrorKind::Config,
                    "give either username and password, or bearer_token, not both",
                ));
            }
            (None, None, Some(t)) => c.credentials = Credentials::Bearer(Secret::new(t)),
            (Some(u), p, None) => {
                c.credentials = Credentials::Basic { username: u, password: Secret::new(p.unwrap_or_default()) };
            }
            (None, Some(_), None) => {
                return Err(Error::new(ErrorKind::Config, "a password is set but no username"));
            }
            (None, None, None) => {}
        }
        if let Some(m) = config.get("write_mode") {
            c.write_mode = WriteMode::parse(m)?;
        }
        if let Some(a) = config.flag("allow_http")? {
            c.http.allow_http = a;
        }
        if let Some(b) = config.get("ca_bundle").filter(|b| !b.trim().is_empty()) {
            c.http.ca_bundle = Some(b.into());
        }
        if let Some(t) = secs(config, "connect_timeout")? {
            c.http.connect_timeout = t;
        }
        if let Some(t) = secs(config, "read_timeout")? {
            c.http.read_idle_timeout = t;
        }
        if let Some(t) = secs(config, "timeout")? {
            c.http.total_timeout = Some(t);
        }
        if let Some(n) = config.parse::<u32>("max_retries")? {
            c.http.retry.max_retries = n;
        }
        Ok(c)
    }

    /// Checks the endpoint: `(https?, authority, path)`, the path without a trailing `/`.
    pub(crate) fn parts(&self) -> Result<(bool, String, String)> {
        let (_, tls, url, credentials) = parse_server_url(&self.endpoint)?;
        if credentials.is_some() {
            return Err(Error::new(
                ErrorKind::Config,
                "the endpoint holds user information; give credentials with basic_auth (or from_url)",
            ));
        }
        let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        Ok((tls, authority.to_owned(), path.to_owned()))
    }
}

/// The environment variables [`WebDavConfig::from_env`] reads, and the option each sets.
const ENV_VARS: &[(&str, &str)] = &[
    ("WEBDAV_URL", "endpoint"),
    ("WEBDAV_USERNAME", "username"),
    ("WEBDAV_PASSWORD", "password"),
    ("WEBDAV_BEARER_TOKEN", "bearer_token"),
    ("WEBDAV_WRITE_MODE", "write_mode"),
    ("WEBDAV_ALLOW_HTTP", "allow_http"),
    ("WEBDAV_CA_BUNDLE", "ca_bundle"),
];

/// The options the environment sets, read through `get`.
fn env_map(get: impl Fn(&str) -> Option<String>) -> DriverConfig {
    let mut map = DriverConfig::new();
    for (var, key) in ENV_VARS {
        if let Some(v) = get(var) {
            map = map.set(*key, v);
        }
    }
    map
}

/// Every option [`WebDavConfig::from_config`] reads (what the factories accept).
pub(crate) const OPTIONS: &[&str] = &[
    "endpoint",
    "username",
    "password",
    "bearer_token",
    "write_mode",
    "allow_http",
    "ca_bundle",
    "connect_timeout",
    "read_timeout",
    "timeout",
    "max_retries",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(c: &WebDavConfig) -> String {
        format!("{c:?}")
    }

    #[test]
    fn server_urls_of_every_form() {
        let c = WebDavConfig::from_url("webdav://127.0.0.1:8470/dav/").unwrap();
        assert_eq!(
            (c.endpoint.as_str(), c.flavor, c.http.allow_http),
            ("http://127.0.0.1:8470/dav", Flavor::WebDav, true)
        );
        let c = WebDavConfig::from_url("webdavs://files.example.com").unwrap();
        assert_eq!((c.endpoint.as_str(), c.http.allow_http), ("https://files.example.com", false));
        let c = WebDavConfig::from_url("https://example.com/pub").unwrap();
        assert_eq!((c.endpoint.as_str(), c.flavor), ("https://example.com/pub", Flavor::Http));
        let c = WebDavConfig::from_url("http://h:80").unwrap();
        assert_eq!((c.flavor, c.http.allow_http), (Flavor::Http, true));
        let c = WebDavConfig::from_url("webdavs://al%40ice:p%3Ass@h/d").unwrap();
        assert_eq!(c.credentials, Credentials::Basic { username: "al@ice".into(), password: Secret::new("p:ss") });
        assert_eq!(c.endpoint, "https://h/d");
        assert_eq!(c.parts().unwrap(), (true, "h".to_owned(), "/d".to_owned()));
        assert_eq!(WebDavConfig::new("https://h").parts().unwrap(), (true, "h".to_owned(), String::new()));
    }

    #[test]
    fn bad_urls_are_config_errors_that_hide_the_password() {
        for url in ["ftp://h/x", "h/x", "webdav://u:hunter2@/x", "webdav://u:hunter2@h/x?sig=1", "https://"] {
            let e = WebDavConfig::from_url(url).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{url}");
            assert!(!format!("{e} {e:?}").contains("hunter2"), "{e}");
        }
        // A bad endpoint given to the builder is refused when the driver is built.
        assert!(WebDavConfig::new("nope").parts().is_err());
    }

    #[test]
    fn secrets_never_print() {
        let c = WebDavConfig::from_url("webdavs://u:hunter2@h").unwrap();
        assert!(!shown(&c).contains("hunter2"), "{}", shown(&c));
        let c = WebDavConfig::new("https://h").bearer_token("tok3n");
        assert!(!shown(&c).contains("tok3n"));
    }

    #[test]
    fn string_maps_and_their_errors() {
        let map = DriverConfig::new()
            .set("endpoint", "https://h/dav")
            .set("username", "u")
            .set("password", "hunter2")
            .set("write_mode", "direct")
            .set("connect_timeout", "2.5")
            .set("timeout", "30")
            .set("max_retries", "1");
        let c = WebDavConfig::from_config(&map).unwrap();
        assert_eq!(c.credentials, Credentials::Basic { username: "u".into(), password: Secret::new("hunter2") });
        assert_eq!(c.write_mode, WriteMode::Direct);
        assert_eq!(c.http.connect_timeout, Duration::from_millis(2500));
        assert_eq!(c.http.total_timeout, Some(Duration::from_secs(30)));
        assert_eq!(c.http.retry.max_retries, 1);
        // Options override the URL's user information.
        let map = DriverConfig::new().set("endpoint", "webdav://a:b@h").set("password", "c");
        let c = WebDavConfig::from_config(&map).unwrap();
        assert_eq!(c.credentials, Credentials::Basic { username: "a".into(), password: Secret::new("c") });
        let map = DriverConfig::new().set("endpoint", "https://h").set("bearer_token", "t");
        assert_eq!(WebDavConfig::from_config(&map).unwrap().credentials, Credentials::Bearer(Secret::new("t")));
        for bad in [
            DriverConfig::new().set("endpoint", "https://h").set("username", "u").set("bearer_token", "hunter2"),
            DriverConfig::new().set("endpoint", "https://h").set("password", "hunter2"),
            DriverConfig::new().set("endpoint", "https://h").set("write_mode", "sideways"),
            DriverConfig::new().set("endpoint", "https://h").set("timeout", "-1"),
            DriverConfig::new().set("endpoint", "gopher://h"),
        ] {
            let e = WebDavConfig::build(&bad, Flavor::WebDav).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{bad:?}");
            assert!(!format!("{e} {e:?}").contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn environment_variables() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
        };
        let c = WebDavConfig::from_vars(vars(&[
            ("WEBDAV_URL", "https://h/dav"),
            ("WEBDAV_USERNAME", "u"),
            ("WEBDAV_PASSWORD", "p"),
            ("WEBDAV_WRITE_MODE", "staged"),
        ]))
        .unwrap();
        assert_eq!((c.flavor, c.endpoint.as_str()), (Flavor::WebDav, "https://h/dav"));
        assert!(matches!(c.credentials, Credentials::Basic { .. }));
        assert_eq!(WebDavConfig::from_vars(vars(&[])).unwrap_err().kind(), ErrorKind::Config);
    }
}
