//! A tag's list: `GET /v1/post-summaries?tag={slug}` (and `/v1/posts?tag=`), paged like
//! the whole list and with the same visibility rules.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use test_mariadb::harness::Db;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::helpers::{assert_problem, id_of, TestApp, TOKEN};

/// Creates the post with the token, asserting 201; its JSON.
async fn create_ok(app: &TestApp, post: Value) -> Value {
    app.create_json_ok(post).await
}

/// `GET {path}`, with the token or without.
async fn get(app: &TestApp, path: &str, token: bool) -> Response {
    if token {
        app.fetch_with_token(path).await
    } else {
        app.fetch(path).await
    }
}

/// The JSON of `GET {path}`, asserting 200.
async fn read(app: &TestApp, path: &str, token: bool) -> Value {
    app.read_json(path, token).await
}

fn ids(page: &Value) -> Vec<u64> {
    page["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect()
}

pub async fn a_tags_list_has_only_its_visible_posts_and_names_the_tag(db: Db) {
    let app = TestApp::spawn(&db).await;
    let tomorrow = (OffsetDateTime::now_utc() + Duration::from_secs(86_400))
        .format(&Rfc3339)
        .unwrap();
    let first = create_ok(&app, json!({"title": "One", "body": "b", "tags": ["Rust"]})).await;
    let untagged = create_ok(&app, json!({"title": "Two", "body": "b"})).await;
    let other = create_ok(
        &app,
        json!({"title": "Three", "body": "b", "tags": ["Web"]}),
    )
    .await;
    // Another spelling of the same tag is the same tag.
    let lower = create_ok(
        &app,
        json!({"title": "Four", "body": "b", "tags": ["web", "RUST"]}),
    )
    .await;
    let draft = create_ok(
        &app,
        json!({"title": "Draft", "body": "b", "tags": ["rust"], "status": "draft"}),
    )
    .await;
    let scheduled = create_ok(
        &app,
        json!({"title": "Later", "body": "b", "tags": ["Rust"], "published_at": tomorrow}),
    )
    .await;
    assert_eq!(lower["tags"], json!(["Web", "Rust"]));
    assert_eq!(lower["tag_slugs"], json!(["web", "rust"]));
    assert_eq!(first["tag_slugs"], json!(["rust"]));

    for path in ["/v1/post-summaries?tag=rust", "/v1/posts?tag=rust"] {
        let page = read(&app, path, false).await;
        assert_eq!(ids(&page), [id_of(&lower), id_of(&first)], "{path}");
        assert_eq!(page["next_before"], Value::Null);
        assert_eq!(
            page["tag"],
            json!({"slug": "rust", "name": "Rust"}),
            "{path}"
        );
    }
    let page = read(&app, "/v1/post-summaries?tag=rust", false).await;
    assert_eq!(page["tag"], json!({"slug": "rust", "name": "Rust"}));
    assert_eq!(page["posts"][0]["tags"], json!(["Web", "Rust"]));
    assert_eq!(page["posts"][0]["tag_slugs"], json!(["web", "rust"]));
    let web = read(&app, "/v1/post-summaries?tag=web", false).await;
    assert_eq!(ids(&web), [id_of(&lower), id_of(&other)]);
    assert_eq!(web["tag"]["name"], "Web");
    // The whole list has no `tag`.
    let all = read(&app, "/v1/post-summaries", false).await;
    assert!(all.get("tag").is_none(), "{all}");
    assert!(ids(&all).contains(&id_of(&untagged)));

    // With the token, ?status= works within the tag as on the whole list.
    let everything = read(&app, "/v1/post-summaries?tag=rust&status=all", true).await;
    assert_eq!(
        ids(&everything),
        [
            id_of(&scheduled),
            id_of(&draft),
            id_of(&lower),
            id_of(&first)
        ]
    );
    let drafts = read(&app, "/v1/post-summaries?tag=rust&status=draft", true).await;
    assert_eq!(ids(&drafts), [id_of(&draft)]);
    let with_token = read(&app, "/v1/post-summaries?tag=rust", true).await;
    assert_eq!(ids(&with_token), [id_of(&lower), id_of(&first)]);
    let refused = get(&app, "/v1/post-summaries?tag=rust&status=draft", false).await;
    assert_problem(refused, StatusCode::UNAUTHORIZED).await;

    // A tag whose posts are all hidden still exists: an empty page, not a 404.
    create_ok(
        &app,
        json!({"title": "Secret", "body": "b", "tags": ["Hidden"], "status": "draft"}),
    )
    .await;
    let hidden = read(&app, "/v1/post-summaries?tag=hidden", false).await;
    assert_eq!(hidden["posts"], json!([]));
    assert_eq!(hidden["tag"], json!({"slug": "hidden", "name": "Hidden"}));
}

pub async fn a_tags_list_pages_by_key(db: Db) {
    let app = TestApp::spawn(&db).await;
    let mut tagged = Vec::new();
    for n in 0..7 {
        let tags = if n % 2 == 0 {
            json!(["Paged"])
        } else {
            json!(["Other"])
        };
        let post = create_ok(
            &app,
            json!({"title": format!("Post {n}"), "body": "b", "tags": tags}),
        )
        .await;
        if n % 2 == 0 {
            tagged.push(id_of(&post));
        }
    }
    tagged.reverse();
    let mut seen = Vec::new();
    let mut path = "/v1/post-summaries?tag=paged&limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = read(&app, &path, false).await;
        pages += 1;
        assert!(ids(&page).len() <= 2);
        seen.extend(ids(&page));
        match page["next_before"].as_u64() {
            Some(next) => {
                assert_eq!(Some(&next), seen.last());
                path = format!("/v1/post-summaries?tag=paged&limit=2&before={next}");
            }
            None => break,
        }
    }
    assert_eq!(seen, tagged);
    assert_eq!(pages, 2);
    // `before` alone starts below it.
    let page = read(
        &app,
        &format!("/v1/post-summaries?tag=paged&before={}", tagged[1]),
        false,
    )
    .await;
    assert_eq!(ids(&page), tagged[2..]);
    // A bad limit is still a 400.
    let bad = get(&app, "/v1/post-summaries?tag=paged&limit=0", false).await;
    assert_problem(bad, StatusCode::BAD_REQUEST).await;
}

