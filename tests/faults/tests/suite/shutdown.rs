//! SIGTERM under load: every request a service accepted before the signal is answered
//! successfully, and the process exits soon after its in-flight requests, well within
//! the 20 s drain deadline, although idle keep-alive clients (and clients that connected
//! but never sent a request) are still attached.
//!
//! Requests are made slow (latency added to every answer on the link behind the
//! service) so that some are surely in flight when the signal comes: 200 ms between
//! render-service and posts-service, one call a page; 100 ms between posts-service and
//! MariaDB, where a create makes about 18 round trips (about 2 s: more would bring it
//! near this scenario's 5 s database timeout on a busy machine, and a 503 from that
//! timeout is not what the scenario tests). A request counts as accepted when
//! it was sent at least [`ACCEPTED_MARGIN`] before the signal: by then the service has
//! read it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fault_proxy::{Direction, Fault, FaultProxy};
use fault_suite::measure::{figure, ms};
use fault_suite::services::API_TOKEN;
use fault_suite::{tls, Scenario, Service};
use reqwest::Client;
use serde_json::json;
use test_mariadb::harness::Db;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::blog::{
    id_of, posts_behind_proxy, posts_direct, render_behind_proxy, slug_of, Api, Problems,
};

const LOAD_CLIENTS: usize = 12;
const IDLE_KEEP_ALIVE: usize = 10;
const IDLE_SILENT: usize = 5;
/// Latency, and its jitter, on the link from posts-service to MariaDB.
const SLOW_DATABASE_LINK: (Duration, Duration) =
    (Duration::from_millis(100), Duration::from_millis(25));
/// Latency, and its jitter, on the link from render-service to posts-service.
const SLOW_POSTS_LINK: (Duration, Duration) =
    (Duration::from_millis(200), Duration::from_millis(50));
const ACCEPTED_MARGIN: Duration = Duration::from_millis(100);
/// Load before the signal (pools warm, many requests accepted).
const LOAD_BEFORE: Duration = Duration::from_secs(2);
/// Exit at most this long after the signal. The drain deadline is 20 s; the in-flight
/// requests need well under 2 s, so a process still there after 5 s waits for clients
/// that have nothing in flight.
const EXIT_WITHIN: Duration = Duration::from_secs(5);

/// One request of the load.
struct Attempt {
    started: Instant,
    finished: Instant,
    outcome: Result<u16, String>,
}

impl Attempt {
    fn ok(&self) -> bool {
        matches!(self.outcome, Ok(status) if (200..300).contains(&status))
    }
}

/// A client's connection: over TLS to posts-service, plain to render-service.
trait Connection: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Connection for T {}

/// A connection to `service`, its TLS handshake done when the service serves HTTPS.
async fn connect(service: &Service) -> Box<dyn Connection> {
    let tcp = TcpStream::connect(service.addr).await.expect("connect");
    if !service.url.starts_with("https:") {
        return Box::new(tcp);
    }
    let name = rustls::pki_types::ServerName::from(service.addr.ip());
    Box::new(
        tls::connector()
            .connect(name, tcp)
            .await
            .expect("a TLS handshake"),
    )
}

/// A connection that made one keep-alive request and then stays idle.
async fn idle_keep_alive(service: &Service) -> Box<dyn Connection> {
    let mut stream = connect(service).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: faults\r\n\r\n")
        .await
        .expect("send");
    let mut answer = Vec::new();
    let mut buffer = [0; 1024];
    while !String::from_utf8_lossy(&answer).contains("\r\n\r\n") {
        let read = stream.read(&mut buffer).await.expect("a response");
        assert!(read > 0, "closed before answering");
        answer.extend_from_slice(&buffer[..read]);
    }
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    stream
}

