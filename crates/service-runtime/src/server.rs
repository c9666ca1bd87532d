//! The HTTP server loop shared by both services.
//!
//! [`serve`] accepts connections on a listener the caller has already bound (port 0 in
//! tests; a taken port is the caller's error, not a panic here) and runs the warp
//! filter for each request inside a `request` span that carries the request id, so every
//! log line of that request names it, and puts the peer's address in its extensions
//! ([`PeerAddr`]). It adds `X-Request-Id` to every response, records
//! [`HttpMetrics`] under the template of the route that matched ([`RouteSlot`]), and on shutdown stops accepting, lets
//! in-flight requests finish (up to a drain timeout), then returns.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower_service::Service;
use tracing::Instrument;
use warp::reply::Reply;
use warp::Filter;

use crate::metrics::{self, HttpMetrics, RouteSlot};
use crate::request_id::{self, RequestId};

/// The address of the TCP peer a request came from, in the request's extensions (read
/// it with `warp::ext::get::<PeerAddr>()`). Behind a proxy this is the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// How long in-flight requests may take to finish once shutdown begins.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// A slow client may take this long to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `routes` on `listener` until `shutdown` resolves, then drains.
pub async fn serve<F>(
    listener: TcpListener,
    routes: F,
    metrics: HttpMetrics,
    shutdown: impl Future<Output = ()> + Send,
) where
    F: Filter<Error = warp::Rejection> + Clone + Send + Sync + 'static,
    F::Extract: Reply,
{
    let service = warp::service(routes);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Usually EMFILE: back off instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let metrics = metrics.clone();
        let peer = PeerAddr(peer);
        let handler = hyper::service::service_fn(move |request| {
            handle(service.clone(), metrics.clone(), peer, request)
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(TokioIo::new(stream), handler);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }

    drop(listener);
    tracing::info!("stopped accepting connections, draining in-flight requests");
    match tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await {
        Ok(()) => tracing::info!("all connections closed"),
        Err(_) => tracing::warn!("drain timeout reached, closing remaining connections"),
    }
}

async fn handle<S>(
    mut service: S,
    metrics: HttpMetrics,
    peer: PeerAddr,
    mut request: http::Request<Incoming>,
) -> Result<warp::reply::Response, Infallible>
where
    S: Service<http::Request<Incoming>, Response = warp::reply::Response, Error = Infallible>,
{
    let started = Instant::now();
    let request_id = RequestId::from_headers(request.headers());
    request.extensions_mut().insert(request_id.clone());
    request.extensions_mut().insert(peer);
    let route_slot = RouteSlot::default();
    request.extensions_mut().insert(route_slot.clone());
    let method = metrics::method_label(request.method());
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method,
        route = tracing::field::Empty
    );

    let mut response = service.call(request).instrument(span.clone()).await?;
    let route = route_slot.template();
    span.record("route", route);

    response
        .headers_mut()
        .insert(request_id::HEADER, request_id.header_value());
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    metrics.observe(method, route, status, elapsed);
    span.in_scope(|| {
        tracing::info!(
            path = %path,
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request completed"
        )
    });
    Ok(response)
}
