//! Validation at its exact edges, and bad bodies: 422, 400, 415, 413. None changes data.

use reqwest::StatusCode;
use serde_json::{json, Value};
use test_mariadb::harness::Db;

use crate::helpers::{assert_problem, id_of, TestApp, TOKEN};

pub async fn title_is_trimmed_and_limited_at_its_edges(db: Db) {
    let app = TestApp::spawn(&db).await;
    // 128 characters (multi-byte ones, to count characters not bytes) plus padding.
    let longest = "ü".repeat(128);
    let post = app.create_ok(&format!("  \t{longest}\n "), "").await;
    assert_eq!(post["title"], longest.as_str());

    let one = app.create_ok(" x ", "").await;
    assert_eq!(one["title"], "x");

    let too_long = app.create(&"ü".repeat(129), "").await;
    let problem = assert_problem(too_long, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(problem["detail"].as_str().unwrap().contains("title"));
    assert_eq!(problem["errors"][0]["field"], "title");

    for blank in ["", "   ", "\n\t"] {
        let problem = assert_problem(
            app.create(blank, "b").await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], "title");
    }

    // The same rules hold on update.
    let id = id_of(&one);
    let problem = assert_problem(
        app.update(id, Some("\"1\""), &"a".repeat(129), "b").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "title");
    app.stop().await;
}

pub async fn body_limit_is_65535_bytes(db: Db) {
    let app = TestApp::spawn(&db).await;
    // 65,535 bytes exactly, with 3-byte characters in it.
    let largest = format!("{}{}", "€".repeat(20_000), "a".repeat(65_535 - 60_000));
    assert_eq!(largest.len(), 65_535);
    let post = app.create_ok("big", &largest).await;
    let fetched: Value = app.get(id_of(&post)).await.json().await.unwrap();
    assert_eq!(fetched["body"].as_str().unwrap().len(), 65_535);

    let over = format!("{largest}a");
    let problem = assert_problem(
        app.create("big", &over).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "body");
    assert!(problem["detail"].as_str().unwrap().contains("body"));
    app.stop().await;
}

pub async fn missing_fields_are_422_naming_them(db: Db) {
    let app = TestApp::spawn(&db).await;
    let response = app
        .client
        .post(app.url("/v1/posts"))
        .bearer_auth(TOKEN)
        .json(&json!({ "body": "no title" }))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "title");
    let response = app
        .client
        .post(app.url("/v1/posts"))
        .bearer_auth(TOKEN)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["title", "body"]);
    app.stop().await;
}

pub async fn malformed_json_and_unknown_fields_are_400(db: Db) {
    let app = TestApp::spawn(&db).await;
    for body in [
        "{not json",
        r#"{"title": "t", "body": "b", "author": "eve"}"#,
        r#"{"title": 5, "body": "b"}"#,
        r#"["title", "body"]"#,
        "",
    ] {
        let response = app
            .client
            .post(app.url("/v1/posts"))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::BAD_REQUEST).await;
    }
    app.stop().await;
}

pub async fn non_json_content_type_is_415(db: Db) {
    let app = TestApp::spawn(&db).await;
    let id = id_of(&app.create_ok("t", "b").await);
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut request = app
            .client
            .put(app.url(&format!("/v1/posts/{id}")))
            .bearer_auth(TOKEN)
            .header("If-Match", "\"1\"")
            .body(r#"{"title":"t","body":"b"}"#);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        assert_problem(
            request.send().await.unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        )
        .await;
    }
    // Parameters on the JSON media type are fine.
    let response = app
        .client
        .post(app.url("/v1/posts"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json; charset=utf-8")
        .body(r#"{"title":"t","body":"b"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    app.stop().await;
}

pub async fn body_over_256_kib_is_413(db: Db) {
    let app = TestApp::spawn(&db).await;
    let huge = json!({ "title": "t", "body": "a".repeat(256 * 1024) }).to_string();
    let response = app
        .client
        .post(app.url("/v1/posts"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(huge.clone())
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;

    // Without Content-Length (chunked), the limit still holds.
    let stream = futures_util::stream::iter(
        huge.into_bytes()
            .chunks(16 * 1024)
            .map(|chunk| Ok::<_, std::io::Error>(chunk.to_vec()))
            .collect::<Vec<_>>(),
    );
    let response = app
        .client
        .post(app.url("/v1/posts"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    app.stop().await;
}

pub async fn invalid_input_changes_nothing(db: Db) {
    let app = TestApp::spawn(&db).await;
    let id = id_of(&app.create_ok("original", "body").await);
    let _ = app.create("", "").await;
    let _ = app.update(id, Some("\"1\""), "", "x").await;
    let _ = app
        .client
        .put(app.url(&format!("/v1/posts/{id}")))
        .bearer_auth(TOKEN)
        .header("If-Match", "\"1\"")
        .header("content-type", "application/json")
        .body("{broken")
        .send()
        .await
        .unwrap();
    let list: Value = app.list("").await.json().await.unwrap();
    let posts = list["posts"].as_array().unwrap();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["title"], "original");
    assert_eq!(posts[0]["version"], 1);
    app.stop().await;
}

pub async fn text_with_control_characters_or_nothing_visible_is_422(db: Db) {
    let app = TestApp::spawn(&db).await;
    for (title, body, field) in [
        ("bell \u{7}", "b", "title"),
        ("vertical\u{B}tab", "b", "title"),
        ("\u{200B}", "b", "title"),
        (" \u{FEFF}\u{200D} ", "b", "title"),
        ("fine", "form\u{C}feed", "body"),
        ("fine", "nul\u{0}", "body"),
    ] {
        let problem = assert_problem(
            app.create(title, body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field, "{title:?} {body:?}");
    }
    let kept = app.create_ok("Tabs\u{200B}stay", "a\tb\r\nc\n").await;
    assert_eq!(kept["body"], "a\tb\r\nc\n");
    // Strong comparison: "01" is not version 1's tag "1".
    let id = id_of(&kept);
    let response = app.update(id, Some("\"01\""), "t", "b").await;
    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    let list: Value = app.list("").await.json().await.unwrap();
    assert_eq!(
        list["posts"].as_array().unwrap().len(),
        1,
        "nothing else was stored"
    );
    assert_eq!(
        list["posts"][0]["version"], 1,
        "the stale update changed nothing"
    );
    app.stop().await;
}
