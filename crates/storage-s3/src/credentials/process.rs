//! `credential_process` in a profile: an external command that prints credentials as
//! JSON (`{"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken"?,
//! "Expiration"?}`), run as the AWS CLI runs it: the command line split like a shell
//! would (quotes, escapes), no shell, no input.

use serde::Deserialize;
use storage_core::{Error, ErrorKind, Result};

use super::Credentials;
use super::support::{parse_json_credentials, unauthenticated};

/// The most of the command's standard error an error message quotes.
const STDERR_QUOTED: usize = 500;

/// The part of the output only a `credential_process` has.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Version {
    version: Option<u64>,
}

/// Runs the `credential_process` command line of `profile` and reads its credentials.
/// Errors name the program (never its arguments, which may hold secrets) and quote the
/// start of its standard error; a command line that cannot be split is `Config`.
pub(crate) async fn run(command: &str, profile: &str) -> Result<Credentials> {
    let argv = shlex::split(command).filter(|a| !a.is_empty()).ok_or_else(|| {
        Error::new(
            ErrorKind::Config,
            format!("profile {profile:?}: its credential_process is not a valid command line"),
        )
    })?;
    let program = argv[0].clone();
    let (profile_name, program_name) = (profile.to_owned(), program.clone());
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&argv[0]).args(&argv[1..]).stdin(std::process::Stdio::null()).output()
    })
    .await
    .map_err(|e| Error::new(ErrorKind::Io, format!("the credential_process task failed: {e}")))?
    .map_err(|e| {
        unauthenticated(format!("profile {profile_name:?}: credential_process {program_name:?} could not be run: {e}"))
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stderr: String = stderr.trim().chars().take(STDERR_QUOTED).collect();
        return Err(unauthenticated(format!(
            "profile {profile:?}: credential_process {program:?} failed ({}){}",
            output.status,
            if stderr.is_empty() { String::new() } else { format!(": {stderr}") }
        )));
    }
    parse(&output.stdout, profile, &program)
}

/// Reads the command's output: `Version` 1, then the credentials document the ECS and
/// IMDS endpoints serve too.
pub(crate) fn parse(stdout: &[u8], profile: &str, program: &str) -> Result<Credentials> {
    let what = format!("profile {profile:?}: credential_process {program:?}");
    // Not parsable at all: the credentials parser says so, quoting no output.
    let version = serde_json::from_slice::<Version>(stdout).map(|v| v.version);
    if let Ok(version) = version
        && version != Some(1)
    {
        return Err(unauthenticated(format!("{what} printed Version {version:?}; only Version 1 is known")));
    }
    parse_json_credentials(stdout, &what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_parse_or_fail_without_quoting_secrets() {
        let ok = parse(
            br#"{"Version":1,"AccessKeyId":"ASIAPROC","SecretAccessKey":"s3cr3t","SessionToken":"tok",
                "Expiration":"2030-01-02T03:04:05Z"}"#,
            "p",
            "helper",
        )
        .unwrap();
        assert_eq!(ok.access_key_id, "ASIAPROC");
        assert_eq!(ok.session_token.as_deref(), Some("tok"));
        assert!(ok.expires_at.is_some());
        let long = parse(br#"{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S"}"#, "p", "h").unwrap();
        assert_eq!(long.expires_at, None);
        for bad in [
            &br#"{"Version":2,"AccessKeyId":"A","SecretAccessKey":"s3cr3t"}"#[..],
            br#"{"Version":1,"AccessKeyId":"A"}"#,
            br#"{"Version":1,"AccessKeyId":"A","SecretAccessKey":"s3cr3t""#,
            b"s3cr3t",
        ] {
            let e = parse(bad, "p", "helper").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e}");
            assert!(!e.to_string().contains("s3cr3t"), "{e}");
            assert!(e.message().contains("\"helper\""), "{e}");
        }
    }
}
