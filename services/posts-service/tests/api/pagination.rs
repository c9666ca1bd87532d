//! Keyset pagination: newest first, every post exactly once across pages.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::Value;
use test_mariadb::harness::Db;

use crate::helpers::{assert_problem, id_of, TestApp};

async fn seed(app: &TestApp, count: usize) -> Vec<u64> {
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        ids.push(id_of(&app.create_ok(&format!("post {i}"), "body").await));
    }
    ids
}

pub async fn listing_is_newest_first_with_default_limit(db: Db) {
    let app = TestApp::spawn(&db).await;
    let ids = seed(&app, 25).await;
    let page: Value = app.list("").await.json().await.unwrap();
    let listed: Vec<u64> = page["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    let mut expected = ids.clone();
    expected.reverse();
    assert_eq!(listed, expected[..20]);
    assert_eq!(page["next_before"], listed[19]);
    app.stop().await;
}

pub async fn walking_pages_returns_every_post_once(db: Db) {
    let app = TestApp::spawn(&db).await;
    let ids = seed(&app, 23).await;
    let mut seen = Vec::new();
    let mut query = "?limit=5".to_owned();
    let mut pages = 0;
    loop {
        let page: Value = app.list(&query).await.json().await.unwrap();
        let posts = page["posts"].as_array().unwrap();
        assert!(posts.len() <= 5);
        seen.extend(posts.iter().map(id_of));
        pages += 1;
        match page["next_before"].as_u64() {
            Some(before) => query = format!("?limit=5&before={before}"),
            None => break,
        }
        assert!(pages < 10, "pagination does not terminate");
    }
    assert_eq!(pages, 5);
    let mut expected = ids;
    expected.reverse();
    assert_eq!(seen, expected, "every post once, newest first");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());
    app.stop().await;
}

pub async fn limit_out_of_range_is_400(db: Db) {
    let app = TestApp::spawn(&db).await;
    seed(&app, 3).await;
    for query in ["?limit=0", "?limit=101", "?limit=ten", "?before=abc"] {
        assert_problem(app.list(query).await, StatusCode::BAD_REQUEST).await;
    }
    for (query, expected) in [("?limit=1", 1), ("?limit=100", 3)] {
        let page: Value = app.list(query).await.json().await.unwrap();
        assert_eq!(page["posts"].as_array().unwrap().len(), expected, "{query}");
    }
    app.stop().await;
}

pub async fn empty_blog_lists_nothing(db: Db) {
    let app = TestApp::spawn(&db).await;
    let response = app.list("").await;
    assert_eq!(response.status(), StatusCode::OK);
    let page: Value = response.json().await.unwrap();
    assert_eq!(page["posts"], serde_json::json!([]));
    assert!(page["next_before"].is_null());
    app.stop().await;
}
