//! GCS error reasons (the JSON error body) -> `ErrorKind`.

use storage_core::{Error, ErrorKind};
use storage_http::{HttpResponse, kind_for_status, status_error};

use crate::json::ErrorBody;

/// The kind a GCS error reason means; `None` for reasons only the status explains.
pub fn kind_for_reason(reason: &str) -> Option<ErrorKind> {
    Some(match reason {
        "conditionNotMet" => ErrorKind::PreconditionFailed,
        "notModified" => ErrorKind::NotModified,
        "requestedRangeNotSatisfiable" | "rangeNotSatisfiable" => ErrorKind::InvalidRange,
        "forbidden" | "insufficientPermissions" | "accountDisabled" | "userProjectMissing" => {
            ErrorKind::PermissionDenied
        }
        "required" | "authError" | "unauthorized" | "expired" | "invalidCredentials" => ErrorKind::Unauthenticated,
        "rateLimitExceeded" | "userRateLimitExceeded" | "quotaExceeded" | "tooManyRequests" => ErrorKind::RateLimited,
        "backendError" | "internalError" => ErrorKind::Backend,
        "invalidBucketName" => ErrorKind::InvalidContainerName,
        "invalidObjectName" => ErrorKind::InvalidObjectName,
        "notImplemented" => ErrorKind::NotSupported,
        _ => return None,
    })
}

/// Why GCS refused to make something public or to take an ACL, from its message: the
/// kind that says so (not the status's: a 400 is no bad request of ours, a 412 no failed
/// precondition) and a hint.
fn policy_refusal(message: &str) -> Option<(ErrorKind, &'static str)> {
    if message.contains("uniform bucket-level access") {
        return Some((
            ErrorKind::NotSupported,
            "the bucket uses uniform bucket-level access, which has no object ACLs (a predefined ACL on a write, \
             enable_object_cdn): write without an ACL, and grant access with the bucket's IAM policy \
             (enable_container_cdn makes the whole bucket publicly readable)",
        ));
    }
    if message.contains("public access prevention") {
        return Some((
            ErrorKind::PermissionDenied,
            "the bucket, or its project or organization, enforces public access prevention: nothing in it can be \
             made public (allUsers, allAuthenticatedUsers)",
        ));
    }
    None
}

/// Builds the error for a failed answer from its status, JSON body and request id.
pub async fn from_response(resp: HttpResponse, operation: &str) -> Error {
    let status = resp.status.as_u16();
    let retries = resp.retries;
    let request_id = resp.header("x-guploader-uploadid").map(str::to_owned);
    let body = resp.bytes().await.unwrap_or_default();
    let doc = ErrorBody::parse(&body);
    let reason = doc.reason().map(str::to_owned);
    let refusal = doc.error.message.as_deref().and_then(policy_refusal);
    let kind = if status == 304 {
        ErrorKind::NotModified
    } else if let Some((kind, _)) = refusal {
        kind
    } else {
        reason.as_deref().and_then(kind_for_reason).unwrap_or_else(|| kind_for_status(status))
    };
    let mut e =
        status_error(kind, status, reason.as_deref(), doc.error.message.as_deref(), request_id.as_deref(), operation)
            .with_retries(retries);
    if let Some((_, hint)) = refusal {
        e = e.with_hint(hint);
    } else if kind == ErrorKind::Unauthenticated || kind == ErrorKind::PermissionDenied {
        e = e.with_hint("check the credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud auth application-default login) and the account's IAM roles on the bucket");
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_map_to_kinds() {
        assert_eq!(kind_for_reason("conditionNotMet"), Some(ErrorKind::PreconditionFailed));
        assert_eq!(kind_for_reason("rateLimitExceeded"), Some(ErrorKind::RateLimited));
        assert_eq!(kind_for_reason("forbidden"), Some(ErrorKind::PermissionDenied));
        assert_eq!(kind_for_reason("notFound"), None);
        assert_eq!(kind_for_reason("conflict"), None);
    }

    #[test]
    fn policy_refusals_are_recognised_by_their_message() {
        let ubla = "Cannot insert legacy ACL for an object when uniform bucket-level access is enabled. Read more at \
                    https://cloud.google.com/storage/docs/uniform-bucket-level-access";
        assert_eq!(policy_refusal(ubla).map(|r| r.0), Some(ErrorKind::NotSupported));
        let pap = "The member bindings allUsers and allAuthenticatedUsers are not allowed since public access \
                   prevention is enforced.";
        assert_eq!(policy_refusal(pap).map(|r| r.0), Some(ErrorKind::PermissionDenied));
        assert_eq!(policy_refusal("Invalid argument."), None);
    }
}
