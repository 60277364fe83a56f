//! Signed digest links: `/d/{token}` where the token is an HMAC-SHA256 over the user, the
//! message, the action and the expiry. Nothing is stored per link; the key lives in the
//! config or `data_dir/link.key`, and the check runs in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::config::Config;

type HmacSha256 = Hmac<Sha256>;

/// Longest token accepted (a longer one is not ours).
const MAX_TOKEN_CHARS: usize = 600;

/// What a digest link does once confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkAction {
    /// Shows the message (its text, made safe) with release buttons.
    View,
    Release,
    /// Release, and put the sender on the user's own allow list.
    ReleaseAllow,
}

impl LinkAction {
    fn code(self) -> &'static str {
        match self {
            LinkAction::View => "v",
            LinkAction::Release => "r",
            LinkAction::ReleaseAllow => "a",
        }
    }

    fn from_code(code: &str) -> Option<LinkAction> {
        Some(match code {
            "v" => LinkAction::View,
            "r" => LinkAction::Release,
            "a" => LinkAction::ReleaseAllow,
            _ => return None,
        })
    }
}

/// What a valid link stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkClaim {
    pub user_id: Uuid,
    pub message_id: String,
    pub action: LinkAction,
    pub expires_at: DateTime<Utc>,
}

/// Why a link was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// Not a token of ours at all.
    Malformed,
    /// Well formed but altered (or signed with another key).
    Tampered,
    Expired,
}

/// The signing key.
#[derive(Clone)]
pub struct LinkKey(Vec<u8>);

impl LinkKey {
    /// The configured secret, or one generated once into `data_dir/link.key`.
    pub fn load(config: &Config) -> anyhow::Result<LinkKey> {
        if let Some(secret) = &config.link_secret {
            anyhow::ensure!(secret.expose().len() >= 32, "link_secret must be at least 32 characters");
            return Ok(LinkKey(secret.expose().as_bytes().to_vec()));
        }
        let key = crate::auth::tokens::read_or_create_key(&config.data_dir.join("link.key"))?;
        Ok(LinkKey(key.into_bytes()))
    }

    pub fn from_bytes(bytes: &[u8]) -> LinkKey {
        LinkKey(bytes.to_vec())
    }

    fn mac(&self, payload: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(payload);
        mac
    }

    /// The token for `claim`: `base64url(payload).base64url(mac)`.
    pub fn sign(&self, claim: &LinkClaim) -> String {
        let payload = format!(
            "1|{}|{}|{}|{}",
            claim.user_id.simple(),
            claim.action.code(),
            claim.expires_at.timestamp(),
            claim.message_id
        );
        let tag = self.mac(payload.as_bytes()).finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(payload), URL_SAFE_NO_PAD.encode(tag))
    }

    /// The claim of a token signed with this key and not expired at `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<LinkClaim, LinkError> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(LinkError::Malformed);
        }
        let (payload, tag) = token.split_once('.').ok_or(LinkError::Malformed)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| LinkError::Malformed)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| LinkError::Malformed)?;
        // Constant-time comparison (hmac's verify_slice) before the payload is trusted.
        self.mac(&payload).verify_slice(&tag).map_err(|_| LinkError::Tampered)?;
        let claim = parse(&payload).ok_or(LinkError::Malformed)?;
        if claim.expires_at <= now {
            return Err(LinkError::Expired);
        }
        Ok(claim)
    }
}

fn parse(payload: &[u8]) -> Option<LinkClaim> {
    let text = std::str::from_utf8(payload).ok()?;
    let mut parts = text.splitn(5, '|');
    if parts.next()? != "1" {
        return None;
    }
    let user_id = Uuid::parse_str(parts.next()?).ok()?;
    let action = LinkAction::from_code(parts.next()?)?;
    let expires_at = DateTime::from_timestamp(parts.next()?.parse().ok()?, 0)?;
    let message_id = parts.next()?.to_string();
    Some(LinkClaim { user_id, message_id, action, expires_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim() -> LinkClaim {
        LinkClaim {
            user_id: Uuid::new_v4(),
            message_id: "abc.1-1".into(),
            action: LinkAction::Release,
            // Links carry whole seconds.
            expires_at: DateTime::from_timestamp(Utc::now().timestamp() + 3 * 86_400, 0).unwrap(),
        }
    }

    #[test]
    fn a_signed_link_verifies_and_any_change_is_refused() {
        let key = LinkKey::from_bytes(b"0123456789abcdef0123456789abcdef");
        let c = claim();
        let token = key.sign(&c);
        assert_eq!(key.verify(&token, Utc::now()), Ok(c.clone()));
        // Another action for the same message: a different payload, the old tag does not fit.
        let (_, tag) = token.split_once('.').unwrap();
        let other = key.sign(&LinkClaim { action: LinkAction::ReleaseAllow, ..c.clone() });
        let (payload, _) = other.split_once('.').unwrap();
        assert_eq!(key.verify(&format!("{payload}.{tag}"), Utc::now()), Err(LinkError::Tampered));
        // A flipped character inside the tag (not the last one, whose low bits base64 drops, so
        // flipping it could leave the bytes the same or make them non-canonical), another key, junk.
        let mut chars: Vec<char> = token.chars().collect();
        let inside = chars.len() - 10;
        chars[inside] = if chars[inside] == 'A' { 'B' } else { 'A' };
        assert_eq!(key.verify(&chars.into_iter().collect::<String>(), Utc::now()), Err(LinkError::Tampered));
        let other_key = LinkKey::from_bytes(b"another key another key another key");
        assert_eq!(other_key.verify(&token, Utc::now()), Err(LinkError::Tampered));
        assert_eq!(key.verify("nonsense", Utc::now()), Err(LinkError::Malformed));
        assert_eq!(key.verify(&"a.".repeat(400), Utc::now()), Err(LinkError::Malformed));
    }

    #[test]
    fn a_link_expires() {
        let key = LinkKey::from_bytes(b"0123456789abcdef0123456789abcdef");
        let c = claim();
        let token = key.sign(&c);
        assert_eq!(key.verify(&token, c.expires_at), Err(LinkError::Expired));
    }
}
