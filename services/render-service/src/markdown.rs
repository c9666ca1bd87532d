//! Post bodies are CommonMark: [`to_html`] renders one for a page or the feed, and
//! [`excerpt`] gives the plain-text teaser the index shows.
//!
//! CommonMark lets raw HTML through, so the rendered HTML is always cleaned by ammonia's
//! allow-list before it reaches a page: no `<script>`, `<style>` or `<iframe>`, no `on*`
//! event handler, no `javascript:` (or other non-web) URL survives. Links get
//! `rel="noopener noreferrer nofollow"`.

use std::sync::LazyLock;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .link_rel(Some("noopener noreferrer nofollow"));
    builder
});

/// The post body as safe HTML.
pub fn to_html(markdown: &str) -> String {
    let parser = Parser::new_ext(markdown, Options::empty());
    let mut unsafe_html = String::with_capacity(markdown.len() + markdown.len() / 2);
    pulldown_cmark::html::push_html(&mut unsafe_html, parser);
    SANITIZER.clean(&unsafe_html).to_string()
}

/// A teaser: the opening prose of the body as plain text (markup and raw HTML dropped,
/// whitespace collapsed). Whole paragraphs and list items are taken while they fit in
/// `max_chars` characters, stopping at the first heading or code block after some text;
/// an opening paragraph longer than that is cut at a word, with an ellipsis. The second
/// value tells whether anything of the body was left out.
pub fn excerpt(markdown: &str, max_chars: usize) -> (String, bool) {
    let blocks = blocks(markdown);
    let mut teaser = String::new();
    let mut taken = 0;
    for block in &blocks {
        let length = block.text.chars().count();
        match block.kind {
            BlockKind::Heading | BlockKind::Code if teaser.is_empty() => {}
            BlockKind::Heading | BlockKind::Code => break,
            BlockKind::Prose if teaser.is_empty() && length > max_chars => {
                return (cut_at_word(&block.text, max_chars), true);
            }
            BlockKind::Prose => {
                let needed = if teaser.is_empty() {
                    length
                } else {
                    length + 1
                };
                if teaser.chars().count() + needed > max_chars {
                    break;
                }
                if !teaser.is_empty() {
                    teaser.push(' ');
                }
                teaser.push_str(&block.text);
            }
        }
        taken += 1;
    }
    let left_out = taken < blocks.len()
        || blocks
            .iter()
            .any(|block| block.kind != BlockKind::Prose && !teaser.is_empty());
    if teaser.is_empty() {
        // No prose at all (only headings or code): show the first thing there is.
        return match blocks.first() {
            Some(first) => (cut_at_word(&first.text, max_chars), blocks.len() > 1),
            None => (String::new(), false),
        };
    }
    (teaser, left_out)
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

fn blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut text = String::new();
    let mut kind = BlockKind::Prose;
    // Inside inline `<script>`/`<style>`: their content is code, not prose.
    let mut hidden = false;
    for event in Parser::new_ext(markdown, Options::empty()) {
        match event {
            Event::Start(tag) if text.trim().is_empty() => {
                kind = match tag {
                    Tag::Heading { .. } => BlockKind::Heading,
                    Tag::CodeBlock(_) => BlockKind::Code,
                    _ => kind,
                };
            }
            Event::InlineHtml(tag) => {
                let tag = tag.to_ascii_lowercase();
                if tag.starts_with("<script") || tag.starts_with("<style") {
                    hidden = true;
                } else if tag.starts_with("</script") || tag.starts_with("</style") {
                    hidden = false;
                }
            }
            Event::Text(_) | Event::Code(_) if hidden => {}
            Event::Text(chunk) | Event::Code(chunk) => text.push_str(&chunk),
            Event::SoftBreak | Event::HardBreak => text.push(' '),
            Event::End(
                TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::Item | TagEnd::CodeBlock,
            ) => {
                let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
                text.clear();
                if !collapsed.is_empty() {
                    blocks.push(Block {
                        kind,
                        text: collapsed,
                    });
                    if blocks.len() >= MAX_BLOCKS {
                        break;
                    }
                }
                kind = BlockKind::Prose;
            }
            _ => {}
        }
    }
    blocks
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
    fn excerpt_counts_characters_not_bytes() {
        let (text, cut) = excerpt("äöü äöü", 7);
        assert_eq!(text, "äöü äöü");
        assert!(!cut);
    }
}
