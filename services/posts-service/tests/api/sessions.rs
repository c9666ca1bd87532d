//! The internal API for the admin's sessions and failed logins.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use reqwest::StatusCode;
use serde_json::{json, Value};
use test_mariadb::harness::Db;

use crate::helpers::{TestApp, TOKEN};

fn key(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

async fn create(app: &TestApp, key: &str, idle_secs: u32, lifetime_secs: u32) -> reqwest::Response {
    app.client
        .post(app.url("/internal/v1/sessions"))
        .bearer_auth(TOKEN)
        .json(&json!({ "key": key, "idle_secs": idle_secs, "lifetime_secs": lifetime_secs }))
        .send()
        .await
        .expect("request failed")
}

async fn touch(app: &TestApp, key: &str) -> StatusCode {
    app.fetch_with_token(&format!("/internal/v1/sessions/{key}"))
        .await
        .status()
}

pub async fn sessions_slide_their_idle_expiry_and_end_at_logout(db: Db) {
    let app = TestApp::spawn(&db).await;
    let created = create(&app, &key(1), 2, 600).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let info: Value = created.json().await.unwrap();
    assert!(info["idle_expires_at"].is_string() && info["expires_at"].is_string());
    // Used every second, a session with two seconds of idle time lives on.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(touch(&app, &key(1)).await, StatusCode::OK);
    }
    let deleted = app
        .client
        .delete(app.url(&format!("/internal/v1/sessions/{}", key(1))))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(touch(&app, &key(1)).await, StatusCode::NOT_FOUND);
    // The same key cannot be made again, nor read without the token.
    assert_eq!(
        create(&app, &key(1), 60, 60).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        create(&app, &key(1), 60, 60).await.status(),
        StatusCode::CONFLICT
    );
    let anonymous = app
        .fetch(&format!("/internal/v1/sessions/{}", key(1)))
        .await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

pub async fn sessions_end_when_idle_or_at_their_lifetime_and_are_purged(db: Db) {
    let database_url = db.fresh_database().await;
    let app = TestApp::spawn_with(posts_service::Config::new(database_url.clone(), TOKEN)).await;
    assert_eq!(
        create(&app, &key(1), 1, 600).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        create(&app, &key(2), 600, 1).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(touch(&app, &key(1)).await, StatusCode::OK);
    assert_eq!(touch(&app, &key(2)).await, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(touch(&app, &key(1)).await, StatusCode::NOT_FOUND, "idle");
    assert_eq!(
        touch(&app, &key(2)).await,
        StatusCode::NOT_FOUND,
        "past its lifetime"
    );

    let pool = mysql_async::Pool::new(database_url.as_str());
    let mut conn = pool.get_conn().await.unwrap();
    let count = "SELECT COUNT(*) FROM admin_sessions";
    let rows: Option<u64> = conn.query_first(count).await.unwrap();
    assert_eq!(rows, Some(2), "expired rows wait for the purge");
    // Making a session purges the expired ones.
    assert_eq!(
        create(&app, &key(3), 600, 600).await.status(),
        StatusCode::CREATED
    );
    let rows: Option<u64> = conn.query_first(count).await.unwrap();
    assert_eq!(rows, Some(1));
    // Only digests are stored.
    let stored: Vec<Vec<u8>> = conn
        .query("SELECT session_key FROM admin_sessions")
        .await
        .unwrap();
    assert_eq!(stored, vec![vec![3u8; 32]]);
    drop(conn);
    pool.disconnect().await.unwrap();
    app.stop().await;
}

pub async fn login_failures_are_counted_per_client_and_for_the_account(db: Db) {
    let app = TestApp::spawn(&db).await;
    let record = |client: &'static str| {
        let request = app
            .client
            .post(app.url("/internal/v1/login-failures"))
            .bearer_auth(TOKEN)
            .json(&json!({ "client": client }));
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()
        }
    };
    for _ in 0..3 {
        record("203.0.113.7").await;
    }
    let counts = record("198.51.100.2").await;
    assert_eq!(
        counts,
        json!({ "account_last_hour": 4, "client_last_hour": 1, "client_last_minute": 1 })
    );
    let counts: Value = app
        .fetch_with_token("/internal/v1/login-failures?client=203.0.113.7")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        counts,
        json!({ "account_last_hour": 4, "client_last_hour": 3, "client_last_minute": 3 })
    );
    app.stop().await;
}
