//! The fast path of [`crate::html`]: a body without raw HTML, written as safe HTML
//! straight from its Markdown events, with no HTML parser in between.
//!
//! # When it applies
//!
//! Only while every event of the body (the same parser as the full path,
//! [`crate::policy::parser`]) is one this writer knows: paragraphs, headings, block
//! quotes, code blocks, lists, emphasis, strong, links (not nested in links), images, code spans, text,
//! breaks and rules. The first raw HTML event (`Html`, `InlineHtml`) or anything else
//! makes [`render`] give up and return `None`, and the body goes through the full path
//! (pulldown-cmark's HTML, then ammonia) unchanged. So does a body with a NUL character,
//! which html5ever would drop from text but replace in attributes.
//!
//! # Why it is safe
//!
//! - Tags: the writer emits only a fixed set of tags, each as a constant string, all on
//!   ammonia's default allow-list (`p`, `h1`–`h6`, `blockquote`, `pre`, `code`, `ol`,
//!   `ul`, `li`, `em`, `strong`, `a`, `img`, `br`, `hr`). No tag name or attribute name
//!   ever comes from the body.
//! - Text: every piece of body text is escaped (`&`, `<`, `>`, and `"` in attribute
//!   values), so it can only ever be text.
//! - URLs: `href` and `src` pass the same test ammonia applies (`url::Url::parse` of
//!   the value: absolute URLs only with scheme http, https or mailto, relative URLs as
//!   they are); a URL that fails is left out, like ammonia leaves it out.
//! - Attributes: only `href`, `title`, `rel` on links, `src`, `alt`, `title` on images
//!   and `start` (a number) on ordered lists; a code block's `class` (its info string)
//!   is dropped, as ammonia drops it.
//!
//! # Why it is the same HTML
//!
//! The output is byte for byte what the full path produces, which the differential test
//! (`differential_tests.rs`) checks over the XSS corpus, the benchmark's bodies and
//! thousands of generated ones. The writer mirrors pulldown-cmark's `push_html` (the
//! same newlines between blocks), and what html5ever and ammonia then do to it:
//! entities in pulldown-cmark's output decoded, the text re-escaped the way html5ever
//! serialises it (U+00A0 as `&nbsp;`, `<br>` rather than `<br />`), line endings
//! normalised (CR LF and CR become LF), and `rel="noopener noreferrer nofollow"` added
//! last to every link. pulldown-cmark's own escaping of a link destination (percent
//! encoding, see [`push_href_value`]) happens before ammonia sees the URL, so the value
//! tested and written is the escaped one.

use std::fmt::Write as _;

use ammonia::url::{ParseError, Url};
use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, LinkType, Parser, Tag, TagEnd};

use crate::policy::{self, LINK_REL, URL_SCHEMES};

/// `markdown` as safe HTML, identical to the full path's, or `None` when the body
/// has raw HTML (or anything else this writer does not know) and needs the full path.
pub(super) fn render(markdown: &str) -> Option<String> {
    if markdown.contains('\0') {
        return None;
    }
    let mut events = policy::parser(markdown);
    let mut writer = Writer::new(markdown.len());
    while let Some(event) = events.next() {
        writer.event(event, &mut events)?;
    }
    Some(writer.finish())
}

/// The HTML written so far, and what `push_html` would know at this point.
struct Writer {
    out: String,
    /// Whether pulldown-cmark's last write ended with a newline (it decides whether a
    /// block starts with one).
    end_newline: bool,
    /// Inside a link: a link in a link would be rearranged by the HTML parser.
    in_link: bool,
}

impl Writer {
    fn new(markdown_len: usize) -> Writer {
        Writer {
            out: String::with_capacity(markdown_len + markdown_len / 2),
            end_newline: true,
            in_link: false,
        }
    }

    /// Line endings as html5ever normalises them when it reads the HTML.
    fn finish(self) -> String {
        if self.out.contains('\r') {
            self.out.replace("\r\n", "\n").replace('\r', "\n")
        } else {
            self.out
        }
    }

    /// Markup: written as it is.
    fn write(&mut self, markup: &str) {
        self.out.push_str(markup);
        if !markup.is_empty() {
            self.end_newline = markup.ends_with('\n');
        }
    }

    /// The start of a block: on a line of its own, as `push_html` puts it.
    fn write_block(&mut self, markup: &str) {
        if !self.end_newline {
            self.out.push('\n');
        }
        self.write(markup);
    }

