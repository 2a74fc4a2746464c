//! Caching tokens until shortly before they expire.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use storage_core::Result;
use tokio::sync::{Mutex, RwLock};

use super::{AccessToken, TokenProvider};

/// How long before its expiry a cached token is refreshed by default.
const DEFAULT_REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

/// Wraps a provider and keeps its token until it expires within the refresh window (5
/// minutes by default). Concurrent callers share one refresh; if a refresh fails while
/// the cached token still works, that one is answered; errors are never cached.
pub struct TokenCache {
    inner: Arc<dyn TokenProvider>,
    refresh_before: Duration,
    state: RwLock<Option<AccessToken>>,
    refresh: Mutex<()>,
}

impl TokenCache {
    /// Caches the tokens of `inner`.
    pub fn new(inner: Arc<dyn TokenProvider>) -> Self {
        TokenCache { inner, refresh_before: DEFAULT_REFRESH_BEFORE, state: RwLock::new(None), refresh: Mutex::new(()) }
    }

    /// Refreshes when the token expires within `window` instead of 5 minutes.
    pub fn with_refresh_window(mut self, window: Duration) -> Self {
        self.refresh_before = window;
        self
    }

    /// Forgets the cached token.
    pub async fn invalidate(&self) {
        *self.state.write().await = None;
    }

    async fn fresh(&self) -> Option<AccessToken> {
        self.state.read().await.as_ref().filter(|t| !t.expires_within(self.refresh_before)).cloned()
    }
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("inner", &self.inner)
            .field("refresh_before", &self.refresh_before)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl TokenProvider for TokenCache {
    async fn token(&self) -> Result<AccessToken> {
        if let Some(t) = self.fresh().await {
            return Ok(t);
        }
        let _refreshing = self.refresh.lock().await;
        // Someone refreshed while we waited.
        if let Some(t) = self.fresh().await {
            return Ok(t);
        }
        match self.inner.token().await {
            Ok(token) => {
                tracing::debug!(provider = self.inner.name(), expires_at = %token.expires_at, "token refreshed");
                *self.state.write().await = Some(token.clone());
                Ok(token)
            }
            Err(e) => match self.state.read().await.as_ref().filter(|t| !t.expires_within(Duration::ZERO)) {
                Some(t) => {
                    tracing::debug!(error = %e.message(), "refreshing the token failed; using the cached one until it expires");
                    Ok(t.clone())
                }
                None => Err(e),
            },
        }
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }

    /// Drops `token` if it is still the one kept (when several requests were refused with
    /// it at once, the first to come here makes the next caller refresh, and the others
    /// keep the token that refresh brings). The inner provider is asked to forget it too;
    /// a new token may then come whatever it answers.
    async fn forget(&self, token: &str) -> bool {
        let mut state = self.state.write().await;
        if state.as_ref().is_some_and(|t| t.token == token) {
            *state = None;
            drop(state);
            tracing::debug!(provider = self.inner.name(), "the server refused the cached token; it is dropped");
            self.inner.forget(token).await;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use chrono::{TimeDelta, Utc};
    use storage_core::{Error, ErrorKind};

    use super::*;

    #[derive(Debug, Default)]
    struct Counting {
        calls: AtomicUsize,
        lifetime_minutes: Vec<i64>,
        fail_from: Option<usize>,
    }

    #[async_trait]
    impl TokenProvider for Counting {
        async fn token(&self) -> Result<AccessToken> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            if self.fail_from.is_some_and(|f| n >= f) {
                return Err(Error::new(ErrorKind::Io, "down"));
            }
            let life = self.lifetime_minutes.get(n).or(self.lifetime_minutes.last()).copied().unwrap_or(60);
            Ok(AccessToken::new(format!("T{n}"), Utc::now() + TimeDelta::minutes(life)))
        }
    }

    #[tokio::test]
    async fn tokens_are_kept_until_near_expiry() {
        let inner = Arc::new(Counting { lifetime_minutes: vec![2, 60], ..Default::default() });
        let cache = TokenCache::new(inner.clone());
        assert_eq!(cache.token().await.unwrap().token, "T0");
        assert_eq!(cache.token().await.unwrap().token, "T1");
        assert_eq!(cache.token().await.unwrap().token, "T1");
        assert_eq!(inner.calls.load(Ordering::SeqCst), 2);
        cache.invalidate().await;
        assert_eq!(cache.token().await.unwrap().token, "T2");
    }

    #[tokio::test]
    async fn a_refused_token_is_dropped_only_while_it_is_the_one_kept() {
        let inner = Arc::new(Counting::default());
        let cache = TokenCache::new(inner.clone());
        assert_eq!(cache.token().await.unwrap().token, "T0");
        assert!(cache.forget("T0").await);
        assert_eq!(cache.token().await.unwrap().token, "T1");
        // A late refusal of the old token (a request sent before the refresh) keeps T1.
        assert!(cache.forget("T0").await);
        assert_eq!(cache.token().await.unwrap().token, "T1");
        assert_eq!(inner.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_refresh_serves_the_unexpired_token_and_errors_are_not_cached() {
        let inner = Arc::new(Counting { lifetime_minutes: vec![2], fail_from: Some(1), ..Default::default() });
        let cache = TokenCache::new(inner.clone());
        assert_eq!(cache.token().await.unwrap().token, "T0");
        assert_eq!(cache.token().await.unwrap().token, "T0");
        let inner = Arc::new(Counting { fail_from: Some(0), ..Default::default() });
        let cache = TokenCache::new(inner.clone());
        assert!(cache.token().await.is_err());
        assert!(cache.token().await.is_err());
        assert_eq!(inner.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_one_refresh() {
        let inner = Arc::new(Counting::default());
        let cache = Arc::new(TokenCache::new(inner.clone()));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.token().await.unwrap().token })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), "T0");
        }
        assert_eq!(inner.calls.load(Ordering::SeqCst), 1);
    }
}
