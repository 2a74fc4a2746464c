//! The configuration file: a default backend plus one section per backend or named
//! remote, like Lithops' config. Environment variables override file values.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use storage_core::{DriverConfig, Error, ErrorKind, Result};

/// A parsed configuration: `default = "NAME"` and `[NAME]` sections of string options.
/// A section's `driver` key names the driver; without it the section's name is the driver.
/// `Debug` shows every option but the values of secret ones (`kit::is_secret_key`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// The backend or remote used when none is named.
    pub default: Option<String>,
    /// Sections by name (driver names or named remotes).
    pub sections: BTreeMap<String, BTreeMap<String, String>>,
    /// Where it was read from, for error messages.
    pub source: Option<PathBuf>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        /// One section, its secret values replaced.
        struct Section<'a>(&'a BTreeMap<String, String>);
        impl std::fmt::Debug for Section<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut m = f.debug_map();
                for (k, v) in self.0 {
                    let shown: &dyn std::fmt::Debug =
                        if storage_core::registry::is_secret_key(k) { &"<redacted>" } else { v };
                    m.entry(k, shown);
                }
                m.finish()
            }
        }
        let sections: BTreeMap<&str, Section<'_>> =
            self.sections.iter().map(|(k, v)| (k.as_str(), Section(v))).collect();
        f.debug_struct("Config")
            .field("default", &self.default)
            .field("sections", &sections)
            .field("source", &self.source)
            .finish()
    }
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
    ///
    /// `known` lists the options the section's driver accepts (see
    /// `DriverFactory::known_options`): any of them may come from the environment alone.
    /// With `None`, the file's keys and a fixed list of common ones may (`root`,
    /// `endpoint`, `region`, `url`, credentials...).
    ///
    /// For the `local` driver, `root` is resolved: a leading `~` or `~/` is `$HOME`; a
    /// relative root from the file is relative to the file's directory (not the working
    /// directory); a relative root from `STORAGE_<NAME>_ROOT` stays relative to the
    /// working directory. A `Config` error for `~user` or a `~` without `$HOME`.
    pub fn options(&self, name: &str, known: Option<&[&str]>) -> Result<DriverConfig> {
        self.options_with(name, known, |k| std::env::var(k).ok())
    }

    /// [`Config::options`] reading the environment (`STORAGE_*` and `HOME`) through `env`.
    pub fn options_with(
        &self,
        name: &str,
        known: Option<&[&str]>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<DriverConfig> {
        let mut map: BTreeMap<String, String> = self.sections.get(name).cloned().unwrap_or_default();
        map.remove("driver");
        let prefix = format!("STORAGE_{}_", env_name(name));
        let mut keys: Vec<String> = map.keys().cloned().collect();
        keys.extend(known.unwrap_or(OVERRIDABLE).iter().map(|k| (*k).to_owned()));
        keys.sort();
        keys.dedup();
        let mut from_env = Vec::new();
        for k in keys {
            if let Some(v) = env(&format!("{prefix}{}", env_name(&k))) {
                map.insert(k.clone(), v);
                from_env.push(k);
            }
        }
        if self.driver_of(name) == "local"
            && let Some(root) = map.get("root")
        {
            let in_file = !from_env.iter().any(|k| k == "root");
            let base = if in_file { self.source.as_deref().and_then(Path::parent) } else { None };
            let resolved = resolve_root(root, base, env("HOME")).map_err(|what| {
                let from = if in_file { format!("`{name}.root`") } else { format!("{prefix}ROOT") };
                config_error(self.source.as_deref().filter(|_| in_file), format!("{from} = {root:?}: {what}"))
            })?;
            map.insert("root".to_owned(), resolved.to_string_lossy().into_owned());
        }
        Ok(map.into_iter().collect())
    }
}

