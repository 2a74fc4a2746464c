//! Credentials from the shared AWS files `~/.aws/credentials` and `~/.aws/config`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use storage_core::{Error, ErrorKind, Result};

use super::sso::{SsoProvider, SsoSettings};
use super::support::{env_var, expand_home, home_dir, non_empty, unauthenticated};
use super::{
    AssumeRoleProvider, Credentials, CredentialsProvider, EcsProvider, EnvProvider, ImdsProvider, StaticProvider,
    WebIdentityProvider,
};

/// Keys of one profile (lower-case names) to their values.
type Properties = HashMap<String, String>;
/// Sections of one file, by name as written (trimmed).
type Sections = HashMap<String, Properties>;

/// Credentials from a profile of the shared AWS files.
///
/// The profile is `[NAME]` in the credentials file and `[profile NAME]` (or `[default]`)
/// in the config file; where both set a key the credentials file wins. A profile gives:
///
/// - static keys (`aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`);
/// - a web identity (`role_arn` + `web_identity_token_file`, optional
///   `role_session_name`), exchanged with STS by a [`WebIdentityProvider`];
/// - a role (`role_arn` + `source_profile` or `credential_source` = `Environment`,
///   `Ec2InstanceMetadata` or `EcsContainer`), assumed with STS `AssumeRole` by an
///   [`AssumeRoleProvider`] signed with the source's credentials; `role_session_name`,
///   `external_id`, `duration_seconds` and the profile's `region` (for the regional STS
///   endpoint) are honoured. Source profiles may themselves assume roles; loops are a
///   `Config` error. `mfa_serial` is refused (`Config`): there is no one to type a code;
/// - a `credential_process` command;
/// - IAM Identity Center (SSO): `sso_session` (with its `[sso-session NAME]` section) or
///   the legacy `sso_start_url` + `sso_region`, with `sso_account_id` and `sso_role_name`;
///   the access token cached by `aws sso login` is exchanged at the SSO portal. This
///   provider never logs in: no token, or an expired one, is `Unauthenticated` with the
///   hint to run `aws sso login --profile NAME`.
///
/// Files are read on every call, and every call asks STS or the portal again: wrap the
/// provider in a [`super::CachingProvider`] (the default chain does).
#[derive(Clone, Debug)]
pub struct ProfileProvider {
    profile: String,
    credentials_path: PathBuf,
    config_path: PathBuf,
    home: Option<PathBuf>,
    env_region: Option<String>,
    sts_endpoint: Option<String>,
    sso_endpoint: Option<String>,
    sso_cache_dir: Option<PathBuf>,
    imds: Option<ImdsProvider>,
    ecs: Option<EcsProvider>,
}

impl ProfileProvider {
    /// The profile `profile` of these two files (a missing file counts as empty). Only
    /// `HOME` is read from the environment, to expand `~/` in `web_identity_token_file`.
    pub fn new(
        profile: impl Into<String>,
        credentials_path: impl Into<PathBuf>,
        config_path: impl Into<PathBuf>,
    ) -> Self {
        ProfileProvider {
            profile: profile.into(),
            credentials_path: credentials_path.into(),
            config_path: config_path.into(),
            home: home_dir(&env_var),
            env_region: None,
            sts_endpoint: None,
            sso_endpoint: None,
            sso_cache_dir: None,
            imds: None,
            ecs: None,
        }
    }

    /// The provider the process environment describes: profile `AWS_PROFILE` (default
    /// `default`), files `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE` or
    /// `$HOME/.aws/credentials` / `$HOME/.aws/config`, STS region `AWS_REGION` /
    /// `AWS_DEFAULT_REGION`, STS endpoint `AWS_ENDPOINT_URL_STS`.
    pub fn from_env() -> Self {
        Self::from_vars(env_var)
    }

