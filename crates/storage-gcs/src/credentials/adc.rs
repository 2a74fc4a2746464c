//! Application Default Credentials: where Google's libraries look for credentials, in
//! their order, and credentials from a JSON document.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use storage_core::{Error, ErrorKind, Result};

use super::support::{Unavailable, env_var, json_error, non_empty};
use super::{
    AuthorizedUserProvider, ExternalAccountProvider, GcsCredentials, MetadataProvider, ServiceAccountKey,
    ServiceAccountProvider, TokenCache, TokenChain, TokenProvider,
};

/// The file `gcloud auth application-default login` writes, under gcloud's configuration
/// directory.
const WELL_KNOWN_FILE: &str = "application_default_credentials.json";

/// What the error of the last resort tells the user.
const HINT: &str = "set GOOGLE_APPLICATION_CREDENTIALS to a service account key file (or give the key in the \
                    configuration), run `gcloud auth application-default login`, or run on Google Cloud";

/// Application Default Credentials from the process environment, in the order Google's
/// libraries use:
///
/// 1. the JSON file `GOOGLE_APPLICATION_CREDENTIALS` names;
/// 2. gcloud's `application_default_credentials.json` in `$CLOUDSDK_CONFIG`, else
///    `~/.config/gcloud` (`%APPDATA%\gcloud` on Windows);
/// 3. the metadata server of the Google Cloud resource the process runs on.
///
/// It never fails: a file that cannot be read or used gives credentials whose token
/// requests answer a typed error naming the file (never its content). The project is
/// `GOOGLE_CLOUD_PROJECT` (or `GCLOUD_PROJECT`, `CLOUDSDK_CORE_PROJECT`), else the one
/// the file names. Tokens
/// are cached until shortly before they expire.
pub fn application_default() -> GcsCredentials {
    application_default_from_vars(env_var)
}

/// Like [`application_default`], with `get` standing for the environment (the variables
/// read: `GOOGLE_APPLICATION_CREDENTIALS`, `CLOUDSDK_CONFIG`, `HOME`, `APPDATA`,
/// `GOOGLE_CLOUD_PROJECT`, `GCLOUD_PROJECT`, `CLOUDSDK_CORE_PROJECT`, `GCE_METADATA_HOST`,
/// `NO_GCE_CHECK`).
pub fn application_default_from_vars(get: impl Fn(&str) -> Option<String>) -> GcsCredentials {
    let get = |name: &str| non_empty(get(name));
    let env_project =
        get("GOOGLE_CLOUD_PROJECT").or_else(|| get("GCLOUD_PROJECT")).or_else(|| get("CLOUDSDK_CORE_PROJECT"));
    let with_project = |mut creds: GcsCredentials| {
        if env_project.is_some() {
            creds.project_id = env_project.clone();
        }
        creds
    };
    if let Some(path) = get("GOOGLE_APPLICATION_CREDENTIALS") {
        return with_project(from_file_or_unavailable(Path::new(&path), "GOOGLE_APPLICATION_CREDENTIALS"));
    }
    let well_known = well_known_file_from_vars(&get);
    if let Some(path) = well_known.as_deref().filter(|p| p.is_file()) {
        return with_project(from_file_or_unavailable(path, "gcloud's application default credentials"));
    }
    // The last resort: the metadata server. The chain's error says what was looked for.
    let gcloud_why = match &well_known {
        Some(path) => format!("{} does not exist", path.display()),
        None => "neither CLOUDSDK_CONFIG nor HOME is set".to_owned(),
    };
    let chain = TokenChain::new(vec![
        Arc::new(Unavailable::new(
            "GOOGLE_APPLICATION_CREDENTIALS",
            ErrorKind::Unauthenticated,
            "GOOGLE_APPLICATION_CREDENTIALS is not set",
        )),
        Arc::new(Unavailable::new("gcloud application default credentials", ErrorKind::Unauthenticated, gcloud_why)),
        Arc::new(MetadataProvider::from_vars(|name| get(name))),
    ])
    .for_service("Google Cloud", HINT);
    GcsCredentials { tokens: Some(cached(Arc::new(chain))), signer: None, project_id: env_project }
}

/// Where gcloud keeps Application Default Credentials: `$CLOUDSDK_CONFIG`, else
/// `~/.config/gcloud` (`%APPDATA%\gcloud` on Windows), joined with
/// `application_default_credentials.json`; `None` when none of those variables is set.
pub fn well_known_file() -> Option<PathBuf> {
    well_known_file_from_vars(&|name: &str| env_var(name))
}

fn well_known_file_from_vars(get: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(dir) = get("CLOUDSDK_CONFIG") {
        return Some(Path::new(&dir).join(WELL_KNOWN_FILE));
    }
    if cfg!(windows) {
        get("APPDATA").map(|dir| Path::new(&dir).join("gcloud").join(WELL_KNOWN_FILE))
    } else {
        get("HOME").map(|dir| Path::new(&dir).join(".config").join("gcloud").join(WELL_KNOWN_FILE))
    }
}

