//! Integration tests: the real posts-service over HTTP against a throwaway MariaDB.
//!
//! One container serves the whole binary; each test gets its own database
//! (`test_mariadb::harness`). Run with `cargo test -p posts-service --test api`.

mod accounts;
mod auth;
mod authoring;
mod crud;
mod helpers;
mod idempotency;
mod nodes;
mod observability;
mod openapi;
mod outage;
mod pagination;
mod privileges;
mod process;
mod rendering;
mod resilience;
mod search;
mod sessions;
mod sitemap;
mod tags;
mod tls;
mod validation;

fn main() -> std::process::ExitCode {
    test_mariadb::harness::run(test_mariadb::cases![
        crud::created_post_is_returned_with_location_and_etag,
        crud::get_returns_post_with_etag,
        crud::unknown_or_malformed_ids_are_404,
        crud::update_with_current_etag_bumps_version,
        crud::update_without_if_match_is_428,
        crud::stale_if_match_is_412_and_changes_nothing,
        crud::update_of_missing_post_is_404,
        crud::wildcard_and_weak_if_match,
        crud::delete_is_204_then_404,
        crud::delete_with_stale_if_match_is_412,
        crud::unicode_round_trips,
        crud::concurrent_updates_with_same_etag_have_one_winner,
        crud::writes_without_valid_token_are_401,
        auth::a_write_without_the_token_is_refused_before_its_body_is_read,
        crud::unknown_route_is_404_and_wrong_method_is_405,
        validation::title_is_trimmed_and_limited_at_its_edges,
        validation::body_limit_is_65535_bytes,
        validation::missing_fields_are_422_naming_them,
        validation::malformed_json_and_unknown_fields_are_400,
        validation::non_json_content_type_is_415,
        validation::body_over_256_kib_is_413,
        validation::invalid_input_changes_nothing,
        validation::text_with_control_characters_or_nothing_visible_is_422,
        authoring::slugs_are_made_from_titles_and_kept_unique,
        authoring::an_explicit_slug_must_be_valid_and_free,
        authoring::a_changed_slug_keeps_the_old_one_leading_to_the_post,
        authoring::drafts_and_scheduled_posts_are_only_seen_with_the_token,
        authoring::a_scheduled_post_becomes_visible_by_itself,
        authoring::publishing_a_draft_sets_its_time_and_put_keeps_absent_fields,
        authoring::tags_are_trimmed_limited_and_one_whatever_their_case,
        authoring::invalid_optional_fields_are_422_together_and_change_nothing,
        authoring::posts_of_the_previous_release_are_read_correctly_and_backfilled,
        authoring::the_readers_list_does_not_read_the_drafts,
        sitemap::the_sitemap_lists_visible_posts_and_the_tags_that_have_one,
        sitemap::past_50000_visible_posts_the_sitemap_comes_in_pages,
        search::words_find_visible_posts_best_first,
        search::short_words_stopwords_and_operators_never_reach_sql,
        search::results_come_in_pages_and_follow_edits_and_deletes,
        search::a_busy_search_is_a_503_never_a_wait_without_end,
        search::posts_written_before_search_are_indexed_in_the_background,
        search::fuzzed_queries_never_fail_or_leak_sql,
        tags::a_tags_list_has_only_its_visible_posts_and_names_the_tag,
        tags::a_tags_list_pages_by_key,
        tags::an_unknown_tag_is_404,
        tags::a_removed_tag_leaves_its_list,
        tags::a_tags_page_walks_its_index_not_the_posts,
        rendering::a_post_is_stored_rendered_and_html_is_never_taken_from_a_client,
        rendering::posts_stored_without_a_rendering_are_served_and_rendered_in_the_background,
        rendering::a_body_changed_by_an_older_release_is_rendered_again,
        rendering::the_background_walk_never_overwrites_a_newer_edit,
        pagination::listing_is_newest_first_with_default_limit,
        pagination::walking_pages_returns_every_post_once,
        pagination::limit_out_of_range_is_400,
        pagination::empty_blog_lists_nothing,
        observability::health_and_readiness,
        observability::request_id_is_echoed_or_generated,
        observability::metrics_use_route_templates,
        observability::migrations_are_idempotent_across_replicas,
        outage::stopped_database_gives_fast_503_then_recovers,
        tls::the_service_talks_to_a_mariadb_that_requires_tls_trusting_only_its_ca,
        outage::frozen_database_gives_503_within_two_seconds,
        resilience::starts_without_its_database_and_turns_ready_when_it_comes,
        resilience::read_only_database_is_a_quick_503_and_changes_nothing,
        resilience::binary_keeps_running_without_its_database_and_stops_on_sigterm,
        nodes::a_node_that_refuses_connections_is_skipped_and_readyz_names_the_writer,
        nodes::replicas_starting_together_migrate_once_under_the_lock_row,
        idempotency::same_key_and_body_again_replays_the_first_answer,
        idempotency::a_retry_after_a_lost_answer_makes_exactly_one_post,
        idempotency::parallel_creates_with_one_key_make_one_post,
        idempotency::same_key_with_another_body_is_422_and_creates_nothing,
        idempotency::malformed_key_is_400_naming_the_header_and_creates_nothing,
        idempotency::a_key_refused_for_invalid_input_can_be_used_again,
        idempotency::keys_older_than_a_day_are_forgotten_and_purged,
        openapi::server_conforms_to_openapi_document,
        sessions::sessions_slide_their_idle_expiry_and_end_at_logout,
        sessions::sessions_end_when_idle_or_at_their_lifetime_and_are_purged,
        sessions::login_failures_are_counted_per_client_and_for_the_account,
        accounts::the_first_owner_comes_from_admin_user_once,
        accounts::a_failed_login_is_one_answer_whatever_the_reason,
        accounts::accounts_are_checked_and_unique,
        accounts::only_owners_manage_accounts_and_users_change_their_own_password,
        accounts::each_role_writes_the_posts_it_may_and_nothing_else,
        process::missing_or_malformed_variable_exits_with_one_line_naming_it,
        process::migrate_command_applies_schema_and_exits,
        privileges::runtime_account_cannot_change_the_schema_while_the_service_works,
        privileges::migrate_command_uses_the_migration_account,
        process::sigterm_finishes_cleanly_and_logs_carry_request_id,
        process::shutdown_lets_in_flight_request_finish,
    ])
}
