//! The API token is checked before the body is read: a request without it is refused
//! with a 401 while its body is still on the way, so an anonymous client cannot make the
//! server take in (and hold) a body of up to a megabyte per request.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;
use test_mariadb::harness::Db;

use crate::helpers::{TestApp, TOKEN};

/// The length every request below declares: 1 MiB, of which only [`SENT`] is sent.
const DECLARED: usize = 1024 * 1024;
/// The part of the body that is sent.
const SENT: &[u8] = b"{\"title\": \"x\", ";
/// How long the answer may take: far longer than a 401 needs, far shorter than never.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// A raw HTTP/1.1 answer.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends the head of `method path` declaring a 1 MiB JSON body, plus the first bytes of
/// that body, with `authorization` if given; then reads the answer while the rest of the
/// body is never sent. Fails if no complete answer arrives within [`ANSWER_WITHIN`].
fn send_head_and_wait(
    addr: SocketAddr,
    method: &str,
    path: &str,
    authorization: Option<&str>,
) -> Answer {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(ANSWER_WITHIN)).unwrap();
    let authorization = authorization
        .map(|value| format!("Authorization: {value}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {DECLARED}\r\n{authorization}\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(SENT).unwrap();
    stream.flush().unwrap();

    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head_end, content_length) = loop {
        if let Some(end) = find(&received, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..end]).to_string();
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .expect("the answer declares its length");
            break (end + 4, length);
        }
        read_more(&mut stream, &mut chunk, &mut received, method, path);
    };
    while received.len() < head_end + content_length {
        read_more(&mut stream, &mut chunk, &mut received, method, path);
    }
    let head = String::from_utf8_lossy(&received[..head_end - 4]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: received[head_end..head_end + content_length].to_vec(),
    }
}

fn read_more(
    stream: &mut TcpStream,
    chunk: &mut [u8],
    received: &mut Vec<u8>,
    method: &str,
    path: &str,
) {
    match stream.read(chunk) {
        Ok(0) => panic!("{method} {path}: connection closed before a whole answer"),
        Ok(n) => received.extend_from_slice(&chunk[..n]),
        Err(err) => panic!(
            "{method} {path}: no answer within {ANSWER_WITHIN:?} while the body is \
             incomplete (the server waits for the body): {err}"
        ),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

pub async fn a_write_without_the_token_is_refused_before_its_body_is_read(db: Db) {
    let app = TestApp::spawn(&db).await;
    let addr = app.addr;
    let routes = [
        ("POST", "/v1/posts"),
        ("PUT", "/v1/posts/1"),
        ("DELETE", "/v1/posts/1"),
        ("POST", "/internal/v1/sessions"),
        ("POST", "/internal/v1/login-failures"),
    ];
    for (method, path) in routes {
        let refused = [
            None,
            Some("Bearer wrong".to_owned()),
            Some(format!("Basic {TOKEN}")),
        ];
        for authorization in refused {
            let sent = authorization.clone();
            let answer = tokio::task::spawn_blocking(move || {
                send_head_and_wait(addr, method, path, sent.as_deref())
            })
            .await
            .unwrap();
            assert_eq!(answer.status, 401, "{method} {path} with {authorization:?}");
            assert_eq!(
                answer
                    .header("www-authenticate")
                    .and_then(|value| value.split(' ').next()),
                Some("Bearer"),
                "{method} {path}"
            );
            assert_eq!(
                answer.header("content-type"),
                Some("application/problem+json")
            );
            let problem: Value = serde_json::from_slice(&answer.body).expect("problem JSON");
            assert_eq!(problem["status"], 401);
        }
    }
    // Nothing was written by any of them.
    let list: Value = app.list("").await.json().await.unwrap();
    assert_eq!(list["posts"].as_array().unwrap().len(), 0);
    app.stop().await;
}
