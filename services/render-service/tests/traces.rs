//! Traces across both services, as an OTLP receiver sees them: this test runs an
//! OTLP/HTTP receiver, posts-service in this process (exporting to the receiver) and
//! render-service as a process of its own (the tracer provider is global to a
//! process), and reads the spans they export.
//!
//! Run with `cargo test -p render-service --test traces`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as OtelStatus;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use test_mariadb::harness::Db;

const API_TOKEN: &str = "traces-test-api-token";
const TITLE: &str = "Traced title qx7";
const BODY: &str = "A body holding secret-value-93b1.";

fn main() -> ExitCode {
    let receiver = Receiver::start();
    // posts-service runs in this process: its spans go to the receiver too.
    let telemetry = service_runtime::telemetry::LogConfig {
        otel_exporter_otlp_endpoint: Some(receiver.url.clone()),
        ..Default::default()
    }
    .init("posts-service");
    assert!(telemetry.is_exporting(), "the exporter is installed");
    let _ = TELEMETRY.set(telemetry);
    test_mariadb::harness::run(test_mariadb::cases![
        a_page_view_is_one_trace_across_both_services,
        a_failed_call_to_posts_service_marks_its_spans_as_errors,
    ])
}

static RECEIVER: OnceLock<Receiver> = OnceLock::new();
static TELEMETRY: OnceLock<service_runtime::telemetry::Telemetry> = OnceLock::new();

/// One exported span and the service that exported it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    span: Span,
}

/// An OTLP/HTTP receiver: takes protobuf `ExportTraceServiceRequest`s on `/v1/traces`.
struct Receiver {
    url: String,
    spans: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start() -> &'static Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let spans: Arc<Mutex<Vec<Received>>> = Arc::default();
        let kept = spans.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                use warp::Filter;
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let route = warp::post()
                    .and(warp::path!("v1" / "traces"))
                    .and(warp::header::exact(
                        "content-type",
                        "application/x-protobuf",
                    ))
                    .and(warp::body::bytes())
                    .map(move |body: Bytes| {
                        let request = ExportTraceServiceRequest::decode(body)
                            .expect("an OTLP protobuf export request");
                        let mut kept = kept.lock().unwrap();
                        for resource_spans in request.resource_spans {
                            let service = resource_spans
                                .resource
                                .iter()
                                .flat_map(|resource| &resource.attributes)
                                .find(|attribute| attribute.key == "service.name")
                                .and_then(|attribute| attribute.value.as_ref())
                                .and_then(|value| match &value.value {
                                    Some(AnyValue::StringValue(name)) => Some(name.clone()),
                                    _ => None,
                                })
                                .unwrap_or_default();
                            for scope in resource_spans.scope_spans {
                                for span in scope.spans {
                                    kept.push(Received {
                                        service: service.clone(),
                                        span,
                                    });
                                }
                            }
                        }
                        warp::reply::with_header(
                            Vec::<u8>::new(),
                            "content-type",
                            "application/x-protobuf",
                        )
                    });
                warp::serve(route).incoming(listener).run().await;
            });
        });
        RECEIVER.get_or_init(|| Receiver { url, spans })
    }

    /// The spans of trace `trace_id` once `done` holds for them (polled, within a
    /// generous bound).
    async fn trace(&self, trace_id: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let spans: Vec<Received> = self
                .spans
                .lock()
                .unwrap()
                .iter()
                .filter(|received| hex(&received.span.trace_id) == trace_id)
                .cloned()
                .collect();
            if done(&spans) {
                return spans;
            }
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "the trace never arrived whole; received: {spans:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn attribute(span: &Span, key: &str) -> Option<AnyValue> {
    span.attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(|attribute| attribute.value.clone())
        .and_then(|value| value.value)
}

fn text(span: &Span, key: &str) -> Option<String> {
    match attribute(span, key)? {
        AnyValue::StringValue(value) => Some(value),
        _ => None,
    }
}

fn number(span: &Span, key: &str) -> Option<i64> {
    match attribute(span, key)? {
        AnyValue::IntValue(value) => Some(value),
        _ => None,
    }
}

fn is_error(span: &Span) -> bool {
    span.status
        .as_ref()
        .is_some_and(|status| status.code == OtelStatus::Error as i32)
}

/// A trace id and caller span id of our own, sent as `traceparent`.
fn traceparent() -> (String, String, String) {
    let trace_id = format!("{:032x}", uuid_like());
    let span_id = format!("{:016x}", uuid_like() as u64 | 1);
    let header = format!("00-{trace_id}-{span_id}-01");
    (trace_id, span_id, header)
}

fn uuid_like() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let state = std::collections::hash_map::RandomState::new();
    let mut high = state.build_hasher();
    high.write_u8(1);
    let mut low = state.build_hasher();
    low.write_u8(2);
    (u128::from(high.finish()) << 64) | u128::from(low.finish()) | 1
}

