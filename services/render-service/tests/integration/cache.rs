//! The page cache's promises: the admin sees their own write at once; readers never see
//! an edited or deleted post's old version for longer than the bound; an outage serves
//! the last good page rather than an error.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use test_mariadb::harness::Db;

use crate::helpers::{csrf_token, spawn_blog_with, Blog, Browser, API_TOKEN};

/// The bound these tests configure (the default is 1 s).
const BOUND: Duration = Duration::from_millis(500);
/// Allowance for one render and a loaded test machine: bound plus slack stays within
/// the default bound of 1 s.
const SLACK: Duration = Duration::from_millis(500);

async fn blog_with_bound(db: &Db, bound: Duration) -> Blog {
    spawn_blog_with(db, |config| {
        config.page_cache_ttl_ms = bound.as_millis() as u64;
    })
    .await
}

async fn view(reader: &Browser, path: &str) -> (StatusCode, String, String) {
    let response = reader.get(path).await;
    let status = response.status();
    let cache = response
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_owned();
    (status, cache, response.text().await.unwrap())
}

/// Polls `path` until `done` holds; returns how long that took.
async fn time_until(
    reader: &Browser,
    path: &str,
    done: impl Fn(StatusCode, &str) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let (status, _, html) = view(reader, path).await;
        if done(status, &html) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never happened"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn anonymous_readers_share_a_cached_page(db: Db) {
    let blog = blog_with_bound(&db, Duration::from_secs(60)).await;
    let id = blog.create_via_api("Cached", "body").await["id"]
        .as_u64()
        .unwrap();
    let path = format!("/posts/{id}");
    let reader = blog.new_browser();
    assert_eq!(view(&reader, &path).await.1, "miss");
    let (status, cache, html) = view(&blog.new_browser(), &path).await;
    assert_eq!((status, cache.as_str()), (StatusCode::OK, "hit"));
    assert!(html.contains("Cached"));
}

pub async fn admin_sees_their_own_edit_on_the_very_next_page(db: Db) {
    // A long bound, so a cached page would be noticed.
    let blog = blog_with_bound(&db, Duration::from_secs(60)).await;
    let id = blog.create_via_api("Before", "old body").await["id"]
        .as_u64()
        .unwrap();
    let path = format!("/posts/{id}");
    let reader = blog.new_browser();
    view(&reader, &path).await;
    view(&reader, "/").await;

    blog.login().await;
    let (_, form) = blog.page(&format!("/edit/{id}")).await;
    let response = blog
        .post_form(
            &format!("/edit/{id}"),
            &[
                ("title", "After"),
                ("body", "new body"),
                ("version", "1"),
                ("csrf_token", &csrf_token(&form)),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, admin_cache, html) = view(&blog, &path).await;
    assert!(html.contains("After") && !html.contains("Before"), "{html}");
    assert_eq!(admin_cache, "none", "the admin's pages are never shared");
    // Readers of this replica see it at once too: the write emptied its cache.
    let (_, _, html) = view(&reader, &path).await;
    assert!(html.contains("After"), "{html}");
    let (_, _, index) = view(&reader, "/").await;
    assert!(
        index.contains("After") && !index.contains("Before"),
        "{index}"
    );
}

pub async fn edits_and_deletes_made_elsewhere_reach_readers_within_the_bound(db: Db) {
    let blog = blog_with_bound(&db, BOUND).await;
    let id = blog.create_via_api("Original", "body").await["id"]
        .as_u64()
        .unwrap();
    let path = format!("/posts/{id}");
    let reader = blog.new_browser();
    view(&reader, &path).await;
    view(&reader, "/").await;

    // Changed through the API, as another render-service replica would.
    blog.update_via_api(id, 1, "Edited elsewhere", "body").await;
    let took = time_until(&reader, &path, |_, html| html.contains("Edited elsewhere")).await;
    assert!(took <= BOUND + SLACK, "post page stale for {took:?}");
    let took = time_until(&reader, "/", |_, html| html.contains("Edited elsewhere")).await;
    assert!(took <= BOUND + SLACK, "index stale for {took:?}");

    let deleted = blog
        .api
        .delete(format!("{}/v1/posts/{id}", blog.api_url))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let took = time_until(&reader, &path, |status, _| status == StatusCode::NOT_FOUND).await;
    assert!(took <= BOUND + SLACK, "deleted post shown for {took:?}");
}

pub async fn outage_serves_the_last_good_page(db: Db) {
    let blog = blog_with_bound(&db, Duration::from_millis(100)).await;
    let kept = blog.create_via_api("Kept through the outage", "body").await["id"]
        .as_u64()
        .unwrap();
    let never_seen = blog.create_via_api("Never viewed", "body").await["id"]
        .as_u64()
        .unwrap();
    let reader = blog.new_browser();
    view(&reader, &format!("/posts/{kept}")).await;
    view(&reader, "/").await;

    blog.stop_posts_service().await;
    tokio::time::sleep(Duration::from_millis(200)).await; // past the bound
    let (status, cache, html) = view(&reader, &format!("/posts/{kept}")).await;
    assert_eq!((status, cache.as_str()), (StatusCode::OK, "stale"));
    assert!(html.contains("Kept through the outage"), "{html}");
    let (status, cache, html) = view(&reader, "/").await;
    assert_eq!((status, cache.as_str()), (StatusCode::OK, "stale"));
    assert!(html.contains("Kept through the outage"));

    // A page never rendered before has no last good copy: the 503 page.
    let (status, _, _) = view(&reader, &format!("/posts/{never_seen}")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

pub async fn pages_with_a_flash_or_a_session_are_never_shared(db: Db) {
    let blog = blog_with_bound(&db, Duration::from_secs(60)).await;
    blog.login().await;
    let (_, form) = blog.page("/add").await;
    let response = blog
        .post_form(
            "/add",
            &[
                ("title", "Fresh"),
                ("body", "body"),
                ("csrf_token", &csrf_token(&form)),
            ],
        )
        .await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    // The admin's page (with the flash and the logout form) ...
    let (_, cache, html) = view(&blog, &location).await;
    assert_eq!(cache, "none");
    assert!(html.contains("New entry was successfully posted"));
    // ... never reaches a reader, who gets a page of their own.
    let (_, _, html) = view(&blog.new_browser(), &location).await;
    assert!(!html.contains("successfully posted"), "{html}");
    assert!(!html.contains("csrf_token"), "{html}");
    assert!(!html.contains("Log out"), "{html}");
}
