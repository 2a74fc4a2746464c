//! Trying token providers in order.

use std::sync::Arc;

use async_trait::async_trait;
use storage_core::{Error, ErrorKind, Result};

use super::{AccessToken, TokenProvider};

/// Tries its providers in order and answers the first token found. When every provider
/// fails the error is `Unauthenticated`, lists each provider with the reason it failed
/// (messages never hold secrets) and carries the chain's hint (where credentials can be
/// given, in the service's words).
#[derive(Clone, Debug, Default)]
pub struct TokenChain {
    providers: Vec<Arc<dyn TokenProvider>>,
    service: &'static str,
    hint: Option<&'static str>,
}

impl TokenChain {
    /// A chain of `providers`, tried first to last.
    pub fn new(providers: Vec<Arc<dyn TokenProvider>>) -> Self {
        TokenChain { providers, service: "", hint: None }
    }

    /// Names the service in the error (`no Azure credentials found`) and gives its hint.
    pub fn for_service(mut self, service: &'static str, hint: &'static str) -> Self {
        self.service = service;
        self.hint = Some(hint);
        self
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
impl TokenProvider for TokenChain {
    async fn token(&self) -> Result<AccessToken> {
        let mut tried = Vec::with_capacity(self.providers.len());
        for provider in &self.providers {
            match provider.token().await {
                Ok(token) => {
                    tracing::debug!(provider = provider.name(), "token supplied");
                    return Ok(token);
                }
                Err(e) => {
                    tracing::debug!(provider = provider.name(), error = %e.message(), "no token");
                    tried.push(format!("{} ({}: {})", provider.name(), e.kind(), e.message()));
                }
            }
        }
        let service = if self.service.is_empty() { String::new() } else { format!("{} ", self.service) };
        let e = if tried.is_empty() {
            Error::new(ErrorKind::Unauthenticated, format!("no {service}token providers are configured"))
        } else {
            Error::new(ErrorKind::Unauthenticated, format!("no {service}credentials found; tried {}", tried.join("; ")))
        };
        Err(match self.hint {
            Some(h) => e.with_hint(h),
            None => e,
        })
    }

    fn name(&self) -> &'static str {
        "chain"
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::auth::StaticTokenProvider;

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
        let chain = TokenChain::new(vec![
            Arc::new(Failing("one", ErrorKind::Unauthenticated)),
            Arc::new(StaticTokenProvider::new("SECOND", later)),
        ]);
        assert_eq!(chain.token().await.unwrap().token, "SECOND");
        let chain = TokenChain::default()
            .with(Arc::new(Failing("alpha", ErrorKind::Unauthenticated)))
            .with(Arc::new(Failing("beta", ErrorKind::Timeout)))
            .for_service("Example", "sign in first");
        let e = chain.token().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        let m = e.message();
        assert!(m.starts_with("no Example credentials found"), "{m}");
        assert!(m.find("alpha (").unwrap() < m.find("beta (Timeout").unwrap(), "{m}");
        assert_eq!(e.hint(), "sign in first");
        assert_eq!(TokenChain::default().token().await.unwrap_err().kind(), ErrorKind::Unauthenticated);
    }
}
