//! Search queries built from the filters actually given (a generic `($n IS NULL OR ...)`
//! query cannot use an index), with substring search through the text indexes of migration
//! 0009: FTS5 trigram tables on SQLite, pg_trgm on PostgreSQL. Totals are exact up to
//! [`MAX_EXACT_TOTAL`]; past it the answer says "at least" instead of counting every row
//! (a common word matches a quarter of all mail: counting 10,000 of them row by row took
//! PostgreSQL 45 ms, 1,000 take 5).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Paging, Scope};

/// Matches counted exactly; a search with more answers this many and `total_capped`.
pub const MAX_EXACT_TOTAL: i64 = 1_000;

/// SQLite text search: up to this many matches are fetched through the FTS5 index and
/// sorted; more are found sooner by walking the time index (FTS5 counts this far cheaply).
const FTS_SORT_LIMIT: i64 = 10_000;

/// One bound value.
#[derive(Debug, Clone)]
pub enum Arg {
    Text(String),
    Uuid(Uuid),
    Time(DateTime<Utc>),
    Bool(bool),
    Int(i64),
}

/// `AND`ed SQL conditions with their numbered arguments.
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    clauses: Vec<String>,
    pub args: Vec<Arg>,
}

impl Conditions {
    /// Adds an argument; answers its placeholder.
    pub fn arg(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    pub fn add(&mut self, clause: String) {
        self.clauses.push(clause);
    }

    /// The organisations `scope` reaches (a plain user's: its organisation), on `alias.org_id`.
    pub fn org_scope(&mut self, alias: &str, scope: Scope) {
        match scope {
            Scope::Platform => {}
            Scope::Msp(msp) => {
                let p = self.arg(Arg::Uuid(msp));
                self.add(format!("{alias}.org_id IN (SELECT id FROM orgs WHERE msp_id = {p})"));
            }
            Scope::Org(org) | Scope::User { org_id: org, .. } => {
                self.equals(&format!("{alias}.org_id"), Arg::Uuid(org))
            }
        }
    }

    /// `lower(expr) LIKE %text%` (wildcards in `text` dropped).
    pub fn substring(&mut self, expr: &str, text: &str) {
        let p = self.arg(Arg::Text(format!("%{}%", text.to_lowercase().replace(['%', '_'], ""))));
        self.add(format!("lower({expr}) LIKE {p}"));
    }

    /// `column = value`.
    pub fn equals(&mut self, column: &str, value: Arg) {
        let p = self.arg(value);
        self.add(format!("{column} = {p}"));
    }

    /// `from <= column < to`, each bound when given.
    pub fn time_range(&mut self, column: &str, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) {
        if let Some(from) = from {
            let p = self.arg(Arg::Time(from));
            self.add(format!("{column} >= {p}"));
        }
        if let Some(to) = to {
            let p = self.arg(Arg::Time(to));
            self.add(format!("{column} < {p}"));
        }
    }

    pub fn sql(&self) -> String {
        if self.clauses.is_empty() { "1 = 1".to_string() } else { self.clauses.join(" AND ") }
    }
}

/// Binds every argument of `$args` (a `Vec<Arg>`) to `$query`, in order.
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args.iter().cloned() {
            query = match arg {
                $crate::store::search::Arg::Text(v) => query.bind(v),
                $crate::store::search::Arg::Uuid(v) => query.bind(v),
                $crate::store::search::Arg::Time(v) => query.bind(v),
                $crate::store::search::Arg::Bool(v) => query.bind(v),
                $crate::store::search::Arg::Int(v) => query.bind(v),
            };
        }
        query
    }};
}
pub(crate) use bind_args;

/// One page of `$row`s selected as `$columns` from `$from` (a table with its alias) where
/// `$c` (a [`Conditions`]) holds, in `$order`, and how many rows match in all.
macro_rules! page_of {
    ($store:expr, $row:ty, $columns:expr, $from:expr, $c:expr, $order:expr, $paging:expr) => {{
        use $crate::store::search::Arg;
        let c = $c;
        let count_sql = format!("SELECT COUNT(*) FROM {} WHERE {}", $from, c.sql());
        let mut list = c.clone();
        let (limit, offset) = (list.arg(Arg::Int($paging.limit())), list.arg(Arg::Int($paging.offset())));
        let list_sql =
            format!("SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT {limit} OFFSET {offset}", $columns, $from, list.sql(), $order);
        let paged: Result<(Vec<$row>, i64), $crate::store::StoreError> = $crate::store::with_pool!($store, pool => {
            let rows = $crate::store::search::bind_args!(sqlx::query_as::<_, $row>(&list_sql), list.args).fetch_all(pool).await?;
            let total = $crate::store::search::bind_args!(sqlx::query_scalar::<_, i64>(&count_sql), c.args).fetch_one(pool).await?;
            Ok::<_, sqlx::Error>((rows, total))
        }).map_err(Into::into);
        paged
    }};
}
pub(crate) use page_of;

