//! Known servers that fall short of the service they emulate, each gap declared as a
//! capability override with its reason (never by weakening a case). The reasons appear
//! in the report next to every case they skip.

use crate::runner::Override;

/// s3s-fs 0.14.1: verifies SigV4, but maps keys onto a filesystem and skips several checks.
pub fn s3s_fs() -> Vec<Override> {
    [
        ("refuses_nonempty_delete", "s3s-fs 0.14 deletes a bucket that still holds objects"),
        ("cdn", "s3s-fs 0.14 has no object ACLs or bucket policies (501 NotImplemented)"),
        (
            "container_checked",
            "s3s-fs creates a missing bucket's directory on PutObject and answers NoSuchKey for GETs in a missing bucket",
        ),
        ("suffix_ranges", "s3s-fs 0.14 answers 500 InternalError to a suffix range longer than the object"),
        ("conditional_get_etag", "s3s-fs ignores If-Match and If-None-Match on GET and HEAD"),
        ("conditional_get_time", "s3s-fs ignores If-Modified-Since and If-Unmodified-Since"),
        (
            "atomic_conditional_put",
            "s3s-fs checks If-None-Match / If-Match and then writes in a separate step, so concurrent conditional writers can all win",
        ),
        ("list_multipart", "s3s-fs answers ListMultipartUploads with 501 NotImplemented"),
        (
            "verbatim_keys",
            "s3s-fs maps keys onto a filesystem: `+` is stored as a space, `%2F`, `%25`, `//` and `/./` are normalised, a trailing `/` is a directory, and long keys exceed file name limits",
        ),
        ("key_and_prefix", "s3s-fs maps keys onto a filesystem, where a file and a directory cannot share a name"),
    ]
    .into_iter()
    .map(|(c, r)| Override::new(c, r))
    .collect()
}

/// `rclone serve s3` 1.75.2 over a local directory (`--dir-cache-time 0s`): verifies
/// SigV4, written by people who wrote neither moto nor s3s-fs, and maps keys onto files.
pub fn rclone() -> Vec<Override> {
    [
        ("any_delimiter", "rclone serve s3 groups listings by `/` only: any other delimiter is ignored"),
        (
            "upload_checksums",
            "rclone serve s3 keeps no checksum for a multipart upload (it ignores x-amz-checksum-algorithm; the driver \
             checks its parts with MD5) and answers CompleteMultipartUpload with an opaque multipart ETag",
        ),
        ("cdn", "rclone serve s3 keeps no ACLs or bucket policies (it answers ?acl and ?policy as plain object and bucket calls)"),
        (
            "atomic_multipart",
            "rclone serve s3: after a multipart upload is aborted with parts in flight, ListMultipartUploads answers \
             404 NoSuchUpload for the bucket, so no upload can be shown to be gone",
        ),
        (
            "suffix_ranges",
            "rclone serve s3 answers 416 InvalidRange to a suffix range longer than the object (S3 returns the whole object)",
        ),
        ("conditional_get_etag", "rclone serve s3 ignores If-Match and If-None-Match on GET and HEAD"),
        ("conditional_get_time", "rclone serve s3 ignores If-Modified-Since and If-Unmodified-Since"),
        ("put_if_absent", "rclone serve s3 ignores If-None-Match: * on PUT and overwrites the object"),
        ("put_if_match", "rclone serve s3 ignores If-Match on PUT and overwrites the object"),
        ("atomic_conditional_put", "rclone serve s3 has no conditional PUT at all, so concurrent conditional writers all win"),
        (
            "atomic_overwrite",
            "rclone serve s3 writes an overwritten object in place: a GET running meanwhile can read a mix of old and new data",
        ),
        (
            "user_metadata",
            "rclone serve s3's CopyObject adds an `mtime` metadata entry and ignores x-amz-metadata-directive: REPLACE (the source's metadata is merged into the new)",
        ),
        (
            "verbatim_keys",
            "rclone serve s3 maps keys onto a filesystem: keys with `//`, `/./` or `/../` are refused (400 InvalidArgument), a trailing `/` is dropped, and long keys exceed file name limits",
        ),
        (
            "key_and_prefix",
            "rclone serve s3 maps keys onto a filesystem, where a file and a directory cannot share a name (500 InternalError)",
        ),
    ]
    .into_iter()
    .map(|(c, r)| Override::new(c, r))
    .collect()
}

/// moto 5.2.1: no override is needed by the cases (it does not verify signatures, which
/// s3s-fs covers).
pub fn moto() -> Vec<Override> {
    Vec::new()
}

/// Azurite 3.37.0 (Azure Blob): verifies SharedKey and SAS.
pub fn azurite() -> Vec<Override> {
    Vec::new()
}

/// fake-gcs-server 1.54.0 (GCS JSON API, no authorization).
pub fn fake_gcs() -> Vec<Override> {
    [
        (
            "copy_if_absent",
            "fake-gcs-server ignores preconditions on objects.rewrite (ifGenerationMatch=0 overwrites the destination)",
        ),
        ("cdn", "fake-gcs-server has no bucket IAM (/iam answers 404): enable_container_cdn is NotSupported there"),
    ]
    .into_iter()
    .map(|(c, r)| Override::new(c, r))
    .collect()
}
