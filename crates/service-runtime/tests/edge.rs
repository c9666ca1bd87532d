//! The HTTP edge of `serve`, as a client meets it: route labels that stay bounded,
//! `HEAD` and `Allow`, a whole-body deadline, idle connections that cost nothing, the
//! peer address handed to the routes, and shutdown with requests in flight and idle
//! keep-alive clients attached.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http::Method;
use prometheus::Registry;
use service_runtime::metrics::{encode, route, HttpMetrics};
use service_runtime::server::{serve, Edge, Limits, PeerAddr, DRAIN_TIMEOUT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use warp::Filter;

/// A server with a few routes: `GET|DELETE /things/{id}`, `POST /things` (reads the
/// body), `GET /peer` (the client's address). Returns its address and its registry.
async fn spawn(limits: Limits) -> (SocketAddr, Registry) {
    let thing = warp::path!("things" / u64)
        .and(route("/things/{id}", Method::GET))
        .map(|id: u64| format!("thing {id}"));
    let delete = warp::path!("things" / u64)
        .and(route("/things/{id}", Method::DELETE))
        .map(|_: u64| "deleted".to_owned());
    let create = warp::path!("things")
        .and(route("/things", Method::POST))
        .and(warp::body::bytes())
        .map(|body: bytes::Bytes| format!("{} bytes", body.len()));
    let peer = warp::path!("peer")
        .and(route("/peer", Method::GET))
        .and(warp::ext::get::<PeerAddr>())
        .map(|peer: PeerAddr| peer.0.ip().to_string());
    let routes = thing.or(delete).unify().or(create).unify().or(peer).unify();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let registry = Registry::new();
    let metrics = HttpMetrics::register(&registry).unwrap();
    let edge = Edge { limits, tls: None };
    tokio::spawn(serve(
        listener,
        routes,
        metrics,
        edge,
        std::future::pending(),
    ));
    (addr, registry)
}

/// The metrics' series, without their values.
fn series(text: &str) -> Vec<String> {
    let mut series: Vec<String> = text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' ').map(|(name, _)| name.to_owned()))
        .collect();
    series.sort();
    series
}

