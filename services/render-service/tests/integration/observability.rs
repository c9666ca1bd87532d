//! Request ids, metrics and health.

use std::sync::{Arc, Mutex};

use prometheus::Registry;
use reqwest::StatusCode;
use serde_json::json;
use service_runtime::metrics::HttpMetrics;
use service_runtime::request_id::{self, RequestId};
use service_runtime::server::{serve, Edge};
use test_mariadb::harness::Db;
use tokio::net::TcpListener;
use warp::Filter;

use crate::helpers::{
    browser, render_config, spawn_blog, spawn_render_service, spawn_render_service_with_metrics,
    wait_until_ready, API_TOKEN,
};

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
    let stub_task = tokio::spawn(serve(
        listener,
        stub,
        metrics,
        Edge::default(),
        std::future::pending(),
    ));
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
    blog.get(&blog.post_path(id).await).await;
    blog.get("/posts/987654").await;
    blog.get("/edit/987654").await;
    blog.get("/no/such/path/31337").await;
    let response = blog.api.get(&blog.metrics_url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let metrics = response.text().await.unwrap();
    assert!(
        metrics
            .contains(r#"http_requests_total{method="GET",route="/posts/{slug}",status="200"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(r#"http_requests_total{method="GET",route="/posts/{slug}",status="404"} 1"#),
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

/// The Grafana dashboard shipped with the deployment files.
const DASHBOARD: &str = include_str!("../../../../deploy/grafana/blog.json");

/// Every metric the dashboard's queries use is one that posts-service or render-service
/// exposes, once they have served a few pages: scraped from both, not from a list.
/// (tests/prometheus/run.sh checks that every query parses.)
pub async fn the_dashboard_uses_only_metrics_the_services_expose(db: Db) {
    promql_metric_names_are_the_selected_series_only();
    let config = posts_service::Config::new(db.fresh_database().await, API_TOKEN);
    let posts = posts_service::Application::build(config)
        .await
        .expect("posts-service starts");
    let posts_addr = posts.local_addr();
    let posts_metrics = format!("http://{}/metrics", posts.metrics_addr());
    let posts_task = tokio::spawn(posts.run_until_stopped(std::future::pending()));
    wait_until_ready(posts_addr).await;
    let (url, render_metrics, render_task) =
        spawn_render_service_with_metrics(render_config(&format!("http://{posts_addr}"))).await;

    // what a reader does: the index twice (a miss, then a hit) and a post
    let client = browser();
    let created: serde_json::Value = client
        .post(format!("http://{posts_addr}/v1/posts"))
        .bearer_auth(API_TOKEN)
        .json(&json!({"title": "Watched", "body": "by a dashboard"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/".to_owned(),
        "/".to_owned(),
        format!("/posts/{}", created["slug"].as_str().unwrap()),
    ] {
        let status = client
            .get(format!("{url}{path}"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::OK, "{path}");
    }

    let mut exposed = std::collections::BTreeSet::new();
    for metrics_url in [&posts_metrics, &render_metrics] {
        let text = client
            .get(metrics_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        exposed.extend(
            text.lines()
                .filter(|line| !line.starts_with('#') && !line.is_empty())
                .filter_map(|line| line.split(['{', ' ']).next())
                .map(str::to_owned),
        );
    }
    let dashboard: serde_json::Value =
        serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    let used = dashboard_metric_names(&dashboard);
    assert!(
        used.contains("http_requests_total"),
        "no metric found in the dashboard: {used:?}"
    );
    let missing: Vec<&String> = used
        .iter()
        .filter(|name| !exposed.contains(*name))
        .collect();
    assert!(
        missing.is_empty(),
        "deploy/grafana/blog.json uses metrics neither service exposes: {missing:?}\nexposed: {exposed:?}"
    );
    render_task.abort();
    posts_task.abort();
}

/// The metric names of every query (`targets[].expr`) of every panel, nested ones too.
fn dashboard_metric_names(dashboard: &serde_json::Value) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut panels: Vec<&serde_json::Value> = dashboard["panels"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    while let Some(panel) = panels.pop() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                names.extend(promql_metric_names(expr));
            }
        }
        panels.extend(panel["panels"].as_array().into_iter().flatten());
    }
    names
}

/// The metric names a PromQL expression selects: the identifiers left once strings,
/// label matchers, ranges, grouping clauses, numbers and durations are set aside, that
/// are neither a keyword nor a function (followed by `(`).
fn promql_metric_names(expr: &str) -> Vec<String> {
    const KEYWORDS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
        "inf",
        "nan",
    ];
    const GROUPING: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    let skip_to = |from: usize, close: char| {
        let mut j = from;
        let mut quoted = false;
        while j < chars.len() {
            match chars[j] {
                '\\' if quoted => j += 1,
                '"' => quoted = !quoted,
                c if c == close && !quoted => return j + 1,
                _ => {}
            }
            j += 1;
        }
        j
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            i = skip_to(i + 1, '"');
        } else if c == '{' {
            i = skip_to(i + 1, '}');
        } else if c == '[' {
            i = skip_to(i + 1, ']');
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            // a function's `(`, or an aggregation's grouping first (`sum by (job) (…)`)
            let rest: String = chars[next..].iter().take(16).collect();
            let called = rest.starts_with('(')
                || ["by", "without"].iter().any(|clause| {
                    rest.strip_prefix(clause)
                        .is_some_and(|after| after.trim_start().starts_with('('))
                });
            if GROUPING.contains(&word.as_str()) && called {
                i = skip_to(next + 1, ')');
            } else if !called && !KEYWORDS.contains(&word.to_lowercase().as_str()) {
                names.push(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The name finder on an expression with every kind of thing it must set aside.
fn promql_metric_names_are_the_selected_series_only() {
    assert_eq!(
        promql_metric_names(
            r#"histogram_quantile(0.99, sum by (job, le) (rate(a_bucket{route!~"/x|(y", le="0.5"}[5m])))
               / on (job) group_left (version) b_total offset 1h > bool 2e3"#
        ),
        ["a_bucket", "b_total"]
    );
}
