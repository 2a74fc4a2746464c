//! Azure error codes (`x-ms-error-code`, or `<Code>` in the body) -> `ErrorKind`.

use storage_core::{Error, ErrorKind};
use storage_http::{HttpResponse, kind_for_status, status_error};

use crate::xml::ErrorDoc;

/// The kind an Azure error code means; `None` for codes only the status explains.
pub fn kind_for_code(code: &str) -> Option<ErrorKind> {
    Some(match code {
        "ContainerNotFound" => ErrorKind::ContainerDoesNotExist,
        "BlobNotFound" | "ResourceNotFound" | "CannotVerifyCopySource" => ErrorKind::ObjectDoesNotExist,
        "ContainerAlreadyExists" | "ContainerBeingDeleted" => ErrorKind::ContainerAlreadyExists,
        "InvalidResourceName" => ErrorKind::InvalidContainerName,
        "ConditionNotMet"
        | "TargetConditionNotMet"
        | "SourceConditionNotMet"
        | "BlobAlreadyExists"
        | "LeaseIdMissing"
        | "LeaseIdMismatchWithBlobOperation" => ErrorKind::PreconditionFailed,
        "InvalidRange" => ErrorKind::InvalidRange,
        "AuthenticationFailed" | "InvalidAuthenticationInfo" | "NoAuthenticationInformation" => {
            ErrorKind::Unauthenticated
        }
        "AuthorizationFailure"
        | "AuthorizationPermissionMismatch"
        | "AuthorizationResourceTypeMismatch"
        | "AuthorizationServiceMismatch"
        | "AuthorizationProtocolMismatch"
        | "AuthorizationSourceIPMismatch"
        | "InsufficientAccountPermissions"
        | "AccountIsDisabled"
        | "PublicAccessNotPermitted"
        | "BlobArchived" => ErrorKind::PermissionDenied,
        "ServerBusy" => ErrorKind::RateLimited,
        "OperationTimedOut" => ErrorKind::Timeout,
        "Md5Mismatch" | "Crc64Mismatch" | "InvalidMd5" => ErrorKind::ObjectHashMismatch,
        "InvalidBlockList" | "InvalidBlockId" | "BlockListTooLong" | "BlockCountExceedsLimit" => {
            ErrorKind::InvalidRange
        }
        "InvalidMetadata" | "MetadataTooLarge" | "InvalidHeaderValue" | "InvalidQueryParameterValue" => {
            ErrorKind::Config
        }
        "InvalidUri" | "OutOfRangeInput" => ErrorKind::InvalidObjectName,
        "FeatureVersionMismatch" | "UnsupportedHeader" | "NotImplemented" | "APINotImplemented" => {
            ErrorKind::NotSupported
        }
        "InternalError" => ErrorKind::Backend,
        _ => return None,
    })
}

/// Codes worth retrying even where the status alone would not say so.
fn retryable_code(code: &str) -> bool {
    matches!(code, "ServerBusy" | "OperationTimedOut" | "InternalError")
}

/// Builds the error for a failed answer from its status, `x-ms-error-code`,
/// `x-ms-request-id` and `<Error>` body (HEAD answers have no body).
pub async fn from_response(resp: HttpResponse, operation: &str) -> Error {
    let status = resp.status.as_u16();
    let retries = resp.retries;
    let header_code = resp.header("x-ms-error-code").map(str::to_owned);
    let request_id = resp.header("x-ms-request-id").map(str::to_owned);
    let body = resp.bytes().await.unwrap_or_default();
    let doc = ErrorDoc::parse(&body);
    let code = header_code.or(doc.code);
    // A 304 carries ConditionNotMet too: it is NotModified whatever the code.
    let kind = if status == 304 {
        ErrorKind::NotModified
    } else {
        code.as_deref().and_then(kind_for_code).unwrap_or_else(|| kind_for_status(status))
    };
    let mut e = status_error(kind, status, code.as_deref(), doc.message.as_deref(), request_id.as_deref(), operation)
        .with_retries(retries);
    if code.as_deref().is_some_and(retryable_code) {
        e = e.with_retryable(true);
    }
    if code.as_deref() == Some("BlobArchived") {
        e = e.with_hint(
            "the blob is in the Archive tier: rehydrate it (Set Blob Tier to Hot, Cool or Cold, which takes hours) or copy it to an online tier, then read it",
        );
    } else if kind == ErrorKind::Unauthenticated || kind == ErrorKind::PermissionDenied {
        e = e.with_hint(
            "check the account key, SAS token (its permissions and expiry) or the identity's role assignment",
        );
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds() {
        assert_eq!(kind_for_code("ContainerNotFound"), Some(ErrorKind::ContainerDoesNotExist));
        assert_eq!(kind_for_code("BlobNotFound"), Some(ErrorKind::ObjectDoesNotExist));
        assert_eq!(kind_for_code("ContainerAlreadyExists"), Some(ErrorKind::ContainerAlreadyExists));
        assert_eq!(kind_for_code("ConditionNotMet"), Some(ErrorKind::PreconditionFailed));
        assert_eq!(kind_for_code("BlobAlreadyExists"), Some(ErrorKind::PreconditionFailed));
        assert_eq!(kind_for_code("AuthenticationFailed"), Some(ErrorKind::Unauthenticated));
        assert_eq!(kind_for_code("AuthorizationPermissionMismatch"), Some(ErrorKind::PermissionDenied));
        assert_eq!(kind_for_code("ServerBusy"), Some(ErrorKind::RateLimited));
        assert_eq!(kind_for_code("OperationTimedOut"), Some(ErrorKind::Timeout));
        assert_eq!(kind_for_code("Md5Mismatch"), Some(ErrorKind::ObjectHashMismatch));
        assert_eq!(kind_for_code("Whatever"), None);
        assert!(retryable_code("ServerBusy") && !retryable_code("BlobNotFound"));
    }
}
