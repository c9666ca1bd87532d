//! A post's body is rendered when it is written and stored with the post; posts stored
//! without a rendering (before this release, or changed by an older one) are rendered
//! when read and then, in the background, once and for all.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use posts_service::db::{Database, DbMetrics, LockScope, PostStore};
use posts_service::Config;
use prometheus::Registry;
use reqwest::StatusCode;
use serde_json::{json, Value};
use test_mariadb::harness::Db;

use crate::helpers::{id_of, TestApp, TOKEN};

const BODY: &str = "Intro with *emphasis* &#1; and <script>alert(1)</script> here.\n\n\
                    ## More\n\nThe rest of the post.";

/// Characters XML forbids: none may reach a page or the feed.
fn has_xml_forbidden(text: &str) -> bool {
    !text.chars().all(post_render::xml_text::allowed)
}

async fn post_json(app: &TestApp, id: u64) -> Value {
    let response = app.get(id).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

pub async fn a_post_is_stored_rendered_and_html_is_never_taken_from_a_client(db: Db) {
    let app = TestApp::spawn(&db).await;
    let created = app.create_ok("Rendered", BODY).await;
    let id = id_of(&created);
    for post in [created, post_json(&app, id).await] {
        let html = post["html"].as_str().unwrap();
        assert!(html.contains("<em>emphasis</em>"), "{html}");
        assert!(html.contains("<h2>More</h2>"), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(!has_xml_forbidden(html), "{html:?}");
        let excerpt = post["excerpt"].as_str().unwrap();
        assert!(excerpt.starts_with("Intro with emphasis"), "{excerpt}");
        assert!(!excerpt.contains("alert"), "{excerpt}");
        assert!(!has_xml_forbidden(excerpt), "{excerpt:?}");
        assert_eq!(post["excerpt_truncated"], true);
        assert_eq!(post["body"], BODY, "the source is kept as written");
    }

    // An edit renders again.
    let response = app
        .update(id, Some("\"1\""), "Rendered", "Now *only* this.")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let post = post_json(&app, id).await;
    assert_eq!(post["html"], "<p>Now <em>only</em> this.</p>\n");
    assert_eq!(post["excerpt"], "Now only this.");
    assert_eq!(post["excerpt_truncated"], false);

    // The summaries carry the teaser, never the body or the HTML.
    let response = app.fetch("/v1/post-summaries?limit=5").await;
    assert_eq!(response.status(), StatusCode::OK);
    let page: Value = response.json().await.unwrap();
    let summary = page["posts"][0].as_object().unwrap();
    let mut keys: Vec<&str> = summary.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "author",
            "created_at",
            "excerpt",
            "excerpt_truncated",
            "id",
            "published_at",
            "slug",
            "status",
            "tag_slugs",
            "tags",
            "title",
            "updated_at",
            "version"
        ]
    );
    assert_eq!(summary["excerpt"], "Now only this.");

    // HTML from a client is refused, and nothing is written.
    let response = app
        .client
        .post(app.url("/v1/posts"))
        .bearer_auth(TOKEN)
        .json(&json!({"title": "Mine", "body": "b", "html": "<script>x()</script>"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let listed: Value = app.list("").await.json().await.unwrap();
    assert_eq!(listed["posts"].as_array().unwrap().len(), 1);
}

/// A fresh database at the current schema, with `count` posts inserted the way the
/// previous release did (without any rendering), before any posts-service sees it.
async fn database_with_unrendered_posts(db: &Db, count: usize) -> (String, mysql_async::Conn) {
    let database_url = db.fresh_database().await;
    let pool = mysql_async::Pool::new(database_url.as_str());
    posts_service::db::migrate(&pool, LockScope::Server)
        .await
        .unwrap();
    let mut conn = pool.get_conn().await.unwrap();
    insert_unrendered(&mut conn, count).await;
    (database_url, conn)
}

async fn insert_unrendered(conn: &mut mysql_async::Conn, count: usize) {
    for n in 0..count {
        conn.exec_drop(
            "INSERT INTO posts (title, body, created_at, updated_at, version) \
             VALUES (?, ?, UTC_TIMESTAMP(), UTC_TIMESTAMP(), 1)",
            (
                format!("Old {n}"),
                format!("Old post *{n}*.\n\n# Heading {n}"),
            ),
        )
        .await
        .unwrap();
    }
    // Slugs and publication times are the backfill's (tests in `authoring`): given here,
    // so that only the re-render has work to do.
    conn.query_drop(
        "UPDATE posts SET slug = CONCAT('old-', id), published_at = created_at WHERE slug IS NULL",
    )
    .await
    .unwrap();
    conn.query_drop("INSERT IGNORE INTO post_slugs (slug, post_id) SELECT slug, id FROM posts")
        .await
        .unwrap();
}

async fn count_unrendered(conn: &mut mysql_async::Conn) -> u64 {
    conn.exec_first(
        "SELECT COUNT(*) FROM posts \
         WHERE rendered_for_version <> version OR renderer_version < ?",
        (post_render::VERSION,),
    )
    .await
    .unwrap()
    .unwrap()
}

/// Waits (up to 120 s) until no post needs rendering.
async fn until_all_rendered(conn: &mut mysql_async::Conn) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while count_unrendered(conn).await > 0 {
        assert!(
            Instant::now() < deadline,
            "posts still unrendered after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn posts_stored_without_a_rendering_are_served_and_rendered_in_the_background(db: Db) {
    const POSTS: usize = 250;
    let (database_url, mut conn) = database_with_unrendered_posts(&db, POSTS).await;

    // A replica walking one post a second, from the lowest id: the newest post's turn
    // is minutes away, and it is served rendered at once.
    let mut slow = Config::new(database_url.clone(), TOKEN);
    slow.rerender_rows_per_second = 1;
    slow.rerender_batch_rows = 1;
    let first = TestApp::spawn_with(slow).await;
    let id: u64 = conn
        .query_first("SELECT MAX(id) FROM posts")
        .await
        .unwrap()
        .unwrap();
    let post = post_json(&first, id).await;
    assert_eq!(
        post["html"],
        "<p>Old post <em>249</em>.</p>\n<h1>Heading 249</h1>\n"
    );
    assert_eq!(post["excerpt"], "Old post 249.");
    let page: Value = first
        .fetch("/v1/post-summaries?limit=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["posts"][0]["excerpt"], "Old post 249.");
    assert_eq!(page["posts"][0]["excerpt_truncated"], true);
    first.stop().await;

    // A replica starting at 100 posts a second walks what is left at that rate.
    let left = count_unrendered(&mut conn).await;
    assert!(
        left >= POSTS as u64 - 20,
        "the slow walk rendered {left} posts"
    );
    let mut config = Config::new(database_url, TOKEN);
    config.rerender_rows_per_second = 100;
    config.rerender_batch_rows = 40;
    let started = Instant::now();
    let second = TestApp::spawn_with(config).await;
    until_all_rendered(&mut conn).await;
    // At 100 a second, what follows the first batch takes at least (left - 40) / 100 s.
    let took = started.elapsed();
    let least = Duration::from_millis((left - 40) * 10);
    assert!(took >= least, "{left} posts took only {took:?}");
    let stored: Vec<(String, String, String, bool, String)> = conn
        .query("SELECT body, html, excerpt, excerpt_truncated, plain_text FROM posts")
        .await
        .unwrap();
    assert_eq!(stored.len(), POSTS);
    for (body, html, excerpt, truncated, plain_text) in stored {
        let rendered = post_render::render(&body);
        assert_eq!(
            (html, excerpt, truncated, plain_text),
            (
                rendered.html,
                rendered.excerpt,
                rendered.excerpt_truncated,
                rendered.plain_text
            )
        );
    }
    let metrics = second.metrics().await;
    assert!(
        metrics.contains(&format!("posts_rerendered_total {left}")),
        "{metrics}"
    );
    second.stop().await;
}

/// The walks the app's background re-render has finished.
async fn walks(app: &TestApp) -> u64 {
    let metrics = app.metrics().await;
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("posts_rerender_walks_total "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits (up to 60 s) until the app has finished `at_least` walks.
async fn until_walks(app: &TestApp, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while walks(app).await < at_least {
        assert!(
            Instant::now() < deadline,
            "fewer than {at_least} walks in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn a_body_changed_by_an_older_release_is_rendered_again(db: Db) {
    let database_url = db.fresh_database().await;
    let app = TestApp::spawn_with(Config::new(database_url.clone(), TOKEN)).await;
    let id = id_of(&app.create_ok("Edited elsewhere", "First *body*.").await);
    // The start-up walk is over: nothing renders now unless a read asks for it.
    until_walks(&app, 1).await;
    let pool = mysql_async::Pool::new(database_url.as_str());
    let mut conn = pool.get_conn().await.unwrap();
    // What the previous release's update does: it knows nothing of the rendering. The
    // first change is only of case, which the table's collation does not tell apart.
    for (round, body) in [(1, "FIRST *BODY*."), (2, "# Second body")] {
        conn.exec_drop(
            "UPDATE posts SET title = ?, body = ?, updated_at = UTC_TIMESTAMP(), \
             version = version + 1 WHERE id = ?",
            ("Edited elsewhere", body, id),
        )
        .await
        .unwrap();
        assert_eq!(count_unrendered(&mut conn).await, 1);
        let expected = post_render::render(body).html;
        // Served rendered at once; the read wakes a walk, which stores it.
        assert_eq!(post_json(&app, id).await["html"], expected.as_str());
        until_walks(&app, round + 1).await;
        assert_eq!(count_unrendered(&mut conn).await, 0);
        assert_eq!(post_json(&app, id).await["html"], expected.as_str());
    }

    // This release's own edits keep their rendering current, even one that renders the
    // same HTML as before.
    for body in ["Third *body*.", "Third _body_."] {
        let response = app.update(id, Some("*"), "Edited here", body).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(count_unrendered(&mut conn).await, 0);
        assert_eq!(
            post_json(&app, id).await["html"],
            "<p>Third <em>body</em>.</p>\n"
        );
    }
    assert_eq!(walks(&app).await, 3, "a current post woke the walk");
}

pub async fn the_background_walk_never_overwrites_a_newer_edit(db: Db) {
    let (database_url, mut conn) = database_with_unrendered_posts(&db, 1).await;
    let pool = mysql_async::Pool::new(database_url.as_str());
    let database = Database::new(pool);
    let _start_up = database.spawn_start_up(false);
    database.started().await;
    let metrics = DbMetrics::register(&Registry::new(), 4).unwrap();
    let store = PostStore::new(database, Duration::from_secs(10), metrics);
    let read = store.unrendered_in(0, u64::MAX, 10).await.unwrap();
    assert_eq!(read.len(), 1);
    let id = read[0].id;

    // The post is edited (by an older release: nothing rendered) between the walk's
    // read and its write.
    conn.exec_drop(
        "UPDATE posts SET body = 'The edit.', version = version + 1 WHERE id = ?",
        (id,),
    )
    .await
    .unwrap();
    let rendered = post_render::render(&read[0].body);
    assert!(!store.store_rendering(&read[0], &rendered).await.unwrap());
    let html: Option<String> = conn
        .exec_first("SELECT html FROM posts WHERE id = ?", (id,))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        html, None,
        "the old body's rendering was stored over the edit"
    );

    // Read again, it is rendered for the edit.
    let again = store.unrendered_in(0, u64::MAX, 10).await.unwrap();
    assert_eq!(again[0].body, "The edit.");
    let rendered = post_render::render(&again[0].body);
    assert!(store.store_rendering(&again[0], &rendered).await.unwrap());
    assert_eq!(count_unrendered(&mut conn).await, 0);
}
