//! A tag's page (`/tags/{slug}`) and feed (`/tags/{slug}/feed.xml`): only that tag's
//! visible posts, paged like the index, shared and revalidated like it; tags linked from
//! the index and the post page; an unknown tag is the 404 page.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use test_mariadb::harness::Db;

use crate::helpers::{csrf_token, spawn_blog, spawn_blog_with, unescape, x_cache, Browser};

const ATOM: &str = "http://www.w3.org/2005/Atom";

/// The `href` of the "Older posts" link.
fn older_href(html: &str) -> Option<String> {
    let at = html.find(r#"class="pager-older" href=""#)?;
    let rest = &html[at + r#"class="pager-older" href=""#.len()..];
    Some(unescape(&rest[..rest.find('"')?]))
}

/// Polls `path` as `reader` until `done` holds of its HTML; how long that took.
async fn time_until(reader: &Browser, path: &str, done: impl Fn(&str) -> bool) -> Duration {
    let started = Instant::now();
    loop {
        let (_, html) = reader.page(path).await;
        if done(&html) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{path} never changed: {html}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn a_tags_page_lists_its_visible_posts_and_pages_on(db: Db) {
    // A long bound: the second reader below gets the first one's copy.
    let blog = spawn_blog_with(&db, |config| config.page_cache_ttl_ms = 60_000).await;
    for n in 1..=12 {
        blog.create_with_via_api(json!({
            "title": format!("Rust post {n:02}"), "body": "b",
            "tags": [if n % 2 == 1 { "Rust" } else { "rUST" }, "Web"]
        }))
        .await;
    }
    blog.create_with_via_api(json!({"title": "Only web", "body": "b", "tags": ["Web"]}))
        .await;
    blog.create_with_via_api(json!({"title": "Untagged", "body": "b"}))
        .await;
    blog.create_with_via_api(
        json!({"title": "Draft rust", "body": "b", "tags": ["Rust"], "status": "draft"}),
    )
    .await;
    blog.create_with_via_api(json!({
        "title": "Scheduled rust", "body": "b", "tags": ["Rust"],
        "published_at": "2099-01-01T00:00:00Z"
    }))
    .await;

    let reader = blog.new_browser();
    let (status, html) = reader.page("/tags/rust").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Posts tagged “Rust”"), "{html}");
    assert!(html.contains(r#"href="/tags/rust/feed.xml""#), "{html}");
    for n in 3..=12 {
        assert!(html.contains(&format!("Rust post {n:02}")), "{n}: {html}");
    }
    for absent in [
        "Rust post 01",
        "Rust post 02",
        "Only web",
        "Untagged",
        "Draft rust",
        "Scheduled rust",
    ] {
        assert!(!html.contains(absent), "{absent}: {html}");
    }
    // Each entry links its tags.
    assert!(html.contains(r#"<a href="/tags/web">Web</a>"#), "{html}");

    let older = older_href(&html).expect("an Older posts link");
    assert!(older.starts_with("/tags/rust?before="), "{older}");
    let (status, html) = reader.page(&older).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Rust post 01") && html.contains("Rust post 02"),
        "{html}"
    );
    assert!(!html.contains("Rust post 03"), "{html}");
    assert!(older_href(&html).is_none(), "{html}");
    assert!(
        html.contains(r#"class="pager-newer" href="/tags/rust""#),
        "{html}"
    );

    // Tags are linked from the index and from the post page.
    let (_, index) = reader.page("/").await;
    assert!(
        index.contains(r#"<a href="/tags/rust">Rust</a>"#),
        "{index}"
    );
    assert!(index.contains(r#"<a href="/tags/web">Web</a>"#), "{index}");
    let (_, post) = reader.page("/posts/rust-post-12").await;
    assert!(post.contains(r#"<a href="/tags/rust">Rust</a>"#), "{post}");

    // Shared between readers, and revalidated like every page.
    let response = blog.new_browser().get("/tags/rust").await;
    assert_eq!(x_cache(&response), "hit");
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let response = reader
        .client
        .get(reader.at("/tags/rust"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    let response = reader
        .client
        .head(reader.at("/tags/rust"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"].to_str().unwrap(), etag);
    assert!(response.text().await.unwrap().is_empty());

    // A tag whose posts readers cannot see yet exists: an empty page, not a 404.
    blog.create_with_via_api(
        json!({"title": "Secret", "body": "b", "tags": ["Later"], "status": "draft"}),
    )
    .await;
    let (status, html) = reader.page("/tags/later").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No posts with this tag"), "{html}");
    assert!(!html.contains("Secret"), "{html}");
}

pub async fn an_unknown_or_malformed_tag_is_the_404_page(db: Db) {
    let blog = spawn_blog(&db).await;
    blog.create_with_via_api(json!({"title": "T", "body": "b", "tags": ["Rust"]}))
        .await;
    for path in [
        "/tags/python",
        "/tags/python",
        "/tags/Rust",
        "/tags/a--b",
        "/tags/2024",
        "/tags/python/feed.xml",
        "/tags/Rust/feed.xml",
    ] {
        let (status, html) = blog.new_browser().page(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(html.contains("<html"), "the 404 page for {path}: {html}");
    }
    let (status, _) = blog.new_browser().page("/tags/rust").await;
    assert_eq!(status, StatusCode::OK);
}

pub async fn a_tags_feed_is_atom_of_its_posts(db: Db) {
    let blog = spawn_blog(&db).await;
    blog.create_with_via_api(json!({"title": "First rust", "body": "*one*", "tags": ["Rust"]}))
        .await;
    blog.create_with_via_api(json!({"title": "Web only", "body": "b", "tags": ["Web"]}))
        .await;
    blog.create_with_via_api(
        json!({"title": "Second rust", "body": "two", "tags": ["web", "RUST"]}),
    )
    .await;
    blog.create_with_via_api(
        json!({"title": "Draft rust", "body": "b", "tags": ["Rust"], "status": "draft"}),
    )
    .await;
    let response = blog.get("/tags/rust/feed.xml").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/atom+xml; charset=utf-8"
    );
    let xml = response.text().await.unwrap();
    let document = roxmltree::Document::parse(&xml).expect("the feed is well-formed XML");
    let feed = document.root_element();
    assert!(feed.has_tag_name((ATOM, "feed")), "{xml}");
    let text = |node: roxmltree::Node, name: &str| {
        node.children()
            .find(|child| child.has_tag_name((ATOM, name)))
            .and_then(|child| child.text())
            .map(str::to_owned)
    };
    assert_eq!(text(feed, "title").as_deref(), Some("Blog · Rust"));
    let links: Vec<(String, String)> = feed
        .children()
        .filter(|node| node.has_tag_name((ATOM, "link")))
        .map(|link| {
            (
                link.attribute("rel").unwrap().to_owned(),
                link.attribute("href").unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        links
            .iter()
            .any(|(rel, href)| rel == "self" && href.ends_with("/tags/rust/feed.xml")),
        "{links:?}"
    );
    assert!(
        links
            .iter()
            .any(|(rel, href)| rel == "alternate" && href.ends_with("/tags/rust")),
        "{links:?}"
    );
    let titles: Vec<String> = feed
        .children()
        .filter(|node| node.has_tag_name((ATOM, "entry")))
        .map(|entry| text(entry, "title").unwrap())
        .collect();
    assert_eq!(titles, ["Second rust", "First rust"]);
    // Each entry names its tags as Atom categories: the slug as the term, the name as
    // first spelled as the label.
    let newest = feed
        .children()
        .find(|node| node.has_tag_name((ATOM, "entry")))
        .unwrap();
    let categories: Vec<(&str, &str)> = newest
        .children()
        .filter(|node| node.has_tag_name((ATOM, "category")))
        .map(|c| (c.attribute("term").unwrap(), c.attribute("label").unwrap()))
        .collect();
    assert_eq!(categories, [("web", "Web"), ("rust", "Rust")]);
    // The whole blog's feed still has them all.
    let xml = blog.get("/feed.xml").await.text().await.unwrap();
    assert!(
        xml.contains("Web only") && xml.contains("<title>Blog</title>"),
        "{xml}"
    );
}

pub async fn a_removed_tag_moves_the_post_off_the_page(db: Db) {
    let bound = Duration::from_millis(500);
    let blog = spawn_blog_with(&db, |config| {
        config.page_cache_ttl_ms = bound.as_millis() as u64;
    })
    .await;
    let elsewhere = blog
        .create_with_via_api(json!({"title": "Edited elsewhere", "body": "b", "tags": ["Rust"]}))
        .await;
    let here = blog
        .create_with_via_api(json!({"title": "Edited here", "body": "b", "tags": ["Rust"]}))
        .await;
    let reader = blog.new_browser();
    let (_, html) = reader.page("/tags/rust").await;
    assert!(
        html.contains("Edited elsewhere") && html.contains("Edited here"),
        "{html}"
    );

    // Through the API, as another replica would: gone within the cache's bound.
    blog.patch_via_api(elsewhere["id"].as_u64().unwrap(), json!({"tags": ["Web"]}))
        .await;
    let took = time_until(&reader, "/tags/rust", |html| {
        !html.contains("Edited elsewhere")
    })
    .await;
    assert!(took <= bound * 2, "the removed tag stayed for {took:?}");
    let (_, html) = reader.page("/tags/web").await;
    assert!(html.contains("Edited elsewhere"), "{html}");

    // Through this replica's editor: its cache is emptied on save, so at once.
    let (_, html) = reader.page("/tags/rust").await;
    assert!(html.contains("Edited here"), "{html}");
    blog.login().await;
    let id = here["id"].as_u64().unwrap();
    let (_, form) = blog.page(&format!("/edit/{id}")).await;
    let response = blog
        .post_form(
            &format!("/edit/{id}"),
            &[
                ("title", "Edited here"),
                ("body", "b"),
                ("tags", "Go"),
                ("version", "1"),
                ("csrf_token", &csrf_token(&form)),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, html) = reader.page("/tags/rust").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("Edited here"), "{html}");
    let (_, html) = reader.page("/tags/go").await;
    assert!(html.contains("Edited here"), "{html}");
}
