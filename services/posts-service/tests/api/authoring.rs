//! Slugs, drafts, scheduled posts and tags: what an author sets and what readers see.

use std::time::{Duration, Instant};

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use test_mariadb::harness::Db;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::helpers::{assert_problem, id_of, TestApp, TOKEN};

/// `POST /v1/posts` with the token and this JSON.
async fn create(app: &TestApp, post: Value) -> Response {
    app.client
        .post(app.url("/v1/posts"))
        .bearer_auth(TOKEN)
        .json(&post)
        .send()
        .await
        .unwrap()
}

/// Creates the post, asserting 201; its JSON.
async fn create_ok(app: &TestApp, post: Value) -> Value {
    let response = create(app, post).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

/// `PUT /v1/posts/{id}` with the token, `If-Match: *` and this JSON.
async fn put(app: &TestApp, id: u64, post: Value) -> Response {
    app.client
        .put(app.url(&format!("/v1/posts/{id}")))
        .bearer_auth(TOKEN)
        .header("If-Match", "*")
        .json(&post)
        .send()
        .await
        .unwrap()
}

/// The JSON of `GET {path}`, with the token or without, asserting 200.
async fn read(app: &TestApp, path: &str, token: bool) -> Value {
    let response = if token {
        app.fetch_with_token(path).await
    } else {
        app.fetch(path).await
    };
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.json().await.unwrap()
}

/// The status of `GET {path}` without the token.
async fn status_of(app: &TestApp, path: &str) -> StatusCode {
    app.fetch(path).await.status()
}

/// The ids of a page's posts.
fn ids(page: &Value) -> Vec<u64> {
    page["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect()
}

/// The fields a 422 names.
async fn fields_of_422(response: Response) -> Vec<String> {
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

fn time_of(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(value.as_str().expect("a time"), &Rfc3339).unwrap()
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap()
}

pub async fn slugs_are_made_from_titles_and_kept_unique(db: Db) {
    let app = TestApp::spawn(&db).await;
    let cologne = create_ok(&app, json!({"title": "Grüße aus Köln", "body": "b"})).await;
    assert_eq!(cologne["slug"], "grusse-aus-koln");
    let again = create_ok(&app, json!({"title": "Grüße aus  Köln!", "body": "b"})).await;
    assert_eq!(again["slug"], "grusse-aus-koln-2");
    let third = create_ok(&app, json!({"title": "grüsse aus köln", "body": "b"})).await;
    assert_eq!(third["slug"], "grusse-aus-koln-3");
    let year = create_ok(&app, json!({"title": "2026", "body": "b"})).await;
    assert_eq!(year["slug"], "post-2026");
    let cjk = create_ok(&app, json!({"title": "北京欢迎你", "body": "b"})).await;
    assert_eq!(cjk["slug"], format!("post-{}", id_of(&cjk)));
    let long = create_ok(
        &app,
        json!({"title": "word ".repeat(25).trim(), "body": "b"}),
    )
    .await;
    let slug = long["slug"].as_str().unwrap();
    assert!(slug.len() <= 96 && slug.ends_with("-word"), "{slug}");

    // A slug finds its post, in one call; the id still does too.
    for post in [&cologne, &again, &year, &cjk, &long] {
        let path = format!("/v1/posts/{}", post["slug"].as_str().unwrap());
        let found = read(&app, &path, false).await;
        assert_eq!(found["id"], post["id"], "{path}");
    }
    assert_eq!(
        read(&app, "/v1/posts/post-2026", false).await["title"],
        "2026"
    );
    for unknown in [
        "/v1/posts/no-such-post",
        "/v1/posts/Grusse",
        "/v1/posts/a--b",
    ] {
        assert_eq!(
            status_of(&app, unknown).await,
            StatusCode::NOT_FOUND,
            "{unknown}"
        );
    }

    // A title change keeps the slug.
    let response = put(&app, id_of(&cologne), json!({"title": "Köln", "body": "b"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let changed: Value = response.json().await.unwrap();
    assert_eq!(changed["slug"], "grusse-aus-koln");
}

pub async fn an_explicit_slug_must_be_valid_and_free(db: Db) {
    let app = TestApp::spawn(&db).await;
    let mine = create_ok(&app, json!({"title": "T", "body": "b", "slug": "my-slug"})).await;
    assert_eq!(mine["slug"], "my-slug");
    for bad in [
        "My-Slug",
        "2026",
        "a--b",
        "-a",
        "grüße",
        "",
        &"a".repeat(97),
    ] {
        let response = create(&app, json!({"title": "T", "body": "b", "slug": bad})).await;
        assert_eq!(fields_of_422(response).await, ["slug"], "{bad:?}");
    }
    let response = create(&app, json!({"title": "T", "body": "b", "slug": "my-slug"})).await;
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "slug");
    assert!(
        problem["detail"].as_str().unwrap().contains("taken"),
        "{problem}"
    );
    // Nothing was created by the refused requests.
    let page = read(&app, "/v1/posts?status=all", true).await;
    assert_eq!(ids(&page), [id_of(&mine)]);
    // A made slug steps around an explicit one.
    let made = create_ok(&app, json!({"title": "My slug", "body": "b"})).await;
    assert_eq!(made["slug"], "my-slug-2");
}

pub async fn a_changed_slug_keeps_the_old_one_leading_to_the_post(db: Db) {
    let app = TestApp::spawn(&db).await;
    let post = create_ok(&app, json!({"title": "First name", "body": "b"})).await;
    let id = id_of(&post);
    let response = put(
        &app,
        id,
        json!({"title": "First name", "body": "b", "slug": "renamed"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let renamed: Value = response.json().await.unwrap();
    assert_eq!(renamed["slug"], "renamed");
    assert_eq!(renamed["version"], 2);
    // The old slug answers the post, carrying its current slug.
    for path in ["/v1/posts/first-name", "/v1/posts/renamed"] {
        let found = read(&app, path, false).await;
        assert_eq!(
            (found["id"].as_u64(), &found["slug"]),
            (Some(id), &json!("renamed"))
        );
    }
    // The old slug is never given to another post, asked for or made.
    let response = create(
        &app,
        json!({"title": "T", "body": "b", "slug": "first-name"}),
    )
    .await;
    assert_eq!(fields_of_422(response).await, ["slug"]);
    let other = create_ok(&app, json!({"title": "First name", "body": "b"})).await;
    assert_eq!(other["slug"], "first-name-2");
    let response = put(
        &app,
        id_of(&other),
        json!({"title": "T", "body": "b", "slug": "renamed"}),
    )
    .await;
    assert_eq!(fields_of_422(response).await, ["slug"]);
    assert_eq!(
        read(&app, &format!("/v1/posts/{}", id_of(&other)), false).await["version"],
        1
    );
    // The post may take its old slug back; every slug it had still leads to it.
    let response = put(
        &app,
        id,
        json!({"title": "T", "body": "b", "slug": "first-name"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    for path in ["/v1/posts/first-name", "/v1/posts/renamed"] {
        let found = read(&app, path, false).await;
        assert_eq!(
            (found["id"].as_u64(), &found["slug"]),
            (Some(id), &json!("first-name"))
        );
    }
    // Deleted, its slugs lead nowhere and are free again.
    assert_eq!(app.delete(id, None).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        status_of(&app, "/v1/posts/renamed").await,
        StatusCode::NOT_FOUND
    );
    let reused = create_ok(&app, json!({"title": "T", "body": "b", "slug": "renamed"})).await;
    assert_eq!(reused["slug"], "renamed");
}

pub async fn drafts_and_scheduled_posts_are_only_seen_with_the_token(db: Db) {
    let app = TestApp::spawn(&db).await;
    let before = OffsetDateTime::now_utc() - Duration::from_secs(1);
    let visible = create_ok(&app, json!({"title": "Visible", "body": "b"})).await;
    let draft = create_ok(
        &app,
        json!({"title": "Draft", "body": "b", "status": "draft"}),
    )
    .await;
    let tomorrow = OffsetDateTime::now_utc() + Duration::from_secs(86_400);
    let scheduled = create_ok(
        &app,
        json!({"title": "Scheduled", "body": "b", "published_at": rfc3339(tomorrow)}),
    )
    .await;
    let past = create_ok(
        &app,
        json!({"title": "Backdated", "body": "b", "published_at": "2020-01-02T03:04:05.678Z"}),
    )
    .await;
    assert_eq!(visible["status"], "published");
    assert!(time_of(&visible["published_at"]) >= before);
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["published_at"], Value::Null);
    assert_eq!(scheduled["status"], "published");
    assert_eq!(past["published_at"], "2020-01-02T03:04:05.678Z");
    assert_eq!(visible["author"], Value::Null);

    // Without the token: hidden by id, by slug, in the list and in the summaries.
    for hidden in [&draft, &scheduled] {
        for path in [
            format!("/v1/posts/{}", id_of(hidden)),
            format!("/v1/posts/{}", hidden["slug"].as_str().unwrap()),
        ] {
            assert_problem(app.fetch(&path).await, StatusCode::NOT_FOUND).await;
        }
    }
    let readers = [id_of(&past), id_of(&visible)];
    for list in [
        "/v1/posts",
        "/v1/post-summaries",
        "/v1/posts?status=published",
    ] {
        assert_eq!(ids(&read(&app, list, false).await), readers, "{list}");
    }
    for list in ["/v1/posts", "/v1/post-summaries"] {
        for status in ["draft", "scheduled", "all"] {
            let response = app.fetch(&format!("{list}?status={status}")).await;
            let www = response.headers().get("www-authenticate").cloned();
            assert_problem(response, StatusCode::UNAUTHORIZED).await;
            assert!(www.unwrap().to_str().unwrap().starts_with("Bearer"));
        }
    }

    // With the token: every post by id and slug, and each status on its own.
    for post in [&visible, &draft, &scheduled, &past] {
        let by_id = read(&app, &format!("/v1/posts/{}", id_of(post)), true).await;
        assert_eq!(&by_id, post);
        let path = format!("/v1/posts/{}", post["slug"].as_str().unwrap());
        assert_eq!(&read(&app, &path, true).await, post);
    }
    for list in ["/v1/posts", "/v1/post-summaries"] {
        for (status, expected) in [
            ("draft", vec![id_of(&draft)]),
            ("scheduled", vec![id_of(&scheduled)]),
            ("published", readers.to_vec()),
            (
                "all",
                vec![
                    id_of(&past),
                    id_of(&scheduled),
                    id_of(&draft),
                    id_of(&visible),
                ],
            ),
        ] {
            let page = read(&app, &format!("{list}?status={status}"), true).await;
            assert_eq!(ids(&page), expected, "{list}?status={status}");
        }
        // Without `?status=`, the token lists what readers see.
        assert_eq!(ids(&read(&app, list, true).await), readers);
        // Pages of one status walk by key like the rest.
        let first = read(&app, &format!("{list}?status=all&limit=3"), true).await;
        let before = first["next_before"].as_u64().unwrap();
        let rest = read(
            &app,
            &format!("{list}?status=all&limit=3&before={before}"),
            true,
        )
        .await;
        assert_eq!(ids(&rest), [id_of(&visible)]);
        assert_eq!(rest["next_before"], Value::Null);
    }
    let summary = &read(&app, "/v1/post-summaries?status=draft", true).await["posts"][0];
    assert_eq!(summary["slug"], draft["slug"]);
    assert_eq!(summary["status"], "draft");
    assert_eq!(summary["published_at"], Value::Null);
    let response = app.fetch_with_token("/v1/posts?status=bogus").await;
    assert_problem(response, StatusCode::BAD_REQUEST).await;
}

pub async fn a_scheduled_post_becomes_visible_by_itself(db: Db) {
    let app = TestApp::spawn(&db).await;
    let at = OffsetDateTime::now_utc() + Duration::from_secs(2);
    let post = create_ok(
        &app,
        json!({"title": "Soon", "body": "b", "published_at": rfc3339(at)}),
    )
    .await;
    let path = format!("/v1/posts/{}", id_of(&post));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = status_of(&app, &path).await;
        let now = OffsetDateTime::now_utc();
        if status == StatusCode::OK {
            // Never before its time (the database's clock is this machine's).
            assert!(
                now >= at - Duration::from_millis(50),
                "visible at {now}, due {at}"
            );
            break;
        }
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(
            Instant::now() < deadline,
            "still hidden 60 s after creation"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ids(&read(&app, "/v1/posts", false).await), [id_of(&post)]);
    assert_eq!(
        ids(&read(&app, "/v1/posts?status=scheduled", true).await),
        Vec::<u64>::new()
    );
}

pub async fn publishing_a_draft_sets_its_time_and_put_keeps_absent_fields(db: Db) {
    let app = TestApp::spawn(&db).await;
    let draft = create_ok(
        &app,
        json!({"title": "Draft", "body": "b", "status": "draft", "slug": "kept", "tags": ["One", "Two"]}),
    )
    .await;
    let id = id_of(&draft);
    // Title and body alone change nothing else.
    let response = put(&app, id, json!({"title": "Draft 2", "body": "c"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let edited: Value = response.json().await.unwrap();
    for field in ["slug", "status", "published_at", "tags"] {
        assert_eq!(edited[field], draft[field], "{field}");
    }
    assert_eq!(edited["title"], "Draft 2");
    // Published without a time: published now.
    let before = OffsetDateTime::now_utc() - Duration::from_secs(1);
    let response = put(
        &app,
        id,
        json!({"title": "Draft 2", "body": "c", "status": "published"}),
    )
    .await;
    let published: Value = response.json().await.unwrap();
    assert_eq!(published["status"], "published");
    let at = time_of(&published["published_at"]);
    assert!(at >= before && at <= OffsetDateTime::now_utc(), "{at}");
    assert_eq!(
        read(&app, &format!("/v1/posts/{id}"), false).await["id"],
        id
    );
    // Back to draft: hidden again, its publication time kept.
    let response = put(
        &app,
        id,
        json!({"title": "Draft 2", "body": "c", "status": "draft"}),
    )
    .await;
    let unpublished: Value = response.json().await.unwrap();
    assert_eq!(unpublished["published_at"], published["published_at"]);
    assert_eq!(
        status_of(&app, &format!("/v1/posts/{id}")).await,
        StatusCode::NOT_FOUND
    );
    // Tags given replace the stored ones; none clears them.
    let response = put(&app, id, json!({"title": "T", "body": "c", "tags": []})).await;
    let cleared: Value = response.json().await.unwrap();
    assert_eq!(cleared["tags"], json!([]));
    assert_eq!(cleared["slug"], "kept");
}

pub async fn tags_are_trimmed_limited_and_one_whatever_their_case(db: Db) {
    let app = TestApp::spawn(&db).await;
    let first = create_ok(
        &app,
        json!({"title": "One", "body": "b", "tags": [" Rust ", "rust", "Web", "RUST", "Straße"]}),
    )
    .await;
    assert_eq!(first["tags"], json!(["Rust", "Web", "Straße"]));
    // The tag keeps the spelling it was first used with.
    let second = create_ok(
        &app,
        json!({"title": "Two", "body": "b", "tags": ["web", "RUST", "New"]}),
    )
    .await;
    assert_eq!(second["tags"], json!(["Web", "Rust", "New"]));
    let untagged = create_ok(&app, json!({"title": "Three", "body": "b"})).await;
    assert_eq!(untagged["tags"], json!([]));
    // Lists and summaries carry them, a page's in one go.
    for list in ["/v1/posts", "/v1/post-summaries"] {
        let page = read(&app, list, false).await;
        let tags: Vec<&Value> = page["posts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| &p["tags"])
            .collect();
        assert_eq!(
            tags,
            [&json!([]), &second["tags"], &first["tags"]],
            "{list}"
        );
    }

    let ten: Vec<String> = (1..=10).map(|n| format!("tag {n}")).collect();
    assert_eq!(
        create_ok(&app, json!({"title": "Ten", "body": "b", "tags": ten})).await["tags"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    let eleven: Vec<String> = (1..=11).map(|n| format!("tag {n}")).collect();
    let longest = "é".repeat(32);
    assert_eq!(
        create_ok(
            &app,
            json!({"title": "Long", "body": "b", "tags": [longest]})
        )
        .await["tags"][0],
        longest.as_str()
    );
    let count = ids(&read(&app, "/v1/posts?status=all&limit=100", true).await).len();
    for bad in [
        json!(eleven),
        json!(["é".repeat(33)]),
        json!(["  "]),
        json!(["bell\u{7}"]),
    ] {
        let response = create(&app, json!({"title": "Bad", "body": "b", "tags": bad})).await;
        assert_eq!(fields_of_422(response).await, ["tags"], "{bad}");
        let response = put(
            &app,
            id_of(&first),
            json!({"title": "Bad", "body": "b", "tags": bad}),
        )
        .await;
        assert_eq!(fields_of_422(response).await, ["tags"], "{bad}");
    }
    assert_eq!(
        ids(&read(&app, "/v1/posts?status=all&limit=100", true).await).len(),
        count
    );
    assert_eq!(
        read(&app, &format!("/v1/posts/{}", id_of(&first)), false).await,
        first
    );
}

pub async fn invalid_optional_fields_are_422_together_and_change_nothing(db: Db) {
    let app = TestApp::spawn(&db).await;
    let post = create_ok(&app, json!({"title": "Keep", "body": "b", "tags": ["a"]})).await;
    let id = id_of(&post);
    let bad = json!({
        "title": "", "body": "b", "slug": "Not A Slug",
        "tags": ["x".repeat(40)], "published_at": "1960-01-01T00:00:00Z"
    });
    let response = create(&app, bad.clone()).await;
    assert_eq!(
        fields_of_422(response).await,
        ["title", "slug", "tags", "published_at"]
    );
    let response = put(&app, id, bad).await;
    assert_eq!(
        fields_of_422(response).await,
        ["title", "slug", "tags", "published_at"]
    );
    // A status that is not one is not a post at all: 400.
    let response = create(&app, json!({"title": "T", "body": "b", "status": "hidden"})).await;
    assert_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(read(&app, &format!("/v1/posts/{id}"), false).await, post);
    assert_eq!(ids(&read(&app, "/v1/posts?status=all", true).await), [id]);
}

mod previous_release {
    refinery::embed_migrations!("migrations");
}

/// A database as the previous release left it: the schema through V4, and `count`
/// posts inserted the way that release did (no slug, no status, no publication time),
/// created a minute apart, the oldest first; titles repeat so that slugs collide.
async fn database_of_the_previous_release(db: &Db, count: usize) -> (String, mysql_async::Conn) {
    use mysql_async::prelude::Queryable;
    let database_url = db.fresh_database().await;
    let mut pool = mysql_async::Pool::new(database_url.as_str());
    previous_release::migrations::runner()
        .set_target(refinery::Target::Version(4))
        .run_async(&mut pool)
        .await
        .unwrap();
    let mut conn = pool.get_conn().await.unwrap();
    for n in 0..count {
        let title = if n % 2 == 0 {
            "Old news".to_owned()
        } else {
            format!("Über {n}")
        };
        conn.exec_drop(
            "INSERT INTO posts (title, body, created_at, updated_at, version) \
             VALUES (?, 'Old *body*.', UTC_TIMESTAMP() - INTERVAL ? MINUTE, UTC_TIMESTAMP(), 1)",
            (title, count - n),
        )
        .await
        .unwrap();
    }
    (database_url, conn)
}

pub async fn posts_of_the_previous_release_are_read_correctly_and_backfilled(db: Db) {
    use mysql_async::prelude::Queryable;
    const POSTS: usize = 40;
    let (database_url, mut conn) = database_of_the_previous_release(&db, POSTS).await;

    // A replica filling one post a second, from the lowest id: the newest posts wait
    // for their turn, and read meanwhile as published when they were created.
    let mut slow = posts_service::Config::new(database_url.clone(), TOKEN);
    slow.rerender_rows_per_second = 1;
    slow.rerender_batch_rows = 1;
    let app = TestApp::spawn_with(slow).await;
    let newest: u64 = conn
        .query_first("SELECT MAX(id) FROM posts")
        .await
        .unwrap()
        .unwrap();
    let post = read(&app, &format!("/v1/posts/{newest}"), false).await;
    assert_eq!(post["status"], "published");
    assert_eq!(post["published_at"], post["created_at"]);
    assert_eq!(post["slug"], format!("post-{newest}"));
    assert_eq!(post["tags"], json!([]));
    // The interim slug finds it too.
    assert_eq!(
        read(&app, &format!("/v1/posts/post-{newest}"), false).await["id"],
        newest
    );
    let page = read(&app, "/v1/posts?limit=100", false).await;
    assert_eq!(page["posts"].as_array().unwrap().len(), POSTS);
    let summaries = read(&app, "/v1/post-summaries?limit=3", false).await;
    assert_eq!(
        summaries["posts"][0]["published_at"],
        summaries["posts"][0]["created_at"]
    );
    let unfilled: u64 = conn
        .query_first("SELECT COUNT(*) FROM posts WHERE slug IS NULL")
        .await
        .unwrap()
        .unwrap();
    assert!(
        unfilled >= POSTS as u64 - 20,
        "the slow walk filled {} posts",
        POSTS as u64 - unfilled
    );
    // An edit gives an unfilled post its slug and time at once.
    let response = put(
        &app,
        newest,
        json!({"title": "Old news", "body": "Edited."}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let edited: Value = response.json().await.unwrap();
    assert!(
        edited["slug"].as_str().unwrap().starts_with("old-news"),
        "{edited}"
    );
    assert_eq!(edited["published_at"], post["created_at"]);
    app.stop().await;

    // A replica at the default rate fills the rest.
    let app = TestApp::spawn_with(posts_service::Config::new(database_url, TOKEN)).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let unfilled: u64 = conn
            .query_first("SELECT COUNT(*) FROM posts WHERE slug IS NULL OR published_at IS NULL")
            .await
            .unwrap()
            .unwrap();
        if unfilled == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{unfilled} posts still unfilled after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = read(&app, "/v1/posts?limit=100", false).await;
    let posts = page["posts"].as_array().unwrap();
    assert_eq!(posts.len(), POSTS);
    let mut slugs: Vec<&str> = posts.iter().map(|p| p["slug"].as_str().unwrap()).collect();
    for post in posts {
        assert_eq!(post["published_at"], post["created_at"], "{post}");
        assert_eq!(post["status"], "published");
        let slug = post["slug"].as_str().unwrap();
        let title = post["title"].as_str().unwrap();
        let expected = posts_api::slugify(title).unwrap();
        assert!(
            slug == expected
                || slug
                    .strip_prefix(&expected)
                    .is_some_and(|n| n.starts_with('-')),
            "{title} -> {slug}"
        );
        assert_eq!(
            read(&app, &format!("/v1/posts/{slug}"), false).await["id"],
            post["id"]
        );
    }
    assert!(
        slugs.contains(&"old-news") && slugs.contains(&"old-news-2"),
        "{slugs:?}"
    );
    assert!(slugs.contains(&"uber-1"), "{slugs:?}");
    slugs.sort_unstable();
    slugs.dedup();
    assert_eq!(slugs.len(), POSTS, "slugs are unique");
    app.stop().await;
}

pub async fn the_readers_list_does_not_read_the_drafts(db: Db) {
    use mysql_async::prelude::Queryable;
    let url = db.fresh_database().await;
    let app = TestApp::spawn_with(posts_service::Config::new(url.clone(), TOKEN)).await;
    for n in 0..5 {
        create_ok(&app, json!({"title": format!("Visible {n}"), "body": "b"})).await;
    }
    let mut conn = mysql_async::Conn::from_url(&url).await.unwrap();
    // Many drafts, newer than every visible post.
    conn.query_drop(
        "INSERT INTO posts (title, body, created_at, updated_at, status) \
         SELECT CONCAT('Draft ', seq), 'b', UTC_TIMESTAMP(), UTC_TIMESTAMP(), 'draft' \
         FROM seq_1_to_2000",
    )
    .await
    .unwrap();
    conn.query_drop("ANALYZE TABLE posts").await.unwrap();
    let page = read(&app, "/v1/posts?limit=3", false).await;
    assert_eq!(page["posts"].as_array().unwrap().len(), 3);
    assert_eq!(page["posts"][0]["title"], "Visible 4");
    let explain: mysql_async::Row = conn
        .exec_first(
            format!(
                "EXPLAIN SELECT id FROM posts WHERE id < ? AND {} ORDER BY id DESC LIMIT 4",
                posts_service::db::posts::VISIBLE
            ),
            (u64::MAX,),
        )
        .await
        .unwrap()
        .unwrap();
    let key: Option<String> = explain.get("key").unwrap();
    let rows: u64 = explain.get("rows").unwrap();
    assert_eq!(key.as_deref(), Some("posts_status_id"), "{explain:?}");
    assert!(rows < 100, "the plan reads {rows} rows");
}