pub async fn an_unknown_tag_is_404(db: Db) {
    let app = TestApp::spawn(&db).await;
    create_ok(&app, json!({"title": "T", "body": "b", "tags": ["Rust"]})).await;
    for path in [
        "/v1/post-summaries?tag=python",
        "/v1/post-summaries?tag=Rust",
        "/v1/post-summaries?tag=",
        "/v1/post-summaries?tag=2024",
        "/v1/posts?tag=python",
    ] {
        for token in [false, true] {
            let problem = assert_problem(get(&app, path, token).await, StatusCode::NOT_FOUND).await;
            assert!(
                problem["detail"].as_str().unwrap().contains("tag"),
                "{problem}"
            );
        }
    }
}

pub async fn a_removed_tag_leaves_its_list(db: Db) {
    let app = TestApp::spawn(&db).await;
    let post = create_ok(&app, json!({"title": "T", "body": "b", "tags": ["Rust"]})).await;
    let page = read(&app, "/v1/post-summaries?tag=rust", false).await;
    assert_eq!(ids(&page), [id_of(&post)]);
    let response = app
        .client
        .put(app.url(&format!("/v1/posts/{}", id_of(&post))))
        .bearer_auth(TOKEN)
        .header("If-Match", "*")
        .json(&json!({"title": "T", "body": "b", "tags": ["Web"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page = read(&app, "/v1/post-summaries?tag=rust", false).await;
    assert_eq!(page["posts"], json!([]));
    let page = read(&app, "/v1/post-summaries?tag=web", false).await;
    assert_eq!(ids(&page), [id_of(&post)]);
}

pub async fn a_tags_page_walks_its_index_not_the_posts(db: Db) {
    use mysql_async::prelude::Queryable;
    let url = db.fresh_database().await;
    let app = TestApp::spawn_with(posts_service::Config::new(url.clone(), TOKEN)).await;
    let rust = create_ok(
        &app,
        json!({"title": "Rusty", "body": "b", "tags": ["Rust"]}),
    )
    .await;
    create_ok(
        &app,
        json!({"title": "Bulky", "body": "b", "tags": ["Bulk"]}),
    )
    .await;
    let mut conn = mysql_async::Conn::from_url(&url).await.unwrap();
    // Many visible posts with another tag, all newer than the Rust one.
    conn.query_drop(
        "INSERT INTO posts (title, body, created_at, updated_at, status) \
         SELECT CONCAT('Bulk ', seq), 'b', UTC_TIMESTAMP(), UTC_TIMESTAMP(), 'published' \
         FROM seq_1_to_2000",
    )
    .await
    .unwrap();
    conn.query_drop(
        "INSERT INTO post_tags (post_id, tag_id, position) \
         SELECT p.id, t.id, 0 FROM posts p JOIN tags t ON t.slug = 'bulk' \
         WHERE p.title LIKE 'Bulk %'",
    )
    .await
    .unwrap();
    conn.query_drop("ANALYZE TABLE posts, post_tags")
        .await
        .unwrap();
    let page = read(&app, "/v1/post-summaries?tag=rust", false).await;
    assert_eq!(ids(&page), [id_of(&rust)]);
    let page = read(&app, "/v1/post-summaries?tag=bulk&limit=3", false).await;
    assert_eq!(ids(&page).len(), 3);
    assert!(page["next_before"].is_u64());

    let rust_tag: u64 = conn
        .query_first("SELECT id FROM tags WHERE slug = 'rust'")
        .await
        .unwrap()
        .unwrap();
    let plan: Vec<mysql_async::Row> = conn
        .exec(
            format!(
                "EXPLAIN {}",
                posts_service::db::posts::tag_page_query(
                    "posts.id",
                    posts_service::db::posts::VISIBLE
                )
            ),
            (rust_tag, u64::MAX, 21),
        )
        .await
        .unwrap();
    assert_eq!(plan.len(), 2, "{plan:?}");
    let step = |row: &mysql_async::Row| {
        let table: String = row.get("table").unwrap();
        let key: Option<String> = row.get("key").unwrap();
        let rows: u64 = row.get("rows").unwrap();
        (table, key, rows)
    };
    let (table, key, rows) = step(&plan[0]);
    assert_eq!(
        (table.as_str(), key.as_deref()),
        ("pt", Some("post_tags_tag_id")),
        "{plan:?}"
    );
    assert!(rows < 100, "the plan reads {rows} entries of the tag");
    let (table, key, _) = step(&plan[1]);
    assert_eq!(
        (table.as_str(), key.as_deref()),
        ("posts", Some("PRIMARY")),
        "{plan:?}"
    );
}
