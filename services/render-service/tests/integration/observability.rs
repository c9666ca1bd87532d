//! Request ids, metrics and health.

use std::sync::{Arc, Mutex};

use prometheus::Registry;
use reqwest::StatusCode;
use serde_json::json;
use service_runtime::metrics::HttpMetrics;
use service_runtime::request_id::{self, RequestId};
use service_runtime::server::serve;
use test_mariadb::harness::Db;
use tokio::net::TcpListener;
use warp::Filter;

use crate::helpers::{browser, render_config, spawn_blog, spawn_render_service};

pub async fn request_id_is_returned_and_forwarded_to_posts_service(db: Db) {
    // A stub posts-service (its summaries, which the index asks for) that remembers the
    // X-Request-Id of each call it receives.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let recorded = seen.clone();
    let stub = warp::path!("v1" / "post-summaries")
        .and(warp::get())
        .and(request_id::filter())
        .map(move |id: RequestId| {
            recorded.lock().unwrap().push(id.as_str().to_owned());
            warp::reply::json(&json!({ "posts": [], "next_before": null }))
        });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stub_url = format!("http://{}", listener.local_addr().unwrap());
    let metrics = HttpMetrics::register(&Registry::new()).unwrap();
    let stub_task = tokio::spawn(serve(listener, stub, metrics, std::future::pending()));
    // Every page view must reach the stub, so no page is served from the cache.
    let mut config = render_config(&stub_url);
    config.page_cache_ttl_ms = 0;
    let (url, task) = spawn_render_service(config).await;
    let client = browser();

    // The caller's id comes back and reaches posts-service.
    let response = client
        .get(format!("{url}/"))
        .header("x-request-id", "trace-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-request-id"], "trace-abc-123");
    assert_eq!(
        seen.lock().unwrap().last().map(String::as_str),
        Some("trace-abc-123")
    );

    // Without one, a fresh id is made, returned, and forwarded.
    let response = client.get(format!("{url}/")).send().await.unwrap();
    let generated = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(generated.len(), 36, "{generated}");
    assert_eq!(seen.lock().unwrap().last(), Some(&generated));
    task.abort();
    stub_task.abort();

    // Against the real posts-service: every page answers with an id.
    let blog = spawn_blog(&db).await;
    let response = blog.get("/posts/1").await;
    assert!(response.headers().contains_key("x-request-id"));
}

pub async fn metrics_show_route_templates_not_ids(db: Db) {
    let blog = spawn_blog(&db).await;
    let post = blog.create_via_api("Counted", "body").await;
    let id = post["id"].as_u64().unwrap();
    blog.get(&format!("/posts/{id}")).await;
    blog.get("/posts/987654").await;
    blog.get("/edit/987654").await;
    blog.get("/no/such/path/31337").await;
    let response = blog.api.get(&blog.metrics_url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let metrics = response.text().await.unwrap();
    assert!(
        metrics.contains(r#"http_requests_total{method="GET",route="/posts/{id}",status="200"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"http_requests_total{method="GET",route="/posts/{id}",status="404"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"route="/edit/{id}""#), "{metrics}");
    assert!(metrics.contains(r#"route="unmatched""#), "{metrics}");
    assert!(!metrics.contains("987654"), "{metrics}");
    assert!(!metrics.contains("31337"), "{metrics}");
    assert!(!metrics.contains(&format!("/posts/{id}\"")), "{metrics}");
    // Only on the metrics listener: the public port does not serve them.
    assert_eq!(blog.get("/metrics").await.status(), StatusCode::NOT_FOUND);
    // Upstream calls, by operation and outcome.
    assert!(
        metrics.contains(r#"upstream_requests_total{operation="get_post",outcome="ok",upstream="posts-service"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"upstream_requests_total{operation="get_post",outcome="not_found",upstream="posts-service"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("upstream_request_duration_seconds_bucket"),
        "{metrics}"
    );
}

pub async fn healthz_is_ok(_db: Db) {
    let (url, task) = spawn_render_service(render_config("http://127.0.0.1:9")).await;
    let response = browser()
        .get(format!("{url}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "ok");
    task.abort();
}