    /// Like [`ProfileProvider::from_env`], with `get` standing for the environment.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| non_empty(get(name));
        let home = home_dir(&get);
        let (credentials_path, config_path) = shared_paths(&get, home.as_deref());
        ProfileProvider {
            profile: get("AWS_PROFILE").unwrap_or_else(|| "default".to_owned()),
            credentials_path,
            config_path,
            env_region: get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")),
            sts_endpoint: get("AWS_ENDPOINT_URL_STS"),
            sso_endpoint: get("AWS_ENDPOINT_URL_SSO"),
            sso_cache_dir: None,
            imds: None,
            ecs: None,
            home,
        }
    }

    /// Sends the STS calls (`AssumeRole`, `AssumeRoleWithWebIdentity`) to `url` instead
    /// of the regional endpoint.
    pub fn with_sts_endpoint(mut self, url: impl Into<String>) -> Self {
        self.sts_endpoint = Some(url.into());
        self
    }

    /// Sends the SSO portal call to `url` instead of
    /// `https://portal.sso.{sso_region}.amazonaws.com`.
    pub fn with_sso_endpoint(mut self, url: impl Into<String>) -> Self {
        self.sso_endpoint = Some(url.into());
        self
    }

    /// Reads the AWS CLI's SSO token cache from `dir` instead of `~/.aws/sso/cache`.
    pub fn with_sso_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.sso_cache_dir = Some(dir.into());
        self
    }

    /// The provider `credential_source = Ec2InstanceMetadata` uses (default
    /// [`ImdsProvider::from_env`]).
    pub fn with_imds(mut self, imds: ImdsProvider) -> Self {
        self.imds = Some(imds);
        self
    }

    /// The provider `credential_source = EcsContainer` uses (default
    /// [`EcsProvider::from_env`]).
    pub fn with_ecs(mut self, ecs: EcsProvider) -> Self {
        self.ecs = Some(ecs);
        self
    }

    /// The profile's name.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// The credentials file read.
    pub fn credentials_path(&self) -> &Path {
        &self.credentials_path
    }

    /// The config file read.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The `region` of this provider's profile in its config file (the driver's region
    /// fallback). `None` when unset, or when the file is missing or malformed.
    pub fn configured_region(&self) -> Option<String> {
        region_in(&self.config_path, &self.profile)
    }

    /// The `region` of another profile of the same config file.
    pub fn region_of(&self, profile: &str) -> Option<String> {
        region_in(&self.config_path, profile)
    }

    /// Both files, parsed (a missing file is empty; both missing is `Unauthenticated`).
    async fn load(&self) -> Result<Files> {
        let credentials = read_optional(&self.credentials_path).await?;
        let config = read_optional(&self.config_path).await?;
        if credentials.is_none() && config.is_none() {
            return Err(unauthenticated(format!(
                "no shared credentials file ({}) and no config file ({})",
                self.credentials_path.display(),
                self.config_path.display()
            )));
        }
        Ok(Files {
            config: config.map(|t| parse_ini(&t, &self.config_path)).transpose()?.unwrap_or_default(),
            credentials: credentials.map(|t| parse_ini(&t, &self.credentials_path)).transpose()?.unwrap_or_default(),
        })
    }

    /// How to get the credentials of this provider's profile: where the first credentials
    /// come from, and the roles on the way (the asked profile's first; assumed last). Follows
    /// `source_profile` links, refusing cycles (a profile naming itself is allowed when it
    /// holds static keys, as the AWS CLI allows).
    fn plan(&self, files: &Files) -> Result<Plan> {
        let mut roles: Vec<RoleStep> = Vec::new();
        let mut visited: Vec<String> = Vec::new();
        let mut name = self.profile.clone();
        loop {
            let Some(props) = files.profile(&name) else {
                let message = match visited.last() {
                    None => format!(
                        "profile {name:?} is in neither {} nor {}",
                        self.credentials_path.display(),
                        self.config_path.display()
                    ),
                    Some(from) => {
                        return Err(Error::new(
                            ErrorKind::Config,
                            format!(
                                "profile {from:?} names source_profile {name:?}, which is in neither {} nor {}",
                                self.credentials_path.display(),
                                self.config_path.display()
                            ),
                        ));
                    }
                };
                return Err(unauthenticated(message));
            };
            let get = |key: &str| props.get(key).and_then(|v| non_empty(Some(v.clone())));
            visited.push(name.clone());
            let Some(role_arn) = get("role_arn") else {
                return Ok(Plan { base: self.base(&name, &props, files, visited.len() > 1)?, roles });
            };
            if let Some(token_file) = get("web_identity_token_file") {
                let region = self.env_region.clone().or_else(|| get("region"));
                let endpoint =
                    self.sts_endpoint.clone().unwrap_or_else(|| WebIdentityProvider::sts_endpoint(region.as_deref()));
                let token_file = expand_home(&token_file, self.home.as_deref());
                let provider = WebIdentityProvider::new(role_arn, token_file, get("role_session_name"), endpoint);
                return Ok(Plan { base: Base::Provider(Arc::new(provider)), roles });
            }
            if get("mfa_serial").is_some() {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("profile {name:?} assumes {role_arn} with mfa_serial: MFA code prompts are not supported"),
                )
                .with_hint(format!(
                    "get temporary credentials first (`aws configure export-credentials --profile {name} \
                     --format env`, or `aws sts get-session-token --serial-number ... --token-code ...`) and give \
                     them through the environment or a profile without mfa_serial, or use a credential_process"
                )));
            }
            let duration = match get("duration_seconds") {
                None => None,
                Some(v) => Some(v.parse::<u64>().map(Duration::from_secs).map_err(|_| {
                    Error::new(
                        ErrorKind::Config,
                        format!("profile {name:?}: duration_seconds is {v:?}, expected a number of seconds"),
                    )
                })?),
            };
            roles.push(RoleStep {
                role_arn,
                session_name: get("role_session_name"),
                external_id: get("external_id"),
                duration,
                region: self.env_region.clone().or_else(|| get("region")),
            });
            match (get("source_profile"), get("credential_source")) {
                (Some(_), Some(_)) => {
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!("profile {name:?} sets both source_profile and credential_source; keep one"),
                    ));
                }
                (None, None) => {
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!("profile {name:?} sets role_arn without source_profile or credential_source"),
                    ));
                }
                (None, Some(source)) => {
                    let base: Arc<dyn CredentialsProvider> = match source.to_ascii_lowercase().as_str() {
                        "environment" => Arc::new(EnvProvider),
                        "ec2instancemetadata" => Arc::new(self.imds.clone().unwrap_or_else(ImdsProvider::from_env)),
                        "ecscontainer" => Arc::new(self.ecs.clone().unwrap_or_else(EcsProvider::from_env)),
                        _ => {
                            return Err(Error::new(
                                ErrorKind::Config,
                                format!(
                                    "profile {name:?}: credential_source is {source:?}; expected Environment, \
                                     Ec2InstanceMetadata or EcsContainer"
                                ),
                            ));
                        }
                    };
                    return Ok(Plan { base: Base::Provider(base), roles });
                }
                (Some(source), None) if source == name => {
                    // A profile naming itself: its own static keys assume its role.
                    return match static_keys(&name, &props)? {
                        Some(credentials) => Ok(Plan { base: Base::Static(credentials), roles }),
                        None => Err(cycle(&visited, &source)),
                    };
                }
                (Some(source), None) => {
                    if visited.contains(&source) {
                        return Err(cycle(&visited, &source));
                    }
                    name = source;
                }
            }
        }
    }

    /// The credentials of a profile that assumes no role: static keys, a
    /// `credential_process`, or SSO. `is_source` says it was reached as a `source_profile`.
    fn base(&self, name: &str, props: &Properties, files: &Files, is_source: bool) -> Result<Base> {
        let get = |key: &str| props.get(key).and_then(|v| non_empty(Some(v.clone())));
        if let Some(credentials) = static_keys(name, props)? {
            return Ok(Base::Static(credentials));
        }
        if let Some(command) = get("credential_process") {
            return Ok(Base::Process(command, name.to_owned()));
        }
        if get("sso_session").is_some() || get("sso_start_url").is_some() {
            return Ok(Base::Provider(Arc::new(SsoProvider(self.sso_settings(name, props, files)?))));
        }
        let message = format!("profile {name:?} has no credentials");
        Err(if is_source { Error::new(ErrorKind::Config, message) } else { unauthenticated(message) })
    }

    /// The SSO settings of profile `name`: `sso_session` with its `[sso-session NAME]`
    /// section, or the legacy `sso_start_url` + `sso_region` in the profile itself.
    fn sso_settings(&self, name: &str, props: &Properties, files: &Files) -> Result<SsoSettings> {
        let get = |key: &str| props.get(key).and_then(|v| non_empty(Some(v.clone())));
        let config_error = |what: String| Error::new(ErrorKind::Config, format!("profile {name:?}: {what}"));
        let (session, start_url, region) = match get("sso_session") {
            Some(session) => {
                let section = files
                    .config
                    .iter()
                    .find(|(k, _)| {
                        k.strip_prefix("sso-session")
                            .is_some_and(|r| r.starts_with(char::is_whitespace) && r.trim() == session)
                    })
                    .map(|(_, v)| v)
                    .ok_or_else(|| {
                        config_error(format!(
                            "sso_session {session:?} has no [sso-session {session}] section in {}",
                            self.config_path.display()
                        ))
                    })?;
                let of = |key: &str| section.get(key).and_then(|v| non_empty(Some(v.clone())));
                let start_url = of("sso_start_url")
                    .ok_or_else(|| config_error(format!("[sso-session {session}] has no sso_start_url")))?;
                let region = of("sso_region")
                    .ok_or_else(|| config_error(format!("[sso-session {session}] has no sso_region")))?;
                (Some(session), start_url, region)
            }
            None => {
                let start_url = get("sso_start_url").ok_or_else(|| config_error("no sso_start_url".to_owned()))?;
                let region =
                    get("sso_region").ok_or_else(|| config_error("sso_start_url without sso_region".to_owned()))?;
                (None, start_url, region)
            }
        };
        let account_id =
            get("sso_account_id").ok_or_else(|| config_error("SSO profile without sso_account_id".to_owned()))?;
        let role_name =
            get("sso_role_name").ok_or_else(|| config_error("SSO profile without sso_role_name".to_owned()))?;
        let cache_dir =
            self.home.as_ref().map_or_else(|| PathBuf::from(".aws"), |h| h.join(".aws")).join("sso").join("cache");
        Ok(SsoSettings {
            profile: name.to_owned(),
            session,
            start_url,
            region,
            account_id,
            role_name,
            cache_dir: self.sso_cache_dir.clone().unwrap_or(cache_dir),
            endpoint: self.sso_endpoint.clone(),
        })
    }
}

