//! What Redis answers, as `storage_core` errors: [`map_error`] maps a Redis error (auth,
//! timeout, I/O, server codes such as `OOM`, `READONLY`, `NOPERM`, `CLUSTERDOWN`) onto an
//! [`ErrorKind`] with a message naming the server and never the password; [`retry`]
//! retries the transient ones with the kit's backoff; the named constructors give the
//! driver's own answers (no container, no object, no upload, an unexpected script reply,
//! an MD5 mismatch) the same words everywhere.
//!
//! Separate so that every operation file maps failures the same way, and a reader looking
//! for "what does the Redis driver answer when..." finds it in one place.

use std::future::Future;
use std::time::Duration;

use redis::{ErrorKind as RedisKind, RedisError, ServerErrorKind};
use storage_core::MultipartUpload;
use storage_core::kit::{Error, ErrorKind, full_jitter};

use crate::core::NAME;

/// Where requests go, for error messages: `host:port` or the cluster's seed nodes.
/// Never holds a password.
pub(crate) type Endpoint = str;

/// Whether retrying the same idempotent request may succeed.
pub(crate) fn is_transient(e: &RedisError) -> bool {
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() {
        return true;
    }
    matches!(
        e.kind(),
        RedisKind::ClusterConnectionNotFound
            | RedisKind::Server(
                ServerErrorKind::TryAgain
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::BusyLoading
            )
    )
}

/// Removes `secret` from `text`, in case a server or library echoed it.
fn scrub(text: String, secret: Option<&str>) -> String {
    match secret {
        Some(s) if !s.is_empty() && text.contains(s) => text.replace(s, "<redacted>"),
        _ => text,
    }
}

/// Maps a Redis error to a storage error. `endpoint` names the server (`host:port`),
/// `secret` is the password to scrub from messages.
pub(crate) fn map_error(e: &RedisError, endpoint: &Endpoint, secret: Option<&str>) -> Error {
    let detail = scrub(e.to_string(), secret);
    let code = e.code().map(str::to_owned);
    let auth = matches!(e.kind(), RedisKind::AuthenticationFailed)
        || matches!(code.as_deref(), Some("NOAUTH" | "WRONGPASS"))
        || detail.contains("WRONGPASS")
        || detail.contains("NOAUTH");
    let err = if auth {
        Error::new(
            ErrorKind::Unauthenticated,
            format!("Redis at {endpoint} refused the credentials (check the username and password): {detail}"),
        )
        .with_retryable(false)
    } else if e.is_timeout() {
        Error::new(ErrorKind::Timeout, format!("Redis at {endpoint} did not answer in time: {detail}"))
            .with_retryable(true)
    } else if e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() {
        Error::new(ErrorKind::Io, format!("cannot talk to Redis at {endpoint}: {detail}")).with_retryable(true)
    } else {
        match (e.kind(), code.as_deref()) {
            (_, Some("NOPERM")) => Error::new(
                ErrorKind::PermissionDenied,
                format!("the Redis user may not run this command at {endpoint}: {detail}"),
            ),
            (_, Some("OOM")) => Error::new(
                ErrorKind::Backend,
                format!(
                    "Redis at {endpoint} is out of memory (used memory > 'maxmemory'); raise maxmemory or free \
                     space: {detail}"
                ),
            ),
            (_, Some("READONLY")) => Error::new(
                ErrorKind::Backend,
                format!("Redis at {endpoint} is a read-only replica; point the driver at the primary: {detail}"),
            ),
            (
                RedisKind::Server(
                    ServerErrorKind::ClusterDown
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::BusyLoading,
                ),
                Some(c),
            ) => Error::new(ErrorKind::Backend, format!("Redis at {endpoint} is not ready ({c}): {detail}"))
                .with_retryable(true),
            (RedisKind::ClusterConnectionNotFound, _) => {
                Error::new(ErrorKind::Io, format!("no connection to the Redis cluster node at {endpoint}: {detail}"))
                    .with_retryable(true)
            }
            (RedisKind::InvalidClientConfig, _) => {
                Error::new(ErrorKind::Config, format!("invalid Redis configuration for {endpoint}: {detail}"))
            }
            _ => Error::new(ErrorKind::Backend, format!("Redis at {endpoint} failed: {detail}")),
        }
    };
    let err = match code {
        Some(c) => err.with_provider_code(c),
        None => err,
    };
    err.with_driver(NAME)
}

/// `ContainerDoesNotExist`, as the memory driver words it.
pub(crate) fn no_container(name: &str) -> Error {
    Error::container_not_found(NAME, name)
}

/// `ObjectDoesNotExist`.
pub(crate) fn no_object(container: &str, key: &str) -> Error {
    Error::object_not_found(NAME, container, key)
}

/// `ObjectDoesNotExist` with provider code `NoSuchUpload`.
pub(crate) fn no_upload(upload: &MultipartUpload) -> Error {
    Error::new(ErrorKind::ObjectDoesNotExist, format!("multipart upload {:?} does not exist", upload.upload_id))
        .with_driver(NAME)
        .with_object(&upload.container, &upload.key)
        .with_provider_code("NoSuchUpload")
}

