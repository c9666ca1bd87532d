//! The body as safe HTML.
//!
//! CommonMark lets raw HTML through, so a body with raw HTML is rendered to HTML and
//! then cleaned by ammonia's allow-list: no `<script>`, `<style>` or `<iframe>`, no
//! `on*` event handler, no `javascript:` (or other non-web) URL survives. Links get
//! `rel="noopener noreferrer nofollow"`.
//!
//! Most bodies have no raw HTML, and for them re-parsing the HTML (html5ever, inside
//! ammonia) is most of the cost. Those take the [`fast`] path instead: safe HTML
//! written straight from the Markdown events, byte for byte what ammonia would have
//! made of them (`differential_tests` checks that). Any body the fast path is not sure
//! of takes the full path.

use std::sync::LazyLock;

use crate::{fast, policy};

static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder
        .url_schemes(policy::URL_SCHEMES.into_iter().collect())
        .link_rel(Some(policy::LINK_REL));
    builder
});

/// The post body as safe HTML: the fast path when it applies, else the full path.
pub fn to_html(markdown: &str) -> String {
    fast::render(markdown).unwrap_or_else(|| render_and_clean(markdown))
}

/// The full path: pulldown-cmark's HTML, cleaned by ammonia.
pub(crate) fn render_and_clean(markdown: &str) -> String {
    let parser = policy::parser(markdown);
    let mut unsafe_html = String::with_capacity(markdown.len() + markdown.len() / 2);
    pulldown_cmark::html::push_html(&mut unsafe_html, parser);
    SANITIZER.clean(&unsafe_html).to_string()
}

/// `text` as HTML text: the fallback for a body the renderer could not handle.
pub(crate) fn escaped_pre(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str("<pre>");
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out.push_str("</pre>");
    out
}
