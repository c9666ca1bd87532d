//! How a call reaches posts-service: [`Transport`], one pooled `reqwest` client with a
//! connect timeout and a whole-request timeout (over TLS for an `https` URL, trusting
//! only the CAs of `POSTS_CA_FILE` and checking the host name), the API token, the
//! forwarded `X-Request-Id` and W3C `traceparent`, the circuit breaker every call passes
//! (and tells how it went, or that it is slow), and the metrics, log line and (when
//! traces are exported) client span each call leaves.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use prometheus::Registry;
use reqwest::{header, Method, RequestBuilder, StatusCode, Url};
use service_runtime::request_id::{self, RequestId};
use service_runtime::traces;
use tracing::{Instrument, Span};

use super::error::{error_with_causes, field_errors_of_problem, ClientError, UpstreamError};
use super::metrics::UpstreamMetrics;
use super::outcome::Outcome;
use crate::circuit::CircuitBreaker;
use crate::config::Config;

/// The HTTP side of [`super::PostsClient`], shared by its clones.
pub(super) struct Transport {
    http: reqwest::Client,
    base: Url,
    bearer: String,
    breaker: Arc<CircuitBreaker>,
    metrics: UpstreamMetrics,
}

impl Transport {
    /// Builds the HTTP client from the configuration and registers its metrics (and the
    /// breaker's) in `registry`.
    pub(super) fn new(config: &Config, registry: &Registry) -> Result<Transport, ClientError> {
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
        let mut http = reqwest::Client::builder();
        if let Some(ca_file) = &config.posts_ca_file {
            http = http.tls_certs_only(trusted_cas(ca_file)?);
        }
        let http = http
            .connect_timeout(config.connect_timeout())
            .timeout(config.request_timeout())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("render-service/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Transport {
            http,
            base,
            bearer: format!("Bearer {}", config.posts_api_token.expose()),
            breaker: Arc::new(
                CircuitBreaker::new(config.circuit(), registry)?
                    .counting_slow_calls_after(slow_call_threshold(config)),
            ),
            metrics: UpstreamMetrics::register(registry)?,
        })
    }

    /// The breaker every call passes.
    pub(super) fn breaker(&self) -> &Arc<CircuitBreaker> {
        &self.breaker
    }

    /// The URL of the path `segments` under `POSTS_SERVICE_URL` (each segment escaped,
    /// the base's own path prefix kept).
    pub(super) fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// `/v1/posts/{id}`.
    pub(super) fn post_endpoint(&self, id: u64) -> Url {
        self.endpoint(&["v1", "posts", &id.to_string()])
    }

    /// A GET of the public API, which needs no token.
    pub(super) fn public_get(&self, url: Url) -> RequestBuilder {
        self.http.get(url)
    }

    /// A request carrying the API token: every write and every internal call.
    pub(super) fn with_api_token(&self, method: Method, url: Url) -> RequestBuilder {
        self.http
            .request(method, url)
            .header(header::AUTHORIZATION, &self.bearer)
    }

    /// Sends `request` with the request id, reads the whole answer (within the client's
    /// timeout), turns the statuses every operation shares (412, 422) into errors, hands
    /// the rest to `read_answer`, and records the outcome.
    pub(super) async fn send<T>(
        &self,
        operation: &'static str,
        request: RequestBuilder,
        request_id: &RequestId,
        read_answer: impl FnOnce(StatusCode, &Bytes) -> Result<T, UpstreamError>,
    ) -> Result<T, UpstreamError> {
        self.send_with_outcome(operation, request, request_id, read_answer)
            .await
            .0
    }

    /// [`Transport::send`] for a call that posts-service bounds itself, in time and in
    /// number (search): it is not judged slow when it crosses the slow-call threshold,
    /// since a search that takes long is no sign of posts-service failing, and counting
    /// it would let searches open the circuit for every page. Its answer (or its
    /// timeout) still judges it.
    pub(super) async fn send_unhurried<T>(
        &self,
        operation: &'static str,
        request: RequestBuilder,
        request_id: &RequestId,
        read_answer: impl FnOnce(StatusCode, &Bytes) -> Result<T, UpstreamError>,
    ) -> Result<T, UpstreamError> {
        self.traced(operation, request, request_id, read_answer, Slow::Ignored)
            .await
            .0
    }

    /// [`Transport::send`], also telling the [`Outcome`] (a create decides on it whether
    /// to send again). The call is made only when the circuit breaker lets it, else it
    /// fails at once; the outcome then tells the breaker whether posts-service failed,
    /// unless the breaker already counted the call as a failure for being slow.
    pub(super) async fn send_with_outcome<T>(
        &self,
        operation: &'static str,
        request: RequestBuilder,
        request_id: &RequestId,
        read_answer: impl FnOnce(StatusCode, &Bytes) -> Result<T, UpstreamError>,
    ) -> (Result<T, UpstreamError>, Outcome) {
        self.traced(operation, request, request_id, read_answer, Slow::Counts)
            .await
    }

    /// A call within its client span (when traces are exported).
    async fn traced<T>(
        &self,
        operation: &'static str,
        request: RequestBuilder,
        request_id: &RequestId,
        read_answer: impl FnOnce(StatusCode, &Bytes) -> Result<T, UpstreamError>,
        slow: Slow,
    ) -> (Result<T, UpstreamError>, Outcome) {
        let span = if traces::exporting() {
            tracing::info_span!(
                "posts-service call",
                otel.kind = "client",
                otel.name = operation,
                operation,
                server.address = self.base.host_str().unwrap_or_default(),
            )
        } else {
            Span::none()
        };
        let (result, outcome) = self
            .call(operation, request, request_id, read_answer, slow)
            .instrument(span.clone())
            .await;
        // A 404, 412 or 422 is an answer; no answer, or a 5xx, fails the call.
        if matches!(result, Err(UpstreamError::Unavailable { .. })) {
            traces::failed(&span, outcome.as_str());
        }
        (result, outcome)
    }

    /// [`Transport::send_with_outcome`] within the call's span.
    async fn call<T>(
        &self,
        operation: &'static str,
        request: RequestBuilder,
        request_id: &RequestId,
        read_answer: impl FnOnce(StatusCode, &Bytes) -> Result<T, UpstreamError>,
        slow: Slow,
    ) -> (Result<T, UpstreamError>, Outcome) {
        let Some(permit) = self.breaker.admit() else {
            traces::attribute("circuit_breaker.state", "open");
            self.metrics
                .record(operation, Outcome::CircuitOpen, Duration::ZERO);
            tracing::debug!(operation, "posts-service call not made: circuit open");
            let cause = "the circuit breaker is open: posts-service kept failing".to_owned();
            return (
                Err(UpstreamError::Unavailable { operation, cause }),
                Outcome::CircuitOpen,
            );
        };
        let started = Instant::now();
        let exchange = async {
            let response = request
                .header(request_id::HEADER, request_id.as_str())
                .header(
                    traces::TRACEPARENT,
                    traces::traceparent_for_call(request_id.trace()),
                )
                .send()
                .await?;
            let status = response.status();
            traces::attribute("http.response.status_code", i64::from(status.as_u16()));
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, body))
        };
        let (answer, permit) = match slow {
            Slow::Counts => permit.watch(exchange).await,
            Slow::Ignored => (exchange.await, Some(permit)),
        };
        let (result, outcome) = match answer {
            Ok((status, body)) => {
                // 404 is not shared: only the operations on one post read it as "no
                // such post"; for the others it means a misrouted URL, an outage.
                let result = match status {
                    StatusCode::PRECONDITION_FAILED => Err(UpstreamError::Stale),
                    StatusCode::UNPROCESSABLE_ENTITY => {
                        Err(UpstreamError::Invalid(field_errors_of_problem(&body)))
                    }
                    _ => read_answer(status, &body),
                };
                let outcome = Outcome::of_answer(status, &result);
                (result, outcome)
            }
            Err(err) => {
                let outcome = Outcome::of_transport_error(&err);
                let cause = error_with_causes(&err);
                (
                    Err(UpstreamError::Unavailable { operation, cause }),
                    outcome,
                )
            }
        };
        match permit {
            Some(permit) if outcome.counts_against_posts_service() => permit.failed(),
            Some(permit) => permit.succeeded(),
            // Judged slow while it ran: its answer counts for nothing.
            None => {}
        }
        self.metrics.record(operation, outcome, started.elapsed());
        if let Err(UpstreamError::Unavailable { operation, cause }) = &result {
            tracing::warn!(
                operation,
                outcome = outcome.as_str(),
                cause = %cause,
                "posts-service call failed"
            );
        }
        (result, outcome)
    }
}

