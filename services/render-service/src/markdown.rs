//! Post bodies are CommonMark: [`to_html`] renders one for a page or the feed, and
//! [`excerpt`] gives the plain-text teaser the index shows.
//!
//! CommonMark lets raw HTML through, so a body with raw HTML is rendered to HTML and
//! then cleaned by ammonia's allow-list before it reaches a page: no `<script>`,
//! `<style>` or `<iframe>`, no `on*` event handler, no `javascript:` (or other non-web)
//! URL survives. Links get `rel="noopener noreferrer nofollow"`.
//!
//! Most bodies have no raw HTML, and for them re-parsing the HTML (html5ever, inside
//! ammonia) is most of the cost of a page. Those take the [`fast`] path instead: safe
//! HTML written straight from the Markdown events, byte for byte what ammonia would
//! have made of them (`differential_tests` checks that). Any body the fast path is not
//! sure of takes the full path.

use std::hash::Hasher;
use std::sync::{Arc, LazyLock};

use pulldown_cmark::{Event, Parser, Tag, TagEnd};
use siphasher::sip128::{Hasher128, SipHasher13};

#[cfg(test)]
mod differential_tests;
mod fast;
mod policy;

static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder
        .url_schemes(policy::URL_SCHEMES.into_iter().collect())
        .link_rel(Some(policy::LINK_REL));
    builder
});

/// The post body as safe HTML.
///
/// Rendering and sanitising are most of what a page that misses the page cache costs,
/// and a body changes only when its post is edited, so the result is kept in [`MEMO`]
/// (keyed by the body itself, so an edited body is rendered afresh).
pub fn to_html(markdown: &str) -> String {
    let key = MEMO.key(markdown, 0);
    if let Some(Rendered::Html(html)) = MEMO.cache.get(&key) {
        return html.to_string();
    }
    let html = render_html(markdown);
    MEMO.cache.insert(key, Rendered::Html(html.as_str().into()));
    html
}

/// The fast path when it applies, else the full path.
fn render_html(markdown: &str) -> String {
    fast::render(markdown).unwrap_or_else(|| render_and_clean(markdown))
}

/// The full path: pulldown-cmark's HTML, cleaned by ammonia.
fn render_and_clean(markdown: &str) -> String {
    let parser = policy::parser(markdown);
    let mut unsafe_html = String::with_capacity(markdown.len() + markdown.len() / 2);
    pulldown_cmark::html::push_html(&mut unsafe_html, parser);
    SANITIZER.clean(&unsafe_html).to_string()
}

/// A teaser: the opening prose of the body as plain text (markup and raw HTML dropped,
/// whitespace collapsed). Whole paragraphs and list items are taken while they fit in
/// `max_chars` characters, stopping at the first heading or code block after some text;
/// an opening paragraph longer than that is cut at a word, with an ellipsis. The second
/// value tells whether anything of the body was left out.
///
/// Only as much of the body is read as the teaser needs, and the result is kept in
/// [`MEMO`] like [`to_html`]'s.
pub fn excerpt(markdown: &str, max_chars: usize) -> (String, bool) {
    let key = MEMO.key(markdown, max_chars + 1);
    if let Some(Rendered::Excerpt(text, left_out)) = MEMO.cache.get(&key) {
        return (text.to_string(), left_out);
    }
    let (text, left_out) = make_excerpt(markdown, max_chars);
    MEMO.cache
        .insert(key, Rendered::Excerpt(text.as_str().into(), left_out));
    (text, left_out)
}

fn make_excerpt(markdown: &str, max_chars: usize) -> (String, bool) {
    let mut teaser = String::new();
    let mut teaser_chars = 0;
    // Headings and code blocks passed before any prose; the first of them is the
    // teaser when there is no prose at all.
    let mut skipped = 0;
    let mut first_skipped = None;
    for block in Blocks::new(markdown).take(MAX_BLOCKS) {
        let length = block.text.chars().count();
        match block.kind {
            BlockKind::Heading | BlockKind::Code if teaser.is_empty() => {
                skipped += 1;
                first_skipped.get_or_insert(block);
            }
            // A heading or code block after some text ends the teaser.
            BlockKind::Heading | BlockKind::Code => return (teaser, true),
            BlockKind::Prose if teaser.is_empty() && length > max_chars => {
                return (cut_at_word(&block.text, max_chars), true);
            }
            BlockKind::Prose => {
                let needed = if teaser.is_empty() {
                    length
                } else {
                    length + 1
                };
                if teaser_chars + needed > max_chars {
                    return (teaser, true);
                }
                if !teaser.is_empty() {
                    teaser.push(' ');
                }
                teaser.push_str(&block.text);
                teaser_chars += needed;
            }
        }
    }
    match first_skipped {
        // No prose at all (only headings or code): show the first thing there is.
        Some(first) if teaser.is_empty() => (cut_at_word(&first.text, max_chars), skipped > 1),
        _ => (teaser, skipped > 0),
    }
}