/// The two shared files, parsed.
struct Files {
    config: Sections,
    credentials: Sections,
}

impl Files {
    /// The merged properties of profile `name` (the credentials file wins), if either
    /// file has it.
    fn profile(&self, name: &str) -> Option<Properties> {
        let mut merged = config_profile(&self.config, name);
        if let Some(props) = self.credentials.get(name) {
            merged.get_or_insert_with(Properties::new).extend(props.clone());
        }
        merged
    }
}

/// Where the first credentials of a profile come from.
enum Base {
    Static(Credentials),
    /// A `credential_process` command line, and the profile that runs it.
    Process(String, String),
    Provider(Arc<dyn CredentialsProvider>),
}

/// One `role_arn` to assume with the credentials before it.
struct RoleStep {
    role_arn: String,
    session_name: Option<String>,
    external_id: Option<String>,
    duration: Option<Duration>,
    region: Option<String>,
}

/// A profile's credentials: the base, and the roles to assume from it, listed from the
/// asked profile's down to the base's (so assumed in reverse order).
struct Plan {
    base: Base,
    roles: Vec<RoleStep>,
}

/// The static keys of a profile, or a `Config` error when only half of them is set.
fn static_keys(profile: &str, props: &Properties) -> Result<Option<Credentials>> {
    let get = |key: &str| props.get(key).and_then(|v| non_empty(Some(v.clone())));
    match (get("aws_access_key_id"), get("aws_secret_access_key")) {
        (Some(id), Some(secret)) => Ok(Some(Credentials::new(id, secret, get("aws_session_token")))),
        (Some(_), None) => Err(Error::new(
            ErrorKind::Config,
            format!("profile {profile:?} sets aws_access_key_id but not aws_secret_access_key"),
        )),
        (None, Some(_)) => Err(Error::new(
            ErrorKind::Config,
            format!("profile {profile:?} sets aws_secret_access_key but not aws_access_key_id"),
        )),
        (None, None) => Ok(None),
    }
}

