//! One proxied connection: connect upstream, then pump bytes both ways through the
//! faults, until either side closes or a fault ends the connection.
//!
//! Each direction is a pipe of two halves: a reader that timestamps every chunk as it
//! arrives, and a writer that delivers it when the faults allow (after a blackhole
//! lifts, `delay ± jitter` after it arrived, no faster than the bandwidth). So latency
//! is pipelined like on a long wire, and a change of faults reaches chunks already
//! waiting. Beside the pipes, a watcher ends the connection on [`Fault::ResetPeer`],
//! [`Fault::Down`] or a blackhole's `close_after`.
//!
//! [`Fault::ResetPeer`]: crate::Fault::ResetPeer
//! [`Fault::Down`]: crate::Fault::Down

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use crate::fault::{Delay, Direction, State};

/// The most bytes read at once.
const CHUNK: usize = 16 * 1024;

/// Chunks read but not yet delivered, per direction, before the reader waits.
const QUEUE: usize = 8;

/// How a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// An orderly close (FIN).
    Close,
    /// A reset (RST): `SO_LINGER` 0, then close.
    Reset,
}

/// Carries `client`'s connection to the upstream until it ends.
pub(crate) async fn carry(mut client: TcpStream, state: watch::Receiver<State>) {
    let opened = Instant::now();
    let end = tokio::select! {
        outcome = forward(&mut client, state.clone()) => match outcome {
            // A server that resets its side has the client's reset too.
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset => End::Reset,
            _ => End::Close,
        },
        end = watch_for_end(state, opened) => end,
    };
    match end {
        // With a zero linger, close sends RST instead of FIN.
        End::Reset => {
            let _ = client.set_zero_linger();
        }
        // Bytes left unread would make the kernel answer the close with RST: discard
        // them, so an orderly close stays orderly.
        End::Close => {
            let mut discard = [0; CHUNK];
            while matches!(client.try_read(&mut discard), Ok(read) if read > 0) {}
        }
    }
    drop(client);
}

/// Connects upstream and pumps both ways until both directions have closed.
async fn forward(client: &mut TcpStream, mut state: watch::Receiver<State>) -> io::Result<()> {
    // A blackhole holds a new connection before it reaches the server, too.
    if state
        .wait_for(|state| state.blackhole.is_none())
        .await
        .is_err()
    {
        return Ok(());
    }
    let upstream_addr = state.borrow().upstream;
    let mut upstream = TcpStream::connect(upstream_addr).await?;
    let _ = upstream.set_nodelay(true);
    let _ = client.set_nodelay(true);
    let (client_read, client_write) = client.split();
    let (upstream_read, upstream_write) = upstream.split();
    tokio::try_join!(
        pipe(
            Direction::Upstream,
            client_read,
            upstream_write,
            state.clone()
        ),
        pipe(Direction::Downstream, upstream_read, client_write, state),
    )?;
    Ok(())
}

/// Bytes read from one side, and when.
struct Chunk {
    arrived: Instant,
    bytes: Vec<u8>,
}

/// Moves bytes from `from` to `to` through the faults of `direction`; passes the close
/// on when `from` ends.
async fn pipe<R, W>(
    direction: Direction,
    mut from: R,
    mut to: W,
    mut state: watch::Receiver<State>,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (chunks, mut arrived) = mpsc::channel::<Chunk>(QUEUE);
    let read = async move {
        loop {
            let mut bytes = vec![0; CHUNK];
            let read = from.read(&mut bytes).await?;
            if read == 0 {
                // Dropping `chunks` tells the writer the stream ended.
                return Ok::<(), io::Error>(());
            }
            bytes.truncate(read);
            let chunk = Chunk {
                arrived: Instant::now(),
                bytes,
            };
            if chunks.send(chunk).await.is_err() {
                return Ok(());
            }
        }
    };
    let write = async {
        let mut jitter = Jitter::new();
        while let Some(chunk) = arrived.recv().await {
            deliver(direction, &chunk, &mut to, &mut state, &mut jitter).await?;
        }
        // A blackhole holds the close too.
        if state
            .wait_for(|state| state.blackhole.is_none())
            .await
            .is_err()
        {
            return Ok(());
        }
        let slow_close = state.borrow().slow_close;
        if let Some(delay) = slow_close {
            tokio::time::sleep(delay).await;
        }
        to.shutdown().await
    };
    tokio::try_join!(read, write).map(|_| ())
}

/// Writes one chunk when the faults let it through.
async fn deliver<W: AsyncWrite + Unpin>(
    direction: Direction,
    chunk: &Chunk,
    to: &mut W,
    state: &mut watch::Receiver<State>,
    jitter: &mut Jitter,
) -> io::Result<()> {
    let spread = jitter.next_unit();
    let mut rest = &chunk.bytes[..];
    while !rest.is_empty() {
        if state
            .wait_for(|state| state.blackhole.is_none())
            .await
            .is_err()
        {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let (latency, bandwidth) = {
            let state = state.borrow_and_update();
            (
                state.latency[direction.index()],
                state.bandwidth[direction.index()],
            )
        };
        if let Some(latency) = latency {
            let due = chunk.arrived + jittered(latency, spread);
            if due > Instant::now() {
                tokio::select! {
                    () = tokio::time::sleep_until(due.into()) => {}
                    // Faults changed while waiting: look again.
                    _ = state.changed() => continue,
                }
            }
        }
        let piece = match bandwidth {
            // A twentieth of a second's worth at a time, so the rate holds for big chunks.
            Some(rate) => rest
                .len()
                .min(usize::try_from(rate / 20).unwrap_or(CHUNK).max(1)),
            None => rest.len(),
        };
        to.write_all(&rest[..piece]).await?;
        rest = &rest[piece..];
        if let Some(rate) = bandwidth {
            tokio::time::sleep(Duration::from_secs_f64(piece as f64 / rate as f64)).await;
        }
    }
    Ok(())
}

/// `delay` moved by `spread` (in `-1..=1`) times the jitter, never below zero.
fn jittered(latency: Delay, spread: f64) -> Duration {
    let seconds = latency.delay.as_secs_f64() + spread * latency.jitter.as_secs_f64();
    Duration::from_secs_f64(seconds.max(0.0))
}

/// Resolves when a fault ends the connection: at once when the proxy goes down or away,
/// or when a reset or a blackhole's `close_after` falls due.
async fn watch_for_end(mut state: watch::Receiver<State>, opened: Instant) -> End {
    loop {
        let next = {
            let state = state.borrow_and_update();
            if state.down {
                return End::Close;
            }
            let reset = state
                .reset
                .map(|reset| (reset.since.max(opened) + reset.value, End::Reset));
            let close = state.blackhole.and_then(|blackhole| {
                blackhole
                    .value
                    .map(|after| (blackhole.since.max(opened) + after, End::Close))
            });
            [reset, close]
                .into_iter()
                .flatten()
                .min_by_key(|(due, _)| *due)
        };
        let changed = match next {
            Some((due, end)) => tokio::select! {
                () = tokio::time::sleep_until(due.into()) => return end,
                changed = state.changed() => changed,
            },
            None => state.changed().await,
        };
        if changed.is_err() {
            // The proxy is gone.
            return End::Close;
        }
    }
}

/// A small xorshift generator for jitter: no dependency, seeded per connection.
struct Jitter(u64);

impl Jitter {
    fn new() -> Jitter {
        Jitter(RandomState::new().hash_one(Instant::now()) | 1)
    }

    /// A number spread evenly over `-1..=1`.
    fn next_unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}
