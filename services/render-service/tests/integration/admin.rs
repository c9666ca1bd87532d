//! The admin's flows: login, add, edit, delete, logout; validation and conflicts.

use reqwest::StatusCode;
use test_mariadb::harness::Db;

use crate::helpers::{
    csrf_token, flash, hidden_field, location, spawn_blog, unescape, ADMIN_PASSWORD, ADMIN_USER,
};

pub async fn admin_can_log_in_add_edit_delete_and_log_out(db: Db) {
    let blog = spawn_blog(&db).await;

    // Log in: back to the front page with a flash.
    blog.login().await;
    let (_, html) = blog.page("/").await;
    assert_eq!(flash(&html).as_deref(), Some("You were logged in"));
    assert!(html.contains("Log out"), "{html}");
    // The flash is shown once.
    let (_, html) = blog.page("/").await;
    assert_eq!(flash(&html), None);

    // Add.
    let token = blog.csrf_token("/add").await;
    let response = blog
        .submit_add(
            "  My first post  ",
            "Hello *there*.\r\nSecond line.",
            &token,
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let post_path = location(&response);
    let slug = post_path
        .strip_prefix("/posts/")
        .expect("redirects to the new post");
    let id = blog.post_by_key(slug).await["id"].as_u64().unwrap();
    let (status, html) = blog.page(&post_path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        flash(&html).as_deref(),
        Some("New entry was successfully posted")
    );
    assert!(html.contains("My first post"), "{html}");
    assert!(html.contains("<em>there</em>"), "{html}");
    let (_, stored) = blog.get_via_api(id).await;
    assert_eq!(stored["title"], "My first post");
    assert_eq!(stored["body"], "Hello *there*.\nSecond line.");

    // Edit: the form is filled and carries the version.
    let (status, html) = blog.page(&format!("/edit/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"value="My first post""#), "{html}");
    assert!(html.contains("Hello *there*."), "{html}");
    assert_eq!(hidden_field(&html, "version").as_deref(), Some("1"));
    let response = blog
        .submit_edit(
            id,
            "My edited post",
            "Edited body.",
            "1",
            &csrf_token(&html),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), post_path);
    let (_, html) = blog.page(&post_path).await;
    assert_eq!(
        flash(&html).as_deref(),
        Some("Entry was successfully updated")
    );
    assert!(html.contains("My edited post"), "{html}");
    let (_, stored) = blog.get_via_api(id).await;
    assert_eq!(stored["title"], "My edited post");
    assert_eq!(stored["version"], 2);

    // Delete: confirm, then gone.
    let (status, html) = blog.page(&format!("/delete/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Delete this post?"), "{html}");
    let response = blog
        .post_form(
            &format!("/delete/{id}"),
            &[
                ("csrf_token", &csrf_token(&html)),
                ("version", &hidden_field(&html, "version").unwrap()),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/");
    let (_, html) = blog.page("/").await;
    assert_eq!(flash(&html).as_deref(), Some("Entry was deleted"));
    assert!(!html.contains("My edited post"), "{html}");
    let (status, _) = blog.get_via_api(id).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Log out: the session is gone.
    let (_, html) = blog.page("/").await;
    let response = blog
        .post_form("/logout", &[("csrf_token", &csrf_token(&html))])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/");
    let (_, html) = blog.page("/").await;
    assert_eq!(flash(&html).as_deref(), Some("You were logged out"));
    assert!(html.contains(r#"href="/login""#), "{html}");
    let response = blog.get("/add").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

pub async fn add_without_session_redirects_to_login(db: Db) {
    let blog = spawn_blog(&db).await;
    let response = blog.get("/add").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login?next=%2Fadd");
    let response = blog.submit_add("sneaky", "x", "x").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).starts_with("/login"));
    let (_, html) = blog.page("/").await;
    assert!(!html.contains("sneaky"), "{html}");
}

pub async fn writes_without_session_redirect_to_login_and_change_nothing(db: Db) {
    let blog = spawn_blog(&db).await;
    let post = blog.create_via_api("Untouchable", "body").await;
    let id = post["id"].as_u64().unwrap();
    for path in [format!("/edit/{id}"), format!("/delete/{id}")] {
        let response = blog.get(&path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "GET {path}");
        assert!(
            location(&response).starts_with("/login?next="),
            "GET {path}"
        );
        let response = blog
            .post_form(
                &path,
                &[
                    ("title", "Hacked"),
                    ("body", "x"),
                    ("version", "1"),
                    ("csrf_token", "x"),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "POST {path}");
        assert!(location(&response).starts_with("/login"), "POST {path}");
    }
    let (status, stored) = blog.get_via_api(id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored["title"], "Untouchable");
    assert_eq!(stored["version"], 1);
}

pub async fn login_returns_to_the_page_that_asked_for_it(db: Db) {
    let blog = spawn_blog(&db).await;
    let response = blog.get("/add").await;
    let login_path = location(&response);
    let (_, html) = blog.page(&login_path).await;
    assert_eq!(hidden_field(&html, "next").as_deref(), Some("/add"));
    let response = blog
        .post_form(
            "/login",
            &[
                ("username", ADMIN_USER),
                ("password", ADMIN_PASSWORD),
                ("csrf_token", &csrf_token(&html)),
                ("next", "/add"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/add");
    let (status, html) = blog.page("/add").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("New post"), "{html}");

    // An outside `next` is ignored.
    let (_, html) = blog.page("/").await;
    blog.post_form("/logout", &[("csrf_token", &csrf_token(&html))])
        .await;
    let (_, html) = blog.page("/login?next=https://evil.example/").await;
    assert_eq!(hidden_field(&html, "next").as_deref(), Some("/"));
}

pub async fn bad_login_shows_an_error_and_keeps_the_user_name(db: Db) {
    let blog = spawn_blog(&db).await;
    let token = blog.csrf_token("/login").await;
    let response = blog
        .post_form(
            "/login",
            &[
                ("username", "admin-typo"),
                ("password", "wrong"),
                ("csrf_token", &token),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(!response.headers().contains_key("location"));
    let html = response.text().await.unwrap();
    assert!(html.contains("do not match"), "{html}");
    assert!(html.contains(r#"value="admin-typo""#), "{html}");
    assert!(
        !html.contains("wrong"),
        "the password is not echoed: {html}"
    );
    // Still not logged in.
    let response = blog.get("/add").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

pub async fn edit_and_delete_links_are_shown_only_to_the_admin(db: Db) {
    let blog = spawn_blog(&db).await;
    let post = blog.create_via_api("Linked", "body").await;
    let id = post["id"].as_u64().unwrap();
    let post_path = blog.post_path(id).await;
    for path in ["/".to_owned(), post_path.clone()] {
        let (_, html) = blog.page(&path).await;
        assert!(!html.contains(&format!("/edit/{id}")), "{path}: {html}");
        assert!(!html.contains(&format!("/delete/{id}")), "{path}: {html}");
        assert!(!html.contains("/add"), "{path}: {html}");
    }
    blog.login().await;
    for path in ["/".to_owned(), post_path] {
        let (_, html) = blog.page(&path).await;
        assert!(
            html.contains(&format!("href=\"/edit/{id}\"")),
            "{path}: {html}"
        );
        assert!(
            html.contains(&format!("href=\"/delete/{id}\"")),
            "{path}: {html}"
        );
        assert!(html.contains("href=\"/add\""), "{path}: {html}");
    }
}

pub async fn delete_get_only_asks_for_confirmation(db: Db) {
    let blog = spawn_blog(&db).await;
    let post = blog.create_via_api("Keep me", "body").await;
    let id = post["id"].as_u64().unwrap();
    blog.login().await;
    for _ in 0..3 {
        let (status, html) = blog.page(&format!("/delete/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Keep me"), "{html}");
        assert!(
            html.contains(&format!(r#"action="/delete/{id}""#)),
            "{html}"
        );
    }
    let (status, _) = blog.get_via_api(id).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = blog.page("/delete/424242").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

pub async fn empty_title_keeps_the_users_text_and_shows_the_error_by_the_field(db: Db) {
    let blog = spawn_blog(&db).await;
    blog.login().await;
    let token = blog.csrf_token("/add").await;
    let body = "My carefully written <text> & more\nacross lines.";
    let response = blog.submit_add("   ", body, &token).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(unescape(&html).contains(body), "the text is kept: {html}");
    let error_at = html.find("id=\"title-error\"").expect("title error shown");
    let title_at = html.find("id=\"title\"").unwrap();
    let body_at = html.find("id=\"body\"").unwrap();
    assert!(
        title_at < error_at && error_at < body_at,
        "error by the title field"
    );
    assert!(html.contains("Please give the post a title."), "{html}");
    let (_, listed) = blog.page("/").await;
    assert!(listed.contains("Nothing here yet"), "nothing saved");
}

pub async fn too_long_title_and_body_are_rejected_by_their_fields(db: Db) {
    let blog = spawn_blog(&db).await;
    blog.login().await;
    let token = blog.csrf_token("/add").await;
    let title = "t".repeat(129);
    let body = "b".repeat(65_536);
    let response = blog.submit_add(&title, &body, &token).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("id=\"title-error\""), "title error");
    assert!(html.contains("id=\"body-error\""), "body error");
    assert!(html.contains(&format!("value=\"{title}\"")), "title kept");
    assert!(html.contains(&body), "body kept");

    // Exactly at the limits is fine.
    let title = "é".repeat(128);
    let body = "b".repeat(65_535);
    let response = blog.submit_add(&title, &body, &token).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

pub async fn edit_conflict_shows_a_message_keeps_the_text_and_overwrites_nothing(db: Db) {
    let blog = spawn_blog(&db).await;
    let post = blog.create_via_api("Original", "Original body").await;
    let id = post["id"].as_u64().unwrap();
    blog.login().await;

    // The admin opens the editor at version 1...
    let (_, form) = blog.page(&format!("/edit/{id}")).await;
    assert_eq!(hidden_field(&form, "version").as_deref(), Some("1"));
    // ...someone else saves version 2 meanwhile...
    blog.update_via_api(id, 1, "Their change", "Their body")
        .await;
    // ...and the admin submits the old form.
    let response = blog
        .submit_edit(id, "My change", "My body", "1", &csrf_token(&form))
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let html = response.text().await.unwrap();
    assert!(html.contains("changed while you were editing"), "{html}");
    assert!(
        html.contains(r#"value="My change""#),
        "my title kept: {html}"
    );
    assert!(html.contains("My body"), "my body kept: {html}");
    assert!(
        html.contains("Their change"),
        "the saved version is shown: {html}"
    );
    let (_, stored) = blog.get_via_api(id).await;
    assert_eq!(stored["title"], "Their change");
    assert_eq!(stored["body"], "Their body");
    assert_eq!(stored["version"], 2);

    // Saving again from the conflict page is a deliberate overwrite of version 2.
    assert_eq!(hidden_field(&html, "version").as_deref(), Some("2"));
    let response = blog
        .submit_edit(id, "My change", "My body", "2", &csrf_token(&html))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, stored) = blog.get_via_api(id).await;
    assert_eq!(stored["title"], "My change");
    assert_eq!(stored["version"], 3);
}

pub async fn delete_of_a_changed_post_asks_again(db: Db) {
    let blog = spawn_blog(&db).await;
    let post = blog.create_via_api("Before", "body").await;
    let id = post["id"].as_u64().unwrap();
    blog.login().await;
    let (_, confirm) = blog.page(&format!("/delete/{id}")).await;
    blog.update_via_api(id, 1, "After", "body").await;
    let response = blog
        .post_form(
            &format!("/delete/{id}"),
            &[("csrf_token", &csrf_token(&confirm)), ("version", "1")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("was changed after you opened this page"),
        "{html}"
    );
    assert!(html.contains("After"), "{html}");
    let (status, _) = blog.get_via_api(id).await;
    assert_eq!(status, StatusCode::OK, "not deleted");
}

pub async fn edit_of_a_post_deleted_meanwhile_keeps_the_text(db: Db) {
    let blog = spawn_blog(&db).await;
    let post = blog.create_via_api("Doomed", "Original body").await;
    let id = post["id"].as_u64().unwrap();
    blog.login().await;
    let (_, form) = blog.page(&format!("/edit/{id}")).await;
    assert_eq!(blog.delete_via_api(id).await, StatusCode::NO_CONTENT);

    let response = blog
        .submit_edit(
            id,
            "My rescued title",
            "Words I typed for an hour",
            "1",
            &csrf_token(&form),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let html = response.text().await.unwrap();
    assert!(html.contains("deleted while you were editing"), "{html}");
    assert!(html.contains(r#"value="My rescued title""#), "{html}");
    assert!(html.contains("Words I typed for an hour"), "{html}");
    let (status, _) = blog.get_via_api(id).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was re-created");
}

pub async fn saving_while_posts_service_is_down_keeps_the_text(db: Db) {
    let blog = spawn_blog(&db).await;
    blog.login().await;
    let (_, form) = blog.page("/add").await;
    blog.stop_posts_service().await;
    let response = blog
        .submit_add("Unsaved title", "Precious words", &csrf_token(&form))
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let html = response.text().await.unwrap();
    assert!(html.contains("cannot save right now"), "{html}");
    assert!(html.contains(r#"value="Unsaved title""#), "{html}");
    assert!(html.contains("Precious words"), "{html}");
}
