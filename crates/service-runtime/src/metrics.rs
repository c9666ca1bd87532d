//! Prometheus metrics for HTTP traffic, and the `/metrics` endpoint's encoder.
//!
//! Every service owns one [`prometheus::Registry`] (not the global default, so several
//! servers can run in one test process). [`HttpMetrics`] registers the request counter
//! and latency histogram in it; services add their own figures (database pool, upstream
//! calls) to the same registry.
//!
//! Route labels come from the router itself: each route names its template and method
//! with [`route`] right after its path filter, and the server loop reads them back from
//! the request ([`RouteSlot`]). A request no route matched is counted as `unmatched`, and
//! a method outside the standard set as `OTHER`, so no label grows with what clients send.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::Method;
use warp::Filter;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Latency buckets in seconds, fine-grained at the low end where these services live.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Request counts and latencies, labelled by method, route template and status.
#[derive(Clone)]
pub struct HttpMetrics {
    requests: IntCounterVec,
    latency: HistogramVec,
}

impl HttpMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let labels = &["method", "route", "status"];
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests served"),
            labels,
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time from receiving a request to having its response ready",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            labels,
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        Ok(HttpMetrics { requests, latency })
    }

    /// Records one served request. `route` is a template such as `/v1/posts/{id}`.
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let status = status.to_string();
        let labels = [method, route, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.latency
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
    }
}

/// What `build_info` says about the running binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildInfo {
    /// The release: the service's `CARGO_PKG_VERSION`.
    pub version: &'static str,
    /// The commit it was built from: the `REVISION` variable at build time (the image
    /// build passes its `REVISION` argument), `unknown` when unset or empty.
    pub revision: &'static str,
}

impl BuildInfo {
    /// The revision as given at build time (`option_env!("REVISION")`), or `unknown`.
    pub fn revision_or_unknown(revision: Option<&'static str>) -> &'static str {
        revision
            .map(str::trim)
            .filter(|revision| !revision.is_empty())
            .unwrap_or("unknown")
    }
}

/// Registers what every service exposes besides its own figures: `build_info` (a gauge
/// that is always 1, labelled with the version and the revision) and, on Linux, the
/// standard `process_*` metrics of the running process (CPU seconds, resident memory,
/// open file descriptors and their limit, start time, threads).
pub fn register_runtime(registry: &Registry, build: BuildInfo) -> prometheus::Result<()> {
    let info = IntGaugeVec::new(
        Opts::new(
            "build_info",
            "Always 1; the labels name the release and the commit of the running binary",
        ),
        &["version", "revision"],
    )?;
    info.with_label_values(&[build.version, build.revision])
        .set(1);
    registry.register(Box::new(info))?;
    #[cfg(target_os = "linux")]
    registry.register(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ))?;
    Ok(())
}

/// The label of a request that no route matched.
pub const UNMATCHED: &str = "unmatched";

/// Where the routes that match a request's path write their template and method, for
/// the server loop to read once the response is ready: the template labels the
/// request's metrics, and the methods are the `Allow` header of a 405. The loop puts
/// one in every request's extensions.
#[derive(Clone, Debug, Default)]
pub struct RouteSlot(Arc<Mutex<Matched>>);

#[derive(Debug, Default)]
struct Matched {
    template: Option<&'static str>,
    methods: Vec<Method>,
}

