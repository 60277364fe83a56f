//! Per-client limits: connection and message rates, and connections open now, keyed by
//! the client's address (IPv6 by its /64).

use crate::common::config::WorkerConfig;

/// The address a client is limited under: IPv4 addresses as they are, IPv6 by their /64
/// (a host usually has a whole /64, and could otherwise rotate through it).
pub fn client_key(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => {
            let masked = u128::from(v6) & !((1u128 << 64) - 1);
            std::net::IpAddr::V6(std::net::Ipv6Addr::from(masked))
        }
        v4 => v4,
    }
}

/// Per-client rate limits, keyed by [`client_key`].
pub struct Limits {
    pub connections: governor::DefaultKeyedRateLimiter<std::net::IpAddr>,
    pub messages: governor::DefaultKeyedRateLimiter<std::net::IpAddr>,
    pub open: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

impl Limits {
    pub fn new(config: &WorkerConfig) -> Limits {
        let per_minute = |n: u32| governor::Quota::per_minute(std::num::NonZeroU32::new(n.max(1)).expect("non-zero"));
        Limits {
            connections: governor::RateLimiter::keyed(per_minute(config.connections_per_ip_per_minute)),
            messages: governor::RateLimiter::keyed(per_minute(config.messages_per_ip_per_minute)),
            open: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::client_key;

    #[test]
    fn ipv6_clients_are_limited_per_64_and_ipv4_per_address() {
        let key = |s: &str| client_key(s.parse().unwrap()).to_string();
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::");
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
    }
}
