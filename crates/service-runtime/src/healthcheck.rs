//! `SERVICE healthcheck`: the container health check of an image that has no shell.
//!
//! The runtime images hold the service's static binary and nothing else (no shell, no
//! curl), so compose's `healthcheck:` and the image's `HEALTHCHECK` run the binary itself
//! with this subcommand. It connects to the address the service listens on (`LISTEN_ADDR`,
//! read the same way the service reads it; an unspecified address such as `0.0.0.0` means
//! loopback), sends one HTTP/1.0 `GET /readyz` (or the path given after `healthcheck`),
//! and exits 0 only when the answer is a 200 within [`TIMEOUT`]. Any other outcome prints
//! one line saying why and exits 1, which is what Docker counts as unhealthy.
//!
//! When `TLS_CERT_FILE` is set the service serves HTTPS, and so does the check: it
//! trusts exactly the certificate in that file, whatever name it carries, since it asks
//! its own process on loopback.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The bound on the whole check: connect, send, read the status line. Docker's own
/// health check timeout should be larger.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// Runs the `healthcheck` subcommand: probes the path given as the next argument
/// (default `/readyz`) on `LISTEN_ADDR`, or on `default_listen_addr` when it is unset.
pub fn main(default_listen_addr: SocketAddr) -> ExitCode {
    let listen_addr = match std::env::var("LISTEN_ADDR") {
        Ok(value) => match value.parse::<SocketAddr>() {
            Ok(addr) => addr,
            Err(_) => {
                eprintln!("healthcheck: LISTEN_ADDR is malformed");
                return ExitCode::from(2);
            }
        },
        Err(_) => default_listen_addr,
    };
    let tls = match std::env::var_os("TLS_CERT_FILE") {
        Some(file) => match crate::tls::certificates("TLS_CERT_FILE", Path::new(&file)) {
            Ok(mut certs) => Some(Arc::new(crate::tls::client_config_pinned(
                certs.swap_remove(0),
            ))),
            Err(err) => {
                eprintln!("healthcheck: {err}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let path = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "/readyz".to_owned());
    match probe_with(local_target(listen_addr), &path, TIMEOUT, tls) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("healthcheck: GET {path}: {reason}");
            ExitCode::FAILURE
        }
    }
}

/// Where to reach a service that listens on `listen_addr` from inside its container.
pub fn local_target(listen_addr: SocketAddr) -> SocketAddr {
    match listen_addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), listen_addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), listen_addr.port())
        }
        _ => listen_addr,
    }
}

/// `GET path` on `addr`: `Ok` on a 200 within `timeout`, else why not.
pub fn probe(addr: SocketAddr, path: &str, timeout: Duration) -> Result<(), String> {
    probe_with(addr, path, timeout, None)
}

/// [`probe`], over TLS with `tls` when it is set.
pub fn probe_with(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let remaining = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .ok_or_else(|| format!("no answer within {} ms", timeout.as_millis()))
    };
    let tcp = TcpStream::connect_timeout(&addr, remaining()?)
        .map_err(|err| format!("cannot connect to {addr}: {err}"))?;
    tcp.set_write_timeout(Some(remaining()?))
        .map_err(|err| err.to_string())?;
    let mut stream = match tls {
        None => Stream::Plain(tcp),
        Some(config) => {
            let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
            let connection = rustls::ClientConnection::new(config, name)
                .map_err(|err| format!("cannot start TLS: {err}"))?;
            Stream::Tls(Box::new(rustls::StreamOwned::new(connection, tcp)))
        }
    };
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: healthcheck\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(|err| format!("cannot send the request: {err}"))?;

    // Only the status line matters; read until its end (or the peer closes).
    let mut head = Vec::with_capacity(128);
    let mut buf = [0u8; 128];
    while !head.contains(&b'\n') && head.len() < 1024 {
        stream
            .tcp()
            .set_read_timeout(Some(remaining()?))
            .map_err(|err| err.to_string())?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(err) => return Err(format!("no answer: {err}")),
        }
    }
    let status_line = String::from_utf8_lossy(&head);
    let status_line = status_line.lines().next().unwrap_or("").trim();
    let mut parts = status_line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(version), Some("200")) if version.starts_with("HTTP/1.") => Ok(()),
        (Some(version), Some(_)) if version.starts_with("HTTP/1.") => {
            Err(format!("answered {status_line:?}"))
        }
        _ => Err(format!("not an HTTP answer: {status_line:?}")),
    }
}

/// The connection a probe asks over.
enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => &tls.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read(buf),
            Stream::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.write(buf),
            Stream::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(tcp) => tcp.flush(),
            Stream::Tls(tls) => tls.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    /// A one-connection server that reads the request, checks it asks for `/readyz`, and
    /// answers `response` (or nothing at all, holding the connection, when it is `None`).
    fn serve_once(response: Option<&'static str>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 512];
            let n = stream.read(&mut request).unwrap();
            assert!(request[..n].starts_with(b"GET /readyz HTTP/1.0\r\n"));
            match response {
                Some(response) => stream.write_all(response.as_bytes()).unwrap(),
                None => thread::sleep(Duration::from_secs(3)),
            }
        });
        addr
    }

    #[test]
    fn a_200_is_healthy() {
        let addr = serve_once(Some("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nready"));
        assert_eq!(probe(addr, "/readyz", TIMEOUT), Ok(()));
    }

    #[test]
    fn a_503_is_unhealthy_and_says_so() {
        let addr = serve_once(Some("HTTP/1.0 503 Service Unavailable\r\n\r\n"));
        let err = probe(addr, "/readyz", TIMEOUT).unwrap_err();
        assert!(err.contains("503"), "{err}");
    }

    #[test]
    fn a_silent_server_is_unhealthy_within_the_timeout() {
        let addr = serve_once(None);
        let started = Instant::now();
        let err = probe(addr, "/readyz", Duration::from_millis(300)).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2), "{err}");
    }

    #[test]
    fn nothing_listening_is_unhealthy() {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap(); // the listener is dropped: the port is closed again
        let err = probe(addr, "/readyz", TIMEOUT).unwrap_err();
        assert!(err.contains("cannot connect"), "{err}");
    }

    #[test]
    fn an_unspecified_listen_address_is_probed_on_loopback() {
        let any: SocketAddr = "0.0.0.0:8081".parse().unwrap();
        assert_eq!(local_target(any), "127.0.0.1:8081".parse().unwrap());
        let any6: SocketAddr = "[::]:8080".parse().unwrap();
        assert_eq!(local_target(any6), "[::1]:8080".parse().unwrap());
        let exact: SocketAddr = "10.0.0.5:9000".parse().unwrap();
        assert_eq!(local_target(exact), exact);
    }
}