impl RouteSlot {
    /// The template of the first route whose path matched, or [`UNMATCHED`].
    pub fn template(&self) -> &'static str {
        self.lock().template.unwrap_or(UNMATCHED)
    }

    /// The methods of every route whose path matched (with `HEAD` wherever `GET` is), as
    /// an `Allow` header value; empty when no path matched.
    pub fn allow(&self) -> String {
        let matched = self.lock();
        let mut methods: Vec<&str> = matched.methods.iter().map(Method::as_str).collect();
        if matched.methods.contains(&Method::GET) {
            methods.push("HEAD");
        }
        methods.dedup();
        methods.join(", ")
    }

    fn record(&self, template: &'static str, method: Method) {
        let mut matched = self.lock();
        matched.template.get_or_insert(template);
        if !matched.methods.contains(&method) {
            matched.methods.push(method);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Matched> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A route's template and method: place it right after the route's path filter, as
/// `warp::path!("posts" / u64).and(route("/posts/{id}", Method::GET))`. It names the
/// request for metrics and logs (the first route whose path matches names it), adds the
/// method to the `Allow` list of the path, and then lets only that method through
/// (`HEAD` counts as `GET`: the server answers it as a `GET` without the body).
pub fn route(
    template: &'static str,
    method: Method,
) -> impl Filter<Extract = (), Error = warp::Rejection> + Clone {
    let recorded = method.clone();
    let record = warp::ext::optional::<RouteSlot>()
        .map(move |slot: Option<RouteSlot>| {
            if let Some(slot) = slot {
                slot.record(template, recorded.clone());
            }
        })
        .untuple_one();
    let only = match method {
        Method::GET => warp::get().boxed(),
        Method::POST => warp::post().boxed(),
        Method::PUT => warp::put().boxed(),
        Method::DELETE => warp::delete().boxed(),
        Method::PATCH => warp::patch().boxed(),
        Method::OPTIONS => warp::options().boxed(),
        _ => warp::head().boxed(),
    };
    record.and(only)
}

/// The method as a metrics label: the standard methods by name, anything else `OTHER`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// The registry's metrics in the Prometheus text format.
pub fn encode(registry: &Registry) -> String {
    let mut buffer = Vec::new();
    if let Err(err) = TextEncoder::new().encode(&registry.gather(), &mut buffer) {
        tracing::error!(error = %err, "cannot encode metrics");
    }
    String::from_utf8(buffer).unwrap_or_default()
}

/// The content type of [`encode`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        let made_up = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&made_up), "OTHER");
    }

    #[tokio::test]
    async fn the_matched_route_names_the_request() {
        let routes = warp::path!("posts" / u64)
            .and(route("/posts/{id}", Method::GET))
            .map(|_id: u64| "post")
            .or(warp::path!("posts" / u64)
                .and(route("/posts/{id}", Method::DELETE))
                .map(|_id: u64| "deleted"));
        let slot = RouteSlot::default();
        let response = warp::test::request()
            .path("/posts/+5")
            .extension(slot.clone())
            .reply(&routes)
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(slot.template(), "/posts/{id}");

        let wrong_method = RouteSlot::default();
        let response = warp::test::request()
            .method("PUT")
            .path("/posts/5")
            .extension(wrong_method.clone())
            .reply(&routes)
            .await;
        assert_eq!(response.status(), 405);
        assert_eq!(wrong_method.template(), "/posts/{id}");
        assert_eq!(wrong_method.allow(), "GET, DELETE, HEAD");

        let unmatched = RouteSlot::default();
        warp::test::request()
            .path("/posts/")
            .extension(unmatched.clone())
            .reply(&routes)
            .await;
        assert_eq!(unmatched.template(), UNMATCHED);
    }

    #[test]
    fn build_info_and_process_metrics_are_exposed() {
        let registry = Registry::new();
        let build = BuildInfo {
            version: "1.2.3",
            revision: BuildInfo::revision_or_unknown(Some("abc123")),
        };
        register_runtime(&registry, build).unwrap();
        let text = encode(&registry);
        assert!(
            text.contains(r#"build_info{revision="abc123",version="1.2.3"} 1"#),
            "{text}"
        );
        assert!(text.contains("# TYPE build_info gauge"), "{text}");
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            assert!(
                text.contains(&format!("\n{name} ")),
                "{name} missing: {text}"
            );
        }
        assert_eq!(BuildInfo::revision_or_unknown(None), "unknown");
        assert_eq!(BuildInfo::revision_or_unknown(Some(" ")), "unknown");
    }

    #[test]
    fn observed_requests_are_counted_by_route_template() {
        let registry = Registry::new();
        let metrics = HttpMetrics::register(&registry).unwrap();
        metrics.observe("GET", "/v1/posts/{id}", 200, Duration::from_millis(3));
        metrics.observe("GET", "/v1/posts/{id}", 200, Duration::from_millis(4));
        let text = encode(&registry);
        assert!(
            text.contains(
                r#"http_requests_total{method="GET",route="/v1/posts/{id}",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains("http_request_duration_seconds_bucket"),
            "{text}"
        );
    }
}
