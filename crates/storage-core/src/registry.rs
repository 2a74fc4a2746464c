//! Driver factories and the registry that maps URL schemes and names to them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};

/// Options for building a driver: a string map, as read from a config file or a URL.
/// `Debug` redacts values whose key looks secret.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DriverConfig {
    options: BTreeMap<String, String>,
}

/// Whether a config key names a secret (its value is never printed).
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["secret", "password", "token", "key", "credential", "sas", "signature"].iter().any(|s| k.contains(s))
        && !k.ends_with("_id")
        && k != "key_prefix"
}

impl fmt::Debug for DriverConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in &self.options {
            if is_secret_key(k) {
                m.entry(k, &"<redacted>");
            } else {
                m.entry(k, v);
            }
        }
        m.finish()
    }
}

impl DriverConfig {
    /// An empty config.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets an option.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.insert(key.into(), value.into());
        self
    }
    /// An option's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }
    /// An option that must be present.
    pub fn require(&self, key: &str) -> Result<&str> {
        self.get(key).ok_or_else(|| Error::new(ErrorKind::Config, format!("the option {key:?} is required")))
    }
    /// An option parsed as `T`, with a clear error when it does not parse.
    pub fn parse<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                let shown = if is_secret_key(key) { "<redacted>" } else { v };
                Error::new(
                    ErrorKind::Config,
                    format!("the option {key:?} has value {shown:?}, expected a {}", std::any::type_name::<T>()),
                )
            }),
        }
    }
    /// A boolean option (`true/false/1/0/yes/no`).
    pub fn flag(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(None),
            Some("true" | "1" | "yes" | "on") => Ok(Some(true)),
            Some("false" | "0" | "no" | "off") => Ok(Some(false)),
            Some(v) => Err(Error::new(
                ErrorKind::Config,
                format!("the option {key:?} has value {v:?}, expected true or false"),
            )),
        }
    }
    /// All options.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.options.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for DriverConfig {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        DriverConfig { options: iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }
}

/// Builds drivers of one kind. Third parties implement this to plug into [`Registry`].
pub trait DriverFactory: Send + Sync {
    /// The driver's name (`local`, `s3`...).
    fn name(&self) -> &str;
    /// URL schemes it answers to (`s3`, `gs`...).
    fn schemes(&self) -> &[&str];
    /// Builds a driver from options.
    fn build(&self, config: &DriverConfig) -> Result<Arc<dyn Driver>>;
}

/// A parsed storage URL: `scheme://container/key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageUrl {
    /// The scheme, lowercase.
    pub scheme: String,
    /// The container, if any.
    pub container: Option<String>,
    /// The key or prefix, if any (may end with `/`).
    pub key: Option<String>,
}

impl StorageUrl {
    /// Parses `scheme://container/key`. The key is taken verbatim (no percent-decoding),
    /// so keys with `%`, `?` or `#` survive.
    pub fn parse(url: &str) -> Result<Self> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            Error::new(ErrorKind::Config, format!("{url:?} is not a storage URL; expected scheme://container/key"))
        })?;
        if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
            return Err(Error::new(ErrorKind::Config, format!("{scheme:?} is not a valid URL scheme")));
        }
        let (container, key) = match rest.split_once('/') {
            Some((c, k)) => (c, k),
            None => (rest, ""),
        };
        Ok(StorageUrl {
            scheme: scheme.to_ascii_lowercase(),
            container: (!container.is_empty()).then(|| container.to_owned()),
            key: (!key.is_empty()).then(|| key.to_owned()),
        })
    }
}

/// A driver opened from a URL, with the container and key the URL named.
#[derive(Debug, Clone)]
pub struct Location {
    /// The driver.
    pub driver: Arc<dyn Driver>,
    /// The URL's container.
    pub container: Option<String>,
    /// The URL's key or prefix.
    pub key: Option<String>,
}

/// Maps driver names and URL schemes to factories.
#[derive(Default, Clone)]
pub struct Registry {
    factories: Vec<Arc<dyn DriverFactory>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.factories.iter().map(|x| x.name().to_owned())).finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a factory; a later one wins over an earlier one for the same name or scheme.
    pub fn register(&mut self, factory: Arc<dyn DriverFactory>) -> &mut Self {
        self.factories.insert(0, factory);
        self
    }

    /// The factory for a driver name or URL scheme.
    pub fn factory(&self, name_or_scheme: &str) -> Option<&Arc<dyn DriverFactory>> {
        let n = name_or_scheme.to_ascii_lowercase();
        self.factories
            .iter()
            .find(|f| f.name() == n)
            .or_else(|| self.factories.iter().find(|f| f.schemes().contains(&n.as_str())))
    }

    /// Every scheme and name known, sorted.
    pub fn known_schemes(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .factories
            .iter()
            .flat_map(|f| std::iter::once(f.name().to_owned()).chain(f.schemes().iter().map(|s| (*s).to_owned())))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Builds the driver named `name_or_scheme` from `config`.
    pub fn build(&self, name_or_scheme: &str, config: &DriverConfig) -> Result<Arc<dyn Driver>> {
        let factory = self.factory(name_or_scheme).ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                format!("no driver for {name_or_scheme:?}; known: {}", self.known_schemes().join(", ")),
            )
        })?;
        factory.build(config)
    }

    /// Opens `scheme://container/key` with `config` for the driver's options.
    pub fn open(&self, url: &str, config: &DriverConfig) -> Result<Location> {
        let parsed = StorageUrl::parse(url)?;
        let driver = self.build(&parsed.scheme, config)?;
        Ok(Location { driver, container: parsed.container, key: parsed.key })
    }
}

/// The factory of [`crate::MemoryDriver`]: each build returns a new, empty store.
#[derive(Debug, Default)]
pub struct MemoryFactory;

impl DriverFactory for MemoryFactory {
    fn name(&self) -> &str {
        "memory"
    }
    fn schemes(&self) -> &[&str] {
        &["memory", "mem"]
    }
    fn build(&self, _config: &DriverConfig) -> Result<Arc<dyn Driver>> {
        Ok(Arc::new(crate::MemoryDriver::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let u = StorageUrl::parse("s3://bkt/a/b%20c?x#y").unwrap();
        assert_eq!(u.scheme, "s3");
        assert_eq!(u.container.as_deref(), Some("bkt"));
        assert_eq!(u.key.as_deref(), Some("a/b%20c?x#y"));
        let u = StorageUrl::parse("memory://").unwrap();
        assert_eq!(u.container, None);
        assert!(StorageUrl::parse("/tmp/x").is_err());
    }

    #[test]
    fn registry_finds_by_scheme_and_lists_known() {
        let mut r = Registry::new();
        r.register(Arc::new(MemoryFactory));
        let loc = r.open("mem://c/k", &DriverConfig::new()).unwrap();
        assert_eq!(loc.driver.info().name, "memory");
        let e = r.open("nope://c", &DriverConfig::new()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.message().contains("memory"), "{}", e.message());
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = DriverConfig::new().set("secret_access_key", "hunter2").set("access_key_id", "AKID");
        let s = format!("{c:?}");
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("AKID"), "{s}");
        let c = DriverConfig::new().set("password", "pw").set("n", "x");
        assert!(c.parse::<u32>("password").is_ok() || !format!("{:?}", c.parse::<u32>("n")).contains("pw"));
    }
}
