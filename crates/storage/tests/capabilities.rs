//! Capabilities are opt-in: every built-in driver claims exactly the capabilities listed
//! here, reviewed one by one. A capability added to `Capabilities` is off for every driver
//! (they start from `Capabilities::NONE`), so these lists stay true until a driver claims
//! it on purpose, and this test is where the claim is reviewed.
#![cfg(feature = "full")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use storage::{Capabilities, DriverConfig};

const MEMORY: &[&str] = &[
    "list_containers",
    "manage_containers",
    "any_delimiter",
    "start_after",
    "ranges",
    "suffix_ranges",
    "conditional_get_etag",
    "conditional_get_time",
    "put_if_absent",
    "put_if_match",
    "put_content_md5",
    "copy",
    "copy_if_absent",
    "batch_delete",
    "multipart",
    "list_multipart",
    "user_metadata",
    "content_headers",
    "md5_hash",
    "versions",
    "refuses_nonempty_delete",
    "key_and_prefix",
    "verbatim_keys",
    "container_checked",
    "atomic_conditional_put",
    "multipart_md5",
    "parallel_upload",
];
const LOCAL: &[&str] = &[
    "list_containers",
    "manage_containers",
    "any_delimiter",
    "start_after",
    "ranges",
    "suffix_ranges",
    "conditional_get_etag",
    "conditional_get_time",
    "put_if_absent",
    "put_if_match",
    "put_content_md5",
    "copy",
    "copy_if_absent",
    "multipart",
    "list_multipart",
    "cdn",
    "object_cdn_url",
    "user_metadata",
    "content_headers",
    "md5_hash",
    "refuses_nonempty_delete",
    "verbatim_keys",
    "container_checked",
    "atomic_conditional_put",
    "multipart_md5",
];
const S3: &[&str] = &[
    "list_containers",
    "manage_containers",
    "any_delimiter",
    "start_after",
    "ranges",
    "suffix_ranges",
    "conditional_get_etag",
    "conditional_get_time",
    "put_if_absent",
    "put_if_match",
    "put_content_md5",
    "copy",
    "batch_delete",
    "multipart",
    "list_multipart",
    "signed_urls",
    "object_cdn_url",
    "user_metadata",
    "content_headers",
    "md5_hash",
    "refuses_nonempty_delete",
    "key_and_prefix",
    "verbatim_keys",
    "container_checked",
    "atomic_conditional_put",
    "parallel_upload",
];
const REDIS: &[&str] = &[
    "list_containers",
    "manage_containers",
    "any_delimiter",
    "start_after",
    "ranges",
    "suffix_ranges",
    "conditional_get_etag",
    "conditional_get_time",
    "put_if_absent",
    "put_if_match",
    "put_content_md5",
    "copy",
    "copy_if_absent",
    "batch_delete",
    "multipart",
    "list_multipart",
    "user_metadata",
    "content_headers",
    "md5_hash",
    "versions",
    "refuses_nonempty_delete",
    "key_and_prefix",
    "verbatim_keys",
    "container_checked",
    "atomic_conditional_put",
    "parallel_upload",
];

fn claimed(driver: &str, options: DriverConfig) -> Vec<&'static str> {
    let d = storage::registry().build(driver, &options).unwrap_or_else(|e| panic!("{driver}: {e}"));
    d.info().capabilities.claimed()
}

#[test]
fn every_driver_claims_exactly_its_reviewed_capabilities() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(claimed("memory", DriverConfig::new()), MEMORY);
    assert_eq!(claimed("local", DriverConfig::new().set("root", dir.path().to_string_lossy())), LOCAL);
    // Building these connects to nothing.
    let s3 = DriverConfig::new()
        .set("endpoint", "http://127.0.0.1:1")
        .set("region", "us-east-1")
        .set("access_key_id", "AKIDEXAMPLE")
        .set("secret_access_key", "not-a-secret");
    assert_eq!(claimed("s3", s3), S3);
    assert_eq!(claimed("redis", DriverConfig::new().set("url", "redis://127.0.0.1:1")), REDIS);
}

#[test]
fn the_lists_name_real_capabilities_and_none_claims_nothing() {
    for name in MEMORY.iter().chain(LOCAL).chain(S3).chain(REDIS) {
        assert!(Capabilities::NAMES.contains(name), "{name}");
    }
    assert!(Capabilities::NONE.claimed().is_empty());
}
