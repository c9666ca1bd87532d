//! `Idempotency-Key` on `POST /v1/posts`: a retry, a double submit or a race with the
//! same key makes one post; the same key for another post is a 422; a bad key is a 400.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use test_mariadb::harness::Db;
use tokio::io::AsyncWriteExt;

use crate::helpers::{assert_problem, id_of, TestApp, TOKEN};

/// `POST /v1/posts` with the token and `Idempotency-Key: key`.
async fn create_with_key(app: &TestApp, key: &str, body: &Value) -> Response {
    app.client
        .post(app.url("/v1/posts"))
        .bearer_auth(TOKEN)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("request failed")
}

/// Every post in the (small) test database.
async fn all_posts(app: &TestApp) -> Vec<Value> {
    let page: Value = app.list("?limit=100").await.json().await.unwrap();
    page["posts"].as_array().unwrap().clone()
}

/// Asserts a problem with `status` whose detail names the `Idempotency-Key` header.
async fn assert_problem_naming_the_key(response: Response, status: StatusCode) {
    let problem = assert_problem(response, status).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key"),
        "{problem}"
    );
}

fn replayed(response: &Response) -> bool {
    response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

pub async fn same_key_and_body_again_replays_the_first_answer(db: Db) {
    let app = TestApp::spawn(&db).await;
    let post = json!({ "title": "Once", "body": "only once" });
    let first = create_with_key(&app, "form-7f3a", &post).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(!replayed(&first));
    let location = first.headers()["location"].clone();
    let etag = first.headers()["etag"].clone();
    let first_body = first.bytes().await.unwrap();

    // The post changes meanwhile: a replay still answers the create as it was.
    let id = id_of(&serde_json::from_slice(&first_body).unwrap());
    let updated = app.update(id, Some("\"1\""), "Changed", "since").await;
    assert_eq!(updated.status(), StatusCode::OK);

    // The same form again, its title with other white space around it.
    let again = json!({ "body": "only once", "title": "  Once\n" });
    let second = create_with_key(&app, "form-7f3a", &again).await;
    assert_eq!(second.status(), StatusCode::CREATED);
    assert!(replayed(&second), "a replay says so");
    assert_eq!(second.headers()["location"], location);
    assert_eq!(second.headers()["etag"], etag);
    assert_eq!(second.bytes().await.unwrap(), first_body, "the same body");
    assert_eq!(
        all_posts(&app).await.len(),
        1,
        "nothing created by the replay"
    );
    app.stop().await;
}

/// Sends a keyed create over a raw connection and goes away without reading the answer:
/// after `wait` with the connection still open (the answer was sent and lost), or at
/// once, half-closing it (the client gave up; the server may cancel the request).
async fn create_and_lose_the_answer(app: &TestApp, key: &str, body: &str, half_close: bool) {
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let request = format!(
        "POST /v1/posts HTTP/1.1\r\nhost: posts\r\nauthorization: Bearer {TOKEN}\r\n\
         content-type: application/json\r\nidempotency-key: {key}\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    if half_close {
        stream.shutdown().await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(stream);
}

pub async fn a_retry_after_a_lost_answer_makes_exactly_one_post(db: Db) {
    for (key, half_close) in [("retry-lost", false), ("retry-gave-up", true)] {
        let app = TestApp::spawn(&db).await;
        let body = r#"{"title":"Lost answer","body":"sent once, retried once"}"#;
        create_and_lose_the_answer(&app, key, body, half_close).await;
        let retry = create_with_key(&app, key, &serde_json::from_str(body).unwrap()).await;
        assert_eq!(retry.status(), StatusCode::CREATED);
        let was_replayed = replayed(&retry);
        let post: Value = retry.json().await.unwrap();
        let posts = all_posts(&app).await;
        println!(
            "create {} then retried: {} post(s), the retry replayed: {was_replayed}",
            if half_close {
                "abandoned by its client"
            } else {
                "whose answer was lost"
            },
            posts.len()
        );
        assert_eq!(posts.len(), 1, "exactly one post: {posts:?}");
        assert_eq!(posts[0]["id"], post["id"]);
        if !half_close {
            assert!(
                was_replayed,
                "the first create committed: the retry replays it"
            );
        }
        app.stop().await;
    }
}

pub async fn parallel_creates_with_one_key_make_one_post(db: Db) {
    let app = TestApp::spawn(&db).await;
    let post = json!({ "title": "Double click", "body": "x" });
    let started = std::time::Instant::now();
    let answers = futures_util::future::join_all(
        (0..10).map(|_| create_with_key(&app, "double-click", &post)),
    )
    .await;
    let took = started.elapsed();
    let mut ids = Vec::new();
    let mut fresh = 0;
    for answer in answers {
        assert_eq!(answer.status(), StatusCode::CREATED);
        if !replayed(&answer) {
            fresh += 1;
        }
        ids.push(id_of(&answer.json().await.unwrap()));
    }
    println!("10 parallel creates with one key: 1 post, {fresh} created, 9 replayed, {took:.1?}");
    assert_eq!(fresh, 1, "one create, nine replays");
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one id for all: {ids:?}"
    );
    assert_eq!(all_posts(&app).await.len(), 1);
    app.stop().await;
}

pub async fn same_key_with_another_body_is_422_and_creates_nothing(db: Db) {
    let app = TestApp::spawn(&db).await;
    let first = create_with_key(&app, "k-1", &json!({ "title": "A", "body": "x" })).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    for other in [
        json!({ "title": "B", "body": "x" }),
        json!({ "title": "A", "body": "y" }),
    ] {
        assert_problem_naming_the_key(
            create_with_key(&app, "k-1", &other).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    assert_eq!(all_posts(&app).await.len(), 1);
    app.stop().await;
}

pub async fn malformed_key_is_400_naming_the_header_and_creates_nothing(db: Db) {
    let app = TestApp::spawn(&db).await;
    let post = json!({ "title": "Keyed", "body": "x" });
    let too_long = "k".repeat(256);
    for bad in [&b""[..], too_long.as_bytes(), b"two words", b"caf\xe9"] {
        let response = app
            .client
            .post(app.url("/v1/posts"))
            .bearer_auth(TOKEN)
            .header(
                "Idempotency-Key",
                reqwest::header::HeaderValue::from_bytes(bad).unwrap(),
            )
            .json(&post)
            .send()
            .await
            .unwrap();
        assert_problem_naming_the_key(response, StatusCode::BAD_REQUEST).await;
    }
    // 255 characters is still a key.
    let longest = create_with_key(&app, &"k".repeat(255), &post).await;
    assert_eq!(longest.status(), StatusCode::CREATED);
    assert_eq!(all_posts(&app).await.len(), 1);
    app.stop().await;
}

pub async fn a_key_refused_for_invalid_input_can_be_used_again(db: Db) {
    let app = TestApp::spawn(&db).await;
    let invalid = create_with_key(
        &app,
        "fix-and-resend",
        &json!({ "title": " ", "body": "x" }),
    )
    .await;
    assert_problem(invalid, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fixed = json!({ "title": "Fixed", "body": "x" });
    let created = create_with_key(&app, "fix-and-resend", &fixed).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert!(!replayed(&created), "a refused request is not remembered");
    let again = create_with_key(&app, "fix-and-resend", &fixed).await;
    assert!(replayed(&again));
    assert_eq!(all_posts(&app).await.len(), 1);
    app.stop().await;
}

pub async fn keys_older_than_a_day_are_forgotten_and_purged(db: Db) {
    let url = db.fresh_database().await;
    let app = TestApp::spawn_with(posts_service::Config::new(url.clone(), TOKEN)).await;
    let post = json!({ "title": "Daily", "body": "x" });
    let first = id_of(
        &create_with_key(&app, "yesterday", &post)
            .await
            .json()
            .await
            .unwrap(),
    );
    create_with_key(
        &app,
        "old-and-unrelated",
        &json!({ "title": "Other", "body": "y" }),
    )
    .await;
    let mut conn = mysql_async::Conn::from_url(&url).await.unwrap();
    conn.query_drop("UPDATE idempotency_keys SET created_at = created_at - INTERVAL 25 HOUR")
        .await
        .unwrap();

    let later = create_with_key(&app, "yesterday", &post).await;
    assert_eq!(later.status(), StatusCode::CREATED);
    assert!(!replayed(&later), "a key older than 24 h is a new key");
    assert_ne!(id_of(&later.json().await.unwrap()), first);
    let old: Option<i64> = conn
        .query_first(
            "SELECT COUNT(*) FROM idempotency_keys \
             WHERE created_at < UTC_TIMESTAMP(3) - INTERVAL 24 HOUR",
        )
        .await
        .unwrap();
    assert_eq!(old, Some(0), "expired keys are purged");
    let _ = conn.disconnect().await;
    app.stop().await;
}