/// Whether the server closed `stream` (EOF or reset) within `limit`; bytes of a
/// response still buffered are skipped.
async fn closed_within(stream: &mut Box<dyn Connection>, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut buffer = [0; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// Runs `LOAD_CLIENTS` clients, each sending `request(n)` in a loop on its own keep-alive
/// connection, until `stop`.
fn start_load<F>(stop: &Arc<AtomicBool>, request: F) -> Vec<tokio::task::JoinHandle<Vec<Attempt>>>
where
    F: Fn(&Client, usize) -> reqwest::RequestBuilder + Send + Sync + Clone + 'static,
{
    (0..LOAD_CLIENTS)
        .map(|task| {
            let stop = Arc::clone(stop);
            let request = request.clone();
            tokio::spawn(async move {
                let client = tls::client()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .expect("an HTTP client");
                let mut attempts = Vec::new();
                let mut n = task;
                // Staggered, so that the clients' requests do not move in step.
                tokio::time::sleep(Duration::from_millis(17 * task as u64)).await;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let started = Instant::now();
                    let outcome = request(&client, n)
                        .send()
                        .await
                        .map(|response| response.status().as_u16())
                        .map_err(|err| format!("{err:?}"));
                    let failed = outcome.is_err();
                    attempts.push(Attempt {
                        started,
                        finished: Instant::now(),
                        outcome,
                    });
                    if failed {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                attempts
            })
        })
        .collect()
}

/// Signals `service` under the load, then judges: the scenario's whole body after setup.
async fn terminate_under_load<F>(scenario: &Scenario, service: &mut Service, request: F)
where
    F: Fn(&Client, usize) -> reqwest::RequestBuilder + Send + Sync + Clone + 'static,
{
    let mut idle = Vec::new();
    for _ in 0..IDLE_KEEP_ALIVE {
        idle.push(idle_keep_alive(service).await);
    }
    // Connected, and silent: not even a TLS handshake.
    for _ in 0..IDLE_SILENT {
        let silent: Box<dyn Connection> =
            Box::new(TcpStream::connect(service.addr).await.expect("connect"));
        idle.push(silent);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let load = start_load(&stop, request);
    tokio::time::sleep(LOAD_BEFORE).await;

    let signalled = Instant::now();
    service.signal("TERM");
    let exit = service.wait_exit(Duration::from_secs(30)).await;
    let exit_took = signalled.elapsed();
    let mut idle_closed = 0;
    for stream in &mut idle {
        if closed_within(stream, Duration::from_millis(100)).await {
            idle_closed += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut attempts = Vec::new();
    for task in load {
        attempts.extend(task.await.expect("a load task"));
    }

    let accepted: Vec<&Attempt> = attempts
        .iter()
        .filter(|attempt| attempt.started + ACCEPTED_MARGIN <= signalled)
        .collect();
    let failed: Vec<String> = accepted
        .iter()
        .filter(|attempt| !attempt.ok())
        .map(|attempt| {
            format!(
                "{:?} after {} (sent {} before the signal)",
                attempt.outcome,
                ms(attempt.finished - attempt.started),
                ms(signalled.saturating_duration_since(attempt.started)),
            )
        })
        .collect();
    let in_flight = accepted
        .iter()
        .filter(|attempt| attempt.finished > signalled)
        .count();
    let after: Vec<&Attempt> = attempts
        .iter()
        .filter(|attempt| attempt.started > signalled)
        .collect();
    let after_ok = after.iter().filter(|attempt| attempt.ok()).count();
    figure(
        scenario.name(),
        format!(
            "SIGTERM under {LOAD_CLIENTS} clients with {} idle connections: {} requests accepted \
             before the signal ({in_flight} in flight at it), {} failed; exit {exit:?} after {}; \
             idle connections closed: {idle_closed}/{}; sent after the signal: {} ({after_ok} answered)",
            idle.len(),
            accepted.len(),
            failed.len(),
            ms(exit_took),
            idle.len(),
            after.len(),
        ),
    );
    let mut problems = Problems::default();
    problems.check(failed.is_empty(), || {
        format!(
            "accepted requests failed: {failed:?}\n{}",
            service.log_tail()
        )
    });
    problems.check(in_flight > 0, || {
        "no request was in flight at the signal: the scenario tested nothing".to_owned()
    });
    problems.check(exit.is_some_and(|status| status.success()), || {
        format!("exit status {exit:?}:\n{}", service.log_tail())
    });
    problems.check(exit_took <= EXIT_WITHIN, || {
        format!("exit took {}, more than {EXIT_WITHIN:?}", ms(exit_took))
    });
    problems.check(idle_closed == idle.len(), || {
        format!(
            "only {idle_closed} of {} idle connections were closed",
            idle.len()
        )
    });
    problems.assert_none(scenario);
}

/// Creates a post through posts-service at `posts_url` for the load to read, then adds
/// `latency` (and its jitter) to the link behind `proxy`; the post's id and slug.
async fn post_to_read_then_slow_the_link(
    posts_url: &str,
    proxy: &FaultProxy,
    (delay, jitter): (Duration, Duration),
) -> (u64, String) {
    let api = Api::new(posts_url, Duration::from_secs(10));
    let post = api.create_ok("read under load", "x").await;
    proxy.set_fault(Fault::Latency {
        direction: Direction::Downstream,
        delay,
        jitter,
    });
    (id_of(&post), slug_of(&post).to_owned())
}

pub async fn sigterm_under_load_posts_service_fails_no_accepted_request(db: Db) {
    let scenario = Scenario::new("sigterm-posts-service");
    // A slow database link keeps requests in flight; allow for it.
    let (proxy, mut posts) = posts_behind_proxy(&scenario, &db, &[("DB_TIMEOUT_MS", "5000")]).await;
    let (id, _) = post_to_read_then_slow_the_link(&posts.url, &proxy, SLOW_DATABASE_LINK).await;
    let base = posts.url.clone();
    terminate_under_load(&scenario, &mut posts, move |client, n| {
        if n % 2 == 0 {
            client.get(format!("{base}/v1/posts/{id}"))
        } else {
            client
                .post(format!("{base}/v1/posts"))
                .bearer_auth(API_TOKEN)
                .json(&json!({ "title": format!("created under load {n}"), "body": "x" }))
        }
    })
    .await;
}

pub async fn sigterm_under_load_render_service_fails_no_accepted_request(db: Db) {
    let scenario = Scenario::new("sigterm-render-service");
    let posts = posts_direct(&scenario, &db, &[]).await;
    // No page cache: every page asks posts-service, over a slow link.
    let (proxy, mut render) =
        render_behind_proxy(&scenario, &posts, &[("PAGE_CACHE_TTL_MS", "0")]).await;
    let (_, slug) = post_to_read_then_slow_the_link(&posts.url, &proxy, SLOW_POSTS_LINK).await;
    let base = render.url.clone();
    terminate_under_load(&scenario, &mut render, move |client, n| {
        if n % 2 == 0 {
            client.get(format!("{base}/posts/{slug}"))
        } else {
            client.get(format!("{base}/"))
        }
    })
    .await;
}
