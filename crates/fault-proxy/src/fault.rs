//! The faults a proxy can inject, and the state its connections watch.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Which way the bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client to the server (requests).
    Upstream,
    /// From the server to the client (responses).
    Downstream,
}

impl Direction {
    pub(crate) fn index(self) -> usize {
        match self {
            Direction::Upstream => 0,
            Direction::Downstream => 1,
        }
    }
}

/// One fault, as Toxiproxy defines it (see the crate documentation for the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Each chunk of bytes going `direction` is delivered `delay` after it arrived, give
    /// or take up to `jitter` (uniformly). Chunks keep their order, and the delay is
    /// pipelined: it does not limit throughput.
    Latency {
        /// Which way.
        direction: Direction,
        /// The mean delay.
        delay: Duration,
        /// The most the delay varies either way.
        jitter: Duration,
    },
    /// At most `bytes_per_second` pass `direction`.
    Bandwidth {
        /// Which way.
        direction: Direction,
        /// The rate (at least 1).
        bytes_per_second: u64,
    },
    /// When one side closes, the other sees the close `delay` later.
    SlowClose {
        /// How late.
        delay: Duration,
    },
    /// No byte passes either way, but connections stay open (and new ones are
    /// accepted). With `close_after`, each connection is closed that long after the fault
    /// began (or after it was opened, if later); without, until the fault is cleared,
    /// when the held bytes flow on.
    Blackhole {
        /// When to give up and close.
        close_after: Option<Duration>,
    },
    /// Connections are reset (TCP RST: the client's next read or write fails with
    /// `ECONNRESET`) `after` the fault began or they were opened, whichever is later.
    ResetPeer {
        /// How long a connection lives first.
        after: Duration,
    },
    /// The proxy refuses new connections (its listener is closed) and closes the open
    /// ones.
    Down,
}

/// A setting and when it was made.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Since<T> {
    pub value: T,
    pub since: Instant,
}

/// Latency of one direction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Delay {
    pub delay: Duration,
    pub jitter: Duration,
}

/// Everything a connection needs to know, shared through a `watch` channel.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub upstream: SocketAddr,
    pub latency: [Option<Delay>; 2],
    pub bandwidth: [Option<u64>; 2],
    pub slow_close: Option<Duration>,
    pub blackhole: Option<Since<Option<Duration>>>,
    pub reset: Option<Since<Duration>>,
    pub down: bool,
}

impl State {
    pub fn new(upstream: SocketAddr) -> State {
        State {
            upstream,
            latency: [None; 2],
            bandwidth: [None; 2],
            slow_close: None,
            blackhole: None,
            reset: None,
            down: false,
        }
    }

    /// Adds `fault`, replacing one of the same kind and direction.
    pub fn set(&mut self, fault: Fault) {
        let now = Instant::now();
        match fault {
            Fault::Latency {
                direction,
                delay,
                jitter,
            } => self.latency[direction.index()] = Some(Delay { delay, jitter }),
            Fault::Bandwidth {
                direction,
                bytes_per_second,
            } => self.bandwidth[direction.index()] = Some(bytes_per_second.max(1)),
            Fault::SlowClose { delay } => self.slow_close = Some(delay),
            Fault::Blackhole { close_after } => {
                self.blackhole = Some(Since {
                    value: close_after,
                    since: now,
                })
            }
            Fault::ResetPeer { after } => {
                self.reset = Some(Since {
                    value: after,
                    since: now,
                })
            }
            Fault::Down => self.down = true,
        }
    }

    /// Removes every fault; the upstream stays.
    pub fn clear(&mut self) {
        *self = State::new(self.upstream);
    }

    /// The faults in force, for display.
    pub fn faults(&self) -> Vec<Fault> {
        let mut faults = Vec::new();
        for direction in [Direction::Upstream, Direction::Downstream] {
            if let Some(Delay { delay, jitter }) = self.latency[direction.index()] {
                faults.push(Fault::Latency {
                    direction,
                    delay,
                    jitter,
                });
            }
            if let Some(bytes_per_second) = self.bandwidth[direction.index()] {
                faults.push(Fault::Bandwidth {
                    direction,
                    bytes_per_second,
                });
            }
        }
        if let Some(delay) = self.slow_close {
            faults.push(Fault::SlowClose { delay });
        }
        if let Some(blackhole) = self.blackhole {
            faults.push(Fault::Blackhole {
                close_after: blackhole.value,
            });
        }
        if let Some(reset) = self.reset {
            faults.push(Fault::ResetPeer { after: reset.value });
        }
        if self.down {
            faults.push(Fault::Down);
        }
        faults
    }
}
