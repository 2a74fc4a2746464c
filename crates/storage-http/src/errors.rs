//! Mapping HTTP answers onto `ErrorKind`.

use storage_core::{Error, ErrorKind};

/// The kind an HTTP status means when the provider's code says nothing more precise.
/// 404 maps to `ObjectDoesNotExist`; drivers turn it into `ContainerDoesNotExist` when
/// the provider code says the container is missing.
pub fn kind_for_status(status: u16) -> ErrorKind {
    match status {
        304 => ErrorKind::NotModified,
        401 => ErrorKind::Unauthenticated,
        403 => ErrorKind::PermissionDenied,
        404 => ErrorKind::ObjectDoesNotExist,
        405 | 501 => ErrorKind::NotSupported,
        408 | 504 => ErrorKind::Timeout,
        412 => ErrorKind::PreconditionFailed,
        416 => ErrorKind::InvalidRange,
        429 => ErrorKind::RateLimited,
        _ => ErrorKind::Backend,
    }
}

/// An error for a failed HTTP answer, with every field a user needs to act on it.
pub fn status_error(
    kind: ErrorKind,
    status: u16,
    provider_code: Option<&str>,
    message: Option<&str>,
    request_id: Option<&str>,
    operation: &str,
) -> Error {
    let what = match (provider_code, message) {
        (Some(c), Some(m)) if !m.is_empty() => format!("{operation} failed with HTTP {status} {c}: {m}"),
        (Some(c), _) => format!("{operation} failed with HTTP {status} {c}"),
        (None, Some(m)) if !m.is_empty() => format!("{operation} failed with HTTP {status}: {m}"),
        _ => format!("{operation} failed with HTTP {status}"),
    };
    let mut e = Error::new(kind, what).with_status(status).with_retryable(crate::retry::is_retryable_status(status));
    if let Some(c) = provider_code {
        e = e.with_provider_code(c);
    }
    if let Some(r) = request_id {
        e = e.with_request_id(r);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map() {
        assert_eq!(kind_for_status(412), ErrorKind::PreconditionFailed);
        assert_eq!(kind_for_status(503), ErrorKind::Backend);
        let e = status_error(
            ErrorKind::RateLimited,
            503,
            Some("SlowDown"),
            Some("Reduce your request rate"),
            Some("RID"),
            "PutObject",
        );
        assert!(e.is_retryable());
        assert_eq!(e.request_id(), Some("RID"));
        assert!(e.to_string().contains("PutObject failed with HTTP 503 SlowDown"), "{e}");
    }
}