/// The error for a `source_profile` loop: the profiles in the order they were followed.
fn cycle(visited: &[String], back_to: &str) -> Error {
    let path: Vec<String> =
        visited.iter().chain(std::iter::once(&back_to.to_owned())).map(|p| format!("{p:?}")).collect();
    Error::new(
        ErrorKind::Config,
        format!(
            "the source_profile links loop: {} (a profile may name itself only when it holds static keys)",
            path.join(" -> ")
        ),
    )
}

impl Default for ProfileProvider {
    fn default() -> Self {
        Self::from_env()
    }
}

#[async_trait]
impl CredentialsProvider for ProfileProvider {
    async fn credentials(&self) -> Result<Credentials> {
        let files = self.load().await?;
        let plan = self.plan(&files)?;
        let mut credentials = match plan.base {
            Base::Static(credentials) => credentials,
            Base::Process(command, profile) => {
                tracing::debug!(profile = %profile, "profile runs a credential_process");
                super::process::run(&command, &profile).await?
            }
            Base::Provider(provider) => {
                tracing::debug!(profile = %self.profile, source = provider.name(), "profile delegates");
                provider.credentials().await?
            }
        };
        for step in plan.roles.into_iter().rev() {
            let mut role =
                AssumeRoleProvider::new(Arc::new(StaticProvider::from_credentials(credentials)), step.role_arn);
            if let Some(region) = step.region {
                role = role.region(region);
            }
            if let Some(endpoint) = &self.sts_endpoint {
                role = role.endpoint(endpoint.clone());
            }
            if let Some(name) = step.session_name {
                role = role.session_name(name);
            }
            if let Some(id) = step.external_id {
                role = role.external_id(id);
            }
            if let Some(d) = step.duration {
                role = role.duration(d);
            }
            credentials = role.credentials().await?;
        }
        Ok(credentials)
    }

