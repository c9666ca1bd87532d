//! CSRF, sessions, XSS and the security headers.

use reqwest::StatusCode;
use test_mariadb::harness::Db;

use crate::helpers::{browser, location, set_cookies, spawn_blog, spawn_blog_with};

pub async fn post_without_csrf_token_is_403(db: Db) {
    let blog = spawn_blog(&db).await;
    let post = blog.create_via_api("Protected", "body").await;
    let id = post["id"].as_u64().unwrap();
    blog.login().await;
    for (path, fields) in [
        ("/add".to_owned(), vec![("title", "x"), ("body", "y")]),
        (
            format!("/edit/{id}"),
            vec![("title", "x"), ("body", "y"), ("version", "1")],
        ),
        (format!("/delete/{id}"), vec![("version", "1")]),
        ("/logout".to_owned(), vec![]),
    ] {
        let response = blog.post_form(&path, &fields).await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{path} without a token"
        );
        let html = response.text().await.unwrap();
        assert!(html.contains("This form has expired"), "{html}");

        let mut forged = fields.clone();
        forged.push(("csrf_token", "forged-token"));
        let response = blog.post_form(&path, &forged).await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{path} with a forged token"
        );
    }
    let (_, stored) = blog.get_via_api(id).await;
    assert_eq!(stored["title"], "Protected");
    assert_eq!(stored["version"], 1);
    // Still logged in: logout was refused.
    assert_eq!(blog.get("/add").await.status(), StatusCode::OK);
}

