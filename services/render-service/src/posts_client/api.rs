//! The calls render-service makes to posts-service, one method of [`PostsClient`] per
//! route of its API: the posts (list, get by id or slug, create, update, delete), search, and
//! the internal session and login-failure routes. Each builds its request, names its operation (the
//! metrics label) and reads the statuses that are its own; a create is also sent again
//! under its `Idempotency-Key` when its first attempt got no answer.

use std::time::Duration;

use bytes::Bytes;
use posts_api::session::{LoginFailure, LoginFailures, NewSession, SessionInfo};
use posts_api::sitemap::{SitemapOutline, SitemapPosts};
use posts_api::{etag, ListStatus, Post, PostInput, PostsPage, SearchPage, SummariesPage};
use reqwest::{header, Method, RequestBuilder, StatusCode};
use service_runtime::request_id::RequestId;

use super::error::UpstreamError;
use super::PostsClient;

/// The header under which posts-service makes one post per key, so a create can be
/// sent again safely.
const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Attempts of a create that got no answer (a timeout, a refused or a broken
/// connection).
const CREATE_ATTEMPTS: u32 = 2;
/// Pause between attempts of a create.
const CREATE_RETRY_PAUSE: Duration = Duration::from_millis(100);

impl PostsClient {
    /// `GET /v1/posts?limit=&before=`: a page of posts, newest first.
    pub async fn list(
        &self,
        limit: u32,
        before: Option<u64>,
        request_id: &RequestId,
    ) -> Result<PostsPage, UpstreamError> {
        const OP: &str = "list_posts";
        let request = self.page_request("posts", limit, before);
        self.send_for_json(OP, request, request_id, StatusCode::OK)
            .await
    }

    /// `GET /v1/post-summaries?limit=&before=`: a page of summaries (no bodies, no
    /// HTML), newest first: what the index shows.
    pub async fn summaries(
        &self,
        limit: u32,
        before: Option<u64>,
        request_id: &RequestId,
    ) -> Result<SummariesPage, UpstreamError> {
        const OP: &str = "list_summaries";
        let request = self.page_request("post-summaries", limit, before);
        self.send_for_json(OP, request, request_id, StatusCode::OK)
            .await
    }

    /// `GET /v1/post-summaries?tag=&limit=&before=`: a page of the summaries of one
    /// tag's posts (a valid slug), as readers see them, naming the tag; an unknown tag
    /// is [`UpstreamError::NotFound`].
    pub async fn tag_summaries(
        &self,
        tag: &str,
        limit: u32,
        before: Option<u64>,
        request_id: &RequestId,
    ) -> Result<SummariesPage, UpstreamError> {
        const OP: &str = "list_tag_summaries";
        let request = self.tag_page_request("post-summaries", tag, limit, before);
        self.send_for_page(OP, request, request_id).await
    }

    /// `GET /v1/posts?tag=&limit=`: the newest posts with one tag, naming the tag, for
    /// its feed; an unknown tag is [`UpstreamError::NotFound`].
    pub async fn tag_list(
        &self,
        tag: &str,
        limit: u32,
        request_id: &RequestId,
    ) -> Result<PostsPage, UpstreamError> {
        const OP: &str = "list_tag_posts";
        let request = self.tag_page_request("posts", tag, limit, None);
        self.send_for_page(OP, request, request_id).await
    }

    /// `GET /v1/{collection}?limit=&before=`: one keyset page.
    fn page_request(&self, collection: &str, limit: u32, before: Option<u64>) -> RequestBuilder {
        self.tag_page_request(collection, "", limit, before)
    }

    /// `GET /v1/{collection}?tag=&limit=&before=`: one keyset page, of one tag's posts
    /// when `tag` is not empty.
    fn tag_page_request(
        &self,
        collection: &str,
        tag: &str,
        limit: u32,
        before: Option<u64>,
    ) -> RequestBuilder {
        let mut url = self.transport.endpoint(&["v1", collection]);
        {
            let mut query = url.query_pairs_mut();
            if !tag.is_empty() {
                query.append_pair("tag", tag);
            }
            query.append_pair("limit", &limit.to_string());
            if let Some(before) = before {
                query.append_pair("before", &before.to_string());
            }
        }
        self.transport.public_get(url)
    }

    /// `GET /v1/sitemap`: how many posts are visible, where each sitemap page of them
    /// starts, and the tags with a visible post.
    pub async fn sitemap_outline(
        &self,
        request_id: &RequestId,
    ) -> Result<SitemapOutline, UpstreamError> {
        const OP: &str = "sitemap_outline";
        let request = self
            .transport
            .public_get(self.transport.endpoint(&["v1", "sitemap"]));
        self.send_for_json(OP, request, request_id, StatusCode::OK)
            .await
    }

    /// `GET /v1/sitemap/posts?after=&through=`: a sitemap page of visible posts, in id order.
    pub async fn sitemap_posts(
        &self,
        after: u64,
        through: Option<u64>,
        request_id: &RequestId,
    ) -> Result<SitemapPosts, UpstreamError> {
        const OP: &str = "sitemap_posts";
        let mut url = self.transport.endpoint(&["v1", "sitemap", "posts"]);
        url.query_pairs_mut()
            .append_pair("after", &after.to_string());
        if let Some(through) = through {
            url.query_pairs_mut()
                .append_pair("through", &through.to_string());
        }
        let request = self.transport.public_get(url);
        self.send_for_json(OP, request, request_id, StatusCode::OK)
            .await
    }

    /// `GET /v1/search?q=&page=`: one page of the visible posts that match `query` (read
    /// by posts-service as [`posts_api::search::normalize`] and
    /// [`posts_api::search::analyse`] read it), best first. A 503 (too many searches at
    /// once, or one that ran past its time limit) is [`UpstreamError::Busy`], which does
    /// not count against posts-service; nor does a search that takes long (see
    /// `Transport::send_unhurried`).
    pub async fn search(
        &self,
        query: &str,
        page: u32,
        request_id: &RequestId,
    ) -> Result<SearchPage, UpstreamError> {
        const OP: &str = "search";
        let mut url = self.transport.endpoint(&["v1", "search"]);
        url.query_pairs_mut()
            .append_pair("q", query)
            .append_pair("page", &page.to_string());
        let request = self.transport.public_get(url);
        self.transport
            .send_unhurried(OP, request, request_id, |status, body| {
                read_search_answer(status, body)
            })
            .await
    }

    /// `GET /v1/posts/{key}` (an id or a slug, current or earlier) as readers see it:
    /// without the API token, so a post that is not visible is [`UpstreamError::NotFound`].
    /// The answer carries the post's current slug.
    pub async fn find(&self, key: &str, request_id: &RequestId) -> Result<Post, UpstreamError> {
        const OP: &str = "get_post";
        let url = self.transport.endpoint(&["v1", "posts", key]);
        let request = self.transport.public_get(url);
        self.send_for_page::<Post>(OP, request, request_id).await
    }

    /// `GET /v1/posts/{key}` with the API token: any post, drafts and scheduled ones
    /// too. Only for a signed-in editor's pages, never for a shared page.
    pub async fn find_any(&self, key: &str, request_id: &RequestId) -> Result<Post, UpstreamError> {
        const OP: &str = "get_any_post";
        let url = self.transport.endpoint(&["v1", "posts", key]);
        let request = self.transport.with_api_token(Method::GET, url);
        self.send_for_page::<Post>(OP, request, request_id).await
    }

    /// `GET /v1/posts/{id}` with the API token: any post, for the edit and delete forms.
    pub async fn get_any(&self, id: u64, request_id: &RequestId) -> Result<Post, UpstreamError> {
        self.find_any(&id.to_string(), request_id).await
    }

    /// `GET /v1/post-summaries?status=&limit=&before=` with the API token: summaries of
    /// the posts in `status` (drafts, scheduled, …), newest first, for `/admin`.
    pub async fn summaries_with_status(
        &self,
        status: ListStatus,
        limit: u32,
        before: Option<u64>,
        request_id: &RequestId,
    ) -> Result<SummariesPage, UpstreamError> {
        const OP: &str = "list_summaries_by_status";
        let mut url = self.transport.endpoint(&["v1", "post-summaries"]);
        {
            let status = match status {
                ListStatus::Draft => "draft",
                ListStatus::Scheduled => "scheduled",
                ListStatus::Published => "published",
                ListStatus::All => "all",
            };
            let mut query = url.query_pairs_mut();
            query.append_pair("status", status);
            query.append_pair("limit", &limit.to_string());
            if let Some(before) = before {
                query.append_pair("before", &before.to_string());
            }
        }
        let request = self.transport.with_api_token(Method::GET, url);
        self.send_for_json(OP, request, request_id, StatusCode::OK)
            .await
    }

    /// `POST /v1/posts` with `Idempotency-Key: <idempotency_key>`: the new post. An
    /// attempt that got no answer (timeout, refused or broken connection) is made once
    /// more with the same key: posts-service makes one post per key and answers a
    /// repeated key with the first result, so the second attempt duplicates nothing.
    pub async fn create(
        &self,
        input: &PostInput,
        idempotency_key: &str,
        request_id: &RequestId,
    ) -> Result<Post, UpstreamError> {
        const OP: &str = "create_post";
        let mut attempts = 0;
        loop {
            attempts += 1;
            let request = self
                .transport
                .with_api_token(Method::POST, self.transport.endpoint(&["v1", "posts"]))
                .header(IDEMPOTENCY_KEY, idempotency_key)
                .json(input);
            let (result, outcome) = self
                .transport
                .send_with_outcome(OP, request, request_id, |status, body| match status {
                    StatusCode::CREATED | StatusCode::OK => decode_json(OP, body),
                    _ => Err(UpstreamError::unexpected_status(OP, status)),
                })
                .await;
            if !outcome.got_no_answer() || attempts >= CREATE_ATTEMPTS {
                return result;
            }
            tracing::info!(
                outcome = outcome.as_str(),
                attempts,
                "create_post: trying again with the same Idempotency-Key"
            );
            tokio::time::sleep(CREATE_RETRY_PAUSE).await;
        }
    }

    /// `PUT /v1/posts/{id}` with `If-Match: "<version>"`: the updated post, or
    /// [`UpstreamError::Stale`] when someone saved a newer version meanwhile.
    pub async fn update(
        &self,
        id: u64,
        version: u32,
        input: &PostInput,
        request_id: &RequestId,
    ) -> Result<Post, UpstreamError> {
        const OP: &str = "update_post";
        let request = self
            .transport
            .with_api_token(Method::PUT, self.transport.post_endpoint(id))
            .header(header::IF_MATCH, etag::of(version))
            .json(input);
        self.send_for_page::<Post>(OP, request, request_id).await
    }

    /// `DELETE /v1/posts/{id}`, with `If-Match` when the caller knows the version it
    /// confirmed, so a post edited since is not deleted unseen.
    pub async fn delete(
        &self,
        id: u64,
        version: Option<u32>,
        request_id: &RequestId,
    ) -> Result<(), UpstreamError> {
        const OP: &str = "delete_post";
        let mut request = self
            .transport
            .with_api_token(Method::DELETE, self.transport.post_endpoint(id));
        if let Some(version) = version {
            request = request.header(header::IF_MATCH, etag::of(version));
        }
        self.transport
            .send(OP, request, request_id, |status, _| match status {
                StatusCode::NO_CONTENT | StatusCode::OK => Ok(()),
                StatusCode::NOT_FOUND => Err(UpstreamError::NotFound),
                _ => Err(UpstreamError::unexpected_status(OP, status)),
            })
            .await
    }

    /// `POST /internal/v1/sessions`: stores a new admin session.
    pub async fn create_session(
        &self,
        session: &NewSession,
        request_id: &RequestId,
    ) -> Result<SessionInfo, UpstreamError> {
        const OP: &str = "create_session";
        let request = self.internal(Method::POST, &["sessions"]).json(session);
        self.send_for_json(OP, request, request_id, StatusCode::CREATED)
            .await
    }

    /// `GET /internal/v1/sessions/{key}`: the session if it is current (which slides
    /// its idle expiry), `None` when it has ended or never was.
    pub async fn touch_session(
        &self,
        key: &str,
        request_id: &RequestId,
    ) -> Result<Option<SessionInfo>, UpstreamError> {
        const OP: &str = "touch_session";
        let request = self.internal(Method::GET, &["sessions", key]);
        self.transport
            .send(OP, request, request_id, |status, body| match status {
                StatusCode::OK => decode_json(OP, body).map(Some),
                StatusCode::NOT_FOUND => Ok(None),
                _ => Err(UpstreamError::unexpected_status(OP, status)),
            })
            .await
    }

    /// `DELETE /internal/v1/sessions/{key}`: ends the session (done when it had ended).
    pub async fn delete_session(
        &self,
        key: &str,
        request_id: &RequestId,
    ) -> Result<(), UpstreamError> {
        const OP: &str = "delete_session";
        let request = self.internal(Method::DELETE, &["sessions", key]);
        self.transport
            .send(OP, request, request_id, |status, _| match status {
                StatusCode::NO_CONTENT | StatusCode::NOT_FOUND => Ok(()),
                _ => Err(UpstreamError::unexpected_status(OP, status)),
            })
            .await
    }

    /// `GET /internal/v1/login-failures?client=`: recent wrong passwords, counted
    /// across every replica.
    pub async fn login_failures(
        &self,
        client: &str,
        request_id: &RequestId,
    ) -> Result<LoginFailures, UpstreamError> {
        const OP: &str = "login_failures";
        let mut url = self
            .transport
            .endpoint(&["internal", "v1", "login-failures"]);
        url.query_pairs_mut().append_pair("client", client);
        let request = self.transport.with_api_token(Method::GET, url);
        self.send_for_json(OP, request, request_id, StatusCode::OK)
            .await
    }

    /// `POST /internal/v1/login-failures`: counts one wrong password from `client`.
    pub async fn record_login_failure(
        &self,
        client: &str,
        request_id: &RequestId,
    ) -> Result<LoginFailures, UpstreamError> {
        const OP: &str = "record_login_failure";
        let request = self
            .internal(Method::POST, &["login-failures"])
            .json(&LoginFailure {
                client: client.to_owned(),
            });
        self.send_for_json(OP, request, request_id, StatusCode::OK)
            .await
    }

    /// A request with the API token to `/internal/v1/<segments>`.
    fn internal(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        let mut url = self.transport.endpoint(&["internal", "v1"]);
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(segments);
        }
        self.transport.with_api_token(method, url)
    }

    /// Sends `request` and decodes the JSON answer of status `expected`; any other
    /// status (but those every operation shares) is unexpected.
    async fn send_for_json<T: serde::de::DeserializeOwned>(
        &self,
        operation: &'static str,
        request: RequestBuilder,
        request_id: &RequestId,
        expected: StatusCode,
    ) -> Result<T, UpstreamError> {
        self.transport
            .send(operation, request, request_id, |status, body| {
                if status == expected {
                    decode_json(operation, body)
                } else {
                    Err(UpstreamError::unexpected_status(operation, status))
                }
            })
            .await
    }

    /// Sends a request for one post, or a page of one tag: `200` is the answer, `404`
    /// (no such post or tag) [`UpstreamError::NotFound`].
    async fn send_for_page<T: serde::de::DeserializeOwned>(
        &self,
        operation: &'static str,
        request: RequestBuilder,
        request_id: &RequestId,
    ) -> Result<T, UpstreamError> {
        self.transport
            .send(
                operation,
                request,
                request_id,
                |status, body| match status {
                    StatusCode::OK => decode_json(operation, body),
                    StatusCode::NOT_FOUND => Err(UpstreamError::NotFound),
                    _ => Err(UpstreamError::unexpected_status(operation, status)),
                },
            )
            .await
    }
}