/// A searchable table: its name and alias, its FTS5 table (SQLite) and the expression its
/// trigram index covers (PostgreSQL), and its searchable columns.
pub struct TextIndex {
    pub table: &'static str,
    pub alias: &'static str,
    pub fts: &'static str,
    pub trigram_expr: &'static str,
    /// (column, SQL for its lower-cased value)
    pub columns: &'static [(&'static str, &'static str)],
}

/// A substring to find in one column, or in any (`column: None`).
#[derive(Debug, Clone)]
pub struct TextFilter {
    pub column: Option<&'static str>,
    pub term: String,
}

impl TextFilter {
    /// `None` for an absent or blank term.
    pub fn new(column: Option<&'static str>, term: Option<&str>) -> Option<TextFilter> {
        let term = term.map(str::trim).filter(|t| !t.is_empty())?;
        Some(TextFilter { column, term: term.to_lowercase() })
    }

    /// A trigram index can only find terms of three characters or more.
    pub fn indexable(&self) -> bool {
        self.term.chars().count() >= 3
    }

    pub(crate) fn like_pattern(&self) -> String {
        let escaped = self.term.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        format!("%{escaped}%")
    }

    fn fts_phrase(&self) -> String {
        let phrase = format!("\"{}\"", self.term.replace('"', "\"\""));
        match self.column {
            Some(column) => format!("{column} : {phrase}"),
            None => phrase,
        }
    }
}

impl TextIndex {
    fn column_sql(&self, column: &str) -> &'static str {
        self.columns.iter().find(|(name, _)| *name == column).map(|(_, sql)| *sql).unwrap_or("''")
    }

    /// Plain `LIKE` conditions (any backend; SQLite escapes with `\` explicitly, which is
    /// PostgreSQL's default and, left implicit there, keeps the pattern indexable).
    pub fn add_like(&self, conditions: &mut Conditions, filter: &TextFilter, sqlite: bool) {
        let escape = if sqlite { " ESCAPE '\\'" } else { "" };
        let p = conditions.arg(Arg::Text(filter.like_pattern()));
        match filter.column {
            Some(column) => conditions.add(format!("{} LIKE {p}{escape}", self.column_sql(column))),
            None => {
                let any: Vec<String> = self.columns.iter().map(|(_, sql)| format!("{sql} LIKE {p}{escape}")).collect();
                conditions.add(format!("({})", any.join(" OR ")));
            }
        }
    }

    /// PostgreSQL: the trigram-indexed text narrows the rows, the column test makes it exact.
    pub fn add_trigram(&self, conditions: &mut Conditions, filter: &TextFilter) {
        let p = conditions.arg(Arg::Text(filter.like_pattern()));
        conditions.add(format!("{} LIKE {p}", self.trigram_expr));
        if let Some(column) = filter.column {
            conditions.add(format!("{} LIKE {p}", self.column_sql(column)));
        }
    }

    /// SQLite: one FTS5 query for all the indexable filters.
    pub fn fts_query(filters: &[&TextFilter]) -> String {
        filters.iter().map(|f| f.fts_phrase()).collect::<Vec<_>>().join(" AND ")
    }

    /// `FROM` clause driven by the FTS5 matches (SQLite), with the MATCH condition added.
    pub fn fts_from(&self, conditions: &mut Conditions, query: String) -> String {
        let p = conditions.arg(Arg::Text(query));
        conditions.add(format!("{fts} MATCH {p}", fts = self.fts));
        format!(
            "{fts} CROSS JOIN {table} {alias} ON {alias}.rowid = {fts}.rowid",
            fts = self.fts,
            table = self.table,
            alias = self.alias
        )
    }
}

/// How one search runs: what it counts through and what it lists through.
pub struct SearchPlan {
    plain_from: String,
    /// The scope and every filter as row conditions (trigram-indexed on PostgreSQL).
    plain: Conditions,
    /// SQLite, platform- or MSP-wide text search: driven by the FTS5 matches.
    fts: Option<(String, Conditions)>,
}

impl SearchPlan {
    /// `broad`: the scope spans many organisations, where walking one organisation's index
    /// is no option and the text index pays off.
    pub fn new(index: &TextIndex, sqlite: bool, broad: bool, base: Conditions, texts: &[TextFilter]) -> SearchPlan {
        let mut plain = base.clone();
        for text in texts {
            // Within one organisation its own index is the better way in; on PostgreSQL the
            // plain column test keeps the planner from combining it with the text index.
            if !sqlite && broad && text.indexable() {
                index.add_trigram(&mut plain, text);
            } else {
                index.add_like(&mut plain, text, sqlite);
            }
        }
        let indexable: Vec<&TextFilter> = texts.iter().filter(|t| t.indexable()).collect();
        let fts = (sqlite && broad && !indexable.is_empty()).then(|| {
            let mut conditions = base;
            for text in texts.iter().filter(|t| !t.indexable()) {
                index.add_like(&mut conditions, text, true);
            }
            let from = index.fts_from(&mut conditions, TextIndex::fts_query(&indexable));
            (from, conditions)
        });
        SearchPlan { plain_from: format!("{} {}", index.table, index.alias), plain, fts }
    }

