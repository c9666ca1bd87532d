//! render-service's integration tests: the real posts-service on a fresh MariaDB
//! database and the real render-service, both on random ports, driven over HTTP (and,
//! in `browser` and `xss`, by headless Chromium). One MariaDB container serves the whole binary.
//!
//! Run with `cargo test -p render-service --test integration`; the browser case needs
//! `tests/browser-deps.sh` (Chromium and chromedriver) first.

mod admin;
mod authoring;
mod browser;
mod cache;
mod feed;
mod helpers;
mod idempotency;
mod observability;
mod pages;
mod proxy;
mod resilience;
mod search;
mod security;
mod sessions;
mod sitemap;
mod tags;
mod tls;
mod xss;

use std::process::ExitCode;

fn main() -> ExitCode {
    test_mariadb::harness::run(test_mariadb::cases![
        tags::a_tags_page_lists_its_visible_posts_and_pages_on,
        tags::an_unknown_or_malformed_tag_is_the_404_page,
        tags::a_tags_feed_is_atom_of_its_posts,
        tags::a_removed_tag_moves_the_post_off_the_page,
        search::a_post_is_found_by_a_word_of_its_body_and_a_draft_never,
        search::words_too_short_or_too_common_are_explained_without_a_search,
        search::any_input_is_a_page_never_an_error,
        search::chinese_and_japanese_phrases_find_their_posts,
        search::results_page_on_ten_at_a_time,
        search::a_hostile_query_is_escaped,
        search::searches_past_the_per_address_limit_are_429,
        search::anonymous_readers_share_search_results_and_signed_in_users_do_not,
        search::search_is_busy_when_posts_service_cannot_answer_never_stale,
        cache::anonymous_readers_share_a_cached_page,
        cache::admin_sees_their_own_edit_on_the_very_next_page,
        cache::edits_and_deletes_made_elsewhere_reach_readers_within_the_bound,
        cache::outage_serves_the_last_good_page,
        cache::pages_with_a_flash_or_a_session_are_never_shared,
        cache::unknown_ids_are_remembered_as_404_within_the_bound,
        cache::a_made_up_flash_cookie_does_not_bypass_the_cache,
        cache::a_post_deleted_elsewhere_never_comes_back_from_an_old_copy,
        cache::shared_pages_and_the_feed_answer_conditional_gets_with_304,
        pages::index_without_posts_shows_a_friendly_empty_state,
        pages::head_works_wherever_get_does_and_405_names_allow,
        pages::index_lists_the_newest_posts_with_title_date_and_excerpt,
        pages::older_posts_pages_through_every_post_once_newest_first,
        pages::post_page_renders_markdown,
        pages::post_page_head_has_a_canonical_link_a_card_and_json_ld,
        pages::unknown_post_is_a_404_page,
        pages::non_numeric_post_id_is_a_404_page,
        pages::unknown_path_is_a_404_page,
        pages::stylesheet_is_served_with_a_content_hash_and_long_cache,
        admin::admin_can_log_in_add_edit_delete_and_log_out,
        admin::add_without_session_redirects_to_login,
        admin::writes_without_session_redirect_to_login_and_change_nothing,
        admin::login_returns_to_the_page_that_asked_for_it,
        admin::bad_login_shows_an_error_and_keeps_the_user_name,
        admin::edit_and_delete_links_are_shown_only_to_the_admin,
        admin::delete_get_only_asks_for_confirmation,
        admin::empty_title_keeps_the_users_text_and_shows_the_error_by_the_field,
        admin::too_long_title_and_body_are_rejected_by_their_fields,
        admin::edit_conflict_shows_a_message_keeps_the_text_and_overwrites_nothing,
        admin::edit_of_a_post_deleted_meanwhile_keeps_the_text,
        admin::saving_while_posts_service_is_down_keeps_the_text,
        admin::delete_of_a_changed_post_asks_again,
        security::post_without_csrf_token_is_403,
        security::csrf_token_of_another_session_is_403,
        security::login_without_csrf_token_is_403,
        security::tampered_session_cookie_is_not_the_admin,
        security::session_cookie_is_http_only_and_same_site_lax,
        security::xss_in_titles_and_markdown_does_not_survive,
        security::every_response_carries_the_security_headers,
        security::strict_transport_security_comes_with_cookie_secure_only,
        sessions::copied_session_cookie_is_refused_after_logout,
        sessions::copied_session_cookie_is_refused_after_idle_time,
        sessions::every_login_gets_a_new_session_id,
        sessions::secure_cookies_are_host_prefixed,
        sessions::login_flood_from_one_address_is_429_while_the_admin_logs_in_from_another,
        sessions::every_forwarded_for_line_is_read_behind_trusted_proxies,
        sessions::a_hop_count_believes_only_the_proxys_entry,
        sessions::ipv6_clients_behind_a_proxy_are_told_apart,
        sessions::account_bound_holds_across_two_replicas,
        sessions::admin_pages_are_503_while_sessions_cannot_be_checked,
        resilience::posts_service_unreachable_is_a_503_page,
        resilience::stopped_posts_service_is_a_503_page_and_render_stays_ready,
        resilience::slow_posts_service_is_a_503_page_within_the_timeout,
        resilience::readyz_is_render_services_own_state,
        tls::pages_render_over_https_and_fail_cleanly_with_an_untrusted_certificate,
        resilience::frozen_posts_service_serves_stale_pages_fast_and_the_breaker_recovers,
        idempotency::add_form_carries_an_idempotency_key_kept_on_errors,
        idempotency::double_submit_of_the_add_form_makes_one_post,
        idempotency::a_create_whose_answer_was_lost_is_retried_and_makes_one_post,
        observability::request_id_is_returned_and_forwarded_to_posts_service,
        observability::metrics_show_route_templates_not_ids,
        observability::healthz_is_ok,
        observability::the_dashboard_uses_only_metrics_the_services_expose,
        authoring::post_ids_and_earlier_slugs_redirect_to_the_current_slug,
        authoring::drafts_are_404_for_readers_and_shown_with_a_banner_to_the_admin,
        authoring::the_form_round_trips_slug_tags_status_and_publish_time,
        authoring::bad_new_fields_keep_the_text_and_show_errors_by_field,
        authoring::a_saved_draft_flashes_draft_saved,
        authoring::admin_lists_drafts_and_scheduled_posts_before_published_ones,
        feed::atom_feed_has_the_20_newest_posts,
        feed::feeds_are_valid_atom,
        sitemap::the_sitemap_lists_visible_posts_and_tag_pages_and_robots_names_it,
        feed::atom_feed_escapes_and_sanitizes_content,
        browser::browser_adds_edits_and_deletes_a_post,
        browser::browser_follows_tags_and_finds_posts_by_search,
        xss::xss_corpus_runs_nowhere_with_csp,
        xss::xss_corpus_runs_nowhere_without_csp,
    ])
}