/// Adds driver, container and key to an error that lacks them.
pub(crate) fn ctx<'a>(container: &'a str, key: Option<&'a str>) -> impl Fn(Error) -> Error + 'a {
    move |e| e.or_context(NAME, Some(container), key)
}

/// An unexpected script reply.
pub(crate) fn bad_reply(what: &str) -> Error {
    Error::new(ErrorKind::Backend, format!("unexpected reply from the {what} script")).with_driver(NAME)
}

/// How transient failures of idempotent steps are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Attempts in total (at least 1).
    pub attempts: u32,
    /// Delay before the first retry; doubles each time, with jitter.
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl RetryPolicy {
    /// The delay before retry number `n` (0-based): the kit's one backoff,
    /// [`full_jitter`].
    pub(crate) fn delay(&self, n: u32) -> Duration {
        full_jitter(self.base, self.max, n)
    }
}

/// Runs `op` until it succeeds, fails with a non-transient error, or runs out of attempts.
/// Returns the error with the number of retries made.
pub(crate) async fn retry<T, F, Fut>(policy: RetryPolicy, mut op: F) -> Result<T, (RedisError, u32)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RedisError>>,
{
    let mut n = 0;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if n + 1 < policy.attempts.max(1) && is_transient(&e) => {
                tracing::info!(driver = NAME, retry = n + 1, error = %e, "transient Redis error, retrying");
                tokio::time::sleep(policy.delay(n)).await;
                n += 1;
            }
            Err(e) => return Err((e, n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(reply: &str) -> RedisError {
        redis::parse_redis_value(format!("-{reply}\r\n").as_bytes()).unwrap().extract_error().unwrap_err()
    }

    fn map(e: &RedisError) -> Error {
        map_error(e, "127.0.0.1:6379", Some("hunter2"))
    }

    #[test]
    fn io_errors_are_retryable_and_name_the_server() {
        let e = RedisError::from(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused"));
        assert!(is_transient(&e));
        let m = map(&e);
        assert_eq!(m.kind(), ErrorKind::Io);
        assert!(m.is_retryable());
        assert!(m.message().contains("127.0.0.1:6379"), "{m}");
        let t = RedisError::from(std::io::Error::new(std::io::ErrorKind::TimedOut, "slow"));
        assert_eq!(map(&t).kind(), ErrorKind::Timeout);
    }

    #[test]
    fn auth_failures_are_unauthenticated() {
        for reply in
            ["WRONGPASS invalid username-password pair or user is disabled.", "NOAUTH Authentication required."]
        {
            let m = map(&server(reply));
            assert_eq!(m.kind(), ErrorKind::Unauthenticated, "{m}");
            assert!(!m.is_retryable());
        }
        let e = RedisError::from((redis::ErrorKind::AuthenticationFailed, "Password authentication failed"));
        assert_eq!(map(&e).kind(), ErrorKind::Unauthenticated);
    }

    #[test]
    fn server_codes_map_to_backend_with_provider_code() {
        let m = map(&server("OOM command not allowed when used memory > 'maxmemory'."));
        assert_eq!((m.kind(), m.provider_code()), (ErrorKind::Backend, Some("OOM")));
        assert!(m.message().contains("maxmemory"), "{m}");
        assert!(!m.is_retryable());
        let m = map(&server("READONLY You can't write against a read only replica."));
        assert_eq!((m.kind(), m.provider_code()), (ErrorKind::Backend, Some("READONLY")));
        for reply in ["CLUSTERDOWN The cluster is down", "TRYAGAIN Multiple keys request", "MASTERDOWN Link down"] {
            let e = server(reply);
            assert!(is_transient(&e), "{reply}");
            let m = map(&e);
            assert_eq!(m.kind(), ErrorKind::Backend, "{reply}");
            assert!(m.is_retryable(), "{reply}");
            assert_eq!(m.provider_code(), reply.split(' ').next());
        }
        let m = map(&server("NOPERM this user has no permissions to run the 'get' command"));
        assert_eq!(m.kind(), ErrorKind::PermissionDenied);
        let m = map(&server("ERR unknown command"));
        assert_eq!((m.kind(), m.provider_code()), (ErrorKind::Backend, Some("ERR")));
        assert!(!is_transient(&server("ERR unknown command")));
    }

    #[test]
    fn secrets_are_scrubbed() {
        let e = server("ERR something about hunter2");
        let m = map(&e);
        assert!(!m.to_string().contains("hunter2"), "{m}");
        assert!(!format!("{m:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn retries_transient_errors_only() {
        let policy = RetryPolicy { attempts: 3, base: Duration::from_millis(1), max: Duration::from_millis(2) };
        let mut calls = 0;
        let r: Result<(), _> = retry(policy, || {
            calls += 1;
            async { Err(server("TRYAGAIN later")) }
        })
        .await;
        assert_eq!(r.unwrap_err().1, 2);
        assert_eq!(calls, 3);
        let mut calls = 0;
        let r: Result<(), _> = retry(policy, || {
            calls += 1;
            async { Err(server("ERR nope")) }
        })
        .await;
        assert_eq!(r.unwrap_err().1, 0);
        assert_eq!(calls, 1);
        for n in 0..20 {
            assert!(policy.delay(n) <= Duration::from_millis(2));
        }
    }
}
