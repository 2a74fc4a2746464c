//! The configuration file: a default backend plus one section per backend or named
//! remote, like Lithops' config. Environment variables override file values.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use storage_core::{DriverConfig, Error, ErrorKind, Result};

/// A parsed configuration: `default = "NAME"` and `[NAME]` sections of string options.
/// A section's `driver` key names the driver; without it the section's name is the driver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// The backend or remote used when none is named.
    pub default: Option<String>,
    /// Sections by name (driver names or named remotes).
    pub sections: BTreeMap<String, BTreeMap<String, String>>,
    /// Where it was read from, for error messages.
    pub source: Option<PathBuf>,
}

fn config_error(source: Option<&Path>, what: String) -> Error {
    let file = source.map(|p| p.display().to_string()).unwrap_or_else(|| "the configuration".into());
    Error::new(ErrorKind::Config, format!("{file}: {what}"))
}

impl Config {
    /// Parses TOML text; `source` names the file in errors.
    pub fn parse(text: &str, source: Option<&Path>) -> Result<Self> {
        let value: toml::Table =
            toml::from_str(text).map_err(|e| config_error(source, format!("invalid TOML: {e}")))?;
        let mut config = Config { source: source.map(Path::to_path_buf), ..Default::default() };
        for (key, v) in value {
            match (key.as_str(), v) {
                ("default", toml::Value::String(s)) => config.default = Some(s),
                ("default", other) => {
                    return Err(config_error(
                        source,
                        format!("`default` must be a string naming a section, not {}", other.type_str()),
                    ));
                }
                (name, toml::Value::Table(t)) => {
                    let mut section = BTreeMap::new();
                    for (k, v) in t {
                        let text = match v {
                            toml::Value::String(s) => s,
                            toml::Value::Integer(i) => i.to_string(),
                            toml::Value::Boolean(b) => b.to_string(),
                            toml::Value::Float(f) => f.to_string(),
                            other => {
                                return Err(config_error(
                                    source,
                                    format!(
                                        "`{name}.{k}` must be a string, number or boolean, not {}",
                                        other.type_str()
                                    ),
                                ));
                            }
                        };
                        section.insert(k, text);
                    }
                    config.sections.insert(name.to_owned(), section);
                }
                (name, other) => {
                    return Err(config_error(
                        source,
                        format!("`{name}` must be a [{name}] section (a table), not a {}", other.type_str()),
                    ));
                }
            }
        }
        if let Some(d) = &config.default
            && !config.sections.contains_key(d)
            && !crate::KNOWN_DRIVERS.contains(&d.as_str())
        {
            return Err(config_error(source, format!("`default = {d:?}` names no section and no driver")));
        }
        Ok(config)
    }

    /// Reads the file at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading the configuration {}", path.display()), e))?;
        Self::parse(&text, Some(path))
    }

    /// The first configuration found: `explicit` (`--config`), `STORAGE_CONFIG`,
    /// `./storage.toml`, `~/.config/storage/config.toml`; empty when there is none. An
    /// explicitly named file that does not exist is an error.
    pub fn discover(explicit: Option<&Path>) -> Result<Self> {
        if let Some(p) = explicit {
            return Self::load(p);
        }
        if let Some(p) = std::env::var_os("STORAGE_CONFIG") {
            return Self::load(Path::new(&p));
        }
        let mut candidates = vec![PathBuf::from("storage.toml")];
        if let Some(home) = std::env::var_os("HOME") {
            candidates.push(PathBuf::from(home).join(".config").join("storage").join("config.toml"));
        }
        for c in candidates {
            if c.is_file() {
                return Self::load(&c);
            }
        }
        Ok(Config::default())
    }

    /// The driver a section (or bare driver name) uses.
    pub fn driver_of(&self, name: &str) -> String {
        self.sections.get(name).and_then(|s| s.get("driver")).cloned().unwrap_or_else(|| name.to_owned())
    }

    /// The options for section `name`, with `STORAGE_<NAME>_<KEY>` environment variables
    /// overriding file values (e.g. `STORAGE_LOCAL_ROOT`, `STORAGE_PROD_ENDPOINT`).
    pub fn options(&self, name: &str) -> DriverConfig {
        self.options_with(name, |k| std::env::var(k).ok())
    }

    /// [`Config::options`] reading the environment through `env`.
    pub fn options_with(&self, name: &str, env: impl Fn(&str) -> Option<String>) -> DriverConfig {
        let mut map: BTreeMap<String, String> = self.sections.get(name).cloned().unwrap_or_default();
        map.remove("driver");
        let prefix = format!("STORAGE_{}_", env_name(name));
        let mut keys: Vec<String> = map.keys().cloned().collect();
        keys.extend(OVERRIDABLE.iter().map(|k| (*k).to_owned()));
        for k in keys {
            if let Some(v) = env(&format!("{prefix}{}", env_name(&k))) {
                map.insert(k, v);
            }
        }
        map.into_iter().collect()
    }
}

/// Option names that may come from the environment even when the file lacks them.
const OVERRIDABLE: &[&str] = &[
    "root",
    "endpoint",
    "region",
    "url",
    "nodes",
    "namespace",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "addressing",
    "allow_http",
    "password",
    "username",
];

fn env_name(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_defaults_and_env_overrides() {
        let c = Config::parse(
            "default = \"prod\"\n[prod]\ndriver = \"s3\"\nendpoint = \"http://x\"\nport = 9\n[local]\nroot = \"/data\"\n",
            None,
        )
        .unwrap();
        assert_eq!(c.default.as_deref(), Some("prod"));
        assert_eq!(c.driver_of("prod"), "s3");
        assert_eq!(c.driver_of("local"), "local");
        let env = |k: &str| (k == "STORAGE_PROD_ENDPOINT").then(|| "http://y".to_owned());
        let o = c.options_with("prod", env);
        assert_eq!(o.get("endpoint"), Some("http://y"));
        assert_eq!(o.get("port"), Some("9"));
        assert_eq!(o.get("driver"), None);
        let env = |k: &str| (k == "STORAGE_LOCAL_ROOT").then(|| "/elsewhere".to_owned());
        assert_eq!(c.options_with("local", env).get("root"), Some("/elsewhere"));
    }

    #[test]
    fn errors_name_the_file_and_key() {
        let p = Path::new("/etc/storage.toml");
        let e = Config::parse("[prod]\nendpoint = [1, 2]\n", Some(p)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.message().contains("/etc/storage.toml") && e.message().contains("prod.endpoint"), "{e}");
        let e = Config::parse("default = \"nope\"\n", Some(p)).unwrap_err();
        assert!(e.message().contains("nope"), "{e}");
        let e = Config::parse("endpoint = \"x\"\n", Some(p)).unwrap_err();
        assert!(e.message().contains("section"), "{e}");
        assert!(Config::parse("not toml = = =", Some(p)).unwrap_err().message().contains("invalid TOML"));
    }
}
