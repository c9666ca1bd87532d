//! Login throttling (OWASP ASVS 5.0 §6.3): whether a client may try a password now.
//!
//! Two bounds, each answered with 429 and `Retry-After`:
//!
//! - **Per client address**: at most [`CLIENT_FAILURES_PER_MINUTE`] wrong passwords in
//!   any minute, counted by posts-service across every replica. In front of that
//!   count, a keyed `governor` limiter in each replica lets an address try
//!   [`ADDRESS_BURST`] logins at once and one more every [`ADDRESS_PERIOD`], so a flood
//!   from one address is refused here without a database call. Its memory stays
//!   bounded: an address's state is dropped ([`LoginLimiter::prune`], every
//!   [`PRUNE_INTERVAL`]) once it is as good as new, a minute after its last attempt.
//! - **For the admin account**: once [`ACCOUNT_FAILURES_PER_HOUR`] wrong passwords
//!   have been counted in the last hour (across replicas), an address that itself
//!   gave a wrong password in that hour may not try again until the hour has passed.
//!   An address with no recent wrong password is still heard, so an attack from one
//!   address (or many) never locks the admin out from another; each attacking address
//!   gets at most one more guess an hour once the account bound is reached.
//!
//! Both count a client by [`throttle_key`]: its IPv4 address, or its IPv6 /64. Who the
//! client is behind proxies is [`crate::forwarded`]'s answer.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use posts_api::session::{LoginFailures, ACCOUNT_WINDOW_SECS, CLIENT_WINDOW_SECS};
use prometheus::{IntCounterVec, Opts, Registry};

/// Wrong passwords one address may give in any minute.
pub const CLIENT_FAILURES_PER_MINUTE: u32 = 10;
/// Wrong passwords the admin account takes in an hour before addresses that gave one
/// are refused.
pub const ACCOUNT_FAILURES_PER_HOUR: u32 = 100;
/// Logins one address may try at once on one replica.
pub const ADDRESS_BURST: u32 = 10;
/// After the burst, one more login per address every this long, on one replica.
pub const ADDRESS_PERIOD: Duration = Duration::from_secs(6);
/// How often the per-address state is pruned.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// Which bound refused a login (the `scope` label of `render_login_refusals_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Address,
    Account,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Address => "address",
            Scope::Account => "account",
        }
    }
}

/// A refused login: which bound, and when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub scope: Scope,
    pub retry_after: Duration,
}

/// The per-replica part of login throttling, and its metric.
pub struct LoginLimiter {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    refusals: IntCounterVec,
}

impl LoginLimiter {
    /// A limiter with its refusal counter registered in `registry`.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let refusals = IntCounterVec::new(
            Opts::new(
                "render_login_refusals_total",
                "Login attempts refused with 429, by the bound that refused them",
            ),
            &["scope"],
        )?;
        registry.register(Box::new(refusals.clone()))?;
        for scope in [Scope::Address, Scope::Account] {
            refusals.with_label_values(&[scope.as_str()]);
        }
        let burst = NonZeroU32::new(ADDRESS_BURST).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(ADDRESS_PERIOD)
            .unwrap_or_else(|| Quota::per_minute(NonZeroU32::MIN))
            .allow_burst(burst);
        Ok(LoginLimiter {
            per_address: RateLimiter::keyed(quota),
            refusals,
        })
    }

    /// Whether `client` may try a login now on this replica (counts the attempt).
    pub fn check_address(&self, client: IpAddr) -> Result<(), Refusal> {
        self.per_address
            .check_key(&client)
            .map_err(|not_until| Refusal {
                scope: Scope::Address,
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            })
    }

    /// Drops the state of addresses that are as good as new, and the memory it held.
    pub fn prune(&self) {
        self.per_address.retain_recent();
        self.per_address.shrink_to_fit();
    }

    /// Addresses with state kept.
    pub fn tracked_addresses(&self) -> usize {
        self.per_address.len()
    }

    /// Counts a refusal in `render_login_refusals_total`.
    pub fn count_refusal(&self, scope: Scope) {
        self.refusals.with_label_values(&[scope.as_str()]).inc();
    }
}

/// Whether the counts from posts-service refuse a login from their client.
pub fn refusal(counts: &LoginFailures) -> Option<Refusal> {
    if counts.client_last_minute >= CLIENT_FAILURES_PER_MINUTE {
        return Some(Refusal {
            scope: Scope::Address,
            retry_after: Duration::from_secs(CLIENT_WINDOW_SECS.into()),
        });
    }
    if counts.account_last_hour >= ACCOUNT_FAILURES_PER_HOUR && counts.client_last_hour > 0 {
        return Some(Refusal {
            scope: Scope::Account,
            retry_after: Duration::from_secs(ACCOUNT_WINDOW_SECS.into()),
        });
    }
    None
}

/// What throttling counts a client as: its IPv4 address, or its IPv6 /64 (one host
/// usually holds a whole /64, so counting single IPv6 addresses would give it 2^64
/// budgets, and the limiter as many entries).
pub fn throttle_key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> LoginLimiter {
        LoginLimiter::new(&Registry::new()).unwrap()
    }

    fn ip(address: &str) -> IpAddr {
        address.parse().unwrap()
    }

    #[test]
    fn refusals_are_counted_by_scope() {
        let registry = Registry::new();
        let limiter = LoginLimiter::new(&registry).unwrap();
        limiter.count_refusal(Scope::Account);
        limiter.count_refusal(Scope::Account);
        let text = service_runtime::metrics::encode(&registry);
        assert!(
            text.contains(r#"render_login_refusals_total{scope="account"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"render_login_refusals_total{scope="address"} 0"#),
            "{text}"
        );
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        assert_eq!(
            throttle_key(ip("2001:db8:1:2:aaaa::1")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(throttle_key(ip("192.0.2.7")), ip("192.0.2.7"));
    }

    #[test]
    fn one_address_gets_its_burst_then_a_retry_after() {
        let limiter = limiter();
        for _ in 0..ADDRESS_BURST {
            assert!(limiter.check_address(ip("192.0.2.1")).is_ok());
        }
        let refusal = limiter.check_address(ip("192.0.2.1")).unwrap_err();
        assert_eq!(refusal.scope, Scope::Address);
        assert!(refusal.retry_after > Duration::ZERO && refusal.retry_after <= ADDRESS_PERIOD);
        assert!(
            limiter.check_address(ip("192.0.2.2")).is_ok(),
            "another address is free"
        );
    }

    #[test]
    fn counts_refuse_a_busy_address_and_recent_failers_once_the_account_bound_is_reached() {
        let counts = |account, hour, minute| LoginFailures {
            account_last_hour: account,
            client_last_hour: hour,
            client_last_minute: minute,
        };
        assert_eq!(refusal(&counts(9, 9, 9)), None);
        assert_eq!(refusal(&counts(10, 10, 10)).unwrap().scope, Scope::Address);
        assert_eq!(refusal(&counts(99, 5, 0)), None);
        let account = refusal(&counts(100, 1, 0)).unwrap();
        assert_eq!(account.scope, Scope::Account);
        assert_eq!(account.retry_after, Duration::from_secs(3600));
        assert_eq!(
            refusal(&counts(5000, 0, 0)),
            None,
            "a clean address is heard"
        );
    }
}
