//! Machine credentials: integration API keys and MTA node tokens, both stored as SHA-256
//! hashes of high-entropy secrets (a slow hash buys nothing for random 256-bit keys).

use chrono::{DateTime, Utc};
use moat_openapi::{ApiKey, ApiKeyAccess, KeyScope, KeyScopeLevel};
use uuid::Uuid;

use super::error::{OnUnique, StoreResult};
use super::{Scope, Store, now, with_pool};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRecord {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub msp_id: Option<Uuid>,
    pub org_id: Option<Uuid>,
    #[sqlx(try_from = "String")]
    pub access: ApiKeyAccess,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ApiKeyRecord {
    pub fn scope(&self) -> KeyScope {
        match (self.org_id, self.msp_id) {
            (Some(org), _) => KeyScope { level: KeyScopeLevel::Org, id: org },
            (None, Some(msp)) => KeyScope { level: KeyScopeLevel::Msp, id: msp },
            (None, None) => KeyScope { level: KeyScopeLevel::Org, id: Uuid::nil() },
        }
    }

    pub fn to_wire(&self) -> ApiKey {
        ApiKey {
            id: self.id,
            name: self.name.clone(),
            prefix: self.prefix.clone(),
            scope: self.scope(),
            access: self.access,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
        }
    }
}

const KEY_COLUMNS: &str = "k.id, k.name, k.prefix, k.msp_id, k.org_id, k.access, k.created_at, k.last_used_at";
/// A key is visible to callers that reach its MSP or its organisation.
const KEY_SCOPE: &str = "($1 IS NULL OR k.msp_id = $1 OR o.msp_id = $1) AND ($2 IS NULL OR k.org_id = $2)";

impl Store {
    pub async fn create_api_key(
        &self,
        name: &str,
        prefix: &str,
        key_hash: &str,
        scope: &KeyScope,
        access: ApiKeyAccess,
        created_by: Option<Uuid>,
    ) -> StoreResult<ApiKeyRecord> {
        let (msp_id, org_id) = match scope.level {
            KeyScopeLevel::Msp => (Some(scope.id), None),
            KeyScopeLevel::Org => (None, Some(scope.id)),
        };
        let record = ApiKeyRecord {
            id: Uuid::new_v4(),
            name: name.into(),
            prefix: prefix.into(),
            msp_id,
            org_id,
            access,
            created_at: now(),
            last_used_at: None,
        };
        with_pool!(self, pool => sqlx::query(
            "INSERT INTO api_keys (id, name, prefix, key_hash, msp_id, org_id, created_by, created_at, access) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(record.id).bind(&record.name).bind(&record.prefix).bind(key_hash)
            .bind(record.msp_id).bind(record.org_id).bind(created_by).bind(record.created_at)
            .bind(moat_openapi::wire_name(&access))
            .execute(pool).await.map(|r| r.rows_affected()))
        .on_unique("secret", "key collision, try again")?;
        Ok(record)
    }

    pub async fn list_api_keys(&self, scope: Scope) -> StoreResult<Vec<ApiKeyRecord>> {
        if scope.user_filter().is_some() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k LEFT JOIN orgs o ON o.id = k.org_id \
             WHERE k.revoked_at IS NULL AND {KEY_SCOPE} ORDER BY k.created_at, k.id"
        );
        let rows = with_pool!(self, pool => sqlx::query_as(&sql).bind(scope.msp_filter()).bind(scope.org_filter()).fetch_all(pool).await)?;
        Ok(rows)
    }

    pub async fn get_api_key(&self, scope: Scope, id: Uuid) -> StoreResult<Option<ApiKeyRecord>> {
        if scope.user_filter().is_some() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k LEFT JOIN orgs o ON o.id = k.org_id \
             WHERE k.id = $3 AND k.revoked_at IS NULL AND {KEY_SCOPE}"
        );
        let row = with_pool!(self, pool => sqlx::query_as(&sql).bind(scope.msp_filter()).bind(scope.org_filter()).bind(id).fetch_optional(pool).await)?;
        Ok(row)
    }

    pub async fn revoke_api_key(&self, id: Uuid) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2").bind(now()).bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The live key with this hash, touching its last-used time.
    pub async fn api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.key_hash = $1 AND k.revoked_at IS NULL");
        let row: Option<ApiKeyRecord> =
            with_pool!(self, pool => sqlx::query_as(&sql).bind(key_hash).fetch_optional(pool).await)?;
        if let Some(key) = &row {
            // At most one write a minute per key: a busy integration must not write on every call.
            let at = now();
            with_pool!(self, pool => sqlx::query(
                "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)")
                .bind(at).bind(key.id).bind(at - chrono::Duration::minutes(1))
                .execute(pool).await.map(|r| r.rows_affected()))?;
        }
        Ok(row)
    }

    /// Registers an MTA node; the caller prints the token once.
    pub async fn create_node(&self, name: &str, token_hash: &str) -> StoreResult<Uuid> {
        let id = Uuid::new_v4();
        with_pool!(self, pool => sqlx::query("INSERT INTO nodes (id, name, token_hash, created_at) VALUES ($1, $2, $3, $4)")
            .bind(id).bind(name).bind(token_hash).bind(now()).execute(pool).await.map(|r| r.rows_affected()))
        .on_unique("name", "a node with this name already exists")?;
        Ok(id)
    }

    /// Revokes a node's token (its history stays); false when no node has this name.
    pub async fn revoke_node(&self, name: &str) -> StoreResult<bool> {
        let n = with_pool!(self, pool => sqlx::query(
            "UPDATE nodes SET token_hash = $1 WHERE name = $2 AND token_hash NOT LIKE 'revoked:%'")
            .bind(format!("revoked:{}", Uuid::new_v4())).bind(name).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }
}
