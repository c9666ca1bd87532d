//! Who the client is: the TCP peer, or what the proxies in front of the service wrote
//! in `X-Forwarded-For`.
//!
//! Each proxy appends the address of its own peer, so the list reads from the client
//! (left) to the last proxy's peer (right), and only entries written by proxies we
//! trust can be believed: anything further left was written by whoever sent the
//! request. Every `X-Forwarded-For` line is read, joined in order, and walked from the
//! right ([`ProxyTrust::client_address`]):
//!
//! - [`ProxyTrust::Addresses`] (`TRUSTED_PROXIES`): from a trusted peer, the right-most
//!   entry that is not itself a trusted proxy.
//! - [`ProxyTrust::Hops`] (`TRUSTED_PROXY_HOPS`): with `n` proxies in front, the `n`-th
//!   entry from the right (the peer is the nearest proxy, each entry to the right of the
//!   client names one of the others).
//!
//! An entry that is not an address stops the walk: the client is then the last address
//! a trusted hop wrote (or the peer), never one the sender chose. Entries are plain
//! addresses, IPv4 or IPv6; `1.2.3.4:5678`, `[2001:db8::1]:5678` and `[2001:db8::1]`
//! are read as their address. Empty list elements are skipped, as HTTP lists allow.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// Which peers' `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ProxyTrust {
    /// No proxy: the client is the peer.
    #[default]
    None,
    /// The proxies' addresses or networks (`TRUSTED_PROXIES`).
    Addresses(Vec<IpNet>),
    /// How many proxies stand in front of the service (`TRUSTED_PROXY_HOPS`, at least 1).
    Hops(u32),
}

impl ProxyTrust {
    /// The client's address, given the TCP peer and the request's `X-Forwarded-For`
    /// lines in the order they came.
    pub fn client_address<'a>(
        &self,
        peer: Option<SocketAddr>,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        let Some(peer) = peer.map(|peer| canonical(peer.ip())) else {
            // Only a request built in-process has no peer.
            return IpAddr::from([0, 0, 0, 0]);
        };
        let lines: Vec<&str> = forwarded_for.into_iter().collect();
        let joined = lines.join(",");
        let mut entries = joined
            .rsplit(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(parse_entry);
        let mut client = peer;
        match self {
            ProxyTrust::None => {}
            ProxyTrust::Addresses(networks) => {
                let trusted = |address: IpAddr| networks.iter().any(|net| net.contains(&address));
                if !trusted(peer) {
                    return peer;
                }
                // The peer is a trusted proxy: its entry, and those of the trusted proxies
                // before it, until one names someone we do not trust.
                for entry in entries {
                    let Some(hop) = entry else { break };
                    client = hop;
                    if !trusted(hop) {
                        break;
                    }
                }
            }
            ProxyTrust::Hops(hops) => {
                // The peer is the nearest proxy; each of the `hops` proxies wrote one entry.
                for _ in 0..*hops {
                    let Some(Some(hop)) = entries.next() else {
                        break;
                    };
                    client = hop;
                }
            }
        }
        client
    }
}

/// One list entry as an address (`None` if it is not one).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let address = entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|socket| socket.ip()))
        .or_else(|_| {
            entry
                .strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .unwrap_or_default()
                .parse::<std::net::Ipv6Addr>()
                .map(IpAddr::V6)
        })
        .ok()?;
    Some(canonical(address))
}

