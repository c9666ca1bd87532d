//! Posts with slugs, drafts, scheduled posts and tags: their addresses, who sees them,
//! the form's new fields and the admin's list.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use test_mariadb::harness::Db;

use crate::helpers::{
    csrf_token, flash, hidden_field, location, spawn_blog, spawn_blog_with, unescape,
};

/// Waits (at most `limit`) until `check` holds; panics with `what` otherwise.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn post_ids_and_earlier_slugs_redirect_to_the_current_slug(db: Db) {
    let blog = spawn_blog(&db).await;
    let post = blog
        .create_with_via_api(json!({"title": "Hello slugs", "body": "Text", "slug": "hello-slugs"}))
        .await;
    let id = post["id"].as_u64().unwrap();
    assert_eq!(post["slug"], "hello-slugs");

    let response = blog.get(&format!("/posts/{id}")).await;
    assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(location(&response), "/posts/hello-slugs");
    // The same for the cached redirect.
    let response = blog.get(&format!("/posts/{id}")).await;
    assert_eq!(location(&response), "/posts/hello-slugs");

    let (status, html) = blog.page("/posts/hello-slugs").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Hello slugs"), "{html}");
    assert!(
        html.contains(r#"<link rel="canonical" href="http://localhost:8080/posts/hello-slugs">"#),
        "{html}"
    );
    let (_, index) = blog.page("/").await;
    assert!(index.contains(r#"href="/posts/hello-slugs""#), "{index}");

    blog.patch_via_api(id, json!({"slug": "hello-again"})).await;
    // Within the cache bound the old address redirects to the new one.
    eventually(Duration::from_secs(5), "the old slug redirects", || async {
        let response = blog.get("/posts/hello-slugs").await;
        response.status() == StatusCode::MOVED_PERMANENTLY
            && location(&response) == "/posts/hello-again"
    })
    .await;
    let (status, _) = blog.page("/posts/hello-again").await;
    assert_eq!(status, StatusCode::OK);
    // Made-up and malformed slugs are the 404 page.
    for path in [
        "/posts/no-such-post",
        "/posts/Hello-Slugs",
        &format!("/posts/{}", "a".repeat(97)),
    ] {
        let (status, _) = blog.page(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
}

pub async fn drafts_are_404_for_readers_and_shown_with_a_banner_to_the_admin(db: Db) {
    let blog = spawn_blog(&db).await;
    let draft = blog
        .create_with_via_api(json!({"title": "Secret plans", "body": "Soon", "status": "draft"}))
        .await;
    let scheduled = blog
        .create_with_via_api(json!({
            "title": "Next year",
            "body": "Later",
            "published_at": "2099-01-01T09:00:00Z",
        }))
        .await;
    let reader = blog.new_browser();
    for post in [&draft, &scheduled] {
        let slug = post["slug"].as_str().unwrap();
        for path in [format!("/posts/{slug}"), format!("/posts/{}", post["id"])] {
            let (status, html) = reader.page(&path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            assert!(!html.contains("Secret plans") && !html.contains("Next year"));
        }
    }
    let (_, index) = reader.page("/").await;
    assert!(
        !index.contains("Secret plans") && !index.contains("Next year"),
        "{index}"
    );

    blog.login().await;
    let (status, html) = blog
        .page(&format!("/posts/{}", draft["slug"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Secret plans"), "{html}");
    assert!(
        html.contains(r#"<strong class="status-label">Draft</strong>"#),
        "{html}"
    );
    let (status, html) = blog
        .page(&format!("/posts/{}", scheduled["slug"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains(r#"<strong class="status-label">Scheduled</strong>"#),
        "{html}"
    );
    assert!(html.contains("2099-01-01 09:00 UTC"), "{html}");

    // The admin's view was not shared: the reader still gets the 404.
    let (status, _) = reader
        .page(&format!("/posts/{}", draft["slug"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

pub async fn the_form_round_trips_slug_tags_status_and_publish_time(db: Db) {
    let blog = spawn_blog_with(&db, |config| config.blog_timezone = "Europe/Berlin".into()).await;
    blog.login().await;
    let token = blog.csrf_token("/add").await;
    let response = blog
        .post_form(
            "/add",
            &[
                ("title", "Winter notes"),
                ("body", "Cold."),
                ("slug", "winter-notes"),
                ("tags", "Rust, Web , rust"),
                ("status", "published"),
                ("published_at", "2026-01-15T10:30"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/posts/winter-notes");
    let (_, html) = blog.page("/posts/winter-notes").await;
    assert_eq!(
        flash(&html).as_deref(),
        Some("New entry was successfully posted")
    );
    assert!(
        html.contains(r#"<li class="tag"><a href="/tags/rust">Rust</a></li>"#),
        "{html}"
    );

    let post = blog.post_by_key("winter-notes").await;
    assert_eq!(post["published_at"], "2026-01-15T09:30:00Z");
    assert_eq!(post["tags"], json!(["Rust", "Web"]));
    assert_eq!(post["status"], "published");

    let id = post["id"].as_u64().unwrap();
    let (status, form) = blog.page(&format!("/edit/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        form.contains(r#"name="slug" type="text" value="winter-notes""#),
        "{form}"
    );
    assert!(
        form.contains(r#"name="tags" type="text" value="Rust, Web""#),
        "{form}"
    );
    assert!(form.contains(r#"value="2026-01-15T10:30""#), "{form}");
    assert!(form.contains(r#"value="published" checked"#), "{form}");
    assert!(form.contains("Europe/Berlin"), "{form}");

    // Back to draft under a new slug: the old address leads to the new one.
    let response = blog
        .post_form(
            &format!("/edit/{id}"),
            &[
                ("title", "Winter notes"),
                ("body", "Cold."),
                ("slug", "winter-draft"),
                ("tags", "Rust"),
                ("status", "draft"),
                ("published_at", "2026-01-15T10:30"),
                ("published_at_was", "2026-01-15T10:30"),
                ("version", &hidden_field(&form, "version").unwrap()),
                ("csrf_token", &csrf_token(&form)),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/posts/winter-draft");
    let (_, html) = blog.page("/posts/winter-draft").await;
    assert_eq!(flash(&html).as_deref(), Some("Draft saved"));
    let post = blog.post_by_key("winter-draft").await;
    assert_eq!(post["status"], "draft");
    assert_eq!(post["tags"], json!(["Rust"]));
    let response = blog.get("/posts/winter-notes").await;
    assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(location(&response), "/posts/winter-draft");
}

pub async fn bad_new_fields_keep_the_text_and_show_errors_by_field(db: Db) {
    let blog = spawn_blog(&db).await;
    blog.login().await;
    let token = blog.csrf_token("/add").await;
    let response = blog
        .post_form(
            "/add",
            &[
                ("title", "Kept <title>"),
                ("body", "Kept body"),
                ("slug", "Not A Slug"),
                ("tags", "fine, <b>ok</b>"),
                ("status", "draft"),
                ("published_at", "tomorrow"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    let text = unescape(&html);
    assert!(text.contains(r#"value="Kept <title>""#), "{html}");
    assert!(text.contains(r#"value="Not A Slug""#), "{html}");
    assert!(text.contains(r#"value="fine, <b>ok</b>""#), "{html}");
    assert!(text.contains(r#"value="tomorrow""#), "{html}");
    assert!(html.contains(r#"id="slug-error""#), "{html}");
    assert!(html.contains(r#"id="published_at-error""#), "{html}");
    assert!(html.contains(r#"value="draft" checked"#), "{html}");
    assert!(!html.contains("<b>ok</b>"), "tags are escaped: {html}");
    let (_, index) = blog.new_browser().page("/").await;
    assert!(!index.contains("Kept"), "nothing was saved: {index}");
}

pub async fn a_saved_draft_flashes_draft_saved(db: Db) {
    let blog = spawn_blog(&db).await;
    blog.login().await;
    let token = blog.csrf_token("/add").await;
    let response = blog
        .post_form(
            "/add",
            &[
                ("title", "Half done"),
                ("body", "More later"),
                ("status", "draft"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let path = location(&response);
    let (status, html) = blog.page(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(flash(&html).as_deref(), Some("Draft saved"));
    assert!(
        html.contains(r#"<strong class="status-label">Draft</strong>"#),
        "{html}"
    );
    let (status, _) = blog.new_browser().page(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

pub async fn admin_lists_drafts_and_scheduled_posts_before_published_ones(db: Db) {
    let blog = spawn_blog(&db).await;
    blog.create_with_via_api(json!({"title": "Old published", "body": "b"}))
        .await;
    blog.create_with_via_api(json!({"title": "A draft", "body": "b", "status": "draft"}))
        .await;
    blog.create_with_via_api(json!({
        "title": "A scheduled one",
        "body": "b",
        "published_at": "2099-06-01T12:00:00Z",
    }))
    .await;
    blog.create_with_via_api(json!({"title": "New published", "body": "b"}))
        .await;

    let response = blog.new_browser().get("/admin").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).starts_with("/login"));

    blog.login().await;
    let (status, html) = blog.page("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(r#"href="/admin""#),
        "the chrome links to /admin: {html}"
    );
    let (status, html) = blog.page("/admin").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let order: Vec<usize> = [
        "A draft",
        "A scheduled one",
        "New published",
        "Old published",
    ]
    .iter()
    .map(|title| {
        html.find(title)
            .unwrap_or_else(|| panic!("{title} in {html}"))
    })
    .collect();
    assert!(
        order.windows(2).all(|pair| pair[0] < pair[1]),
        "{order:?}: {html}"
    );
    for status in ["Draft", "Scheduled", "Published"] {
        assert!(
            html.contains(&format!(r#"<td class="admin-status">{status}</td>"#)),
            "{status}: {html}"
        );
    }
    assert!(html.contains("2099-06-01 12:00 UTC"), "{html}");
    assert!(html.contains("<td>—</td>"), "no author yet: {html}");
    assert!(html.contains(r#"href="/edit/"#), "{html}");
}
