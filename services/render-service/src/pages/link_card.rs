//! What a post page tells search engines and link previews in its `<head>`: the
//! canonical URL, Open Graph and Twitter card tags, and a JSON-LD `BlogPosting`.
//!
//! Every URL is absolute and starts with `PUBLIC_URL` ([`Site::canonical_base`]), never
//! with the request's `Host`: the page is shared through the page cache, and a canonical
//! link must not depend on the name a client used.

use posts_api::Post;
use serde_json::json;
use time::format_description::well_known::Rfc3339;

use crate::site::Site;

/// A post's head tags, ready for the template (askama escapes every field but
/// [`LinkCard::json_ld`], which is escaped for a `<script>` element here).
#[derive(Debug, Clone)]
pub struct LinkCard {
    /// The post's absolute URL: `<link rel="canonical">`, `og:url`, the JSON-LD `url`.
    pub url: String,
    pub title: String,
    /// The excerpt: `og:description` and `<meta name="description">`.
    pub description: String,
    pub site_name: String,
    pub published_time: String,
    pub modified_time: String,
    /// The JSON-LD document, safe inside `<script type="application/ld+json">`.
    pub json_ld: String,
}

impl LinkCard {
    pub fn new(site: &Site, post: &Post) -> LinkCard {
        let url = format!("{}/posts/{}", site.canonical_base(), post.slug);
        let published_time = post
            .published_at
            .unwrap_or(post.created_at)
            .format(&Rfc3339)
            .unwrap_or_default();
        let modified_time = post.updated_at.format(&Rfc3339).unwrap_or_default();
        let description = if post.excerpt_truncated {
            format!("{}…", post.excerpt)
        } else {
            post.excerpt.clone()
        };
        // Until posts have authors of their own, the blog is the author.
        let blog = json!({"@type": "Organization", "name": site.blog_title});
        let document = json!({
            "@context": "https://schema.org",
            "@type": "BlogPosting",
            "headline": post.title,
            "description": description,
            "url": url,
            "mainEntityOfPage": url,
            "datePublished": published_time,
            "dateModified": modified_time,
            "author": blog,
            "publisher": blog,
        });
        LinkCard {
            json_ld: script_safe_json(&document.to_string()),
            url,
            title: post.title.clone(),
            description,
            site_name: site.blog_title.clone(),
            published_time,
            modified_time,
        }
    }
}

/// JSON that cannot end its `<script>` element or open a comment in it: `<`, `>` and
/// `&` as `\u` escapes, which JSON parsers read back as the same characters. U+2028
/// and U+2029 too, for JavaScript readers older than ES2019.
fn script_safe_json(json: &str) -> String {
    let mut safe = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => safe.push_str("\\u003c"),
            '>' => safe.push_str("\\u003e"),
            '&' => safe.push_str("\\u0026"),
            '\u{2028}' => safe.push_str("\\u2028"),
            '\u{2029}' => safe.push_str("\\u2029"),
            c => safe.push(c),
        }
    }
    safe
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn site(public_url: Option<&str>) -> Site {
        Site {
            blog_title: "Notes & Co".into(),
            stylesheet: "/static/style.css",
            public_url: public_url.map(str::to_owned),
            https: false,
            zone: crate::zone::BlogZone::utc(),
        }
    }

    fn post(title: &str, excerpt: &str, truncated: bool) -> Post {
        Post {
            id: 42,
            title: title.into(),
            body: "body".into(),
            html: "<p>body</p>".into(),
            excerpt: excerpt.into(),
            excerpt_truncated: truncated,
            created_at: datetime!(2026-12-01 10:00:00 UTC),
            updated_at: datetime!(2026-12-02 11:30:00 UTC),
            version: 2,
            slug: "a-title".into(),
            status: posts_api::PostStatus::Published,
            published_at: Some(datetime!(2026-12-01 10:00:00 UTC)),
            author: None,
            tags: Vec::new(),
            tag_slugs: Vec::new(),
        }
    }

    #[test]
    fn urls_are_absolute_from_public_url_or_the_default() {
        let card = LinkCard::new(&site(Some("https://blog.example")), &post("T", "E", false));
        assert_eq!(card.url, "https://blog.example/posts/a-title");
        let card = LinkCard::new(&site(None), &post("T", "E", false));
        assert_eq!(card.url, "http://localhost:8080/posts/a-title");
    }

    #[test]
    fn json_ld_is_a_blog_posting_that_parses_back_to_the_post() {
        let hostile = "</script><script>alert(1)</script> & <!-- \u{2028}";
        let card = LinkCard::new(&site(None), &post(hostile, "An excerpt", true));
        for forbidden in ["<", ">", "&", "\u{2028}"] {
            assert!(
                !card.json_ld.contains(forbidden),
                "{forbidden:?} in {}",
                card.json_ld
            );
        }
        let parsed: serde_json::Value = serde_json::from_str(&card.json_ld).unwrap();
        assert_eq!(parsed["@type"], "BlogPosting");
        assert_eq!(parsed["headline"], hostile);
        assert_eq!(parsed["description"], "An excerpt…");
        assert_eq!(parsed["datePublished"], "2026-12-01T10:00:00Z");
        assert_eq!(parsed["dateModified"], "2026-12-02T11:30:00Z");
        assert_eq!(parsed["url"], "http://localhost:8080/posts/a-title");
        assert_eq!(parsed["author"]["name"], "Notes & Co");
    }
}
