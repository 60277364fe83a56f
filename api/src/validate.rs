//! Input rules shared by every handler. Each check names the field it judged and answers
//! the normalised value (trimmed, lower-cased where case does not matter).

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use moat_openapi::Policy;

use crate::error::{ApiError, ApiResult};

pub const MAX_NAME: usize = 200;
pub const MAX_BANNER: usize = 1000;

/// A display text: trimmed, not empty, at most `max` characters, no control characters.
pub fn text(field: &str, value: &str, max: usize) -> ApiResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::invalid(field, format!("{field} must not be empty")));
    }
    if value.chars().count() > max {
        return Err(ApiError::invalid(field, format!("{field} must have at most {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::invalid(field, format!("{field} must not contain control characters")));
    }
    Ok(value.to_string())
}

pub fn name(field: &str, value: &str) -> ApiResult<String> {
    text(field, value, MAX_NAME)
}

pub fn email(field: &str, value: &str) -> ApiResult<String> {
    let value = value.trim().to_lowercase();
    if value.len() > 254 || email_address::EmailAddress::from_str(&value).is_err() {
        return Err(ApiError::invalid(field, format!("`{value}` is not a valid email address")));
    }
    // Mailboxes behind a gateway live at real domains, not IP literals or bare hosts.
    let domain = value.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    if domain_name(field, domain).is_err() {
        return Err(ApiError::invalid(field, format!("`{value}` does not end in a valid domain")));
    }
    Ok(value)
}

/// A DNS domain name (ASCII / punycode), at least two labels, lower-cased.
pub fn domain_name(field: &str, value: &str) -> ApiResult<String> {
    let value = value.trim().trim_end_matches('.').to_lowercase();
    let bad = || ApiError::invalid(field, format!("`{value}` is not a valid domain name"));
    if value.is_empty() || value.len() > 253 {
        return Err(bad());
    }
    let labels: Vec<&str> = value.split('.').collect();
    if labels.len() < 2 {
        return Err(bad());
    }
    for label in &labels {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(bad());
        }
    }
    if labels.last().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
        return Err(bad());
    }
    Ok(value)
}

/// A destination host: a domain name, a single-label host name, or an IP address.
pub fn host(field: &str, value: &str) -> ApiResult<String> {
    let trimmed = value.trim();
    if let Ok(ip) = trimmed.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return Ok(ip.to_string());
    }
    let single_label = !trimmed.contains('.')
        && !trimmed.is_empty()
        && trimmed.len() <= 63
        && trimmed.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if single_label {
        return Ok(trimmed.to_lowercase());
    }
    domain_name(field, trimmed)
        .map_err(|_| ApiError::invalid(field, format!("`{trimmed}` is not a host name or IP address")))
}

/// A customer's mail server: [`host`], and not an internal address or name unless
/// `internal_ok` (the platform admin, or a deployment that allows it for development).
pub fn destination(field: &str, value: &str, internal_ok: bool) -> ApiResult<String> {
    let host = host(field, value)?;
    if internal_ok {
        return Ok(host);
    }
    let internal_name = host == "localhost"
        || host.ends_with(".localhost")
        || host == "metadata.google.internal"
        || host.ends_with(".internal");
    if internal_name || host.parse::<IpAddr>().is_ok_and(moat_openapi::is_internal_address) {
        return Err(ApiError::invalid(
            field,
            format!("`{host}` is a loopback, link-local or metadata address; name the customer's own mail server"),
        ));
    }
    Ok(host)
}

pub fn port(field: &str, value: u16) -> ApiResult<u16> {
    if value == 0 {
        return Err(ApiError::invalid(field, "port must be between 1 and 65535"));
    }
    Ok(value)
}

/// An IANA time zone name such as `Europe/Berlin`.
pub fn time_zone(field: &str, value: &str) -> ApiResult<String> {
    let value = value.trim();
    chrono_tz::Tz::from_str(value)
        .map(|tz| tz.name().to_string())
        .map_err(|_| ApiError::invalid(field, format!("`{value}` is not an IANA time zone")))
}

/// An IP address or CIDR network, normalised to CIDR form (`192.0.2.0/24`, `2001:db8::1/128`).
pub fn cidr(field: &str, value: &str) -> ApiResult<String> {
    let value = value.trim();
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Ok(IpNet::from(ip).to_string());
    }
    value
        .parse::<IpNet>()
        .map(|net| net.trunc().to_string())
        .map_err(|_| ApiError::invalid(field, format!("`{value}` is not an IP address or CIDR network")))
}

