//! Structured logging with `tracing`.
//!
//! `LOG_FORMAT=json` (the default) writes one JSON object per line, with the fields of
//! the enclosing spans (so every line of a request carries its `request_id`);
//! `LOG_FORMAT=text` is for people reading a terminal. `RUST_LOG` filters (default `info`).

use serde::Deserialize;
use tracing_subscriber::{fmt, EnvFilter};

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

/// Installs the global subscriber. Call once, from `main`; a second call is ignored so
/// that tests which start several servers in one process do not fail.
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
