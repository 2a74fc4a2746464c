//! What a driver can do, and its limits.

use crate::validate::ContainerNameRules;

/// Feature flags of a driver. The conformance suite skips cases whose capability is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Containers can be listed.
    pub list_containers: bool,
    /// Containers can be created and deleted.
    pub manage_containers: bool,
    /// Listing accepts any delimiter string, not only `/`.
    pub any_delimiter: bool,
    /// Listing honours `start_after`.
    pub start_after: bool,
    /// `ByteRange::Bounded` and `ByteRange::From` reads.
    pub ranges: bool,
    /// `ByteRange::Suffix` reads.
    pub suffix_ranges: bool,
    /// GET/HEAD honour if-match and if-none-match.
    pub conditional_get_etag: bool,
    /// GET/HEAD honour if-modified-since and if-unmodified-since.
    pub conditional_get_time: bool,
    /// `PutMode::CreateIfAbsent` is enforced atomically.
    pub put_if_absent: bool,
    /// `PutMode::IfMatch` is enforced atomically.
    pub put_if_match: bool,
    /// `PutOptions::content_md5` is verified before the write commits.
    pub put_content_md5: bool,
    /// Server-side copy.
    pub copy: bool,
    /// Server-side copy with create-if-absent at the destination.
    pub copy_if_absent: bool,
    /// A native batch delete request.
    pub batch_delete: bool,
    /// Multipart uploads.
    pub multipart: bool,
    /// Unfinished multipart uploads can be listed.
    pub list_multipart: bool,
    /// Signed URLs.
    pub signed_urls: bool,
    /// All four of Libcloud's CDN calls.
    pub cdn: bool,
    /// `get_object_cdn_url` returns a URL (for S3, a presigned GET) even where enabling
    /// CDN is not supported.
    pub object_cdn_url: bool,
    /// User metadata is stored and returned.
    pub user_metadata: bool,
    /// Content-Type, Cache-Control, Content-Disposition, Content-Encoding are stored.
    pub content_headers: bool,
    /// Objects carry an MD5 content hash (single-request writes at least).
    pub md5_hash: bool,
    /// Reading a given version or generation.
    pub versions: bool,
    /// Deleting a container that still holds objects is refused.
    pub refuses_nonempty_delete: bool,
    /// A key may coexist with keys that have it as a prefix (`a` and `a/b`), as in object
    /// stores. Drivers that map keys onto a directory tree cannot offer this.
    pub key_and_prefix: bool,
    /// Every valid key is stored and listed byte for byte, including `+`, `%2F`, `%25`,
    /// `//`, `/./`, a trailing `/` and 1024-byte keys (some servers map keys onto a
    /// filesystem and normalise them).
    pub verbatim_keys: bool,
    /// Writing or reading an object in a missing container fails with
    /// `ContainerDoesNotExist` (some servers create it, or answer `ObjectDoesNotExist`).
    pub container_checked: bool,
    /// Conditional writes are atomic: of concurrent writers with the same condition,
    /// exactly one succeeds.
    pub atomic_conditional_put: bool,
    /// A completed multipart upload reports the MD5 of the whole object as its hash (the
    /// memory and local drivers). Where it does not (S3, Redis: an opaque multipart ETag),
    /// the transfer engine checks the parts' MD5s and the multipart ETag instead and does
    /// not hash the whole object a second time.
    pub multipart_md5: bool,
    /// Parts sent in parallel upload an object faster than one streamed request (network
    /// stores). Off for the local filesystem, where the transfer engine writes objects of
    /// any size with one streamed request (parts would only add copies and hashing).
    pub parallel_upload: bool,
}

impl Capabilities {
    /// Every capability on.
    pub const ALL: Capabilities = Capabilities {
        list_containers: true,
        manage_containers: true,
        any_delimiter: true,
        start_after: true,
        ranges: true,
        suffix_ranges: true,
        conditional_get_etag: true,
        conditional_get_time: true,
        put_if_absent: true,
        put_if_match: true,
        put_content_md5: true,
        copy: true,
        copy_if_absent: true,
        batch_delete: true,
        multipart: true,
        list_multipart: true,
        signed_urls: true,
        cdn: true,
        object_cdn_url: true,
        user_metadata: true,
        content_headers: true,
        md5_hash: true,
        versions: true,
        refuses_nonempty_delete: true,
        key_and_prefix: true,
        verbatim_keys: true,
        container_checked: true,
        atomic_conditional_put: true,
        multipart_md5: true,
        parallel_upload: true,
    };

    /// Every capability off.
    pub const NONE: Capabilities = Capabilities {
        list_containers: false,
        manage_containers: false,
        any_delimiter: false,
        start_after: false,
        ranges: false,
        suffix_ranges: false,
        conditional_get_etag: false,
        conditional_get_time: false,
        put_if_absent: false,
        put_if_match: false,
        put_content_md5: false,
        copy: false,
        copy_if_absent: false,
        batch_delete: false,
        multipart: false,
        list_multipart: false,
        signed_urls: false,
        cdn: false,
        object_cdn_url: false,
        user_metadata: false,
        content_headers: false,
        md5_hash: false,
        versions: false,
        refuses_nonempty_delete: false,
        key_and_prefix: false,
        verbatim_keys: false,
        container_checked: false,
        atomic_conditional_put: false,
        multipart_md5: false,
        parallel_upload: false,
    };
}

/// Numeric limits of a driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Smallest part (all but the last) of a multipart upload.
    pub min_part_size: u64,
    /// Largest part of a multipart upload.
    pub max_part_size: u64,
    /// Most parts in one multipart upload.
    pub max_parts: u32,
    /// Most keys in one batch delete request.
    pub max_batch_delete: usize,
    /// Longest key in bytes.
    pub max_key_length: usize,
    /// Largest object written with a single request.
    pub max_single_put: u64,
    /// Most entries in one listing page.
    pub max_page_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            min_part_size: 5 * 1024 * 1024,
            max_part_size: 5 * 1024 * 1024 * 1024,
            max_parts: 10_000,
            max_batch_delete: 1000,
            max_key_length: 1024,
            max_single_put: 5 * 1024 * 1024 * 1024,
            max_page_size: 1000,
        }
    }
}

/// A driver's name, capabilities and limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverInfo {
    /// Short name (`s3`, `local`, `memory`...).
    pub name: String,
    /// What it can do.
    pub capabilities: Capabilities,
    /// Its limits.
    pub limits: Limits,
    /// The container naming rules it enforces.
    pub container_rules: ContainerNameRules,
}
