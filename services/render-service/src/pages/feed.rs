//! `GET /feed.xml`: an Atom feed of the 20 newest posts, bodies as sanitized HTML;
//! `GET /tags/{slug}/feed.xml` ([`crate::pages::tags`]): the same of one tag's posts.
//!
//! Atom wants absolute links: they start with `PUBLIC_URL` when it is set, else with the
//! request's `Host` (https when `COOKIE_SECURE` says the blog is served over HTTPS).
//! Entry ids are `{base}/posts/{id}` (which redirects to the post), so they stay the same
//! when a post's slug changes; entry links are `{base}/posts/{slug}`. Set `PUBLIC_URL`
//! in production: ids must not change when the blog is reached by another name.
//!
//! The feed is shared like a page (the page cache, `PAGE_CACHE_TTL_MS`; the last good
//! copy during an outage) and conditional (`ETag`, `Last-Modified`, `304`). It is
//! cached with a mark where the base URL goes, filled in per request, so that neither
//! the Markdown of 20 bodies nor a call to posts-service is paid per request, whatever
//! `Host` a client sends.

use std::sync::Arc;

use http::{Method, StatusCode};
use service_runtime::metrics::route;
use service_runtime::request_id::{self, RequestId};
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Filter;

use crate::error::PageError;
use crate::page_cache::{CachedPage, PageKey};
use crate::pages::index::Listing;
use crate::site::Site;
use crate::slug::tag_path;
use crate::state::{with_state, AppState};
use crate::templates::{render, FeedCategory, FeedDocument, FeedEntry};
use crate::web::conditional::{self, conditional, Conditional, Shared};
use crate::web::respond::page;

/// Posts in the feed.
pub const FEED_SIZE: u32 = 20;

/// The feed's media type.
pub const CONTENT_TYPE: &str = "application/atom+xml; charset=utf-8";

/// Where the base URL goes in the cached feed. Titles and bodies cannot hold control
/// characters (posts-service refuses them), and escaping leaves this one alone, so the
/// mark occurs nowhere else.
const BASE_URL_MARK: &str = "\u{1}base-url\u{1}";

pub fn routes(state: &Arc<AppState>) -> BoxedFilter<(Response,)> {
    let feed = warp::path!("feed.xml")
        .and(route("/feed.xml", Method::GET))
        .and(with_state(state))
        .and(request_id::filter())
        .and(warp::header::optional::<String>("host"))
        .and(conditional())
        .then(
            |state: Arc<AppState>,
             request_id: RequestId,
             host: Option<String>,
             conditional: Conditional| {
                render_feed(state, request_id, host, conditional, Listing::All)
            },
        );
    page(&state.site, feed)
}

