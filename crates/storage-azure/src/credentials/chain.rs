//! Trying token providers in order.

use std::sync::Arc;

use async_trait::async_trait;
use storage_core::{Error, ErrorKind, Result};

use super::{AccessToken, TokenProvider};

/// Tries its providers in order and answers the first token found. When every provider
/// fails the error is `Unauthenticated` and lists each provider with the reason it failed
/// (messages never hold secrets).
#[derive(Clone, Debug, Default)]
pub struct ChainProvider {
    providers: Vec<Arc<dyn TokenProvider>>,
}

impl ChainProvider {
    /// A chain of `providers`, tried first to last.
    pub fn new(providers: Vec<Arc<dyn TokenProvider>>) -> Self {
        ChainProvider { providers }
    }

    /// The chain with `provider` appended.
    pub fn with(mut self, provider: Arc<dyn TokenProvider>) -> Self {
        self.providers.push(provider);
        self
    }

    /// The providers, in the order they are tried.
    pub fn providers(&self) -> &[Arc<dyn TokenProvider>] {
        &self.providers
    }
}

#[async_trait]
impl TokenProvider for ChainProvider {
    async fn token(&self) -> Result<AccessToken> {
        let mut tried = Vec::with_capacity(self.providers.len());
        for provider in &self.providers {
            match provider.token().await {
                Ok(token) => {
                    tracing::debug!(provider = provider.name(), "Azure token supplied");
                    return Ok(token);
                }
                Err(e) => {
                    tracing::debug!(provider = provider.name(), error = %e.message(), "no Azure token");
                    tried.push(format!("{} ({}: {})", provider.name(), e.kind(), e.message()));
                }
            }
        }
        if tried.is_empty() {
            return Err(Error::new(ErrorKind::Unauthenticated, "no Azure token providers are configured"));
        }
        Err(Error::new(ErrorKind::Unauthenticated, format!("no Azure credentials found; tried {}", tried.join("; ")))
            .with_hint(
                "set account_key or sas_token (or AZURE_STORAGE_KEY / AZURE_STORAGE_SAS_TOKEN / \
                 AZURE_STORAGE_CONNECTION_STRING), sign in with `az login`, or set AZURE_CLIENT_ID, \
                 AZURE_TENANT_ID and AZURE_CLIENT_SECRET",
            ))
    }

    fn name(&self) -> &'static str {
        "chain"
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::credentials::StaticTokenProvider;

    #[derive(Debug)]
    struct Failing(&'static str, ErrorKind);

    #[async_trait]
    impl TokenProvider for Failing {
        async fn token(&self) -> Result<AccessToken> {
            Err(Error::new(self.1, format!("{} says no", self.0)))
        }
        fn name(&self) -> &'static str {
            self.0
        }
    }

    #[tokio::test]
    async fn first_success_wins_and_failures_are_listed_in_order() {
        let later = Utc::now() + chrono::TimeDelta::hours(1);
        let chain = ChainProvider::new(vec![
            Arc::new(Failing("one", ErrorKind::Unauthenticated)),
            Arc::new(StaticTokenProvider::new("SECOND", later)),
        ]);
        assert_eq!(chain.token().await.unwrap().token, "SECOND");
        let chain = ChainProvider::default()
            .with(Arc::new(Failing("alpha", ErrorKind::Unauthenticated)))
            .with(Arc::new(Failing("beta", ErrorKind::Timeout)));
        let e = chain.token().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        let m = e.message();
        assert!(m.find("alpha (").unwrap() < m.find("beta (Timeout").unwrap(), "{m}");
        assert_eq!(ChainProvider::default().token().await.unwrap_err().kind(), ErrorKind::Unauthenticated);
    }
}
