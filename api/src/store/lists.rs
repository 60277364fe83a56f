//! Allow/block list entries. Lists are small per tenant, so reach is checked per entry by
//! the caller's guards (`http/lists.rs`) rather than in SQL.

use chrono::{DateTime, Utc};
use moat_openapi::{ListEntry, ListKind, ListLevel, ListScope, WorkerOrg, from_wire_name, wire_name};
use uuid::Uuid;

use super::error::{OnUnique, StoreResult};
use super::{Store, now, with_pool};

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    scope_level: String,
    scope_id: Option<Uuid>,
    kind: String,
    pattern: String,
    created_at: DateTime<Utc>,
}

impl From<Row> for ListEntry {
    fn from(r: Row) -> ListEntry {
        ListEntry {
            id: r.id,
            scope: ListScope { level: from_wire_name(&r.scope_level).unwrap_or(ListLevel::Global), id: r.scope_id },
            kind: from_wire_name(&r.kind).unwrap_or(ListKind::Block),
            pattern: r.pattern,
            created_at: r.created_at,
        }
    }
}

const COLUMNS: &str = "id, scope_level, scope_id, kind, pattern, created_at";

impl Store {
    pub async fn create_list_entry(&self, scope: &ListScope, kind: ListKind, pattern: &str) -> StoreResult<ListEntry> {
        let entry = ListEntry {
            id: Uuid::new_v4(),
            scope: scope.clone(),
            kind,
            pattern: pattern.to_string(),
            created_at: now(),
        };
        let kind = wire_name(&kind);
        with_pool!(self, pool => sqlx::query(
            "INSERT INTO list_entries (id, scope_level, scope_id, kind, pattern, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(entry.id).bind(wire_name(&scope.level)).bind(scope.id).bind(kind).bind(pattern).bind(entry.created_at)
            .execute(pool).await.map(|r| r.rows_affected()))
        .on_unique("pattern", "this entry is already on the list")?;
        Ok(entry)
    }

    /// Entries, optionally of one level and scope id.
    pub async fn list_entries(&self, level: Option<ListLevel>, scope_id: Option<Uuid>) -> StoreResult<Vec<ListEntry>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM list_entries WHERE ($1 IS NULL OR scope_level = $1) AND ($2 IS NULL OR scope_id = $2) \
             ORDER BY scope_level, pattern, id"
        );
        let rows: Vec<Row> = with_pool!(self, pool => sqlx::query_as(&sql).bind(level.as_ref().map(wire_name)).bind(scope_id).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(ListEntry::from).collect())
    }

    pub async fn get_list_entry(&self, id: Uuid) -> StoreResult<Option<ListEntry>> {
        let sql = format!("SELECT {COLUMNS} FROM list_entries WHERE id = $1");
        let row: Option<Row> = with_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?;
        Ok(row.map(ListEntry::from))
    }

    pub async fn delete_list_entry(&self, id: Uuid) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query("DELETE FROM list_entries WHERE id = $1").bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Every organisation's MSP (for the worker's MSP-level lists).
    pub async fn org_msps(&self) -> StoreResult<Vec<WorkerOrg>> {
        let rows: Vec<(Uuid, Uuid)> =
            with_pool!(self, pool => sqlx::query_as("SELECT id, msp_id FROM orgs").fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|(id, msp_id)| WorkerOrg { id, msp_id }).collect())
    }
}
