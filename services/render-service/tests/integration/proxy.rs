//! A small TCP proxy between render-service and posts-service that the tests can turn
//! bad: frozen (connections are accepted but no byte moves either way, on new and
//! pooled connections alike, as with a SIGSTOPped process: what was sent waits, and
//! moves on once thawed), or losing the answer to one create (posts-service makes the
//! post, the caller never hears of it). It counts the requests that reached
//! posts-service.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The proxy; dropping it stops accepting.
pub struct Proxy {
    /// Where render-service should send its calls.
    pub addr: SocketAddr,
    faults: Arc<Faults>,
    task: JoinHandle<()>,
}

struct Faults {
    frozen: watch::Sender<bool>,
    lose_next_create_answer: AtomicBool,
    forwarded_requests: AtomicUsize,
    forwarded_creates: AtomicUsize,
}

impl Faults {
    /// Returns once the proxy is not frozen.
    async fn thawed(&self) {
        let mut frozen = self.frozen.subscribe();
        let _ = frozen.wait_for(|frozen| !frozen).await;
    }
}

impl Proxy {
    /// A proxy in front of `upstream`, passing everything.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let faults = Arc::new(Faults {
            frozen: watch::Sender::new(false),
            lose_next_create_answer: AtomicBool::new(false),
            forwarded_requests: AtomicUsize::new(0),
            forwarded_creates: AtomicUsize::new(0),
        });
        let shared = faults.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, upstream, shared.clone()));
            }
        });
        Proxy { addr, faults, task }
    }

    /// From now on nothing reaches posts-service and nothing comes back.
    pub fn freeze(&self) {
        self.faults.frozen.send_replace(true);
    }

    /// Back to passing everything, what waited first.
    pub fn thaw(&self) {
        self.faults.frozen.send_replace(false);
    }

    /// The next `POST /v1/posts` reaches posts-service, but its answer never comes back.
    pub fn lose_the_next_create_answer(&self) {
        self.faults
            .lose_next_create_answer
            .store(true, Ordering::SeqCst);
    }

    /// Request heads forwarded to posts-service so far.
    pub fn forwarded_requests(&self) -> usize {
        self.faults.forwarded_requests.load(Ordering::SeqCst)
    }

    /// `POST /v1/posts` requests forwarded to posts-service so far.
    pub fn forwarded_creates(&self) -> usize {
        self.faults.forwarded_creates.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Pipes one connection both ways, applying the faults.
async fn relay(client: TcpStream, upstream: SocketAddr, faults: Arc<Faults>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let muted = Arc::new(AtomicBool::new(false));
    let muted_here = muted.clone();
    let faults_here = faults.clone();
    let requests = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from_client.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            faults_here.thawed().await;
            let chunk = &buf[..n];
            if is_request_head(chunk) {
                faults_here
                    .forwarded_requests
                    .fetch_add(1, Ordering::SeqCst);
            }
            let create = chunk.starts_with(b"POST /v1/posts ");
            if create {
                faults_here.forwarded_creates.fetch_add(1, Ordering::SeqCst);
            }
            if create
                && faults_here
                    .lose_next_create_answer
                    .swap(false, Ordering::SeqCst)
            {
                muted_here.store(true, Ordering::SeqCst);
            }
            if to_server.write_all(chunk).await.is_err() {
                return;
            }
        }
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from_server.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        faults.thawed().await;
        if muted.load(Ordering::SeqCst) {
            continue;
        }
        if to_client.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    requests.abort();
}

fn is_request_head(chunk: &[u8]) -> bool {
    [&b"GET "[..], b"POST ", b"PUT ", b"DELETE ", b"HEAD "]
        .iter()
        .any(|method| chunk.starts_with(method))
}
