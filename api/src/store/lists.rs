//! Allow/block list entries. Listing checks reach in SQL (an entry is visible when its scope
//! is within the caller's reach; global entries to everyone), with search and paging there
//! too; creating and removing check the one scope with the caller's guards (`http/lists.rs`).

use chrono::{DateTime, Utc};
use moat_openapi::{ListEntry, ListKind, ListLevel, ListScope, WorkerOrg, from_wire_name, wire_name};
use uuid::Uuid;

use super::error::{OnUnique, StoreResult};
use super::search::{Arg, Conditions, page_of};
use super::{Paging, Scope, Store, now, with_pool};

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

    /// One page of the entries `scope` reaches, newest first, filtered by level, scope id,
    /// kind and a substring of the pattern; with the total.
    pub async fn search_list_entries(
        &self,
        scope: Scope,
        q: &moat_openapi::ListQuery,
        paging: Paging,
    ) -> StoreResult<(Vec<ListEntry>, i64)> {
        let mut c = Conditions::default();
        let lvl = |c: &mut Conditions, l: ListLevel| c.arg(Arg::Text(wire_name(&l)));
        match scope {
            Scope::Platform => {}
            Scope::Msp(msp) => {
                let (g, m, o, d, u) = (
                    lvl(&mut c, ListLevel::Global),
                    lvl(&mut c, ListLevel::Msp),
                    lvl(&mut c, ListLevel::Org),
                    lvl(&mut c, ListLevel::Domain),
                    lvl(&mut c, ListLevel::User),
                );
                let p = c.arg(Arg::Uuid(msp));
                c.add(format!(
                    "(l.scope_level = {g} OR (l.scope_level = {m} AND l.scope_id = {p}) \
                     OR (l.scope_level = {o} AND l.scope_id IN (SELECT id FROM orgs WHERE msp_id = {p})) \
                     OR (l.scope_level = {d} AND l.scope_id IN (SELECT d.id FROM domains d JOIN orgs o ON o.id = d.org_id WHERE o.msp_id = {p})) \
                     OR (l.scope_level = {u} AND l.scope_id IN (SELECT u.id FROM users u LEFT JOIN orgs o ON o.id = u.org_id \
                         WHERE u.msp_id = {p} OR o.msp_id = {p})))"
                ));
            }
            Scope::Org(org) => {
                let (g, o, d, u) = (
                    lvl(&mut c, ListLevel::Global),
                    lvl(&mut c, ListLevel::Org),
                    lvl(&mut c, ListLevel::Domain),
                    lvl(&mut c, ListLevel::User),
                );
                let p = c.arg(Arg::Uuid(org));
                c.add(format!(
                    "(l.scope_level = {g} OR (l.scope_level = {o} AND l.scope_id = {p}) \
                     OR (l.scope_level = {d} AND l.scope_id IN (SELECT id FROM domains WHERE org_id = {p})) \
                     OR (l.scope_level = {u} AND l.scope_id IN (SELECT id FROM users WHERE org_id = {p})))"
                ));
            }
            Scope::User { user_id, .. } => {
                let (g, u) = (lvl(&mut c, ListLevel::Global), lvl(&mut c, ListLevel::User));
                let p = c.arg(Arg::Uuid(user_id));
                c.add(format!(
                    "(l.scope_level = {g} OR (l.scope_level = {u} AND (l.scope_id = {p} \
                     OR l.scope_id IN (SELECT id FROM users WHERE quarantine_delegate_id = {p}))))"
                ));
            }
        }
        if let Some(level) = q.level {
            c.equals("l.scope_level", Arg::Text(wire_name(&level)));
        }
        if let Some(id) = q.scope_id {
            c.equals("l.scope_id", Arg::Uuid(id));
        }
        if let Some(kind) = q.kind {
            c.equals("l.kind", Arg::Text(wire_name(&kind)));
        }
        if let Some(text) = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            c.substring("l.pattern", text);
        }
        let columns = "l.id, l.scope_level, l.scope_id, l.kind, l.pattern, l.created_at";
        let (rows, total) = page_of!(self, Row, columns, "list_entries l", c, "l.created_at DESC, l.id", paging)?;
        Ok((rows.into_iter().map(ListEntry::from).collect(), total))
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
