//! Tokens of the account signed in to the Azure CLI (`az login`).

use std::ffi::OsString;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Local, NaiveDateTime, Utc};
use serde::Deserialize;
use storage_core::{Error, ErrorKind, Result};

use super::support::{STORAGE_RESOURCE, check_tenant, non_empty, unauthenticated};
use super::{AccessToken, TokenProvider};

/// How long `az` may take by default (it may refresh its own token over the network).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of `az`'s standard error an error message quotes.
const STDERR_QUOTED: usize = 300;

/// The program run by default: `az` (`az.cmd` on Windows, where the CLI is a batch file).
fn default_program() -> OsString {
    OsString::from(if cfg!(windows) { "az.cmd" } else { "az" })
}

/// Tokens from `az account get-access-token --output json --resource
/// https://storage.azure.com`, run directly (no shell), with no input. A missing CLI is
/// `Unauthenticated` ("Azure CLI not found"), a failure (not signed in...) is
/// `Unauthenticated` quoting the first error line of its standard error; the token
/// printed on standard output never appears in errors.
#[derive(Clone, Debug)]
pub struct AzureCliProvider {
    program: OsString,
    tenant: Option<String>,
    timeout: Duration,
}

impl Default for AzureCliProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl AzureCliProvider {
    /// Runs `az` from the `PATH`, for the CLI's default tenant, for at most 30 s.
    pub fn new() -> Self {
        AzureCliProvider { program: default_program(), tenant: None, timeout: DEFAULT_TIMEOUT }
    }

    /// The same as [`AzureCliProvider::new`]: the CLI reads its own configuration.
    pub fn from_env() -> Self {
        Self::new()
    }

    /// Runs `program` instead of `az` (a full path, or a name looked up in `PATH`).
    pub fn with_program(mut self, program: impl Into<OsString>) -> Self {
        self.program = program.into();
        self
    }

    /// Asks for a token of `tenant` (`--tenant`) rather than the default tenant.
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Gives up (and kills the CLI) after `timeout` instead of 30 s.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The arguments given to the program.
    fn args(&self) -> Result<Vec<String>> {
        let mut args: Vec<String> = ["account", "get-access-token", "--output", "json", "--resource", STORAGE_RESOURCE]
            .into_iter()
            .map(str::to_owned)
            .collect();
        if let Some(tenant) = &self.tenant {
            let tenant = check_tenant(tenant).map_err(|(kind, why)| Error::new(kind, why))?;
            args.extend(["--tenant".to_owned(), tenant]);
        }
        Ok(args)
    }
}

#[async_trait]
impl TokenProvider for AzureCliProvider {
    async fn token(&self) -> Result<AccessToken> {
        let args = self.args()?;
        let program = self.program.to_string_lossy().into_owned();
        let child = tokio::process::Command::new(&self.program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(unauthenticated(format!("Azure CLI not found ({program:?} is not on the PATH)"))
                    .with_hint("install the Azure CLI and sign in with `az login`")
                    .with_source(e));
            }
            Err(e) => {
                return Err(
                    unauthenticated(format!("the Azure CLI ({program:?}) could not be run: {e}")).with_source(e)
                );
            }
        };
        let output = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(Ok(output)) => output,
            Ok(Err(e)) => {
                return Err(Error::io(format!("reading the output of the Azure CLI ({program:?}) failed"), e));
            }
            Err(_) => {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!("the Azure CLI ({program:?}) did not answer within {:?}", self.timeout),
                ));
            }
        };
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let line = first_error_line(&stderr);
            let mut e = unauthenticated(format!(
                "`az account get-access-token` failed ({}){}",
                output.status,
                if line.is_empty() { String::new() } else { format!(": {line}") }
            ));
            if line.contains("az login") {
                e = e.with_hint("sign in with `az login`");
            }
            return Err(e);
        }
        let token = parse_cli_token(&output.stdout)?;
        tracing::debug!(expires_at = %token.expires_at, "the Azure CLI issued a token");
        Ok(token)
    }

    fn name(&self) -> &'static str {
        "azure cli"
    }
}

/// The line of `stderr` that says what went wrong: the first `ERROR:` line, else the
/// first non-blank one; cut to a reasonable length.
fn first_error_line(stderr: &str) -> String {
    let mut lines = stderr.lines().map(str::trim).filter(|l| !l.is_empty());
    let line = lines.clone().find(|l| l.starts_with("ERROR")).or_else(|| lines.next()).unwrap_or("");
    line.chars().take(STDERR_QUOTED).collect()
}

/// The JSON `az account get-access-token` prints. No `Debug`: it holds the token.
#[derive(Deserialize)]
struct CliToken {
    #[serde(rename = "accessToken")]
    access_token: Option<String>,
    /// Local time, `2024-01-01 12:00:00.000000`.
    #[serde(rename = "expiresOn")]
    expires_on_local: Option<String>,
    /// Unix seconds (Azure CLI 2.54 and later).
    expires_on: Option<serde_json::Value>,
    #[serde(rename = "tokenType")]
    token_type: Option<String>,
}

