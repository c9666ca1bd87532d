//! The page cache's promises: the admin sees their own write at once; readers never see
//! an edited or deleted post's old version for longer than the bound; an outage serves
//! the last good page rather than an error, but never a post posts-service said is gone;
//! unknown ids and made-up cookies do not get past it; pages and the feed revalidate
//! with a 304.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use test_mariadb::harness::Db;

use crate::helpers::{
    csrf_token, spawn_blog_behind_proxy, spawn_blog_with, x_cache, Blog, Browser,
};

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
    let cache = x_cache(&response);
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
    let id = blog.create_id_via_api("Cached", "body").await;
    let path = blog.post_path(id).await;
    let reader = blog.new_browser();
    assert_eq!(view(&reader, &path).await.1, "miss");
    let (status, cache, html) = view(&blog.new_browser(), &path).await;
    assert_eq!((status, cache.as_str()), (StatusCode::OK, "hit"));
    assert!(html.contains("Cached"));
}

pub async fn admin_sees_their_own_edit_on_the_very_next_page(db: Db) {
    // A long bound, so a cached page would be noticed.
    let blog = blog_with_bound(&db, Duration::from_secs(60)).await;
    let id = blog.create_id_via_api("Before", "old body").await;
    let path = blog.post_path(id).await;
    let reader = blog.new_browser();
    view(&reader, &path).await;
    view(&reader, "/").await;

    blog.login().await;
    let (_, form) = blog.page(&format!("/edit/{id}")).await;
    let response = blog
        .submit_edit(id, "After", "new body", "1", &csrf_token(&form))
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
    let id = blog.create_id_via_api("Original", "body").await;
    let path = blog.post_path(id).await;
    let reader = blog.new_browser();
    view(&reader, &path).await;
    view(&reader, "/").await;

    // Changed through the API, as another render-service replica would.
    blog.update_via_api(id, 1, "Edited elsewhere", "body").await;
    let took = time_until(&reader, &path, |_, html| html.contains("Edited elsewhere")).await;
    assert!(took <= BOUND + SLACK, "post page stale for {took:?}");
    let took = time_until(&reader, "/", |_, html| html.contains("Edited elsewhere")).await;
    assert!(took <= BOUND + SLACK, "index stale for {took:?}");

    assert_eq!(blog.delete_via_api(id).await, StatusCode::NO_CONTENT);
    let took = time_until(&reader, &path, |status, _| status == StatusCode::NOT_FOUND).await;
    assert!(took <= BOUND + SLACK, "deleted post shown for {took:?}");
}

