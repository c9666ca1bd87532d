//! The pages' data, one askama template type per page; the markup is in `templates/`.
//!
//! askama checks the templates against these types at compile time and HTML-escapes
//! every value unless a template says `|safe`, which only [`PostView::body_html`], the
//! feed's content and [`LinkCard::json_ld`] (escaped for a script element) do: that HTML is the post's body rendered and sanitised by
//! posts-service (with the `post-render` crate) when the post was written.

use askama::Template;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

use posts_api::Post;

use crate::pages::link_card::LinkCard;
use crate::slug::{is_valid_slug, post_path, tag_path};

/// What every page's frame (header, navigation, flash) needs.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub blog_title: String,
    /// The `<title>` and heading context of this page.
    pub page_title: String,
    /// The content-hashed stylesheet URL.
    pub stylesheet: &'static str,
    /// Whether the admin is logged in (shows write links and the logout button).
    pub admin: bool,
    /// The session's CSRF token for the logout form; empty when not logged in.
    pub csrf_token: String,
    /// A message from the previous request ("New entry was successfully posted").
    pub flash: Option<String>,
}

/// A moment shown to people and to machines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateView {
    /// For `<time datetime>` and the feed.
    pub iso: String,
    /// "24 November 2026".
    pub human: String,
}

impl DateView {
    pub fn new(moment: OffsetDateTime) -> DateView {
        let human_format = format_description!("[day padding:none] [month repr:long] [year]");
        DateView {
            iso: moment.format(&Rfc3339).unwrap_or_default(),
            human: moment.format(&human_format).unwrap_or_default(),
        }
    }
}

/// A tag on a post: its name, and its page when posts-service sent its slug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagLink {
    /// As the author first spelled it.
    pub name: String,
    /// `/tags/{slug}`.
    pub href: Option<String>,
}

impl TagLink {
    /// The tags `names` with their `slugs` (in the same order); a tag without a valid
    /// slug (an older posts-service sends none) is shown without a link.
    pub fn all(names: &[String], slugs: &[String]) -> Vec<TagLink> {
        names
            .iter()
            .enumerate()
            .map(|(at, name)| TagLink {
                name: name.clone(),
                href: slugs
                    .get(at)
                    .filter(|slug| is_valid_slug(slug))
                    .map(|slug| tag_path(slug)),
            })
            .collect()
    }
}

/// A post in a list: title, date, tags and its teaser (stored by posts-service).
#[derive(Debug, Clone)]
pub struct PostSummary {
    pub id: u64,
    /// The post's address: `/posts/{slug}`.
    pub href: String,
    pub title: String,
    pub date: DateView,
    pub excerpt: String,
    /// Whether the teaser is shorter than the post.
    pub truncated: bool,
    /// Its tags, linked to their pages.
    pub tags: Vec<TagLink>,
}

impl PostSummary {
    pub fn new(post: &posts_api::PostSummary) -> PostSummary {
        PostSummary {
            id: post.id,
            href: post_path(&post.slug),
            title: post.title.clone(),
            date: DateView::new(post.published_at.unwrap_or(post.created_at)),
            excerpt: post.excerpt.clone(),
            truncated: post.excerpt_truncated,
            tags: TagLink::all(&post.tags, &post.tag_slugs),
        }
    }
}

/// A whole post, its body rendered.
#[derive(Debug, Clone)]
pub struct PostView {
    pub id: u64,
    pub title: String,
    /// When it was (or is to be) published; its creation for a draft never published.
    pub created: DateView,
    /// Its tags, as the author spelled them, linked to their pages.
    pub tags: Vec<TagLink>,
    /// Shown when the post was edited after it was published.
    pub updated: Option<DateView>,
    /// The body as safe HTML, rendered and stored by posts-service when the post was
    /// written.
    pub body_html: String,
}

impl PostView {
    pub fn new(post: &Post) -> PostView {
        let published = post.published_at.unwrap_or(post.created_at);
        PostView {
            id: post.id,
            title: post.title.clone(),
            created: DateView::new(published),
            tags: TagLink::all(&post.tags, &post.tag_slugs),
            updated: (post.version > 1 && post.updated_at > published)
                .then(|| DateView::new(post.updated_at)),
            body_html: post.html.clone(),
        }
    }
}

