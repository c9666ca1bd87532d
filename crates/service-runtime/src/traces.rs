//! The trace a request belongs to, and the OpenTelemetry side of its spans.
//!
//! A request's [`TraceContext`] comes from its W3C `traceparent` header, or is new. It
//! travels with the [`RequestId`](crate::request_id::RequestId) (so whatever forwards the request id forwards the
//! trace too), names the trace on every log line of the request (`trace_id`), and is
//! sent on as `traceparent` on calls to other services ([`traceparent_for_call`]).
//!
//! When traces are exported ([`exporting`], set by [`crate::telemetry`] once an OTLP
//! endpoint is configured), the spans made here carry OpenTelemetry attributes and
//! statuses; when they are not, nothing here costs more than a random trace id per
//! request: no extra span is made, no attribute is recorded.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use http::{HeaderMap, HeaderValue};
use opentelemetry::trace::{
    SpanContext, SpanId, Status, TraceContextExt, TraceFlags, TraceId, TraceState,
};
pub use opentelemetry::KeyValue;
use tracing::field::Empty;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The W3C trace context header.
pub const TRACEPARENT: &str = "traceparent";

static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported (an OTLP endpoint is configured and the exporter is
/// installed). Code that makes spans only for traces asks this first.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Notes that the exporter is installed.
pub(crate) fn set_exporting() {
    EXPORTING.store(true, Ordering::Relaxed);
}

/// The trace a request belongs to: its id, and the caller's span when a valid
/// `traceparent` named one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: u128,
    parent: Option<Parent>,
}

/// The caller's span, from its `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parent {
    span_id: u64,
    flags: u8,
}

impl TraceContext {
    /// The caller's trace when its `traceparent` is valid, else a new trace.
    pub fn from_headers(headers: &HeaderMap) -> TraceContext {
        headers
            .get(TRACEPARENT)
            .and_then(|value| value.to_str().ok())
            .and_then(parse)
            .unwrap_or_else(TraceContext::generate)
    }

    /// A new trace with a random id.
    pub fn generate() -> TraceContext {
        TraceContext {
            trace_id: random_nonzero(),
            parent: None,
        }
    }

    /// The trace id, as 32 lower-case hex digits when displayed.
    pub fn trace_id(&self) -> TraceIdText {
        TraceIdText(self.trace_id)
    }

    /// The caller's span as an OpenTelemetry remote parent, when there is one.
    fn remote_parent(&self) -> Option<SpanContext> {
        let parent = self.parent?;
        Some(SpanContext::new(
            TraceId::from(self.trace_id),
            SpanId::from(parent.span_id),
            TraceFlags::new(parent.flags),
            true,
            TraceState::default(),
        ))
    }
}

/// A trace id, displayed as 32 lower-case hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceIdText(u128);

impl fmt::Display for TraceIdText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

fn random_nonzero() -> u128 {
    // a v4 UUID has fixed version bits, so it is never zero
    uuid::Uuid::new_v4().as_u128()
}

/// Reads a `traceparent`: `version-traceid-parentid-flags`, lower-case hex, neither id
/// all zeros, version `ff` invalid; a later version may append fields after a `-`.
fn parse(value: &str) -> Option<TraceContext> {
    let value = value.trim();
    let bytes = value.as_bytes();
    if bytes.len() < 55 || (bytes.len() > 55 && bytes[55] != b'-') {
        return None;
    }
    let version = hex(&value[0..2])? as u8;
    if version == 0xff || (version == 0 && bytes.len() != 55) {
        return None;
    }
    if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
        return None;
    }
    let trace_id = hex(&value[3..35])?;
    let span_id = hex(&value[36..52])? as u64;
    let flags = hex(&value[53..55])? as u8;
    (trace_id != 0 && span_id != 0).then_some(TraceContext {
        trace_id,
        parent: Some(Parent { span_id, flags }),
    })
}

fn hex(digits: &str) -> Option<u128> {
    if !digits
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u128::from_str_radix(digits, 16).ok()
}

fn traceparent(trace_id: u128, span_id: u64, flags: u8) -> HeaderValue {
    let text = format!("00-{trace_id:032x}-{span_id:016x}-{flags:02x}");
    HeaderValue::from_str(&text).expect("hex digits and dashes are a valid header value")
}