pub async fn outage_serves_the_last_good_page(db: Db) {
    let blog = blog_with_bound(&db, Duration::from_millis(100)).await;
    let kept = blog
        .create_id_via_api("Kept through the outage", "body")
        .await;
    let never_seen = blog.create_id_via_api("Never viewed", "body").await;
    let reader = blog.new_browser();
    let kept = blog.post_path(kept).await;
    let never_seen = blog.post_path(never_seen).await;
    view(&reader, &kept).await;
    view(&reader, "/").await;

    blog.stop_posts_service().await;
    tokio::time::sleep(Duration::from_millis(200)).await; // past the bound
    let (status, cache, html) = view(&reader, &kept).await;
    assert_eq!((status, cache.as_str()), (StatusCode::OK, "stale"));
    assert!(html.contains("Kept through the outage"), "{html}");
    let (status, cache, html) = view(&reader, "/").await;
    assert_eq!((status, cache.as_str()), (StatusCode::OK, "stale"));
    assert!(html.contains("Kept through the outage"));

    // A page never rendered before has no last good copy: the 503 page.
    let (status, _, _) = view(&reader, &never_seen).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

pub async fn pages_with_a_flash_or_a_session_are_never_shared(db: Db) {
    let blog = blog_with_bound(&db, Duration::from_secs(60)).await;
    blog.login().await;
    let (_, form) = blog.page("/add").await;
    let response = blog.submit_add("Fresh", "body", &csrf_token(&form)).await;
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

const NOT_FOUND_CALLS: &str =
    r#"upstream_requests_total{operation="get_post",outcome="not_found",upstream="posts-service"}"#;

pub async fn unknown_ids_are_remembered_as_404_within_the_bound(db: Db) {
    let (blog, proxy) = spawn_blog_behind_proxy(&db, |config| {
        config.page_cache_ttl_ms = 10_000;
    })
    .await;
    let reader = blog.new_browser();
    let started = Instant::now();
    let before = proxy.forwarded_requests();
    // 1,000 requests for one unknown id, 25 at a time.
    let path = "/posts/987654321";
    for _ in 0..40 {
        let batch = (0..25).map(|_| reader.get(path));
        for response in futures_util::future::join_all(batch).await {
            assert_eq!(response.status(), StatusCode::NOT_FOUND);
            let html = response.text().await.unwrap();
            assert!(html.contains("Page not found"), "the 404 page: {html}");
        }
    }
    let took = started.elapsed();
    let reached = proxy.forwarded_requests() - before;
    let calls = blog.metric(NOT_FOUND_CALLS).await.unwrap_or_default();
    println!(
        "    1,000 requests for one unknown id in {:.0} ms: {reached} reached posts-service",
        took.as_secs_f64() * 1000.0
    );
    assert!(took < Duration::from_secs(10), "within the bound");
    assert_eq!(calls, 1.0, "one call for the id");
    assert!(reached <= 2, "{reached} requests reached posts-service");
}

pub async fn a_made_up_flash_cookie_does_not_bypass_the_cache(db: Db) {
    let blog = blog_with_bound(&db, Duration::from_secs(60)).await;
    let id = blog.create_id_via_api("Cached for everyone", "body").await;
    let path = blog.post_path(id).await;
    assert_eq!(view(&blog.new_browser(), &path).await.1, "miss");
    for cookie in ["blog_flash=made-up", "blog_flash=SGk.AAAA", "blog_flash="] {
        let response = blog
            .api
            .get(blog.at(&path))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-cache"], "hit", "{cookie}");
        // The browser is told to drop it.
        let cleared = crate::helpers::set_cookies(response.headers());
        assert!(
            cleared
                .iter()
                .any(|c| c.starts_with("blog_flash=;") && c.contains("Max-Age=0")),
            "{cookie}: {cleared:?}"
        );
    }
    // A genuine flash still makes the page personal (and is shown once).
    blog.login().await;
    let post = blog.add_post("Flash me", "body").await;
    let admin_page = blog.get(&blog.post_path(post).await).await;
    assert!(!admin_page.headers().contains_key("x-cache"));
}

pub async fn a_post_deleted_elsewhere_never_comes_back_from_an_old_copy(db: Db) {
    let blog = blog_with_bound(&db, Duration::from_millis(100)).await;
    let id = blog.create_id_via_api("Deleted elsewhere", "body").await;
    let path = blog.post_path(id).await;
    let reader = blog.new_browser();
    assert_eq!(view(&reader, &path).await.0, StatusCode::OK);
    // Deleted through another replica (straight at posts-service).
    assert_eq!(blog.delete_via_api(id).await, StatusCode::NO_CONTENT);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(view(&reader, &path).await.0, StatusCode::NOT_FOUND);
    // Then posts-service goes away: the old copy must not come back.
    blog.stop_posts_service().await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (status, cache, html) = view(&reader, &path).await;
    assert_ne!(status, StatusCode::OK, "{cache}: {html}");
    assert!(!html.contains("Deleted elsewhere"), "{html}");
}

pub async fn shared_pages_and_the_feed_answer_conditional_gets_with_304(db: Db) {
    let blog = blog_with_bound(&db, Duration::from_secs(60)).await;
    let id = blog.create_id_via_api("Conditional", "body").await;
    for path in [
        "/".to_owned(),
        blog.post_path(id).await,
        "/feed.xml".to_owned(),
    ] {
        let reader = blog.new_browser();
        let first = reader.get(&path).await;
        assert_eq!(first.status(), StatusCode::OK, "{path}");
        let headers = first.headers().clone();
        let etag = headers["etag"].to_str().unwrap().to_owned();
        let last_modified = headers["last-modified"].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        assert_eq!(headers["cache-control"], "no-cache", "{path}");
        assert!(!first.bytes().await.unwrap().is_empty());

        let again = reader.get(&path).await;
        assert_eq!(again.headers()["x-cache"], "hit", "{path}");
        assert_eq!(again.headers()["etag"], etag.as_str(), "{path}");

        for (name, value) in [
            ("if-none-match", etag.as_str()),
            ("if-modified-since", last_modified.as_str()),
        ] {
            let response = reader
                .client
                .get(reader.at(&path))
                .header(name, value)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{path} {name}");
            assert_eq!(response.headers()["etag"], etag.as_str());
            assert!(response.bytes().await.unwrap().is_empty());
        }
        let other = reader
            .client
            .get(reader.at(&path))
            .header("if-none-match", "\"something-else\"")
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), StatusCode::OK, "{path}");
    }
    // The feed's links follow the Host, and so does its ETag.
    let feed = |host: &'static str| {
        blog.api
            .get(blog.at("/feed.xml"))
            .header("host", host)
            .send()
    };
    let one = feed("one.example").await.unwrap();
    let one_etag = one.headers()["etag"].clone();
    let one_xml = one.text().await.unwrap();
    let two = feed("two.example").await.unwrap();
    assert_eq!(
        two.headers()["x-cache"],
        "hit",
        "one cached feed for every Host"
    );
    assert_ne!(two.headers()["etag"], one_etag);
    let two_xml = two.text().await.unwrap();
    assert!(
        one_xml.contains(&format!("http://one.example/posts/{id}")),
        "{one_xml}"
    );
    assert!(
        two_xml.contains(&format!("http://two.example/posts/{id}")),
        "{two_xml}"
    );
    assert!(!two_xml.contains('\u{1}'), "{two_xml}");
}
