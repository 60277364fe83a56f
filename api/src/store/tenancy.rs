//! MSPs, organisations, domains, allowed outbound IPs and organisation policy.

use chrono::{DateTime, Utc};
use moat_openapi::{AllowedIp, Domain, Msp, Org, Policy, PolicyOverrides, TlsMode, from_wire_name, wire_name};
use uuid::Uuid;

use super::error::{OnUnique, StoreError, StoreResult};
use super::{Paging, Scope, Store, now, with_pool};

#[derive(sqlx::FromRow)]
struct MspRow {
    id: Uuid,
    name: String,
    created_at: DateTime<Utc>,
}

impl From<MspRow> for Msp {
    fn from(r: MspRow) -> Msp {
        Msp { id: r.id, name: r.name, created_at: r.created_at }
    }
}

#[derive(sqlx::FromRow)]
struct OrgRow {
    id: Uuid,
    msp_id: Uuid,
    name: String,
    created_at: DateTime<Utc>,
}

impl From<OrgRow> for Org {
    fn from(r: OrgRow) -> Org {
        Org { id: r.id, msp_id: r.msp_id, name: r.name, created_at: r.created_at }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct DomainRow {
    id: Uuid,
    org_id: Uuid,
    name: String,
    destination_host: String,
    destination_port: i32,
    tls_mode: String,
    inbound_enabled: bool,
    outbound_enabled: bool,
    maintenance_banner: Option<String>,
    queue_expiry_days: Option<i32>,
    created_at: DateTime<Utc>,
}

impl From<DomainRow> for Domain {
    fn from(r: DomainRow) -> Domain {
        Domain {
            id: r.id,
            org_id: r.org_id,
            name: r.name,
            destination_host: r.destination_host,
            destination_port: u16::try_from(r.destination_port).unwrap_or_default(),
            tls_mode: from_wire_name(&r.tls_mode).unwrap_or_default(),
            inbound_enabled: r.inbound_enabled,
            outbound_enabled: r.outbound_enabled,
            maintenance_banner: r.maintenance_banner,
            queue_expiry_days: r.queue_expiry_days.and_then(|d| u32::try_from(d).ok()),
            created_at: r.created_at,
        }
    }
}

const MSP_SCOPE: &str = "($1 IS NULL OR m.id = $1)";
const ORG_SCOPE: &str = "($1 IS NULL OR o.msp_id = $1) AND ($2 IS NULL OR o.id = $2)";
pub(crate) const DOMAIN_COLUMNS: &str = "d.id, d.org_id, d.name, d.destination_host, d.destination_port, d.tls_mode, \
     d.inbound_enabled, d.outbound_enabled, d.maintenance_banner, d.queue_expiry_days, d.created_at";
pub(crate) const INSERT_DOMAIN: &str = "INSERT INTO domains (id, org_id, name, destination_host, destination_port, \
     tls_mode, inbound_enabled, outbound_enabled, maintenance_banner, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
pub(crate) const INSERT_ALLOWED_IP: &str =
    "INSERT INTO allowed_ips (id, org_id, cidr, created_at) VALUES ($1, $2, $3, $4)";
pub(crate) const UPSERT_POLICY: &str = "INSERT INTO org_policies (org_id, policy, updated_at) VALUES ($1, $2, $3) \
     ON CONFLICT (org_id) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at";
pub(crate) const INSERT_ORG: &str = "INSERT INTO orgs (id, msp_id, name, created_at) VALUES ($1, $2, $3, $4)";

/// Binds a `Domain` to [`INSERT_DOMAIN`]; shared by single inserts and provisioning.
macro_rules! bind_domain {
    ($d:expr) => {
        sqlx::query($crate::store::tenancy::INSERT_DOMAIN)
            .bind($d.id)
            .bind($d.org_id)
            .bind(&$d.name)
            .bind(&$d.destination_host)
            .bind(i32::from($d.destination_port))
            .bind(moat_openapi::wire_name(&$d.tls_mode))
            .bind($d.inbound_enabled)
            .bind($d.outbound_enabled)
            .bind(&$d.maintenance_banner)
            .bind($d.created_at)
    };
}
pub(crate) use bind_domain;

/// Fields of a domain to be created.
#[derive(Debug, Clone)]
pub struct NewDomain {
    pub name: String,
    pub destination_host: String,
    pub destination_port: u16,
    pub tls_mode: TlsMode,
    pub inbound_enabled: bool,
    pub outbound_enabled: bool,
    pub maintenance_banner: Option<String>,
}

impl NewDomain {
    pub fn into_domain(self, org_id: Uuid) -> Domain {
        Domain {
            id: Uuid::new_v4(),
            org_id,
            name: self.name,
            destination_host: self.destination_host,
            destination_port: self.destination_port,
            tls_mode: self.tls_mode,
            inbound_enabled: self.inbound_enabled,
            outbound_enabled: self.outbound_enabled,
            maintenance_banner: self.maintenance_banner,
            queue_expiry_days: None,
            created_at: now(),
        }
    }
}

pub const DUPLICATE_DOMAIN: &str = "a domain with this name already exists";

impl Store {
    // --- MSPs -----------------------------------------------------------------------------

    pub async fn create_msp(&self, name: &str) -> StoreResult<Msp> {
        let msp = Msp { id: Uuid::new_v4(), name: name.to_string(), created_at: now() };
        with_pool!(self, pool => sqlx::query("INSERT INTO msps (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(msp.id).bind(&msp.name).bind(msp.created_at)
            .execute(pool).await.map(|r| r.rows_affected()))
        .on_unique("name", "an MSP with this name already exists")?;
        Ok(msp)
    }

    pub async fn list_msps(&self, scope: Scope, paging: Paging) -> StoreResult<(Vec<Msp>, i64)> {
        let msp = scope.msp_filter();
        let list = format!(
            "SELECT m.id, m.name, m.created_at FROM msps m WHERE {MSP_SCOPE} ORDER BY m.name, m.id LIMIT $2 OFFSET $3"
        );
        let count = format!("SELECT COUNT(*) FROM msps m WHERE {MSP_SCOPE}");
        with_pool!(self, pool => {
            let rows: Vec<MspRow> = sqlx::query_as(&list).bind(msp).bind(paging.limit()).bind(paging.offset()).fetch_all(pool).await?;
            let total: i64 = sqlx::query_scalar(&count).bind(msp).fetch_one(pool).await?;
            Ok((rows.into_iter().map(Msp::from).collect(), total))
        })
    }

    pub async fn get_msp(&self, scope: Scope, id: Uuid) -> StoreResult<Option<Msp>> {
        let sql = format!("SELECT m.id, m.name, m.created_at FROM msps m WHERE m.id = $2 AND {MSP_SCOPE}");
        let row: Option<MspRow> = with_pool!(self, pool => sqlx::query_as(&sql).bind(scope.msp_filter()).bind(id).fetch_optional(pool).await)?;
        Ok(row.map(Msp::from))
    }

    pub async fn rename_msp(&self, id: Uuid, name: &str) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query("UPDATE msps SET name = $1 WHERE id = $2").bind(name).bind(id).execute(pool).await.map(|r| r.rows_affected()))
            .on_unique("name", "an MSP with this name already exists")?;
        Ok(())
    }

    /// Deletes an MSP that has no organisations left (its admins and keys go with it).
    pub async fn delete_msp(&self, id: Uuid) -> StoreResult<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let orgs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orgs WHERE msp_id = $1").bind(id).fetch_one(&mut *tx).await?;
            if orgs > 0 {
                return Err(StoreError::conflict("id", "the MSP still has organisations; delete them first"));
            }
            sqlx::query("DELETE FROM users WHERE msp_id = $1").bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM msps WHERE id = $1").bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    // --- Organisations --------------------------------------------------------------------

    pub async fn create_org(&self, msp_id: Uuid, name: &str) -> StoreResult<Org> {
        let org = Org { id: Uuid::new_v4(), msp_id, name: name.to_string(), created_at: now() };
        with_pool!(self, pool => sqlx::query(INSERT_ORG)
            .bind(org.id).bind(org.msp_id).bind(&org.name).bind(org.created_at)
            .execute(pool).await.map(|r| r.rows_affected()))
        .on_unique("name", "this MSP already has an organisation with this name")?;
        Ok(org)
    }

    pub async fn list_orgs(&self, scope: Scope, paging: Paging) -> StoreResult<(Vec<Org>, i64)> {
        let (msp, org) = (scope.msp_filter(), scope.org_filter());
        let list = format!(
            "SELECT o.id, o.msp_id, o.name, o.created_at FROM orgs o WHERE {ORG_SCOPE} ORDER BY o.name, o.id LIMIT $3 OFFSET $4"
        );
        let count = format!("SELECT COUNT(*) FROM orgs o WHERE {ORG_SCOPE}");
        with_pool!(self, pool => {
            let rows: Vec<OrgRow> = sqlx::query_as(&list).bind(msp).bind(org).bind(paging.limit()).bind(paging.offset()).fetch_all(pool).await?;
            let total: i64 = sqlx::query_scalar(&count).bind(msp).bind(org).fetch_one(pool).await?;
            Ok((rows.into_iter().map(Org::from).collect(), total))
        })
    }

    pub async fn get_org(&self, scope: Scope, id: Uuid) -> StoreResult<Option<Org>> {
        let sql = format!("SELECT o.id, o.msp_id, o.name, o.created_at FROM orgs o WHERE o.id = $3 AND {ORG_SCOPE}");
        let row: Option<OrgRow> = with_pool!(self, pool => sqlx::query_as(&sql)
            .bind(scope.msp_filter()).bind(scope.org_filter()).bind(id).fetch_optional(pool).await)?;
        Ok(row.map(Org::from))
    }

    /// Whether any organisation has this id, whoever owns it.
    pub async fn org_exists(&self, id: Uuid) -> StoreResult<bool> {
        let n: i64 = with_pool!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM orgs WHERE id = $1").bind(id).fetch_one(pool).await)?;
        Ok(n > 0)
    }

    pub async fn rename_org(&self, id: Uuid, name: &str) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query("UPDATE orgs SET name = $1 WHERE id = $2").bind(name).bind(id).execute(pool).await.map(|r| r.rows_affected()))
            .on_unique("name", "this MSP already has an organisation with this name")?;
        Ok(())
    }

    /// Deletes an organisation with its domains, users, keys and policy.
    pub async fn delete_org(&self, id: Uuid) -> StoreResult<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // Delegation links point across users of the org; clear them before the cascade.
            sqlx::query("UPDATE users SET quarantine_delegate_id = NULL WHERE org_id = $1").bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM orgs WHERE id = $1").bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    // --- Domains --------------------------------------------------------------------------

    pub async fn create_domain(&self, org_id: Uuid, new: NewDomain) -> StoreResult<Domain> {
        let domain = new.into_domain(org_id);
        with_pool!(self, pool => bind_domain!(domain).execute(pool).await.map(|r| r.rows_affected()))
            .on_unique("name", DUPLICATE_DOMAIN)?;
        Ok(domain)
    }

    pub async fn list_domains(&self, scope: Scope, org_id: Uuid, paging: Paging) -> StoreResult<(Vec<Domain>, i64)> {
        let (msp, org) = (scope.msp_filter(), scope.org_filter());
        let from = format!("FROM domains d JOIN orgs o ON o.id = d.org_id WHERE d.org_id = $3 AND {ORG_SCOPE}");
        let list = format!("SELECT {DOMAIN_COLUMNS} {from} ORDER BY d.name LIMIT $4 OFFSET $5");
        let count = format!("SELECT COUNT(*) {from}");
        with_pool!(self, pool => {
            let rows: Vec<DomainRow> = sqlx::query_as(&list).bind(msp).bind(org).bind(org_id).bind(paging.limit()).bind(paging.offset()).fetch_all(pool).await?;
            let total: i64 = sqlx::query_scalar(&count).bind(msp).bind(org).bind(org_id).fetch_one(pool).await?;
            Ok((rows.into_iter().map(Domain::from).collect(), total))
        })
    }

    pub async fn get_domain(&self, scope: Scope, id: Uuid) -> StoreResult<Option<Domain>> {
        let sql = format!(
            "SELECT {DOMAIN_COLUMNS} FROM domains d JOIN orgs o ON o.id = d.org_id WHERE d.id = $3 AND {ORG_SCOPE}"
        );
        let row: Option<DomainRow> = with_pool!(self, pool => sqlx::query_as(&sql)
            .bind(scope.msp_filter()).bind(scope.org_filter()).bind(id).fetch_optional(pool).await)?;
        Ok(row.map(Domain::from))
    }

    /// Writes every mutable field of `domain` back.
    pub async fn update_domain(&self, domain: &Domain) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query(
            "UPDATE domains SET destination_host = $1, destination_port = $2, tls_mode = $3, inbound_enabled = $4, \
             outbound_enabled = $5, maintenance_banner = $6, queue_expiry_days = $7 WHERE id = $8")
            .bind(&domain.destination_host).bind(i32::from(domain.destination_port)).bind(wire_name(&domain.tls_mode))
            .bind(domain.inbound_enabled).bind(domain.outbound_enabled).bind(&domain.maintenance_banner)
            .bind(domain.queue_expiry_days.map(|d| d as i32)).bind(domain.id)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn delete_domain(&self, id: Uuid) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query("DELETE FROM domains WHERE id = $1").bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    // --- Allowed IPs and policy ----------------------------------------------------------

    pub async fn allowed_ips(&self, org_id: Uuid) -> StoreResult<Vec<String>> {
        Ok(self.allowed_ip_rows(org_id).await?.into_iter().map(|ip| ip.cidr).collect())
    }

    /// An organisation's relay servers, by address.
    pub async fn allowed_ip_rows(&self, org_id: Uuid) -> StoreResult<Vec<AllowedIp>> {
        let rows: Vec<(Uuid, Uuid, String, DateTime<Utc>)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT id, org_id, cidr, created_at FROM allowed_ips WHERE org_id = $1 ORDER BY cidr")
            .bind(org_id).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|(id, org_id, cidr, created_at)| AllowedIp { id, org_id, cidr, created_at }).collect())
    }

    /// Adds a relay server; 409 when the organisation lists it already.
    pub async fn add_allowed_ip(&self, org_id: Uuid, cidr: &str) -> StoreResult<AllowedIp> {
        let ip = AllowedIp { id: Uuid::new_v4(), org_id, cidr: cidr.to_string(), created_at: now() };
        with_pool!(self, pool => sqlx::query(INSERT_ALLOWED_IP).bind(ip.id).bind(org_id).bind(&ip.cidr).bind(ip.created_at)
            .execute(pool).await.map(|r| r.rows_affected()))
            .on_unique("cidr", "this address is already a relay server of the organisation")?;
        Ok(ip)
    }

    /// Removes one of the organisation's relay servers; false when it has no such entry.
    pub async fn remove_allowed_ip(&self, org_id: Uuid, id: Uuid) -> StoreResult<bool> {
        let n = with_pool!(self, pool => sqlx::query("DELETE FROM allowed_ips WHERE id = $1 AND org_id = $2")
            .bind(id).bind(org_id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// The names of an organisation's domains (lower case).
    pub async fn org_domain_names(&self, org_id: Uuid) -> StoreResult<std::collections::HashSet<String>> {
        let names: Vec<String> = with_pool!(self, pool => sqlx::query_scalar("SELECT name FROM domains WHERE org_id = $1")
            .bind(org_id).fetch_all(pool).await)?;
        Ok(names.into_iter().collect())
    }

    /// The organisation's policy, or the defaults when none was saved.
    pub async fn org_policy(&self, org_id: Uuid) -> StoreResult<Policy> {
        let text: Option<String> = with_pool!(self, pool => sqlx::query_scalar("SELECT policy FROM org_policies WHERE org_id = $1")
            .bind(org_id).fetch_optional(pool).await)?;
        match text {
            Some(text) => serde_json::from_str(&text).map_err(StoreError::internal),
            None => Ok(Policy::default()),
        }
    }

    /// The maintenance banner of the domain `name` (lower-case), while one is set.
    pub async fn public_domain_banner(&self, name: &str) -> StoreResult<Option<String>> {
        let banner: Option<Option<String>> = with_pool!(self, pool => sqlx::query_scalar(
            "SELECT maintenance_banner FROM domains WHERE name = $1 LIMIT 1")
            .bind(name).fetch_optional(pool).await)?;
        Ok(banner.flatten().filter(|b| !b.trim().is_empty()))
    }

    /// The id of `org_id`'s domain `name`, and its maintenance banner while one is set.
    pub async fn domain_banner(&self, org_id: Uuid, name: &str) -> StoreResult<(Option<Uuid>, Option<String>)> {
        let row: Option<(Uuid, Option<String>)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT id, maintenance_banner FROM domains WHERE org_id = $1 AND name = $2")
            .bind(org_id).bind(name.to_ascii_lowercase()).fetch_optional(pool).await)?;
        Ok(match row {
            Some((id, banner)) => (Some(id), banner.filter(|b| !b.trim().is_empty())),
            None => (None, None),
        })
    }

    /// The policy that governs mail to `recipient` of `org_id`: its organisation's, with
    /// whatever its domain sets itself.
    pub async fn recipient_policy(&self, org_id: Uuid, recipient: &str) -> StoreResult<Policy> {
        let domain = recipient.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
        let text: Option<String> = with_pool!(self, pool => sqlx::query_scalar(
            "SELECT dp.policy FROM domain_policies dp JOIN domains d ON d.id = dp.domain_id \
             WHERE d.org_id = $1 AND d.name = $2")
            .bind(org_id).bind(domain).fetch_optional(pool).await)?;
        let base = self.org_policy(org_id).await?;
        Ok(match text {
            Some(text) => PolicyOverrides::from_stored(&text).map_err(StoreError::internal)?.apply(&base),
            None => base,
        })
    }

    /// What a domain sets itself (nothing: everything is its organisation's).
    pub async fn domain_policy(&self, domain_id: Uuid) -> StoreResult<PolicyOverrides> {
        let text: Option<String> = with_pool!(self, pool => sqlx::query_scalar("SELECT policy FROM domain_policies WHERE domain_id = $1")
            .bind(domain_id).fetch_optional(pool).await)?;
        Ok(text
            .map(|t| PolicyOverrides::from_stored(&t).map_err(StoreError::internal))
            .transpose()?
            .unwrap_or_default())
    }

    /// Stores what a domain sets itself; setting nothing removes its row, so the
    /// organisation's policy applies whole.
    pub async fn put_domain_policy(&self, domain_id: Uuid, overrides: &PolicyOverrides) -> StoreResult<()> {
        if *overrides == PolicyOverrides::default() {
            self.delete_domain_policy(domain_id).await?;
            return Ok(());
        }
        let text = serde_json::to_string(overrides).map_err(StoreError::internal)?;
        with_pool!(self, pool => sqlx::query(
            "INSERT INTO domain_policies (domain_id, policy, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (domain_id) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at")
            .bind(domain_id).bind(text).bind(now()).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Drops a domain's own settings: its organisation's apply again.
    pub async fn delete_domain_policy(&self, domain_id: Uuid) -> StoreResult<bool> {
        let n = with_pool!(self, pool => sqlx::query("DELETE FROM domain_policies WHERE domain_id = $1")
            .bind(domain_id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    pub async fn put_org_policy(&self, org_id: Uuid, policy: &Policy) -> StoreResult<()> {
        let text = serde_json::to_string(policy).map_err(StoreError::internal)?;
        with_pool!(self, pool => sqlx::query(UPSERT_POLICY).bind(org_id).bind(text).bind(now()).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }
}