pub async fn csrf_token_of_another_session_is_403(db: Db) {
    let blog = spawn_blog(&db).await;
    blog.login().await;
    let other_token = blog.csrf_token("/add").await;

    // A second login (another browser) gets another token; the first one is not valid there.
    let second = blog.new_browser();
    second.login().await;
    let response = second.submit_add("x", "y", &other_token).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

pub async fn login_without_csrf_token_is_403(db: Db) {
    let blog = spawn_blog(&db).await;
    let fields = [
        ("username", "admin"),
        ("password", crate::helpers::ADMIN_PASSWORD),
    ];
    let response = blog.post_form("/login", &fields).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // A token copied from another browser does not help either.
    let token = blog.csrf_token("/login").await;
    let stranger = browser();
    let response = stranger
        .post(blog.at("/login"))
        .form(&[
            ("username", "admin"),
            ("password", crate::helpers::ADMIN_PASSWORD),
            ("csrf_token", token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(set_cookies(response.headers())
        .iter()
        .all(|c| !c.starts_with("blog_session=")));
}

pub async fn tampered_session_cookie_is_not_the_admin(db: Db) {
    let blog = spawn_blog(&db).await;
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let far_future = "9999999999";
    for cookie in [
        format!("blog_session={far_future}.00000000000000000000000000000000.AAAA"),
        "blog_session=garbage".to_owned(),
        "blog_session=".to_owned(),
    ] {
        let response = plain
            .get(blog.at("/add"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{cookie}");
        assert!(location(&response).starts_with("/login"));
    }
}

pub async fn session_cookie_is_http_only_and_same_site_lax(db: Db) {
    let blog = spawn_blog(&db).await;
    let token = blog.csrf_token("/login").await;
    let response = blog
        .post_form(
            "/login",
            &[
                ("username", crate::helpers::ADMIN_USER),
                ("password", crate::helpers::ADMIN_PASSWORD),
                ("csrf_token", &token),
            ],
        )
        .await;
    let cookies = set_cookies(response.headers());
    let session = cookies
        .iter()
        .find(|c| c.starts_with("blog_session="))
        .expect("a session cookie");
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Lax"), "{session}");
    assert!(session.contains("Max-Age="), "{session}");
    assert!(
        !session.contains("Secure"),
        "COOKIE_SECURE defaults to false: {session}"
    );
}

pub async fn xss_in_titles_and_markdown_does_not_survive(db: Db) {
    let blog = spawn_blog(&db).await;
    let title = "<script>alert('title')</script><img src=x onerror=alert(1)>";
    let body = concat!(
        "Hello <script>alert('body')</script>\n\n",
        "<img src=\"x.png\" onerror=\"alert(2)\">\n\n",
        "[click me](javascript:alert(3))\n\n",
        "<a href=\"javascript:alert(4)\" onclick=\"alert(5)\">raw link</a>\n\n",
        "<iframe src=\"https://evil.example\"></iframe>\n\n",
        "<div onmouseover=\"alert(6)\">hover</div>\n",
    );
    blog.login().await;
    let id = blog.add_post(title, body).await;

    let mut pages = Vec::new();
    for path in [
        "/".to_owned(),
        blog.post_path(id).await,
        format!("/edit/{id}"),
        format!("/delete/{id}"),
    ] {
        let (status, html) = blog.page(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        pages.push((path, html));
    }
    // The feed's entry content is HTML carried as XML text: check that HTML.
    let (_, feed) = blog.page("/feed.xml").await;
    let document = roxmltree::Document::parse(&feed).expect("well-formed feed");
    let content = document
        .descendants()
        .find(|node| node.has_tag_name("content"))
        .and_then(|node| node.text())
        .expect("entry content")
        .to_owned();
    pages.push(("feed content".to_owned(), content));
    for (path, html) in &pages {
        // Escaped text never contains a literal `<`, so every `<…>` here is real markup.
        for tag in tags(html) {
            let tag = tag.to_lowercase();
            // The one script element a page may have is the post's JSON-LD: data that
            // no browser runs (and the CSP allows no script anyway).
            assert!(
                !tag.starts_with("<script") || tag == r#"<script type="application/ld+json">"#,
                "{path}: {tag}"
            );
            assert!(!tag.starts_with("<iframe"), "{path}: {tag}");
            assert!(!tag.contains("javascript:"), "{path}: {tag}");
            // Attribute names only: quoted values (quotes in them are escaped) are text.
            let names: String = tag.split('"').step_by(2).collect();
            assert!(!names.contains(" on"), "{path}: event handler in {tag}");
        }
    }
    // The text itself is still there, escaped, and harmless markup renders.
    let (_, post_page) = &pages[1];
    assert!(post_page.contains("&#60;script&#62;alert("), "{post_page}");
    assert!(post_page.contains("click me"), "{post_page}");
    assert!(post_page.contains("raw link"), "{post_page}");
    assert!(post_page.contains("hover"), "{post_page}");
}

/// The tags (`<…>`) of a document, comments and the XML declaration left out.
fn tags(markup: &str) -> Vec<&str> {
    let mut tags = Vec::new();
    let mut rest = markup;
    while let Some(start) = rest.find('<') {
        let Some(len) = rest[start..].find('>') else {
            break;
        };
        let tag = &rest[start..=start + len];
        if !tag.starts_with("<!--") && !tag.starts_with("<?") {
            tags.push(tag);
        }
        rest = &rest[start + len + 1..];
    }
    tags
}

pub async fn every_response_carries_the_security_headers(db: Db) {
    let blog = spawn_blog(&db).await;
    let post = blog.create_via_api("Headers", "body").await;
    for path in [
        "/".to_owned(),
        format!("/posts/{}", post["slug"].as_str().unwrap()),
        "/posts/999999".to_owned(),
        "/login".to_owned(),
        "/add".to_owned(),
        "/feed.xml".to_owned(),
        "/static/style.css".to_owned(),
        "/healthz".to_owned(),
        "/nowhere".to_owned(),
    ] {
        let response = blog.get(&path).await;
        let headers = response.headers();
        let csp = headers
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("{path}: no CSP"))
            .to_str()
            .unwrap();
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(csp.contains("style-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "same-origin", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert!(
            headers.get("strict-transport-security").is_none(),
            "{path}: HSTS without COOKIE_SECURE"
        );
    }
    // No inline styles or scripts that the CSP would block.
    let (_, html) = blog.page("/").await;
    assert!(!html.contains("style=\""), "{html}");
    assert!(!html.contains("<script"), "{html}");
}

pub async fn strict_transport_security_comes_with_cookie_secure_only(db: Db) {
    let blog = spawn_blog_with(&db, |config| config.cookie_secure = true).await;
    let post = blog.create_via_api("HSTS", "body").await;
    for path in [
        "/".to_owned(),
        format!("/posts/{}", post["slug"].as_str().unwrap()),
        "/posts/999999".to_owned(),
        "/login".to_owned(),
        "/add".to_owned(),
        "/feed.xml".to_owned(),
        "/static/style.css".to_owned(),
        "/healthz".to_owned(),
        "/nowhere".to_owned(),
    ] {
        let response = blog.get(&path).await;
        let hsts = response.headers().get("strict-transport-security");
        assert_eq!(
            hsts.and_then(|value| value.to_str().ok()),
            Some("max-age=31536000"),
            "{path}"
        );
    }
    // The form's answer too (a 403 without a CSRF token).
    let response = blog.post_form("/login", &[("username", "admin")]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000"
    );
}
