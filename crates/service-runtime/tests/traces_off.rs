//! Traces off (no OTLP endpoint, the default): no exporter exists, and every log line
//! of a request still names its trace, the caller's when it sent a `traceparent`, which
//! calls to other services carry on. (A binary of its own: the subscriber is global.)

use std::io::Write;
use std::sync::{Arc, Mutex};

use http::Method;
use prometheus::Registry;
use service_runtime::metrics::{route, HttpMetrics};
use service_runtime::request_id::{self, RequestId};
use service_runtime::server::{serve, Edge};
use service_runtime::telemetry::LogConfig;
use service_runtime::traces;
use tokio::net::TcpListener;
use warp::Filter;

/// Log lines, written where the test can read them.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<serde_json::Value> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).expect("every log line is JSON"))
            .collect()
    }
}

const CALLER: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

#[tokio::test(flavor = "multi_thread")]
async fn without_an_endpoint_nothing_is_exported_and_log_lines_carry_the_trace_id() {
    let captured = Captured::default();
    let writer = captured.clone();
    let config = LogConfig::default();
    assert_eq!(config.traces_endpoint().unwrap(), None);
    let telemetry = config.init_with_writer("test-service", move || writer.clone());
    assert!(!telemetry.is_exporting(), "no exporter without an endpoint");
    assert!(!traces::exporting());

    // `/call` logs a line and answers the `traceparent` a call made for it would carry
    let call = warp::path!("call")
        .and(route("/call", Method::GET))
        .and(request_id::filter())
        .map(|id: RequestId| {
            tracing::info!("calling on");
            traces::traceparent_for_call(id.trace())
                .to_str()
                .unwrap()
                .to_owned()
        });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = HttpMetrics::register(&Registry::new()).unwrap();
    tokio::spawn(serve(
        listener,
        call,
        metrics,
        Edge::default(),
        std::future::pending(),
    ));
    let client = reqwest::Client::new();

    let forwarded = client
        .get(format!("http://{addr}/call"))
        .header("traceparent", CALLER)
        .header(request_id::HEADER, "with-caller")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        forwarded, CALLER,
        "the caller's trace and span are carried on"
    );

    let started = client
        .get(format!("http://{addr}/call"))
        .header(request_id::HEADER, "without-caller")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let parts: Vec<&str> = started.split('-').collect();
    assert_eq!(parts.len(), 4, "{started}");
    let (new_trace, span, flags) = (parts[1], parts[2], parts[3]);
    assert_eq!(new_trace.len(), 32);
    assert!(new_trace.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(new_trace, "0".repeat(32));
    assert_ne!(span, "0".repeat(16));
    assert_eq!(flags, "00", "a trace nobody records is not sampled");

    let lines = captured.lines();
    for (request, trace_id) in [
        ("with-caller", &CALLER[3..35]),
        ("without-caller", new_trace),
    ] {
        let of_request: Vec<&serde_json::Value> = lines
            .iter()
            .filter(|line| line["spans"][0]["request_id"] == request)
            .collect();
        let messages: Vec<&str> = of_request
            .iter()
            .map(|line| line["message"].as_str().unwrap())
            .collect();
        assert_eq!(messages, ["calling on", "request completed"], "{lines:#?}");
        for line in of_request {
            assert_eq!(line["spans"][0]["trace_id"], trace_id, "{line}");
        }
    }
    telemetry.shutdown().await;
}