/// Narrowest prefixes an organisation may name as relay servers: a range names a customer's
/// servers, not a network (a wider range would make strangers relay clients).
pub const MIN_RELAY_PREFIX_V4: u8 = 24;
pub const MIN_RELAY_PREFIX_V6: u8 = 48;

/// A relay server address or network ([`cidr`]), at most /24 (IPv4) or /48 (IPv6) wide unless
/// `any_width` (the platform admin).
pub fn relay_cidr(field: &str, value: &str, any_width: bool) -> ApiResult<String> {
    let normalised = cidr(field, value)?;
    let net: IpNet = normalised.parse().map_err(|_| ApiError::invalid(field, "not a network"))?;
    let (prefix, min) = match net {
        IpNet::V4(n) => (n.prefix_len(), MIN_RELAY_PREFIX_V4),
        IpNet::V6(n) => (n.prefix_len(), MIN_RELAY_PREFIX_V6),
    };
    if !any_width && prefix < min {
        return Err(ApiError::invalid(
            field,
            format!(
                "`{normalised}` is too wide: name your mail servers, at most /{MIN_RELAY_PREFIX_V4} for IPv4 \
                 or /{MIN_RELAY_PREFIX_V6} for IPv6 (the platform operator can set wider ranges)"
            ),
        ));
    }
    Ok(normalised)
}

/// A list pattern: `user@domain`, `@domain`, `@.domain` or an IP/CIDR, normalised.
pub fn list_pattern(field: &str, value: &str) -> ApiResult<String> {
    let value = value.trim();
    if let Some(domain) = value.strip_prefix("@.") {
        return domain_name(field, domain).map(|d| format!("@.{d}"));
    }
    if let Some(domain) = value.strip_prefix('@') {
        return domain_name(field, domain).map(|d| format!("@{d}"));
    }
    if value.contains('@') {
        return email(field, value);
    }
    cidr(field, value)
        .map_err(|_| ApiError::invalid(field, format!("`{value}` is not an address, @domain, @.domain or IP/CIDR")))
}

pub fn policy(field: &str, p: &Policy) -> ApiResult<Policy> {
    let mut p = p.clone();
    let finite = |v: f64| v.is_finite() && v >= 0.0;
    if !finite(p.quarantine_threshold) || !finite(p.reject_threshold) {
        return Err(ApiError::invalid(
            &format!("{field}.quarantine_threshold"),
            "thresholds must be non-negative numbers",
        ));
    }
    if p.quarantine_threshold > p.reject_threshold {
        return Err(ApiError::invalid(
            &format!("{field}.quarantine_threshold"),
            "quarantine_threshold must not exceed reject_threshold",
        ));
    }
    if !(1..=365).contains(&p.quarantine_retention_days) {
        return Err(ApiError::invalid(
            &format!("{field}.quarantine_retention_days"),
            "quarantine_retention_days must be 1 to 365",
        ));
    }
    if !(1..=365).contains(&p.archive_retention_days) {
        return Err(ApiError::invalid(
            &format!("{field}.archive_retention_days"),
            "archive_retention_days must be 1 to 365",
        ));
    }
    if p.max_message_size_mb > 1024 {
        return Err(ApiError::invalid(
            &format!("{field}.max_message_size_mb"),
            "max_message_size_mb must be 0 (the platform's limit) to 1024",
        ));
    }
    p.blocked_extensions = extensions(&format!("{field}.blocked_extensions"), &p.blocked_extensions)?;
    let out = &mut p.outbound_content;
    if !finite(out.quarantine_threshold) {
        return Err(ApiError::invalid(
            &format!("{field}.outbound_content.quarantine_threshold"),
            "the threshold must be a non-negative number (0: outbound mail is not scored)",
        ));
    }
    let ext_field = format!("{field}.outbound_content.blocked_extensions");
    out.blocked_extensions = extensions(&ext_field, &out.blocked_extensions)?;
    let domains_field = format!("{field}.outbound_content.blocked_recipient_domains");
    if out.blocked_recipient_domains.len() > 500 {
        return Err(ApiError::invalid(&domains_field, "at most 500 domains"));
    }
    let mut domains =
        out.blocked_recipient_domains.iter().map(|d| domain_name(&domains_field, d)).collect::<ApiResult<Vec<_>>>()?;
    domains.sort();
    domains.dedup();
    out.blocked_recipient_domains = domains;
    Ok(p)
}

