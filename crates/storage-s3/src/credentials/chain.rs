//! Trying providers in order.

use std::sync::Arc;

use async_trait::async_trait;
use storage_core::Result;

use super::support::unauthenticated;
use super::{Credentials, CredentialsProvider};

/// Tries its providers in order and answers the first credentials found. When every
/// provider fails the error is `Unauthenticated` and lists each provider tried with the
/// reason it failed (messages never hold secrets).
#[derive(Clone, Debug, Default)]
pub struct ChainProvider {
    providers: Vec<Arc<dyn CredentialsProvider>>,
}

impl ChainProvider {
    /// A chain of `providers`, tried first to last.
    pub fn new(providers: Vec<Arc<dyn CredentialsProvider>>) -> Self {
        ChainProvider { providers }
    }

    /// The chain with `provider` appended.
    pub fn with(mut self, provider: Arc<dyn CredentialsProvider>) -> Self {
        self.providers.push(provider);
        self
    }

    /// The providers, in the order they are tried.
    pub fn providers(&self) -> &[Arc<dyn CredentialsProvider>] {
        &self.providers
    }
}

#[async_trait]
impl CredentialsProvider for ChainProvider {
    async fn credentials(&self) -> Result<Credentials> {
        if self.providers.is_empty() {
            return Err(unauthenticated("no AWS credentials providers are configured"));
        }
        let mut tried = Vec::with_capacity(self.providers.len());
        for provider in &self.providers {
            match provider.credentials().await {
                Ok(credentials) => {
                    tracing::debug!(provider = provider.name(), "AWS credentials supplied");
                    return Ok(credentials);
                }
                Err(e) => {
                    tracing::debug!(provider = provider.name(), error = %e.message(), "no AWS credentials");
                    tried.push(format!("{} ({}: {})", provider.name(), e.kind(), e.message()));
                }
            }
        }
        Err(unauthenticated(format!("no AWS credentials found; tried {}", tried.join("; "))))
    }

    fn name(&self) -> &'static str {
        "chain"
    }
}

#[cfg(test)]
mod tests {
    use storage_core::{Error, ErrorKind};

    use super::*;
    use crate::credentials::StaticProvider;

    #[derive(Debug)]
    struct Failing(&'static str, ErrorKind);

    #[async_trait]
    impl CredentialsProvider for Failing {
        async fn credentials(&self) -> Result<Credentials> {
            Err(Error::new(self.1, format!("{} says no", self.0)))
        }
        fn name(&self) -> &'static str {
            self.0
        }
    }

    #[tokio::test]
    async fn chain_first_success_wins() {
        let chain = ChainProvider::new(vec![
            Arc::new(Failing("one", ErrorKind::Unauthenticated)),
            Arc::new(StaticProvider::new("SECOND", "s2", None)),
            Arc::new(StaticProvider::new("THIRD", "s3", None)),
        ]);
        assert_eq!(chain.credentials().await.unwrap().access_key_id, "SECOND");
        assert_eq!(chain.providers().len(), 3);
    }

    #[tokio::test]
    async fn chain_combined_error_lists_every_provider() {
        let chain = ChainProvider::default()
            .with(Arc::new(Failing("alpha", ErrorKind::Unauthenticated)))
            .with(Arc::new(Failing("beta", ErrorKind::Config)))
            .with(Arc::new(Failing("gamma", ErrorKind::Timeout)));
        let e = chain.credentials().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        let m = e.message();
        let (a, b, c) =
            (m.find("alpha (").unwrap(), m.find("beta (Config").unwrap(), m.find("gamma (Timeout").unwrap());
        assert!(a < b && b < c, "{m}");
        assert!(m.contains("beta says no"), "{m}");
        let empty = ChainProvider::new(Vec::new()).credentials().await.unwrap_err();
        assert_eq!(empty.kind(), ErrorKind::Unauthenticated);
    }
}
