//! Writing answers: a value as a JSON response.
//!
//! Encoded by sonic-rs, which escapes strings 16 bytes at a time: serde_json's
//! byte-at-a-time escaping of a post's 2 KB body was a quarter of the instructions of a
//! `GET /v1/posts/{id}`. The bytes are serde_json's exactly (the tests below check).

use http::header::{HeaderValue, CONTENT_TYPE};
use http::StatusCode;
use serde::Serialize;
use warp::reply::Response;

use crate::error::ApiError;

/// `value` as `application/json` with `status`.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match sonic_rs::to_vec(value) {
        Ok(body) => {
            let mut response = Response::new(body.into());
            *response.status_mut() = status;
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(err) => ApiError::Internal(format!("cannot serialise response: {err}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use http::StatusCode;
    use posts_api::{Post, PostsPage};
    use time::macros::datetime;

    use super::json;

    fn post(id: u64, title: &str, body: &str) -> Post {
        Post {
            id,
            title: title.to_owned(),
            body: body.to_owned(),
            html: format!("<p>{body}</p>"),
            excerpt: body.to_owned(),
            excerpt_truncated: id % 2 == 0,
            created_at: datetime!(2026-12-03 07:59:01.123456 UTC),
            updated_at: datetime!(2026-12-03 08:00:00 UTC),
            version: u32::MAX,
            slug: format!("post-{id}"),
            status: posts_api::PostStatus::Published,
            published_at: Some(datetime!(2026-12-03 07:59:01.123456 UTC)),
            author: Some(posts_api::Author {
                id: 7,
                name: title.to_owned(),
            }),
            tags: vec![title.to_owned(), body.to_owned()],
            tag_slugs: vec![format!("tag-{id}")],
        }
    }

    /// Strings that exercise every escape: each ASCII character alone, the ones JSON
    /// must escape at every offset of the 16- and 32-byte blocks, multi-byte UTF-8 cut
    /// across block ends, and random mixes of them (fixed seed, so every run is the same).
    fn tricky_strings() -> Vec<String> {
        let specials = [
            '"', '\\', '\n', '\r', '\t', '\u{0}', '\u{1f}', '\u{7f}', '/', '<', '\u{2028}', 'é',
            '€', '😀',
        ];
        let mut strings: Vec<String> = (0u8..128)
            .map(|byte| char::from(byte).to_string())
            .collect();
        strings.push(String::new());
        for special in specials {
            for offset in 0..70 {
                strings.push(format!(
                    "{}{special}{}",
                    "a".repeat(offset),
                    "b".repeat(70 - offset)
                ));
            }
        }
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2000 {
            let length = (next() % 300) as usize;
            let text: String = (0..length)
                .map(|_| match next() % 4 {
                    0 => specials[(next() % specials.len() as u64) as usize],
                    1 => char::from_u32((next() % 0x11_0000) as u32).unwrap_or('?'),
                    _ => char::from(b' ' + (next() % 95) as u8),
                })
                .collect();
            strings.push(text);
        }
        strings
    }

    async fn body_of(response: warp::reply::Response) -> Vec<u8> {
        let body = response.into_body();
        http_body_util::BodyExt::collect(body)
            .await
            .unwrap()
            .to_bytes()
            .to_vec()
    }

    #[tokio::test]
    async fn answers_are_byte_for_byte_what_serde_json_writes() {
        let strings = tricky_strings();
        for (index, text) in strings.iter().enumerate() {
            let value = post(index as u64, text, &format!("{text}{text}"));
            let response = json(StatusCode::OK, &value);
            assert_eq!(response.headers()["content-type"], "application/json");
            let ours = body_of(response).await;
            let reference = serde_json::to_vec(&value).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&reference),
                "for the string {text:?}"
            );
            // And what render-service decodes (sonic-rs too) is the post itself.
            assert_eq!(sonic_rs::from_slice::<Post>(&ours).unwrap(), value);
        }
        let page = PostsPage {
            posts: strings
                .iter()
                .take(50)
                .map(|text| post(7, text, text))
                .collect(),
            next_before: Some(7),
            tag: Some(posts_api::Tag {
                slug: "tag-7".to_owned(),
                name: "Tag \"7\"".to_owned(),
            }),
        };
        let ours = body_of(json(StatusCode::OK, &page)).await;
        assert_eq!(ours, serde_json::to_vec(&page).unwrap());
        assert_eq!(sonic_rs::from_slice::<PostsPage>(&ours).unwrap(), page);
    }
}
