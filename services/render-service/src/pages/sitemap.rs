//! For search engines: `GET /robots.txt`, which names the sitemap, and `GET /sitemap.xml`
//! (sitemaps.org 0.9), every visible post with its `lastmod`, every tag page with a
//! visible post, and the index.
//!
//! A sitemap holds at most 50,000 addresses. Past that, `/sitemap.xml` is a sitemap
//! index naming `/sitemaps/tags.xml` and one `/sitemaps/posts-{after}.xml` for each page
//! of 50,000 posts (posts-service says where each starts). Drafts and scheduled posts
//! appear nowhere: posts-service lists only visible posts without the API token, and
//! these calls never carry it.
//!
//! Addresses are absolute, made from `PUBLIC_URL` like canonical links (never from the
//! request's `Host`, which a client chooses). Like the feed, each document goes through
//! the page cache and is conditional.

use std::fmt::Write;
use std::sync::Arc;

use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, StatusCode};
use posts_api::sitemap::{SitemapEntry, SITEMAP_MAX_URLS};
use service_runtime::metrics::route;
use service_runtime::request_id::{self, RequestId};
use time::format_description::well_known::Rfc3339;
use warp::filters::BoxedFilter;
use warp::reply::{Reply, Response};
use warp::Filter;

use super::feed::escape_xml;
use crate::error::PageError;
use crate::page_cache::{CachedPage, PageKey};
use crate::state::{with_state, AppState};
use crate::web::conditional::{self, conditional, Conditional, Shared};
use crate::web::respond::page;

/// The sitemaps' media type.
pub const SITEMAP_TYPE: &str = "application/xml; charset=utf-8";

const XML_DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;
const SITEMAPS_NS: &str = "http://www.sitemaps.org/schemas/sitemap/0.9";

pub fn routes(state: &Arc<AppState>) -> BoxedFilter<(Response,)> {
    let robots = warp::path!("robots.txt")
        .and(route("/robots.txt", Method::GET))
        .and(with_state(state))
        .map(robots_txt);
    let sitemap = warp::path!("sitemap.xml")
        .and(route("/sitemap.xml", Method::GET))
        .and(document(state))
        .then(|state, request_id, conditional| {
            serve(state, request_id, conditional, Document::Sitemap)
        });
    let tags = warp::path!("sitemaps" / "tags.xml")
        .and(route("/sitemaps/tags.xml", Method::GET))
        .and(document(state))
        .then(|state, request_id, conditional| {
            serve(state, request_id, conditional, Document::Tags)
        });
    let posts = warp::path!("sitemaps" / String)
        .and(route("/sitemaps/posts-{after}.xml", Method::GET))
        .and(document(state))
        .then(|file: String, state, request_id, conditional| async move {
            let after = posts_page(&file).ok_or(PageError::NotFound)?;
            serve(state, request_id, conditional, Document::Posts { after }).await
        });
    robots
        .or(page(&state.site, sitemap))
        .unify()
        .or(page(&state.site, tags))
        .unify()
        .or(page(&state.site, posts))
        .unify()
        .boxed()
}

/// What every sitemap document's handler takes.
fn document(
    state: &Arc<AppState>,
) -> impl Filter<Extract = (Arc<AppState>, RequestId, Conditional), Error = std::convert::Infallible>
       + Clone {
    with_state(state)
        .and(request_id::filter())
        .and(conditional())
}