    fn name(&self) -> &'static str {
        "profile"
    }
}

/// Both files' texts parsed and `profile`'s plan made, for `crate::fuzzing`: no file,
/// process, environment variable or network is touched.
pub(crate) fn plan_texts(credentials: &str, config: &str, profile: &str) -> Result<crate::fuzzing::ProfilePlan> {
    let local = "http://127.0.0.1:9";
    let provider = ProfileProvider {
        profile: profile.to_owned(),
        credentials_path: PathBuf::from("credentials"),
        config_path: PathBuf::from("config"),
        home: None,
        env_region: None,
        sts_endpoint: Some(local.to_owned()),
        sso_endpoint: Some(local.to_owned()),
        sso_cache_dir: Some(PathBuf::from("sso-cache")),
        imds: Some(ImdsProvider::new(local)),
        ecs: Some(EcsProvider::new(local, None)),
    };
    let files = Files {
        credentials: parse_ini(credentials, &provider.credentials_path)?,
        config: parse_ini(config, &provider.config_path)?,
    };
    let plan = provider.plan(&files)?;
    let (base, static_credentials) = match plan.base {
        Base::Static(c) => ("static", Some(c)),
        Base::Process(..) => ("process", None),
        Base::Provider(p) => (p.name(), None),
    };
    Ok(crate::fuzzing::ProfilePlan { base, static_credentials, roles: plan.roles.len() })
}

