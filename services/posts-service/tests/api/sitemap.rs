//! `GET /v1/sitemap` and `GET /v1/sitemap/posts`: the visible posts and the tags with a
//! visible post, for search engines; never a draft or a scheduled post, token or not.

use reqwest::StatusCode;
use serde_json::{json, Value};
use test_mariadb::harness::Db;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::helpers::{assert_problem, id_of, TestApp, TOKEN};

fn slugs(page: &Value) -> Vec<&str> {
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["slug"].as_str().unwrap())
        .collect()
}

pub async fn the_sitemap_lists_visible_posts_and_the_tags_that_have_one(db: Db) {
    let app = TestApp::spawn(&db).await;
    let tomorrow = (OffsetDateTime::now_utc() + time::Duration::days(1))
        .format(&Rfc3339)
        .unwrap();
    let first = app
        .create_json_ok(json!({"title": "First light", "body": "b", "tags": ["Rust"]}))
        .await;
    app.create_json_ok(
        json!({"title": "Secret draft", "body": "b", "status": "draft", "tags": ["Secret"]}),
    )
    .await;
    app.create_json_ok(
        json!({"title": "Not yet", "body": "b", "published_at": tomorrow, "tags": ["Later", "rust"]}),
    )
    .await;
    let second = app
        .create_json_ok(json!({"title": "Second light", "body": "b", "tags": ["rust", "Web"]}))
        .await;

    // Readers and the token see the same: what search engines may list.
    for token in [false, true] {
        let outline = app.read_json("/v1/sitemap", token).await;
        assert_eq!(
            outline,
            json!({"posts": 2, "post_pages": [0], "tags": ["rust", "web"]}),
            "token: {token}"
        );
        let page = app.read_json("/v1/sitemap/posts", token).await;
        assert_eq!(slugs(&page), ["first-light", "second-light"]);
        assert_eq!(page["next_after"], Value::Null);
    }
    let page = app.read_json("/v1/sitemap/posts", false).await;
    // lastmod: the later of its last edit and its publication (here the publication:
    // it is kept to the millisecond, edits to the second).
    assert_eq!(page["entries"][0]["lastmod"], first["published_at"]);

    // Paged by id.
    let one = app.read_json("/v1/sitemap/posts?limit=1", false).await;
    assert_eq!(slugs(&one), ["first-light"]);
    assert_eq!(one["next_after"], json!(id_of(&first)));
    let rest = app
        .read_json(&format!("/v1/sitemap/posts?after={}", id_of(&first)), false)
        .await;
    assert_eq!(slugs(&rest), ["second-light"]);
    assert_eq!(rest["next_after"], Value::Null);
    let none = app
        .read_json(
            &format!("/v1/sitemap/posts?after={}", id_of(&second)),
            false,
        )
        .await;
    assert_eq!(none, json!({"entries": [], "next_after": null}));

    for bad in [
        "after=x",
        "after=-1",
        "limit=0",
        "limit=50001",
        "limit=many",
    ] {
        let response = app.fetch(&format!("/v1/sitemap/posts?{bad}")).await;
        assert_problem(response, StatusCode::BAD_REQUEST).await;
    }
    app.stop().await;
}

pub async fn past_50000_visible_posts_the_sitemap_comes_in_pages(db: Db) {
    use mysql_async::prelude::Queryable;
    let url = db.fresh_database().await;
    let mut config = posts_service::Config::new(url.clone(), TOKEN);
    config.db_timeout_ms = 10_000;
    let app = TestApp::spawn_with(config).await;
    let mut conn = mysql_async::Conn::from_url(&url).await.unwrap();
    // 50,002 visible posts (ids 1 to 50,002), then a draft.
    conn.query_drop(
        "INSERT INTO posts (title, body, created_at, updated_at, slug, status, published_at) \
         SELECT CONCAT('Post ', seq), 'b', UTC_TIMESTAMP(), UTC_TIMESTAMP(), \
                CONCAT('post-number-', seq), 'published', UTC_TIMESTAMP() \
         FROM seq_1_to_50002",
    )
    .await
    .unwrap();
    conn.query_drop(
        "INSERT INTO posts (title, body, created_at, updated_at, slug, status) \
         VALUES ('Draft', 'b', UTC_TIMESTAMP(), UTC_TIMESTAMP(), 'a-draft', 'draft')",
    )
    .await
    .unwrap();

    let outline = app.read_json("/v1/sitemap", false).await;
    // Counted only far enough to know one sitemap cannot hold them.
    assert_eq!(outline["posts"], 50_001);
    assert_eq!(outline["post_pages"], json!([0, 50_000]));
    let first = app.read_json("/v1/sitemap/posts", false).await;
    let entries = first["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 50_000);
    assert_eq!(entries[0]["slug"], "post-number-1");
    assert_eq!(entries[49_999]["slug"], "post-number-50000");
    assert_eq!(first["next_after"], 50_000);
    let last = app.read_json("/v1/sitemap/posts?after=50000", false).await;
    assert_eq!(slugs(&last), ["post-number-50001", "post-number-50002"]);
    assert_eq!(last["next_after"], Value::Null);
    // A page of the index is a range of ids: `through` ends it.
    let range = app
        .read_json("/v1/sitemap/posts?after=49990&through=50000", false)
        .await;
    assert_eq!(slugs(&range).len(), 10);
    assert_eq!(range["next_after"], Value::Null);

    // A page's probe reads from its bound on, whatever the number of posts before it.
    let plan: String = conn
        .exec_first(
            format!(
                "EXPLAIN FORMAT=JSON {}",
                posts_service::db::sitemap::page_probe_query()
            ),
            (40_000,),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(plan.contains(r#""key": "PRIMARY""#), "{plan}");
    assert!(plan.contains(r#""access_type": "range""#), "{plan}");

    // Ranges that hold no visible post are no page: the pages are where posts are.
    conn.query_drop("DELETE FROM posts WHERE id <= 50000")
        .await
        .unwrap();
    conn.query_drop(
        "INSERT INTO posts (id, title, body, created_at, updated_at, slug, status, published_at) \
         VALUES (170001, 'Far', 'b', UTC_TIMESTAMP(), UTC_TIMESTAMP(), 'far', 'published', \
                 UTC_TIMESTAMP())",
    )
    .await
    .unwrap();
    let outline = app.read_json("/v1/sitemap", false).await;
    assert_eq!(outline["posts"], 3);
    assert_eq!(outline["post_pages"], json!([50_000, 150_000]));
    app.stop().await;
}