#[tokio::test]
async fn made_up_methods_leave_the_metrics_the_same_size() {
    let (addr, registry) = spawn(Limits::default()).await;
    let client = reqwest::Client::new();
    let send_made_up_methods = |batch: u32| {
        let client = client.clone();
        async move {
            for i in 0..1_000u32 {
                let method = Method::from_bytes(format!("X{batch}Q{i}").as_bytes()).unwrap();
                let path = format!("/things/{i}");
                let _ = client
                    .request(method, format!("http://{addr}{path}"))
                    .send()
                    .await
                    .unwrap();
            }
        }
    };
    send_made_up_methods(1).await;
    let after_first = encode(&registry);
    send_made_up_methods(2).await;
    let after_second = encode(&registry);
    println!(
        "metrics output after 1,000 and 2,000 made-up methods: {} and {} bytes",
        after_first.len(),
        after_second.len()
    );
    assert_eq!(series(&after_first), series(&after_second));
    assert!(after_second.contains(r#"method="OTHER""#), "{after_second}");
    assert!(
        !after_second.contains("X2Q"),
        "a made-up method became a label"
    );
    assert!(
        !after_second.contains("/things/7"),
        "a raw path became a label"
    );
}

#[tokio::test]
async fn head_is_get_without_the_body_and_405_names_the_allowed_methods() {
    let (addr, registry) = spawn(Limits::default()).await;
    let client = reqwest::Client::new();
    let head = client
        .head(format!("http://{addr}/things/3"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        "thing 3".len().to_string()
    );
    assert!(head.bytes().await.unwrap().is_empty());

    let put = client
        .put(format!("http://{addr}/things/3"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 405);
    assert_eq!(put.headers()["allow"], "GET, DELETE, HEAD");
    let text = encode(&registry);
    assert!(
        text.contains(r#"http_requests_total{method="PUT",route="/things/{id}",status="405"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"http_requests_total{method="HEAD",route="/things/{id}",status="200"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn routes_see_the_peer_address() {
    let (addr, _) = spawn(Limits::default()).await;
    let body = reqwest::get(format!("http://{addr}/peer"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "127.0.0.1");
}

/// Sends a request whose body trickles in one byte every `every`, and returns how long
/// the server took to answer or close the connection.
async fn trickle_body(addr: SocketAddr, every: Duration) -> Duration {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /things HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        loop {
            if writer.write_all(b"a").await.is_err() {
                return;
            }
            tokio::time::sleep(every).await;
        }
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(120), reader.read_to_end(&mut answer)).await;
    writing.abort();
    started.elapsed()
}

#[tokio::test]
async fn a_body_sent_one_byte_every_five_seconds_is_cut_off_at_the_body_deadline() {
    let (addr, _) = spawn(Limits::default()).await;
    let cut_off_after = trickle_body(addr, Duration::from_secs(5)).await;
    println!("a body trickling one byte every 5 s was cut off after {cut_off_after:.1?}");
    assert!(
        cut_off_after >= Duration::from_secs(29) && cut_off_after <= Duration::from_secs(33),
        "cut off after {cut_off_after:?}, the body deadline is 30 s"
    );
}

/// `GET /things/1` on a fresh client: the response and how long it took to come.
async fn timed_get_of_a_thing(addr: SocketAddr) -> (reqwest::Response, Duration) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let response = client
        .get(format!("http://{addr}/things/1"))
        .send()
        .await
        .unwrap();
    (response, started.elapsed())
}

#[tokio::test]
async fn five_thousand_idle_connections_leave_a_request_answered_at_once() {
    let limits = Limits {
        // Room for the idle ones and the reader: what the cap holds back is another test.
        max_connections: 6_000,
        ..Limits::default()
    };
    let (addr, _) = spawn(limits).await;
    let mut idle = Vec::new();
    for _ in 0..5_000 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    let (response, took) = timed_get_of_a_thing(addr).await;
    println!("with 5,000 idle connections a request took {took:.1?}");
    assert_eq!(response.status(), 200);
    assert!(took < Duration::from_millis(100), "took {took:?}");
    drop(idle);
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_closes() {
    let limits = Limits {
        max_connections: 2,
        header_read_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let (addr, _) = spawn(limits).await;
    // Timed from before the idle connections open: their header timeout starts when the
    // server accepts them, so however late this thread gets to the request on a busy
    // machine, the request cannot be served sooner than 1 s from here.
    let opened = Instant::now();
    let first = TcpStream::connect(addr).await.unwrap();
    let second = TcpStream::connect(addr).await.unwrap();
    let (response, _) = timed_get_of_a_thing(addr).await;
    let waited = opened.elapsed();
    // The two idle connections hold the cap until the header timeout closes them.
    assert_eq!(response.status(), 200);
    assert!(
        waited >= Duration::from_millis(990),
        "served {waited:?} after the cap was filled, before the 1 s header timeout"
    );
    drop((first, second));
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests_and_does_not_wait_for_idle_keep_alive_clients() {
    const SLOW: Duration = Duration::from_millis(1500);
    let slow = warp::path!("slow")
        .and(route("/slow", Method::GET))
        .then(|| async {
            tokio::time::sleep(SLOW).await;
            "slow done"
        });
    let fast = warp::path!("fast")
        .and(route("/fast", Method::GET))
        .map(|| "fast");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = HttpMetrics::register(&Registry::new()).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        slow.or(fast).unify(),
        metrics,
        Edge::default(),
        async {
            let _ = stopped.await;
        },
    ));

    // A keep-alive client that made a request and keeps its connection open.
    let mut kept = TcpStream::connect(addr).await.unwrap();
    kept.write_all(b"GET /fast HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 512];
    let read = kept.read(&mut answer).await.unwrap();
    assert!(String::from_utf8_lossy(&answer[..read]).ends_with("fast"));
    // A client that connected and never sent anything.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    // A pooling HTTP client with an idle connection.
    let client = reqwest::Client::new();
    let pooled = client
        .get(format!("http://{addr}/fast"))
        .send()
        .await
        .unwrap();
    assert_eq!(pooled.text().await.unwrap(), "fast");
    // Requests in flight when the signal comes.
    let in_flight: Vec<_> = (0..5)
        .map(|_| tokio::spawn(reqwest::get(format!("http://{addr}/slow"))))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let signalled = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(DRAIN_TIMEOUT, server)
        .await
        .expect("serve() returns within the drain deadline")
        .unwrap();
    let took = signalled.elapsed();
    for request in in_flight {
        let response = request
            .await
            .unwrap()
            .expect("an accepted request is answered");
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "slow done");
    }
    println!(
        "shutdown with 5 requests in flight and 3 idle keep-alive clients: serve() returned \
         {took:.2?} after the signal (the slow requests needed {:.2?} more)",
        SLOW - Duration::from_millis(300)
    );
    assert!(
        took < SLOW + Duration::from_secs(1),
        "waited {took:?}: idle connections held the shutdown"
    );
    // The idle connections were closed by the server, not left open.
    for idle in [&mut kept, &mut silent] {
        let closed = tokio::time::timeout(Duration::from_secs(1), idle.read(&mut answer))
            .await
            .expect("an idle connection is closed at shutdown");
        assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    }
}

/// One response read off `stream`: its head (lower-cased) and its body, by its
/// Content-Length.
async fn read_response(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).await.unwrap(),
            1,
            "the connection closed mid-head"
        );
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap().to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length: "))
        .map(|n| n.trim().parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.unwrap();
    (head, body)
}

#[tokio::test]
async fn a_body_the_routes_left_unread_closes_the_connection_and_the_response_says_so() {
    let (addr, _) = spawn(Limits::default()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // A body the route reads: the connection stays open for the next request.
    stream
        .write_all(b"POST /things HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
        .await
        .unwrap();
    let (head, body) = read_response(&mut stream).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(body, b"5 bytes");
    assert!(!head.contains("connection: close"), "{head}");
    // A route that answers without reading the body (as a write refused before its body
    // is read), half of which has not arrived: the answer says the connection closes,
    // and it does, so a client does not send its next request into it.
    stream
        .write_all(b"GET /things/7 HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello")
        .await
        .unwrap();
    let (head, body) = read_response(&mut stream).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(body, b"thing 7");
    assert!(head.contains("connection: close"), "{head}");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the connection stayed open");
    assert!(rest.is_empty(), "more came after the answer: {rest:?}");
}
