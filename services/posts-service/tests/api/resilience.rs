//! posts-service without its database: it starts anyway and turns ready when the
//! database comes; a read-only database is a quick 503 with `Retry-After` that changes
//! nothing. These tests use their own containers.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use test_mariadb::harness::Db;
use test_mariadb::MariaDb;

use crate::helpers::{
    assert_problem, free_port, id_of, spawn_binary, stop_with_sigterm, TestApp, TOKEN,
};

/// Asserts a 503 problem with `Retry-After` that names nothing of the database.
async fn assert_retry_later(response: Response) -> Value {
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let problem = assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    let seconds: u64 = retry_after
        .expect("a 503 carries Retry-After")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&seconds), "Retry-After: {seconds}");
    let text = problem.to_string().to_lowercase();
    for leak in [
        "127.0.0.1",
        "mysql",
        "mariadb",
        "select",
        "insert",
        "read-only",
        "--",
    ] {
        assert!(!text.contains(leak), "{leak:?} in {text}");
    }
    problem
}

async fn readyz(app: &TestApp) -> Response {
    app.fetch("/readyz").await
}

async fn metric(app: &TestApp, name: &str) -> Option<f64> {
    app.metrics()
        .await
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

pub async fn starts_without_its_database_and_turns_ready_when_it_comes(_shared: Db) {
    let db = MariaDb::start_on_fixed_port().await;
    let url = db.fresh_database().await;
    db.stop().await;

    let started = Instant::now();
    let app = TestApp::spawn_unready(posts_service::Config::new(url, TOKEN)).await;
    let health = app.fetch("/healthz").await;
    let health_after = started.elapsed();
    assert_eq!(health.status(), StatusCode::OK);
    println!("database down: /healthz answered 200 {health_after:.1?} after start");

    // Not ready, and saying why, once the first attempt has failed.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let problem = assert_retry_later(readyz(&app).await).await;
        if problem["detail"] == "Not ready: database unreachable." {
            break;
        }
        assert!(Instant::now() < deadline, "{problem}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(metric(&app, "posts_db_up").await, Some(0.0));
    for _ in 0..3 {
        let asked = Instant::now();
        let read = app.list("").await;
        let write = app.create("too early", "x").await;
        let took = asked.elapsed();
        assert!(took < Duration::from_millis(500), "took {took:?}");
        assert_retry_later(read).await;
        assert_retry_later(write).await;
    }
    // Let the backoff reach its cap, as in a real outage.
    tokio::time::sleep(Duration::from_secs(4)).await;

    db.restart().await;
    let reachable = Instant::now();
    while readyz(&app).await.status() != StatusCode::OK {
        assert!(
            reachable.elapsed() < Duration::from_secs(10),
            "not ready 10 s after the database came"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ready_after = reachable.elapsed();
    println!("database reachable -> /readyz 200 in {ready_after:.2?} (retry pause at most 0.5 s)");
    assert!(ready_after < Duration::from_secs(4), "{ready_after:?}");
    assert_eq!(
        app.create("on time", "x").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(metric(&app, "posts_db_up").await, Some(1.0));
    app.stop().await;
    db.remove().await;
}

pub async fn read_only_database_is_a_quick_503_and_changes_nothing(_shared: Db) {
    let db = MariaDb::start().await;
    let root_url = db.fresh_database().await;
    // The service's own user, without the privilege to write to a read-only server.
    let name = root_url
        .rsplit('/')
        .next()
        .and_then(|tail| tail.split('?').next())
        .unwrap()
        .to_owned();
    let mut root = mysql_async::Conn::from_url(&root_url).await.unwrap();
    root.query_drop("CREATE USER 'blog'@'%' IDENTIFIED BY 'blog-password'")
        .await
        .unwrap();
    root.query_drop(format!("GRANT ALL PRIVILEGES ON `{name}`.* TO 'blog'@'%'"))
        .await
        .unwrap();
    let url = root_url.replacen("root@", "blog:blog-password@", 1);
    let app = TestApp::spawn_with(posts_service::Config::new(url, TOKEN)).await;
    let post = app.create_ok("before", "x").await;
    let id = id_of(&post);

    root.query_drop("SET GLOBAL read_only = 1").await.unwrap();
    let mut latencies = Vec::new();
    for round in 0..10 {
        let writes = [
            app.client
                .post(app.url("/v1/posts"))
                .bearer_auth(TOKEN)
                .json(&json!({ "title": "refused", "body": "x" })),
            app.client
                .post(app.url("/v1/posts"))
                .bearer_auth(TOKEN)
                .header("Idempotency-Key", format!("read-only-{round}"))
                .json(&json!({ "title": "refused", "body": "x" })),
            app.client
                .put(app.url(&format!("/v1/posts/{id}")))
                .bearer_auth(TOKEN)
                .header("If-Match", "\"1\"")
                .json(&json!({ "title": "refused", "body": "x" })),
            app.client
                .delete(app.url(&format!("/v1/posts/{id}")))
                .bearer_auth(TOKEN),
        ];
        for write in writes {
            let asked = Instant::now();
            let response = write.send().await.unwrap();
            latencies.push(asked.elapsed());
            assert_retry_later(response).await;
        }
    }
    // Reads still work.
    assert_eq!(app.get(id).await.status(), StatusCode::OK);
    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    let max = latencies[latencies.len() - 1];
    println!(
        "read-only database: {} writes, all 503 + Retry-After, p50 {p50:.1?}, max {max:.1?}",
        latencies.len()
    );
    assert!(max < Duration::from_millis(500), "max {max:?}");

    root.query_drop("SET GLOBAL read_only = 0").await.unwrap();
    let page: Value = app.list("").await.json().await.unwrap();
    assert_eq!(page["posts"], json!([post]), "nothing changed");
    let keys: Option<i64> = root
        .query_first(format!("SELECT COUNT(*) FROM `{name}`.idempotency_keys"))
        .await
        .unwrap();
    assert_eq!(keys, Some(0), "no key remembered for a refused create");
    assert_eq!(app.create("after", "x").await.status(), StatusCode::CREATED);
    let _ = root.disconnect().await;
    app.stop().await;
    db.remove().await;
}

pub async fn binary_keeps_running_without_its_database_and_stops_on_sigterm(_shared: Db) {
    use std::io::{BufRead, BufReader};

    let (mut child, base) = spawn_binary(
        // Port 9 on loopback: nothing listens there.
        "mysql://blog:hunter2-secret@127.0.0.1:9/blog",
        &[("METRICS_ADDR", format!("127.0.0.1:{}", free_port()))],
    );
    let client = reqwest::Client::new();
    let launched = Instant::now();
    loop {
        match client.get(format!("{base}/healthz")).send().await {
            Ok(response) if response.status() == StatusCode::OK => break,
            _ => {
                assert!(
                    launched.elapsed() < Duration::from_secs(10),
                    "no /healthz within 10 s"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    println!(
        "binary without a database: /healthz 200 {:.0?} after launch",
        launched.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the process exited for want of a database"
    );
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_retry_later(ready).await;

    let signalled = Instant::now();
    let stderr = stop_with_sigterm(child).await;
    assert!(signalled.elapsed() < Duration::from_secs(5));
    let lines: Vec<String> = BufReader::new(stderr).lines().map(Result::unwrap).collect();
    let failures: Vec<&String> = lines
        .iter()
        .filter(|line| line.contains("database start-up attempt failed"))
        .collect();
    assert!(failures.len() >= 3, "a warning per attempt: {lines:?}");
    assert!(
        failures
            .iter()
            .all(|line| line.contains(r#""level":"WARN""#)),
        "{failures:?}"
    );
    assert!(
        lines.iter().all(|line| !line.contains("hunter2-secret")),
        "the password never reaches the logs"
    );
}
