//! [`FaultProxy`]: the listener, its accept loop, and the API tests drive it with.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::connection;
use crate::fault::{Fault, State};

/// A running proxy: accepts on [`FaultProxy::local_addr`] and forwards each connection
/// to the upstream address, through whatever faults are set. Dropping it stops the
/// listener and closes every connection it carries.
#[derive(Debug)]
pub struct FaultProxy {
    state: watch::Sender<State>,
    local_addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl FaultProxy {
    /// A proxy on a random loopback port, forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> io::Result<FaultProxy> {
        FaultProxy::bind(SocketAddr::from(([127, 0, 0, 1], 0)), upstream).await
    }

    /// A proxy listening on `listen`, forwarding to `upstream`. Must be called within a
    /// Tokio runtime, which then runs the proxy.
    pub async fn bind(listen: SocketAddr, upstream: SocketAddr) -> io::Result<FaultProxy> {
        let listener = bind(listen)?;
        let local_addr = listener.local_addr()?;
        let (state, watcher) = watch::channel(State::new(upstream));
        let accept = tokio::spawn(accept_loop(local_addr, listener, watcher));
        Ok(FaultProxy {
            state,
            local_addr,
            accept,
        })
    }

    /// Where the proxy listens (it keeps this address when it comes back from
    /// [`Fault::Down`]).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where new connections are forwarded.
    pub fn upstream(&self) -> SocketAddr {
        self.state.borrow().upstream
    }

    /// Forwards new connections to `upstream` from now on; open ones stay where they are.
    pub fn set_upstream(&self, upstream: SocketAddr) {
        self.state.send_modify(|state| state.upstream = upstream);
    }

    /// Adds `fault` (replacing one of the same kind and direction), effective at once.
    pub fn set_fault(&self, fault: Fault) {
        self.state.send_modify(|state| state.set(fault));
    }

    /// Removes every fault: held bytes flow on, a down proxy accepts again.
    pub fn clear(&self) {
        self.state.send_modify(State::clear);
    }

    /// The faults in force.
    pub fn faults(&self) -> Vec<Fault> {
        self.state.borrow().faults()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // The accept loop goes now; connections end when they see the sender (dropped
        // right after this) is gone.
        self.accept.abort();
    }
}

/// A listener with `SO_REUSEADDR`, so the proxy can listen on its port again after a
/// [`Fault::Down`] while old connections linger in `TIME_WAIT`.
fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Accepts connections and starts one task each; closes the listener while the proxy is
/// down, and binds it again when it comes back.
async fn accept_loop(addr: SocketAddr, listener: TcpListener, mut state: watch::Receiver<State>) {
    let mut listener = Some(listener);
    loop {
        if state.borrow_and_update().down {
            listener = None;
            if state.wait_for(|state| !state.down).await.is_err() {
                return;
            }
            continue;
        }
        let Some(open) = &listener else {
            match bind(addr) {
                Ok(bound) => listener = Some(bound),
                // Someone else took the port meanwhile, or the old socket is not quite
                // gone: try again shortly.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
            continue;
        };
        tokio::select! {
            accepted = open.accept() => match accepted {
                Ok((client, _)) => {
                    tokio::spawn(connection::carry(client, state.clone()));
                }
                // Usually EMFILE: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            changed = state.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}
