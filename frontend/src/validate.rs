//! Client-side checks mirroring the API's rules, so forms can say what is wrong before a
//! round trip. The API stays the authority: its answer is shown when it disagrees.

pub const MAX_NAME: usize = 200;

pub fn name(label: &str, value: &str) -> Result<(), String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(format!("{label} is required"));
    }
    if v.chars().count() > MAX_NAME {
        return Err(format!("{label} must have at most {MAX_NAME} characters"));
    }
    Ok(())
}

pub fn domain(value: &str) -> Result<(), String> {
    let v = value.trim().trim_end_matches('.').to_lowercase();
    let labels: Vec<&str> = v.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let tld_numeric = labels.last().is_some_and(|t| t.bytes().all(|b| b.is_ascii_digit()));
    if v.len() > 253 || labels.len() < 2 || !labels.iter().all(label_ok) || tld_numeric {
        return Err("Enter a domain name such as example.com".into());
    }
    Ok(())
}

pub fn host(value: &str) -> Result<(), String> {
    let v = value.trim().trim_start_matches('[').trim_end_matches(']');
    if v.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let single = !v.is_empty() && !v.contains('.') && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if single || domain(v).is_ok() { Ok(()) } else { Err("Enter a host name or IP address".into()) }
}

pub fn port(value: &str) -> Result<u16, String> {
    match value.trim().parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(p as u16),
        _ => Err("Port must be a number from 1 to 65535".into()),
    }
}

pub fn email(value: &str) -> Result<(), String> {
    let v = value.trim();
    match v.rsplit_once('@') {
        Some((local, dom)) if !local.is_empty() && !local.contains(char::is_whitespace) && domain(dom).is_ok() => {
            Ok(())
        }
        _ => Err("Enter an email address such as ann@example.com".into()),
    }
}

pub fn password(value: &str) -> Result<(), String> {
    let n = value.chars().count();
    if n < 8 {
        return Err("Password must have at least 8 characters".into());
    }
    if n > 256 {
        return Err("Password must have at most 256 characters".into());
    }
    Ok(())
}
