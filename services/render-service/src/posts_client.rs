//! [`PostsClient`]: everything render-service asks of posts-service goes through here.
//!
//! One pooled `reqwest` client with a connect timeout and a whole-request timeout, so a
//! slow or dead posts-service turns into [`UpstreamError::Unavailable`] within a known
//! time instead of a hanging page. Every call forwards the page's `X-Request-Id`, writes
//! and the internal session calls carry the API token, and each call is counted and
//! timed by operation and outcome in the service's Prometheus registry.
//!
//! Every call passes the [`CircuitBreaker`]: while posts-service keeps failing, calls
//! fail at once (outcome `circuit_open`) instead of waiting for the timeout, so pages
//! fall back to their last good copy without delay. A create carries an
//! `Idempotency-Key` and is sent once more with the same key when the first attempt
//! timed out or lost its connection: posts-service answers the first result again
//! rather than making a second post.
//!
//! This type is the seam for a cache of posts: pages only see its methods.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use posts_api::session::{LoginFailure, LoginFailures, NewSession, SessionInfo};
use posts_api::{etag, FieldError, Post, PostInput, PostsPage, Problem};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use reqwest::{header, Method, RequestBuilder, StatusCode, Url};
use service_runtime::request_id::{self, RequestId};

use crate::circuit::{CircuitBreaker, CircuitState};
use crate::config::Config;

/// The header that makes a create safe to retry (SPEC: posts-service API).
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Attempts of a create whose answer was lost (a timeout or a broken connection).
const CREATE_ATTEMPTS: u32 = 2;
/// Pause between attempts of a create, and while posts-service says the same key is
/// still being worked on (409).
const CREATE_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Why a call to posts-service did not give what was asked for.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    /// 404: there is no such post.
    #[error("no such post")]
    NotFound,
    /// 412: the post changed since the version we hold.
    #[error("the post was changed since it was loaded")]
    Stale,
    /// 422: posts-service rejected the title or body (a field error with an empty
    /// `field` is about the post as a whole).
    #[error("posts-service rejected the input")]
    Invalid(Vec<FieldError>),
    /// Unreachable, too slow, failing (5xx) or answering in a way we cannot use.
    #[error("posts-service is unavailable ({operation}): {cause}")]
    Unavailable {
        operation: &'static str,
        cause: String,
    },
}

/// The client. Cheap to clone; clones share the connection pool and metrics.
#[derive(Clone)]
pub struct PostsClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    bearer: String,
    request_timeout: Duration,
    breaker: Arc<CircuitBreaker>,
    metrics: UpstreamMetrics,
}

