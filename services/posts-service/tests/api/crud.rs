//! The rows of the API table: create, read, update, delete, and their error codes.

use reqwest::StatusCode;
use serde_json::{json, Value};
use test_mariadb::harness::Db;

use crate::helpers::{assert_problem, id_of, TestApp, TOKEN};

pub async fn created_post_is_returned_with_location_and_etag(db: Db) {
    let app = TestApp::spawn(&db).await;
    let response = app.create("Hello", "First *post*").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let post: Value = response.json().await.unwrap();
    assert_eq!(location, format!("/v1/posts/{}", id_of(&post)));
    assert_eq!(etag, "\"1\"");
    assert_eq!(post["title"], "Hello");
    assert_eq!(post["body"], "First *post*");
    assert_eq!(post["version"], 1);
    let created = post["created_at"].as_str().unwrap();
    assert!(created.ends_with('Z'), "RFC 3339 UTC: {created}");
    assert_eq!(post["created_at"], post["updated_at"]);
    app.stop().await;
}

pub async fn get_returns_post_with_etag(db: Db) {
    let app = TestApp::spawn(&db).await;
    let created = app.create_ok("Read me", "body").await;
    let response = app.get(id_of(&created)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], "\"1\"");
    assert_eq!(response.headers()["content-type"], "application/json");
    let fetched: Value = response.json().await.unwrap();
    assert_eq!(fetched, created);
    app.stop().await;
}

pub async fn unknown_or_malformed_ids_are_404(db: Db) {
    let app = TestApp::spawn(&db).await;
    for path in [
        "/v1/posts/999999",
        "/v1/posts/abc",
        "/v1/posts/-1",
        "/v1/posts/0",
        "/v1/posts/99999999999999999999999",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_problem(response, StatusCode::NOT_FOUND).await;
    }
    let response = app.update(424242, Some("\"1\""), "t", "b").await;
    assert_problem(response, StatusCode::NOT_FOUND).await;
    app.stop().await;
}

pub async fn update_with_current_etag_bumps_version(db: Db) {
    let app = TestApp::spawn(&db).await;
    let id = id_of(&app.create_ok("Before", "old").await);
    let response = app.update(id, Some("\"1\""), "  After  ", "new").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], "\"2\"");
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["title"], "After");
    assert_eq!(updated["version"], 2);

    let again = app.update(id, Some("\"2\""), "Third", "x").await;
    assert_eq!(again.headers()["etag"], "\"3\"");
    let fetched: Value = app.get(id).await.json().await.unwrap();
    assert_eq!(fetched["title"], "Third");
    assert_eq!(fetched["version"], 3);
    app.stop().await;
}

pub async fn update_without_if_match_is_428(db: Db) {
    let app = TestApp::spawn(&db).await;
    let id = id_of(&app.create_ok("Keep", "me").await);
    let response = app.update(id, None, "Changed", "x").await;
    assert_problem(response, StatusCode::PRECONDITION_REQUIRED).await;
    let fetched: Value = app.get(id).await.json().await.unwrap();
    assert_eq!(fetched["title"], "Keep");
    app.stop().await;
}

pub async fn stale_if_match_is_412_and_changes_nothing(db: Db) {
    let app = TestApp::spawn(&db).await;
    let id = id_of(&app.create_ok("v1", "x").await);
    assert_eq!(
        app.update(id, Some("\"1\""), "v2", "x").await.status(),
        StatusCode::OK
    );
    let response = app.update(id, Some("\"1\""), "lost update", "x").await;
    assert_problem(response, StatusCode::PRECONDITION_FAILED).await;
    let fetched: Value = app.get(id).await.json().await.unwrap();
    assert_eq!(fetched["title"], "v2");
    assert_eq!(fetched["version"], 2);
    app.stop().await;
}

pub async fn update_of_missing_post_is_404(db: Db) {
    let app = TestApp::spawn(&db).await;
    let id = id_of(&app.create_ok("gone", "x").await);
    assert_eq!(app.delete(id, None).await.status(), StatusCode::NO_CONTENT);
    let response = app.update(id, Some("\"1\""), "t", "b").await;
    assert_problem(response, StatusCode::NOT_FOUND).await;
    app.stop().await;
}

pub async fn wildcard_and_weak_if_match(db: Db) {
    let app = TestApp::spawn(&db).await;
    let id = id_of(&app.create_ok("t", "b").await);
    // A weak tag never matches under the strong comparison If-Match uses.
    let weak = app.update(id, Some("W/\"1\""), "weak", "b").await;
    assert_problem(weak, StatusCode::PRECONDITION_FAILED).await;
    let malformed = app.update(id, Some("1"), "bare", "b").await;
    assert_problem(malformed, StatusCode::BAD_REQUEST).await;
    let any = app.update(id, Some("*"), "any", "b").await;
    assert_eq!(any.status(), StatusCode::OK);
    let fetched: Value = app.get(id).await.json().await.unwrap();
    assert_eq!(fetched["title"], "any");
    app.stop().await;
}