/// The shared files the environment names: `(credentials, config)`.
fn shared_paths(get: &dyn Fn(&str) -> Option<String>, home: Option<&Path>) -> (PathBuf, PathBuf) {
    let aws_dir = home.map_or_else(|| PathBuf::from(".aws"), |h| h.join(".aws"));
    let credentials =
        get("AWS_SHARED_CREDENTIALS_FILE").map_or_else(|| aws_dir.join("credentials"), |p| expand_home(&p, home));
    let config = get("AWS_CONFIG_FILE").map_or_else(|| aws_dir.join("config"), |p| expand_home(&p, home));
    (credentials, config)
}

/// The `region` of `profile` in the config file at `path`.
fn region_in(path: &Path, profile: &str) -> Option<String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::debug!(path = %path.display(), error = %e, "cannot read the AWS config file");
            }
            return None;
        }
    };
    let sections = match parse_ini(&text, path) {
        Ok(sections) => sections,
        Err(e) => {
            tracing::debug!(error = %e, "ignoring a malformed AWS config file");
            return None;
        }
    };
    config_profile(&sections, profile)?.get("region").and_then(|r| non_empty(Some(r.clone())))
}

/// A file's text, `None` when it does not exist.
async fn read_optional(path: &Path) -> Result<Option<String>> {
    match tokio::fs::read_to_string(path).await {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::new(ErrorKind::Config, format!("cannot read {}: {e}", path.display())).with_source(e)),
    }
}

/// The properties of `profile` in a config file: `[profile NAME]`, or for `default` also
/// `[default]` (`[profile default]` wins where both set a key).
fn config_profile(sections: &Sections, profile: &str) -> Option<Properties> {
    let mut found: Option<Properties> = None;
    if profile == "default"
        && let Some(props) = sections.get("default")
    {
        found = Some(props.clone());
    }
    for (name, props) in sections {
        let Some(rest) = name.strip_prefix("profile") else { continue };
        if rest.starts_with(char::is_whitespace) && rest.trim() == profile {
            found.get_or_insert_with(Properties::new).extend(props.clone());
        }
    }
    found
}

/// Parses an AWS-style INI file: `[section]` headers (a trailing `#`/`;` comment
/// allowed), `key = value` lines (keys case-insensitive, stored lower-case; a `#`/`;`
/// preceded by whitespace starts a comment), full-line `#`/`;` comments, blank lines, and
/// continuation lines indented deeper than their property. Anything else is a `Config`
/// error naming the file and line, never quoting it (it may hold a secret).
fn parse_ini(text: &str, path: &Path) -> Result<Sections> {
    let mut sections = Sections::new();
    let mut section: Option<String> = None;
    // The current property: its key and indentation, for continuation lines.
    let mut property: Option<(String, usize)> = None;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, line) in text.lines().enumerate() {
        let malformed = |why: &str| {
            Error::new(
                ErrorKind::Config,
                format!("malformed AWS config file {} line {}: {why}", path.display(), index + 1),
            )
        };
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if let Some(header) = trimmed.strip_prefix('[') {
            let Some((name, rest)) = header.split_once(']') else {
                return Err(malformed("the section header has no closing `]`"));
            };
            let rest = rest.trim_start();
            if !(rest.is_empty() || rest.starts_with('#') || rest.starts_with(';')) {
                return Err(malformed("unexpected text after the section header"));
            }
            let name = name.trim();
            if name.is_empty() {
                return Err(malformed("empty section name"));
            }
            sections.entry(name.to_owned()).or_default();
            section = Some(name.to_owned());
            property = None;
            continue;
        }
        let Some(current) = section.as_ref() else {
            return Err(malformed("a property before any `[section]`"));
        };
        if let Some((key, prop_indent)) = &property
            && indent > *prop_indent
        {
            // Continuation of the previous property (nested settings like `s3 =`).
            if let Some(value) = sections.get_mut(current).and_then(|s| s.get_mut(key)) {
                value.push('\n');
                value.push_str(trimmed);
            }
            continue;
        }
        let Some((key, value)) = trimmed.split_once('=') else {
            return Err(malformed("expected `key = value`"));
        };
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() {
            return Err(malformed("a property without a name"));
        }
        let value = strip_inline_comment(value).trim().to_owned();
        sections.entry(current.clone()).or_default().insert(key.clone(), value);
        property = Some((key, indent));
    }
    Ok(sections)
}