/// What a search's answer is: 200 the page, 503 busy, anything else unexpected.
fn read_search_answer(status: StatusCode, body: &Bytes) -> Result<SearchPage, UpstreamError> {
    const OP: &str = "search";
    match status {
        StatusCode::OK => decode_json(OP, body),
        StatusCode::SERVICE_UNAVAILABLE => Err(UpstreamError::Busy { operation: OP }),
        _ => Err(UpstreamError::unexpected_status(OP, status)),
    }
}

/// Decodes an answer with sonic-rs, which scans strings (the 2 KB bodies) 16 bytes at a
/// time; serde_json's decoding was a quarter of a cache-off index's instructions.
fn decode_json<T: serde::de::DeserializeOwned>(
    operation: &'static str,
    body: &Bytes,
) -> Result<T, UpstreamError> {
    sonic_rs::from_slice(body).map_err(|err| UpstreamError::Unavailable {
        operation,
        // The first line only: sonic-rs adds the JSON around the error on the next ones.
        cause: format!(
            "unusable JSON in the answer: {}",
            err.to_string().lines().next().unwrap_or_default()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_answer_is_a_page_busy_or_unexpected() {
        let page = br#"{"query":"rust","terms":["rust"],"ignored":[],"posts":[],"page":2,"has_more":true}"#;
        let read = read_search_answer(StatusCode::OK, &Bytes::from_static(page)).unwrap();
        assert_eq!((read.page, read.has_more), (2, true));
        let problem = br#"{"type":"about:blank","title":"Service Unavailable","status":503}"#;
        assert!(matches!(
            read_search_answer(
                StatusCode::SERVICE_UNAVAILABLE,
                &Bytes::from_static(problem)
            ),
            Err(UpstreamError::Busy {
                operation: "search"
            })
        ));
        for status in [StatusCode::BAD_REQUEST, StatusCode::INTERNAL_SERVER_ERROR] {
            assert!(matches!(
                read_search_answer(status, &Bytes::new()),
                Err(UpstreamError::Unavailable { .. })
            ));
        }
    }

    #[test]
    fn answers_that_are_not_usable_json_are_unavailable_with_a_one_line_cause() {
        let post = |title: &[u8]| {
            let mut json = br#"{"posts":[{"id":1,"title":""#.to_vec();
            json.extend_from_slice(title);
            json.extend_from_slice(
                br#"","body":"b","html":"<p>b</p>\n","excerpt":"b","excerpt_truncated":false,"created_at":"2026-12-03T08:00:00Z","updated_at":"2026-12-03T08:00:00Z","version":1,"slug":"p","status":"published","published_at":null,"author":null,"tags":[]}],"next_before":null}"#,
            );
            json
        };
        let page: PostsPage = decode_json("list", &Bytes::from(post(b"caf\xc3\xa9"))).unwrap();
        assert_eq!(page.posts[0].title, "café");
        let bad: [&[u8]; 6] = [
            b"",
            b"{\"posts\":[",
            b"{\"posts\":[],\"next_before\":null} trailing",
            b"{\"posts\":[],\"next_before\":\"seven\"}",
            // The same post with invalid UTF-8 in its title.
            &post(b"caf\xff"),
            // A post from a posts-service too old to send its HTML.
            br#"{"posts":[{"id":1,"title":"t","body":"b","created_at":"2026-12-03T08:00:00Z","updated_at":"2026-12-03T08:00:00Z","version":1}],"next_before":null}"#,
        ];
        for body in bad {
            match decode_json::<PostsPage>("list", &Bytes::copy_from_slice(body)) {
                Err(UpstreamError::Unavailable { operation, cause }) => {
                    assert_eq!(operation, "list");
                    assert!(
                        cause.starts_with("unusable JSON in the answer: "),
                        "{cause}"
                    );
                    assert!(!cause.contains('\n'), "the cause is one line: {cause:?}");
                }
                other => panic!("{body:?} gave {other:?}"),
            }
        }
    }
}
