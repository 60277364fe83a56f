//! Bounce Address Tag Validation: outbound envelope senders become
//! `prvs=KDDDSSSSSS=local@domain` (K key digit, DDD expiry day mod 1000, SSSSSS the first
//! three bytes of an HMAC over "KDDD" and the address), so a bounce can prove it answers mail
//! Moat really sent. Tags are valid for 7 days; the key digit allows rotation.

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::common::error::{WorkerError, WorkerResult};

const VALID_DAYS: i64 = 7;

pub struct Batv {
    keys: HashMap<u8, Vec<u8>>,
    signing: u8,
}

fn day_now() -> i64 {
    chrono::Utc::now().timestamp() / 86_400
}

impl Batv {
    /// Parses `K:secret,...`; the first key signs.
    pub fn parse(spec: &str) -> WorkerResult<Batv> {
        let bad = |why: &str| WorkerError::Config(format!("batv_keys: {why}"));
        let mut keys = HashMap::new();
        let mut signing = None;
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, secret) = part.split_once(':').ok_or_else(|| bad("use K:secret"))?;
            let digit = k.parse::<u8>().ok().filter(|d| *d < 10).ok_or_else(|| bad("K must be one digit"))?;
            if secret.len() < 16 {
                return Err(bad("secrets need at least 16 characters"));
            }
            keys.insert(digit, secret.as_bytes().to_vec());
            signing.get_or_insert(digit);
        }
        Ok(Batv { keys, signing: signing.ok_or_else(|| bad("no key"))? })
    }

    fn tag(&self, key: u8, day: i64, address: &str) -> Option<String> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.keys.get(&key)?).ok()?;
        mac.update(format!("{key}{:03}{}", day.rem_euclid(1000), address.to_lowercase()).as_bytes());
        Some(hex::encode(&mac.finalize().into_bytes()[..3]))
    }

    /// Signs an envelope sender (the null sender stays null; signed ones stay as they are).
    pub fn sign(&self, address: &str) -> String {
        if address.is_empty() || unwrap(address).is_some() {
            return address.to_string();
        }
        let expiry = day_now() + VALID_DAYS;
        match self.tag(self.signing, expiry, address) {
            Some(tag) => format!("prvs={}{:03}{tag}={address}", self.signing, expiry.rem_euclid(1000)),
            None => address.to_string(),
        }
    }

    /// Checks a signed address; answers the original address when the tag is valid and
    /// not expired.
    pub fn verify(&self, signed: &str) -> Option<String> {
        let (tag, address) = unwrap(signed)?;
        let key = tag[..1].parse::<u8>().ok()?;
        let expiry = tag[1..4].parse::<i64>().ok()?;
        let today = day_now().rem_euclid(1000);
        let left = (expiry - today).rem_euclid(1000);
        if left > VALID_DAYS {
            return None;
        }
        let expected = self.tag(key, day_now() + left, &address)?;
        (expected == tag[4..]).then_some(address)
    }
}

/// Splits `prvs=KDDDSSSSSS=local@domain` into its tag and the original address.
pub fn unwrap(address: &str) -> Option<(String, String)> {
    let rest = address.strip_prefix("prvs=").or_else(|| address.strip_prefix("PRVS="))?;
    let (tag, original) = rest.split_once('=')?;
    (tag.len() == 10 && tag.bytes().all(|b| b.is_ascii_hexdigit()) && original.contains('@'))
        .then(|| (tag.to_lowercase(), original.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_addresses_verify_and_forgeries_do_not() {
        let batv = Batv::parse("1:first-secret-0123456789,2:second-secret-0123456789").unwrap();
        let signed = batv.sign("Ann@Example.test");
        assert!(signed.starts_with("prvs=1") && signed.ends_with("=Ann@Example.test"), "{signed}");
        assert_eq!(batv.verify(&signed).as_deref(), Some("Ann@Example.test"));
        assert_eq!(batv.sign(&signed), signed, "no double signing");
        assert_eq!(batv.sign(""), "");
        let forged = format!("{}000000={}", &signed[..9], "Ann@Example.test");
        assert_eq!(batv.verify(&forged), None);
        assert_eq!(batv.verify("prvs=1999abcdef=ann@example.test"), None);
        let other = Batv::parse("1:another-secret-0123456789").unwrap();
        assert_eq!(other.verify(&signed), None, "another platform's key");
        assert!(Batv::parse("x:short").is_err());
    }
}
