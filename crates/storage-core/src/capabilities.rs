//! What a driver can do, and its limits.

use crate::validate::ContainerNameRules;

macro_rules! capabilities {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// Feature flags of a driver. The conformance suite skips cases whose capability is
        /// off.
        ///
        /// Capabilities are opt-in: a driver starts from [`Capabilities::NONE`] and sets
        /// exactly what it claims, so a capability added later is off for every driver
        /// until the driver claims it. The struct is `#[non_exhaustive]`: outside this crate
        /// it is built by mutating `NONE`, never with a literal that could take a default
        /// of "everything".
        ///
        /// ```
        /// use storage_core::Capabilities;
        ///
        /// let mut caps = Capabilities::NONE;
        /// caps.ranges = true;
        /// caps.multipart = true;
        /// assert_eq!(caps.claimed(), ["ranges", "multipart"]);
        /// assert_eq!(caps.get("ranges"), Some(true));
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct Capabilities {
            $($(#[$doc])* pub $name: bool,)*
        }

        impl Capabilities {
            /// Every capability off: where every driver starts.
            pub const NONE: Capabilities = Capabilities { $($name: false,)* };

            /// The name of every capability (its field name), in declaration order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name)),*];

            /// The capabilities that are on, by name, in declaration order.
            pub fn claimed(&self) -> Vec<&'static str> {
                let mut on = Vec::new();
                $(if self.$name { on.push(stringify!($name)); })*
                on
            }

            /// The capability called `name`, or `None` if there is no such capability.
            pub fn get(&self, name: &str) -> Option<bool> {
                match name {
                    $(stringify!($name) => Some(self.$name),)*
                    _ => None,
                }
            }

            /// Sets the capability called `name`; returns `false` (and changes nothing) if
            /// there is no such capability.
            pub fn set(&mut self, name: &str, value: bool) -> bool {
                match name {
                    $(stringify!($name) => {
                        self.$name = value;
                        true
                    })*
                    _ => false,
                }
            }
        }
    };
}

