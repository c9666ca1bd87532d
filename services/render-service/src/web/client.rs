//! The client's address, as login throttling and the login log lines need it: the TCP
//! peer (from the server loop, [`PeerAddr`]), or what the trusted proxies wrote in
//! `X-Forwarded-For`, every line of it ([`crate::forwarded::ProxyTrust::client_address`]).

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;

use http::HeaderMap;
use service_runtime::server::PeerAddr;
use warp::Filter;

use crate::state::{with_state, AppState};

/// The client's address.
pub fn client_address(
    state: &Arc<AppState>,
) -> impl Filter<Extract = (IpAddr,), Error = Infallible> + Clone {
    with_state(state)
        .and(warp::ext::optional::<PeerAddr>())
        .and(warp::header::headers_cloned())
        .map(
            |state: Arc<AppState>, peer: Option<PeerAddr>, headers: HeaderMap| {
                // A line that is not text stays in its place, as an entry that is no address.
                let lines: Vec<_> = headers
                    .get_all("x-forwarded-for")
                    .iter()
                    .map(|line| String::from_utf8_lossy(line.as_bytes()))
                    .collect();
                state.proxies.client_address(
                    peer.map(|peer| peer.0),
                    lines.iter().map(|line| line.as_ref()),
                )
            },
        )
}
