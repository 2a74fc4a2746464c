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
    // A connection string (Azure's) holds the account key; a proxy URL may hold a password.
    ["secret", "password", "token", "key", "credential", "sas", "signature", "connection_string", "proxy"]
        .iter()
        .any(|s| k.contains(s))
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
    /// Every option name [`DriverFactory::build`] reads. [`Registry::build`] refuses a
    /// config holding any other key (naming the closest known one), so a typo such as
    /// `endpiont` fails instead of being ignored. `None` (the default, for factories
    /// that have not declared their options) skips the check.
    fn known_options(&self) -> Option<&[&str]> {
        None
    }
}

/// The edit distance between `a` and `b` (optimal string alignment: insertions,
/// deletions, substitutions and transpositions of adjacent characters each cost 1),
/// ignoring ASCII case.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    // Three rows: two back (for transpositions), one back, current.
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `word` by [`edit_distance`], if one is close enough to be a
/// plausible typo (at most a third of the word's length, and at least 1 or 2 edits for
/// short words); ties go to the earliest candidate.
pub fn closest_match<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Refuses `config` if it holds a key `factory` does not declare (see
/// [`DriverFactory::known_options`]). The error names the key, the closest known one and
/// all of them; it never shows a value.
pub fn check_options(factory: &dyn DriverFactory, config: &DriverConfig) -> Result<()> {
    let Some(known) = factory.known_options() else { return Ok(()) };
    let Some(unknown) = config.iter().map(|(k, _)| k).find(|k| !known.contains(k)) else { return Ok(()) };
    let mut msg = format!("unknown option {unknown:?} for driver {}", factory.name());
    if let Some(close) = closest_match(unknown, known.iter().copied()) {
        msg.push_str(&format!("; did you mean {close:?}?"));
    }
    let mut sorted = known.to_vec();
    sorted.sort_unstable();
    if sorted.is_empty() {
        msg.push_str(" (it takes no options)");
    } else {
        msg.push_str(&format!(" known: {}", sorted.join(", ")));
    }
    Err(Error::new(ErrorKind::Config, msg)
        .with_driver(factory.name())
        .with_hint("remove the option or correct its spelling"))
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
    ///
    /// A server address is never taken for a container: a container part holding `@`
    /// (`user:password@host`) or ending in `:` and a port (`localhost:6379`) is refused
    /// with a `Config` error telling to configure the server and name the container
    /// (`redis://container/key`); the error never shows what came before the `@`.
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
        if looks_like_server(container) {
            return Err(server_in_url(scheme, container));
        }
        Ok(StorageUrl {
            scheme: scheme.to_ascii_lowercase(),
            container: (!container.is_empty()).then(|| container.to_owned()),
            key: (!key.is_empty()).then(|| key.to_owned()),
        })
    }
}

/// Whether a URL's container part is a server address: `host:port`, `[v6]:port` or
/// anything with userinfo (`@`).
fn looks_like_server(container: &str) -> bool {
    if container.contains('@') {
        return true;
    }
    match container.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

/// The error for a server address where a container belongs. Shows only the host part.
fn server_in_url(scheme: &str, container: &str) -> Error {
    let host = container.rsplit_once('@').map_or(container, |(_, h)| h);
    let scheme = scheme.to_ascii_lowercase();
    let server = match scheme.as_str() {
        "redis" | "rediss" => format!("url = \"{scheme}://{host}\" in the [redis] section, or REDIS_URL"),
        "s3" | "s3a" => format!("endpoint = \"http://{host}\" in the section, or AWS_ENDPOINT_URL"),
        _ => "the server's option in the configuration section".to_owned(),
    };
    Error::new(
        ErrorKind::Config,
        format!(
            "{scheme}://{host}/...: {host:?} is a server address, not a container (a storage URL never names a \
             server); configure the server ({server}) and write {scheme}://CONTAINER/KEY"
        ),
    )
    .with_hint("a server belongs in the configuration, a container in the URL")
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

    /// Builds the driver named `name_or_scheme` from `config`. A key the factory does not
    /// declare is a `Config` error (see [`DriverFactory::known_options`]).
    pub fn build(&self, name_or_scheme: &str, config: &DriverConfig) -> Result<Arc<dyn Driver>> {
        let factory = self.factory(name_or_scheme).ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                format!("no driver for {name_or_scheme:?}; known: {}", self.known_schemes().join(", ")),
            )
        })?;
        check_options(factory.as_ref(), config)?;
        factory.build(config)
    }

    /// Passes every driver the registered factories build through `wrap` (a layer such
    /// as `TracingLayer` for every backend), keeping their names, schemes and options.
    /// Factories registered afterwards are not wrapped.
    pub fn wrap_drivers(&mut self, wrap: DriverWrapper) -> &mut Self {
        for factory in &mut self.factories {
            let inner = factory.clone();
            *factory = Arc::new(Wrapped { inner, wrap: wrap.clone() });
        }
        self
    }

    /// Opens `scheme://container/key` with `config` for the driver's options.
    pub fn open(&self, url: &str, config: &DriverConfig) -> Result<Location> {
        let parsed = StorageUrl::parse(url)?;
        let driver = self.build(&parsed.scheme, config)?;
        Ok(Location { driver, container: parsed.container, key: parsed.key })
    }
}

/// What [`Registry::wrap_drivers`] passes every built driver through.
pub type DriverWrapper = Arc<dyn Fn(Arc<dyn Driver>) -> Arc<dyn Driver> + Send + Sync>;

