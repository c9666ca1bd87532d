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

/// `RUST_LOG` and `LOG_FORMAT`: what every command of a service reads to log, the same
/// defaults everywhere. Field names are the variables' names in lower case.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LogConfig {
    /// `RUST_LOG`: the filter, `tracing` syntax (`info,posts_service=debug`).
    #[serde(default = "default_filter")]
    pub rust_log: String,
    /// `LOG_FORMAT`: `json` or `text`.
    #[serde(default)]
    pub log_format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            rust_log: default_filter(),
            log_format: LogFormat::default(),
        }
    }
}

impl LogConfig {
    /// Installs the global subscriber these settings describe ([`init`]).
    pub fn init(&self) {
        init(self.log_format, &self.rust_log)
    }
}

fn default_filter() -> String {
    "info".to_owned()
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
