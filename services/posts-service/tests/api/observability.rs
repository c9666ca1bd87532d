//! Health, readiness, request ids, metrics, and migrations run by several replicas.

use mysql_async::prelude::Queryable;
use posts_service::{Application, Config};
use reqwest::StatusCode;
use serde_json::Value;
use test_mariadb::harness::Db;

use crate::helpers::{id_of, TestApp, TOKEN};

pub async fn health_and_readiness(db: Db) {
    let app = TestApp::spawn(&db).await;
    let health = app.fetch("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app.fetch("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);

    // A server that did not migrate its (empty) database is alive but not ready.
    let mut config = Config::new(db.fresh_database().await, TOKEN);
    config.migrate_on_start = false;
    let unmigrated = TestApp::spawn_unready(config).await;
    let health = unmigrated.fetch("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    let ready = unmigrated.fetch("/readyz").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = ready.text().await.unwrap();
    assert!(!body.contains("refinery"), "no internals leak: {body}");
    // Once its first look at the database is done, it says why.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let ready = unmigrated.fetch("/readyz").await;
        assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
        let problem: Value = ready.json().await.unwrap();
        if problem["detail"] == "Not ready: migrations pending." {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{problem}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    unmigrated.stop().await;
    app.stop().await;
}

pub async fn request_id_is_echoed_or_generated(db: Db) {
    let app = TestApp::spawn(&db).await;
    let response = app
        .client
        .get(app.url("/v1/posts"))
        .header("X-Request-Id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-123");

    let first = app.client.get(app.url("/v1/posts/1")).send().await.unwrap();
    let second = app.client.get(app.url("/nowhere")).send().await.unwrap();
    let first_id = first.headers()["x-request-id"].to_str().unwrap().to_owned();
    let second_id = second.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(first_id.len(), 36, "generated ids are UUIDs");
    assert_ne!(first_id, second_id);
    app.stop().await;
}

pub async fn metrics_use_route_templates(db: Db) {
    let app = TestApp::spawn(&db).await;
    let id = id_of(&app.create_ok("measured", "x").await);
    app.get(id).await;
    app.get(987_654).await;
    let text = app.metrics().await;
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/v1/posts/{id}",status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/v1/posts/{id}",status="404"} 1"#)
    );
    assert!(text.contains(r#"http_requests_total{method="POST",route="/v1/posts",status="201"} 1"#));
    assert!(text.contains("http_request_duration_seconds_bucket"));
    assert!(text.contains("db_pool_connections"));
    assert!(text.contains(r#"db_operations_total{operation="get",outcome="ok"}"#));
    assert!(!text.contains("987654"), "raw ids never appear in metrics");
    assert!(!text.contains(&format!("/v1/posts/{id}\"")));
    // Only on the metrics listener: the public port does not serve them.
    let public = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

pub async fn migrations_are_idempotent_across_replicas(db: Db) {
    let url = db.fresh_database().await;
    // Three replicas start together on one empty database.
    let starts = (0..3).map(|_| Application::build(Config::new(url.clone(), TOKEN)));
    let apps = futures_util::future::join_all(starts).await;
    for app in &apps {
        let app = app.as_ref().expect("replica failed to start");
        tokio::time::timeout(std::time::Duration::from_secs(60), app.database().started())
            .await
            .expect("replica did not migrate within 60 s");
    }
    let mut conn = mysql_async::Conn::from_url(&url).await.unwrap();
    let applied: Vec<(i64, String)> = conn
        .query("SELECT version, name FROM refinery_schema_history ORDER BY version")
        .await
        .unwrap();
    assert_eq!(
        applied,
        vec![
            (1, "create_posts".to_owned()),
            (2, "create_admin_sessions_and_login_failures".to_owned()),
            (3, "create_idempotency_keys".to_owned()),
            (4, "add_rendered_columns".to_owned()),
            (5, "add_slugs_status_and_tags".to_owned()),
            (6, "create_post_search".to_owned()),
            (7, "create_users".to_owned()),
        ]
    );
    let charset: Option<String> = conn
        .query_first(
            "SELECT CCSA.character_set_name FROM information_schema.TABLES T \
             JOIN information_schema.COLLATION_CHARACTER_SET_APPLICABILITY CCSA \
             ON CCSA.collation_name = T.table_collation \
             WHERE T.table_schema = DATABASE() AND T.table_name = 'posts'",
        )
        .await
        .unwrap();
    assert_eq!(charset.as_deref(), Some("utf8mb4"));
    let _ = conn.disconnect().await;

    // A later start finds nothing to do and still serves.
    let app = TestApp::spawn_with(Config::new(url, TOKEN)).await;
    let page: Value = app.list("").await.json().await.unwrap();
    assert_eq!(page["posts"], serde_json::json!([]));
    app.stop().await;
}