/// Rendered bodies and teasers, by body: what [`to_html`] and [`excerpt`] made before.
///
/// Bounded to [`MEMO_BYTES`] of text (least recently used first out), so a crawler
/// walking every post cannot grow it. Keys are a 128-bit SipHash-1-3 of the body (one
/// pass) plus its length; the hash's key is random per process, so nobody can craft two
/// bodies that share a key.
static MEMO: LazyLock<Memo> = LazyLock::new(|| Memo {
    cache: moka::sync::Cache::builder()
        .max_capacity(MEMO_BYTES)
        .weigher(|_, rendered: &Rendered| rendered.weight())
        .build(),
    hash_key: random_hash_key(),
});

/// 128 random bits for the memo's hash.
fn random_hash_key() -> [u8; 16] {
    let mut key = [0; 16];
    getrandom::fill(&mut key).expect("the operating system's random source is available");
    key
}

/// The memo's budget, in bytes of rendered text (plus a fixed charge per entry).
pub const MEMO_BYTES: u64 = 8 * 1024 * 1024;

struct Memo {
    cache: moka::sync::Cache<MemoKey, Rendered>,
    hash_key: [u8; 16],
}

/// Which body, and what was made of it: 0 for HTML, `max_chars + 1` for a teaser.
type MemoKey = (u128, usize, usize);

impl Memo {
    fn key(&self, markdown: &str, what: usize) -> MemoKey {
        let mut hasher = SipHasher13::new_with_key(&self.hash_key);
        hasher.write(markdown.as_bytes());
        (hasher.finish128().as_u128(), markdown.len(), what)
    }
}

#[derive(Clone)]
enum Rendered {
    Html(Arc<str>),
    Excerpt(Arc<str>, bool),
}

impl Rendered {
    fn weight(&self) -> u32 {
        let text = match self {
            Rendered::Html(text) | Rendered::Excerpt(text, _) => text.len(),
        };
        u32::try_from(text + 96).unwrap_or(u32::MAX)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Prose,
    Heading,
    Code,
}

/// A top-level piece of text: a paragraph, list item, heading or code block.
#[derive(Debug)]
struct Block {
    kind: BlockKind,
    text: String,
}

/// Reads at most this many blocks: a teaser never needs more.
const MAX_BLOCKS: usize = 64;

/// The blocks of a body, in order, read from the Markdown only as far as asked for.
struct Blocks<'a> {
    events: Parser<'a>,
    text: String,
    kind: BlockKind,
    /// Inside inline `<script>`/`<style>`: their content is code, not prose.
    hidden: bool,
}

impl<'a> Blocks<'a> {
    fn new(markdown: &'a str) -> Blocks<'a> {
        Blocks {
            events: policy::parser(markdown),
            text: String::new(),
            kind: BlockKind::Prose,
            hidden: false,
        }
    }
}

impl Iterator for Blocks<'_> {
    type Item = Block;

    fn next(&mut self) -> Option<Block> {
        for event in self.events.by_ref() {
            match event {
                Event::Start(tag) if self.text.trim().is_empty() => {
                    self.kind = match tag {
                        Tag::Heading { .. } => BlockKind::Heading,
                        Tag::CodeBlock(_) => BlockKind::Code,
                        _ => self.kind,
                    };
                }
                Event::InlineHtml(tag) => {
                    let tag = tag.to_ascii_lowercase();
                    if tag.starts_with("<script") || tag.starts_with("<style") {
                        self.hidden = true;
                    } else if tag.starts_with("</script") || tag.starts_with("</style") {
                        self.hidden = false;
                    }
                }
                Event::Text(_) | Event::Code(_) if self.hidden => {}
                Event::Text(chunk) | Event::Code(chunk) => self.text.push_str(&chunk),
                Event::SoftBreak | Event::HardBreak => self.text.push(' '),
                Event::End(
                    TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::Item | TagEnd::CodeBlock,
                ) => {
                    let collapsed = self.text.split_whitespace().collect::<Vec<_>>().join(" ");
                    self.text.clear();
                    let kind = std::mem::replace(&mut self.kind, BlockKind::Prose);
                    if !collapsed.is_empty() {
                        return Some(Block {
                            kind,
                            text: collapsed,
                        });
                    }
                }
                _ => {}
            }
        }
        None
    }
}

