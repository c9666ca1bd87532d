//! What every blog service runs on.
//!
//! Both `posts-service` and `render-service` are warp applications that run the same
//! way: configured from the environment, logging JSON lines, serving metrics apart from
//! the public listener, limiting slow and numerous clients, stopping gracefully. This
//! crate is that common ground, written once.
//!
//! # Layout
//!
//! - [`config`]: reads a service's `Config` from the environment with envy and turns a
//!   missing or malformed variable into one clear line naming it; the variables every
//!   service reads ([`config::ServerConfig`]) and the [`config::Secret`] type.
//! - [`reference`]: holds the configuration reference page to the code, for tests.
//! - [`telemetry`]: installs the `tracing` subscriber (`LOG_FORMAT=json|text`, `RUST_LOG`)
//!   and, when an OTLP endpoint is configured, the trace exporter.
//! - [`request_id`]: the `X-Request-Id` of a request: taken from the caller or generated.
//! - [`traces`]: the W3C trace context of a request and the OpenTelemetry side of spans.
//! - [`metrics`]: Prometheus request counters and latency histograms labelled by route
//!   template (never the raw path) and status, and the `/metrics` text encoder.
//! - [`server`]: a single `serve` function that takes a bound `TcpListener` and a warp
//!   filter, wraps every request in a span carrying its request id, records metrics,
//!   and shuts down gracefully, over TLS when the service has a certificate.
//! - [`tls`]: rustls configurations from PEM files: the certificate a listener serves
//!   (`TLS_CERT_FILE`, `TLS_KEY_FILE`) and the CA bundles clients trust.
//! - [`shutdown`]: the future that resolves on SIGTERM or SIGINT.
//! - [`healthcheck`]: the `healthcheck` subcommand, a container health check that needs
//!   no shell or curl in the image.

pub mod config;
mod config_error;
pub mod healthcheck;
pub mod metrics;
pub mod reference;
pub mod request_id;
pub mod server;
pub mod shutdown;
pub mod telemetry;
pub mod tls;
pub mod traces;