/// Could not build the client (bad base URL, TLS backend, or duplicate metrics).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("POSTS_SERVICE_URL cannot be used as a base URL: {0}")]
    BaseUrl(String),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("cannot register upstream metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// What an answer from posts-service was, as a metrics label.
type Outcome = &'static str;

impl PostsClient {
    /// Builds the client from the configuration and registers its metrics in `registry`.
    pub fn new(config: &Config, registry: &Registry) -> Result<PostsClient, ClientError> {
        let mut base = Url::parse(&config.posts_service_url)
            .map_err(|err| ClientError::BaseUrl(err.to_string()))?;
        if base.cannot_be_a_base() {
            return Err(ClientError::BaseUrl("not a hierarchical URL".to_owned()));
        }
        // Treat the URL as a directory so a path prefix (`http://host/api`) is kept.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout())
            .timeout(config.request_timeout())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("render-service/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(PostsClient {
            inner: Arc::new(Inner {
                http,
                base,
                bearer: format!("Bearer {}", config.posts_api_token.expose()),
                request_timeout: config.request_timeout(),
                breaker: Arc::new(CircuitBreaker::new(config.circuit(), registry)?),
                metrics: UpstreamMetrics::register(registry)?,
            }),
        })
    }

    /// `GET /v1/posts?limit=&before=`: a page of posts, newest first.
    pub async fn list(
        &self,
        limit: u32,
        before: Option<u64>,
        request_id: &RequestId,
    ) -> Result<PostsPage, UpstreamError> {
        const OP: &str = "list_posts";
        let mut url = self.url(&["v1", "posts"]);
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("limit", &limit.to_string());
            if let Some(before) = before {
                query.append_pair("before", &before.to_string());
            }
        }
        let request = self.inner.http.get(url);
        self.call(OP, request, request_id, |status, body| match status {
            StatusCode::OK => parse_json(OP, body),
            _ => Err(unexpected_status(OP, status)),
        })
        .await
    }

    /// `GET /v1/posts/{id}`.
    pub async fn get(&self, id: u64, request_id: &RequestId) -> Result<Post, UpstreamError> {
        const OP: &str = "get_post";
        let request = self.inner.http.get(self.post_url(id));
        self.call(OP, request, request_id, |status, body| match status {
            StatusCode::OK => parse_json(OP, body),
            StatusCode::NOT_FOUND => Err(UpstreamError::NotFound),
            _ => Err(unexpected_status(OP, status)),
        })
        .await
    }

    /// `POST /v1/posts` with `Idempotency-Key: <idempotency_key>`: the new post. An
    /// attempt whose answer was lost (timeout, broken connection) is made once more with
    /// the same key, and a 409 (the same key still in progress) is asked again until the
    /// request timeout: posts-service makes one post per key, so neither duplicates it.
    pub async fn create(
        &self,
        input: &PostInput,
        idempotency_key: &str,
        request_id: &RequestId,
    ) -> Result<Post, UpstreamError> {
        const OP: &str = "create_post";
        let deadline = Instant::now() + self.inner.request_timeout;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let request = self
                .write(Method::POST, self.url(&["v1", "posts"]))
                .header(IDEMPOTENCY_KEY, idempotency_key)
                .json(input);
            let (result, outcome) = self
                .call_with_outcome(OP, request, request_id, |status, body| match status {
                    StatusCode::CREATED | StatusCode::OK => parse_json(OP, body),
                    _ => Err(unexpected_status(OP, status)),
                })
                .await;
            let again = match outcome {
                "timeout" | "unreachable" | "transport_error" => attempts < CREATE_ATTEMPTS,
                "conflict" => Instant::now() + CREATE_RETRY_PAUSE < deadline,
                _ => false,
            };
            if !again {
                return result;
            }
            tracing::info!(
                outcome,
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
            .write(Method::PUT, self.post_url(id))
            .header(header::IF_MATCH, etag::of(version))
            .json(input);
        self.call(OP, request, request_id, |status, body| match status {
            StatusCode::OK => parse_json(OP, body),
            StatusCode::NOT_FOUND => Err(UpstreamError::NotFound),
            _ => Err(unexpected_status(OP, status)),
        })
        .await
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
        let mut request = self.write(Method::DELETE, self.post_url(id));
        if let Some(version) = version {
            request = request.header(header::IF_MATCH, etag::of(version));
        }
        self.call(OP, request, request_id, |status, _| match status {
            StatusCode::NO_CONTENT | StatusCode::OK => Ok(()),
            StatusCode::NOT_FOUND => Err(UpstreamError::NotFound),
            _ => Err(unexpected_status(OP, status)),
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
        let request = self
            .write(Method::POST, self.url(&["internal", "v1", "sessions"]))
            .json(session);
        self.call(OP, request, request_id, |status, body| match status {
            StatusCode::CREATED => parse_json(OP, body),
            _ => Err(unexpected_status(OP, status)),
        })
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
        let request = self.write(Method::GET, self.url(&["internal", "v1", "sessions", key]));
        self.call(OP, request, request_id, |status, body| match status {
            StatusCode::OK => parse_json(OP, body).map(Some),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(unexpected_status(OP, status)),
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
        let request = self.write(
            Method::DELETE,
            self.url(&["internal", "v1", "sessions", key]),
        );
        self.call(OP, request, request_id, |status, _| match status {
            StatusCode::NO_CONTENT | StatusCode::NOT_FOUND => Ok(()),
            _ => Err(unexpected_status(OP, status)),
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
        let mut url = self.url(&["internal", "v1", "login-failures"]);
        url.query_pairs_mut().append_pair("client", client);
        let request = self.write(Method::GET, url);
        self.call(OP, request, request_id, |status, body| match status {
            StatusCode::OK => parse_json(OP, body),
            _ => Err(unexpected_status(OP, status)),
        })
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
            .write(
                Method::POST,
                self.url(&["internal", "v1", "login-failures"]),
            )
            .json(&LoginFailure {
                client: client.to_owned(),
            });
        self.call(OP, request, request_id, |status, body| match status {
            StatusCode::OK => parse_json(OP, body),
            _ => Err(unexpected_status(OP, status)),
        })
        .await
    }

    /// The circuit breaker's state (what `render_circuit_state` shows).
    pub fn circuit_state(&self) -> CircuitState {
        self.inner.breaker.state()
    }

    /// The circuit breaker, for the page cache to see whether posts-service is failing.
    pub fn circuit(&self) -> Arc<CircuitBreaker> {
        self.inner.breaker.clone()
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    fn post_url(&self, id: u64) -> Url {
        self.url(&["v1", "posts", &id.to_string()])
    }

    fn write(&self, method: Method, url: Url) -> RequestBuilder {
        self.inner
            .http
            .request(method, url)
            .header(header::AUTHORIZATION, &self.inner.bearer)
    }

    /// Sends `request`, reads the whole answer (within the client's timeout), turns the
    /// statuses every operation shares into errors, hands the rest to `on_answer`, and
    /// records the outcome.
    async fn call<T>(
        &self,
        operation: &'static str,
        request: RequestBuilder,
        request_id: &RequestId,
        on_answer: impl FnOnce(StatusCode, &Bytes) -> Result<T, UpstreamError>,
    ) -> Result<T, UpstreamError> {
        self.call_with_outcome(operation, request, request_id, on_answer)
            .await
            .0
    }

    /// [`PostsClient::call`], also telling the outcome (the metrics label). The call is
    /// made only when the circuit breaker lets it; else it fails at once.
    async fn call_with_outcome<T>(
        &self,
        operation: &'static str,
        request: RequestBuilder,
        request_id: &RequestId,
        on_answer: impl FnOnce(StatusCode, &Bytes) -> Result<T, UpstreamError>,
    ) -> (Result<T, UpstreamError>, Outcome) {
        let Some(permit) = self.inner.breaker.admit() else {
            const OUTCOME: Outcome = "circuit_open";
            self.inner
                .metrics
                .observe(operation, OUTCOME, Duration::ZERO);
            tracing::debug!(operation, "posts-service call not made: circuit open");
            let cause = "the circuit breaker is open: posts-service kept failing".to_owned();
            return (
                Err(UpstreamError::Unavailable { operation, cause }),
                OUTCOME,
            );
        };
        let started = Instant::now();
        let exchange = async {
            let response = request
                .header(request_id::HEADER, request_id.as_str())
                .send()
                .await?;
            let status = response.status();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, body))
        };
        let (result, outcome) = match exchange.await {
            Ok((status, body)) => {
                // 404 is not shared: only the operations on one post read it as "no
                // such post"; for the others it means a misrouted URL, an outage.
                let result = match status {
                    StatusCode::PRECONDITION_FAILED => Err(UpstreamError::Stale),
                    StatusCode::UNPROCESSABLE_ENTITY => {
                        Err(UpstreamError::Invalid(field_problems(&body)))
                    }
                    _ => on_answer(status, &body),
                };
                let outcome = outcome_of(status, &result);
                (result, outcome)
            }
            Err(err) => {
                let outcome = if err.is_timeout() {
                    "timeout"
                } else if err.is_connect() {
                    "unreachable"
                } else {
                    "transport_error"
                };
                let cause = describe(&err);
                (
                    Err(UpstreamError::Unavailable { operation, cause }),
                    outcome,
                )
            }
        };
        if counts_against_posts_service(outcome) {
            permit.failed();
        } else {
            permit.succeeded();
        }
        self.inner
            .metrics
            .observe(operation, outcome, started.elapsed());
        if let Err(UpstreamError::Unavailable { operation, cause }) = &result {
            tracing::warn!(operation, outcome, cause = %cause, "posts-service call failed");
        }
        (result, outcome)
    }
}

/// Whether an outcome says posts-service is failing (for the circuit breaker): no
/// answer in time, no connection, or a 5xx. Any other answer shows it working.
fn counts_against_posts_service(outcome: Outcome) -> bool {
    matches!(
        outcome,
        "timeout" | "unreachable" | "transport_error" | "server_error"
    )
}

fn outcome_of<T>(status: StatusCode, result: &Result<T, UpstreamError>) -> Outcome {
    match result {
        Ok(_) => "ok",
        Err(UpstreamError::NotFound) => "not_found",
        Err(UpstreamError::Stale) => "stale",
        Err(UpstreamError::Invalid(_)) => "invalid",
        Err(UpstreamError::Unavailable { .. }) if status.is_server_error() => "server_error",
        Err(UpstreamError::Unavailable { .. }) if status == StatusCode::CONFLICT => "conflict",
        Err(UpstreamError::Unavailable { .. }) if status.is_success() => "bad_response",
        Err(UpstreamError::Unavailable { .. }) => "client_error",
    }
}

/// Decodes an answer with sonic-rs, which scans strings (the 2 KB bodies) 16 bytes at a
/// time; serde_json's decoding was a quarter of a cache-off index's instructions.
fn parse_json<T: serde::de::DeserializeOwned>(
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

fn unexpected_status(operation: &'static str, status: StatusCode) -> UpstreamError {
    let hint = match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => " (check POSTS_API_TOKEN)",
        _ => "",
    };
    UpstreamError::Unavailable {
        operation,
        cause: format!("unexpected status {status}{hint}"),
    }
}

/// The error and its sources in one line (reqwest's top-level message alone hides
/// whether it was a refused connection or a timeout).
fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The field errors of a 422's problem document; a document without them (or that is
/// not one) is a problem with the post as a whole.
fn field_problems(body: &[u8]) -> Vec<FieldError> {
    match serde_json::from_slice::<Problem>(body) {
        Ok(problem) if !problem.errors.is_empty() => problem.errors,
        Ok(problem) => vec![FieldError {
            field: String::new(),
            message: problem.detail,
        }],
        Err(_) => vec![FieldError {
            field: String::new(),
            message: "The post was not accepted.".to_owned(),
        }],
    }
}

/// Counts and latencies of calls to posts-service.
#[derive(Clone)]
struct UpstreamMetrics {
    calls: IntCounterVec,
    latency: HistogramVec,
}

const UPSTREAM_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

impl UpstreamMetrics {
    fn register(registry: &Registry) -> prometheus::Result<Self> {
        let labels = &["operation", "outcome"];
        let calls = IntCounterVec::new(
            Opts::new(
                "upstream_requests_total",
                "Calls from render-service to posts-service, by operation and outcome",
            )
            .const_label("upstream", "posts-service"),
            labels,
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "upstream_request_duration_seconds",
                "Time a call to posts-service took, including reading the answer",
            )
            .const_label("upstream", "posts-service")
            .buckets(UPSTREAM_BUCKETS.to_vec()),
            labels,
        )?;
        registry.register(Box::new(calls.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        Ok(UpstreamMetrics { calls, latency })
    }

    fn observe(&self, operation: &str, outcome: &str, elapsed: Duration) {
        let labels = [operation, outcome];
        self.calls.with_label_values(&labels).inc();
        self.latency
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(url: &str) -> PostsClient {
        let config = Config::new(url, "token", "admin", "pw", "s".repeat(32));
        PostsClient::new(&config, &Registry::new()).unwrap()
    }

    #[test]
    fn urls_keep_a_path_prefix() {
        let client = client("http://posts:8081/api");
        assert_eq!(
            client.post_url(7).as_str(),
            "http://posts:8081/api/v1/posts/7"
        );
        let client = self::client("http://posts:8081");
        assert_eq!(client.url(&["readyz"]).as_str(), "http://posts:8081/readyz");
    }

    #[test]
    fn answers_that_are_not_usable_json_are_unavailable_with_a_one_line_cause() {
        let post = |title: &[u8]| {
            let mut json = br#"{"posts":[{"id":1,"title":""#.to_vec();
            json.extend_from_slice(title);
            json.extend_from_slice(
                br#"","body":"b","created_at":"2026-12-03T08:00:00Z","updated_at":"2026-12-03T08:00:00Z","version":1}],"next_before":null}"#,
            );
            json
        };
        let page: PostsPage = parse_json("list", &Bytes::from(post(b"caf\xc3\xa9"))).unwrap();
        assert_eq!(page.posts[0].title, "café");
        let bad: [&[u8]; 5] = [
            b"",
            b"{\"posts\":[",
            b"{\"posts\":[],\"next_before\":null} trailing",
            b"{\"posts\":[],\"next_before\":\"seven\"}",
            // The same post with invalid UTF-8 in its title.
            &post(b"caf\xff"),
        ];
        for body in bad {
            match parse_json::<PostsPage>("list", &Bytes::copy_from_slice(body)) {
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

    #[test]
    fn problem_errors_list_names_the_fields() {
        let body = br#"{"type":"about:blank","title":"Unprocessable","status":422,
            "detail":"title is invalid","errors":[{"field":"title","message":"too long"}]}"#;
        assert_eq!(
            field_problems(body),
            vec![FieldError {
                field: "title".into(),
                message: "too long".into()
            }]
        );
    }

    #[test]
    fn a_problem_without_field_errors_is_about_the_whole_post() {
        let body = br#"{"type":"about:blank","title":"x","status":422,"detail":"body is over 65535 bytes"}"#;
        assert_eq!(
            field_problems(body),
            vec![FieldError {
                field: String::new(),
                message: "body is over 65535 bytes".into()
            }]
        );
        assert_eq!(field_problems(b"not json")[0].field, "");
    }

    #[tokio::test]
    async fn closed_port_is_unavailable_and_counted() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let registry = Registry::new();
        let config = Config::new(
            format!("http://127.0.0.1:{port}"),
            "token",
            "admin",
            "pw",
            "s".repeat(32),
        );
        let client = PostsClient::new(&config, &registry).unwrap();
        let err = client.get(1, &RequestId::generate()).await.unwrap_err();
        assert!(matches!(err, UpstreamError::Unavailable { .. }), "{err:?}");
        let metrics = service_runtime::metrics::encode(&registry);
        assert!(
            metrics.contains(r#"operation="get_post",outcome="unreachable""#),
            "{metrics}"
        );
    }

    #[tokio::test]
    async fn a_failing_posts_service_opens_the_circuit_and_calls_fail_at_once() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let registry = Registry::new();
        let mut config = Config::new(
            format!("http://127.0.0.1:{port}"),
            "token",
            "admin",
            "pw",
            "s".repeat(32),
        );
        config.posts_circuit_failures = 2;
        config.posts_circuit_open_ms = 60_000;
        let client = PostsClient::new(&config, &registry).unwrap();
        let request_id = RequestId::generate();
        for _ in 0..2 {
            assert!(client.get(1, &request_id).await.is_err());
        }
        assert_eq!(client.circuit_state(), CircuitState::Open);
        let started = Instant::now();
        let err = client.list(10, None, &request_id).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_millis(20));
        assert!(matches!(err, UpstreamError::Unavailable { .. }), "{err:?}");
        let metrics = service_runtime::metrics::encode(&registry);
        assert!(
            metrics.contains(r#"operation="list_posts",outcome="circuit_open""#),
            "{metrics}"
        );
        assert!(metrics.contains("render_circuit_state 1"), "{metrics}");
    }

    #[test]
    fn only_failures_of_posts_service_count_against_it() {
        for outcome in ["timeout", "unreachable", "transport_error", "server_error"] {
            assert!(counts_against_posts_service(outcome), "{outcome}");
        }
        for outcome in [
            "ok",
            "not_found",
            "stale",
            "invalid",
            "client_error",
            "conflict",
        ] {
            assert!(!counts_against_posts_service(outcome), "{outcome}");
        }
    }
}
