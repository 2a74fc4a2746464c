//! Credentials machinery shared by the cloud drivers: OAuth2 access tokens
//! ([`AccessToken`], [`TokenProvider`]), a cache that refreshes them before they expire
//! ([`TokenCache`]), a chain that tries providers in order ([`TokenChain`]), and the
//! helpers every provider needs ([`support`]). The providers themselves (Entra ID, Google,
//! AWS) live in their driver's `credentials/` module.

mod cache;
mod chain;
pub mod support;
mod token;

pub use cache::TokenCache;
pub use chain::TokenChain;
pub use token::{AccessToken, REDACTED, Redacted, StaticTokenProvider, TokenProvider, forget_rejected};
