//! The Atom feed, parsed as XML.

use reqwest::StatusCode;
use test_mariadb::harness::Db;

use crate::helpers::{spawn_blog, spawn_blog_with, xmllint_errors};

const ATOM: &str = "http://www.w3.org/2005/Atom";

fn child_text<'a>(node: roxmltree::Node<'a, 'a>, name: &str) -> Option<&'a str> {
    node.children()
        .find(|child| child.has_tag_name((ATOM, name)))
        .and_then(|child| child.text())
}

pub async fn atom_feed_has_the_20_newest_posts(db: Db) {
    let blog = spawn_blog(&db).await;
    let mut ids = Vec::new();
    for n in 1..=22 {
        let post = blog
            .create_via_api(&format!("Feed post {n}"), &format!("Body of *post {n}*."))
            .await;
        ids.push(post["id"].as_u64().unwrap());
    }
    let response = blog.get("/feed.xml").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/atom+xml; charset=utf-8"
    );
    // Kept by HTTP caches only to revalidate: edits and deletions must reach readers
    // within the bound.
    assert_eq!(response.headers()["cache-control"], "no-cache");
    let xml = response.text().await.unwrap();
    let document = roxmltree::Document::parse(&xml).expect("the feed is well-formed XML");
    let feed = document.root_element();
    assert!(feed.has_tag_name((ATOM, "feed")), "{xml}");
    assert_eq!(child_text(feed, "title"), Some("Blog"));
    assert!(child_text(feed, "updated").is_some());
    assert!(child_text(feed, "id").is_some());

    let entries: Vec<_> = feed
        .children()
        .filter(|node| node.has_tag_name((ATOM, "entry")))
        .collect();
    assert_eq!(entries.len(), 20);
    let titles: Vec<&str> = entries
        .iter()
        .map(|entry| child_text(*entry, "title").unwrap())
        .collect();
    let expected: Vec<String> = (3..=22).rev().map(|n| format!("Feed post {n}")).collect();
    assert_eq!(titles, expected, "the 20 newest, newest first");

    let newest = entries[0];
    let link = newest
        .children()
        .find(|child| child.has_tag_name((ATOM, "link")))
        .and_then(|link| link.attribute("href"))
        .unwrap();
    assert_eq!(
        link,
        format!("{}{}", blog.url, blog.post_path(ids[21]).await)
    );
    assert_eq!(
        child_text(newest, "id").unwrap(),
        format!("{}/posts/{}", blog.url, ids[21]),
        "entry ids stay id-based, whatever the slug"
    );
    assert!(child_text(newest, "published").unwrap().ends_with('Z'));
    assert!(child_text(newest, "updated").is_some());
    let content = newest
        .children()
        .find(|child| child.has_tag_name((ATOM, "content")))
        .unwrap();
    assert_eq!(content.attribute("type"), Some("html"));
    assert_eq!(content.text(), Some("<p>Body of <em>post 22</em>.</p>\n"));
}

pub async fn atom_feed_escapes_and_sanitizes_content(db: Db) {
    let blog = spawn_blog(&db).await;
    blog.create_via_api(
        "Tom & Jerry <3 \"quotes\"",
        "Hi <script>alert(1)</script> [x](javascript:alert(2)) & more",
    )
    .await;
    let (status, xml) = blog.page("/feed.xml").await;
    assert_eq!(status, StatusCode::OK);
    let document = roxmltree::Document::parse(&xml).expect("well-formed despite the title");
    let entry = document
        .root_element()
        .children()
        .find(|node| node.has_tag_name((ATOM, "entry")))
        .unwrap();
    assert_eq!(
        child_text(entry, "title"),
        Some("Tom & Jerry <3 \"quotes\"")
    );
    let content = child_text(entry, "content").unwrap();
    assert!(!content.contains("<script"), "{content}");
    assert!(!content.contains("javascript:"), "{content}");
    assert!(content.contains("&amp; more"), "{content}");
}

/// Panics unless `xml` is a valid Atom document (RFC 4287's schema: tests/data/atom.rng).
fn assert_valid_atom(xml: &str) {
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/atom.rng");
    if let Some(errors) = xmllint_errors("--relaxng", schema, xml) {
        panic!("not valid Atom: {errors}\n{xml}");
    }
}

pub async fn feeds_are_valid_atom(db: Db) {
    // The page cache off: the empty blog's feed, then the same feed with posts.
    let blog = spawn_blog_with(&db, |config| config.page_cache_ttl_ms = 0).await;
    // The schema is strict enough to refuse a feed without an id.
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/atom.rng");
    let broken = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
        <updated>2026-12-07T00:00:00Z</updated></feed>"#;
    assert!(xmllint_errors("--relaxng", schema, broken).is_some());

    // An empty blog's feed, then one with tagged posts, hostile text and every field.
    let (_, empty) = blog.page("/feed.xml").await;
    assert_valid_atom(&empty);
    blog.create_with_via_api(serde_json::json!({
        "title": "Tags & <things> \"quoted\"",
        "body": "Body with <script>x</script> and **Markdown** &#1;.",
        "tags": ["Rust", "Q&A"],
    }))
    .await;
    blog.create_with_via_api(serde_json::json!({"title": "Plain", "body": "b"}))
        .await;
    for path in ["/feed.xml", "/tags/rust/feed.xml", "/tags/q-a/feed.xml"] {
        let (status, xml) = blog.page(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(xml.contains("<category "), "{path}: {xml}");
        assert_valid_atom(&xml);
    }
}
