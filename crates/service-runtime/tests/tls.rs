//! The public listener over TLS, as clients meet it: one that trusts the CA gets its
//! answer, one that does not (or asks for another name, or speaks plain HTTP) gets none;
//! the health check asks over TLS; bad certificate files stop the start with an error
//! naming the variable.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use http::Method;
use prometheus::Registry;
use service_runtime::config::{DefaultPorts, ServerConfig};
use service_runtime::healthcheck;
use service_runtime::metrics::{route, HttpMetrics};
use service_runtime::server::{serve, Edge, Limits};
use service_runtime::tls::{self, TlsFiles};
use test_mariadb::tls::{ServerCert, TestCa};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use warp::Filter;

/// Serves `GET /things/{id}` over TLS with `cert`.
async fn spawn_tls(cert: &ServerCert) -> SocketAddr {
    let routes = warp::path!("things" / u64)
        .and(route("/things/{id}", Method::GET))
        .map(|id: u64| format!("thing {id}"));
    let config = tls::server_config(&files(cert)).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = HttpMetrics::register(&Registry::new()).unwrap();
    let edge = Edge {
        limits: Limits::default(),
        tls: Some(config),
    };
    tokio::spawn(serve(
        listener,
        routes,
        metrics,
        edge,
        std::future::pending(),
    ));
    addr
}

fn files(cert: &ServerCert) -> TlsFiles {
    TlsFiles {
        cert_file: cert.cert_file.clone(),
        key_file: cert.key_file.clone(),
    }
}

/// A client that trusts only the CA whose certificate is `ca_file`, and finds
/// `localhost` at `addr`.
fn client_trusting(ca_file: &Path, addr: SocketAddr) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca_file).unwrap()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .resolve("localhost", addr)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_client_that_trusts_the_ca_gets_its_answer_over_tls() {
    let ca = TestCa::new("edge test CA");
    let addr = spawn_tls(&ca.server("server", &["localhost", "127.0.0.1"])).await;
    let client = client_trusting(&ca.ca_file(), addr);
    for url in [
        format!("https://localhost:{}/things/7", addr.port()),
        format!("https://127.0.0.1:{}/things/7", addr.port()),
    ] {
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        assert_eq!(response.text().await.unwrap(), "thing 7");
    }
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_is_refused() {
    let ca = TestCa::new("edge test CA");
    let other = TestCa::new("another CA");
    let addr = spawn_tls(&ca.server("server", &["localhost"])).await;
    let url = format!("https://localhost:{}/things/7", addr.port());
    let err = client_trusting(&other.ca_file(), addr)
        .get(&url)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    // the server keeps serving the clients that do trust it
    let response = client_trusting(&ca.ca_file(), addr)
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused() {
    let ca = TestCa::new("edge test CA");
    let addr = spawn_tls(&ca.server("server", &["posts-service.example"])).await;
    let err = client_trusting(&ca.ca_file(), addr)
        .get(format!("https://localhost:{}/things/7", addr.port()))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
}

#[tokio::test]
async fn plain_http_to_the_tls_port_gets_no_http_answer() {
    let ca = TestCa::new("edge test CA");
    let addr = spawn_tls(&ca.server("server", &["localhost"])).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /things/7 HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut reply))
        .await
        .expect("the server closes the connection")
        .ok();
    assert!(
        !String::from_utf8_lossy(&reply).contains("HTTP/1."),
        "{reply:?}"
    );
    assert!(!String::from_utf8_lossy(&reply).contains("thing 7"));

    let err = reqwest::get(format!("http://{addr}/things/7"))
        .await
        .unwrap_err();
    assert!(!err.is_status(), "{err:?}");
}

