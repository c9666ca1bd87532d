//! The client's address, as login throttling and the login log lines need it: the TCP
//! peer (from the server loop, [`PeerAddr`]), or the `X-Forwarded-For` entry a trusted
//! proxy added ([`crate::login_limit::LoginLimiter::client_address`]).

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;

use service_runtime::server::PeerAddr;
use warp::Filter;

use crate::state::{with_state, AppState};

/// The client's address.
pub fn client_address(
    state: &Arc<AppState>,
) -> impl Filter<Extract = (IpAddr,), Error = Infallible> + Clone {
    with_state(state)
        .and(warp::ext::optional::<PeerAddr>())
        .and(
            warp::header::optional::<String>("x-forwarded-for")
                .or_else(|_| async { Ok::<_, Infallible>((None,)) }),
        )
        .map(
            |state: Arc<AppState>, peer: Option<PeerAddr>, forwarded_for: Option<String>| {
                state
                    .login_limiter
                    .client_address(peer.map(|peer| peer.0), forwarded_for.as_deref())
            },
        )
}