    /// Whether the listing does not depend on the count (so both can run at once).
    pub fn independent(&self) -> bool {
        self.fts.is_none()
    }

    /// Counting goes through the text index when there is one to use.
    pub fn counting(&self) -> (&str, &Conditions) {
        match &self.fts {
            Some((from, conditions)) => (from, conditions),
            None => (&self.plain_from, &self.plain),
        }
    }

    /// Listing newest first: up to the exact-count limit the matches are fetched from the
    /// text index and sorted; more matches than that are found sooner by walking the time
    /// index and testing rows (a common word matches every few rows).
    pub fn listing(&self, counted: i64) -> (&str, &Conditions) {
        match &self.fts {
            Some((from, conditions)) if counted <= FTS_SORT_LIMIT => (from, conditions),
            _ => (&self.plain_from, &self.plain),
        }
    }
}

impl SearchPlan {
    /// The capped count query and its arguments.
    pub fn count_sql(&self) -> (String, Vec<Arg>) {
        let (from, conditions) = self.counting();
        let limit = if self.fts.is_some() { FTS_SORT_LIMIT } else { MAX_EXACT_TOTAL };
        (capped_count_sql(from, conditions, limit), conditions.args.clone())
    }

    /// The page query (`SELECT columns ... ORDER BY order LIMIT OFFSET`) and its arguments.
    pub fn list_sql(&self, counted: i64, columns: &str, order: &str, paging: Paging) -> (String, Vec<Arg>) {
        let (from, conditions) = self.listing(counted);
        let mut conditions = conditions.clone();
        let (limit, offset) = (conditions.arg(Arg::Int(paging.limit())), conditions.arg(Arg::Int(paging.offset())));
        let sql = format!(
            "SELECT {columns} FROM {from} WHERE {} ORDER BY {order} LIMIT {limit} OFFSET {offset}",
            conditions.sql()
        );
        (sql, conditions.args)
    }
}

/// Runs a search plan on `$pool`: answers `(rows of $row, counted)`. The count decides the
/// listing only when it goes through the text index; otherwise both run at once.
macro_rules! run_search {
    ($pool:expr, $plan:expr, $row:ty, $columns:expr, $order:expr, $paging:expr) => {{
        let (count_sql, count_args) = $plan.count_sql();
        let count =
            $crate::store::search::bind_args!(sqlx::query_scalar::<_, i64>(&count_sql), count_args).fetch_one($pool);
        if $plan.independent() {
            let (list, args) = $plan.list_sql(0, $columns, $order, $paging);
            let rows = $crate::store::search::bind_args!(sqlx::query_as::<_, $row>(&list), args).fetch_all($pool);
            tokio::try_join!(rows, count)?
        } else {
            let counted = count.await?;
            let (list, args) = $plan.list_sql(counted, $columns, $order, $paging);
            ($crate::store::search::bind_args!(sqlx::query_as::<_, $row>(&list), args).fetch_all($pool).await?, counted)
        }
    }};
}
pub(crate) use run_search;

/// `SELECT COUNT(*)` over at most `limit + 1` matching rows.
fn capped_count_sql(from: &str, conditions: &Conditions, limit: i64) -> String {
    format!("SELECT COUNT(*) FROM (SELECT 1 FROM {from} WHERE {} LIMIT {}) capped", conditions.sql(), limit + 1)
}

/// The total to report: `(total, capped)`.
pub fn reported_total(counted: i64) -> (i64, bool) {
    if counted > MAX_EXACT_TOTAL { (MAX_EXACT_TOTAL, true) } else { (counted, false) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_escaped_for_like_and_fts() {
        let f = TextFilter::new(None, Some(" 50%_off\\ \"x\" ")).unwrap();
        assert_eq!(f.like_pattern(), "%50\\%\\_off\\\\ \"x\"%");
        assert_eq!(f.fts_phrase(), "\"50%_off\\ \"\"x\"\"\"");
        let s = TextFilter::new(Some("sender"), Some("Offer42")).unwrap();
        assert_eq!(s.fts_phrase(), "sender : \"offer42\"");
        assert!(TextFilter::new(None, Some("  ")).is_none());
        assert!(!TextFilter::new(None, Some("ab")).unwrap().indexable());
    }

    #[test]
    fn placeholders_follow_the_arguments() {
        let mut c = Conditions::default();
        let a = c.arg(Arg::Int(1));
        let b = c.arg(Arg::Bool(true));
        c.add(format!("x = {a}"));
        c.add(format!("y = {b}"));
        assert_eq!(c.sql(), "x = $1 AND y = $2");
        assert_eq!(reported_total(MAX_EXACT_TOTAL + 1), (MAX_EXACT_TOTAL, true));
        assert_eq!(reported_total(MAX_EXACT_TOTAL), (MAX_EXACT_TOTAL, false));
        assert_eq!(reported_total(12), (12, false));
    }
}
