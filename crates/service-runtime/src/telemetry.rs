//! Structured logging with `tracing`, and the export of traces.
//!
//! `LOG_FORMAT=json` (the default) writes one JSON object per line, with the fields of
//! the enclosing spans (so every line of a request carries its `request_id` and
//! `trace_id`); `LOG_FORMAT=text` is for people reading a terminal. `RUST_LOG` filters
//! (default `info`), spans as well as lines.
//!
//! Traces are off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set: then the spans are exported as OTLP over
//! HTTP/protobuf, in batches from a thread of their own, as the service
//! `OTEL_SERVICE_NAME` (default: the service's own name), sampling the traces that start
//! here at the ratio `OTEL_TRACES_SAMPLER_ARG` and following the caller's decision for
//! the others. [`Telemetry::shutdown`] exports what is left before the process exits.

use std::fmt;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use serde::{Deserialize, Deserializer};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::config_error::ConfigError;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line, for log collectors.
    #[default]
    Json,
    /// Human-readable lines.
    Text,
}

/// `RUST_LOG`, `LOG_FORMAT` and the `OTEL_*` trace settings: what every command of a
/// service reads to log and trace, the same defaults everywhere. Field names are the
/// variables' names in lower case.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LogConfig {
    /// `RUST_LOG`: the filter, `tracing` syntax (`info,posts_service=debug`).
    #[serde(default = "default_filter")]
    pub rust_log: String,
    /// `LOG_FORMAT`: `json` or `text`.
    #[serde(default)]
    pub log_format: LogFormat,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: the OTLP/HTTP receiver's base URL; traces go to
    /// its `/v1/traces`.
    #[serde(default)]
    pub otel_exporter_otlp_endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: the full URL traces are sent to, in place
    /// of the one derived from `OTEL_EXPORTER_OTLP_ENDPOINT`.
    #[serde(default)]
    pub otel_exporter_otlp_traces_endpoint: Option<String>,
    /// `OTEL_SERVICE_NAME`: the service name traces carry.
    #[serde(default)]
    pub otel_service_name: Option<String>,
    /// `OTEL_TRACES_SAMPLER_ARG`: the share of new traces recorded.
    #[serde(default)]
    pub otel_traces_sampler_arg: SamplingRatio,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            rust_log: default_filter(),
            log_format: LogFormat::default(),
            otel_exporter_otlp_endpoint: None,
            otel_exporter_otlp_traces_endpoint: None,
            otel_service_name: None,
            otel_traces_sampler_arg: SamplingRatio::default(),
        }
    }
}

/// A share of traces to record, from 0 to 1 (the default: all).
#[derive(Clone, Copy, PartialEq)]
pub struct SamplingRatio(f64);

// Only finite values from 0 to 1 are made, so equality is total.
impl Eq for SamplingRatio {}

impl Default for SamplingRatio {
    fn default() -> Self {
        SamplingRatio(1.0)
    }
}

impl fmt::Debug for SamplingRatio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<'de> Deserialize<'de> for SamplingRatio {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let ratio = f64::deserialize(deserializer)?;
        if (0.0..=1.0).contains(&ratio) {
            Ok(SamplingRatio(ratio))
        } else {
            Err(serde::de::Error::custom(
                "OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1",
            ))
        }
    }
}

impl LogConfig {
    /// Installs the global subscriber these settings describe, exporting the spans as
    /// `service` when an endpoint is configured. Call once, from `main`; a second call is
    /// ignored so that tests which start several servers in one process do not fail.
    pub fn init(&self, service: &'static str) -> Telemetry {
        self.init_with_writer(service, std::io::stderr)
    }

    /// [`LogConfig::init`], writing the log lines to `writer`.
    pub fn init_with_writer<W>(&self, service: &'static str, writer: W) -> Telemetry
    where
        W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    {
        let provider = match self.traces_endpoint() {
            Ok(None) => None,
            Ok(Some(endpoint)) => match self.provider(service, &endpoint) {
                Ok(provider) => Some(provider),
                Err(err) => {
                    eprintln!("traces are not exported: {err}");
                    None
                }
            },
            Err(err) => {
                eprintln!("traces are not exported: {err}");
                None
            }
        };
        let installed = install(
            self.log_format,
            &self.rust_log,
            writer,
            provider.as_ref().map(|provider| provider.tracer(service)),
        );
        match provider {
            Some(provider) if installed => {
                crate::traces::set_exporting();
                Telemetry {
                    provider: Some(provider),
                }
            }
            Some(provider) => {
                let _ = provider.shutdown();
                Telemetry { provider: None }
            }
            None => Telemetry { provider: None },
        }
    }

    /// Where traces go: `None` when no endpoint is set (traces off). An endpoint must be
    /// an `http://` URL.
    pub fn traces_endpoint(&self) -> Result<Option<String>, ConfigError> {
        let set = |value: &Option<String>| value.clone().filter(|url| !url.trim().is_empty());
        let (variable, endpoint) = match (
            set(&self.otel_exporter_otlp_traces_endpoint),
            set(&self.otel_exporter_otlp_endpoint),
        ) {
            (Some(url), _) => ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url),
            (None, Some(base)) => (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("{}/v1/traces", base.trim_end_matches('/')),
            ),
            (None, None) => return Ok(None),
        };
        match endpoint.parse::<http::Uri>() {
            Ok(uri) if uri.scheme_str() == Some("http") && uri.authority().is_some() => {
                Ok(Some(endpoint))
            }
            _ => Err(ConfigError::invalid(
                variable,
                "must be an http:// URL (for example http://otel-collector:4318)",
            )),
        }
    }