/// The blog's absolute base URL, without a trailing slash.
pub fn base_url(site: &Site, host: Option<&str>) -> String {
    if let Some(public_url) = &site.public_url {
        return public_url.trim_end_matches('/').to_owned();
    }
    let scheme = if site.https { "https" } else { "http" };
    let host = host
        .filter(|host| {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("{scheme}://{host}")
}

fn rfc3339(moment: OffsetDateTime) -> String {
    moment.format(&Rfc3339).unwrap_or_default()
}

/// The feed of `listing` (every post, or one tag's; an unknown tag is the 404 page):
/// from the page cache (rendered when it is not there), with this request's base URL
/// filled in, or a `304` when the reader has it.
pub async fn render_feed(
    state: Arc<AppState>,
    request_id: RequestId,
    host: Option<String>,
    conditional: Conditional,
    listing: Listing,
) -> Result<Response, PageError> {
    let render = {
        let state = state.clone();
        async move {
            let xml = feed_xml(&state, &request_id, listing).await?;
            Ok(CachedPage::new(StatusCode::OK, xml))
        }
    };
    let key = match listing {
        Listing::All => PageKey::Feed,
        Listing::Tag(slug) => PageKey::TagFeed { slug },
    };
    let (page, served) = state.pages.get_or_render(key, render).await?;
    let base_url = base_url(&state.site, host.as_deref());
    let xml = std::str::from_utf8(&page.html)
        .map_err(|_| PageError::Internal("the cached feed is not UTF-8".to_owned()))?
        .replace(BASE_URL_MARK, &escape_xml(&base_url));
    // The same cached feed under another base URL is another representation.
    let base_digest = Sha256::digest(base_url.as_bytes());
    let etag = format!(
        "{}-{:02x}{:02x}{:02x}{:02x}\"",
        page.etag.trim_end_matches('"'),
        base_digest[0],
        base_digest[1],
        base_digest[2],
        base_digest[3]
    );
    Ok(conditional::respond(
        &conditional,
        Shared {
            body: xml.into(),
            content_type: CONTENT_TYPE,
            etag: &etag,
            last_modified: page.last_modified,
            served,
            age: page.age(),
        },
    ))
}

/// The feed's XML, with [`BASE_URL_MARK`] where the base URL goes.
async fn feed_xml(
    state: &AppState,
    request_id: &RequestId,
    listing: Listing,
) -> Result<String, PageError> {
    let (page, title, path) = match listing {
        Listing::All => (
            state.posts.list(FEED_SIZE, None, request_id).await?,
            state.site.blog_title.clone(),
            "/".to_owned(),
        ),
        Listing::Tag(slug) => {
            let page = state
                .posts
                .tag_list(slug.as_str(), FEED_SIZE, request_id)
                .await?;
            let name = page
                .tag
                .as_ref()
                .map(|tag| tag.name.clone())
                .unwrap_or_else(|| slug.to_string());
            let title = format!("{} · {name}", state.site.blog_title);
            (page, title, tag_path(slug.as_str()))
        }
    };
    let self_path = match listing {
        Listing::All => "/feed.xml".to_owned(),
        Listing::Tag(_) => format!("{path}/feed.xml"),
    };
    let updated = page
        .posts
        .iter()
        .map(|post| post.updated_at)
        .max()
        .unwrap_or_else(OffsetDateTime::now_utc);
    let entries = page
        .posts
        .iter()
        .map(|post| FeedEntry {
            title: post.title.clone(),
            // The id stays the id-based URL (it redirects to the post), so an entry keeps
            // its identity when the post's slug changes; the link is the slug's.
            id: format!("{BASE_URL_MARK}/posts/{}", post.id),
            url: format!("{BASE_URL_MARK}/posts/{}", post.slug),
            published: rfc3339(post.published_at.unwrap_or(post.created_at)),
            updated: rfc3339(post.updated_at),
            content_html: post.html.clone(),
            author: post.author.as_ref().map(|author| author.name.clone()),
            categories: post
                .tags
                .iter()
                .zip(&post.tag_slugs)
                .map(|(name, slug)| FeedCategory {
                    term: slug.clone(),
                    label: name.clone(),
                })
                .collect(),
        })
        .collect();
    Ok(render(&FeedDocument {
        blog_title: state.site.blog_title.clone(),
        title,
        base_url: BASE_URL_MARK.to_owned(),
        path,
        self_path,
        updated: rfc3339(updated),
        entries,
    })?)
}

/// `text` for an XML attribute or element.
pub fn escape_xml(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(public_url: Option<&str>, https: bool) -> Site {
        Site {
            blog_title: "Blog".into(),
            stylesheet: "/static/style.css",
            public_url: public_url.map(str::to_owned),
            https,
            zone: crate::zone::BlogZone::utc(),
        }
    }

    /// Deterministic pseudo-random text from characters that are trouble in XML and HTML;
    /// one in thirty-two is one that validation must refuse.
    fn tricky_text(seed: &mut u64, len: usize) -> String {
        const TRICKY: &[char] = &[
            '<',
            '>',
            '&',
            '"',
            '\'',
            ']',
            '\u{85}',
            '\u{A0}',
            '\u{AD}',
            '\u{200B}',
            '\u{2028}',
            '\u{FEFF}',
            '\u{FFFD}',
            '\u{1F600}',
            '\t',
            '\n',
            '\r',
            'a',
            ' ',
        ];
        const REFUSED: &[char] = &[
            '\u{0}', '\u{7}', '\u{B}', '\u{C}', '\u{1B}', '\u{7F}', '\u{FFFE}', '\u{FFFF}',
        ];
        let mut next = || {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed
        };
        (0..len)
            .map(|_| {
                let (pick, from) = (next(), if next() % 32 == 0 { REFUSED } else { TRICKY });
                from[(pick % from.len() as u64) as usize]
            })
            .collect()
    }

    #[test]
    fn a_feed_of_any_accepted_input_is_well_formed_xml() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut accepted = 0;
        for _ in 0..5_000 {
            // Tabs and line breaks belong in bodies; in titles they are refused like the
            // other control characters, so they are rare there.
            let title = tricky_text(&mut seed, 10).replace(['\t', '\n', '\r'], " ");
            let input = posts_api::PostInput::new(title, tricky_text(&mut seed, 16));
            let Ok(content) = input.validate() else {
                continue;
            };
            accepted += 1;
            let xml = render(&FeedDocument {
                blog_title: "Blog".into(),
                title: "Blog".into(),
                base_url: "http://localhost".into(),
                path: "/".into(),
                self_path: "/feed.xml".into(),
                updated: "2026-11-25T00:00:00Z".into(),
                entries: vec![FeedEntry {
                    title: content.title.clone(),
                    id: "http://localhost/posts/1".into(),
                    url: "http://localhost/posts/one".into(),
                    published: "2026-11-25T00:00:00Z".into(),
                    updated: "2026-11-25T00:00:00Z".into(),
                    content_html: post_render::render(&content.body).html,
                    author: Some(content.title.clone()),
                    categories: vec![FeedCategory {
                        term: "t".into(),
                        label: content.title.clone(),
                    }],
                }],
            })
            .unwrap();
            if let Err(err) = roxmltree::Document::parse(&xml) {
                panic!(
                    "{err} for title {:?}, body {:?}",
                    content.title, content.body
                );
            }
        }
        assert!(accepted > 100, "only {accepted} inputs were accepted");
    }

    #[test]
    fn entries_carry_their_author_and_their_tags_as_categories() {
        let xml = render(&FeedDocument {
            blog_title: "Blog".into(),
            title: "Blog".into(),
            base_url: "http://localhost".into(),
            path: "/".into(),
            self_path: "/feed.xml".into(),
            updated: "2026-11-25T00:00:00Z".into(),
            entries: vec![FeedEntry {
                title: "Title".into(),
                id: "http://localhost/posts/1".into(),
                url: "http://localhost/posts/one".into(),
                published: "2026-11-25T00:00:00Z".into(),
                updated: "2026-11-25T00:00:00Z".into(),
                content_html: "<p>x</p>".into(),
                author: Some("Ada <Lovelace>".into()),
                categories: vec![
                    FeedCategory {
                        term: "rust".into(),
                        label: "Rust".into(),
                    },
                    FeedCategory {
                        term: "q-a".into(),
                        label: "Q&A \"quoted\"".into(),
                    },
                ],
            }],
        })
        .unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let entry = doc.descendants().find(|n| n.has_tag_name("entry")).unwrap();
        let author = entry.children().find(|n| n.has_tag_name("author")).unwrap();
        assert_eq!(
            author.first_element_child().unwrap().text(),
            Some("Ada <Lovelace>")
        );
        let categories: Vec<(&str, &str, &str)> = entry
            .children()
            .filter(|n| n.has_tag_name("category"))
            .map(|n| {
                (
                    n.attribute("term").unwrap(),
                    n.attribute("label").unwrap(),
                    n.attribute("scheme").unwrap(),
                )
            })
            .collect();
        assert_eq!(
            categories,
            [
                ("rust", "Rust", "http://localhost/tags/"),
                ("q-a", "Q&A \"quoted\"", "http://localhost/tags/")
            ]
        );
    }

    #[test]
    fn references_to_characters_xml_forbids_keep_the_feed_well_formed() {
        for body in [
            "x &#1; y",
            "&#x1F;",
            "&#xFFFE; and &#xFFFF;",
            "<b>&#8;</b>",
            "# T &#11;",
        ] {
            let xml = render(&FeedDocument {
                blog_title: "Blog".into(),
                title: "Blog".into(),
                base_url: "http://localhost".into(),
                path: "/".into(),
                self_path: "/feed.xml".into(),
                updated: "2026-11-25T00:00:00Z".into(),
                entries: vec![FeedEntry {
                    title: "Title".into(),
                    id: "http://localhost/posts/1".into(),
                    url: "http://localhost/posts/one".into(),
                    published: "2026-11-25T00:00:00Z".into(),
                    updated: "2026-11-25T00:00:00Z".into(),
                    content_html: post_render::render(body).html,
                    author: None,
                    categories: Vec::new(),
                }],
            })
            .unwrap();
            if let Err(err) = roxmltree::Document::parse(&xml) {
                panic!("{err} for body {body:?}");
            }
        }
    }

    #[test]
    fn public_url_wins() {
        let site = site(Some("https://blog.example/"), false);
        assert_eq!(base_url(&site, Some("other")), "https://blog.example");
    }

    #[test]
    fn host_header_is_used_when_sane() {
        assert_eq!(
            base_url(&site(None, false), Some("localhost:8080")),
            "http://localhost:8080"
        );
        assert_eq!(
            base_url(&site(None, true), Some("blog.example")),
            "https://blog.example"
        );
        assert_eq!(
            base_url(&site(None, false), Some("evil\"><x")),
            "http://localhost"
        );
    }
}