/// `::ffff:192.0.2.1` is `192.0.2.1`: one client, one address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses(trusted: &[&str]) -> ProxyTrust {
        ProxyTrust::Addresses(trusted.iter().map(|net| net.parse().unwrap()).collect())
    }

    fn peer(address: &str) -> Option<SocketAddr> {
        Some(SocketAddr::new(address.parse().unwrap(), 40000))
    }

    fn ip(address: &str) -> IpAddr {
        address.parse().unwrap()
    }

    #[test]
    fn without_a_trusted_proxy_the_client_is_the_peer() {
        assert_eq!(
            ProxyTrust::None.client_address(peer("198.51.100.9"), ["1.2.3.4"]),
            ip("198.51.100.9")
        );
        assert_eq!(
            addresses(&["10.0.0.0/8"]).client_address(peer("198.51.100.9"), ["1.2.3.4"]),
            ip("198.51.100.9")
        );
        assert_eq!(
            ProxyTrust::Hops(1).client_address(None, ["1.2.3.4"]),
            ip("0.0.0.0")
        );
    }

    #[test]
    fn trusted_addresses_give_the_right_most_untrusted_entry() {
        let proxy = addresses(&["10.0.0.0/8"]);
        let from_proxy = |lines: &[&str]| proxy.client_address(peer("10.1.2.3"), lines.to_vec());
        assert_eq!(from_proxy(&["1.2.3.4"]), ip("1.2.3.4"));
        // A client cannot pick its own address by writing entries to the left.
        assert_eq!(from_proxy(&["6.6.6.6, 1.2.3.4, 10.9.9.9"]), ip("1.2.3.4"));
        assert_eq!(from_proxy(&["junk, 1.2.3.4"]), ip("1.2.3.4"));
        assert_eq!(from_proxy(&[]), ip("10.1.2.3"));
        assert_eq!(from_proxy(&["10.9.9.9"]), ip("10.9.9.9"));
    }

    #[test]
    fn every_line_counts_joined_in_order() {
        let proxy = addresses(&["10.0.0.0/8"]);
        // The client's own line first, then the one the proxy added.
        assert_eq!(
            proxy.client_address(peer("10.1.2.3"), ["6.6.6.6", "1.2.3.4"]),
            ip("1.2.3.4")
        );
        assert_eq!(
            proxy.client_address(peer("10.1.2.3"), ["6.6.6.6, 7.7.7.7", "1.2.3.4, 10.9.9.9"]),
            ip("1.2.3.4")
        );
        assert_eq!(
            ProxyTrust::Hops(1).client_address(peer("10.1.2.3"), ["6.6.6.6", "1.2.3.4"]),
            ip("1.2.3.4")
        );
        assert_eq!(
            ProxyTrust::Hops(2)
                .client_address(peer("10.1.2.3"), ["6.6.6.6", "1.2.3.4", "10.0.0.5"]),
            ip("1.2.3.4")
        );
    }

    #[test]
    fn hops_count_entries_from_the_right_whatever_the_client_wrote() {
        let one = ProxyTrust::Hops(1);
        let two = ProxyTrust::Hops(2);
        let from = |trust: &ProxyTrust, list: &str| trust.client_address(peer("10.1.2.3"), [list]);
        assert_eq!(from(&one, "1.2.3.4"), ip("1.2.3.4"));
        assert_eq!(from(&one, "6.6.6.6, 1.2.3.4"), ip("1.2.3.4"));
        assert_eq!(from(&two, "6.6.6.6, 1.2.3.4, 192.168.1.1"), ip("1.2.3.4"));
        // Fewer entries than proxies: the left-most, which a proxy wrote.
        assert_eq!(from(&two, "1.2.3.4"), ip("1.2.3.4"));
        assert_eq!(
            one.client_address(peer("10.1.2.3"), std::iter::empty()),
            ip("10.1.2.3")
        );
    }

    #[test]
    fn a_malformed_entry_stops_the_walk_at_the_last_trusted_hop() {
        let proxy = addresses(&["10.0.0.0/8"]);
        assert_eq!(
            proxy.client_address(peer("10.1.2.3"), ["1.2.3.4, junk"]),
            ip("10.1.2.3")
        );
        assert_eq!(
            proxy.client_address(peer("10.1.2.3"), ["1.2.3.4, junk, 10.9.9.9"]),
            ip("10.9.9.9")
        );
        let two = ProxyTrust::Hops(2);
        assert_eq!(
            two.client_address(peer("10.1.2.3"), ["6.6.6.6, junk, 192.168.1.1"]),
            ip("192.168.1.1")
        );
        assert_eq!(
            two.client_address(peer("10.1.2.3"), ["6.6.6.6, 1.2.3.4/32"]),
            ip("10.1.2.3")
        );
        // A line that is not text (read as replacement characters) is malformed too.
        assert_eq!(
            ProxyTrust::Hops(1).client_address(peer("10.1.2.3"), ["6.6.6.6", "\u{fffd}"]),
            ip("10.1.2.3")
        );
        // Empty list elements are no entries at all.
        assert_eq!(
            ProxyTrust::Hops(1).client_address(peer("10.1.2.3"), ["1.2.3.4, ,", ""]),
            ip("1.2.3.4")
        );
    }

    #[test]
    fn ipv6_entries_and_peers() {
        let proxy = addresses(&["fd00::/8"]);
        assert_eq!(
            proxy.client_address(peer("fd00::1"), ["2001:db8::6, 2001:db8::7"]),
            ip("2001:db8::7")
        );
        assert_eq!(
            ProxyTrust::Hops(1).client_address(peer("fd00::1"), ["6.6.6.6, [2001:db8::7]:443"]),
            ip("2001:db8::7")
        );
        assert_eq!(
            ProxyTrust::Hops(1).client_address(peer("fd00::1"), ["[2001:db8::7]"]),
            ip("2001:db8::7")
        );
        assert_eq!(
            ProxyTrust::Hops(1).client_address(peer("fd00::1"), ["192.0.2.7:5678"]),
            ip("192.0.2.7")
        );
        let v4 = addresses(&["10.0.0.0/8"]);
        assert_eq!(
            v4.client_address(peer("::ffff:10.1.2.3"), ["::ffff:1.2.3.4"]),
            ip("1.2.3.4")
        );
    }
}
