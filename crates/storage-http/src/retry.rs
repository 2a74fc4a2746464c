//! Backoff with full jitter, and `Retry-After`.

use std::time::{Duration, SystemTime};

use http::HeaderMap;

use crate::config::RetryConfig;

/// The delay before retry number `retry` (0-based): [`storage_core::kit::full_jitter`]
/// with the configured initial and maximum backoff.
pub fn backoff(config: &RetryConfig, retry: u32) -> Duration {
    storage_core::kit::full_jitter(config.initial_backoff, config.max_backoff, retry)
}

/// The delay a `Retry-After` header asks for (seconds or an HTTP date).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// Whether a response status is worth retrying: 408, 429, and 5xx but 501.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429) || (500..600).contains(&status) && status != 501 && status != 505
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded() {
        let c = RetryConfig {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            ..Default::default()
        };
        for r in 0..30 {
            assert!(backoff(&c, r) <= Duration::from_secs(1));
        }
        assert!(backoff(&c, 0) <= Duration::from_millis(100));
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(http::header::RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        assert!(
            is_retryable_status(503)
                && is_retryable_status(429)
                && !is_retryable_status(501)
                && !is_retryable_status(404)
        );
    }
}
