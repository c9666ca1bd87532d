//! The HTTP server loop shared by both services.
//!
//! [`serve`] accepts connections on a listener the caller has already bound (port 0 in
//! tests; a taken port is the caller's error, not a panic here) and runs the warp
//! filter for each request inside a `request` span that carries the request id and trace
//! id, so every log line of that request names them (and, when traces are exported, an
//! OpenTelemetry server span: [`crate::traces`]). It adds `X-Request-Id` to every response, records
//! [`HttpMetrics`] under the template of the route that matched ([`RouteSlot`]), and on
//! shutdown stops accepting, lets in-flight requests finish (up to a drain timeout),
//! then returns.
//!
//! It is also the HTTP edge ([`Limits`]): request headers must
//! arrive within 10 s and a whole body within 30 s, open connections are capped, `HEAD`
//! is answered wherever `GET` is, and a 405 names the allowed methods. The answer to a
//! request whose body the routes left unread (a write refused before its body is read)
//! says `Connection: close`, and the connection closes after it. Handlers can read the
//! client's address as a [`PeerAddr`] extension.
//!
//! With [`Edge::tls`] set it does the same over TLS: each connection's handshake must end within the
//! header read timeout, a client that fails it (plain HTTP, a certificate it does
//! not trust) is dropped without an answer, and one still in its handshake when the
//! server stops is dropped at once: it cannot have a request in flight.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{HeaderValue, Method, StatusCode};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Sleep;
use tower_service::Service;
use tracing::Instrument;
use warp::reply::Reply;
use warp::Filter;

use crate::metrics::{self, HttpMetrics, RouteSlot};
use crate::request_id::{self, RequestId};
use crate::traces;

/// The address of the TCP peer a request came from, in the request's extensions (read
/// it with `warp::ext::get::<PeerAddr>()`). Behind a proxy this is the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// How long in-flight requests may take to finish once shutdown begins.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// What the edge allows one client.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections this process accepts; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// A client must send its request headers within this time.
    pub header_read_timeout: Duration,
    /// A client must send a whole request body within this time from its headers.
    pub body_read_timeout: Duration,
}

/// The default `MAX_CONNECTIONS`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
        }
    }
}

/// Why a request body stopped: it did not arrive within [`Limits::body_read_timeout`].
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimeout;

/// Whether `error` (or one of its sources) is a [`BodyTimeout`].
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<BodyTimeout>() {
            return true;
        }
        current = error.source();
    }
    false
}

/// How the edge serves: what it allows one client, and TLS when it is set (see
/// [`crate::config::ServerConfig::tls_config`]). The default is plain HTTP with the
/// default [`Limits`].
#[derive(Debug, Clone, Default)]
pub struct Edge {
    /// What one client is allowed.
    pub limits: Limits,
    /// The server's certificate and key; `None` serves plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Serves `routes` on `listener` as `edge` says until `shutdown` resolves, then drains.
pub async fn serve<F>(
    listener: TcpListener,
    routes: F,
    metrics: HttpMetrics,
    edge: Edge,
    shutdown: impl Future<Output = ()> + Send,
) where
    F: Filter<Error = warp::Rejection> + Clone + Send + Sync + 'static,
    F::Extract: Reply,
{
    let Edge { limits, tls } = edge;
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let service = warp::service(routes);
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Turns true when the drain begins: a connection still in its TLS handshake then has
    // no request in flight, and is dropped rather than waited for.
    let (draining, drain_begun) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        // At the cap, stop accepting until a connection closes: the rest wait in the
        // kernel's backlog instead of costing memory here.
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
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
            handle(
                service.clone(),
                metrics.clone(),
                peer,
                limits.body_read_timeout,
                request,
            )
        });
        match &tls {
            None => {
                let connection = serve_connection(stream, handler, limits);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(err) = connection.await {
                        tracing::debug!(error = %err, "connection ended with an error");
                    }
                    drop(permit);
                });
            }
            Some(acceptor) => {
                // Taken now, before a shutdown can begin: a connection whose handshake
                // ends after the drain began is watched all the same, and told at once
                // to close once its first request is answered.
                let watcher = graceful.watcher();
                let handshake = acceptor.accept(stream);
                let mut drain_begun = drain_begun.clone();
                tokio::spawn(async move {
                    let handshake = tokio::select! {
                        outcome = tokio::time::timeout(limits.header_read_timeout, handshake) => outcome,
                        _ = drain_begun.wait_for(|begun| *begun) => {
                            tracing::debug!("dropped a connection in its TLS handshake: the server is stopping");
                            return;
                        }
                    };
                    match handshake {
                        Ok(Ok(stream)) => {
                            let connection = serve_connection(stream, handler, limits);
                            if let Err(err) = watcher.watch(connection).await {
                                tracing::debug!(error = %err, "connection ended with an error");
                            }
                        }
                        Ok(Err(err)) => {
                            tracing::debug!(error = %err, "TLS handshake failed");
                        }
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                    drop(permit);
                });
            }
        }
    }

    drop(listener);
    let _ = draining.send(true);
    tracing::info!("stopped accepting connections, draining in-flight requests");
    match tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await {
        Ok(()) => tracing::info!("all connections closed"),
        Err(_) => tracing::warn!("drain timeout reached, closing remaining connections"),
    }
}

