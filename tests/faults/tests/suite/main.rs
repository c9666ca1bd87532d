//! The fault suite: the blog's promises under faults (the page cache's stale copies and
//! breaker, the HTTP edge, posts-service's `Idempotency-Key` and its 503s; see
//! docs/architecture.md and docs/testing.md).
//!
//! Each case starts its own posts-service (and render-service) as real processes, with
//! [`fault_proxy::FaultProxy`]s between render-service and posts-service and between
//! posts-service and MariaDB, injects one kind of fault, and prints its figures as
//! `FIGURE <scenario>: …` lines (run with `--nocapture` to see them as they come; the
//! failure message of a case names every promise it broke). Most cases share one MariaDB
//! container; those that kill or freeze the server start their own.
//!
//! Run alone: `tests/faults/run.sh` (builds the service binaries first). Two cases run
//! at a time: the suite measures latency, and more would crowd a 2-core machine.

mod blog;
mod database_outage;
mod idempotency;
mod posts_outage;
mod shutdown;
mod writes;

fn main() -> std::process::ExitCode {
    // The shared server requires TLS, as the deployments' does (fault_suite::tls).
    test_mariadb::harness::run_with_server(
        test_mariadb::cases![
            // The longest first, so that the rest fill the other thread meanwhile.
            writes::acknowledged_writes_survive_three_kill_9_of_the_database,
            database_outage::frozen_database_gives_503_within_2_s_and_recovers_within_1_s,
            database_outage::blackholed_database_gives_503_within_2_s_and_recovers_within_1_s,
            database_outage::posts_service_starts_without_its_database_and_turns_ready_once_it_is_back,
            posts_outage::blackholed_posts_service_gives_stale_pages_fast,
            posts_outage::frozen_posts_service_gives_stale_pages_fast,
            posts_outage::refusing_posts_service_gives_stale_pages_fast,
            shutdown::sigterm_under_load_posts_service_fails_no_accepted_request,
            shutdown::sigterm_under_load_render_service_fails_no_accepted_request,
            idempotency::a_create_retried_after_a_timeout_makes_one_post,
            idempotency::a_double_submitted_add_form_makes_one_post,
        ],
        2,
        || Box::pin(fault_suite::tls::start_database()),
    )
}