/// `after` of a `posts-{after}.xml` file name.
fn posts_page(file: &str) -> Option<u64> {
    let digits = file.strip_prefix("posts-")?.strip_suffix(".xml")?;
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `/robots.txt`: everything may be crawled but the admin's pages and search results
/// (endless made-up pages, each a call to posts-service); the sitemap's absolute address.
fn robots_txt(state: Arc<AppState>) -> Response {
    let base_url = state.site.canonical_base();
    let text = format!(
        "User-agent: *\nDisallow: /admin\nDisallow: /add\nDisallow: /edit/\n\
         Disallow: /delete/\nDisallow: /login\nDisallow: /account\nDisallow: /search\n\n\
         Sitemap: {base_url}/sitemap.xml\n"
    );
    let mut response = text.into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The three sitemap documents.
#[derive(Clone, Copy)]
enum Document {
    /// `/sitemap.xml`: every address, or past 50,000 the index of the others.
    Sitemap,
    /// `/sitemaps/tags.xml`.
    Tags,
    /// `/sitemaps/posts-{after}.xml`.
    Posts { after: u64 },
}

async fn serve(
    state: Arc<AppState>,
    request_id: RequestId,
    conditional: Conditional,
    document: Document,
) -> Result<Response, PageError> {
    let key = match document {
        Document::Sitemap => PageKey::Sitemap,
        Document::Tags => PageKey::SitemapTags,
        Document::Posts { after } => PageKey::SitemapPosts { after },
    };
    let render = {
        let state = state.clone();
        async move {
            let xml = render_document(&state, &request_id, document).await?;
            Ok(CachedPage::new(StatusCode::OK, xml))
        }
    };
    let (page, served) = state.pages.get_or_render(key, render).await?;
    Ok(conditional::respond(
        &conditional,
        Shared {
            body: page.html.clone(),
            content_type: SITEMAP_TYPE,
            etag: &page.etag,
            last_modified: page.last_modified,
            served,
            age: page.age(),
        },
    ))
}

/// The document's XML.
async fn render_document(
    state: &AppState,
    request_id: &RequestId,
    document: Document,
) -> Result<String, PageError> {
    let posts = &state.posts;
    let base = state.site.canonical_base();
    Ok(match document {
        Document::Sitemap => {
            let outline = posts.sitemap_outline(request_id).await?;
            // The index page, the tag pages and the posts.
            let urls = 1 + outline.tags.len() as u64 + outline.posts;
            if urls <= u64::from(SITEMAP_MAX_URLS) {
                let page = posts.sitemap_posts(0, None, request_id).await?;
                urlset(base, &outline.tags, &page.entries, true)
            } else {
                sitemap_index(base, &outline.post_pages, !outline.tags.is_empty())
            }
        }
        Document::Tags => {
            let outline = posts.sitemap_outline(request_id).await?;
            urlset(base, &outline.tags, &[], false)
        }
        Document::Posts { after } => {
            // A page of the index is a range of ids (posts-service's outline).
            let through = after.saturating_add(u64::from(SITEMAP_MAX_URLS));
            let page = posts
                .sitemap_posts(after, Some(through), request_id)
                .await?;
            urlset(base, &[], &page.entries, false)
        }
    })
}

/// A `<urlset>` of addresses under `base`: the index page when `home`, the tags'
/// pages, the posts' pages.
fn urlset(base: &str, tags: &[String], posts: &[SitemapEntry], home: bool) -> String {
    let base = escape_xml(base);
    let mut xml = format!("{XML_DECLARATION}\n<urlset xmlns=\"{SITEMAPS_NS}\">\n");
    if home {
        let _ = writeln!(xml, "<url><loc>{base}/</loc></url>");
    }
    for tag in tags {
        let _ = writeln!(xml, "<url><loc>{base}/tags/{}</loc></url>", escape_xml(tag));
    }
    for post in posts {
        let _ = writeln!(
            xml,
            "<url><loc>{base}/posts/{}</loc><lastmod>{}</lastmod></url>",
            escape_xml(&post.slug),
            post.lastmod.format(&Rfc3339).unwrap_or_default()
        );
    }
    xml.push_str("</urlset>\n");
    xml
}

/// A `<sitemapindex>` naming, under `base`, the tags' sitemap (when there are tags) and
/// one sitemap per page of posts.
fn sitemap_index(base: &str, post_pages: &[u64], tags: bool) -> String {
    let base = escape_xml(base);
    let mut xml = format!("{XML_DECLARATION}\n<sitemapindex xmlns=\"{SITEMAPS_NS}\">\n");
    if tags {
        let _ = writeln!(
            xml,
            "<sitemap><loc>{base}/sitemaps/tags.xml</loc></sitemap>"
        );
    }
    for after in post_pages {
        let _ = writeln!(
            xml,
            "<sitemap><loc>{base}/sitemaps/posts-{after}.xml</loc></sitemap>"
        );
    }
    xml.push_str("</sitemapindex>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn only_posts_pages_with_digits_are_pages() {
        assert_eq!(posts_page("posts-0.xml"), Some(0));
        assert_eq!(posts_page("posts-49999.xml"), Some(49_999));
        for bad in [
            "posts-.xml",
            "posts--1.xml",
            "posts-1.xml.gz",
            "posts-1",
            "tags.xml",
            "posts-99999999999999999999999.xml",
            "posts-+1.xml",
        ] {
            assert_eq!(posts_page(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_urlset_names_each_page_once_with_the_posts_lastmod() {
        let posts = [SitemapEntry {
            slug: "first-light".into(),
            lastmod: datetime!(2026-12-07 10:00:00 UTC),
        }];
        let base = "https://blog.example";
        let xml = urlset(base, &["rust".into()], &posts, true);
        assert!(xml.starts_with(XML_DECLARATION));
        assert!(xml.contains(&format!("<url><loc>{base}/</loc></url>")));
        assert!(xml.contains(&format!("<url><loc>{base}/tags/rust</loc></url>")));
        assert!(xml.contains(&format!(
            "<url><loc>{base}/posts/first-light</loc>\
             <lastmod>2026-12-07T10:00:00Z</lastmod></url>"
        )));
        assert_eq!(xml.matches("<url>").count(), 3);
    }

    #[test]
    fn an_index_names_the_tags_sitemap_and_each_page_of_posts() {
        let base = "https://blog.example";
        let xml = sitemap_index(base, &[0, 50_211], true);
        assert!(
            xml.contains("<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">")
        );
        assert!(xml.contains(&format!("{base}/sitemaps/tags.xml")));
        assert!(xml.contains(&format!("{base}/sitemaps/posts-0.xml")));
        assert!(xml.contains(&format!("{base}/sitemaps/posts-50211.xml")));
        assert_eq!(
            sitemap_index(base, &[0], false)
                .matches("<sitemap>")
                .count(),
            1
        );
    }
}
