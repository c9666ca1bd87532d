//! How many searches one client may make: `SEARCH_PER_MINUTE` (default 60) per client
//! address, on each replica.
//!
//! A keyed `governor` limiter: an address may make `SEARCH_PER_MINUTE` searches at once,
//! then one more every minute divided by `SEARCH_PER_MINUTE` (one a second by default),
//! so no address makes more than about twice the number in any minute, and a steady
//! reader never notices. Past it, the search page answers 429 with `Retry-After`.
//!
//! Only searches that reach posts-service count: a search answered by the page cache, a
//! query with nothing to search for and the empty form cost posts-service nothing. A
//! client is counted as login throttling counts it ([`crate::login_limit::throttle_key`]:
//! its IPv4 address or its IPv6 /64, behind proxies as [`crate::forwarded`] reads it).
//! Memory stays bounded: an address's state is dropped ([`SearchLimiter::prune`], every
//! [`crate::login_limit::PRUNE_INTERVAL`]) once it is as good as new.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use prometheus::{IntCounter, Registry};

use crate::login_limit::throttle_key;

/// The per-address search limit of one replica, and its metric.
pub struct SearchLimiter {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    refusals: IntCounter,
}

impl SearchLimiter {
    /// A limiter letting each address make `per_minute` searches a minute, with its
    /// refusal counter registered in `registry`.
    pub fn new(per_minute: u32, registry: &Registry) -> prometheus::Result<Self> {
        let refusals = IntCounter::new(
            "render_search_refusals_total",
            "Searches refused with 429: over SEARCH_PER_MINUTE for their client address",
        )?;
        registry.register(Box::new(refusals.clone()))?;
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Ok(SearchLimiter {
            per_address: RateLimiter::keyed(Quota::per_minute(per_minute)),
            refusals,
        })
    }

    /// Whether `client` may search now (counts the search); else how long until it may.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        self.per_address
            .check_key(&throttle_key(client))
            .map_err(|not_until| {
                self.refusals.inc();
                not_until.wait_time_from(DefaultClock::default().now())
            })
    }

    /// Drops the state of addresses that are as good as new, and the memory it held.
    pub fn prune(&self) {
        self.per_address.retain_recent();
        self.per_address.shrink_to_fit();
    }
}

/// `Retry-After` in whole seconds, rounded up and at least 1: never tell a client to
/// come back too early.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs()
        .saturating_add(u64::from(wait.subsec_nanos() > 0))
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(address: &str) -> IpAddr {
        address.parse().unwrap()
    }

    #[test]
    fn an_address_gets_its_searches_a_minute_then_a_retry_after() {
        let registry = Registry::new();
        let limiter = SearchLimiter::new(5, &registry).unwrap();
        for _ in 0..5 {
            assert!(limiter.check(ip("192.0.2.1")).is_ok());
        }
        let wait = limiter.check(ip("192.0.2.1")).unwrap_err();
        // One more search every 12 s.
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(12),
            "{wait:?}"
        );
        assert!(
            limiter.check(ip("192.0.2.2")).is_ok(),
            "another address is free"
        );
        let text = service_runtime::metrics::encode(&registry);
        assert!(text.contains("render_search_refusals_total 1"), "{text}");
    }

    #[test]
    fn an_ipv6_64_is_one_client() {
        let limiter = SearchLimiter::new(1, &Registry::new()).unwrap();
        assert!(limiter.check(ip("2001:db8:1:2::1")).is_ok());
        assert!(limiter.check(ip("2001:db8:1:2:ffff::9")).is_err());
        assert!(limiter.check(ip("2001:db8:1:3::1")).is_ok());
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
    }
}
