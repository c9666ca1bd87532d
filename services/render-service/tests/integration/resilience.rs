//! posts-service down, stopped or slow: a clear 503 page within the timeout, never a hang.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use test_mariadb::harness::Db;
use tokio::net::TcpListener;

use crate::helpers::{
    browser, closed_port, render_config, spawn_posts_service, spawn_render_service,
    spawn_render_service_with_metrics,
};

/// How long a page may take when posts-service does not answer: the configured
/// request timeout plus slack for a loaded test machine.
fn assert_quick(started: Instant, limit: Duration) {
    let took = started.elapsed();
    assert!(took < limit, "took {took:?}, limit {limit:?}");
}

fn assert_unavailable_page(status: StatusCode, html: &str) {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{html}");
    assert!(html.contains("taking a short break"), "{html}");
    assert!(
        html.contains("<link rel=\"stylesheet\""),
        "a styled page: {html}"
    );
    assert!(
        !html.to_lowercase().contains("reqwest"),
        "no raw error: {html}"
    );
    assert!(!html.contains("127.0.0.1"), "no internals: {html}");
}

pub async fn posts_service_unreachable_is_a_503_page(_db: Db) {
    let posts_url = format!("http://127.0.0.1:{}", closed_port());
    let (url, task) = spawn_render_service(render_config(&posts_url)).await;
    let client = browser();
    for path in ["/", "/posts/1", "/feed.xml"] {
        let started = Instant::now();
        let response = client.get(format!("{url}{path}")).send().await.unwrap();
        let status = response.status();
        assert_eq!(response.headers()["retry-after"], "5");
        let html = response.text().await.unwrap();
        assert_unavailable_page(status, &html);
        assert_quick(started, Duration::from_secs(3));
    }
    task.abort();
}

pub async fn stopped_posts_service_is_a_503_page_and_not_ready(db: Db) {
    let (posts_addr, posts_task) = spawn_posts_service(&db).await;
    // Without the page cache: no last good copy hides the outage (see cache.rs for that).
    let mut config = render_config(&format!("http://{posts_addr}"));
    config.page_cache_ttl_ms = 0;
    let (url, task) = spawn_render_service(config).await;
    let client = browser();
    let response = client.get(format!("{url}/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = client.get(format!("{url}/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    posts_task.abort();
    let _ = posts_task.await;
    let started = Instant::now();
    let response = client.get(format!("{url}/")).send().await.unwrap();
    let status = response.status();
    assert_unavailable_page(status, &response.text().await.unwrap());
    assert_quick(started, Duration::from_secs(4));
    let response = client.get(format!("{url}/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    task.abort();
}

pub async fn slow_posts_service_is_a_503_page_within_the_timeout(_db: Db) {
    // A "posts-service" that accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let mut config = render_config(&format!("http://{addr}"));
    config.posts_request_timeout_ms = 800;
    config.posts_ready_timeout_ms = 300;
    let (url, metrics_url, task) = spawn_render_service_with_metrics(config).await;
    let client = browser();

    let started = Instant::now();
    let response = client.get(format!("{url}/posts/1")).send().await.unwrap();
    let status = response.status();
    assert_unavailable_page(status, &response.text().await.unwrap());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(700),
        "waited for the timeout: {took:?}"
    );
    assert_quick(started, Duration::from_secs(3));

    let started = Instant::now();
    let response = client.get(format!("{url}/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_quick(started, Duration::from_secs(2));

    let metrics = client
        .get(&metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"upstream_requests_total{operation="get_post",outcome="timeout",upstream="posts-service"} 1"#),
        "{metrics}"
    );
    task.abort();
    silent.abort();
}

pub async fn readyz_follows_posts_service(db: Db) {
    let posts_url = format!("http://127.0.0.1:{}", closed_port());
    let (url, task) = spawn_render_service(render_config(&posts_url)).await;
    let client = browser();
    let response = client.get(format!("{url}/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    // /healthz does not depend on posts-service.
    let response = client.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    task.abort();

    let (posts_addr, posts_task) = spawn_posts_service(&db).await;
    let (url, task) = spawn_render_service(render_config(&format!("http://{posts_addr}"))).await;
    let response = client.get(format!("{url}/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    task.abort();
    posts_task.abort();
}
