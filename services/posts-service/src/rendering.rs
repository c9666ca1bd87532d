//! Rendering a post's body when it is written ([`post_render`]): readers get the stored
//! HTML and teaser, and never pay for Markdown.
//!
//! A body of a few kilobytes renders in tens of microseconds, on the request's own
//! thread; a larger one (up to the 64 KiB limit) goes to the blocking pool so that it
//! cannot hold up the other requests of an async worker thread.

use post_render::Rendered;
use posts_api::PostContent;

/// Bodies larger than this are rendered on the blocking pool.
const INLINE_MAX_BYTES: usize = 8 * 1024;

/// A valid post and what its body renders to, ready to be stored.
#[derive(Debug, Clone)]
pub struct RenderedContent {
    /// The title and body as validated.
    pub content: PostContent,
    /// The body rendered with the current rules ([`post_render::VERSION`]).
    pub rendered: Rendered,
}

/// Renders `content`'s body.
pub async fn render(content: PostContent) -> RenderedContent {
    if content.body.len() <= INLINE_MAX_BYTES {
        let rendered = post_render::render(&content.body);
        return RenderedContent { content, rendered };
    }
    let body = content.body.clone();
    let rendered = tokio::task::spawn_blocking(move || post_render::render(&body))
        .await
        // Only when the runtime is shutting down: render here rather than lose the write.
        .unwrap_or_else(|_| post_render::render(&content.body));
    RenderedContent { content, rendered }
}
