//! How a post's Markdown body becomes what readers see: safe HTML for the post page and
//! feed, a plain-text teaser for lists, and the plain text that search indexes.
//!
//! posts-service renders a body once, when the post is written, and stores the result
//! with [`VERSION`]; readers' pages never parse Markdown. A change to these rules (the
//! parser's options, the sanitiser's allow-list, the teaser's length, the fast path)
//! must bump [`VERSION`]: posts-service then re-renders stored posts in the background.
//!
//! Rendering never fails: a body the renderer cannot handle (it panicked) comes out as
//! its own text, escaped, in a `<pre>`. Nothing it returns holds a character XML
//! forbids ([`xml_text`]), so any of it can go into the Atom feed.

use std::panic::{catch_unwind, AssertUnwindSafe};

#[cfg(test)]
mod differential_tests;
mod excerpt;
mod fast;
mod html;
mod policy;
pub mod xml_text;

pub use excerpt::{excerpt, plain_text};
pub use html::to_html;

/// The version of these rules. Bump it with any change to what [`render`] returns.
pub const VERSION: u16 = 1;

/// Characters of body text in a teaser.
pub const EXCERPT_CHARS: usize = 280;

/// What a body renders to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Safe HTML for the post page and the feed.
    pub html: String,
    /// The teaser: the opening prose, at most [`EXCERPT_CHARS`] characters.
    pub excerpt: String,
    /// Whether the teaser leaves some of the body out.
    pub excerpt_truncated: bool,
    /// All of the body's text, without markup: what search indexes.
    pub plain_text: String,
}

/// Renders `markdown` with the current rules ([`VERSION`]).
pub fn render(markdown: &str) -> Rendered {
    let rendered = catch_unwind(AssertUnwindSafe(|| {
        let (excerpt, excerpt_truncated) = excerpt(markdown, EXCERPT_CHARS);
        Rendered {
            html: to_html(markdown),
            excerpt,
            excerpt_truncated,
            plain_text: plain_text(markdown),
        }
    }))
    .unwrap_or_else(|_| unrendered(markdown));
    Rendered {
        html: xml_text::replace_forbidden(&rendered.html).into_owned(),
        excerpt: xml_text::replace_forbidden(&rendered.excerpt).into_owned(),
        excerpt_truncated: rendered.excerpt_truncated,
        plain_text: xml_text::replace_forbidden(&rendered.plain_text).into_owned(),
    }
}

/// Only the teaser of [`render`] (the same text and flag), for a list that needs no
/// more.
pub fn teaser(markdown: &str) -> (String, bool) {
    let (text, truncated) = catch_unwind(AssertUnwindSafe(|| excerpt(markdown, EXCERPT_CHARS)))
        .unwrap_or_else(|_| cut_chars(markdown, EXCERPT_CHARS));
    (xml_text::replace_forbidden(&text).into_owned(), truncated)
}

/// The fallback for a body the renderer could not handle: its text, shown as is.
fn unrendered(markdown: &str) -> Rendered {
    let (excerpt, excerpt_truncated) = cut_chars(markdown, EXCERPT_CHARS);
    Rendered {
        html: html::escaped_pre(markdown),
        excerpt,
        excerpt_truncated,
        plain_text: markdown.to_owned(),
    }
}

fn cut_chars(text: &str, max_chars: usize) -> (String, bool) {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match collapsed.char_indices().nth(max_chars) {
        Some((cut, _)) => (format!("{}…", &collapsed[..cut]), true),
        None => (collapsed, false),
    }
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
    fn excerpt_counts_characters_not_bytes() {
        let (text, cut) = excerpt("äöü äöü", 7);
        assert_eq!(text, "äöü äöü");
        assert!(!cut);
    }

    #[test]
    fn render_gives_html_teaser_and_plain_text_together() {
        let rendered = render("# Title\n\nFirst *words* here.\n\n```\nlet x = 1;\n```\n");
        assert!(rendered.html.contains("<em>words</em>"), "{rendered:?}");
        assert_eq!(rendered.excerpt, "First words here.");
        assert!(rendered.excerpt_truncated);
        assert_eq!(rendered.plain_text, "Title\nFirst words here.\nlet x = 1;");
    }

    #[test]
    fn the_teaser_is_the_renderings_teaser() {
        for body in [
            "One *two* &#1; three.\n\n## Four",
            "",
            "```\ncode\n```",
            &"word ".repeat(90),
        ] {
            let rendered = render(body);
            assert_eq!(
                teaser(body),
                (rendered.excerpt, rendered.excerpt_truncated),
                "{body:?}"
            );
        }
    }

    #[test]
    fn plain_text_has_no_markup_and_no_script_content() {
        let text =
            plain_text("A [link](https://x.example) <b>bold</b> <script>evil()</script>\n\n- item");
        assert_eq!(text, "A link bold\nitem");
    }

    #[test]
    fn numeric_references_to_forbidden_characters_never_come_out() {
        for body in [
            "x &#1; y",
            "x &#x1F; y",
            "&#xFFFE;",
            "<b>&#8;</b>",
            "# &#1;",
            "`&#1;`",
            "[a](/&#1;)",
        ] {
            let rendered = render(body);
            for (what, text) in [
                ("html", &rendered.html),
                ("excerpt", &rendered.excerpt),
                ("plain text", &rendered.plain_text),
            ] {
                assert!(
                    text.chars().all(xml_text::allowed),
                    "{body:?}: {what} {text:?}"
                );
            }
        }
    }

    #[test]
    fn the_fallback_shows_the_body_escaped() {
        let fallback = unrendered("<script>x</script> & more");
        assert_eq!(
            fallback.html,
            "<pre>&lt;script&gt;x&lt;/script&gt; &amp; more</pre>"
        );
        assert_eq!(fallback.plain_text, "<script>x</script> & more");
        let (teaser, cut) = cut_chars(&"ä".repeat(300), 280);
        assert!(cut);
        assert_eq!(teaser.chars().count(), 281);
    }
}