/// `value` without a trailing comment: `#` or `;` preceded by whitespace.
fn strip_inline_comment(value: &str) -> &str {
    let bytes = value.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if (*b == b'#' || *b == b';') && i > 0 && bytes[i - 1].is_ascii_whitespace() {
            return &value[..i];
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Sections {
        parse_ini(text, Path::new("/t/config")).unwrap()
    }

    #[test]
    fn ini_comments_whitespace_and_key_case() {
        let s = parse(
            "\u{feff}# leading comment\n; another\n\n[default]  # trailing\n  Aws_Access_Key_ID=AK1 \n\
             aws_secret_access_key = se#cret ; comment\nregion\t=\teu-west-1\n[profile  dev]\nregion = us-east-2\r\n",
        );
        let d = &s["default"];
        assert_eq!(d["aws_access_key_id"], "AK1");
        assert_eq!(d["aws_secret_access_key"], "se#cret");
        assert_eq!(d["region"], "eu-west-1");
        assert_eq!(s["profile  dev"]["region"], "us-east-2");
        assert_eq!(config_profile(&s, "dev").unwrap()["region"], "us-east-2");
    }

    #[test]
    fn ini_continuation_lines() {
        let s = parse("[profile a]\ns3 =\n  max_concurrent_requests = 10\n  addressing_style = path\nregion = x\n");
        let a = &s["profile a"];
        assert_eq!(a["s3"], "\nmax_concurrent_requests = 10\naddressing_style = path");
        assert_eq!(a["region"], "x");
        // Indented keys at the same level are separate properties.
        let s = parse("[b]\n  k1 = 1\n  k2 = 2\n");
        assert_eq!(s["b"]["k1"], "1");
        assert_eq!(s["b"]["k2"], "2");
    }

    #[test]
    fn ini_malformed_lines_name_file_and_line() {
        for (text, line) in [
            ("[default]\naws_access_key_id = a\naws_secret_access_key sekrit\n", 3),
            ("key = v\n", 1),
            ("# c\n[default\n", 2),
            ("[]\n", 1),
            ("[a] junk\n", 1),
            ("[a]\n = v\n", 2),
        ] {
            let e = parse_ini(text, Path::new("/t/credentials")).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config);
            assert!(e.message().contains("/t/credentials"), "{e}");
            assert!(e.message().contains(&format!("line {line}")), "{e}");
            assert!(!e.message().contains("sekrit"), "{e}");
        }
    }

    #[test]
    fn config_default_profile_forms() {
        let s = parse("[default]\nregion = a\nx = 1\n[profile default]\nregion = b\n[other]\nregion = c\n");
        let d = config_profile(&s, "default").unwrap();
        assert_eq!(d["region"], "b");
        assert_eq!(d["x"], "1");
        // Bare `[other]` sections in the config file are not profiles.
        assert!(config_profile(&s, "other").is_none());
    }

    #[test]
    fn profile_paths_from_vars() {
        let p = ProfileProvider::from_vars(|k| match k {
            "HOME" => Some("/home/u".into()),
            "AWS_PROFILE" => Some("dev".into()),
            "AWS_CONFIG_FILE" => Some("~/cfg".into()),
            _ => None,
        });
        assert_eq!(p.profile(), "dev");
        assert_eq!(p.credentials_path(), Path::new("/home/u/.aws/credentials"));
        assert_eq!(p.config_path(), Path::new("/home/u/cfg"));
        let p = ProfileProvider::from_vars(|k| match k {
            "HOME" => Some("/h".into()),
            "AWS_SHARED_CREDENTIALS_FILE" => Some("/x/creds".into()),
            _ => None,
        });
        assert_eq!(p.profile(), "default");
        assert_eq!(p.credentials_path(), Path::new("/x/creds"));
        assert_eq!(p.config_path(), Path::new("/h/.aws/config"));
    }

    #[tokio::test]
    async fn profile_static_keys_and_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("credentials");
        let config = dir.path().join("config");
        std::fs::write(&creds, "[work]\naws_access_key_id = FROMCREDS\n").unwrap();
        std::fs::write(
            &config,
            "[profile work]\naws_access_key_id = FROMCONFIG\naws_secret_access_key = cfgsecret\n\
             aws_session_token = cfgtoken\nregion = ap-south-1\n",
        )
        .unwrap();
        let p = ProfileProvider::new("work", &creds, &config);
        let c = p.credentials().await.unwrap();
        assert_eq!(c.access_key_id, "FROMCREDS");
        assert_eq!(c.secret_access_key, "cfgsecret");
        assert_eq!(c.session_token.as_deref(), Some("cfgtoken"));
        assert_eq!(p.configured_region().as_deref(), Some("ap-south-1"));

        let missing = ProfileProvider::new("nope", &creds, &config).credentials().await.unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::Unauthenticated);
        assert!(missing.message().contains("\"nope\""), "{missing}");

        let none = ProfileProvider::new("default", dir.path().join("a"), dir.path().join("b"));
        assert_eq!(none.credentials().await.unwrap_err().kind(), ErrorKind::Unauthenticated);
        assert_eq!(none.configured_region(), None);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn credential_process_runs_the_command_line_without_a_shell() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        // Prints its first argument as the key id: proves the quoted argument arrives whole.
        let script = dir.path().join("creds helper.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\nif [ \"$2\" = fail ]; then echo 'token expired: run the login' >&2; exit 3; fi\n\
             printf '{\"Version\": 1, \"AccessKeyId\": \"%s\", \"SecretAccessKey\": \"sk\", \"SessionToken\": \"st\", \
             \"Expiration\": \"2030-01-02T03:04:05Z\"}' \"$1\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = dir.path().join("config");
        std::fs::write(
            &config,
            format!(
                "[profile ok]\ncredential_process = \"{s}\" 'ASIA WITH SPACE' go\n\
                 [profile bad]\ncredential_process = \"{s}\" secret-arg fail\n\
                 [profile missing]\ncredential_process = /nonexistent/helper\n\
                 [profile unbalanced]\ncredential_process = \"{s}\n",
                s = script.display()
            ),
        )
        .unwrap();
        let run = |name: &str| ProfileProvider::new(name, dir.path().join("credentials"), &config);
        let c = run("ok").credentials().await.unwrap();
        assert_eq!(c.access_key_id, "ASIA WITH SPACE");
        assert_eq!(c.secret_access_key, "sk");
        assert_eq!(c.session_token.as_deref(), Some("st"));
        assert!(c.expires_at.is_some());

        let e = run("bad").credentials().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e}");
        assert!(e.message().contains("token expired: run the login"), "{e}");
        assert!(!e.to_string().contains("secret-arg"), "the arguments are not quoted: {e}");
        assert_eq!(run("missing").credentials().await.unwrap_err().kind(), ErrorKind::Unauthenticated);
        assert_eq!(run("unbalanced").credentials().await.unwrap_err().kind(), ErrorKind::Config);
    }

    #[tokio::test]
    async fn profile_partial_and_unsupported() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("credentials");
        std::fs::write(
            &creds,
            "[half]\naws_access_key_id = A\n[sso]\nsso_session = s\n[role]\nrole_arn = arn:aws:iam::1:role/r\n\
             source_profile = half\naws_access_key_id = A\naws_secret_access_key = S\n[empty]\n",
        )
        .unwrap();
        let run = |name: &str| ProfileProvider::new(name, &creds, dir.path().join("config"));
        assert_eq!(run("half").credentials().await.unwrap_err().kind(), ErrorKind::Config);
        // An sso_session without its section, a role whose source has half a key pair.
        assert_eq!(run("sso").credentials().await.unwrap_err().kind(), ErrorKind::Config);
        assert_eq!(run("role").credentials().await.unwrap_err().kind(), ErrorKind::Config);
        assert_eq!(run("empty").credentials().await.unwrap_err().kind(), ErrorKind::Unauthenticated);
    }
}