/// `/`: the newest posts; `/tags/{slug}`: the newest posts with one tag.
#[derive(Template)]
#[template(path = "index.html")]
pub struct IndexPage {
    pub chrome: Chrome,
    pub posts: Vec<PostSummary>,
    /// `/?before=ID` (`/tags/{slug}?before=ID`) when there are older posts.
    pub older_href: Option<String>,
    /// Whether this is a later page (offers a way back to the newest posts).
    pub is_older_page: bool,
    /// The tag a tag's page lists; `None` on the index.
    pub tag: Option<TagHeading>,
}

impl IndexPage {
    /// Where the newest posts of this list are: `/`, or the tag's first page.
    pub fn newest_href(&self) -> String {
        match &self.tag {
            Some(tag) => tag.href.clone(),
            None => "/".to_owned(),
        }
    }
}

/// What a tag's page says about its tag.
#[derive(Debug, Clone)]
pub struct TagHeading {
    /// As first spelled.
    pub name: String,
    /// `/tags/{slug}`.
    pub href: String,
    /// `/tags/{slug}/feed.xml`.
    pub feed_href: String,
}

/// `/search`: the search form, then what became of the query.
#[derive(Template)]
#[template(path = "search.html")]
pub struct SearchView {
    pub chrome: Chrome,
    /// The query as read (normalised); empty for the form alone.
    pub query: String,
    pub outcome: SearchOutcome,
}