/// Starts posts-service (in this process) on a fresh database.
async fn spawn_posts_service(db: &Db) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let config = posts_service::Config::new(db.fresh_database().await, API_TOKEN);
    let app = posts_service::Application::build(config)
        .await
        .expect("posts-service starts");
    let addr = app.local_addr();
    let task = tokio::spawn(app.run_until_stopped(std::future::pending()));
    let client = reqwest::Client::new();
    let started = Instant::now();
    while !client
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .is_ok_and(|response| response.status() == 200)
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "posts-service never became ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (addr, task)
}

/// render-service as a process, exporting to the receiver; its log lines are kept.
struct RenderService {
    child: Child,
    url: String,
    logs: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl RenderService {
    async fn start(posts_url: &str) -> RenderService {
        let mut child = Command::new(env!("CARGO_BIN_EXE_render-service"))
            .env_clear()
            .env("POSTS_SERVICE_URL", posts_url)
            .env("POSTS_API_TOKEN", API_TOKEN)
            .env("ADMIN_USER", "admin")
            .env("ADMIN_PASSWORD", "traces-test-password")
            .env(
                "SESSION_SECRET",
                "traces-test-session-secret-0123456789abcdef",
            )
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("METRICS_ADDR", "127.0.0.1:0")
            .env(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                &RECEIVER.get().expect("started in main").url,
            )
            .stderr(Stdio::piped())
            .spawn()
            .expect("render-service starts");
        let logs: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
        let (listening, address) = std::sync::mpsc::channel();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let kept = logs.clone();
        std::thread::spawn(move || {
            for line in stderr.lines() {
                let Ok(line) = line else { break };
                let line: serde_json::Value =
                    serde_json::from_str(&line).expect("every log line is JSON");
                if line["message"] == "render-service listening" {
                    let _ = listening.send(line["addr"].as_str().unwrap().to_owned());
                }
                kept.lock().unwrap().push(line);
            }
        });
        let addr =
            tokio::task::spawn_blocking(move || address.recv_timeout(Duration::from_secs(60)))
                .await
                .unwrap()
                .expect("render-service says where it listens");
        RenderService {
            child,
            url: format!("http://{addr}"),
            logs,
        }
    }

    /// Stops it with SIGTERM and waits for it to exit.
    async fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = tokio::task::block_in_place(|| self.child.wait()).unwrap();
        assert!(exit.success(), "{exit:?}");
    }
}

impl Drop for RenderService {
    fn drop(&mut self) {
        // a failed case still ends the process (after `stop`, it has exited already)
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The one span named `name` of `service` in `spans`.
fn only<'a>(spans: &'a [Received], service: &str, name: &str) -> &'a Span {
    let found: Vec<&Received> = spans
        .iter()
        .filter(|received| received.service == service && received.span.name == name)
        .collect();
    assert_eq!(found.len(), 1, "one {service} span {name:?} in {spans:#?}");
    &found[0].span
}

fn has(spans: &[Received], service: &str, name: &str) -> bool {
    spans
        .iter()
        .any(|received| received.service == service && received.span.name == name)
}

