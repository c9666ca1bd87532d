//! Creates that cannot make two posts: the add form carries an idempotency key that
//! render-service sends as `Idempotency-Key`, so a double submit and the client's retry
//! of a create whose answer was lost each make one post.
//!
//! `double_submit_of_the_add_form_makes_one_post` and
//! `a_create_whose_answer_was_lost_is_retried_and_makes_one_post` need posts-service to
//! honour the key (it answers a repeated key with the first result); the first test
//! needs nothing of it.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use test_mariadb::harness::Db;

use crate::helpers::{
    csrf_token, hidden_field, location, spawn_blog, spawn_blog_behind_proxy, Blog,
};

/// The ids of the posts titled `title`, as posts-service has them.
async fn posts_titled(blog: &Blog, title: &str) -> Vec<u64> {
    let page: Value = blog
        .api
        .get(format!("{}/v1/posts?limit=100", blog.api_url))
        .send()
        .await
        .expect("posts-service answers")
        .json()
        .await
        .expect("a page of posts");
    page["posts"]
        .as_array()
        .expect("posts")
        .iter()
        .filter(|post| post["title"] == title)
        .map(|post| post["id"].as_u64().expect("an id"))
        .collect()
}

pub async fn add_form_carries_an_idempotency_key_kept_on_errors(db: Db) {
    let blog = spawn_blog(&db).await;
    blog.login().await;
    let (status, form) = blog.page("/add").await;
    assert_eq!(status, StatusCode::OK);
    let key = hidden_field(&form, "idempotency_key").expect("a key in the add form");
    assert_eq!(key.len(), 22, "128 bits in base64url: {key}");
    let (_, another) = blog.page("/add").await;
    assert_ne!(hidden_field(&another, "idempotency_key"), Some(key.clone()));

    // An empty title: the form comes back with the same key.
    let response = blog
        .post_form(
            "/add",
            &[
                ("title", " "),
                ("body", "text"),
                ("idempotency_key", &key),
                ("csrf_token", &csrf_token(&form)),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let again = response.text().await.unwrap();
    assert_eq!(hidden_field(&again, "idempotency_key"), Some(key));
    // The edit form has none (an update is idempotent by its If-Match).
    let id = blog.add_post("Editable", "body").await;
    let (_, edit) = blog.page(&format!("/edit/{id}")).await;
    assert_eq!(hidden_field(&edit, "idempotency_key"), None);
}

pub async fn double_submit_of_the_add_form_makes_one_post(db: Db) {
    let blog = spawn_blog(&db).await;
    blog.login().await;
    let (_, form) = blog.page("/add").await;
    let key = hidden_field(&form, "idempotency_key").expect("a key");
    let token = csrf_token(&form);
    let fields = [
        ("title", "Double-clicked"),
        ("body", "Saved once."),
        ("idempotency_key", key.as_str()),
        ("csrf_token", token.as_str()),
    ];
    // Two clicks at once, then a third after the first answers (a reload of the POST).
    let (first, second) = tokio::join!(
        blog.post_form("/add", &fields),
        blog.post_form("/add", &fields)
    );
    let third = blog.post_form("/add", &fields).await;
    let mut locations = Vec::new();
    for response in [&first, &second, &third] {
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        locations.push(location(response));
    }
    assert!(locations[0].starts_with("/posts/"), "{locations:?}");
    assert!(
        locations.iter().all(|l| *l == locations[0]),
        "every submission shows the one post: {locations:?}"
    );
    let ids = posts_titled(&blog, "Double-clicked").await;
    assert_eq!(ids.len(), 1, "one post, not {ids:?}");
}

pub async fn a_create_whose_answer_was_lost_is_retried_and_makes_one_post(db: Db) {
    let (blog, proxy) = spawn_blog_behind_proxy(&db, |config| {
        config.posts_request_timeout_ms = 700;
    })
    .await;
    blog.login().await;
    let (_, form) = blog.page("/add").await;
    let key = hidden_field(&form, "idempotency_key").expect("a key");
    // posts-service makes the post, but its answer never reaches render-service: the
    // call times out and the client asks again with the same key.
    proxy.lose_the_next_create_answer();
    let before = proxy.forwarded_creates();
    let response = blog
        .post_form(
            "/add",
            &[
                ("title", "Answer lost"),
                ("body", "Saved once."),
                ("idempotency_key", &key),
                ("csrf_token", &csrf_token(&form)),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let sent = proxy.forwarded_creates() - before;
    assert_eq!(sent, 2, "the create was sent again, once");
    let ids = posts_titled(&blog, "Answer lost").await;
    assert_eq!(ids.len(), 1, "one post, not {ids:?}");
    assert_eq!(location(&response), blog.post_path(ids[0]).await);
    // The breaker did not open over one lost answer.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(blog.metric("render_circuit_state ").await, Some(0.0));
}
