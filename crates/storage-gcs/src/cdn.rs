//! Libcloud's four CDN calls, as GCS has them: public reads. An object is made public
//! with an ACL entry (`objectAccessControls.insert`, `allUsers` `READER`), a bucket with
//! its IAM policy (`roles/storage.objectViewer` for `allUsers`), and the URLs are the
//! public ones (`https://storage.googleapis.com/BUCKET/KEY`, or the emulator's endpoint),
//! which serve anonymous reads once either call made the object readable. Google's CDN
//! (Cloud CDN in front of a backend bucket) is a load balancer setting, not a storage
//! call, so it is not configured here.
//!
//! Refusals are typed: a bucket with uniform bucket-level access has no object ACLs
//! (`NotSupported`, see [`crate::errors`]), public access prevention forbids both calls
//! (`PermissionDenied`), and a server without bucket IAM (fake-gcs-server) makes
//! `enable_container_cdn` `NotSupported`.

use http::Method;
use serde_json::{Value, json};
use storage_core::{Error, ErrorKind, Result};
use storage_http::http;

use crate::client::{Call, enc, enc_path};
use crate::containers;
use crate::driver::{GcsDriver, NAME};

/// The role that lets its members read every object of a bucket.
const OBJECT_VIEWER: &str = "roles/storage.objectViewer";
/// Everyone, signed in or not.
const ALL_USERS: &str = "allUsers";
/// Read-modify-write rounds of the IAM policy before a concurrent writer wins.
const POLICY_ROUNDS: u32 = 4;

/// `get_container_cdn_url`: the bucket's public URL (an object's is this, `/`, and its
/// encoded name).
pub(crate) async fn container_url(d: &GcsDriver, bucket: &str) -> Result<String> {
    d.check_bucket(bucket)?;
    Ok(format!("{}/{}", d.client.endpoint, enc(bucket)))
}

/// `get_object_cdn_url`: the object's public URL. No request is made; anonymous reads
/// succeed once the object or its bucket is public.
pub(crate) async fn object_url(d: &GcsDriver, bucket: &str, key: &str) -> Result<String> {
    d.check_key(bucket, key)?;
    Ok(format!("{}/{}/{}", d.client.endpoint, enc(bucket), enc_path(key)))
}

/// `enable_object_cdn`: an ACL entry giving `allUsers` `READER` on the object's live
/// generation (inserting it again changes nothing, so it is retried).
pub(crate) async fn enable_object(d: &GcsDriver, bucket: &str, key: &str) -> Result<()> {
    d.check_key(bucket, key)?;
    let call = Call::object("InsertObjectAcl", Method::POST, bucket, key, "/acl")
        .json(&json!({ "entity": ALL_USERS, "role": "READER" }))?
        .idempotent(true);
    match d.client.send(call).await {
        Ok(_) => Ok(()),
        Err(e) if e.status() == Some(404) => match containers::refine_not_found(d, e, bucket).await {
            e if e.kind() == ErrorKind::ContainerDoesNotExist => Err(e),
            _ => Err(Error::object_not_found(NAME, bucket, key).with_status(404)),
        },
        Err(e) => Err(e),
    }
}

/// `enable_container_cdn`: adds `allUsers` to the bucket IAM policy's unconditional
/// `roles/storage.objectViewer` binding (or a new one). The policy is read and written
/// back whole (version 3, so conditional bindings survive) with its `etag`, so a
/// concurrent change makes the write fail and the round start again.
pub(crate) async fn enable_container(d: &GcsDriver, bucket: &str) -> Result<()> {
    d.check_bucket(bucket)?;
    let mut round = 0;
    loop {
        round += 1;
        let get =
            Call::bucket("GetBucketIamPolicy", Method::GET, bucket, "/iam").query("optionsRequestedPolicyVersion", "3");
        let mut policy: Value = match d.client.send_json(get).await {
            Ok(p) => p,
            Err(e) => return Err(no_iam(d, e, bucket).await),
        };
        if !grant_public_read(&mut policy) {
            return Ok(());
        }
        let set = Call::bucket("SetBucketIamPolicy", Method::PUT, bucket, "/iam")
            .json(&policy)?
            // Conditional on the etag read (where the server sends one); the same grant twice is one grant.
            .idempotent(true);
        match d.client.send(set).await {
            Ok(_) => return Ok(()),
            Err(e)
                if round < POLICY_ROUNDS && (e.kind() == ErrorKind::PreconditionFailed || e.status() == Some(409)) =>
            {
                tracing::debug!(bucket, error = %e, "the bucket's IAM policy changed meanwhile; reading it again");
            }
            Err(e) => return Err(no_iam(d, e, bucket).await),
        }
    }
}

