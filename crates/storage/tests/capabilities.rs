//! Capabilities are opt-in: every built-in driver claims exactly what is reviewed here
//! (every capability but those listed as off, each with its reason). Drivers start from
//! `Capabilities::NONE`, so a capability added to `Capabilities` is off for all of them,
//! and this test fails until each driver's entry says whether it claims it.
#![cfg(feature = "full")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use storage::{Capabilities, DriverConfig};

/// Every capability but `off`, in declaration order. A capability added to the struct
/// shows up here for every driver, so this test fails until each driver's list below is
/// reviewed (the capability claimed by the driver, or named in its `off` list).
fn all_but(off: &[&str]) -> Vec<&'static str> {
    for name in off {
        assert!(Capabilities::NAMES.contains(name), "{name} is not a capability");
    }
    Capabilities::NAMES.iter().copied().filter(|n| !off.contains(n)).collect()
}

/// What each driver does not claim, and why.
const MEMORY_OFF: &[&str] = &[
    // Nothing serves its objects over HTTP.
    "signed_urls",
    "cdn",
    "object_cdn_url",
    // Libcloud's write extras: nothing to apply them to (refused, never dropped).
    "put_acl",
    "put_storage_class",
    "put_encryption",
    "put_tags",
    "put_headers",
    // Nothing travels: the engine's MD5 checks (with `verify`) are all there is.
    "upload_checksums",
    // Ranges of memory are as fast as the whole: the engine keeps its default plan.
    "sequential_download",
];
const LOCAL_OFF: &[&str] = &[
    // No server to sign for, no versions kept.
    "signed_urls",
    "versions",
    // One unlink per key.
    "batch_delete",
    // A file and a directory cannot share a name.
    "key_and_prefix",
    // Parts on one disk only add copies.
    "parallel_upload",
    // Libcloud's write extras: nothing to apply them to (refused, never dropped).
    "put_acl",
    "put_storage_class",
    "put_encryption",
    "put_tags",
    "put_headers",
    // Writes keep a CRC32C (the hash objects report); MD5s only with the `md5` option.
    "md5_hash",
    "multipart_md5",
];
const S3_OFF: &[&str] = &[
    // Versions are not implemented.
    "versions",
    // No S3 server here enforces a conditional copy.
    "copy_if_absent",
    // A multipart ETag is not the object's MD5.
    "multipart_md5",
    // Parallel ranges are faster over the network.
    "sequential_download",
];
const REDIS_OFF: &[&str] = &[
    // Redis serves no URLs.
    "signed_urls",
    "cdn",
    "object_cdn_url",
    // A multipart object's hash is the opaque multipart ETag.
    "multipart_md5",
    // Libcloud's write extras: nothing to apply them to (refused, never dropped).
    "put_acl",
    "put_storage_class",
    "put_encryption",
    "put_tags",
    "put_headers",
    // Redis keeps no checksum: the engine's part MD5s and multipart ETag are the checks.
    "upload_checksums",
    // Parallel ranges are faster over the network.
    "sequential_download",
];

const AZURE_OFF: &[&str] = &[
    // Versions are not implemented; Azure lists no unfinished uploads per upload id.
    "versions",
    "list_multipart",
    // A block-list blob has no MD5 unless the caller gives it (its hash is the CRC32C the
    // driver keeps in its metadata).
    "multipart_md5",
    // Azure has no per-blob ACL (public access is the container's: the CDN calls).
    "put_acl",
    // Parallel ranges are faster over the network.
    "sequential_download",
];

const GCS_OFF: &[&str] = &[
    // A composite object has no MD5 (its CRC32C is checked instead); GCS objects have no
    // tags.
    "multipart_md5",
    "put_tags",
    // Parallel ranges are faster over the network.
    "sequential_download",
];

fn claimed(driver: &str, options: DriverConfig) -> Vec<&'static str> {
    let d = storage::registry().build(driver, &options).unwrap_or_else(|e| panic!("{driver}: {e}"));
    d.info().capabilities.claimed()
}

#[test]
fn every_driver_claims_exactly_its_reviewed_capabilities() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(claimed("memory", DriverConfig::new()), all_but(MEMORY_OFF));
    let local = DriverConfig::new().set("root", dir.path().to_string_lossy());
    assert_eq!(claimed("local", local.clone()), all_but(LOCAL_OFF));
    // With the `md5` option it also keeps MD5s, and claims what needs them.
    let md5_off: Vec<&str> = LOCAL_OFF.iter().copied().filter(|c| !["md5_hash", "multipart_md5"].contains(c)).collect();
    assert_eq!(claimed("local", local.set("md5", "true")), all_but(&md5_off));
    // Building these connects to nothing.
    let s3 = DriverConfig::new()
        .set("endpoint", "http://127.0.0.1:1")
        .set("region", "us-east-1")
        .set("access_key_id", "AKIDEXAMPLE")
        .set("secret_access_key", "not-a-secret");
    assert_eq!(claimed("s3", s3), all_but(S3_OFF));
    assert_eq!(claimed("redis", DriverConfig::new().set("url", "redis://127.0.0.1:1")), all_but(REDIS_OFF));
    let azure = DriverConfig::new().set("use_emulator", "true").set("endpoint", "http://127.0.0.1:1/devstoreaccount1");
    assert_eq!(claimed("azure", azure), all_but(AZURE_OFF));
    let gcs = DriverConfig::new().set("endpoint", "http://127.0.0.1:1").set("anonymous", "true");
    assert_eq!(claimed("gcs", gcs), all_but(GCS_OFF));
}

#[test]
fn none_claims_nothing() {
    assert!(Capabilities::NONE.claimed().is_empty());
}
