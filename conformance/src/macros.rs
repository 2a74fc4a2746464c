//! `conformance_tests!`: one `#[tokio::test]` per case, inside any crate.

/// Expands into one `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` per
/// conformance case. Each test builds the driver from the given future, runs its case
/// with [`crate::run_case`], and panics with the case's detail if it failed (a skipped
/// case passes and prints its reason).
///
/// ```text
/// storage_conformance::conformance_tests!(async { Arc::new(MyDriver::new()) as Arc<dyn Driver> });
/// storage_conformance::conformance_tests!(driver_future, run_config);
/// ```
///
/// The calling crate needs `tokio` with the `macros` and `rt-multi-thread` features
/// (as a dev-dependency for tests). Invoke it once per module: the tests are named after
/// the cases (`object_round_trip_small`, `list_pagination`...).
#[macro_export]
macro_rules! conformance_tests {
    ($driver:expr $(,)?) => {
        $crate::__conformance_case_list! { tests ($driver), ($crate::RunConfig::default()) }
    };
    ($driver:expr, $config:expr $(,)?) => {
        $crate::__conformance_case_list! { tests ($driver), ($config) }
    };
}

/// Hands the literal list of case names to [`__conformance_expand!`]. A unit test checks
/// that it equals the names of [`crate::cases`], in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_case_list {
    ($($args:tt)*) => {
        $crate::__conformance_expand! { [$($args)*]
            // CASE LIST START
            container_create_and_get,
            container_listed,
            container_create_duplicate,
            container_get_missing,
            container_delete_missing,
            container_delete_empty,
            container_delete_after_emptying,
            container_delete_nonempty,
            container_recreate_after_delete,
            container_invalid_name_slash,
            container_invalid_name_too_long,
            container_invalid_name_create,
            container_invalid_name_object_ops,
            container_missing_put,
            container_missing_list,
            container_missing_head,
            container_missing_get,
            container_missing_delete_object,
            object_round_trip_small,
            object_round_trip_empty,
            object_round_trip_binary,
            object_round_trip_large,
            object_put_returns_metadata,
            object_put_etag_matches_head,
            object_overwrite_replaces,
            object_head_matches_get,
            object_get_full_range,
            object_head_missing,
            object_get_missing,
            object_delete_then_get,
            object_delete_missing_ok,
            object_content_type,
            object_cache_control,
            object_content_disposition,
            object_content_encoding,
            object_user_metadata,
            object_metadata_replaced_on_overwrite,
            object_md5,
            object_hash_is_truthful,
            object_stream_known_length,
            object_stream_unknown_length,
            object_stream_too_short,
            object_stream_too_long,
            object_stream_error_midway,
            object_stream_error_unknown_length,
            object_content_md5_ok,
            object_content_md5_wrong,
            object_last_modified,
            object_version_get,
            object_version_bogus,
            object_version_changes_on_overwrite,
            driver_info_sane,
            driver_capabilities_consistent,
            list_empty,
            list_sorted_bytewise,
            list_prefix,
            list_prefix_partial,
            list_prefix_no_match,
            list_delimiter_top_level,
            list_delimiter_nested,
            list_delimiter_interleaved,
            list_delimiter_partial_prefix,
            list_start_after,
            list_start_after_missing_key,
            list_start_after_with_prefix,
            list_pagination,
            list_page_tokens,
            list_pagination_delimiter,
            list_any_delimiter,
            list_object_sizes,
            list_many_default_page,
            list_reflects_delete,
            list_helper_list_keys,
            list_helper_with_delimiter,
            range_bounded,
            range_from,
            range_suffix,
            range_suffix_larger_than_object,
            range_end_clamped,
            range_start_at_size,
            range_start_past_size,
            range_on_empty_object,
            range_first_byte,
            range_last_byte,
            range_whole_object,
            range_absolute_offsets,
            range_inverted,
            range_empty,
            range_helper_get_range,
            range_helper_get_ranges,
            range_helper_get_ranges_past_end,
            cond_get_if_match_ok,
            cond_get_if_match_mismatch,
            cond_get_if_match_stale,
            cond_get_if_none_match_same,
            cond_get_if_none_match_other,
            cond_get_range_if_match,
            cond_get_if_modified_since_later,
            cond_get_if_modified_since_earlier,
            cond_get_if_unmodified_since_earlier,
            cond_get_if_unmodified_since_later,
            cond_put_if_absent_new,
            cond_put_if_absent_existing,
            cond_put_if_absent_after_delete,
            cond_put_if_absent_race,
            cond_put_if_match_current,
            cond_put_if_match_stale,
            cond_put_if_match_missing,
            cond_put_if_match_race,
            multipart_three_parts,
            multipart_concurrent_out_of_order,
            multipart_single_part,
            multipart_invisible_until_complete,
            multipart_abort,
            multipart_abort_keeps_existing,
            multipart_list_and_abort,
            multipart_missing_part,
            multipart_hash_truthful,
            multipart_overwrites_existing,
            multipart_content_type,
            multipart_metadata,
            copy_same_container,
            copy_preserves_content_type,
            copy_preserves_metadata,
            copy_replace_metadata,
            copy_replace_content_type,
            copy_overwrites_destination,
            copy_if_absent_new,
            copy_if_absent_existing,
            copy_missing_source,
            copy_source_if_match_ok,
            copy_source_if_match_mismatch,
            copy_across_containers,
            copy_missing_destination_container,
            copy_invalid_destination_key,
            copy_helper_rename,
            copy_helper_rename_missing,
            copy_helper_rename_keeps_metadata,
            delete_batch_mixed,
            delete_batch_awkward_keys,
            delete_only_exact_key,
            delete_helper_delete_objects,
            delete_helper_delete_objects_empty,
            delete_helper_delete_prefix,
            delete_helper_delete_prefix_nothing,
            error_empty_key,
            error_key_too_long,
            error_key_with_nul,
            error_invalid_key_multipart,
            error_context_object,
            error_context_container,
            signed_url_get,
            signed_url_not_supported,
            cdn_urls,
            cdn_not_supported,
            cdn_object_url,
            copy_not_supported,
            multipart_not_supported,
            list_multipart_not_supported,
            key_unicode,
            key_spaces,
            key_plus,
            key_percent,
            key_question_mark,
            key_hash,
            key_equals,
            key_ampersand,
            key_tilde,
            key_punctuation,
            key_encoded_slash,
            key_encoded_percent,
            key_double_slash,
            key_trailing_slash,
            key_dot_segment,
            key_dots,
            key_max_length,
            key_deep_path,
            key_and_prefix_coexist,
            helper_upload_file,
            helper_upload_file_multipart,
            helper_upload_file_empty,
            helper_upload_file_options,
            helper_upload_file_missing_path,
            helper_upload_stream,
            helper_upload_stream_small,
            helper_upload_stream_empty,
            helper_upload_stream_error,
            helper_download_to_path,
            helper_download_empty_object,
            helper_download_no_overwrite,
            helper_download_overwrite,
            helper_download_missing,
            helper_download_as_stream_chunks,
            helper_download_as_stream_default,
            helper_download_as_stream_missing,
            helper_get_bytes,
            helper_object_exists,
            helper_container_exists,
            helper_head_bucket,
            concurrent_puts_distinct,
            concurrent_overwrites_one_key,
            concurrent_reads_during_overwrites,
            concurrent_gets,
            concurrent_deletes,
            // CASE LIST END
        }
    };
}

/// The expansions of the case list: `tests` (one test per case) and `names` (an array of
/// the names, for the unit test).
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_expand {
    ([tests $driver:tt, $config:tt] $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let driver: ::std::sync::Arc<dyn $crate::__private::Driver> = $driver.await;
                let config: $crate::RunConfig = $config;
                let report = $crate::run_case(driver, ::std::stringify!($name), &config).await;
                $crate::__private::check(&report);
            }
        )*
    };
    ([names] $($name:ident),* $(,)?) => {
        [$(::std::stringify!($name)),*]
    };
}