/// What the search page says under its form.
#[derive(Debug, Clone)]
pub enum SearchOutcome {
    /// No query: the form alone.
    Form,
    /// Nothing in the query can be searched for: the words set aside, quoted and
    /// separated by commas ([`quoted_list`]).
    NothingSearchable(String),
    /// A page of results, perhaps empty.
    Results(SearchResults),
    /// posts-service cannot search now (503).
    Busy,
    /// The client's address is over `SEARCH_PER_MINUTE` (429).
    TooMany,
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct SearchResults {
    pub posts: Vec<PostSummary>,
    /// This page's number, from 1.
    pub page: u32,
    /// The words set aside, as [`quoted_list`] writes them; empty when none.
    pub ignored: String,
    /// The next page, when it has results.
    pub more_href: Option<String>,
    /// The page before, from page 2 on.
    pub earlier_href: Option<String>,
    /// The first page.
    pub first_href: String,
}

/// Words as a reader reads them in a sentence: `“a”, “to”, “of”`.
pub fn quoted_list(words: &[String]) -> String {
    words
        .iter()
        .map(|word| format!("“{word}”"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `/posts/{id}`.
#[derive(Template)]
#[template(path = "post.html")]
pub struct PostPage {
    pub chrome: Chrome,
    pub post: PostView,
    /// The head tags for search engines and link previews.
    pub card: LinkCard,
    /// "Draft" or "Scheduled", for a signed-in admin looking at a post readers cannot see.
    pub banner: Option<StatusBanner>,
}

/// Why readers cannot see this post (yet).
#[derive(Debug, Clone)]
pub struct StatusBanner {
    /// "Draft" or "Scheduled".
    pub label: &'static str,
    /// The sentence under it.
    pub message: String,
}

/// What is wrong with a submitted form, by field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors {
    pub title: Option<String>,
    pub body: Option<String>,
    pub slug: Option<String>,
    pub tags: Option<String>,
    pub status: Option<String>,
    pub published_at: Option<String>,
    /// A problem not tied to one field.
    pub form: Option<String>,
}

impl FieldErrors {
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.body.is_none()
            && self.slug.is_none()
            && self.tags.is_none()
            && self.status.is_none()
            && self.published_at.is_none()
            && self.form.is_none()
    }
}

/// The saved post an edit collided with.
#[derive(Debug, Clone)]
pub struct ConflictView {
    pub title: String,
    pub body: String,
    pub updated: DateView,
}

/// `/add` and `/edit/{id}`: the post form.
#[derive(Template)]
#[template(path = "editor.html")]
pub struct EditorPage {
    pub chrome: Chrome,
    /// "New post" or "Edit post".
    pub heading: &'static str,
    /// Where the form posts to.
    pub action: String,
    /// Where "Cancel" goes.
    pub cancel_href: String,
    pub csrf_token: String,
    pub title: String,
    pub body: String,
    /// The slug as typed; empty lets posts-service make one from the title.
    pub slug: String,
    /// The tags, comma-separated.
    pub tags: String,
    /// Whether "Draft" is chosen (else "Published").
    pub draft: bool,
    /// The publish time as typed, `YYYY-MM-DDTHH:MM` in the blog's zone.
    pub published_at: String,
    /// The publish time the edit form was loaded with: unchanged, it is not sent.
    pub published_at_was: Option<String>,
    /// `BLOG_TIMEZONE`, named next to the publish time.
    pub zone: String,
    /// The version the form was loaded with (edits only).
    pub version: Option<u32>,
    /// The idempotency key of a new post's form (sent as `Idempotency-Key`).
    pub idempotency_key: Option<String>,
    pub errors: FieldErrors,
    pub conflict: Option<ConflictView>,
}

/// One row of `/admin`.
#[derive(Debug, Clone)]
pub struct AdminRow {
    pub title: String,
    /// The post's page (drafts and scheduled posts show there to the admin).
    pub href: String,
    pub edit_href: String,
    /// "Draft", "Scheduled" or "Published".
    pub status: &'static str,
    /// The author's name, or "—".
    pub author: String,
    /// The publish time (the last change for a draft), in the blog's zone.
    pub date: String,
}

/// `/admin`: the posts the signed-in user may edit, drafts and scheduled ones first.
#[derive(Template)]
#[template(path = "admin.html")]
pub struct AdminPage {
    pub chrome: Chrome,
    pub rows: Vec<AdminRow>,
    /// `/admin?before=ID` when there are older published posts.
    pub older_href: Option<String>,
    /// The blog's zone, named under the table.
    pub zone: String,
}

/// `/delete/{id}`: "are you sure?".
#[derive(Template)]
#[template(path = "delete.html")]
pub struct DeletePage {
    pub chrome: Chrome,
    pub id: u64,
    pub title: String,
    pub version: u32,
    pub csrf_token: String,
    /// Why the page is shown again (the post changed meanwhile).
    pub notice: Option<String>,
}

/// `/login`.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub chrome: Chrome,
    pub username: String,
    /// Where to go after logging in (a local path).
    pub next: String,
    pub csrf_token: String,
    pub error: Option<String>,
}

/// Any error: 404, 403, 503 and the rest.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub chrome: Chrome,
    pub status: u16,
    pub heading: String,
    pub message: String,
}

/// One post in the Atom feed.
#[derive(Debug, Clone)]
pub struct FeedEntry {
    pub title: String,
    /// The entry's id: the post's id-based URL, which never changes with its slug.
    pub id: String,
    pub url: String,
    pub published: String,
    pub updated: String,
    /// Sanitized HTML; the template escapes it once more as XML text.
    pub content_html: String,
    /// The post's author's name; without one, the feed's author (the blog) stands.
    pub author: Option<String>,
    /// The post's tags, each an Atom category.
    pub categories: Vec<FeedCategory>,
}

/// A tag as an Atom `<category>`: `term` is its slug, `label` its name; `scheme` (the
/// tag pages' address before the slug) is the feed's base URL and `/tags/`.
#[derive(Debug, Clone)]
pub struct FeedCategory {
    pub term: String,
    pub label: String,
}

/// `/feed.xml`.
#[derive(Template)]
#[template(path = "feed.xml")]
pub struct FeedDocument {
    pub blog_title: String,
    /// The feed's title: the blog's, or the blog's and the tag's.
    pub title: String,
    pub base_url: String,
    /// The page the feed follows, after `base_url`: `/` or `/tags/{slug}`.
    pub path: String,
    /// The feed's own address, after `base_url`.
    pub self_path: String,
    pub updated: String,
    pub entries: Vec<FeedEntry>,
}

