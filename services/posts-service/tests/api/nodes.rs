//! Several database nodes (`DATABASE_URLS`): the service writes through one that answers,
//! skips a node that refuses connections, says which node writes in `/readyz` and
//! `/metrics`, and replicas starting together migrate once (the lock is a row, not
//! `GET_LOCK`). Against plain MariaDB servers: a server without Galera counts as synced.

use std::time::Duration;

use posts_service::Config;
use reqwest::StatusCode;
use serde_json::{json, Value};
use test_mariadb::harness::Db;

use crate::helpers::{TestApp, TOKEN};

/// A node that refuses every connection (nothing listens on the discard port).
const DEAD_NODE: &str = "mysql://blog:pw@127.0.0.1:9/blog";

fn two_nodes(live: &str) -> Config {
    let mut config = Config::new(live, TOKEN);
    config.database_urls = Some(format!("{DEAD_NODE}, {live}"));
    config
}

pub async fn a_node_that_refuses_connections_is_skipped_and_readyz_names_the_writer(db: Db) {
    let live = db.fresh_database().await;
    let app = TestApp::spawn_with(two_nodes(&live)).await;

    let created = app
        .client
        .post(app.url("/v1/posts"))
        .bearer_auth(TOKEN)
        .json(&json!({"title": "through the live node", "body": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let post: Value = created.json().await.unwrap();
    let read = app
        .client
        .get(app.url(&format!("/v1/posts/{}", post["id"])))
        .send()
        .await
        .unwrap();
    assert_eq!(
        read.status(),
        StatusCode::OK,
        "the admin reads their own write"
    );

    // the monitor has probed both nodes within a second
    let mut ready = Value::Null;
    for _ in 0..50 {
        ready = app.fetch("/readyz").await.json().await.unwrap();
        if ready["database"]["synced"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["database"]["nodes"], 2);
    assert_eq!(ready["database"]["synced"], 1, "{ready}");
    let writer = ready["database"]["writer"].as_str().unwrap().to_owned();
    assert_ne!(writer, "127.0.0.1:9", "the dead node does not write");
    assert!(
        !ready.to_string().contains("pw@"),
        "no credentials in /readyz"
    );

    let metrics = app.metrics().await;
    assert!(
        metrics.contains(&format!("db_writer{{node=\"{writer}\"}} 1")),
        "{metrics}"
    );
    assert!(metrics.contains("db_nodes_synced 1"), "{metrics}");
    assert!(metrics.contains("db_nodes 2"), "{metrics}");
    app.stop().await;
}

pub async fn replicas_starting_together_migrate_once_under_the_lock_row(db: Db) {
    let live = db.fresh_database().await;
    let (a, b) = tokio::join!(
        TestApp::spawn_with(two_nodes(&live)),
        TestApp::spawn_with(two_nodes(&live)),
    );
    for app in [&a, &b] {
        let ready = app.fetch("/readyz").await;
        assert_eq!(ready.status(), StatusCode::OK);
    }
    let pool = mysql_async::Pool::new(live.as_str());
    let mut conn = pool.get_conn().await.unwrap();
    use mysql_async::prelude::Queryable;
    let history: Vec<(i64, i64)> = conn
        .query("SELECT version, COUNT(*) FROM refinery_schema_history GROUP BY version")
        .await
        .unwrap();
    assert!(!history.is_empty());
    assert!(
        history.iter().all(|(_, n)| *n == 1),
        "each migration once: {history:?}"
    );
    let held: Option<i64> = conn
        .query_first("SELECT COUNT(*) FROM posts_service_migration_lock")
        .await
        .unwrap();
    assert_eq!(held, Some(0), "the lock row is released");
    drop(conn);
    pool.disconnect().await.unwrap();
    a.stop().await;
    b.stop().await;
}