/// A local root as written: `~` and `~/...` expand to `home`; a relative path is joined
/// to `base` (the configuration file's directory) when given.
fn resolve_root(root: &str, base: Option<&Path>, home: Option<String>) -> std::result::Result<PathBuf, String> {
    let expanded = match root.strip_prefix('~') {
        None => PathBuf::from(root),
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            let home =
                home.filter(|h| !h.is_empty()).ok_or("`~` needs $HOME, which is not set; write the full path")?;
            PathBuf::from(home).join(rest.trim_start_matches('/'))
        }
        Some(_) => return Err("only `~` and `~/` are expanded (to $HOME), not `~user`; write the full path".into()),
    };
    match base {
        Some(base) if expanded.is_relative() => {
            let base = if base.as_os_str().is_empty() { Path::new(".") } else { base };
            let base = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
            Ok(base.join(expanded))
        }
        _ => Ok(expanded),
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
    fn debug_output_never_shows_secrets() {
        let c = Config::parse(
            "[prod]\ndriver = \"s3\"\naccess_key_id = \"AKIDVISIBLE\"\nsecret_access_key = \"hunter2-secret\"\n\
             [az]\nconnection_string = \"AccountKey=hunter3\"\n",
            None,
        )
        .unwrap();
        let shown = format!("{c:?} {c:#?}");
        assert!(!shown.contains("hunter2") && !shown.contains("hunter3"), "{shown}");
        assert!(shown.contains("AKIDVISIBLE") && shown.contains("secret_access_key"), "{shown}");
    }

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
        let o = c.options_with("prod", None, env).unwrap();
        assert_eq!(o.get("endpoint"), Some("http://y"));
        assert_eq!(o.get("port"), Some("9"));
        assert_eq!(o.get("driver"), None);
        let env = |k: &str| (k == "STORAGE_LOCAL_ROOT").then(|| "/elsewhere".to_owned());
        assert_eq!(c.options_with("local", None, env).unwrap().get("root"), Some("/elsewhere"));
    }

    #[test]
    fn env_overrides_cover_the_drivers_known_options_only() {
        let c = Config::parse("[local]\nroot = \"/data\"\n", None).unwrap();
        let env = |k: &str| match k {
            "STORAGE_LOCAL_FSYNC" => Some("false".to_owned()),
            "STORAGE_LOCAL_ENDPOINT" => Some("http://x".to_owned()),
            _ => None,
        };
        let known: &[&str] = &["root", "fsync"];
        let o = c.options_with("local", Some(known), env).unwrap();
        assert_eq!(o.get("fsync"), Some("false"), "any known option may come from the environment");
        assert_eq!(o.get("endpoint"), None, "an option the driver does not know is not injected");
        assert_eq!(o.get("root"), Some("/data"));
    }

    #[test]
    fn local_roots_expand_home_and_resolve_beside_the_file() {
        let file = Path::new("/etc/storage/storage.toml");
        let home = |h: &'static str| move |k: &str| (k == "HOME").then(|| h.to_owned());
        let root_of = |text: &str, source: Option<&Path>, env: &dyn Fn(&str) -> Option<String>| {
            let c = Config::parse(text, source).unwrap();
            c.options_with("local", None, env).map(|o| o.get("root").map(str::to_owned))
        };
        let root = root_of("[local]\nroot = \"~/x\"\n", Some(file), &home("/home/u")).unwrap();
        assert_eq!(root.as_deref(), Some("/home/u/x"));
        let root = root_of("[local]\nroot = \"~\"\n", Some(file), &home("/home/u")).unwrap();
        assert_eq!(root.as_deref(), Some("/home/u/"));
        // A named remote using the local driver too.
        let text = "[archive]\ndriver = \"local\"\nroot = \"~/a\"\n";
        let c = Config::parse(text, Some(file)).unwrap();
        assert_eq!(c.options_with("archive", None, home("/h")).unwrap().get("root"), Some("/h/a"));
        // Relative to the file's directory, not the working directory.
        let root = root_of("[local]\nroot = \"data/store\"\n", Some(file), &home("/h")).unwrap();
        assert_eq!(root.as_deref(), Some("/etc/storage/data/store"));
        let root = root_of("[local]\nroot = \"/abs\"\n", Some(file), &home("/h")).unwrap();
        assert_eq!(root.as_deref(), Some("/abs"));
        // From the environment: `~` expands, a relative root stays relative to the cwd.
        let env = |k: &str| match k {
            "HOME" => Some("/h".to_owned()),
            "STORAGE_LOCAL_ROOT" => Some("rel/dir".to_owned()),
            _ => None,
        };
        assert_eq!(root_of("[local]\nroot = \"x\"\n", Some(file), &env).unwrap().as_deref(), Some("rel/dir"));
        let env = |k: &str| (k == "STORAGE_LOCAL_ROOT").then(|| "~/e".to_owned()).or_else(|| home("/h")(k));
        assert_eq!(root_of("", Some(file), &env).unwrap().as_deref(), Some("/h/e"));
        // Other drivers' `root`-like options are left alone.
        let c = Config::parse("[s]\ndriver = \"s3\"\nroot = \"~/x\"\n", Some(file)).unwrap();
        assert_eq!(c.options_with("s", None, home("/h")).unwrap().get("root"), Some("~/x"));
        // `~user` and `~` without HOME are errors naming the file and key.
        let e = root_of("[local]\nroot = \"~bob/x\"\n", Some(file), &home("/h")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.message().contains("/etc/storage/storage.toml") && e.message().contains("local.root"), "{e}");
        let e = root_of("[local]\nroot = \"~/x\"\n", Some(file), &|_: &str| None).unwrap_err();
        assert!(e.message().contains("HOME"), "{e}");
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