#[tokio::test]
async fn the_health_check_asks_over_tls_trusting_the_served_certificate() {
    let ca = TestCa::new("edge test CA");
    let cert = ca.server("server", &["posts-service"]);
    let addr = spawn_tls(&cert).await;
    let pinned = |cert: &ServerCert| {
        let mut certs = tls::certificates("TLS_CERT_FILE", &cert.cert_file).unwrap();
        Some(std::sync::Arc::new(tls::client_config_pinned(
            certs.swap_remove(0),
        )))
    };
    let check = |tls| {
        tokio::task::spawn_blocking(move || {
            healthcheck::probe_with(addr, "/things/1", healthcheck::TIMEOUT, tls)
        })
    };
    assert_eq!(check(pinned(&cert)).await.unwrap(), Ok(()));
    let err = check(None).await.unwrap().unwrap_err();
    assert!(!err.contains("200"), "{err}");
    // a certificate other than the one served is not trusted, even from the same CA
    let err = check(pinned(&ca.server("other", &["posts-service"])))
        .await
        .unwrap()
        .unwrap_err();
    assert!(err.contains("certificate"), "{err}");
}

fn server_vars(cert_file: &Path, key_file: &Path) -> ServerConfig {
    ServerConfig::from_iter(
        [
            (
                "TLS_CERT_FILE".to_owned(),
                cert_file.to_str().unwrap().to_owned(),
            ),
            (
                "TLS_KEY_FILE".to_owned(),
                key_file.to_str().unwrap().to_owned(),
            ),
        ],
        DefaultPorts {
            listen: 0,
            metrics: 0,
        },
    )
    .unwrap()
}

#[test]
fn unusable_certificate_files_are_errors_naming_the_variable_not_the_content() {
    let ca = TestCa::new("edge test CA");
    let cert = ca.server("server", &["localhost"]);
    let other = ca.server("other", &["localhost"]);
    let key_pem = std::fs::read_to_string(&cert.key_file).unwrap();
    let key_line = key_pem.lines().nth(1).unwrap().to_owned();
    let missing = ca.dir().join("missing.pem");
    let garbage = ca.dir().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n",
    )
    .unwrap();

    assert!(server_vars(&cert.cert_file, &cert.key_file)
        .tls_config()
        .unwrap()
        .is_some());
    for (cert_file, key_file, expected) in [
        (
            &missing,
            &cert.key_file,
            "TLS_CERT_FILE names a file that cannot be read",
        ),
        (
            &cert.cert_file,
            &missing,
            "TLS_KEY_FILE names a file that cannot be read",
        ),
        (
            &cert.key_file,
            &cert.key_file,
            "TLS_CERT_FILE names a file that holds no PEM certificate",
        ),
        (
            &cert.cert_file,
            &cert.cert_file,
            "TLS_KEY_FILE names a file that holds no PEM private key",
        ),
        (
            &garbage,
            &cert.key_file,
            "TLS_CERT_FILE names a file that is not valid PEM",
        ),
        (
            &cert.cert_file,
            &other.key_file,
            "TLS_KEY_FILE does not hold the private key of the certificate in TLS_CERT_FILE",
        ),
    ] {
        let err = server_vars(cert_file, key_file)
            .tls_config()
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{err}");
        assert!(!err.contains(&key_line), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_client_silent_in_its_tls_handshake() {
    let ca = TestCa::new("test CA");
    let cert = ca.server("server", &["localhost"]);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = HttpMetrics::register(&Registry::new()).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let edge = Edge {
        limits: Limits::default(),
        tls: Some(tls::server_config(&files(&cert)).unwrap()),
    };
    let server = tokio::spawn(serve(
        listener,
        warp::path!("hello")
            .and(route("/hello", Method::GET))
            .map(|| "hello"),
        metrics,
        edge,
        async {
            let _ = stopped.await;
        },
    ));
    // Connected, and never sends its ClientHello: no request can be in flight on it.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    // A trusting client's request is answered, so the server runs and serves TLS.
    let answer = client_trusting(&ca.ca_file(), addr)
        .get(format!("https://localhost:{}/hello", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.text().await.unwrap(), "hello");

    let signalled = std::time::Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve() returns without waiting out the handshake deadline (10 s)")
        .unwrap();
    let took = signalled.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "serve() returned after {took:?}"
    );
    let mut buffer = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(1), silent.read(&mut buffer))
        .await
        .expect("the silent connection is closed at shutdown");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
}
