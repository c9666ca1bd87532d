//! The teaser the index shows, and the plain text search reads: the body's prose with
//! markup and raw HTML dropped and whitespace collapsed.

use pulldown_cmark::{Event, Parser, Tag, TagEnd};

use crate::policy;

/// A teaser: the opening prose of the body as plain text. Whole paragraphs and list
/// items are taken while they fit in `max_chars` characters, stopping at the first
/// heading or code block after some text; an opening paragraph longer than that is cut
/// at a word, with an ellipsis. The second value tells whether anything of the body was
/// left out. Only as much of the body is read as the teaser needs.
pub fn excerpt(markdown: &str, max_chars: usize) -> (String, bool) {
    make_excerpt(markdown, max_chars)
}

/// Every block of the body (paragraphs, list items, headings, code) as plain text, one
/// line each: what full-text search indexes.
pub fn plain_text(markdown: &str) -> String {
    let mut text = String::with_capacity(markdown.len());
    for block in Blocks::new(markdown) {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&block.text);
    }
    text
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

/// A teaser reads at most this many blocks: a teaser never needs more.
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
