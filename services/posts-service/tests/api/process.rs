//! The `posts-service` binary as an operator runs it: configuration errors, the
//! `migrate` command, JSON logs carrying the request id, and SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use test_mariadb::harness::Db;

use crate::helpers::{spawn_binary, stop_with_sigterm, BINARY, TOKEN};

pub async fn missing_or_malformed_variable_exits_with_one_line_naming_it(_db: Db) {
    let output = Command::new(BINARY)
        .env_clear()
        .env("API_TOKEN", "x")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stderr.trim(),
        "configuration error: DATABASE_URL is required but not set"
    );

    let output = Command::new(BINARY)
        .env_clear()
        .env("DATABASE_URL", "mysql://blog:hunter2@db:3306/blog")
        .env("API_TOKEN", "x")
        .env("DB_POOL_MAX", "lots")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("DB_POOL_MAX"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

pub async fn migrate_command_applies_schema_and_exits(db: Db) {
    let url = db.fresh_database().await;
    let output = tokio::process::Command::new(BINARY)
        .arg("migrate")
        .env_clear()
        .env("DATABASE_URL", &url)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut conn = mysql_async::Conn::from_url(&url).await.unwrap();
    let tables: Vec<String> = conn.query("SHOW TABLES").await.unwrap();
    assert!(tables.contains(&"posts".to_owned()), "{tables:?}");
    let _ = conn.disconnect().await;
}

pub async fn sigterm_finishes_cleanly_and_logs_carry_request_id(db: Db) {
    let url = db.fresh_database().await;
    let (child, base) = spawn_binary(&url, &[]);
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .ok()
        != Some(200)
    {
        assert!(Instant::now() < deadline, "binary never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let response = client
        .get(format!("{base}/v1/posts"))
        .header("X-Request-Id", "req-from-test-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let stderr = stop_with_sigterm(child).await;

    let lines: Vec<serde_json::Value> = BufReader::new(stderr)
        .lines()
        .map(|line| serde_json::from_str(&line.unwrap()).expect("every log line is JSON"))
        .collect();
    let completed = lines
        .iter()
        .find(|line| {
            line["message"] == "request completed" && line.to_string().contains("req-from-test-42")
        })
        .expect("a log line for the request, naming its id");
    assert_eq!(completed["status"], 200);
    assert!(lines
        .iter()
        .any(|line| line["message"] == "SIGTERM received, shutting down"));
    assert!(lines
        .iter()
        .any(|line| line["message"] == "posts-service stopped"));
}

pub async fn shutdown_lets_in_flight_request_finish(db: Db) {
    use crate::helpers::TestApp;
    use futures_util::StreamExt;

    let mut app = TestApp::spawn(&db).await;
    // A create whose body arrives in two parts, the second only after shutdown began.
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let first = futures_util::stream::once(async {
        Ok::<_, std::io::Error>(br#"{"title":"in flight","#.to_vec())
    });
    let second = futures_util::stream::once(async move {
        let _ = released.await;
        Ok::<_, std::io::Error>(br#""body":"finished after SIGTERM"}"#.to_vec())
    });
    let request = app
        .client
        .post(app.url("/v1/posts"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(first.chain(second)))
        .send();
    let in_flight = tokio::spawn(request);
    tokio::time::sleep(Duration::from_millis(300)).await;

    app.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !app.is_stopped(),
        "the server waits for the in-flight request"
    );
    let refused = reqwest::Client::new()
        .get(app.url("/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(refused.is_err(), "no new connections once shutdown began");

    release.send(()).unwrap();
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 201);
    let post: serde_json::Value = response.json().await.unwrap();
    assert_eq!(post["body"], "finished after SIGTERM");
    app.stop().await;
}
