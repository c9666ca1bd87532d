//! A TCP proxy of our own that breaks the network on purpose, for resilience tests.
//!
//! Put a [`FaultProxy`] between a client and a server (render-service and posts-service,
//! posts-service and MariaDB) and the test can, at run time, make the link slow, thin,
//! silent, rude or gone, with the faults [Toxiproxy] defines:
//!
//! | [`Fault`] | what the client sees | Toxiproxy |
//! |---|---|---|
//! | [`Fault::Latency`] | every chunk arrives `delay ± jitter` late, per [`Direction`] | `latency` |
//! | [`Fault::Bandwidth`] | at most `bytes_per_second`, per [`Direction`] | `bandwidth` |
//! | [`Fault::SlowClose`] | the close (FIN) arrives `delay` late | `slow_close` |
//! | [`Fault::Blackhole`] | connections open, but no byte passes; closed after `close_after` if given | `timeout` |
//! | [`Fault::ResetPeer`] | the connection is reset (RST, `ECONNRESET`) `after` it was opened | `reset_peer` |
//! | [`Fault::Down`] | new connections refused, open ones closed | proxy disabled |
//!
//! Faults take effect at once, on new connections and on open ones, and stay until
//! [`FaultProxy::clear`]. Setting a fault of a kind (and direction) already set replaces
//! it. The upstream address can change at run time ([`FaultProxy::set_upstream`]): a
//! restarted MariaDB container may come back on another host port.
//!
//! Unlike Toxiproxy's `timeout`, a blackhole *holds* the bytes instead of dropping them,
//! as TCP does during a partition: when it is cleared, the held bytes flow on and the
//! connection works again, so a blackhole is a freeze, not a corruption of the stream.
//!
//! # Layout
//!
//! - `fault`: [`Fault`], [`Direction`], and the state every connection watches.
//! - `proxy`: [`FaultProxy`]: the listener, its accept loop (closed while down), and the
//!   control API.
//! - `connection`: one proxied connection: two pipes (one per direction) that apply
//!   latency, bandwidth, blackhole and slow close chunk by chunk, and a watcher that
//!   resets or cuts the connection.
//!
//! The `fault-proxy` binary runs one proxy from the command line, controlled by lines
//! on its standard input.
//!
//! [Toxiproxy]: https://github.com/Shopify/toxiproxy

mod connection;
mod fault;
mod proxy;

pub use fault::{Direction, Fault};
pub use proxy::FaultProxy;
