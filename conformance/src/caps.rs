//! Reading and writing [`Capabilities`] fields by their names.

use storage_core::Capabilities;

macro_rules! capability_fields {
    ($($field:ident),* $(,)?) => {
        /// The names of every [`Capabilities`] field, in declaration order.
        pub const CAPABILITY_NAMES: &[&str] = &[$(stringify!($field)),*];

        /// The value of the capability called `name` (a [`Capabilities`] field name),
        /// or `None` if there is no such field.
        pub fn capability(caps: &Capabilities, name: &str) -> Option<bool> {
            match name {
                $(stringify!($field) => Some(caps.$field),)*
                _ => None,
            }
        }

        /// Sets the capability called `name`; returns `false` (and changes nothing) if
        /// there is no such field.
        pub fn set_capability(caps: &mut Capabilities, name: &str, value: bool) -> bool {
            match name {
                $(stringify!($field) => {
                    caps.$field = value;
                    true
                })*
                _ => false,
            }
        }

        /// Fails to compile when `Capabilities` gains a field missing from the list above.
        #[allow(dead_code)]
        fn exhaustive(caps: Capabilities) {
            let Capabilities { $($field: _),* } = caps;
        }
    };
}

capability_fields!(
    list_containers,
    manage_containers,
    any_delimiter,
    start_after,
    ranges,
    suffix_ranges,
    conditional_get_etag,
    conditional_get_time,
    put_if_absent,
    put_if_match,
    put_content_md5,
    copy,
    copy_if_absent,
    batch_delete,
    multipart,
    list_multipart,
    signed_urls,
    cdn,
    object_cdn_url,
    user_metadata,
    content_headers,
    md5_hash,
    versions,
    refuses_nonempty_delete,
    key_and_prefix,
    verbatim_keys,
    container_checked,
    atomic_conditional_put,
    multipart_md5,
    parallel_upload,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_and_writes_its_own_field() {
        for name in CAPABILITY_NAMES {
            let mut caps = Capabilities::ALL;
            assert_eq!(capability(&caps, name), Some(true));
            assert!(set_capability(&mut caps, name, false));
            assert_eq!(capability(&caps, name), Some(false));
            let off = CAPABILITY_NAMES.iter().filter(|n| capability(&caps, n) == Some(false)).count();
            assert_eq!(off, 1, "{name} must toggle exactly one field");
        }
        let mut caps = Capabilities::NONE;
        assert!(!set_capability(&mut caps, "teleport", true));
        assert_eq!(caps, Capabilities::NONE);
        assert_eq!(capability(&caps, "teleport"), None);
    }
}
