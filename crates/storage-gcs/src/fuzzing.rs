//! Entry points for the fuzz targets (`fuzz/`, run by `cargo xtask fuzz`): the parsers
//! of outside input that are private to this crate, reachable without a network. Not a
//! stable API: hidden from the documentation, and free to change with the targets.

use storage_core::Result;

use crate::credentials::AccessToken;

/// Reads an OAuth2 token endpoint's answer (Google's token URI, the metadata server, STS).
pub fn token_answer(status: u16, body: &[u8]) -> Result<AccessToken> {
    crate::credentials::parse_token_answer(status, body, "token endpoint")
}

/// Reads the IAM Credentials API's `generateAccessToken` answer.
pub fn iam_token_answer(status: u16, body: &[u8]) -> Result<AccessToken> {
    crate::credentials::parse_iam_token_answer(status, body, "generateAccessToken")
}