    fn provider(&self, service: &'static str, endpoint: &str) -> Result<SdkTracerProvider, String> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .build()
            .map_err(|err| err.to_string())?;
        let name = self
            .otel_service_name
            .clone()
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| service.to_owned());
        Ok(SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                self.otel_traces_sampler_arg.0,
            ))))
            .with_resource(Resource::builder_empty().with_service_name(name).build())
            .build())
    }
}

/// What [`LogConfig::init`] installed. [`Telemetry::shutdown`] before exiting, so that
/// the spans not yet exported are.
#[must_use = "shut it down before exiting, so the last spans are exported"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn is_exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports the spans not exported yet (waiting at most for the exporter's timeout)
    /// and stops the exporter.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        let stopped = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        match stopped {
            Ok(Ok(())) => tracing::info!("traces exported, exporter stopped"),
            Ok(Err(err)) => tracing::warn!(error = %err, "the trace exporter did not stop cleanly"),
            Err(err) => tracing::warn!(error = %err, "the trace exporter did not stop cleanly"),
        }
    }
}

fn default_filter() -> String {
    "info".to_owned()
}

/// Installs the global subscriber without traces. Call once, from `main`; a second call
/// is ignored so that tests which start several servers in one process do not fail.
pub fn init(format: LogFormat, filter: &str) {
    install(format, filter, std::io::stderr, None);
}

/// Installs the subscriber, with the OpenTelemetry layer on top when `tracer` is given
/// (without, it is exactly the plain subscriber: no layer, no cost). Whether it was
/// installed (a second one is not).
fn install<W>(
    format: LogFormat,
    filter: &str,
    writer: W,
    tracer: Option<opentelemetry_sdk::trace::Tracer>,
) -> bool
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match (format, tracer) {
        (LogFormat::Json, None) => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .try_init()
            .is_ok(),
        (LogFormat::Json, Some(tracer)) => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .finish()
            .with(traces_layer(tracer))
            .try_init()
            .is_ok(),
        (LogFormat::Text, None) => builder.try_init().is_ok(),
        (LogFormat::Text, Some(tracer)) => builder
            .finish()
            .with(traces_layer(tracer))
            .try_init()
            .is_ok(),
    }
}

/// The layer that turns spans into OpenTelemetry spans, without the code location,
/// thread and busy/idle times (attributes nobody asked for).
fn traces_layer<S>(
    tracer: opentelemetry_sdk::trace::Tracer,
) -> tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<LogConfig, ConfigError> {
        crate::config::from_iter(
            pairs
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string())),
        )
    }

    #[test]
    fn traces_are_off_without_an_endpoint() {
        assert_eq!(LogConfig::default().traces_endpoint().unwrap(), None);
        let blank = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "")]).unwrap();
        assert_eq!(blank.traces_endpoint().unwrap(), None);
    }

    #[test]
    fn the_traces_endpoint_is_derived_or_given() {
        let base = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]).unwrap();
        assert_eq!(
            base.traces_endpoint().unwrap().as_deref(),
            Some("http://collector:4318/v1/traces")
        );
        let both = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://tempo:4318/otlp/v1/traces",
            ),
        ])
        .unwrap();
        assert_eq!(
            both.traces_endpoint().unwrap().as_deref(),
            Some("http://tempo:4318/otlp/v1/traces")
        );
    }

    #[test]
    fn a_bad_endpoint_or_ratio_is_named() {
        for (name, value) in [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://collector:4318/v1/traces",
            ),
        ] {
            let err = config(&[(name, value)])
                .unwrap()
                .traces_endpoint()
                .unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
        for ratio in ["1.5", "-0.1", "half"] {
            let err = config(&[("OTEL_TRACES_SAMPLER_ARG", ratio)]).unwrap_err();
            assert!(
                err.to_string().contains("OTEL_TRACES_SAMPLER_ARG"),
                "{ratio}: {err}"
            );
        }
        let ratio = config(&[("OTEL_TRACES_SAMPLER_ARG", "0.25")]).unwrap();
        assert_eq!(ratio.otel_traces_sampler_arg, SamplingRatio(0.25));
    }
}