/// File extensions, normalised (no dot, lower case), sorted and without duplicates.
fn extensions(field: &str, list: &[String]) -> ApiResult<Vec<String>> {
    if list.len() > 500 {
        return Err(ApiError::invalid(field, "at most 500 extensions"));
    }
    let mut clean = Vec::with_capacity(list.len());
    for ext in list {
        let c = ext.trim().trim_start_matches('.').to_lowercase();
        if c.is_empty() || c.len() > 16 || !c.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ApiError::invalid(field, format!("`{ext}` is not a file extension")));
        }
        clean.push(c);
    }
    clean.sort();
    clean.dedup();
    Ok(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(email("email", " Bob@Example.TEST ").unwrap(), "bob@example.test");
        for bad in ["", "bob", "bob@", "@example.test", "bob@localhost", "bob@[127.0.0.1]", "a b@example.test"] {
            assert!(email("email", bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn domains_follow_dns_rules() {
        assert_eq!(domain_name("name", "Mail.Example.TEST.").unwrap(), "mail.example.test");
        for bad in ["example", "-a.test", "a-.test", "a..test", "exa mple.test", "1.2.3.4", &"a".repeat(64)] {
            assert!(domain_name("name", bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn hosts_accept_ips_and_names() {
        assert_eq!(host("h", "127.0.0.1").unwrap(), "127.0.0.1");
        assert_eq!(host("h", "[::1]").unwrap(), "::1");
        assert_eq!(host("h", "MX1.example.test").unwrap(), "mx1.example.test");
        assert_eq!(host("h", "exchange").unwrap(), "exchange");
        assert!(host("h", "bad host").is_err());
    }

    #[test]
    fn cidrs_are_normalised() {
        assert_eq!(cidr("ip", "192.0.2.7").unwrap(), "192.0.2.7/32");
        assert_eq!(cidr("ip", "192.0.2.7/24").unwrap(), "192.0.2.0/24");
        assert!(cidr("ip", "300.1.1.1").is_err());
    }

    #[test]
    fn relay_ranges_name_servers_not_networks() {
        assert_eq!(relay_cidr("ip", "192.0.2.9", false).unwrap(), "192.0.2.9/32");
        assert_eq!(relay_cidr("ip", "192.0.2.0/24", false).unwrap(), "192.0.2.0/24");
        assert_eq!(relay_cidr("ip", "2001:db8:1::/48", false).unwrap(), "2001:db8:1::/48");
        for wide in ["0.0.0.0/0", "192.0.0.0/16", "10.0.0.0/23", "::/0", "2001:db8::/32"] {
            assert!(relay_cidr("ip", wide, false).is_err(), "{wide} accepted");
            assert!(relay_cidr("ip", wide, true).is_ok(), "{wide} refused to the platform admin");
        }
    }

    #[test]
    fn destinations_are_not_internal_unless_allowed() {
        for bad in ["127.0.0.1", "::1", "169.254.169.254", "localhost", "x.localhost", "0.0.0.0", "[::ffff:127.0.0.1]"]
        {
            assert!(destination("h", bad, false).is_err(), "{bad} accepted");
            assert!(destination("h", bad, true).is_ok(), "{bad} refused when allowed");
        }
        assert_eq!(destination("h", "mx.example.test", false).unwrap(), "mx.example.test");
        assert_eq!(destination("h", "192.0.2.25", false).unwrap(), "192.0.2.25");
    }

    #[test]
    fn time_zones_must_be_iana() {
        assert_eq!(time_zone("tz", "Europe/Berlin").unwrap(), "Europe/Berlin");
        assert!(time_zone("tz", "Mars/Olympus").is_err());
    }

    #[test]
    fn policy_thresholds_must_be_ordered() {
        let p = Policy { quarantine_threshold: 9.0, reject_threshold: 3.0, ..Policy::default() };
        assert!(policy("policy", &p).is_err());
        let p = Policy { blocked_extensions: vec![".EXE".into(), "exe".into()], ..Policy::default() };
        assert_eq!(policy("policy", &p).unwrap().blocked_extensions, vec!["exe"]);
    }
}