/// One HTTP/1 connection over `io`, with the edge's header read timeout.
fn serve_connection<IO, S>(
    io: IO,
    handler: S,
    limits: Limits,
) -> hyper::server::conn::http1::Connection<TokioIo<IO>, S>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::ResBody: 'static,
    <S::ResBody as Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .serve_connection(TokioIo::new(io), handler)
}

async fn handle<S>(
    mut service: S,
    metrics: HttpMetrics,
    peer: PeerAddr,
    body_read_timeout: Duration,
    request: http::Request<Incoming>,
) -> Result<warp::reply::Response, Infallible>
where
    S: Service<
        http::Request<DeadlineBody<Incoming>>,
        Response = warp::reply::Response,
        Error = Infallible,
    >,
{
    let started = Instant::now();
    let body_ended = Arc::new(AtomicBool::new(false));
    let mut request =
        request.map(|body| DeadlineBody::new(body, body_read_timeout, body_ended.clone()));
    let mut request_id = RequestId::from_headers(request.headers());
    let method = metrics::method_label(request.method());
    let mut trace = request_id.trace();
    let span = traces::request_span(&request_id, &mut trace, method);
    request_id.set_trace(trace);
    request.extensions_mut().insert(request_id.clone());
    request.extensions_mut().insert(peer);
    let route_slot = RouteSlot::default();
    request.extensions_mut().insert(route_slot.clone());
    // HEAD is GET without the body: hyper remembers the request was HEAD and sends no
    // body, whatever the routes answer.
    if request.method() == Method::HEAD {
        *request.method_mut() = Method::GET;
    }
    // A clone of the URI shares its bytes: no copy of the path unless it is logged.
    let uri = request.uri().clone();

    let mut response = service.call(request).instrument(span.clone()).await?;
    let route = route_slot.template();
    let headers = response.headers_mut();
    headers.insert(request_id::HEADER, request_id.header_value());
    // A request whose body the routes left unread (a write refused before its body is
    // read): hyper cannot reuse the connection unless the rest of the body has already
    // arrived, and would close it without a word, while the client sends its next
    // request into it. Saying so makes the close certain and the client open a new one.
    if !body_ended.load(Ordering::Relaxed) {
        headers.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        if let Ok(allow) = HeaderValue::from_str(&route_slot.allow()) {
            response.headers_mut().insert(http::header::ALLOW, allow);
        }
    }

    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    metrics.observe(method, route, status, elapsed);
    traces::request_ended(&span, method, route, status);
    // The route goes on this line rather than into the span: recording a field into a
    // span that exists already makes the JSON formatter parse and rewrite all of its
    // fields, which cost more than the rest of the line.
    span.in_scope(|| {
        tracing::info!(
            route,
            path = uri.path(),
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request completed"
        )
    });
    Ok(response)
}

pin_project_lite::pin_project! {
    /// A request body that fails with [`BodyTimeout`] once its deadline passes, however
    /// slowly or steadily its bytes arrive. `ended` turns true once it has been read to
    /// its end (at once for a request without a body).
    pub struct DeadlineBody<B> {
        #[pin]
        body: B,
        #[pin]
        deadline: Sleep,
        ended: Arc<AtomicBool>,
    }
}

impl<B: Body> DeadlineBody<B> {
    fn new(body: B, within: Duration, ended: Arc<AtomicBool>) -> Self {
        ended.store(body.is_end_stream(), Ordering::Relaxed);
        DeadlineBody {
            body,
            deadline: tokio::time::sleep(within),
            ended,
        }
    }
}

impl<B> Body for DeadlineBody<B>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        if let Poll::Ready(frame) = this.body.as_mut().poll_frame(cx) {
            if frame.is_none() || this.body.is_end_stream() {
                this.ended.store(true, Ordering::Relaxed);
            }
            return Poll::Ready(frame.map(|result| result.map_err(Into::into)));
        }
        match this.deadline.poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