/// Whether a call still unanswered at the slow-call threshold counts as a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slow {
    /// It does (every call but search).
    Counts,
    /// Only its answer or its timeout judges it.
    Ignored,
}

/// The CA certificates of `POSTS_CA_FILE`, each checked to be usable as a trust anchor.
fn trusted_cas(ca_file: &std::path::Path) -> Result<Vec<reqwest::Certificate>, ClientError> {
    const VARIABLE: &str = "POSTS_CA_FILE";
    service_runtime::tls::root_store(VARIABLE, ca_file)?;
    service_runtime::tls::certificates(VARIABLE, ca_file)?
        .iter()
        .map(|cert| reqwest::Certificate::from_der(cert.as_ref()).map_err(ClientError::from))
        .collect()
}

/// How long a call may go unanswered before the breaker counts it as a failure: the
/// time a reader with a last good copy waits for a page (`PAGE_CACHE_STALE_AFTER_MS`),
/// since past it readers get stale copies anyway. With the page cache off, readers wait
/// for every page, so no call is slow: only its timeout fails it.
fn slow_call_threshold(config: &Config) -> Duration {
    let cache = config.page_cache();
    if cache.ttl.is_zero() {
        Duration::ZERO
    } else {
        cache.stale_after
    }
}

#[cfg(test)]
mod tests {
    use super::super::PostsClient;
    use super::*;
    use crate::circuit::CircuitState;