pub async fn delete_is_204_then_404(db: Db) {
    let app = TestApp::spawn(&db).await;
    let id = id_of(&app.create_ok("doomed", "x").await);
    let response = app.delete(id, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.unwrap().is_empty());
    assert_problem(app.get(id).await, StatusCode::NOT_FOUND).await;
    assert_problem(app.delete(id, None).await, StatusCode::NOT_FOUND).await;
    app.stop().await;
}

pub async fn delete_with_stale_if_match_is_412(db: Db) {
    let app = TestApp::spawn(&db).await;
    let id = id_of(&app.create_ok("edited", "x").await);
    app.update(id, Some("\"1\""), "edited again", "x").await;
    assert_problem(
        app.delete(id, Some("\"1\"")).await,
        StatusCode::PRECONDITION_FAILED,
    )
    .await;
    assert_eq!(app.get(id).await.status(), StatusCode::OK);
    assert_eq!(
        app.delete(id, Some("\"2\"")).await.status(),
        StatusCode::NO_CONTENT
    );
    app.stop().await;
}

pub async fn unicode_round_trips(db: Db) {
    let app = TestApp::spawn(&db).await;
    let title = "Ünïcödé 🦀 日本語 \u{202e}RTL\u{202c}";
    let body = "Emoji 🎉🎉, combining e\u{301}, CJK 漢字, NUL-free \u{1F600}\nnew line\ttab";
    let id = id_of(&app.create_ok(title, body).await);
    let fetched: Value = app.get(id).await.json().await.unwrap();
    assert_eq!(fetched["title"], title);
    assert_eq!(fetched["body"], body);
    app.stop().await;
}

pub async fn concurrent_updates_with_same_etag_have_one_winner(db: Db) {
    let app = TestApp::spawn(&db).await;
    let id = id_of(&app.create_ok("race", "start").await);
    let attempts = (0..20).map(|i| {
        let client = app.client.clone();
        let url = app.url(&format!("/v1/posts/{id}"));
        async move {
            client
                .put(url)
                .bearer_auth(TOKEN)
                .header("If-Match", "\"1\"")
                .json(&json!({ "title": format!("writer {i}"), "body": "b" }))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let stale = statuses
        .iter()
        .filter(|s| **s == StatusCode::PRECONDITION_FAILED)
        .count();
    assert_eq!((ok, stale), (1, 19), "statuses: {statuses:?}");
    let fetched: Value = app.get(id).await.json().await.unwrap();
    assert_eq!(fetched["version"], 2);
    app.stop().await;
}

pub async fn writes_without_valid_token_are_401(db: Db) {
    let app = TestApp::spawn(&db).await;
    let id = id_of(&app.create_ok("guarded", "x").await);
    let body = json!({ "title": "t", "body": "b" });
    let requests = [
        app.client.post(app.url("/v1/posts")).json(&body),
        app.client
            .post(app.url("/v1/posts"))
            .bearer_auth("wrong")
            .json(&body),
        app.client
            .put(app.url(&format!("/v1/posts/{id}")))
            .header("If-Match", "\"1\"")
            .json(&body),
        app.client.delete(app.url(&format!("/v1/posts/{id}"))),
        app.client
            .delete(app.url(&format!("/v1/posts/{id}")))
            .header("Authorization", format!("Basic {TOKEN}")),
    ];
    for request in requests {
        let response = request.send().await.unwrap();
        assert_eq!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .split(' ')
                .next(),
            Some("Bearer")
        );
        let problem = assert_problem(response, StatusCode::UNAUTHORIZED).await;
        assert!(!problem.to_string().contains(TOKEN));
    }
    let list: Value = app.list("").await.json().await.unwrap();
    assert_eq!(list["posts"].as_array().unwrap().len(), 1);
    assert_eq!(app.get(id).await.status(), StatusCode::OK);
    app.stop().await;
}

pub async fn unknown_route_is_404_and_wrong_method_is_405(db: Db) {
    let app = TestApp::spawn(&db).await;
    let response = app.client.get(app.url("/v2/things")).send().await.unwrap();
    assert_problem(response, StatusCode::NOT_FOUND).await;
    for (method, path, allow) in [
        // HEAD is answered wherever GET is, so it is allowed there too.
        (
            reqwest::Method::PATCH,
            "/v1/posts/1",
            "GET, PUT, DELETE, HEAD",
        ),
        (
            reqwest::Method::OPTIONS,
            "/v1/posts/abc",
            "GET, PUT, DELETE, HEAD",
        ),
        (reqwest::Method::DELETE, "/v1/posts", "GET, POST, HEAD"),
        (reqwest::Method::PUT, "/healthz", "GET, HEAD"),
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        let allowed = response.headers().get("allow").cloned();
        assert_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
        assert_eq!(
            allowed.as_ref().and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
    }
    app.stop().await;
}
