//! Entry points for the fuzz targets (`fuzz/`, run by `cargo xtask fuzz`): the parsers
//! of outside input that are private to this crate, reachable without a process or a
//! network. Not a stable API: hidden from the documentation, and free to change with the
//! targets.

use chrono::{DateTime, Utc};
use storage_core::Result;

use crate::credentials::AccessToken;

/// Reads what `az account get-access-token` printed.
pub fn azure_cli_output(stdout: &[u8]) -> Result<AccessToken> {
    crate::credentials::parse_cli_token(stdout)
}

/// Reads a token endpoint's answer (Entra ID, IMDS, App Service).
pub fn token_answer(status: u16, body: &[u8]) -> Result<AccessToken> {
    crate::credentials::parse_token_answer(status, body, "token endpoint")
}

/// Reads a token answer's `expires_on`.
pub fn expires_on(value: &str) -> Option<DateTime<Utc>> {
    crate::credentials::parse_expires_on(value)
}
