//! The database goes away and comes back: requests fail fast with 503 and the same
//! server process recovers without a restart. These tests use their own container.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use test_mariadb::harness::Db;
use test_mariadb::MariaDb;

use crate::helpers::{assert_problem, id_of, TestApp, TOKEN};

/// The service's promise: a dead database costs a request at most this long.
const FAIL_FAST: Duration = Duration::from_secs(2);

async fn wait_until_ok(app: &TestApp, id: u64, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        if app.get(id).await.status() == StatusCode::OK {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "service did not recover within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn stopped_database_gives_fast_503_then_recovers(_shared: Db) {
    let db = MariaDb::start_on_fixed_port().await;
    let app =
        TestApp::spawn_with(posts_service::Config::new(db.fresh_database().await, TOKEN)).await;
    let id = id_of(&app.create_ok("survivor", "x").await);

    db.stop().await;
    for _ in 0..3 {
        let started = Instant::now();
        let response = app.get(id).await;
        assert!(
            started.elapsed() < FAIL_FAST,
            "took {:?}",
            started.elapsed()
        );
        let problem = assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
        let text = problem.to_string();
        assert!(
            !text.contains("127.0.0.1") && !text.to_lowercase().contains("mysql"),
            "{text}"
        );
    }
    let started = Instant::now();
    let write = app.create("during outage", "x").await;
    assert!(started.elapsed() < FAIL_FAST);
    assert_problem(write, StatusCode::SERVICE_UNAVAILABLE).await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    db.restart().await;
    wait_until_ok(&app, id, Duration::from_secs(30)).await;
    let post: Value = app.get(id).await.json().await.unwrap();
    assert_eq!(
        post["title"], "survivor",
        "data written before the outage is kept"
    );
    assert_eq!(
        app.create("after outage", "x").await.status(),
        StatusCode::CREATED
    );
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    app.stop().await;
    db.remove().await;
}

pub async fn frozen_database_gives_503_within_two_seconds(_shared: Db) {
    let db = MariaDb::start().await;
    let app =
        TestApp::spawn_with(posts_service::Config::new(db.fresh_database().await, TOKEN)).await;
    let id = id_of(&app.create_ok("patient", "x").await);

    db.pause().await;
    let started = Instant::now();
    let (read, write) = tokio::join!(app.get(id), app.create("frozen", "x"));
    assert!(
        started.elapsed() < FAIL_FAST,
        "took {:?}",
        started.elapsed()
    );
    assert_problem(read, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_problem(write, StatusCode::SERVICE_UNAVAILABLE).await;

    db.unpause().await;
    wait_until_ok(&app, id, Duration::from_secs(30)).await;
    assert_eq!(
        app.create("thawed", "x").await.status(),
        StatusCode::CREATED
    );
    app.stop().await;
    db.remove().await;
}
