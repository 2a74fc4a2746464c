//! S3 error codes -> `ErrorKind`.

use storage_core::{Error, ErrorKind};
use storage_http::{HttpResponse, kind_for_status, status_error};

use crate::driver::NAME;
use crate::xml::ErrorResponse;

/// The kind an S3 error code means; `None` for codes that only the status explains.
pub fn kind_for_code(code: &str) -> Option<ErrorKind> {
    Some(match code {
        "NoSuchBucket" => ErrorKind::ContainerDoesNotExist,
        "NoSuchKey" | "NoSuchVersion" | "NoSuchUpload" => ErrorKind::ObjectDoesNotExist,
        "BucketAlreadyOwnedByYou" | "BucketAlreadyExists" => ErrorKind::ContainerAlreadyExists,
        "InvalidBucketName" => ErrorKind::InvalidContainerName,
        "BucketNotEmpty" => ErrorKind::ContainerIsNotEmpty,
        "PreconditionFailed" | "ConditionalRequestConflict" => ErrorKind::PreconditionFailed,
        "NotModified" => ErrorKind::NotModified,
        "InvalidRange" => ErrorKind::InvalidRange,
        "AccessDenied" | "AllAccessDisabled" | "AccountProblem" | "InvalidObjectState" => ErrorKind::PermissionDenied,
        "SignatureDoesNotMatch"
        | "InvalidAccessKeyId"
        | "ExpiredToken"
        | "InvalidToken"
        | "TokenRefreshRequired"
        | "RequestTimeTooSkewed"
        | "NotSignedUp"
        | "MissingSecurityHeader"
        | "AuthorizationHeaderMalformed"
        | "InvalidSecurity"
        | "RequestExpired" => ErrorKind::Unauthenticated,
        "SlowDown" | "TooManyRequests" | "RequestLimitExceeded" | "Throttling" => ErrorKind::RateLimited,
        "RequestTimeout" => ErrorKind::Timeout,
        "BadDigest" | "InvalidDigest" | "XAmzContentSHA256Mismatch" | "InvalidChecksum" => {
            ErrorKind::ObjectHashMismatch
        }
        "KeyTooLongError" => ErrorKind::InvalidObjectName,
        "NotImplemented" | "MethodNotAllowed" => ErrorKind::NotSupported,
        "InternalError" | "ServiceUnavailable" => ErrorKind::Backend,
        _ => return None,
    })
}

/// Builds the error for a failed answer from its status, headers and XML body.
pub async fn from_response(resp: HttpResponse, operation: &str) -> Error {
    let status = resp.status.as_u16();
    let retries = resp.retries;
    let header_id = resp.header("x-amz-request-id").map(str::to_owned);
    let body = resp.bytes().await.unwrap_or_default();
    let doc = ErrorResponse::parse(&body).unwrap_or_default();
    let kind = doc.code.as_deref().and_then(kind_for_code).unwrap_or_else(|| kind_for_status(status));
    let request_id = doc.request_id.or(header_id);
    let mut e =
        status_error(kind, status, doc.code.as_deref(), doc.message.as_deref(), request_id.as_deref(), operation)
            .with_retries(retries);
    if matches!(doc.code.as_deref(), Some("SlowDown" | "InternalError" | "ServiceUnavailable" | "RequestTimeout")) {
        e = e.with_retryable(true);
    }
    e
}

/// The error a `200 OK` carries when its body is an `<Error>`: CopyObject, UploadPartCopy
/// and CompleteMultipartUpload can fail after the status line went out. `None` when the
/// body is not an `<Error>` document.
pub(crate) fn error_in_ok_body(body: &[u8], operation: &str) -> Option<Error> {
    let doc = ErrorResponse::parse(body)?;
    let code = doc.code.unwrap_or_default();
    let kind = kind_for_code(&code).unwrap_or(ErrorKind::Backend);
    Some(
        Error::new(kind, format!("{operation} failed: {code}: {}", doc.message.unwrap_or_default()))
            .with_provider_code(code)
            .with_driver(NAME),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds() {
        assert_eq!(kind_for_code("NoSuchBucket"), Some(ErrorKind::ContainerDoesNotExist));
        assert_eq!(kind_for_code("NoSuchKey"), Some(ErrorKind::ObjectDoesNotExist));
        assert_eq!(kind_for_code("BucketNotEmpty"), Some(ErrorKind::ContainerIsNotEmpty));
        assert_eq!(kind_for_code("SignatureDoesNotMatch"), Some(ErrorKind::Unauthenticated));
        assert_eq!(kind_for_code("InvalidAccessKeyId"), Some(ErrorKind::Unauthenticated));
        assert_eq!(kind_for_code("AccessDenied"), Some(ErrorKind::PermissionDenied));
        assert_eq!(kind_for_code("SlowDown"), Some(ErrorKind::RateLimited));
        assert_eq!(kind_for_code("BadDigest"), Some(ErrorKind::ObjectHashMismatch));
        assert_eq!(kind_for_code("Whatever"), None);
    }

    #[test]
    fn errors_in_ok_bodies_are_found() {
        let e = error_in_ok_body(b"<Error><Code>InternalError</Code><Message>retry</Message></Error>", "CopyObject")
            .unwrap();
        assert_eq!(e.kind(), ErrorKind::Backend);
        assert_eq!(e.provider_code(), Some("InternalError"));
        let e = error_in_ok_body(b"<Error><Code>InvalidPart</Code></Error>", "CompleteMultipartUpload").unwrap();
        assert!(e.to_string().contains("CompleteMultipartUpload failed: InvalidPart"), "{e}");
        assert!(error_in_ok_body(b"<CompleteMultipartUploadResponse/>", "x").is_none());
        assert!(error_in_ok_body(b"", "x").is_none());
    }
}