/// The `traceparent` to send on a call made for a request of the trace `trace` (its
/// [`RequestId::trace`](crate::request_id::RequestId::trace)): naming the current span
/// (the call's client span) when traces are exported; otherwise the request's trace id
/// with its caller's span and sampling flag (or none sampled), so the other service's
/// log lines carry the same `trace_id`.
pub fn traceparent_for_call(trace: TraceContext) -> HeaderValue {
    if exporting() {
        let context = Span::current().context();
        let span = context.span();
        let current = span.span_context();
        if current.is_valid() {
            return traceparent(
                u128::from_be_bytes(current.trace_id().to_bytes()),
                u64::from_be_bytes(current.span_id().to_bytes()),
                current.trace_flags().to_u8(),
            );
        }
    }
    match trace.parent {
        Some(parent) => traceparent(trace.trace_id, parent.span_id, parent.flags),
        None => traceparent(trace.trace_id, random_nonzero() as u64 | 1, 0),
    }
}

/// The span of one incoming request, carrying its request id, trace id and method. When
/// traces are exported it is an OpenTelemetry server span, child of the caller's span,
/// and `trace` (the request's, from its `traceparent` or new) becomes the span's own.
pub fn request_span(
    request_id: &dyn std::fmt::Display,
    trace: &mut TraceContext,
    method: &'static str,
) -> Span {
    if !exporting() {
        return tracing::info_span!(
            "request",
            request_id = %request_id,
            trace_id = %trace.trace_id(),
            method
        );
    }
    let span = tracing::info_span!(
        "request",
        otel.kind = "server",
        request_id = %request_id,
        trace_id = Empty,
        method,
    );
    if let Some(parent) = trace.remote_parent() {
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(parent));
    }
    span.set_attribute("http.request.method", method);
    let context = span.context();
    let started = context.span().span_context().clone();
    if started.is_valid() {
        trace.trace_id = u128::from_be_bytes(started.trace_id().to_bytes());
    }
    span.record("trace_id", tracing::field::display(trace.trace_id()));
    span
}

/// Records how a request ended on its span, when traces are exported: the span is named
/// after the method and route template, carries `http.route` and
/// `http.response.status_code`, and a 5xx marks it as an error.
pub fn request_ended(span: &Span, method: &str, route: &'static str, status: u16) {
    if !exporting() {
        return;
    }
    span.context()
        .span()
        .update_name(format!("{method} {route}"));
    span.set_attribute("http.route", route);
    span.set_attribute("http.response.status_code", i64::from(status));
    if status >= 500 {
        span.set_status(Status::error(format!("answered {status}")));
    }
}

/// Marks `span` as failed with `description` (which must not hold data such as SQL
/// values), when traces are exported.
pub fn failed(span: &Span, description: &'static str) {
    if exporting() {
        span.set_status(Status::error(description));
    }
}

/// Sets an attribute on the current span, when traces are exported (and otherwise
/// does not even look the current span up).
pub fn attribute(key: &'static str, value: impl Into<opentelemetry::Value>) {
    if exporting() {
        Span::current().set_attribute(key, value);
    }
}

/// Adds an event named `name` with `attributes` to the current span, when traces are
/// exported.
pub fn event(name: &'static str, attributes: impl FnOnce() -> Vec<KeyValue>) {
    if exporting() {
        Span::current().add_event(name, attributes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_names_the_trace_and_the_callers_span() {
        let trace = parse(VALID).unwrap();
        assert_eq!(
            trace.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(
            trace.parent,
            Some(Parent {
                span_id: 0x00f0_67aa_0ba9_02b7,
                flags: 1
            })
        );
        // a later version may append fields
        assert!(parse(&format!("01-{}-ab", &VALID[3..])).is_some());
    }

    #[test]
    fn an_invalid_traceparent_is_ignored() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e473x-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, HeaderValue::from_static("garbage"));
        let fresh = TraceContext::from_headers(&headers);
        assert_eq!(fresh.parent, None);
        assert_eq!(fresh.trace_id().to_string().len(), 32);
    }

    #[test]
    fn calls_carry_the_trace_on_without_exporting() {
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, HeaderValue::from_static(VALID));
        let trace = TraceContext::from_headers(&headers);
        assert_eq!(traceparent_for_call(trace), VALID);

        let trace = TraceContext::generate();
        let sent = traceparent_for_call(trace);
        let sent = parse(sent.to_str().unwrap()).expect("a valid traceparent");
        assert_eq!(sent.trace_id, trace.trace_id);
        assert_eq!(sent.parent.unwrap().flags, 0, "not sampled");
    }
}
