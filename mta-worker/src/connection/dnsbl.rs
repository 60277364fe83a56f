//! DNS block and allow lists with weights, in Postfix postscreen's notation
//! (`zone[=127.0.0.[2..11]][*weight]`): each listing adds its weight to the client's score,
//! negative weights allow-list. Answers are cached by the resolver (bounded, by their TTL
//! within the configured bounds: see `start::resolver`), not here a second time.

use std::net::{IpAddr, Ipv4Addr};

use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::RData;

use crate::common::error::{WorkerError, WorkerResult};

/// What one reply octet may be.
#[derive(Debug, Clone, PartialEq)]
enum Octet {
    Any,
    Range(u8, u8),
    Set(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub zone: String,
    filter: Option<[Octet; 4]>,
    pub weight: i32,
}

impl Site {
    fn matches(&self, reply: Ipv4Addr) -> bool {
        match &self.filter {
            None => true,
            Some(octets) => octets.iter().zip(reply.octets()).all(|(o, b)| match o {
                Octet::Any => true,
                Octet::Range(lo, hi) => (*lo..=*hi).contains(&b),
                Octet::Set(set) => set.contains(&b),
            }),
        }
    }
}

fn parse_octet(s: &str) -> Option<Octet> {
    if s == "*" {
        return Some(Octet::Any);
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        if let Some((lo, hi)) = inner.split_once("..") {
            return Some(Octet::Range(lo.parse().ok()?, hi.parse().ok()?));
        }
        return inner.split(';').map(|v| v.parse().ok()).collect::<Option<Vec<u8>>>().map(Octet::Set);
    }
    s.parse().ok().map(|v| Octet::Set(vec![v]))
}

/// Splits a reply filter at the dots that are not inside `[..]`.
fn split_octets(filter: &str) -> Vec<String> {
    let (mut parts, mut current, mut depth) = (Vec::new(), String::new(), 0);
    for ch in filter.chars() {
        match ch {
            '[' => depth += 1,
            ']' => depth -= 1,
            '.' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(ch);
    }
    parts.push(current);
    parts
}

/// Parses the comma-separated site list; an unreadable entry is an error naming it.
pub fn parse_sites(spec: &str) -> WorkerResult<Vec<Site>> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| {
            let bad = || WorkerError::Config(format!("dnsbl_sites: cannot read `{entry}`"));
            let (rest, weight) = match entry.rsplit_once('*') {
                Some((rest, w)) if !rest.ends_with('.') => (rest, w.parse::<i32>().map_err(|_| bad())?),
                _ => (entry, 1),
            };
            let (zone, filter) = match rest.split_once('=') {
                Some((zone, f)) => {
                    let octets: Vec<Octet> =
                        split_octets(f).iter().map(|o| parse_octet(o)).collect::<Option<_>>().ok_or_else(bad)?;
                    (zone, Some(<[Octet; 4]>::try_from(octets).map_err(|_| bad())?))
                }
                None => (rest, None),
            };
            if zone.is_empty() {
                return Err(bad());
            }
            Ok(Site { zone: zone.trim_end_matches('.').to_lowercase(), filter, weight })
        })
        .collect()
}

/// The name to query for `ip` in `zone` (reversed octets or nibbles).
fn query_name(ip: IpAddr, zone: &str) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.{zone}.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let nibbles: Vec<String> =
                v6.octets().iter().rev().flat_map(|b| [format!("{:x}", b & 0xf), format!("{:x}", b >> 4)]).collect();
            format!("{}.{zone}.", nibbles.join("."))
        }
    }
}

pub struct Dnsbl {
    pub sites: Vec<Site>,
}

/// A client's DNSBL result: the score and the zones that listed it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    pub score: i32,
    pub zones: Vec<String>,
}

impl Dnsbl {
    pub fn new(sites: Vec<Site>) -> Dnsbl {
        Dnsbl { sites }
    }

    /// The list's reply addresses for `ip`; none when it is not listed (or the list is
    /// unreachable).
    async fn lookup(&self, resolver: &TokioResolver, ip: IpAddr, zone: &str) -> Vec<Ipv4Addr> {
        match resolver.ipv4_lookup(query_name(ip, zone)).await {
            Ok(lookup) => lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::A(a) => Some(a.0),
                    _ => None,
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Looks `ip` up in every list and adds up the weights of those that list it.
    pub async fn check(&self, resolver: &TokioResolver, ip: IpAddr) -> Listing {
        let mut listing = Listing::default();
        for site in &self.sites {
            let replies = self.lookup(resolver, ip, &site.zone).await;
            if replies.iter().any(|r| site.matches(*r)) {
                listing.score += site.weight;
                listing.zones.push(site.zone.clone());
            }
        }
        listing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postscreen_notation_is_understood() {
        let sites =
            parse_sites("zen.test=127.0.0.[2..11]*3, bl.test*2, wl.test=127.0.[0..255].0*-2, plain.test").unwrap();
        assert_eq!(sites.len(), 4);
        assert_eq!((sites[0].zone.as_str(), sites[0].weight), ("zen.test", 3));
        assert!(sites[0].matches("127.0.0.4".parse().unwrap()));
        assert!(!sites[0].matches("127.0.0.12".parse().unwrap()));
        assert!(sites[1].matches("127.0.0.200".parse().unwrap()));
        assert_eq!(sites[2].weight, -2);
        assert!(sites[2].matches("127.0.9.0".parse().unwrap()));
        assert_eq!(sites[3].weight, 1);
        assert!(parse_sites("zen.test=127.0.0*3").is_err());
    }

    #[test]
    fn query_names_reverse_the_address() {
        assert_eq!(query_name("127.0.0.2".parse().unwrap(), "bl.test"), "2.0.0.127.bl.test.");
        assert!(query_name("2001:db8::1".parse().unwrap(), "bl.test").starts_with("1.0.0.0."));
    }
}
