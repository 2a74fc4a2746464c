//! Caching credentials until they are about to expire.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use storage_core::Result;
use tokio::sync::{Mutex, RwLock};

use super::{Credentials, CredentialsProvider};

/// How long before their expiry cached credentials are refreshed by default.
const DEFAULT_REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

#[derive(Default)]
struct State {
    credentials: Option<Credentials>,
    /// Bumped on every refresh, so callers that waited for one can use its result.
    generation: u64,
}

/// Wraps a provider and keeps its answer: credentials without an expiry are kept
/// forever, temporary ones until they expire within the refresh window (5 minutes by
/// default). Concurrent callers share one refresh. If a refresh fails while the cached
/// credentials have not expired yet, those are answered; errors are never cached.
pub struct CachingProvider {
    inner: Arc<dyn CredentialsProvider>,
    refresh_before: Duration,
    state: RwLock<State>,
    refresh: Mutex<()>,
}

impl CachingProvider {
    /// Caches the answers of `inner`.
    pub fn new(inner: Arc<dyn CredentialsProvider>) -> Self {
        CachingProvider {
            inner,
            refresh_before: DEFAULT_REFRESH_BEFORE,
            state: RwLock::new(State::default()),
            refresh: Mutex::new(()),
        }
    }

    /// Refreshes when the credentials expire within `window` instead of 5 minutes.
    pub fn with_refresh_window(mut self, window: Duration) -> Self {
        self.refresh_before = window;
        self
    }

    /// Forgets the cached credentials, so the next call asks the inner provider (after
    /// the backend rejected them as expired, for instance).
    pub async fn invalidate(&self) {
        let mut state = self.state.write().await;
        state.credentials = None;
        state.generation += 1;
    }

    /// The cached credentials if they are fresh, and the current generation.
    async fn cached(&self) -> (Option<Credentials>, u64) {
        let state = self.state.read().await;
        let fresh = state.credentials.as_ref().filter(|c| !c.expires_within(self.refresh_before)).cloned();
        (fresh, state.generation)
    }
}

impl fmt::Debug for CachingProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingProvider")
            .field("inner", &self.inner)
            .field("refresh_before", &self.refresh_before)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl CredentialsProvider for CachingProvider {
    async fn credentials(&self) -> Result<Credentials> {
        let (fresh, seen) = self.cached().await;
        if let Some(credentials) = fresh {
            return Ok(credentials);
        }
        let _refreshing = self.refresh.lock().await;
        {
            // Someone refreshed while we waited: use that answer unless it is already
            // expired (short-lived credentials would otherwise refresh once per caller).
            let state = self.state.read().await;
            if let Some(c) = state.credentials.as_ref()
                && (!c.expires_within(self.refresh_before)
                    || (state.generation != seen && !c.expires_within(Duration::ZERO)))
            {
                return Ok(c.clone());
            }
        }
        match self.inner.credentials().await {
            Ok(credentials) => {
                tracing::debug!(provider = self.inner.name(), expires_at = ?credentials.expires_at, "AWS credentials refreshed");
                let mut state = self.state.write().await;
                state.credentials = Some(credentials.clone());
                state.generation += 1;
                Ok(credentials)
            }
            Err(e) => {
                let state = self.state.read().await;
                match state.credentials.as_ref().filter(|c| !c.expires_within(Duration::ZERO)) {
                    Some(c) => {
                        tracing::debug!(error = %e.message(), "refreshing AWS credentials failed; using the cached ones until they expire");
                        Ok(c.clone())
                    }
                    None => Err(e),
                }
            }
        }
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use chrono::{TimeDelta, Utc};
    use storage_core::{Error, ErrorKind};

    use super::*;

    /// Counts calls; answers credentials expiring after `lifetimes[call]` (the last one
    /// repeats; `None` = no expiry), or fails when `fail` is set.
    #[derive(Debug, Default)]
    struct Counting {
        calls: AtomicUsize,
        lifetimes: Vec<Option<TimeDelta>>,
        fail_from: Option<usize>,
    }

    #[async_trait]
    impl CredentialsProvider for Counting {
        async fn credentials(&self) -> Result<Credentials> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            if self.fail_from.is_some_and(|f| n >= f) {
                return Err(Error::new(ErrorKind::Io, "down"));
            }
            let life = self.lifetimes.get(n).or(self.lifetimes.last()).copied().flatten();
            let c = Credentials::new(format!("AK{n}"), "s", None);
            Ok(match life {
                Some(l) => c.with_expiry(Utc::now() + l),
                None => c,
            })
        }
    }

    #[tokio::test]
    async fn cache_keeps_static_credentials_forever() {
        let inner = Arc::new(Counting { lifetimes: vec![None], ..Default::default() });
        let cache = CachingProvider::new(inner.clone());
        for _ in 0..5 {
            assert_eq!(cache.credentials().await.unwrap().access_key_id, "AK0");
        }
        assert_eq!(inner.calls.load(Ordering::SeqCst), 1);
        cache.invalidate().await;
        assert_eq!(cache.credentials().await.unwrap().access_key_id, "AK1");
    }

    #[tokio::test]
    async fn cache_refreshes_near_expiry_only() {
        // First answer expires in 2 minutes (inside the 5-minute window), the next in an hour.
        let inner = Arc::new(Counting {
            lifetimes: vec![Some(TimeDelta::minutes(2)), Some(TimeDelta::hours(1))],
            ..Default::default()
        });
        let cache = CachingProvider::new(inner.clone());
        assert_eq!(cache.credentials().await.unwrap().access_key_id, "AK0");
        assert_eq!(cache.credentials().await.unwrap().access_key_id, "AK1");
        assert_eq!(cache.credentials().await.unwrap().access_key_id, "AK1");
        assert_eq!(inner.calls.load(Ordering::SeqCst), 2);
        // A smaller window keeps the 2-minute credentials.
        let inner = Arc::new(Counting { lifetimes: vec![Some(TimeDelta::minutes(2))], ..Default::default() });
        let cache = CachingProvider::new(inner.clone()).with_refresh_window(Duration::from_secs(60));
        cache.credentials().await.unwrap();
        cache.credentials().await.unwrap();
        assert_eq!(inner.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn cache_serves_unexpired_credentials_when_refresh_fails() {
        let inner = Arc::new(Counting {
            lifetimes: vec![Some(TimeDelta::minutes(2))],
            fail_from: Some(1),
            ..Default::default()
        });
        let cache = CachingProvider::new(inner.clone());
        assert_eq!(cache.credentials().await.unwrap().access_key_id, "AK0");
        assert_eq!(cache.credentials().await.unwrap().access_key_id, "AK0");
        assert_eq!(inner.calls.load(Ordering::SeqCst), 2);
        // Errors are not cached, and without usable credentials they surface.
        let inner = Arc::new(Counting { fail_from: Some(0), ..Default::default() });
        let cache = CachingProvider::new(inner.clone());
        assert_eq!(cache.credentials().await.unwrap_err().kind(), ErrorKind::Io);
        assert_eq!(cache.credentials().await.unwrap_err().kind(), ErrorKind::Io);
        assert_eq!(inner.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cache_concurrent_callers_share_one_refresh() {
        let inner = Arc::new(Counting { lifetimes: vec![Some(TimeDelta::hours(1))], ..Default::default() });
        let cache = Arc::new(CachingProvider::new(inner.clone()));
        let start = Arc::new(tokio::sync::Barrier::new(16));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (cache, start) = (cache.clone(), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    cache.credentials().await.unwrap().access_key_id
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), "AK0");
        }
        assert_eq!(inner.calls.load(Ordering::SeqCst), 1);
    }
}