/// A factory whose drivers go through a wrapper ([`Registry::wrap_drivers`]).
struct Wrapped {
    inner: Arc<dyn DriverFactory>,
    wrap: DriverWrapper,
}

impl DriverFactory for Wrapped {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn schemes(&self) -> &[&str] {
        self.inner.schemes()
    }
    fn build(&self, config: &DriverConfig) -> Result<Arc<dyn Driver>> {
        Ok((self.wrap)(self.inner.build(config)?))
    }
    fn known_options(&self) -> Option<&[&str]> {
        self.inner.known_options()
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
    fn known_options(&self) -> Option<&[&str]> {
        Some(&[])
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
    fn wrapped_factories_keep_names_schemes_and_options() {
        let mut r = Registry::new();
        r.register(Arc::new(Strict)).register(Arc::new(MemoryFactory));
        let wrapped = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = wrapped.clone();
        r.wrap_drivers(Arc::new(move |d| {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            d
        }));
        assert_eq!(r.known_schemes(), ["mem", "memory", "strict"]);
        assert_eq!(r.factory("mem").map(|f| f.name()), Some("memory"));
        let loc = r.open("mem://c/k", &DriverConfig::new()).unwrap();
        assert_eq!(loc.driver.info().name, "memory");
        let e = r.build("strict", &DriverConfig::new().set("endpiont", "x")).unwrap_err();
        assert!(e.message().contains("did you mean \"endpoint\""), "{e}");
        assert_eq!(wrapped.load(std::sync::atomic::Ordering::SeqCst), 1, "the refused build made no driver");
    }

    /// A factory that declares its options, like the built-in ones.
    struct Strict;

    impl DriverFactory for Strict {
        fn name(&self) -> &str {
            "strict"
        }
        fn schemes(&self) -> &[&str] {
            &["strict"]
        }
        fn build(&self, _config: &DriverConfig) -> Result<Arc<dyn Driver>> {
            Ok(Arc::new(crate::MemoryDriver::new()))
        }
        fn known_options(&self) -> Option<&[&str]> {
            Some(&["endpoint", "region", "secret_access_key"])
        }
    }

    /// One that has not declared them.
    struct Lax;

    impl DriverFactory for Lax {
        fn name(&self) -> &str {
            "lax"
        }
        fn schemes(&self) -> &[&str] {
            &[]
        }
        fn build(&self, _config: &DriverConfig) -> Result<Arc<dyn Driver>> {
            Ok(Arc::new(crate::MemoryDriver::new()))
        }
    }

    #[test]
    fn edit_distance_counts_typos() {
        assert_eq!(edit_distance("endpoint", "endpoint"), 0);
        assert_eq!(edit_distance("endpiont", "endpoint"), 1, "a transposition is one edit");
        assert_eq!(edit_distance("Region", "region"), 0);
        assert_eq!(edit_distance("regon", "region"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(closest_match("endpiont", ["region", "endpoint"]), Some("endpoint"));
        assert_eq!(closest_match("rot", ["root", "fsync"]), Some("root"));
        assert_eq!(closest_match("colour_scheme", ["root", "fsync"]), None);
    }

    #[test]
    fn unknown_options_are_refused_with_the_closest_known_one() {
        let mut r = Registry::new();
        r.register(Arc::new(Strict)).register(Arc::new(Lax)).register(Arc::new(MemoryFactory));
        let typo = DriverConfig::new().set("endpiont", "http://x").set("region", "r");
        let e = r.build("strict", &typo).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert_eq!(
            e.message(),
            "unknown option \"endpiont\" for driver strict; did you mean \"endpoint\"? known: endpoint, region, \
             secret_access_key"
        );
        assert!(!e.to_string().contains("http://x"), "{e}");
        // No suggestion when nothing is close; never the value, even of a secret.
        let e = r.build("strict", &DriverConfig::new().set("colour_scheme", "hunter2")).unwrap_err();
        assert!(e.message().contains("\"colour_scheme\"") && !e.message().contains("did you mean"), "{e}");
        assert!(!format!("{e} {e:?}").contains("hunter2"));
        // Declared options pass; undeclared factories are not checked.
        assert!(r.build("strict", &DriverConfig::new().set("endpoint", "x").set("region", "r")).is_ok());
        assert!(r.build("lax", &DriverConfig::new().set("anything", "x")).is_ok());
        // The memory driver takes none.
        let e = r.open("memory://c/k", &DriverConfig::new().set("root", "/tmp")).unwrap_err();
        assert!(e.message().contains("\"root\"") && e.message().contains("no options"), "{e}");
    }

    #[test]
    fn a_server_address_is_never_a_container() {
        for url in [
            "redis://localhost:6379/k",
            "redis://localhost:6379",
            "rediss://127.0.0.1:6380/c/k",
            "s3://[::1]:9000/bucket/k",
            "redis://user:hunter2@cache/k",
            "redis://:hunter2@cache:6379/k",
        ] {
            let e = StorageUrl::parse(url).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{url}");
            let shown = format!("{e} {e:?}");
            assert!(shown.contains("server address") && shown.contains("://CONTAINER/KEY"), "{shown}");
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        let e = StorageUrl::parse("redis://localhost:6379/k").unwrap_err();
        assert!(e.message().contains("\"localhost:6379\"") && e.message().contains("REDIS_URL"), "{e}");
        // Containers with a colon that is not a port, and keys with anything, still parse.
        for url in ["local://a:b/k", "redis://c/host:6379", "memory://c/a@b", "local://c:/k"] {
            assert!(StorageUrl::parse(url).is_ok(), "{url}");
        }
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