/// The credentials of the file at `path`, or credentials whose token requests say why
/// the file cannot be used (naming it and `origin`, never quoting it).
fn from_file_or_unavailable(path: &Path, origin: &str) -> GcsCredentials {
    match from_file(path) {
        Ok(creds) => creds,
        Err(e) => {
            let e = Error::new(e.kind(), format!("{} ({origin})", e.message())).with_hint(e.hint().to_owned());
            tracing::debug!(error = %e.message(), "the application default credentials file cannot be used");
            GcsCredentials {
                tokens: Some(Arc::new(Unavailable::from_error("application default credentials", &e))),
                signer: None,
                project_id: None,
            }
        }
    }
}

/// Credentials from the JSON file at `path` (see [`from_json`]); errors name the file,
/// never its content.
pub fn from_file(path: impl AsRef<Path>) -> Result<GcsCredentials> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::new(ErrorKind::Config, format!("cannot read the Google credentials file {}: {e}", path.display()))
            .with_source(e)
    })?;
    from_json(&text).map_err(|e| {
        Error::new(e.kind(), format!("the Google credentials file {}: {}", path.display(), e.message()))
            .with_hint(e.hint().to_owned())
    })
}

/// Just the `type` of a credentials document.
#[derive(Deserialize)]
struct Kind {
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// Credentials from a JSON document (a service account key given in the configuration,
/// or any Application Default Credentials file): `service_account` (tokens from RS256
/// JWTs; its key also signs V4 signed URLs, and its project is the credentials'),
/// `authorized_user` (a refresh token; the project is its `quota_project_id`) or
/// `external_account` (workload identity federation). Anything else is an error (`Config`,
/// or `NotSupported` for credential types this crate does not handle) that never quotes
/// the document.
pub fn from_json(json: &str) -> Result<GcsCredentials> {
    let Kind { kind } = serde_json::from_str(json).map_err(|e| json_error("the Google credentials JSON", &e))?;
    match non_empty(kind).as_deref() {
        Some("service_account") => {
            let key = Arc::new(ServiceAccountKey::from_json(json)?);
            let project_id = key.project_id.clone();
            Ok(GcsCredentials {
                tokens: Some(cached(Arc::new(ServiceAccountProvider::new(key.clone())))),
                signer: Some(key),
                project_id,
            })
        }
        Some("authorized_user") => {
            let provider = AuthorizedUserProvider::from_json(json)?;
            let project_id = provider.quota_project_id().map(str::to_owned);
            Ok(GcsCredentials { tokens: Some(cached(Arc::new(provider))), signer: None, project_id })
        }
        Some("external_account") => {
            let provider = ExternalAccountProvider::from_json(json)?;
            Ok(GcsCredentials { tokens: Some(cached(Arc::new(provider))), signer: None, project_id: None })
        }
        Some(
            other @ ("impersonated_service_account" | "external_account_authorized_user" | "gdch_service_account"),
        ) => Err(Error::new(
            ErrorKind::NotSupported,
            format!("Google credentials of type {other:?} are not supported"),
        )
        .with_hint(
            "use a service account key, `gcloud auth application-default login`, or workload identity federation",
        )),
        Some(other) => Err(Error::new(
            ErrorKind::Config,
            format!(
                "the Google credentials JSON is of type {other:?}; expected service_account, authorized_user or \
                 external_account"
            ),
        )),
        None => Err(Error::new(ErrorKind::Config, "the Google credentials JSON has no \"type\"")
            .with_hint("give a service account JSON key as downloaded from the console")),
    }
}

/// `provider`, its tokens cached until shortly before they expire.
fn cached(provider: Arc<dyn TokenProvider>) -> Arc<dyn TokenProvider> {
    Arc::new(TokenCache::new(provider))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_file_locations() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        };
        assert_eq!(
            well_known_file_from_vars(&vars(&[("CLOUDSDK_CONFIG", "/cfg"), ("HOME", "/home/u")])),
            Some(PathBuf::from("/cfg/application_default_credentials.json"))
        );
        if !cfg!(windows) {
            assert_eq!(
                well_known_file_from_vars(&vars(&[("HOME", "/home/u")])),
                Some(PathBuf::from("/home/u/.config/gcloud/application_default_credentials.json"))
            );
        }
        assert_eq!(well_known_file_from_vars(&vars(&[])), None);
    }

    #[test]
    fn json_types() {
        for (json, kind, word) in [
            (r#"{"type":"impersonated_service_account"}"#, ErrorKind::NotSupported, "impersonated_service_account"),
            (r#"{"type":"api_key"}"#, ErrorKind::Config, "api_key"),
            (r#"{"client_email":"a@b"}"#, ErrorKind::Config, "no \"type\""),
            (r#"{"type": "service_account", "private_key": "SECRET"#, ErrorKind::Config, "ends too early"),
            (r#"{"type":"service_account","client_email":"a@b","private_key":"SECRET"}"#, ErrorKind::Config, "PEM"),
        ] {
            let e = from_json(json).unwrap_err();
            assert_eq!(e.kind(), kind, "{e}");
            assert!(e.message().contains(word), "{e}");
            assert!(!format!("{e} {e:?}").contains("SECRET"), "{e:?}");
        }
    }
}