/// `text` cut to at most `max_chars` characters at a word boundary, plus "…".
fn cut_at_word(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let mut cut = String::new();
    for word in text.split(' ') {
        let needed = if cut.is_empty() { 0 } else { 1 } + word.chars().count();
        if cut.chars().count() + needed > max_chars {
            break;
        }
        if !cut.is_empty() {
            cut.push(' ');
        }
        cut.push_str(word);
    }
    if cut.is_empty() {
        // One enormous word: cut inside it.
        cut = text.chars().take(max_chars).collect();
    }
    let cut = cut.trim_end_matches([',', ';', ':', '.', '-']);
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commonmark_is_rendered() {
        let html = to_html("# Hello\n\nSome *emphasis* and `code`.\n\n- one\n- two\n");
        assert!(html.contains("<h1>Hello</h1>"), "{html}");
        assert!(html.contains("<em>emphasis</em>"), "{html}");
        assert!(html.contains("<code>code</code>"), "{html}");
        assert!(html.contains("<li>one</li>"), "{html}");
    }

    #[test]
    fn script_tags_do_not_survive() {
        let html = to_html("Hi <script>alert(1)</script>\n\n<script>\nalert(2)\n</script>\n");
        assert!(!html.to_lowercase().contains("<script"), "{html}");
        assert!(!html.contains("alert("), "{html}");
    }

    #[test]
    fn event_handlers_do_not_survive() {
        let html =
            to_html(r#"<img src="x.png" onerror="alert(1)"> <a href="/" onclick="x()">a</a>"#);
        assert!(!html.contains("onerror"), "{html}");
        assert!(!html.contains("onclick"), "{html}");
    }

    #[test]
    fn javascript_urls_do_not_survive() {
        for markdown in [
            "[click](javascript:alert(1))",
            "<a href=\"javascript:alert(1)\">click</a>",
            "<a href=\"JaVaScRiPt:alert(1)\">click</a>",
            "[click](  javascript:alert(1) )",
            "![img](javascript:alert(1))",
        ] {
            let html = to_html(markdown);
            assert!(
                !html.to_lowercase().contains("javascript:"),
                "{markdown} → {html}"
            );
        }
    }

    #[test]
    fn ordinary_links_are_kept_with_a_safe_rel() {
        let html = to_html("[docs](https://example.org/a?b=c)");
        assert!(
            html.contains(r#"href="https://example.org/a?b=c""#),
            "{html}"
        );
        assert!(html.contains("noopener"), "{html}");
    }

    #[test]
    fn excerpt_is_plain_text() {
        let (text, cut) = excerpt("Some **bold** text <b>raw</b>.\n\n- item `code`", 200);
        assert_eq!(text, "Some bold text raw. item code");
        assert!(!cut);
    }

    #[test]
    fn excerpt_stops_at_the_first_heading_after_some_text() {
        let (text, cut) = excerpt("# Title\n\nIntro.\n\n## Part two\n\nMore.", 200);
        assert_eq!(text, "Intro.");
        assert!(cut);
    }

    #[test]
    fn excerpt_takes_whole_paragraphs_that_fit() {
        let (text, cut) = excerpt("One two.\n\nThree four five.", 12);
        assert_eq!(text, "One two.");
        assert!(cut);
    }

    #[test]
    fn excerpt_of_only_code_shows_the_code() {
        let (text, _) = excerpt("```\nfn main() {}\n```\n", 200);
        assert_eq!(text, "fn main() {}");
    }

    #[test]
    fn long_excerpt_is_cut_at_a_word() {
        let body = "word ".repeat(100);
        let (text, cut) = excerpt(&body, 22);
        assert!(cut);
        assert_eq!(text, "word word word word…");
        let (text, cut) = excerpt(&"x".repeat(50), 10);
        assert!(cut);
        assert_eq!(text, format!("{}…", "x".repeat(10)));
    }

    #[test]
    fn excerpt_leaves_out_inline_scripts() {
        let (text, _) = excerpt("Hi <script>alert(1)</script> there", 100);
        assert_eq!(text, "Hi there");
    }

    #[test]
    fn a_kept_rendering_is_the_rendering_and_an_edit_renders_again() {
        let body = "Kept *once* <script>alert(1)</script>";
        let first = to_html(body);
        assert_eq!(first, render_html(body));
        assert_eq!(to_html(body), first);
        let edited = to_html("Kept *twice*");
        assert!(edited.contains("<em>twice</em>"), "{edited}");
        assert_eq!(excerpt(body, 200), make_excerpt(body, 200));
        assert_eq!(excerpt(body, 200), excerpt(body, 200));
        // The same body with another length is another teaser.
        assert_eq!(excerpt("one two three", 8), ("one two…".to_owned(), true));
        assert_eq!(
            excerpt("one two three", 80),
            ("one two three".to_owned(), false)
        );
    }

    #[test]
    fn the_memo_stays_within_its_budget() {
        for n in 0..3000 {
            to_html(&format!("{n} {}", "filler text ".repeat(400)));
        }
        MEMO.cache.run_pending_tasks();
        assert!(MEMO.cache.weighted_size() <= MEMO_BYTES);
        assert!(
            MEMO.cache.entry_count() > 0,
            "the memo still keeps renderings"
        );
    }

    #[test]
    fn excerpt_counts_characters_not_bytes() {
        let (text, cut) = excerpt("äöü äöü", 7);
        assert_eq!(text, "äöü äöü");
        assert!(!cut);
    }
}
