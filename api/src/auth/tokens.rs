//! Access tokens (HS256 JWTs) and the random secrets behind API keys, node tokens and
//! emailed links.

use std::path::Path;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::Config;

/// Prefix of integration API keys, so they are recognisable (and scannable) in leaks.
pub const API_KEY_PREFIX: &str = "moat_";
/// Prefix of MTA node tokens.
pub const NODE_TOKEN_PREFIX: &str = "moatnode_";

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub iat: i64,
    pub exp: i64,
    /// Fingerprint of the password hash the token was issued under: a password change or
    /// reset makes every earlier token invalid.
    pub pwd: String,
}

/// A short fingerprint of a user's password hash (not the hash: tokens are not secret-proof).
pub fn password_fingerprint(password_hash: Option<&str>) -> String {
    sha256_hex(password_hash.unwrap_or_default())[..16].to_string()
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub ttl_secs: i64,
}

impl JwtKeys {
    pub fn from_secret(secret: &[u8], ttl_secs: i64) -> JwtKeys {
        JwtKeys { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), ttl_secs }
    }

    /// The configured key, or one generated once and kept in `data_dir/jwt.key` so that
    /// sessions survive a restart.
    pub fn load(config: &Config) -> anyhow::Result<JwtKeys> {
        if let Some(secret) = &config.jwt_secret {
            anyhow::ensure!(secret.expose().len() >= 32, "jwt_secret must be at least 32 characters");
            return Ok(JwtKeys::from_secret(secret.expose().as_bytes(), config.jwt_ttl_secs));
        }
        let path = config.data_dir.join("jwt.key");
        let secret = read_or_create_key(&path)?;
        Ok(JwtKeys::from_secret(secret.as_bytes(), config.jwt_ttl_secs))
    }

    pub fn issue(&self, user: &crate::store::UserRecord) -> anyhow::Result<String> {
        let iat = chrono::Utc::now().timestamp();
        let pwd = password_fingerprint(user.password_hash.as_deref());
        let claims = Claims { sub: user.id, iat, exp: iat + self.ttl_secs, pwd };
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?)
    }

    /// The claims of a valid, unexpired token (the caller still checks `pwd`).
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).ok().map(|data| data.claims)
    }
}

pub fn read_or_create_key(path: &Path) -> anyhow::Result<String> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        let existing = existing.trim().to_string();
        if existing.len() >= 32 {
            return Ok(existing);
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let key = random_secret();
    write_private(path, key.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(key)
}

/// Writes a secret file readable by its owner only (0600 from creation, no window).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    #[cfg(unix)]
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// 256 random bits, URL-safe.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Hex SHA-256, the stored form of every random secret.
pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}
