//! The client address of a request, for the login limits ([`super::limits`]).
//!
//! It is taken from the header a trusted reverse proxy sets (`TENANTRY_TRUSTED_PROXY_HEADER`,
//! its last entry: the one that proxy added, which the client cannot forge) when one is
//! configured and present, else from the socket peer address (axum's `ConnectInfo`, which
//! `serve` provides). A header the operator did not name is never read: anyone can send one.
//!
//! The HTTP layer computes it once per request and runs the request inside
//! [`with_client_address`]; the auth path reads it with [`current_client_address`]. A task
//! local, because the address is needed only by `login`, deep below the transport, and
//! the request executes on the task that received it.

use axum::http::HeaderMap;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

tokio::task_local! {
    static CLIENT_ADDRESS: Option<IpAddr>;
}

/// The client address of a request with `headers` from socket `peer`, trusting only the
/// `trusted_header` (see the module documentation).
pub fn client_address(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    trusted_header: Option<&str>,
) -> Option<IpAddr> {
    let from_proxy = trusted_header
        .and_then(|name| headers.get_all(name).iter().next_back())
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.rsplit(',').next())
        .and_then(parse_entry);
    from_proxy.or(peer.map(|p| p.ip()))
}

/// One entry of `X-Forwarded-For`, `X-Real-IP` or `Forwarded` (`for=…`): an address,
/// maybe with a port, maybe bracketed or quoted.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let entry = entry
        .split(';')
        .find_map(|part| {
            let part = part.trim();
            part.strip_prefix("for=")
                .or_else(|| part.strip_prefix("For="))
                .or_else(|| part.strip_prefix("FOR="))
        })
        .unwrap_or(entry)
        .trim_matches('"');
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|rest| rest.split(']').next())
                .and_then(|inner| inner.parse::<IpAddr>().ok())
        })
}

/// Runs `f` with `address` as the request's client address.
pub async fn with_client_address<F: Future>(address: Option<IpAddr>, f: F) -> F::Output {
    CLIENT_ADDRESS.scope(address, f).await
}

/// The client address of the request being served (None outside one, or when the
/// transport knew none).
pub fn current_client_address() -> Option<IpAddr> {
    CLIENT_ADDRESS.try_with(|a| *a).ok().flatten()
}

/// What the login limits count an address as: an IPv4 address (also when mapped into
/// IPv6) as it is, an IPv6 address by its /64 (one subscriber usually holds a whole /64,
/// so counting single addresses would let it rotate through them), and `unknown` when
/// there is none (all such clients share one count, the cautious choice).
pub fn address_key(address: Option<IpAddr>) -> String {
    match address.map(|a| a.to_canonical()) {
        None => "unknown".into(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            let prefix = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{prefix}/64")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_header_else_peer() {
        let peer: SocketAddr = "10.0.0.9:5555".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "1.2.3.4, 203.0.113.7".parse().unwrap());
        // Not configured: the header is ignored.
        assert_eq!(client_address(&headers, Some(peer), None), Some(peer.ip()));
        // Configured: its last entry (the trusted proxy's).
        assert_eq!(
            client_address(&headers, Some(peer), Some("X-Forwarded-For")),
            "203.0.113.7".parse().ok()
        );
        // Configured but absent or garbage: the peer.
        assert_eq!(
            client_address(&headers, Some(peer), Some("x-real-ip")),
            Some(peer.ip())
        );
        headers.insert("x-real-ip", "not an address".parse().unwrap());
        assert_eq!(
            client_address(&headers, Some(peer), Some("x-real-ip")),
            Some(peer.ip())
        );
        for (entry, ip) in [
            ("for=192.0.2.60;proto=http", "192.0.2.60"),
            ("for=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17"),
            ("198.51.100.1:80", "198.51.100.1"),
        ] {
            assert_eq!(parse_entry(entry), ip.parse().ok(), "{entry}");
        }
    }

    #[test]
    fn keys() {
        assert_eq!(address_key(None), "unknown");
        assert_eq!(address_key("192.0.2.1".parse().ok()), "192.0.2.1");
        assert_eq!(address_key("::ffff:192.0.2.1".parse().ok()), "192.0.2.1");
        assert_eq!(
            address_key("2001:db8:1:2:3:4:5:6".parse().ok()),
            "2001:db8:1:2::/64"
        );
    }
}