/// Reads the CLI's output; errors never quote it.
pub(crate) fn parse_cli_token(stdout: &[u8]) -> Result<AccessToken> {
    let what = "`az account get-access-token`";
    let doc: CliToken = serde_json::from_slice(stdout).map_err(|e| {
        unauthenticated(format!(
            "{what} printed something that is not its token document (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let Some(token) = non_empty(doc.access_token) else {
        return Err(unauthenticated(format!("{what} printed no accessToken")));
    };
    if let Some(kind) = non_empty(doc.token_type).filter(|t| !t.eq_ignore_ascii_case("bearer")) {
        return Err(unauthenticated(format!("{what} printed a {kind:?} token, not a Bearer token")));
    }
    let unix = doc.expires_on.and_then(|v| match v {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    let expires_at = match (unix, non_empty(doc.expires_on_local)) {
        (Some(secs), _) => DateTime::from_timestamp(secs, 0),
        (None, Some(local)) => parse_local_time(&local),
        (None, None) => return Err(unauthenticated(format!("{what} printed no expiresOn or expires_on"))),
    };
    let Some(expires_at) = expires_at else {
        return Err(unauthenticated(format!("{what} printed an expiry time that is not understood")));
    };
    Ok(AccessToken::new(token, expires_at))
}

/// The CLI's `expiresOn`: a local time without offset, fractional seconds optional. An
/// ambiguous time (the hour a DST change repeats) is taken at its earlier reading.
fn parse_local_time(value: &str) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(value.trim(), "%Y-%m-%d %H:%M:%S%.f").ok()?;
    naive.and_local_timezone(Local).earliest().map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn cli_output_parses() {
        let t = parse_cli_token(
            br#"{"accessToken":"eyJcli","expiresOn":"2030-01-01 12:00:00.000000","expires_on":1893499200,
                "subscription":"sub","tenant":"tenant","tokenType":"Bearer"}"#,
        )
        .unwrap();
        assert_eq!(t.token, "eyJcli");
        assert_eq!(t.expires_at.timestamp(), 1_893_499_200);
        // Older CLIs: local time only.
        let t =
            parse_cli_token(br#"{"accessToken":"old","expiresOn":"2030-01-01 12:00:00.123456","tokenType":"Bearer"}"#)
                .unwrap();
        let local = Local.with_ymd_and_hms(2030, 1, 1, 12, 0, 0).earliest().unwrap().with_timezone(&Utc);
        assert_eq!(t.expires_at.timestamp(), local.timestamp());
        assert!(parse_local_time("2030-01-01 12:00:00").is_some());
    }

    #[test]
    fn bad_cli_output_is_unauthenticated_and_quiet() {
        for bad in [
            &br#"{"accessToken":"SECRET-TOKEN""#[..],
            br#"{"accessToken":"SECRET-TOKEN"}"#,
            br#"{"accessToken":"SECRET-TOKEN","expiresOn":"tomorrow"}"#,
            br#"{"accessToken":"SECRET-TOKEN","expires_on":1,"tokenType":"pop"}"#,
            br#"{"expires_on":1}"#,
            b"SECRET-TOKEN",
        ] {
            let e = parse_cli_token(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e}");
            assert!(!format!("{e} {e:?}").contains("SECRET-TOKEN"), "{e:?}");
        }
    }

    #[test]
    fn stderr_lines() {
        assert_eq!(
            first_error_line("WARNING: something\nERROR: Please run 'az login' to setup account.\n"),
            "ERROR: Please run 'az login' to setup account."
        );
        assert_eq!(first_error_line("\n  boom  \nmore"), "boom");
        assert_eq!(first_error_line(""), "");
        assert_eq!(first_error_line(&"x".repeat(1000)).len(), STDERR_QUOTED);
    }

    #[test]
    fn arguments() {
        let p = AzureCliProvider::new();
        assert_eq!(
            p.args().unwrap(),
            ["account", "get-access-token", "--output", "json", "--resource", "https://storage.azure.com"]
        );
        let args = p.clone().with_tenant("contoso.onmicrosoft.com").args().unwrap();
        assert_eq!(&args[6..], ["--tenant", "contoso.onmicrosoft.com"]);
        assert_eq!(p.with_tenant("--evil").args().unwrap_err().kind(), ErrorKind::Config);
    }

    #[tokio::test]
    async fn missing_cli_is_unauthenticated() {
        let e = AzureCliProvider::new().with_program("/nonexistent/az-cli-for-tests").token().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert!(e.message().starts_with("Azure CLI not found"), "{e}");
    }
}