    fn event<'a>(&mut self, event: Event<'a>, events: &mut Parser<'a>) -> Option<()> {
        match event {
            Event::Start(tag) => self.start(tag, events)?,
            Event::End(tag) => self.end(tag)?,
            Event::Text(text) => {
                push_escaped(&mut self.out, &text, false);
                self.end_newline = text.ends_with('\n');
            }
            Event::Code(code) => {
                self.write("<code>");
                push_escaped(&mut self.out, &code, false);
                self.write("</code>");
            }
            Event::SoftBreak => self.write("\n"),
            Event::HardBreak => self.write("<br>\n"),
            Event::Rule => self.write_block("<hr>\n"),
            _ => return None,
        }
        Some(())
    }

    fn start<'a>(&mut self, tag: Tag<'a>, events: &mut Parser<'a>) -> Option<()> {
        match tag {
            Tag::Paragraph => self.write_block("<p>"),
            Tag::Heading {
                level,
                id: None,
                classes,
                attrs,
            } if classes.is_empty() && attrs.is_empty() => {
                self.write_block(heading_tags(level).0);
            }
            Tag::BlockQuote(None) => self.write_block("<blockquote>\n"),
            Tag::CodeBlock(CodeBlockKind::Fenced(_) | CodeBlockKind::Indented) => {
                // ammonia drops the `class="language-…"` of a fenced block.
                self.write_block("<pre><code>");
            }
            Tag::List(Some(1)) => self.write_block("<ol>\n"),
            Tag::List(Some(start)) => self.write_block(&format!("<ol start=\"{start}\">\n")),
            Tag::List(None) => self.write_block("<ul>\n"),
            Tag::Item => self.write_block("<li>"),
            Tag::Emphasis => self.write("<em>"),
            Tag::Strong => self.write("<strong>"),
            Tag::Link {
                link_type,
                dest_url,
                title,
                ..
            } if !self.in_link => {
                self.in_link = true;
                self.link(link_type, &dest_url, &title);
            }
            Tag::Image {
                dest_url, title, ..
            } => {
                let alt = alt_text(events)?;
                self.image(&dest_url, &alt, &title);
            }
            _ => return None,
        }
        Some(())
    }

    fn end(&mut self, tag: TagEnd) -> Option<()> {
        match tag {
            TagEnd::Paragraph => self.write("</p>\n"),
            TagEnd::Heading(level) => self.write(heading_tags(level).1),
            TagEnd::BlockQuote(None) => self.write("</blockquote>\n"),
            TagEnd::CodeBlock => self.write("</code></pre>\n"),
            TagEnd::List(true) => self.write("</ol>\n"),
            TagEnd::List(false) => self.write("</ul>\n"),
            TagEnd::Item => self.write("</li>\n"),
            TagEnd::Emphasis => self.write("</em>"),
            TagEnd::Strong => self.write("</strong>"),
            TagEnd::Link => {
                self.in_link = false;
                self.write("</a>");
            }
            _ => return None,
        }
        Some(())
    }

    /// `<a href title rel>`: `href` only if it passes the URL test, `title` only if
    /// there is one.
    fn link(&mut self, link_type: LinkType, dest_url: &str, title: &str) {
        let mut href = String::with_capacity(dest_url.len() + 8);
        if link_type == LinkType::Email {
            href.push_str("mailto:");
        }
        push_href_value(&mut href, dest_url);
        self.out.push_str("<a");
        if url_allowed(&href) {
            self.attribute("href", &href);
        }
        if !title.is_empty() {
            self.attribute("title", title);
        }
        // ammonia adds `rel` after the attributes it kept
        self.attribute("rel", LINK_REL);
        self.write(">");
    }

    /// `<img src alt title>`: `src` only if it passes the URL test, `title` only if
    /// there is one.
    fn image(&mut self, dest_url: &str, alt: &str, title: &str) {
        let mut src = String::with_capacity(dest_url.len());
        push_href_value(&mut src, dest_url);
        self.out.push_str("<img");
        if url_allowed(&src) {
            self.attribute("src", &src);
        }
        self.attribute("alt", alt);
        if !title.is_empty() {
            self.attribute("title", title);
        }
        self.write(">");
    }

    /// ` name="value"`, the value escaped as html5ever escapes attribute values.
    fn attribute(&mut self, name: &str, value: &str) {
        self.out.push(' ');
        self.out.push_str(name);
        self.out.push_str("=\"");
        push_escaped(&mut self.out, value, true);
        self.out.push('"');
    }
}

/// The start and end tags of a heading.
fn heading_tags(level: HeadingLevel) -> (&'static str, &'static str) {
    match level {
        HeadingLevel::H1 => ("<h1>", "</h1>\n"),
        HeadingLevel::H2 => ("<h2>", "</h2>\n"),
        HeadingLevel::H3 => ("<h3>", "</h3>\n"),
        HeadingLevel::H4 => ("<h4>", "</h4>\n"),
        HeadingLevel::H5 => ("<h5>", "</h5>\n"),
        HeadingLevel::H6 => ("<h6>", "</h6>\n"),
    }
}