/// A 404 of the IAM calls: the bucket's absence, or a server without bucket IAM.
async fn no_iam(d: &GcsDriver, e: Error, bucket: &str) -> Error {
    if e.status() != Some(404) {
        return e;
    }
    let e = containers::refine_not_found(d, e, bucket).await;
    if e.kind() == ErrorKind::ContainerDoesNotExist {
        return e;
    }
    Error::new(ErrorKind::NotSupported, "this server has no bucket IAM policies, so the bucket cannot be made public")
        .with_status(404)
        .with_driver(NAME)
        .with_container(bucket)
        .with_source(e)
        .with_hint(
            "fake-gcs-server lacks buckets.getIamPolicy; make single objects public with enable_object_cdn instead",
        )
}

/// Adds `allUsers` to the unconditional object-viewer binding of `policy`; `false` when
/// it is already there (nothing to write).
fn grant_public_read(policy: &mut Value) -> bool {
    let Some(p) = policy.as_object_mut() else {
        *policy = json!({ "bindings": [{ "role": OBJECT_VIEWER, "members": [ALL_USERS] }] });
        return true;
    };
    // Answers carry `kind` and `resourceId`, which a write does not need.
    p.remove("kind");
    p.remove("resourceId");
    let bindings = p.entry("bindings").or_insert_with(|| json!([]));
    if !bindings.is_array() {
        *bindings = json!([]);
    }
    let Some(list) = bindings.as_array_mut() else { return false };
    let viewer = list
        .iter_mut()
        .find(|b| b.get("role").and_then(Value::as_str) == Some(OBJECT_VIEWER) && b.get("condition").is_none());
    match viewer {
        Some(b) => {
            let members = b.as_object_mut().map(|o| o.entry("members").or_insert_with(|| json!([])));
            match members.and_then(Value::as_array_mut) {
                Some(m) if m.iter().any(|x| x.as_str() == Some(ALL_USERS)) => false,
                Some(m) => {
                    m.push(json!(ALL_USERS));
                    true
                }
                None => {
                    *b = json!({ "role": OBJECT_VIEWER, "members": [ALL_USERS] });
                    true
                }
            }
        }
        None => {
            list.push(json!({ "role": OBJECT_VIEWER, "members": [ALL_USERS] }));
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_read_is_added_once_and_keeps_the_rest_of_the_policy() {
        let mut p = json!({
            "kind": "storage#policy", "resourceId": "projects/_/buckets/b", "version": 3, "etag": "CAE=",
            "bindings": [
                {"role": "roles/storage.legacyBucketOwner", "members": ["projectOwner:p"]},
                {"role": OBJECT_VIEWER, "members": ["user:a@example.com"], "condition": {"expression": "x"}}
            ]
        });
        assert!(grant_public_read(&mut p));
        assert_eq!(p["etag"], "CAE=");
        assert_eq!(p["version"], 3);
        assert!(p.get("kind").is_none());
        let b = p["bindings"].as_array().unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(b[1]["members"], json!(["user:a@example.com"]), "a conditional binding is left alone");
        assert_eq!(b[2], json!({"role": OBJECT_VIEWER, "members": [ALL_USERS]}));
        assert!(!grant_public_read(&mut p), "already granted");

        let mut p = json!({"bindings": [{"role": OBJECT_VIEWER, "members": ["group:g@example.com"]}]});
        assert!(grant_public_read(&mut p));
        assert_eq!(p["bindings"][0]["members"], json!(["group:g@example.com", ALL_USERS]));
        let mut p = json!({"etag": "x"});
        assert!(grant_public_read(&mut p));
        assert_eq!(p["bindings"], json!([{"role": OBJECT_VIEWER, "members": [ALL_USERS]}]));
    }
}