async fn a_page_view_is_one_trace_across_both_services(db: Db) {
    let (posts_addr, posts_task) = spawn_posts_service(&db).await;
    let posts_url = format!("http://{posts_addr}");
    let client = reqwest::Client::new();
    let created: serde_json::Value = client
        .post(format!("{posts_url}/v1/posts"))
        .bearer_auth(API_TOKEN)
        .json(&serde_json::json!({ "title": TITLE, "body": BODY }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let slug = created["slug"]
        .as_str()
        .expect("the new post's slug")
        .to_owned();
    let render = RenderService::start(&posts_url).await;

    let (trace_id, caller_span_id, header) = traceparent();
    let response = client
        .get(format!("{}/posts/{slug}", render.url))
        .header("traceparent", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains(TITLE));

    let spans = Receiver::trace(RECEIVER.get().unwrap(), &trace_id, |spans| {
        has(spans, "render-service", "GET /posts/{slug}")
            && has(spans, "render-service", "get_post")
            && has(spans, "posts-service", "GET /v1/posts/{id}")
            && has(spans, "posts-service", "db get_by_slug")
            && has(spans, "posts-service", "SELECT posts")
    })
    .await;

    // render-service's request span, child of the caller's span
    let page = only(&spans, "render-service", "GET /posts/{slug}");
    assert_eq!(page.kind, SpanKind::Server as i32);
    assert_eq!(hex(&page.parent_span_id), caller_span_id);
    assert_eq!(text(page, "http.route").as_deref(), Some("/posts/{slug}"));
    assert_eq!(text(page, "http.request.method").as_deref(), Some("GET"));
    assert_eq!(number(page, "http.response.status_code"), Some(200));
    assert_eq!(text(page, "page_cache.result").as_deref(), Some("miss"));
    assert!(!is_error(page));

    // its call to posts-service
    let call = only(&spans, "render-service", "get_post");
    assert_eq!(call.kind, SpanKind::Client as i32);
    assert_eq!(call.parent_span_id, page.span_id);
    assert_eq!(number(call, "http.response.status_code"), Some(200));

    // posts-service's request span, child of the call
    let api = only(&spans, "posts-service", "GET /v1/posts/{id}");
    assert_eq!(api.kind, SpanKind::Server as i32);
    assert_eq!(api.parent_span_id, call.span_id);
    assert_eq!(text(api, "http.route").as_deref(), Some("/v1/posts/{id}"));
    assert_eq!(number(api, "http.response.status_code"), Some(200));

    // its database operation, and the operation's statements, without their values
    let operation = only(&spans, "posts-service", "db get_by_slug");
    assert_eq!(operation.parent_span_id, api.span_id);
    let statements: Vec<&Span> = spans
        .iter()
        .filter(|received| received.service == "posts-service")
        .map(|received| &received.span)
        .filter(|span| span.parent_span_id == operation.span_id)
        .collect();
    assert!(!statements.is_empty(), "{spans:#?}");
    for statement in &statements {
        assert_eq!(statement.kind, SpanKind::Client as i32);
        assert_eq!(
            text(statement, "db.system.name").as_deref(),
            Some("mariadb")
        );
    }
    let select = only(&spans, "posts-service", "SELECT posts");
    assert_eq!(select.parent_span_id, operation.span_id);
    assert_eq!(text(select, "db.operation.name").as_deref(), Some("SELECT"));
    assert_eq!(text(select, "db.collection.name").as_deref(), Some("posts"));
    assert_eq!(
        text(select, "db.query.summary").as_deref(),
        Some("SELECT posts")
    );

    // one trace: every span of both services is in it, linked to one of its spans
    let ids: Vec<&Vec<u8>> = spans
        .iter()
        .map(|received| &received.span.span_id)
        .collect();
    for received in &spans {
        let parent = hex(&received.span.parent_span_id);
        assert!(
            parent == caller_span_id || ids.contains(&&received.span.parent_span_id),
            "{} has a parent outside the trace: {received:#?}",
            received.span.name
        );
        // no SQL, no values, no raw path with the id
        let shown: Vec<String> = received
            .span
            .attributes
            .iter()
            .map(|attribute| format!("{:?}", attribute.value))
            .chain([received.span.name.clone()])
            .collect();
        for shown in shown {
            for leaked in [TITLE, "secret-value-93b1", "WHERE", "FROM posts"] {
                assert!(!shown.contains(leaked), "{leaked:?} in {received:#?}");
            }
            assert!(!shown.contains(&format!("/posts/{slug}")), "{received:#?}");
        }
    }

    // render-service's log lines of the request name the trace
    let lines = render.logs.lock().unwrap().clone();
    let completed = lines
        .iter()
        .find(|line| line["message"] == "request completed" && line["route"] == "/posts/{slug}")
        .expect("a log line for the page view");
    assert_eq!(completed["spans"][0]["trace_id"], trace_id.as_str());

    render.stop().await;
    posts_task.abort();
}

async fn a_failed_call_to_posts_service_marks_its_spans_as_errors(_db: Db) {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let render = RenderService::start(&format!("http://{closed}")).await;
    let (trace_id, _, header) = traceparent();
    let response = reqwest::Client::new()
        .get(format!("{}/", render.url))
        .header("traceparent", &header)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_server_error(), "{}", response.status());
    let status = i64::from(response.status().as_u16());

    let is_call = |span: &Span| span.kind == SpanKind::Client as i32;
    let spans = Receiver::trace(RECEIVER.get().unwrap(), &trace_id, |spans| {
        has(spans, "render-service", "GET /") && spans.iter().any(|r| is_call(&r.span))
    })
    .await;
    let page = only(&spans, "render-service", "GET /");
    assert!(is_error(page), "{page:#?}");
    assert_eq!(number(page, "http.response.status_code"), Some(status));
    let calls: Vec<&Span> = spans
        .iter()
        .map(|received| &received.span)
        .filter(|span| is_call(span))
        .collect();
    for call in calls {
        assert!(is_error(call), "{call:#?}");
        assert_eq!(call.parent_span_id, page.span_id);
        assert_eq!(number(call, "http.response.status_code"), None, "no answer");
    }
    assert!(
        spans
            .iter()
            .all(|received| received.service == "render-service"),
        "posts-service was down: {spans:#?}"
    );

    render.stop().await;
}
