//! `/sitemap.xml` and `/robots.txt` as a search engine reads them: well-formed XML in
//! the sitemaps.org namespace, every visible post and tag page with absolute addresses,
//! never a draft or a scheduled post.

use reqwest::StatusCode;
use serde_json::json;
use test_mariadb::harness::Db;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::helpers::{spawn_blog_with, xmllint_errors};

const SITEMAPS: &str = "http://www.sitemaps.org/schemas/sitemap/0.9";

/// What xmllint says is wrong with `xml` against the sitemaps.org 0.9 schema, if
/// anything.
fn schema_errors(xml: &str) -> Option<String> {
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sitemap-0.9.xsd");
    xmllint_errors("--schema", schema, xml)
}

fn assert_valid(xml: &str) {
    if let Some(errors) = schema_errors(xml) {
        panic!("not a valid sitemap: {errors}\n{xml}");
    }
}
const BASE: &str = "https://blog.example.com";

/// The `<loc>` and `<lastmod>` of every `<url>` of a urlset.
fn urls(xml: &str) -> Vec<(String, Option<String>)> {
    let document = roxmltree::Document::parse(xml).expect("the sitemap is well-formed XML");
    let urlset = document.root_element();
    assert!(urlset.has_tag_name((SITEMAPS, "urlset")), "{xml}");
    urlset
        .children()
        .filter(|node| node.is_element())
        .map(|url| {
            assert!(url.has_tag_name((SITEMAPS, "url")), "{xml}");
            let text = |name: &str| {
                url.children()
                    .find(|child| child.has_tag_name((SITEMAPS, name)))
                    .and_then(|child| child.text())
                    .map(str::to_owned)
            };
            (text("loc").expect("every url has a loc"), text("lastmod"))
        })
        .collect()
}

pub async fn the_sitemap_lists_visible_posts_and_tag_pages_and_robots_names_it(db: Db) {
    let blog = spawn_blog_with(&db, |config| {
        config.public_url = Some(format!("{BASE}/"));
    })
    .await;
    let tomorrow = (OffsetDateTime::now_utc() + time::Duration::days(1))
        .format(&Rfc3339)
        .unwrap();
    blog.create_with_via_api(json!({"title": "First light", "body": "b", "tags": ["Rust"]}))
        .await;
    blog.create_with_via_api(
        json!({"title": "Secret draft", "body": "b", "status": "draft", "tags": ["Secret"]}),
    )
    .await;
    blog.create_with_via_api(
        json!({"title": "Not yet", "body": "b", "published_at": tomorrow, "tags": ["Later"]}),
    )
    .await;
    let second = blog
        .create_with_via_api(json!({"title": "Second light", "body": "b", "tags": ["Web"]}))
        .await;

    let response = blog.get("/sitemap.xml").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/xml; charset=utf-8"
    );
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let xml = response.text().await.unwrap();
    assert_valid(&xml);
    let urls = urls(&xml);
    let locs: Vec<&str> = urls.iter().map(|(loc, _)| loc.as_str()).collect();
    assert_eq!(
        locs,
        [
            format!("{BASE}/"),
            format!("{BASE}/tags/rust"),
            format!("{BASE}/tags/web"),
            format!("{BASE}/posts/first-light"),
            format!("{BASE}/posts/second-light"),
        ]
    );
    for (loc, lastmod) in &urls {
        if loc.contains("/posts/") {
            let lastmod = lastmod.as_deref().expect("a post has its lastmod");
            OffsetDateTime::parse(lastmod, &Rfc3339).expect("lastmod is a W3C datetime");
        }
    }
    assert_eq!(
        urls[4].1.as_deref(),
        second["published_at"].as_str(),
        "lastmod of a post just published is its publication time"
    );
    for hidden in ["secret", "not-yet", "later"] {
        assert!(!xml.contains(hidden), "{hidden} in {xml}");
    }
    // Conditional, like the other shared documents.
    let again = blog
        .client
        .get(blog.at("/sitemap.xml"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // The split form's pieces are served too.
    let (status, tags) = blog.page("/sitemaps/tags.xml").await;
    assert_eq!(status, StatusCode::OK);
    assert_valid(&tags);
    assert_eq!(
        urls_of(&tags),
        [format!("{BASE}/tags/rust"), format!("{BASE}/tags/web")]
    );
    let (status, posts) = blog.page("/sitemaps/posts-0.xml").await;
    assert_eq!(status, StatusCode::OK);
    assert_valid(&posts);
    // The schema check can fail: a loc that is not absolute is refused.
    let relative = posts.replacen(&format!("<loc>{BASE}"), "<loc>", 1);
    assert!(
        schema_errors(&relative).is_some(),
        "xmllint accepted a relative loc"
    );
    assert_eq!(
        urls_of(&posts),
        [
            format!("{BASE}/posts/first-light"),
            format!("{BASE}/posts/second-light")
        ]
    );
    for path in [
        "/sitemaps/posts-x.xml",
        "/sitemaps/posts-.xml",
        "/sitemaps/other.xml",
    ] {
        assert_eq!(blog.page(path).await.0, StatusCode::NOT_FOUND, "{path}");
    }

    let response = blog.get("/robots.txt").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    let robots = response.text().await.unwrap();
    assert!(robots.starts_with("User-agent: *\n"), "{robots}");
    assert!(robots.contains("\nDisallow: /admin\n"), "{robots}");
    // Search results are endless made-up pages: crawlers stay off them.
    assert!(robots.contains("\nDisallow: /search\n"), "{robots}");
    assert!(
        robots
            .lines()
            .any(|line| line == format!("Sitemap: {BASE}/sitemap.xml")),
        "{robots}"
    );
}

fn urls_of(xml: &str) -> Vec<String> {
    urls(xml).into_iter().map(|(loc, _)| loc).collect()
}