/// Renders a template; a failure is a bug (askama checked the template when compiling).
pub fn render(template: &impl Template) -> Result<String, askama::Error> {
    template.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn chrome(admin: bool) -> Chrome {
        Chrome {
            blog_title: "Blog".into(),
            page_title: "Home".into(),
            stylesheet: "/static/style.css",
            admin,
            csrf_token: if admin { "tok".into() } else { String::new() },
            flash: Some("<b>hi</b>".into()),
        }
    }

    #[test]
    fn dates_read_naturally() {
        let date = DateView::new(datetime!(2026-11-04 10:00 UTC));
        assert_eq!(date.human, "4 November 2026");
        assert_eq!(date.iso, "2026-11-04T10:00:00Z");
    }

    #[test]
    fn values_are_escaped() {
        let page = IndexPage {
            chrome: chrome(false),
            posts: vec![PostSummary {
                id: 1,
                href: "/posts/x".into(),
                title: "<script>alert(1)</script>".into(),
                date: DateView::new(datetime!(2026-11-04 10:00 UTC)),
                excerpt: "\"quoted\" & <tag>".into(),
                truncated: false,
                tags: TagLink::all(&["<i>".to_owned()], &["i".to_owned()]),
            }],
            older_href: None,
            is_older_page: false,
            tag: Some(TagHeading {
                name: "<u>".into(),
                href: "/tags/u".into(),
                feed_href: "/tags/u/feed.xml".into(),
            }),
        };
        let html = page.render().unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&#60;script&#62;"), "{html}");
        assert!(!html.contains("<b>hi</b>"), "{html}");
        assert!(!html.contains("<i>") && !html.contains("<u>"), "{html}");
        assert!(html.contains(r#"href="/tags/i""#), "{html}");
    }

    #[test]
    fn tags_link_to_their_pages_when_their_slugs_are_known() {
        let names = ["Rust".to_owned(), "Web".to_owned(), "Old".to_owned()];
        let slugs = ["rust".to_owned(), "Not a slug".to_owned()];
        assert_eq!(
            TagLink::all(&names, &slugs),
            [
                TagLink {
                    name: "Rust".into(),
                    href: Some("/tags/rust".into())
                },
                TagLink {
                    name: "Web".into(),
                    href: None
                },
                TagLink {
                    name: "Old".into(),
                    href: None
                },
            ]
        );
    }

    #[test]
    fn the_search_page_escapes_the_query_and_the_ignored_words() {
        let page = SearchView {
            chrome: chrome(false),
            query: "<script>alert(1)</script> \"x\"".into(),
            outcome: SearchOutcome::NothingSearchable(quoted_list(&["<b>".to_owned()])),
        };
        let html = page.render().unwrap();
        assert!(
            !html.contains("<script>alert") && !html.contains("<b>"),
            "{html}"
        );
        assert!(
            html.contains(r#"value="&#60;script&#62;alert(1)&#60;/script&#62; &#34;x&#34;""#),
            "{html}"
        );
        assert!(html.contains("Not searched: “&#60;b&#62;”"), "{html}");
    }

    #[test]
    fn every_page_has_the_search_box() {
        let page = IndexPage {
            chrome: chrome(false),
            posts: vec![],
            older_href: None,
            is_older_page: false,
            tag: None,
        };
        let html = page.render().unwrap();
        assert!(
            html.contains(
                r#"<form class="site-search" method="get" action="/search" role="search">"#
            ),
            "{html}"
        );
        assert!(html.contains(r#"name="q""#), "{html}");
    }

    #[test]
    fn write_links_only_for_the_admin() {
        let page = |admin| IndexPage {
            chrome: chrome(admin),
            posts: vec![],
            older_href: None,
            is_older_page: false,
            tag: None,
        };
        let anonymous = page(false).render().unwrap();
        assert!(!anonymous.contains("/add"), "{anonymous}");
        assert!(anonymous.contains("/login"), "{anonymous}");
        let admin = page(true).render().unwrap();
        assert!(admin.contains("/add"), "{admin}");
        assert!(admin.contains("/logout"), "{admin}");
    }
}