    fn transport(url: &str) -> Transport {
        let config = Config::new(url, "token", "admin", "pw", "s".repeat(32));
        Transport::new(&config, &Registry::new()).unwrap()
    }

    /// A configuration whose posts-service is a local port nothing listens on.
    fn config_of_a_closed_port() -> Config {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        Config::new(
            format!("http://127.0.0.1:{port}"),
            "token",
            "admin",
            "pw",
            "s".repeat(32),
        )
    }

    #[test]
    fn urls_keep_a_path_prefix() {
        let transport = transport("http://posts:8081/api");
        assert_eq!(
            transport.post_endpoint(7).as_str(),
            "http://posts:8081/api/v1/posts/7"
        );
        let transport = self::transport("http://posts:8081");
        assert_eq!(
            transport.endpoint(&["readyz"]).as_str(),
            "http://posts:8081/readyz"
        );
    }

    #[tokio::test]
    async fn closed_port_is_unavailable_and_counted() {
        let registry = Registry::new();
        let config = config_of_a_closed_port();
        let client = PostsClient::new(&config, &registry).unwrap();
        let err = client.find("1", &RequestId::generate()).await.unwrap_err();
        assert!(matches!(err, UpstreamError::Unavailable { .. }), "{err:?}");
        let metrics = service_runtime::metrics::encode(&registry);
        assert!(
            metrics.contains(r#"operation="get_post",outcome="unreachable""#),
            "{metrics}"
        );
    }

    #[tokio::test]
    async fn a_failing_posts_service_opens_the_circuit_and_calls_fail_at_once() {
        let registry = Registry::new();
        let mut config = config_of_a_closed_port();
        config.posts_circuit_failures = 2;
        config.posts_circuit_open_ms = 60_000;
        let client = PostsClient::new(&config, &registry).unwrap();
        let request_id = RequestId::generate();
        for _ in 0..2 {
            assert!(client.find("1", &request_id).await.is_err());
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

    #[tokio::test]
    async fn a_frozen_posts_service_opens_the_circuit_at_the_stale_budget_not_the_timeout() {
        // A posts-service that takes connections and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let frozen = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let mut config = Config::new(url, "token", "admin", "pw", "s".repeat(32));
        config.posts_circuit_failures = 2;
        config.posts_request_timeout_ms = 30_000;
        config.page_cache_stale_after_ms = 100;
        let client = PostsClient::new(&config, &Registry::new()).unwrap();
        let started = Instant::now();
        let calls: Vec<_> = (1..=2)
            .map(|id| {
                let client = client.clone();
                tokio::spawn(
                    async move { client.find(&id.to_string(), &RequestId::generate()).await },
                )
            })
            .collect();
        while client.circuit_state() != CircuitState::Open {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the breaker waited for the calls' timeout"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert!(
            calls.iter().all(|call| !call.is_finished()),
            "still waiting"
        );
        for call in calls {
            call.abort();
        }
        frozen.abort();
    }

    /// A posts-service that answers every request with `status` after `delay`.
    async fn posts_service_answering(status: u16, delay: Duration) -> String {
        use warp::Filter;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let route = warp::any().then(move || async move {
            tokio::time::sleep(delay).await;
            let body = r#"{"query":"rust","terms":["rust"],"ignored":[],"posts":[],"page":1,"has_more":false}"#;
            warp::http::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(body.to_owned())
                .unwrap()
        });
        tokio::spawn(warp::serve(route).incoming(listener).run());
        url
    }

    #[tokio::test]
    async fn busy_or_slow_searches_never_open_the_circuit() {
        let registry = Registry::new();
        let url = posts_service_answering(503, Duration::ZERO).await;
        let mut config = Config::new(url, "token", "admin", "pw", "s".repeat(32));
        config.posts_circuit_failures = 2;
        let client = PostsClient::new(&config, &registry).unwrap();
        for _ in 0..5 {
            let err = client
                .search("rust", 1, &RequestId::generate())
                .await
                .unwrap_err();
            assert!(matches!(err, UpstreamError::Busy { .. }), "{err:?}");
        }
        assert_eq!(client.circuit_state(), CircuitState::Closed);
        let metrics = service_runtime::metrics::encode(&registry);
        assert!(
            metrics.contains(r#"operation="search",outcome="busy",upstream="posts-service"} 5"#),
            "{metrics}"
        );
        // Any other call's 503 is posts-service failing.
        for _ in 0..2 {
            assert!(client.find("1", &RequestId::generate()).await.is_err());
        }
        assert_eq!(client.circuit_state(), CircuitState::Open);

        // Searches answered past the slow-call threshold (but within the timeout).
        let url = posts_service_answering(200, Duration::from_millis(150)).await;
        let mut config = Config::new(url, "token", "admin", "pw", "s".repeat(32));
        config.posts_circuit_failures = 2;
        config.page_cache_stale_after_ms = 50;
        let client = PostsClient::new(&config, &Registry::new()).unwrap();
        for _ in 0..3 {
            let page = client.search("rust", 1, &RequestId::generate()).await;
            assert_eq!(page.unwrap().terms, ["rust"]);
        }
        assert_eq!(client.circuit_state(), CircuitState::Closed);
        assert!(!client.circuit().failing());
    }

    #[test]
    fn calls_are_slow_past_the_stale_budget_only_with_the_page_cache_on() {
        let mut config = config_of_a_closed_port();
        config.page_cache_stale_after_ms = 250;
        assert_eq!(slow_call_threshold(&config), Duration::from_millis(250));
        config.page_cache_ttl_ms = 0;
        assert_eq!(slow_call_threshold(&config), Duration::ZERO);
    }
}
