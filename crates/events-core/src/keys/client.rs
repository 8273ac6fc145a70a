//! The client's address, for the per-address rate limit: the peer of the connection, or,
//! when that peer is one of `TRUSTED_PROXIES`, the last address in `X-Forwarded-For` that is
//! not itself a trusted proxy. Anyone can write `X-Forwarded-For`, so it is believed only from
//! proxies the operator named. Addresses are used, never logged.

use std::net::{IpAddr, Ipv4Addr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// A `TRUSTED_PROXIES` entry that is neither a CIDR nor an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a CIDR such as 10.0.0.0/8 or an address")]
pub struct NotAProxy(pub String);

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses `TRUSTED_PROXIES`: comma-separated CIDRs (`10.0.0.0/8`) or single addresses.
    pub fn parse(text: &str) -> Result<TrustedProxies, NotAProxy> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| NotAProxy(s.to_owned()))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&canonical(address)))
    }

    /// The client's address behind `peer` (the connection's other end, when known).
    pub fn client_address(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> IpAddr {
        let peer = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), canonical);
        if !self.trusts(peer) {
            return peer;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in forwarded.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(address) if self.trusts(address) => continue,
                Ok(address) => return canonical(address),
                // Garbage in the chain: what lies before it cannot be believed either.
                Err(_) => return peer,
            }
        }
        peer
    }
}

/// An IPv4 address mapped into IPv6 is the IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", xff.parse().expect("header"));
        headers
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let peer: IpAddr = "10.0.0.5".parse().expect("ip");
        let none = TrustedProxies::default();
        assert_eq!(none.client_address(Some(peer), &headers("1.2.3.4")), peer);

        let trusted = TrustedProxies::parse("10.0.0.0/8, 192.168.1.1").expect("parses");
        assert_eq!(
            trusted.client_address(Some(peer), &headers("9.9.9.9, 1.2.3.4, 192.168.1.1")),
            "1.2.3.4".parse::<IpAddr>().expect("ip")
        );
        assert_eq!(
            trusted.client_address(Some("8.8.8.8".parse().expect("ip")), &headers("1.2.3.4")),
            "8.8.8.8".parse::<IpAddr>().expect("ip")
        );
        assert_eq!(trusted.client_address(Some(peer), &headers("junk")), peer);
        assert!(TrustedProxies::parse("not-a-cidr").is_err());
    }
}
