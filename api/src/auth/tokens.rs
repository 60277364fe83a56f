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

    pub fn issue(&self, user_id: Uuid) -> anyhow::Result<String> {
        let iat = chrono::Utc::now().timestamp();
        let claims = Claims { sub: user_id, iat, exp: iat + self.ttl_secs };
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?)
    }

    /// The user id of a valid, unexpired token.
    pub fn verify(&self, token: &str) -> Option<Uuid> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).ok().map(|data| data.claims.sub)
    }
}

fn read_or_create_key(path: &Path) -> anyhow::Result<String> {
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
    std::fs::write(path, &key).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(key)
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