/// An image's description as plain text, read up to the image's end, as `push_html`
/// writes it into `alt`: the text of everything inside, each break or rule a space.
/// `None` for raw HTML (or anything unknown) inside.
fn alt_text(events: &mut Parser<'_>) -> Option<String> {
    let mut alt = String::new();
    let mut nesting = 0_usize;
    for event in events.by_ref() {
        match event {
            Event::Start(_) => nesting += 1,
            Event::End(_) if nesting == 0 => return Some(alt),
            Event::End(_) => nesting -= 1,
            Event::Text(text) | Event::Code(text) => alt.push_str(&text),
            Event::SoftBreak | Event::HardBreak | Event::Rule => alt.push(' '),
            _ => return None,
        }
    }
    None
}

/// Whether ammonia keeps a URL attribute with this (decoded) value: an absolute URL
/// with one of [`URL_SCHEMES`], or a relative one.
fn url_allowed(value: &str) -> bool {
    match Url::parse(value) {
        Ok(url) => URL_SCHEMES.contains(&url.scheme()),
        Err(error) => error == ParseError::RelativeUrlWithoutBase,
    }
}

/// Bytes pulldown-cmark's `escape_href` leaves as they are (pulldown-cmark-escape
/// 0.11's `HREF_SAFE`): every other byte is percent-encoded, except `&` and `'`, which
/// it writes as entities (`&amp;`, `&#x27;`) that html5ever decodes again.
#[rustfmt::skip]
static HREF_SAFE: [bool; 128] = {
    const O: bool = false;
    const I: bool = true;
    [
        O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,
        O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,
        O, I, O, I, I, I, O, O, I, I, I, I, I, I, I, I,
        I, I, I, I, I, I, I, I, I, I, I, I, O, I, O, I,
        I, I, I, I, I, I, I, I, I, I, I, I, I, I, I, I,
        I, I, I, I, I, I, I, I, I, I, I, O, O, O, I, I,
        O, I, I, I, I, I, I, I, I, I, I, I, I, I, I, I,
        I, I, I, I, I, I, I, I, I, I, I, O, O, O, I, O,
    ]
};

/// The URL ammonia sees for a link destination: pulldown-cmark's `escape_href`
/// output, after html5ever decoded its entities.
fn push_href_value(out: &mut String, url: &str) {
    let mut mark = 0;
    for (i, c) in url.char_indices() {
        let safe = HREF_SAFE.get(c as usize).copied().unwrap_or(false);
        if safe || c == '&' || c == '\'' {
            continue;
        }
        out.push_str(&url[mark..i]);
        mark = i + c.len_utf8();
        for byte in url[i..mark].bytes() {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out.push_str(&url[mark..]);
}

/// `text` escaped as html5ever serialises it: `&`, `<`, `>` and U+00A0 always, and
/// `"` in an attribute value.
///
/// Scans bytes: every byte looked for is ASCII or `0xC2`, which in UTF-8 only ever
/// starts a character (U+00A0 is `C2 A0`), so every cut is at a character boundary.
fn push_escaped(out: &mut String, text: &str, attribute: bool) {
    let bytes = text.as_bytes();
    let mut mark = 0;
    let mut i = 0;
    while i < bytes.len() {
        let (escaped, len) = match bytes[i] {
            b'&' => ("&amp;", 1),
            b'<' => ("&lt;", 1),
            b'>' => ("&gt;", 1),
            b'"' if attribute => ("&quot;", 1),
            0xC2 if bytes.get(i + 1) == Some(&0xA0) => ("&nbsp;", 2),
            _ => {
                i += 1;
                continue;
            }
        };
        out.push_str(&text[mark..i]);
        out.push_str(escaped);
        i += len;
        mark = i;
    }
    out.push_str(&text[mark..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_html_takes_the_full_path() {
        assert_eq!(render("Hi <b>there</b>"), None);
        assert_eq!(render("<div>\nblock\n</div>\n"), None);
        assert_eq!(render("![a <b>b</b>](x.png)"), None);
        assert_eq!(render("nul \0 here"), None);
    }

    #[test]
    fn links_get_rel_and_lose_unsafe_urls() {
        assert_eq!(
            render("[a](https://example.org/?a=1&b='2' \"t\")").unwrap(),
            "<p><a href=\"https://example.org/?a=1&amp;b='2'\" title=\"t\" \
             rel=\"noopener noreferrer nofollow\">a</a></p>\n"
        );
        assert_eq!(
            render("[a](JaVaScRiPt:alert(1))").unwrap(),
            "<p><a rel=\"noopener noreferrer nofollow\">a</a></p>\n"
        );
    }

    #[test]
    fn text_is_escaped_as_html5ever_does() {
        assert_eq!(
            render("a &amp; &lt;b&gt; \"q\" \u{a0}x  \nz").unwrap(),
            "<p>a &amp; &lt;b&gt; \"q\" &nbsp;x<br>\nz</p>\n"
        );
    }

    #[test]
    fn href_value_is_percent_encoded_like_escape_href() {
        let mut value = String::new();
        push_href_value(&mut value, "a b\"<é>&'[x]`");
        assert_eq!(value, "a%20b%22%3C%C3%A9%3E&'%5Bx%5D%60");
    }
}