capabilities! {
    /// Containers can be listed.
    list_containers,
    /// Containers can be created and deleted.
    manage_containers,
    /// Listing accepts any delimiter string, not only `/`.
    any_delimiter,
    /// Listing honours `start_after`.
    start_after,
    /// `ByteRange::Bounded` and `ByteRange::From` reads.
    ranges,
    /// `ByteRange::Suffix` reads.
    suffix_ranges,
    /// GET/HEAD honour if-match and if-none-match.
    conditional_get_etag,
    /// GET/HEAD honour if-modified-since and if-unmodified-since.
    conditional_get_time,
    /// `PutMode::CreateIfAbsent` is enforced atomically.
    put_if_absent,
    /// `PutMode::IfMatch` is enforced atomically.
    put_if_match,
    /// `PutOptions::content_md5` is verified before the write commits.
    put_content_md5,
    /// Server-side copy.
    copy,
    /// Server-side copy with create-if-absent at the destination.
    copy_if_absent,
    /// A native batch delete request.
    batch_delete,
    /// Multipart uploads.
    multipart,
    /// Unfinished multipart uploads can be listed.
    list_multipart,
    /// Signed URLs.
    signed_urls,
    /// All four of Libcloud's CDN calls.
    cdn,
    /// `get_object_cdn_url` returns a URL (for S3, a presigned GET) even where enabling
    /// CDN is not supported.
    object_cdn_url,
    /// User metadata is stored and returned.
    user_metadata,
    /// Content-Type, Cache-Control, Content-Disposition, Content-Encoding are stored.
    content_headers,
    /// Objects carry an MD5 content hash (single-request writes at least).
    md5_hash,
    /// Reading a given version or generation.
    versions,
    /// Deleting a container that still holds objects is refused.
    refuses_nonempty_delete,
    /// A key may coexist with keys that have it as a prefix (`a` and `a/b`), as in object
    /// stores. Drivers that map keys onto a directory tree cannot offer this.
    key_and_prefix,
    /// Every valid key is stored and listed byte for byte, including `+`, `%2F`, `%25`,
    /// `//`, `/./`, a trailing `/` and 1024-byte keys (some servers map keys onto a
    /// filesystem and normalise them).
    verbatim_keys,
    /// Writing or reading an object in a missing container fails with
    /// `ContainerDoesNotExist` (some servers create it, or answer `ObjectDoesNotExist`).
    container_checked,
    /// Conditional writes are atomic: of concurrent writers with the same condition,
    /// exactly one succeeds.
    atomic_conditional_put,
    /// Overwriting an object is atomic for readers: a GET running meanwhile returns the
    /// old data or the new, never a mix (servers that write files in place can tear).
    atomic_overwrite,
    /// A completed multipart upload reports the MD5 of the whole object as its hash (the
    /// memory and local drivers). Where it does not (S3, Redis: an opaque multipart ETag),
    /// the transfer engine checks the parts' MD5s and the multipart ETag instead and does
    /// not hash the whole object a second time.
    multipart_md5,
    /// Parts sent in parallel upload an object faster than one streamed request (network
    /// stores). Off for the local filesystem, where the transfer engine writes objects of
    /// any size with one streamed request (parts would only add copies and hashing).
    parallel_upload,
    /// One stream reads a whole object faster than ranges read in parallel (the local
    /// filesystem, where ranges only add seeks, copies and a second pass for the
    /// checksum): the transfer engine downloads with one whole GET, written in order and
    /// hashed as it is written. Off for network stores, where parallel ranges are faster.
    sequential_download,
    /// An object's ETag identifies its data: `head_object` and every `get_object` of it
    /// (whole or ranged) report the same one until the object is replaced, and a
    /// replacement with other data reports another (or fails a read's `If-Match` with
    /// `PreconditionFailed`). [`crate::ObjectReader`] pins its ranged reads to the ETag of
    /// its opening head and relies on this. (New in suite 1.2.0: its cases are the
    /// reader's.)
    stable_etag,
    /// What is written through the transfer engine's stream upload becomes visible only
    /// when it completes: the parts of a multipart upload never appear under the key
    /// before `complete_multipart`, a streamed `put_object` that fails leaves nothing, and
    /// `abort_multipart` leaves neither data nor an unfinished upload behind, so
    /// [`crate::ObjectWriter`] shows nothing before `shutdown` and leaves nothing when
    /// dropped. (New in suite 1.2.0: its cases are the writer's.)
    atomic_multipart,
    /// `PutOptions::acl` (a canned ACL) is applied to writes.
    put_acl,
    /// `PutOptions::storage_class` is applied to writes.
    put_storage_class,
    /// `PutOptions::encryption` is applied to writes (variants the backend lacks are
    /// refused).
    put_encryption,
    /// `PutOptions::tags` are stored with the object.
    put_tags,
    /// `PutOptions::headers` are sent with writes.
    put_headers,
    /// Writes are checked end to end by the driver and the backend without the transfer
    /// engine's help: the driver sends a checksum it computes at hardware speed with every
    /// write (the single request, each part, and the whole multipart object at
    /// completion; S3's CRC32C), the backend refuses data that does not match it or keeps
    /// it, whole-object reads are checked against the kept checksum, and `head_object`
    /// reports a content hash (MD5 or CRC32C, not an opaque tag) for objects written
    /// either way, multipart ones and server-side encrypted ones included. The transfer
    /// engine then computes no MD5 of its own for uploads (only to check a caller's
    /// `content_md5`). (New in suite 1.3.0: its case is `checksum_reported`.)
    upload_checksums,
}

#[cfg(test)]
mod capability_tests {
    use super::*;

    #[test]
    fn none_claims_nothing_and_every_name_reads_and_writes_its_own_field() {
        assert!(Capabilities::NONE.claimed().is_empty());
        for name in Capabilities::NAMES {
            let mut caps = Capabilities::NONE;
            assert_eq!(caps.get(name), Some(false));
            assert!(caps.set(name, true));
            assert_eq!(caps.claimed(), [*name], "{name} must toggle exactly its own field");
        }
        let mut caps = Capabilities::NONE;
        assert!(!caps.set("teleport", true));
        assert_eq!(caps, Capabilities::NONE);
        assert_eq!(caps.get("teleport"), None);
    }
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
