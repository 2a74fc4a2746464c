//! WebDAV and HTTP answers -> [`ErrorKind`].
//!
//! WebDAV servers say little beyond the status (Apache sends an HTML page, rclone a word
//! of text), so the status decides the kind; the operations that know what a status
//! means for them (a 409 to a PUT is a missing parent collection, a 405 to a MKCOL an
//! existing one) handle it before falling back to the status's kind ([`kind_for_status`]).

use storage_core::{Error, ErrorKind};
use storage_http::{HttpResponse, status_error};

/// The kind an HTTP status means to a WebDAV client when the operation says nothing more
/// precise.
pub fn kind_for_status(status: u16) -> ErrorKind {
    match status {
        304 => ErrorKind::NotModified,
        401 => ErrorKind::Unauthenticated,
        // 423 Locked: another client holds a WebDAV lock on the resource.
        403 | 423 => ErrorKind::PermissionDenied,
        404 | 410 => ErrorKind::ObjectDoesNotExist,
        405 | 501 => ErrorKind::NotSupported,
        408 | 504 => ErrorKind::Timeout,
        // 424 Failed Dependency: part of a MOVE or COPY failed because another part did.
        412 | 424 => ErrorKind::PreconditionFailed,
        414 => ErrorKind::InvalidObjectName,
        416 => ErrorKind::InvalidRange,
        429 => ErrorKind::RateLimited,
        // 507 Insufficient Storage, 409 Conflict (what it means depends on the operation,
        // which handles it first) and any other status.
        _ => ErrorKind::Backend,
    }
}

/// A short, printable message from an error body: the first HTML paragraph (Apache's
/// pages), or the text itself (rclone's), tags stripped, at most 200 characters.
pub(crate) fn body_message(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let lower = text.to_ascii_lowercase();
    let inner = match (lower.find("<p>"), lower.find("</p>")) {
        (Some(start), Some(end)) if end > start => &text[start + 3..end],
        _ => &text[..],
    };
    let mut out = String::with_capacity(inner.len().min(256));
    let mut in_tag = false;
    for c in inner.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            _ if in_tag => {}
            c if c.is_whitespace() => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    let collapsed = out.split_whitespace().collect::<Vec<_>>().join(" ");
    let trimmed: String = collapsed.chars().take(200).collect();
    (!trimmed.is_empty()).then_some(trimmed)
}

/// The error for a failed answer to `operation`, from its status and body.
pub(crate) async fn from_response(resp: HttpResponse, operation: &str) -> Error {
    let status = resp.status.as_u16();
    let retries = resp.retries;
    let body = resp.bytes().await.unwrap_or_default();
    error_for(status, operation, body_message(&body).as_deref()).with_retries(retries)
}

/// The error for `status` answering `operation`, with the server's `message`.
pub(crate) fn error_for(status: u16, operation: &str, message: Option<&str>) -> Error {
    let kind = kind_for_status(status);
    let e = status_error(kind, status, None, message, None, operation);
    match status {
        401 | 403 => e.with_hint(
            "check the username and password (or the bearer token) and the server's access rules for this path",
        ),
        423 => e.with_hint("another WebDAV client holds a lock on this resource; retry once it is released"),
        507 => e.with_hint("the server is out of space (507 Insufficient Storage)").with_retryable(false),
        _ => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_kinds() {
        assert_eq!(kind_for_status(401), ErrorKind::Unauthenticated);
        assert_eq!(kind_for_status(403), ErrorKind::PermissionDenied);
        assert_eq!(kind_for_status(404), ErrorKind::ObjectDoesNotExist);
        assert_eq!(kind_for_status(412), ErrorKind::PreconditionFailed);
        assert_eq!(kind_for_status(416), ErrorKind::InvalidRange);
        assert_eq!(kind_for_status(423), ErrorKind::PermissionDenied);
        assert_eq!(kind_for_status(507), ErrorKind::Backend);
        assert_eq!(kind_for_status(503), ErrorKind::Backend);
        let e = error_for(507, "PUT", Some("no space"));
        assert!(e.hint().contains("out of space"), "{e}");
        assert!(!e.is_retryable());
        assert!(error_for(503, "GET", None).is_retryable());
    }

    #[test]
    fn messages_come_from_html_or_text_bodies() {
        let apache = b"<!DOCTYPE HTML><html><head><title>409 Conflict</title></head><body>\n<h1>Conflict</h1>\n<p>Cannot PUT to a\n collection.</p>\n</body></html>";
        assert_eq!(body_message(apache).as_deref(), Some("Cannot PUT to a collection."));
        assert_eq!(body_message(b"Conflict\n").as_deref(), Some("Conflict"));
        assert_eq!(body_message(b"  ").as_deref(), None);
        assert_eq!(body_message(&[b'x'; 500]).map(|m| m.len()), Some(200));
    }
}
