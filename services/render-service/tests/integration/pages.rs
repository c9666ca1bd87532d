//! The public pages: index, paging, a post, 404s, the stylesheet.

use reqwest::StatusCode;
use test_mariadb::harness::Db;

use crate::helpers::{spawn_blog, spawn_blog_with, unescape};

pub async fn index_without_posts_shows_a_friendly_empty_state(db: Db) {
    let blog = spawn_blog(&db).await;
    let (status, html) = blog.page("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Nothing here yet"), "{html}");
    assert!(!html.contains("Older posts"), "{html}");
    assert!(html.contains(r#"href="/login""#), "{html}");
}

pub async fn index_lists_the_newest_posts_with_title_date_and_excerpt(db: Db) {
    let blog = spawn_blog(&db).await;
    blog.create_via_api("First post", "Hello **world**, this is the start.")
        .await;
    let long_body = format!("Opening line. {}", "lorem ipsum ".repeat(100));
    blog.create_via_api("Second post", &long_body).await;

    let (status, html) = blog.page("/").await;
    assert_eq!(status, StatusCode::OK);
    let first = html.find("First post").expect("first post listed");
    let second = html.find("Second post").expect("second post listed");
    assert!(second < first, "newest first");
    // Plain-text teaser, no markup; the long one is cut and links on.
    assert!(html.contains("Hello world, this is the start."), "{html}");
    assert!(html.contains("Opening line. lorem ipsum"), "{html}");
    assert!(html.contains("Continue reading"), "{html}");
    // A date people read and one machines read.
    assert!(html.contains("<time datetime=\"20"), "{html}");
    assert!(!html.contains("Older posts"), "{html}");
}

pub async fn older_posts_pages_through_every_post_once_newest_first(db: Db) {
    let blog = spawn_blog(&db).await;
    let mut ids = Vec::new();
    for n in 1..=25 {
        let post = blog
            .create_via_api(&format!("Post number {n:02}"), "text")
            .await;
        ids.push(post["id"].as_u64().expect("an id"));
    }
    let mut seen = Vec::new();
    let mut path = "/".to_owned();
    let mut page_sizes = Vec::new();
    for _ in 0..5 {
        let (status, html) = blog.page(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let on_page: Vec<u32> = html
            .match_indices("Post number ")
            .filter_map(|(at, _)| html[at + 12..at + 14].parse().ok())
            .collect();
        page_sizes.push(on_page.len());
        seen.extend(on_page);
        let Some(at) = html.find("href=\"/?before=") else {
            break;
        };
        let end = html[at + 6..].find('"').expect("closing quote") + at + 6;
        path = unescape(&html[at + 6..end]);
    }
    assert_eq!(page_sizes, vec![10, 10, 5]);
    let expected: Vec<u32> = (1..=25).rev().collect();
    assert_eq!(seen, expected, "every post once, newest first");
}

pub async fn post_page_renders_markdown(db: Db) {
    let blog = spawn_blog(&db).await;
    let post = blog
        .create_via_api(
            "Markdown test",
            "# A heading\n\nSome *emphasis*, a [link](https://example.org).\n\n```\ncode block\n```\n",
        )
        .await;
    let (status, html) = blog
        .page(&format!("/posts/{}", post["slug"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("<h1 class=\"post-title\">Markdown test</h1>"),
        "{html}"
    );
    assert!(html.contains("<h1>A heading</h1>"), "{html}");
    assert!(html.contains("<em>emphasis</em>"), "{html}");
    assert!(
        html.contains(
            r#"<a href="https://example.org" rel="noopener noreferrer nofollow">link</a>"#
        ),
        "{html}"
    );
    assert!(html.contains("<pre><code>code block"), "{html}");
    assert!(
        html.contains("<title>Markdown test · Blog</title>"),
        "{html}"
    );
}

/// The `content` of `<meta property|name="key">` in `html`, unescaped.
fn meta(html: &str, key: &str) -> Option<String> {
    let tag_start = html
        .find(&format!(r#"<meta property="{key}" content=""#))
        .or_else(|| html.find(&format!(r#"<meta name="{key}" content=""#)))?;
    let rest = &html[tag_start..];
    let value_start = rest.find("content=\"")? + "content=\"".len();
    let value_end = value_start + rest[value_start..].find('"')?;
    Some(unescape(&rest[value_start..value_end]))
}

pub async fn post_page_head_has_a_canonical_link_a_card_and_json_ld(db: Db) {
    let blog = spawn_blog_with(&db, |config| {
        config.public_url = Some("https://blog.example/".into())
    })
    .await;
    let title = "Tom & \"Jerry\" </script><script>alert(1)</script>";
    let post = blog
        .create_via_api(title, "The opening *line* of the post.\n\nMore text.")
        .await;
    let url = format!(
        "https://blog.example/posts/{}",
        post["slug"].as_str().unwrap()
    );
    // A client's Host header never changes the canonical URL (the page is shared).
    let response = reqwest::Client::new()
        .get(blog.at(&format!("/posts/{}", post["slug"].as_str().unwrap())))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();

    assert!(
        html.contains(&format!(r#"<link rel="canonical" href="{url}">"#)),
        "{html}"
    );
    assert!(!html.contains("evil.example"), "{html}");
    assert_eq!(meta(&html, "og:type").as_deref(), Some("article"));
    assert_eq!(meta(&html, "og:title").as_deref(), Some(title));
    assert_eq!(meta(&html, "og:url").as_deref(), Some(url.as_str()));
    let description = meta(&html, "og:description").unwrap();
    assert!(
        description.starts_with("The opening line of the post."),
        "{description}"
    );
    assert_eq!(meta(&html, "description"), Some(description.clone()));
    assert_eq!(
        meta(&html, "article:published_time").as_ref(),
        post["published_at"].as_str().map(str::to_owned).as_ref()
    );
    assert_eq!(meta(&html, "twitter:card").as_deref(), Some("summary"));

    // Exactly one script element, JSON-LD, whose text ends only at its own end tag.
    assert_eq!(html.matches("<script").count(), 1, "{html}");
    let start = html.find(r#"<script type="application/ld+json">"#).unwrap()
        + r#"<script type="application/ld+json">"#.len();
    let end = start + html[start..].find("</script>").unwrap();
    let json_ld: serde_json::Value = serde_json::from_str(&html[start..end]).unwrap();
    assert_eq!(json_ld["@context"], "https://schema.org");
    assert_eq!(json_ld["@type"], "BlogPosting");
    assert_eq!(json_ld["headline"], title);
    assert_eq!(json_ld["url"], url.as_str());
    assert_eq!(json_ld["datePublished"], post["published_at"]);
    assert_eq!(json_ld["author"]["name"], "Blog");
}

pub async fn unknown_post_is_a_404_page(db: Db) {
    let blog = spawn_blog(&db).await;
    let (status, html) = blog.page("/posts/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("Page not found"), "{html}");
    assert!(
        html.contains("<link rel=\"stylesheet\""),
        "a styled page: {html}"
    );
}

pub async fn non_numeric_post_id_is_a_404_page(db: Db) {
    let blog = spawn_blog(&db).await;
    for path in [
        "/posts/abc",
        "/posts/-1",
        "/posts/99999999999999999999999",
        "/edit/x",
    ] {
        let (status, html) = blog.page(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(html.contains("Page not found"), "{path}: {html}");
    }
}

pub async fn unknown_path_is_a_404_page(db: Db) {
    let blog = spawn_blog(&db).await;
    let (status, html) = blog.page("/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("Page not found"), "{html}");
    let (status, _) = blog.page("/?before=abc").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

pub async fn stylesheet_is_served_with_a_content_hash_and_long_cache(db: Db) {
    let blog = spawn_blog(&db).await;
    let (_, html) = blog.page("/").await;
    let at = html.find("href=\"/static/style.").expect("stylesheet link");
    let end = html[at + 6..].find('"').expect("closing quote") + at + 6;
    let href = &html[at + 6..end];
    assert!(
        href.ends_with(".css") && href.len() > "/static/style.css".len(),
        "{href}"
    );

    let response = blog.get(href).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/css; charset=utf-8");
    assert!(headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age=31536000"));
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert!(response.text().await.unwrap().contains("font-family"));

    let revalidated = blog
        .client
        .get(blog.at("/static/style.css"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    let (status, _) = blog.page("/static/other.css").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

pub async fn head_works_wherever_get_does_and_405_names_allow(db: Db) {
    let blog = spawn_blog(&db).await;
    let post = blog.create_via_api("Headed", "body").await;
    let id = post["id"].as_u64().unwrap();
    for path in [
        "/".to_owned(),
        blog.post_path(id).await,
        "/feed.xml".to_owned(),
    ] {
        let head = blog
            .api
            .head(format!("{}{path}", blog.url))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), StatusCode::OK, "HEAD {path}");
        assert!(
            head.bytes().await.unwrap().is_empty(),
            "HEAD {path} has no body"
        );
    }
    let delete = blog
        .api
        .delete(format!("{}/", blog.url))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(delete.headers()["allow"], "GET, HEAD");
    let put = blog
        .api
        .put(format!("{}/edit/{id}", blog.url))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(put.headers()["allow"], "GET, POST, HEAD");
}
